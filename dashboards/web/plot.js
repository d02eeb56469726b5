// The review timeline as one SVG on one time axis: minute scores as bars
// (alert minutes in red, the threshold dashed), network gaps shaded across
// the whole height, and lanes of what the candidate did (hidden tab, lost
// focus, blocked spans; fullscreen exits, clipboard and permission marks).
import { el, formatClock } from './common.js';

const WIDTH = 1000;
const LEFT = 92;
const SCORE_HEIGHT = 120;
const LANE_HEIGHT = 18;
const LANES = [
  ['hidden', 'tab hidden', '#d9822b'],
  ['blur', 'focus lost', '#9b6bd3'],
  ['blocked', 'blocked', '#b3261e'],
  ['marks', 'fullscreen · clipboard · permission', '#2457c5'],
];

/** On/off spans from paired events: `on(e)`/`off(e)` say which is which;
 * a span still open at the end runs to `end`. */
function spans(events, on, off, end) {
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

export function timelinePlot(timeline, alertScore) {
  const times = [
    ...timeline.events.map((e) => e.ts),
    ...timeline.windows.flatMap((w) => [w.start, w.end]),
    ...timeline.gaps.flatMap((g) => [g.from, g.to]),
  ];
  const from = Math.min(...times);
  const to = Math.max(...times, from + 60_000);
  const height = SCORE_HEIGHT + LANES.length * LANE_HEIGHT + 34;
  const x = (t) => LEFT + ((t - from) / (to - from)) * (WIDTH - LEFT - 8);
  const maxScore = Math.max(alertScore * 1.2, ...timeline.windows.map((w) => w.score), 1);
  const y = (score) => 8 + (SCORE_HEIGHT - 8) * (1 - score / maxScore);
  const svg = el('svg', { class: 'plot', viewBox: `0 0 ${WIDTH} ${height}`, role: 'img', 'aria-labelledby': 'plot-title' },
    el('title', { id: 'plot-title' }, 'Minute scores, network gaps and activity over the session'));

  for (const gap of timeline.gaps) {
    svg.append(el('rect', { class: 'gap', x: x(gap.from), y: 0, width: Math.max(1, x(gap.to) - x(gap.from)), height: height - 22 },
      el('title', {}, `network gap ${formatClock(gap.from)}–${formatClock(gap.to)} (not scored)`)));
  }
  for (const w of timeline.windows) {
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

  const events = timeline.events;
  const lanes = {
    hidden: spans(events, (e) => e.type === 'visibility' && e.state === 'hidden', (e) => e.type === 'visibility' && e.state === 'visible', to),
    blur: spans(events, (e) => e.type === 'focus' && e.state === 'blur', (e) => e.type === 'focus' && e.state === 'focus', to),
    blocked: spans(events, (e) => e.type === 'blocked', (e) => e.type === 'unblocked', to),
  };
  LANES.forEach(([key, label, colour], index) => {
    const top = SCORE_HEIGHT + 6 + index * LANE_HEIGHT;
    svg.append(el('text', { class: 'lane-label', x: 4, y: top + 12 }, label.length > 14 ? 'marks' : label));
    if (key === 'marks') {
      for (const e of events) {
        const mark = (e.type === 'fullscreen' && e.state === 'exited') || e.type === 'clipboard' || (e.type === 'permission' && e.state !== 'granted');
        if (!mark) continue;
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
  const ticks = 6;
  for (let i = 0; i <= ticks; i += 1) {
    const t = from + ((to - from) * i) / ticks;
    svg.append(el('text', { x: Math.min(x(t) - 20, WIDTH - 56), y: height - 6 }, formatClock(t)));
  }
  // The recording's playing time, when there is a recording (review.js).
  const cursor = el('line', { class: 'cursor', x1: 0, x2: 0, y1: 0, y2: height - 22, visibility: 'hidden' });
  svg.append(cursor);
  /** Moves the playing-time line to `t` (Unix ms). */
  svg.showTime = (t) => {
    const at = x(Math.min(Math.max(t, from), to));
    cursor.setAttribute('x1', at);
    cursor.setAttribute('x2', at);
    cursor.setAttribute('visibility', 'visible');
  };
  /** The time under a pointer event, or null left of the plot. */
  svg.timeAt = (event) => {
    const box = svg.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * WIDTH;
    return px < LEFT ? null : from + ((px - LEFT) / (WIDTH - LEFT - 8)) * (to - from);
  };
  return svg;
}
