//! Our SLSA build type for a wrapped Codex run: `https://codex-attest.dev/buildtypes/codex-run/v1`.
//!
//! - `ExternalParameters`: what the caller controlled (the command line with secrets and the
//!   prompt text redacted, the prompt's digest, the requested model, sandbox, profile, overrides,
//!   role). Strict: unknown fields are rejected on parse, as SLSA asks verifiers to do.
//! - `InternalParameters`: what codex-attest resolved and observed (the Codex CLI and its
//!   version, effective settings, the AGENTS.md chain, git state, the outcome with every changed
//!   file, disagreements with Codex's own record, warnings). Lenient on parse.
//! - Inputs with digests are `resolvedDependencies`, annotated with `codexattest.kind`.
//!
//! The JSON Schemas in `schemas/codex-run/v1/` describe both parameter objects; any change here
//! that is not purely additive to `InternalParameters` bumps the version in the URI.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::{GitOid, Sha256Digest};

pub const CODEX_RUN_BUILD_TYPE: &str = "https://codex-attest.dev/buildtypes/codex-run/v1";
pub const BUILDER_ID: &str = "https://codex-attest.dev/builder/wrap/v1";

/// Annotation key naming what kind of input a resolved dependency is.
pub const KIND_ANNOTATION: &str = "codexattest.kind";
/// Annotation key naming the configuration layer or scope an input came from.
pub const SCOPE_ANNOTATION: &str = "codexattest.scope";

/// Kinds of recorded inputs (values of the `codexattest.kind` annotation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    GitCommit,
    Prompt,
    AgentsMd,
    Config,
    Rules,
    Skill,
    Hooks,
    OutputSchema,
    Image,
    CodexExecutable,
    /// An uncommitted change present before the run (a modified or untracked file).
    StartingState,
}

/// How much `wrap` could capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaptureLevel {
    /// `codex exec` (or `codex exec resume`): every input Codex reads was resolved.
    CodexExec,
    /// Any other command: git state, changes, exit status and timing only.
    Generic,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalParameters {
    /// The wrapped command line. Secret values and the prompt text are replaced by placeholders.
    pub argv: Vec<String>,
    /// Working directory of the run relative to the repository root (`.` for the root).
    pub working_directory: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<PromptParameter>,
    /// `-m/--model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `-s/--sandbox`, or `danger-full-access` for `--dangerously-bypass-approvals-and-sandbox`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// `-p/--profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// `-c key=value`, in order, secret-looking values redacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_overrides: Vec<String>,
    /// `--enable FEATURE` and `--disable FEATURE`, as `name=true|false`, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_overrides: Vec<String>,
    /// `--add-dir`, as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_dirs: Vec<String>,
    /// `-i/--image`, as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// `--output-schema`, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<String>,
    /// Boolean flags that change behaviour (`--ignore-user-config`, `--ignore-rules`,
    /// `--skip-git-repo-check`, `--ephemeral`, `--json`, ...), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// `codex exec resume`: the thread resumed (`--last` when resolved by Codex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptParameter {
    /// SHA-256 of the prompt exactly as Codex composed it.
    pub sha256: Sha256Digest,
    /// `argument`, `stdin`, or `argument+stdin`.
    pub source: String,
    pub size: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InternalParameters {
    pub capture: Option<CaptureLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codex: Option<CodexBinary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<EffectiveSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents_md: Option<AgentsMdChain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Where Codex's own record of the run disagrees with what codex-attest resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disagreements: Vec<Disagreement>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What could not be recorded for this command, in plain words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_recorded: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodexBinary {
    /// Resolved path of the executable that runs Codex (the native binary when the command was
    /// the npm launcher).
    pub path: String,
    pub sha256: Sha256Digest,
    /// Version reported by `--version` (`0.169.0`), if it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The npm launcher script (`bin/codex.js`) that starts the native binary, when used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launcher: Option<CodexLauncher>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodexLauncher {
    pub path: String,
    pub sha256: Sha256Digest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<ModelProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Whether the project's `.codex/` configuration layers were trusted, and so applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_trusted: Option<bool>,
    /// Feature flags set by configuration or the command line.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub features: BTreeMap<String, bool>,
    /// Names of configured MCP servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_servers: Vec<String>,
    /// Whether secrets in the environment reach tool commands (`shell_environment_policy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell_environment_inherit: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelProvider {
    pub id: String,
    /// Base URL with any credentials removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire_api: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentsMdChain {
    /// The files Codex concatenates, in load order: the global file, then project files from the
    /// project root down to the working directory.
    pub files: Vec<AgentsMdFile>,
    /// `project_doc_max_bytes`.
    pub max_bytes: u64,
    /// SHA-256 of the combined text Codex sends, as codex-attest computes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combined_sha256: Option<Sha256Digest>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentsMdFile {
    pub path: String,
    /// `global` or `project`.
    pub scope: String,
    pub sha256: Sha256Digest,
    pub size: u64,
    /// Bytes of this file that fit in the project budget (equal to `size` unless truncated).
    pub used_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitState {
    /// HEAD at the start; absent in a repository with no commits yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<GitOid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The `origin` remote (or the first remote), credentials removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// Whether the working tree had uncommitted changes or untracked files at start.
    pub dirty: bool,
    /// Paths with uncommitted changes at start (content pinned as `starting-state` inputs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncommitted: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// `succeeded`, `failed`, `interrupted` or `killed`.
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_usage: Option<TokenUsage>,
    pub changes: Changes,
    /// Set when files changed that the agent's own record does not account for while other
    /// processes may have been writing to the tree.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub possibly_concurrent: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Succeeded,
    Failed,
    Interrupted,
    Killed,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: u64,
    #[serde(default)]
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub reasoning_output_tokens: u64,
}

/// Every file the run changed. Added and modified files are also the statement's subjects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<ChangedFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modified: Vec<ChangedFile>,
    /// Deleted files with their content before the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<ChangedFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renamed: Vec<RenamedFile>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangedFile {
    pub path: String,
    pub sha256: Sha256Digest,
    pub git_blob: GitOid,
    /// For modified files: the content before the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<FileVersion>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileVersion {
    pub sha256: Sha256Digest,
    pub git_blob: GitOid,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenamedFile {
    pub from: String,
    pub to: String,
    /// Content before the run, at `from`.
    pub before: FileVersion,
    /// Content after the run, at `to`.
    pub sha256: Sha256Digest,
    pub git_blob: GitOid,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Disagreement {
    pub field: String,
    /// What codex-attest resolved before the run.
    pub resolved: String,
    /// What Codex recorded about the run.
    pub recorded: String,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.modified.is_empty()
            && self.deleted.is_empty()
            && self.renamed.is_empty()
    }

    pub fn count(&self) -> usize {
        self.added.len() + self.modified.len() + self.deleted.len() + self.renamed.len()
    }
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Killed => "killed",
        }
    }
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::GitCommit => "git-commit",
            InputKind::Prompt => "prompt",
            InputKind::AgentsMd => "agents-md",
            InputKind::Config => "config",
            InputKind::Rules => "rules",
            InputKind::Skill => "skill",
            InputKind::Hooks => "hooks",
            InputKind::OutputSchema => "output-schema",
            InputKind::Image => "image",
            InputKind::CodexExecutable => "codex-executable",
            InputKind::StartingState => "starting-state",
        }
    }
}
