// Environment signals end to end, in real headless Chromium against
// `invigil up` (ingest, broker, pipeline, store, dashboards): the
// renderer's own words (this Chromium draws WebGL with SwiftShader), a
// screen share's surface and size, a display change, a second tab of the
// same exam, pastes of known lengths into an answer and elsewhere, and
// typing far above the candidate's own pace. Only counts, sizes and names
// leave the page, never what was pasted or typed; the proctor's wall shows
// the screens and the second tab as they happen, and the review page shows
// the hint with the browser's own words and who else it fits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './chromium.js';
import { Ingest, hostPage, jwt, waitFor, sleep, completeSetup, overlayReasons, clickFix, FAST_CONFIG } from './stack.js';
import { assertAccessible } from './axe.js';

const CANDIDATE = { sub: 'cand-env', test_id: 'exam-env' };
const SECRET_TEXT = 'PASTED-SECRET-';

/** The events of `type` in the topic (of one session, if named), oldest first. */
const ofType = (ingest, type, session) => ingest.events()
  .filter((e) => e.event.type === type && (!session || e.session_id === session))
  .map((e) => e.event)
  .sort((a, b) => a.seq - b.seq);

/** Pastes `text` into the element `selector` as the browser would (a real ClipboardEvent with its data). */
function paste(page, selector, text) {
  return page.evaluate(([selector, text]) => {
    const target = document.querySelector(selector);
    target.focus();
    const data = new DataTransfer();
    data.setData('text/plain', text);
    target.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  }, [selector, text]);
}

