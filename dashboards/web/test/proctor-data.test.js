import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COUNTERS, candidateStatus, controlResult, counterText, dutySummary, mergeSnapshot, offeredControls, scoreLine, topComponents, wallAlerts, wallOrder } from '../proctor-data.js';

const NOW = 1_700_000_000_000;
const tile = (candidate_id, score, extra = {}) => ({ candidate_id, status: 'active', score, window_score: 0, components: [], counters: {}, age_ms: 0, ...extra });
const entriesOf = (...list) => new Map(list.map(([t, seenAt = NOW]) => [t.candidate_id, { tile: t, seenAt }]));
const SNAPSHOT = { alert_score: 2, gap_after_ms: 10_000 };

test('an active candidate turns to gap only after more than gap_after_ms of silence', () => {
  const entry = (seenAt) => ({ tile: tile('a', 0), seenAt });
  assert.equal(candidateStatus(entry(NOW), 10_000, NOW), 'active');
  assert.equal(candidateStatus(entry(NOW - 10_000), 10_000, NOW), 'active', 'exactly the limit is still active');
  assert.equal(candidateStatus(entry(NOW - 10_001), 10_000, NOW), 'gap');
});

test("the server's other statuses stand, however long the silence", () => {
  for (const status of ['blocked', 'ended']) {
    assert.equal(candidateStatus({ tile: tile('a', 0, { status }), seenAt: NOW - 3_600_000 }, 10_000, NOW), status);
  }
});

test('the wall orders by score, highest first, ties by id', () => {
  const entries = entriesOf([tile('cand-b', 1)], [tile('cand-c', 3)], [tile('cand-a', 1)], [tile('cand-d', 0)], [tile('cand-10', 1)]);
  assert.deepEqual(wallOrder(entries), ['cand-c', 'cand-10', 'cand-a', 'cand-b', 'cand-d']);
  assert.deepEqual(wallOrder(new Map()), []);
});

test('counters: durations for *_ms, counts otherwise, 0 when the server sent none', () => {
  const counters = { tab_switches: 4, hidden_ms: 65_000, blur_ms: 0 };
  assert.equal(counterText('tab_switches', counters), '4');
  assert.equal(counterText('hidden_ms', counters), '1 min 5 s');
  assert.equal(counterText('blur_ms', counters), '0 s');
  assert.equal(counterText('clipboard_actions', counters), '0');
  assert.equal(counterText('network_gaps', {}), '0');
  assert.ok(COUNTERS.every(([key, label]) => typeof key === 'string' && label.length > 0));
});

test('the score line shows the session and this minute to two places', () => {
  assert.equal(scoreLine(tile('a', 1.234, { window_score: 0.5 })), 'score 1.23 · this minute 0.50');
});

test('top components: the two largest, one decimal; fewer when there are fewer', () => {
  assert.equal(topComponents([['blur', 0.5], ['tab_switches', 2.25], ['clipboard', 1]]), 'tab_switches 2.3, clipboard 1.0');
  assert.equal(topComponents([['blur', 0.5]]), 'blur 0.5');
  assert.equal(topComponents([]), '');
  const components = [['b', 1], ['a', 2]];
  topComponents(components);
  assert.deepEqual(components, [['b', 1], ['a', 2]], 'the tile message is left as it came');
});

test('alerts: blocked first, then critical minutes, then warnings by rank; gaps last', () => {
  const entries = entriesOf(
    [tile('quiet', 0)],
    [tile('silent', 0), NOW - 95_000],
    [tile('warm', 0, { window_score: 2, components: [['tab_switches', 2]] })],
    [tile('hot', 0, { window_score: 4, components: [['tab_switches', 3], ['blur', 1]] })],
    [tile('warmer', 0, { window_score: 3.5, components: [['clipboard', 3.5]] })],
    [tile('stuck', 0, { status: 'blocked' })],
  );
  assert.deepEqual(wallAlerts(entries, SNAPSHOT, NOW), [
    { candidate: 'stuck', severity: 'critical', rank: 1e6, what: 'blocked: the test is paused until fixed' },
    { candidate: 'hot', severity: 'critical', rank: 4, what: 'minute score 4.0 (tab_switches 3.0, blur 1.0)' },
    { candidate: 'warmer', severity: 'warning', rank: 3.5, what: 'minute score 3.5 (clipboard 3.5)' },
    { candidate: 'warm', severity: 'warning', rank: 2, what: 'minute score 2.0 (tab_switches 2.0)' },
    { candidate: 'silent', severity: 'warning', rank: 0.5, what: 'no data for 1 min 35 s' },
  ]);
});

