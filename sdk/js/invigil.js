// invigil browser SDK: the glue around the WebAssembly core.
//
// The core (Rust, sdk/src) decides everything: when to capture, what to send,
// when to retry, what blocks the candidate. This file only carries out its
// commands with browser APIs (fetch, IndexedDB, getUserMedia,
// getDisplayMedia, MediaRecorder, a Worker) and reports back what happened.
// sdk/build.sh wraps it with the wasm-bindgen glue into dist/invigil.js.
//
//   <script src="https://host/invigil.js" data-endpoint="https://proctor.example.com"
//           data-token="JWT" async></script>
//
// or, for apps that want control: invigil.start({ endpoint, token }),
// invigil.stop(), invigil.on('block' | 'unblock' | 'status' | 'uploads' |
// 'error', fn), invigil.track(name, data), invigil.setToken(jwt). With an
// async tag, listen for the window's 'invigil:loaded' event (detail: the
// API) to attach listeners before any notice; `invigil.ready` settles once
// the core runs (or could not start: then status 'failed' and an 'error').

const SCRIPT = document.currentScript;
const BASE_URL = SCRIPT && SCRIPT.src ? new URL('.', SCRIPT.src).href : new URL('.', location.href).href;
const DB_NAME = 'invigil';
const FACE = { width: 320, quality: 0.7, target: 20000 };
const SCREEN = { width: 1024, quality: 0.5, target: 25000 };
const AUDIO_SLICE_MS = 5000;
const AUDIO_BITS = 12000;
// Video segments (recording = video) are persisted a second at a time: a
// closed tab loses at most the last second. Size and frame rate are capped
// on a clone of the track, so the software encoder's work stays small and
// the live view (which uses the track itself) is untouched.
const VIDEO_SLICE_MS = 1000;
const VIDEO_SHAPE = {
  camera: { width: { max: 320 }, height: { max: 240 }, frameRate: { max: 10 } },
  screen: { width: { max: 1280 }, height: { max: 800 }, frameRate: { max: 3 } },
};
const FETCH_TIMEOUT_MS = 20000;
// Live video: the retry pause after a failed signal or publish (doubling, ±50 %).
const LIVE_RETRY_MS = [1000, 60000];

// ------------------------------------------------------------------ IndexedDB

/** Opens the SDK's database: events, sessions, media (blobs) and audio slices. */
function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      for (const store of ['events', 'sessions', 'media', 'slices']) request.result.createObjectStore(store);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function tx(db, store, mode, work) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode);
    const result = work(t.objectStore(store));
    t.oncomplete = () => resolve(result && 'result' in result ? result.result : undefined);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

function readAll(db, store) {
  return new Promise((resolve, reject) => {
    const out = [];
    const request = db.transaction(store).objectStore(store).openCursor();
    request.onsuccess = () => {
      const cursor = request.result;
      if (!cursor) return resolve(out);
      out.push([cursor.key, cursor.value]);
      cursor.continue();
    };
    request.onerror = () => reject(request.error);
  });
}

// --------------------------------------------------------------------- worker

// Runs off the main thread: the 1 s tick (worker timers are not throttled
// like a hidden tab's) and JPEG encoding with OffscreenCanvas. Shipped inside
// this file and started from a blob URL, so the SDK works from any origin.
function workerMain() {
  setInterval(() => postMessage({ type: 'tick' }), 1000);
  onmessage = async (message) => {
    const { id, bitmap, width, quality, target } = message.data;
    try {
      const scale = Math.min(1, width / bitmap.width);
      const canvas = new OffscreenCanvas(Math.round(bitmap.width * scale), Math.round(bitmap.height * scale));
      canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      let q = quality;
      let blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: q });
      // Aim at the size budget: two steps down at most.
      for (let step = 0; step < 2 && blob.size > target * 1.3; step++) {
        q = Math.max(0.2, q * Math.sqrt(target / blob.size));
        blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: q });
      }
      postMessage({ type: 'encoded', id, blob });
    } catch (error) {
      postMessage({ type: 'encoded', id, error: String(error) });
    }
  };
}

