// Loss-free video recordings (issue 18) in headless Chromium with fake
// devices, against `invigil up` on loopback: a candidate records camera and
// screen in 10-s WebM segments through offline spells and a page reload;
// afterwards every segment the SDK reported is in the store, byte for byte,
// each decodes without error in ffmpeg and lasts what its event says, the
// segments of a session meet without holes, the pipeline credits the
// recorded time, and the review page plays it from a clicked event.
//
// Length: INVIGIL_RECORDING_MINUTES (default 2.5) with three offline spells
// of INVIGIL_RECORDING_OFFLINE_MS (default 15 s) and a reload between the
// second and the third. `ops/test.sh --full` runs the 30 minutes
// with spells of 2 minutes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from './chromium.js';
import { Ingest, completeSetup, hostPage, jwt, sleep, waitFor } from './stack.js';

const MINUTES = Number(process.env.INVIGIL_RECORDING_MINUTES || 2.5);
const SPELL_MS = Number(process.env.INVIGIL_RECORDING_OFFLINE_MS || 15_000);
const SEGMENT_MS = 10_000;
const EXAM = 'exam-rec';
const CANDIDATE = 'cand-rec';
const REVIEWER = jwt({ sub: 'r1', role: 'reviewer', tests: [EXAM] });
const DOCUMENT = {
  defaults: { events_interval_ms: 1000, recording: { mode: 'video', segment_ms: SEGMENT_MS } },
  tests: {},
  bypasses: {},
};

/** Union length of `[from, to)` spans. */
function covered(spans) {
  let total = 0;
  let end = -Infinity;
  for (const [from, to] of [...spans].sort((a, b) => a[0] - b[0])) {
    if (to <= end) continue;
    total += to - Math.max(from, end);
    end = to;
  }
  return total;
}

// Chrome's recorder now and then stamps two frames with the same
// millisecond; ffmpeg's muxer says so, and every frame still decodes.
const SAME_MILLISECOND = /non monotonically increasing dts to muxer/;

/** What ffmpeg makes of a stored segment: decode errors, repeated frame times, and the time its video packets span. */
function probe(file) {
  const decode = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { encoding: 'utf8' });
  const messages = decode.stderr.split('\n').filter(Boolean);
  const errors = messages.filter((line) => !SAME_MILLISECOND.test(line)).join('\n');
  const repeated = messages.length - errors.split('\n').filter(Boolean).length;
  const packets = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,duration_time', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  if (packets.status !== 0) return { status: packets.status, errors: packets.stderr.trim(), repeated, packets: 0, ms: 0 };
  const times = packets.stdout.split('\n').filter(Boolean).map((line) => line.split(',').map(Number));
  const first = Math.min(...times.map(([pts]) => pts));
  const last = Math.max(...times.map(([pts, duration]) => pts + (Number.isFinite(duration) ? duration : 0)));
  return { status: decode.status, errors, repeated, packets: times.length, ms: Math.round((last - first) * 1000) };
}

