//! Re-running a recorded run from its pinned inputs, in scratch space, and comparing the outcome
//! with what was attested.
//!
//! - The starting state is rebuilt in a scratch clone (`git clone --shared`) at the pinned commit,
//!   with the pinned uncommitted changes and untracked files written back; the user's checkout and
//!   `.git/worktrees` are not touched.
//! - A scratch `CODEX_HOME` (and `HOME`) holds the pinned global AGENTS.md, configuration layers,
//!   profile file, rules, skills and hooks. Project trust is re-keyed to the scratch root.
//! - `recorded` mode serves the model outputs of the run's rollout from a loopback endpoint
//!   (`model_server`), pointing Codex at it with `-c` overrides: a deterministic re-execution of the
//!   same tool calls with no model and no network. `live` mode keeps the pinned provider.
//! - Every path written comes from the record, is checked to be relative and free of `..`, and is
//!   written only after checking that no parent inside the scratch area is a symlink.
//!
//! Known sources of nondeterminism are reported, not hidden: parallel tool calls, inputs whose
//! stored copies had secrets redacted, arguments that could not be replayed as given, a Codex
//! version other than the pinned one, a Codex that exited otherwise than in the recorded run.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::changes::{self, FileState};
use crate::codex::{self, rollout};
use crate::digest::{FileDigests, Sha256Digest, digest_file};
use crate::git::{GitError, Repo};
use crate::model_server::{ModelServer, Turn};
use crate::predicate::{CaptureLevel, InputKind};
use crate::record::StoredInput;
use crate::runs::LoadedRun;
use crate::store::{Store, StoreError};

/// The provider id codex-attest adds for recorded replays.
const REPLAY_PROVIDER: &str = "codex-attest-replay";
const REPLAY_KEY_ENV: &str = "CODEX_ATTEST_REPLAY_KEY";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Recorded,
    Live,
}

