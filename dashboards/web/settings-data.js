// The admin page's settings forms, no DOM: where a setting's value comes
// from in a layer, edits of one setting in one layer, what a typed value
// means, and what a save would change. The settings (path, kind, bounds,
// unit, built-in default) come from GET /api/v1/admin/config/settings, the
// list the server validates against. Tested by test/settings-data.test.js.
//
// A layer is named as a problem's field starts: `defaults`, or
// `tests.{test}` (a test's override, merged over the defaults).

import { formatDuration } from './format.js';
import { t } from './words.js';

/** The value at a dotted `path` of `object`, or undefined. */
export function valueAt(object, path) {
  return path.split('.').reduce((at, key) => (at !== null && typeof at === 'object' ? at[key] : undefined), object);
}

/** The layer's override object in `document` (undefined if none). */
function layerObject(document, layer) {
  if (layer === 'defaults') return document.defaults;
  return (document.tests || {})[layer.slice('tests.'.length)];
}

/** The tests with an override, in the document's order. */
export function testLayers(document) {
  return Object.keys(document.tests || {}).map((test) => `tests.${test}`);
}

/**
 * What `layer` runs with for `setting`, and where it comes from:
 * `this test` (the test's override sets it), `defaults` (the document's
 * defaults, set apart from the built-in value) or `built-in`. `inherited`
 * is what the layer would have without its own value (test layers only).
 */
export function settingValue(document, layer, setting) {
  const fromDefaults = valueAt(document.defaults, setting.path);
  const base = fromDefaults === undefined ? setting.default : fromDefaults;
  const baseSource = fromDefaults === undefined || sameValue(fromDefaults, setting.default) ? 'built-in' : 'defaults';
  if (layer === 'defaults') return { value: base, source: baseSource };
  const own = valueAt(layerObject(document, layer), setting.path);
  if (own === undefined) return { value: base, source: baseSource, inherited: base };
  return { value: own, source: 'this test', inherited: base };
}

function sameValue(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A copy of `document` with `path` of `layer` set to `value` (a test's
 * override gains the nested objects it needs). */
export function withSetting(document, layer, path, value) {
  const copy = structuredClone(document);
  let at;
  if (layer === 'defaults') at = copy.defaults = copy.defaults || {};
  else {
    copy.tests = copy.tests || {};
    const test = layer.slice('tests.'.length);
    at = copy.tests[test] = copy.tests[test] || {};
  }
  const keys = path.split('.');
  for (const key of keys.slice(0, -1)) {
    if (at[key] === null || typeof at[key] !== 'object') at[key] = {};
    at = at[key];
  }
  at[keys[keys.length - 1]] = value;
  return copy;
}

/** A copy of `document` whose test `layer` no longer sets `path` (it
 * follows the defaults again); objects left empty go, the test's override
 * stays (perhaps `{}`). */
export function withoutSetting(document, layer, path) {
  const copy = structuredClone(document);
  const root = layerObject(copy, layer);
  if (!root || layer === 'defaults') return copy;
  const keys = path.split('.');
  const trail = [root];
  for (const key of keys.slice(0, -1)) {
    const next = trail[trail.length - 1][key];
    if (next === null || typeof next !== 'object') return copy;
    trail.push(next);
  }
  delete trail[trail.length - 1][keys[keys.length - 1]];
  for (let i = trail.length - 1; i > 0; i--) {
    if (Object.keys(trail[i]).length === 0) delete trail[i - 1][keys[i - 1]];
  }
  return copy;
}

/** A layer for a new test override, or the problem with its id. */
export function newTestLayer(document, id) {
  const test = String(id).trim();
  if (!/^[A-Za-z0-9_.:@-]{1,128}$/.test(test)) return { problem: t('settings.bad_test_id') };
  if ((document.tests || {})[test]) return { problem: t('settings.has_override', { test }), layer: `tests.${test}` };
  return { layer: `tests.${test}` };
}

/** The bounds of a numeric setting, as words (`1000 … 900000`). */
export function rangeText(kind) {
  const min = kind.min ?? null;
  const max = kind.max ?? null;
  if (min !== null && max !== null) return `${min} … ${max}`;
  if (min !== null) return t('settings.at_least', { min });
  if (max !== null) return t('settings.at_most', { max });
  return t('settings.any_number');
}

/**
 * What the admin typed (a string, or a checkbox's boolean) as the
 * setting's value, or the problem to show beside the field: the same
 * bounds the server enforces, said before anything is sent.
 */
export function parseSetting(setting, raw) {
  const { kind } = setting;
  if (kind.type === 'switch') return { value: raw === true || raw === 'true' };
  if (kind.type === 'choice') {
    return kind.choices.includes(raw) ? { value: raw } : { problem: t('settings.one_of', { choices: kind.choices.join(', ') }) };
  }
  const text = String(raw).trim();
  if (text === '') return { problem: t('settings.needs_value') };
  const value = Number(text);
  if (!Number.isFinite(value)) return { problem: t('settings.number') };
  if (kind.type === 'integer' && !Number.isInteger(value)) return { problem: t('settings.whole_number') };
  const min = kind.min ?? null;
  const max = kind.max ?? null;
  if ((min !== null && value < min) || (max !== null && value > max)) {
    const why = kind.max_why || kind.why;
    return { problem: t('settings.out_of_range', { value, range: rangeText(kind) }) + (why && max !== null && value > max ? ` (${why})` : '') };
  }
  return { value };
}

/** A configured length in milliseconds as a person reads it: exact where
 * the dashboards' whole-second durations (formatDuration) would round it
 * (`500 ms`, `1.5 s`), else as they print it (`20 s`, `1 min 30 s`). */
export function readableMs(ms) {
  if (!Number.isFinite(ms)) return '';
  if (ms > 0 && ms < 1000) return `${ms} ms`;
  if (ms < 60_000 && ms % 1000) return `${ms / 1000} s`;
  return formatDuration(ms);
}

/**
 * What saving `after` over `before` changes, leaf by leaf: `{ path,
 * before, after }` with undefined for a side that lacks it; objects are
 * walked, anything else (arrays included) compared whole. Sorted by path.
 */
export function documentDiff(before, after) {
  const changes = [];
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const walk = (a, b, path) => {
    if (isObject(a) && isObject(b)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[key], b[key], path ? `${path}.${key}` : key);
      return;
    }
    if (isObject(a) && b === undefined && Object.keys(a).length) return walk(a, {}, path);
    if (isObject(b) && a === undefined && Object.keys(b).length) return walk({}, b, path);
    if (!sameValue(a, b)) changes.push({ path, before: a, after: b });
  };
  walk(before, after, '');
  return changes.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}

/** A problem's field (`tests.exam.capture_intervals.face_ms`) as the
 * setting path it names in `layer`, or null when it is not about one of
 * this layer's settings. */
export function problemSetting(field, layer, settings) {
  const prefix = `${layer}.`;
  if (!field.startsWith(prefix)) return null;
  const path = field.slice(prefix.length);
  return settings.some((s) => s.path === path) ? path : null;
}
