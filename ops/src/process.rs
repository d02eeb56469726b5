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

/// Runs `command` to the end like [`Command::output`], but at most `limit`:
/// a child still running then is killed and the error names the program
/// and the limit, so a setup step that hangs fails in a bounded time
/// instead of holding a whole test run.
pub fn output_within(command: &mut Command, limit: Duration) -> anyhow::Result<std::process::Output> {
    use std::io::Read;
    use std::process::Stdio;
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| anyhow::anyhow!("running {program}: {error}"))?;
    // Both pipes drained on their own threads, so a chatty child never
    // blocks on a full pipe while we wait for it.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("{program} did not finish within {} s; killed", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(std::process::Output { status, stdout, stderr })
}
