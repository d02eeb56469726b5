import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  documentDiff, newTestLayer, parseSetting, problemSetting, rangeText, readableMs, settingValue, testLayers, valueAt, withSetting, withoutSetting,
} from '../settings-data.js';

// As GET /api/v1/admin/config/settings lists them.
const FACE = { path: 'capture_intervals.face_ms', unit: 'ms', default: 30000, kind: { type: 'integer', min: 1000, max: null, max_why: '' } };
const BUNDLE = { path: 'uploads.bundle_ms', unit: 'ms', default: 120000, kind: { type: 'integer', min: 5000, max: 900000, max_why: '15 min' } };
const TAB = { path: 'anomaly.weights.tab_switch', unit: 'points each', default: 1, kind: { type: 'number', min: 0, max: null, why: '' } };
const PCT = { path: 'notify.capture_missing_below_pct', unit: '%', default: 80, kind: { type: 'number', min: 0, max: 100, why: 'a percentage; 0 never notifies' } };
const MODE = { path: 'face_check.mode', unit: '', default: 'off', kind: { type: 'choice', choices: ['off', 'presence', 'identity'] } };
const LIVE = { path: 'live_video', unit: '', default: true, kind: { type: 'switch' } };
const SETTINGS = [FACE, BUNDLE, TAB, PCT, MODE, LIVE];

const DOCUMENT = {
  defaults: { capture_intervals: { face_ms: 30000 }, anomaly: { weights: { tab_switch: 2 } }, live_video: true },
  tests: { exam: { capture_intervals: { face_ms: 20000 } }, quiz: {} },
  bypasses: {},
};

test('a layer runs with its own value, else the defaults\' — each said with where it comes from', () => {
  assert.deepEqual(settingValue(DOCUMENT, 'defaults', FACE), { value: 30000, source: 'built-in' });
  assert.deepEqual(settingValue(DOCUMENT, 'defaults', TAB), { value: 2, source: 'defaults' }, 'changed from the built-in 1');
  assert.deepEqual(settingValue(DOCUMENT, 'defaults', MODE), { value: 'off', source: 'built-in' }, 'absent from the document: built-in');
  assert.deepEqual(settingValue(DOCUMENT, 'tests.exam', FACE), { value: 20000, source: 'this test', inherited: 30000 });
  assert.deepEqual(settingValue(DOCUMENT, 'tests.exam', TAB), { value: 2, source: 'defaults', inherited: 2 });
  assert.deepEqual(settingValue(DOCUMENT, 'tests.quiz', LIVE), { value: true, source: 'built-in', inherited: true });
  assert.deepEqual(testLayers(DOCUMENT), ['tests.exam', 'tests.quiz']);
});

test('setting a value writes only that path of that layer, on a copy', () => {
  const edited = withSetting(DOCUMENT, 'tests.quiz', 'anomaly.weights.tab_switch', 2.5);
  assert.deepEqual(edited.tests.quiz, { anomaly: { weights: { tab_switch: 2.5 } } });
  assert.deepEqual(DOCUMENT.tests.quiz, {}, 'the original is untouched');
  const fresh = withSetting(DOCUMENT, 'tests.new-exam', 'capture_intervals.face_ms', 15000);
  assert.deepEqual(fresh.tests['new-exam'], { capture_intervals: { face_ms: 15000 } });
  assert.equal(withSetting(DOCUMENT, 'defaults', 'live_video', false).defaults.live_video, false);
  assert.equal(valueAt(withSetting(DOCUMENT, 'defaults', 'face_check.mode', 'presence'), 'defaults.face_check.mode'), 'presence');
});

test('clearing a test\'s value prunes the objects it leaves empty, never the test', () => {
  const back = withoutSetting(DOCUMENT, 'tests.exam', 'capture_intervals.face_ms');
  assert.deepEqual(back.tests.exam, {});
  const two = withSetting(withSetting(DOCUMENT, 'tests.exam', 'capture_intervals.screen_ms', 9000), 'tests.exam', 'anomaly.weights.blur', 1);
  assert.deepEqual(withoutSetting(two, 'tests.exam', 'anomaly.weights.blur').tests.exam,
    { capture_intervals: { face_ms: 20000, screen_ms: 9000 } });
  assert.deepEqual(withoutSetting(DOCUMENT, 'defaults', 'live_video'), DOCUMENT, 'the defaults layer is never cleared');
  assert.deepEqual(withoutSetting(DOCUMENT, 'tests.exam', 'nothing.here'), DOCUMENT);
});

