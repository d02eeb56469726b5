import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  anomalyComponents, describeAccommodation, describeEvent, describeFaceFlag, describeHint, describeStaffAction, environmentSummary, eventTypes, sessionPlaces, eventsOfType, faceFlags, isLate, nextSort, recordingLegend, recordingSegments,
  segmentAt, segmentOffset, sortCandidates, withVerdict,
} from '../review-data.js';

const row = (candidate_id, score, extra = {}) => ({ candidate_id, score, verdict: null, ...extra });
const ids = (rows) => rows.map((r) => r.candidate_id);

test('candidates sort by a number column, ties by id, either way', () => {
  const rows = [row('c', 1), row('a', 2), row('b', 1), row('d', 0)];
  assert.deepEqual(ids(sortCandidates(rows, 'score', true)), ['a', 'b', 'c', 'd']);
  assert.deepEqual(ids(sortCandidates(rows, 'score', false)), ['d', 'b', 'c', 'a']);
  assert.deepEqual(ids(rows), ['c', 'a', 'b', 'd'], 'the server list is left as it came');
  assert.deepEqual(sortCandidates([], 'score', true), []);
});

test('candidates sort by verdict word, no verdict first when ascending', () => {
  const rows = [
    row('a', 0, { verdict: { verdict: 'flagged', reviewer: 'r1' } }),
    row('b', 0),
    row('c', 0, { verdict: { verdict: 'cleared', reviewer: 'r2' } }),
    row('d', 0),
  ];
  assert.deepEqual(ids(sortCandidates(rows, 'verdict', false)), ['b', 'd', 'c', 'a']);
  assert.deepEqual(ids(sortCandidates(rows, 'verdict', true)), ['a', 'c', 'b', 'd'], 'ties still by id ascending');
});

test('candidates sort by id as text', () => {
  assert.deepEqual(ids(sortCandidates([row('cand-b', 0), row('cand-a', 0)], 'candidate_id', false)), ['cand-a', 'cand-b']);
});

test('a click on the sorted column flips it; another column starts worst-first if numeric', () => {
  assert.deepEqual(nextSort({ key: 'score', descending: true }, 'score', true), { key: 'score', descending: false });
  assert.deepEqual(nextSort({ key: 'score', descending: false }, 'score', true), { key: 'score', descending: true });
  assert.deepEqual(nextSort({ key: 'score', descending: false }, 'alert_minutes', true), { key: 'alert_minutes', descending: true });
  assert.deepEqual(nextSort({ key: 'score', descending: true }, 'candidate_id', false), { key: 'candidate_id', descending: false });
});

test('events describe themselves from their own fields', () => {
  assert.equal(describeEvent({ type: 'session_started', sdk_version: '1.2.3', screen_w: 1920, screen_h: 1080, displays: 1 }), 'SDK 1.2.3, 1920×1080, 1 display');
  assert.equal(describeEvent({ type: 'session_started', sdk_version: '1.2.3', screen_w: 1280, screen_h: 800, displays: 2 }), 'SDK 1.2.3, 1280×800, 2 displays');
  assert.equal(describeEvent({ type: 'key_activity', keys: 30, interval_ms: 5_400 }), '30 keys in 5 s');
  assert.equal(describeEvent({ type: 'clipboard', action: 'paste', chars: 42 }), 'paste 42 chars');
  assert.equal(describeEvent({ type: 'sdk_error', code: 'E_MEDIA', message: 'no camera' }), 'E_MEDIA: no camera');
});

test('captures and recordings name bytes, retries and failures only when there are some', () => {
  assert.equal(describeEvent({ type: 'capture', kind: 'face', capture_seq: 3, status: 'uploaded', bytes: 1200, attempts: 1 }), 'face #3 uploaded, 1200 B');
  assert.equal(describeEvent({ type: 'capture', kind: 'screen', capture_seq: 4, status: 'failed', attempts: 3, error: 'quota' }), 'screen #4 failed, 3 attempts (quota)');
  assert.equal(describeEvent({ type: 'recording', track: 'camera', segment_seq: 7, status: 'uploaded', duration_ms: 9_960, bytes: 5000 }), 'camera segment #7 uploaded, 10.0 s, 5000 B');
  assert.equal(describeEvent({ type: 'recording', track: 'screen', segment_seq: 0, status: 'failed', duration_ms: 2_500, error: 'network' }), 'screen segment #0 failed, 2.5 s (network)');
});