// -------------------------------------------------------------------- overlay

const TEXT = {
  camera_permission: ['Camera access needed', 'Allow camera access for this site (the camera icon in the address bar), then press Try again.', 'Try again'],
  microphone_permission: ['Microphone access needed', 'Allow microphone access for this site (the icon in the address bar), then press Try again.', 'Try again'],
  screen_permission: ['Share your screen', 'This test records your entire screen. Press the button and choose your whole screen.', 'Share screen'],
  screen_share_stopped: ['Screen sharing stopped', 'Screen sharing must stay on during the test. Press the button and choose your whole screen again.', 'Share screen again'],
  fullscreen_exited: ['Full screen required', 'This test runs in full screen. Press the button to return to it.', 'Enter full screen'],
  unsupported_browser: ['Browser not supported', 'This browser lacks features the test needs. Please use a recent Chrome, Edge or Firefox.', null],
};

/** The blocking overlay: a modal dialog in a shadow root, the page inert behind it. */
class Overlay {
  constructor(onAction) {
    this.onAction = onAction;
    this.host = null;
  }

  show(reasons, setup) {
    if (!reasons.length) return this.hide();
    if (!this.host) {
      this.host = document.createElement('invigil-overlay');
      this.host.style.cssText = 'position:fixed;inset:0;z-index:2147483647;display:block';
      this.root = this.host.attachShadow({ mode: 'open' });
      document.documentElement.appendChild(this.host);
      this.previousFocus = document.activeElement;
      if (document.body) document.body.inert = true;
      this.host.addEventListener('keydown', (e) => this.trapFocus(e));
    }
    const items = reasons.map((reason) => {
      const [title, help, button] = TEXT[reason] || [reason, '', null];
      return `<li><h3>${title}</h3><p>${help}</p>${button ? `<button data-reason="${reason}">${button}</button>` : ''}</li>`;
    });
    this.root.innerHTML = `<style>
      .backdrop{position:fixed;inset:0;background:rgba(15,23,42,.94);display:flex;align-items:center;justify-content:center;font:16px/1.5 system-ui,sans-serif}
      .dialog{background:#fff;color:#0f172a;max-width:34rem;margin:1rem;padding:1.5rem 2rem;border-radius:12px}
      h2{margin:0 0 .5rem;font-size:1.35rem} h3{margin:.75rem 0 .25rem;font-size:1.05rem} ul{list-style:none;padding:0;margin:0}
      p{margin:0 0 .5rem} button{font:inherit;padding:.5rem 1rem;border-radius:8px;border:0;background:#1d4ed8;color:#fff;cursor:pointer}
      button:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
    </style>
    <div class="backdrop"><div class="dialog" role="alertdialog" aria-modal="true" aria-labelledby="t" aria-describedby="d">
      <h2 id="t">${setup ? 'Before you start' : 'Your test is paused'}</h2>
      <p id="d">${setup ? 'This test is proctored. Please complete these steps.' : 'Fix the following to continue. Your answers are safe.'}</p>
      <ul>${items.join('')}</ul></div></div>`;
    for (const button of this.root.querySelectorAll('button')) {
      button.addEventListener('click', () => this.onAction(button.dataset.reason));
    }
    const first = this.root.querySelector('button');
    if (first) first.focus();
  }

  /** Keeps Tab and Shift+Tab inside the dialog. */
  trapFocus(event) {
    if (event.key !== 'Tab') return;
    const buttons = [...this.root.querySelectorAll('button')];
    if (!buttons.length) return event.preventDefault();
    const at = buttons.indexOf(this.root.activeElement);
    const next = event.shiftKey ? (at <= 0 ? buttons.length - 1 : at - 1) : (at + 1) % buttons.length;
    buttons[next].focus();
    event.preventDefault();
  }

