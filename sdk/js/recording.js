// Recordings: 30 s audio chunks (Opus) and, with `recording = video`, the
// camera's and screen's video segments (VP8). Each is persisted a slice at
// a time, so a closed tab loses at most the last slice; the next visit
// joins the rest (restoreSlices).

import { committed, readAll, tx } from './db.js';

const AUDIO_SLICE_MS = 5000;
const AUDIO_BITS = 12000;
// Video segments are persisted a second at a time. Size and frame rate
// (the test's recording.camera / recording.screen, in the core's `record`
// command) are capped on a clone of the track, so the software encoder's
// work stays small and the live view (which uses the track itself) is
// untouched.
const VIDEO_SLICE_MS = 1000;

/** The audio chunk and video segments being recorded. */
export class Recordings {
  constructor(session) {
    this.session = session;
    this.audio = null;
    this.videos = { camera: null, screen: null };
  }

  /** Records the audio chunk `c.key` in 5 s slices, each persisted at once. */
  startAudio(c) {
    this.stopAudio(true);
    const stream = this.session.devices.streams.camera;
    const track = stream && stream.getAudioTracks()[0];
    if (!track || track.readyState !== 'live') {
      return this.session.input('capture_failed', ['audio', c.capture_seq, 'no live audio track']);
    }
    const meta = { key: c.key, kind: 'audio', session_id: c.session_id, capture_seq: c.capture_seq, ts: c.ts, bytes: 0, attempts: 0 };
    const recorder = new MediaRecorder(new MediaStream([track]), { mimeType: 'audio/webm;codecs=opus', audioBitsPerSecond: AUDIO_BITS });
    this.audio = { recorder, chunk: this.recordSlices(recorder, meta, AUDIO_SLICE_MS) };
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
    const stream = this.session.devices.streams[c.track];
    const track = stream && stream.getVideoTracks()[0];
    if (track && track.readyState === 'live' && !this.session.stopped) {
      const source = track.clone();
      source.applyConstraints({ width: { max: c.width }, height: { max: c.height }, frameRate: { max: c.fps } }).catch(() => {});
      const meta = { key: c.key, kind: `${c.track}_video`, session_id: c.session_id, capture_seq: c.segment_seq, ts: c.ts, bytes: 0, attempts: 0 };
      try {
        const type = MediaRecorder.isTypeSupported('video/webm;codecs=vp8') ? 'video/webm;codecs=vp8' : 'video/webm';
        const recorder = new MediaRecorder(new MediaStream([source]), { mimeType: type, videoBitsPerSecond: c.kbps * 1000 });
        const chunk = this.recordSlices(recorder, meta, VIDEO_SLICE_MS, () => source.stop());
        this.videos[c.track] = { recorder, chunk };
      } catch (error) {
        source.stop();
        this.session.input('sdk_error', ['recording', `${c.track}: ${String(error).slice(0, 200)}`]);
      }
    }
    if (previous) this.end(previous, true);
  }

  /**
   * Runs `recorder`, persisting each slice of `meta.key` as it comes. When
   * it stops, the slices become one stored object reported to the core, or
   * are deleted if `chunk.keep` was cleared.
   */
  recordSlices(recorder, meta, sliceMs, onStopped) {
    const db = this.session.db;
    const chunk = { meta, parts: [], keys: [], writes: [], keep: true, lastAt: meta.ts };
    recorder.ondataavailable = (e) => {
      if (!e.data || !e.data.size) return;
      const at = Date.now();
      const sliceKey = `${meta.key}#${String(chunk.parts.length).padStart(4, '0')}`;
      chunk.parts.push(e.data);
      chunk.keys.push(sliceKey);
      chunk.lastAt = at;
      chunk.writes.push(tx(db, 'slices', 'readwrite', (s) => s.put({ key: meta.key, meta, blob: e.data, at }, sliceKey)).catch(() => {}));
    };
    recorder.onstop = async () => {
      if (onStopped) onStopped();
      await Promise.all(chunk.writes);
      if (!chunk.keep) {
        await tx(db, 'slices', 'readwrite', (s) => chunk.keys.forEach((k) => s.delete(k))).catch(() => {});
        return;
      }
      const item = await storeChunk(db, meta, chunk.parts, chunk.keys, chunk.lastAt);
      if (item) this.session.input('captured', item);
      // An audio chunk stopped before its first sound (a stop right after it
      // began) is reported as such, so a stopping session does not wait for
      // it until its deadline.
      else if (meta.kind === 'audio') this.session.input('capture_failed', ['audio', meta.capture_seq, 'nothing was recorded']);
    };
    recorder.start(sliceMs);
    return chunk;
  }

  /** Ends the video segment of `track` being recorded, keeping it (its source went away). */
  endVideo(track) {
    const recording = this.videos[track];
    this.videos[track] = null;
    if (recording) this.end(recording, true);
  }

  /** Stops a recording; `keep`: store and report what it holds, else delete it. */
  end({ recorder, chunk }, keep) {
    chunk.keep = keep;
    if (recorder.state !== 'inactive') recorder.stop();
  }

  stopAudio(keep) {
    if (!this.audio) return;
    const recording = this.audio;
    this.audio = null;
    this.end(recording, keep);
  }

  /** Stops everything; `keep` as for [`end`]. */
  stopAll(keep) {
    this.stopAudio(keep);
    for (const name of Object.keys(this.videos)) {
      if (this.videos[name]) this.end(this.videos[name], keep);
      this.videos[name] = null;
    }
  }

  /**
   * This browser's leftovers: the slices of audio chunks and video segments
   * a closed page was recording become whole objects (up to their last
   * persisted slice), ready for the core's restore. `ours(session_id)`
   * says whose are this page's to join: not a live tab's.
   */
  async restoreSlices(ours = () => true) {
    const db = this.session.db;
    const chunks = new Map();
    for (const [key, value] of await readAll(db, 'slices')) {
      if (!ours(value.meta.session_id)) continue;
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
      await storeChunk(db, chunk.meta, parts, chunk.keys, chunk.lastAt);
    }
  }
}

/**
 * Joins a chunk's slices into one object, stored for upload; the slices
 * go. A video segment's duration runs from its start to its last slice.
 */
async function storeChunk(db, meta, parts, sliceKeys, lastAt) {
  if (!parts.length) return null;
  const video = meta.kind.endsWith('_video');
  const blob = new Blob(parts, { type: video ? 'video/webm' : 'audio/webm' });
  const item = { ...meta, bytes: blob.size };
  if (video) item.duration_ms = Math.max(1, Math.round(lastAt - meta.ts));
  const t = db.transaction(['media', 'slices'], 'readwrite');
  t.objectStore('media').put({ blob, item }, meta.key);
  for (const key of sliceKeys) t.objectStore('slices').delete(key);
  await committed(t);
  return item;
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
