//! Recording a wrapped run, in three steps the CLI calls in order:
//!
//! 1. `prepare`: find the repository and the store, take the starting snapshot (pinning every
//!    uncommitted change), and, for `codex exec`, resolve and pin every input Codex will read.
//!    Any failure here means the command is not run.
//! 2. `execute`: run the command transparently (see `supervise`), capturing the `--json` event
//!    stream into the store with secrets scrubbed.
//! 3. `record`: take the ending snapshot, compute the changes, read Codex's rollout and cross-check
//!    it, build and (optionally) sign the statement, and publish the run in the store. A failure
//!    here is reported, but the command's own exit status is still what `wrap` returns.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::changes::{self, FileState, Snapshot};
use crate::codex::args::{self as codex_args, ExecArgs, Invocation};
use crate::codex::config::{self, CodexEnv, ResolvedConfig};
use crate::codex::events::{EventSummary, MAX_EVENT_LINE};
use crate::codex::inputs::{self, Namer};
use crate::codex::prompt::{self, ComposedPrompt};
use crate::codex::{self, rollout};
use crate::digest::{FileDigests, GitOid, Sha256Digest};
use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::git::{GitError, Repo};
use crate::keys::PrivateKey;
use crate::predicate::*;
use crate::record::*;
use crate::secrets::{self, REDACTED, Scrubber};
use crate::store::{RunFiles, Store, StoreError};
use crate::supervise::{self, ChildOutcome, ChildSpec, SpawnError, StdinMode, StdoutCapture};
use crate::timestamp::{Clock, Timestamp};
use crate::watch::{Touched, TreeWatch};

/// What the command is, as far as recording goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// `codex exec` or `codex exec resume`: full capture.
    CodexExec(Box<ExecArgs>),
    /// Another `codex` subcommand: generic capture.
    CodexOther(String),
    /// Not Codex: generic capture.
    Generic,
}

/// Standard input as `wrap` found it.
pub enum StdinInput {
    /// A terminal: passed through, never read.
    Terminal,
    /// Read to the end by `wrap` (Codex would read it too): recorded and fed to the command.
    Read(Vec<u8>),
    /// Not read (commands that are not `codex exec`): inherited by the command.
    Inherit,
}

pub struct WrapOptions {
    pub run_id: String,
    /// The command as given; the first word is the program.
    pub command: Vec<OsString>,
    /// The resolved executable.
    pub program: PathBuf,
    pub process_cwd: PathBuf,
    /// The command's environment (codex-attest's own secrets already removed).
    pub child_env: Vec<(OsString, OsString)>,
    pub codex_env: CodexEnv,
    pub stdin: StdinInput,
    pub role: Option<String>,
    /// Values to scrub from everything stored.
    pub secret_values: Vec<String>,
    /// codex-attest's version, for `builder.version`.
    pub tool_version: String,
    /// How the ending state is found.
    pub change_detection: ChangeDetection,
}

/// How long the primed index (`fsmonitor.rs`) waits after the command starts. Priming while
/// Codex starts up (node, configuration, the first request: about 0.4 s of two busy cores here)
/// slowed Codex by about as much as the primed index later saved (BENCHMARKS.md); a run that
/// ends sooner than this never needs it, one that waits on its model has idle cores to spare.
const PRIMING_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

/// What watches a run: its own watch, or a watch service's.
enum RunWatch {
    Tree(TreeWatch),
    /// The service's run, and the index as the run started.
    Service(
        crate::service::RunSession,
        Option<Box<crate::touched::Baseline>>,
    ),
}

impl RunWatch {
    fn finish(self) -> Touched {
        match self {
            RunWatch::Tree(watch) => watch.finish(),
            RunWatch::Service(session, baseline) => session.finish(baseline),
        }
    }
}

/// How `record` finds what the run changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeDetection {
    /// Watch the tree during the run (`watch`) and look only where it changed; a full `git
    /// status` whenever the watch cannot vouch for completeness. When a watch service serves
    /// the work tree (`service.rs`), its snapshot and watch stand in for the starting `git
    /// status` and the run's own watch.
    Watch,
    /// A second full `git status` after the run.
    FullRescan,
    /// For tests of the fallback: watch, then fall back as if the event queue had overflowed.
    WatchThenForcedRescan,
    /// For tests of the hand-over: watch, with the set-up held back, so a command started
    /// before the watch is complete would go unseen.
    WatchWithSlowSetUp,
    /// For tests of the primed index: watch, prime with no delay, and wait (a minute at most)
    /// for the priming after the command (`wrap` uses it only when it finished in time, which a
    /// loaded test machine cannot promise); the index read at the start is not used.
    WatchWaitingForPriming,
}

#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    #[error(
        "{0} is not inside a git work tree; wrap records runs in the repository's git directory"
    )]
    NotInRepo(PathBuf),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// Everything known before the command starts.
pub struct Prepared {
    opts: WrapOptions,
    pub plan: Plan,
    pub repo: Repo,
    pub store: Store,
    before: Snapshot,
    starting_state: Vec<StoredInput>,
    codex: Option<CodexPrep>,
    scrubber: Scrubber,
    warnings: Vec<String>,
    not_recorded: Vec<String>,
    watch: Option<RunWatch>,
    /// A private index primed while the command runs, for an ending status of many paths.
    primer: Option<crate::fsmonitor::Primer>,
    /// The branch and the remote URL, asked of git on a thread while the command runs.
    branch_and_remote: std::thread::JoinHandle<(Option<String>, Option<String>)>,
}

struct CodexPrep {
    exec: ExecArgs,
    resolved: ResolvedConfig,
    inputs: Vec<StoredInput>,
    agents: AgentsMdChain,
    agents_combined: Option<String>,
    prompt: Option<ComposedPrompt>,
    prompt_digest: Option<Sha256Digest>,
    stdin_blob: Option<(Sha256Digest, u64, bool)>,
    binary: Option<CodexBinary>,
    /// For a resumed thread: its rollout and its length before the run.
    resume_rollout: Option<(PathBuf, u64)>,
}

/// The command has run.
pub struct Executed {
    pub outcome: ChildOutcome,
    pub events: Option<EventSummary>,
    events_blob: Option<(Sha256Digest, u64)>,
    started_on: Timestamp,
    finished_on: Timestamp,
    /// The wall clock just before Codex started (not the injectable clock: rollout files carry
    /// real modification times).
    spawned_at: std::time::SystemTime,
}

/// A recorded run.
pub struct RecordedRun {
    pub id: String,
    pub dir: PathBuf,
    pub statement_json: Vec<u8>,
    pub envelope_line: Option<String>,
    pub record: RunRecord,
    pub changes: Changes,
    pub warnings: Vec<String>,
    pub not_recorded: Vec<String>,
    pub disagreements: Vec<Disagreement>,
}

/// What a command can write, for deciding whether a signing key is exposed to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WritableScope {
    /// No sandbox we know of: the whole filesystem (as far as the user can write).
    Everything,
    /// Codex's `workspace-write` sandbox: these roots (and their subdirectories).
    Roots(Vec<PathBuf>),
    /// Codex's `read-only` sandbox.
    Nothing,
}

