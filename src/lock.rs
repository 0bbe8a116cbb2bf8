//! `codex-attest.lock`: the Codex CLI version, model, sandbox and the digest of every instruction
//! input a `codex exec` command line would read, pinned in a file reviewed in pull requests.
//!
//! `wrap --locked` refuses to start Codex when anything drifted; a policy can require runs to
//! match the lock (`[run] lock = "codex-attest.lock"`, rule `lock-mismatch`).
//!
//! What we ignore (and why): the prompt and images are not locked: they are the task, different
//! on every run; the lock pins the environment the task runs in.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::codex::config::{self, CodexEnv};
use crate::codex::inputs::{self, Namer};
use crate::digest::digest_file;
use crate::git::Repo;
use crate::predicate::InputKind;
use crate::wrap::{self, Plan};

pub const LOCK_FILE: &str = "codex-attest.lock";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockFile {
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codex_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    #[serde(default, rename = "input", skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<LockedInput>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedInput {
    pub name: String,
    pub kind: String,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("only `codex exec` command lines can be locked")]
    NotCodexExec,
    #[error("{path}:{line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Input kinds a lock pins.
pub fn locked_kind(kind: InputKind) -> bool {
    !matches!(
        kind,
        InputKind::Prompt
            | InputKind::Image
            | InputKind::StartingState
            | InputKind::GitCommit
            | InputKind::CodexExecutable
    )
}

/// Resolves what a `codex exec` command line would run with, as a lock.
pub fn resolve(
    program: &Path,
    args: &[OsString],
    process_cwd: &Path,
    codex_env: &CodexEnv,
    env: &[(OsString, OsString)],
    cache_dir: &Path,
) -> Result<LockFile, LockError> {
    let Plan::CodexExec(exec) = wrap::plan(program, args) else {
        return Err(LockError::NotCodexExec);
    };
    let resolved = config::resolve(&exec, codex_env, process_cwd);
    let repo_root = Repo::discover(&resolved.cwd).ok().flatten().map(|r| r.root);
    let namer = Namer {
        codex_home: &resolved.codex_home,
        home: codex_env.home.as_deref(),
        repo_root: repo_root.as_deref(),
    };
    let collected = inputs::collect(&exec, &resolved, codex_env, process_cwd, &namer);
    let mut locked = Vec::new();
    for file in collected.files.iter().filter(|f| locked_kind(f.kind)) {
        let digest = digest_file(&file.path).map_err(|source| LockError::Io {
            path: file.path.display().to_string(),
            source,
        })?;
        locked.push(LockedInput {
            name: file.name.clone(),
            kind: file.kind.as_str().to_string(),
            sha256: digest.sha256.to_string(),
        });
    }
    locked.sort();
    let version = wrap::codex_binary(program, env, cache_dir).and_then(|b| b.version);
    Ok(LockFile {
        version: 1,
        codex_version: version,
        model: resolved.settings.model.clone(),
        sandbox: Some(resolved.settings.sandbox.clone()),
        approval: Some(resolved.settings.approval_policy.clone()),
        inputs: locked,
    })
}