test("a proctor's message reads as a note or a warning, its text as sent", () => {
  const message = (level) => ({ type: 'custom', name: 'invigil.proctor_message', data: { level, from: 'p1', text: '<b>eyes</b> on screen' } });
  assert.equal(describeEvent(message('warning')), 'Warning from p1: <b>eyes</b> on screen');
  assert.equal(describeEvent(message('info')), 'Note from p1: <b>eyes</b> on screen');
});

test("a host's custom event shows its data as JSON, cut at 200 characters", () => {
  assert.equal(describeEvent({ type: 'custom', name: 'host.step', data: { step: 2 } }), 'host.step {"step":2}');
  assert.equal(describeEvent({ type: 'custom', name: 'host.empty' }), 'host.empty {}');
  const long = describeEvent({ type: 'custom', name: 'host.big', data: { text: 'x'.repeat(300) } });
  assert.equal(long, `host.big {"text":"${'x'.repeat(191)}…`);
  assert.equal(long.length, 'host.big '.length + 200 + 1);
  const exact = { text: 'x'.repeat(189) };
  assert.equal(JSON.stringify(exact).length, 200);
  assert.equal(describeEvent({ type: 'custom', name: 'h', data: exact }), `h ${JSON.stringify(exact)}`, '200 characters are not cut');
});

test('other and unknown events join whatever state, device, action and reason they have', () => {
  assert.equal(describeEvent({ type: 'visibility', state: 'hidden' }), 'hidden');
  assert.equal(describeEvent({ type: 'permission', device: 'camera', state: 'denied' }), 'denied camera');
  assert.equal(describeEvent({ type: 'blocked', reason: 'camera lost' }), 'camera lost');
  assert.equal(describeEvent({ type: 'from_a_newer_sdk', state: 'on', action: 'flip', extra: 1 }), 'on flip');
  assert.equal(describeEvent({ type: 'from_a_newer_sdk' }), '');
  assert.equal(describeEvent({}), '');
});

test('event filter: the types present, sorted once each; rows of one type, at most 2000', () => {
  const events = [{ type: 'visibility' }, { type: 'capture' }, { type: 'visibility' }, { type: 'blocked' }];
  assert.deepEqual(eventTypes(events), ['blocked', 'capture', 'visibility']);
  assert.deepEqual(eventTypes([]), []);
  assert.equal(eventsOfType(events, '').length, 4);
  assert.deepEqual(eventsOfType(events, 'visibility'), [events[0], events[2]]);
  assert.deepEqual(eventsOfType(events, 'nonexistent'), []);
  const many = Array.from({ length: 2500 }, (_, seq) => ({ type: seq % 2 ? 'a' : 'b', seq }));
  assert.equal(eventsOfType(many, '').length, 2000);
  assert.equal(eventsOfType(many, 'a').length, 1250);
  assert.equal(eventsOfType(many, '').at(-1).seq, 1999, 'the first ones');
});

test('an event is late when received more than 75 s after its time', () => {
  assert.equal(isLate({ ts: 0, received_at: 75_000 }), false);
  assert.equal(isLate({ ts: 0, received_at: 75_001 }), true);
  assert.equal(isLate({ ts: 10_000, received_at: 5_000 }), false, 'a client clock ahead is not late');
});

test('why a minute scored: components largest first, with their count where weighted', () => {
  const anomaly = { component_names: ['blur', 'tab_switches', 'unweighted', 'fractional'], component_values: [1, 3, 0.25, 0.6] };
  assert.deepEqual(anomalyComponents(anomaly, { tab_switches: 1.5, blur: 2, fractional: 0.4 }), [
    'tab_switches: 3.00 = 2 × weight 1.5',
    'blur: 1.00 = 1 × weight 2',
    'fractional: 0.60 = 1.5 × weight 0.4',
    'unweighted: 0.25',
  ]);
  assert.deepEqual(anomalyComponents({ component_names: ['a'], component_values: [1] }, { a: 0 }), ['a: 1.00'], 'a zero weight names no count');
  assert.deepEqual(anomalyComponents({ component_names: [], component_values: [] }, {}), []);
});