test('typed values are checked against the same bounds the server keeps', () => {
  assert.deepEqual(parseSetting(FACE, '20000'), { value: 20000 });
  assert.deepEqual(parseSetting(FACE, '999'), { problem: 'is 999; must be at least 1000' });
  assert.deepEqual(parseSetting(FACE, '1500.5'), { problem: 'must be a whole number' });
  assert.deepEqual(parseSetting(FACE, ''), { problem: 'needs a value' });
  assert.deepEqual(parseSetting(FACE, 'soon'), { problem: 'must be a number' });
  assert.deepEqual(parseSetting(BUNDLE, '900001'), { problem: 'is 900001; must be 5000 … 900000 (15 min)' });
  assert.deepEqual(parseSetting(TAB, '2.5'), { value: 2.5 });
  assert.deepEqual(parseSetting(TAB, '-1'), { problem: 'is -1; must be at least 0' });
  assert.deepEqual(parseSetting(PCT, '101'), { problem: 'is 101; must be 0 … 100 (a percentage; 0 never notifies)' });
  assert.deepEqual(parseSetting(MODE, 'presence'), { value: 'presence' });
  assert.deepEqual(parseSetting(MODE, 'always'), { problem: 'must be one of off, presence, identity' });
  assert.deepEqual(parseSetting(LIVE, false), { value: false });
  assert.equal(rangeText(TAB.kind), 'at least 0');
  assert.equal(rangeText({ type: 'number', min: null, max: null }), 'any number');
});

test('milliseconds read as a person says them', () => {
  assert.deepEqual([500, 1500, 20000, 90000, 3600000, 5400000].map(readableMs), ['500 ms', '1.5 s', '20 s', '1 min 30 s', '1 h 0 min', '1 h 30 min']);
});

test('the diff lists every changed leaf with both sides, added and removed ones included', () => {
  let after = withSetting(DOCUMENT, 'tests.exam', 'anomaly.weights.tab_switch', 2.5);
  after = withSetting(after, 'tests.exam', 'capture_intervals.face_ms', 15000);
  after = withSetting(after, 'tests.fresh', 'live_video', false);
  after = withoutSetting(after, 'tests.quiz', 'x');
  delete after.tests.quiz;
  assert.deepEqual(documentDiff(DOCUMENT, after), [
    { path: 'tests.exam.anomaly.weights.tab_switch', before: undefined, after: 2.5 },
    { path: 'tests.exam.capture_intervals.face_ms', before: 20000, after: 15000 },
    { path: 'tests.fresh.live_video', before: undefined, after: false },
    { path: 'tests.quiz', before: {}, after: undefined },
  ]);
  assert.deepEqual(documentDiff(DOCUMENT, structuredClone(DOCUMENT)), []);
  assert.deepEqual(documentDiff({ a: [1, 2] }, { a: [1, 3] }), [{ path: 'a', before: [1, 2], after: [1, 3] }], 'arrays compare whole');
});

test('a refusal\'s field is placed on a setting of the layer shown, or nowhere', () => {
  assert.equal(problemSetting('tests.exam.capture_intervals.face_ms', 'tests.exam', SETTINGS), 'capture_intervals.face_ms');
  assert.equal(problemSetting('tests.exam.capture_intervals.face_ms', 'defaults', SETTINGS), null);
  assert.equal(problemSetting('tests.exam2.capture_intervals.face_ms', 'tests.exam', SETTINGS), null);
  assert.equal(problemSetting('tests.exam', 'tests.exam', SETTINGS), null, 'a broken override is the document\'s problem');
});

test('a new test layer needs a valid, unused id', () => {
  assert.deepEqual(newTestLayer(DOCUMENT, ' exam-2 '), { layer: 'tests.exam-2' });
  assert.equal(newTestLayer(DOCUMENT, 'exam').layer, 'tests.exam');
  assert.match(newTestLayer(DOCUMENT, 'exam').problem, /already/);
  assert.match(newTestLayer(DOCUMENT, 'two words').problem, /letters, digits/);
});