/// The part of the filesystem a command could write, from its plan and Codex's settings.
/// `tmpdir` is `$TMPDIR`, which `workspace-write` makes writable along with `/tmp`.
pub fn writable_scope(
    plan: &Plan,
    codex_env: &CodexEnv,
    process_cwd: &Path,
    tmpdir: Option<&Path>,
) -> WritableScope {
    let Plan::CodexExec(exec) = plan else {
        return WritableScope::Everything;
    };
    let resolved = config::resolve(exec, codex_env, process_cwd);
    match resolved.settings.sandbox.as_str() {
        "read-only" => WritableScope::Nothing,
        "workspace-write" => {
            let mut roots = vec![resolved.cwd.clone(), PathBuf::from("/tmp")];
            if let Some(root) = &resolved.project_root {
                roots.push(root.clone());
            }
            if let Some(t) = tmpdir {
                roots.push(t.to_path_buf());
            }
            for dir in &exec.add_dirs {
                roots.push(process_cwd.join(dir));
            }
            WritableScope::Roots(
                roots
                    .into_iter()
                    .map(|r| r.canonicalize().unwrap_or(r))
                    .collect(),
            )
        }
        _ => WritableScope::Everything,
    }
}

impl WritableScope {
    /// Whether `path` (canonical) could be written by the command.
    pub fn covers(&self, path: &Path) -> bool {
        match self {
            WritableScope::Everything => true,
            WritableScope::Nothing => false,
            WritableScope::Roots(roots) => roots.iter().any(|r| path.starts_with(r)),
        }
    }
}

/// Decides how much of a command can be captured.
pub fn plan(program: &Path, args: &[OsString]) -> Plan {
    let name = program
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let is_codex = matches!(
        name,
        "codex" | "codex.js" | "codex-x86_64-unknown-linux-musl"
    );
    if !is_codex {
        return Plan::Generic;
    }
    match codex_args::parse(args) {
        Some(Invocation::Exec(exec)) => match &exec.exec_subcommand {
            Some(sub) => Plan::CodexOther(format!("exec {sub}")),
            None => Plan::CodexExec(exec),
        },
        Some(Invocation::OtherSubcommand { name }) => Plan::CodexOther(name),
        None => Plan::CodexOther("(unparseable arguments)".to_string()),
    }
}

/// Step 1: everything before the command starts.
pub fn prepare(opts: WrapOptions) -> Result<Prepared, WrapError> {
    let args: Vec<OsString> = opts.command.iter().skip(1).cloned().collect();
    let plan = plan(&opts.program, &args);
    let work_dir = match &plan {
        Plan::CodexExec(exec) => match &exec.cd {
            Some(cd) => opts.process_cwd.join(cd),
            None => opts.process_cwd.clone(),
        },
        _ => opts.process_cwd.clone(),
    };
    let repo = Repo::discover(&work_dir)?.ok_or_else(|| WrapError::NotInRepo(work_dir.clone()))?;
    let store = Store::at(&repo.common_dir);
    store.init()?;

    // Resolve Codex's configuration first: the provider's key variable joins the secrets.
    let resolved = match &plan {
        Plan::CodexExec(exec) => Some(config::resolve(exec, &opts.codex_env, &opts.process_cwd)),
        _ => None,
    };
    let mut secret_values = opts.secret_values.clone();
    // Credentials and tokens written in the configuration files themselves.
    if let Some(r) = &resolved {
        secret_values.extend(r.secret_values());
    }
    if let Some(name) = resolved
        .as_ref()
        .and_then(|r| r.settings.provider_env_key.clone())
    {
        if let Some((_, value)) = opts
            .child_env
            .iter()
            .find(|(k, _)| k.to_str() == Some(&name))
        {
            if let Some(value) = value.to_str() {
                secret_values.push(value.to_string());
            }
        }
    }
    let scrubber = Scrubber::new(&secret_values);

    // The Codex binary's digest and version, computed while git walks the tree.
    let binary_job = match &plan {
        Plan::CodexExec(_) | Plan::CodexOther(_) => {
            let program = opts.program.clone();
            let env = opts.child_env.clone();
            let cache_dir = store.root().join("cache");
            Some(std::thread::spawn(move || {
                codex_binary(&program, &env, &cache_dir)
            }))
        }
        Plan::Generic => None,
    };

    // A watch service, when one serves this work tree, gives the starting state and watches
    // the run; otherwise the watch is set up on another thread while git takes the starting
    // snapshot, and is complete before the command starts (see watch.rs for what that
    // guarantees).
    let begun = match opts.change_detection {
        ChangeDetection::Watch => match crate::service::begin(&repo) {
            Ok(begun) => Some(begun),
            Err(err) => {
                tracing::debug!("change detection: no watch service ({err})");
                None
            }
        },
        _ => None,
    };
    let stored = std::sync::Mutex::new(BTreeMap::new());
    let mut indexed = false;
    let mut baseline_job = None;
    let (before, watch) = match begun {
        Some(begun) => {
            tracing::debug!(
                dirty = begun.snapshot.dirty.len(),
                "change detection: the watch service"
            );
            // The index as the run starts, for the end of the run (`touched.rs`), read while
            // the dirty files are and the rest of the run is prepared.
            baseline_job = Some({
                let repo = repo.clone();
                std::thread::spawn(move || crate::touched::Baseline::read(&repo))
            });
            let before = changes::read_contents(
                &repo,
                begun.snapshot,
                &storing_hasher(&store, &scrubber, &stored),
            );
            (before, Some(RunWatch::Service(begun.session, None)))
        }
        None => {
            let watch = match opts.change_detection {
                ChangeDetection::FullRescan => None,
                ChangeDetection::Watch
                | ChangeDetection::WatchThenForcedRescan
                | ChangeDetection::WatchWithSlowSetUp
                | ChangeDetection::WatchWaitingForPriming => {
                    let hold = match opts.change_detection {
                        ChangeDetection::WatchWithSlowSetUp => {
                            std::time::Duration::from_millis(500)
                        }
                        _ => std::time::Duration::ZERO,
                    };
                    match TreeWatch::start(&repo, hold) {
                        Ok(w) => Some(w),
                        Err(err) => {
                            tracing::debug!("change detection: full rescan ({err})");
                            None
                        }
                    }
                }
            };
            let before = changes::snapshot(&repo, &storing_hasher(&store, &scrubber, &stored))?;
            let watch = watch.and_then(|mut w| match w.ready() {
                Ok(ready) => {
                    indexed = ready.indexed;
                    Some(RunWatch::Tree(w))
                }
                Err(err) => {
                    tracing::debug!("change detection: full rescan ({err})");
                    None
                }
            });
            (before, watch)
        }
    };
    let mut stored_before: BTreeMap<PathBuf, Sha256Digest> =
        stored.into_inner().unwrap_or_else(|e| e.into_inner());
    tracing::debug!(dirty = before.dirty.len(), "phase: starting snapshot taken");
    // Started once the watch is ready: every change after this is among the touched paths.
    // Primed only once the run has touched more paths than pathspecs cover cheaply: a run that
    // touches a few never pays for it. Not primed when the index read at the start can decide
    // the touched paths (`touched.rs`), which it does in a fraction of a primed status.
    let primed = !indexed || opts.change_detection == ChangeDetection::WatchWaitingForPriming;
    let primer = match &watch {
        Some(RunWatch::Service(..)) | None => None,
        Some(RunWatch::Tree(_)) if !primed => {
            tracing::debug!("change detection: not primed (the index read at the start decides)");
            None
        }
        Some(RunWatch::Tree(w)) => match store.scratch_dir("index") {
            Ok(dir) => {
                let delay = match opts.change_detection {
                    ChangeDetection::WatchWaitingForPriming => std::time::Duration::ZERO,
                    _ => PRIMING_DELAY,
                };
                let touched = w.touched_so_far();
                let due = move || {
                    touched.load(std::sync::atomic::Ordering::Relaxed) > changes::PRIMED_ABOVE
                };
                Some(crate::fsmonitor::Primer::start(&repo, dir, delay, due))
            }
            Err(err) => {
                tracing::debug!("change detection: not primed ({err})");
                None
            }
        },
    };
    let mut warnings = before.warnings.clone();
    // Symlinks are not read through the hasher: store their targets as blobs too.
    for (path, dirty) in &before.dirty {
        if let FileState::Present { symlink: true, .. } = dirty.state {
            if let Ok(target) = std::fs::read_link(path.under(&repo.root)) {
                use std::os::unix::ffi::OsStrExt;
                let blob = store.put_blob(target.as_os_str().as_bytes())?;
                stored_before.insert(path.under(&repo.root), blob);
            }
        }
    }
    let starting_state = starting_state_inputs(&repo, &before, &stored_before)?;

    let mut not_recorded = Vec::new();
    let codex = match &plan {
        Plan::CodexExec(exec) => {
            let binary = binary_job.and_then(|j| j.join().ok()).flatten();
            let resolved = resolved
                .unwrap_or_else(|| config::resolve(exec, &opts.codex_env, &opts.process_cwd));
            Some(prepare_codex(
                exec,
                resolved,
                &opts,
                &repo,
                &store,
                &scrubber,
                binary,
                &mut warnings,
            )?)
        }
        Plan::CodexOther(name) => {
            not_recorded.push(format!(
                "`codex {name}` is not `codex exec`: its instructions, configuration and prompt were not resolved; only git state, changes, exit status and timing are recorded"
            ));
            None
        }
        Plan::Generic => {
            not_recorded.push(
                "not a Codex command: no inputs, model or settings were recorded; only git state, changes, exit status and timing".to_string(),
            );
            None
        }
    };
    // The branch and the remote as the run starts (with the starting commit), asked of git on a
    // thread: three git processes fewer after the command.
    let branch_and_remote = {
        let repo = repo.clone();
        std::thread::spawn(move || (repo.branch(), repo.remote_url()))
    };
    // Joined before the command starts: the index it read is the one the run started from.
    let watch = match (watch, baseline_job) {
        (Some(RunWatch::Service(session, _)), Some(job)) => {
            let baseline = match job.join() {
                Ok(Ok(b)) if b.usable() => Some(Box::new(b)),
                Ok(Ok(_)) | Err(_) => None,
                Ok(Err(err)) => {
                    tracing::debug!("change detection: index not read ({err})");
                    None
                }
            };
            Some(RunWatch::Service(session, baseline))
        }
        (watch, _) => watch,
    };
    tracing::debug!("phase: prepared");
    Ok(Prepared {
        opts,
        plan,
        repo,
        store,
        before,
        starting_state,
        codex,
        scrubber,
        warnings,
        not_recorded,
        watch,
        primer,
        branch_and_remote,
    })
}

