// Review: a test's candidates by score with capture completeness, and one
// candidate's timeline — scores, gaps and activity on one axis, anomaly
// explanations, captures, audio, events — with the reviewer's verdict.
import { ApiError, api, chooseTest, el, formatClock, formatDuration, formatTime, header, mediaLink, params, reviewLink, say, thumbnail } from './common.js';
import { timelinePlot } from './plot.js';

const me = await header('Review');
const test = me && chooseTest(me, 'review.html');
const candidate = params.get('candidate');
const main = document.getElementById('main');
if (test && candidate) showCandidate(test, candidate).catch(failed);
else if (test) showTest(test).catch(failed);

function failed(error) {
  say(error instanceof ApiError ? `${error.message} (HTTP ${error.status})` : String(error), 'error');
  document.body.dataset.denied = String(error.status || '');
}


async function showTest(test) {
  say('Loading candidates…');
  const { candidates } = await api(`/api/v1/dashboard/tests/${encodeURIComponent(test)}/candidates`);
  const columns = [
    ['candidate_id', 'Candidate', false],
    ['score', 'Score', true],
    ['max_minute_score', 'Worst minute', true],
    ['alert_minutes', 'Alert minutes', true],
    ['completeness_pct', 'Capture slots %', true],
    ['delivered_captures', 'Captures stored', true],
    ['recording_pct', 'Video %', true],
    ['network_gaps', 'Network gaps', true],
    ['sessions', 'Sessions', true],
    ['verdict', 'Verdict', false],
  ];
  let sortKey = 'score';
  let descending = true;
  const body = el('tbody');
  const head = el('tr');
  const table = el('table', { id: 'candidates' }, el('caption', { class: 'legend' }, `${candidates.length} candidates of ${test}; select a column to sort`), el('thead', {}, head), body);
  const draw = () => {
    const value = (row) => (sortKey === 'verdict' ? row.verdict?.verdict || '' : row[sortKey]);
    const rows = [...candidates].sort((a, b) => {
      const [p, q] = [value(a), value(b)];
      const order = typeof p === 'number' ? p - q : String(p).localeCompare(String(q));
      return (descending ? -order : order) || a.candidate_id.localeCompare(b.candidate_id);
    });
    head.replaceChildren(...columns.map(([key, label, numeric]) => el('th', {
      class: numeric ? 'num' : undefined,
      'aria-sort': key === sortKey ? (descending ? 'descending' : 'ascending') : 'none',
    }, el('button', { type: 'button', onclick: () => {
      descending = key === sortKey ? !descending : numeric;
      sortKey = key;
      draw();
    } }, label))));
    body.replaceChildren(...rows.map((row) => el('tr', { class: 'selectable', dataset: { candidate: row.candidate_id } },
      el('td', {}, el('a', { href: reviewLink(test, row.candidate_id) }, row.candidate_id)),
      el('td', { class: 'num' }, row.score.toFixed(2)),
      el('td', { class: 'num' }, row.max_minute_score.toFixed(2)),
      el('td', { class: 'num' }, row.alert_minutes),
      el('td', { class: 'num', dataset: { completeness: String(row.completeness_pct) }, title: `${row.filled_captures} of ${row.expected_captures} slots filled` }, `${row.completeness_pct.toFixed(1)} %`),
      el('td', { class: 'num' }, row.delivered_captures),
      el('td', { class: 'num' }, row.recording_pct === null ? '—' : `${row.recording_pct.toFixed(1)} %`),
      el('td', { class: 'num' }, row.network_gaps),
      el('td', { class: 'num' }, row.sessions),
      el('td', {}, row.verdict ? `${row.verdict.verdict} (${row.verdict.reviewer})` : '—'))));
  };
  draw();
  main.append(el('section', { class: 'panel' }, el('h2', {}, `Candidates of ${test}`), table));
  say(candidates.length ? '' : 'No data for this test yet.');
}