test("a saved verdict replaces the reviewer's earlier one and comes last", () => {
  const verdicts = [{ reviewer: 'r1', verdict: 'cleared' }, { reviewer: 'r2', verdict: 'flagged' }];
  const saved = { reviewer: 'r1', verdict: 'flagged' };
  assert.deepEqual(withVerdict(verdicts, saved), [verdicts[1], saved]);
  assert.deepEqual(withVerdict([], saved), [saved]);
  assert.equal(verdicts.length, 2, 'the list shown so far is untouched');
});

const recording = (ts, track, extra = {}) => ({ type: 'recording', ts, track, status: 'uploaded', duration_ms: 10_000, key: `k/${track}/${ts}`, ...extra });

test('recording segments: uploaded ones with a key, per known track, by start; screen leads', () => {
  const segments = recordingSegments([
    recording(20_000, 'camera'),
    recording(10_000, 'camera', { duration_ms: '9500' }),
    recording(10_000, 'screen', { status: 'failed' }),
    recording(30_000, 'screen', { key: null }),
    recording(40_000, 'screen'),
    recording(10_000, 'microphone'),
    { type: 'capture', ts: 5, kind: 'face', status: 'uploaded', key: 'k' },
  ]);
  assert.deepEqual(Object.keys(segments), ['screen', 'camera']);
  assert.deepEqual(segments.screen, [{ from: 40_000, to: 50_000, key: 'k/screen/40000' }]);
  assert.deepEqual(segments.camera, [
    { from: 10_000, to: 19_500, key: 'k/camera/10000' },
    { from: 20_000, to: 30_000, key: 'k/camera/20000' },
  ]);
});

test('recording segments: a track without any is left out; no recording, no tracks', () => {
  assert.deepEqual(Object.keys(recordingSegments([recording(0, 'camera')])), ['camera']);
  assert.deepEqual(recordingSegments([]), {});
  assert.deepEqual(recordingSegments([{ type: 'visibility', ts: 1, state: 'hidden' }]), {});
});

test('the segment for a time covers it, else is the next one; none after the last', () => {
  const segments = [{ from: 0, to: 10 }, { from: 10, to: 20 }, { from: 30, to: 40 }];
  assert.equal(segmentAt(segments, -5), segments[0]);
  assert.equal(segmentAt(segments, 5), segments[0]);
  assert.equal(segmentAt(segments, 10), segments[1], 'a segment ends where the next begins');
  assert.equal(segmentAt(segments, 25), segments[2], 'a lost segment is skipped');
  assert.equal(segmentAt(segments, 40), undefined);
  assert.equal(segmentAt([], 0), undefined);
});

test('the offset in a segment is clamped to its start and to just before the video ends', () => {
  const segment = { from: 10_000, to: 20_000 };
  assert.equal(segmentOffset(segment, 12_500, 10), 2.5);
  assert.equal(segmentOffset(segment, 5_000, 10), 0, 'a time before the segment is its start');
  const lastFrame = segmentOffset(segment, 19_990, 8.6);
  assert.ok(Math.abs(lastFrame - 8.55) < 1e-9, `a still screen ends early: its last frame, not ${lastFrame}`);
  assert.equal(segmentOffset(segment, 12_500, 0.01), 0, 'a video shorter than the margin: its start');
  assert.equal(segmentOffset(segment, 15_000, Infinity), 5, 'duration unknown: not clamped');
  assert.equal(segmentOffset(segment, 15_000, NaN), 5, 'no metadata yet: not clamped');
});

test('the recording legend counts segments and recorded time per track', () => {
  const segments = { screen: [{ from: 0, to: 10_000 }, { from: 20_000, to: 30_000 }], camera: [{ from: 0, to: 65_000 }] };
  assert.equal(recordingLegend(segments), 'screen: 2 segments, 20 s · camera: 1 segments, 1 min 5 s');
  assert.equal(recordingLegend({}), '');
});

