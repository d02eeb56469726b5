// The proctor wall: the candidates assigned to this proctor, live over SSE.
// Each tile shows status (active / gap / blocked / ended), the session's
// counters, its score and the newest face and screen thumbnails; tiles sort
// by score, and an alert list ranks what needs attention now. "Watch live"
// on a tile opens the candidate's camera, screen and microphone (live.js).
// The data is proctor-data.js's, the drawing proctor-view.js's.
import { ApiError, chooseTest, followEvents, header, params, say } from './common.js';
import { GRID_TILES, openGrid, openViewer } from './live.js';
import { openControls } from './lms.js';
import { candidateStatus, dutySummary, mergeSnapshot, wallAlerts, wallOrder } from './proctor-data.js';
import { drawAlerts, tileBoard, wallLayout } from './proctor-view.js';
import { t } from './words.js';

const me = await header(t('wall.title'));
const test = me && chooseTest(me, 'proctor.html');
if (test) start(test);

function start(test) {
  const parts = wallLayout(document.getElementById('main'), test, GRID_TILES);
  const watch = liveVideo(test, parts);
  const wall = liveWall(test, parts, watch, lmsControls(test, parts));
  // Gaps appear without any message: look again every second.
  setInterval(wall.refresh, 1000);
  follow(test, wall);
}

/** Live video: the grid button and one viewer at a time. Returns
 * `watch(candidate)`, which opens the viewer on a candidate. */
function liveVideo(test, { gridButton, gridSlot, viewerSlot, tiles }) {
  let viewer = null;
  let grid = null;
  const watch = (candidate) => {
    if (viewer) viewer.close();
    viewer = openViewer(test, candidate, { onClose: () => { viewer = null; } });
    viewerSlot.replaceChildren(viewer.panel);
  };
  gridButton.addEventListener('click', () => {
    if (grid) {
      grid.close();
      return;
    }
    // The wall's order: the highest scores first.
    const candidates = [...tiles.children].map((node) => node.dataset.candidate);
    grid = openGrid(test, candidates, { onOpen: watch, onClose: () => { grid = null; gridButton.textContent = t('wall.grid'); } });
    gridSlot.replaceChildren(grid.panel);
    gridButton.textContent = t('wall.grid_close');
  });
  return watch;
}

/** The LMS controls' panel, one candidate at a time, in the viewer's slot
 * (the tiles offer it once a snapshot says the front door sends controls). */
function lmsControls(test, { viewerSlot }) {
  let panel = null;
  return {
    shown: false,
    onControls(candidate) {
      if (panel) panel.close();
      panel = openControls(test, candidate, { onClose: () => { panel = null; } });
      viewerSlot.replaceChildren(panel.panel);
    },
  };
}

/** The wall's state (proctor-data.js's entries and the newest snapshot)
 * and its redraws, one per stream message and one per second. */
function liveWall(test, { summary, tiles, alerts }, watch, controls) {
  const entries = new Map();
  const board = tileBoard(tiles, test, watch, controls);
  let snapshot = null;
  const paint = (entry, now) => board.paint(entry.tile, candidateStatus(entry, snapshot.gap_after_ms, now), snapshot.alert_score);
  const paintAll = (now) => { for (const entry of entries.values()) paint(entry, now); };
  const showAlerts = (now) => drawAlerts(alerts, wallAlerts(entries, snapshot, now), test);
  return {
    applySnapshot(next) {
      const now = Date.now();
      snapshot = next;
      // Tiles made from now on offer the controls; the first snapshot
      // comes before any tile.
      controls.shown = Boolean(next.lms_controls);
      for (const candidate of mergeSnapshot(entries, next, now)) board.drop(candidate);
      tiles.dataset.assigned = next.assigned.join(' ');
      summary.textContent = dutySummary(next);
      paintAll(now);
      board.arrange(wallOrder(entries));
      showAlerts(now);
    },
    applyTile(tile) {
      if (!snapshot) return;
      const now = Date.now();
      const entry = { tile, seenAt: now };
      entries.set(tile.candidate_id, entry);
      paint(entry, now);
      board.arrange(wallOrder(entries));
      showAlerts(now);
    },
    refresh() {
      if (!snapshot) return;
      const now = Date.now();
      paintAll(now);
      showAlerts(now);
    },
  };
}

/** Follows the wall's live stream (`?proctor=` lets an admin see one
 * proctor's share); a refused token shows on the page and in body[data-denied]. */
function follow(test, wall) {
  const query = params.get('proctor') ? `?proctor=${encodeURIComponent(params.get('proctor'))}` : '';
  followEvents(`/api/v1/dashboard/tests/${encodeURIComponent(test)}/live${query}`, (name, data) => {
    if (name === 'snapshot') wall.applySnapshot(data);
    else if (name === 'tile') wall.applyTile(data);
  }, {
    onState: (state) => say(state === 'open' ? t('wall.live') : t('wall.reconnecting'), state === 'open' ? 'info' : 'error'),
  }).catch((error) => {
    say(error instanceof ApiError ? error.message : String(error), 'error');
    document.body.dataset.denied = String(error.status || '');
  });
}
