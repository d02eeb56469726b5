// The review page's recording player (recording = video): the screen large,
// the camera beside it, each track's segments played one after another on
// one clock (a lost segment is skipped). The plot shows the playing time; a
// click on the plot or on an event seeks both tracks there. Which segment
// and where in it come from review-data.js.
import { mediaLink } from './common.js';
import { el } from './dom.js';
import { formatClock } from './format.js';
import { recordingLegend, recordingSegments, segmentAt, segmentOffset } from './review-data.js';
import { t } from './words.js';

/** How far (ms) a following track may drift from the leading one before it is sought again. */
const MAX_DRIFT_MS = 1500;
/** How long a video event is awaited before going on without it. */
const VIDEO_PATIENCE_MS = 2_000;

/** The panel and `seek(t)` (Unix ms), or null without segments. `onError`
 * hears what failed while loading or seeking. */
export function recordingPanel(timeline, plot, onError) {
  const segments = recordingSegments(timeline.events);
  const tracks = Object.keys(segments);
  if (!tracks.length) return null;
  const playback = { playing: false, now: segments[tracks[0]][0].from };
  const urlOf = segmentUrls();
  const players = tracks.map((track) => trackPlayer(track, segments[track], urlOf, () => playback.playing, onError));
  const clock = el('span', { class: 'clock', id: 'recording-clock', 'aria-live': 'off' }, formatClock(playback.now));
  const moved = (t) => {
    playback.now = t;
    clock.textContent = formatClock(t);
    if (plot) plot.showTime(t);
  };
  const seek = (t) => {
    moved(t);
    return Promise.all(players.map((player) => player.show(t))).catch(onError);
  };
  followLead(players, moved, onError);
  const toggle = playToggle(players, playback, seek);
  if (plot) {
    plot.classList.add('seekable');
    plot.addEventListener('click', (event) => {
      const t = plot.timeAt(event);
      if (t !== null) seek(t);
    });
  }
  seek(playback.now);
  const panel = el('section', { class: 'panel', id: 'recording' }, el('h2', {}, t('recording.title')),
    el('div', { class: 'recording' }, ...players.map((player) => player.video)),
    el('div', { class: 'row' }, toggle, clock),
    el('p', { class: 'legend' }, recordingLegend(segments)));
  return { panel, seek };
}

/** A segment's blob URL by media key. Segments are small: each is fetched
 * once into a blob, where seeking needs no range requests (MediaRecorder's
 * WebM has no seek index). */
function segmentUrls() {
  const blobs = new Map();
  return (key) => {
    if (!blobs.has(key)) {
      blobs.set(key, mediaLink(key, 'video/webm').then((url) => fetch(url)).then((response) => {
        if (!response.ok) throw new Error(`recording segment ${response.status}`);
        return response.blob();
      }).then((blob) => URL.createObjectURL(blob)));
    }
    return blobs.get(key);
  };
}

/** Resolves on the video's `name` event, or after VIDEO_PATIENCE_MS without it. */
function videoEvent(video, name) {
  return new Promise((resolve) => {
    video.addEventListener(name, resolve, { once: true });
    setTimeout(resolve, VIDEO_PATIENCE_MS);
  });
}

/** Loads a segment's video and learns its duration. */
async function loadSegment(video, url) {
  video.src = url;
  await new Promise((resolve) => video.addEventListener('loadedmetadata', resolve, { once: true }));
  if (video.duration === Infinity) {
    // A recorder's WebM names no duration: seeking past the end makes the
    // browser read it through and learn it.
    const learnt = videoEvent(video, 'durationchange');
    video.currentTime = 1e9;
    await learnt;
  }
}

/**
 * One track's video. `show(t)` shows time `t`: the segment covering it, or
 * the next one (paused after the last), playing on if `isPlaying()`; at a
 * segment's end the next one follows. `position()` is the time shown, or
 * -Infinity (far from any time) until `show` first picks a segment.
 */
function trackPlayer(track, segments, urlOf, isPlaying, onError) {
  const video = el('video', { id: `recording-${track}`, muted: true, playsinline: true, preload: 'auto', 'aria-label': `${track} recording` });
  let shown = null;
  const show = async (t) => {
    const segment = segmentAt(segments, t);
    if (!segment) return video.pause();
    if (shown !== segment) {
      shown = segment;
      await loadSegment(video, await urlOf(segment.key));
    }
    if (shown !== segment) return undefined; // a later seek won
    const sought = videoEvent(video, 'seeked');
    video.currentTime = segmentOffset(segment, t, video.duration);
    await sought;
    // The moment this player shows now (what tests wait for).
    video.dataset.shows = String(Math.round(t));
    if (isPlaying()) return video.play().catch(() => {});
    return undefined;
  };
  video.addEventListener('ended', () => {
    if (shown) show(shown.to).catch(onError);
  });
  const position = () => (shown ? shown.from + video.currentTime * 1000 : -Infinity);
  return { video, show, position };
}

/** The first track leads the clock while playing; the others follow it
 * within MAX_DRIFT_MS. */
function followLead([lead, ...others], moved, onError) {
  lead.video.addEventListener('timeupdate', () => {
    const t = lead.position();
    if (t === -Infinity) return;
    moved(t);
    for (const other of others) {
      if (Math.abs(other.position() - t) > MAX_DRIFT_MS) other.show(t).catch(onError);
    }
  });
}

function playToggle(players, playback, seek) {
  const toggle = el('button', { type: 'button', id: 'recording-play' }, t('recording.play'));
  toggle.addEventListener('click', () => {
    playback.playing = !playback.playing;
    toggle.textContent = t(playback.playing ? 'recording.pause' : 'recording.play');
    if (playback.playing) seek(playback.now);
    else for (const player of players) player.video.pause();
  });
  return toggle;
}
