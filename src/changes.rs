//! What a run changed, from git's view of the work tree before and after.
//!
//! Before the run, one `git status` lists every path that differs from HEAD (and every untracked,
//! not ignored file); each of those is hashed and its content pinned, because the starting state
//! must be rebuildable. After the run, a second `git status` lists the paths that differ now, or,
//! when a watch says where the run touched the tree, those paths are looked at alone: decided
//! from the index read at the start (`touched.rs`), or by `git status -- PATHS`.
//! Only the union of the two lists (plus paths a commit made during the run touched) is examined,
//! so the cost grows with the changed files and the status walk, never with repository size;
//! `.git/` is never walked and ignored files never appear.
//!
//! A path counts as changed when its content (or executable bit) after the run differs from its
//! content before: a file that was already dirty and that the run did not touch is not a change;
//! one the run edited again is. Deleted files and renames (an exact content match between a
//! deleted and an added path) carry their content from before the run.
//!
//! What we ignore (and why): submodules and conflicted paths are reported as warnings, not
//! hashed (their content is another repository or not a file); paths that are not UTF-8 are
//! reported as warnings because an in-toto subject name is a JSON string.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::digest::{FileDigests, GitOid, digest_bytes};
use crate::git::{FileMode, GitError, Repo, RepoPath, StatusEntry};
use crate::predicate::{ChangedFile, Changes, FileVersion, RenamedFile};

/// The content of one path at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileState {
    Missing,
    Present {
        digests: FileDigests,
        executable: bool,
        symlink: bool,
    },
}

/// What git reported for a dirty path, and its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirtyPath {
    /// `.M`, `A.`, `??` (untracked), ...
    pub xy: [u8; 2],
    /// The blob in HEAD, if the path is tracked there.
    pub head: Option<GitOid>,
    /// How HEAD records the path, when it is a file there.
    pub head_mode: Option<FileMode>,
    pub state: FileState,
}

/// The work tree relative to HEAD at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub head: Option<GitOid>,
    pub dirty: BTreeMap<RepoPath, DirtyPath>,
    pub warnings: Vec<String>,
}

/// How to read a file's content: hash it, and usually store it too.
/// Called from several threads at once (files are read on every core).
pub type Hasher<'a> = dyn Fn(&Path) -> std::io::Result<FileDigests> + Sync + 'a;

/// The result of comparing two snapshots.
#[derive(Clone, Debug, Default)]
pub struct ChangeSet {
    pub changes: Changes,
    pub warnings: Vec<String>,
}

/// Takes a snapshot: `git status`, then the content of every dirty path.
pub fn snapshot(repo: &Repo, hash: &Hasher) -> Result<Snapshot, GitError> {
    let head = repo.head()?;
    let status = repo.status()?;
    Ok(from_status(repo, head, status, hash))
}

/// Most pathspecs handed to one `git status`. git matches every index entry against every
/// pathspec: on 100,000 files, 1 path costs 20 ms, 16 cost 49 ms, 32 cost 82 ms and 64 cost
/// 163 ms, as much as the full status (BENCHMARKS.md). Past this, paths are replaced by their
/// directories, and by the full status when those are still too many.
const MAX_PATHSPECS: usize = 40;

/// Above this many pathspecs, a primed index is used when one is ready (`fsmonitor.rs`: 56 to
/// 69 ms on 100,000 files whatever the number of paths, the check of the index included),
/// against 49 ms for 16 pathspecs and 82 ms for 32.
pub(crate) const PRIMED_ABOVE: usize = 16;

/// Takes the ending snapshot when a watch says where the run may have changed something, and
/// `before`'s entries for every dirty path outside those paths (nothing there changed). The
/// touched paths are decided from `baseline`, the index read at the start, where they can be
/// (`touched.rs`), and by `git status` of those paths otherwise. Many paths are looked at
/// through `primed` when it is ready (a full status that re-examines the touched paths only).
/// Falls back to the full `snapshot` when HEAD moved, or when the paths left to git cannot be
/// expressed in a few pathspecs and nothing was primed.
pub fn snapshot_touched(
    repo: &Repo,
    before: &Snapshot,
    touched: &BTreeSet<RepoPath>,
    baseline: Option<&crate::touched::Baseline>,
    primed: Option<crate::fsmonitor::Primer>,
    hash: &Hasher,
) -> Result<Snapshot, GitError> {
    let head = repo.head()?;
    if head != before.head {
        return snapshot(repo, hash);
    }
    if let Some(baseline) = baseline {
        match crate::touched::examine(repo, baseline, before, touched, hash) {
            Ok(examined) => {
                if let Some(specs) = crate::watch::collapse(&examined.for_git, MAX_PATHSPECS) {
                    tracing::debug!(
                        "change detection: the index read at the start, {} paths, {} left to git",
                        touched.len(),
                        specs.len()
                    );
                    return with_git_status_of(repo, before, touched, &specs, examined.dirty, hash);
                }
                tracing::debug!("change detection: too many paths left to git");
            }
            Err(err) => tracing::debug!("change detection: not from the index ({err})"),
        }
    }
    let specs = crate::watch::collapse(touched, MAX_PATHSPECS);
    if let Some(primed) = primed {
        if specs.as_ref().is_none_or(|s| s.len() > PRIMED_ABOVE) {
            match primed.status(repo, touched) {
                Ok(status) => {
                    tracing::debug!(
                        "change detection: the primed index, {} paths",
                        touched.len()
                    );
                    return Ok(from_status(repo, head, status, hash));
                }
                Err(err) => tracing::debug!("change detection: not primed ({err})"),
            }
        }
    }
    let Some(specs) = specs else {
        return snapshot(repo, hash);
    };
    with_git_status_of(repo, before, &specs, &specs, BTreeMap::new(), hash)
}

