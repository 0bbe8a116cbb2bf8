//! The ending status of the paths a watch saw touched, worked out from the index read when the
//! run started: no `git status`, so no walk of the tree and no matching of every index entry
//! against every pathspec (which is what makes `git status -- 100 paths` cost as much as a full
//! one on 100,000 files; BENCHMARKS.md).
//!
//! For each touched path that is a file, a symlink or gone, git's verdict is rebuilt from what git
//! itself would compare: the path's index entry (mode and blob) against the file now, and the
//! staged half of the status from the starting snapshot, which still holds because the index
//! did not change (checked: same entries, whatever stat data a `git status` of Codex's refreshed).
//! Content is compared as git compares it: a size other than the one git last saw is a change
//! (whatever filters would make of the bytes); otherwise the blob id decides, and where our raw
//! blob id differs from the index's, `git hash-object --stdin-paths` gives the blob git would
//! store, through the path's attributes (end-of-line conversion, clean filters), so a file git
//! calls unchanged is unchanged here too.
//! A new file is untracked unless `git check-ignore` says it is ignored.
//!
//! Everything else is left to git (`git status -- PATHS`, as before): directories that hold
//! tracked files or are new, paths in directories the index does not know, submodules,
//! conflicts, entries git does not look at (assume-unchanged, skip-worktree, intent-to-add), and
//! a symlink in the index that is a plain file now (`core.symlinks`). The whole examination is
//! given up, and the caller falls back to git for everything, when the index changed during the
//! run, `core.ignoreCase` is set (a touched name need not be the index's spelling), the index
//! has sparse-checkout entries, or a helper git process fails.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::changes::{DirtyPath, FileState, Hasher, Snapshot, read_state};
use crate::git::{FileMode, Repo, RepoPath};
use crate::index::{Entry, GitIndex, IndexError};

