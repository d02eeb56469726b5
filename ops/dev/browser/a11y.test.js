// Accessibility (issue 38): axe-core in headless Chromium on every page a
// person sees — the SDK's overlay as a candidate meets it (setup, then
// paused), the proctor, review and admin pages and the landing page — in
// the light and the dark colour scheme. WCAG 2.0/2.1/2.2 A and AA rules
// must find nothing. axe is evaluated through DevTools, so the pages'
// Content-Security-Policy stays as served.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from './chromium.js';
import { Ingest, completeSetup, hostPage, jwt, overlayReasons, waitFor } from './stack.js';

const AXE = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const EXAM = 'exam-a11y';
const SCHEMES = ['light', 'dark'];

/** axe's violations on the page as it is now, one line each. */
async function violations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE);
  const found = await page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')}: ${n.failureSummary.split('\n').slice(1, 2).join('')}`) }));
  }, TAGS);
  return found;
}

/** Checks the page in both colour schemes; `what` names it in failures.
 * Returns the page's background in each scheme. */
async function assertAccessible(page, what) {
  const backgrounds = {};
  for (const scheme of SCHEMES) {
    await page.emulateMedia({ colorScheme: scheme });
    backgrounds[scheme] = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    const found = await violations(page);
    assert.deepEqual(found, [], `${what} (${scheme}): ${JSON.stringify(found, null, 1)}`);
  }
  return backgrounds;
}

describe('accessibility (axe-core, WCAG 2.2 AA, light and dark)', { timeout: 5 * 60_000 }, () => {
  let stack;
  let browser;

  before(async () => {
    stack = await Ingest.start({ allInOne: true });
    browser = await launch();
    // A few candidates with events, so the wall and the review list have rows.
    await stack.loadgen(['--test-id', EXAM, '-n', '3', '--minutes', '1', '--speedup', '6', '--events-interval-ms', '1000', '--offline-fraction', '0', '--seed', '3']);
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  test('the SDK overlay, before the test and when it is paused', async () => {
    const host = await hostPage({ endpoint: stack.base, token: jwt({ sub: 'cand-a11y', test_id: EXAM }) });
    try {
      const page = await browser.context.newPage();
      await page.goto(host.url);
      await waitFor('the setup overlay', async () => (await overlayReasons(page)).includes('screen_permission'), 20_000);
      await assertAccessible(page, 'the setup overlay');
      await completeSetup(page);
      await assertAccessible(page, 'the exam page under proctoring');
      await page.evaluate(() => document.exitFullscreen());
      await waitFor('the paused overlay', async () => (await overlayReasons(page)).includes('fullscreen_exited'));
      await assertAccessible(page, 'the paused overlay');
      await page.close();
    } finally {
      host.close();
    }
  });

  const pages = [
    ['the landing page', '', () => jwt({ sub: 'r1', role: 'reviewer', tests: [EXAM] }), 'h1'],
    ['the proctor wall', `proctor.html?test=${EXAM}`, () => jwt({ sub: 'p1', role: 'proctor', tests: [EXAM] }), '[data-candidate]'],
    ['the review list', `review.html?test=${EXAM}`, () => jwt({ sub: 'r1', role: 'reviewer', tests: [EXAM] }), '[data-candidate]'],
    ['the admin page', 'admin.html', () => jwt({ sub: 'a1', role: 'admin', tests: [] }), '#settings [data-path]'],
  ];
  for (const [what, path, token, ready] of pages) {
    test(what, async () => {
      const page = await browser.context.newPage();
      await page.goto(`${stack.base}/dashboard/${path}#token=${encodeURIComponent(token())}`);
      await page.locator(ready).first().waitFor({ timeout: 30_000 });
      const { light, dark } = await assertAccessible(page, what);
      assert.notEqual(dark, light, `${what} follows prefers-color-scheme`);
      await page.close();
    });
  }

  test('a candidate\'s review timeline', async () => {
    const reviewer = jwt({ sub: 'r1', role: 'reviewer', tests: [EXAM] });
    const { body } = await stack.api(`/api/v1/dashboard/tests/${EXAM}/candidates`, reviewer);
    const candidate = body.candidates[0].candidate_id;
    const page = await browser.context.newPage();
    await page.goto(`${stack.base}/dashboard/review.html?test=${EXAM}&candidate=${candidate}#token=${encodeURIComponent(reviewer)}`);
    await page.locator('#verdict-form, form').first().waitFor({ timeout: 30_000 });
    await assertAccessible(page, 'the review timeline');
    await page.close();
  });
});
