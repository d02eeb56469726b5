// The review pages' data, no DOM: the candidate list's sort, what an event
// says, why a minute scored, the verdict list and the recording's segments
// on the session's clock. Tested by test/review-data.test.js.
import { formatDuration } from './format.js';
import { LMS_CONTROLS } from './proctor-data.js';
import { t } from './words.js';

/** The event list shows at most this many rows (of the chosen type). */
const MAX_EVENT_ROWS = 2000;
/** An event received this much after its own time is marked late: 75 s,
 * as the pipeline (1-min window + 15 s allowed lateness) and the SQL pack
 * (candidate_timeline.sql) mark it, though they count from the start of
 * the event's minute. */
const LATE_AFTER_MS = 75_000;
/** A custom event's data is cut here: it is the candidate page's, of any size. */
const MAX_CUSTOM_CHARS = 200;

/** The candidates sorted by column `key` (numbers by value, text by
 * locale; the verdict by its word), then by id. */
export function sortCandidates(candidates, key, descending) {
  const value = (row) => (key === 'verdict' ? row.verdict?.verdict || '' : row[key]);
  return [...candidates].sort((a, b) => {
    const [p, q] = [value(a), value(b)];
    const order = typeof p === 'number' ? p - q : String(p).localeCompare(String(q));
    return (descending ? -order : order) || a.candidate_id.localeCompare(b.candidate_id);
  });
}

/** The sort after a click on column `key`: the same column flips, another
 * starts descending if numeric (worst first), ascending if text. */
export function nextSort(sort, key, numeric) {
  return { key, descending: key === sort.key ? !sort.descending : numeric };
}

/** Where a paste landed, in words, by its `target`. */
const PASTE_INTO = {
  answer: t('event.paste_into.answer'),
  text: t('event.paste_into.text'),
  editor: t('event.paste_into.editor'),
  other: t('event.paste_into.other'),
};

/** The environment hints' names (schemas::environment::Hint). */
const HINT_NAMES = {
  virtual_gpu: t('hint.virtual_gpu'),
  software_renderer: t('hint.software_renderer'),
  vm_screen_size: t('hint.vm_screen_size'),
  small_machine: t('hint.small_machine'),
  share_other_screen: t('hint.share_other_screen'),
  no_hover: t('hint.no_hover'),
};

/**
 * One line on what an event says, from its own fields (the timeline serves
 * each event as the SDK sent it). Text only: the caller puts it in a text
 * node, so a message's HTML stays text.
 */
export function describeEvent(e) {
  const failure = e.error ? ` (${e.error})` : '';
  switch (e.type) {
    case 'session_started':
      return t(e.displays === 1 ? 'event.started_one' : 'event.started_many', { version: e.sdk_version, w: e.screen_w, h: e.screen_h, displays: e.displays });
    case 'key_activity':
      return t('event.keys', { keys: e.keys, seconds: Math.round(e.interval_ms / 1000) })
        + (e.burst_s ? `, ${t('event.burst', { peak: e.peak_per_s, seconds: e.burst_s })}` : '');
    case 'clipboard':
      return t('event.clipboard', { action: e.action, chars: e.chars })
        + (e.target ? ` ${PASTE_INTO[e.target] || e.target}` : '');
    case 'display':
      return t(e.count === 1 ? 'event.display_one' : 'event.display_many', { count: e.count })
        + (e.extended ? `, ${t('event.display_extended')}` : '') + `, ${t('event.display_permission', { permission: e.permission })}`;
    case 'environment':
      return t('event.environment', {
        renderer: e.renderer || '?', cores: e.cores || '?', memory: e.memory_mb ? `${e.memory_mb / 1024} GiB` : '?',
        screen: `${e.screen_w}×${e.screen_h}`, pointer: e.pointer,
      }) + (e.share_surface ? `, ${t('event.environment_share', { surface: e.share_surface, size: `${e.share_w}×${e.share_h}` })}` : '');
    case 'other_tabs':
      return t('event.other_tabs', { count: e.tabs });
    case 'capture':
      return t('event.capture', { kind: e.kind, seq: e.capture_seq, status: e.status })
        + (e.bytes ? `, ${t('event.bytes', { bytes: e.bytes })}` : '') + (e.attempts > 1 ? `, ${t('event.attempts', { count: e.attempts })}` : '') + failure;
    case 'recording':
      return t('event.recording', { track: e.track, seq: e.segment_seq, status: e.status, seconds: (e.duration_ms / 1000).toFixed(1) })
        + (e.bytes ? `, ${t('event.bytes', { bytes: e.bytes })}` : '') + failure;
    case 'face':
      return t(e.faces === 1 ? 'event.face_one' : 'event.face_many', { faces: e.faces, score: Number(e.confidence).toFixed(2), size: Math.round(e.face_size * 100), light: Number(e.light).toFixed(2), ms: e.ms });
    case 'sdk_error':
      return `${e.code}: ${e.message}`;
    case 'custom': {
      const data = e.data || {};
      if (e.name === 'invigil.proctor_message') return t(data.level === 'warning' ? 'event.warning_from' : 'event.note_from', { from: data.from, text: data.text });
      const text = JSON.stringify(data);
      return `${e.name} ${text.length > MAX_CUSTOM_CHARS ? `${text.slice(0, MAX_CUSTOM_CHARS)}…` : text}`;
    }
    default:
      return [e.state, e.device, e.action, e.reason].filter(Boolean).join(' ');
  }
}