#[allow(clippy::too_many_arguments)]
fn prepare_codex(
    exec: &ExecArgs,
    resolved: ResolvedConfig,
    opts: &WrapOptions,
    repo: &Repo,
    store: &Store,
    scrubber: &Scrubber,
    binary: Option<CodexBinary>,
    warnings: &mut Vec<String>,
) -> Result<CodexPrep, WrapError> {
    warnings.extend(resolved.warnings.iter().cloned());
    if !exec.unknown.is_empty() {
        warnings.push(format!(
            "codex options not known to codex-attest ({}): inputs they add may be missing from the record",
            exec.unknown.join(" ")
        ));
    }
    if exec.worktree {
        warnings.push("--worktree: Codex works in a managed worktree; changes there are not in this work tree and are not recorded".to_string());
    }
    if exec.other_flags.iter().any(|f| f.starts_with("--remote")) {
        warnings.push("--remote: Codex runs on a remote app-server; its inputs are not the local files recorded here".to_string());
    }
    let namer = Namer {
        codex_home: &resolved.codex_home,
        home: opts.codex_env.home.as_deref(),
        repo_root: Some(&repo.root),
    };
    let collected = inputs::collect(exec, &resolved, &opts.codex_env, &opts.process_cwd, &namer);
    warnings.extend(collected.warnings.iter().cloned());
    let mut pinned = Vec::new();
    for input in &collected.files {
        pinned.push(pin_input_file(store, scrubber, input, BTreeMap::new())?);
    }
    if let Some(bin) = &binary {
        let mut annotations = BTreeMap::new();
        if let Some(v) = &bin.version {
            annotations.insert("version".to_string(), v.clone());
        }
        pinned.push(StoredInput {
            name: bin.path.clone(),
            kind: InputKind::CodexExecutable,
            scope: None,
            sha256: bin.sha256,
            git_blob: None,
            size: 0,
            blob: None,
            redacted: false,
            git_status: None,
            absent: false,
            executable: true,
            symlink: false,
            annotations,
        });
        if let Some(launcher) = &bin.launcher {
            pinned.push(StoredInput {
                name: launcher.path.clone(),
                kind: InputKind::CodexExecutable,
                scope: Some("launcher".to_string()),
                sha256: launcher.sha256,
                git_blob: None,
                size: 0,
                blob: None,
                redacted: false,
                git_status: None,
                absent: false,
                executable: true,
                symlink: false,
                annotations: BTreeMap::new(),
            });
        }
    }

    // The prompt, as Codex will compose it.
    let stdin_bytes: Option<&[u8]> = match &opts.stdin {
        StdinInput::Read(bytes) => Some(bytes),
        StdinInput::Terminal | StdinInput::Inherit => None,
    };
    let mut stdin_blob = None;
    if let Some(bytes) = stdin_bytes {
        let (blob, redacted) = store.put_blob_scrubbed(bytes, scrubber)?;
        stdin_blob = Some((blob, bytes.len() as u64, redacted));
    }
    let prompt = match prompt::compose(exec.prompt.as_deref(), stdin_bytes) {
        Ok(p) => Some(p),
        Err(err) => {
            // A resumed thread may legitimately have no new prompt.
            if exec.resume.is_none() {
                warnings.push(err.to_string());
            }
            None
        }
    };
    let mut prompt_digest = None;
    if let Some(p) = &prompt {
        let digest = crate::digest::sha256(p.text.as_bytes());
        let (blob, redacted) = store.put_blob_scrubbed(p.text.as_bytes(), scrubber)?;
        prompt_digest = Some(digest);
        pinned.push(StoredInput {
            name: "prompt".to_string(),
            kind: InputKind::Prompt,
            scope: None,
            sha256: digest,
            git_blob: None,
            size: p.text.len() as u64,
            blob: Some(blob),
            redacted,
            git_status: None,
            absent: false,
            executable: false,
            symlink: false,
            annotations: BTreeMap::from([("source".to_string(), p.source.as_str().to_string())]),
        });
    }

    let agents = AgentsMdChain {
        files: collected
            .agents
            .files
            .iter()
            .map(|f| AgentsMdFile {
                path: namer.name(&f.path),
                scope: if f.global { "global" } else { "project" }.to_string(),
                sha256: crate::digest::sha256(&f.content),
                size: f.content.len() as u64,
                used_bytes: f.used_bytes,
            })
            .collect(),
        max_bytes: resolved.settings.project_doc_max_bytes,
        combined_sha256: collected
            .agents
            .combined
            .as_ref()
            .map(|t| crate::digest::sha256(t.as_bytes())),
    };
    let resume_rollout = match exec.resume.as_deref() {
        Some(id) if !id.is_empty() && id != "--last" => rollout::find(&resolved.codex_home, id)
            .map(|path| {
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                (path, len)
            }),
        _ => None,
    };
    Ok(CodexPrep {
        exec: exec.clone(),
        agents_combined: collected.agents.combined.clone(),
        resolved,
        inputs: pinned,
        agents,
        prompt,
        prompt_digest,
        stdin_blob,
        binary,
        resume_rollout,
    })
}

