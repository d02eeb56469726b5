//! The wall clock as every wire type counts it: Unix milliseconds.
//!
//! Not for the browser: `SystemTime::now` panics on
//! `wasm32-unknown-unknown`, where the SDK reads `Date.now()` instead.

/// Now, in Unix ms (0 before 1970).
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
