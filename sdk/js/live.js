// invigil live video: the candidate's publisher (WHIP, RFC 9725).
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
  // every viewer receives.
  const CAMERA = { maxBitrate: 200000, maxFramerate: 15 };
  const SCREEN = { maxBitrate: 300000, maxFramerate: 5 };

  /**
   * Publishes `camera` (video + audio) and `screen` to `endpoint`'s WHIP
   * route with the candidate's `token`. Resolves with `{ stop() }` once the
   * SFU has answered; `onClosed` runs once if the connection fails or ends.
   * The m-lines are always camera video, screen video, microphone audio, in
   * that order (a missing track leaves its line silent).
   */
  async function publish({ endpoint, token, camera, screen, onClosed }) {
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
    pc.addTransceiver(video(camera) || 'video', { direction: 'sendonly', sendEncodings: [CAMERA] });
    pc.addTransceiver(video(screen) || 'video', { direction: 'sendonly', sendEncodings: [SCREEN] });
    pc.addTransceiver(audio(camera) || 'audio', { direction: 'sendonly' });
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
    return { stop: () => close('stopped'), get live() { return !closed; } };
  }

  window.invigilLive = { publish };
})();