pub struct ReplayOptions {
    pub mode: Mode,
    /// The Codex executable to run.
    pub codex: PathBuf,
    pub allow_version_drift: bool,
    /// Where to create the scratch directory.
    pub scratch_parent: PathBuf,
    /// Keep the scratch directory afterwards.
    pub keep: bool,
    /// The environment for Codex (live mode needs the provider's credentials from it).
    pub env: Vec<(OsString, OsString)>,
    /// The loopback port for the recorded-model endpoint (0 picks a free one).
    pub port: u16,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayReport {
    pub schema: &'static str,
    pub run: String,
    pub mode: Mode,
    pub pinned_codex_version: Option<String>,
    pub codex_version: Option<String>,
    pub codex_exit_code: Option<i32>,
    pub files: Vec<FileResult>,
    pub identical: bool,
    pub counts: BTreeMap<&'static str, usize>,
    pub nondeterminism: Vec<String>,
    pub warnings: Vec<String>,
    /// The scratch directory, when kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scratch: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileResult {
    pub path: String,
    pub status: FileStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attested: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed: Option<String>,
    /// A unified diff (attested → replayed) for text files that differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Identical,
    Differs,
    Missing,
    Extra,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("run {0} cannot be replayed: {1}")]
    NotReplayable(String, String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Git(#[from] GitError),
    #[error("the pinned {name} is missing from the store (blob {blob})")]
    MissingBlob { name: String, blob: Sha256Digest },
    #[error("the recorded transcript is unusable: {0}")]
    Transcript(String),
    #[error(
        "{codex} reports Codex CLI {found}, but the run was recorded with {pinned}; pass --allow-version-drift to replay anyway"
    )]
    VersionMismatch {
        codex: String,
        pinned: String,
        found: String,
    },
    #[error("{0}: could not run it to read its version")]
    CodexNotRunnable(String),
    #[error("{path}: refusing to write outside the scratch area ({reason})")]
    UnsafePath { path: String, reason: &'static str },
    #[error("could not start the loopback model endpoint: {0}")]
    Endpoint(std::io::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReplayError + '_ {
    move |source| ReplayError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Replays a stored run.
pub fn replay(
    repo: &Repo,
    store: &Store,
    run: &LoadedRun,
    opts: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    let not_replayable = |why: &str| ReplayError::NotReplayable(run.id.clone(), why.to_string());
    let internal = run
        .internal
        .as_ref()
        .ok_or_else(|| not_replayable("its statement is not a codex-run/v1 provenance"))?;
    if internal.capture != Some(CaptureLevel::CodexExec) {
        return Err(not_replayable(
            "it was not a `codex exec` run, so its inputs were not pinned",
        ));
    }
    let spec = run
        .record
        .replay
        .as_ref()
        .ok_or_else(|| not_replayable("its record has no replay information"))?;
    if run
        .external
        .as_ref()
        .and_then(|e| e.resume.clone())
        .is_some()
    {
        return Err(not_replayable(
            "it resumed an earlier thread; replay the run that started the thread",
        ));
    }
    let commit = run
        .record
        .summary
        .commit
        .clone()
        .ok_or_else(|| not_replayable("it ran in a repository with no commits"))?;
    let pinned_version = internal.codex.as_ref().and_then(|c| c.version.clone());

    // The Codex binary must be the pinned version.
    let version_out = std::process::Command::new(&opts.codex)
        .arg("--version")
        .env_clear()
        .envs(opts.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|_| ReplayError::CodexNotRunnable(opts.codex.display().to_string()))?;
    let found_version = codex::parse_version(&String::from_utf8_lossy(&version_out.stdout));
    let mut nondeterminism = Vec::new();
    let mut warnings = Vec::new();
    if found_version != pinned_version {
        let pinned = pinned_version
            .clone()
            .unwrap_or_else(|| "(unknown)".to_string());
        let found = found_version
            .clone()
            .unwrap_or_else(|| "(unknown)".to_string());
        if !opts.allow_version_drift {
            return Err(ReplayError::VersionMismatch {
                codex: opts.codex.display().to_string(),
                pinned,
                found,
            });
        }
        nondeterminism.push(format!(
            "Codex CLI {found} replays a run recorded with {pinned}"
        ));
    }

    // The model's recorded outputs.
    let turns = match opts.mode {
        Mode::Recorded => {
            let byproduct = run
                .record
                .byproducts
                .iter()
                .find(|b| b.name == "rollout.jsonl")
                .ok_or_else(|| not_replayable("Codex kept no rollout for it (--ephemeral?), so its model outputs are unknown"))?;
            let bytes = store.read_blob(&byproduct.blob).map_err(|err| match err {
                StoreError::MissingBlob(blob) => ReplayError::MissingBlob {
                    name: "rollout.jsonl".to_string(),
                    blob,
                },
                other => ReplayError::Store(other),
            })?;
            if byproduct.redacted {
                nondeterminism.push("secrets were redacted from the stored transcript; model outputs that quoted them differ".to_string());
            }
            let offset = spec.rollout_offset.unwrap_or(0) as usize;
            let turns = rollout::model_turns(bytes.get(offset..).unwrap_or(&[]));
            if turns.is_empty() {
                return Err(ReplayError::Transcript(
                    "it holds no model response".to_string(),
                ));
            }
            if turns
                .iter()
                .any(|t| t.items.is_empty() && t.usage.is_none())
            {
                return Err(ReplayError::Transcript(
                    "it holds an empty model response".to_string(),
                ));
            }
            let facts = rollout::facts(&bytes[offset.min(bytes.len())..]);
            if facts.parallel_responses > 0 {
                nondeterminism.push(format!(
                    "{} model response(s) asked for several tool calls at once; Codex runs those in parallel, so their order of effects can differ",
                    facts.parallel_responses
                ));
            }
            Some(turns)
        }
        Mode::Live => {
            nondeterminism.push(
                "live mode asks the model again: its outputs can differ from the recorded ones"
                    .to_string(),
            );
            None
        }
    };

    // Scratch space: a private directory removed at the end unless kept.
    std::fs::create_dir_all(&opts.scratch_parent).map_err(io(&opts.scratch_parent))?;
    let scratch = tempfile::Builder::new()
        .prefix("codex-attest-replay-")
        .tempdir_in(&opts.scratch_parent)
        .map_err(io(&opts.scratch_parent))?;
    let root = scratch.path().join("repo");
    let codex_home = scratch.path().join("codex_home");
    let home = scratch.path().join("home");
    for dir in [&codex_home, &home, &scratch.path().join("out")] {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let result = (|| -> Result<ReplayReport, ReplayError> {
        clone_at(repo, &root, &commit)?;
        let root = root.canonicalize().map_err(io(&root))?;
        for input in &run.record.inputs {
            restore_input(
                store,
                input,
                &root,
                &codex_home,
                &home,
                &mut warnings,
                &mut nondeterminism,
            )?;
        }
        if internal.settings.as_ref().and_then(|s| s.project_trusted) == Some(true) {
            trust(&codex_home, &root)?;
        }
        let (args, dropped) = replay_args(run, spec, store)?;
        warnings.extend(dropped);
        let stdin = match run.record.byproducts.iter().find(|b| b.name == "stdin") {
            Some(b) => Some(store.read_blob(&b.blob)?),
            None => None,
        };

        let before = changes::snapshot(
            &Repo {
                root: root.clone(),
                common_dir: root.join(".git"),
            },
            &|p| digest_file(p),
        )?;
        let server = match &turns {
            Some(turns) => Some(
                ModelServer::start(
                    turns
                        .iter()
                        .map(|t| Turn::Items {
                            items: t.items.clone(),
                            usage: t.usage.clone().map(responses_usage),
                        })
                        .collect(),
                    opts.port,
                )
                .map_err(ReplayError::Endpoint)?,
            ),
            None => None,
        };
        let mut command = std::process::Command::new(&opts.codex);
        command.arg("exec");
        if let Some(server) = &server {
            for c in [
                format!("model_provider=\"{REPLAY_PROVIDER}\""),
                format!(
                    "model_providers.{REPLAY_PROVIDER}={{name=\"{REPLAY_PROVIDER}\", base_url=\"{}\", wire_api=\"responses\", env_key=\"{REPLAY_KEY_ENV}\", request_max_retries=0, stream_max_retries=0}}",
                    server.base_url()
                ),
                "features.plugins=false".to_string(),
                "analytics.enabled=false".to_string(),
            ] {
                command.arg("-c").arg(c);
            }
        }
        command.args(&args);
        let cwd = root.join(&spec.process_cwd);
        let cwd = if cwd.starts_with(&root) && cwd.is_dir() {
            cwd
        } else {
            root.clone()
        };
        command.current_dir(&cwd).env_clear();
        for (k, v) in &opts.env {
            if k != "HOME" && k != "CODEX_HOME" {
                command.env(k, v);
            }
        }
        command
            .env("HOME", &home)
            .env("CODEX_HOME", &codex_home)
            .env(REPLAY_KEY_ENV, "replay");
        if server.is_some() {
            // Recorded mode needs no network: anything but loopback fails fast.
            for var in crate::model_server::PROXY_VARS {
                command.env(var, crate::model_server::CLOSED_PROXY);
            }
            command
                .env("NO_PROXY", "127.0.0.1,localhost")
                .env("no_proxy", "127.0.0.1,localhost");
        }
        let out_path = scratch.path().join("out");
        command.stdout(std::fs::File::create(out_path.join("stdout")).map_err(io(&out_path))?);
        command.stderr(std::fs::File::create(out_path.join("stderr")).map_err(io(&out_path))?);
        command.stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
        let mut child = command.spawn().map_err(|source| ReplayError::Io {
            path: opts.codex.clone(),
            source,
        })?;
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let _ = pipe.write_all(&bytes);
        }
        let status = child.wait().map_err(|source| ReplayError::Io {
            path: opts.codex.clone(),
            source,
        })?;
        if let Some(server) = server {
            server.stop();
        }
        let recorded_ending = internal.outcome.as_ref().map(|o| (o.exit_code, o.signal));
        if let Some(note) = recorded_ending.and_then(|recorded| {
            use std::os::unix::process::ExitStatusExt;
            exit_note(recorded, (status.code(), status.signal()))
        }) {
            nondeterminism.push(note);
        }

        let replay_repo = Repo {
            root: root.clone(),
            common_dir: root.join(".git"),
        };
        let after = changes::snapshot(&replay_repo, &|p| digest_file(p))?;
        let replayed = changes::compare(&replay_repo, &before, &after)?.changes;
        let files = compare(run, &replayed, store, &root);
        let mut counts = BTreeMap::new();
        for f in &files {
            let key = match f.status {
                FileStatus::Identical => "identical",
                FileStatus::Differs => "differs",
                FileStatus::Missing => "missing",
                FileStatus::Extra => "extra",
            };
            *counts.entry(key).or_insert(0) += 1;
        }
        let identical = files.iter().all(|f| f.status == FileStatus::Identical);
        Ok(ReplayReport {
            schema: "codex-attest/replay/v1",
            run: run.id.clone(),
            mode: opts.mode,
            pinned_codex_version: pinned_version.clone(),
            codex_version: found_version.clone(),
            codex_exit_code: status.code(),
            files,
            identical,
            counts,
            nondeterminism: nondeterminism.clone(),
            warnings: warnings.clone(),
            scratch: None,
        })
    })();
    match result {
        Ok(mut report) => {
            if opts.keep {
                report.scratch = Some(scratch.keep());
            }
            Ok(report)
        }
        // Scratch state is removed when `scratch` drops.
        Err(err) => Err(err),
    }
}

/// A note when the replayed Codex ended otherwise than the recorded run: another exit status, or
/// a signal. Each side is `(exit code, signal)`; nothing when the record does not say.
fn exit_note(
    recorded: (Option<i32>, Option<i32>),
    replayed: (Option<i32>, Option<i32>),
) -> Option<String> {
    let describe = |(code, signal): (Option<i32>, Option<i32>)| match (code, signal) {
        (_, Some(signal)) => Some(format!("was killed by signal {signal}")),
        (Some(code), None) => Some(format!("exited with status {code}")),
        (None, None) => None,
    };
    let was = describe(recorded)?;
    let now = describe(replayed).unwrap_or_else(|| "ended with an unknown status".to_string());
    (was != now).then(|| format!("Codex {now} on replay, but {was} in the recorded run"))
}

/// Converts a rollout usage record to the Responses API's usage shape.
fn responses_usage(u: serde_json::Value) -> serde_json::Value {
    let get = |k: &str| u.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    serde_json::json!({
        "input_tokens": get("input_tokens"),
        "input_tokens_details": {"cached_tokens": get("cached_input_tokens")},
        "output_tokens": get("output_tokens"),
        "output_tokens_details": {"reasoning_tokens": get("reasoning_output_tokens")},
        "total_tokens": get("input_tokens") + get("output_tokens"),
    })
}

/// A private, complete clone at `commit` (objects shared read-only with the user's repository).
fn clone_at(repo: &Repo, dest: &Path, commit: &crate::digest::GitOid) -> Result<(), ReplayError> {
    let src = repo.root.display().to_string();
    let dst = dest.display().to_string();
    crate::git::run(
        &repo.root,
        &["clone", "--quiet", "--shared", "--no-checkout", &src, &dst],
    )?;
    crate::git::run(
        dest,
        &[
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            "--detach",
            commit.as_str(),
        ],
    )?;
    Ok(())
}

/// `paths::safe_join`, as a replay error.
pub fn safe_join(root: &Path, rel: &str) -> Result<PathBuf, ReplayError> {
    crate::paths::safe_join(root, rel).map_err(|err| ReplayError::UnsafePath {
        path: err.path,
        reason: err.reason,
    })
}

fn write_file(
    path: &Path,
    bytes: &[u8],
    executable: bool,
    symlink: bool,
) -> Result<(), ReplayError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    if path.symlink_metadata().is_ok() {
        std::fs::remove_file(path).map_err(io(path))?;
    }
    if symlink {
        use std::os::unix::ffi::OsStrExt;
        return std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(bytes), path)
            .map_err(io(path));
    }
    std::fs::write(path, bytes).map_err(io(path))?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(io(path))?;
    }
    Ok(())
}

