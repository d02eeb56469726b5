import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  WAIVERS, candidateEntries, fieldRange, parseDocument, platformFromForm, platformList, refusalProblems, toolUrls, versionList, withCandidateEntry, withPlatform, withoutCandidateEntry,
  withoutPlatform,
} from '../admin-data.js';

const DOCUMENT = {
  defaults: { events_interval_ms: 1000, capture_intervals: { face_ms: 30000 } },
  tests: { exam: { capture_intervals: { face_ms: 20000 } } },
  bypasses: { exam: { 'cand-1': { reason: 'accommodation' }, 'cand-2': { reason: 'retake' } }, other: { 'cand-9': { reason: 'pilot' } } },
};
const TEXT = JSON.stringify(DOCUMENT, null, 2);
const selected = (text, field) => text.slice(...fieldRange(text, field));

test('a field path selects the line of its last segment, following each segment in turn', () => {
  assert.equal(selected(TEXT, 'tests.exam.capture_intervals.face_ms'), '"face_ms": 20000');
  assert.equal(selected(TEXT, 'defaults.capture_intervals.face_ms'), '"face_ms": 30000', 'the first face_ms, under defaults');
  assert.equal(selected(TEXT, 'defaults.events_interval_ms'), '"events_interval_ms": 1000,');
});

test('an array index in a segment is ignored: the key itself is found', () => {
  const text = '{\n  "duty": {\n    "proctors": [\n      "p1"\n    ]\n  }\n}';
  assert.equal(selected(text, 'duty.proctors[0]'), '"proctors": [');
});

test('a missing segment stops at the last one found', () => {
  assert.equal(selected(TEXT, 'tests.exam.nonexistent.deeper'), '"exam": {');
  assert.equal(selected(TEXT, 'tests.nonexistent.face_ms'), '"tests": {', 'not a face_ms further down');
  assert.equal(selected(TEXT, 'nowhere'), '{', 'nothing found: the first line');
});

test('an empty field (a problem of the whole document) selects the first line', () => {
  assert.deepEqual(fieldRange(TEXT, ''), [0, 1]);
  assert.deepEqual(fieldRange('', ''), [0, 0]);
});

test('a field on the last line, with no newline after it, runs to the end of the text', () => {
  const text = '{"a": 1, "b": 2}';
  assert.deepEqual(fieldRange(text, 'b'), [9, text.length]);
});

test('the editor text parses to a document, or to one problem of the whole document', () => {
  assert.deepEqual(parseDocument('{"a": [1]}'), { document: { a: [1] } });
  const { problem, document } = parseDocument('{ not json');
  assert.equal(document, undefined);
  assert.equal(problem.field, '');
  assert.match(problem.message, /^not JSON: /);
  assert.match(parseDocument('').problem.message, /^not JSON: /, 'an empty editor is not a document');
});

test("a refused save shows the server's field problems, else its message", () => {
  const problems = [{ field: 'defaults.events_interval_ms', message: 'at least 100' }];
  assert.equal(refusalProblems(problems, 'invalid'), problems);
  assert.deepEqual(refusalProblems([], 'body too large'), [{ field: '', message: 'body too large' }]);
});

test('versions list newest first, the one in force marked', () => {
  assert.deepEqual(versionList([1, 2, 3], 2), [
    { version: 3, inForce: false }, { version: 2, inForce: true }, { version: 1, inForce: false },
  ]);
  assert.deepEqual(versionList([], 1), []);
  const versions = [1, 2];
  versionList(versions, 2);
  assert.deepEqual(versions, [1, 2], 'the server list is left as it came');
});

test('bypasses list in the document order; none without a bypasses section', () => {
  assert.deepEqual(candidateEntries(DOCUMENT, 'bypasses'), [
    { test: 'exam', candidate: 'cand-1', reason: 'accommodation' },
    { test: 'exam', candidate: 'cand-2', reason: 'retake' },
    { test: 'other', candidate: 'cand-9', reason: 'pilot' },
  ]);
  assert.deepEqual(candidateEntries({ defaults: {} }, 'bypasses'), []);
  assert.deepEqual(candidateEntries({ bypasses: {} }, 'bypasses'), []);
});

