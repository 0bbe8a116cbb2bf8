//! A primed private index, so the ending `git status` of a run that touched many paths looks at
//! those paths only.
//!
//! While the command runs (from half a second in, so Codex's own start-up is left alone, and
//! once the watch has seen more paths touched than a few pathspecs cover), a copy of
//! the repository's index is brought up to date by one `git status` at the lowest CPU priority
//! (nice 19), with git's untracked cache and git's own
//! file-system-monitor protocol (`core.fsmonitor`, hook version 2) turned on for that copy only.
//! The hook is a small script of ours; while priming it answers "/" (nothing is known, look at
//! everything). At the end, it answers with the paths the watch (`watch.rs`) saw touched, and
//! git, reading the primed copy, re-examines those paths and trusts its copy for the rest: the
//! untracked cache spares it the walk of every directory, the fsmonitor bits the `lstat` of
//! every file. On 100,000 files the ending status of 100 touched paths takes 0.04 s instead of
//! the full 0.21 s, with the same output (BENCHMARKS.md).
//!
//! Why that is the same answer as a full status: every change after the watch was ready is among
//! the touched paths (the watch's guarantee), and the copy was taken and primed after that. What
//! the copy recorded about any other path is still true. The copy is used only when the
//! repository's own index is byte for byte the one that was copied (a `git add` during the run
//! falls back to the full status), and never when the priming did not finish in time.
//!
//! Nothing is written outside a temporary directory of ours: the repository's index is read,
//! never written; the priming passes `--ignore-submodules=all` so no submodule's index is
//! refreshed, and the ending status passes `--no-optional-locks`. Configuration given with `-c`
//! reaches git's status of a submodule too, so the hook answers "/" to any work tree but ours.
//! A repository with a split index (`core.splitIndex`) is not primed: writing the copy could
//! touch the shared index files under `.git/`.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::digest::{Sha256Digest, sha256};
use crate::git::{GitError, Repo, RepoPath, Status};

/// The `-c` settings that make git keep an untracked cache and ask `hook` what changed.
fn monitor_config(hook: &Path) -> Vec<String> {
    vec![
        "-c".into(),
        // Run through the shell by git: `sh FILE` needs no executable file (nor an `exec` mount).
        format!("core.fsmonitor=sh {}", shell_quote(&hook.to_string_lossy())),
        "-c".into(),
        "core.fsmonitorHookVersion=2".into(),
        "-c".into(),
        "core.untrackedCache=true".into(),
        // The untracked cache is used with `--untracked-files=all` only when this says so too.
        "-c".into(),
        "status.showUntrackedFiles=all".into(),
        "-c".into(),
        "core.splitIndex=false".into(),
    ]
}

/// A priming under way (or done), started by [`Primer::start`].
pub struct Primer {
    /// Dropped to cancel a priming that has not started yet.
    cancel: Option<std::sync::mpsc::Sender<()>>,
    job: Option<std::thread::JoinHandle<Result<Priming, String>>>,
    /// The priming, once its thread has started it.
    started: Option<Result<Priming, String>>,
}

struct Priming {
    dir: tempfile::TempDir,
    child: Child,
    /// The repository's index, and the SHA-256 of the bytes that were copied.
    real_index: PathBuf,
    real_digest: Sha256Digest,
}

impl Priming {
    fn index(&self) -> PathBuf {
        self.dir.path().join("index")
    }
    fn hook(&self) -> PathBuf {
        self.dir.path().join("hook")
    }
    fn answer(&self) -> PathBuf {
        self.dir.path().join("answer")
    }
}