/// Writes one pinned input where Codex will find it in the scratch world.
fn restore_input(
    store: &Store,
    input: &StoredInput,
    root: &Path,
    codex_home: &Path,
    home: &Path,
    warnings: &mut Vec<String>,
    nondeterminism: &mut Vec<String>,
) -> Result<(), ReplayError> {
    let dest = match input.kind {
        InputKind::Prompt | InputKind::CodexExecutable | InputKind::GitCommit => return Ok(()),
        _ if input.name.starts_with("$CODEX_HOME/") => {
            safe_join(codex_home, &input.name["$CODEX_HOME/".len()..])?
        }
        _ if input.name.starts_with("~/") => safe_join(home, &input.name[2..])?,
        _ if input.name.starts_with('/') => {
            warnings.push(format!("{} is outside the repository and Codex's home; replay uses this machine's copy, if any", input.name));
            return Ok(());
        }
        _ => safe_join(root, &input.name)?,
    };
    if input.absent {
        if dest.symlink_metadata().is_ok() {
            std::fs::remove_file(&dest).map_err(io(&dest))?;
        }
        return Ok(());
    }
    // Already there with the pinned content (a committed project file): nothing to do.
    if !input.symlink
        && digest_file(&dest)
            .ok()
            .is_some_and(|d| d.sha256 == input.sha256)
    {
        return Ok(());
    }
    let blob = input.blob.ok_or_else(|| ReplayError::MissingBlob {
        name: input.name.clone(),
        blob: input.sha256,
    })?;
    let bytes = store.read_blob(&blob).map_err(|err| match err {
        StoreError::MissingBlob(blob) => ReplayError::MissingBlob {
            name: input.name.clone(),
            blob,
        },
        other => ReplayError::Store(other),
    })?;
    if input.redacted {
        nondeterminism.push(format!(
            "{} had secrets redacted from its stored copy; the replay uses the redacted text",
            input.name
        ));
    }
    write_file(&dest, &bytes, input.executable, input.symlink)
}

