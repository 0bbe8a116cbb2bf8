//! Undoing exactly what a run changed in the work tree.
//!
//! Per file, and only when its current content is still what the run produced: an added file is
//! removed, a modified or deleted file gets its content from before the run back, a rename is
//! moved back. A file edited since the run is refused (unless forced), with the reason. Nothing
//! outside the run's files is touched, and every path is checked to stay inside the work tree.

use serde::Serialize;

use crate::changes::{FileState, read_state};
use crate::digest::{GitOid, Sha256Digest, digest_bytes, digest_file};
use crate::git::Repo;
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
/// `before` its content before (`None`: the run added it), `from` the path a rename came from.
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
    let current = |path: &str| -> Result<Option<Sha256Digest>, RevertError> {
        let full = safe_join(&repo.root, path)?;
        Ok(match read_state(&full, &|p| digest_file(p)) {
            FileState::Present { digests, .. } => Some(digests.sha256),
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
        let already = match action {
            "remove" => now.is_none(),
            "restore" => now == before.as_ref().map(|b| b.0),
            _ => {
                now.is_none()
                    && from.as_deref().map(&current).transpose()?.flatten()
                        == before.as_ref().map(|b| b.0)
            }
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
        let mut status = if dry_run { "would-revert" } else { "reverted" };
        let mut reason = None;
        if now != produced {
            let what = match (now, produced) {
                (Some(_), Some(_)) => "it was edited after the run".to_string(),
                (None, Some(_)) => "it was removed after the run".to_string(),
                (Some(_), None) => "it was created again after the run deleted it".to_string(),
                (None, None) => "its state changed after the run".to_string(),
            };
            if !force {
                files.push(RevertedFile {
                    path,
                    action,
                    status: "refused",
                    reason: Some(format!("{what}; pass --force to revert it anyway")),
                });
                continue;
            }
            status = if dry_run { "would-revert" } else { "forced" };
            reason = Some(what);
        }
        if !dry_run {
            let target = safe_join(&repo.root, &path)?;
            match action {
                "remove" => remove(&target)?,
                _ => {
                    let (sha, blob) = before.clone().unwrap_or_else(|| {
                        (crate::digest::sha256(b""), digest_bytes(b"").git_blob)
                    });
                    let content = content_before(
                        repo,
                        store,
                        run,
                        &from.clone().unwrap_or(path.clone()),
                        &sha,
                        &blob,
                    )?;
                    let dest = match &from {
                        Some(original) => safe_join(&repo.root, original)?,
                        None => target.clone(),
                    };
                    write(&dest, &content)?;
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

fn write(path: &std::path::Path, bytes: &[u8]) -> Result<(), RevertError> {
    let io = |source| RevertError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    if path
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        std::fs::remove_file(path).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)
}