test('environment evidence, displays, other tabs, pastes and bursts reach the server as counts', { timeout: 150_000 }, async () => {
  const ingest = await Ingest.start({ allInOne: true });
  const token = jwt(CANDIDATE);
  const host = await hostPage({
    endpoint: ingest.base,
    token,
    extra: '<div data-invigil-answer><label for="essay">Essay</label><textarea id="essay"></textarea></div><label for="search">Search</label><input id="search">',
  });
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(host.url);
    await completeSetup(page);

    // The evidence, verbatim, once the share is on.
    await waitFor('an environment event with the share', async () =>
      ofType(ingest, 'environment').some((e) => e.share_surface), 30_000, 1000);
    // This tab's session: the second tab below has its own.
    const session = ingest.events().find((e) => e.event.type === 'environment').session_id;
    const environments = ofType(ingest, 'environment', session);
    const first = environments[0];
    assert.match(first.renderer, /SwiftShader/, JSON.stringify(first));
    assert.ok(first.vendor.length > 0, JSON.stringify(first));
    assert.equal(first.cores, await page.evaluate(() => navigator.hardwareConcurrency));
    const shared = environments.find((e) => e.share_surface);
    assert.equal(shared.share_surface, 'monitor', JSON.stringify(shared));
    assert.ok(shared.share_w > 0 && shared.share_h > 0, JSON.stringify(shared));
    const [screenW, screenH] = await page.evaluate(() => [screen.width, screen.height]);
    assert.deepEqual([shared.screen_w, shared.screen_h], [screenW, screenH]);
    assert.equal(first.share_surface, null, 'the first report comes before the share');

    // The proctor's wall, beside the exam (opened after the setup: only the
    // page in front may go fullscreen).
    const wall = await browser.context.newPage();
    await wall.goto(`${ingest.base}/dashboard/proctor.html?test=${CANDIDATE.test_id}#token=${encodeURIComponent(jwt({ sub: 'p1', role: 'proctor', tests: [CANDIDATE.test_id] }))}`);
    const counter = (name) => wall.evaluate(([id, name]) => {
      const tile = document.querySelector(`#tiles [data-candidate="${id}"]`);
      return tile ? tile.querySelector(`[data-counter="${name}"]`)?.textContent : null;
    }, [CANDIDATE.sub, name]);
    await waitFor('the candidate on the wall with one screen', async () => (await counter('screens')) === '1', 30_000, 500);

    // Displays: one, not extended, at start; headless has no second screen
    // to plug in, so the page's own `screen` says it has one and fires its
    // change event, as Chromium does when a screen is added.
    const displays = () => ofType(ingest, 'display', session);
    await waitFor('the display at start', async () => displays().length >= 1, 20_000, 1000);
    assert.deepEqual(displays().map(({ count, extended }) => [count, extended]), [[1, false]]);
    await page.evaluate(() => {
      Object.defineProperty(Screen.prototype, 'isExtended', { configurable: true, get: () => true });
      screen.dispatchEvent(new Event('change'));
    });
    await waitFor('a second screen reported', async () => displays().length >= 2, 20_000, 1000);
    const added = displays()[1];
    assert.deepEqual([added.count, added.extended], [2, true], JSON.stringify(added));
    await waitFor('two screens on the wall', async () => (await counter('screens')) === '2', 20_000, 500);
    assert.equal(await counter('hints'), '1', 'SwiftShader: one hint on the wall (unweighted, so not in the score)');
    assert.ok(['unsupported', 'prompt', 'denied', 'granted'].includes(added.permission));

    // Pastes: into the host's marked answer, into a search box; only lengths.
    await paste(page, '#essay', SECRET_TEXT.repeat(100));
    await paste(page, '#search', 'abc');
    // Typing far above this candidate's pace: 60 keys at once.
    await page.locator('#answer').click();
    await page.keyboard.type('a'.repeat(60));

    // A second tab of the same exam: each sees the other at once.
    const second = await browser.context.newPage();
    await second.goto(host.url);
    const tabs = () => ofType(ingest, 'other_tabs', session).map((e) => e.tabs);
    await waitFor('the first tab reports the second', async () => tabs().includes(1), 30_000, 1000);
    const seenTabs = [];
    await waitFor('the second tab on the wall', async () => {
      const value = await counter('other_tabs');
      seenTabs.push(`${value}/${await counter('screens')}`);
      return value === '1';
    }, 20_000, 500).catch(async (error) => {
      const snapshot = await ingest.api(`/api/v1/dashboard/tests/${CANDIDATE.test_id}/wall`, jwt({ sub: 'p1', role: 'proctor', tests: [CANDIDATE.test_id] }));
      throw new Error(`${error.message}: the wall said ${seenTabs.join(' ')}; the topic ${JSON.stringify(tabs())}; ${JSON.stringify(snapshot.body).slice(0, 1500)}`);
    });
    await second.close();
    await waitFor('the second tab gone', async () => tabs().at(-1) === 0, 30_000, 1000);
    assert.deepEqual(tabs(), [1, 0]);
    const otherSession = ingest.events().find((e) => e.event.type === 'other_tabs' && e.session_id !== session);
    assert.equal(otherSession?.event.tabs, 1, 'the second tab saw the first');
    // The second tab shares this tab's IndexedDB but left its live session
    // alone (Web Locks): no end put on it, no event numbered twice.
    assert.deepEqual(ofType(ingest, 'session_ended', session), [], 'the second tab did not end the first one\'s session');
    // (A retried batch repeats its events, ids and all: one id per seq.)
    const ids = new Map();
    for (const e of ingest.events().filter((e) => e.session_id === session)) ids.set(e.event.seq, new Set([...(ids.get(e.event.seq) || []), e.event.id]));
    assert.deepEqual([...ids].filter(([, set]) => set.size > 1), [], 'no seq of the first tab numbers two events');

    await sleep(2_000);
    const pastes = ofType(ingest, 'clipboard', session).filter((e) => e.action === 'paste');
    assert.deepEqual(pastes.map((e) => [e.chars, e.target]), [[SECRET_TEXT.length * 100, 'answer'], [3, 'text']]);
    const keys = ofType(ingest, 'key_activity', session);
    const bursts = keys.reduce((n, e) => n + e.burst_s, 0);
    const peak = Math.max(...keys.map((e) => e.peak_per_s));
    assert.ok(bursts >= 1 && peak > 15, `burst seconds ${bursts}, peak ${peak}: ${JSON.stringify(keys.filter((e) => e.keys))}`);
    const typed = keys.reduce((n, e) => n + e.keys, 0);
    assert.ok(typed >= 60, `${typed} keys counted`);
    assert.ok(!JSON.stringify(ingest.events()).includes(SECRET_TEXT), 'pasted text never leaves the page');
    let pasted = null;
    await waitFor('the wall counts the pastes', async () => {
      pasted = await counter('paste_chars');
      return Number(pasted) === SECRET_TEXT.length * 100 + 3;
    }, 20_000, 500).catch(async (error) => {
      // Which session the tile shows, and what each session sent.
      const tile = await wall.evaluate((id) => document.querySelector(`#tiles [data-candidate="${id}"]`)?.textContent, CANDIDATE.sub);
      const sent = ingest.events().filter((e) => ['clipboard', 'session_started', 'session_ended'].includes(e.event.type))
        .map((e) => `${e.session_id.slice(-6)} ${e.event.type} ${e.event.chars ?? ''}`);
      throw new Error(`${error.message}: the wall says ${pasted}; tile ${tile}; ${sent.join('; ')}`);
    });

    // The review: the hint the renderer supports, with the browser's own
    // words and who else it fits; weight 0 by default, so not scored.
    const reviewer = jwt({ sub: 'r1', role: 'reviewer', tests: [CANDIDATE.test_id] });
    const timeline = await ingest.api(`/api/v1/dashboard/tests/${CANDIDATE.test_id}/candidates/${CANDIDATE.sub}/timeline`, reviewer);
    assert.equal(timeline.status, 200);
    const found = timeline.body.environment.flatMap((r) => r.hints).find((h) => h.hint === 'software_renderer');
    assert.ok(found, JSON.stringify(timeline.body.environment));
    assert.equal(found.evidence.renderer, first.renderer, 'the evidence verbatim');
    assert.equal(found.weight, 0);
    assert.match(found.false_positives, /Linux/);
    const review = await browser.context.newPage();
    await review.goto(`${ingest.base}/dashboard/review.html?test=${CANDIDATE.test_id}&candidate=${CANDIDATE.sub}#token=${encodeURIComponent(reviewer)}`);
    const hint = review.locator('#environment [data-hint="software_renderer"]').first();
    await hint.waitFor({ timeout: 20_000 });
    const words = await hint.textContent();
    assert.ok(words.includes(first.renderer) && words.includes('not scored') && words.includes('Also fits'), words);
    // Both tabs' sessions came from this machine: the same network and
    // address, named, never shown.
    const places = await review.$$eval('#sessions td[data-network]', (cells) => cells.map((c) => c.textContent));
    assert.deepEqual(places, ['network A', 'network A'], JSON.stringify(places));
    await assertAccessible(review, 'review page with environment hints');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    host.close();
    await ingest.close();
  }
});

