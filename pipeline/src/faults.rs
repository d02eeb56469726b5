//! Fault injection for crash tests: `INVIGIL_FAULT=<point>:<n>` makes the
//! process SIGKILL itself — no destructors, no flushes, exactly `kill -9` —
//! the n-th time it reaches `<point>`. Unset (always, outside tests) it
//! costs one load. (Not `abort()`: the chDB engine installs crash handlers
//! that catch SIGABRT and keep the process alive with a dead store.)
//!
//! Points: `event_sink_before_insert`, `event_sink_after_ack`,
//! `row_sink_before_insert`, `row_sink_after_ack`, `before_commit`,
//! `after_commit`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

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
