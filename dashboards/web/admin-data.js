// The admin page's data, no DOM: edits of the configuration document (a
// copy each time: the page sends a whole document, and the one in force
// stays as loaded until the server accepts it), the version list and where
// a problem's field sits in the editor's text. Tested by test/admin-data.test.js.
import { t } from './words.js';

/** Where `field` (a problem's path like `tests.exam.capture_intervals.face_ms`)
 * is in the JSON `text`: the line of the last of its segments found, each
 * searched after the one before, as [start, end] offsets. */
export function fieldRange(text, field) {
  let at = 0;
  for (const segment of field.split('.').filter(Boolean)) {
    const name = segment.replace(/\[\d+\]$/, '');
    const found = text.indexOf(`"${name}"`, at);
    if (found < 0) break;
    at = found;
  }
  const end = text.indexOf('\n', at);
  return [at, end < 0 ? text.length : end];
}

/** The editor's text as a document, or the one problem to show. */
export function parseDocument(text) {
  try {
    return { document: JSON.parse(text) };
  } catch (error) {
    return { problem: { field: '', message: `not JSON: ${error.message}` } };
  }
}

/** The problems a refused (400) save shows: the server's, one per field,
 * or its message as a problem of the whole document. */
export function refusalProblems(problems, message) {
  return problems.length ? problems : [{ field: '', message }];
}

/** The stored versions newest first, each with whether it is in force. */
export function versionList(versions, inForce) {
  return [...versions].reverse().map((version) => ({ version, inForce: version === inForce }));
}

/**
 * Every entry of a per-candidate layer of the document (`bypasses`,
 * `accommodations`: `{test: {candidate: entry}}`) as `{ test, candidate,
 * ...entry }`, in the document's order.
 */
export function candidateEntries(document, layer) {
  return Object.entries(document[layer] || {}).flatMap(([test, candidates]) =>
    Object.entries(candidates).map(([candidate, entry]) => ({ test, candidate, ...entry })));
}

/** A copy of the document with `entry` for `candidate` of `test` in `layer` (replacing theirs). */
export function withCandidateEntry(document, layer, test, candidate, entry) {
  const copy = structuredClone(document);
  copy[layer] = copy[layer] || {};
  copy[layer][test] = { ...(copy[layer][test] || {}), [candidate]: entry };
  return copy;
}

/** A copy of the document without that entry; a test left with none leaves too. */
export function withoutCandidateEntry(document, layer, test, candidate) {
  const copy = structuredClone(document);
  delete copy[layer][test][candidate];
  if (Object.keys(copy[layer][test]).length === 0) delete copy[layer][test];
  return copy;
}

/** The checks an accommodation can waive (`accommodations.{test}.{candidate}.waive`), with what each means. */
export const WAIVERS = [
  ['fullscreen', t('admin.waiver_fullscreen')],
  ['screen_share', t('admin.waiver_screen_share')],
  ['face_check', t('admin.waiver_face_check')],
  ['permissions', t('admin.waiver_permissions')],
  ['second_screen', t('admin.waiver_second_screen')],
];

/** The document's LMS registrations (`lti_platforms`), in its order. */
export function platformList(document) {
  return document.lti_platforms || [];
}

/** A registration from the form's fields: deployment ids split on commas
 * and whitespace, every text trimmed; the server validates the rest. */
export function platformFromForm(fields) {
  const text = (name) => String(fields[name] ?? '').trim();
  const platform = {
    name: text('name'),
    issuer: text('issuer'),
    client_id: text('client_id'),
    auth_url: text('auth_url'),
    token_url: text('token_url'),
    jwks_url: text('jwks_url'),
    deployment_ids: text('deployment_ids').split(/[\s,]+/).filter(Boolean),
  };
  if (fields.settings_from_platform) platform.settings_from_platform = true;
  return platform;
}

/** A copy of the document with `platform` registered: it replaces the one
 * of the same name (an edit), or joins the end. */
export function withPlatform(document, platform) {
  const copy = structuredClone(document);
  const list = copy.lti_platforms || [];
  const at = list.findIndex((p) => p.name === platform.name);
  if (at >= 0) list[at] = platform;
  else list.push(platform);
  copy.lti_platforms = list;
  return copy;
}

/** A copy of the document without the registration named `name`. */
export function withoutPlatform(document, name) {
  const copy = structuredClone(document);
  copy.lti_platforms = (copy.lti_platforms || []).filter((p) => p.name !== name);
  return copy;
}

/** What a platform's administrator is given to register invigil (the same
 * for every platform), under `origin`. */
export function toolUrls(origin) {
  return [
    [t('admin.tool_login'), `${origin}/lti/login`],
    [t('admin.tool_launch'), `${origin}/lti/launch`],
    [t('admin.tool_jwks'), `${origin}/lti/jwks`],
  ];
}