test('face flags are runs that persisted, never one frame; dark and blocked checks are labelled', () => {
  const at = (i) => 1_000_000 + i * 5_000;
  const face = (i, faces, light = 0.5) => ({ type: 'face', ts: at(i), faces, confidence: faces ? 0.91 : 0.12, light, face_size: 0.2, ms: 20 });
  const events = [
    face(0, 1), face(1, 1), face(2, 0), face(3, 0), face(4, 0), face(5, 0), face(6, 2), face(7, 0, 0.04), face(8, 1),
    { type: 'blocked', ts: at(9), reason: 'camera_permission' },
    face(10, 0), face(11, 0), face(12, 0),
    { type: 'unblocked', ts: at(13), reason: 'camera_permission' },
    face(14, 2), face(15, 2), face(16, 2),
  ];
  const { summary, flags } = faceFlags(events, { every_ms: 5000, flag_after_checks: 3, flag_after_ms: 15000, dark_below: 0.12 });
  assert.deepEqual(summary, { checks: 15, one: 3, none: 4, several: 4, dark: 1, blocked: 3, compared: 0, different: 0, references: [] });
  assert.deepEqual(flags.map((f) => [f.finding, f.from, f.to, f.checks.length]), [['none', at(2), at(5), 4], ['several', at(14), at(16), 3]]);
  assert.match(describeFaceFlag(flags[0]), /^No face for 15 s over 4 checks in a row \(best score 0\.12, light 0\.50–0\.50\)$/);
  assert.match(describeFaceFlag(flags[1]), /up to 2 faces/);
  // A silence longer than three intervals ends a run: two pairs, no flag.
  const apart = [face(0, 0), face(1, 0), face(6, 0), face(7, 0)];
  assert.deepEqual(faceFlags(apart, { every_ms: 5000 }).flags, []);
});

test('identity: a persisted run of low comparisons is a different person; one low comparison and blocked ones are not', () => {
  const at = (i) => 2_000_000 + i * 10_000;
  const face = (i, similarity, reference = false) => ({ type: 'face', ts: at(i), faces: 1, confidence: 0.9, light: 0.5, face_size: 0.3, ms: 150, similarity, reference });
  const settings = { every_ms: 5000, identity_every_ms: 10_000, flag_after_checks: 3, flag_after_ms: 15000, min_similarity: 0.363 };
  const events = [
    face(0, null, true), face(1, 0.71), face(2, 0.12), face(3, 0.7),
    face(4, 0.09), face(5, 0.15), face(6, 0.11), face(7, 0.69),
    { type: 'blocked', ts: at(8), reason: 'fullscreen_exited' },
    face(9, 0.1), face(10, 0.1), face(11, 0.1),
    { type: 'unblocked', ts: at(12), reason: 'fullscreen_exited' },
    face(13, null, true), face(14, 0.363), face(15, 0.362),
  ];
  const { summary, flags } = faceFlags(events, settings);
  assert.equal(summary.compared, 9);
  assert.equal(summary.different, 5);
  assert.deepEqual(summary.references, [at(0), at(13)]);
  assert.deepEqual(flags.map((f) => [f.finding, f.from, f.to, f.checks.length]), [['different', at(4), at(6), 3]]);
  assert.equal(describeFaceFlag(flags[0]), 'A different person for 20 s over 3 comparisons in a row (similarity to the reference face 0.09–0.15, under 0.363)');
});

test('a staff action says what was asked, where, what came of it and why', () => {
  const paused = {
    action: 'lti.pause', outcome: 'done', staff: 'p1', role: 'proctor',
    detail: { platform: 'moodle', status: 'Paused', reason_code: 'phone', reason_msg: 'a phone on the desk', incident_severity: 0.8, attempts: 2 },
  };
  assert.equal(describeStaffAction(paused), 'Pause via moodle; platform answered Paused; reason: phone — a phone on the desk; severity 0.8; 2 tries');
  const extra = { action: 'lti.update', outcome: 'failed', detail: { platform: 'edx', extra_time: 10, error: 'HTTP 503', attempts: 3 } };
  assert.equal(describeStaffAction(extra), 'Extra time 10 min via edx; failed: HTTP 503; 3 tries');
  assert.equal(describeStaffAction({ action: 'audit.other', outcome: 'done', detail: 'not an object' }), 'audit.other; done');
});

test('the audit trail\'s other actions in words, never a message\'s text', () => {
  const say = (action, detail, outcome = 'done') => describeStaffAction({ action, outcome, detail });
  assert.equal(say('review.open', {}), 'Opened the timeline');
  assert.equal(say('review.verdict', { verdict: 'flagged', comment_chars: 12 }), 'Verdict: flagged with a comment (12 chars)');
  assert.equal(say('media.view', { key: 'camera/3_a.jpg' }), 'Signed a link to camera/3_a.jpg');
  assert.equal(say('live.watch', { view: 'grid' }), 'Watched live (grid view)');
  assert.equal(say('live.message', { level: 'warning', chars: 40 }), 'Sent a warning message (40 chars)');
  assert.equal(say('config.rolled_back', { to: 3, version: 9 }), 'Rolled the configuration back to version 3 (now version 9)');
  assert.equal(say('review.verdict', { verdict: 'cleared' }, 'failed'), 'Verdict: cleared; failed');
});

