// invigil live video: the candidate's publisher (WHIP, RFC 9725), and the
// corner notes that show proctors' messages.
//
// invigil.js loads this file (built to dist/invigil-live.js) only when a
// proctor first asks to watch, so a candidate nobody watches never
// downloads it. It takes the camera, microphone and screen tracks the SDK
// already holds — no new permission prompt — and sends them to ingest's SFU
// while the signal says a proctor watches. Nothing here can block the test:
// every failure ends in `onClosed`, and the SDK asks again later.
(function () {
  'use strict';

  // Low bitrates: a proctor needs to see a face and read a screen, not
  // watch a film. The SFU forwards frames as they come, so these are what
  // every viewer receives. `grid`: only grid tiles watch — a small, slow
  // camera picture, the screen and microphone paused; `full`: someone
  // opened this candidate.
  const VIEWS = {
    grid: { camera: { active: true, maxBitrate: 60000, maxFramerate: 5, scaleResolutionDownBy: 4 }, screen: { active: false }, microphone: false },
    full: { camera: { active: true, maxBitrate: 200000, maxFramerate: 15, scaleResolutionDownBy: 1 }, screen: { active: true, maxBitrate: 300000, maxFramerate: 5 }, microphone: true },
  };

  /**
   * Publishes `camera` (video + audio) and `screen` to `endpoint`'s WHIP
   * route with the candidate's `token`. Resolves with `{ stop() }` once the
   * SFU has answered; `onClosed` runs once if the connection fails or ends.
   * The m-lines are always camera video, screen video, microphone audio, in
   * that order (a missing track leaves its line silent). `view` (`grid` or
   * `full`) sets what is sent; `setView` changes it while connected.
   */
  async function publish({ endpoint, token, camera, screen, view, onClosed }) {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    let closed = false;
    let location = null;
    const close = (why) => {
      if (closed) return;
      closed = true;
      pc.close();
      if (location) {
        fetch(new URL(location, endpoint).href, { method: 'DELETE', headers: { authorization: `Bearer ${token()}` } }).catch(() => {});
      }
      if (onClosed) onClosed(why);
    };
    const video = (stream) => stream && stream.getVideoTracks().find((t) => t.readyState === 'live');
    const audio = (stream) => stream && stream.getAudioTracks().find((t) => t.readyState === 'live');
    let current = VIEWS[view] ? view : 'full';
    const microphone = audio(camera);
    const senders = {
      camera: pc.addTransceiver(video(camera) || 'video', { direction: 'sendonly', sendEncodings: [VIEWS[current].camera] }).sender,
      screen: pc.addTransceiver(video(screen) || 'video', { direction: 'sendonly', sendEncodings: [VIEWS[current].screen] }).sender,
      // The microphone pauses by leaving its sender without a track.
      microphone: pc.addTransceiver(VIEWS[current].microphone && microphone ? microphone : 'audio', { direction: 'sendonly' }).sender,
    };
    /** Applies a view to the running senders (no renegotiation). */
    const setView = async (next) => {
      if (!VIEWS[next] || next === current || closed) return;
      current = next;
      const encode = async (sender, encoding) => {
        const parameters = sender.getParameters();
        if (!parameters.encodings || !parameters.encodings.length) return;
        Object.assign(parameters.encodings[0], encoding);
        await sender.setParameters(parameters);
      };
      await Promise.all([
        encode(senders.camera, VIEWS[next].camera),
        encode(senders.screen, VIEWS[next].screen),
        senders.microphone.replaceTrack(VIEWS[next].microphone && microphone ? microphone : null),
      ]);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') close(pc.connectionState);
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      const response = await fetch(`${endpoint}/api/v1/live/whip`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/sdp' },
        body: pc.localDescription.sdp,
      });
      if (response.status !== 201) throw new Error(`WHIP answered ${response.status}`);
      location = response.headers.get('location');
      await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
    } catch (error) {
      closed = true;
      pc.close();
      throw error;
    }
    return { stop: () => close('stopped'), setView, get view() { return current; }, get live() { return !closed; } };
  }

  /**
   * Proctors' notes: a stack in the top corner, each with a close button,
   * gone by itself after NOTE_MS. Never modal, never inert: the test goes on.
   * The text arrives as textContent only, never as markup.
   */
  const NOTE_MS = 30000;
  class Notes {
    /**
     * `words`: `{ lang, dir, message, warning, dismiss }`, the page's
     * language and the notes' titles and close label in it (the session's
     * catalogue). A note in a right-to-left language sits top left.
     */
    constructor(words) {
      this.words = words;
      this.host = document.createElement('invigil-notes');
      const side = words.dir === 'rtl' ? 'left' : 'right';
      this.host.style.cssText = `position:fixed;top:12px;${side}:12px;z-index:2147483646;display:block;max-width:24rem`;
      const root = this.host.attachShadow({ mode: 'open' });
      root.innerHTML = `<style>
        .note{font:15px/1.4 system-ui,sans-serif;background:#fff;color:#0f172a;border-inline-start:5px solid #1d4ed8;border-radius:8px;box-shadow:0 4px 16px rgba(0,0,0,.25);padding:.6rem .8rem;margin:0 0 .5rem;display:flex;gap:.6rem;align-items:flex-start}
        .note.warning{border-inline-start-color:#d97706} .note strong{display:block;font-size:.8rem;text-transform:uppercase;letter-spacing:.03em}
        .note p{margin:.1rem 0 0;white-space:pre-wrap;overflow-wrap:anywhere} button{font:inherit;border:0;background:none;cursor:pointer;color:#475569;padding:0 .2rem}
        @media (prefers-color-scheme:dark){.note{background:#1e293b;color:#f1f5f9}button{color:#cbd5e1}}
      </style><div class="stack"></div>`;
      this.stack = root.querySelector('.stack');
      this.stack.lang = words.lang;
      this.stack.dir = words.dir;
      document.documentElement.appendChild(this.host);
    }

    show(warning, text) {
      const note = document.createElement('div');
      note.className = warning ? 'note warning' : 'note';
      note.setAttribute('role', warning ? 'alert' : 'status');
      const body = document.createElement('div');
      const title = document.createElement('strong');
      title.textContent = warning ? this.words.warning : this.words.message;
      const words = document.createElement('p');
      words.textContent = text;
      body.append(title, words);
      const close = document.createElement('button');
      close.setAttribute('aria-label', this.words.dismiss);
      close.textContent = '×';
      close.addEventListener('click', () => note.remove());
      note.append(body, close);
      this.stack.append(note);
      setTimeout(() => note.remove(), NOTE_MS);
    }

    clear() {
      this.host.remove();
    }
  }

  window.invigilLive = { publish, Notes };
})();
