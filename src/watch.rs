//! Watching the work tree during a run, so the end of `wrap` needs no second full `git status`.
//!
//! Every directory git does not ignore gets an inotify watch: the directories holding tracked
//! files (from the index), and every untracked directory that `git check-ignore` does not ignore,
//! level by level. Ignored directories are never walked or watched; they are handed back so the
//! ending status re-examines them (git decides again, so a directory that stopped being ignored
//! during the run is still seen). The walk runs on a background thread while git takes the
//! starting snapshot, then the same thread drains the events while the command runs.
//!
//! What is guaranteed: `wrap` starts the command only after [`TreeWatch::ready`], so every
//! change the command (and anything it starts) makes is reported. A change another process
//! makes while `wrap` itself starts up (the time of one `git status`) is seen by the starting
//! snapshot or by the watch, or by neither if it lands in a directory after git read it and
//! before its watch was added: it is then missing from the record, which names only changes
//! the run could have made (a release gate still finds the file changed and not attested).
//!
//! At the end, the touched paths (files named by events, directories created, deleted or moved,
//! recursively) are the only places the ending status needs to look (`touched.rs` decides most
//! of them from the index this set-up read; git the rest). Whenever the watch
//! cannot vouch for completeness the answer is `Rescan` and the caller runs the full status:
//! the queue overflowed, a watch could not be added, the root or a `.gitignore` changed, the
//! repository's `info/exclude` changed, or the event stream failed.
//!
//! What we ignore (and why): writes through a shared memory mapping (`mmap`) and changes made on
//! another machine over a network filesystem produce no inotify events; `wrap --full-rescan`
//! turns the watch off for trees where that matters.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};

use crate::git::{Repo, RepoPath};
use crate::touched::Baseline;

/// A running watch over a work tree.
pub struct TreeWatch {
    stop: Arc<AtomicBool>,
    /// How many paths the watch has seen touched so far (updated each time the queue is empty).
    touched: Arc<AtomicUsize>,
    /// Written by `finish` and `checkpoint` to wake the thread at once.
    wake: Arc<OwnedFd>,
    /// Told once the set-up is done (or failed).
    ready: Option<std::sync::mpsc::Receiver<Result<Ready, WatchError>>>,
    /// The thread's findings, sent when it stops.
    result: std::sync::mpsc::Receiver<Collected>,
    /// Set by `checkpoint`, cleared by the thread when it answers.
    checkpoint: Arc<AtomicBool>,
    /// The thread's answers to `checkpoint`.
    checkpoints: std::sync::mpsc::Receiver<Checkpoint>,
    exclude: PathBuf,
    exclude_before: Option<FileId>,
}

/// A watch, set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    /// How many directories are watched.
    pub directories: usize,
    /// Whether the index was read and can stand in for git's view of the touched paths at the
    /// end (`touched.rs`).
    pub indexed: bool,
}

/// Where the run may have changed something.
#[derive(Debug)]
pub enum Touched {
    /// Complete: nothing outside these paths changed. `paths` are files or directories (a
    /// directory covers everything below it). `baseline` is the index as the watch read it
    /// before the command started, when it could (`touched.rs`).
    Paths {
        paths: BTreeSet<RepoPath>,
        baseline: Option<Box<Baseline>>,
    },
    /// The watch cannot vouch for completeness: examine the whole tree.
    Rescan(String),
}

/// What the watch saw between two checkpoints (`TreeWatch::checkpoint`).
#[derive(Debug, Default)]
pub struct Checkpoint {
    /// Touched since the last checkpoint (or the set-up).
    pub paths: BTreeSet<RepoPath>,
    /// The ignored directories the set-up skipped (not watched): the same every time.
    pub skipped: Vec<RepoPath>,
    /// Set once the watch cannot vouch for completeness; it stays set.
    pub rescan: Option<String>,
    /// A directory was created, deleted or moved (or vanished during the set-up) since the last
    /// checkpoint. A watch that stays up for many runs is then out of date: the new directory
    /// has no watch of its own, a moved one reports under its old name. Within one run that is
    /// harmless (the directory's path covers everything below it); across runs the caller sets
    /// the watch up again.
    pub directories_changed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("could not set up the watch: {0}")]
    Setup(std::io::Error),
    #[error("too many directories to watch (inotify limit reached after {0})")]
    Limit(usize),
    #[error("`git {0}` failed")]
    Git(String),
}