  hide() {
    if (!this.host) return;
    this.host.remove();
    this.host = null;
    if (document.body) document.body.inert = false;
    if (this.previousFocus && this.previousFocus.focus) this.previousFocus.focus();
  }
}

// ---------------------------------------------------------------------- glue

const FEATURES = {
  WebAssembly: () => typeof WebAssembly === 'object',
  IndexedDB: () => typeof indexedDB === 'object',
  getUserMedia: () => !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia),
  getDisplayMedia: () => !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia),
  MediaRecorder: () => typeof MediaRecorder === 'function',
  OffscreenCanvas: () => typeof OffscreenCanvas === 'function',
  Worker: () => typeof Worker === 'function',
};

class Session {
  constructor(options, listeners) {
    this.endpoint = options.endpoint;
    this.token = options.token;
    this.liveUrl = options.liveUrl;
    this.listeners = listeners;
    this.streams = { camera: null, screen: null };
    this.recorder = null;
    // The video segment being recorded, per track (recording = video).
    this.videos = { camera: null, screen: null };
    this.keys = 0;
    this.encodes = new Map();
    this.nextEncode = 1;
    this.cleanups = [];
    this.overlay = new Overlay((reason) => this.fix(reason));
    this.stopped = false;
    this.ownFullscreen = false;
    this.diagnostics = { calls: 0, busy_ms: 0, max_ms: 0, over_16ms: 0 };
  }

  async start(wasmUrl) {
    const missing = Object.keys(FEATURES).filter((name) => !FEATURES[name]());
    if (missing.includes('WebAssembly') || missing.includes('IndexedDB')) {
      // Without the core there is nothing to run; still tell the candidate.
      this.overlay.show(['unsupported_browser'], true);
      throw Object.assign(new Error(`this browser lacks ${missing.join(', ')}`), { code: 'unsupported_browser' });
    }
    try {
      this.wasm = await wasm_bindgen({ module_or_path: wasmUrl });
    } catch (error) {
      // Usually the wasm's server: a 404, or a CDN without CORS headers.
      throw Object.assign(new Error(`the SDK core could not be loaded from ${wasmUrl}: ${error}`), { code: 'wasm_load_failed' });
    }
    this.db = await openDb();
    const seed = crypto.getRandomValues(new Uint32Array(2));
    this.core = new wasm_bindgen.Core(this.endpoint, this.token, seed[0], seed[1], Date.now());
    // Leftovers of earlier pages first: their events are older and go first.
    this.input('restored', await this.restore());
    this.input('start', {
      user_agent: navigator.userAgent,
      screen_w: screen.width,
      screen_h: screen.height,
      displays: screen.isExtended ? 2 : 1,
      missing_features: missing,
    });
    if (!missing.includes('Worker')) {
      const source = `(${workerMain.toString()})()`;
      this.worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
      this.worker.onmessage = (message) => this.onWorker(message.data);
    } else {
      this.tickTimer = setInterval(() => this.tick(), 1000);
    }
    this.listen();
  }

