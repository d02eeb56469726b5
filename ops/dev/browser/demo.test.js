// The newcomer's path (issue 7's acceptance): the README's first command,
// `ops/up.sh` (here on the debug build the suite made), with no settings file
// and no secrets, brings its own broker, media store and demo exam; a
// candidate takes the demo exam in headless Chromium; the printed proctor and
// reviewer links show that candidate, with media read back from the embedded
// store; `invigil sql` returns the candidate's windows; a restart on the same
// data directory still serves all of it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertAccessible } from './axe.js';
import { launch } from './chromium.js';
import { INVIGIL, ROOT, completeSetup, freePort, overlayReasons, sleep, waitFor } from './stack.js';

const ARTIFACTS = join(ROOT, 'target', 'browser-artifacts');
const TEST = 'demo-exam';
/** How long the candidate sits the exam, in real time at the fast cadence below. */
const EXAM_MS = Number(process.env.INVIGIL_DEMO_EXAM_MS || 75_000);

/** `ops/up.sh` as the README runs it, but on free ports and a temp data dir. */
class Up {
  constructor(dir, port, brokerPort) {
    Object.assign(this, { dir, port, brokerPort, base: `http://127.0.0.1:${port}` });
  }

  async start() {
    this.log = '';
    const env = {
      ...process.env,
      INVIGIL_UP_PROFILE: 'dev',
      INVIGIL_LISTEN: `127.0.0.1:${this.port}`,
      INVIGIL_KAFKA_BROKERS: `127.0.0.1:${this.brokerPort}`,
      RUST_LOG: 'warn',
    };
    // Nothing set by hand: up makes and keeps its own secrets.
    for (const name of ['INVIGIL_TOKEN_SECRET', 'INVIGIL_IP_HASH_SECRET', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) delete env[name];
    this.process = spawn(join(ROOT, 'ops', 'up.sh'), ['--data-dir', this.dir, '--broker', 'local', '--media-listen', '127.0.0.1:0',
      '--demo-listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.process.stdout.on('data', (d) => { this.log += d; });
    this.process.stderr.on('data', (d) => { this.log += d; });
    await waitFor('up to print its links', () => {
      if (this.process.exitCode !== null) throw new Error(`invigil up exited: ${this.log}`);
      return /reviewer\s+http/.test(this.log);
    }, 300_000);
    const link = (label) => this.log.match(new RegExp(`${label}\\s+(http\\S+)`))[1];
    this.demo = link('demo exam');
    this.links = { admin: link('admin'), proctor: link('proctor'), reviewer: link('reviewer') };
    this.tokens = Object.fromEntries(Object.entries(this.links).map(([role, url]) => [role, url.split('#token=')[1]]));
  }

  async api(path, token) {
    const response = await fetch(`${this.base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: await response.json() };
  }

  /** SIGTERM; resolves with the exit code, or rejects (after a kill -9)
   * when up has not stopped within a minute. */
  async stop() {
    if (this.process.exitCode !== null) return this.process.exitCode;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGTERM');
    const late = sleep(60_000).then(() => 'late');
    const code = await Promise.race([exited, late]);
    if (code !== 'late') return code;
    this.process.kill('SIGKILL');
    await exited;
    throw new Error(`invigil up did not stop within 60 s of SIGTERM: ${this.log.slice(-2000)}`);
  }
}

let dir;
let up;
let browser;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'invigil-demo-'));
  up = new Up(join(dir, 'data'), await freePort(), await freePort());
  await up.start();
  browser = await launch();
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await up?.stop();
  // What up said, for a failed run's post-mortem (no secrets: tokens are
  // throwaway, made for this temp data directory).
  if (up?.log) writeFileSync(join(ARTIFACTS, 'demo-up.log'), up.log);
  rmSync(dir, { recursive: true, force: true });
});

async function screenshot(page, name) {
  const path = join(ARTIFACTS, `demo-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 10_000, `${name} screenshot is a real image`);
}

/** Whether every <img> matching `selector` on `page` has loaded pixels; the count. */
async function loadedImages(page, selector) {
  return page.evaluate((sel) => {
    const images = [...document.querySelectorAll(sel)];
    return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0) ? images.length : 0;
  }, selector);
}

test('a candidate takes the demo exam; the wall, the review page and invigil sql show them; a restart keeps it all', { timeout: 600_000 }, async () => {
  const { context } = browser;
  const errors = [];

  // The admin sets a fast cadence for the demo test with the printed link's token.
  const admin = up.tokens.admin;
  const current = await up.api('/api/v1/admin/config', admin);
  assert.equal(current.status, 200);
  const document = { ...current.body.document };
  // Bundled uploads, so the wall and the review page must address captures
  // as byte ranges of bundle objects.
  document.tests = {
    ...document.tests,
    [TEST]: {
      events_interval_ms: 1000,
      capture_intervals: { face_ms: 5000, screen_ms: 5000, audio_chunk_ms: 10_000 },
      uploads: { mode: 'bundled', bundle_ms: 15_000 },
    },
  };
  const put = await fetch(`${up.base}/api/v1/admin/config`, {
    method: 'PUT', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(document),
  });
  assert.equal(put.status, 200, await put.text());

  // The bundle is served as browsers want it: the core as application/wasm
  // (streaming compilation), the glue as JavaScript.
  for (const [file, type] of [['invigil_bg.wasm', 'application/wasm'], ['invigil.js', 'text/javascript']]) {
    const response = await fetch(new URL(`/sdk/${file}`, up.demo));
    assert.equal(response.status, 200, file);
    assert.equal(response.headers.get('content-type'), type, file);
    await response.arrayBuffer();
  }

  // The candidate: open the demo exam, grant everything, answer.
  const exam = await context.newPage();
  exam.on('pageerror', (e) => errors.push(`exam: ${e.message}`));
  await exam.goto(up.demo);
  const candidate = await exam.locator('#candidate').textContent();
  assert.match(candidate, /^candidate-/);
  await waitFor('the setup overlay', async () => (await overlayReasons(exam)).includes('screen_permission'), 20_000);
  await assertAccessible(exam, 'the demo exam under the setup overlay');
  await completeSetup(exam);
  await waitFor('proctoring running', async () => (await exam.locator('#state').textContent()) === 'running', 30_000);
  const { light, dark } = await assertAccessible(exam, 'the demo exam');
  assert.notEqual(dark, light, 'the demo exam follows prefers-color-scheme');
  await exam.emulateMedia({ colorScheme: 'light' });
  await exam.locator('input[name=q1][value=a]').check();
  await exam.locator('#answer').click();
  await exam.keyboard.type('Offline first: nothing is lost while the network is away.', { delay: 30 });
  await exam.keyboard.press('Control+A');
  await exam.keyboard.press('Control+C');
  await screenshot(exam, 'exam');
  const started = Date.now();
  while (Date.now() - started < EXAM_MS) {
    await exam.keyboard.type(' more', { delay: 50 });
    await sleep(5_000);
  }
  await exam.locator('#submit').click();
  await waitFor('submitted', () => exam.locator('#submitted').isVisible(), 10_000);

  // The proctor's printed link: the candidate's tile, with a face thumbnail
  // served by the embedded media store.
  const wall = await context.newPage();
  wall.on('pageerror', (e) => errors.push(`wall: ${e.message}`));
  await wall.goto(up.links.proctor);
  await waitFor('the token out of the address bar', () => new URL(wall.url()).hash === '', 10_000);
  const tile = wall.locator(`[data-candidate="${candidate}"]`);
  await waitFor('the candidate on the wall', () => tile.count(), 30_000);
  await waitFor('thumbnails from the media store', () => loadedImages(wall, `[data-candidate="${candidate}"] img`), 30_000);
  await screenshot(wall, 'wall');

  // The reviewer's printed link: the candidate in the list, their timeline
  // with events and face photos.
  const review = await context.newPage();
  review.on('pageerror', (e) => errors.push(`review: ${e.message}`));
  await review.goto(up.links.reviewer);
  await waitFor('the candidate in the review list', () => review.locator(`#candidates tr[data-candidate="${candidate}"]`).count(), 60_000);
  await review.locator(`#candidates tr[data-candidate="${candidate}"] a`).click();
  await waitFor('timeline events', () => review.locator('#events tbody tr').count(), 60_000);
  await waitFor('face photos', () => loadedImages(review, '#media .strip[data-kind="face"] img'), 60_000);
  await screenshot(review, 'review');
  assert.deepEqual(errors, []);

  const timeline = await up.api(`/api/v1/dashboard/tests/${TEST}/candidates/${candidate}/timeline`, up.tokens.reviewer);
  assert.equal(timeline.status, 200);
  const eventCount = timeline.body.events.length;
  assert.ok(eventCount > 20, `events on the timeline: ${eventCount}`);
  // Key activity arrives as counts only (never the keys): at least the
  // characters typed above.
  const keys = timeline.body.events.filter((e) => e.type === 'key_activity').reduce((sum, e) => sum + Number(e.keys), 0);
  assert.ok(keys >= 57, `keys counted: ${keys}`);

  // Stop (chDB is one process's), then ask the store what it holds.
  assert.equal(await up.stop(), 0, up.log);
  const windows = execFileSync(INVIGIL, ['sql', '--chdb-path', join(up.dir, 'chdb'), '--format', 'JSONEachRow',
    `SELECT window_kind, toUnixTimestamp64Milli(window_start) AS start, clipboard_actions, uploaded_face, uploaded_screen
       FROM candidate_windows FINAL WHERE test_id = '${TEST}' AND candidate_id = '${candidate}' ORDER BY window_kind, start`,
  ], { timeout: 60_000 }).toString().trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
  const minutes = windows.filter((w) => w.window_kind === 'minute');
  const [session] = windows.filter((w) => w.window_kind === 'session');
  assert.ok(minutes.length >= 1, JSON.stringify(windows));
  assert.ok(session, JSON.stringify(windows));
  assert.ok(session.clipboard_actions >= 1, `the copy is counted: ${JSON.stringify(session)}`);
  assert.ok(session.uploaded_face >= 5 && session.uploaded_screen >= 5, `captures reached the store: ${JSON.stringify(session)}`);

  // Restart on the same data: same secrets (the old links still sign in),
  // same events, same media.
  await up.start();
  const again = await up.api(`/api/v1/dashboard/tests/${TEST}/candidates/${candidate}/timeline`, up.tokens.reviewer);
  assert.equal(again.status, 200);
  assert.equal(again.body.events.length, eventCount);
  const face = again.body.events.find((e) => e.type === 'capture' && e.status === 'uploaded' && e.kind === 'face');
  assert.ok(face, 'a face upload on the timeline');
  assert.match(face.key, /\/bundle\/\d+_[0-9a-f-]{36}\.bin#bytes=\d+-\d+$/, 'a part of a bundle');
  const link = await up.api(`/api/v1/dashboard/media?key=${encodeURIComponent(face.key)}`, up.tokens.reviewer);
  assert.equal(link.status, 200);
  const photo = await fetch(link.body.url, { headers: { range: link.body.range } });
  assert.equal(photo.status, 206);
  const bytes = new Uint8Array(await photo.arrayBuffer());
  assert.ok(bytes.length > 1000 && bytes[0] === 0xff && bytes[1] === 0xd8, 'the face photo (a JPEG) survived the restart');
});
