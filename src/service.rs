//! A watch that outlives one run: `codex-attest watch` keeps the work tree watched and its
//! status current, so `wrap` starts without walking the tree.
//!
//! Without it, every `wrap` pays one `git status` (a walk of every file and directory) before
//! the command starts, and sets up a watch over every directory beside it. The service does both
//! once: it sets up a watch (`watch.rs`), then takes a full snapshot, and from then on folds the
//! paths the watch saw touched into that snapshot (`changes::snapshot_touched`, the same code
//! that takes the ending snapshot of a run). A `wrap` asks it over a Unix socket for the
//! starting state (`begin`: the dirty paths as git would list them now), and, after the command
//! exited, for every path touched since (`end`); it hashes and stores the files itself.
//!
//! Order is what makes the answers complete. The snapshot is taken after the watch is ready, so
//! a change lands in the snapshot, in the watch, or in both. A checkpoint
//! ([`TreeWatch::checkpoint`]) reads the watch's queue empty after the request, and inotify
//! queues an event before the system call that caused it returns: a change made before `begin`
//! is in the starting state, and one made after it is among the run's touched paths.
//!
//! The snapshot is taken again from scratch (a rebaseline) whenever what it was folded from
//! could be out of date: the index's entries changed (`git add`, a commit, a checkout), HEAD or
//! a ref file changed, a file that decides how git compares or ignores changed (the
//! repository's and the user's git configuration, `info/exclude`, `info/attributes`, global
//! ignore and attribute files). The watch itself is set up again (a restart) when it cannot
//! vouch for completeness (queue overflow, a `.gitignore` changed, the event stream failed) or a
//! directory was created, deleted or moved (a new directory has no watch of its own); open runs
//! are then told to look at the whole tree (`Touched::Rescan`), never given a partial answer.
//!
//! Trust: the socket lives in the store under the repository's git directory, in a directory
//! only the owner can enter; both ends check that the other runs as the same user
//! (`SO_PEERCRED`). Anything unexpected on the client's side (no socket, a refused connection,
//! a timeout, a malformed answer, an unknown session) makes `wrap` fall back to its own walk: the
//! service can make a run faster, never its record less complete. Its limits are the watch's:
//! writes through a shared memory mapping and changes made over a network file system from
//! another machine raise no events (`wrap --full-rescan` or no service where that matters).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::changes::{DirtyPath, FileState, Snapshot};
use crate::digest::GitOid;
use crate::git::{FileMode, GitError, Repo, RepoPath};
use crate::touched::Baseline;
use crate::watch::{Touched, TreeWatch, WatchError};

/// The directory of the store that holds the sockets.
const SOCKET_DIR: &str = "watch";
/// A Unix socket address holds at most this many bytes of path (`sun_path`, 108 with its NUL).
const MAX_SOCKET_PATH: usize = 107;
/// The largest request a client may send.
const MAX_REQUEST: u64 = 4096;
/// How often an idle service folds what the watch saw into its snapshot.
const IDLE_TICK: Duration = Duration::from_millis(250);
/// How long after a run ended the service waits before it folds that run's changes in: the
/// `wrap` that asked is still hashing, signing and storing, and must not share the cores with
/// the fold (or a fresh status). A run that starts sooner folds them in its `begin`.
const QUIET_AFTER_RUN: Duration = Duration::from_secs(2);
/// How long either end waits for the other before giving up.
const SERVER_IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `wrap` waits for an answer: a rebaseline of a large tree takes seconds.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Open runs kept at most; the oldest is forgotten beyond (its `end` then asks for a rescan).
const MAX_SESSIONS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "a watch service already serves this work tree (socket {0}); stop it with `codex-attest watch --stop`"
    )]
    Running(PathBuf),
    #[error(
        "the socket path {0} is longer than a Unix socket address allows ({MAX_SOCKET_PATH} bytes); move the repository to a shorter path"
    )]
    PathTooLong(PathBuf),
    #[error("the index cannot stand in for git's view here ({0}); `wrap` walks the tree itself")]
    Unusable(String),
    #[error(
        "the work tree changed under the watch while it was being set up; this run walks the tree itself"
    )]
    Unsettled,
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("no watch service serves this work tree (no socket at {0})")]
    NotRunning(PathBuf),
    #[error("the watch service at {path} did not answer as expected: {detail}")]
    Protocol { path: PathBuf, detail: String },
}

/// Where the service of the work tree `repo.root` listens: in the store, named by a digest of
/// the work tree's path (linked worktrees share the store).
pub fn socket_path(repo: &Repo) -> PathBuf {
    let digest = crate::digest::sha256(repo.root.as_os_str().as_bytes()).to_string();
    crate::store::Store::at(&repo.common_dir)
        .root()
        .join(SOCKET_DIR)
        .join(format!("{}.sock", &digest[..16]))
}

// ---------------------------------------------------------------------------------------------
// The wire: one JSON request line, one JSON answer line, per connection.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Begin,
    End { session: u64 },
    Status,
    Stop,
}

/// A request on the wire: `{"op":"begin"}`, `{"op":"end","session":N}`, ... (a flat struct:
/// serde cannot refuse unknown fields of an internally tagged enum's unit variants).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRequest {
    op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<u64>,
}

impl Request {
    fn to_wire(self) -> WireRequest {
        let (op, session) = match self {
            Request::Begin => ("begin", None),
            Request::End { session } => ("end", Some(session)),
            Request::Status => ("status", None),
            Request::Stop => ("stop", None),
        };
        WireRequest {
            op: op.to_string(),
            session,
        }
    }