/// What the start of a run knew: the repository's index, and how git compares files.
#[derive(Debug)]
pub struct Baseline {
    index: GitIndex,
    index_path: PathBuf,
    index_len: u64,
    oid_len: usize,
    /// `core.fileMode`: whether git looks at executable bits.
    file_mode: bool,
    /// Why the index cannot stand in for git's view, when it cannot.
    unusable: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotExamined {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("`git {0}` failed")]
    Git(&'static str),
    #[error("the repository's index changed during the run")]
    IndexChanged,
    #[error("{0}")]
    Unusable(&'static str),
}

impl Baseline {
    /// Reads the index and the settings that decide how git compares, before the command
    /// starts.
    pub fn read(repo: &Repo) -> Result<Baseline, NotExamined> {
        let out = crate::git::run(
            &repo.root,
            &["rev-parse", "--show-object-format", "--git-path", "index"],
        )
        .map_err(|_| NotExamined::Git("rev-parse"))?;
        let text = String::from_utf8(out).map_err(|_| NotExamined::Git("rev-parse"))?;
        let mut lines = text.lines();
        let oid_len = match lines.next() {
            Some("sha1") => 20,
            Some("sha256") => 32,
            _ => return Err(NotExamined::Git("rev-parse")),
        };
        let index_path = repo
            .root
            .join(lines.next().ok_or(NotExamined::Git("rev-parse"))?);
        let config = bool_config(repo)?;
        // One read gives both the entries and the length the end of the run compares with.
        let bytes = std::fs::read(&index_path)
            .map_err(|e| IndexError::Read(format!("{}: {e}", index_path.display())))?;
        let index_len = bytes.len() as u64;
        let index = GitIndex::parse(&bytes, oid_len)?;
        let unusable = if config.get("core.ignorecase") == Some(&true) {
            Some("core.ignoreCase is set")
        } else if index.entries().any(|(_, e)| e.skip_worktree()) {
            Some("the index has sparse-checkout entries")
        } else {
            None
        };
        Ok(Baseline {
            index,
            index_path,
            index_len,
            oid_len,
            file_mode: config.get("core.filemode") != Some(&false),
            unusable,
        })
    }

    /// Whether the index can stand in for git's view of touched paths (see [`examine`]).
    pub fn usable(&self) -> bool {
        self.unusable.is_none()
    }

    pub fn index(&self) -> &GitIndex {
        &self.index
    }

    /// Whether the repository's index still holds the entries read here. When a `git status`
    /// only refreshed its stat data, the index read now replaces the one held, so the next
    /// call needs only the trailing hash again (a watch service asks every quarter second).
    pub fn catch_up(&mut self) -> bool {
        match self.still_current() {
            Ok(None) => true,
            Ok(Some(now)) => match std::fs::metadata(&self.index_path) {
                Ok(meta) => {
                    self.index_len = meta.len();
                    self.index = now;
                    // A length from after the read: at worst the next call compares entries.
                    true
                }
                Err(_) => false,
            },
            Err(_) => false,
        }
    }

    /// Whether the repository's index still holds the entries read at the start. An unchanged
    /// trailing hash says so without reading the rest; otherwise the entries are compared, and
    /// the index read now is returned (a `git status` during the run refreshed its stat data,
    /// which the ending status of git would use).
    fn still_current(&self) -> Result<Option<GitIndex>, NotExamined> {
        use std::os::unix::fs::FileExt;
        let changed = |_| NotExamined::IndexChanged;
        let file = std::fs::File::open(&self.index_path).map_err(changed)?;
        let len = file.metadata().map_err(changed)?.len();
        let checksum = self.index.checksum();
        if len == self.index_len && checksum.iter().any(|&b| b != 0) {
            let mut tail = vec![0u8; checksum.len()];
            file.read_exact_at(&mut tail, len - checksum.len() as u64)
                .map_err(changed)?;
            if tail == checksum {
                return Ok(None);
            }
        }
        match GitIndex::read(&self.index_path, self.oid_len) {
            Ok(now) if now.same_entries(&self.index) => Ok(Some(now)),
            _ => Err(NotExamined::IndexChanged),
        }
    }
}

/// `core.fileMode` and `core.ignoreCase` as git reads them (`--type=bool`), when set.
fn bool_config(repo: &Repo) -> Result<BTreeMap<String, bool>, NotExamined> {
    let out = Command::new("git")
        .args([
            "config",
            "-z",
            "--type=bool",
            "--get-regexp",
            r"^core\.(filemode|ignorecase)$",
        ])
        .current_dir(&repo.root)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|_| NotExamined::Git("config"))?;
    // 1: none of them is set.
    if !matches!(out.status.code(), Some(0 | 1)) {
        return Err(NotExamined::Git("config"));
    }
    let mut settings = BTreeMap::new();
    for record in out.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let text = std::str::from_utf8(record).map_err(|_| NotExamined::Git("config"))?;
        let (key, value) = text.split_once('\n').ok_or(NotExamined::Git("config"))?;
        settings.insert(key.to_ascii_lowercase(), value == "true");
    }
    Ok(settings)
}

/// The ending snapshot's entries for the touched paths decided here, and the paths left to git.
#[derive(Debug, Default)]
pub struct Examined {
    /// Touched paths that differ from HEAD now, as `git status` would list them.
    pub dirty: BTreeMap<RepoPath, DirtyPath>,
    /// Touched paths (files or directories) for `git status -- PATHS`.
    pub for_git: BTreeSet<RepoPath>,
}

