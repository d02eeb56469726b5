// The npm package's ES module entry (`import invigil from '@invigil/sdk'`).
// sdk/build.sh bundles it (the wasm-bindgen loader included, through
// core.js) into dist/npm/invigil.mjs.
//
// Importing it does nothing but define the API: no global, no DOM, no
// network, no listeners. `invigil.start({ endpoint, token })` begins.
//
// The SDK's other files are named the ways Vite, webpack, Rollup and
// Parcel recognise, so a bundler carries them into its output: the wasm
// and the models as `new URL('./file', import.meta.url)` (copied, the URL
// rewritten), the live-video and face-check code as `import('./chunk.mjs')`
// (split into chunks of the host's build, never inlined as data: URLs a
// strict Content-Security-Policy would refuse). Without a bundler they are
// found beside this module. Each is fetched only when used: the core at
// start, live video when a proctor first watches, face checks when a test
// turns them on, a language's words when the page is in it.

import { createInvigil } from './api.js';

export const invigil = createInvigil(() => ({
  wasmUrl: new URL('./invigil_bg.wasm', import.meta.url).href,
  importLive: () => import('./invigil-live.mjs').then((chunk) => chunk.default),
  importFace: () => import('./invigil-face.mjs').then((chunk) => chunk.default),
  // One literal import per language, so every bundler splits each out.
  importMessages: (lang) => ({
    hi: () => import('./invigil-messages-hi.mjs'),
    es: () => import('./invigil-messages-es.mjs'),
    fr: () => import('./invigil-messages-fr.mjs'),
    ar: () => import('./invigil-messages-ar.mjs'),
  })[lang]().then((chunk) => chunk.default),
  faceFiles: {
    wasm: new URL('./invigil_face_bg.wasm', import.meta.url).href,
    yunet: new URL('./invigil-face-yunet.onnx', import.meta.url).href,
    sface: new URL('./invigil-face-sface.onnx', import.meta.url).href,
  },
}));

export default invigil;
