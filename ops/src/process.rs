//! Child processes the CLI starts and stops: the local broker, benchmark
//! and chaos-test children.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// Keeps a child from outliving the thread that spawns it, even when that
/// process is killed with -9: the kernel sends the child `signal` then.
pub fn die_with_parent(command: &mut Command, signal: libc::c_int) {
    // SAFETY: prctl is async-signal-safe and touches only the new process.
    unsafe {
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, signal);
            Ok(())
        });
    }
}

/// Asks `child` to stop (SIGTERM) and waits up to `limit`; SIGKILLs it after
/// that. Its exit status, or `None` when it had to be killed.
pub fn terminate(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    // SAFETY: signalling our own child, which has not been reaped: its pid
    // cannot have been reused.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