  /**
   * This browser's leftovers: the slices of audio chunks and video segments
   * a closed page was recording become whole objects (up to their last
   * persisted slice), then everything is handed to the core.
   */
  async restore() {
    const slices = await readAll(this.db, 'slices');
    const chunks = new Map();
    for (const [key, value] of slices) {
      if (!chunks.has(value.key)) chunks.set(value.key, { meta: value.meta, parts: [], keys: [], lastAt: value.meta.ts });
      const chunk = chunks.get(value.key);
      chunk.parts.push(value.blob);
      chunk.keys.push(key);
      if (value.at > chunk.lastAt) chunk.lastAt = value.at;
    }
    for (const chunk of chunks.values()) {
      // The page died mid-slice: the last slice may end inside a block.
      const whole = new Blob(chunk.parts);
      const bytes = new Uint8Array(await whole.arrayBuffer());
      const parts = [whole.slice(0, completeWebmLength(bytes))];
      await this.storeChunk(chunk.meta, parts, chunk.keys, chunk.lastAt);
    }
    const sessions = (await readAll(this.db, 'sessions')).map(([, value]) => JSON.parse(value));
    const events = (await readAll(this.db, 'events')).map(([key, json]) => {
      const [session_id, seq] = key.split('/');
      return { session_id, seq: Number(seq), json };
    });
    const media = (await readAll(this.db, 'media')).map(([, value]) => value.item);
    return { sessions, events, media };
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
    // Clipboard: the action and a character count, never the text.
    const selected = () => String(document.getSelection() || '').length;
    on(document, 'copy', () => this.input('clipboard', ['copy', selected()]), true);
    on(document, 'cut', () => this.input('clipboard', ['cut', selected()]), true);
    on(document, 'paste', (e) => {
      const chars = e.clipboardData ? e.clipboardData.getData('text').length : 0;
      this.input('clipboard', ['paste', chars]);
    }, true);
    on(document, 'contextmenu', () => this.input('context_menu'), true);
    // Keys are counted here and reported once a second; their values are never read.
    on(document, 'keydown', () => { this.keys++; }, true);
    on(window, 'online', () => this.input('network', 'online'));
    on(window, 'offline', () => this.input('network', 'offline'));
    on(window, 'pagehide', () => this.input('page_hide'));
  }

