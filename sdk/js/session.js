// The session: the WebAssembly core and the glue that carries out its
// commands — fetches, uploads, IndexedDB writes, captures, recordings, the
// overlay, live video — and reports back what happened. The core decides;
// this only acts.

import { loadCore } from './core.js';
import { committed, openDb, readAll, tx } from './db.js';
import { Devices, FEATURES, grabFrame } from './devices.js';
import { EnvironmentWatch, pasteTarget, probeGraphics } from './environment.js';
import { OfflineNote, Overlay } from './overlay.js';
import { Recordings } from './recording.js';
import { signPut } from './sigv4.js';
import { startWorker } from './worker.js';

const FACE = { width: 320, quality: 0.7, target: 20000 };
const SCREEN = { width: 1024, quality: 0.5, target: 25000 };
const FETCH_TIMEOUT_MS = 20000;
/** A media upload (up to a few MB on a slow link) may take this long, ms. */
const MEDIA_TIMEOUT_MS = 60000;
// Live video: the retry pause after a failed signal or publish (doubling, ±50 %).
const LIVE_RETRY_MS = [1000, 60000];

/**
 * A script of the bundle loaded on first use (`invigil-live.js`,
 * `invigil-face.js`): resolves with the global it defines.
 */
function loadChunk(url, name) {
  return new Promise((resolve, reject) => {
    if (window[name]) return resolve(window[name]);
    const script = document.createElement('script');
    script.src = url;
    script.onload = () => (window[name] ? resolve(window[name]) : reject(new Error(`${url} did not load`)));
    script.onerror = () => reject(new Error(`cannot load ${url}`));
    document.head.appendChild(script);
  });
}

/**
 * The claims of the candidate's JWT, read without verifying it: ingest
 * verifies every request; the core only needs `sub` and `test_id` to know
 * which leftovers in IndexedDB (an earlier page's) it may send under this
 * token. `{}` if it is not a JWT.
 */
function claims(token) {
  try {
    const payload = atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(payload, (c) => c.charCodeAt(0)))) || {};
  } catch (_) {
    return {};
  }
}

/** The Web Lock a page holds for the session it runs, by session id. */
const SESSION_LOCK = 'invigil-session:';

/**
 * The sessions other tabs of this origin are running now, from the Web
 * Locks they hold (a closed or crashed tab's lock is gone with it). Without
 * the Locks API, none: every leftover is taken, as before.
 */
async function liveSessions() {
  if (!navigator.locks || !navigator.locks.query) return new Set();
  const { held = [] } = await navigator.locks.query().catch(() => ({}));
  return new Set(held.map((lock) => lock.name).filter((name) => name.startsWith(SESSION_LOCK)).map((name) => name.slice(SESSION_LOCK.length)));
}

/** Lifecycle and upload state, as the last notices said (read by the public API). */
export const state = { status: 'idle', uploads: 'enabled' };

/** One proctoring session of this page: the core and everything it commands. */
export class Session {
  constructor(options, listeners) {
    this.endpoint = options.endpoint;
    this.token = options.token;
    this.liveUrl = options.liveUrl;
    this.faceUrl = options.faceUrl;
    /** `{ wasm, yunet, sface }`: the face chunk's detector and models. */
    this.faceFiles = options.faceFiles;
    // The npm module's chunks are dynamic imports its host's bundler
    // splits out; without them (the script tag, or a URL the host gave),
    // a classic script from its URL.
    this.importLive = options.importLive || (() => loadChunk(this.liveUrl, 'invigilLive'));
    this.importFace = options.importFace || (() => loadChunk(this.faceUrl, 'invigilFace'));
    /** The candidate's words (messages.js) and how their catalogue arrives. */
    this.messages = options.messages;
    this.importMessages = options.importMessages;
    this.listeners = listeners;
    this.devices = new Devices(this);
    this.recordings = new Recordings(this);
    const { sub, test_id: test } = claims(this.token);
    const known = typeof sub === 'string' && typeof test === 'string' && sub && test;
    /** `[candidate, test]` from the token's claims, or empty strings. */
    this.candidate = known ? [sub, test] : ['', ''];
    /** `test/candidate`, what other tabs and stored state are keyed by; null if unknown. */
    this.candidateKey = known ? `${test}/${sub}` : null;
    this.environment = new EnvironmentWatch((name, fields) => this.input(name, fields), this.candidateKey);
    this.keys = 0;
    this.encodes = new Map();
    this.nextEncode = 1;
    this.cleanups = [];
    this.overlay = new Overlay(this.messages, (reason) => this.fix(reason));
    this.offline = new OfflineNote(this.messages);
    this.stopped = false;
    this.ownFullscreen = false;
    this.diagnostics = { calls: 0, busy_ms: 0, max_ms: 0, over_16ms: 0 };
  }