test('an accommodation reads as what it allows and why; none reads as nothing', () => {
  assert.equal(describeAccommodation(null), null);
  assert.equal(describeAccommodation({ waive: ['fullscreen', 'face_check'], reason: 'screen magnifier' }),
    'Accommodation: leaving full screen does not block; no face checks — screen magnifier. Do not flag what it allows.');
});

test('environment events read as what the browser said, pastes say where they went', () => {
  assert.equal(describeEvent({ type: 'clipboard', action: 'paste', chars: 1840, target: 'answer' }), 'paste 1840 chars into an answer');
  assert.equal(describeEvent({ type: 'clipboard', action: 'copy', chars: 3, target: null }), 'copy 3 chars', 'no target, no words');
  assert.equal(describeEvent({ type: 'key_activity', keys: 212, interval_ms: 5000, peak_per_s: 61, burst_s: 3 }),
    '212 keys in 5 s, busiest second 61 keys, 3 s far above own pace');
  assert.equal(describeEvent({ type: 'key_activity', keys: 20, interval_ms: 5000, peak_per_s: 6, burst_s: 0 }), '20 keys in 5 s');
  assert.equal(describeEvent({ type: 'display', count: 2, extended: true, permission: 'granted' }),
    '2 screens, extended desktop, window management granted');
  assert.equal(describeEvent({ type: 'other_tabs', tabs: 1 }), 'other tabs of this test open: 1');
  const environment = describeEvent({
    type: 'environment', renderer: 'SwiftShader', vendor: 'Google', cores: 2, memory_mb: 8192, screen_w: 1280, screen_h: 800,
    window_w: 1280, window_h: 800, pointer: 'fine', hover: true, share_surface: 'monitor', share_w: 1280, share_h: 800,
  });
  assert.equal(environment, 'graphics SwiftShader; 2 cores, 8 GiB; screen 1280×800; pointer fine, sharing a monitor of 1280×800');
});

test('a hint shows its evidence verbatim, its weight and who else it fits', () => {
  const words = describeHint({
    hint: 'software_renderer', evidence: { renderer: 'ANGLE (SwiftShader)', vendor: 'Google' }, weight: 0, false_positives: 'Linux without drivers',
  });
  assert.deepEqual(words, {
    name: 'Software graphics (no GPU)',
    evidence: 'renderer = "ANGLE (SwiftShader)", vendor = "Google"',
    weight: 'weight 0: shown, not scored',
    also: 'Also fits: Linux without drivers.',
  });
  assert.equal(describeHint({ hint: 'virtual_gpu', evidence: {}, weight: 1.5, false_positives: 'x' }).weight, 'weight 1.5');
});

test('the environment summary adds the windows up', () => {
  const windows = [
    { paste_chars: 12, answer_paste_chars: 0, burst_s: 0, screens_added: 0, extra_screen_ms: 0, other_tab_ms: 0 },
    { paste_chars: 100, answer_paste_chars: 100, burst_s: 3, screens_added: 1, extra_screen_ms: 49_000, other_tab_ms: 10_000 },
    {},
  ];
  const summary = environmentSummary(windows);
  assert.deepEqual([summary.pasted, summary.answers, summary.bursts, summary.added], [112, 100, 3, 1]);
  assert.ok(summary.screens.includes('49') && summary.tabs.includes('10'), JSON.stringify(summary));
});

test('sessions are placed by network and address, named in order, never shown', () => {
  const places = sessionPlaces([
    { client_net_hash: 'a1', client_ip_hash: '01' },
    { client_net_hash: 'b2', client_ip_hash: '02' },
    { client_net_hash: 'a1', client_ip_hash: '03' },
    { client_net_hash: 'a1', client_ip_hash: '01' },
    { client_net_hash: '0', client_ip_hash: '0' },
  ]);
  assert.deepEqual(places, ['network A', 'network B', 'network A, address 2', 'network A', 'not recorded']);
});
