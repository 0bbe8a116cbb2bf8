//! Running the wrapped command transparently.
//!
//! - stdin: inherited, or (when `wrap` had to read it to record the prompt) the exact bytes fed
//!   through a pipe and closed, as Codex would have read them.
//! - stdout: inherited, or, when the event stream is captured, piped and copied to our stdout
//!   chunk by chunk as it arrives (each write flushed) while a copy goes into the store and each
//!   line is handed to a callback. Memory stays bounded whatever the child prints. If our stdout
//!   goes away (broken pipe), the child's pipe is closed too, so it sees what it would have seen.
//! - stderr: inherited.
//! - Signals: SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to `wrap` by another process are forwarded
//!   to the child; ones the terminal sent to the whole foreground process group already reached
//!   the child and are not sent twice. Either way `wrap` keeps running, records the run, and
//!   returns the child's status.
//! - The exit status is the child's; a child killed by signal N is reported as 128 + N.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::Cause;

/// What to run.
pub struct ChildSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// The complete environment of the child.
    pub env: Vec<(OsString, OsString)>,
    pub stdin: StdinMode,
}

pub enum StdinMode {
    Inherit,
    Bytes(Vec<u8>),
}

/// Where captured stdout goes: copied to `passthrough`, written to `capture`, lines to `on_line`.
pub struct StdoutCapture<'a> {
    pub passthrough: &'a mut (dyn Write + Send),
    pub capture: &'a mut (dyn Write + Send),
    pub on_line: &'a mut (dyn FnMut(&[u8]) + Send),
    /// Lines longer than this are passed through and captured but not handed to `on_line`.
    pub max_line: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChildOutcome {
    pub exit_code: Option<i32>,
    /// The signal that killed the child, if any.
    pub signal: Option<i32>,
    /// Signals `wrap` received while the child ran.
    pub received_signals: Vec<i32>,
    pub stdout_bytes: u64,
    /// Set when our own stdout went away and the child's pipe was closed.
    pub stdout_closed_early: bool,
    /// An error writing the capture (the child still ran to completion).
    pub capture_error: Option<String>,
    /// The command exited but something it started kept its stdout open; capture stopped after
    /// a grace period.
    pub output_held_open: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{program}: command not found")]
    NotFound { program: String },
    #[error("{program}: permission denied (not executable)")]
    NotExecutable { program: String },
    #[error("{program}: could not start: {source}")]
    Other { program: String, source: io::Error },
    #[error("could not install signal handlers: {0}")]
    Signals(io::Error),
}

impl ChildOutcome {
    /// The exit status to return: the child's code, or 128 + signal.
    pub fn exit_status(&self) -> i32 {
        match (self.exit_code, self.signal) {
            (Some(code), _) => code,
            (None, Some(sig)) => 128 + sig,
            (None, None) => 1,
        }
    }
}

/// Runs the child to completion.
pub fn run(
    spec: ChildSpec,
    capture: Option<StdoutCapture<'_>>,
) -> Result<ChildOutcome, SpawnError> {
    let program_name = spec.program.display().to_string();
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)));
    command.stdin(match spec.stdin {
        StdinMode::Inherit => Stdio::inherit(),
        StdinMode::Bytes(_) => Stdio::piped(),
    });
    command.stdout(if capture.is_some() {
        Stdio::piped()
    } else {
        Stdio::inherit()
    });
    command.stderr(Stdio::inherit());

    // Install the handlers before starting the child so no signal slips between.
    let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])
        .map_err(SpawnError::Signals)?;
    let handle = signals.handle();

    let mut child = command.spawn().map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => SpawnError::NotFound {
            program: program_name.clone(),
        },
        io::ErrorKind::PermissionDenied => SpawnError::NotExecutable {
            program: program_name.clone(),
        },
        _ => SpawnError::Other {
            program: program_name.clone(),
            source,
        },
    })?;
    let pid = child.id() as i32;

    let received: Arc<Mutex<Vec<i32>>> = Arc::new(Mutex::new(Vec::new()));
    let forwarder = {
        let received = Arc::clone(&received);
        thread::spawn(move || {
            for origin in signals.forever() {
                if let Ok(mut r) = received.lock() {
                    r.push(origin.signal);
                }
                // A terminal-generated signal went to the whole process group, child included.
                if matches!(origin.cause, Cause::Kernel) {
                    continue;
                }
                if let (Some(p), Some(sig)) = (
                    rustix::process::Pid::from_raw(pid),
                    rustix::process::Signal::from_named_raw(origin.signal),
                ) {
                    let _ = rustix::process::kill_process(p, sig);
                }
            }
        })
    };

    let stdin_writer = match (spec.stdin, child.stdin.take()) {
        (StdinMode::Bytes(bytes), Some(mut pipe)) => Some(thread::spawn(move || {
            // The child may exit without reading everything; that is its business.
            let _ = pipe.write_all(&bytes);
        })),
        _ => None,
    };

    let mut outcome = ChildOutcome::default();
    if let (Some(capture), Some(stdout)) = (capture, child.stdout.take()) {
        let result = pump(stdout, capture, &mut child);
        outcome.stdout_bytes = result.bytes;
        outcome.stdout_closed_early = result.closed_early;
        outcome.capture_error = result.capture_error;
        outcome.output_held_open = result.held_open;
    }
    let status = child.wait().map_err(|source| SpawnError::Other {
        program: program_name,
        source,
    })?;
    if let Some(writer) = stdin_writer {
        let _ = writer.join();
    }
    handle.close();
    let _ = forwarder.join();

    use std::os::unix::process::ExitStatusExt;
    outcome.exit_code = status.code();
    outcome.signal = status.signal();
    outcome.received_signals = received.lock().map(|r| r.clone()).unwrap_or_default();
    Ok(outcome)
}

