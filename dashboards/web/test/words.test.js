// The dashboards' words (words.js and its catalogue): every key a page asks
// for exists, every key in the catalogue is used, and the placeholders a
// call fills are the ones its string has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LANGUAGES, t } from '../words.js';

const WEB = join(dirname(fileURLToPath(import.meta.url)), '..');
const EN = JSON.parse(readFileSync(join(WEB, 'words-en.json'), 'utf8'));
const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

/** The top-level property names of an object literal's source `{ a, b: x(1, 2), c }`. */
function objectKeys(source) {
  const names = [];
  let depth = 0;
  let part = '';
  for (const c of source.slice(1, -1)) {
    if ('([{'.includes(c)) depth++;
    if (')]}'.includes(c)) depth--;
    if (c === ',' && depth === 0) {
      names.push(part);
      part = '';
    } else part += c;
  }
  names.push(part);
  return names.map((p) => p.trim().split(':')[0].trim()).filter(Boolean).sort();
}

/**
 * Every `t(…)` call in the pages' scripts: its keys (both of `t(c ? 'a' :
 * 'b')`) and, when the second argument is an object literal, the names it
 * fills (`null` when it is a variable: not known here).
 */
function calls() {
  const found = [];
  for (const file of readdirSync(WEB).filter((f) => f.endsWith('.js') && f !== 'words.js')) {
    const text = readFileSync(join(WEB, file), 'utf8');
    for (const m of text.matchAll(/\bt\(/g)) {
      // The call's source, to its closing parenthesis.
      let depth = 0;
      let end = m.index + 1;
      for (; end < text.length; end++) {
        if ('([{'.includes(text[end])) depth++;
        if (')]}'.includes(text[end]) && --depth === 0) break;
      }
      const args = text.slice(m.index + 2, end);
      const comma = args.search(/,\s*(\{|[A-Za-z_])/);
      const keyPart = comma < 0 ? args : args.slice(0, comma);
      // The keys: the quoted strings a condition chooses between, not those it compares.
      const keys = [...keyPart.matchAll(/(?:^|[?:])\s*'([^']+)'/g)].map((k) => k[1]);
      const rest = comma < 0 ? '' : args.slice(comma + 1).trim();
      const vars = !rest ? [] : rest.startsWith('{') ? objectKeys(rest) : null;
      for (const key of keys) found.push({ file, key, vars });
    }
  }
  return found;
}

test('every key the pages ask for is in the catalogue, with the placeholders they fill', () => {
  const used = calls();
  assert.ok(used.length >= 30, `only ${used.length} calls found: the scan is broken`);
  for (const { file, key, vars } of used) {
    assert.ok(key in EN, `${file}: t('${key}') is not in words-en.json`);
    if (vars) assert.deepEqual(vars, placeholders(EN[key]), `${file}: t('${key}') fills ${vars}, its string has ${placeholders(EN[key])}`);
  }
  const unused = Object.keys(EN).filter((key) => !used.some((u) => u.key === key));
  assert.deepEqual(unused, [], 'keys no page uses');
});

test('the catalogues are the languages, and t fills placeholders', () => {
  const files = readdirSync(WEB).filter((f) => /^words-\w+\.json$/.test(f)).map((f) => f.slice(6, -5));
  assert.deepEqual(files.sort(), [...LANGUAGES].sort());
  assert.equal(t('wall.candidates_of', { test: 'exam-1' }), 'Candidates of exam-1');
  assert.equal(t('wall.grid_hint', { count: 9 }), 'The cameras of the first 9 candidates, live');
  assert.equal(t('no.such.key'), 'no.such.key');
});
