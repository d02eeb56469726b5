// The public API (`invigil.start`, `on`, …) as an object that touches
// nothing until `start` is called: no global, no DOM, no network. Its two
// entries publish it: invigil.js (the script tag) as window.invigil, and
// module.js (the npm package's ES module) as its export.

import { Messages, fetchCatalogue } from './messages.js';
import { Session, state } from './session.js';

/**
 * Where the face chunk's wasm and models are, when they sit beside
 * `faceUrl` (the script tag's layout, and any `faceUrl` a host gives).
 */
export function faceFilesBeside(faceUrl) {
  return {
    wasm: new URL('invigil_face_bg.wasm', faceUrl).href,
    yunet: new URL('invigil-face-yunet.onnx', faceUrl).href,
    sface: new URL('invigil-face-sface.onnx', faceUrl).href,
  };
}

/**
 * Makes the API. `defaults()` is asked at each `start` for what the
 * options leave out: `{ endpoint, token, locale, messages, wasmUrl,
 * liveUrl, faceUrl, faceFiles, messagesUrl, importLive, importFace,
 * importMessages }` (any may be missing; `faceFiles` defaults to the files
 * beside `faceUrl`; `importLive` / `importFace` / `importMessages` load a
 * chunk or catalogue as a module, used unless the options name its URL;
 * the locale falls back to the page's <html lang>).
 */
export function createInvigil(defaults) {
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
      const given = defaults();
      const endpoint = options.endpoint || given.endpoint;
      const token = options.token || given.token;
      if (!endpoint || !token) throw new Error('invigil.start needs an endpoint and a token');
      const faceUrl = options.faceUrl || given.faceUrl;
      const faceFiles = options.faceUrl || !given.faceFiles ? faceFilesBeside(faceUrl) : given.faceFiles;
      const locale = options.locale || given.locale || document.documentElement.lang;
      const messagesUrl = options.messagesUrl || given.messagesUrl;
      session = new Session({
        endpoint: endpoint.replace(/\/$/, ''),
        token,
        liveUrl: options.liveUrl || given.liveUrl,
        faceUrl,
        faceFiles,
        importLive: options.liveUrl ? null : given.importLive,
        importFace: options.faceUrl ? null : given.importFace,
        messages: new Messages(locale, options.messages || given.messages),
        importMessages: options.messagesUrl || !given.importMessages ? fetchCatalogue(messagesUrl) : given.importMessages,
      }, listeners);
      state.status = 'loading';
      const starting = session;
      session.started = session.start(options.wasmUrl || given.wasmUrl).then(() => {
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
      const memory = session.core ? session.core.exports.memory.buffer.byteLength : 0;
      const out = { ...session.diagnostics, wasm_memory_bytes: memory };
      if (reset) session.diagnostics = { calls: 0, busy_ms: 0, max_ms: 0, over_16ms: 0 };
      return out;
    },
    get sessionId() {
      return session && session.core ? session.sessionId : null;
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
  return invigil;
}
