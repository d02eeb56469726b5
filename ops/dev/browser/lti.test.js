// LTI 1.3 Proctoring Services end to end (issue 36) in headless Chromium,
// with an independent platform: `ops/dev/lti/lms.py`, built on the PyPI
// package lti1p3platform. The candidate starts from the platform's launch,
// passes the SDK's checks on invigil's proctoring page, lands in the
// platform's assessment (in a frame under the SDK) after the platform has
// checked invigil's LtiStartAssessment, and finishes: the platform's
// LtiEndAssessment stops proctoring. Events reach ingest under the ids the
// launch gave; a proctor presses "LMS controls" on the wall and pauses the
// attempt through the platform's Assessment Control Service (its token
// issued by the package to our signed assertion), sees the platform's
// answer, and the review page shows the pause in the candidate's timeline
// (who, when, why). In identity mode the page waits for the SDK's reference
// face (a portrait on the fake camera) before it opens the assessment, and
// the platform receives verified_user. A launch from a platform nobody
// registered gets a page, not an exam.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertAccessible } from './axe.js';
import { launch } from './chromium.js';
import { FACES, FAST_CONFIG, Ingest, completeSetup, jwt, overlayReasons, waitFor } from './stack.js';

const LMS = join(dirname(fileURLToPath(import.meta.url)), '..', 'lti', 'lms.py');

/** Starts the PyPI-built platform for `tool`; resolves once it listens. */
function startPlatform(tool) {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [LMS, '--tool', tool], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stderr.on('data', (d) => { log += d; });
    child.stdout.on('data', (d) => {
      log += d;
      const port = /listening (\d+)/.exec(log);
      if (port) resolve({ base: `http://127.0.0.1:${port[1]}`, child, log: () => log });
    });
    child.on('exit', (code) => reject(new Error(`lms.py exited ${code}: ${log}`)));
  });
}

