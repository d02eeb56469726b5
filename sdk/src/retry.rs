//! When to try again: which failures are worth a retry, and how long to wait.
//!
//! Exponential backoff with full jitter (a random wait in `[0, min(cap,
//! base·2ⁿ)]`): 50,000 browsers that lost the backend at the same instant do
//! not come back at the same instant. A server's `Retry-After` is a floor.

/// The outcome of one HTTP attempt, as the SDK sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Success,
    /// No response: offline, DNS, refused, CORS, aborted.
    NetworkError,
    /// A status worth retrying: 408, 429 or 5xx.
    Transient { retry_after_ms: Option<u64> },
    /// 401/403: the token or the upload credentials no longer work.
    Unauthorized,
    /// Any other 4xx: the request itself is wrong; retrying sends the same mistake.
    Rejected,
}

impl Outcome {
    /// Classifies an HTTP status; 0 stands for "no response".
    pub fn of(status: u16, retry_after_ms: Option<u64>) -> Self {
        match status {
            0 => Outcome::NetworkError,
            200..=299 => Outcome::Success,
            408 | 429 | 500..=599 => Outcome::Transient { retry_after_ms },
            401 | 403 => Outcome::Unauthorized,
            _ => Outcome::Rejected,
        }
    }

    pub fn is_retryable(self) -> bool {
        matches!(self, Outcome::NetworkError | Outcome::Transient { .. })
    }
}

/// Backoff state of one channel (events, uploads, credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u64,
    cap_ms: u64,
    /// Consecutive failures since the last success.
    pub failures: u32,
    /// No attempt before this time (Unix ms).
    pub not_before: i64,
}

impl Backoff {
    pub const fn new(base_ms: u64, cap_ms: u64) -> Self {
        Self { base_ms, cap_ms, failures: 0, not_before: 0 }
    }

    pub fn ready(&self, now: i64) -> bool {
        now >= self.not_before
    }

    /// Records a failure at `now`; `unit` is a uniform random number in
    /// `[0, 1)`. Returns the wait chosen.
    pub fn failed(&mut self, now: i64, unit: f64, retry_after_ms: Option<u64>) -> u64 {
        // The base doubled per failure, at most the cap: shifted and
        // compared first, as u64's saturating_mul takes a 128-bit multiply
        // on wasm32 (compiler-builtins' __multi3).
        let shift = self.failures.min(30);
        let ceiling = if self.base_ms > self.cap_ms >> shift { self.cap_ms } else { self.base_ms << shift };
        self.failures = self.failures.saturating_add(1);
        let wait = ((ceiling as f64 * unit) as u64).max(retry_after_ms.unwrap_or(0));
        self.not_before = now.saturating_add(wait as i64);
        wait
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.not_before = 0;
    }

    /// The network came back: try at once, but keep the failure count so a
    /// flapping link still backs off.
    pub fn wake(&mut self) {
        self.not_before = 0;
    }
}

/// One stream of requests to a server (config, events, credentials,
/// uploads): at most one request in flight, and its own backoff between
/// failures, so one stream failing never slows another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    in_flight: bool,
    pub backoff: Backoff,
}

impl Channel {
    pub const fn new(base_ms: u64, cap_ms: u64) -> Self {
        Self { in_flight: false, backoff: Backoff::new(base_ms, cap_ms) }
    }

    /// Whether a request may start now: none in flight, backoff over.
    pub fn ready(&self, now: i64) -> bool {
        !self.in_flight && self.backoff.ready(now)
    }

    /// A request was started.
    pub fn sent(&mut self) {
        self.in_flight = true;
    }

    /// The request in flight was answered, however it went.
    pub fn answered(&mut self) {
        self.in_flight = false;
    }

    pub fn succeeded(&mut self) {
        self.backoff.succeeded();
    }

    /// See [`Backoff::failed`].
    pub fn failed(&mut self, now: i64, unit: f64, retry_after_ms: Option<u64>) -> u64 {
        self.backoff.failed(now, unit, retry_after_ms)
    }

    /// See [`Backoff::wake`].
    pub fn wake(&mut self) {
        self.backoff.wake();
    }
}

/// A small, fast generator for jitter and the random bits of UUIDv7s
/// (SplitMix64). Seeded from `crypto.getRandomValues` in the browser; the ids
/// need uniqueness, not secrecy.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn bytes10(&mut self) -> [u8; 10] {
        let (a, b) = (self.next_u64().to_le_bytes(), self.next_u64().to_le_bytes());
        [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_holds_one_request_and_waits_out_its_backoff() {
        let mut link = Channel::new(1_000, 8_000);
        assert!(link.ready(0));
        link.sent();
        assert!(!link.ready(0), "one request in flight at a time");
        link.answered();
        let wait = link.failed(0, 0.5, None);
        assert_eq!(wait, 500);
        assert!(!link.ready(499) && link.ready(500));
        link.sent();
        link.answered();
        assert_eq!(link.failed(500, 0.0, Some(2_000)), 2_000, "Retry-After is a floor");
        link.wake();
        assert!(link.ready(500), "woken: try at once");
        assert_eq!(link.backoff.failures, 2, "but the failures still count");
        link.succeeded();
        assert_eq!((link.backoff.failures, link.ready(0)), (0, true));
    }

    #[test]
    fn only_network_errors_timeouts_429_and_5xx_are_retried() {
        assert!(Outcome::of(0, None).is_retryable());
        assert!(Outcome::of(503, Some(2_000)).is_retryable());
        assert!(Outcome::of(429, None).is_retryable());
        assert!(Outcome::of(408, None).is_retryable());
        for status in [400, 404, 413, 422] {
            assert_eq!(Outcome::of(status, None), Outcome::Rejected, "{status}");
        }
        assert_eq!(Outcome::of(401, None), Outcome::Unauthorized);
        assert_eq!(Outcome::of(204, None), Outcome::Success);
    }

    #[test]
    fn waits_grow_to_the_cap_with_jitter_and_respect_retry_after() {
        let mut backoff = Backoff::new(1_000, 30_000);
        // The ceiling doubles: 1 s, 2 s, 4 s, … capped at 30 s.
        let ceilings: Vec<u64> = (0..8).map(|_| backoff.failed(0, 0.999_999, None)).collect();
        assert_eq!(ceilings, [999, 1_999, 3_999, 7_999, 15_999, 29_999, 29_999, 29_999]);
        let mut backoff = Backoff::new(1_000, 30_000);
        assert_eq!(backoff.failed(100, 0.0, None), 0, "full jitter can retry at once");
        assert_eq!(backoff.failed(100, 0.0, Some(5_000)), 5_000, "Retry-After is a floor");
        assert!(!backoff.ready(5_099) && backoff.ready(5_100));
        backoff.succeeded();
        assert_eq!(backoff.failures, 0);
        assert!(backoff.ready(0));
    }

    #[test]
    fn jitter_spreads_uniformly() {
        let mut rng = Rng::new(42);
        let mut buckets = [0u32; 10];
        for _ in 0..10_000 {
            buckets[(rng.unit() * 10.0) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| (900..1_100).contains(&n)), "{buckets:?}");
    }
}
