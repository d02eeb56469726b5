// The review timeline as one SVG on one time axis: minute scores as bars
// (alert minutes in red, the threshold dashed), network gaps shaded across
// the whole height, and lanes of what the candidate did (hidden tab, lost
// focus, blocked spans; fullscreen exits, clipboard and permission marks).
// The scales and spans are exported for the unit tests (test/plot.test.js).
import { el } from './dom.js';
import { formatClock } from './format.js';
import { t } from './words.js';

const WIDTH = 1000;
/** Room for the lane labels, left of the time axis. */
const LEFT = 92;
const PLOT_WIDTH = WIDTH - LEFT - 8;
const SCORE_HEIGHT = 120;
const LANE_HEIGHT = 18;
const TICKS = 6;
/** The shortest time axis: a lone event still gets a readable minute. */
const MIN_SPAN_MS = 60_000;
const LANES = [
  ['hidden', t('plot.hidden'), '#d9822b'],
  ['blur', t('plot.blur'), '#9b6bd3'],
  ['blocked', t('plot.blocked'), '#b3261e'],
  ['marks', t('plot.marks'), '#2457c5'],
];

/** On/off spans from paired events: `on(e)`/`off(e)` say which is which;
 * a span still open at the end runs to `end`. */
export function spans(events, on, off, end) {
  const result = [];
  let open = null;
  for (const event of events) {
    if (on(event) && open === null) open = event.ts;
    else if (off(event) && open !== null) {
      result.push([open, event.ts]);
      open = null;
    }
  }
  if (open !== null) result.push([open, end]);
  return result;
}

/** The spans of the three span lanes, keyed as in LANES. */
export function activitySpans(events, end) {
  const state = (type, value) => (e) => e.type === type && e.state === value;
  return {
    hidden: spans(events, state('visibility', 'hidden'), state('visibility', 'visible'), end),
    blur: spans(events, state('focus', 'blur'), state('focus', 'focus'), end),
    blocked: spans(events, (e) => e.type === 'blocked', (e) => e.type === 'unblocked', end),
  };
}

/** Whether an event is a mark on the marks lane: a moment, not a span. */
export function isMark(e) {
  return (e.type === 'fullscreen' && e.state === 'exited') || e.type === 'clipboard' || (e.type === 'permission' && e.state !== 'granted');
}

/**
 * The plot's axes. `from`–`to` covers every event, window and gap (at
 * least MIN_SPAN_MS); `x(t)` maps Unix ms to the SVG's x, `y(score)` a score
 * to its y (0 on the axis, `maxScore` at the top); `timeAt(px)` is x's
 * inverse, null left of the axis where the lane labels are.
 */
export function plotScales(timeline, alertScore) {
  const times = [
    ...timeline.events.map((e) => e.ts),
    ...timeline.windows.flatMap((w) => [w.start, w.end]),
    ...timeline.gaps.flatMap((g) => [g.from, g.to]),
  ];
  const from = Math.min(...times);
  const to = Math.max(...times, from + MIN_SPAN_MS);
  // Headroom over the threshold, so the dashed line never sits on the top edge.
  const maxScore = Math.max(alertScore * 1.2, ...timeline.windows.map((w) => w.score), 1);
  return {
    from,
    to,
    maxScore,
    x: (t) => LEFT + ((t - from) / (to - from)) * PLOT_WIDTH,
    y: (score) => 8 + (SCORE_HEIGHT - 8) * (1 - score / maxScore),
    timeAt: (px) => (px < LEFT ? null : from + ((px - LEFT) / PLOT_WIDTH) * (to - from)),
  };
}

/** The times of the axis labels: `count` equal steps from `from` to `to`, both ends included. */
export function tickTimes(from, to, count = TICKS) {
  return Array.from({ length: count + 1 }, (_, i) => from + ((to - from) * i) / count);
}

