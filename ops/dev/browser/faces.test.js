// Face checks end to end (issue 35) in headless Chromium, against `invigil
// up` on loopback: the fake camera plays a Y4M file made here from the
// release's credited portraits — one face, then an empty grey room, then
// two people, then a dark room, then the first person in another photo
// years apart, then someone else alone — in a 48-s loop, and the test's
// config checks faces every second in identity mode (a comparison with the
// reference face every second too). The SDK's `face` events must follow the
// scenes, the pipeline must flag the no-face, two-face and different-person
// runs (never a single frame) and label the dark frames, and the review
// page must list the flags with the photos around them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from './chromium.js';
import { DIST, DIST_TYPES, FACES, Ingest, completeSetup, hostPage, jwt, overlayReasons, sleep, waitFor } from './stack.js';

const EXAM = 'exam-faces';
const CANDIDATE = 'cand-faces';
const REVIEWER = jwt({ sub: 'r1', role: 'reviewer', tests: [EXAM] });
const SCENE_S = 8;
const FPS = 5;
const DOCUMENT = {
  defaults: {
    events_interval_ms: 1000,
    capture_intervals: { face_ms: 4000, screen_ms: 8000, audio_chunk_ms: 8000 },
    face_check: { mode: 'identity', every_ms: 1000, identity_every_ms: 1000, flag_after_checks: 3 },
  },
  tests: {},
  bypasses: {},
};

/** Writes the camera's loop: one face, nobody, two faces, darkness, the same face
 * in another photo, someone else; SCENE_S seconds each. */
function cameraLoop(dir) {
  const file = join(dir, 'camera.y4m');
  const fixture = (name) => join(FACES, 'fixtures', name);
  const fit = (w, h) => `scale=${w}:${h}:force_original_aspect_ratio=decrease,pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2:color=0x5a5a5a,setsar=1,fps=${FPS}`;
  const still = (path) => ['-loop', '1', '-framerate', String(FPS), '-t', String(SCENE_S), '-i', path];
  const colour = (hex) => ['-f', 'lavfi', '-t', String(SCENE_S), '-i', `color=c=${hex}:s=320x240:r=${FPS}`];
  execFileSync('ffmpeg', ['-y', '-loglevel', 'error',
    ...still(fixture('person_a_2.jpg')), ...colour('0x5a5a5a'), ...still(fixture('person_b_1.jpg')), ...still(fixture('impostor_1.jpg')), ...colour('0x080808'),
    ...still(fixture('person_a_1.jpg')), ...still(fixture('impostor_2.jpg')),
    '-filter_complex', [
      `[0]${fit(320, 240)}[one]`, `[2]${fit(160, 240)}[l]`, `[3]${fit(160, 240)}[r]`, '[l][r]hstack[two]',
      `[5]${fit(320, 240)}[again]`, `[6]${fit(320, 240)}[other]`,
      '[one][1][two][4][again][other]concat=n=6:v=1:a=0,format=yuv420p[out]',
    ].join(';'),
    '-map', '[out]', '-r', String(FPS), file]);
  return file;
}

/** What a check saw, as the scene names it: one face compared under the
 * threshold is someone other than the reference. */
function scene(e) {
  if (e.faces === 1) return typeof e.similarity === 'number' && e.similarity < 0.363 ? 'other' : 'one';
  if (e.faces >= 2) return 'two';
  return e.light < 0.12 ? 'dark' : 'empty';
}

