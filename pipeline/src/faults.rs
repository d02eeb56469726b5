//! Fault injection for crash tests: `INVIGIL_FAULT=<point>:<n>` makes the
//! process SIGKILL itself — no destructors, no flushes, exactly `kill -9` —
//! the n-th time it reaches `<point>`. Unset (always, outside tests) it
//! costs one load. (Not `abort()`: the chDB engine installs crash handlers
//! that catch SIGABRT and keep the process alive with a dead store.)
//!
//! Points: `event_sink_before_insert`, `event_sink_after_ack`,
//! `row_sink_before_insert`, `row_sink_after_ack`, `before_commit`,
//! `after_commit`.
//!
//! In-process tests can also stretch a point instead (`set_delay`, with the
//! `testing` feature): the
//! row sink waits there before it writes the `sessions` rows of an emission
//! (`row_sink_before_sessions`), which is how a test catches a commit that
//! would run ahead of the rows it depends on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

static FAULT: OnceLock<Option<(String, u64)>> = OnceLock::new();
static SEEN: AtomicU64 = AtomicU64::new(0);

fn configured() -> &'static Option<(String, u64)> {
    FAULT.get_or_init(|| {
        let spec = std::env::var("INVIGIL_FAULT").ok()?;
        let (point, n) = spec.rsplit_once(':')?;
        Some((point.to_owned(), n.parse().ok()?))
    })
}

/// Aborts the process if this is the configured point's n-th visit.
pub fn point(name: &str) {
    if let Some((point, n)) = configured() {
        if point == name && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            eprintln!("invigil fault injection: SIGKILL at {name} #{n}");
            // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }
}

/// Set once any delay is: production never takes the lock.
static ANY_DELAY: AtomicBool = AtomicBool::new(false);
static DELAYS: Mutex<Vec<(String, Duration)>> = Mutex::new(Vec::new());

/// Makes every later visit of `name` ([`pause`]) wait `delay`, for the rest
/// of the process (tests only: nextest runs each test in its own process).
#[cfg(any(test, feature = "testing"))]
pub fn set_delay(name: &str, delay: Duration) {
    let mut delays = DELAYS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    delays.retain(|(point, _)| point != name);
    delays.push((name.to_owned(), delay));
    ANY_DELAY.store(true, Ordering::SeqCst);
}

/// Waits at `name` when a test stretched it; otherwise returns at once.
pub async fn pause(name: &str) {
    if !ANY_DELAY.load(Ordering::Relaxed) {
        return;
    }
    let delay = {
        let delays = DELAYS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        delays.iter().find(|(point, _)| point == name).map(|(_, delay)| *delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
}
