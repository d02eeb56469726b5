// Live video for proctors: a WHEP subscriber (RFC 9725) and the viewer panel
// the wall opens on a candidate. The candidate's SDK starts sending only
// when this subscription exists and stops when it ends, so closing the
// panel really turns the candidate's video off.
import { api, authHeaders } from './common.js';
import { el } from './dom.js';
import { t } from './words.js';

/** How long the viewer waits for a first frame before saying why there is none. */
const VIEWER_PATIENCE_MS = 8000;

/** Plays `stream` in `video`; `onFirstFrame` runs when its first frame is shown. */
function show(video, stream, onFirstFrame) {
  video.srcObject = stream;
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onFirstFrame);
  else video.addEventListener('playing', onFirstFrame, { once: true });
  video.play().catch(() => {});
}

/** The m-lines, in the order ingest's SFU forwards them. */
const TRACKS = [['video', 'camera'], ['video', 'screen'], ['audio', 'microphone']];

/** Pauses between attempts to reconnect a lost subscription: doubling, capped. */
const RECONNECT_MS = [250, 8000];
/**
 * A connection that had media and has received nothing for this long has
 * lost its SFU host (browsers take far longer to call it failed): it is
 * opened again through the entry path, which leads to the host that serves
 * the candidate now. The slowest stream, the grid's, sends 5 frames a second.
 */
const STALL_MS = 2000;
/** How often the watchdog looks at the connection. */
const WATCH_MS = 500;

/**
 * Subscribes to `candidate` of `test`. `onTrack(name, track)` gets the
 * camera, screen and microphone tracks as they arrive (again after a
 * reconnection); `onState(state)` the connection's state, and
 * `reconnecting` while a lost one is opened again. `view: 'grid'` asks for
 * the camera only, small and slow (the candidate sends that while nobody
 * opened them). Resolves with `{ close() }`; rejects with the server's
 * message (403 when the candidate is not on this proctor's wall). A
 * connection lost later (its SFU host gone, the network changed) is opened
 * again by itself, with backoff, until closed. Leaving the page ends the
 * subscription too, so the candidate stops sending at once rather than
 * when ICE times out.
 */
export async function subscribe(test, candidate, { onTrack, onState = () => {}, view = 'full' }) {
  let peer = await connect(test, candidate, view, onTrack, onState);
  let closed = false;
  let reconnecting = false;
  let lastBytes = 0;
  let lastChange = performance.now();
  const reconnect = async () => {
    reconnecting = true;
    onState('reconnecting');
    peer.close();
    let pause = RECONNECT_MS[0];
    while (!closed) {
      try {
        peer = await connect(test, candidate, view, onTrack, onState);
        if (closed) peer.close();
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 2, RECONNECT_MS[1]);
      }
    }
    lastBytes = 0;
    lastChange = performance.now();
    reconnecting = false;
  };
  const watchdog = setInterval(async () => {
    if (closed || reconnecting) return;
    const connection = peer.pc.connectionState;
    if (connection === 'failed') return reconnect();
    const bytes = await peer.bytesReceived();
    const now = performance.now();
    if (bytes !== lastBytes) {
      lastBytes = bytes;
      lastChange = now;
    } else if ((bytes > 0 || connection === 'disconnected') && now - lastChange > STALL_MS && !closed && !reconnecting) {
      reconnect();
    }
  }, WATCH_MS);
  const close = () => {
    closed = true;
    clearInterval(watchdog);
    window.removeEventListener('pagehide', close);
    peer.close();
  };
  window.addEventListener('pagehide', close);
  return { close };
}

/**
 * One WHEP session: `{ pc, close(), bytesReceived() }`. The request goes to
 * the entry path; with several SFU hosts the server redirects it to the one
 * serving the candidate, and `Location` names the session there.
 */
async function connect(test, candidate, view, onTrack, onState) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  const transceivers = TRACKS.map(([kind]) => pc.addTransceiver(kind, { direction: 'recvonly' }));
  pc.ontrack = (event) => {
    const index = transceivers.indexOf(event.transceiver);
    if (index >= 0) onTrack(TRACKS[index][1], event.track);
  };
  pc.onconnectionstatechange = () => onState(pc.connectionState);
  let location = null;
  const close = () => {
    pc.onconnectionstatechange = null;
    pc.close();
    // keepalive: the DELETE also leaves with a closing page.
    if (location) fetch(location, { method: 'DELETE', keepalive: true, headers: authHeaders() }).catch(() => {});
    location = null;
  };
  const bytesReceived = async () => {
    let total = 0;
    const report = await pc.getStats().catch(() => new Map());
    report.forEach((entry) => { if (entry.type === 'inbound-rtp') total += entry.bytesReceived || 0; });
    return total;
  };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    const response = await fetch(`/api/v1/live/tests/${encodeURIComponent(test)}/candidates/${encodeURIComponent(candidate)}/whep?view=${view}`, {
      method: 'POST',
      headers: { ...authHeaders(), 'content-type': 'application/sdp' },
      body: pc.localDescription.sdp,
    });
    if (response.status !== 201) {
      const body = await response.json().catch(() => null);
      throw new Error(body?.error?.message || t('live.refused', { status: response.status }));
    }
    location = response.headers.get('location');
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
  } catch (error) {
    close();
    throw error;
  }
  return { pc, close, bytesReceived };
}

/**
 * The viewer panel: camera and screen side by side, the microphone
 * playing, a state line and a close button. Opened from a click (which
 * lets the audio play). `data-first-frame-ms` on the panel tells how long
 * the first camera frame took from the click.
 */
