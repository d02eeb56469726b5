//! Waiting for something to hold, with a limit and a message that says what
//! did not happen.

use std::time::{Duration, Instant};

/// Polls `check` every 100 ms until it holds, failing the test after
/// `limit`; returns how long it took.
pub fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    started.elapsed()
}

/// [`wait_for`], printing how long it took.
pub fn wait_for_and_print(what: &str, limit: Duration, check: impl FnMut() -> bool) {
    println!("{what}: {:.1} s", wait_for(what, limit, check).as_secs_f64());
}

/// Polls the async `check` every 200 ms until it yields a value, failing
/// the test after `limit`.
pub async fn wait_for_value<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