/// How a touched path is decided.
enum Plan<'a> {
    /// A file or symlink of the index, at stage 0: compared with its entry.
    Tracked { entry: &'a Entry, now: Now },
    /// Not in the index, a file or symlink now, in a directory that holds tracked files:
    /// untracked unless ignored.
    NewFile,
    /// Not in the index and nothing below it is, a directory now: nothing to list if git ignores
    /// it, otherwise git walks it.
    NewDirectory,
    /// Gone, and neither it nor anything below it is in the index: nothing to list.
    Nothing,
    /// Left to git.
    Git,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Now {
    Missing,
    /// A regular file; whether its owner may execute it (git's test, `S_IXUSR`).
    File {
        executable: bool,
    },
    Symlink,
}

/// Decides every touched path that can be decided from `baseline` and the files, reading (and,
/// through `hash`, storing) the content of those that differ from HEAD.
pub fn examine(
    repo: &Repo,
    baseline: &Baseline,
    before: &Snapshot,
    touched: &BTreeSet<RepoPath>,
    hash: &Hasher,
) -> Result<Examined, NotExamined> {
    if let Some(reason) = baseline.unusable {
        return Err(NotExamined::Unusable(reason));
    }
    let refreshed = baseline.still_current()?;
    let index = refreshed.as_ref().unwrap_or(&baseline.index);
    let mut out = Examined::default();

    // A path below another touched path is decided with it (a directory covers what is below).
    let all: HashSet<&[u8]> = touched.iter().map(RepoPath::as_bytes).collect();
    let top = touched.iter().filter(|p| {
        let bytes = p.as_bytes();
        !bytes
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'/' && all.contains(&bytes[..i]))
    });

    let mut tracked: Vec<(&RepoPath, &Entry, Now)> = Vec::new();
    let mut new_paths: Vec<(&RepoPath, bool)> = Vec::new();
    for path in top {
        match plan(repo, index, before, path) {
            Plan::Tracked { entry, now } => tracked.push((path, entry, now)),
            Plan::NewFile => new_paths.push((path, false)),
            Plan::NewDirectory => new_paths.push((path, true)),
            Plan::Nothing => {}
            Plan::Git => {
                out.for_git.insert(path.clone());
            }
        }
    }

    // Which new paths git ignores, asked while the tracked ones are read.
    let ignoring = (!new_paths.is_empty()).then(|| {
        let names: Vec<Vec<u8>> = new_paths
            .iter()
            .map(|(p, _)| p.as_bytes().to_vec())
            .collect();
        let root = repo.root.clone();
        std::thread::spawn(move || {
            let names: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
            crate::git::ignored(&root, &names).map_err(|_| NotExamined::Git("check-ignore"))
        })
    });

    let states = crate::digest::on_every_core(&tracked, |(path, _, now)| match now {
        Now::Missing => FileState::Missing,
        _ => read_state(&path.under(&repo.root), hash),
    });
    // Tracked files whose raw content is not the index's blob: git's own blob id decides.
    let mut ask_git: Vec<usize> = Vec::new();
    for (i, ((path, entry, now), state)) in tracked.iter().zip(&states).enumerate() {
        let read_as = match state {
            FileState::Missing => Now::Missing,
            FileState::Present { symlink: true, .. } => Now::Symlink,
            FileState::Present { .. } => match now {
                Now::File { .. } => *now,
                _ => Now::File { executable: false },
            },
        };
        if std::mem::discriminant(&read_as) != std::mem::discriminant(now) {
            // It changed type while it was read: git decides.
            out.for_git.insert((*path).clone());
            continue;
        }
        if let (FileState::Present { digests, .. }, Now::File { .. }) = (state, now) {
            if digests.git_blob.as_str() != index.oid_hex(entry) && same_size(entry, digests.size) {
                let name = path.as_bytes();
                // One path per line, taken literally unless it starts with a quote.
                if name.contains(&b'\n') || name.contains(&b'\r') || name.first() == Some(&b'"') {
                    out.for_git.insert((*path).clone());
                } else {
                    ask_git.push(i);
                }
            }
        }
    }
    let cleaned: BTreeMap<usize, String> = if ask_git.is_empty() {
        BTreeMap::new()
    } else {
        let names: Vec<&[u8]> = ask_git.iter().map(|&i| tracked[i].0.as_bytes()).collect();
        ask_git
            .iter()
            .copied()
            .zip(hash_objects(repo, &names)?)
            .collect()
    };

    for (i, ((path, entry, now), state)) in tracked.into_iter().zip(states).enumerate() {
        if out.for_git.contains(path) {
            continue;
        }
        let index_oid = index.oid_hex(entry);
        let index_executable = entry.mode == 0o100755;
        let worktree = match (now, &state) {
            (Now::Missing, _) => b'D',
            (Now::Symlink, _) if entry.mode != 0o120000 => b'T',
            (Now::Symlink, FileState::Present { digests, .. }) => {
                if digests.git_blob.as_str() == index_oid {
                    b'.'
                } else {
                    b'M'
                }
            }
            (Now::File { executable }, FileState::Present { digests, .. }) => {
                let same_content = same_size(entry, digests.size)
                    && (digests.git_blob.as_str() == index_oid
                        || cleaned.get(&i).is_some_and(|oid| *oid == index_oid));
                let executable = if baseline.file_mode {
                    executable
                } else {
                    index_executable
                };
                if same_content && executable == index_executable {
                    b'.'
                } else {
                    b'M'
                }
            }
            _ => {
                out.for_git.insert(path.clone());
                continue;
            }
        };
        let (staged, head, head_mode) = match before.dirty.get(path) {
            Some(d) => (d.xy[0], d.head.clone(), d.head_mode),
            // Clean at the start: the index entry is HEAD's.
            None => (
                b'.',
                index_oid.parse().ok(),
                FileMode::from_git(format!("{:o}", entry.mode).as_bytes()),
            ),
        };
        if staged == b'.' && worktree == b'.' {
            continue;
        }
        out.dirty.insert(
            path.clone(),
            DirtyPath {
                xy: [staged, worktree],
                head,
                head_mode,
                state,
            },
        );
    }

    if let Some(ignoring) = ignoring {
        let ignored = ignoring
            .join()
            .map_err(|_| NotExamined::Git("check-ignore"))??;
        let mut untracked = Vec::new();
        for (path, directory) in new_paths {
            if ignored.contains(path.as_bytes()) {
                continue;
            }
            if directory {
                out.for_git.insert(path.clone());
            } else {
                untracked.push(path);
            }
        }
        let states =
            crate::digest::on_every_core(&untracked, |p| read_state(&p.under(&repo.root), hash));
        for (path, state) in untracked.into_iter().zip(states) {
            if state == FileState::Missing {
                // Gone, or replaced by something that is not a file, since: git decides.
                out.for_git.insert(path.clone());
                continue;
            }
            out.dirty.insert(
                path.clone(),
                DirtyPath {
                    xy: *b"??",
                    head: None,
                    head_mode: None,
                    state,
                },
            );
        }
    }
    Ok(out)
}