describe('face checks', { timeout: 6 * 60_000 }, () => {
  let dir;
  let stack;
  let browser;
  let host;
  let page;
  let checks = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'invigil-faces-'));
    const camera = cameraLoop(dir);
    stack = await Ingest.start({ document: DOCUMENT, allInOne: true });
    browser = await launch({ camera });
    host = await hostPage({ endpoint: stack.base, token: jwt({ sub: CANDIDATE, test_id: EXAM }) });
    page = await browser.context.newPage();
    await page.goto(host.url);
    await completeSetup(page);
  });

  after(async () => {
    if (browser) await browser.close();
    if (host) host.close();
    if (stack) await stack.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the checks follow the camera: one face, nobody, two faces, too dark, the same face, someone else', async () => {
    // Past one whole loop and into the next.
    await sleep((6 * SCENE_S + 10) * 1000);
    await page.evaluate(() => window.invigil.stop());
    await waitFor('the SDK stopped with everything delivered', () => page.evaluate(() => window.invigil.status === 'stopped'), 60_000, 500);
    const events = stack.events().map((e) => e.event);
    const errors = events.filter((e) => e.type === 'sdk_error');
    assert.deepEqual(errors, [], 'the detector and the recogniser loaded and ran');
    checks = events.filter((e) => e.type === 'face').sort((a, b) => a.ts - b.ts);
    const seen = checks.map(scene);
    const count = (name) => seen.filter((s) => s === name).length;
    const compared = checks.filter((c) => typeof c.similarity === 'number');
    const ms = (list) => list.map((c) => c.ms).sort((a, b) => a - b);
    const median = (list) => list[list.length >> 1];
    console.log(`faces: ${checks.length} checks: ${count('one')} one face, ${count('empty')} none, ${count('two')} two, ${count('dark')} dark, ${count('other')} someone else; `
      + `detection median ${median(ms(checks.filter((c) => typeof c.similarity !== 'number')))} ms; `
      + `with a comparison median ${median(ms(compared))} ms (${compared.length} comparisons, similarity ${compared.map((c) => c.similarity).sort((a, b) => a - b).join(' ')})`);
    assert.ok(checks.length >= 40, `${checks.length} checks in ${6 * SCENE_S + 10} s at one a second`);
    for (const name of ['one', 'empty', 'two', 'dark', 'other']) assert.ok(count(name) >= 4, `${name}: ${count(name)} checks`);
    // The scenes in the camera's order: collapse repeats, then look for the loop.
    const order = seen.filter((s, i) => i === 0 || s !== seen[i - 1]).join(' ');
    assert.match(order, /one empty two dark one other/, `the scenes as seen: ${order}`);
    // Identity: one reference face, taken from a single face; comparisons
    // only ever of a single face; the other photo of the same person
    // matches, the stranger does not.
    const references = checks.filter((c) => c.reference);
    assert.equal(references.length, 1, JSON.stringify(references));
    assert.ok(compared.every((c) => c.faces === 1) && references[0].faces === 1);
    assert.ok(compared.filter((c) => c.similarity >= 0.363).length >= 8, `the same person in both photos: ${order}`);
    // Transitions are the only place a scene may blur into its neighbour.
    assert.ok(seen.filter((s, i) => i > 0 && i < seen.length - 1 && s !== seen[i - 1] && s !== seen[i + 1]).length <= 2,
      `single-check outliers: ${order}`);
    for (const c of checks.filter((e) => e.faces > 0)) assert.ok(c.confidence >= 0.6 && c.face_size > 0.1, JSON.stringify(c));
  });

  test('the pipeline flags the runs, labels the dark ones, and the review page shows each flag', async () => {
    assert.ok(checks.length, 'the checks test ran first');
    const path = `/api/v1/dashboard/tests/${EXAM}/candidates/${CANDIDATE}/timeline`;
    let timeline;
    const sum = (key) => timeline.windows.reduce((total, w) => total + Number(w[key] || 0), 0);
    await waitFor('the face checks in the windows', async () => {
      const { status, body } = await stack.api(path, REVIEWER);
      timeline = body;
      return status === 200 && body.windows && sum('face_checks') === checks.length;
    }, 120_000, 2_000).catch((error) => {
      throw new Error(`${error.message}: ${JSON.stringify(timeline && timeline.windows)}`);
    });
    const byScene = (name) => checks.filter((c) => scene(c) === name).length;
    assert.equal(sum('no_face_checks'), byScene('empty'));
    assert.equal(sum('several_faces_checks'), byScene('two'));
    assert.equal(sum('dark_checks'), byScene('dark'));
    assert.ok(sum('face_flags') >= 2, `a no-face flag and a two-face flag: ${sum('face_flags')}`);
    assert.ok(sum('no_face_ms') >= 4_000 && sum('several_faces_ms') >= 4_000, `${sum('no_face_ms')} / ${sum('several_faces_ms')} ms flagged`);
    assert.equal(sum('identity_checks'), checks.filter((c) => typeof c.similarity === 'number').length);
    assert.equal(sum('different_person_checks'), byScene('other'));
    assert.equal(sum('face_references'), 1);
    assert.ok(sum('different_person_ms') >= 4_000, `${sum('different_person_ms')} ms of a different person flagged`);
    assert.ok(sum('face_flags') >= 3, `no face, two faces and a different person: ${sum('face_flags')}`);
    const scored = timeline.windows.flatMap((w) => w.component_names);
    for (const name of ['no_face_second', 'several_faces_second', 'different_person_second']) assert.ok(scored.includes(name), scored.join(','));

    const review = await browser.context.newPage();
    const problems = [];
    review.on('pageerror', (error) => problems.push(String(error)));
    await review.goto(`${stack.base}/dashboard/review.html?test=${EXAM}&candidate=${CANDIDATE}#token=${encodeURIComponent(REVIEWER)}`);
    await review.waitForSelector('#face-flags tbody tr', { timeout: 20_000 });
    const flags = await review.$$eval('#face-flags tbody tr', (rows) => rows.map((r) => ({ finding: r.dataset.finding, text: r.textContent, photos: r.querySelectorAll('img').length })));
    for (const finding of ['none', 'several', 'different']) assert.ok(flags.some((f) => f.finding === finding), `${finding}: ${JSON.stringify(flags)}`);
    assert.ok(flags.every((f) => f.photos >= 1), `each flag shows the photos around it: ${JSON.stringify(flags)}`);
    const different = flags.find((f) => f.finding === 'different');
    assert.match(different.text, /A different person for .* comparisons in a row \(similarity to the reference face/);
    assert.match(different.text, /\(reference\)/, 'the photo nearest the reference face is shown beside it');
    const summary = await review.textContent('#face-summary');
    assert.match(summary, /too dark to tell/);
    assert.match(summary, /Identity: \d+ comparisons with the reference face, \d+ under the threshold/);
    assert.deepEqual(problems, []);
  });
});