impl Drop for Priming {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Why the primed index was not used (the caller falls back to the full status).
#[derive(Debug, thiserror::Error)]
pub enum NotPrimed {
    #[error("the priming did not start: {0}")]
    Start(String),
    #[error("the priming had not finished when the command exited")]
    NotFinished,
    #[error("the priming `git status` failed")]
    Failed,
    #[error("the repository's index changed during the run")]
    IndexChanged,
    #[error("could not answer git's query: {0}")]
    Answer(std::io::Error),
    #[error(transparent)]
    Git(#[from] GitError),
}

impl Primer {
    /// Starts priming a private copy of `repo`'s index in `dir` (ours, and out of the command's
    /// reach: see SECURITY.md) on a thread of lowest CPU priority, once `delay` has passed and
    /// `due` says the copy is worth making (asked every 50 ms). Call it once the watch is ready:
    /// the copy must be taken after the watch began.
    pub fn start(
        repo: &Repo,
        dir: tempfile::TempDir,
        delay: std::time::Duration,
        due: impl Fn() -> bool + Send + 'static,
    ) -> Primer {
        let repo = repo.clone();
        let (cancel, cancelled) = std::sync::mpsc::channel::<()>();
        let job = std::thread::spawn(move || {
            let began = std::time::Instant::now();
            loop {
                let elapsed = began.elapsed();
                if elapsed >= delay && due() {
                    break;
                }
                let wait = if elapsed < delay {
                    delay - elapsed
                } else {
                    std::time::Duration::from_millis(50)
                };
                match cancelled.recv_timeout(wait) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return Err("the command exited before the priming was due".into()),
                }
            }
            // On Linux the nice value belongs to the thread, and the git it starts inherits it.
            let _ =
                rustix::process::setpriority_process(Some(rustix::thread::gettid()), PRIORITY_IDLE);
            prime(&repo, dir)
        });
        Primer {
            cancel: Some(cancel),
            job: Some(job),
            started: None,
        }
    }

    /// The priming, once its thread is done starting it (or cancelled it).
    fn started(&mut self) -> &mut Result<Priming, String> {
        if let Some(job) = self.job.take() {
            let started = job
                .join()
                .unwrap_or_else(|_| Err("the priming thread failed".into()));
            self.started = Some(started);
        }
        self.started
            .get_or_insert_with(|| Err("the priming thread failed".into()))
    }