/// The ending snapshot from `git status -- specs`, then `decided` (the touched paths decided
/// without git) where git did not look, then `before`'s entries outside both `touched` and
/// `specs`.
fn with_git_status_of(
    repo: &Repo,
    before: &Snapshot,
    touched: &BTreeSet<RepoPath>,
    specs: &BTreeSet<RepoPath>,
    decided: BTreeMap<RepoPath, DirtyPath>,
    hash: &Hasher,
) -> Result<Snapshot, GitError> {
    let status = if specs.is_empty() {
        crate::git::Status::default()
    } else {
        repo.status_of(&crate::watch::pathspec_args(specs))?
    };
    let mut snap = from_status(repo, before.head.clone(), status, hash);
    let by_git: std::collections::HashSet<&[u8]> = specs.iter().map(RepoPath::as_bytes).collect();
    let seen: std::collections::HashSet<&[u8]> = touched.iter().map(RepoPath::as_bytes).collect();
    for (path, dirty) in decided {
        if !crate::watch::covered(&by_git, &path) {
            snap.dirty.insert(path, dirty);
        }
    }
    for (path, dirty) in &before.dirty {
        if !crate::watch::covered(&by_git, path) && !crate::watch::covered(&seen, path) {
            snap.dirty.insert(path.clone(), dirty.clone());
        }
    }
    snap.warnings.extend(
        before
            .warnings
            .iter()
            .filter(|w| !snap.warnings.contains(w))
            .cloned()
            .collect::<Vec<_>>(),
    );
    Ok(snap)
}

fn from_status(
    repo: &Repo,
    head: Option<GitOid>,
    status: crate::git::Status,
    hash: &Hasher,
) -> Snapshot {
    let mut snap = Snapshot {
        head,
        ..Default::default()
    };
    // The paths whose content is read, their state still to fill in.
    let mut present: Vec<(RepoPath, DirtyPath)> = Vec::new();
    for entry in status.entries {
        match entry {
            StatusEntry::Changed {
                path,
                xy,
                head,
                head_mode,
                submodule,
                ..
            } => {
                if submodule {
                    snap.warnings.push(format!(
                        "submodule {} differs from HEAD; its content is not recorded",
                        path.display()
                    ));
                    continue;
                }
                present.push((
                    path,
                    DirtyPath {
                        xy,
                        head,
                        head_mode,
                        state: FileState::Missing,
                    },
                ));
            }
            StatusEntry::Untracked { path } => present.push((
                path,
                DirtyPath {
                    xy: *b"??",
                    head: None,
                    head_mode: None,
                    state: FileState::Missing,
                },
            )),
            StatusEntry::Unmerged { path } => {
                snap.warnings.push(format!(
                    "{} has merge conflicts; it is not recorded",
                    path.display()
                ));
            }
        }
    }
    fill_states(repo, &mut snap, present, hash);
    snap
}

/// `snapshot` with the dirty paths given (by a watch service, `service.rs`): reads the content
/// of each.
pub fn read_contents(repo: &Repo, given: Snapshot, hash: &Hasher) -> Snapshot {
    let mut snap = Snapshot {
        head: given.head,
        dirty: BTreeMap::new(),
        warnings: given.warnings,
    };
    fill_states(repo, &mut snap, given.dirty.into_iter().collect(), hash);
    snap
}

/// Reads the state of each path on every core into `snap`.
fn fill_states(
    repo: &Repo,
    snap: &mut Snapshot,
    present: Vec<(RepoPath, DirtyPath)>,
    hash: &Hasher,
) {
    let states = crate::digest::on_every_core(&present, |(path, _)| {
        read_state(&path.under(&repo.root), hash)
    });
    for ((path, mut dirty), state) in present.into_iter().zip(states) {
        dirty.state = state;
        snap.dirty.insert(path, dirty);
    }
}