describe('video recordings', { timeout: (MINUTES * 60 + 8 * 60) * 1000 }, () => {
  let stack;
  let browser;
  let host;
  let page;
  const marks = { offline: [], reload: 0, stopped: 0 };
  let segments = [];

  before(async () => {
    stack = await Ingest.start({ document: DOCUMENT, allInOne: true });
    browser = await launch();
    host = await hostPage({ endpoint: stack.base, token: jwt({ sub: CANDIDATE, test_id: EXAM }) });
    page = await browser.context.newPage();
    await page.goto(host.url);
    await completeSetup(page);
  });

  after(async () => {
    if (browser) await browser.close();
    if (host) host.close();
    if (stack) await stack.close();
  });

  test(`${MINUTES} min with three offline spells and a reload: every recorded second stored and playable`, async () => {
    const total = MINUTES * 60_000;
    const started = Date.now();
    const until = (fraction) => sleep(Math.max(0, started + fraction * total - Date.now()));
    const spell = async (fraction) => {
      await until(fraction);
      await browser.context.setOffline(true);
      const from = Date.now();
      await sleep(SPELL_MS);
      await browser.context.setOffline(false);
      marks.offline.push([from, Date.now()]);
    };
    await spell(0.2);
    await spell(0.45);
    await until(0.55);
    marks.reload = Date.now();
    await page.reload();
    await completeSetup(page);
    await spell(0.7);
    await until(1);
    await page.evaluate(() => window.invigil.stop());
    await waitFor('the SDK stopped with everything delivered', () => page.evaluate(() => window.invigil.status === 'stopped'), 120_000, 500);
    marks.stopped = Date.now();

    // What the SDK reported: one event per segment (a retried batch may repeat one).
    const seen = new Map();
    for (const e of stack.events()) {
      if (e.event.type !== 'recording') continue;
      seen.set(`${e.session_id}/${e.event.track}/${e.event.segment_seq}`, { session: e.session_id, ...e.event });
    }
    segments = [...seen.values()].sort((a, b) => a.ts - b.ts);
    const notUploaded = segments.filter((s) => s.status !== 'uploaded');
    assert.deepEqual(notUploaded, [], 'every segment uploaded (none failed or skipped)');
    const sessions = [...new Set(segments.map((s) => s.session))];
    assert.equal(sessions.length, 2, 'one session before the reload, one after');

    // Nothing lost before it was persisted: per session and track, segment_seq runs 0..n-1,
    // and the segments meet (no hole longer than the handover).
    let recordedMs = 0;
    let spanMs = 0;
    for (const session of sessions) {
      for (const track of ['camera', 'screen']) {
        const list = segments.filter((s) => s.session === session && s.track === track).sort((a, b) => a.segment_seq - b.segment_seq);
        assert.ok(list.length >= 2, `${track} of ${session}: ${list.length} segments`);
        assert.deepEqual(list.map((s) => s.segment_seq), list.map((_, i) => i), `${track} of ${session}: no segment missing`);
        const spans = list.map((s) => [s.ts, s.ts + s.duration_ms]);
        const span = spans.at(-1)[1] - spans[0][0];
        const union = covered(spans);
        recordedMs += union;
        spanMs += span;
        assert.ok(union >= 0.995 * span, `${track} of ${session}: ${union} of ${span} ms covered`);
      }
    }
    // The reload cost at most the slice being recorded (1 s) and the handover.
    const beforeReload = segments.filter((s) => s.session === sessions[0]);
    const lastEnd = Math.max(...beforeReload.map((s) => s.ts + s.duration_ms));
    assert.ok(lastEnd >= marks.reload - 2_500, `the old page's last segment ends ${marks.reload - lastEnd} ms before the reload`);

    // In the store, byte for byte, and playable.
    const objects = new Map(await stack.objects());
    const dir = mkdtempSync(join(tmpdir(), 'invigil-segments-'));
    let bytes = 0;
    let repeated = 0;
    const problems = [];
    try {
      for (const s of segments) {
        assert.equal(objects.get(s.key), s.bytes, `${s.key} stored with its reported size`);
        // Read back as a reviewer would: through a presigned link.
        const signed = await stack.api(`/api/v1/dashboard/media?key=${encodeURIComponent(s.key)}`, REVIEWER);
        assert.equal(signed.status, 200, JSON.stringify(signed.body));
        const response = await fetch(signed.body.url);
        assert.equal(response.status, 200, s.key);
        const body = Buffer.from(await response.arrayBuffer());
        assert.equal(body.length, s.bytes, `${s.key} read back whole`);
        const file = join(dir, `${s.track}-${s.session}-${s.segment_seq}.webm`);
        writeFileSync(file, body);
        bytes += body.length;
        const probed = probe(file);
        repeated += probed.repeated;
        // Never more video than the event claims (the last frame's length is
        // the encoder's guess: a second of slack); a still screen sends no
        // new frames, so its last one may come up to 3 s before the cut.
        const short = s.track === 'screen' ? 3_000 : 1_200;
        if (probed.status !== 0 || probed.errors || probed.packets < 2) {
          problems.push(`${s.key} (${body.length} B, starts ${body.subarray(0, 8).toString('hex')}): ${JSON.stringify(probed)}`);
        } else if (probed.ms > s.duration_ms + 1_200 || probed.ms < s.duration_ms - short) {
          problems.push(`${s.key}: ${probed.ms} ms of video for a ${s.duration_ms} ms segment`);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const offlineMs = marks.offline.reduce((sum, [from, to]) => sum + to - from, 0);
    console.log(`recording: ${segments.length} segments, ${(recordedMs / 2000).toFixed(0)} s per track recorded of ${(spanMs / 2000).toFixed(0)} s `
      + `(${(100 * recordedMs / spanMs).toFixed(2)} %), ${(offlineMs / 1000).toFixed(0)} s offline, `
      + `${(bytes / 1024 / (recordedMs / 2 / 60_000)).toFixed(0)} KiB per candidate-minute (camera + screen), `
      + `${problems.length} segments with problems, ${repeated} repeated frame times (decoded)`);
    assert.deepEqual(problems, [], 'every segment decodes and lasts what its event says');
  });

  test('the pipeline credits the recorded time, and the review page plays it from a clicked event', async () => {
    assert.ok(segments.length, 'the recording test ran first');
    const path = `/api/v1/dashboard/tests/${EXAM}/candidates/${CANDIDATE}/timeline`;
    // What the SDK delivered per session, both tracks: the pipeline must have credited it all.
    const delivered = {};
    for (const s of segments) delivered[s.session] = (delivered[s.session] || []).concat([[`${s.track}`, s.ts, s.ts + s.duration_ms]]);
    const deliveredMs = (session) => ['camera', 'screen']
      .map((track) => covered((delivered[session] || []).filter(([t]) => t === track).map(([, from, to]) => [from, to])))
      .reduce((a, b) => a + b, 0);
    let timeline;
    await waitFor('both sessions credited in the store', async () => {
      const { status, body } = await stack.api(path, REVIEWER);
      timeline = body;
      // At most the slice being recorded at the reload (1 s) and the
      // handover missing per track, whatever the session's length.
      const missing = (s) => 2 * Number(s.recording_expected_ms) - Number(s.recorded_ms);
      return status === 200 && body.sessions.length === 2
        && body.sessions.every((s) => Number(s.recording_expected_ms) > 0 && missing(s) <= 2 * 2_500
          && Number(s.recorded_ms) >= deliveredMs(s.session_id) - 2 * 2_500);
    }, 120_000, 2_000).catch((error) => {
      throw new Error(`${error.message}: ${JSON.stringify(timeline && timeline.sessions)}`);
    });
    for (const s of timeline.sessions) {
      assert.ok(delivered[s.session_id], `the store's session ${s.session_id} is one the SDK recorded in`);
      console.log(`pipeline: session ${s.session_id.slice(-6)} recorded ${(s.recorded_ms / 2000).toFixed(0)} s per track of ${(s.recording_expected_ms / 1000).toFixed(0)} s expected, ${Number(s.recording_pct).toFixed(2)} %`);
    }

    const review = await browser.context.newPage();
    const problems = [];
    review.on('pageerror', (error) => problems.push(String(error)));
    review.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
    await review.goto(`${stack.base}/dashboard/review.html?test=${EXAM}&candidate=${CANDIDATE}#token=${encodeURIComponent(REVIEWER)}`);
    await review.waitForSelector('#recording video#recording-screen', { timeout: 20_000 });
    // The second offline spell's `network: offline` event: a click seeks both tracks there.
    const row = review.locator('#events tr[data-type="network"]').nth(2);
    const ts = Number(await row.getAttribute('data-ts'));
    await row.click();
    const shown = await waitFor('the clicked moment on screen', () => review.evaluate(async (at) => {
      const video = document.getElementById('recording-screen');
      if (video.dataset.shows !== String(at) || video.readyState < 2 || video.seeking) return false;
      // Frames are presented only for a video on screen.
      video.scrollIntoView({ block: 'center' });
      // A frame is actually presented at the new position.
      const presented = await new Promise((resolve) => {
        video.requestVideoFrameCallback(() => {
          video.pause();
          resolve(true);
        });
        setTimeout(() => resolve(false), 3_000);
        video.play().catch(() => {});
      });
      const line = document.querySelector('.plot .cursor');
      return presented && { time: video.currentTime, cursor: line.getAttribute('visibility'), clock: document.getElementById('recording-clock').textContent, at };
    }, ts), 20_000, 250).catch(async (error) => {
      const state = await review.evaluate(() => {
        const v = document.getElementById('recording-screen');
        return { shows: v.dataset.shows, time: v.currentTime, ready: v.readyState, seeking: v.seeking, duration: v.duration, src: v.src.slice(0, 40) };
      });
      throw new Error(`${error.message}: clicked ${ts}, player ${JSON.stringify(state)}, ${problems.join('; ')}`);
    });
    const segment = segments.find((s) => s.track === 'screen' && s.ts <= ts && ts < s.ts + s.duration_ms);
    assert.ok(segment, `a screen segment covers the event at ${ts}`);
    assert.ok(Math.abs(shown.time - (ts - segment.ts) / 1000) < 1.5, `seeked to ${shown.time} s of the segment starting ${(ts - segment.ts) / 1000} s before the event`);
    assert.equal(shown.cursor, 'visible', 'the plot shows the playing time');
    assert.deepEqual(problems, []);
  });
});
