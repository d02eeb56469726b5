// invigil browser SDK: the glue around the WebAssembly core.
//
// The core (Rust, sdk/src) decides everything: when to capture, what to send,
// when to retry, what blocks the candidate. This file only carries out its
// commands with browser APIs (fetch, IndexedDB, getUserMedia,
// getDisplayMedia, MediaRecorder, a Worker) and reports back what happened.
// This is the entry: sdk/build.sh bundles it and the modules it imports
// (session, devices, recording, overlay, worker, db) with esbuild and wraps
// the result with the wasm-bindgen glue into dist/invigil.js.
//
//   <script src="https://host/invigil.js" data-endpoint="https://proctor.example.com"
//           data-token="JWT" async></script>
//
// or, for apps that want control: invigil.start({ endpoint, token }),
// invigil.stop(), invigil.on('block' | 'unblock' | 'status' | 'uploads' |
// 'error' | 'identity', fn), invigil.track(name, data), invigil.setToken(jwt). With an
// async tag, listen for the window's 'invigil:loaded' event (detail: the
// API) to attach listeners before any notice; `invigil.ready` settles once
// the core runs (or could not start: then status 'failed' and an 'error').

import { Session, state } from './session.js';

const SCRIPT = document.currentScript;
const BASE_URL = SCRIPT && SCRIPT.src ? new URL('.', SCRIPT.src).href : new URL('.', location.href).href;

// ------------------------------------------------------------------ public API

const listeners = { block: [], unblock: [], status: [], uploads: [], error: [], identity: [] };
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
    const faceUrl = options.faceUrl || (SCRIPT && SCRIPT.dataset.faceUrl) || new URL('invigil-face.js', BASE_URL).href;
    session = new Session({ endpoint: endpoint.replace(/\/$/, ''), token, liveUrl, faceUrl }, listeners);
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