/// Reads a path's state without following a final symlink (a symlink's content is its target,
/// as git stores it).
pub fn read_state(path: &Path, hash: &Hasher) -> FileState {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return FileState::Missing;
    };
    use std::os::unix::fs::PermissionsExt;
    if meta.file_type().is_symlink() {
        return match std::fs::read_link(path) {
            Ok(target) => {
                use std::os::unix::ffi::OsStrExt;
                FileState::Present {
                    digests: digest_bytes(target.as_os_str().as_bytes()),
                    executable: false,
                    symlink: true,
                }
            }
            Err(_) => FileState::Missing,
        };
    }
    if !meta.is_file() {
        return FileState::Missing;
    }
    match hash(path) {
        Ok(digests) => FileState::Present {
            digests,
            executable: meta.permissions().mode() & 0o111 != 0,
            symlink: false,
        },
        Err(_) => FileState::Missing,
    }
}

/// Compares the snapshot taken before the run with the work tree now.
///
/// `before` is the snapshot taken before; `after` the one taken after. Content of paths that
/// were clean before comes from git (`hash_blob` is called with each HEAD blob's bytes).
pub fn compare(repo: &Repo, before: &Snapshot, after: &Snapshot) -> Result<ChangeSet, GitError> {
    let mut out = ChangeSet::default();
    let mut candidates: BTreeSet<RepoPath> = before.dirty.keys().cloned().collect();
    candidates.extend(after.dirty.keys().cloned());
    let head_moved = before.head != after.head;
    if let (true, Some(from), Some(to)) = (head_moved, &before.head, &after.head) {
        candidates.extend(repo.changed_between(from, to)?);
    }

    // The content before the run of each candidate.
    let mut state_before: BTreeMap<RepoPath, FileState> = BTreeMap::new();
    // Paths clean before the run: their content is HEAD's blob. When HEAD did not move, the
    // ending status names that blob and its mode; otherwise both are looked up in HEAD.
    let mut clean_blobs: Vec<(RepoPath, GitOid, Option<FileMode>)> = Vec::new();
    for path in &candidates {
        if let Some(dirty) = before.dirty.get(path) {
            state_before.insert(path.clone(), dirty.state.clone());
            continue;
        }
        let head_blob = match (&before.head, head_moved) {
            (Some(head), true) => repo.blob_in(head, path)?.map(|oid| (oid, None)),
            (Some(_), false) => after
                .dirty
                .get(path)
                .and_then(|d| d.head.clone().map(|oid| (oid, d.head_mode))),
            (None, _) => None,
        };
        match head_blob {
            Some((oid, mode)) => clean_blobs.push((path.clone(), oid, mode)),
            None => {
                state_before.insert(path.clone(), FileState::Missing);
            }
        }
    }
    let oids: Vec<GitOid> = clean_blobs.iter().map(|(_, o, _)| o.clone()).collect();
    let mut contents: BTreeMap<GitOid, FileDigests> = BTreeMap::new();
    repo.for_each_blob(&oids, &mut |oid, bytes| {
        contents.insert(oid.clone(), digest_bytes(bytes));
    })?;
    let unknown_modes: Vec<&RepoPath> = clean_blobs
        .iter()
        .filter(|(_, _, mode)| mode.is_none())
        .map(|(path, _, _)| path)
        .collect();
    let head_modes = head_modes(repo, before.head.as_ref(), &unknown_modes);
    for (path, oid, mode) in clean_blobs {
        let digests = contents.get(&oid).cloned().unwrap_or_else(|| FileDigests {
            sha256: crate::digest::sha256(b""),
            git_blob: oid.clone(),
            size: 0,
        });
        let mode = mode.or_else(|| head_modes.get(&path).copied());
        state_before.insert(
            path,
            FileState::Present {
                digests,
                executable: mode == Some(FileMode::Executable),
                symlink: mode == Some(FileMode::Symlink),
            },
        );
    }

    let mut added = Vec::new();
    let mut deleted = Vec::new();
    for path in &candidates {
        let Some(name) = path.to_str() else {
            out.warnings.push(format!(
                "{} is not UTF-8 and cannot be named in the attestation",
                path.display()
            ));
            continue;
        };
        let now = match after.dirty.get(path) {
            Some(d) => d.state.clone(),
            // Clean after: it equals HEAD (after) now, which git already compared for us; read it.
            None => read_state(&path.under(&repo.root), &|p| crate::digest::digest_file(p)),
        };
        let was = state_before
            .get(path)
            .cloned()
            .unwrap_or(FileState::Missing);
        if same_content(&was, &now) {
            continue;
        }
        match (was, now) {
            (FileState::Missing, FileState::Present { digests, .. }) => {
                added.push(changed_file(name, &digests, None));
            }
            (FileState::Present { digests, .. }, FileState::Missing) => {
                deleted.push(changed_file(name, &digests, None));
            }
            (FileState::Present { digests: old, .. }, FileState::Present { digests: new, .. }) => {
                out.changes
                    .modified
                    .push(changed_file(name, &new, Some(&old)));
            }
            (FileState::Missing, FileState::Missing) => {}
        }
    }
    // Exact renames: a deleted path whose content reappears at an added path.
    let mut renamed = Vec::new();
    deleted.retain(|d: &ChangedFile| {
        match added
            .iter()
            .position(|a: &ChangedFile| a.sha256 == d.sha256)
        {
            Some(i) => {
                let to = added.remove(i);
                renamed.push(RenamedFile {
                    from: d.path.clone(),
                    to: to.path,
                    before: FileVersion {
                        sha256: d.sha256,
                        git_blob: d.git_blob.clone(),
                    },
                    sha256: to.sha256,
                    git_blob: to.git_blob,
                });
                false
            }
            None => true,
        }
    });
    out.changes.added = added;
    out.changes.deleted = deleted;
    out.changes.renamed = renamed;
    out.warnings.extend(
        after
            .warnings
            .iter()
            .filter(|w| !before.warnings.contains(w))
            .cloned(),
    );
    Ok(out)
}

