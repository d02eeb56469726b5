// Review: a test's candidates by score with capture completeness, and one
// candidate's timeline — scores, gaps and activity on one axis, anomaly
// explanations, captures, audio, events — with the reviewer's verdict.
// The data is review-data.js's, the plot plot.js's, the video player recording.js's.
import { ApiError, api, authHeaders, chooseTest, header, mediaLink, params, reviewLink, say, thumbnail } from './common.js';
import { el } from './dom.js';
import { t } from './words.js';
import { formatClock, formatDuration, formatTime } from './format.js';
import { timelinePlot } from './plot.js';
import { recordingPanel } from './recording.js';
import { anomalyComponents, describeAccommodation, describeEvent, describeFaceFlag, describeHint, describeStaffAction, environmentSummary, eventTypes, eventsOfType, faceFlags, isLate, nextSort, sessionPlaces, sortCandidates, withVerdict } from './review-data.js';

/** The candidate list's columns: [key, heading, numeric]. */
const CANDIDATE_COLUMNS = [
  ['candidate_id', t('review.col.candidate'), false],
  ['score', t('review.col.score'), true],
  ['max_minute_score', t('review.col.worst_minute'), true],
  ['alert_minutes', t('review.col.alert_minutes'), true],
  ['completeness_pct', t('review.col.completeness'), true],
  ['delivered_captures', t('review.col.stored'), true],
  ['recording_pct', t('review.col.video'), true],
  ['network_gaps', t('review.col.gaps'), true],
  ['sessions', t('review.col.sessions'), true],
  ['verdict', t('review.col.verdict'), false],
];
/** Captures shown per strip until "Show all". */
const FIRST_CAPTURES = 12;

const me = await header(t('review.title'));
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
  say(t('review.loading_candidates'));
  const { candidates } = await api(`/api/v1/dashboard/tests/${encodeURIComponent(test)}/candidates`);
  main.append(el('section', { class: 'panel' }, el('h2', {}, t('review.candidates_of', { test })), candidateTable(test, candidates)));
  say(candidates.length ? '' : t('review.no_data'));
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
  return el('table', { id: 'candidates' }, el('caption', { class: 'legend' }, t('review.table_caption', { count: candidates.length, test })), el('thead', {}, head), body);
}

function candidateRow(test, row) {
  return el('tr', { class: 'selectable', dataset: { candidate: row.candidate_id } },
    el('td', {}, el('a', { href: reviewLink(test, row.candidate_id) }, row.candidate_id)),
    el('td', { class: 'num' }, row.score.toFixed(2)),
    el('td', { class: 'num' }, row.max_minute_score.toFixed(2)),
    el('td', { class: 'num' }, row.alert_minutes),
    el('td', { class: 'num', dataset: { completeness: String(row.completeness_pct) }, title: t('review.slots_filled', { filled: row.filled_captures, expected: row.expected_captures }) }, `${row.completeness_pct.toFixed(1)} %`),
    el('td', { class: 'num' }, row.delivered_captures),
    el('td', { class: 'num' }, row.recording_pct === null ? '—' : `${row.recording_pct.toFixed(1)} %`),
    el('td', { class: 'num' }, row.network_gaps),
    el('td', { class: 'num' }, row.sessions),
    el('td', {}, row.verdict ? `${row.verdict.verdict} (${row.verdict.reviewer})` : '—'));
}