impl LockFile {
    /// The lock as TOML, with a header for reviewers.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# codex-attest.lock: what `codex exec` runs with here, pinned by `codex-attest lock`.\n\
             # `codex-attest wrap --locked` refuses to start Codex if any of it changes.\n\
             # Review changes to this file like code.\n{body}"
        )
    }

    pub fn parse(path: &Path, text: &str) -> Result<LockFile, LockError> {
        let lock: LockFile = toml::from_str(text).map_err(|err| LockError::Parse {
            path: path.display().to_string(),
            line: err
                .span()
                .map(|s| crate::policy::locate(text, &s).0)
                .unwrap_or(1),
            message: err.message().to_string(),
        })?;
        lock.check().map_err(|message| LockError::Parse {
            path: path.display().to_string(),
            line: 1,
            message,
        })?;
        Ok(lock)
    }

    /// What serde cannot say: a known version, digests that are digests, one entry per input.
    /// A lock with two entries for one input would pin neither.
    fn check(&self) -> Result<(), String> {
        if self.version != 1 {
            return Err(format!(
                "unsupported lock version {}; this codex-attest writes version 1 (run `codex-attest lock` to rewrite it)",
                self.version
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for input in &self.inputs {
            if !crate::digest::is_hex_digest(&input.sha256, 64) {
                return Err(format!(
                    "input {:?}: sha256 {:?} is not 64 lowercase hex digits",
                    input.name, input.sha256
                ));
            }
            if !seen.insert(input.name.as_str()) {
                return Err(format!(
                    "input {:?} is pinned twice; keep one entry (run `codex-attest lock` to rewrite the file)",
                    input.name
                ));
            }
        }
        Ok(())
    }

    pub fn load(path: &Path) -> Result<LockFile, LockError> {
        let text = std::fs::read_to_string(path).map_err(|source| LockError::Io {
            path: path.display().to_string(),
            source,
        })?;
        LockFile::parse(path, &text)
    }

    /// Differences between this lock and `now`, one line each.
    pub fn drift(&self, now: &LockFile) -> Vec<String> {
        let mut out = Vec::new();
        let mut field = |name: &str, a: &Option<String>, b: &Option<String>| {
            if a != b {
                out.push(format!(
                    "{name}: locked {}, now {}",
                    a.as_deref().unwrap_or("(none)"),
                    b.as_deref().unwrap_or("(none)")
                ));
            }
        };
        field("codex-version", &self.codex_version, &now.codex_version);
        field("model", &self.model, &now.model);
        field("sandbox", &self.sandbox, &now.sandbox);
        field("approval", &self.approval, &now.approval);
        out.extend(input_drift(
            &self.inputs,
            &now.inputs
                .iter()
                .map(|i| (i.name.clone(), i.sha256.clone()))
                .collect(),
        ));
        out
    }
}

/// Differences between locked inputs and the inputs a run used (name -> sha256).
pub fn input_drift(locked: &[LockedInput], used: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for input in locked {
        match used.get(&input.name) {
            Some(sha) if *sha == input.sha256 => {}
            Some(sha) => out.push(format!(
                "{} ({}): locked sha256:{}, now sha256:{sha}",
                input.name, input.kind, &input.sha256
            )),
            None => out.push(format!(
                "{} ({}): locked, but no longer read",
                input.name, input.kind
            )),
        }
    }
    for name in used.keys() {
        if !locked.iter().any(|i| &i.name == name) {
            out.push(format!("{name}: read now, but not in the lock"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_drift() {
        let lock = LockFile {
            version: 1,
            codex_version: Some("0.169.0".to_string()),
            model: Some("gpt-5.5".to_string()),
            sandbox: Some("workspace-write".to_string()),
            approval: Some("never".to_string()),
            inputs: vec![LockedInput {
                name: "AGENTS.md".to_string(),
                kind: "agents-md".to_string(),
                sha256: "a".repeat(64),
            }],
        };
        let text = lock.to_toml();
        let back = LockFile::parse(Path::new("x.lock"), &text).unwrap();
        assert_eq!(back, lock);
        assert!(lock.drift(&back).is_empty());
        let mut now = back.clone();
        now.model = Some("gpt-4o".to_string());
        now.inputs[0].sha256 = "b".repeat(64);
        now.inputs.push(LockedInput {
            name: "$CODEX_HOME/rules/x.rules".to_string(),
            kind: "rules".to_string(),
            sha256: "c".repeat(64),
        });
        let drift = lock.drift(&now);
        assert_eq!(drift.len(), 3, "{drift:?}");
        assert!(drift[0].starts_with("model: locked gpt-5.5, now gpt-4o"));
        let err = LockFile::parse(Path::new("x.lock"), "version = 1\nmodle = \"x\"\n").unwrap_err();
        assert!(err.to_string().starts_with("x.lock:2:"), "{err}");
    }

    /// Found by `cargo fuzz run lock`: two entries for one input parsed, then compared unequal
    /// to themselves. A lock must pin each input once, with a real digest.
    #[test]
    fn ambiguous_or_malformed_locks_are_refused() {
        let entry = |sha: &str| {
            format!("[[input]]\nname = \"AGENTS.md\"\nkind = \"agents-md\"\nsha256 = \"{sha}\"\n")
        };
        let twice = format!(
            "version = 1\n{}{}",
            entry(&"a".repeat(64)),
            entry(&"b".repeat(64))
        );
        let err = LockFile::parse(Path::new("x.lock"), &twice).unwrap_err();
        assert!(err.to_string().contains("pinned twice"), "{err}");
        let short = format!("version = 1\n{}", entry("fbfer"));
        let err = LockFile::parse(Path::new("x.lock"), &short).unwrap_err();
        assert!(err.to_string().contains("not 64 lowercase hex"), "{err}");
        let err = LockFile::parse(Path::new("x.lock"), "version = 2\n").unwrap_err();
        assert!(
            err.to_string().contains("unsupported lock version 2"),
            "{err}"
        );
    }
}