/// git's first test of a file's content: a size other than the one it saw (when it saw one) is
/// a change, whatever filters would make of the content (`ie_modified` in git's `read-cache.c`).
fn same_size(entry: &Entry, size: u64) -> bool {
    entry.size == 0 || entry.size == size as u32
}

/// How `path` is to be decided.
fn plan<'a>(repo: &Repo, index: &'a GitIndex, before: &Snapshot, path: &RepoPath) -> Plan<'a> {
    let bytes = path.as_bytes();
    let now = match std::fs::symlink_metadata(path.under(&repo.root)) {
        Ok(meta) if meta.file_type().is_symlink() => Some(Now::Symlink),
        Ok(meta) if meta.is_file() => Some(Now::File {
            executable: meta.mode() & 0o100 != 0,
        }),
        Ok(meta) if meta.is_dir() => None,
        Ok(_) => return Plan::Git,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Some(Now::Missing),
        Err(_) => return Plan::Git,
    };
    let was_dirty = before.dirty.get(path);
    match index.get(bytes) {
        [entry] => {
            let plain = entry.stage() == 0
                && !entry.assume_valid()
                && !entry.skip_worktree()
                && !entry.intent_to_add()
                && matches!(entry.mode, 0o100644 | 0o100755 | 0o120000);
            let untracked_before = was_dirty.is_some_and(|d| d.xy == *b"??");
            match now {
                // A symlink in the index that is a plain file now: `core.symlinks` decides.
                Some(Now::File { .. }) if entry.mode == 0o120000 => Plan::Git,
                Some(now) if plain && !untracked_before => Plan::Tracked { entry, now },
                _ => Plan::Git,
            }
        }
        [] => {
            let in_git = was_dirty.is_some_and(|d| d.xy != *b"??");
            let parent = match bytes.iter().rposition(|&b| b == b'/') {
                Some(i) => &bytes[..i],
                None => &[][..],
            };
            if in_git || index.has_below(bytes) {
                return Plan::Git;
            }
            // Gone: whatever was below it (untracked files) is gone too.
            if now == Some(Now::Missing) {
                return Plan::Nothing;
            }
            // git lists the untracked files of a directory it walks; one the index does not
            // know may be a nested repository, listed as a whole.
            if !parent.is_empty() && !index.has_below(parent) {
                return Plan::Git;
            }
            match now {
                Some(_) => Plan::NewFile,
                None => Plan::NewDirectory,
            }
        }
        _ => Plan::Git,
    }
}

