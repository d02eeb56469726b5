// Webhooks end to end, as an integrator meets them: `invigil up --webhooks`
// with a receiver on its own port that verifies every request with the
// `standardwebhooks` npm package (the scheme's own library, the README's
// receiver), fails its first request and then recovers. A candidate's
// session starts and ends on the wire; the receiver gets session.started
// and session.ended, each once accepted; the admin page lists the attempts
// (the failure with its status) and "Send again" delivers a notice once
// more under the same webhook-id.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { launch } from './chromium.js';
import { FAST_CONFIG, Ingest, freePort, jwt, uuidv7, waitFor } from './stack.js';

const EXAM = 'exam-hooks';
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const ADMIN = jwt({ sub: 'admin-hooks', role: 'admin', tests: [] });


/** The README's receiver: verify, then act; 500 for its first request. */
async function receiver() {
  const verifier = new Webhook(SECRET);
  const got = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      let payload = null;
      let error = null;
      try {
        payload = verifier.verify(body, request.headers);
      } catch (e) {
        error = String(e);
      }
      const status = error ? 400 : got.length === 0 ? 500 : 204;
      got.push({ id: request.headers['webhook-id'], payload, error, status });
      response.writeHead(status).end();
    });
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, got, url: `http://127.0.0.1:${port}/hooks` };
}

describe('webhooks', { timeout: 300_000 }, () => {
  let hook;
  let stack;
  let browser;

  before(async () => {
    hook = await receiver();
    const webhooks = [
      '[[endpoint]]', 'name = "host-app"', `url = "${hook.url}"`, `secret = "${SECRET}"`,
      'first_backoff_ms = 500', 'events = ["session.started", "session.ended"]',
    ].join('\n');
    stack = await Ingest.start({ document: { defaults: FAST_CONFIG, tests: {}, bypasses: {} }, allInOne: true, webhooks });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
    hook?.server.close();
  });

  test('a session\'s start and end reach the receiver, signed; the admin page shows the attempts and sends again', async () => {
    const candidate = 'cand-hooks-1';
    const token = jwt({ sub: candidate, test_id: EXAM });
    const session = uuidv7();
    let seq = 0;
    const send = async (batch, events) => {
      const body = { v: 1, session_id: session, batch_seq: batch, sent_at: Date.now(), events: events.map((e) => ({ id: uuidv7(), seq: seq++, ts: Date.now(), ...e })) };
      const reply = await stack.api('/api/v1/events', token, { method: 'POST', body });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
    };
    await send(0, [{ type: 'session_started', sdk_version: 'wire', user_agent: 'webhooks-test', screen_w: 1920, screen_h: 1080, displays: 1 }]);
    await send(1, [{ type: 'session_ended', reason: 'host_stopped' }]);

    const accepted = (type) => hook.got.filter((r) => r.status === 204 && r.payload?.type === type);
    await waitFor('session.started and session.ended accepted', () => accepted('session.started').length >= 1 && accepted('session.ended').length >= 1, 90_000);
    assert.deepEqual(hook.got.filter((r) => r.error), [], 'every request verifies with the standardwebhooks package');
    assert.equal(hook.got[0].status, 500, 'the first attempt failed, and was retried');
    const ended = accepted('session.ended')[0];
    assert.equal(ended.payload.data.candidate_id, candidate);
    assert.equal(ended.payload.data.session_id, session);
    assert.equal(ended.payload.data.end_reason, 'host_stopped');
    assert.match(ended.payload.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    // The admin page: the log, the failure, and Send again.
    const page = await browser.context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(String(error)));
    await page.goto(`${stack.base}/dashboard/admin.html#token=${encodeURIComponent(ADMIN)}`);
    await waitFor('the delivery log in the admin page', async () => {
      await page.locator('#delivery-form button[type="submit"]').click();
      await page.waitForTimeout(300);
      return (await page.$('#deliveries tr[data-outcome="retrying"]')) && (await page.$('#deliveries tr[data-outcome="delivered"]'));
    }, 30_000);
    const failed = await page.locator('#deliveries tr[data-outcome="retrying"]').first().textContent();
    assert.match(failed, /HTTP 500/);
    const endedRow = page.locator(`#deliveries tr[data-outcome="delivered"][data-notice="${ended.id.replace(/^msg_/, '').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5')}"]`);
    assert.equal(await endedRow.count(), 1, 'the delivered session.ended is listed');
    const before = hook.got.filter((r) => r.id === ended.id).length;
    await endedRow.locator('button.redeliver').click();
    await waitFor('the notice delivered again under the same webhook-id', () => hook.got.filter((r) => r.id === ended.id && r.status === 204).length > before, 30_000);
    const again = hook.got.filter((r) => r.id === ended.id).at(-1);
    assert.deepEqual(again.payload, ended.payload, 'the same body');
    await waitFor('the redelivery in the log', async () => {
      await page.locator('#delivery-form button[type="submit"]').click();
      await page.waitForTimeout(300);
      return (await page.locator('#deliveries tr', { hasText: 'sent again' }).count()) > 0;
    }, 30_000);
    // Bad input is refused with the field named, nothing queued.
    const bad = await stack.api('/api/v1/dashboard/webhooks/redeliver', ADMIN, { method: 'POST', body: { endpoint: 'host-app', notice_id: 'not-a-uuid' } });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /notice_id/);
    const unknown = await stack.api('/api/v1/dashboard/webhooks/redeliver', ADMIN, { method: 'POST', body: { endpoint: 'host-app', notice_id: uuidv7() } });
    assert.equal(unknown.status, 404);
    const badLimit = await stack.api('/api/v1/dashboard/webhooks/deliveries?limit=many', ADMIN);
    assert.equal(badLimit.status, 400);
    assert.match(JSON.stringify(badLimit.body), /limit/);
    const proctor = await stack.api('/api/v1/dashboard/webhooks/deliveries', jwt({ sub: 'p', role: 'proctor', tests: [EXAM] }));
    assert.equal(proctor.status, 403);
    assert.deepEqual(problems, []);
  });
});