    /// Waits until the priming is done, or for at most `limit` for it to become due. `wrap`
    /// never waits (an unfinished priming is not used); tests do.
    pub fn wait(&mut self, limit: std::time::Duration) {
        let began = std::time::Instant::now();
        while self.job.as_ref().is_some_and(|j| !j.is_finished()) && began.elapsed() < limit {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if self.job.as_ref().is_some_and(|j| !j.is_finished()) {
            return;
        }
        if let Ok(priming) = self.started() {
            let _ = priming.child.wait();
        }
    }

    /// `git status` of the whole work tree, as [`Repo::status`] gives it, from the primed copy:
    /// git re-examines `touched` (files, or directories with everything below them) and trusts
    /// the copy for the rest. `touched` must cover every change since [`Primer::start`].
    pub fn status(
        mut self,
        repo: &Repo,
        touched: &BTreeSet<RepoPath>,
    ) -> Result<Status, NotPrimed> {
        self.cancel = None;
        let priming = match self.started() {
            Ok(priming) => priming,
            Err(err) => return Err(NotPrimed::Start(err.clone())),
        };
        match priming.child.try_wait() {
            Ok(Some(status)) if status.success() => {}
            Ok(Some(_)) | Err(_) => return Err(NotPrimed::Failed),
            Ok(None) => return Err(NotPrimed::NotFinished),
        }
        // An index that cannot be read any more has changed too.
        let now = std::fs::read(&priming.real_index).map_err(|_| NotPrimed::IndexChanged)?;
        if sha256(&now) != priming.real_digest {
            return Err(NotPrimed::IndexChanged);
        }
        let mut answer = Vec::with_capacity(touched.len() * 32 + 16);
        answer.extend_from_slice(b"codex-attest-end\0");
        for path in touched {
            answer.extend_from_slice(path.as_bytes());
            answer.push(0);
        }
        std::fs::write(priming.answer(), &answer).map_err(NotPrimed::Answer)?;
        let config = monitor_config(&priming.hook());
        let config: Vec<&str> = config.iter().map(String::as_str).collect();
        let index = priming.index();
        Ok(repo.status_with(&config, &[("GIT_INDEX_FILE", index.as_os_str())])?)
    }
}

impl Drop for Primer {
    fn drop(&mut self) {
        // Cancelling a priming not yet due, joining the thread (in `started`), and dropping the
        // priming kills an unfinished git and removes the directory.
        self.cancel = None;
        let _ = self.started();
    }
}

/// The nice value of the priming: the lowest priority, so it takes only CPU the command leaves.
const PRIORITY_IDLE: i32 = 19;

fn prime(repo: &Repo, dir: tempfile::TempDir) -> Result<Priming, String> {
    let git_path = crate::git::run(&repo.root, &["rev-parse", "--git-path", "index"])
        .map_err(|e| e.to_string())?;
    let git_path = String::from_utf8(git_path).map_err(|_| "the index path is not UTF-8")?;
    let real_index = repo.root.join(git_path.trim_end_matches('\n'));
    // A split index keeps its shared part next to the index (`sharedindex.*`).
    let index_dir = real_index.parent().unwrap_or(&repo.common_dir);
    let shared = std::fs::read_dir(index_dir)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .any(|e| {
            e.file_name()
                .as_encoded_bytes()
                .starts_with(b"sharedindex.")
        });
    if shared {
        return Err("the repository has a split index".into());
    }
    // The hook names these paths in a shell script; a name that is not UTF-8 is not primed.
    if repo.root.to_str().is_none() || dir.path().to_str().is_none() {
        return Err("a path is not UTF-8".into());
    }
    let bytes = std::fs::read(&real_index).map_err(|e| format!("{}: {e}", real_index.display()))?;
    let index = dir.path().join("index");
    std::fs::write(&index, &bytes).map_err(|e| e.to_string())?;
    let answer = dir.path().join("answer");
    std::fs::write(&answer, b"codex-attest-prime\0/\0").map_err(|e| e.to_string())?;
    let everything = dir.path().join("everything");
    std::fs::write(&everything, b"codex-attest\0/\0").map_err(|e| e.to_string())?;
    let hook = dir.path().join("hook");
    write_hook(&hook, &repo.root, &answer, &everything).map_err(|e| e.to_string())?;
    let child = Command::new("git")
        .args(monitor_config(&hook))
        .args([
            "status",
            "--porcelain=v2",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--ignore-submodules=all",
        ])
        .env("GIT_INDEX_FILE", &index)
        .current_dir(&repo.root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    Ok(Priming {
        dir,
        child,
        real_index,
        real_digest: sha256(&bytes),
    })
}

/// The hook git runs (in the work tree it is reading): our answer for our work tree, "look at
/// everything" for any other (a submodule's).
fn write_hook(hook: &Path, root: &Path, answer: &Path, everything: &Path) -> std::io::Result<()> {
    let script = format!(
        "#!/bin/sh\n# codex-attest: git's fsmonitor query (hook version 2) for one run\nif [ \"$(pwd -P)\" = {} ]; then exec cat {}; fi\nexec cat {}\n",
        shell_quote(&root.to_string_lossy()),
        shell_quote(&answer.to_string_lossy()),
        shell_quote(&everything.to_string_lossy()),
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(hook)?;
    file.write_all(script.as_bytes())
}

/// `s` as one word of a POSIX shell command line.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    use crate::testing::{committed, git, write};

    /// A repository with committed files, a dirty file, an untracked file and ignored ones.
    fn repo() -> (tempfile::TempDir, Repo) {
        let (dir, repo) = committed(&[
            (".gitignore", "build/\n*.log\n"),
            ("a.txt", "a\n"),
            ("dir/b.txt", "b\n"),
            ("dir/sub/c.txt", "c\n"),
            ("dir/sub/d.txt", "d\n"),
            ("other/e.txt", "e\n"),
        ]);
        let root = dir.path();
        write(root, "dir/b.txt", "b, edited before the run\n");
        write(root, "dir/u.txt", "untracked before the run\n");
        write(root, "build/x.o", "ignored\n");
        write(root, "x.log", "ignored\n");
        (dir, repo)
    }

    const LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

    /// A priming that starts at once.
    fn primer_now(repo: &Repo) -> Primer {
        Primer::start(
            repo,
            tempfile::tempdir().unwrap(),
            Default::default(),
            || true,
        )
    }

    fn paths(list: &[&str]) -> BTreeSet<RepoPath> {
        list.iter()
            .map(|p| RepoPath::from_bytes(p.as_bytes()))
            .collect()
    }

    /// Primes, makes `change`, and compares the primed status of `touched` with a full one.
    fn same_as_full_status(change: impl Fn(&Path), touched: &[&str]) {
        let (dir, repo) = repo();
        let mut primer = primer_now(&repo);
        primer.wait(LIMIT);
        change(dir.path());
        let full = repo.status().unwrap();
        let primed = primer.status(&repo, &paths(touched)).unwrap();
        assert_eq!(primed, full, "touched: {touched:?}");
    }

    #[test]
    fn the_primed_status_of_the_touched_paths_is_the_full_status() {
        same_as_full_status(|root| write(root, "a.txt", "a, edited\n"), &["a.txt"]);
        same_as_full_status(
            |root| std::fs::remove_file(root.join("dir/sub/c.txt")).unwrap(),
            &["dir/sub/c.txt"],
        );
        same_as_full_status(
            |root| write(root, "other/new.txt", "new\n"),
            &["other/new.txt"],
        );
        // A directory created with files in it: the watch names the directory.
        same_as_full_status(|root| write(root, "new/deep/f.txt", "f\n"), &["new"]);
        same_as_full_status(
            |root| std::fs::rename(root.join("dir/sub"), root.join("dir/moved")).unwrap(),
            &["dir/sub", "dir/moved"],
        );
        same_as_full_status(
            |root| {
                std::fs::set_permissions(root.join("a.txt"), std::fs::Permissions::from_mode(0o755))
                    .unwrap()
            },
            &["a.txt"],
        );
        same_as_full_status(
            |root| {
                std::fs::remove_file(root.join("other/e.txt")).unwrap();
                std::os::unix::fs::symlink("../a.txt", root.join("other/e.txt")).unwrap();
            },
            &["other/e.txt"],
        );
        // The file dirty before the run is put back as committed.
        same_as_full_status(|root| write(root, "dir/b.txt", "b\n"), &["dir/b.txt"]);
        same_as_full_status(
            |root| std::fs::remove_file(root.join("dir/u.txt")).unwrap(),
            &["dir/u.txt"],
        );
        // Ignored: new files under an ignored directory, and a new file an ignore rule matches.
        same_as_full_status(|root| write(root, "build/y.o", "y\n"), &["build"]);
        same_as_full_status(|root| write(root, "z.log", "z\n"), &["z.log"]);
        same_as_full_status(|_| {}, &[]);
    }

    #[test]
    fn many_changes_at_once_are_the_full_status() {
        let mut touched = vec!["a.txt", "dir/b.txt", "new", "dir/sub", "dir/moved"];
        let names: Vec<String> = (0..60).map(|i| format!("other/n{i}.txt")).collect();
        touched.extend(names.iter().map(String::as_str));
        same_as_full_status(
            |root| {
                write(root, "a.txt", "a, edited\n");
                write(root, "dir/b.txt", "b\n");
                write(root, "new/deep/f.txt", "f\n");
                std::fs::rename(root.join("dir/sub"), root.join("dir/moved")).unwrap();
                for name in &names {
                    write(root, name, "n\n");
                }
            },
            &touched,
        );
    }

    /// What makes the primed status fast is also what it relies on: git re-examines only the
    /// touched paths. A change left out of them is not seen (the watch's completeness is what
    /// `wrap` relies on); this test fails if the hook's answer is not used at all.
    #[test]
    fn git_trusts_the_primed_index_outside_the_touched_paths() {
        let (dir, repo) = repo();
        let mut primer = primer_now(&repo);
        primer.wait(LIMIT);
        write(dir.path(), "a.txt", "a, edited unseen\n");
        write(dir.path(), "other/unseen.txt", "new\n");
        let full = repo.status().unwrap();
        let changed = |status: &Status, path: &str| {
            status
                .entries
                .iter()
                .any(|e| e.path().as_bytes() == path.as_bytes())
        };
        assert!(changed(&full, "a.txt") && changed(&full, "other/unseen.txt"));
        let primed = primer.status(&repo, &paths(&[])).unwrap();
        assert!(!changed(&primed, "a.txt"), "{primed:?}");
        assert!(!changed(&primed, "other/unseen.txt"), "{primed:?}");
        assert!(
            changed(&primed, "dir/b.txt"),
            "dirty before priming: {primed:?}"
        );
    }

    #[test]
    fn a_changed_index_is_not_used_and_the_repository_index_is_not_written() {
        let (dir, repo) = repo();
        let index = dir.path().join(".git/index");
        let before = std::fs::read(&index).unwrap();
        let mut primer = primer_now(&repo);
        primer.wait(LIMIT);
        assert_eq!(
            std::fs::read(&index).unwrap(),
            before,
            "priming wrote the index"
        );
        let primed = primer_now(&repo);
        git(dir.path(), &["add", "dir/u.txt"]);
        assert!(matches!(
            primer.status(&repo, &paths(&["dir/u.txt"])),
            Err(NotPrimed::IndexChanged)
        ));
        drop(primed);
    }

    #[test]
    fn a_submodule_is_looked_at_whole() {
        let (dir, repo) = repo();
        let root = dir.path();
        let sub = tempfile::tempdir().unwrap();
        git(sub.path(), &["init", "-q"]);
        write(sub.path(), "s.txt", "s\n");
        git(sub.path(), &["add", "-A"]);
        git(sub.path(), &["commit", "-q", "-m", "sub"]);
        git(
            root,
            &[
                "-c",
                "protocol.file.allow=always",
                "submodule",
                "add",
                "-q",
                &sub.path().to_string_lossy(),
                "mod",
            ],
        );
        git(root, &["commit", "-q", "-m", "with a submodule"]);
        // The submodule's own index remembers an fsmonitor of its user's: every entry valid (and
        // not racily clean, which git would check anyway).
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(root.join("mod/s.txt"))
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        let everything = sub.path().join("everything");
        std::fs::write(&everything, b"theirs\0/\0").unwrap();
        let hook = sub.path().join("hook");
        let script = format!("cat {}\n", shell_quote(&everything.to_string_lossy()));
        std::fs::write(&hook, script).unwrap();
        let theirs = format!("core.fsmonitor=sh {}", shell_quote(&hook.to_string_lossy()));
        for _ in 0..2 {
            // The first status takes the new modification time, the second marks it valid.
            git(
                &root.join("mod"),
                &["-c", &theirs, "-c", "core.fsmonitorHookVersion=2", "status"],
            );
        }
        let mut primer = primer_now(&repo);
        primer.wait(LIMIT);
        // Inside the submodule: the watch names the file, a path git's status of the submodule
        // must not be handed (it is relative to the other work tree).
        write(root, "mod/s.txt", "s, edited\n");
        let full = repo.status().unwrap();
        assert!(
            full.entries.iter().any(|e| e.path().as_bytes() == b"mod"),
            "{full:?}"
        );
        let primed = primer.status(&repo, &paths(&["mod/s.txt"])).unwrap();
        assert_eq!(primed, full);
    }

    #[test]
    fn a_priming_not_yet_due_is_cancelled_and_not_used() {
        let (dir, repo) = repo();
        let ten_minutes = std::time::Duration::from_secs(600);
        for (delay, due) in [(Default::default(), false), (ten_minutes, true)] {
            let scratch = tempfile::tempdir().unwrap();
            let scratch_path = scratch.path().to_path_buf();
            let primer = Primer::start(&repo, scratch, delay, move || due);
            write(dir.path(), "a.txt", "a, edited\n");
            match primer.status(&repo, &paths(&["a.txt"])) {
                Err(NotPrimed::Start(why)) => {
                    assert!(why.contains("before the priming was due"), "{why}")
                }
                other => panic!("{other:?}"),
            }
            assert!(!scratch_path.exists(), "the scratch directory is removed");
        }
    }

    #[test]
    fn a_priming_starts_once_it_is_due() {
        let (dir, repo) = repo();
        let due = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&due);
        let mut primer = Primer::start(
            &repo,
            tempfile::tempdir().unwrap(),
            Default::default(),
            move || flag.load(std::sync::atomic::Ordering::SeqCst),
        );
        std::thread::sleep(std::time::Duration::from_millis(120));
        due.store(true, std::sync::atomic::Ordering::SeqCst);
        primer.wait(LIMIT);
        write(dir.path(), "a.txt", "a, edited\n");
        let primed = primer.status(&repo, &paths(&["a.txt"])).unwrap();
        assert_eq!(primed, repo.status().unwrap());
    }

    #[test]
    fn a_split_index_is_not_primed() {
        let (dir, repo) = repo();
        git(dir.path(), &["update-index", "--split-index"]);
        let mut primer = primer_now(&repo);
        primer.wait(LIMIT);
        match primer.status(&repo, &paths(&[])) {
            Err(NotPrimed::Start(why)) => assert!(why.contains("split index"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn shell_words_survive_quotes() {
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