test('alerts: a blocked candidate over the alert score has both; equal ranks keep the wall state order', () => {
  const entries = entriesOf(
    [tile('z', 0, { window_score: 2, components: [] })],
    [tile('a', 0, { window_score: 2, components: [] })],
    [tile('both', 0, { status: 'blocked', window_score: 5, components: [] })],
  );
  assert.deepEqual(wallAlerts(entries, SNAPSHOT, NOW).map((a) => [a.candidate, a.severity]), [
    ['both', 'critical'], ['both', 'critical'], ['z', 'warning'], ['a', 'warning'],
  ]);
});

test('no entries, or nothing to see, make no alerts', () => {
  assert.deepEqual(wallAlerts(new Map(), SNAPSHOT, NOW), []);
  assert.deepEqual(wallAlerts(entriesOf([tile('a', 9, { window_score: 1.99 })]), SNAPSHOT, NOW), []);
});

test('duty line: without a roster every proctor sees everyone, and that is no overflow', () => {
  assert.equal(dutySummary({ assigned: [], unassigned: ['a', 'b'], on_duty: null }),
    'no duty roster for this test: every proctor sees every candidate');
});

test("duty line: a proctor's share, capacity and overflow", () => {
  const snapshot = { assigned: ['a', 'b'], unassigned: ['c'], on_duty: ['p1', 'p2', 'p3'], proctor: 'p1', capacity: 2 };
  assert.equal(dutySummary(snapshot), '2 candidates assigned to p1 (capacity 2; 3 proctors on duty) · 1 over capacity, shown to everyone');
  assert.equal(dutySummary({ ...snapshot, unassigned: [] }), '2 candidates assigned to p1 (capacity 2; 3 proctors on duty)');
  assert.equal(dutySummary({ ...snapshot, proctor: 'p9', unassigned: [] }),
    '2 candidates assigned to p9 (capacity 2; 3 proctors on duty) — you are not on the duty roster of this test');
});

test("duty line: an admin's whole-test view names no proctor", () => {
  assert.equal(dutySummary({ assigned: ['a', 'b', 'c'], unassigned: [], on_duty: ['p1'], proctor: null, capacity: 5 }),
    'all 3 assigned candidates of 1 proctors');
});

test('a snapshot drops candidates off the wall, keeps watched ones and back-dates its tiles', () => {
  const old = { tile: tile('kept', 1), seenAt: NOW - 5_000 };
  const entries = new Map([['gone', { tile: tile('gone', 1), seenAt: NOW }], ['kept', old], ['moved', { tile: tile('moved', 1), seenAt: NOW }]]);
  const fresh = tile('moved', 2, { age_ms: 1_500 });
  const newcomer = tile('new', 0, { age_ms: 0 });
  const left = mergeSnapshot(entries, { assigned: ['kept', 'moved'], unassigned: ['new'], tiles: [fresh, newcomer] }, NOW);
  assert.deepEqual(left, ['gone']);
  assert.deepEqual([...entries.keys()], ['kept', 'moved', 'new']);
  assert.equal(entries.get('kept'), old, 'a watched candidate without a tile in the snapshot keeps its entry');
  assert.deepEqual(entries.get('moved'), { tile: fresh, seenAt: NOW - 1_500 });
  assert.deepEqual(entries.get('new'), { tile: newcomer, seenAt: NOW });
});

test('an empty snapshot empties the wall', () => {
  const entries = entriesOf([tile('a', 1)], [tile('b', 2)]);
  assert.deepEqual(mergeSnapshot(entries, { assigned: [], unassigned: [], tiles: [] }, NOW), ['a', 'b']);
  assert.equal(entries.size, 0);
});

test('the LMS controls offered are the ones the signed context lists, in the wall\'s order', () => {
  const token = (payload) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;
  const actions = (context) => offeredControls(context).map(([action]) => action);
  assert.deepEqual(actions(token({ acs: { actions: ['terminate', 'pause', 'resume', 'bogus'] } })), ['pause', 'resume', 'terminate']);
  // A payload whose base64 needs padding still reads.
  assert.deepEqual(actions(token({ acs: { actions: ['flag'] }, x: 'ab' })), ['flag']);
  assert.deepEqual(actions(token({ acs: {} })), []);
  assert.deepEqual(actions('not-a-token'), []);
  assert.deepEqual(actions(undefined), []);
});

test('a control\'s result says what the platform answered, and when it was not recorded', () => {
  assert.equal(controlResult('pause', { status: 'paused', attempts: 1, recorded: true }), 'Pause: the platform says paused.');
  assert.equal(controlResult('update', { status: 'running', extra_time: 10, attempts: 2, recorded: false }),
    'Extra time: the platform says running, 10 min granted after 2 tries. (not recorded in the timeline: the broker did not take it)');
});
