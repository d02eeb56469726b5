// Accessibility (issue 38): axe-core in headless Chromium on every page a
// person sees — the SDK's overlay as a candidate meets it (setup, then
// paused), the proctor, review and admin pages and the landing page — in
// the light and the dark colour scheme. WCAG 2.0/2.1/2.2 A and AA rules
// must find nothing. axe is evaluated through DevTools, so the pages'
// Content-Security-Policy stays as served.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible } from './axe.js';
import { launch } from './chromium.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ingest, ROOT, catalogue, completeSetup, hostPage, jwt, overlayReasons, waitFor } from './stack.js';

const EXAM = 'exam-a11y';

/**
 * The overlay as a reader meets it: its language and direction, each
 * line's text, the steps (to do: title, help, button; done: the line),
 * the status line, and where the title's text sits in the dialog.
 */
async function readOverlay(page) {
  return page.evaluate(() => {
    const root = document.querySelector('invigil-overlay')?.shadowRoot;
    if (!root) return null;
    const backdrop = root.querySelector('.backdrop');
    const dialog = root.querySelector('[role=alertdialog]');
    const [title, intro, list, summary, help, status] = dialog.children;
    const range = document.createRange();
    range.selectNodeContents(title);
    const text = range.getBoundingClientRect();
    const box = title.getBoundingClientRect();
    return {
      lang: backdrop.lang,
      dir: backdrop.dir,
      direction: getComputedStyle(dialog).direction,
      background: getComputedStyle(dialog).backgroundColor,
      title: title.textContent,
      intro: intro.textContent,
      summary: summary.textContent,
      help: help.textContent,
      status: status.getAttribute('role') === 'status' ? status.textContent : '(no status role)',
      todo: [...list.querySelectorAll('li:not(.done)')].map((li) => ({
        title: li.querySelector('h3').textContent,
        help: li.querySelector('p').textContent,
        button: li.querySelector('button')?.textContent,
        reason: li.querySelector('button')?.dataset.reason,
      })),
      done: [...list.querySelectorAll('li.done')].map((li) => li.textContent),
      focused: root.activeElement?.dataset.reason,
      all: dialog.textContent,
      // The title's text against its own box: flush with the start side.
      gapLeft: Math.round(text.left - box.left),
      gapRight: Math.round(box.right - text.right),
    };
  });
}

/** What the setup overlay must say in `lang`, each line from its catalogue. */
function assertSetupOverlay(shown, lang, what) {
  const words = catalogue(lang);
  const fill = (key, vars) => words[key].replace(/\{(\w+)\}/g, (_, name) => vars[name]);
  assert.equal(shown.title, words['setup.title'], `${what}: title`);
  assert.equal(shown.intro, words['setup.intro'], `${what}: intro`);
  assert.equal(shown.help, words.help, `${what}: help`);
  const steps = shown.todo.length + shown.done.length;
  assert.equal(shown.summary, fill('progress', { done: shown.done.length, total: steps }), `${what}: progress`);
  for (const step of shown.todo) {
    assert.deepEqual([step.title, step.help, step.button], [words[`${step.reason}.title`], words[`${step.reason}.help`], words[`${step.reason}.action`]], `${what}: ${step.reason}`);
  }
  const names = ['camera_permission', 'microphone_permission', 'screen_permission', 'fullscreen_exited'].map((r) => `✓ ${fill('announce.done', { step: words[`${r}.name`] })}`);
  for (const line of shown.done) assert.ok(names.includes(line), `${what}: done line ${line} is one of ${names}`);
  assert.doesNotMatch(shown.all, /\b[a-z_]+\.(title|help|action|name|intro)\b/, `${what}: a message key shown as text`);
}

/**
 * Walks the page with Tab alone: every control a keyboard user must reach
 * (links, buttons, fields, summaries, focusable regions, and anything with
 * a control's role — a `div role=button` nobody can focus is caught here,
 * where axe misses it; shown, not inert,
 * not disabled, not inside a closed <details>) must get focus, each with a visible focus
 * indicator, and Tab must not get stuck on one. Returns what was missed.
 */
