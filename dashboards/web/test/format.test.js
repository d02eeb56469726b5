import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatClock, formatDuration, formatTime } from '../format.js';

test('formatTime prints UTC to the second, and a dash for no time', () => {
  assert.equal(formatTime(Date.UTC(2024, 2, 5, 7, 8, 9, 999)), '2024-03-05 07:08:09Z');
  assert.equal(formatTime(0), '—');
  assert.equal(formatTime(null), '—');
  assert.equal(formatTime(undefined), '—');
});

test('formatClock prints the UTC time of day', () => {
  assert.equal(formatClock(Date.UTC(2024, 2, 5, 23, 59, 59)), '23:59:59');
  assert.equal(formatClock(0), '00:00:00');
});

test('formatDuration rounds to seconds and steps up to minutes and hours', () => {
  assert.equal(formatDuration(0), '0 s');
  assert.equal(formatDuration(499), '0 s');
  assert.equal(formatDuration(59_400), '59 s');
  assert.equal(formatDuration(59_500), '1 min 0 s', 'rounding up crosses into minutes');
  assert.equal(formatDuration(185_000), '3 min 5 s');
  assert.equal(formatDuration(3_599_000), '59 min 59 s');
  assert.equal(formatDuration(3_600_000), '1 h 0 min');
  assert.equal(formatDuration(7_620_000 + 59_000), '2 h 7 min', 'hours drop the seconds');
});

test('formatDuration of a negative span (a clock behind the server) stays in seconds', () => {
  assert.equal(formatDuration(-5_000), '-5 s');
  assert.equal(formatDuration(-600_000), '-600 s');
});