async function showCandidate(test, candidate) {
  say('Loading the timeline…');
  const timeline = await api(`/api/v1/dashboard/tests/${encodeURIComponent(test)}/candidates/${encodeURIComponent(candidate)}/timeline`);
  say(timeline.truncated ? `Showing the first ${timeline.events.length} events only.` : '');
  const canVerdict = me.role === 'reviewer' || me.role === 'admin';
  const left = el('div');
  const right = el('div');
  main.append(
    el('p', {}, el('a', { href: `review.html?test=${encodeURIComponent(test)}` }, `← all candidates of ${test}`)),
    el('h2', { id: 'candidate-title' }, `${candidate} · ${test}`),
    el('div', { class: 'columns' }, left, right),
  );
  const plot = timeline.events.length ? timelinePlot(timeline, timeline.alert_score) : null;
  const recording = recordingPanel(timeline, plot);
  left.append(
    sessionsPanel(timeline),
    el('section', { class: 'panel', 'aria-labelledby': 'plot-heading' },
      el('h2', { id: 'plot-heading' }, 'Timeline'),
      plot || el('p', {}, 'No events stored yet.'),
      el('p', { class: 'legend' }, 'Bars: minute scores (red at or above the alert threshold). Grey: network gaps, labelled and never scored.',
        recording ? ' Click the plot or an event to play the recording from there.' : '')),
    ...(recording ? [recording.panel] : []),
    anomaliesPanel(timeline),
    mediaPanel(timeline),
    eventsPanel(timeline, recording && recording.seek),
  );
  right.append(verdictPanel(test, candidate, timeline, canVerdict));
}

function sessionsPanel(timeline) {
  const rows = timeline.sessions.map((s) => el('tr', {},
    el('td', {}, formatTime(s.started_at)),
    el('td', {}, formatDuration(s.last_seen_at - s.started_at)),
    el('td', {}, s.ended ? s.end_reason || 'ended' : 'open'),
    el('td', { class: 'num' }, s.events),
    el('td', { class: 'num', title: `${s.uploaded_captures} of ${s.expected_captures} capture slots filled; ${s.delivered_captures} captures stored` },
      `${Number(s.completeness_pct).toFixed(1)} % · ${s.delivered_captures} stored`),
    el('td', { class: 'num', dataset: { recordingPct: String(s.recording_pct) } }, Number(s.recording_expected_ms) > 0
      ? `${Number(s.recording_pct).toFixed(1)} % of ${formatDuration(s.recording_expected_ms)}` : '—'),
    el('td', { class: 'num' }, `${s.network_gaps} (${formatDuration(s.network_gap_ms)})`),
    el('td', {}, s.sdk_version || '—')));
  return el('section', { class: 'panel' }, el('h2', {}, 'Sessions'),
    el('table', { id: 'sessions' }, el('thead', {}, el('tr', {}, ['Started', 'Length', 'End', 'Events', 'Capture slots', 'Video', 'Gaps', 'SDK'].map((h) => el('th', {}, h)))), el('tbody', {}, rows)));
}

/**
 * The video recording (recording = video): the screen large, the camera
 * beside it, each track's segments played one after another on one clock
 * (a lost segment is skipped). The plot shows the playing time; a click on
 * the plot or on an event seeks both tracks there. Null without segments.
 */