fn same_content(a: &FileState, b: &FileState) -> bool {
    match (a, b) {
        (FileState::Missing, FileState::Missing) => true,
        (
            FileState::Present {
                digests: da,
                executable: ea,
                symlink: sa,
            },
            FileState::Present {
                digests: db,
                executable: eb,
                symlink: sb,
            },
        ) => da.git_blob == db.git_blob && ea == eb && sa == sb,
        _ => false,
    }
}

fn changed_file(path: &str, digests: &FileDigests, before: Option<&FileDigests>) -> ChangedFile {
    ChangedFile {
        path: path.to_string(),
        sha256: digests.sha256,
        git_blob: digests.git_blob.clone(),
        before: before.map(|b| FileVersion {
            sha256: b.sha256,
            git_blob: b.git_blob.clone(),
        }),
    }
}

/// Above this many paths, `head_modes` lists the whole tree instead of passing pathspecs.
const MAX_LS_TREE_PATHSPECS: usize = 256;

/// How HEAD records the paths asked about (`git ls-tree`), for the files among them.
fn head_modes(
    repo: &Repo,
    head: Option<&GitOid>,
    paths: &[&RepoPath],
) -> BTreeMap<RepoPath, FileMode> {
    let mut out = BTreeMap::new();
    let Some(head) = head else { return out };
    if paths.is_empty() {
        return out;
    }
    // git matches every tree entry against every pathspec, and a long list can exceed the
    // argument limit: past a few hundred paths, list the whole tree once and pick.
    let many = paths.len() > MAX_LS_TREE_PATHSPECS;
    let mut args: Vec<String> = vec!["ls-tree".into(), "-z".into()];
    if many {
        args.push("-r".into());
    }
    args.extend([head.to_string(), "--".into()]);
    if !many {
        args.extend(paths.iter().filter_map(|p| p.to_str().map(str::to_string)));
    }
    let wanted: std::collections::HashSet<&RepoPath> = paths.iter().copied().collect();
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let Ok(listing) = crate::git::run(&repo.root, &arg_refs) else {
        return out;
    };
    for record in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        // <mode> SP <type> SP <object> TAB <path>
        let Some(tab) = record.iter().position(|&b| b == b'\t') else {
            continue;
        };
        let Some(mode) = record[..tab]
            .split(|&b| b == b' ')
            .next()
            .and_then(FileMode::from_git)
        else {
            continue;
        };
        let path = RepoPath::from_bytes(&record[tab + 1..]);
        if many && !wanted.contains(&path) {
            continue;
        }
        out.insert(path, mode);
    }
    out
}

impl Changes {
    /// Paths of the files that exist after the run and were added or modified (the subjects).
    pub fn subjects(&self) -> Vec<(&str, &crate::digest::Sha256Digest, &GitOid)> {
        let mut out: Vec<_> = self
            .added
            .iter()
            .chain(self.modified.iter())
            .map(|c| (c.path.as_str(), &c.sha256, &c.git_blob))
            .chain(
                self.renamed
                    .iter()
                    .map(|r| (r.to.as_str(), &r.sha256, &r.git_blob)),
            )
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }
}