export function openViewer(test, candidate, { onClose = () => {} } = {}) {
  const opened = performance.now();
  const state = el('p', { class: 'legend', role: 'status' }, t('live.connecting'));
  const videos = {
    camera: el('video', { autoplay: true, muted: true, playsinline: true, dataset: { track: 'camera' }, 'aria-label': t('live.camera', { candidate }) }),
    screen: el('video', { autoplay: true, muted: true, playsinline: true, dataset: { track: 'screen' }, 'aria-label': t('live.screen', { candidate }) }),
  };
  const audio = el('audio', { autoplay: true, dataset: { track: 'microphone' } });
  let subscription = null;
  let closed = false;
  // A candidate whose SDK is not running (offline, tab closed, an old
  // SDK) never starts sending: say so instead of "Connecting…" for ever.
  const silence = setTimeout(() => {
    if (!panel.dataset.firstFrameMs && panel.dataset.state !== 'refused') {
      state.textContent = t('live.no_answer', { candidate });
    }
  }, VIEWER_PATIENCE_MS);
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(silence);
    if (subscription) subscription.close();
    panel.remove();
    onClose();
  };
  const panel = el('section', { class: 'panel live-viewer', role: 'dialog', 'aria-label': t('live.view_label', { candidate }), dataset: { candidate } },
    el('header', {}, el('h2', {}, t('live.view_title', { candidate })), el('button', { type: 'button', class: 'close', onclick: close }, t('live.close'))),
    state,
    el('div', { class: 'live-videos' }, videos.camera, videos.screen),
    audio,
    messageForm(test, candidate));
  videos.camera.muted = true;
  videos.screen.muted = true;
  subscribe(test, candidate, {
    onTrack: (name, track) => {
      const stream = new MediaStream([track]);
      if (name === 'microphone') {
        audio.srcObject = stream;
        audio.play().catch(() => {});
        return;
      }
      show(videos[name], stream, () => {
        panel.dataset[`${name}FrameMs`] = String(Math.round(performance.now() - opened));
        if (name === 'camera') {
          panel.dataset.firstFrameMs = panel.dataset.cameraFrameMs;
          state.textContent = t('wall.live');
        }
      });
    },
    onState: (now) => {
      panel.dataset.state = now;
      if (now === 'connected' && panel.dataset.firstFrameMs) state.textContent = t('wall.live');
      if (now === 'disconnected' || now === 'reconnecting' || now === 'failed') state.textContent = t('live.reconnecting');
    },
  }).then((s) => {
    if (closed) s.close();
    else subscription = s;
  }, (error) => {
    panel.dataset.state = 'refused';
    state.textContent = error.message;
  });
  return { panel, close };
}

/** Most tiles a grid shows at once. */
export const GRID_TILES = 16;

/**
 * The live grid: the camera of up to 16 `candidates`, small and slow, in
 * tiles; a click on a tile calls `onOpen(candidate)`. `close()` ends every
 * subscription, so the candidates stop sending.
 */
export function openGrid(test, candidates, { onOpen = () => {}, onClose = () => {} } = {}) {
  const shown = candidates.slice(0, GRID_TILES);
  const subscriptions = [];
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const s of subscriptions) s.close();
    panel.remove();
    onClose();
  };
  const tiles = shown.map((candidate) => {
    const video = el('video', { autoplay: true, muted: true, playsinline: true, dataset: { track: 'camera' }, 'aria-label': t('live.camera', { candidate }) });
    video.muted = true;
    const tile = el('li', { class: 'grid-tile', dataset: { candidate } },
      el('button', { type: 'button', class: 'link', onclick: () => onOpen(candidate) }, candidate),
      video);
    const started = performance.now();
    subscribe(test, candidate, {
      view: 'grid',
      onTrack: (name, track) => {
        if (name !== 'camera') return;
        show(video, new MediaStream([track]), () => {
          tile.dataset.firstFrameMs = String(Math.round(performance.now() - started));
        });
      },
      onState: (now) => { tile.dataset.state = now; },
    }).then((s) => (closed ? s.close() : subscriptions.push(s)), (error) => {
      tile.dataset.state = 'refused';
      tile.title = error.message;
    });
    return tile;
  });
  const panel = el('section', { class: 'panel live-grid', role: 'region', 'aria-label': t('wall.grid') },
    el('header', {}, el('h2', {}, t('live.grid_title', { shown: shown.length, total: candidates.length })),
      el('button', { type: 'button', class: 'close', onclick: close }, t('live.close_grid'))),
    el('ul', { class: 'grid-tiles' }, tiles));
  return { panel, close };
}

/**
 * Write to the candidate: their SDK shows the note in a corner (never
 * blocking) and records it on their timeline.
 */
function messageForm(test, candidate) {
  const text = el('input', { type: 'text', name: 'text', maxlength: 300, required: true, 'aria-label': t('live.message_to', { candidate }), placeholder: t('live.message_to', { candidate }) });
  const warning = el('input', { type: 'checkbox', name: 'warning' });
  const result = el('span', { class: 'legend', role: 'status' });
  const form = el('form', { class: 'live-message', onsubmit: async (event) => {
    event.preventDefault();
    result.textContent = t('live.sending');
    try {
      const sent = await api(`/api/v1/live/tests/${encodeURIComponent(test)}/candidates/${encodeURIComponent(candidate)}/messages`, {
        method: 'POST',
        body: { text: text.value, level: warning.checked ? 'warning' : 'info' },
      });
      form.dataset.sent = String(sent.id);
      result.textContent = t('live.sent');
      text.value = '';
    } catch (error) {
      result.textContent = error.message;
    }
  } },
  text,
  el('label', {}, warning, ' warning'),
  el('button', { type: 'submit' }, t('live.send')),
  result);
  return form;
}