function recordingPanel(timeline, plot) {
  const segments = { screen: [], camera: [] };
  for (const e of timeline.events) {
    if (e.type !== 'recording' || e.status !== 'uploaded' || !e.key || !segments[e.track]) continue;
    segments[e.track].push({ from: e.ts, to: e.ts + Number(e.duration_ms), key: e.key });
  }
  const tracks = Object.keys(segments).filter((track) => segments[track].length);
  if (!tracks.length) return null;
  for (const track of tracks) segments[track].sort((a, b) => a.from - b.from);
  const lead = tracks[0];
  const videos = Object.fromEntries(tracks.map((track) => [track, el('video', {
    id: `recording-${track}`, muted: true, playsinline: true, preload: 'auto', 'aria-label': `${track} recording`,
  })]));
  const shown = {};
  // Segments are small: each is fetched once into a blob, where seeking
  // needs no range requests (MediaRecorder's WebM has no seek index).
  const blobs = new Map();
  const urlOf = (key) => {
    if (!blobs.has(key)) {
      blobs.set(key, mediaLink(key, 'video/webm').then((url) => fetch(url)).then((response) => {
        if (!response.ok) throw new Error(`recording segment ${response.status}`);
        return response.blob();
      }).then((blob) => URL.createObjectURL(blob)));
    }
    return blobs.get(key);
  };
  const clock = el('span', { class: 'clock', id: 'recording-clock', 'aria-live': 'off' }, formatClock(segments[lead][0].from));
  const toggle = el('button', { type: 'button', id: 'recording-play' }, 'Play');
  let playing = false;
  let now = segments[lead][0].from;

  /** Shows `track` at time `t`: the segment covering it, or the next one. */
  const show = async (track, t) => {
    const video = videos[track];
    const segment = segments[track].find((s) => s.to > t);
    if (!segment) return video.pause();
    if (shown[track] !== segment) {
      shown[track] = segment;
      video.src = await urlOf(segment.key);
      await new Promise((resolve) => video.addEventListener('loadedmetadata', resolve, { once: true }));
      if (video.duration === Infinity) {
        // A recorder's WebM names no duration: seeking past the end makes
        // the browser read it through and learn it.
        const learnt = new Promise((resolve) => {
          video.addEventListener('durationchange', resolve, { once: true });
          setTimeout(resolve, 2_000);
        });
        video.currentTime = 1e9;
        await learnt;
      }
    }
    if (shown[track] !== segment) return undefined; // a later seek won
    // A still screen's last frame may come before the segment's end.
    const end = Number.isFinite(video.duration) ? Math.max(0, video.duration - 0.05) : Infinity;
    const sought = new Promise((resolve) => {
      video.addEventListener('seeked', resolve, { once: true });
      setTimeout(resolve, 2_000);
    });
    video.currentTime = Math.min(end, Math.max(0, (Math.max(t, segment.from) - segment.from) / 1000));
    await sought;
    // The moment this player shows now (what tests wait for).
    video.dataset.shows = String(Math.round(t));
    if (playing) return video.play().catch(() => {});
    return undefined;
  };
  const moved = (t) => {
    now = t;
    clock.textContent = formatClock(t);
    if (plot) plot.showTime(t);
  };
  const seek = (t) => {
    moved(t);
    return Promise.all(tracks.map((track) => show(track, t))).catch(failed);
  };
  videos[lead].addEventListener('timeupdate', () => {
    const segment = shown[lead];
    if (!segment) return;
    const t = segment.from + videos[lead].currentTime * 1000;
    moved(t);
    // The other track follows within a second and a half.
    for (const track of tracks.slice(1)) {
      const other = shown[track];
      const at = other ? other.from + videos[track].currentTime * 1000 : -Infinity;
      if (Math.abs(at - t) > 1500) show(track, t).catch(failed);
    }
  });
  for (const track of tracks) {
    videos[track].addEventListener('ended', () => {
      const segment = shown[track];
      if (segment) show(track, segment.to).catch(failed);
    });
  }
  toggle.addEventListener('click', () => {
    playing = !playing;
    toggle.textContent = playing ? 'Pause' : 'Play';
    if (playing) seek(now);
    else for (const video of Object.values(videos)) video.pause();
  });
  if (plot) {
    plot.classList.add('seekable');
    plot.addEventListener('click', (event) => {
      const t = plot.timeAt(event);
      if (t !== null) seek(t);
    });
  }
  seek(now);
  const seconds = (track) => segments[track].reduce((sum, s) => sum + (s.to - s.from), 0);
  const panel = el('section', { class: 'panel', id: 'recording' }, el('h2', {}, 'Recording'),
    el('div', { class: 'recording' }, ...tracks.map((track) => videos[track])),
    el('div', { class: 'row' }, toggle, clock),
    el('p', { class: 'legend' }, tracks.map((track) => `${track}: ${segments[track].length} segments, ${formatDuration(seconds(track))}`).join(' · ')));
  return { panel, seek };
}