/// Marks the scratch root trusted in the scratch user config (trust is keyed by absolute path).
fn trust(codex_home: &Path, root: &Path) -> Result<(), ReplayError> {
    let path = codex_home.join("config.toml");
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(&format!(
        "\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
        root.display()
    ));
    std::fs::write(&path, text).map_err(io(&path))
}

/// The recorded arguments, with the prompt restored and what cannot be replayed dropped.
fn replay_args(
    run: &LoadedRun,
    spec: &crate::record::ReplaySpec,
    store: &Store,
) -> Result<(Vec<String>, Vec<String>), ReplayError> {
    let mut args = spec.args.clone();
    let mut dropped = Vec::new();
    if let Some(i) = spec.prompt_index {
        let prompt = run
            .record
            .inputs
            .iter()
            .find(|input| input.kind == InputKind::Prompt)
            .and_then(|input| input.blob)
            .ok_or_else(|| {
                ReplayError::NotReplayable(
                    run.id.clone(),
                    "its prompt is not in the store".to_string(),
                )
            })?;
        let bytes = store.read_blob(&prompt)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        // A prompt composed with stdin is replayed as argument + the same stdin.
        let argument = match run
            .external
            .as_ref()
            .and_then(|e| e.prompt.as_ref())
            .map(|p| p.source.as_str())
        {
            Some("argument+stdin") => text
                .split("\n\n<stdin>\n")
                .next()
                .unwrap_or(&text)
                .to_string(),
            _ => text,
        };
        if let Some(word) = args.get_mut(i) {
            *word = argument;
        }
    }
    // Drop `exec` (we pass it), redacted `-c` values, and options that would write outside the
    // scratch area or need local state the replay does not have.
    let mut out = Vec::new();
    let mut it = args.into_iter().peekable();
    let mut seen_exec = false;
    while let Some(word) = it.next() {
        // Root options may precede `exec`; `exec` accepts them too, so only the keyword goes.
        if !seen_exec && (word == "exec" || word == "e") {
            seen_exec = true;
            continue;
        }
        let takes_value = |flag: &str| {
            matches!(
                flag,
                "-c" | "--config" | "-o" | "--output-last-message" | "--add-dir"
            )
        };
        if takes_value(&word) {
            let value = it.next().unwrap_or_default();
            match word.as_str() {
                "-c" | "--config" if value.contains(crate::secrets::REDACTED) => {
                    dropped.push(format!("-c {value}: its secret value was not recorded"))
                }
                "-c" | "--config" => {
                    out.push(word);
                    out.push(value);
                }
                _ => dropped.push(format!(
                    "{word} {value}: it names a path outside the scratch area"
                )),
            }
            continue;
        }
        if word.contains(crate::secrets::REDACTED)
            && (word.starts_with("-c") || word.starts_with("--config="))
        {
            dropped.push(format!("{word}: its secret value was not recorded"));
            continue;
        }
        if word.starts_with("--output-last-message=")
            || word.starts_with("--add-dir=")
            || (word.starts_with("-o") && word.len() > 2 && !word.starts_with("--"))
        {
            dropped.push(format!("{word}: it names a path outside the scratch area"));
            continue;
        }
        out.push(word);
    }
    Ok((out, dropped))
}

