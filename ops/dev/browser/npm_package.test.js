// The SDK as an npm package, tried the way an integrator would (issue 37):
// `npm pack` sdk/dist/npm, install the tarball into a TypeScript host app
// (consumer/), type-check it with tsc — its type tests must fail where they
// say they do — build it with Vite, and run the built page in Chromium
// against a real ingest on another origin: importing must do nothing, and
// starting must load the core, the face chunk, its wasm and both models
// from the files Vite emitted (the chunks split out as real files, not
// inlined as data: URLs a strict CSP refuses).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { launch } from './chromium.js';
import { DIST, FAST_CONFIG, Ingest, catalogue, completeSetup, jwt, portraitCamera, sleep, waitFor } from './stack.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const PACKAGE = join(DIST, 'npm');
const TSC = join(HERE, 'node_modules', 'typescript', 'bin', 'tsc');
const VITE = join(HERE, 'node_modules', 'vite', 'bin', 'vite.js');
/** The files the module names with `new URL(…, import.meta.url)`. */
const ASSETS = ['invigil_bg.wasm', 'invigil_face_bg.wasm', 'invigil-face-yunet.onnx', 'invigil-face-sface.onnx'];
/** The chunks it imports dynamically, and the global each defines. */
const CHUNKS = { 'invigil-live.mjs': 'invigilLive', 'invigil-face.mjs': 'invigilFace' };
/** The catalogues of the candidate's words it imports, one per language but English. */
const MESSAGES = ['hi', 'es', 'fr', 'ar'];
/** `text` as found in a minified script: as written, or with \u escapes. */
const written = (script, text) => script.includes(text) || script.includes(text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.css': 'text/css' };
const EXAM = 'exam-npm';
const CANDIDATE = 'cand-npm';

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** Runs a command; its output is in the error when it fails. */
function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 180_000 });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}${result.error ? String(result.error) : ''}` };
}

/** Serves a folder (the consumer's Vite build) on its own origin. */
async function serve(root) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const file = join(root, path === '/' ? 'index.html' : path.replace(/^\/+/, ''));
    const type = TYPES[path === '/' ? '.html' : path.slice(path.lastIndexOf('.'))];
    if (!type || !file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': type });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => { server.closeAllConnections(); server.close(); } };
}

describe('@invigil/sdk from npm', { timeout: 8 * 60_000 }, () => {
  let dir;
  let consumer;
  let packed;

  before(() => {
    if (!existsSync(join(PACKAGE, 'package.json'))) throw new Error('sdk/dist/npm missing: run sdk/build.sh');
    dir = mkdtempSync(join(tmpdir(), 'invigil-npm-'));
    [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: PACKAGE, encoding: 'utf8' }));
    consumer = join(dir, 'consumer');
    cpSync(join(HERE, 'consumer'), consumer, { recursive: true });
    // A local tarball with no dependencies: nothing comes from the registry.
    const install = run('npm', ['install', '--no-audit', '--no-fund', '--offline', join(dir, packed.filename)], consumer);
    assert.ok(install.ok, install.output);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('npm pack holds the module, the script-tag build, every lazy file and the types; the tag stays in its budget', () => {
    assert.equal(packed.name, '@invigil/sdk');
    const files = packed.files.map((f) => f.path).sort();
    assert.deepEqual(files, ['MODELS.md', 'README.md', 'global.d.ts', 'index.d.ts', 'invigil.js', 'invigil.mjs', 'package.json', 'types.d.ts',
      'invigil-live.js', 'invigil-face.js', ...Object.keys(CHUNKS), ...ASSETS,
      ...MESSAGES.flatMap((lang) => [`invigil-messages-${lang}.json`, `invigil-messages-${lang}.mjs`])].sort());
    const manifest = JSON.parse(readFileSync(join(consumer, 'node_modules', '@invigil', 'sdk', 'package.json'), 'utf8'));
    assert.deepEqual(manifest.exports['.'], { types: './index.d.ts', default: './invigil.mjs' });
    const tag = ['invigil.js', 'invigil_bg.wasm'].reduce((sum, f) => sum + gzipSync(readFileSync(join(PACKAGE, f)), { level: 9 }).length, 0);
    assert.ok(tag <= 60_000, `the script-tag bundle is ${tag} B gzipped, over 60,000`);
    const module = readFileSync(join(PACKAGE, 'invigil.mjs'), 'utf8');
    for (const asset of ASSETS) assert.ok(module.includes(`new URL("./${asset}", import.meta.url)`), `${asset} named for bundlers`);
    for (const chunk of Object.keys(CHUNKS)) assert.ok(module.includes(`import("./${chunk}")`), `${chunk} imported for bundlers`);
    for (const lang of MESSAGES) assert.ok(module.includes(`import("./invigil-messages-${lang}.mjs")`), `the ${lang} catalogue imported for bundlers`);
    assert.doesNotMatch(module, /window\.invigil\s*=/, 'the module publishes no global');
  });

  test('tsc accepts the app and its type tests, and refuses a listener that misreads a notice', () => {
    const ok = run(process.execPath, [TSC, '-p', consumer], consumer);
    assert.ok(ok.ok, ok.output);
    // The same mistake without its @ts-expect-error must not compile: the
    // notices are really typed, not `any`.
    const broken = join(consumer, 'src', 'broken.ts');
    writeFileSync(broken, "import invigil from '@invigil/sdk';\ninvigil.on('status', (n) => n.reason);\ninvigil.on('blocked', () => {});\n");
    try {
      const refused = run(process.execPath, [TSC, '-p', consumer], consumer);
      assert.ok(!refused.ok, 'tsc accepted a status listener reading a block reason');
      assert.match(refused.output, /broken\.ts\(2,[0-9]+\).*Property 'reason' does not exist on type 'StatusNotice'/);
      assert.match(refused.output, /broken\.ts\(3,[0-9]+\).*'"blocked"'/);
    } finally {
      rmSync(broken);
    }
  });

  test('built by Vite, the page runs the SDK from the emitted files against ingest on another origin', { timeout: 5 * 60_000 }, async () => {
    const build = run(process.execPath, [VITE, 'build', '--logLevel', 'warn'], consumer);
    assert.ok(build.ok, build.output);
    const out = join(consumer, 'dist');
    const emitted = new Map(readdirSync(join(out, 'assets')).map((f) => [sha256(readFileSync(join(out, 'assets', f))), f]));
    const emittedAs = {};
    for (const asset of ASSETS) {
      emittedAs[asset] = emitted.get(sha256(readFileSync(join(PACKAGE, asset))));
      assert.ok(emittedAs[asset], `Vite did not emit ${asset} (emitted: ${[...emitted.values()].join(', ')})`);
    }
    // Each chunk is a file of its own, apart from the page's entry.
    const scripts = [...emitted.values()].filter((f) => f.endsWith('.js')).map((f) => [f, readFileSync(join(out, 'assets', f), 'utf8')]);
    const [entry] = scripts.find(([, text]) => text.includes('consumer_ready'));
    for (const [chunk, global] of Object.entries(CHUNKS)) {
      const found = scripts.find(([f, text]) => f !== entry && text.includes(`window.${global}=`));
      assert.ok(found, `${chunk} is not a chunk of its own (${scripts.map(([f]) => f).join(', ')})`);
      emittedAs[chunk] = found[0];
    }
    // Each language's words too: fetched only by a page in that language.
    for (const lang of MESSAGES) {
      const found = scripts.find(([f, text]) => f !== entry && written(text, catalogue(lang)['setup.intro']));
      assert.ok(found, `the ${lang} catalogue is not a chunk of its own`);
      emittedAs[`invigil-messages-${lang}.mjs`] = found[0];
    }
    assert.doesNotMatch(scripts.map(([, text]) => text).join('\n'), /data:text\/javascript/, 'no script inlined as a data: URL');

    const site = await serve(out);
    const stack = await Ingest.start({
      config: { ...FAST_CONFIG, face_check: { mode: 'identity', every_ms: 1000, identity_every_ms: 1000 } },
    });
    const cameraDir = mkdtempSync(join(tmpdir(), 'invigil-npm-camera-'));
    const browser = await launch({ camera: portraitCamera(cameraDir, 'person_a_2.jpg') });
    try {
      // Imported, not started: no global, no overlay, no request beyond the page's own files.
      const page = await browser.context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      const requests = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(site.url);
      await page.waitForFunction(() => window.consumer);
      await sleep(1000);
      assert.deepEqual(await page.evaluate(() => window.consumer.seenAtImport), { global: false, overlay: false, status: 'idle' });
      assert.equal(await page.evaluate(() => typeof window.invigil), 'undefined');
      assert.equal(await page.evaluate(() => document.querySelector('invigil-overlay')), null);
      assert.deepEqual(requests.filter((url) => !url.startsWith(site.url) || /\.(wasm|onnx)$/.test(url) || Object.values(emittedAs).some((f) => url.endsWith(f))), [],
        'importing fetched nothing');

      // Started: the core from Vite's output, setup, running, events in Kafka.
      const token = jwt({ sub: CANDIDATE, test_id: EXAM });
      await page.goto(`${site.url}?endpoint=${encodeURIComponent(stack.base)}&token=${encodeURIComponent(token)}&locale=ar`);
      // In the candidate's language, from the catalogue chunk Vite split out.
      await waitFor('the overlay in Arabic', () => page.evaluate((title) => {
        const root = document.querySelector('invigil-overlay')?.shadowRoot;
        return root?.querySelector('.backdrop').dir === 'rtl' && root.querySelector('h2').textContent === title;
      }, catalogue('ar')['setup.title']), 20_000);
      assert.ok(requests.some((url) => url.endsWith(`/assets/${emittedAs['invigil-messages-ar.mjs']}`)), 'the Arabic chunk fetched');
      assert.ok(!requests.some((url) => url.endsWith(`/assets/${emittedAs['invigil-messages-fr.mjs']}`)), 'no other language fetched');
      await completeSetup(page);
      await waitFor('status running', () => page.evaluate(() => window.consumer.notices.some((n) => n.name === 'status' && n.state === 'running')), 20_000);
      const events = () => stack.events().map((e) => e.event);
      await waitFor('the app\'s own event after ready', () => events().some((e) => e.type === 'custom' && e.name === 'consumer_ready'), 20_000);
      const ready = events().find((e) => e.type === 'custom' && e.name === 'consumer_ready');
      assert.deepEqual(ready.data, { bundler: 'vite', version: await page.evaluate(() => window.consumer.api.version) });
      // Face checks: the face chunk, its wasm and the detector, then the
      // recogniser (a similarity), all from the files Vite emitted.
      await waitFor('identity checks', () => events().some((e) => e.type === 'face' && e.faces === 1 && typeof e.similarity === 'number'), 60_000, 1000);
      assert.deepEqual(events().filter((e) => e.type === 'sdk_error'), [], 'every lazy file loaded');
      for (const asset of ['invigil_bg.wasm', 'invigil-face.mjs', 'invigil_face_bg.wasm', 'invigil-face-yunet.onnx', 'invigil-face-sface.onnx']) {
        assert.ok(requests.some((url) => url.endsWith(`/assets/${emittedAs[asset]}`)), `${asset} fetched as ${emittedAs[asset]}`);
      }
      assert.ok(await page.evaluate(() => window.consumer.notices.some((n) => n.name === 'identity' && n.reference === true)));
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      site.close();
      await stack.close();
      rmSync(cameraDir, { recursive: true, force: true });
    }
  });
});