#[derive(Default)]
struct Collected {
    paths: BTreeSet<RepoPath>,
    /// Ignored directories, not watched: `finish` adds them to the paths.
    skipped: Vec<RepoPath>,
    rescan: Option<String>,
    baseline: Option<Box<Baseline>>,
    directories_changed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

const MASK: WatchFlags = WatchFlags::MODIFY
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::CREATE)
    .union(WatchFlags::DELETE)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::ONLYDIR)
    .union(WatchFlags::DONT_FOLLOW);

impl TreeWatch {
    /// Starts setting up a watch over every directory of the work tree that git does not
    /// ignore, on a background thread. Call it just before the starting snapshot, and
    /// [`TreeWatch::ready`] before the command starts. `hold` delays the set-up (tests of the
    /// hand-over use it; `wrap` passes zero).
    pub fn start(repo: &Repo, hold: std::time::Duration) -> Result<TreeWatch, WatchError> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
            .map_err(|e| WatchError::Setup(e.into()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let touched = Arc::new(AtomicUsize::new(0));
        let wake = Arc::new(
            rustix::event::eventfd(
                0,
                rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
            )
            .map_err(|e| WatchError::Setup(e.into()))?,
        );
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let (result_tx, result) = std::sync::mpsc::channel();
        let (checkpoint_tx, checkpoints) = std::sync::mpsc::channel();
        let checkpoint = Arc::new(AtomicBool::new(false));
        {
            let signals = Signals {
                stop: Arc::clone(&stop),
                wake: Arc::clone(&wake),
                checkpoint: Arc::clone(&checkpoint),
                checkpoints: checkpoint_tx,
            };
            let touched = Arc::clone(&touched);
            let repo = repo.clone();
            // The thread hands its result over before it closes the inotify descriptor: closing
            // one with a watch on every directory costs the kernel a pass over the whole tree
            // (about 10 ms on 100,000 files), which then overlaps the end of the run.
            std::thread::spawn(move || {
                let collected = watch_thread(&repo, &fd, &signals, &touched, hold, ready_tx);
                let _ = result_tx.send(collected);
                drop(fd);
            });
        }
        let exclude = repo.common_dir.join("info").join("exclude");
        Ok(TreeWatch {
            stop,
            touched,
            wake,
            ready: Some(ready),
            result,
            checkpoint,
            checkpoints,
            exclude_before: file_id(&exclude),
            exclude,
        })
    }

    /// Waits until every directory is watched. Call it before the command starts: from then
    /// on, every change the command makes is reported.
    pub fn ready(&mut self) -> Result<Ready, WatchError> {
        let lost = || WatchError::Setup(std::io::Error::other("the watch thread failed"));
        match self.ready.take() {
            Some(rx) => rx.recv().map_err(|_| lost())?,
            None => Err(lost()),
        }
    }

    /// The number of paths seen touched so far, kept up to date while the command runs (a
    /// directory counts once, whatever is below it).
    pub fn touched_so_far(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.touched)
    }

    /// What was touched since the last checkpoint (or the set-up), once every event queued
    /// before this call has been read; the watch goes on. For a watch that outlives one run
    /// (`service.rs`): `finish` then reports only what came after the last checkpoint.
    pub fn checkpoint(&self) -> Checkpoint {
        self.checkpoint.store(true, Ordering::SeqCst);
        let _ = rustix::io::write(&*self.wake, &1u64.to_ne_bytes());
        let Ok(mut checkpoint) = self.checkpoints.recv() else {
            return Checkpoint {
                rescan: Some("the watch thread failed".to_string()),
                ..Checkpoint::default()
            };
        };
        if checkpoint.rescan.is_none() && file_id(&self.exclude) != self.exclude_before {
            checkpoint.rescan = Some("the repository's info/exclude changed".to_string());
        }
        checkpoint
    }