  tick() {
    if (!this.core) return;
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
      case 'acquire_devices': return this.acquireDevices();
      case 'overlay': return this.overlay.show(c.reasons, c.setup);
      case 'capture': return c.kind === 'audio' ? this.startAudio(c) : this.captureImage(c);
      case 'record': return this.startVideo(c);
      case 'pause_audio': return this.stopAudio(true);
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
          const headers = Object.fromEntries(c.headers);
          headers['content-type'] = stored.blob.type || 'application/octet-stream';
          request = { method: 'PUT', headers, body: stored.blob };
        }
        const response = await fetch(c.url, { ...request, signal: AbortSignal.timeout(60000) });
        status = response.status;
        if (!response.ok) body = (await response.text()).slice(0, 300);
      }
    } catch (_) {
      status = 0;
    }
    this.input('response', [c.req, status, body, null]);
  }

  // ----------------------------------------------------------------- devices

  async acquireDevices() {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
      if (this.stopped) return stream.getTracks().forEach((t) => t.stop());
      // A retry replaces the old stream; its tracks must not keep the camera
      // on (nor the clone a video segment records).
      if (this.streams.camera) {
        this.endVideo('camera');
        this.streams.camera.getTracks().forEach((t) => t.stop());
      }
      this.streams.camera = stream;
      for (const track of stream.getTracks()) {
        track.addEventListener('ended', () => {
          if (this.streams.camera === stream) {
            if (track.kind === 'video') this.endVideo('camera');
            this.input('permission', [track.kind === 'video' ? 'camera' : 'microphone', 'revoked']);
          }
        });
      }
      this.input('permission', ['camera', 'granted']);
      this.input('permission', ['microphone', 'granted']);
      this.watchPermission('camera');
      this.watchPermission('microphone');
    } catch (error) {
      const denied = error && (error.name === 'NotAllowedError' || error.name === 'SecurityError');
      if (!denied) this.input('sdk_error', ['devices', String(error)]);
      this.input('permission', ['camera', 'denied']);
      this.input('permission', ['microphone', 'denied']);
    }
  }

  /** A permission revoked in the site settings ends the tracks; a grant there retries. */
  async watchPermission(name) {
    if (this.watched && this.watched[name]) return;
    this.watched = Object.assign(this.watched || {}, { [name]: true });
    try {
      const status = await navigator.permissions.query({ name });
      status.onchange = () => {
        if (status.state === 'denied') this.input('permission', [name, 'revoked']);
        const live = this.streams.camera && this.streams.camera.getTracks().every((t) => t.readyState === 'live');
        if (status.state === 'granted' && !this.stopped && !live) this.acquireDevices();
      };
    } catch (_) {
      // Not every browser can query camera permissions; track 'ended' still works.
    }
  }

  /** The overlay's buttons: each runs inside the click, which screen sharing and fullscreen require. */
  fix(reason) {
    if (reason === 'camera_permission' || reason === 'microphone_permission') return this.acquireDevices();
    if (reason === 'screen_permission' || reason === 'screen_share_stopped') return this.shareScreen();
    if (reason === 'fullscreen_exited') {
      return document.documentElement.requestFullscreen().then(() => { this.ownFullscreen = true; }, (error) =>
        this.input('sdk_error', ['fullscreen', String(error)]));
    }
  }

  async shareScreen() {
    try {
      const stream = await navigator.mediaDevices.getDisplayMedia({ video: { displaySurface: 'monitor' }, audio: false });
      if (this.stopped) return stream.getTracks().forEach((t) => t.stop());
      const track = stream.getVideoTracks()[0];
      const surface = track.getSettings().displaySurface;
      if (surface && surface !== 'monitor') {
        this.input('sdk_error', ['screen_surface', `shared a ${surface}, not the whole screen`]);
      }
      if (this.streams.screen) {
        this.endVideo('screen');
        this.streams.screen.getTracks().forEach((t) => t.stop());
      }
      this.streams.screen = stream;
      track.addEventListener('ended', () => {
        if (this.streams.screen !== stream) return;
        this.endVideo('screen');
        this.input('screen_share_ended');
      });
      this.input('permission', ['screen', 'granted']);
    } catch (error) {
      this.input('permission', ['screen', 'denied']);
    }
  }

  // ---------------------------------------------------------------- captures

  async captureImage(c) {
    const stream = c.kind === 'face' ? this.streams.camera : this.streams.screen;
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
    const pending = this.encodes.get(message.id);
    if (!pending) return;
    this.encodes.delete(message.id);
    if (message.error) pending.reject(new Error(message.error));
    else pending.resolve(message.blob);
  }

  /** Records the audio chunk `c.key` in 5 s slices, each persisted at once. */
  startAudio(c) {
    this.stopAudio(true);
    const stream = this.streams.camera;
    const track = stream && stream.getAudioTracks()[0];
    if (!track || track.readyState !== 'live') {
      return this.input('capture_failed', ['audio', c.capture_seq, 'no live audio track']);
    }
    const meta = { key: c.key, kind: 'audio', session_id: c.session_id, capture_seq: c.capture_seq, ts: c.ts, bytes: 0, attempts: 0 };
    const recorder = new MediaRecorder(new MediaStream([track]), { mimeType: 'audio/webm;codecs=opus', audioBitsPerSecond: AUDIO_BITS });
    this.recorder = { recorder, chunk: this.recordSlices(recorder, meta, AUDIO_SLICE_MS) };
  }

  /**
   * Records the video segment `c.key` of `c.track` (recording = video).
   * The track's previous segment stops only once this one runs, so
   * consecutive segments meet; each starts with a keyframe and plays on
   * its own. A track that is not live just ends the previous segment.
   */
  startVideo(c) {
    const previous = this.videos[c.track];
    this.videos[c.track] = null;
    const stream = c.track === 'camera' ? this.streams.camera : this.streams.screen;
    const track = stream && stream.getVideoTracks()[0];
    if (track && track.readyState === 'live' && !this.stopped) {
      const source = track.clone();
      source.applyConstraints(VIDEO_SHAPE[c.track]).catch(() => {});
      const meta = { key: c.key, kind: `${c.track}_video`, session_id: c.session_id, capture_seq: c.segment_seq, ts: c.ts, bytes: 0, attempts: 0 };
      try {
        const type = MediaRecorder.isTypeSupported('video/webm;codecs=vp8') ? 'video/webm;codecs=vp8' : 'video/webm';
        const recorder = new MediaRecorder(new MediaStream([source]), { mimeType: type, videoBitsPerSecond: c.kbps * 1000 });
        const chunk = this.recordSlices(recorder, meta, VIDEO_SLICE_MS, () => source.stop());
        this.videos[c.track] = { recorder, chunk };
      } catch (error) {
        source.stop();
        this.input('sdk_error', ['recording', `${c.track}: ${String(error).slice(0, 200)}`]);
      }
    }
    if (previous) this.endRecording(previous, true);
  }

  /**
   * Runs `recorder`, persisting each slice of `meta.key` as it comes (a
   * closed tab loses at most the last slice; the next visit joins the rest,
   * see restore). When it stops, the slices become one stored object
   * reported to the core, or are deleted if `chunk.keep` was cleared.
   */
  recordSlices(recorder, meta, sliceMs, onStopped) {
    const chunk = { meta, parts: [], keys: [], writes: [], keep: true, lastAt: meta.ts };
    recorder.ondataavailable = (e) => {
      if (!e.data || !e.data.size) return;
      const at = Date.now();
      const sliceKey = `${meta.key}#${String(chunk.parts.length).padStart(4, '0')}`;
      chunk.parts.push(e.data);
      chunk.keys.push(sliceKey);
      chunk.lastAt = at;
      chunk.writes.push(tx(this.db, 'slices', 'readwrite', (s) => s.put({ key: meta.key, meta, blob: e.data, at }, sliceKey)).catch(() => {}));
    };
    recorder.onstop = async () => {
      if (onStopped) onStopped();
      await Promise.all(chunk.writes);
      if (!chunk.keep) {
        await tx(this.db, 'slices', 'readwrite', (s) => chunk.keys.forEach((k) => s.delete(k))).catch(() => {});
        return;
      }
      const item = await this.storeChunk(meta, chunk.parts, chunk.keys, chunk.lastAt);
      if (item) this.input('captured', item);
    };
    recorder.start(sliceMs);
    return chunk;
  }

  /** Ends the video segment of `track` being recorded, keeping it (its source went away). */
  endVideo(track) {
    const recording = this.videos[track];
    this.videos[track] = null;
    if (recording) this.endRecording(recording, true);
  }

  /** Stops a recording; `keep`: store and report what it holds, else delete it. */
  endRecording({ recorder, chunk }, keep) {
    chunk.keep = keep;
    if (recorder.state !== 'inactive') recorder.stop();
  }

  stopAudio(keep) {
    if (!this.recorder) return;
    const recording = this.recorder;
    this.recorder = null;
    this.endRecording(recording, keep);
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
        await new Promise((resolve, reject) => { t.oncomplete = resolve; t.onerror = () => reject(t.error); t.onabort = () => reject(t.error); });
      }
    } catch (error) {
      // IndexedDB itself failed: the parts stay as they are and the core
      // asks again after a while.
      return this.input('sdk_error', ['bundle', String(error).slice(0, 200)]);
    }
    this.input('bundled', [key, missing]);
  }

  /**
   * Joins a chunk's slices into one object, stored for upload; the slices
   * go. A video segment's duration runs from its start to its last slice.
   */
  async storeChunk(meta, parts, sliceKeys, lastAt) {
    if (!parts.length) return null;
    const video = meta.kind.endsWith('_video');
    const blob = new Blob(parts, { type: video ? 'video/webm' : 'audio/webm' });
    const item = { ...meta, bytes: blob.size };
    if (video) item.duration_ms = Math.max(1, Math.round(lastAt - meta.ts));
    const t = this.db.transaction(['media', 'slices'], 'readwrite');
    t.objectStore('media').put({ blob, item }, meta.key);
    for (const key of sliceKeys) t.objectStore('slices').delete(key);
    await new Promise((resolve, reject) => { t.oncomplete = resolve; t.onerror = () => reject(t.error); });
    return item;
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
    const live = { publisher: null, abort: null, pause: LIVE_RETRY_MS[0], seen: 0 };
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
        const response = await fetch(`${this.endpoint}/api/v1/live/signal?publishing=${sending}&seen=${live.seen}`, {
          headers: { authorization: `Bearer ${this.token}` },
          cache: 'no-store',
          signal: live.abort.signal,
        });
        if (!response.ok) throw new Error(`signal ${response.status}`);
        signal = await response.json();
      } catch (_) {
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
            camera: this.streams.camera,
            screen: this.streams.screen,
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
      if (!this.notes) this.notes = new module.Notes();
      this.notes.show(level === 'warning', String(text));
    }, () => {});
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
      this.liveLoading = new Promise((resolve, reject) => {
        if (window.invigilLive) return resolve(window.invigilLive);
        const script = document.createElement('script');
        script.src = this.liveUrl;
        script.onload = () => (window.invigilLive ? resolve(window.invigilLive) : reject(new Error('invigil-live.js did not load')));
        script.onerror = () => reject(new Error(`cannot load ${this.liveUrl}`));
        document.head.appendChild(script);
      }).catch((error) => {
        this.liveLoading = null;
        throw error;
      });
    }
    return this.liveLoading;
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
    this.stopAudio(keepAudio);
    for (const name of Object.keys(this.videos)) {
      if (this.videos[name]) this.endRecording(this.videos[name], keepAudio);
      this.videos[name] = null;
    }
    for (const stream of Object.values(this.streams)) if (stream) stream.getTracks().forEach((t) => t.stop());
    this.streams = { camera: null, screen: null };
    this.overlay.hide();
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