  async start(wasmUrl) {
    const missing = Object.keys(FEATURES).filter((name) => !FEATURES[name]());
    // The catalogue comes while the core loads (it is the smaller file).
    const catalogue = this.messages.load(this.importMessages);
    if (missing.includes('WebAssembly') || missing.includes('IndexedDB')) {
      // Without the core there is nothing to run; still tell the candidate.
      await catalogue;
      this.overlay.show(['unsupported_browser'], true);
      throw Object.assign(new Error(`this browser lacks ${missing.join(', ')}`), { code: 'unsupported_browser' });
    }
    let core;
    try {
      core = await loadCore(wasmUrl);
    } catch (error) {
      // Usually the wasm's server: a 404, or a CDN without CORS headers.
      throw Object.assign(new Error(`the SDK core could not be loaded from ${wasmUrl}: ${error}`), { code: 'wasm_load_failed' });
    }
    const catalogueError = await catalogue;
    this.db = await openDb();
    const restored = await this.restore(await liveSessions());
    // From here to the end nothing waits and nothing can fail: the core
    // makes one engine per page (wasm.rs), so what can fail comes first,
    // and the Worker's first messages arrive once the core runs.
    if (!missing.includes('Worker')) {
      this.worker = startWorker((message) => this.onWorker(message));
    } else {
      this.tickTimer = setInterval(() => this.tick(), 1000);
      setTimeout(() => this.environment.setGraphics(...probeGraphics(document.createElement('canvas'))), 0);
    }
    const seed = crypto.getRandomValues(new Uint32Array(2));
    this.sessionId = core.start(this.endpoint, ...this.candidate, seed[0], seed[1], Date.now());
    this.core = core;
    this.holdSession(this.sessionId);
    // Leftovers of earlier pages first: their events are older and go first.
    this.input('restored', restored);
    this.input('start', {
      user_agent: navigator.userAgent,
      screen_w: screen.width,
      screen_h: screen.height,
      displays: screen.isExtended ? 2 : 1,
      missing_features: missing,
    });
    // Not reached: the candidate reads English, and the timeline says why.
    if (catalogueError) this.input('sdk_error', ['messages', catalogueError.slice(0, 300)]);
    this.listen();
  }

  /**
   * This browser's leftovers, for the core: sessions, queued events and
   * media (recordings joined first) — but not those of `live` sessions,
   * which another tab of this origin is running right now (the same
   * IndexedDB): ending them, or sending their events beside that tab,
   * would cut its session short and number two events alike.
   */
  async restore(live) {
    const ours = (sessionId) => !live.has(sessionId);
    await this.recordings.restoreSlices(ours);
    const sessions = (await readAll(this.db, 'sessions')).map(([, value]) => JSON.parse(value)).filter((s) => ours(s.session_id));
    const events = (await readAll(this.db, 'events')).map(([key, json]) => {
      const [session_id, seq] = key.split('/');
      return { session_id, seq: Number(seq), json };
    }).filter((e) => ours(e.session_id));
    const media = (await readAll(this.db, 'media')).map(([, value]) => value.item).filter((item) => ours(item.session_id));
    return { sessions, events, media };
  }

  /** Holds this session's Web Lock while the page runs it: other tabs see it is live. */
  holdSession(sessionId) {
    if (!navigator.locks) return;
    navigator.locks.request(`${SESSION_LOCK}${sessionId}`, () => new Promise((release) => { this.releaseSession = release; }))
      .catch(() => {});
  }

