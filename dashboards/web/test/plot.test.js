import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activitySpans, isMark, plotScales, spans, tickTimes } from '../plot.js';

const T = 1_700_000_000_000;
const timeline = ({ events = [], windows = [], gaps = [] }) => ({ events, windows, gaps });

test('spans pair each on with the next off; repeats and strays are ignored', () => {
  const events = [
    { ts: 1, on: true }, { ts: 2, on: true }, { ts: 3, off: true }, { ts: 4, off: true }, { ts: 5, on: true }, { ts: 9, off: true },
  ];
  assert.deepEqual(spans(events, (e) => e.on, (e) => e.off, 100), [[1, 3], [5, 9]]);
});

test('a span still open runs to the end; no events, no spans', () => {
  assert.deepEqual(spans([{ ts: 7, on: true }], (e) => e.on, (e) => e.off, 50), [[7, 50]]);
  assert.deepEqual(spans([{ ts: 7, off: true }], (e) => e.on, (e) => e.off, 50), []);
  assert.deepEqual(spans([], () => true, () => true, 50), []);
});

test('activitySpans reads hidden, blur and blocked lanes from their own events only', () => {
  const events = [
    { ts: 10, type: 'visibility', state: 'hidden' },
    { ts: 12, type: 'focus', state: 'blur' },
    { ts: 15, type: 'visibility', state: 'visible' },
    { ts: 16, type: 'focus', state: 'focus' },
    { ts: 20, type: 'blocked', reason: 'camera' },
    { ts: 22, type: 'visibility', state: 'visible' },
  ];
  assert.deepEqual(activitySpans(events, 99), { hidden: [[10, 15]], blur: [[12, 16]], blocked: [[20, 99]] });
});

test('marks are fullscreen exits, clipboard actions and permissions not granted', () => {
  assert.equal(isMark({ type: 'fullscreen', state: 'exited' }), true);
  assert.equal(isMark({ type: 'fullscreen', state: 'entered' }), false);
  assert.equal(isMark({ type: 'clipboard', action: 'copy' }), true);
  assert.equal(isMark({ type: 'permission', state: 'denied' }), true);
  assert.equal(isMark({ type: 'permission', state: 'granted' }), false);
  assert.equal(isMark({ type: 'visibility', state: 'hidden' }), false);
  assert.equal(isMark({ type: 'something_new' }), false);
});

test('the time axis spans events, windows and gaps, left edge to right edge', () => {
  const scales = plotScales(timeline({
    events: [{ ts: T + 30_000 }],
    windows: [{ start: T, end: T + 60_000, score: 1 }],
    gaps: [{ from: T + 100_000, to: T + 120_000 }],
  }), 2);
  assert.equal(scales.from, T);
  assert.equal(scales.to, T + 120_000);
  assert.equal(scales.x(T), 92, 'the axis starts right of the lane labels');
  assert.equal(scales.x(T + 120_000), 992, '8 px short of the 1000-wide view box');
  assert.equal(scales.x(T + 60_000), 542);
});

test('a zero-length or short session still gets a one-minute axis', () => {
  const one = plotScales(timeline({ events: [{ ts: T }, { ts: T }] }), 2);
  assert.equal(one.to - one.from, 60_000);
  assert.ok(Number.isFinite(one.x(T)) && one.x(T) === 92);
  const short = plotScales(timeline({ events: [{ ts: T + 5_000 }, { ts: T }] }), 2);
  assert.deepEqual([short.from, short.to], [T, T + 60_000], 'events out of order, 5 s apart');
});

test('times outside the axis map outside the plot, on a straight line', () => {
  const { x } = plotScales(timeline({ events: [{ ts: T }, { ts: T + 90_000 }] }), 2);
  assert.equal(x(T - 90_000), 92 - 900);
  assert.equal(x(T + 180_000), 92 + 1800);
});

test('the score axis leaves headroom over the threshold and grows to the worst minute', () => {
  const quiet = plotScales(timeline({ events: [{ ts: T }], windows: [{ start: T, end: T + 60_000, score: 0.5 }] }), 2.5);
  assert.equal(quiet.maxScore, 3, '1.2 × the alert score');
  assert.equal(quiet.y(0), 120, 'zero is on the axis');
  assert.equal(quiet.y(3), 8, 'the top score is at the top margin');
  const loud = plotScales(timeline({ events: [{ ts: T }], windows: [{ start: T, end: T + 60_000, score: 7 }] }), 2.5);
  assert.equal(loud.maxScore, 7);
  assert.equal(loud.y(3.5), 64);
});

test('the score axis never collapses: a zero alert score and no windows give a top of 1', () => {
  const { maxScore, y } = plotScales(timeline({ events: [{ ts: T }] }), 0);
  assert.equal(maxScore, 1);
  assert.equal(y(1), 8);
  assert.equal(y(0), 120);
  assert.ok(y(-1) > 120, 'a negative score draws below the axis, not NaN');
});

test('timeAt inverts x, and is null over the lane labels', () => {
  const scales = plotScales(timeline({ events: [{ ts: T }, { ts: T + 90_000 }] }), 2);
  for (const t of [T, T + 45_000, T + 90_000]) assert.equal(scales.timeAt(scales.x(t)), t);
  assert.equal(scales.timeAt(91.9), null);
  assert.equal(scales.timeAt(0), null);
  assert.equal(scales.timeAt(92), T);
});

test('ticks step evenly from one end to the other', () => {
  assert.deepEqual(tickTimes(0, 60_000), [0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000]);
  assert.deepEqual(tickTimes(5, 5, 2), [5, 5, 5], 'an empty range repeats its one time');
  assert.deepEqual(tickTimes(10, 0, 2), [10, 5, 0], 'a reversed range runs backwards');
});
