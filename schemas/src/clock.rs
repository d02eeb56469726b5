//! The wall clock as every wire type counts it: Unix milliseconds (and
//! microseconds, where ids are taken from it). Server code reads the clock
//! here, not through `SystemTime` of its own.
//!
//! Not for the browser: `SystemTime::now` panics on
//! `wasm32-unknown-unknown`, where the SDK reads `Date.now()` instead.

/// Now, in Unix ms (0 before 1970).
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Now, in Unix µs (0 before 1970): proctor message ids, which must rise
/// faster than a millisecond clock can.
#[cfg(not(target_arch = "wasm32"))]
pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// `ms` since the epoch as RFC 3339 UTC to the second (`2026-12-05T16:52:00Z`).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let rest = secs.rem_euclid(86_400);
    let date = crate::media_key::utc_date(secs);
    format!("{date}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// `ms` since the epoch as RFC 3339 UTC with milliseconds
/// (`2026-12-05T16:52:00.120Z`).
pub fn rfc3339_ms(ms: i64) -> String {
    let seconds = rfc3339(ms);
    format!("{}.{:03}Z", &seconds[..seconds.len() - 1], ms.rem_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_489_520_999), "2026-12-05T16:52:00Z");
        assert_eq!(rfc3339(-1_000), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_ms(1_796_489_520_120), "2026-12-05T16:52:00.120Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