    /// Stops watching and says where the run may have changed something. Call it after the
    /// command exited: every change it made is already queued.
    pub fn finish(self) -> Touched {
        self.stop.store(true, Ordering::SeqCst);
        let _ = rustix::io::write(&*self.wake, &1u64.to_ne_bytes());
        let Ok(collected) = self.result.recv() else {
            return Touched::Rescan("the watch thread failed".to_string());
        };
        if let Some(reason) = collected.rescan {
            return Touched::Rescan(reason);
        }
        if file_id(&self.exclude) != self.exclude_before {
            return Touched::Rescan("the repository's info/exclude changed".to_string());
        }
        let mut paths = collected.paths;
        paths.extend(collected.skipped);
        Touched::Paths {
            paths,
            baseline: collected.baseline,
        }
    }
}

impl Drop for TreeWatch {
    /// A watch dropped without `finish` (the command never ran) stops its thread.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = rustix::io::write(&*self.wake, &1u64.to_ne_bytes());
    }
}

/// How the handle talks to its thread.
struct Signals {
    stop: Arc<AtomicBool>,
    wake: Arc<OwnedFd>,
    checkpoint: Arc<AtomicBool>,
    checkpoints: std::sync::mpsc::Sender<Checkpoint>,
}

/// The watch's thread: sets the watch up, says so, then drains events until `stop`.
fn watch_thread(
    repo: &Repo,
    fd: &OwnedFd,
    signals: &Signals,
    touched: &AtomicUsize,
    hold: std::time::Duration,
    ready_tx: std::sync::mpsc::Sender<Result<Ready, WatchError>>,
) -> Collected {
    std::thread::sleep(hold);
    let began = std::time::Instant::now();
    match set_up(repo, fd) {
        Ok(SetUp {
            dirs,
            paths,
            skipped,
            baseline,
        }) => {
            tracing::debug!(
                directories = dirs.len(),
                ms = began.elapsed().as_millis() as u64,
                "change detection: watching"
            );
            let _ = ready_tx.send(Ok(Ready {
                directories: dirs.len(),
                indexed: baseline.as_ref().is_some_and(|b| b.usable()),
            }));
            let directories_changed = !paths.is_empty();
            let mut collected = Collected {
                paths,
                skipped,
                rescan: None,
                baseline,
                directories_changed,
            };
            drain(fd, &dirs, signals, touched, &mut collected);
            collected
        }
        Err(err) => {
            let reason = err.to_string();
            let _ = ready_tx.send(Err(err));
            Collected {
                rescan: Some(reason),
                ..Collected::default()
            }
        }
    }
}

/// The watch, set up.
struct SetUp {
    /// Watched directories by watch descriptor.
    dirs: HashMap<i32, RepoPath>,
    /// Directories gone or replaced while the walk ran: the ending status looks at them whole.
    paths: BTreeSet<RepoPath>,
    /// Ignored directories, not watched: re-examined at the end.
    skipped: Vec<RepoPath>,
    /// The index, read for its directories, kept for the end of the run.
    baseline: Option<Box<Baseline>>,
}

fn set_up(repo: &Repo, fd: &OwnedFd) -> Result<SetUp, WatchError> {
    let started = std::time::Instant::now();
    let ms = || started.elapsed().as_millis() as u64;
    // The index read here also lets the end of the run decide touched paths without git
    // (`touched.rs`); when it cannot be read, `git ls-files` lists the directories.
    let baseline = match Baseline::read(repo) {
        Ok(baseline) => Some(Box::new(baseline)),
        Err(err) => {
            tracing::debug!("change detection: index not read ({err})");
            None
        }
    };
    let tracked = match &baseline {
        Some(b) => dirs_of(b.index().entries().map(|(path, _)| path)),
        None => tracked_dirs(repo)?,
    };
    tracing::debug!(
        ms = ms(),
        "change detection: directories of the index listed"
    );
    let mut dirs: HashMap<i32, RepoPath> = HashMap::new();
    let mut lost = BTreeSet::new();
    // Directories with tracked files first (git walks them whatever the ignore rules say),
    // collecting the untracked directories found next to them. One thread: the walk shares
    // the machine with the starting `git status`, which uses every core.
    let mut untracked = Vec::new();
    let mut queue = vec![Vec::new()];
    while let Some(dir) = queue.pop() {
        for sub in watch_and_list(repo, fd, &dir, &mut dirs, &mut lost)? {
            if tracked.contains(&sub) {
                queue.push(sub);
            } else {
                untracked.push(sub);
            }
        }
    }
    tracing::debug!(
        ms = ms(),
        "change detection: directories of the index watched"
    );
    let mut skipped = Vec::new();
    // Untracked directories, level by level: watched unless git ignores them.
    while !untracked.is_empty() {
        let names: Vec<&[u8]> = untracked.iter().map(Vec::as_slice).collect();
        let ignored = crate::git::ignored(&repo.root, &names)
            .map_err(|_| WatchError::Git("check-ignore".to_string()))?;
        let mut next = Vec::new();
        for dir in untracked {
            if ignored.contains(&dir) {
                skipped.push(RepoPath::from_bytes(dir));
            } else {
                next.extend(watch_and_list(repo, fd, &dir, &mut dirs, &mut lost)?);
            }
        }
        untracked = next;
    }
    Ok(SetUp {
        dirs,
        paths: lost,
        skipped,
        baseline,
    })
}