function anomaliesPanel(timeline) {
  const weights = timeline.weights || {};
  const items = timeline.anomalies.map((a) => {
    const parts = a.component_names.map((name, i) => [name, a.component_values[i]]).sort((p, q) => q[1] - p[1]);
    return el('tr', {},
      el('td', {}, `${formatClock(a.start)}–${formatClock(a.end)}`),
      el('td', {}, a.severity),
      el('td', { class: 'num' }, `${a.score.toFixed(2)} / ${a.threshold}`),
      el('td', {}, el('ul', { class: 'components' }, parts.map(([name, value]) => {
        const weight = weights[name];
        const count = weight ? ` = ${(value / weight).toFixed(weight < 1 ? 1 : 0)} × weight ${weight}` : '';
        return el('li', {}, `${name}: ${value.toFixed(2)}${count}`);
      }))));
  });
  return el('section', { class: 'panel', id: 'anomalies' }, el('h2', {}, 'Why it scored'),
    items.length
      ? el('table', {}, el('thead', {}, el('tr', {}, ['Minute', 'Severity', 'Score / threshold', 'Components (contribution = count × weight)'].map((h) => el('th', {}, h)))), el('tbody', {}, items))
      : el('p', {}, 'No minute reached the alert threshold.'),
    el('p', { class: 'note' }, 'A tab switch is scored once: the blur, fullscreen exit and overlay it sets off (within 1 s) stay on the timeline as context but add nothing to the score.'));
}

function mediaPanel(timeline) {
  const uploaded = timeline.events.filter((e) => e.type === 'capture' && e.status === 'uploaded' && e.key);
  const panel = el('section', { class: 'panel', id: 'media' }, el('h2', {}, 'Captures'));
  for (const [kind, label] of [['face', 'face photo'], ['screen', 'screenshot']]) {
    const captures = uploaded.filter((e) => e.kind === kind);
    const strip = el('div', { class: 'strip', dataset: { kind } });
    const show = (list) => strip.replaceChildren(...list.map((e) => {
      const frame = thumbnail(e.key, label);
      frame.append(el('figcaption', {}, formatClock(e.ts)));
      return frame;
    }));
    show(captures.slice(0, 12));
    panel.append(el('h3', {}, `${label}s (${captures.length})`), strip);
    if (captures.length > 12) panel.append(el('button', { type: 'button', onclick: (event) => { show(captures); event.target.remove(); } }, `Show all ${captures.length}`));
  }
  const chunks = uploaded.filter((e) => e.kind === 'audio');
  panel.append(el('h3', {}, `Audio (${chunks.length} chunks)`));
  if (chunks.length) {
    const player = el('audio', { controls: true, preload: 'none', id: 'audio' });
    const list = el('select', { id: 'audio-chunk', 'aria-label': 'Audio chunk' }, chunks.map((e, i) => el('option', { value: String(i) }, `${formatClock(e.ts)} · chunk ${i + 1}`)));
    const load = async (index, play) => {
      list.value = String(index);
      player.src = await mediaLink(chunks[index].key, 'audio/webm');
      if (play) player.play().catch(() => {});
    };
    list.addEventListener('change', () => load(Number(list.value), true).catch(failed));
    // Chunks play one after another, like one recording.
    player.addEventListener('ended', () => {
      const next = Number(list.value) + 1;
      if (next < chunks.length) load(next, true).catch(failed);
    });
    player.addEventListener('play', () => {
      if (!player.src) load(Number(list.value), true).catch(failed);
    }, { once: true });
    load(0, false).catch(failed);
    panel.append(el('div', { class: 'row' }, list, player));
  }
  return panel;
}

/**
 * One line on what an event says, from its own fields (the timeline serves
 * each event as the SDK sent it). Text only: the caller puts it in a text
 * node, so a message's HTML stays text.
 */