/// Pins the starting state: every path that differed from HEAD, with its content.
fn starting_state_inputs(
    repo: &Repo,
    before: &Snapshot,
    stored: &BTreeMap<PathBuf, Sha256Digest>,
) -> Result<Vec<StoredInput>, WrapError> {
    let mut out = Vec::new();
    for (path, dirty) in &before.dirty {
        let Some(name) = path.to_str() else { continue };
        let xy = String::from_utf8_lossy(&dirty.xy).into_owned();
        let input = match &dirty.state {
            FileState::Present {
                digests,
                executable,
                symlink,
            } => StoredInput {
                name: name.to_string(),
                kind: InputKind::StartingState,
                scope: None,
                sha256: digests.sha256,
                git_blob: Some(digests.git_blob.clone()),
                size: digests.size,
                blob: stored.get(&path.under(&repo.root)).copied(),
                redacted: stored
                    .get(&path.under(&repo.root))
                    .is_some_and(|s| *s != digests.sha256),
                git_status: Some(xy),
                absent: false,
                executable: *executable,
                symlink: *symlink,
                annotations: BTreeMap::new(),
            },
            FileState::Missing => {
                // Deleted in the work tree: pin what HEAD had, marked absent.
                let Some(head_blob) = &dirty.head else {
                    continue;
                };
                let content = repo.read_blob(head_blob)?;
                let digests = crate::digest::digest_bytes(&content);
                StoredInput {
                    name: name.to_string(),
                    kind: InputKind::StartingState,
                    scope: None,
                    sha256: digests.sha256,
                    git_blob: Some(digests.git_blob),
                    size: digests.size,
                    blob: None,
                    redacted: false,
                    git_status: Some(xy),
                    absent: true,
                    executable: false,
                    symlink: false,
                    annotations: BTreeMap::new(),
                }
            }
        };
        out.push(input);
    }
    Ok(out)
}

/// A snapshot's hasher that also stores each file's content (secrets scrubbed), noting where:
/// called on every core at once.
fn storing_hasher<'a>(
    store: &'a Store,
    scrubber: &'a Scrubber,
    stored: &'a std::sync::Mutex<BTreeMap<PathBuf, Sha256Digest>>,
) -> impl Fn(&Path) -> std::io::Result<FileDigests> + Sync + 'a {
    move |path: &Path| {
        let (digests, blob) = store
            .put_file_scrubbed(path, scrubber)
            .map_err(std::io::Error::other)?;
        stored
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_path_buf(), blob);
        Ok(digests)
    }
}

/// Step 2: runs the command.
pub fn execute(
    prepared: &Prepared,
    clock: &dyn Clock,
    stdout: &mut (dyn Write + Send),
) -> Result<Executed, WrapError> {
    let opts = &prepared.opts;
    let stdin = match &opts.stdin {
        StdinInput::Read(bytes) => StdinMode::Bytes(bytes.clone()),
        StdinInput::Terminal | StdinInput::Inherit => StdinMode::Inherit,
    };
    let spec = ChildSpec {
        program: opts.program.clone(),
        args: opts.command.iter().skip(1).cloned().collect(),
        cwd: opts.process_cwd.clone(),
        env: opts.child_env.clone(),
        stdin,
    };
    let capture_events = matches!(&prepared.plan, Plan::CodexExec(exec) if exec.json);
    let started_on = clock.now();
    let spawned_at = std::time::SystemTime::now();
    tracing::debug!("phase: starting the command");
    if !capture_events {
        let outcome = supervise::run(spec, None)?;
        let finished_on = clock.now();
        return Ok(Executed {
            outcome,
            events: None,
            events_blob: None,
            started_on,
            finished_on,
            spawned_at,
        });
    }
    let mut summary = EventSummary::default();
    let mut blob = prepared.store.blob_writer()?;
    let outcome = {
        let mut scrubbing = secrets::ScrubWriter::new(&prepared.scrubber, &mut blob);
        let mut on_line = |line: &[u8]| summary.feed_line(line);
        let capture = StdoutCapture {
            passthrough: stdout,
            capture: &mut scrubbing,
            on_line: &mut on_line,
            max_line: MAX_EVENT_LINE,
        };
        let outcome = supervise::run(spec, Some(capture))?;
        let _ = scrubbing.finish();
        outcome
    };
    let finished_on = clock.now();
    let events_blob = blob.finish().ok();
    Ok(Executed {
        outcome,
        events: Some(summary),
        events_blob,
        started_on,
        finished_on,
        spawned_at,
    })
}

/// Step 3: computes the changes, builds the statement, signs it and stores the run.
/// Stores an input file's content (secrets scrubbed) and describes it for the record.
fn pin_input_file(
    store: &Store,
    scrubber: &Scrubber,
    input: &inputs::InputFile,
    annotations: BTreeMap<String, String>,
) -> Result<StoredInput, WrapError> {
    let (digests, stored) = store.put_file_scrubbed(&input.path, scrubber)?;
    Ok(StoredInput {
        name: input.name.clone(),
        kind: input.kind,
        scope: input.scope.clone(),
        sha256: digests.sha256,
        git_blob: Some(digests.git_blob.clone()),
        size: digests.size,
        blob: Some(stored),
        redacted: stored != digests.sha256,
        git_status: None,
        absent: false,
        executable: false,
        symlink: false,
        annotations,
    })
}

