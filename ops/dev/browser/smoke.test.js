// Chromium is real: it loads a page served on 127.0.0.1 and the page gets a
// camera and microphone stream from getUserMedia (fake devices).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { launch, CHROMIUM } from './chromium.js';

const PAGE = `<!doctype html><meta charset="utf-8"><title>invigil smoke</title>
<script>
  window.probe = async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    const tracks = stream.getTracks().map((t) => ({ kind: t.kind, state: t.readyState }));
    const settings = stream.getVideoTracks()[0].getSettings();
    stream.getTracks().forEach((t) => t.stop());
    return { tracks, width: settings.width, height: settings.height, secure: window.isSecureContext };
  };
</script>`;

test('chromium loads a local page and getUserMedia works', { timeout: 60_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: run ops/dev/services.sh install`);
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(PAGE);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const response = await page.goto(`http://127.0.0.1:${port}/`);
    assert.equal(response.status(), 200);
    assert.equal(await page.title(), 'invigil smoke');
    const result = await page.evaluate(() => window.probe());
    assert.equal(result.secure, true, 'loopback pages are secure contexts');
    assert.deepEqual(result.tracks.map((t) => t.kind).sort(), ['audio', 'video']);
    assert.ok(result.tracks.every((t) => t.state === 'live'));
    assert.ok(result.width > 0 && result.height > 0, `video ${result.width}x${result.height}`);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
  }
});
