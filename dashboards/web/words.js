// The words staff read on the dashboards, from a catalogue per language
// (words-{lang}.json beside this file: one string per key, `{name}` for
// what is filled in), the scheme the candidate's overlay uses
// (sdk/js/messages.js). English only for now: the catalogue is the one
// place a translation starts from. The pages that take their words from
// here so far: the shared header, sign-in and test picker (common.js), the
// landing page and the proctor wall.
import EN from './words-en.json' with { type: 'json' };

/** The languages with a catalogue here. */
export const LANGUAGES = ['en'];

/** The page's language: the first of the browser's languages with a catalogue, else English. */
export const lang = (globalThis.navigator?.languages || []).map((tag) => tag.toLowerCase().split('-')[0]).find((l) => LANGUAGES.includes(l)) || 'en';
const TABLE = EN;

/** The words for `key`, `{name}`s filled from `vars`; a missing key shows itself (a test keeps there being none). */
export function t(key, vars) {
  const template = TABLE[key] ?? EN[key] ?? key;
  return vars ? template.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole)) : template;
}
