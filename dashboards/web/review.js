// Review: a test's candidates by score with capture completeness, and one
// candidate's timeline — scores, gaps and activity on one axis, anomaly
// explanations, captures, audio, events — with the reviewer's verdict.
// The data is review-data.js's, the plot plot.js's, the video player recording.js's.
import { ApiError, api, authHeaders, chooseTest, header, mediaLink, params, reviewLink, say, thumbnail } from './common.js';
import { el } from './dom.js';
import { formatClock, formatDuration, formatTime } from './format.js';
import { timelinePlot } from './plot.js';
import { recordingPanel } from './recording.js';
import { anomalyComponents, describeAccommodation, describeEvent, describeFaceFlag, describeStaffAction, eventTypes, eventsOfType, faceFlags, isLate, nextSort, sortCandidates, withVerdict } from './review-data.js';

/** The candidate list's columns: [key, heading, numeric]. */
const CANDIDATE_COLUMNS = [
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
/** Captures shown per strip until "Show all". */
const FIRST_CAPTURES = 12;

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
  main.append(el('section', { class: 'panel' }, el('h2', {}, `Candidates of ${test}`), candidateTable(test, candidates)));
  say(candidates.length ? '' : 'No data for this test yet.');
}

/** The candidate list, worst score first; a column's heading sorts by it. */
function candidateTable(test, candidates) {
  let sort = { key: 'score', descending: true };
  const body = el('tbody');
  const head = el('tr');
  const draw = () => {
    head.replaceChildren(...CANDIDATE_COLUMNS.map(([key, label, numeric]) => el('th', {
      class: numeric ? 'num' : undefined,
      'aria-sort': key === sort.key ? (sort.descending ? 'descending' : 'ascending') : 'none',
    }, el('button', { type: 'button', onclick: () => {
      sort = nextSort(sort, key, numeric);
      draw();
    } }, label))));
    body.replaceChildren(...sortCandidates(candidates, sort.key, sort.descending).map((row) => candidateRow(test, row)));
  };
  draw();
  return el('table', { id: 'candidates' }, el('caption', { class: 'legend' }, `${candidates.length} candidates of ${test}; select a column to sort`), el('thead', {}, head), body);
}

function candidateRow(test, row) {
  return el('tr', { class: 'selectable', dataset: { candidate: row.candidate_id } },
    el('td', {}, el('a', { href: reviewLink(test, row.candidate_id) }, row.candidate_id)),
    el('td', { class: 'num' }, row.score.toFixed(2)),
    el('td', { class: 'num' }, row.max_minute_score.toFixed(2)),
    el('td', { class: 'num' }, row.alert_minutes),
    el('td', { class: 'num', dataset: { completeness: String(row.completeness_pct) }, title: `${row.filled_captures} of ${row.expected_captures} slots filled` }, `${row.completeness_pct.toFixed(1)} %`),
    el('td', { class: 'num' }, row.delivered_captures),
    el('td', { class: 'num' }, row.recording_pct === null ? '—' : `${row.recording_pct.toFixed(1)} %`),
    el('td', { class: 'num' }, row.network_gaps),
    el('td', { class: 'num' }, row.sessions),
    el('td', {}, row.verdict ? `${row.verdict.verdict} (${row.verdict.reviewer})` : '—'));
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
    ...(timeline.accommodation ? [el('p', { id: 'accommodation' }, el('strong', {}, describeAccommodation(timeline.accommodation)))] : []),
    el('div', { class: 'columns' }, left, right),
  );
  const plot = timeline.events.length ? timelinePlot(timeline, timeline.alert_score) : null;
  const recording = recordingPanel(timeline, plot, failed);
  left.append(
    sessionsPanel(timeline),
    el('section', { class: 'panel', 'aria-labelledby': 'plot-heading' },
      el('h2', { id: 'plot-heading' }, 'Timeline'),
      plot || el('p', {}, 'No events stored yet.'),
      el('p', { class: 'legend' }, 'Bars: minute scores (red at or above the alert threshold). Grey: network gaps, labelled and never scored.',
        recording ? ' Click the plot or an event to play the recording from there.' : '')),
    ...(recording ? [recording.panel] : []),
    anomaliesPanel(timeline),
    ...(timeline.staff_actions && timeline.staff_actions.length ? [staffActionsPanel(timeline)] : []),
    ...(timeline.events.some((e) => e.type === 'face') ? [facePanel(timeline)] : []),
    mediaPanel(timeline),
    eventsPanel(timeline, recording && recording.seek),
  );
  right.append(verdictPanel(test, candidate, timeline, canVerdict));
  if (canVerdict) right.append(dataPanel(test, candidate));
}