async function showCandidate(test, candidate) {
  say(t('review.loading_timeline'));
  const timeline = await api(`/api/v1/dashboard/tests/${encodeURIComponent(test)}/candidates/${encodeURIComponent(candidate)}/timeline`);
  say(timeline.truncated ? t('review.truncated', { count: timeline.events.length }) : '');
  const canVerdict = me.role === 'reviewer' || me.role === 'admin';
  const left = el('div');
  const right = el('div');
  main.append(
    el('p', {}, el('a', { href: `review.html?test=${encodeURIComponent(test)}` }, t('review.back', { test }))),
    el('h2', { id: 'candidate-title' }, `${candidate} · ${test}`),
    ...(timeline.accommodation ? [el('p', { id: 'accommodation' }, el('strong', {}, describeAccommodation(timeline.accommodation)))] : []),
    el('div', { class: 'columns' }, left, right),
  );
  const plot = timeline.events.length ? timelinePlot(timeline, timeline.alert_score) : null;
  const recording = recordingPanel(timeline, plot, failed);
  left.append(
    sessionsPanel(timeline),
    el('section', { class: 'panel', 'aria-labelledby': 'plot-heading' },
      el('h2', { id: 'plot-heading' }, t('review.timeline')),
      plot || el('p', {}, t('review.no_events')),
      el('p', { class: 'legend' }, t('review.plot_legend'),
        recording ? ` ${t('review.plot_seek')}` : '')),
    ...(recording ? [recording.panel] : []),
    anomaliesPanel(timeline),
    ...(timeline.staff_actions && timeline.staff_actions.length ? [staffActionsPanel(timeline)] : []),
    ...(timeline.events.some((e) => e.type === 'face') ? [facePanel(timeline)] : []),
    ...(timeline.environment && timeline.environment.length ? [environmentPanel(timeline)] : []),
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
    say(t('review.export_preparing'));
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
      say(t('review.exported', { candidate, mb: (blob.size / 1e6).toFixed(1) }));
    } catch (error) {
      problem.textContent = error.message;
      say('');
    } finally {
      exportButton.disabled = false;
    }
  } }, t('review.export'));
  const panel = el('section', { class: 'panel', 'aria-labelledby': 'data-title' },
    el('h2', { id: 'data-title' }, t('review.data')),
    el('p', { class: 'legend' }, t('review.data_help')),
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
      result.textContent = t('review.erased', { rows, objects: report.media_objects, mb: (report.media_bytes / 1e6).toFixed(1) });
      form.replaceChildren(result);
      say(result.textContent);
    } catch (error) {
      const field = error.problems?.[0]?.field;
      problem.textContent = field ? `${field}: ${error.problems[0].message}` : error.message;
    }
  } },
  el('h3', {}, t('review.erase')),
  el('p', { class: 'legend', id: 'erase-help' }, t('review.erase_help', { candidate })),
  el('label', { for: 'erase-confirm' }, t('review.erase_confirm')), confirm,
  el('label', { for: 'erase-reason' }, t('review.erase_reason')), reason,
  el('button', { type: 'submit', class: 'danger' }, t('review.erase_submit')));
  panel.append(form);
  return panel;
}

function sessionsPanel(timeline) {
  const places = sessionPlaces(timeline.sessions);
  const rows = timeline.sessions.map((s, i) => el('tr', {},
    el('td', {}, formatTime(s.started_at)),
    el('td', {}, formatDuration(s.last_seen_at - s.started_at)),
    el('td', {}, s.ended ? s.end_reason || t('review.session_ended') : t('review.session_open')),
    el('td', { class: 'num' }, s.events),
    el('td', { class: 'num', title: t('review.session_slots', { filled: s.uploaded_captures, expected: s.expected_captures, stored: s.delivered_captures }) },
      t('review.session_completeness', { pct: Number(s.completeness_pct).toFixed(1), stored: s.delivered_captures })),
    el('td', { class: 'num', dataset: { recordingPct: String(s.recording_pct) } }, Number(s.recording_expected_ms) > 0
      ? t('review.session_video', { pct: Number(s.recording_pct).toFixed(1), of: formatDuration(s.recording_expected_ms) }) : '—'),
    el('td', { class: 'num' }, `${s.network_gaps} (${formatDuration(s.network_gap_ms)})`),
    el('td', {}, s.sdk_version || '—'),
    el('td', { class: 'agent', title: s.user_agent || '' }, (s.user_agent || '—').slice(0, 60)),
    el('td', { dataset: { network: String(s.client_net_hash || '') } }, places[i])));
  return el('section', { class: 'panel' }, el('h2', {}, t('review.sessions')),
    el('table', { id: 'sessions' }, el('thead', {}, el('tr', {}, t('review.sessions_columns').split('|').map((h) => el('th', {}, h)))), el('tbody', {}, rows)));
}

/** What staff did to the exam (controls sent to the learning platform),
 * oldest first: when, who, what came of it and why. */
function staffActionsPanel(timeline) {
  const rows = timeline.staff_actions.map((a) => el('tr', { dataset: { action: a.action, outcome: a.outcome } },
    el('td', {}, formatTime(a.at)),
    el('td', {}, `${a.staff} (${a.role})`),
    el('td', { class: a.outcome === 'done' ? '' : 'error' }, describeStaffAction(a))));
  return el('section', { class: 'panel', id: 'staff-actions' }, el('h2', {}, t('review.staff_actions')),
    el('table', {}, el('thead', {}, el('tr', {}, t('review.staff_columns').split('|').map((h) => el('th', {}, h)))), el('tbody', {}, rows)));
}

