// LTI 1.3 Proctoring Services end to end (issue 36) in headless Chromium,
// with an independent platform: `ops/dev/lti/lms.py`, built on the PyPI
// package lti1p3platform. The candidate starts from the platform's launch,
// passes the SDK's checks on invigil's proctoring page, lands in the
// platform's assessment (in a frame under the SDK) after the platform has
// checked invigil's LtiStartAssessment, and finishes: the platform's
// LtiEndAssessment stops proctoring. Events reach ingest under the ids the
// launch gave, a proctor's pause reaches the platform's Assessment Control
// Service (its token issued by the package to our signed assertion); a
// launch from a platform nobody registered gets a page, not an exam.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from './chromium.js';
import { FAST_CONFIG, Ingest, completeSetup, jwt, overlayReasons, waitFor } from './stack.js';

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
    stack = await Ingest.start({ lti: true, allInOne: false });
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

    // The proctor pauses the attempt through the platform's Assessment Control
    // Service, naming it by the signed context the page recorded (invigil.lti).
    const lti = await waitFor('the attempt\'s ACS context in the timeline', () => stack.events()
      .filter((r) => r.key === 'pypi:final-exam/pypi:learner-1').map((r) => r.event)
      .find((e) => e.type === 'custom' && e.name === 'invigil.lti'), 30_000, 1_000);
    const proctor = jwt({ sub: 'proctor-1', role: 'proctor', tests: ['pypi:final-exam'] });
    const paused = await stack.api('/api/v1/lti/control', proctor, {
      method: 'POST', body: { context: lti.data.acs, action: 'pause', reason_code: 'second_person', reason_msg: 'Two faces for 40 s' },
    });
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    assert.equal(paused.body.status, 'paused');
    const controls = (await (await fetch(`${platform.base}/state`)).json()).controls;
    assert.equal(controls.length, 1);
    assert.deepEqual([controls[0].action, controls[0].user.sub, controls[0].attempt_number, controls[0].reason_code],
      ['pause', 'learner-1', 1, 'second_person'], 'the platform took the control, token and all');

    // The candidate finishes: LtiEndAssessment lands in the frame and stops proctoring.
    await frame.click('#finish');
    await waitFor('the SDK stopped by LtiEndAssessment', () => page.evaluate(() => window.invigil.status === 'stopped'), 30_000, 500);
    const ended = page.frames().find((fr) => fr.name() === 'invigil-assessment');
    assert.match(await ended.textContent('h1'), /Proctoring has ended/);
    const stopped = stack.events().filter((r) => r.key === 'pypi:final-exam/pypi:learner-1').map((r) => r.event);
    assert.ok(stopped.some((e) => e.type === 'session_ended'), 'the session ended on the record');
    assert.deepEqual(problems, []);
  });

  test('a launch from a platform nobody registered gets a page saying so, and no exam', async () => {
    const stranger = await startPlatform(stack.base);
    try {
      const page = await browser.context.newPage();
      await page.goto(`${stranger.base}/launch?message=start&user=learner-2`);
      await page.waitForSelector('#lti-error', { timeout: 20_000 });
      assert.match(await page.textContent('#lti-error'), /no platform is registered/);
      assert.equal(await page.evaluate(() => typeof window.invigil), 'undefined', 'no SDK was started');
    } finally {
      stranger.child.kill();
    }
  });
});
