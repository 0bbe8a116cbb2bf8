//! The run record (`record.json` in the store) and the statement built from a run.
//!
//! The statement is the attested truth; the record is store metadata around it: which blob holds
//! each pinned input, the starting state, the captured logs, and what `replay` needs to rebuild
//! the run. Everything the record points at is content-addressed, and blobs are verified on read,
//! so a tampered record can make a command fail, never make it trust other bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::{DigestSet, GitOid, Sha256Digest};
use crate::intoto::{Predicate, ResourceDescriptor, STATEMENT_TYPE_V1, Statement};
use crate::predicate::{
    BUILDER_ID, CODEX_RUN_BUILD_TYPE, Changes, ExternalParameters, InputKind, InternalParameters,
    KIND_ANNOTATION, RunStatus, SCOPE_ANNOTATION,
};
use crate::provenance::{
    BuildDefinition, BuildMetadata, Builder, Provenance, RunDetails, SLSA_PROVENANCE_V1,
};
use crate::timestamp::Timestamp;

pub const RECORD_SCHEMA: &str = "codex-attest/run/v1";

/// Above this many changed files, one manifest subject replaces per-file subjects (GitHub's
/// attestation service accepts at most 1024 subjects).
pub const MANIFEST_THRESHOLD: usize = 1000;

/// Name of the manifest subject.
pub const MANIFEST_SUBJECT: &str = "codex-attest-manifest";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub schema: String,
    pub id: String,
    pub summary: RunSummary,
    /// Every pinned input and where its content is.
    pub inputs: Vec<StoredInput>,
    /// Content of each changed file after the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<StoredOutput>,
    /// Captured logs: the event stream, the rollout, standard input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<StoredByproduct>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplaySpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub started_on: Timestamp,
    pub finished_on: Timestamp,
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codex_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    pub changed_files: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<GitOid>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredInput {
    /// Portable name (`AGENTS.md`, `$CODEX_HOME/config.toml`, `prompt`, ...).
    pub name: String,
    pub kind: InputKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The digest attested for this input (of the real content).
    pub sha256: Sha256Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_blob: Option<GitOid>,
    pub size: u64,
    /// The blob holding the content in the store; differs from `sha256` when secrets were
    /// redacted from the stored copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<Sha256Digest>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
    /// For starting-state entries: how git saw the path (`.M`, `??`, `D.`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_status: Option<String>,
    /// For starting-state entries: the path did not exist at start (deleted in the work tree).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub absent: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub executable: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub symlink: bool,
    /// Extra facts shown in `show` (e.g. the prompt's source, the Codex version).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredOutput {
    pub path: String,
    pub sha256: Sha256Digest,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredByproduct {
    /// `codex-events.jsonl`, `rollout.jsonl`, `stdin`.
    pub name: String,
    pub blob: Sha256Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

/// What `replay` needs beyond the inputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplaySpec {
    /// The command's arguments after the program (secrets redacted; the prompt argument is kept
    /// as its placeholder and restored from the prompt blob).
    pub args: Vec<String>,
    /// Index in `args` of the prompt argument, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_index: Option<usize>,
    /// The directory `wrap` ran in, relative to the repository root.
    pub process_cwd: String,
    /// `$CODEX_HOME` at record time (absolute, local).
    pub codex_home: String,
    /// The rollout's length before the run, for resumed threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_offset: Option<u64>,
}

/// Everything needed to build a statement.
pub struct StatementParts<'a> {
    pub run_id: &'a str,
    pub external: &'a ExternalParameters,
    pub internal: &'a InternalParameters,
    pub changes: &'a Changes,
    pub head: Option<&'a GitOid>,
    pub remote: Option<&'a str>,
    pub branch: Option<&'a str>,
    pub inputs: &'a [StoredInput],
    pub byproducts: &'a [(String, Sha256Digest, &'a str)],
    pub started_on: Timestamp,
    pub finished_on: Timestamp,
    pub versions: BTreeMap<String, String>,
}

/// Builds the in-toto Statement v1 with a SLSA Provenance v1 predicate for a run.
pub fn build_statement(parts: &StatementParts) -> Statement {
    let subject = subjects(parts.changes, parts.head);
    let mut deps = Vec::new();
    if let Some(head) = parts.head {
        let mut digest = DigestSet::new();
        digest.insert("gitCommit".to_string(), head.to_string());
        let uri = parts.remote.map(|remote| match parts.branch {
            Some(branch) => format!("git+{remote}@refs/heads/{branch}"),
            None => format!("git+{remote}"),
        });
        deps.push(ResourceDescriptor {
            name: Some("git-commit".to_string()),
            uri,
            digest,
            annotations: annotations(InputKind::GitCommit, None),
            ..Default::default()
        });
    }
    for input in parts.inputs {
        let mut digest = DigestSet::new();
        digest.insert("sha256".to_string(), input.sha256.to_string());
        if let Some(blob) = &input.git_blob {
            digest.insert("gitBlob".to_string(), blob.to_string());
        }
        let mut notes = annotations(input.kind, input.scope.as_deref());
        if input.absent {
            notes.insert(
                "codexattest.absent".to_string(),
                serde_json::Value::Bool(true),
            );
        }
        for (k, v) in &input.annotations {
            notes.insert(
                format!("codexattest.{k}"),
                serde_json::Value::String(v.clone()),
            );
        }
        deps.push(ResourceDescriptor {
            name: Some(input.name.clone()),
            digest,
            annotations: notes,
            ..Default::default()
        });
    }
    let byproducts = parts
        .byproducts
        .iter()
        .map(|(name, digest, media_type)| {
            let mut set = DigestSet::new();
            set.insert("sha256".to_string(), digest.to_string());
            ResourceDescriptor {
                name: Some(name.clone()),
                digest: set,
                media_type: Some(media_type.to_string()),
                ..Default::default()
            }
        })
        .collect();
    let provenance = Provenance {
        build_definition: BuildDefinition {
            build_type: CODEX_RUN_BUILD_TYPE.to_string(),
            external_parameters: parts.external,
            internal_parameters: Some(parts.internal),
            resolved_dependencies: deps,
        },
        run_details: RunDetails {
            builder: Builder {
                id: BUILDER_ID.to_string(),
                builder_dependencies: Vec::new(),
                version: parts.versions.clone(),
            },
            metadata: Some(BuildMetadata {
                invocation_id: Some(parts.run_id.to_string()),
                started_on: Some(parts.started_on),
                finished_on: Some(parts.finished_on),
            }),
            byproducts,
        },
    };
    Statement {
        statement_type: STATEMENT_TYPE_V1.to_string(),
        subject,
        predicate_type: SLSA_PROVENANCE_V1.to_string(),
        // Serializing our own plain structs (maps keyed by strings) cannot fail.
        predicate: Predicate::from_serialize(&provenance).unwrap_or_default(),
    }
}

