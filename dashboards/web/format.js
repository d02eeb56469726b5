// Times and durations as the dashboards print them. No DOM here, so the
// unit tests (test/*.test.js) import it, and the modules that use it, in node.

/** A Unix-ms time as `YYYY-MM-DD HH:MM:SSZ` (UTC), or a dash for none. */
export function formatTime(ms) {
  if (!ms) return '—';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z';
}

/** The UTC time of day of a Unix-ms time, `HH:MM:SS`. */
export function formatClock(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}

/** A duration in whole seconds, minutes or hours: `42 s`, `3 min 5 s`, `2 h 7 min`. */
export function formatDuration(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
