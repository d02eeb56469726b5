// The candidate's words (sdk/js/messages.js and its catalogues), without a
// browser: every shipped language has every key with the same placeholders,
// the published types and the npm module know every language, and the
// lookup falls back as documented. The browser suite (a11y.test.js) renders
// each language in the real overlay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LANGUAGES, Messages, shippedLanguage } from '../messages.js';

const JS = join(dirname(fileURLToPath(import.meta.url)), '..');
const catalogue = (lang) => JSON.parse(readFileSync(join(JS, 'messages', `${lang}.json`), 'utf8'));
const EN = catalogue('en');
const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test('the shipped languages are the catalogue files, and the npm module imports each', () => {
  const files = readdirSync(join(JS, 'messages')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  assert.deepEqual([...LANGUAGES].sort(), files);
  const module = readFileSync(join(JS, 'module.js'), 'utf8');
  for (const lang of LANGUAGES.filter((l) => l !== 'en')) {
    assert.match(module, new RegExp(`${lang}: \\(\\) => import\\('\\./invigil-messages-${lang}\\.mjs'\\)`), `module.js imports ${lang}`);
  }
});

test('every catalogue has exactly the English keys, each non-empty with the same placeholders', () => {
  for (const lang of LANGUAGES) {
    const table = catalogue(lang);
    assert.deepEqual(Object.keys(table).sort(), Object.keys(EN).sort(), `${lang}: keys`);
    for (const [key, text] of Object.entries(table)) {
      assert.ok(typeof text === 'string' && text.trim(), `${lang}.${key} is empty`);
      assert.deepEqual(placeholders(text), placeholders(EN[key]), `${lang}.${key}: placeholders`);
      if (lang !== 'en' && !key.endsWith('.name')) assert.notEqual(text, EN[key], `${lang}.${key} is still English`);
    }
  }
});

test('the published types list every message key', () => {
  const types = readFileSync(join(JS, 'types.d.ts'), 'utf8');
  const union = types.slice(types.indexOf('export type InvigilMessageKey'));
  const keys = [...union.slice(0, union.indexOf(';')).matchAll(/'([^']+)'/g)].map((m) => m[1]);
  assert.deepEqual(keys.sort(), Object.keys(EN).sort());
});

test('a locale is served by its language, and anything else by English', () => {
  assert.equal(shippedLanguage('es-MX'), 'es');
  assert.equal(shippedLanguage('AR_eg'), 'ar');
  assert.equal(shippedLanguage('hi'), 'hi');
  assert.equal(shippedLanguage('de'), null);
  assert.equal(shippedLanguage(''), null);
  assert.equal(shippedLanguage(undefined), null);
});

test('the words come from the host, else the catalogue, else English, with placeholders filled', async () => {
  const m = new Messages('fr-CA', { help: 'Appelez le 555-0100' });
  assert.equal(m.lang, 'fr');
  assert.equal(m.text('done'), 'Done', 'English until the catalogue arrives');
  assert.equal(await m.load(async (lang) => ({ ...catalogue(lang), done: undefined })), null);
  assert.equal(m.text('setup.title'), catalogue('fr')['setup.title']);
  assert.equal(m.text('done'), 'Done', 'a key the catalogue lacks is English');
  assert.equal(m.text('help'), 'Appelez le 555-0100', "the host's words win");
  assert.equal(m.text('progress', { done: 1, total: 4 }), 'Étapes faites : 1 sur 4.');
  assert.equal(m.text('checks'), catalogue('fr').checks, 'a placeholder without a value stays as written');
  assert.equal(m.list(['caméra', 'micro', 'plein écran']), 'caméra, micro et plein écran');
  assert.equal(m.dir, 'ltr');
});

test('Arabic is right to left; a language not shipped is English unless the host wrote its words', async () => {
  const ar = new Messages('ar', {});
  assert.deepEqual([ar.lang, ar.dir], ['ar', 'rtl']);
  const de = new Messages('de-AT', {});
  assert.deepEqual([de.lang, de.dir], ['en', 'ltr']);
  assert.equal(await de.load(() => assert.fail('no catalogue is fetched for English')), null);
  const own = new Messages('de', { 'setup.title': 'Bevor Sie beginnen' });
  assert.deepEqual([own.lang, own.text('setup.title'), own.text('done')], ['de', 'Bevor Sie beginnen', 'Done']);
});

test('a catalogue that fails or never comes leaves English, and says why', async () => {
  const broken = new Messages('hi', {});
  const error = await broken.load(() => Promise.reject(new Error('404 from the CDN')));
  assert.equal(error, '404 from the CDN');
  assert.deepEqual([broken.lang, broken.text('setup.title')], ['en', EN['setup.title']]);
  const garbage = new Messages('es', {});
  assert.match(await garbage.load(async () => 'not an object'), /not an object/);
  assert.equal(garbage.text('done'), 'Done');
});