export function describeEvent(e) {
  const failure = e.error ? ` (${e.error})` : '';
  switch (e.type) {
    case 'session_started':
      return `SDK ${e.sdk_version}, ${e.screen_w}×${e.screen_h}, ${e.displays} display${e.displays === 1 ? '' : 's'}`;
    case 'key_activity':
      return `${e.keys} keys in ${Math.round(e.interval_ms / 1000)} s`;
    case 'clipboard':
      return `${e.action} ${e.chars} chars`;
    case 'capture':
      return `${e.kind} #${e.capture_seq} ${e.status}${e.bytes ? `, ${e.bytes} B` : ''}${e.attempts > 1 ? `, ${e.attempts} attempts` : ''}${failure}`;
    case 'recording':
      return `${e.track} segment #${e.segment_seq} ${e.status}, ${(e.duration_ms / 1000).toFixed(1)} s${e.bytes ? `, ${e.bytes} B` : ''}${failure}`;
    case 'sdk_error':
      return `${e.code}: ${e.message}`;
    case 'custom': {
      const data = e.data || {};
      if (e.name === 'invigil.proctor_message') return `${data.level === 'warning' ? 'Warning' : 'Note'} from ${data.from}: ${data.text}`;
      const text = JSON.stringify(data);
      return `${e.name} ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
    }
    default:
      return [e.state, e.device, e.action, e.reason].filter(Boolean).join(' ');
  }
}

/** The event list; with a recording, a click on an event plays it from there. */
function eventsPanel(timeline, seek) {
  const types = [...new Set(timeline.events.map((e) => e.type))].sort();
  const filter = el('select', { id: 'event-filter', 'aria-label': 'Event type' }, el('option', { value: '' }, 'all types'), types.map((t) => el('option', { value: t }, t)));
  const body = el('tbody');
  const describe = describeEvent;
  const draw = () => {
    const shown = timeline.events.filter((e) => !filter.value || e.type === filter.value).slice(0, 2000);
    body.replaceChildren(...shown.map((e) => el('tr', {
      dataset: { type: e.type, ts: String(e.ts) },
      class: seek ? 'seekable' : undefined,
      onclick: seek ? () => seek(e.ts) : undefined,
    },
      el('td', {}, formatClock(e.ts)), el('td', { class: 'num' }, e.seq), el('td', {}, e.type), el('td', {}, describe(e)),
      el('td', {}, e.received_at - e.ts > 75_000 ? 'late' : ''))));
  };
  filter.addEventListener('change', draw);
  draw();
  return el('section', { class: 'panel' }, el('h2', {}, `Events (${timeline.events.length})`),
    el('div', { class: 'filters' }, filter),
    el('div', { class: 'scroll' }, el('table', { id: 'events' }, el('thead', {}, el('tr', {}, ['Time', 'Seq', 'Type', 'Detail', ''].map((h) => el('th', {}, h)))), body)));
}

function verdictPanel(test, candidate, timeline, canVerdict) {
  const list = el('ul', { id: 'verdicts' });
  const drawVerdicts = (verdicts) => list.replaceChildren(...(verdicts.length
    ? verdicts.map((v) => el('li', { dataset: { reviewer: v.reviewer } }, el('strong', {}, v.verdict), ` by ${v.reviewer}, ${formatTime(v.reviewed_at)}`, v.comment ? el('div', {}, v.comment) : null))
    : [el('li', { class: 'legend' }, 'No verdict yet.')]));
  drawVerdicts(timeline.verdicts);
  const panel = el('section', { class: 'panel', 'aria-labelledby': 'verdict-title' }, el('h2', { id: 'verdict-title' }, 'Verdict'), list);
  if (!canVerdict) return panel;
  const problem = el('p', { class: 'error', role: 'alert', id: 'verdict-problem' });
  const comment = el('textarea', { id: 'comment', name: 'comment', maxlength: '4000', 'aria-describedby': 'verdict-problem' });
  const choice = (value, label) => el('label', {}, el('input', { type: 'radio', name: 'verdict', value, required: true }), ` ${label}`);
  const form = el('form', { class: 'verdict-form', id: 'verdict-form', onsubmit: async (event) => {
    event.preventDefault();
    const verdict = form.querySelector('input[name="verdict"]:checked')?.value;
    problem.textContent = '';
    try {
      const saved = await api(`/api/v1/dashboard/tests/${encodeURIComponent(test)}/candidates/${encodeURIComponent(candidate)}/verdict`,
        { method: 'POST', body: { verdict, comment: comment.value } });
      const others = timeline.verdicts.filter((v) => v.reviewer !== saved.reviewer);
      timeline.verdicts = [...others, saved];
      drawVerdicts(timeline.verdicts);
      say(`Verdict saved: ${saved.verdict}.`);
    } catch (error) {
      const field = error.problems?.[0]?.field;
      problem.textContent = field ? `${field}: ${error.problems[0].message}` : error.message;
    }
  } },
  el('fieldset', {}, el('legend', { class: 'legend' }, 'Decision'), choice('cleared', 'Cleared'), choice('flagged', 'Flagged')),
  el('label', { for: 'comment' }, 'Comment'), comment, problem,
  el('button', { type: 'submit', class: 'primary' }, 'Save verdict'));
  panel.append(form);
  return panel;
}
