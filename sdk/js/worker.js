// The Worker: off the main thread, the 1 s tick (worker timers are not
// throttled like a hidden tab's), JPEG encoding with OffscreenCanvas and
// the WebGL probe of the environment signals.

import { probeGraphics } from './environment.js';

// Runs inside the Worker. Shipped as source in this file and started from a
// blob URL, so the SDK works from any origin: it must not refer to
// anything outside itself.
function workerMain(probeGraphics) {
  setInterval(() => postMessage({ type: 'tick' }), 1000);
  // WebGL's renderer names, once: a context costs tens of ms, here not on the page.
  const names = typeof OffscreenCanvas === 'function' ? probeGraphics(new OffscreenCanvas(1, 1)) : ['', ''];
  postMessage({ type: 'graphics', names });
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

/** Starts the Worker; `onMessage` gets its ticks, the graphics names and encoded images. */
export function startWorker(onMessage) {
  const source = `(${workerMain.toString()})(${probeGraphics.toString()})`;
  const worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
  worker.onmessage = (message) => onMessage(message.data);
  return worker;
}
