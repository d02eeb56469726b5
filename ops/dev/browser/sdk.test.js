// The SDK in real headless Chromium (fake camera, microphone and screen)
// against a real `invigil ingest`, tansu and moto: SPEC §5's acceptance.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { Ingest, hostPage, jwt, waitFor, sleep } from './stack.js';

const CANDIDATE = { sub: 'cand-1', test_id: 'exam-sdk' };

/** Opens the host page and completes setup (screen share + fullscreen) by clicking the overlay. */
async function startExam(context, ingest, host, claims = CANDIDATE) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(host.url);
  return { page, errors };
}

async function overlayReasons(page) {
  return page.evaluate(() => {
    const host = document.querySelector('invigil-overlay');
    if (!host) return [];
    return [...host.shadowRoot.querySelectorAll('button[data-reason], li')].map((e) => e.dataset.reason).filter(Boolean);
  });
}

async function clickFix(page, reason) {
  await page.locator(`invigil-overlay button[data-reason="${reason}"]`).click();
}

async function completeSetup(page) {
  await waitFor('the setup overlay', async () => (await overlayReasons(page)).includes('screen_permission'), 20_000);
  await clickFix(page, 'screen_permission');
  await waitFor('screen granted', async () => !(await overlayReasons(page)).includes('screen_permission'), 10_000);
  await clickFix(page, 'fullscreen_exited');
  await waitFor('overlay removed', async () => (await overlayReasons(page)).length === 0 &&
    page.evaluate(() => !document.querySelector('invigil-overlay')), 10_000);
}

test('happy path: captures reach S3 under the candidate prefix, events reach Kafka', { timeout: 120_000 }, async () => {
  const ingest = await Ingest.start();
  const host = await hostPage({ endpoint: ingest.base, token: jwt(CANDIDATE) });
  const browser = await launch();
  try {
    const { page, errors } = await startExam(browser.context, ingest, host);
    await completeSetup(page);
    await page.locator('#answer').type('hello world');
    await sleep(13_000);
    const objects = await ingest.objects();
    const prefix = `${new Date().toISOString().slice(0, 10)}/${CANDIDATE.test_id}/${CANDIDATE.sub}/`;
    assert.ok(objects.every(([key]) => key.startsWith(prefix)), JSON.stringify(objects));
    const of = (re) => objects.filter(([key]) => re.test(key.slice(prefix.length)));
    assert.equal(of(/^camera\/base_truth_\d+\.jpg$/).length, 1, JSON.stringify(objects));
    assert.ok(of(/^camera\/\d+_[0-9a-f-]{36}\.jpg$/).length >= 1, JSON.stringify(objects));
    assert.ok(of(/^screen\/\d+_[0-9a-f-]{36}\.jpg$/).length >= 2, JSON.stringify(objects));
    assert.ok(of(/^audio\/audio_\d+\/chunk_\d{5}\.webm$/).length >= 1, JSON.stringify(objects));
    for (const [key, size] of objects) {
      const limits = key.includes('/audio/') ? [500, 40_000] : [1_000, 60_000];
      assert.ok(size >= limits[0] && size <= limits[1], `${key}: ${size} bytes`);
    }
    const events = ingest.events();
    assert.ok(events.length > 10, `${events.length} events`);
    assert.ok(events.every((e) => e.key === `${CANDIDATE.test_id}/${CANDIDATE.sub}`));
    const types = new Set(events.map((e) => e.event.type));
    for (const type of ['session_started', 'permission', 'fullscreen', 'key_activity', 'capture']) {
      assert.ok(types.has(type), `no ${type} event among ${[...types]}`);
    }
    const uploaded = events.filter((e) => e.event.type === 'capture' && e.event.status === 'uploaded');
    const keys = new Set(objects.map(([key]) => key));
    assert.ok(uploaded.length >= 4, `${uploaded.length} capture events`);
    for (const e of uploaded) assert.ok(keys.has(e.event.key), `capture event for a missing object ${e.event.key}`);
    const typed = events.filter((e) => e.event.type === 'key_activity').reduce((n, e) => n + e.event.keys, 0);
    assert.equal(typed, 'hello world'.length, 'every key press counted, none recorded');
    assert.ok(!JSON.stringify(events).includes('hello'), 'key content never leaves the page');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    host.close();
    await ingest.close();
  }
});