    fn from_wire(wire: WireRequest) -> Result<Request, String> {
        match (wire.op.as_str(), wire.session) {
            ("begin", None) => Ok(Request::Begin),
            ("end", Some(session)) => Ok(Request::End { session }),
            ("status", None) => Ok(Request::Status),
            ("stop", None) => Ok(Request::Stop),
            (op, _) => Err(format!(
                "not a request: op {op:?} with session {:?}",
                wire.session
            )),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Answer {
    Begun(WireBegun),
    Ended(WireEnded),
    Status(ServiceStatus),
    Stopping,
    Error(String),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBegun {
    session: u64,
    head: Option<String>,
    dirty: Vec<WireDirty>,
    warnings: Vec<String>,
}

/// A dirty path: its bytes in hex (a path need not be UTF-8), git's two letters, HEAD's blob and
/// mode.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireDirty {
    path: String,
    xy: String,
    head: Option<String>,
    head_mode: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEnded {
    /// Paths in hex; `None` with `rescan`.
    paths: Option<Vec<String>>,
    rescan: Option<String>,
}

/// What `codex-attest watch --status` shows.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServiceStatus {
    /// The service's process.
    pub pid: u32,
    /// The work tree it watches.
    pub root: String,
    /// Watched directories.
    pub directories: usize,
    /// Paths that differ from HEAD, untracked files included.
    pub dirty: usize,
    /// Runs between `begin` and `end`.
    pub open_runs: usize,
    /// Runs served since the service started.
    pub runs: u64,
    /// Full snapshots taken since it started (the first included).
    pub rebaselines: u64,
    /// Times the watch was set up again.
    pub restarts: u64,
    /// Seconds since it started.
    pub uptime_s: u64,
}

fn hex_path(path: &RepoPath) -> String {
    crate::digest::to_hex(path.as_bytes())
}

fn path_from_hex(text: &str) -> Option<RepoPath> {
    crate::digest::from_hex(text).map(RepoPath::from_bytes)
}

/// A path inside the work tree: relative, no empty, `.` or `..` component, no NUL.
fn is_relative(path: &[u8]) -> bool {
    !path.is_empty()
        && !path.contains(&0)
        && path
            .split(|&b| b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

fn mode_text(mode: FileMode) -> &'static str {
    match mode {
        FileMode::Regular => "100644",
        FileMode::Executable => "100755",
        FileMode::Symlink => "120000",
    }
}

// ---------------------------------------------------------------------------------------------
// The server.

/// The files whose change makes the snapshot suspect, with their identity when last looked at.
#[derive(Debug, PartialEq, Eq)]
struct Inputs(Vec<(PathBuf, Option<FileIdentity>)>);

/// Device, inode, size and modification time.
type FileIdentity = (u64, u64, u64, i64, i64);

impl Inputs {
    /// The same files, looked at again.
    fn now(&self) -> Inputs {
        let paths: Vec<PathBuf> = self.0.iter().map(|(p, _)| p.clone()).collect();
        Inputs::of(&paths)
    }

    fn of(paths: &[PathBuf]) -> Inputs {
        Inputs(
            paths
                .iter()
                .map(|p| {
                    let id = std::fs::symlink_metadata(p)
                        .ok()
                        .map(|m| (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()));
                    (p.clone(), id)
                })
                .collect(),
        )
    }
}

/// What the watch, the index and the snapshot say, taken together.
struct State {
    watch: TreeWatch,
    directories: usize,
    baseline: Baseline,
    snapshot: Snapshot,
    inputs: Inputs,
    /// Ignored directories the watch skipped (the same at every checkpoint of one watch):
    /// every run's touched paths include them.
    skipped: BTreeSet<RepoPath>,
    /// Touched since the snapshot was last brought up to date.
    pending: BTreeSet<RepoPath>,
    /// A directory changed: the watch must be set up again before it serves a new run.
    stale: bool,
}

enum Session {
    Open(BTreeSet<RepoPath>),
    Rescan(String),
}

/// A running watch service. [`Service::start`] sets it up; [`Service::run`] serves until asked
/// to stop. Dropping it removes its socket.
pub struct Service {
    repo: Repo,
    socket: PathBuf,
    socket_id: (u64, u64),
    listener: UnixListener,
    /// Files outside the repository that decide how git compares and ignores, given by the
    /// caller (see [`Inputs`]).
    extra_inputs: Vec<PathBuf>,
    state: State,
    sessions: BTreeMap<u64, Session>,
    next_session: u64,
    started: Instant,
    runs: u64,
    rebaselines: u64,
    restarts: u64,
    stop_asked: bool,
    /// When the last run ended (see [`QUIET_AFTER_RUN`]).
    last_end: Option<Instant>,
}

/// The hash of the service's own snapshot: digests only (`wrap` reads and stores the files
/// itself, with its own secrets scrubbed).
fn plain_hash(path: &Path) -> std::io::Result<crate::digest::FileDigests> {
    crate::digest::digest_file(path)
}

impl Service {
    /// Binds the socket, sets up the watch and takes the first snapshot. `extra_inputs` are
    /// files outside the repository that decide how git compares or ignores (the user's global
    /// ignore and attributes files where git finds them by default); the configuration files git
    /// reads are found here.
    pub fn start(repo: &Repo, extra_inputs: &[PathBuf]) -> Result<Service, ServiceError> {
        let socket = socket_path(repo);
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(ServiceError::PathTooLong(socket));
        }
        let dir = socket.parent().unwrap_or(Path::new("."));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ServiceError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        if socket.exists() {
            if UnixStream::connect(&socket).is_ok() {
                return Err(ServiceError::Running(socket));
            }
            // Left by a service that died: nobody listens.
            std::fs::remove_file(&socket).map_err(io(&socket))?;
        }
        let listener = UnixListener::bind(&socket).map_err(io(&socket))?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
            .map_err(io(&socket))?;
        let meta = std::fs::symlink_metadata(&socket).map_err(io(&socket))?;
        let socket_id = (meta.dev(), meta.ino());
        listener.set_nonblocking(true).map_err(io(&socket))?;
        let state = match State::set_up(repo, extra_inputs) {
            Ok(state) => state,
            Err(err) => {
                let _ = std::fs::remove_file(&socket);
                return Err(err);
            }
        };
        Ok(Service {
            repo: repo.clone(),
            socket,
            socket_id,
            listener,
            extra_inputs: extra_inputs.to_vec(),
            state,
            sessions: BTreeMap::new(),
            next_session: 1,
            started: Instant::now(),
            runs: 0,
            rebaselines: 1,
            restarts: 0,
            stop_asked: false,
            last_end: None,
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn status(&self) -> ServiceStatus {
        ServiceStatus {
            pid: std::process::id(),
            root: self.repo.root.display().to_string(),
            directories: self.state.directories,
            dirty: self.state.snapshot.dirty.len(),
            open_runs: self
                .sessions
                .values()
                .filter(|s| matches!(s, Session::Open(_)))
                .count(),
            runs: self.runs,
            rebaselines: self.rebaselines,
            restarts: self.restarts,
            uptime_s: self.started.elapsed().as_secs(),
        }
    }

    /// Serves until `stop` is set or a client asks it to stop. Errors of one connection are
    /// answered on it; the loss of the socket, or bringing the snapshot up to date failing for
    /// five seconds in a row (the repository is gone, git fails), ends the service.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), ServiceError> {
        use rustix::event::{PollFd, PollFlags, Timespec};
        let mut last_tick = Instant::now();
        let mut failing_since: Option<Instant> = None;
        while !stop.load(Ordering::SeqCst) && !self.stop_asked {
            let timeout = Timespec {
                tv_sec: 0,
                tv_nsec: IDLE_TICK.as_nanos() as i64,
            };
            let mut fds = [PollFd::new(&self.listener, PollFlags::IN)];
            let _ = rustix::event::poll(&mut fds, Some(&timeout));
            match self.listener.accept() {
                Ok((stream, _)) => self.serve(stream),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ServiceError::Io {
                        path: self.socket.clone(),
                        source,
                    });
                }
            }
            if last_tick.elapsed() >= IDLE_TICK {
                last_tick = Instant::now();
                // Events go to the open runs at once (a long run must not overflow the queue);
                // the snapshot is brought up to date only while no run is open or recording,
                // so that work never competes with a command or its `wrap` for the cores.
                self.checkpoint();
                let quiet = self.last_end.is_none_or(|t| t.elapsed() >= QUIET_AFTER_RUN);
                if self.sessions.is_empty() && quiet {
                    match self.bring_up_to_date(false) {
                        Ok(()) => failing_since = None,
                        Err(err) => {
                            // A run asking now is refused (and walks); the next tick tries again.
                            self.state.stale = true;
                            let since = *failing_since.get_or_insert_with(Instant::now);
                            if since.elapsed() >= Duration::from_secs(5) {
                                return Err(err);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Answers one connection.
    fn serve(&mut self, stream: UnixStream) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(SERVER_IO_TIMEOUT));
        let _ = stream.set_write_timeout(Some(SERVER_IO_TIMEOUT));
        let answer = match same_user(&stream) {
            Err(detail) => Answer::Error(detail),
            Ok(()) => match read_line(&stream) {
                Err(detail) => Answer::Error(detail),
                Ok(line) => match serde_json::from_slice::<WireRequest>(&line)
                    .map_err(|e| format!("unreadable request: {e}"))
                    .and_then(Request::from_wire)
                {
                    Err(detail) => Answer::Error(detail),
                    Ok(request) => self.answer(request),
                },
            },
        };
        let mut line = serde_json::to_vec(&answer).unwrap_or_else(|_| b"{}".to_vec());
        line.push(b'\n');
        let mut stream = stream;
        let _ = stream.write_all(&line);
    }

    fn answer(&mut self, request: Request) -> Answer {
        match request {
            Request::Begin => match self.begin() {
                Ok(begun) => Answer::Begun(begun),
                Err(err) => Answer::Error(err.to_string()),
            },
            Request::End { session } => {
                self.checkpoint();
                self.last_end = Some(Instant::now());
                let ended = match self.sessions.remove(&session) {
                    Some(Session::Open(paths)) => WireEnded {
                        paths: Some(
                            paths
                                .iter()
                                .chain(&self.state.skipped)
                                .map(hex_path)
                                .collect(),
                        ),
                        rescan: None,
                    },
                    Some(Session::Rescan(reason)) => WireEnded {
                        paths: None,
                        rescan: Some(reason),
                    },
                    None => WireEnded {
                        paths: None,
                        rescan: Some(format!("the watch service does not know run {session}")),
                    },
                };
                Answer::Ended(ended)
            }
            Request::Status => {
                self.checkpoint();
                match self.bring_up_to_date(false) {
                    Ok(()) => Answer::Status(self.status()),
                    Err(err) => Answer::Error(err.to_string()),
                }
            }
            Request::Stop => {
                self.stop_asked = true;
                Answer::Stopping
            }
        }
    }

    fn begin(&mut self) -> Result<WireBegun, ServiceError> {
        self.checkpoint();
        self.bring_up_to_date(true)?;
        if self.state.stale {
            return Err(ServiceError::Unsettled);
        }
        let session = self.next_session;
        self.next_session += 1;
        self.runs += 1;
        self.sessions
            .insert(session, Session::Open(BTreeSet::new()));
        while self.sessions.len() > MAX_SESSIONS {
            // The oldest run (ids only grow): its wrap most likely died without saying so.
            self.sessions.pop_first();
        }
        let snapshot = &self.state.snapshot;
        Ok(WireBegun {
            session,
            head: snapshot.head.as_ref().map(|h| h.as_str().to_string()),
            dirty: snapshot
                .dirty
                .iter()
                .map(|(path, d)| WireDirty {
                    path: hex_path(path),
                    xy: String::from_utf8_lossy(&d.xy).into_owned(),
                    head: d.head.as_ref().map(|h| h.as_str().to_string()),
                    head_mode: d.head_mode.map(|m| mode_text(m).to_string()),
                })
                .collect(),
            warnings: snapshot.warnings.clone(),
        })
    }

    /// Reads what the watch saw since the last checkpoint into the open runs and the paths the
    /// snapshot has still to look at. A watch that cannot vouch for completeness is set up
    /// again, and the open runs are told to look at the whole tree.
    fn checkpoint(&mut self) {
        let checkpoint = self.state.watch.checkpoint();
        if let Some(reason) = checkpoint.rescan {
            self.rescan_open_runs(&reason);
            self.state.stale = true;
            return;
        }
        for session in self.sessions.values_mut() {
            if let Session::Open(paths) = session {
                paths.extend(checkpoint.paths.iter().cloned());
            }
        }
        self.state.pending.extend(checkpoint.paths);
        if checkpoint.directories_changed {
            self.state.stale = true;
        }
    }

    fn rescan_open_runs(&mut self, reason: &str) {
        for session in self.sessions.values_mut() {
            if matches!(session, Session::Open(_)) {
                *session = Session::Rescan(format!("the watch service: {reason}"));
            }
        }
    }

    /// Brings the snapshot up to date with what the watch saw: a restart when the watch is out
    /// of date (at once for a new run, otherwise once no run is open), a rebaseline when the
    /// index, HEAD or a setting changed, or the touched paths folded in.
    fn bring_up_to_date(&mut self, for_a_run: bool) -> Result<(), ServiceError> {
        if self.state.stale && (for_a_run || self.sessions.is_empty()) {
            self.rescan_open_runs(
                "a directory was created, deleted or moved; the watch was set up again",
            );
            self.state = State::set_up(&self.repo, &self.extra_inputs)?;
            self.restarts += 1;
            self.rebaselines += 1;
            return Ok(());
        }
        let suspect = self.state.inputs.now() != self.state.inputs
            || !self.state.baseline.catch_up()
            || (for_a_run && self.repo.head()? != self.state.snapshot.head);
        if suspect {
            self.state.rebaseline(&self.repo, &self.extra_inputs)?;
            self.rebaselines += 1;
            return Ok(());
        }
        if self.state.pending.is_empty() {
            return Ok(());
        }
        // Cleared only once folded: a failure leaves them for the next attempt.
        self.state.snapshot = crate::changes::snapshot_touched(
            &self.repo,
            &self.state.snapshot,
            &self.state.pending,
            Some(&self.state.baseline),
            None,
            &plain_hash,
        )?;
        self.state.pending.clear();
        // The index changed while the paths were looked at: their staged half may be stale.
        if !self.state.baseline.catch_up() {
            self.state.rebaseline(&self.repo, &self.extra_inputs)?;
            self.rebaselines += 1;
        }
        Ok(())
    }
}

impl Drop for Service {
    /// Removes the socket, unless another service has replaced it since.
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.socket) {
            if (meta.dev(), meta.ino()) == self.socket_id {
                let _ = std::fs::remove_file(&self.socket);
            }
        }
    }
}

impl State {
    /// The watch first, then the index and the snapshot: a change is in the snapshot, in the
    /// watch's events, or in both.
    fn set_up(repo: &Repo, extra_inputs: &[PathBuf]) -> Result<State, ServiceError> {
        let mut watch = TreeWatch::start(repo, Duration::ZERO)?;
        let ready = watch.ready()?;
        if !ready.indexed {
            return Err(ServiceError::Unusable(
                "a split or sparse index, or core.ignoreCase".to_string(),
            ));
        }
        let (baseline, snapshot, inputs) = baseline_and_snapshot(repo, extra_inputs)?;
        // The set-up's own touched paths (directories that vanished while it ran) are folded
        // in later; the skipped ignored directories come with every checkpoint. A watch that
        // could not vouch for the set-up (a `.gitignore` changed meanwhile) is set up again
        // before it serves a run.
        let first = watch.checkpoint();
        Ok(State {
            watch,
            directories: ready.directories,
            baseline,
            snapshot,
            inputs,
            skipped: first.skipped.into_iter().collect(),
            pending: first.paths,
            stale: first.directories_changed || first.rescan.is_some(),
        })
    }

    fn rebaseline(&mut self, repo: &Repo, extra_inputs: &[PathBuf]) -> Result<(), ServiceError> {
        let (baseline, snapshot, inputs) = baseline_and_snapshot(repo, extra_inputs)?;
        self.baseline = baseline;
        self.snapshot = snapshot;
        self.inputs = inputs;
        // Everything touched so far is in the new snapshot.
        self.pending.clear();
        Ok(())
    }
}

/// The settings' identities, then the index, then a full snapshot: a later change to any of
/// them is noticed by the next comparison. The list of settings files is found again each
/// time: after a checkout, HEAD names another branch's ref file.
fn baseline_and_snapshot(
    repo: &Repo,
    extra_inputs: &[PathBuf],
) -> Result<(Baseline, Snapshot, Inputs), ServiceError> {
    let mut paths = git_inputs(repo)?;
    paths.extend(extra_inputs.iter().cloned());
    let inputs = Inputs::of(&paths);
    let baseline = Baseline::read(repo).map_err(|e| ServiceError::Unusable(e.to_string()))?;
    if !baseline.usable() {
        return Err(ServiceError::Unusable(
            "sparse-checkout entries or core.ignoreCase".to_string(),
        ));
    }
    let snapshot = crate::changes::snapshot(repo, &plain_hash)?;
    Ok((baseline, snapshot, inputs))
}

/// The files of the repository that decide what `git status` says besides the work tree and
/// the index: every configuration file git reads, HEAD and the refs it may point to,
/// `info/exclude` and `info/attributes`, and the ignore and attribute files the configuration
/// names.
fn git_inputs(repo: &Repo) -> Result<Vec<PathBuf>, ServiceError> {
    let out = crate::git::run(&repo.root, &["rev-parse", "--absolute-git-dir"])?;
    let git_dir = PathBuf::from(std::ffi::OsStr::from_bytes(out.trim_ascii_end()));
    let mut paths = vec![
        git_dir.join("HEAD"),
        repo.common_dir.join("packed-refs"),
        repo.common_dir.join("info").join("exclude"),
        repo.common_dir.join("info").join("attributes"),
        repo.common_dir.join("config"),
        git_dir.join("config.worktree"),
    ];
    // The branch HEAD names, as a loose ref.
    if let Ok(head) = std::fs::read(git_dir.join("HEAD")) {
        if let Some(name) = head.trim_ascii_end().strip_prefix(b"ref: ") {
            if name.starts_with(b"refs/") && !name.split(|&b| b == b'/').any(|c| c == b"..") {
                paths.push(repo.common_dir.join(std::ffi::OsStr::from_bytes(name)));
            }
        }
    }
    // Every configuration file git reads (system, global, local), as git names them.
    if let Ok(out) = crate::git::run(&repo.root, &["config", "--list", "--show-origin", "-z"]) {
        for record in out.split(|&b| b == 0) {
            if let Some(file) = record.strip_prefix(b"file:") {
                let path = repo.root.join(std::ffi::OsStr::from_bytes(file));
                if !paths.contains(&path) {
                    paths.push(path);
                }
            }
        }
    }
    for key in ["core.excludesFile", "core.attributesFile"] {
        if let Ok(out) = crate::git::run(&repo.root, &["config", "--path", "--get", key]) {
            let text = out.trim_ascii_end();
            if !text.is_empty() {
                paths.push(repo.root.join(std::ffi::OsStr::from_bytes(text)));
            }
        }
    }
    Ok(paths)
}

/// Refuses a peer that runs as another user.
fn same_user(stream: &UnixStream) -> Result<(), String> {
    let cred = rustix::net::sockopt::socket_peercred(stream)
        .map_err(|e| format!("could not identify the peer: {e}"))?;
    if cred.uid != rustix::process::getuid() {
        return Err("the peer runs as another user".to_string());
    }
    Ok(())
}

/// One line of at most `MAX_REQUEST` bytes (an answer may be longer: the client reads whole).
fn read_line(stream: &UnixStream) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    BufReader::new(stream.take(MAX_REQUEST))
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("could not read the request: {e}"))?;
    if line.last() != Some(&b'\n') {
        return Err("the request is not one line of at most 4096 bytes".to_string());
    }
    Ok(line)
}

// ---------------------------------------------------------------------------------------------
// The client: `wrap`, and `codex-attest watch --status` and `--stop`.

/// The starting state a service gave a run, and the run's place in it.
#[derive(Debug)]
pub struct Begun {
    /// The dirty paths with git's two letters and HEAD's blob; their content is not read yet
    /// (`FileState::Missing` until the caller reads it).
    pub snapshot: Snapshot,
    pub session: RunSession,
}

/// A run the service is collecting touched paths for.
#[derive(Debug)]
pub struct RunSession {
    socket: PathBuf,
    id: u64,
}

impl RunSession {
    /// Where the run may have changed something, once the command has exited (every change it
    /// made is queued). Anything but a clean answer is a rescan.
    pub fn finish(self, baseline: Option<Box<Baseline>>) -> Touched {
        let answer = match ask_raw(&self.socket, Request::End { session: self.id }) {
            Ok(answer) => answer,
            Err(err) => return Touched::Rescan(err.to_string()),
        };
        match parse_ended(&answer) {
            Ok(Ok(paths)) => Touched::Paths { paths, baseline },
            Ok(Err(reason)) => Touched::Rescan(reason),
            Err(detail) => Touched::Rescan(format!("the watch service answered badly: {detail}")),
        }
    }
}

/// Asks the service of `repo`'s work tree for the starting state of a run. `NotRunning` when
/// there is no socket, or nobody listens on it.
pub fn begin(repo: &Repo) -> Result<Begun, ServiceError> {
    let socket = socket_path(repo);
    let answer = ask_raw(&socket, Request::Begin)?;
    match parse_begun(&answer) {
        Ok((id, snapshot)) => Ok(Begun {
            snapshot,
            session: RunSession { socket, id },
        }),
        Err(detail) => Err(ServiceError::Protocol {
            path: socket,
            detail,
        }),
    }
}

/// Reads a `begin` answer: the run's id and the starting state it names, the content of each
/// dirty path not read yet (`FileState::Missing`). Strict: every path relative and inside the
/// tree, every object id, mode and pair of status letters valid, or nothing.
pub fn parse_begun(answer: &[u8]) -> Result<(u64, Snapshot), String> {
    let begun = match serde_json::from_slice::<Answer>(answer) {
        Ok(Answer::Begun(begun)) => begun,
        Ok(Answer::Error(detail)) => return Err(detail),
        Ok(other) => return Err(format!("unexpected answer {other:?}")),
        Err(err) => return Err(format!("unreadable answer: {err}")),
    };
    let oid = |text: &str| -> Result<GitOid, String> {
        text.parse()
            .map_err(|_| format!("not an object id: {text:?}"))
    };
    let mut snapshot = Snapshot {
        head: begun.head.as_deref().map(oid).transpose()?,
        dirty: BTreeMap::new(),
        warnings: begun.warnings,
    };
    for d in begun.dirty {
        let path = path_in_tree(&d.path)?;
        let xy: [u8; 2] =
            d.xy.as_bytes()
                .try_into()
                .ok()
                .filter(|xy: &[u8; 2]| xy.iter().all(|b| b.is_ascii_graphic()))
                .ok_or_else(|| format!("not two status letters: {:?}", d.xy))?;
        let head_mode = match d.head_mode.as_deref() {
            None => None,
            Some(text) => Some(
                FileMode::from_git(text.as_bytes())
                    .ok_or_else(|| format!("not a file mode: {text:?}"))?,
            ),
        };
        snapshot.dirty.insert(
            path,
            DirtyPath {
                xy,
                head: d.head.as_deref().map(oid).transpose()?,
                head_mode,
                state: FileState::Missing,
            },
        );
    }
    Ok((begun.session, snapshot))
}

/// Reads an `end` answer: the run's touched paths (each relative and inside the tree), or why
/// the run must examine the whole tree.
pub fn parse_ended(answer: &[u8]) -> Result<Result<BTreeSet<RepoPath>, String>, String> {
    let ended = match serde_json::from_slice::<Answer>(answer) {
        Ok(Answer::Ended(ended)) => ended,
        Ok(other) => return Err(format!("unexpected answer {other:?}")),
        Err(err) => return Err(format!("unreadable answer: {err}")),
    };
    match ended {
        WireEnded {
            paths: Some(paths),
            rescan: None,
        } => Ok(Ok(paths
            .iter()
            .map(|p| path_in_tree(p))
            .collect::<Result<_, _>>()?)),
        WireEnded {
            paths: None,
            rescan: Some(reason),
        } => Ok(Err(reason)),
        _ => Err("an answer with both paths and a rescan, or neither".to_string()),
    }
}

/// A path from the wire: hex of a relative path with no `.`, `..` or empty component.
fn path_in_tree(text: &str) -> Result<RepoPath, String> {
    path_from_hex(text)
        .filter(|p| is_relative(p.as_bytes()))
        .ok_or_else(|| format!("not a relative path in hex: {text:?}"))
}

/// The service's counters, after it folded in what it saw.
pub fn status(repo: &Repo) -> Result<ServiceStatus, ServiceError> {
    let socket = socket_path(repo);
    match ask(&socket, Request::Status)? {
        Answer::Status(status) => Ok(status),
        other => Err(ServiceError::Protocol {
            path: socket,
            detail: format!("unexpected answer {other:?}"),
        }),
    }
}

/// Asks the service to stop; it removes its socket as it goes.
pub fn stop(repo: &Repo) -> Result<(), ServiceError> {
    let socket = socket_path(repo);
    match ask(&socket, Request::Stop)? {
        Answer::Stopping => Ok(()),
        other => Err(ServiceError::Protocol {
            path: socket,
            detail: format!("unexpected answer {other:?}"),
        }),
    }
}

fn ask(socket: &Path, request: Request) -> Result<Answer, ServiceError> {
    let answer = ask_raw(socket, request)?;
    serde_json::from_slice(&answer).map_err(|e| ServiceError::Protocol {
        path: socket.to_path_buf(),
        detail: format!("unreadable answer: {e}"),
    })
}

/// Sends one request and returns the answer's line.
fn ask_raw(socket: &Path, request: Request) -> Result<Vec<u8>, ServiceError> {
    let io = |source| ServiceError::Io {
        path: socket.to_path_buf(),
        source,
    };
    let mut stream = match UnixStream::connect(socket) {
        Ok(stream) => stream,
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ServiceError::NotRunning(socket.to_path_buf()));
        }
        Err(err) => return Err(io(err)),
    };
    same_user(&stream).map_err(|detail| ServiceError::Protocol {
        path: socket.to_path_buf(),
        detail,
    })?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT)).map_err(io)?;
    let mut line =
        serde_json::to_vec(&request.to_wire()).map_err(|e| io(std::io::Error::other(e)))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(io)?;
    let mut answer = Vec::new();
    BufReader::new(&stream)
        .read_until(b'\n', &mut answer)
        .map_err(io)?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    use crate::testing::{committed, git, write};