fn file_id(path: &std::path::Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).ok()?;
    Some(FileId {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: (m.mtime(), m.mtime_nsec()),
    })
}

/// Every directory that holds a tracked file, at any depth (`""` is the root), from `git
/// ls-files`.
fn tracked_dirs(repo: &Repo) -> Result<HashSet<Vec<u8>>, WatchError> {
    let out = crate::git::run(&repo.root, &["ls-files", "-z"])
        .map_err(|_| WatchError::Git("ls-files".to_string()))?;
    Ok(dirs_of(out.split(|&b| b == 0).filter(|p| !p.is_empty())))
}

/// Every directory holding one of `paths`, at any depth (`""` is the root).
fn dirs_of<'a>(paths: impl Iterator<Item = &'a [u8]>) -> HashSet<Vec<u8>> {
    let mut dirs: HashSet<Vec<u8>> = HashSet::new();
    dirs.insert(Vec::new());
    for path in paths {
        let mut end = path.len();
        while let Some(slash) = path[..end].iter().rposition(|&b| b == b'/') {
            // Most files share their directory with the file before them: look before copying.
            if dirs.contains(&path[..slash]) || !dirs.insert(path[..slash].to_vec()) {
                break;
            }
            end = slash;
        }
    }
    dirs
}

/// Adds a watch on `dir` (relative, `""` for the root), then lists its subdirectories. Watching
/// first means a subdirectory created after the listing is reported by an event.
fn watch_and_list(
    repo: &Repo,
    fd: &OwnedFd,
    dir: &[u8],
    dirs: &mut HashMap<i32, RepoPath>,
    lost: &mut BTreeSet<RepoPath>,
) -> Result<Vec<Vec<u8>>, WatchError> {
    let abs = RepoPath::from_bytes(dir).under(&repo.root);
    match inotify::add_watch(fd, &abs, MASK) {
        Ok(wd) => {
            dirs.insert(wd, RepoPath::from_bytes(dir));
        }
        Err(rustix::io::Errno::NOSPC) => return Err(WatchError::Limit(dirs.len())),
        // Gone or replaced since it was listed: the ending status looks at it as a whole.
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => {
            lost.insert(RepoPath::from_bytes(dir));
            return Ok(Vec::new());
        }
        Err(err) => return Err(WatchError::Setup(err.into())),
    }
    let Ok(entries) = std::fs::read_dir(&abs) else {
        lost.insert(RepoPath::from_bytes(dir));
        return Ok(Vec::new());
    };
    let mut subdirs = Vec::new();
    for entry in entries.flatten() {
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let name = entry.file_name();
        if !is_dir || name.as_bytes() == b".git" {
            continue;
        }
        subdirs.push(join(dir, name.as_bytes()));
    }
    Ok(subdirs)
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        name.to_vec()
    } else {
        [dir, b"/", name].concat()
    }
}

