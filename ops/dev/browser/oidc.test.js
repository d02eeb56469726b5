// Staff sign-in in headless Chromium against a real OpenID provider
// process: PyPI's `oidc-provider-mock` (installed by ops/dev/services.sh),
// with client registration required, so it checks our client secret and
// redirect URI. A staff member signs in from the dashboards' landing page,
// lands back signed in with the role their groups grant, makes a change
// through the page's own API helper (the CSRF token sent for them) while a
// bare fetch without it is refused, and signs out. A user with no granted
// group, a replayed callback and a spent code each get a page saying why.
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertAccessible } from './axe.js';
import { launch } from './chromium.js';
import { Ingest, freePort, jwt, waitFor } from './stack.js';

const EXAM = 'oidc-exam';
const USERS = [
  { sub: 'ada', name: 'Ada Lovelace', groups: ['invigil-admins'] },
  { sub: 'pat', name: 'Pat Proctor', groups: ['exam-proctors'] },
  { sub: 'sam', name: 'Sam Student', groups: ['students'] },
];

/** Starts oidc-provider-mock on `port`; resolves with its base URL once it
 * serves its discovery document. */
async function startProvider(port) {
  const args = ['-m', 'oidc_provider_mock', '--port', String(port), '--require-registration', '--require-nonce'];
  for (const user of USERS) args.push('--user-claims', JSON.stringify(user));
  const child = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const base = `http://127.0.0.1:${port}`;
  await waitFor('the OpenID provider', async () => {
    if (child.exitCode !== null) throw new Error(`oidc-provider-mock exited: ${log}`);
    try { return (await fetch(`${base}/.well-known/openid-configuration`)).ok; } catch { return false; }
  }, 30_000, 200);
  return { base, child, log: () => log };
}

