// invigil browser SDK: the glue around the WebAssembly core.
//
// The core (Rust, sdk/src) decides everything: when to capture, what to send,
// when to retry, what blocks the candidate. This file only carries out its
// commands with browser APIs (fetch, IndexedDB, getUserMedia,
// getDisplayMedia, MediaRecorder, a Worker) and reports back what happened.
// This is the script tag's entry: sdk/build.sh bundles it and the modules it imports
// (api, session, core, devices, recording, overlay, worker, db, and through
// core.js wasm-bindgen's loader) with esbuild into dist/invigil.js.
//
//   <script src="https://host/invigil.js" data-endpoint="https://proctor.example.com"
//           data-token="JWT" data-locale="es" async></script>
//
// or, for apps that want control: invigil.start({ endpoint, token }),
// invigil.stop(), invigil.on('block' | 'unblock' | 'status' | 'uploads' |
// 'error' | 'identity', fn), invigil.track(name, data), invigil.setToken(jwt). With an
// async tag, listen for the window's 'invigil:loaded' event (detail: the
// API) to attach listeners before any notice; `invigil.ready` settles once
// the core runs (or could not start: then status 'failed' and an 'error').

import { createInvigil } from './api.js';

const SCRIPT = document.currentScript;
const BASE_URL = SCRIPT && SCRIPT.src ? new URL('.', SCRIPT.src).href : new URL('.', location.href).href;

/** `data-messages`, which a typo must not turn into a page that never starts. */
function parseMessages(json) {
  try {
    return JSON.parse(json);
  } catch (error) {
    console.warn(`invigil: data-messages is not JSON (${error.message}); the shipped words are used`);
    return undefined;
  }
}

// What `start` is not told comes from the tag's data- attributes, and the
// SDK's other files from beside this one.
const invigil = createInvigil(() => {
  const data = SCRIPT ? SCRIPT.dataset : {};
  return {
    endpoint: data.endpoint,
    token: data.token,
    locale: data.locale,
    // The host's own strings: a JSON object of message keys (messages.js).
    messages: data.messages ? parseMessages(data.messages) : undefined,
    messagesUrl: data.messagesUrl || BASE_URL,
    wasmUrl: data.wasmUrl || new URL('invigil_bg.wasm', BASE_URL).href,
    liveUrl: data.liveUrl || new URL('invigil-live.js', BASE_URL).href,
    faceUrl: data.faceUrl || new URL('invigil-face.js', BASE_URL).href,
  };
});

window.invigil = invigil;
// For async script tags: the API exists from here on; a listener attached
// now hears every notice.
window.dispatchEvent(new CustomEvent('invigil:loaded', { detail: invigil }));
if (SCRIPT && SCRIPT.dataset.token && SCRIPT.dataset.endpoint) {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => invigil.start());
  else invigil.start();
}
