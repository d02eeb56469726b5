// The WebAssembly core's loader. `invigil-core` is wasm-bindgen's ES module
// for the core (`--target web`), which sdk/build.sh hands to the bundler
// under that name: only what is imported here is kept, so its own fetch
// and instantiate paths (their MIME-type fallback, deprecated call forms,
// a promise cache) never reach the bundle.

import { initSync, input, start, tick } from 'invigil-core';

/**
 * Fetches and compiles the core at `url`, then instantiates it (a compiled
 * module instantiates synchronously in well under a millisecond; browsers
 * only refuse that above 8 MB). Compiling from the bytes, not the stream,
 * works whatever Content-Type the host's server gives a .wasm file.
 * Resolves with the core's calls and its exports (`memory`, for
 * diagnostics).
 */
export async function loadCore(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const exports = initSync({ module: await WebAssembly.compile(await response.arrayBuffer()) });
  return { exports, start, input, tick };
}