function anomaliesPanel(timeline) {
  const weights = timeline.weights || {};
  const items = timeline.anomalies.map((a) => el('tr', {},
    el('td', {}, `${formatClock(a.start)}–${formatClock(a.end)}`),
    el('td', {}, a.severity),
    el('td', { class: 'num' }, `${a.score.toFixed(2)} / ${a.threshold}`),
    el('td', {}, el('ul', { class: 'components' }, anomalyComponents(a, weights).map((line) => el('li', {}, line))))));
  return el('section', { class: 'panel', id: 'anomalies' }, el('h2', {}, t('review.why')),
    items.length
      ? el('table', {}, el('thead', {}, el('tr', {}, t('review.why_columns').split('|').map((h) => el('th', {}, h)))), el('tbody', {}, items))
      : el('p', {}, t('review.no_anomaly')),
    el('p', { class: 'note' }, t('review.switch_note')));
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
    const shown = [...before, ...after].map((p) => captioned(p, t('review.face_photo')));
    // A different person: beside the photos, the one nearest the reference.
    const reference = flag.finding === 'different' && summary.references.filter((ts) => ts <= flag.from).pop();
    const nearest = reference !== undefined && reference !== false
      && photos.reduce((best, p) => (!best || Math.abs(p.ts - reference) < Math.abs(best.ts - reference) ? p : best), null);
    if (nearest && !before.includes(nearest)) {
      const frame = captioned(nearest, t('review.face_near_reference'));
      frame.querySelector('figcaption').append(` ${t('review.reference')}`);
      shown.unshift(frame);
    }
    return shown;
  };
  const rows = flags.map((flag) => el('tr', { dataset: { finding: flag.finding } },
    el('td', {}, `${formatClock(flag.from)}–${formatClock(flag.to)}`),
    el('td', {}, describeFaceFlag(flag)),
    el('td', {}, el('div', { class: 'strip' }, around(flag)))));
  return el('section', { class: 'panel', id: 'faces' }, el('h2', {}, t('review.faces')),
    el('p', { id: 'face-summary' }, t('review.face_summary', summary)
      + (summary.compared || summary.references.length
        ? ` ${t('review.face_identity', summary)}`
          + (summary.references.length > 1 ? ` ${t('review.face_references', { count: summary.references.length, at: summary.references.map(formatClock).join(', ') })}` : '')
        : '')),
    rows.length
      ? el('table', { id: 'face-flags' }, el('thead', {}, el('tr', {}, t('review.faces_columns').split('|').map((h) => el('th', {}, h)))), el('tbody', {}, rows))
      : el('p', {}, t('review.no_face_flag')),
    el('p', { class: 'note' }, t('review.face_note') + (summary.compared ? ` ${t('review.face_note_identity')}` : '')));
}

/**
 * The environment: pastes, bursts, screens and tabs in figures, then each
 * report's hints with the evidence the browser gave, verbatim, their weight
 * and who else they fit. Hints are never verdicts on their own.
 */
function environmentPanel(timeline) {
  const reports = timeline.environment.map((report) => el('li', {},
    el('strong', {}, formatClock(report.ts)), ' ',
    report.hints.length
      ? el('ul', {}, report.hints.map((finding) => {
        const words = describeHint(finding);
        return el('li', { dataset: { hint: finding.hint } }, el('strong', {}, words.name), ` (${words.weight}): `,
          el('code', {}, words.evidence), ` ${words.also}`);
      }))
      : t('review.no_hint')));
  return el('section', { class: 'panel', id: 'environment', 'aria-labelledby': 'environment-heading' },
    el('h2', { id: 'environment-heading' }, t('review.environment')),
    el('p', { id: 'environment-summary' }, t('review.environment_summary', environmentSummary(timeline.windows))),
    el('ul', { id: 'environment-reports' }, reports),
    el('p', { class: 'note' }, t('review.environment_note')));
}

/** A capture's thumbnail captioned with its time. */
function captioned(capture, label) {
  const frame = thumbnail(capture.key, label);
  frame.append(el('figcaption', {}, formatClock(capture.ts)));
  return frame;
}

