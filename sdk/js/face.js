// invigil face checks: a face detector (YuNet, run by invigil's own small
// wasm runtime, sdk/face/) in a Web Worker of its own.
//
// invigil.js loads this file (built to dist/invigil-face.js) only when the
// test's config turns face checks on, so nobody else downloads it. The
// Worker fetches the detector's wasm and the model from beside this file,
// checks the model's SHA-256, and answers each check with counts and
// measures only: how many faces, the best score, the widest face's share of
// the frame, the frame's brightness, the milliseconds taken. No pixel
// leaves the Worker. Nothing here blocks the test: a failure is an error
// the SDK reports, and the exam goes on.
//
// Identity continuity (`face_check.mode = "identity"`, biometric processing
// a test turns on only with a legal basis) loads a face recogniser (SFace,
// ~10 MB) into the same Worker on request. The page's first comparable face
// becomes the reference; later checks send only its similarity to it. The
// embeddings stay in the Worker's memory and end with it.
(function () {
  'use strict';

  // Runs inside the Worker, started from a blob URL so the SDK works from
  // any origin: it must not refer to anything outside itself.
  function workerMain() {
    const WIDTH = 320;
    // Scores are read from this floor so a frame with no face still says
    // how close the best candidate came; faces are counted at the test's
    // threshold. (Greedy suppression keeps the same boxes above it.)
    const FLOOR = 0.3;
    const PER_FACE = 15;
    let wasm = null;
    let frame = 0;
    let frameBytes = 0;
    let canvas = null;

    const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
    const lastError = (e) => new TextDecoder().decode(new Uint8Array(e.memory.buffer, e.face_error_ptr(), e.face_error_len()));
    const thousandths = (x) => Math.round(Math.min(1, Math.max(0, x)) * 1000);
    let identityReady = false;

    async function fetchModel(url, sha256, what) {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      const model = await response.arrayBuffer();
      const digest = hex(await crypto.subtle.digest('SHA-256', model));
      if (digest !== sha256) throw new Error(`the ${what}'s SHA-256 is ${digest}, not the pinned one`);
      return model;
    }

    /** Copies `model` into the module and hands it to `loader`. */
    function install(e, loader, model) {
      const at = e.face_alloc(model.byteLength);
      new Uint8Array(e.memory.buffer, at, model.byteLength).set(new Uint8Array(model));
      const failed = loader(at, model.byteLength) !== 0;
      e.face_free(at, model.byteLength);
      if (failed) throw new Error(lastError(e));
    }

    async function load({ wasmUrl, modelUrl, modelSha256 }) {
      const started = performance.now();
      const code = fetch(wasmUrl).then((r) => (r.ok ? r.arrayBuffer() : Promise.reject(new Error(`${wasmUrl}: HTTP ${r.status}`))));
      const [bytes, model] = await Promise.all([code, fetchModel(modelUrl, modelSha256, 'face model')]);
      const { instance } = await WebAssembly.instantiate(bytes, {});
      install(instance.exports, instance.exports.face_load, model);
      wasm = instance.exports;
      return Math.round(performance.now() - started);
    }

    async function loadIdentity({ modelUrl, modelSha256 }) {
      const started = performance.now();
      const model = await fetchModel(modelUrl, modelSha256, 'face recogniser');
      install(wasm, wasm.face_load_recognizer, model);
      identityReady = true;
      return Math.round(performance.now() - started);
    }

    function check(bitmap, threshold, identity) {
      const started = performance.now();
      const height = Math.max(1, Math.round((bitmap.height * WIDTH) / bitmap.width));
      if (!canvas || canvas.height !== height) canvas = new OffscreenCanvas(WIDTH, height);
      const context = canvas.getContext('2d', { willReadFrequently: true });
      context.drawImage(bitmap, 0, 0, WIDTH, height);
      bitmap.close();
      const pixels = context.getImageData(0, 0, WIDTH, height).data;
      if (frameBytes !== pixels.length) {
        if (frame) wasm.face_free(frame, frameBytes);
        frame = wasm.face_alloc(pixels.length);
        frameBytes = pixels.length;
      }
      new Uint8Array(wasm.memory.buffer, frame, frameBytes).set(pixels);
      const found = wasm.face_detect(frame, WIDTH, height, Math.min(FLOOR, threshold));
      if (found < 0) throw new Error(lastError(wasm));
      const results = new Float32Array(wasm.memory.buffer, wasm.face_results(), 2 + found * PER_FACE);
      let faces = 0;
      let widest = 0;
      for (let i = 0; i < found; i++) {
        const face = 2 + i * PER_FACE;
        if (results[face] < threshold) continue;
        faces += 1;
        widest = Math.max(widest, results[face + 3]);
      }
      const seen = {
        faces,
        confidence: found > 0 ? thousandths(results[2]) : 0,
        faceSize: thousandths(widest / WIDTH),
        light: thousandths(results[0] / 255),
        similarity: null,
        reference: false,
      };
      if (identity && identityReady && faces === 1) {
        const outcome = wasm.face_identify(frame, WIDTH, height, threshold);
        if (outcome < 0) throw new Error(lastError(wasm));
        if (outcome === 1) seen.similarity = thousandths(new Float32Array(wasm.memory.buffer, wasm.face_results(), 1)[0]);
        seen.reference = outcome === 2;
      }
      seen.ms = Math.round(performance.now() - started);
      return seen;
    }

    onmessage = async ({ data }) => {
      try {
        if (data.type === 'load') postMessage({ type: 'ready', ms: await load(data) });
        else if (data.type === 'identity') postMessage({ type: 'result', id: data.id, ms: await loadIdentity(data) });
        else postMessage({ type: 'result', id: data.id, ...check(data.bitmap, data.threshold, data.identity) });
      } catch (error) {
        postMessage({ type: 'error', id: data.id, message: String(error && error.message || error) });
      }
    };
  }

  /** After a failed load of the recogniser, the wait before the next try, ms. */
  const IDENTITY_RETRY_MS = 300000;

  /**
   * Starts the detector's Worker and loads the detector's wasm and model
   * from `files` (`{ wasm, yunet, sface }` URLs; the recogniser `sface`
   * only once a check asks for identity). Resolves, once loaded, with
   * `{ check(bitmap, threshold, identity), stop() }`; `check` transfers
   * the ImageBitmap and resolves with `{ faces, confidence, faceSize,
   * light, similarity, reference, ms }` (fractions in thousandths;
   * `similarity` null unless a face was compared). A check that asks for
   * identity starts loading the recogniser in the background and compares
   * once it is there; a failed load is told to `onIdentityError(error)`
   * and tried again after IDENTITY_RETRY_MS.
   */
  function start(files, onIdentityError) {
    const source = `(${workerMain.toString()})()`;
    const worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
    const pending = new Map();
    let nextId = 0;
    let loaded;
    const ready = new Promise((resolve, reject) => { loaded = { resolve, reject }; });
    worker.onmessage = ({ data }) => {
      if (data.type === 'ready') return loaded.resolve(data.ms);
      const call = pending.get(data.id);
      if (data.type === 'error' && !call) return loaded.reject(new Error(data.message));
      if (!call) return;
      pending.delete(data.id);
      if (data.type === 'error') call.reject(new Error(data.message));
      else call.resolve(data);
    };
    worker.onerror = (event) => loaded.reject(new Error(event.message || 'the face Worker failed'));
    worker.postMessage({
      type: 'load',
      wasmUrl: files.wasm,
      modelUrl: files.yunet,
      modelSha256: '__YUNET_SHA256__',
    });
    const call = (message, transfer = []) => {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ ...message, id }, transfer);
      });
    };
    const identity = { load: null, ready: false, retryAt: 0 };
    const checker = {
      check(bitmap, threshold, compare) {
        if (compare && !identity.load && Date.now() >= identity.retryAt) {
          identity.load = call({ type: 'identity', modelUrl: files.sface, modelSha256: '__SFACE_SHA256__' }).then(() => {
            identity.ready = true;
          }, (error) => {
            identity.load = null;
            identity.retryAt = Date.now() + IDENTITY_RETRY_MS;
            onIdentityError(error);
          });
        }
        return call({ type: 'check', bitmap, threshold, identity: !!compare && identity.ready }, [bitmap]);
      },
      stop() {
        worker.terminate();
        for (const call of pending.values()) call.reject(new Error('face checks stopped'));
        pending.clear();
      },
    };
    return ready.then(() => checker, (error) => {
      worker.terminate();
      throw error;
    });
  }

  window.invigilFace = { start };
})();