/// Codex installs its bundled system skills (`$CODEX_HOME/skills/.system/`) when it starts in a
/// fresh `CODEX_HOME`, after `prepare` resolved the inputs. Pins the ones that appeared during the
/// run, as they were after it, so the record holds what Codex read (their content comes from the
/// Codex binary, which is pinned too).
fn pin_installed_skills(
    prep: &mut CodexPrep,
    opts: &WrapOptions,
    repo: &Repo,
    store: &Store,
    scrubber: &Scrubber,
    warnings: &mut Vec<String>,
) -> Result<(), WrapError> {
    let system = prep.resolved.codex_home.join("skills").join(".system");
    let namer = Namer {
        codex_home: &prep.resolved.codex_home,
        home: opts.codex_env.home.as_deref(),
        repo_root: Some(&repo.root),
    };
    let now = inputs::collect(
        &prep.exec,
        &prep.resolved,
        &opts.codex_env,
        &opts.process_cwd,
        &namer,
    );
    let known: std::collections::BTreeSet<String> =
        prep.inputs.iter().map(|i| i.name.clone()).collect();
    let mut added = 0usize;
    for input in now.files.iter().filter(|f| {
        f.kind == InputKind::Skill && f.path.starts_with(&system) && !known.contains(&f.name)
    }) {
        let annotations = BTreeMap::from([("installedBy".to_string(), "codex".to_string())]);
        prep.inputs
            .push(pin_input_file(store, scrubber, input, annotations)?);
        added += 1;
    }
    if added > 0 {
        warnings.push(format!(
            "Codex installed {added} bundled system skill file(s) into CODEX_HOME during this run; they are pinned as they were after it"
        ));
    }
    Ok(())
}