fn annotations(kind: InputKind, scope: Option<&str>) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    out.insert(
        KIND_ANNOTATION.to_string(),
        serde_json::Value::String(kind.as_str().to_string()),
    );
    if let Some(scope) = scope {
        out.insert(
            SCOPE_ANNOTATION.to_string(),
            serde_json::Value::String(scope.to_string()),
        );
    }
    out
}

/// The statement's subjects: one per added, modified or renamed-to file; above
/// `MANIFEST_THRESHOLD`, one manifest subject; with no changes, the starting commit.
pub fn subjects(changes: &Changes, head: Option<&GitOid>) -> Vec<ResourceDescriptor> {
    let files = changes.subjects();
    if files.len() > MANIFEST_THRESHOLD {
        let mut digest = DigestSet::new();
        digest.insert("sha256".to_string(), manifest_digest(changes).to_string());
        return vec![ResourceDescriptor {
            name: Some(MANIFEST_SUBJECT.to_string()),
            digest,
            ..Default::default()
        }];
    }
    if files.is_empty() {
        let mut digest = DigestSet::new();
        match head {
            Some(head) => digest.insert("gitCommit".to_string(), head.to_string()),
            None => digest.insert("sha256".to_string(), crate::digest::sha256(b"").to_string()),
        };
        return vec![ResourceDescriptor {
            name: Some("git-commit".to_string()),
            digest,
            annotations: BTreeMap::from([(
                "codexattest.noChanges".to_string(),
                serde_json::Value::Bool(true),
            )]),
            ..Default::default()
        }];
    }
    files
        .into_iter()
        .map(|(path, sha256, git_blob)| {
            let mut digest = DigestSet::new();
            digest.insert("sha256".to_string(), sha256.to_string());
            digest.insert("gitBlob".to_string(), git_blob.to_string());
            ResourceDescriptor {
                name: Some(path.to_string()),
                digest,
                ..Default::default()
            }
        })
        .collect()
}

/// The manifest digest: SHA-256 of `sha256sum`-style lines (`<sha256>  <path>\n`), sorted by
/// path, over every file that exists after the run. `sha256sum` on a checkout reproduces it.
pub fn manifest_digest(changes: &Changes) -> Sha256Digest {
    let text: String = changes
        .subjects()
        .into_iter()
        .map(|(path, sha256, _)| format!("{sha256}  {path}\n"))
        .collect();
    crate::digest::sha256(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::digest_bytes;
    use crate::predicate::ChangedFile;

    fn file(path: &str, content: &[u8]) -> ChangedFile {
        let d = digest_bytes(content);
        ChangedFile {
            path: path.to_string(),
            sha256: d.sha256,
            git_blob: d.git_blob,
            before: None,
        }
    }

    #[test]
    fn subjects_per_file_manifest_or_commit() {
        let head: GitOid = "0123456789abcdef0123456789abcdef01234567".parse().unwrap();
        let empty = Changes::default();
        let s = subjects(&empty, Some(&head));
        assert_eq!(s[0].digest["gitCommit"], head.to_string());

        let mut changes = Changes::default();
        changes.added.push(file("b.txt", b"b"));
        changes.modified.push(file("a.txt", b"a"));
        let s = subjects(&changes, Some(&head));
        let names: Vec<_> = s.iter().map(|r| r.name.clone().unwrap()).collect();
        assert_eq!(names, ["a.txt", "b.txt"]);
        assert_eq!(s[0].digest.len(), 2);

        let mut many = Changes::default();
        for i in 0..=MANIFEST_THRESHOLD {
            many.added
                .push(file(&format!("f{i:05}"), i.to_string().as_bytes()));
        }
        let s = subjects(&many, Some(&head));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name.as_deref(), Some(MANIFEST_SUBJECT));
        // The manifest is what sha256sum prints for the files, sorted by path.
        let expected: String = many
            .added
            .iter()
            .map(|f| format!("{}  {}\n", f.sha256, f.path))
            .collect();
        assert_eq!(
            manifest_digest(&many),
            crate::digest::sha256(expected.as_bytes())
        );
    }
}