test('a bypass is added to a copy: beside the test\'s others, or in a new test or section', () => {
  const added = withCandidateEntry(DOCUMENT, 'bypasses', 'exam', 'cand-3', { reason: 'late start' });
  assert.deepEqual(Object.keys(added.bypasses.exam), ['cand-1', 'cand-2', 'cand-3']);
  assert.deepEqual(added.bypasses.exam['cand-3'], { reason: 'late start' });
  assert.equal(DOCUMENT.bypasses.exam['cand-3'], undefined, 'the document in force is untouched');
  assert.deepEqual(withCandidateEntry({ defaults: {} }, 'bypasses', 't', 'c', { reason: 'r' }), { defaults: {}, bypasses: { t: { c: { reason: 'r' } } } });
  assert.deepEqual(withCandidateEntry(DOCUMENT, 'bypasses', 'exam', 'cand-1', { reason: 'new reason' }).bypasses.exam['cand-1'], { reason: 'new reason' }, 'a second bypass replaces the reason');
});

test('a bypass is removed from a copy; a test left without any leaves too', () => {
  const one = withoutCandidateEntry(DOCUMENT, 'bypasses', 'exam', 'cand-1');
  assert.deepEqual(one.bypasses, { exam: { 'cand-2': { reason: 'retake' } }, other: { 'cand-9': { reason: 'pilot' } } });
  const none = withoutCandidateEntry(DOCUMENT, 'bypasses', 'other', 'cand-9');
  assert.deepEqual(Object.keys(none.bypasses), ['exam']);
  assert.ok(DOCUMENT.bypasses.other['cand-9'] && DOCUMENT.bypasses.exam['cand-1'], 'the document in force is untouched');
});

test('an LMS registration from the form: trimmed, deployments split, the flag only when set', () => {
  const fields = {
    name: ' moodle ', issuer: 'https://lms.example.edu ', client_id: 'abc', auth_url: 'https://lms.example.edu/auth',
    token_url: 'https://lms.example.edu/token', jwks_url: 'https://lms.example.edu/jwks', deployment_ids: ' 1, 2\n3 ,',
  };
  const platform = platformFromForm(fields);
  assert.equal(platform.name, 'moodle');
  assert.equal(platform.issuer, 'https://lms.example.edu');
  assert.deepEqual(platform.deployment_ids, ['1', '2', '3']);
  assert.equal('settings_from_platform' in platform, false);
  assert.equal(platformFromForm({ ...fields, settings_from_platform: 'on' }).settings_from_platform, true);
});

test('registering replaces the platform of the same name and leaves the loaded document alone', () => {
  const a = { name: 'a', issuer: 'https://a' };
  const document = { defaults: {}, lti_platforms: [a] };
  const added = withPlatform(document, { name: 'b', issuer: 'https://b' });
  assert.deepEqual(platformList(added).map((p) => p.name), ['a', 'b']);
  const edited = withPlatform(added, { name: 'a', issuer: 'https://a2' });
  assert.deepEqual(platformList(edited).map((p) => p.issuer), ['https://a2', 'https://b']);
  assert.deepEqual(platformList(withoutPlatform(edited, 'a')).map((p) => p.name), ['b']);
  assert.deepEqual(document.lti_platforms, [a], 'the document in force is not touched');
  assert.deepEqual(platformList({ defaults: {} }), []);
  assert.deepEqual(platformList(withPlatform({ defaults: {} }, a)), [a]);
});

test('the tool\'s URLs a platform administrator is given', () => {
  assert.deepEqual(toolUrls('https://proctor.example.edu').map(([, url]) => url),
    ['https://proctor.example.edu/lti/login', 'https://proctor.example.edu/lti/launch', 'https://proctor.example.edu/lti/jwks']);
});

test('an accommodation is a per-candidate entry like a bypass, with the checks it waives', () => {
  const added = withCandidateEntry(DOCUMENT, 'accommodations', 'exam', 'cand-4', { waive: ['fullscreen', 'face_check'], reason: 'magnifier' });
  assert.deepEqual(candidateEntries(added, 'accommodations'), [{ test: 'exam', candidate: 'cand-4', waive: ['fullscreen', 'face_check'], reason: 'magnifier' }]);
  assert.equal(DOCUMENT.accommodations, undefined, 'the document in force is untouched');
  assert.deepEqual(withoutCandidateEntry(added, 'accommodations', 'exam', 'cand-4').accommodations, {});
  // The form offers exactly what the server accepts (schemas::config::Waiver).
  assert.deepEqual(WAIVERS.map(([name]) => name), ['fullscreen', 'screen_share', 'face_check', 'permissions', 'second_screen']);
});