async function keyboardWalk(page) {
  const count = await page.evaluate(() => {
    const controls = [...document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"]), [role="button"], [role="link"], [role="checkbox"], [role="tab"]')]
      .filter((e) => !e.disabled && e.getClientRects().length && !e.closest('[inert]') && getComputedStyle(e).visibility !== 'hidden')
      // A closed <details> shows only its summary.
      .filter((e) => { const closed = e.closest('details:not([open])'); return !closed || (e.tagName === 'SUMMARY' && e.parentElement === closed); });
    // A radio group is one stop: Tab enters it, the arrow keys move within.
    controls.forEach((e, i) => { e.dataset.walk = e.type === 'radio' && e.name ? `radio:${e.name}` : String(i); });
    return new Set(controls.map((e) => e.dataset.walk)).size;
  });
  await page.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
  const reached = new Set();
  const unmarked = [];
  let stuck = 0;
  let last = null;
  for (let i = 0; i < count + 5 && reached.size < count; i++) {
    await page.keyboard.press('Tab');
    const at = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || !e.dataset || e.dataset.walk === undefined) return null;
      const style = getComputedStyle(e);
      const marked = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none';
      return { walk: e.dataset.walk, marked, name: e.id || e.getAttribute('aria-label') || e.textContent.trim().slice(0, 30) || e.tagName };
    });
    if (!at) continue;
    if (at.walk === last) stuck++;
    last = at.walk;
    reached.add(at.walk);
    if (!at.marked && !unmarked.includes(at.name)) unmarked.push(at.name);
  }
  const missed = await page.evaluate((seen) => [...new Set([...document.querySelectorAll('[data-walk]')]
    .filter((e) => !seen.includes(e.dataset.walk)).map((e) => e.id || e.getAttribute('aria-label') || e.textContent.trim().slice(0, 30) || e.dataset.walk))], [...reached]);
  return { count, missed, unmarked, stuck };
}