  listen() {
    const on = (target, name, handler, options) => {
      target.addEventListener(name, handler, options);
      this.cleanups.push(() => target.removeEventListener(name, handler, options));
    };
    on(document, 'visibilitychange', () => this.input('visibility', document.visibilityState === 'hidden' ? 'hidden' : 'visible'));
    on(window, 'blur', () => this.input('focus', 'blur'));
    on(window, 'focus', () => this.input('focus', 'focus'));
    on(document, 'fullscreenchange', () => this.input('fullscreen', document.fullscreenElement ? 'entered' : 'exited'));
    on(window, 'offline', () => this.offline.show());
    on(window, 'online', () => this.offline.hide());
    if (navigator.onLine === false) this.offline.show();
    // Clipboard: the action and a character count, never the text.
    const selected = () => String(document.getSelection() || '').length;
    on(document, 'copy', () => this.input('clipboard', ['copy', selected(), null]), true);
    on(document, 'cut', () => this.input('clipboard', ['cut', selected(), null]), true);
    on(document, 'paste', (e) => {
      const chars = e.clipboardData ? e.clipboardData.getData('text').length : 0;
      this.input('clipboard', ['paste', chars, pasteTarget(e.target)]);
    }, true);
    on(document, 'contextmenu', () => this.input('context_menu'), true);
    // Keys are counted here and reported once a second; their values are never read.
    on(document, 'keydown', () => { this.keys++; }, true);
    on(window, 'online', () => this.input('network', 'online'));
    on(window, 'offline', () => this.input('network', 'offline'));
    on(window, 'pagehide', () => this.input('page_hide'));
    this.environment.start(on);
  }

  tick() {
    if (!this.core) return;
    this.environment.tick();
    if (this.keys) {
      this.input('keys', this.keys);
      this.keys = 0;
    }
    const started = performance.now();
    this.run(this.core.tick(Date.now()));
    this.measure(started);
  }

  /** Reports `name` (an `Input` variant of the core) with its fields. */
  input(name, fields) {
    if (!this.core) return;
    const started = performance.now();
    const message = fields === undefined ? JSON.stringify(name) : JSON.stringify({ [name]: fields });
    this.run(this.core.input(Date.now(), message));
    this.measure(started);
  }

  /** Main-thread time of one call into the core and the commands it started (their synchronous part). */
  measure(started) {
    const ms = performance.now() - started;
    const d = this.diagnostics;
    d.calls++;
    d.busy_ms += ms;
    if (ms > d.max_ms) d.max_ms = ms;
    if (ms > 16) d.over_16ms++;
  }

  run(commandsJson) {
    for (const command of JSON.parse(commandsJson)) {
      try {
        this.execute(command);
      } catch (error) {
        this.input('sdk_error', ['glue', `${command.type}: ${error}`]);
      }
    }
  }

  execute(c) {
    switch (c.type) {
      case 'fetch': return this.fetch(c);
      case 'put':
      case 'post': return this.put(c);
      case 'bundle': return this.bundle(c.key, c.parts);
      case 'persist': return tx(this.db, c.store, 'readwrite', (s) => s.put(c.value, c.key)).catch(() => {});
      case 'forget': return tx(this.db, c.store, 'readwrite', (s) => c.keys.forEach((k) => s.delete(k))).catch(() => {});
      case 'acquire_devices': return this.devices.acquire();
      case 'overlay': return this.overlay.show(c.reasons, c.setup, c.checks);
      case 'capture': return c.kind === 'audio' ? this.recordings.startAudio(c) : this.captureImage(c);
      case 'record': return this.recordings.startVideo(c);
      case 'check_face': return this.checkFace(c.min_confidence / 1000, c.identity);
      case 'pause_audio': return this.recordings.stopAudio(true);
      case 'notify': return this.emit(c.name, c.detail);
      case 'teardown': return this.teardown(c.keep_audio);
      default: throw new Error(`unknown command ${c.type}`);
    }
  }