pub fn record(
    prepared: Prepared,
    executed: Executed,
    signers: &[&PrivateKey],
) -> Result<RecordedRun, WrapError> {
    tracing::debug!(status = ?executed.outcome.exit_code, "phase: the command exited");
    let Prepared {
        opts,
        plan,
        repo,
        store,
        before,
        starting_state,
        codex,
        scrubber,
        mut warnings,
        not_recorded,
        watch,
        mut primer,
        branch_and_remote,
    } = prepared;
    let codex = match codex {
        Some(mut prep) => {
            pin_installed_skills(&mut prep, &opts, &repo, &store, &scrubber, &mut warnings)?;
            tracing::debug!("phase: skills Codex installed pinned");
            Some(prep)
        }
        None => None,
    };
    if opts.change_detection == ChangeDetection::WatchWaitingForPriming {
        if let Some(p) = &mut primer {
            p.wait(std::time::Duration::from_secs(60));
        }
    }
    let stored = std::sync::Mutex::new(BTreeMap::new());
    let after = {
        let hash = storing_hasher(&store, &scrubber, &stored);
        let touched = watch
            .map(RunWatch::finish)
            .map(|t| match opts.change_detection {
                ChangeDetection::WatchThenForcedRescan => {
                    Touched::Rescan("forced (WatchThenForcedRescan)".to_string())
                }
                _ => t,
            });
        match touched {
            Some(Touched::Paths { paths, baseline }) => {
                tracing::debug!(paths = paths.len(), "change detection: watched paths only");
                // The primed index's tests take the path the index would otherwise spare.
                let baseline = baseline
                    .filter(|_| opts.change_detection != ChangeDetection::WatchWaitingForPriming);
                changes::snapshot_touched(
                    &repo,
                    &before,
                    &paths,
                    baseline.as_deref(),
                    primer,
                    &hash,
                )?
            }
            Some(Touched::Rescan(reason)) => {
                tracing::debug!("change detection: full rescan ({reason})");
                drop(primer);
                changes::snapshot(&repo, &hash)?
            }
            None => {
                drop(primer);
                changes::snapshot(&repo, &hash)?
            }
        }
    };
    let stored_after: BTreeMap<PathBuf, Sha256Digest> =
        stored.into_inner().unwrap_or_else(|e| e.into_inner());
    tracing::debug!("phase: ending snapshot taken");
    let change_set = changes::compare(&repo, &before, &after)?;
    warnings.extend(change_set.warnings.iter().cloned());
    let changes = change_set.changes;
    let mut outputs = Vec::new();
    for (path, sha256, _) in changes.subjects() {
        let real = repo.root.join(path);
        let stored = match stored_after.get(&real) {
            Some(d) => *d,
            None => match store.put_file_scrubbed(&real, &scrubber) {
                Ok((_, d)) => d,
                Err(_) => *sha256,
            },
        };
        outputs.push(StoredOutput {
            path: path.to_string(),
            sha256: stored,
        });
    }

    // Codex's own record.
    let mut byproducts: Vec<StoredByproduct> = Vec::new();
    let mut attested_byproducts: Vec<(String, Sha256Digest, &str)> = Vec::new();
    if let Some((digest, size)) = executed.events_blob {
        byproducts.push(StoredByproduct {
            name: "codex-events.jsonl".to_string(),
            blob: digest,
            size,
            redacted: false,
        });
        attested_byproducts.push((
            "codex-events.jsonl".to_string(),
            digest,
            "application/jsonl",
        ));
    }
    let thread_id = executed.events.as_ref().and_then(|e| e.thread_id.clone());
    let mut facts = None;
    let mut rollout_offset = None;
    if let Some(prep) = &codex {
        if let Some((digest, size, redacted)) = prep.stdin_blob {
            byproducts.push(StoredByproduct {
                name: "stdin".to_string(),
                blob: digest,
                size,
                redacted,
            });
        }
        let mut ambiguous = false;
        let rollout_path = match (&prep.resume_rollout, &thread_id) {
            (Some((path, _)), _) => Some(path.clone()),
            (None, Some(id)) if !prep.exec.ephemeral => {
                rollout::find(&prep.resolved.codex_home, id)
            }
            // No --json events, so no thread id: the one exec rollout started here during the run.
            (None, None) if !prep.exec.ephemeral => {
                match rollout::find_started_since(
                    &prep.resolved.codex_home,
                    executed.spawned_at,
                    &prep.resolved.cwd,
                ) {
                    rollout::Found::One(path) => Some(path),
                    rollout::Found::None => None,
                    rollout::Found::Many(n) => {
                        ambiguous = true;
                        warnings.push(format!(
                            "{n} Codex sessions started in this directory during the run (concurrent runs?), so none could be attributed to it; run with --json to let codex-attest identify its thread"
                        ));
                        None
                    }
                }
            }
            _ => None,
        };
        // Read twice, streaming both times (a long session's transcript can be large): once for
        // Codex's facts (from where a resumed thread's earlier turns end), once into the store.
        let opened = rollout_path.as_ref().and_then(|p| {
            use std::io::{Seek as _, SeekFrom};
            let offset = prep
                .resume_rollout
                .as_ref()
                .map(|(_, len)| *len)
                .unwrap_or(0);
            let mut file = std::fs::File::open(p).ok()?;
            file.seek(SeekFrom::Start(offset)).ok()?;
            Some((p.clone(), offset, file))
        });
        match opened {
            Some((path, offset, file)) => {
                facts = Some(rollout::facts_from_reader(std::io::BufReader::with_capacity(256 * 1024, file)));
                rollout_offset = (offset > 0).then_some(offset);
                // A process Codex left behind may still append to it: a failed copy is a warning,
                // not a lost run.
                match store.put_file_scrubbed(&path, &scrubber) {
                    Ok((digests, digest)) => {
                        byproducts.push(StoredByproduct { name: "rollout.jsonl".to_string(), blob: digest, size: digests.size, redacted: digest != digests.sha256 });
                        attested_byproducts.push(("rollout.jsonl".to_string(), digest, "application/jsonl"));
                    }
                    Err(err) => warnings.push(format!("Codex's rollout could not be stored: {err}")),
                }
            }
            None if prep.exec.ephemeral => warnings.push(
                "--ephemeral: Codex kept no rollout, so its own record could not be cross-checked or replayed".to_string(),
            ),
            None if executed.outcome.exit_status() == 0 && !ambiguous => warnings.push(
                "Codex's rollout for this run was not found; its own record could not be cross-checked".to_string(),
            ),
            None => {}
        }
    }

    if executed.outcome.output_held_open {
        warnings.push("the command exited but a process it started kept its output open; the captured event log may be incomplete".to_string());
    }
    if let Some(err) = &executed.outcome.capture_error {
        warnings.push(format!("the event log could not be fully stored: {err}"));
    }
    let status = run_status(&executed.outcome, facts.as_ref());
    let disagreements = match (&codex, &facts) {
        (Some(prep), Some(f)) => cross_check(prep, f, before.head.as_ref()),
        _ => Vec::new(),
    };
    // Where the configuration named no model or effort, Codex used its built-in default: its own
    // record says which, and that is what the attestation names.
    let codex = codex.map(|mut prep| {
        if let Some(f) = &facts {
            let settings = &mut prep.resolved.settings;
            if settings.model.is_none() {
                settings.model = f.model.clone();
            }
            if settings.reasoning_effort.is_none() {
                settings.reasoning_effort = f.reasoning_effort.clone();
            }
        }
        prep
    });
    for d in &disagreements {
        warnings.push(format!(
            "Codex recorded {} = {:?}, but codex-attest resolved {:?}",
            d.field, d.recorded, d.resolved
        ));
    }
    let possibly_concurrent = possibly_concurrent(
        &changes,
        &repo.root,
        executed.events.as_ref(),
        facts.as_ref(),
        codex.is_some(),
    );
    if possibly_concurrent {
        warnings.push("files changed that Codex's own record does not account for: another process may have written to the tree during the run".to_string());
    }

    let duration_ms = executed.finished_on.millis_since(executed.started_on);
    // Without --json events, Codex's own record names the thread and counts its tokens (for a
    // fresh thread only: a resumed thread's count covers the whole thread, not this run).
    let fresh_thread = codex.as_ref().is_some_and(|c| c.resume_rollout.is_none());
    let thread_id = thread_id.or_else(|| {
        facts
            .as_ref()
            .filter(|_| fresh_thread)
            .and_then(|f| f.thread_id.clone())
    });
    let usage = executed
        .events
        .as_ref()
        .and_then(|e| e.usage.clone())
        .or_else(|| {
            let (input, output) = facts
                .as_ref()
                .filter(|_| fresh_thread)
                .and_then(|f| f.token_usage)?;
            Some(crate::predicate::TokenUsage {
                input_tokens: input,
                cached_input_tokens: 0,
                output_tokens: output,
                reasoning_output_tokens: 0,
            })
        });
    let outcome = Outcome {
        status,
        exit_code: executed.outcome.exit_code,
        signal: executed.outcome.signal,
        duration_ms,
        thread_id: thread_id.clone(),
        token_usage: usage.clone(),
        changes: changes.clone(),
        possibly_concurrent,
    };
    let (branch, remote) = branch_and_remote
        .join()
        .unwrap_or_else(|_| (repo.branch(), repo.remote_url()));
    let (external, internal, inputs, replay) = parameters(
        &opts,
        &plan,
        &repo,
        (branch.clone(), remote.clone()),
        &before,
        codex.as_ref(),
        outcome,
        &warnings,
        &not_recorded,
        &disagreements,
        rollout_offset,
        &scrubber,
    );
    let mut all_inputs = inputs;
    all_inputs.extend(starting_state.iter().cloned());

    let mut versions = BTreeMap::from([("codex-attest".to_string(), opts.tool_version.clone())]);
    if let Some(v) = codex
        .as_ref()
        .and_then(|c| c.binary.as_ref())
        .and_then(|b| b.version.clone())
    {
        versions.insert("codex-cli".to_string(), v);
    }
    let statement = build_statement(&StatementParts {
        run_id: &opts.run_id,
        external: &external,
        internal: &internal,
        changes: &changes,
        head: before.head.as_ref(),
        remote: remote.as_deref(),
        branch: branch.as_deref(),
        inputs: &all_inputs,
        byproducts: &attested_byproducts,
        started_on: executed.started_on,
        finished_on: executed.finished_on,
        versions,
    });
    let statement_json = statement.to_json();
    let summary = RunSummary {
        started_on: executed.started_on,
        finished_on: executed.finished_on,
        status,
        exit_code: executed.outcome.exit_code,
        signal: executed.outcome.signal,
        command: redacted_command_line(&external.argv),
        model: internal.settings.as_ref().and_then(|s| s.model.clone()),
        codex_version: internal.codex.as_ref().and_then(|c| c.version.clone()),
        sandbox: internal.settings.as_ref().and_then(|s| s.sandbox.clone()),
        role: opts.role.clone(),
        thread_id,
        changed_files: changes.count(),
        // Without --json events, Codex's rollout still counts tokens (for a resumed thread,
        // its count covers the whole thread).
        input_tokens: usage
            .as_ref()
            .map(|u| u.input_tokens)
            .or(facts.as_ref().and_then(|f| f.token_usage).map(|t| t.0)),
        output_tokens: usage
            .as_ref()
            .map(|u| u.output_tokens)
            .or(facts.as_ref().and_then(|f| f.token_usage).map(|t| t.1)),
        duration_ms,
        commit: before.head.clone(),
    };
    let record = RunRecord {
        schema: RECORD_SCHEMA.to_string(),
        id: opts.run_id.clone(),
        summary,
        inputs: all_inputs,
        outputs,
        byproducts,
        replay,
    };
    let record_json = serde_json::to_vec_pretty(&record).unwrap_or_default();

    let envelope_line = if signers.is_empty() {
        None
    } else {
        let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &statement_json, signers)
            .map_err(|err| WrapError::Sign(err.to_string()))?;
        Some(envelope.to_json_line())
    };
    let envelope_file = envelope_line.as_ref().map(|l| format!("{l}\n"));
    tracing::debug!("phase: statement built and signed");
    let dir = store.put_run(
        &opts.run_id,
        &RunFiles {
            record_json: &record_json,
            statement_json: &statement_json,
            envelope_lines: envelope_file.as_deref().map(str::as_bytes),
        },
    )?;
    tracing::debug!("phase: run stored");
    Ok(RecordedRun {
        id: opts.run_id,
        dir,
        statement_json,
        envelope_line,
        record,
        changes,
        warnings,
        not_recorded,
        disagreements,
    })
}

