// The camera, microphone and screen: asking for them, noticing when they go
// (a revoked permission, a stopped share) and telling the core; and one
// frame of a video track for a capture.

/** What the SDK needs of the browser; each is checked before the core starts. */
export const FEATURES = {
  WebAssembly: () => typeof WebAssembly === 'object',
  IndexedDB: () => typeof indexedDB === 'object',
  getUserMedia: () => !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia),
  getDisplayMedia: () => !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia),
  MediaRecorder: () => typeof MediaRecorder === 'function',
  OffscreenCanvas: () => typeof OffscreenCanvas === 'function',
  Worker: () => typeof Worker === 'function',
};

/** The streams the session holds: `camera` (with the microphone) and `screen`. */
export class Devices {
  constructor(session) {
    this.session = session;
    this.streams = { camera: null, screen: null };
    this.watched = {};
  }

  /** Camera and microphone in one request; the outcome goes to the core either way. */
  async acquire() {
    const session = this.session;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
      if (session.stopped) return stream.getTracks().forEach((t) => t.stop());
      // A retry replaces the old stream; its tracks must not keep the camera
      // on (nor the clone a video segment records).
      if (this.streams.camera) {
        session.recordings.endVideo('camera');
        this.streams.camera.getTracks().forEach((t) => t.stop());
      }
      this.streams.camera = stream;
      for (const track of stream.getTracks()) {
        track.addEventListener('ended', () => {
          if (this.streams.camera === stream) {
            if (track.kind === 'video') session.recordings.endVideo('camera');
            session.input('permission', [track.kind === 'video' ? 'camera' : 'microphone', 'revoked']);
          }
        });
      }
      session.input('permission', ['camera', 'granted']);
      session.input('permission', ['microphone', 'granted']);
      this.watchPermission('camera');
      this.watchPermission('microphone');
    } catch (error) {
      const denied = error && (error.name === 'NotAllowedError' || error.name === 'SecurityError');
      if (!denied) session.input('sdk_error', ['devices', String(error)]);
      session.input('permission', ['camera', 'denied']);
      session.input('permission', ['microphone', 'denied']);
    }
  }

  /** A permission revoked in the site settings ends the tracks; a grant there retries. */
  async watchPermission(name) {
    if (this.watched[name]) return;
    this.watched[name] = true;
    try {
      const status = await navigator.permissions.query({ name });
      status.onchange = () => {
        if (status.state === 'denied') this.session.input('permission', [name, 'revoked']);
        const live = this.streams.camera && this.streams.camera.getTracks().every((t) => t.readyState === 'live');
        if (status.state === 'granted' && !this.session.stopped && !live) this.acquire();
      };
    } catch (_) {
      // Not every browser can query camera permissions; track 'ended' still works.
    }
  }

  /** The whole screen, shared; another surface is allowed but reported. */
  async shareScreen() {
    const session = this.session;
    try {
      const stream = await navigator.mediaDevices.getDisplayMedia({ video: { displaySurface: 'monitor' }, audio: false });
      if (session.stopped) return stream.getTracks().forEach((t) => t.stop());
      const track = stream.getVideoTracks()[0];
      const surface = track.getSettings().displaySurface;
      if (surface && surface !== 'monitor') {
        session.input('sdk_error', ['screen_surface', `shared a ${surface}, not the whole screen`]);
      }
      if (this.streams.screen) {
        session.recordings.endVideo('screen');
        this.streams.screen.getTracks().forEach((t) => t.stop());
      }
      this.streams.screen = stream;
      session.environment.setShare(track);
      track.addEventListener('ended', () => {
        if (this.streams.screen !== stream) return;
        session.environment.setShare(null);
        session.recordings.endVideo('screen');
        session.input('screen_share_ended');
      });
      session.input('permission', ['screen', 'granted']);
    } catch (error) {
      session.input('permission', ['screen', 'denied']);
    }
  }

  /** Releases every device. */
  release() {
    for (const stream of Object.values(this.streams)) if (stream) stream.getTracks().forEach((t) => t.stop());
    this.streams = { camera: null, screen: null };
  }
}

/** One frame of a video track as an ImageBitmap. */
export async function grabFrame(track) {
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