/// Compares the replay's changes with the attested ones.
fn compare(
    run: &LoadedRun,
    replayed: &crate::predicate::Changes,
    store: &Store,
    root: &Path,
) -> Vec<FileResult> {
    let Some(attested) = run
        .internal
        .as_ref()
        .and_then(|i| i.outcome.as_ref())
        .map(|o| &o.changes)
    else {
        return Vec::new();
    };
    // path -> Some(sha256) when the file exists after the run, None when deleted.
    let outcome_map = |c: &crate::predicate::Changes| {
        let mut m: BTreeMap<String, Option<Sha256Digest>> = BTreeMap::new();
        for f in c.added.iter().chain(&c.modified) {
            m.insert(f.path.clone(), Some(f.sha256));
        }
        for r in &c.renamed {
            m.insert(r.to.clone(), Some(r.sha256));
            m.insert(r.from.clone(), None);
        }
        for f in &c.deleted {
            m.insert(f.path.clone(), None);
        }
        m
    };
    let want = outcome_map(attested);
    let got = outcome_map(replayed);
    let mut out = Vec::new();
    for (path, expected) in &want {
        let (status, replayed_digest) = match got.get(path) {
            Some(actual) if actual == expected => (FileStatus::Identical, *actual),
            Some(actual) => (FileStatus::Differs, *actual),
            None => (FileStatus::Missing, None),
        };
        let diff = if status == FileStatus::Differs {
            text_diff(run, store, path, root)
        } else {
            None
        };
        out.push(FileResult {
            path: path.clone(),
            status,
            attested: Some(
                expected
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "deleted".to_string()),
            ),
            replayed: replayed_digest
                .map(|d| d.to_string())
                .or_else(|| (status == FileStatus::Differs).then(|| "deleted".to_string())),
            diff,
        });
    }
    for (path, actual) in &got {
        if !want.contains_key(path) {
            out.push(FileResult {
                path: path.clone(),
                status: FileStatus::Extra,
                attested: None,
                replayed: Some(
                    actual
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "deleted".to_string()),
                ),
                diff: None,
            });
        }
    }
    out
}

