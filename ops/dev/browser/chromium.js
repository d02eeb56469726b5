// Launches Debian's Chromium through playwright-core, headless, with fake
// media devices and no network chatter. Shared by every browser test.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.INVIGIL_CHROMIUM || '/usr/bin/chromium';

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  // Live video on loopback: WebRTC leaves loopback out of ICE by default,
  // and the proctor's audio starts without a gesture in a test.
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];

/**
 * Starts a fresh browser profile; returns { context, close }. With
 * `{ fakeUi: false }` permission prompts are not auto-accepted: camera and
 * microphone are denied until the test grants them. With `{ camera: file }`
 * the fake camera plays that Y4M file (in a loop) instead of its test
 * pattern.
 */
export async function launch({ fakeUi = true, camera } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'invigil-chromium-'));
  const flags = fakeUi ? FLAGS : FLAGS.filter((flag) => flag !== '--use-fake-ui-for-media-stream');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: camera ? [...flags, `--use-file-for-fake-video-capture=${camera}`] : flags,
    timeout: 30_000,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
