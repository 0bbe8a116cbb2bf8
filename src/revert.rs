//! Undoing exactly what a run changed in the work tree.
//!
//! Per file, and only when its current content is still what the run produced: an added file is
//! removed, a modified or deleted file gets its content and mode from before the run back (an
//! executable stays executable, a symlink comes back as a symlink to its pinned target), a rename
//! is moved back (refused, unless forced, when something is at its old path again). The mode
//! before the run is the pinned starting state's for a file that was dirty then, else the
//! starting commit's. A file edited since the run, or one whose content before the run is not
//! recorded, is refused (unless forced), with the reason. Nothing outside the run's files is
//! touched, and every path is checked to stay inside the work tree.

use serde::Serialize;

use crate::changes::{FileState, read_state};
use crate::digest::{GitOid, Sha256Digest, digest_file};
use crate::git::{FileMode, Repo, RepoPath};
use crate::predicate::InputKind;
use crate::replay::safe_join;
use crate::runs::LoadedRun;
use crate::store::Store;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevertReport {
    pub schema: &'static str,
    pub run: String,
    pub dry_run: bool,
    pub files: Vec<RevertedFile>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevertedFile {
    pub path: String,
    /// `remove`, `restore`, `move-back`.
    pub action: &'static str,
    /// `reverted`, `would-revert`, `refused`, `forced`, `already-reverted`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RevertError {
    #[error("run {0} has no recorded changes (not a codex-run/v1 statement)")]
    NoChanges(String),
    #[error(transparent)]
    Replay(#[from] crate::replay::ReplayError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// What to do to one file: `produced` is its content after the run (`None`: the run deleted it),
/// `before` its content before (`None`: the run added it, or the record does not say), `from` the
/// path a rename came from.
struct Step {
    path: String,
    action: &'static str,
    produced: Option<Sha256Digest>,
    before: Option<(Sha256Digest, GitOid)>,
    from: Option<String>,
}

impl RevertReport {
    pub fn refused(&self) -> usize {
        self.files.iter().filter(|f| f.status == "refused").count()
    }
}

/// Reverts a run's changes in `repo`'s work tree.
pub fn revert(
    repo: &Repo,
    store: &Store,
    run: &LoadedRun,
    dry_run: bool,
    force: bool,
) -> Result<RevertReport, RevertError> {
    let changes = run
        .internal
        .as_ref()
        .and_then(|i| i.outcome.as_ref())
        .map(|o| o.changes.clone())
        .ok_or_else(|| RevertError::NoChanges(run.id.clone()))?;
    let mut files = Vec::new();
    // A path's content and mode now (`None`: nothing there).
    let current = |path: &str| -> Result<Option<(Sha256Digest, FileMode)>, RevertError> {
        let full = safe_join(&repo.root, path)?;
        Ok(match read_state(&full, &|p| digest_file(p)) {
            FileState::Present {
                digests,
                executable,
                symlink,
            } => Some((digests.sha256, FileMode::from_flags(executable, symlink))),
            FileState::Missing => None,
        })
    };
    // Every file's step, decided from the record alone.
    let mut plan: Vec<Step> = Vec::new();
    for f in &changes.added {
        plan.push(Step {
            path: f.path.clone(),
            action: "remove",
            produced: Some(f.sha256),
            before: None,
            from: None,
        });
    }
    for f in &changes.modified {
        let before = f.before.as_ref().map(|b| (b.sha256, b.git_blob.clone()));
        plan.push(Step {
            path: f.path.clone(),
            action: "restore",
            produced: Some(f.sha256),
            before,
            from: None,
        });
    }
    for f in &changes.deleted {
        let before = Some((f.sha256, f.git_blob.clone()));
        plan.push(Step {
            path: f.path.clone(),
            action: "restore",
            produced: None,
            before,
            from: None,
        });
    }
    for r in &changes.renamed {
        let before = Some((r.before.sha256, r.before.git_blob.clone()));
        plan.push(Step {
            path: r.to.clone(),
            action: "move-back",
            produced: Some(r.sha256),
            before,
            from: Some(r.from.clone()),
        });
    }
    for Step {
        path,
        action,
        produced,
        before,
        from,
    } in plan
    {
        let now = current(&path)?;
        // Why reverting this file needs --force.
        let mut problems: Vec<String> = Vec::new();
        let mut before = before;
        if action == "restore" && before.is_none() {
            // A modified file whose content before the run the record does not give: never
            // guess (an empty file would lose data); --force takes the starting commit's version.
            match starting_commit_version(repo, run, &path)? {
                Some(version) => {
                    before = Some(version);
                    problems.push(
                        "its content before the run is not recorded (--force restores its \
                         version in the starting commit)"
                            .to_string(),
                    );
                }
                None => {
                    files.push(RevertedFile {
                        path,
                        action,
                        status: "refused",
                        reason: Some(
                            "its content before the run is not recorded, and the starting \
                             commit does not have it"
                                .to_string(),
                        ),
                    });
                    continue;
                }
            }
        }
        // What the file (at `from` for a rename) was before the run: content, blob and mode.
        let restored = match &before {
            Some((sha, blob)) => {
                let original = from.as_deref().unwrap_or(&path);
                Some((*sha, blob.clone(), mode_before(repo, run, original, sha)?))
            }
            None => None,
        };
        let restored_state = restored.as_ref().map(|(sha, _, mode)| (*sha, *mode));
        let at_from = from.as_deref().map(&current).transpose()?.flatten();
        let already = problems.is_empty()
            && match action {
                "remove" => now.is_none(),
                "restore" => now == restored_state,
                _ => now.is_none() && at_from == restored_state,
            };
        if already {
            files.push(RevertedFile {
                path,
                action,
                status: "already-reverted",
                reason: None,
            });
            continue;
        }
        if let (Some(original), Some(_)) = (&from, &at_from) {
            if at_from != restored_state {
                // Moving back would overwrite what is there now.
                problems.push(format!(
                    "{original}, the path it was renamed from, exists again"
                ));
            }
        }
        if now.map(|(sha, _)| sha) != produced {
            problems.push(match (now, produced) {
                (Some(_), Some(_)) => "it was edited after the run".to_string(),
                (None, Some(_)) => "it was removed after the run".to_string(),
                (Some(_), None) => "it was created again after the run deleted it".to_string(),
                (None, None) => "its state changed after the run".to_string(),
            });
        }
        let mut status = if dry_run { "would-revert" } else { "reverted" };
        let mut reason = None;
        if !problems.is_empty() {
            let what = problems.join("; ");
            if !force {
                files.push(RevertedFile {
                    path,
                    action,
                    status: "refused",
                    reason: Some(format!("{what}; pass --force to revert it anyway")),
                });
                continue;
            }
            if !dry_run {
                status = "forced";
            }
            reason = Some(what);
        }
        if !dry_run {
            let target = safe_join(&repo.root, &path)?;
            match &restored {
                // Only a file the run added has no content before the run.
                None => remove(&target)?,
                Some((sha, blob, mode)) => {
                    let original = from.clone().unwrap_or(path.clone());
                    let content = content_before(repo, store, run, &original, sha, blob)?;
                    let dest = match &from {
                        Some(original) => safe_join(&repo.root, original)?,
                        None => target.clone(),
                    };
                    write(&dest, &content, *mode)?;
                    if from.is_some() {
                        remove(&target)?;
                    }
                }
            }
        }
        files.push(RevertedFile {
            path,
            action,
            status,
            reason,
        });
    }
    Ok(RevertReport {
        schema: "codex-attest/revert/v1",
        run: run.id.clone(),
        dry_run,
        files,
    })
}

/// How `path` was recorded before the run: the pinned starting state's flags when it was dirty
/// then, else its mode in the starting commit (`git ls-tree`), else a regular file.
fn mode_before(
    repo: &Repo,
    run: &LoadedRun,
    path: &str,
    sha: &Sha256Digest,
) -> Result<FileMode, RevertError> {
    if let Some(input) = run.record.inputs.iter().find(|i| {
        i.kind == InputKind::StartingState && i.name == path && i.sha256 == *sha && !i.absent
    }) {
        return Ok(FileMode::from_flags(input.executable, input.symlink));
    }
    let Some(commit) = &run.record.summary.commit else {
        return Ok(FileMode::Regular);
    };
    let mode = repo.mode_in(commit, path).map_err(|err| RevertError::Io {
        path: path.to_string(),
        source: std::io::Error::other(format!("its mode in the starting commit: {err}")),
    })?;
    Ok(mode.unwrap_or(FileMode::Regular))
}

/// `path`'s content in the run's starting commit, if it is there.
fn starting_commit_version(
    repo: &Repo,
    run: &LoadedRun,
    path: &str,
) -> Result<Option<(Sha256Digest, GitOid)>, RevertError> {
    let Some(commit) = &run.record.summary.commit else {
        return Ok(None);
    };
    let io = |err: crate::git::GitError| RevertError::Io {
        path: path.to_string(),
        source: std::io::Error::other(format!("its version in the starting commit: {err}")),
    };
    let Some(blob) = repo
        .blob_in(commit, &RepoPath::from_bytes(path.as_bytes()))
        .map_err(io)?
    else {
        return Ok(None);
    };
    let bytes = repo.read_blob(&blob).map_err(io)?;
    Ok(Some((crate::digest::sha256(&bytes), blob)))
}

/// The content a path had before the run: a pinned starting-state blob, or git's object.
fn content_before(
    repo: &Repo,
    store: &Store,
    run: &LoadedRun,
    path: &str,
    sha: &Sha256Digest,
    blob: &GitOid,
) -> Result<Vec<u8>, RevertError> {
    let pinned = run
        .record
        .inputs
        .iter()
        .find(|i| {
            i.kind == InputKind::StartingState && i.name == path && i.sha256 == *sha && !i.redacted
        })
        .and_then(|i| i.blob);
    let bytes = match pinned.and_then(|b| store.read_blob(&b).ok()) {
        Some(bytes) => bytes,
        None => repo.read_blob(blob).map_err(|err| RevertError::Io {
            path: path.to_string(),
            source: std::io::Error::other(format!(
                "its content before the run (git blob {blob}) is not available: {err}"
            )),
        })?,
    };
    if crate::digest::sha256(&bytes) != *sha {
        return Err(RevertError::Io {
            path: path.to_string(),
            source: std::io::Error::other(
                "the recovered content does not match the recorded digest",
            ),
        });
    }
    Ok(bytes)
}

fn remove(path: &std::path::Path) -> Result<(), RevertError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(RevertError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Writes `bytes` at `path` as `mode`: a symlink's bytes are its target; a regular file loses its
/// executable bits, an executable one gets one wherever it is readable (as git checks files out).
fn write(path: &std::path::Path, bytes: &[u8], mode: FileMode) -> Result<(), RevertError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| RevertError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let existing = path.symlink_metadata().ok();
    if existing.is_some_and(|m| m.file_type().is_symlink() || mode == FileMode::Symlink) {
        std::fs::remove_file(path).map_err(io)?;
    }
    if mode == FileMode::Symlink {
        use std::os::unix::ffi::OsStrExt;
        return std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(bytes), path).map_err(io);
    }
    std::fs::write(path, bytes).map_err(io)?;
    let perms = std::fs::metadata(path).map_err(io)?.permissions().mode();
    let wanted = match mode {
        FileMode::Executable => perms | ((perms & 0o444) >> 2),
        _ => perms & !0o111,
    };
    if wanted != perms {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted)).map_err(io)?;
    }
    Ok(())
}
