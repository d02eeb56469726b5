// The proctor wall: the candidates assigned to this proctor, live over SSE.
// Each tile shows status (active / gap / blocked / ended), the session's
// counters, its score and the newest face and screen thumbnails; tiles sort
// by score, and an alert list ranks what needs attention now. "Watch live"
// on a tile opens the candidate's camera, screen and microphone (live.js).
import { ApiError, chooseTest, el, followEvents, formatDuration, header, params, reviewLink, say, thumbnail } from './common.js';
import { GRID_TILES, openGrid, openViewer } from './live.js';

const COUNTERS = [
  ['tab_switches', 'tab switches'],
  ['hidden_ms', 'hidden'],
  ['blur_count', 'blurs'],
  ['blur_ms', 'blurred'],
  ['fullscreen_exits', 'fullscreen exits'],
  ['clipboard_actions', 'clipboard'],
  ['key_bursts', 'key bursts'],
  ['permission_revocations', 'revocations'],
  ['missing_captures', 'missing captures'],
  ['network_gaps', 'network gaps'],
];

const me = await header('Proctor wall');
const test = me && chooseTest(me, 'proctor.html');
if (test) start(test);

function start(test) {
  const main = document.getElementById('main');
  const summary = el('p', { id: 'duty', class: 'legend' });
  const tiles = el('ul', { class: 'tiles', id: 'tiles', 'aria-label': 'Candidates' });
  const alerts = el('ol', { class: 'alerts', id: 'alerts', 'aria-label': 'Alerts, most severe first' });
  const viewerSlot = el('div', { id: 'live-viewer' });
  const gridSlot = el('div', { id: 'live-grid' });
  let viewer = null;
  let grid = null;
  const watch = (candidate) => {
    if (viewer) viewer.close();
    viewer = openViewer(test, candidate, { onClose: () => { viewer = null; } });
    viewerSlot.replaceChildren(viewer.panel);
  };
  const gridButton = el('button', { type: 'button', id: 'open-grid', onclick: () => {
    if (grid) return grid.close();
    // The wall's order: the highest scores first.
    const candidates = [...tiles.children].map((node) => node.dataset.candidate);
    grid = openGrid(test, candidates, { onOpen: watch, onClose: () => { grid = null; gridButton.textContent = 'Live grid'; } });
    gridSlot.replaceChildren(grid.panel);
    gridButton.textContent = 'Close live grid';
  } }, 'Live grid');
  gridButton.title = `The cameras of the first ${GRID_TILES} candidates, live`;
  main.append(
    summary,
    gridButton,
    gridSlot,
    viewerSlot,
    el('div', { class: 'wall' },
      el('section', { 'aria-labelledby': 'tiles-title' }, el('h2', { id: 'tiles-title' }, `Candidates of ${test}`), tiles),
      el('aside', { class: 'panel', 'aria-labelledby': 'alerts-title' }, el('h2', { id: 'alerts-title' }, 'Alerts'), alerts)),
  );

  /** candidate → { counters, seenAt } */
  const state = new Map();
  let wall = null;
  const nodes = new Map();

  const status = (entry) => {
    if (entry.counters.status !== 'active') return entry.counters.status;
    return Date.now() - entry.seenAt > wall.gap_after_ms ? 'gap' : 'active';
  };

  function tileFor(candidate) {
    let node = nodes.get(candidate);
    if (node) return node;
    const counters = el('dl', { class: 'counters' });
    for (const [key, label] of COUNTERS) {
      counters.append(el('div', {}, el('dt', {}, label), el('dd', { dataset: { counter: key } }, '0')));
    }
    node = el('li', { class: 'tile', dataset: { candidate } },
      el('header', {}, el('h3', {}, el('a', { href: reviewLink(test, candidate) }, candidate)), el('span', { class: 'badge' }, 'active')),
      el('button', { type: 'button', class: 'watch', onclick: () => watch(candidate), 'aria-label': `Watch ${candidate} live` }, 'Watch live'),
      el('div', { class: 'score' }),
      counters,
      el('div', { class: 'thumbs' }));
    node.thumbs = { face: undefined, screen: undefined };
    nodes.set(candidate, node);
    return node;
  }

  function paint(candidate) {
    const entry = state.get(candidate);
    const node = tileFor(candidate);
    const c = entry.counters;
    const now = status(entry);
    node.dataset.status = now;
    node.dataset.score = String(c.score);
    node.dataset.alert = String(c.window_score >= wall.alert_score);
    const badge = node.querySelector('.badge');
    badge.dataset.status = now;
    badge.textContent = now;
    node.querySelector('.score').textContent =
      `score ${c.score.toFixed(2)} · this minute ${c.window_score.toFixed(2)}`;
    for (const [key] of COUNTERS) {
      const value = c.counters[key] ?? 0;
      node.querySelector(`[data-counter="${key}"]`).textContent = key.endsWith('_ms') ? formatDuration(value) : String(value);
    }
    if (node.thumbs.face !== c.face_key || node.thumbs.screen !== c.screen_key) {
      node.thumbs = { face: c.face_key, screen: c.screen_key };
      node.querySelector('.thumbs').replaceChildren(thumbnail(c.face_key, 'face photo'), thumbnail(c.screen_key, 'screenshot'));
    }
  }

  function order() {
    const sorted = [...state.keys()].sort((a, b) => state.get(b).counters.score - state.get(a).counters.score || a.localeCompare(b));
    const current = [...tiles.children].map((n) => n.dataset.candidate);
    if (sorted.join('\n') !== current.join('\n')) tiles.replaceChildren(...sorted.map(tileFor));
  }

  function renderAlerts() {
    const items = [];
    for (const [candidate, entry] of state) {
      const c = entry.counters;
      const now = status(entry);
      if (now === 'blocked') items.push({ candidate, severity: 'critical', rank: 1e6, what: 'blocked: the test is paused until fixed' });
      if (c.window_score >= wall.alert_score) {
        const top = [...c.components].sort((a, b) => b[1] - a[1]).slice(0, 2).map(([n, v]) => `${n} ${v.toFixed(1)}`).join(', ');
        items.push({ candidate, severity: c.window_score >= 2 * wall.alert_score ? 'critical' : 'warning', rank: c.window_score, what: `minute score ${c.window_score.toFixed(1)} (${top})` });
      }
      if (now === 'gap') items.push({ candidate, severity: 'warning', rank: 0.5, what: `no data for ${formatDuration(Date.now() - entry.seenAt)}` });
    }
    items.sort((a, b) => (a.severity === b.severity ? b.rank - a.rank : a.severity === 'critical' ? -1 : 1));
    alerts.replaceChildren(...(items.length ? items.map((item) => el('li', { dataset: { severity: item.severity, candidate: item.candidate } },
      el('strong', {}, item.severity), ' ',
      el('a', { href: reviewLink(test, item.candidate) }, item.candidate),
      el('div', {}, item.what))) : [el('li', { class: 'legend' }, 'No alerts.')]));
  }

  function applySnapshot(next) {
    wall = next;
    const watched = new Set([...next.assigned, ...next.unassigned]);
    for (const candidate of [...state.keys()]) {
      if (!watched.has(candidate)) {
        state.delete(candidate);
        nodes.delete(candidate);
      }
    }
    for (const tile of next.tiles) {
      state.set(tile.candidate_id, { counters: tile, seenAt: Date.now() - tile.age_ms });
    }
    tiles.dataset.assigned = next.assigned.join(' ');
    const duty = next.on_duty
      ? next.proctor
        ? `${next.assigned.length} candidates assigned to ${next.proctor} (capacity ${next.capacity}; ${next.on_duty.length} proctors on duty)` +
          (next.on_duty.includes(next.proctor) ? '' : ' — you are not on the duty roster of this test')
        : `all ${next.assigned.length} assigned candidates of ${next.on_duty.length} proctors`
      : 'no duty roster for this test: every proctor sees every candidate';
    // Without a roster every candidate is "unassigned": that is not overflow.
    const overflow = next.on_duty && next.unassigned.length;
    summary.textContent = duty + (overflow ? ` · ${next.unassigned.length} over capacity, shown to everyone` : '');
    for (const candidate of state.keys()) paint(candidate);
    order();
    renderAlerts();
  }

  function applyTile(tile) {
    if (!wall) return;
    state.set(tile.candidate_id, { counters: tile, seenAt: Date.now() });
    paint(tile.candidate_id);
    order();
    renderAlerts();
  }

  // Gaps appear without any message: look again every second.
  setInterval(() => {
    if (!wall) return;
    for (const candidate of state.keys()) paint(candidate);
    renderAlerts();
  }, 1000);

  const query = params.get('proctor') ? `?proctor=${encodeURIComponent(params.get('proctor'))}` : '';
  followEvents(`/api/v1/dashboard/tests/${encodeURIComponent(test)}/live${query}`, (name, data) => {
    if (name === 'snapshot') applySnapshot(data);
    else if (name === 'tile') applyTile(data);
  }, {
    onState: (state) => say(state === 'open' ? 'Live.' : 'Connection lost; reconnecting…', state === 'open' ? 'info' : 'error'),
  }).catch((error) => {
    say(error instanceof ApiError ? error.message : String(error), 'error');
    document.body.dataset.denied = String(error.status || '');
  });
}