struct PumpResult {
    bytes: u64,
    closed_early: bool,
    capture_error: Option<String>,
    held_open: bool,
}

/// How long output may keep flowing after the command itself exited (a process it started may
/// still hold the pipe; Codex's npm launcher killed by SIGKILL leaves its native binary behind).
const DRAIN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Copies the child's stdout to our stdout and the capture, splitting lines for the callback.
fn pump(
    mut stdout: std::process::ChildStdout,
    capture: StdoutCapture<'_>,
    child: &mut std::process::Child,
) -> PumpResult {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let mut buf = vec![0u8; 64 * 1024];
    let mut line: Vec<u8> = Vec::new();
    let mut skipping_long_line = false;
    let mut result = PumpResult {
        bytes: 0,
        closed_early: false,
        capture_error: None,
        held_open: false,
    };
    let mut exited_at: Option<std::time::Instant> = None;
    loop {
        // Wait for output, checking every 100 ms whether the command has exited.
        let ready = {
            let mut fds = [PollFd::new(&stdout, PollFlags::IN | PollFlags::HUP)];
            let timeout = Timespec {
                tv_sec: 0,
                tv_nsec: 100_000_000,
            };
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(n) => n > 0,
                Err(rustix::io::Errno::INTR) => false,
                Err(_) => true,
            }
        };
        if !ready {
            if exited_at.is_none() && matches!(child.try_wait(), Ok(Some(_))) {
                exited_at = Some(std::time::Instant::now());
            }
            if exited_at.is_some_and(|t| t.elapsed() > DRAIN_GRACE) {
                result.held_open = true;
                break;
            }
            continue;
        }
        let n = match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let chunk = &buf[..n];
        result.bytes += n as u64;
        if !result.closed_early {
            let passed = capture
                .passthrough
                .write_all(chunk)
                .and_then(|()| capture.passthrough.flush());
            if passed.is_err() {
                // Our reader went away: close the child's pipe so it sees the same.
                result.closed_early = true;
                capture_write(capture.capture, chunk, &mut result);
                break;
            }
        }
        capture_write(capture.capture, chunk, &mut result);
        let mut rest = chunk;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            if !skipping_long_line && line.len() + nl <= capture.max_line {
                line.extend_from_slice(&rest[..nl]);
                (capture.on_line)(&line);
            }
            line.clear();
            skipping_long_line = false;
            rest = &rest[nl + 1..];
        }
        if !skipping_long_line {
            line.extend_from_slice(rest);
            if line.len() > capture.max_line {
                line = Vec::new();
                skipping_long_line = true;
            }
        }
    }
    if !line.is_empty() && !skipping_long_line {
        (capture.on_line)(&line);
    }
    if let Err(err) = capture.capture.flush() {
        result.capture_error.get_or_insert(err.to_string());
    }
    result
}

fn capture_write(capture: &mut (dyn Write + Send), chunk: &[u8], result: &mut PumpResult) {
    if result.capture_error.is_none() {
        if let Err(err) = capture.write_all(chunk) {
            result.capture_error = Some(err.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, stdin: StdinMode) -> ChildSpec {
        ChildSpec {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            stdin,
        }
    }

    #[test]
    fn exit_codes_and_signals() {
        let out = run(sh("exit 7", StdinMode::Inherit), None).unwrap();
        assert_eq!(out.exit_status(), 7);
        let out = run(sh("kill -TERM $$", StdinMode::Inherit), None).unwrap();
        assert_eq!((out.signal, out.exit_status()), (Some(15), 143));
    }

    #[test]
    fn stdout_is_passed_through_captured_and_split_into_lines() {
        let mut passthrough: Vec<u8> = Vec::new();
        let mut captured: Vec<u8> = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        let mut on_line = |l: &[u8]| lines.push(String::from_utf8_lossy(l).into_owned());
        let capture = StdoutCapture {
            passthrough: &mut passthrough,
            capture: &mut captured,
            on_line: &mut on_line,
            max_line: 10,
        };
        let spec = sh(
            "cat; printf 'a\\nbb\\n0123456789ABCDEF\\nlast'",
            StdinMode::Bytes(b"in\n".to_vec()),
        );
        let out = run(spec, Some(capture)).unwrap();
        assert_eq!(out.exit_status(), 0);
        let expected = b"in\na\nbb\n0123456789ABCDEF\nlast";
        assert_eq!(passthrough, expected);
        assert_eq!(captured, expected);
        assert_eq!(
            lines,
            ["in", "a", "bb", "last"],
            "the over-long line is not parsed"
        );
    }

    #[test]
    fn missing_programs_are_reported() {
        let mut spec = sh("true", StdinMode::Inherit);
        spec.program = PathBuf::from("/nonexistent/codex");
        assert!(matches!(run(spec, None), Err(SpawnError::NotFound { .. })));
    }
}