/**
 * How much of a WebM cut off anywhere is whole: its length up to the end of
 * the last complete element (a block, usually), so a recording restored
 * after its page died ends cleanly instead of in a torn block. Walks the
 * EBML elements flat, stepping into the Segment and its Clusters (whose
 * sizes a live recorder leaves unknown) and over everything else.
 */
function completeWebmLength(bytes) {
  const SEGMENT = 0x18538067;
  const CLUSTER = 0x1f43b675;
  // An EBML variable-length integer at `at`: [length, value], or null if cut off.
  const vint = (at, keepMarker) => {
    const first = bytes[at];
    if (first === undefined || first === 0) return null;
    const length = Math.clz32(first) - 23;
    if (at + length > bytes.length) return null;
    let value = keepMarker ? first : first & (0xff >> length);
    for (let i = 1; i < length; i++) value = value * 256 + bytes[at + i];
    return [length, value];
  };
  let at = 0;
  let end = 0;
  while (at < bytes.length) {
    const id = vint(at, true);
    const size = id && vint(at + id[0], false);
    if (!size) break;
    const body = at + id[0] + size[0];
    if (id[1] === SEGMENT || id[1] === CLUSTER) {
      at = body;
      continue;
    }
    if (body + size[1] > bytes.length) break;
    at = body + size[1];
    end = at;
  }
  return end || bytes.length;
}