describe('staff sign-in with an OpenID provider', { timeout: 4 * 60_000 }, () => {
  let provider;
  let stack;
  let browser;

  before(async () => {
    provider = await startProvider(await freePort());
    const port = await freePort();
    const callback = `http://127.0.0.1:${port}/auth/oidc/callback`;
    const registered = await (await fetch(`${provider.base}/oauth2/clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [callback] }),
    })).json();
    stack = await Ingest.start({
      port,
      settings: [
        '[oidc]', 'enabled = true', 'name = "Test IdP"', `issuer = "${provider.base}"`,
        `client_id = "${registered.client_id}"`, 'client_secret_env = "INVIGIL_TEST_OIDC_CLIENT_SECRET"',
        `redirect_url = "${callback}"`, 'session_secret_env = "INVIGIL_TEST_SESSION_SECRET"',
        '[[oidc.grant]]', 'value = "invigil-admins"', 'role = "admin"',
        '[[oidc.grant]]', 'value = "exam-proctors"', 'role = "proctor"', `tests = ["${EXAM}"]`,
      ],
      env: {
        INVIGIL_TEST_OIDC_CLIENT_SECRET: registered.client_secret,
        INVIGIL_TEST_SESSION_SECRET: 'Hq4Tz8Wm1Xc6Vb3Nr7Ky2Lp5Jd9Gf0Sa',
      },
    });
    browser = await launch();
  });

  after(async () => {
    if (browser) await browser.close();
    if (stack) await stack.close();
    if (provider) provider.child.kill();
  });

  /** From the landing page through the provider's form as `sub`; resolves
   * with the page (back on invigil) and the callback URL it went through. */
  async function signIn(sub, page) {
    await page.goto(`${stack.base}/dashboard/`);
    const button = page.locator('#sso-sign-in');
    assert.equal(await button.textContent(), 'Sign in with Test IdP');
    const callback = page.waitForRequest((request) => request.url().startsWith(`${stack.base}/auth/oidc/callback`));
    await button.click();
    await page.waitForURL((url) => url.href.startsWith(provider.base), { timeout: 15_000 });
    await page.locator(`button[name="sub"][value="${sub}"]`).click();
    const through = (await callback).url();
    await page.waitForURL((url) => url.href.startsWith(stack.base) && !url.pathname.startsWith('/auth/'), { timeout: 15_000 }).catch(() => {});
    return through;
  }

  it('an admin signs in, changes the configuration with the CSRF token, and signs out; a replayed callback and a spent code are refused', async () => {
    const page = await browser.context.newPage();
    const through = await signIn('ada', page);
    await waitFor('the signed-in header', async () => /Ada Lovelace · admin/.test(await page.locator('.who').textContent().catch(() => '')), 15_000, 200);
    assert.deepEqual(await page.locator('nav[aria-label="Pages"] a').allTextContents(), ['Proctor wall', 'Review', 'Admin']);
    // The session is an HttpOnly cookie: the page's scripts cannot read it.
    assert.equal(await page.evaluate(() => document.cookie.includes('invigil_staff')), false);
    const cookies = await browser.context.cookies(stack.base);
    const session = cookies.find((c) => c.name === 'invigil_staff');
    assert.ok(session && session.httpOnly && session.sameSite === 'Lax', JSON.stringify(cookies));

    // A change: a bare fetch with the cookie alone is refused; the pages'
    // own helper sends the session's CSRF token and it is taken.
    const before = await stack.api('/api/v1/admin/config', jwt({ sub: 'admin-1', role: 'admin', tests: [] }));
    const document = { ...before.body.document, defaults: { ...before.body.document.defaults, events_interval_ms: 4000 } };
    const bare = await page.evaluate(async (doc) => {
      const response = await fetch('/api/v1/admin/config', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) });
      return { status: response.status, body: await response.json() };
    }, document);
    assert.equal(bare.status, 403);
    assert.match(bare.body.error.message, /x-csrf-token/);
    const saved = await page.evaluate(async (doc) => {
      const { api } = await import('/dashboard/common.js');
      return api('/api/v1/admin/config', { method: 'PUT', body: doc });
    }, document);
    assert.equal(saved.version, before.body.version + 1);
    const after = await stack.api('/api/v1/admin/config', jwt({ sub: 'admin-1', role: 'admin', tests: [] }));
    assert.equal(after.body.document.defaults.events_interval_ms, 4000);

    // The same callback again: this browser's sign-in is over.
    const replay = await page.goto(through);
    assert.equal(replay.status(), 400);
    assert.match(await page.locator('#sign-in-error').textContent(), /already used, or it did not start here/);
    await assertAccessible(page, 'the refused sign-in page');

    // A new sign-in, answered with the first one's (spent) code.
    await page.goto(`${stack.base}/auth/oidc/login?next=/dashboard/`);
    await page.waitForURL((url) => url.href.startsWith(provider.base));
    const state = new URL(page.url()).searchParams.get('state');
    const code = new URL(through).searchParams.get('code');
    const spent = await page.goto(`${stack.base}/auth/oidc/callback?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`);
    assert.equal(spent.status(), 400);
    assert.match(await page.locator('#sign-in-error').textContent(), /refused the code: invalid_grant.*already used or has expired/);

    // Still signed in from before; sign out from the header.
    await page.goto(`${stack.base}/dashboard/`);
    await page.locator('button', { hasText: 'Sign out' }).click();
    await page.locator('#sso-sign-in').waitFor({ timeout: 10_000 });
    const state2 = await page.evaluate(() => fetch('/auth/session').then((r) => r.json()));
    assert.equal(state2.signed_in, false);
    await page.close();
  });

  it('a proctor gets the wall of their test only; a user no group grants gets a page saying so', async () => {
    const page = await browser.context.newPage();
    await signIn('pat', page);
    await waitFor('the signed-in header', async () => /Pat Proctor · proctor/.test(await page.locator('.who').textContent().catch(() => '')), 15_000, 200);
    assert.deepEqual(await page.locator('#tests li').allTextContents(), [EXAM]);
    const refused = await page.evaluate(() => fetch('/api/v1/admin/config').then((r) => r.status));
    assert.equal(refused, 403);
    await page.locator('button', { hasText: 'Sign out' }).click();
    await page.locator('#sso-sign-in').waitFor({ timeout: 10_000 });

    await signIn('sam', page);
    const message = await page.locator('#sign-in-error').textContent();
    assert.match(message, /signed in at the provider as sam, but none of your "groups" grants a role in invigil/);
    assert.equal(await page.locator('#sign-in-error').getAttribute('data-status'), '403');
    const cookies = await browser.context.cookies(stack.base);
    assert.equal(cookies.some((c) => c.name === 'invigil_staff'), false);
    await page.close();
  });
});