/**
 * Where each session came from, without addresses: the keyed hashes of its
 * network and address (`client_net_hash`, `client_ip_hash`) named by
 * letters and numbers in order of appearance, so two sessions of one home
 * or school read "network A" alike. A hash of 0 was not recorded (sessions
 * before December 2026).
 */
export function sessionPlaces(sessions) {
  const networks = new Map();
  const addresses = new Map();
  return sessions.map((s) => {
    const net = s.client_net_hash;
    if (!net || /^0+$/.test(String(net))) return t('review.network_unknown');
    if (!networks.has(net)) networks.set(net, String.fromCharCode(65 + (networks.size % 26)));
    const letter = networks.get(net);
    const key = `${net}/${s.client_ip_hash}`;
    if (!addresses.has(key)) addresses.set(key, [...addresses.keys()].filter((k) => k.startsWith(`${net}/`)).length + 1);
    const number = addresses.get(key);
    return number === 1 ? t('review.network', { letter }) : t('review.network_address', { letter, number });
  });
}

/** One environment hint in words: its name, the evidence verbatim, its
 * weight (0: seen, not scored) and who else it fits. */
export function describeHint(finding) {
  const evidence = Object.entries(finding.evidence).map(([field, value]) => `${field} = ${JSON.stringify(value)}`).join(', ');
  return {
    name: HINT_NAMES[finding.hint] || finding.hint,
    evidence,
    weight: finding.weight ? t('hint.weight', { weight: finding.weight }) : t('hint.unweighted'),
    also: t('hint.also', { who: finding.false_positives }),
  };
}

/** The environment signals of a timeline in figures: pastes (into
 * answers), burst seconds, screens added and the longest screen count,
 * time with another tab, from its minute windows. */
export function environmentSummary(windows) {
  const sum = (key) => windows.reduce((n, w) => n + (w[key] || 0), 0);
  return {
    pasted: sum('paste_chars'), answers: sum('answer_paste_chars'), bursts: sum('burst_s'),
    added: sum('screens_added'), screens: formatDuration(sum('extra_screen_ms')), tabs: formatDuration(sum('other_tab_ms')),
    sessions: formatDuration(sum('concurrent_ms')),
  };
}

/** How many check intervals may separate two checks of one run, as in the
 * pipeline (FACE_RUN_GAP_CHECKS): a longer silence ends the run. */
const FACE_RUN_GAP_CHECKS = 3;

/** The spans `[from, to)` while any block reason was on, from the
 * blocked/unblocked events (in time order); one still on ends at `lastTs`. */
function blockedSpans(events, lastTs) {
  const active = new Set();
  const spans = [];
  let since = null;
  for (const e of events) {
    if (e.type !== 'blocked' && e.type !== 'unblocked') continue;
    if (e.type === 'blocked') active.add(e.reason);
    else active.delete(e.reason);
    if (since === null && active.size) since = e.ts;
    else if (since !== null && !active.size) {
      if (e.ts > since) spans.push([since, e.ts]);
      since = null;
    }
  }
  if (since !== null && lastTs > since) spans.push([since, lastTs]);
  return spans;
}

/**
 * The face checks and their flags, counted as the pipeline counts them
 * (pipeline/src/scoring.rs): each `face` event's finding — `blocked` (taken
 * while blocked: not scored), `dark` (no face in a frame darker than
 * `dark_below`: too dark to tell), `none`, `one` or `several` — and the runs
 * of `none` or `several` that persisted: `flag_after_checks` checks, or at
 * least two spanning `flag_after_ms`. Never one frame.
 */