/** One frame of a video track as an ImageBitmap. */
async function grabFrame(track) {
  if (typeof ImageCapture === 'function') {
    try { return await new ImageCapture(track).grabFrame(); } catch (_) { /* fall back to a video element */ }
  }
  const video = document.createElement('video');
  video.muted = true;
  video.srcObject = new MediaStream([track]);
  await video.play();
  const bitmap = await createImageBitmap(video);
  video.pause();
  video.srcObject = null;
  return bitmap;
}

// ------------------------------------------------------------------ public API

const listeners = { block: [], unblock: [], status: [], uploads: [], error: [] };
/** Lifecycle and upload state, as the last notices said. */
const state = { status: 'idle', uploads: 'enabled' };
let session = null;
let settle = null;
const ready = new Promise((resolve, reject) => { settle = { resolve, reject }; });
// A host that never awaits `ready` must not see an unhandled rejection.
ready.catch(() => {});

/** Tells the host the SDK could not start: status `failed` and an `error`. */
function failed(error) {
  state.status = 'failed';
  const code = error && error.code ? error.code : 'start_failed';
  const detail = { code, message: String(error && error.message ? error.message : error) };
  for (const fn of listeners.status) { try { fn({ state: 'failed' }); } catch (_) { /* the host's problem */ } }
  for (const fn of listeners.error) { try { fn(detail); } catch (_) { /* the host's problem */ } }
  settle.reject(Object.assign(new Error(detail.message), { code }));
}

