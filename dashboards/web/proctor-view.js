// The proctor wall's DOM: the page's parts, one tile per candidate and the
// alert list. What they say comes from proctor-data.js; this only draws it.
import { reviewLink, thumbnail } from './common.js';
import { el } from './dom.js';
import { t } from './words.js';
import { COUNTERS, counterText, scoreLine } from './proctor-data.js';

/** Lays out the wall of `test` in `main`; returns its parts: the duty line,
 * the live grid's button and slot, the viewer's slot, the tiles and the alerts. */
export function wallLayout(main, test, gridTiles) {
  const parts = {
    summary: el('p', { id: 'duty', class: 'legend' }),
    gridButton: el('button', { type: 'button', id: 'open-grid', title: t('wall.grid_hint', { count: gridTiles }) }, t('wall.grid')),
    gridSlot: el('div', { id: 'live-grid' }),
    viewerSlot: el('div', { id: 'live-viewer' }),
    tiles: el('ul', { class: 'tiles', id: 'tiles', 'aria-label': t('wall.candidates') }),
    alerts: el('ol', { class: 'alerts', id: 'alerts', 'aria-label': t('wall.alerts_label') }),
  };
  main.append(
    parts.summary,
    parts.gridButton,
    parts.gridSlot,
    parts.viewerSlot,
    el('div', { class: 'wall' },
      el('section', { 'aria-labelledby': 'tiles-title' }, el('h2', { id: 'tiles-title' }, t('wall.candidates_of', { test })), parts.tiles),
      el('aside', { class: 'panel', 'aria-labelledby': 'alerts-title' }, el('h2', { id: 'alerts-title' }, t('wall.alerts')), parts.alerts)),
  );
  return parts;
}

/**
 * The tiles in `list`: one per candidate, made on first sight and kept
 * (so a repaint changes text, not nodes). `onWatch(candidate)` is a tile's
 * "Watch live", `onControls(candidate)` its "LMS controls" (shown while
 * `controls.shown`). Returns `paint`, `drop` and `arrange`.
 */
export function tileBoard(list, test, onWatch, controls = { shown: false, onControls: () => {} }) {
  const nodes = new Map();
  const tileFor = (candidate) => {
    if (!nodes.has(candidate)) nodes.set(candidate, newTile(test, candidate, onWatch, controls));
    return nodes.get(candidate);
  };
  return {
    /** Draws `tile` (a LiveCounters message) on its candidate's tile. */
    paint: (tile, status, alertScore) => paintTile(tileFor(tile.candidate_id), tile, status, alertScore),
    /** Forgets a candidate that left the wall; `arrange` takes its tile out. */
    drop: (candidate) => nodes.delete(candidate),
    /** Puts the tiles in `order` (candidate ids), touching the list only when it changed. */
    arrange: (order) => {
      const current = [...list.children].map((node) => node.dataset.candidate);
      if (order.join('\n') !== current.join('\n')) list.replaceChildren(...order.map(tileFor));
    },
  };
}

/** Numbers the tiles, for their counters' element ids. */
let tiles = 0;

function newTile(test, candidate, onWatch, controls) {
  // Each value is named by its label and itself ("tab switches 3"), so a
  // screen reader that reaches a value alone still says what it counts.
  const tile = ++tiles;
  const counters = el('dl', { class: 'counters' });
  for (const [key, label] of COUNTERS) {
    const id = `counter-${tile}-${key}`;
    counters.append(el('div', {}, el('dt', { id: `${id}-label` }, label),
      el('dd', { id, 'aria-labelledby': `${id}-label ${id}`, dataset: { counter: key } }, '0')));
  }
  const node = el('li', { class: 'tile', dataset: { candidate } },
    el('header', {}, el('h3', {}, el('a', { href: reviewLink(test, candidate) }, candidate)), el('span', { class: 'badge' }, 'active')),
    el('button', { type: 'button', class: 'watch', onclick: () => onWatch(candidate), 'aria-label': t('wall.watch_label', { candidate }) }, t('wall.watch')),
    controls.shown ? el('button', { type: 'button', class: 'lms', onclick: () => controls.onControls(candidate), 'aria-label': t('wall.lms_label', { candidate }) }, t('wall.lms')) : null,
    el('div', { class: 'score' }),
    counters,
    el('div', { class: 'thumbs' }));
  // The media keys on show: new thumbnails load only when these change.
  node.thumbs = { face: undefined, screen: undefined };
  return node;
}

function paintTile(node, tile, status, alertScore) {
  node.dataset.status = status;
  node.dataset.score = String(tile.score);
  node.dataset.alert = String(tile.window_score >= alertScore);
  const badge = node.querySelector('.badge');
  badge.dataset.status = status;
  badge.textContent = status;
  node.querySelector('.score').textContent = scoreLine(tile);
  for (const [key] of COUNTERS) {
    node.querySelector(`[data-counter="${key}"]`).textContent = counterText(key, tile.counters);
  }
  if (node.thumbs.face !== tile.face_key || node.thumbs.screen !== tile.screen_key) {
    node.thumbs = { face: tile.face_key, screen: tile.screen_key };
    node.querySelector('.thumbs').replaceChildren(thumbnail(tile.face_key, t('wall.face_photo')), thumbnail(tile.screen_key, t('wall.screenshot')));
  }
}

/** Shows `items` (proctor-data.js's wallAlerts) in `list`. */
export function drawAlerts(list, items, test) {
  list.replaceChildren(...(items.length ? items.map((item) => el('li', { dataset: { severity: item.severity, candidate: item.candidate } },
    el('strong', {}, item.severity), ' ',
    el('a', { href: reviewLink(test, item.candidate) }, item.candidate),
    el('div', {}, item.what))) : [el('li', { class: 'legend' }, t('wall.no_alerts'))]));
}