export function faceFlags(events, settings) {
  const s = { every_ms: 5000, flag_after_checks: 3, flag_after_ms: 15000, dark_below: 0.12, identity_every_ms: 30000, min_similarity: 0.363, ...settings };
  const lastTs = events.length ? events[events.length - 1].ts : 0;
  const blocked = blockedSpans(events, lastTs);
  const inBlock = (ts) => blocked.some(([from, to]) => from <= ts && ts < to);
  const checks = events.filter((e) => e.type === 'face').map((e) => {
    let finding = e.faces === 1 ? 'one' : e.faces > 1 ? 'several' : 'none';
    if (inBlock(e.ts)) finding = 'blocked';
    else if (e.faces === 0 && Math.round(e.light * 1000) < Math.round(s.dark_below * 1000)) finding = 'dark';
    return { ts: e.ts, faces: e.faces, confidence: e.confidence, light: e.light, similarity: e.similarity, reference: !!e.reference, finding };
  });
  const flags = [];
  const runs = (items, everyMs, flaggable) => {
    const maxGap = FACE_RUN_GAP_CHECKS * Math.max(1, everyMs);
    let run = null;
    const close = () => {
      if (!run || !flaggable.includes(run.finding)) return;
      const n = run.checks.length;
      const span = run.checks[n - 1].ts - run.checks[0].ts;
      if ((n >= Math.max(2, s.flag_after_checks) || (n >= 2 && span >= s.flag_after_ms)) && span > 0) {
        flags.push({ finding: run.finding, from: run.checks[0].ts, to: run.checks[n - 1].ts, checks: run.checks, min_similarity: s.min_similarity });
      }
    };
    for (const check of items) {
      const last = run && run.checks[run.checks.length - 1];
      if (run && run.finding === check.finding && check.ts - last.ts <= maxGap) {
        run.checks.push(check);
      } else {
        close();
        run = { finding: check.finding, checks: [check] };
      }
    }
    close();
  };
  runs(checks, s.every_ms, ['none', 'several']);
  // Identity: the comparisons (not while blocked), same or different person.
  const threshold = Math.round(s.min_similarity * 1000);
  const compared = checks.filter((c) => c.finding !== 'blocked' && c.similarity !== null && c.similarity !== undefined)
    .map((c) => ({ ...c, finding: Math.round(c.similarity * 1000) < threshold ? 'different' : 'same' }));
  runs(compared, s.identity_every_ms, ['different']);
  flags.sort((a, b) => a.from - b.from);
  const count = (finding) => checks.filter((c) => c.finding === finding).length;
  const summary = {
    checks: checks.length, one: count('one'), none: count('none'), several: count('several'), dark: count('dark'), blocked: count('blocked'),
    compared: compared.length, different: compared.filter((c) => c.finding === 'different').length,
    references: checks.filter((c) => c.reference).map((c) => c.ts),
  };
  return { summary, flags };
}

/** What a face flag says, for its row: the finding, how long, on how many checks, and their numbers. */
export function describeFaceFlag(flag) {
  if (flag.finding === 'different') {
    const similarities = flag.checks.map((c) => c.similarity);
    return t('face.flag_different', { for: formatDuration(flag.to - flag.from), count: flag.checks.length,
      low: Math.min(...similarities).toFixed(2), high: Math.max(...similarities).toFixed(2), threshold: flag.min_similarity });
  }
  const what = t(flag.finding === 'none' ? 'face.no_face' : 'face.several');
  const best = Math.max(...flag.checks.map((c) => c.confidence));
  const lights = flag.checks.map((c) => c.light);
  const most = Math.max(...flag.checks.map((c) => c.faces));
  const upTo = flag.finding === 'several' ? `${t('face.up_to', { count: most })}, ` : '';
  return t('face.flag', { what, for: formatDuration(flag.to - flag.from), count: flag.checks.length, up_to: upTo,
    score: best.toFixed(2), low: Math.min(...lights).toFixed(2), high: Math.max(...lights).toFixed(2) });
}

/** The event types present, sorted, for the filter. */
export function eventTypes(events) {
  return [...new Set(events.map((e) => e.type))].sort();
}

/** The rows the event list shows: events of `type` (all for ''), the first MAX_EVENT_ROWS. */
export function eventsOfType(events, type) {
  return events.filter((e) => !type || e.type === type).slice(0, MAX_EVENT_ROWS);
}

export function isLate(e) {
  return e.received_at - e.ts > LATE_AFTER_MS;
}

/** An alert minute's score components, largest first, as `name: value`,
 * with the count behind it where the component has a weight. */
export function anomalyComponents(anomaly, weights) {
  const parts = anomaly.component_names.map((name, i) => [name, anomaly.component_values[i]]).sort((p, q) => q[1] - p[1]);
  return parts.map(([name, value]) => {
    const weight = weights[name];
    const count = weight ? ` ${t('review.component_count', { count: (value / weight).toFixed(weight < 1 ? 1 : 0), weight })}` : '';
    return `${name}: ${value.toFixed(2)}${count}`;
  });
}

/** LMS controls' names by their staff action (`lti.pause`, …): the wall's own labels. */
const CONTROL_VERBS = Object.fromEntries(LMS_CONTROLS.map(([action, label]) => [`lti.${action}`, label]));

