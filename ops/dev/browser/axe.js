// axe-core in headless Chromium, shared by the browser tests that check a
// page a person sees (a11y.test.js for the SDK's overlay and the
// dashboards, lti.test.js and oidc.test.js for the server-rendered pages).
// axe is evaluated through DevTools, so a page's Content-Security-Policy
// stays as served.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const AXE = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
/** WCAG 2.0, 2.1 and 2.2, levels A and AA. */
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const SCHEMES = ['light', 'dark'];

/** axe's violations in `target` (a page, or one of its frames) as it is now, one line each. */
async function violations(target) {
  if (!(await target.evaluate(() => typeof window.axe === 'object'))) await target.evaluate(AXE);
  return target.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')}: ${n.failureSummary.split('\n').slice(1, 2).join('')}`) }));
  }, TAGS);
}

/**
 * Checks `target` (default: the page itself; or a frame of it) in both
 * colour schemes, emulated on `page`; `what` names it in failures.
 * Returns the document's background in each scheme.
 */
export async function assertAccessible(page, what, target = page) {
  const backgrounds = {};
  for (const scheme of SCHEMES) {
    await page.emulateMedia({ colorScheme: scheme });
    backgrounds[scheme] = await target.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    const found = await violations(target);
    assert.deepEqual(found, [], `${what} (${scheme}): ${JSON.stringify(found, null, 1)}`);
  }
  return backgrounds;
}
