// The proctor wall's data, no DOM: what a tile says, the wall's order, the
// alert list and the duty line, from the live stream's snapshot and tile
// messages. `entries` is the wall's state: candidate id → { tile, seenAt },
// the newest tile message (LiveCounters) and the Unix ms it was current at.
// Tested by test/proctor-data.test.js.
import { formatDuration } from './format.js';
import { t } from './words.js';

/** The counters a tile shows, as [key in tile.counters, label]. */
export const COUNTERS = [
  ['tab_switches', t('counter.tab_switches')],
  ['hidden_ms', t('counter.hidden_ms')],
  ['blur_count', t('counter.blur_count')],
  ['blur_ms', t('counter.blur_ms')],
  ['fullscreen_exits', t('counter.fullscreen_exits')],
  ['clipboard_actions', t('counter.clipboard_actions')],
  ['key_bursts', t('counter.key_bursts')],
  ['permission_revocations', t('counter.permission_revocations')],
  ['missing_captures', t('counter.missing_captures')],
  ['network_gaps', t('counter.network_gaps')],
  ['face_flags', t('counter.face_flags')],
  ['screens', t('counter.screens')],
  ['other_tabs', t('counter.other_tabs')],
  ['concurrent_sessions', t('counter.concurrent_sessions')],
  ['paste_chars', t('counter.paste_chars')],
  ['burst_s', t('counter.burst_s')],
  ['hints', t('counter.hints')],
];

/** A candidate's status at `now`: the server's, except that an active
 * candidate silent for longer than `gapAfterMs` is in a 'gap' (no message
 * says so: the page notices the silence). */
export function candidateStatus(entry, gapAfterMs, now) {
  if (entry.tile.status !== 'active') return entry.tile.status;
  return now - entry.seenAt > gapAfterMs ? 'gap' : 'active';
}

/** The wall's order: the highest session score first, ties by id so tiles
 * do not swap places between messages. */
export function wallOrder(entries) {
  return [...entries.keys()].sort((a, b) => entries.get(b).tile.score - entries.get(a).tile.score || a.localeCompare(b));
}

/** A counter's text on a tile: `*_ms` counters as durations, the others as
 * counts; a counter the server did not send is 0. */
export function counterText(key, counters) {
  const value = counters[key] ?? 0;
  return key.endsWith('_ms') ? formatDuration(value) : String(value);
}

export function scoreLine(tile) {
  return t('wall.score_line', { score: tile.score.toFixed(2), minute: tile.window_score.toFixed(2) });
}

/** The largest `count` score components, as `name value, …`. */
export function topComponents(components, count = 2) {
  return [...components].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, value]) => `${name} ${value.toFixed(1)}`).join(', ');
}

/**
 * What needs a proctor now, most severe first: a blocked candidate
 * (critical, above everything), a minute at or over the alert score
 * (critical from twice it), a silent candidate (warning). Within a
 * severity by rank, highest first; equal ranks keep the wall's entry order.
 */
export function wallAlerts(entries, snapshot, now) {
  const items = [];
  for (const [candidate, entry] of entries) {
    const { tile } = entry;
    const status = candidateStatus(entry, snapshot.gap_after_ms, now);
    if (status === 'blocked') items.push({ candidate, severity: 'critical', rank: 1e6, what: t('wall.alert_blocked') });
    if (tile.window_score >= snapshot.alert_score) {
      const severity = tile.window_score >= 2 * snapshot.alert_score ? 'critical' : 'warning';
      items.push({ candidate, severity, rank: tile.window_score, what: t('wall.alert_score', { score: tile.window_score.toFixed(1), components: topComponents(tile.components) }) });
    }
    if (status === 'gap') items.push({ candidate, severity: 'warning', rank: 0.5, what: t('wall.alert_gap', { for: formatDuration(now - entry.seenAt) }) });
  }
  return items.sort((a, b) => (a.severity === b.severity ? b.rank - a.rank : a.severity === 'critical' ? -1 : 1));
}

/** The line above the wall: whose candidates these are, and how many. */
export function dutySummary(snapshot) {
  const { assigned, unassigned, on_duty: onDuty, proctor, capacity } = snapshot;
  const duty = onDuty
    ? proctor
      ? t('wall.duty_mine', { count: assigned.length, proctor, capacity, on_duty: onDuty.length }) +
        (onDuty.includes(proctor) ? '' : ` ${t('wall.duty_not_on_roster')}`)
      : t('wall.duty_all', { count: assigned.length, on_duty: onDuty.length })
    : t('wall.duty_none');
  // Without a roster every candidate is "unassigned": that is not overflow.
  const overflow = onDuty && unassigned.length;
  return duty + (overflow ? ` · ${t('wall.overflow', { count: unassigned.length })}` : '');
}

/** Takes a snapshot into `entries` at `now`: candidates no longer on this
 * wall leave, each snapshot tile replaces its candidate's entry (seen
 * `age_ms` ago). Returns the candidates that left. */
export function mergeSnapshot(entries, snapshot, now) {
  const watched = new Set([...snapshot.assigned, ...snapshot.unassigned]);
  const left = [...entries.keys()].filter((candidate) => !watched.has(candidate));
  for (const candidate of left) entries.delete(candidate);
  for (const tile of snapshot.tiles) entries.set(tile.candidate_id, { tile, seenAt: now - tile.age_ms });
  return left;
}

/** The LMS controls, in the order the wall offers them: [action, label]. */
export const LMS_CONTROLS = [
  ['pause', t('lms.action_pause')],
  ['resume', t('lms.action_resume')],
  ['update', t('lms.action_update')],
  ['flag', t('lms.action_flag')],
  ['terminate', t('lms.action_terminate')],
];

/**
 * The controls the candidate's platform offers for this attempt, read from
 * the signed ACS context's payload (its `acs.actions`; the signature is the
 * front door's to check). A context that cannot be read offers nothing.
 */
export function offeredControls(context) {
  let payload;
  try {
    const part = String(context).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    payload = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return [];
  }
  const actions = Array.isArray(payload?.acs?.actions) ? payload.acs.actions : [];
  return LMS_CONTROLS.filter(([action]) => actions.includes(action));
}

/** What the wall says after a control: the platform's answer, or why not. */
export function controlResult(action, reply) {
  const label = (LMS_CONTROLS.find(([a]) => a === action) || [action, action])[1];
  const granted = reply.extra_time ? t('lms.granted', { minutes: reply.extra_time }) : '';
  const tries = reply.attempts > 1 ? ` ${t('lms.tries', { count: reply.attempts })}` : '';
  const note = reply.recorded === false ? ` ${t('lms.not_recorded')}` : '';
  return `${t('lms.result', { label, status: reply.status })}${granted}${tries}.${note}`;
}