/** The other staff actions, in words, from their detail. */
const STAFF_WORDS = {
  'review.open': () => t('staff.review_open'),
  'review.verdict': (d) => t('staff.verdict', { verdict: d.verdict }) + (d.comment_chars ? ` ${t('staff.with_comment', { chars: d.comment_chars })}` : ''),
  'media.view': (d) => t('staff.media_view', { key: d.key }),
  'live.watch': (d) => t('staff.live_watch', { view: d.view || 'full' }),
  'live.message': (d) => t('staff.live_message', { level: d.level || 'info', chars: d.chars }),
  'config.replaced': (d) => t('staff.config_replaced', { version: d.version }),
  'config.rolled_back': (d) => (d.to ? t('staff.rolled_back_to', { to: d.to, version: d.version }) : t('staff.rolled_back', { version: d.version })),
};

/** What each waivable check is called in the accommodation line. */
const WAIVED = {
  fullscreen: t('accommodation.fullscreen'),
  screen_share: t('accommodation.screen_share'),
  face_check: t('accommodation.face_check'),
  permissions: t('accommodation.permissions'),
  second_screen: t('accommodation.second_screen'),
};

/** The review's line for a candidate's accommodation (null: none). */
export function describeAccommodation(accommodation) {
  if (!accommodation) return null;
  const waived = accommodation.waive.map((w) => WAIVED[w] || w).join('; ');
  return t('accommodation.line', { waived, reason: accommodation.reason });
}

/** One staff action (timeline.staff_actions, the audit trail) in words:
 * for an LMS control what was asked, where, what came of it and why. */
export function describeStaffAction(action) {
  const d = action.detail && typeof action.detail === 'object' ? action.detail : {};
  const words = STAFF_WORDS[action.action];
  if (words) return action.outcome === 'done' ? words(d) : `${words(d)}; ${t('staff.failed_mark')}`;
  let asked = CONTROL_VERBS[action.action] || action.action;
  if (d.extra_time) asked += ` ${t('staff.minutes', { minutes: d.extra_time })}`;
  if (d.platform) asked += ` ${t('staff.via', { platform: d.platform })}`;
  const outcome = action.outcome === 'done'
    ? (d.status ? t('staff.platform_answered', { status: d.status }) : t('staff.done'))
    : t('staff.failed', { error: d.error || t('staff.no_reason') });
  const parts = [asked, outcome];
  const reason = [d.reason_code, d.reason_msg].filter(Boolean).join(' — ');
  if (reason) parts.push(t('staff.reason', { reason }));
  if (d.incident_severity != null) parts.push(t('staff.severity', { severity: d.incident_severity }));
  if (d.attempts > 1) parts.push(t('staff.tries', { count: d.attempts }));
  return parts.join('; ');
}

/** The verdicts once `saved` is stored: one per reviewer, so it replaces that reviewer's earlier one. */
export function withVerdict(verdicts, saved) {
  return [...verdicts.filter((v) => v.reviewer !== saved.reviewer), saved];
}

/** The uploaded recording segments per track ({ from, to, key }, by start),
 * screen first: the first track present leads the player's clock. Tracks
 * without a segment are left out. */
export function recordingSegments(events) {
  const segments = { screen: [], camera: [] };
  for (const e of events) {
    if (e.type !== 'recording' || e.status !== 'uploaded' || !e.key || !segments[e.track]) continue;
    segments[e.track].push({ from: e.ts, to: e.ts + Number(e.duration_ms), key: e.key });
  }
  for (const list of Object.values(segments)) list.sort((a, b) => a.from - b.from);
  return Object.fromEntries(Object.entries(segments).filter(([, list]) => list.length));
}

/** The segment that shows time `t`: the one covering it, else the next
 * (a lost segment is skipped); undefined after the last. */
export function segmentAt(segments, t) {
  return segments.find((s) => s.to > t);
}

/** Where in `segment` (seconds into its video) time `t` is; a time before
 * the segment is its start. `durationSec` is the video's, when known. */
export function segmentOffset(segment, t, durationSec) {
  // A still screen's last frame may come before the segment's end.
  const end = Number.isFinite(durationSec) ? Math.max(0, durationSec - 0.05) : Infinity;
  return Math.min(end, Math.max(0, (Math.max(t, segment.from) - segment.from) / 1000));
}

/** The recording panel's legend: each track's segments and time recorded. */
export function recordingLegend(segments) {
  return Object.entries(segments).map(([track, list]) => {
    const recorded = list.reduce((sum, s) => sum + (s.to - s.from), 0);
    return t('recording.legend', { track, count: list.length, recorded: formatDuration(recorded) });
  }).join(' · ');
}