/// A unified diff between the attested content (from the store) and the replayed file.
fn text_diff(run: &LoadedRun, store: &Store, path: &str, root: &Path) -> Option<String> {
    let blob = run.record.outputs.iter().find(|o| o.path == path)?.sha256;
    let old = store.read_blob(&blob).ok()?;
    let new = std::fs::read(safe_join(root, path).ok()?).unwrap_or_default();
    crate::diff::unified(
        &String::from_utf8(old).ok()?,
        &String::from_utf8(new).ok()?,
        &format!("a/{path}"),
        &format!("b/{path}"),
    )
}

/// Digests of a file, for callers comparing replayed content.
pub fn file_state(path: &Path) -> Option<FileDigests> {
    match crate::changes::read_state(path, &|p| digest_file(p)) {
        FileState::Present { digests, .. } => Some(digests),
        FileState::Missing => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_note_names_a_different_ending_only() {
        assert_eq!(exit_note((Some(0), None), (Some(0), None)), None);
        assert_eq!(
            exit_note((Some(0), None), (Some(1), None)).as_deref(),
            Some(
                "Codex exited with status 1 on replay, but exited with status 0 in the recorded run"
            )
        );
        assert_eq!(
            exit_note((None, Some(15)), (Some(0), None)).as_deref(),
            Some(
                "Codex exited with status 0 on replay, but was killed by signal 15 in the recorded run"
            )
        );
        assert_eq!(
            exit_note((Some(2), None), (None, Some(9))).as_deref(),
            Some(
                "Codex was killed by signal 9 on replay, but exited with status 2 in the recorded run"
            )
        );
        // A record that does not say how Codex ended: nothing to compare.
        assert_eq!(exit_note((None, None), (Some(1), None)), None);
    }
}
