// The review pages' data, no DOM: the candidate list's sort, what an event
// says, why a minute scored, the verdict list and the recording's segments
// on the session's clock. Tested by test/review-data.test.js.
import { formatDuration } from './format.js';

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
      return `${e.name} ${text.length > MAX_CUSTOM_CHARS ? `${text.slice(0, MAX_CUSTOM_CHARS)}…` : text}`;
    }
    default:
      return [e.state, e.device, e.action, e.reason].filter(Boolean).join(' ');
  }
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
    const count = weight ? ` = ${(value / weight).toFixed(weight < 1 ? 1 : 0)} × weight ${weight}` : '';
    return `${name}: ${value.toFixed(2)}${count}`;
  });
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
    return `${track}: ${list.length} segments, ${formatDuration(recorded)}`;
  }).join(' · ');
}