  async fetch(c) {
    let status = 0;
    let body = '';
    let retryAfter = null;
    try {
      const response = await fetch(c.url, {
        method: c.method,
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
        body: c.body,
        keepalive: c.keepalive,
        signal: c.keepalive ? undefined : AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      status = response.status;
      body = await response.text();
      const header = response.headers.get('retry-after');
      // Capped at a day: the core reads integers, and a huge header would
      // reach it as a float (1e+23) and lose the reply.
      if (header && /^\d+$/.test(header)) retryAfter = Math.min(Number(header), 86400) * 1000;
    } catch (_) {
      status = 0;
    }
    this.input('response', [c.req, status, body, retryAfter]);
  }

  async put(c) {
    let status = 0;
    let body = '';
    try {
      const stored = await tx(this.db, 'media', 'readonly', (s) => s.get(c.media));
      if (!stored) {
        status = 410; // the blob is gone (storage cleared): report it failed
      } else {
        let request;
        if (c.fields) {
          // A presigned POST form: its fields in order, the file last.
          const form = new FormData();
          for (const [name, value] of c.fields) form.append(name, value);
          form.append('file', stored.blob);
          request = { method: 'POST', body: form };
        } else {
          // Signed now, just before it leaves: the date in the signature is
          // this moment's.
          const headers = Object.fromEntries(await signPut(c.url, c.sign));
          headers['content-type'] = stored.blob.type || 'application/octet-stream';
          request = { method: 'PUT', headers, body: stored.blob };
        }
        // The timeout covers the whole exchange, body included, and is
        // disarmed once it is over. The body is read even on success (S3's
        // is empty or a few bytes): a response left unread keeps the
        // request open until something cancels it, and DevTools then shows
        // a PUT that landed as net::ERR_ABORTED.
        const timeout = new AbortController();
        const timer = setTimeout(() => timeout.abort(), MEDIA_TIMEOUT_MS);
        try {
          const response = await fetch(c.url, { ...request, signal: timeout.signal });
          status = response.status;
          const text = await response.text();
          if (!response.ok) body = text.slice(0, 300);
        } finally {
          clearTimeout(timer);
        }
      }
    } catch (_) {
      status = 0;
    }
    this.input('response', [c.req, status, body, null]);
  }

  /** The overlay's buttons: each runs inside the click, which screen sharing and fullscreen require. */
  fix(reason) {
    if (reason === 'camera_permission' || reason === 'microphone_permission') return this.devices.acquire();
    if (reason === 'screen_permission' || reason === 'screen_share_stopped') return this.devices.shareScreen();
    // The button is a gesture: the moment to ask the Window Management
    // permission for an exact count, then report the screens again.
    if (reason === 'second_screen') return this.environment.display(true);
    if (reason === 'fullscreen_exited') {
      return document.documentElement.requestFullscreen().then(() => { this.ownFullscreen = true; }, (error) =>
        this.input('sdk_error', ['fullscreen', String(error)]));
    }
  }

  // ---------------------------------------------------------------- captures

  async captureImage(c) {
    const stream = c.kind === 'face' ? this.devices.streams.camera : this.devices.streams.screen;
    const failed = (error) => this.input('capture_failed', [c.kind, c.capture_seq, String(error).slice(0, 200)]);
    try {
      const track = stream && stream.getVideoTracks()[0];
      if (!track || track.readyState !== 'live') return failed('no live video track');
      const bitmap = await grabFrame(track);
      const id = this.nextEncode++;
      const spec = c.kind === 'face' ? FACE : SCREEN;
      const blob = await new Promise((resolve, reject) => {
        this.encodes.set(id, { resolve, reject });
        this.worker.postMessage({ id, bitmap, ...spec }, [bitmap]);
      });
      const item = { key: c.key, kind: c.kind, session_id: c.session_id, capture_seq: c.capture_seq, ts: c.ts, bytes: blob.size, attempts: 0 };
      await tx(this.db, 'media', 'readwrite', (s) => s.put({ blob, item }, c.key));
      this.input('captured', item);
    } catch (error) {
      failed(error);
    }
  }

  onWorker(message) {
    if (message.type === 'tick') return this.tick();
    if (message.type === 'graphics') return this.environment.setGraphics(...message.names);
    const pending = this.encodes.get(message.id);
    if (!pending) return;
    this.encodes.delete(message.id);
    if (message.error) pending.reject(new Error(message.error));
    else pending.resolve(message.blob);
  }

  /**
   * Joins stored captures into one bundle object (bundled uploads): the
   * parts' blobs end to end, stored under the bundle's key with its record,
   * and the parts deleted, in one transaction. A part whose blob is gone or
   * not the size the core expects is reported missing and nothing is written.
   */
  async bundle(key, keys) {
    let missing = [];
    try {
      const stored = await Promise.all(keys.map((k) => tx(this.db, 'media', 'readonly', (s) => s.get(k))));
      missing = keys.filter((k, i) => !stored[i] || stored[i].item.bytes !== stored[i].blob.size);
      if (!missing.length) {
        // The record MediaItem::bundle would make: parts end to end, as
        // [key, kind, capture_seq, ts, offset, bytes].
        let offset = 0;
        const parts = stored.map(({ item: p }) => [p.key, p.kind, p.capture_seq, p.ts, (offset += p.bytes) - p.bytes, p.bytes]);
        const first = stored[0].item;
        const item = { key, kind: first.kind, session_id: first.session_id, capture_seq: 0, ts: first.ts, bytes: offset, attempts: 0, parts };
        const blob = new Blob(stored.map((entry) => entry.blob), { type: 'application/octet-stream' });
        const t = this.db.transaction('media', 'readwrite');
        t.objectStore('media').put({ blob, item }, key);
        for (const k of keys) t.objectStore('media').delete(k);
        await committed(t);
      }
    } catch (error) {
      // IndexedDB itself failed: the parts stay as they are and the core
      // asks again after a while.
      return this.input('sdk_error', ['bundle', String(error).slice(0, 200)]);
    }
    this.input('bundled', [key, missing]);
  }

  // -------------------------------------------------------------- live video

  /**
   * Live video on demand: holds ingest's signal request open with what this
   * page sends now (none, grid or full); when a proctor starts watching, the
   * answer comes at once and the live module (loaded on first use) sends
   * the tracks the SDK already holds; when the last one stops, so does it.
   * Failures wait and ask again: live video never blocks the test.
   */
  async followLive() {
    if (this.live) return;
    const live = { publisher: null, abort: null, signalUrl: null, pause: LIVE_RETRY_MS[0], seen: this.storedSeen() };
    this.live = live;
    const rest = async () => {
      await new Promise((resolve) => setTimeout(resolve, live.pause * (0.5 + Math.random())));
      live.pause = Math.min(live.pause * 2, LIVE_RETRY_MS[1]);
    };
    while (this.live === live && !this.stopped) {
      const sending = live.publisher && live.publisher.live ? live.publisher.view : 'none';
      let signal;
      try {
        live.abort = new AbortController();
        // no-store: browsers hold a second GET of a URL behind one in
        // flight (the HTTP cache's lock), and this one is held for seconds.
        // With several SFU hosts the entry path redirects to the one that
        // serves this candidate; ask it directly until that fails.
        const url = live.signalUrl || `${this.endpoint}/api/v1/live/signal`;
        const response = await fetch(`${url}?publishing=${sending}&seen=${live.seen}`, {
          headers: { authorization: `Bearer ${this.token}` },
          cache: 'no-store',
          signal: live.abort.signal,
        });
        if (!response.ok) throw new Error(`signal ${response.status}`);
        signal = await response.json();
        if (response.redirected) live.signalUrl = response.url.split('?')[0];
      } catch (_) {
        live.signalUrl = null;
        // Aborted because the connection closed: ask again at once.
        if (live.abort && live.abort.signal.aborted) continue;
        await rest();
        continue;
      }
      if (!signal.enabled) break;
      for (const message of signal.messages || []) {
        if (message.id <= live.seen) continue;
        live.seen = message.id;
        this.showMessage(message);
        this.storeSeen(message.id);
      }
      if (signal.publish && sending !== 'none') {
        // Watched another way now (a grid tile opened, or closed again).
        await live.publisher.setView(signal.view).catch(() => {});
      } else if (signal.publish) {
        try {
          const module = await this.liveModule();
          live.publisher = await module.publish({
            endpoint: this.endpoint,
            token: () => this.token,
            camera: this.devices.streams.camera,
            screen: this.devices.streams.screen,
            view: signal.view,
            // A connection that fails or ends makes the held signal stale.
            onClosed: () => { if (live.abort) live.abort.abort(); },
          });
          live.pause = LIVE_RETRY_MS[0];
        } catch (_) {
          await rest();
        }
      } else if (!signal.publish && live.publisher) {
        live.publisher.stop();
        live.publisher = null;
      }
    }
    if (live.publisher) live.publisher.stop();
  }

  /**
   * A proctor's message: a note in the corner that blocks nothing (it goes
   * by itself after a while), and a `custom` event on the timeline so the
   * review shows what the candidate was told and when.
   */
  showMessage(message) {
    const { id, level, text, from, sent_at } = message;
    this.input('custom', ['invigil.proctor_message', { id, level, from, text, sent_at }]);
    // The notes live in the live module too: loaded on first use.
    this.liveModule().then((module) => {
      if (this.stopped) return;
      if (!this.notes) {
        const m = this.messages;
        this.notes = new module.Notes({ lang: m.lang, dir: m.dir, message: m.text('note.message'), warning: m.text('note.warning'), dismiss: m.text('note.dismiss') });
      }
      this.notes.show(level === 'warning', String(text));
    }, () => {});
  }

  /**
   * The newest proctor message this candidate was shown, kept across reloads
   * (and tabs) so a message confirmed by nothing but the reload is not shown
   * and recorded twice. Ids only rise (the server's clock), so a stale value
   * hides nothing new. Storage may be off (a sandboxed frame): then 0.
   */
  seenKey() {
    return this.candidateKey && `invigil:seen:${this.candidateKey}`;
  }

  storedSeen() {
    try {
      const key = this.seenKey();
      return (key && Number(localStorage.getItem(key))) || 0;
    } catch (_) {
      return 0;
    }
  }

  storeSeen(id) {
    try {
      const key = this.seenKey();
      if (key) localStorage.setItem(key, String(id));
    } catch (_) { /* storage off: a reload may show the newest note again */ }
  }

  stopLive() {
    const live = this.live;
    this.live = null;
    if (!live) return;
    if (live.publisher) live.publisher.stop();
    live.publisher = null;
    if (live.abort) live.abort.abort();
  }

  /** The live module (dist/invigil-live.js beside this file), loaded once on first use. */
  liveModule() {
    if (!this.liveLoading) {
      this.liveLoading = this.importLive().catch((error) => {
        this.liveLoading = null;
        throw error;
      });
    }
    return this.liveLoading;
  }

  // ------------------------------------------------------------- face checks

  /**
   * One face check (config `face_check`): a camera frame through the
   * detector in its own Worker (dist/invigil-face.js, loaded the first
   * time). Checks never overlap. A detector that cannot load is reported as
   * an `sdk_error` and tried again after five minutes; the exam goes on.
   * `identity` asks for a comparison with the reference face: the
   * recogniser loads in the background on the first such request, and
   * until it is there checks go on without comparing (a recogniser that
   * cannot load is an `sdk_error` too, retried after five minutes).
   */
  async checkFace(threshold, identity) {
    if (this.faceBusy || this.stopped || Date.now() < (this.faceRetryAt || 0)) return;
    const stream = this.devices.streams.camera;
    const track = stream && stream.getVideoTracks()[0];
    if (!track || track.readyState !== 'live') return;
    this.faceBusy = true;
    try {
      if (!this.faceChecker) {
        const failed = (error) => {
          if (!this.stopped) this.input('sdk_error', ['face_identity', String(error && error.message || error).slice(0, 300)]);
        };
        this.faceChecker = this.importFace().then((face) => face.start(this.faceFiles, failed));
      }
      const checker = await this.faceChecker;
      const r = await checker.check(await grabFrame(track), threshold, identity);
      if (!this.stopped) this.input('face', [r.faces, r.confidence, r.faceSize, r.light, r.ms, r.similarity, r.reference]);
      if (r.reference && !this.stopped) this.emit('identity', { reference: true });
    } catch (error) {
      // A new Worker starts with neither detector nor recogniser.
      this.faceChecker = null;
      this.faceRetryAt = Date.now() + 300000;
      this.input('sdk_error', ['face_check', String(error && error.message || error).slice(0, 300)]);
    } finally {
      this.faceBusy = false;
    }
  }

  // --------------------------------------------------------------- lifecycle

  emit(name, detail) {
    if (name === 'status' && detail.state === 'running') this.followLive();
    if (name === 'status') state.status = detail.state;
    if (name === 'uploads') state.uploads = detail.state;
    if (name === 'status' && detail.state === 'stopped') {
      // Nothing is left to drain: the tick and the encoder go too.
      if (this.worker) this.worker.terminate();
      if (this.tickTimer) clearInterval(this.tickTimer);
    }
    for (const fn of this.listeners[name] || []) {
      try { fn(detail); } catch (error) { console.error('invigil listener failed', error); }
    }
  }

  teardown(keepAudio) {
    this.stopped = true;
    this.stopLive();
    if (this.faceChecker) this.faceChecker.then((checker) => checker.stop(), () => {});
    this.faceChecker = null;
    this.recordings.stopAll(keepAudio);
    this.devices.release();
    this.environment.stop();
    if (this.releaseSession) this.releaseSession();
    this.overlay.hide();
    this.offline.hide();
    if (this.notes) this.notes.clear();
    this.notes = null;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    // Leave the fullscreen the SDK asked for (the listeners are gone, so
    // this is no "exit" on the timeline); a host's own fullscreen stays.
    if (this.ownFullscreen && document.fullscreenElement && document.exitFullscreen) {
      document.exitFullscreen().catch(() => {});
    }
    this.ownFullscreen = false;
    // The tick keeps running while queued events and uploads drain.
  }
}