    /// A service on a thread, stopped when dropped.
    struct Running {
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<Result<(), ServiceError>>>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn serve(repo: &Repo) -> Running {
        let mut service = Service::start(repo, &[]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        Running {
            stop,
            thread: Some(std::thread::spawn(move || service.run(&flag))),
        }
    }

    /// Committed files and an ignored directory.
    fn repo() -> (tempfile::TempDir, Repo) {
        let (dir, repo) = committed(&[
            (".gitignore", "build/\n"),
            ("a.txt", "a\n"),
            ("run.sh", "#!/bin/sh\n"),
            ("dir/b.txt", "b\n"),
            ("dir/sub/c.txt", "c\n"),
        ]);
        write(dir.path(), "build/x.o", "ignored\n");
        (dir, repo)
    }

    type Listing = Vec<(String, [u8; 2], Option<GitOid>, Option<FileMode>)>;

    /// What a snapshot says of each dirty path, content aside.
    fn listing(snapshot: &Snapshot) -> Listing {
        snapshot
            .dirty
            .iter()
            .map(|(p, d)| (p.display(), d.xy, d.head.clone(), d.head_mode))
            .collect()
    }

    /// `git status` now, as a snapshot's listing.
    fn full(repo: &Repo) -> (Option<GitOid>, Listing) {
        let snap = crate::changes::snapshot(repo, &plain_hash).unwrap();
        (snap.head.clone(), listing(&snap))
    }

    fn begun(repo: &Repo) -> (Option<GitOid>, Listing, RunSession) {
        let begun = begin(repo).unwrap();
        (
            begun.snapshot.head.clone(),
            listing(&begun.snapshot),
            begun.session,
        )
    }

    fn touched(session: RunSession) -> BTreeSet<RepoPath> {
        match session.finish(None) {
            Touched::Paths { paths, .. } => paths,
            Touched::Rescan(reason) => panic!("rescan: {reason}"),
        }
    }

    fn covers(paths: &BTreeSet<RepoPath>, path: &str) -> bool {
        let specs: HashSet<&[u8]> = paths.iter().map(RepoPath::as_bytes).collect();
        crate::watch::covered(&specs, &RepoPath::from_bytes(path))
    }

    #[test]
    fn every_run_starts_from_what_git_status_says_now() {
        let (dir, repo) = repo();
        let root = dir.path();
        let _service = serve(&repo);

        // Edits, a new file, a deletion and an ignored file between runs.
        write(root, "a.txt", "a, edited\n");
        write(root, "dir/new.txt", "new\n");
        std::fs::remove_file(root.join("run.sh")).unwrap();
        write(root, "build/y.o", "ignored\n");
        let (head, list, session) = begun(&repo);
        assert_eq!((head, list), full(&repo));
        assert_eq!(
            full(&repo).1.len(),
            3,
            "a.txt, dir/new.txt and run.sh differ"
        );

        // The run: what it touches comes back, the ignored directory with it.
        write(root, "dir/sub/c.txt", "c, by the run\n");
        let paths = touched(session);
        assert!(covers(&paths, "dir/sub/c.txt"), "{paths:?}");
        assert!(
            covers(&paths, "build"),
            "ignored directories are re-examined"
        );
        assert!(!covers(&paths, "a.txt"), "only what came after `begin`");

        // Staged (the index changes, the work tree does not), then committed (HEAD moves);
        // nothing else is pending.
        let _ = begun(&repo);
        git(root, &["add", "a.txt"]);
        let (head, list, _) = begun(&repo);
        assert_eq!((head, list.clone()), full(&repo));
        assert!(list.iter().any(|(p, xy, ..)| p == "a.txt" && xy == b"M."));
        git(root, &["commit", "-q", "-m", "second"]);
        assert_eq!(
            {
                let (head, list, _) = begun(&repo);
                (head, list)
            },
            full(&repo)
        );

        // A new directory: the watch is set up again, and what is written in it later is seen.
        write(root, "fresh/f.txt", "f\n");
        let (head, list, session) = begun(&repo);
        assert_eq!((head, list), full(&repo));
        write(root, "fresh/g.txt", "g\n");
        let paths = touched(session);
        assert!(covers(&paths, "fresh/g.txt"), "{paths:?}");
        write(root, "fresh/h.txt", "h\n");
        let (head, list, _) = begun(&repo);
        assert_eq!((head, list.clone()), full(&repo));
        assert!(list.iter().any(|(p, ..)| p == "fresh/h.txt"));
        let counters = status(&repo).unwrap();
        assert!(counters.restarts >= 1, "{counters:?}");
        assert!(counters.rebaselines >= 3, "{counters:?}");

        // On another branch, a commit that changes neither the tree nor the index is noticed
        // between runs (by the new branch's ref file), not only by the next run's check of HEAD.
        git(root, &["checkout", "-q", "-b", "other"]);
        let before = status(&repo).unwrap().rebaselines;
        git(root, &["commit", "-q", "--allow-empty", "-m", "empty"]);
        std::thread::sleep(IDLE_TICK * 3);
        let after = status(&repo).unwrap();
        assert!(after.rebaselines > before, "{after:?}");
        let (head, list, _) = begun(&repo);
        assert_eq!((head, list), full(&repo));
    }

    #[test]
    fn the_fold_of_touched_paths_equals_a_fresh_status() {
        let (dir, repo) = repo();
        let root = dir.path();
        let _service = serve(&repo);
        // Let the service see each change on its own tick, folding as it goes.
        for (i, path) in ["a.txt", "dir/b.txt", "dir/sub/c.txt", "a.txt"]
            .iter()
            .enumerate()
        {
            write(root, path, &format!("edit {i}\n"));
            std::thread::sleep(IDLE_TICK * 2);
        }
        write(root, "a.txt", "a\n");
        std::fs::set_permissions(
            root.join("dir/b.txt"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::thread::sleep(IDLE_TICK * 2);
        let status_before = status(&repo).unwrap();
        let (head, list, _) = begun(&repo);
        assert_eq!((head, list.clone()), full(&repo));
        assert_eq!(list.len(), 2, "a.txt is back as committed: {list:?}");
        assert_eq!(
            status(&repo).unwrap().rebaselines,
            status_before.rebaselines,
            "folded, not taken again"
        );
    }

    #[test]
    fn an_open_run_is_told_to_rescan_when_the_watch_cannot_vouch() {
        let (dir, repo) = repo();
        let root = dir.path();
        let _service = serve(&repo);
        let (_, _, session) = begun(&repo);
        write(root, ".gitignore", "build/\n*.tmp\n");
        match session.finish(None) {
            Touched::Rescan(reason) => assert!(reason.contains(".gitignore"), "{reason}"),
            Touched::Paths { paths, .. } => panic!("not a rescan: {paths:?}"),
        }
        // Set up again, and right.
        write(root, "x.tmp", "now ignored\n");
        let (head, list, _) = begun(&repo);
        assert_eq!((head, list), full(&repo));

        // A run the service does not know (it was restarted, or the run is too old).
        let unknown = RunSession {
            socket: socket_path(&repo),
            id: 9999,
        };
        assert!(matches!(unknown.finish(None), Touched::Rescan(_)));
    }

    #[test]
    fn one_service_per_work_tree_and_its_socket_goes_with_it() {
        let (_dir, repo) = repo();
        let socket = socket_path(&repo);
        assert!(matches!(begin(&repo), Err(ServiceError::NotRunning(_))));
        {
            let _service = serve(&repo);
            assert!(matches!(
                Service::start(&repo, &[]),
                Err(ServiceError::Running(_))
            ));
            let mode = std::fs::metadata(socket.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "only the owner enters");
        }
        assert!(!socket.exists(), "removed when the service ends");

        // A socket left by a service that died is replaced.
        drop(UnixListener::bind(&socket).unwrap());
        assert!(socket.exists());
        // Other tests of this process fork git: until such a child execs, it holds a copy of the
        // listener just dropped, and a connection made then is queued and reset, not refused.
        let mut refused = begin(&repo);
        for _ in 0..50 {
            if matches!(refused, Err(ServiceError::NotRunning(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            refused = begin(&repo);
        }
        assert!(
            matches!(refused, Err(ServiceError::NotRunning(_))),
            "{refused:?}"
        );
        let _service = serve(&repo);
        assert!(begin(&repo).is_ok());
        stop(&repo).unwrap();
    }

    #[test]
    fn bad_requests_get_an_error_answer() {
        let (_dir, repo) = repo();
        let _service = serve(&repo);
        let socket = socket_path(&repo);
        for request in [
            &b"not json\n"[..],
            b"{\"op\":\"begin\",\"extra\":1}\n",
            b"{\"op\":\"end\"}\n",
            &[b'x'; 5000][..],
        ] {
            let mut stream = UnixStream::connect(&socket).unwrap();
            stream.write_all(request).unwrap();
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let mut answer = String::new();
            if let Err(err) = stream.read_to_string(&mut answer) {
                // The service closes on a request it did not read to the end: the kernel may
                // reset the connection before its answer is read.
                assert!(request.len() > MAX_REQUEST as usize, "{err}");
                continue;
            }
            assert!(
                answer.starts_with("{\"error\":"),
                "{:?}: {answer}",
                String::from_utf8_lossy(&request[..request.len().min(40)])
            );
        }
        // Still serving.
        assert!(begin(&repo).is_ok());
    }

    #[test]
    fn answers_naming_paths_outside_the_tree_or_bad_fields_are_refused() {
        for good in ["a", "a/b.txt", "dir/.hidden"] {
            assert!(is_relative(good.as_bytes()), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "./a",
            "a//b",
            "a/",
            "a\0b",
        ] {
            assert!(!is_relative(bad.as_bytes()), "{bad:?}");
            let hex = crate::digest::to_hex(bad.as_bytes());
            let ended = format!(r#"{{"ended":{{"paths":["612e747874","{hex}"],"rescan":null}}}}"#);
            assert!(parse_ended(ended.as_bytes()).is_err(), "{bad:?}");
            let begun = format!(
                r#"{{"begun":{{"session":1,"head":null,"dirty":[{{"path":"{hex}","xy":"??","head":null,"head_mode":null}}],"warnings":[]}}}}"#
            );
            assert!(parse_begun(begun.as_bytes()).is_err(), "{bad:?}");
        }
        // The same answers with a good path are taken.
        let ended = r#"{"ended":{"paths":["612e747874"],"rescan":null}}"#;
        assert_eq!(parse_ended(ended.as_bytes()).unwrap().unwrap().len(), 1);
        let begun = r#"{"begun":{"session":7,"head":null,"dirty":[{"path":"612e747874","xy":"??","head":null,"head_mode":null}],"warnings":[]}}"#;
        let (id, snapshot) = parse_begun(begun.as_bytes()).unwrap();
        assert_eq!((id, snapshot.dirty.len()), (7, 1));
        // Bad modes, letters and object ids are refused too.
        for bad in [
            r#""xy":"??","head":null,"head_mode":"100600""#,
            r#""xy":"?","head":null,"head_mode":null"#,
            r#""xy":"??","head":"xyz","head_mode":null"#,
        ] {
            let begun = format!(
                r#"{{"begun":{{"session":1,"head":null,"dirty":[{{"path":"612e747874",{bad}}}],"warnings":[]}}}}"#
            );
            assert!(parse_begun(begun.as_bytes()).is_err(), "{bad}");
        }
    }
}
