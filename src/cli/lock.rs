//! `codex-attest lock`: pin what a `codex exec` command line runs with.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context as _;

use codex_attest::lock::{LOCK_FILE, LockFile};

use super::{Ctx, Outcome, codex_env, print_stdout, status, usage_error, write_file_atomically};

/// Pin the Codex version, model, sandbox and every instruction input of a `codex exec` command
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Writes codex-attest.lock (TOML, meant to be reviewed in pull requests): the Codex CLI version, the
model, sandbox and approval, and the SHA-256 of every AGENTS.md, config layer, rules file, skill,
hooks file and output schema the command would read. The prompt and images are not locked: they
are the task. `codex-attest wrap --locked` refuses to start Codex when any of it drifted, and a
policy's `[run] lock` requires runs to match it.

Examples:
  codex-attest lock -- codex exec -s workspace-write --json \"task\"
  codex-attest lock --check -- codex exec -s workspace-write --json \"task\"")]
pub struct LockArgs {
    /// The lock file [default: codex-attest.lock at the repository root]
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Compare with the existing lock instead of writing it (exit 1 on drift)
    #[arg(long)]
    check: bool,
    /// The codex command, after `--`
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<OsString>,
}

pub fn run(ctx: &Ctx, args: LockArgs) -> anyhow::Result<Outcome> {
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    let path = match args.output {
        Some(p) => p,
        None => default_lock_path(&cwd),
    };
    let current = resolve(&args.command, &cwd)?;
    if args.check {
        let locked = LockFile::load(&path)?;
        let drift = locked.drift(&current);
        if drift.is_empty() {
            status(ctx, &format!("{} is current", path.display()));
            return Ok(Outcome::Success);
        }
        let mut out = format!("{} has drifted:\n", path.display());
        for d in &drift {
            out.push_str(&format!("  {d}\n"));
        }
        print_stdout(&out)?;
        return Ok(Outcome::Denied);
    }
    write_file_atomically(&path, current.to_toml().as_bytes(), true)?;
    status(
        ctx,
        &format!(
            "wrote {} ({} inputs pinned)",
            path.display(),
            current.inputs.len()
        ),
    );
    Ok(Outcome::Success)
}

/// `codex-attest.lock` at the repository root (or in `cwd` outside a repository).
pub fn default_lock_path(cwd: &std::path::Path) -> PathBuf {
    match codex_attest::git::Repo::discover(cwd) {
        Ok(Some(repo)) => repo.root.join(LOCK_FILE),
        _ => cwd.join(LOCK_FILE),
    }
}

/// Resolves the lock of a command line as `wrap` would see it.
pub fn resolve(command: &[OsString], cwd: &std::path::Path) -> anyhow::Result<LockFile> {
    let program = super::wrap::resolve_program(&command[0], cwd)?;
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let cache = std::env::temp_dir().join("codex-attest-cache");
    codex_attest::lock::resolve(&program, &command[1..], cwd, &codex_env(), &env, &cache).map_err(
        |err| match err {
            codex_attest::lock::LockError::NotCodexExec => usage_error(
                "only `codex exec` command lines can be locked",
                "e.g. codex-attest lock -- codex exec -s workspace-write \"task\"",
            ),
            other => other.into(),
        },
    )
}