const invigil = {
  version: '__INVIGIL_VERSION__',
  /** Starts proctoring; `endpoint` is ingest's base URL, `token` the candidate JWT. */
  start(options = {}) {
    if (session) return session.started;
    const endpoint = options.endpoint || (SCRIPT && SCRIPT.dataset.endpoint);
    const token = options.token || (SCRIPT && SCRIPT.dataset.token);
    if (!endpoint || !token) throw new Error('invigil.start needs an endpoint and a token');
    const liveUrl = options.liveUrl || (SCRIPT && SCRIPT.dataset.liveUrl) || new URL('invigil-live.js', BASE_URL).href;
    session = new Session({ endpoint: endpoint.replace(/\/$/, ''), token, liveUrl }, listeners);
    state.status = 'loading';
    const starting = session;
    session.started = session.start(options.wasmUrl || (SCRIPT && SCRIPT.dataset.wasmUrl) || new URL('invigil_bg.wasm', BASE_URL).href).then(() => {
      settle.resolve(invigil);
    }, (error) => {
      console.error('invigil failed to start', error);
      // Nothing runs, nothing blocks the candidate; start() may be tried again.
      if (session === starting) session = null;
      failed(error);
    });
    return session.started;
  },
  /** Ends the session: devices released, overlay removed, queued data still delivered. */
  stop() {
    if (session) session.input('stop');
  },
  on(name, fn) {
    if (!listeners[name]) throw new Error(`unknown invigil event ${name}`);
    listeners[name].push(fn);
  },
  off(name, fn) {
    if (listeners[name]) listeners[name] = listeners[name].filter((f) => f !== fn);
  },
  /** A host-app event (question changed, …) on the candidate's timeline. */
  track(name, data = null) {
    if (session) session.input('custom', [String(name), data]);
  },
  /** Replaces an expired candidate token. */
  setToken(token) {
    if (!session) return;
    session.token = token;
    session.input('token');
  },
  /** What the SDK has cost this page (since the last reset): main-thread calls and time, wasm memory. */
  diagnostics({ reset = false } = {}) {
    if (!session) return null;
    const memory = session.wasm && session.wasm.memory ? session.wasm.memory.buffer.byteLength : 0;
    const out = { ...session.diagnostics, wasm_memory_bytes: memory };
    if (reset) session.diagnostics = { calls: 0, busy_ms: 0, max_ms: 0, over_16ms: 0 };
    return out;
  },
  get sessionId() {
    return session && session.core ? session.core.session_id : null;
  },
  /** Lifecycle: idle, loading, configuring, setup, running, stopping, stopped, failed. */
  get status() {
    return state.status;
  },
  /** Media uploads: enabled, or disabled after credentials kept failing (events still flow). */
  get uploads() {
    return state.uploads;
  },
  /** Settles once the core runs: resolves with this API, rejects if it could not start. */
  ready,
};

window.invigil = invigil;
// For async script tags: the API exists from here on; a listener attached
// now hears every notice.
window.dispatchEvent(new CustomEvent('invigil:loaded', { detail: invigil }));
if (SCRIPT && SCRIPT.dataset.token && SCRIPT.dataset.endpoint) {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => invigil.start());
  else invigil.start();
}