fn run_status(outcome: &ChildOutcome, facts: Option<&rollout::RolloutFacts>) -> RunStatus {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let interrupting = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];
    let received_interrupt = outcome
        .received_signals
        .iter()
        .any(|s| interrupting.contains(s));
    let killed_by_interrupt = outcome.signal.is_some_and(|s| interrupting.contains(&s));
    if received_interrupt || killed_by_interrupt || facts.is_some_and(|f| f.interrupted) {
        return RunStatus::Interrupted;
    }
    if outcome.signal.is_some() {
        return RunStatus::Killed;
    }
    match outcome.exit_code {
        Some(0) => RunStatus::Succeeded,
        _ => RunStatus::Failed,
    }
}

/// Compares what we resolved before the run with what Codex recorded.
fn cross_check(
    prep: &CodexPrep,
    facts: &rollout::RolloutFacts,
    head: Option<&GitOid>,
) -> Vec<Disagreement> {
    let mut out = Vec::new();
    let mut check = |field: &str, resolved: Option<String>, recorded: Option<String>| {
        if let (Some(resolved), Some(recorded)) = (resolved, recorded) {
            if resolved != recorded {
                out.push(Disagreement {
                    field: field.to_string(),
                    resolved,
                    recorded,
                });
            }
        }
    };
    let settings = &prep.resolved.settings;
    check(
        "codexVersion",
        prep.binary.as_ref().and_then(|b| b.version.clone()),
        facts.cli_version.clone(),
    );
    check("model", settings.model.clone(), facts.model.clone());
    check(
        "sandbox",
        Some(settings.sandbox.clone()),
        facts.sandbox.clone(),
    );
    check(
        "approvalPolicy",
        Some(settings.approval_policy.clone()),
        facts.approval_policy.clone(),
    );
    check(
        "reasoningEffort",
        settings.reasoning_effort.clone(),
        facts.reasoning_effort.clone(),
    );
    check(
        "gitCommit",
        head.map(|h| h.to_string()),
        facts.git_commit.clone(),
    );
    let digest = |t: &String| crate::digest::sha256(t.as_bytes()).prefixed();
    check(
        "agentsMd",
        Some(
            prep.agents_combined
                .as_ref()
                .map(digest)
                .unwrap_or_else(|| "none".to_string()),
        ),
        Some(
            facts
                .agents_md_text
                .as_ref()
                .map(digest)
                .unwrap_or_else(|| "none".to_string()),
        ),
    );
    if let (Some(prompt), Some(recorded)) = (&prep.prompt, facts.prompts.last()) {
        check("prompt", Some(digest(&prompt.text)), Some(digest(recorded)));
    }
    out
}

/// Flags changes Codex's own record cannot explain while it ran no commands.
fn possibly_concurrent(
    changes: &Changes,
    root: &Path,
    events: Option<&EventSummary>,
    facts: Option<&rollout::RolloutFacts>,
    is_codex: bool,
) -> bool {
    if !is_codex || changes.is_empty() {
        return false;
    }
    let Some(facts) = facts else { return false };
    let commands = events.map(|e| e.commands).unwrap_or(0);
    let patch_calls = facts.file_changes.len();
    // With shell commands the agent could have changed anything: we cannot tell.
    if commands > 0 || facts.tool_calls > patch_calls {
        return false;
    }
    let explained: BTreeSet<PathBuf> = facts.file_changes.iter().map(PathBuf::from).collect();
    let touched = changes
        .added
        .iter()
        .chain(&changes.modified)
        .chain(&changes.deleted)
        .map(|c| c.path.as_str())
        .chain(
            changes
                .renamed
                .iter()
                .flat_map(|r| [r.from.as_str(), r.to.as_str()]),
        );
    touched
        .into_iter()
        .any(|p| !explained.contains(&root.join(p)))
}