test('a test that blocks on a second screen waits until it is gone; the candidate checks again with the button', { timeout: 120_000 }, async () => {
  const ingest = await Ingest.start({ config: { ...FAST_CONFIG, blocking: { on_second_screen: true } } });
  const host = await hostPage({ endpoint: ingest.base, token: jwt({ sub: 'cand-screens', test_id: 'exam-screens' }) });
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(host.url);
    await completeSetup(page);
    const extended = (on) => page.evaluate((on) => {
      Object.defineProperty(Screen.prototype, 'isExtended', { configurable: true, get: () => on });
      screen.dispatchEvent(new Event('change'));
    }, on);
    await extended(true);
    await waitFor('the second-screen overlay', async () => (await overlayReasons(page)).includes('second_screen'), 20_000);
    await assertAccessible(page, 'the second-screen overlay');
    // "Check again" with the screen still there: still blocked.
    await clickFix(page, 'second_screen');
    await sleep(1_000);
    assert.deepEqual(await overlayReasons(page), ['second_screen']);
    // Unplugged (headless cannot: the page's screen says so), then checked.
    await page.evaluate(() => Object.defineProperty(Screen.prototype, 'isExtended', { configurable: true, get: () => false }));
    await clickFix(page, 'second_screen');
    await waitFor('the overlay gone', () => page.evaluate(() => !document.querySelector('invigil-overlay')), 10_000);
    await waitFor('the block on the timeline', async () =>
      ofType(ingest, 'unblocked').some((e) => e.reason === 'second_screen'), 20_000, 1000);
    assert.ok(ofType(ingest, 'blocked').some((e) => e.reason === 'second_screen'));
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    host.close();
    await ingest.close();
  }
});