/** The candidate's data: everything kept about them as one zip (reviewers
 * and admins), and for admins, erasure — typed confirmation, no undo. */
function dataPanel(test, candidate) {
  const base = `/api/v1/dashboard/tests/${encodeURIComponent(test)}/candidates/${encodeURIComponent(candidate)}`;
  const problem = el('p', { class: 'error', role: 'alert', id: 'data-problem' });
  const exportButton = el('button', { type: 'button', id: 'export-data', onclick: async () => {
    problem.textContent = '';
    exportButton.disabled = true;
    say('Preparing the export…');
    try {
      // A bearer token cannot ride on a plain link: fetch, then save the blob.
      const response = await fetch(`${base}/export`, { headers: authHeaders() });
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
      const blob = await response.blob();
      const link = el('a', { href: URL.createObjectURL(blob), download: `invigil-${test}-${candidate}.zip` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
      say(`Exported ${candidate}'s data (${(blob.size / 1e6).toFixed(1)} MB).`);
    } catch (error) {
      problem.textContent = error.message;
      say('');
    } finally {
      exportButton.disabled = false;
    }
  } }, 'Export all data (zip)');
  const panel = el('section', { class: 'panel', 'aria-labelledby': 'data-title' },
    el('h2', { id: 'data-title' }, 'Candidate\'s data'),
    el('p', { class: 'legend' }, 'Every event, window, score component, verdict, staff action and media object kept about this candidate, as JSON, CSV and the media files.'),
    exportButton, problem);
  if (me.role !== 'admin') return panel;
  const confirm = el('input', { id: 'erase-confirm', name: 'confirm', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'erase-help data-problem' });
  const reason = el('input', { id: 'erase-reason', name: 'reason', maxlength: '500' });
  const result = el('p', { id: 'erase-result', role: 'status' });
  const form = el('form', { id: 'erase-form', class: 'verdict-form', onsubmit: async (event) => {
    event.preventDefault();
    problem.textContent = '';
    try {
      const report = await api(`${base}/erase`, { method: 'POST', body: { confirm: confirm.value, reason: reason.value } });
      const rows = Object.values(report.rows).reduce((a, b) => a + b, 0);
      result.textContent = `Erased: ${rows} rows, ${report.media_objects} media objects (${(report.media_bytes / 1e6).toFixed(1)} MB).`;
      form.replaceChildren(result);
      say(result.textContent);
    } catch (error) {
      const field = error.problems?.[0]?.field;
      problem.textContent = field ? `${field}: ${error.problems[0].message}` : error.message;
    }
  } },
  el('h3', {}, 'Erase this candidate'),
  el('p', { class: 'legend', id: 'erase-help' }, `Deletes their rows from every table and their media, and keeps a replay from bringing them back. It cannot be undone; the audit trail keeps that it was done. Type ${candidate} to confirm.`),
  el('label', { for: 'erase-confirm' }, 'Candidate id'), confirm,
  el('label', { for: 'erase-reason' }, 'Reason (kept in the audit trail)'), reason,
  el('button', { type: 'submit', class: 'danger' }, 'Erase permanently'));
  panel.append(form);
  return panel;
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

/** What staff did to the exam (controls sent to the learning platform),
 * oldest first: when, who, what came of it and why. */
function staffActionsPanel(timeline) {
  const rows = timeline.staff_actions.map((a) => el('tr', { dataset: { action: a.action, outcome: a.outcome } },
    el('td', {}, formatTime(a.at)),
    el('td', {}, `${a.staff} (${a.role})`),
    el('td', { class: a.outcome === 'done' ? '' : 'error' }, describeStaffAction(a))));
  return el('section', { class: 'panel', id: 'staff-actions' }, el('h2', {}, 'Staff actions'),
    el('table', {}, el('thead', {}, el('tr', {}, ['When', 'Who', 'What'].map((h) => el('th', {}, h)))), el('tbody', {}, rows)));
}

function anomaliesPanel(timeline) {
  const weights = timeline.weights || {};
  const items = timeline.anomalies.map((a) => el('tr', {},
    el('td', {}, `${formatClock(a.start)}–${formatClock(a.end)}`),
    el('td', {}, a.severity),
    el('td', { class: 'num' }, `${a.score.toFixed(2)} / ${a.threshold}`),
    el('td', {}, el('ul', { class: 'components' }, anomalyComponents(a, weights).map((line) => el('li', {}, line))))));
  return el('section', { class: 'panel', id: 'anomalies' }, el('h2', {}, 'Why it scored'),
    items.length
      ? el('table', {}, el('thead', {}, el('tr', {}, ['Minute', 'Severity', 'Score / threshold', 'Components (contribution = count × weight)'].map((h) => el('th', {}, h)))), el('tbody', {}, items))
      : el('p', {}, 'No minute reached the alert threshold.'),
    el('p', { class: 'note' }, 'A tab switch is scored once: the blur, fullscreen exit and overlay it sets off (within 1 s) stay on the timeline as context but add nothing to the score.'));
}

/**
 * Face checks: what they found, and each flag with its numbers and the face
 * photos taken just before and after it, so a reviewer sees what the
 * detector saw rather than trusting it.
 */
function facePanel(timeline) {
  const { summary, flags } = faceFlags(timeline.events, timeline.face_check);
  const photos = timeline.events.filter((e) => e.type === 'capture' && e.kind === 'face' && e.status === 'uploaded' && e.key);
  const around = (flag) => {
    const before = photos.filter((p) => p.ts <= flag.to).slice(-2);
    const after = photos.filter((p) => p.ts > flag.to).slice(0, 1);
    const shown = [...before, ...after].map((p) => captioned(p, 'face photo'));
    // A different person: beside the photos, the one nearest the reference.
    const reference = flag.finding === 'different' && summary.references.filter((ts) => ts <= flag.from).pop();
    const nearest = reference !== undefined && reference !== false
      && photos.reduce((best, p) => (!best || Math.abs(p.ts - reference) < Math.abs(best.ts - reference) ? p : best), null);
    if (nearest && !before.includes(nearest)) {
      const frame = captioned(nearest, 'face photo near the reference face');
      frame.querySelector('figcaption').append(' (reference)');
      shown.unshift(frame);
    }
    return shown;
  };
  const rows = flags.map((flag) => el('tr', { dataset: { finding: flag.finding } },
    el('td', {}, `${formatClock(flag.from)}–${formatClock(flag.to)}`),
    el('td', {}, describeFaceFlag(flag)),
    el('td', {}, el('div', { class: 'strip' }, around(flag)))));
  return el('section', { class: 'panel', id: 'faces' }, el('h2', {}, 'Face checks'),
    el('p', { id: 'face-summary' }, `${summary.checks} checks: ${summary.one} one face, ${summary.none} no face, ${summary.several} several faces, `
      + `${summary.dark} too dark to tell, ${summary.blocked} while blocked (not scored).`
      + (summary.compared || summary.references.length
        ? ` Identity: ${summary.compared} comparisons with the reference face, ${summary.different} under the threshold.`
          + (summary.references.length > 1 ? ` The reference face was taken ${summary.references.length} times (at ${summary.references.map(formatClock).join(', ')}): the page was reloaded or its checks restarted, and each later comparison is with the newest.` : '')
        : '')),
    rows.length
      ? el('table', { id: 'face-flags' }, el('thead', {}, el('tr', {}, ['When', 'Flag', 'Face photos around it'].map((h) => el('th', {}, h)))), el('tbody', {}, rows))
      : el('p', {}, 'No flag: no run of checks without a face, or with several, or of a different person, lasted long enough.'),
    el('p', { class: 'note' }, 'A flag needs a run of consecutive checks, never one frame. Dark frames are too dark to tell, not "no face". A detector can miss a face (a turned head, a hand, poor light) and can take a picture for a face: look at the photos.'
      + (summary.compared ? ' A face recogniser can call the same person someone else (glasses, a new haircut, a camera that moved) and, rarely, two people one: compare the photos yourself before you conclude anything.' : '')));
}

/** A capture's thumbnail captioned with its time. */
function captioned(capture, label) {
  const frame = thumbnail(capture.key, label);
  frame.append(el('figcaption', {}, formatClock(capture.ts)));
  return frame;
}

function mediaPanel(timeline) {
  const uploaded = timeline.events.filter((e) => e.type === 'capture' && e.status === 'uploaded' && e.key);
  const panel = el('section', { class: 'panel', id: 'media' }, el('h2', {}, 'Captures'));
  for (const [kind, label] of [['face', 'face photo'], ['screen', 'screenshot']]) {
    const captures = uploaded.filter((e) => e.kind === kind);
    const strip = el('div', { class: 'strip', dataset: { kind } });
    const show = (list) => strip.replaceChildren(...list.map((e) => captioned(e, label)));
    show(captures.slice(0, FIRST_CAPTURES));
    panel.append(el('h3', {}, `${label}s (${captures.length})`), strip);
    if (captures.length > FIRST_CAPTURES) panel.append(el('button', { type: 'button', onclick: (event) => { show(captures); event.target.remove(); } }, `Show all ${captures.length}`));
  }
  const chunks = uploaded.filter((e) => e.kind === 'audio');
  panel.append(el('h3', {}, `Audio (${chunks.length} chunks)`));
  if (chunks.length) panel.append(audioPlayer(chunks));
  return panel;
}

/** The audio chunks in a picker and one player; chunks play one after another, like one recording. */
function audioPlayer(chunks) {
  const player = el('audio', { controls: true, preload: 'none', id: 'audio' });
  const list = el('select', { id: 'audio-chunk', 'aria-label': 'Audio chunk' }, chunks.map((e, i) => el('option', { value: String(i) }, `${formatClock(e.ts)} · chunk ${i + 1}`)));
  const load = async (index, play) => {
    list.value = String(index);
    player.src = await mediaLink(chunks[index].key, 'audio/webm');
    if (play) player.play().catch(() => {});
  };
  list.addEventListener('change', () => load(Number(list.value), true).catch(failed));
  player.addEventListener('ended', () => {
    const next = Number(list.value) + 1;
    if (next < chunks.length) load(next, true).catch(failed);
  });
  player.addEventListener('play', () => {
    if (!player.src) load(Number(list.value), true).catch(failed);
  }, { once: true });
  load(0, false).catch(failed);
  return el('div', { class: 'row' }, list, player);
}

/** The event list; with a recording, a click on an event plays it from there. */
function eventsPanel(timeline, seek) {
  const filter = el('select', { id: 'event-filter', 'aria-label': 'Event type' }, el('option', { value: '' }, 'all types'), eventTypes(timeline.events).map((t) => el('option', { value: t }, t)));
  const body = el('tbody');
  const draw = () => {
    body.replaceChildren(...eventsOfType(timeline.events, filter.value).map((e) => el('tr', {
      dataset: { type: e.type, ts: String(e.ts) },
      class: seek ? 'seekable' : undefined,
      onclick: seek ? () => seek(e.ts) : undefined,
    },
      el('td', {}, formatClock(e.ts)), el('td', { class: 'num' }, e.seq), el('td', {}, e.type), el('td', {}, describeEvent(e)),
      el('td', {}, isLate(e) ? 'late' : ''))));
  };
  filter.addEventListener('change', draw);
  draw();
  return el('section', { class: 'panel' }, el('h2', {}, `Events (${timeline.events.length})`),
    el('div', { class: 'filters' }, filter),
    el('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': 'Every event of the session' }, el('table', { id: 'events' }, el('thead', {}, el('tr', {}, ['Time', 'Seq', 'Type', 'Detail', ''].map((h) => el('th', {}, h)))), body)));
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
      timeline.verdicts = withVerdict(timeline.verdicts, saved);
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