describe('LTI proctoring with a platform built on lti1p3platform', { timeout: 5 * 60_000 }, () => {
  let stack;
  let platform;
  let browser;

  before(async () => {
    // All in one: the wall and the review page read what the pipeline wrote.
    stack = await Ingest.start({ lti: true, allInOne: true });
    platform = await startPlatform(stack.base);
    const registration = await (await fetch(`${platform.base}/registration`)).json();
    await stack.putConfig({ defaults: FAST_CONFIG, tests: {}, bypasses: {}, lti_platforms: [registration] });
    browser = await launch();
  });

  after(async () => {
    if (browser) await browser.close();
    if (platform) platform.child.kill();
    if (stack) await stack.close();
  });

  test('launch, checks, the assessment under the SDK, and the end of the attempt', async () => {
    const page = await browser.context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(String(error)));
    await page.goto(`${platform.base}/launch?message=start&user=learner-1`);
    // The platform's launch form landed on invigil's proctoring page.
    await page.waitForURL(`${stack.base}/lti/launch`, { timeout: 20_000 });
    assert.match(await page.textContent('h1'), /Proctoring for Final exam \(PyPI platform\)/);
    await assertAccessible(page, 'the LTI proctoring page, the SDK checks over it');
    await completeSetup(page);
    // Checks passed: the platform took invigil's LtiStartAssessment and opened the assessment in the frame.
    const frame = await waitFor('the assessment in its frame', async () => {
      const f = page.frames().find((fr) => fr.name() === 'invigil-assessment');
      // The frame navigates (the form's post) while it is probed: a probe
      // that lands mid-navigation just tries again.
      const started = f && await f.$('#assessment-started').catch(() => null);
      return started ? f : null;
    }, 30_000, 500);
    const state = await (await fetch(`${platform.base}/state`)).json();
    assert.deepEqual(state.problems, [], 'the platform found nothing wrong with the LtiStartAssessment');
    assert.equal(state.started.length, 1);
    assert.equal(await page.evaluate(() => window.invigil.status), 'running', 'the SDK keeps running under the assessment');
    assert.deepEqual(await overlayReasons(page), []);

    // Events arrive under the launch's ids: pypi:<sub>, pypi:<resource link>.
    await waitFor('events under the launch ids', () => stack.events().some((r) => r.key === 'pypi:final-exam/pypi:learner-1'), 30_000, 1_000);

    // The proctor pauses the attempt from the wall: "LMS controls" on the
    // candidate's tile finds the attempt's signed context (the invigil.lti
    // event the page recorded) and sends the control through the front door.
    const proctor = jwt({ sub: 'proctor-1', role: 'proctor', tests: ['pypi:final-exam'] });
    const wall = await browser.context.newPage();
    wall.on('pageerror', (error) => problems.push(`wall: ${error}`));
    await wall.goto(`${stack.base}/dashboard/proctor.html?test=${encodeURIComponent('pypi:final-exam')}#token=${encodeURIComponent(proctor)}`);
    const tile = '#tiles [data-candidate="pypi:learner-1"]';
    await wall.click(`${tile} button.lms`, { timeout: 30_000 });
    await waitFor('the attempt\'s controls on the wall', async () => {
      const state = await wall.getAttribute('.lms-controls', 'data-state');
      if (state === 'none') {
        // The invigil.lti event may not be in the store yet: ask again.
        await wall.click('.lms-controls button.close');
        await wall.click(`${tile} button.lms`);
        return false;
      }
      return state === 'ready';
    }, 30_000, 1_000);
    const offered = await wall.$$eval('.lms-form select[name="action"] option', (options) => options.map((o) => o.value));
    assert.deepEqual(offered, ['pause', 'resume', 'update', 'flag', 'terminate'], 'the wall offers what the platform listed');
    await wall.selectOption('.lms-form select[name="action"]', 'pause');
    await wall.fill('.lms-form input[name="reason_code"]', 'second_person');
    await wall.fill('.lms-form input[name="reason_msg"]', 'Two faces for 40 s');
    await wall.click('.lms-form button[type="submit"]');
    await wall.waitForSelector('.lms-form[data-state="done"]', { timeout: 30_000 });
    assert.equal(await wall.getAttribute('.lms-form', 'data-status'), 'paused');
    assert.match(await wall.textContent('.lms-form p[role="status"]'), /^Pause: the platform says paused\.$/);
    const controls = (await (await fetch(`${platform.base}/state`)).json()).controls;
    assert.equal(controls.length, 1);
    assert.deepEqual([controls[0].action, controls[0].user.sub, controls[0].attempt_number, controls[0].reason_code, controls[0].reason_msg],
      ['pause', 'learner-1', 1, 'second_person', 'Two faces for 40 s'], 'the platform took the control, token and all');
    // Terminating asks twice; the first press sends nothing.
    await wall.selectOption('.lms-form select[name="action"]', 'terminate');
    await wall.click('.lms-form button[type="submit"]');
    assert.equal(await wall.getAttribute('.lms-form', 'data-confirm'), 'terminate');
    assert.equal((await (await fetch(`${platform.base}/state`)).json()).controls.length, 1, 'one press of terminate sent nothing');
    await wall.selectOption('.lms-form select[name="action"]', 'pause');

    // The review page shows the pause in the candidate's timeline: who, when, why, what came of it.
    const review = await browser.context.newPage();
    review.on('pageerror', (error) => problems.push(`review: ${error}`));
    await review.goto(`${stack.base}/dashboard/review.html?test=${encodeURIComponent('pypi:final-exam')}&candidate=${encodeURIComponent('pypi:learner-1')}#token=${encodeURIComponent(proctor)}`);
    const row = '#staff-actions tr[data-action="lti.pause"][data-outcome="done"]';
    await waitFor('the pause in the review timeline', async () => {
      if (await review.$(row)) return true;
      await review.reload();
      await review.waitForSelector('#candidate-title', { timeout: 10_000 });
      return false;
    }, 30_000, 1_000);
    const recorded = await review.textContent(row);
    assert.match(recorded, /proctor-1 \(proctor\)/);
    assert.match(recorded, /Pause via .*platform answered paused; reason: second_person — Two faces for 40 s/);
    await wall.close();
    await review.close();

    // The candidate finishes: LtiEndAssessment lands in the frame and stops proctoring.
    await frame.click('#finish');
    await waitFor('the SDK stopped by LtiEndAssessment', () => page.evaluate(() => window.invigil.status === 'stopped'), 30_000, 500);
    const ended = page.frames().find((fr) => fr.name() === 'invigil-assessment');
    assert.match(await ended.textContent('h1'), /Proctoring has ended/);
    await assertAccessible(page, 'the LTI end page, in its frame', ended);
    const stopped = stack.events().filter((r) => r.key === 'pypi:final-exam/pypi:learner-1').map((r) => r.event);
    assert.ok(stopped.some((e) => e.type === 'session_ended'), 'the session ended on the record');
    assert.deepEqual(problems, []);
  });

  test('in identity mode the assessment opens once the reference face is taken, with verified_user', async () => {
    // A camera that shows one person, for the detector and the recogniser.
    const dir = mkdtempSync(join(tmpdir(), 'invigil-lti-face-'));
    const camera = join(dir, 'camera.y4m');
    execFileSync('ffmpeg', ['-y', '-loglevel', 'error', '-loop', '1', '-framerate', '5', '-t', '4',
      '-i', join(FACES, 'fixtures', 'person_a_2.jpg'),
      '-vf', 'scale=320:240:force_original_aspect_ratio=decrease,pad=320:240:(ow-iw)/2:(oh-ih)/2:color=0x5a5a5a,setsar=1,format=yuv420p',
      '-r', '5', camera]);
    const faceBrowser = await launch({ camera });
    try {
      const registration = await (await fetch(`${platform.base}/registration`)).json();
      await stack.putConfig({
        defaults: FAST_CONFIG, bypasses: {}, lti_platforms: [registration],
        tests: { 'pypi:final-exam': { face_check: { mode: 'identity', every_ms: 1000, identity_every_ms: 1000 }, lms: { identity_wait_ms: 90000 } } },
      });
      const before = (await (await fetch(`${platform.base}/state`)).json()).started.length;
      const page = await faceBrowser.context.newPage();
      await page.goto(`${platform.base}/launch?message=start&user=learner-3`);
      await page.waitForURL(`${stack.base}/lti/launch`, { timeout: 20_000 });
      await completeSetup(page);
      // The recogniser (10 MB) loads, the first suitable face becomes the
      // reference, and only then does the platform get LtiStartAssessment.
      const started = await waitFor('the assessment started after the reference face', async () => {
        const state = await (await fetch(`${platform.base}/state`)).json();
        return state.started.length > before ? state : null;
      }, 90_000, 1_000);
      assert.deepEqual(started.problems, [], 'the platform found nothing wrong');
      assert.deepEqual(started.started.at(-1).verified_user, { name: 'Ravi Menon' }, 'the launch\'s name, vouched for by the reference face');
      assert.equal(started.started.at(-1).end_assessment_return, true);
      // The reference face is on the record (its batch follows within a second or so).
      await waitFor('the reference face on the record', () => stack.events()
        .filter((r) => r.key === 'pypi:final-exam/pypi:learner-3').map((r) => r.event)
        .find((e) => e.type === 'face' && e.reference === true), 20_000, 500);
      await page.evaluate(() => window.invigil.stop());
    } finally {
      await faceBrowser.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a launch from a platform nobody registered gets a page saying so, and no exam', async () => {
    const stranger = await startPlatform(stack.base);
    try {
      const page = await browser.context.newPage();
      await page.goto(`${stranger.base}/launch?message=start&user=learner-2`);
      await page.waitForSelector('#lti-error', { timeout: 20_000 });
      assert.match(await page.textContent('#lti-error'), /no platform is registered/);
      await assertAccessible(page, 'the LTI refusal page');
      assert.equal(await page.evaluate(() => typeof window.invigil), 'undefined', 'no SDK was started');
    } finally {
      stranger.child.kill();
    }
  });
});