export function timelinePlot(timeline, alertScore) {
  const scales = plotScales(timeline, alertScore);
  const height = SCORE_HEIGHT + LANES.length * LANE_HEIGHT + 34;
  const svg = el('svg', { class: 'plot', viewBox: `0 0 ${WIDTH} ${height}`, role: 'img', 'aria-labelledby': 'plot-title' },
    el('title', { id: 'plot-title' }, t('plot.title')));
  drawGaps(svg, timeline.gaps, scales, height);
  drawScores(svg, timeline.windows, alertScore, scales);
  drawLanes(svg, timeline.events, scales);
  for (const t of tickTimes(scales.from, scales.to)) {
    svg.append(el('text', { x: Math.min(scales.x(t) - 20, WIDTH - 56), y: height - 6 }, formatClock(t)));
  }
  addCursor(svg, scales, height);
  return svg;
}

function drawGaps(svg, gaps, { x }, height) {
  for (const gap of gaps) {
    svg.append(el('rect', { class: 'gap', x: x(gap.from), y: 0, width: Math.max(1, x(gap.to) - x(gap.from)), height: height - 22 },
      el('title', {}, t('plot.gap', { from: formatClock(gap.from), to: formatClock(gap.to) }))));
  }
}

/** The minute bars, the dashed alert threshold and the score axis. */
function drawScores(svg, windows, alertScore, { x, y, maxScore }) {
  for (const w of windows) {
    const top = y(w.score);
    svg.append(el('rect', {
      class: w.score >= alertScore ? 'bar alert' : 'bar',
      x: x(w.start) + 0.5,
      y: top,
      width: Math.max(1, x(w.end) - x(w.start) - 1),
      height: Math.max(0, SCORE_HEIGHT - top),
      dataset: { start: String(w.start) },
    }, el('title', {}, `${formatClock(w.start)} score ${w.score.toFixed(2)}`)));
  }
  svg.append(
    el('line', { class: 'threshold', x1: LEFT, x2: WIDTH - 8, y1: y(alertScore), y2: y(alertScore) }),
    el('text', { x: 4, y: y(alertScore) + 4 }, `alert ${alertScore}`),
    el('text', { x: 4, y: 14 }, `score ≤ ${maxScore.toFixed(1)}`),
    el('line', { class: 'axis', x1: LEFT, x2: WIDTH - 8, y1: SCORE_HEIGHT, y2: SCORE_HEIGHT }),
  );
}

function drawLanes(svg, events, { x, to }) {
  const lanes = activitySpans(events, to);
  LANES.forEach(([key, label, colour], index) => {
    const top = SCORE_HEIGHT + 6 + index * LANE_HEIGHT;
    svg.append(el('text', { class: 'lane-label', x: 4, y: top + 12 }, label.length > 14 ? 'marks' : label));
    if (key === 'marks') {
      for (const e of events.filter(isMark)) {
        svg.append(el('line', { class: 'mark', x1: x(e.ts), x2: x(e.ts), y1: top + 2, y2: top + LANE_HEIGHT - 2, stroke: colour },
          el('title', {}, `${formatClock(e.ts)} ${e.type} ${e.state || e.action || ''}`)));
      }
      return;
    }
    for (const [start, end] of lanes[key]) {
      svg.append(el('rect', { x: x(start), y: top + 3, width: Math.max(2, x(end) - x(start)), height: LANE_HEIGHT - 6, fill: colour },
        el('title', {}, `${label} ${formatClock(start)}–${formatClock(end)}`)));
    }
  });
}

/** The recording's playing time, when there is a recording (recording.js):
 * `svg.showTime(t)` moves the line to `t` (Unix ms); `svg.timeAt(event)` is
 * the time under a pointer event, or null left of the plot. */
function addCursor(svg, { x, from, to, timeAt }, height) {
  const cursor = el('line', { class: 'cursor', x1: 0, x2: 0, y1: 0, y2: height - 22, visibility: 'hidden' });
  svg.append(cursor);
  svg.showTime = (t) => {
    const at = x(Math.min(Math.max(t, from), to));
    cursor.setAttribute('x1', at);
    cursor.setAttribute('x2', at);
    cursor.setAttribute('visibility', 'visible');
  };
  svg.timeAt = (event) => {
    const box = svg.getBoundingClientRect();
    return timeAt(((event.clientX - box.left) / box.width) * WIDTH);
  };
}