/** The face chunk from another origin, as a CDN would serve it (CORS open),
 * with the model's bytes replaced when `corrupt`. */
async function chunkServer({ corrupt }) {
  const server = createServer((req, res) => {
    const name = new URL(req.url, 'http://x').pathname.slice(1);
    const type = DIST_TYPES[name.slice(name.lastIndexOf('.'))];
    if (!type || name.includes('/')) {
      res.writeHead(404);
      return res.end();
    }
    let body = readFileSync(join(DIST, name));
    if (corrupt && name.endsWith('.onnx')) body = Buffer.alloc(body.length, 7);
    res.writeHead(200, { 'content-type': type, 'access-control-allow-origin': '*' });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${server.address().port}/`, close: () => { server.closeAllConnections(); server.close(); } };
}

describe('face checks from another origin', { timeout: 4 * 60_000 }, () => {
  for (const corrupt of [false, true]) {
    test(corrupt
      ? 'a model that fails its checksum is an sdk_error, and the exam goes on unblocked'
      : 'the chunk served from a CDN origin checks faces for a page on its own origin', async () => {
      const stack = await Ingest.start({ document: DOCUMENT });
      const cdn = await chunkServer({ corrupt });
      const candidate = corrupt ? 'cand-broken' : 'cand-cdn';
      const host = await hostPage({ endpoint: stack.base, token: jwt({ sub: candidate, test_id: EXAM }), faceUrl: `${cdn.base}invigil-face.js` });
      const browser = await launch();
      try {
        const page = await browser.context.newPage();
        await page.goto(host.url);
        await completeSetup(page);
        await sleep(8_000);
        const events = () => stack.events().map((e) => e.event);
        if (corrupt) {
          await waitFor('the failed load reported', () => events().some((e) => e.type === 'sdk_error' && e.code === 'face_check'), 20_000);
          const error = events().find((e) => e.type === 'sdk_error' && e.code === 'face_check');
          assert.match(error.message, /SHA-256/, error.message);
          assert.equal(events().filter((e) => e.type === 'face').length, 0);
          // Tried again only after five minutes: one report, not one a second.
          assert.equal(events().filter((e) => e.type === 'sdk_error' && e.code === 'face_check').length, 1);
        } else {
          await waitFor('face checks from the CDN origin', () => events().filter((e) => e.type === 'face').length >= 3, 20_000);
          assert.equal(events().filter((e) => e.type === 'sdk_error').length, 0, JSON.stringify(events().filter((e) => e.type === 'sdk_error')));
        }
        // Either way the exam runs: nothing blocks, and events keep coming.
        assert.deepEqual(await overlayReasons(page), []);
        assert.equal(await page.evaluate(() => window.invigil.status), 'running');
        const before = events().length;
        await sleep(3_000);
        assert.ok(events().length > before, 'events keep flowing');
      } finally {
        await browser.close();
        host.close();
        cdn.close();
        await stack.close();
      }
    });
  }
});
