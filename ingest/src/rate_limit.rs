//! Per-candidate rate limit: a token bucket per `(test, candidate)`.
//!
//! The SDK sends a batch every few seconds, but after an offline spell it
//! replays its buffer as fast as it may; the bucket's burst lets a normal
//! replay through while a runaway or hostile client gets `429` with the
//! seconds until its next token. Buckets live in shards (one lock each) and
//! full, idle buckets are swept, so memory follows the active candidates.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::Instant;

/// `[rate_limit]` in the settings file.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Sustained requests per second per candidate; 0 disables the limit.
    pub per_second: f64,
    /// Requests a candidate may make at once after being quiet.
    pub burst: f64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self { per_second: 10.0, burst: 60.0 }
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

const SHARDS: usize = 32;
/// Buckets per shard before idle ones are swept.
const SWEEP_AT: usize = 8192;

pub struct RateLimiter {
    settings: RateLimitSettings,
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl RateLimiter {
    pub fn new(settings: RateLimitSettings) -> Self {
        Self { settings, shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(), hasher: Default::default() }
    }

    /// Takes a token for `key`; `Err(seconds)` until one is available.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        let RateLimitSettings { per_second, burst } = self.settings;
        if per_second <= 0.0 {
            return Ok(());
        }
        let mut hasher = self.hasher.build_hasher();
        key.hash(&mut hasher);
        let shard = &self.shards[hasher.finish() as usize % SHARDS];
        let mut buckets = shard.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= SWEEP_AT && !buckets.contains_key(key) {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.updated).as_secs_f64() * per_second < burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: burst, updated: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * per_second).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let limiter = RateLimiter::new(RateLimitSettings { per_second: 2.0, burst: 5.0 });
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(limiter.check_at("t/a", start), Ok(()));
        }
        assert_eq!(limiter.check_at("t/a", start), Err(1));
        assert_eq!(limiter.check_at("t/b", start), Ok(()), "candidates do not share a bucket");
        assert_eq!(limiter.check_at("t/a", start + Duration::from_millis(500)), Ok(()));
        assert!(limiter.check_at("t/a", start + Duration::from_millis(600)).is_err());
    }

    #[test]
    fn zero_disables() {
        let limiter = RateLimiter::new(RateLimitSettings { per_second: 0.0, burst: 0.0 });
        assert!((0..1000).all(|_| limiter.check("k").is_ok()));
    }
}
