//! `codex-attest init`: a release policy, a lock and a CI workflow, never overwriting.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::json;

use super::{Ctx, Format, Outcome, print_stdout, status, usage_error, write_file_atomically};

/// Write commented templates: a release policy, a lock and a GitHub Actions workflow
#[derive(Debug, clap::Args)]
#[command(after_help = "\
With no file options, writes all three at their default places in the repository:
  .codex-attest/policy.toml            the release-gate policy (edit [signers] keys)
  codex-attest.lock                    Codex version, model, sandbox and input digests
                                       that `codex exec -s workspace-write` would use here
  .github/workflows/codex-agents.yml   a matrix of roles running `codex-attest wrap -- codex
                                       exec --json ...` in parallel jobs, each with its own
                                       CODEX_HOME; signing in a separate step; attestations and
                                       logs uploaded as artifacts; a gate job that verifies them
With file options, writes only those. Existing files are never overwritten: they are kept and
reported.

Examples:
  codex-attest init
  codex-attest init --roles scaffold,fixer,reviewer,docs
  codex-attest init --policy release/policy.toml")]
pub struct InitArgs {
    /// Write the commented release-gate policy template to FILE
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Write the lock of `codex exec -s workspace-write` here to FILE
    #[arg(long, value_name = "FILE")]
    lock: Option<PathBuf>,
    /// Write the GitHub Actions workflow to FILE
    #[arg(long, value_name = "FILE")]
    workflow: Option<PathBuf>,
    /// The roles of the workflow's matrix (comma-separated)
    #[arg(
        long,
        value_name = "ROLES",
        value_delimiter = ',',
        default_value = "scaffold,fixer,reviewer"
    )]
    roles: Vec<String>,
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    format: Format,
}

pub fn run(ctx: &Ctx, args: InitArgs) -> anyhow::Result<Outcome> {
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    let root = match codex_attest::git::Repo::discover(&cwd) {
        Ok(Some(repo)) => repo.root,
        _ => cwd.clone(),
    };
    let all = args.policy.is_none() && args.lock.is_none() && args.workflow.is_none();
    let pick = |given: Option<PathBuf>, default: &str| match given {
        Some(path) => Some(path),
        None if all => Some(root.join(default)),
        None => None,
    };
    let policy = pick(args.policy, ".codex-attest/policy.toml");
    let lock = pick(args.lock, codex_attest::lock::LOCK_FILE);
    let workflow = pick(args.workflow, ".github/workflows/codex-agents.yml");

    // Build everything first: a bad role name must not leave some files written.
    let mut files: Vec<(&str, PathBuf, Result<String, String>)> = Vec::new();
    if let Some(path) = policy {
        files.push((
            "policy",
            path,
            Ok(codex_attest::policy::TEMPLATE.to_string()),
        ));
    }
    if let Some(path) = lock {
        let command: Vec<OsString> = ["codex", "exec", "-s", "workspace-write"]
            .iter()
            .map(OsString::from)
            .collect();
        let text = super::lock::resolve(&command, &cwd)
            .map(|lock| lock.to_toml())
            .map_err(|err| {
                format!(
                    "could not resolve `codex exec` here ({err:#}); once codex is installed, run \
                     `codex-attest lock -- codex exec -s workspace-write \"task\"`"
                )
            });
        files.push(("lock", path, text));
    }
    if let Some(path) = workflow {
        let text = codex_attest::init::workflow(&args.roles).map_err(|err| {
            usage_error(
                err.to_string(),
                "pass --roles as a comma-separated list, e.g. --roles scaffold,fixer,reviewer",
            )
        })?;
        files.push(("workflow", path, Ok(text)));
    }

    let mut results = Vec::new();
    for (what, path, text) in files {
        let outcome = match text {
            _ if path.exists() => FileResult::Kept,
            Ok(text) => {
                write_new(&path, &text)?;
                FileResult::Written
            }
            Err(reason) => FileResult::Skipped(reason),
        };
        results.push((what, path, outcome));
    }

    match args.format {
        Format::Json => {
            let mut out = String::new();
            for (what, path, outcome) in &results {
                let (state, reason) = match outcome {
                    FileResult::Written => ("written", None),
                    FileResult::Kept => ("kept", None),
                    FileResult::Skipped(reason) => ("skipped", Some(reason)),
                };
                out.push_str(&format!(
                    "{}\n",
                    json!({"file": what, "path": path.display().to_string(), "result": state, "reason": reason})
                ));
            }
            print_stdout(&out)?;
        }
        Format::Human => {
            for (what, path, outcome) in &results {
                let line = match outcome {
                    FileResult::Written => format!("wrote {} ({what})", path.display()),
                    FileResult::Kept => format!(
                        "kept existing {} ({what}; remove it to write a fresh one)",
                        path.display()
                    ),
                    FileResult::Skipped(reason) => format!("{what}: skipped: {reason}"),
                };
                status(ctx, &line);
            }
            if results.iter().any(|(_, _, o)| *o == FileResult::Written) {
                status(ctx, NEXT_STEPS);
            }
        }
    }
    Ok(Outcome::Success)
}

/// What happened to one file.
#[derive(Debug, PartialEq, Eq)]
enum FileResult {
    Written,
    /// It existed: never overwritten.
    Kept,
    /// It could not be produced here (e.g. the lock without codex), with why.
    Skipped(String),
}

const NEXT_STEPS: &str = "\
next: create the signing key (codex-attest keygen --out ci), put ci.pub where the policy's
      [signers] keys points, store ci.key as the CODEX_ATTEST_SIGNING_KEY secret, and commit";

fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("failed to create {}", parent.display()))?;
    }
    write_file_atomically(path, text.as_bytes(), false)
}
