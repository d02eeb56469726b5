// The words a candidate reads — the overlay's steps, a proctor's note — from
// a catalogue per language (sdk/js/messages/{lang}.json, plain data: one
// string per key, `{name}` for what is filled in). English is built into the
// bundle and is the fallback for everything; the other languages are files
// beside the SDK, fetched at start only by the pages that use them. A host
// picks the language with `locale` (or the tag's data-locale, else the
// page's <html lang>) and may replace any string with `messages`.

import EN from './messages/en.json' with { type: 'json' };

/** The languages shipped with the SDK; English needs no file. */
export const LANGUAGES = ['en', 'hi', 'es', 'fr', 'ar'];
/** Scripts written right to left, by language subtag. */
const RTL = ['ar', 'fa', 'he', 'ur'];
/** A catalogue not here by then is not waited for: the candidate reads English. */
const LOAD_TIMEOUT_MS = 5000;

/** The shipped language serving a BCP 47 tag (`es-MX` → `es`), or null. */
export function shippedLanguage(tag) {
  const base = String(tag || '').toLowerCase().split(/[-_]/)[0];
  return LANGUAGES.includes(base) ? base : null;
}

/**
 * Fetches `invigil-messages-{lang}.json` from beside `base` (the script
 * tag's way: plain files next to invigil.js); a relative `base` is the
 * page's.
 */
export function fetchCatalogue(base) {
  return (lang) => fetch(new URL(`invigil-messages-${lang}.json`, new URL(base, location.href))).then((response) => {
    if (!response.ok) throw new Error(`${response.url} answered ${response.status}`);
    return response.json();
  });
}

/** One page's words: its language, its direction, and a lookup with fallbacks. */
export class Messages {
  /**
   * `locale` is a BCP 47 tag; `overrides` maps keys to the host's own
   * strings (any language: a host that ships German passes `locale: 'de'`
   * and the German strings, and the rest stays English).
   */
  constructor(locale, overrides) {
    this.overrides = overrides && typeof overrides === 'object' ? overrides : {};
    const keys = Object.keys(this.overrides);
    const unknown = keys.filter((key) => !(key in EN));
    if (unknown.length) console.warn(`invigil: unknown message keys ${unknown.join(', ')}`);
    this.shipped = shippedLanguage(locale);
    this.table = EN;
    // A language we do not ship is still the page's when the host wrote its words.
    this.settle(this.shipped || (keys.length && locale ? String(locale) : 'en'));
  }

  settle(lang) {
    this.lang = lang;
    this.dir = RTL.includes(lang.toLowerCase().split(/[-_]/)[0]) ? 'rtl' : 'ltr';
  }

  /**
   * Loads the catalogue when the language is not English. Never rejects:
   * on failure (or after LOAD_TIMEOUT_MS) the words stay English and the
   * error is returned, for the session to report.
   */
  async load(importCatalogue) {
    if (!this.shipped || this.shipped === 'en') return null;
    let timer;
    try {
      const late = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('catalogue timed out')), LOAD_TIMEOUT_MS);
      });
      const table = await Promise.race([importCatalogue(this.shipped), late]);
      if (!table || typeof table !== 'object') throw new Error('catalogue not an object');
      this.table = table;
      return null;
    } catch (error) {
      if (!Object.keys(this.overrides).length) this.settle('en');
      return String(error && error.message || error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The string for `key` (the host's, else the language's, else English), `{name}`s filled from `vars`. */
  text(key, vars) {
    const template = this.overrides[key] ?? this.table[key] ?? EN[key] ?? key;
    return vars ? template.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? vars[name] : whole)) : template;
  }

  /** `names` as this language lists them ("camera, microphone and full screen"). */
  list(names) {
    try {
      return new Intl.ListFormat(this.lang, { type: 'conjunction' }).format(names);
    } catch (_) {
      return names.join(', ');
    }
  }
}