/// Reads events until `stop` is set and the queue is empty, answering checkpoints on the way.
fn drain(
    fd: &OwnedFd,
    dirs: &HashMap<i32, RepoPath>,
    signals: &Signals,
    touched: &AtomicUsize,
    out: &mut Collected,
) {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 64 * 1024];
    let mut reader = inotify::Reader::new(fd, &mut buf);
    // Set when a checkpoint was asked for: the queue is read empty once more before answering,
    // so an event queued just before the request (after the last empty read) is in the answer.
    let mut answering = false;
    loop {
        match reader.next() {
            Ok(event) => {
                let name = event.file_name().map(|n| n.to_bytes().to_vec());
                record(dirs, event.wd(), event.events(), name.as_deref(), out);
            }
            Err(rustix::io::Errno::AGAIN) => {
                touched.store(out.paths.len(), Ordering::Relaxed);
                if answering {
                    answering = false;
                    let _ = signals.checkpoints.send(Checkpoint {
                        paths: std::mem::take(&mut out.paths),
                        skipped: out.skipped.clone(),
                        rescan: out.rescan.clone(),
                        directories_changed: std::mem::take(&mut out.directories_changed),
                    });
                    continue;
                }
                if signals.checkpoint.swap(false, Ordering::SeqCst) {
                    answering = true;
                    continue;
                }
                if signals.stop.load(Ordering::SeqCst) {
                    // The command has exited: what it did is queued, and the queue is empty.
                    return;
                }
                // Sleep until an event, a checkpoint or `finish`; the timeout only guards a
                // lost wake-up.
                let mut fds = [
                    PollFd::new(fd, PollFlags::IN),
                    PollFd::new(&*signals.wake, PollFlags::IN),
                ];
                let timeout = Timespec {
                    tv_sec: 1,
                    tv_nsec: 0,
                };
                let _ = rustix::event::poll(&mut fds, Some(&timeout));
                if !fds[1].revents().is_empty() {
                    // Clear the wake-up, or every later poll returns at once.
                    let mut count = [0u8; 8];
                    let _ = rustix::io::read(&*signals.wake, &mut count);
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => {
                out.rescan = Some(format!("reading the watch failed: {err}"));
                if signals.checkpoint.swap(false, Ordering::SeqCst) || answering {
                    let _ = signals.checkpoints.send(Checkpoint {
                        rescan: out.rescan.clone(),
                        ..Checkpoint::default()
                    });
                }
                return;
            }
        }
    }
}

/// Turns one event into touched paths, or a reason to rescan.
fn record(
    dirs: &HashMap<i32, RepoPath>,
    wd: i32,
    flags: ReadFlags,
    name: Option<&[u8]>,
    out: &mut Collected,
) {
    if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
        out.rescan
            .get_or_insert_with(|| "the watch's event queue overflowed".to_string());
        return;
    }
    if flags.contains(ReadFlags::UNMOUNT) {
        out.rescan
            .get_or_insert_with(|| "a watched file system was unmounted".to_string());
        return;
    }
    let Some(dir) = dirs.get(&wd) else {
        // A watch we did not add: cannot place the event.
        if !flags.contains(ReadFlags::IGNORED) {
            out.rescan
                .get_or_insert_with(|| "an event came from an unknown watch".to_string());
        }
        return;
    };
    match name {
        Some(name) => {
            if name == b".git" {
                return;
            }
            if name == b".gitignore" {
                out.rescan
                    .get_or_insert_with(|| "a .gitignore changed".to_string());
                return;
            }
            if flags.contains(ReadFlags::ISDIR)
                && flags.intersects(
                    ReadFlags::CREATE
                        | ReadFlags::DELETE
                        | ReadFlags::MOVED_FROM
                        | ReadFlags::MOVED_TO,
                )
            {
                out.directories_changed = true;
            }
            out.paths
                .insert(RepoPath::from_bytes(join(dir.as_bytes(), name)));
        }
        None => {
            if flags.intersects(ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF) {
                out.directories_changed = true;
                if dir.as_bytes().is_empty() {
                    out.rescan.get_or_insert_with(|| {
                        "the work tree itself was moved or deleted".to_string()
                    });
                } else {
                    out.paths.insert(dir.clone());
                }
            }
        }
    }
}

/// Whether `path` is one of `specs` or below one of them.
pub fn covered(specs: &HashSet<&[u8]>, path: &RepoPath) -> bool {
    let bytes = path.as_bytes();
    if specs.contains(bytes) {
        return true;
    }
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .any(|(i, _)| specs.contains(&bytes[..i]))
}

