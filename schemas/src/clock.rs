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