function mediaPanel(timeline) {
  const uploaded = timeline.events.filter((e) => e.type === 'capture' && e.status === 'uploaded' && e.key);
  const panel = el('section', { class: 'panel', id: 'media' }, el('h2', {}, t('review.captures')));
  for (const [kind, label, heading] of [['face', t('review.face_photo'), t('review.face_photos')], ['screen', t('review.screenshot'), t('review.screenshots')]]) {
    const captures = uploaded.filter((e) => e.kind === kind);
    const strip = el('div', { class: 'strip', dataset: { kind } });
    const show = (list) => strip.replaceChildren(...list.map((e) => captioned(e, label)));
    show(captures.slice(0, FIRST_CAPTURES));
    panel.append(el('h3', {}, `${heading} (${captures.length})`), strip);
    if (captures.length > FIRST_CAPTURES) panel.append(el('button', { type: 'button', onclick: (event) => { show(captures); event.target.remove(); } }, t('review.show_all', { count: captures.length })));
  }
  const chunks = uploaded.filter((e) => e.kind === 'audio');
  panel.append(el('h3', {}, t('review.audio', { count: chunks.length })));
  if (chunks.length) panel.append(audioPlayer(chunks));
  return panel;
}

/** The audio chunks in a picker and one player; chunks play one after another, like one recording. */
function audioPlayer(chunks) {
  const player = el('audio', { controls: true, preload: 'none', id: 'audio' });
  const list = el('select', { id: 'audio-chunk', 'aria-label': t('review.audio_chunk') }, chunks.map((e, i) => el('option', { value: String(i) }, t('review.audio_option', { at: formatClock(e.ts), n: i + 1 }))));
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
  const filter = el('select', { id: 'event-filter', 'aria-label': t('review.event_type') }, el('option', { value: '' }, t('review.all_types')), eventTypes(timeline.events).map((t) => el('option', { value: t }, t)));
  const body = el('tbody');
  const draw = () => {
    body.replaceChildren(...eventsOfType(timeline.events, filter.value).map((e) => el('tr', {
      dataset: { type: e.type, ts: String(e.ts) },
      class: seek ? 'seekable' : undefined,
      onclick: seek ? () => seek(e.ts) : undefined,
    },
      el('td', {}, formatClock(e.ts)), el('td', { class: 'num' }, e.seq), el('td', {}, e.type), el('td', {}, describeEvent(e)),
      el('td', {}, isLate(e) ? t('review.late') : ''))));
  };
  filter.addEventListener('change', draw);
  draw();
  return el('section', { class: 'panel' }, el('h2', {}, t('review.events', { count: timeline.events.length })),
    el('div', { class: 'filters' }, filter),
    el('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': t('review.events_region') }, el('table', { id: 'events' }, el('thead', {}, el('tr', {}, [...t('review.events_columns').split('|'), ''].map((h) => el('th', {}, h)))), body)));
}

function verdictPanel(test, candidate, timeline, canVerdict) {
  const list = el('ul', { id: 'verdicts' });
  const drawVerdicts = (verdicts) => list.replaceChildren(...(verdicts.length
    ? verdicts.map((v) => el('li', { dataset: { reviewer: v.reviewer } }, el('strong', {}, v.verdict), ` ${t('review.verdict_by', { reviewer: v.reviewer, at: formatTime(v.reviewed_at) })}`, v.comment ? el('div', {}, v.comment) : null))
    : [el('li', { class: 'legend' }, t('review.no_verdict'))]));
  drawVerdicts(timeline.verdicts);
  const panel = el('section', { class: 'panel', 'aria-labelledby': 'verdict-title' }, el('h2', { id: 'verdict-title' }, t('review.verdict')), list);
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
      say(t('review.verdict_saved', { verdict: saved.verdict }));
    } catch (error) {
      const field = error.problems?.[0]?.field;
      problem.textContent = field ? `${field}: ${error.problems[0].message}` : error.message;
    }
  } },
  el('fieldset', {}, el('legend', { class: 'legend' }, t('review.decision')), choice('cleared', t('review.cleared')), choice('flagged', t('review.flagged'))),
  el('label', { for: 'comment' }, t('review.comment')), comment, problem,
  el('button', { type: 'submit', class: 'primary' }, t('review.save_verdict')));
  panel.append(form);
  return panel;
}