/// Reduces a set of paths to at most `max` pathspecs: paths covered by another are dropped,
/// and if that is not enough, every path is replaced by its directory (which covers it).
/// `None` when even the directories are too many, or only the root would cover them: a
/// pathspec for a directory far up the tree costs git as much as the full status, and more
/// once there are several (measured, BENCHMARKS.md).
pub fn collapse(paths: &BTreeSet<RepoPath>, max: usize) -> Option<BTreeSet<RepoPath>> {
    let uncovered = |set: BTreeSet<Vec<u8>>| -> BTreeSet<Vec<u8>> {
        let all: HashSet<&[u8]> = set.iter().map(Vec::as_slice).collect();
        set.iter()
            .filter(|p| {
                !p.iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b'/')
                    .any(|(i, _)| all.contains(&p[..i]))
            })
            .cloned()
            .collect()
    };
    let specs = uncovered(paths.iter().map(|p| p.as_bytes().to_vec()).collect());
    let specs = if specs.len() <= max {
        specs
    } else {
        uncovered(
            specs
                .into_iter()
                .map(|p| match p.iter().rposition(|&b| b == b'/') {
                    Some(i) => p[..i].to_vec(),
                    None => Vec::new(),
                })
                .collect(),
        )
    };
    if specs.len() > max || specs.iter().any(|p| p.is_empty()) {
        return None;
    }
    Some(specs.into_iter().map(RepoPath::from_bytes).collect())
}

/// Renders pathspecs for a command line (`git --literal-pathspecs`).
pub fn pathspec_args(specs: &BTreeSet<RepoPath>) -> Vec<&OsStr> {
    specs
        .iter()
        .map(|s| OsStr::from_bytes(s.as_bytes()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> BTreeSet<RepoPath> {
        list.iter()
            .map(|p| RepoPath::from_bytes(p.as_bytes()))
            .collect()
    }

    #[test]
    fn collapsing_keeps_every_path_covered() {
        let input = paths(&["a/b/c.txt", "a/b/d.txt", "a/e/f.txt", "g.txt", "a/b"]);
        let out = collapse(&input, 10).unwrap();
        assert_eq!(
            out,
            paths(&["a/b", "a/e/f.txt", "g.txt"]),
            "a/b covers its files"
        );
        assert_eq!(
            collapse(&input, 2),
            None,
            "only the root covers a/ and g.txt"
        );

        // Many files in few directories: the directories.
        let input = paths(&["x/y/1", "x/y/2", "x/y/3", "x/z/4", "x/z/5"]);
        let out = collapse(&input, 2).unwrap();
        assert_eq!(out, paths(&["x/y", "x/z"]));
        let specs: HashSet<&[u8]> = out.iter().map(RepoPath::as_bytes).collect();
        for p in &input {
            assert!(covered(&specs, p), "{p:?} not covered by {out:?}");
        }
        // Files scattered over more directories than allowed: no narrowing (one level up only).
        assert_eq!(collapse(&input, 1), None);
    }

    #[test]
    fn coverage_is_by_whole_components() {
        let specs: HashSet<&[u8]> = [&b"src/a"[..]].into_iter().collect();
        assert!(covered(&specs, &RepoPath::from_bytes("src/a")));
        assert!(covered(&specs, &RepoPath::from_bytes("src/a/x/y")));
        assert!(!covered(&specs, &RepoPath::from_bytes("src/ab")));
        assert!(!covered(&specs, &RepoPath::from_bytes("src")));
    }

    #[test]
    fn overflow_and_gitignore_force_a_rescan() {
        let dirs: HashMap<i32, RepoPath> = [(1, RepoPath::from_bytes("src"))].into();
        let mut out = Collected::default();
        record(&dirs, 1, ReadFlags::MODIFY, Some(b"a.rs"), &mut out);
        assert_eq!(out.paths, paths(&["src/a.rs"]));
        assert!(out.rescan.is_none());
        record(&dirs, -1, ReadFlags::QUEUE_OVERFLOW, None, &mut out);
        assert!(
            out.rescan
                .as_deref()
                .is_some_and(|r| r.contains("overflow"))
        );

        let mut out = Collected::default();
        record(
            &dirs,
            1,
            ReadFlags::CLOSE_WRITE,
            Some(b".gitignore"),
            &mut out,
        );
        assert!(out.rescan.is_some());

        let mut out = Collected::default();
        record(&dirs, 7, ReadFlags::CREATE, Some(b"x"), &mut out);
        assert!(out.rescan.is_some(), "an unknown watch cannot be trusted");
    }
}