/// The blob ids git gives `paths` (`git hash-object --stdin-paths`: through each path's
/// attributes, nothing written), in order.
fn hash_objects(repo: &Repo, paths: &[&[u8]]) -> Result<Vec<String>, NotExamined> {
    let input: Vec<u8> = paths
        .iter()
        .flat_map(|p| p.iter().copied().chain([b'\n']))
        .collect();
    let out = crate::git::run_with_input(&repo.root, &["hash-object", "--stdin-paths"], input)
        .ok()
        .filter(|o| o.status.success())
        .ok_or(NotExamined::Git("hash-object"))?;
    let text = String::from_utf8(out.stdout).map_err(|_| NotExamined::Git("hash-object"))?;
    let oids: Vec<String> = text.lines().map(str::to_string).collect();
    if oids.len() != paths.len() {
        return Err(NotExamined::Git("hash-object"));
    }
    Ok(oids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::Path;

    use crate::changes::{snapshot, snapshot_touched};

    use crate::testing::{git, write};

    /// Committed files (one executable, one symlink), a file dirty before the run, one staged,
    /// an untracked file in an untracked directory, ignored ones.
    fn repo(config: &[(&str, &str)]) -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        for (key, value) in config {
            git(root, &["config", key, value]);
        }
        write(root, ".gitattributes", "*.up filter=upper\n");
        write(root, "f.up", "x\n");
        for (path, text) in [
            (".gitignore", "build/\n*.log\n"),
            ("a.txt", "a\n"),
            ("run.sh", "#!/bin/sh\n"),
            ("dir/b.txt", "b\n"),
            ("dir/sub/c.txt", "c\n"),
            ("dir/staged.txt", "s\n"),
            ("other/e.txt", "e\n"),
        ] {
            write(root, path, text);
        }
        std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::os::unix::fs::symlink("a.txt", root.join("link")).unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", "base"]);
        write(root, "dir/b.txt", "b, edited before the run\n");
        write(root, "dir/staged.txt", "s, staged\n");
        git(root, &["add", "dir/staged.txt"]);
        write(root, "dir/u.txt", "untracked before the run\n");
        write(
            root,
            "loose/v.txt",
            "untracked, in an untracked directory\n",
        );
        write(root, "build/x.o", "ignored\n");
        write(root, "x.log", "ignored\n");
        let repo = Repo::discover(root).unwrap().unwrap();
        (dir, repo)
    }

    fn paths(list: &[&str]) -> BTreeSet<RepoPath> {
        list.iter()
            .map(|p| RepoPath::from_bytes(p.as_bytes()))
            .collect()
    }

    /// Makes `change` after the run's start, and checks that the ending snapshot of `touched`
    /// is the one a full `git status` gives (modes, blobs, two-letter codes, content); returns
    /// the paths that were left to git. `config` is set before the first commit.
    fn same_as_full_status(
        config: &[(&str, &str)],
        change: impl Fn(&Path),
        touched: &[&str],
    ) -> Vec<String> {
        set_up_and_compare(config, |_| {}, change, touched)
    }

    /// [`same_as_full_status`] with `setup` made before the run starts.
    fn set_up_and_compare(
        config: &[(&str, &str)],
        setup: impl Fn(&Path),
        change: impl Fn(&Path),
        touched: &[&str],
    ) -> Vec<String> {
        let (dir, repo) = repo(config);
        setup(dir.path());
        let hash = |p: &Path| crate::digest::digest_file(p);
        let before = snapshot(&repo, &hash).unwrap();
        let baseline = Baseline::read(&repo).unwrap();
        change(dir.path());
        let full = snapshot(&repo, &hash).unwrap();
        let touched = paths(touched);
        let got = snapshot_touched(&repo, &before, &touched, Some(&baseline), None, &hash).unwrap();
        assert_eq!(got.dirty, full.dirty, "touched: {touched:?}");
        let examined = examine(&repo, &baseline, &before, &touched, &hash).unwrap();
        examined.for_git.iter().map(RepoPath::display).collect()
    }

    #[test]
    fn files_edited_created_deleted_or_retyped_are_decided_without_git() {
        let none: Vec<String> = Vec::new();
        let plain = &[][..];
        type Case<'a> = (&'a str, Box<dyn Fn(&Path)>, &'a [&'a str]);
        let cases: Vec<Case> = vec![
            (
                "edit",
                Box::new(|r| write(r, "a.txt", "a, edited\n")),
                &["a.txt"],
            ),
            (
                "delete",
                Box::new(|r| std::fs::remove_file(r.join("dir/sub/c.txt")).unwrap()),
                &["dir/sub/c.txt"],
            ),
            (
                "create",
                Box::new(|r| write(r, "other/new.txt", "n\n")),
                &["other/new.txt"],
            ),
            (
                "create ignored",
                Box::new(|r| write(r, "z.log", "z\n")),
                &["z.log"],
            ),
            (
                "create in an ignored directory",
                Box::new(|r| write(r, "build/y.o", "y\n")),
                &["build"],
            ),
            ("created then deleted", Box::new(|_| {}), &["dir/tmp.swp"]),
            (
                "executable bit",
                Box::new(|r| {
                    std::fs::set_permissions(
                        r.join("a.txt"),
                        std::fs::Permissions::from_mode(0o755),
                    )
                    .unwrap()
                }),
                &["a.txt"],
            ),
            (
                "only the group may execute: git looks at the owner's bit",
                Box::new(|r| {
                    std::fs::set_permissions(
                        r.join("a.txt"),
                        std::fs::Permissions::from_mode(0o654),
                    )
                    .unwrap()
                }),
                &["a.txt"],
            ),
            (
                "no longer executable",
                Box::new(|r| {
                    std::fs::set_permissions(
                        r.join("run.sh"),
                        std::fs::Permissions::from_mode(0o644),
                    )
                    .unwrap()
                }),
                &["run.sh"],
            ),
            (
                "symlink retargeted",
                Box::new(|r| {
                    std::fs::remove_file(r.join("link")).unwrap();
                    std::os::unix::fs::symlink("run.sh", r.join("link")).unwrap();
                }),
                &["link"],
            ),
            (
                "file replaced by a symlink",
                Box::new(|r| {
                    std::fs::remove_file(r.join("other/e.txt")).unwrap();
                    std::os::unix::fs::symlink("../a.txt", r.join("other/e.txt")).unwrap();
                }),
                &["other/e.txt"],
            ),
            (
                "rewritten with the same content",
                Box::new(|r| write(r, "a.txt", "a\n")),
                &["a.txt"],
            ),
            (
                "dirty before, put back as committed",
                Box::new(|r| write(r, "dir/b.txt", "b\n")),
                &["dir/b.txt"],
            ),
            (
                "dirty before, edited again",
                Box::new(|r| write(r, "dir/b.txt", "b, again\n")),
                &["dir/b.txt"],
            ),
            (
                "staged before, edited",
                Box::new(|r| write(r, "dir/staged.txt", "s, edited after staging\n")),
                &["dir/staged.txt"],
            ),
            (
                "staged before, deleted",
                Box::new(|r| std::fs::remove_file(r.join("dir/staged.txt")).unwrap()),
                &["dir/staged.txt"],
            ),
            (
                "untracked before, deleted",
                Box::new(|r| std::fs::remove_file(r.join("dir/u.txt")).unwrap()),
                &["dir/u.txt"],
            ),
            (
                "a git status during the run rewrote the index's stat data",
                Box::new(|r| {
                    write(r, "a.txt", "a, edited\n");
                    git(r, &["status", "--porcelain"]);
                }),
                &["a.txt"],
            ),
            ("nothing", Box::new(|_| {}), plain),
        ];
        for (name, change, touched) in cases {
            assert_eq!(
                same_as_full_status(&[], change, touched),
                none,
                "{name}: left to git"
            );
        }
    }

    #[test]
    fn settings_and_attributes_are_git_s() {
        let none: Vec<String> = Vec::new();
        let upper = [("filter.upper.clean", "tr a-z A-Z")];
        let crlf = [("core.autocrlf", "true")];
        // core.fileMode=false: git does not look at executable bits.
        assert_eq!(
            same_as_full_status(
                &[("core.fileMode", "false")],
                |r| std::fs::set_permissions(
                    r.join("a.txt"),
                    std::fs::Permissions::from_mode(0o755)
                )
                .unwrap(),
                &["a.txt"],
            ),
            none
        );
        // A clean filter: the file is "x", git stores "X". Rewritten the same, it is unchanged
        // to git; "y" is a change; "X" is not (the filter makes it what git stores).
        for (text, dirty) in [
            ("x\n", false),
            ("y\n", true),
            ("X\n", false),
            ("xy\n", true),
        ] {
            let cmp = |r: &Path| write(r, "f.up", text);
            assert_eq!(
                same_as_full_status(&upper, cmp, &["f.up"]),
                none,
                "{text:?}"
            );
            let (dir, repo) = repo(&upper);
            let hash = |p: &Path| crate::digest::digest_file(p);
            let before = snapshot(&repo, &hash).unwrap();
            let baseline = Baseline::read(&repo).unwrap();
            cmp(dir.path());
            let got = examine(&repo, &baseline, &before, &paths(&["f.up"]), &hash).unwrap();
            assert_eq!(
                got.dirty.contains_key(&RepoPath::from_bytes("f.up")),
                dirty,
                "{text:?}"
            );
        }
        // End-of-line conversion. Checked out with CRLF and rewritten the same: unchanged. An
        // LF file rewritten with CRLF is a change to git (its size is not the one git saw),
        // though git would store the same blob; and back again.
        let checkout_crlf = |r: &Path| {
            std::fs::remove_file(r.join("a.txt")).unwrap();
            git(r, &["checkout", "a.txt"]);
            assert_eq!(std::fs::read(r.join("a.txt")).unwrap(), b"a\r\n");
        };
        assert_eq!(
            set_up_and_compare(
                &crlf,
                checkout_crlf,
                |r| write(r, "a.txt", "a\r\n"),
                &["a.txt"]
            ),
            none
        );
        assert_eq!(
            same_as_full_status(&crlf, |r| write(r, "a.txt", "a\r\n"), &["a.txt"]),
            none
        );
        assert_eq!(
            set_up_and_compare(
                &crlf,
                checkout_crlf,
                |r| write(r, "a.txt", "a\n"),
                &["a.txt"]
            ),
            none
        );
    }

    #[test]
    fn directories_and_what_git_does_not_look_at_are_left_to_git() {
        let left =
            |change: &dyn Fn(&Path), touched: &[&str]| same_as_full_status(&[], change, touched);
        assert_eq!(
            left(&|r| write(r, "new/deep/f.txt", "f\n"), &["new"]),
            ["new"],
            "a new directory is walked by git"
        );
        assert_eq!(
            left(
                &|r| std::fs::rename(r.join("dir/sub"), r.join("dir/moved")).unwrap(),
                &["dir/sub", "dir/moved"]
            ),
            ["dir/moved", "dir/sub"]
        );
        assert_eq!(
            left(&|r| write(r, "loose/w.txt", "w\n"), &["loose/w.txt"]),
            ["loose/w.txt"],
            "a directory the index does not know may be a nested repository"
        );
        assert_eq!(
            left(
                &|r| {
                    std::fs::remove_file(r.join("link")).unwrap();
                    write(r, "link", "a plain file now\n");
                },
                &["link"]
            ),
            ["link"],
            "core.symlinks decides what a symlink turned file is"
        );
        assert_eq!(
            set_up_and_compare(
                &[],
                |r| {
                    git(r, &["update-index", "--assume-unchanged", "a.txt"]);
                },
                |r| write(r, "a.txt", "a, edited\n"),
                &["a.txt"]
            ),
            ["a.txt"],
            "git does not look at a file marked assume-unchanged"
        );
    }

    #[test]
    fn a_changed_index_or_case_folding_gives_up() {
        let (dir, repo) = repo(&[]);
        let hash = |p: &Path| crate::digest::digest_file(p);
        let before = snapshot(&repo, &hash).unwrap();
        let baseline = Baseline::read(&repo).unwrap();
        write(dir.path(), "a.txt", "a, edited\n");
        git(dir.path(), &["add", "a.txt"]);
        let err = examine(&repo, &baseline, &before, &paths(&["a.txt"]), &hash).unwrap_err();
        assert!(matches!(err, NotExamined::IndexChanged), "{err}");

        let (_dir, folding) = self::repo(&[("core.ignoreCase", "true")]);
        let before = snapshot(&folding, &hash).unwrap();
        let baseline = Baseline::read(&folding).unwrap();
        let err = examine(&folding, &baseline, &before, &paths(&["A.TXT"]), &hash).unwrap_err();
        assert!(matches!(err, NotExamined::Unusable(_)), "{err}");
    }
}