/** A dashboard page: axe in both schemes, the scheme followed, and Tab alone reaching everything. */
async function assertDashboardPage(page, what) {
  const { light, dark } = await assertAccessible(page, what);
  assert.notEqual(dark, light, `${what} follows prefers-color-scheme`);
  await page.emulateMedia({ colorScheme: 'light' });
  const walk = await keyboardWalk(page);
  assert.ok(walk.count > 0, `${what}: nothing to reach`);
  assert.deepEqual({ missed: walk.missed, unmarked: walk.unmarked, stuck: walk.stuck }, { missed: [], unmarked: [], stuck: 0 },
    `${what}: with Tab alone, of ${walk.count} controls`);
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
      // A checklist of the test's four checks, the first to do focused.
      await waitFor('camera and microphone done', async () => (await readOverlay(page)).done.length === 2);
      let shown = await readOverlay(page);
      assertSetupOverlay(shown, 'en', 'the setup overlay');
      assert.deepEqual([shown.summary, shown.focused], ['Steps done: 2 of 4.', 'screen_permission']);
      // Tab and Shift+Tab go round the dialog's buttons and never leave it.
      const focusAfter = async (key) => {
        await page.keyboard.press(key);
        return (await readOverlay(page)).focused;
      };
      assert.deepEqual([await focusAfter('Tab'), await focusAfter('Tab'), await focusAfter('Shift+Tab')],
        ['fullscreen_exited', 'screen_permission', 'fullscreen_exited']);
      await focusAfter('Shift+Tab');
      // A step done is announced by the live status line, and focus moves on.
      await page.locator('invigil-overlay button[data-reason="screen_permission"]').click();
      await waitFor('the share done', async () => (await readOverlay(page)).done.length === 3);
      shown = await readOverlay(page);
      assert.deepEqual([shown.status, shown.summary, shown.focused], ['screen sharing: done.', 'Steps done: 3 of 4.', 'fullscreen_exited']);
      await page.locator('invigil-overlay button[data-reason="fullscreen_exited"]').click();
      await waitFor('overlay removed', () => page.evaluate(() => !document.querySelector('invigil-overlay')), 10_000);
      await assertAccessible(page, 'the exam page under proctoring');
      await page.evaluate(() => document.exitFullscreen());
      await waitFor('the paused overlay', async () => (await overlayReasons(page)).includes('fullscreen_exited'));
      await page.emulateMedia({ colorScheme: 'light' });
      const light = await readOverlay(page);
      assert.deepEqual([light.title, light.summary], ['Your test is paused', 'This test needs: camera, microphone, screen sharing, and full screen.']);
      await assertAccessible(page, 'the paused overlay');
      // The dialog follows the colour scheme (axe checked the contrast of both).
      await page.emulateMedia({ colorScheme: 'dark' });
      assert.notEqual((await readOverlay(page)).background, light.background, 'the overlay has a dark scheme');
      await page.close();
    } finally {
      host.close();
    }
  });

  test('offline: a note that blocks nothing, read out, and gone when the connection is back', async () => {
    const host = await hostPage({ endpoint: stack.base, token: jwt({ sub: 'cand-offline', test_id: EXAM }) });
    try {
      const page = await browser.context.newPage();
      await page.goto(host.url);
      await completeSetup(page);
      const note = () => page.evaluate(() => {
        const line = document.querySelector('invigil-offline')?.shadowRoot.querySelector('[role=status]');
        return line ? line.textContent : null;
      });
      await browser.context.setOffline(true);
      try {
        await waitFor('the offline note', async () => (await note()) === catalogue('en').offline, 10_000);
        assert.equal(await page.evaluate(() => !!document.querySelector('invigil-overlay') || document.body.inert), false, 'nothing blocks');
        await assertAccessible(page, 'the offline note');
      } finally {
        await browser.context.setOffline(false);
      }
      await waitFor('the note gone', async () => (await note()) === null, 10_000);
      await page.close();
    } finally {
      host.close();
    }
  });

  // Each shipped language, picked as a host would pick it: the page's
  // <html lang> (a region subtag included) or the tag's data-locale.
  const languages = [
    ['en', { lang: 'en' }],
    ['hi', { lang: 'hi-IN' }],
    ['es', { lang: 'en', attributes: { 'data-locale': 'es-MX' } }],
    ['fr', { lang: 'fr' }],
    ['ar', { lang: 'ar' }],
  ];
  for (const [lang, page] of languages) {
    test(`the setup overlay in ${lang}: every line from its catalogue, laid out in its direction, axe-clean`, async () => {
      const host = await hostPage({ endpoint: stack.base, token: jwt({ sub: `cand-${lang}`, test_id: EXAM }), ...page });
      try {
        const tab = await browser.context.newPage();
        await tab.goto(host.url);
        await waitFor('the setup overlay', async () => (await overlayReasons(tab)).includes('screen_permission'), 20_000);
        const shown = await readOverlay(tab);
        assertSetupOverlay(shown, lang, lang);
        const rtl = lang === 'ar';
        assert.deepEqual([shown.lang, shown.dir, shown.direction], [lang, rtl ? 'rtl' : 'ltr', rtl ? 'rtl' : 'ltr']);
        // The title's text starts at its box's start side: right in Arabic.
        const [start, end] = rtl ? [shown.gapRight, shown.gapLeft] : [shown.gapLeft, shown.gapRight];
        assert.ok(start <= 1 && end > 20, `${lang}: title text ${start}px from its start side, ${end}px from its end`);
        await assertAccessible(tab, `the setup overlay in ${lang}`);
        await tab.close();
      } finally {
        host.close();
      }
    });
  }

  test("a host's own words win, and a catalogue that cannot be had leaves English", async () => {
    const help = 'Llame a la oficina del examen: 555-0100 <b>no markup</b>';
    const own = await hostPage({
      endpoint: stack.base,
      token: jwt({ sub: 'cand-own-words', test_id: EXAM }),
      attributes: { 'data-locale': 'es', 'data-messages': JSON.stringify({ help }) },
    });
    const lost = await hostPage({
      endpoint: stack.base,
      token: jwt({ sub: 'cand-no-catalogue', test_id: EXAM }),
      lang: 'fr',
      attributes: { 'data-messages-url': '/nowhere/' },
    });
    try {
      const tab = await browser.context.newPage();
      await tab.goto(own.url);
      await waitFor('the setup overlay', async () => (await overlayReasons(tab)).includes('screen_permission'), 20_000);
      let shown = await readOverlay(tab);
      assert.deepEqual([shown.lang, shown.title, shown.help], ['es', catalogue('es')['setup.title'], help], 'the text is text, not markup');
      const asked = [];
      tab.on('request', (request) => asked.push(new URL(request.url()).pathname));
      await tab.goto(lost.url);
      await waitFor('the setup overlay', async () => (await overlayReasons(tab)).includes('screen_permission'), 20_000);
      assert.ok(asked.includes('/nowhere/invigil-messages-fr.json'), `the catalogue was asked for where the tag said: ${asked}`);
      shown = await readOverlay(tab);
      assert.deepEqual([shown.lang, shown.dir, shown.title], ['en', 'ltr', catalogue('en')['setup.title']], 'a French page without its catalogue reads English');
      await tab.close();
    } finally {
      own.close();
      lost.close();
    }
  });

  test('an accommodated candidate: the waived check is not in the checklist, and nothing asks for it', async () => {
    const admin = jwt({ sub: 'a1', role: 'admin', tests: [] });
    const { body } = await stack.api('/api/v1/admin/config', admin);
    const document = body.document;
    document.accommodations = { [EXAM]: { 'cand-magnifier': { waive: ['fullscreen'], reason: 'screen magnifier' } } };
    await stack.putConfig(document);
    const host = await hostPage({ endpoint: stack.base, token: jwt({ sub: 'cand-magnifier', test_id: EXAM }) });
    try {
      const page = await browser.context.newPage();
      await page.goto(host.url);
      await waitFor('camera and microphone done', async () => (await readOverlay(page))?.done.length === 2, 20_000);
      const shown = await readOverlay(page);
      assert.deepEqual([shown.summary, shown.todo.map((s) => s.reason)], ['Steps done: 2 of 3.', ['screen_permission']]);
      await page.locator('invigil-overlay button[data-reason="screen_permission"]').click();
      // Sharing was the last step: running, never in full screen.
      await waitFor('overlay removed', () => page.evaluate(() => !document.querySelector('invigil-overlay')), 10_000);
      assert.equal(await page.evaluate(() => document.fullscreenElement), null);
      await waitFor('running', () => page.evaluate(() => window.notices.some((n) => n.name === 'status' && n.state === 'running')), 10_000);
      await page.close();
      // The reviewer is told what was waived, on the candidate's timeline.
      const review = await browser.context.newPage();
      await review.goto(`${stack.base}/dashboard/review.html?test=${EXAM}&candidate=cand-magnifier#token=${encodeURIComponent(admin)}`);
      await review.locator('#accommodation').waitFor({ timeout: 30_000 });
      assert.equal(await review.locator('#accommodation').textContent(),
        'Accommodation: leaving full screen does not block — screen magnifier. Do not flag what it allows.');
      await assertAccessible(review, 'the review timeline with an accommodation');
      await review.close();
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
      await assertDashboardPage(page, what);
      if (what === 'the proctor wall') {
        // Every counter value is named by what it counts and its value, in
        // Chromium's own accessibility tree (what a screen reader is given).
        const values = await page.locator('#tiles [data-counter]').count();
        assert.ok(values > 0);
        const cdp = await page.context().newCDPSession(page);
        const { nodes } = await cdp.send('Accessibility.getFullAXTree');
        const names = nodes.filter((n) => n.role?.value === 'definition').map((n) => n.name?.value || '');
        // The labels are the dashboards' words for every counter.
        const words = JSON.parse(readFileSync(join(ROOT, 'dashboards', 'web', 'words-en.json'), 'utf8'));
        const labels = Object.entries(words).filter(([key]) => key.startsWith('counter.')).map(([, label]) => label);
        const label = new RegExp(`^(${labels.join('|')}) \\S+`);
        assert.equal(names.filter((name) => label.test(name)).length, values, `counter names: ${names.slice(0, 12).join(' | ')}`);
      }
      await page.close();
    });
  }

  test('the keyboard walk catches what axe misses: a div role=button nobody can focus, a focus with no mark', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${stack.base}/dashboard/#token=${encodeURIComponent(jwt({ sub: 'r1', role: 'reviewer', tests: [EXAM] }))}`);
    await page.locator('h1').first().waitFor();
    await page.evaluate(() => {
      const fake = Object.assign(document.createElement('div'), { textContent: 'Fake control' });
      fake.setAttribute('role', 'button');
      const bare = Object.assign(document.createElement('button'), { id: 'bare', textContent: 'Bare' });
      bare.style.outline = 'none';
      document.querySelector('main').append(fake, bare);
    });
    const walk = await keyboardWalk(page);
    assert.deepEqual([walk.missed, walk.unmarked], [['Fake control'], ['bare']]);
    await page.close();
  });

  test('a candidate\'s review timeline, as an admin (verdict, export and erasure forms)', async () => {
    const admin = jwt({ sub: 'a1', role: 'admin', tests: [] });
    const { body } = await stack.api(`/api/v1/dashboard/tests/${EXAM}/candidates`, admin);
    const candidate = body.candidates[0].candidate_id;
    const page = await browser.context.newPage();
    await page.goto(`${stack.base}/dashboard/review.html?test=${EXAM}&candidate=${candidate}#token=${encodeURIComponent(admin)}`);
    await page.locator('#erase-form').waitFor({ timeout: 30_000 });
    await assertDashboardPage(page, 'the review timeline');
    await page.close();
  });
});