#[allow(clippy::too_many_arguments)]
fn parameters(
    opts: &WrapOptions,
    plan: &Plan,
    repo: &Repo,
    (branch, remote): (Option<String>, Option<String>),
    before: &Snapshot,
    codex: Option<&CodexPrep>,
    outcome: Outcome,
    warnings: &[String],
    not_recorded: &[String],
    disagreements: &[Disagreement],
    rollout_offset: Option<u64>,
    scrubber: &Scrubber,
) -> (
    ExternalParameters,
    InternalParameters,
    Vec<StoredInput>,
    Option<ReplaySpec>,
) {
    let rel = |dir: &Path| -> String {
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        match dir.strip_prefix(&repo.root) {
            Ok(r) if r.as_os_str().is_empty() => ".".to_string(),
            Ok(r) => r.display().to_string(),
            Err(_) => dir.display().to_string(),
        }
    };
    let program_word = opts
        .command
        .first()
        .map(|w| w.to_string_lossy().into_owned())
        .unwrap_or_default();
    let args: Vec<String> = opts
        .command
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let git = GitState {
        commit: before.head.clone(),
        branch,
        remote,
        dirty: !before.dirty.is_empty(),
        uncommitted: before
            .dirty
            .keys()
            .filter_map(|p| p.to_str().map(str::to_string))
            .collect(),
    };
    let Some(prep) = codex else {
        let redacted = redact_generic_args(&args, scrubber);
        let mut argv = vec![program_word];
        argv.extend(redacted);
        let external = ExternalParameters {
            argv,
            working_directory: rel(&opts.process_cwd),
            role: opts.role.clone(),
            prompt: None,
            model: None,
            sandbox: None,
            profile: None,
            config_overrides: Vec::new(),
            feature_overrides: Vec::new(),
            add_dirs: Vec::new(),
            images: Vec::new(),
            output_schema: None,
            flags: Vec::new(),
            resume: None,
        };
        let internal = InternalParameters {
            capture: Some(CaptureLevel::Generic),
            git: Some(git),
            outcome: Some(outcome),
            warnings: warnings.to_vec(),
            not_recorded: not_recorded.to_vec(),
            ..Default::default()
        };
        let _ = plan;
        return (external, internal, Vec::new(), None);
    };
    let exec = &prep.exec;
    let mut redacted_args: Vec<String> = args.clone();
    for i in &exec.config_value_indices {
        if let Some(word) = redacted_args.get_mut(*i) {
            *word = redact_config_word(word);
        }
    }
    for word in redacted_args.iter_mut() {
        *word = String::from_utf8_lossy(&scrubber.scrub(word.as_bytes())).into_owned();
    }
    if let (Some(i), Some(digest)) = (exec.prompt_index, prep.prompt_digest) {
        if exec.prompt.as_deref() != Some("-") {
            if let Some(word) = redacted_args.get_mut(i) {
                *word = format!("<prompt sha256:{digest}>");
            }
        }
    }
    let mut argv = vec![program_word];
    argv.extend(redacted_args.iter().cloned());
    let settings = &prep.resolved.settings;
    let external = ExternalParameters {
        argv,
        working_directory: rel(&prep.resolved.cwd),
        role: opts.role.clone(),
        prompt: prep
            .prompt
            .as_ref()
            .zip(prep.prompt_digest)
            .map(|(p, d)| PromptParameter {
                sha256: d,
                source: p.source.as_str().to_string(),
                size: p.text.len() as u64,
            }),
        model: exec.model.clone(),
        sandbox: exec.requested_sandbox(),
        profile: exec.profile.clone(),
        config_overrides: exec
            .config_overrides
            .iter()
            .map(|c| secrets::redact_config_override(c))
            .collect(),
        feature_overrides: exec
            .feature_overrides
            .iter()
            .map(|(n, on)| format!("features.{n}={on}"))
            .collect(),
        add_dirs: exec.add_dirs.clone(),
        images: exec.images.clone(),
        output_schema: exec.output_schema.clone(),
        flags: exec.recorded_flags(),
        resume: exec.resume.clone().filter(|r| !r.is_empty()),
    };
    let internal = InternalParameters {
        capture: Some(CaptureLevel::CodexExec),
        codex: prep.binary.clone(),
        settings: Some(EffectiveSettings {
            model: settings.model.clone(),
            model_provider: Some(ModelProvider {
                id: settings.provider_id.clone(),
                base_url: settings.provider_base_url.clone(),
                wire_api: settings.provider_wire_api.clone(),
            }),
            sandbox: Some(settings.sandbox.clone()),
            approval_policy: Some(settings.approval_policy.clone()),
            reasoning_effort: settings.reasoning_effort.clone(),
            project_trusted: Some(prep.resolved.project_trusted),
            features: settings.features.clone(),
            mcp_servers: settings.mcp_servers.clone(),
            shell_environment_inherit: Some(settings.shell_environment_inherit.clone()),
        }),
        agents_md: Some(prep.agents.clone()),
        git: Some(git),
        outcome: Some(outcome),
        disagreements: disagreements.to_vec(),
        warnings: warnings.to_vec(),
        not_recorded: not_recorded.to_vec(),
    };
    let replay = ReplaySpec {
        args: redacted_args,
        prompt_index: exec
            .prompt_index
            .filter(|_| exec.prompt.as_deref() != Some("-")),
        process_cwd: rel(&opts.process_cwd),
        codex_home: prep.resolved.codex_home.display().to_string(),
        rollout_offset,
    };
    (external, internal, prep.inputs.clone(), Some(replay))
}

fn redact_config_word(word: &str) -> String {
    // The word is either `key=value` or `-ckey=value` / `--config=key=value`.
    for prefix in ["--config=", "-c"] {
        if let Some(rest) = word.strip_prefix(prefix) {
            return format!("{prefix}{}", secrets::redact_config_override(rest));
        }
    }
    secrets::redact_config_override(word)
}

fn redact_generic_args(args: &[String], scrubber: &Scrubber) -> Vec<String> {
    args.iter()
        .map(|a| {
            let scrubbed = String::from_utf8_lossy(&scrubber.scrub(a.as_bytes())).into_owned();
            if scrubbed.contains("://") {
                secrets::strip_url_credentials(&scrubbed)
            } else {
                scrubbed
            }
        })
        .collect()
}

fn redacted_command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            if w.contains(char::is_whitespace) || w.is_empty() {
                format!("{w:?}")
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace(REDACTED, "<redacted>")
}

/// The Codex executable's digest and version. For the npm launcher (`bin/codex.js`) the native
/// binary it starts is hashed too. Digests are cached by file identity (device, inode, size,
/// modification and change times), so a 300 MB binary is not re-hashed on every run.
pub fn codex_binary(
    program: &Path,
    env: &[(OsString, OsString)],
    cache_dir: &Path,
) -> Option<CodexBinary> {
    let real = program.canonicalize().ok()?;
    let native = native_binary_for(&real);
    let target = native.clone().unwrap_or_else(|| real.clone());
    let sha256 = cached_digest(&target, cache_dir)?;
    let launcher = match &native {
        Some(_) => cached_digest(&real, cache_dir).map(|sha256| CodexLauncher {
            path: real.display().to_string(),
            sha256,
        }),
        None => None,
    };
    let version = std::process::Command::new(&target)
        .arg("--version")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .and_then(|o| codex::parse_version(&String::from_utf8_lossy(&o.stdout)));
    Some(CodexBinary {
        path: target.display().to_string(),
        sha256,
        version,
        launcher,
    })
}

/// The native binary behind the npm launcher `.../@openai/codex/bin/codex.js`, if present.
fn native_binary_for(launcher: &Path) -> Option<PathBuf> {
    if launcher.file_name()? != "codex.js" {
        return None;
    }
    let package_root = launcher.parent()?.parent()?;
    let node_modules_openai = package_root.parent()?;
    let (platform_pkg, triple) = match std::env::consts::ARCH {
        "x86_64" => ("codex-linux-x64", "x86_64-unknown-linux-musl"),
        "aarch64" => ("codex-linux-arm64", "aarch64-unknown-linux-musl"),
        _ => return None,
    };
    [
        node_modules_openai
            .join(platform_pkg)
            .join("vendor")
            .join(triple)
            .join("bin/codex"),
        package_root.join("vendor").join(triple).join("bin/codex"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

fn cached_digest(path: &Path, cache_dir: &Path) -> Option<Sha256Digest> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let key = format!(
        "{}|{}|{}|{}|{}.{}|{}.{}",
        path.display(),
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    );
    let entry = cache_dir.join(format!("exe-{}", crate::digest::sha256(key.as_bytes())));
    if let Ok(text) = std::fs::read_to_string(&entry) {
        if let Some(d) = text
            .trim()
            .strip_prefix(&format!("{key} "))
            .and_then(|d| d.parse().ok())
        {
            return Some(d);
        }
    }
    let digest = crate::digest::digest_file(path).ok()?.sha256;
    if std::fs::create_dir_all(cache_dir).is_ok() {
        let tmp = cache_dir.join(format!(".tmp-{}", std::process::id()));
        if std::fs::write(&tmp, format!("{key} {digest}\n")).is_ok() {
            let _ = std::fs::rename(&tmp, &entry);
        }
    }
    Some(digest)
}
