//! `codex-attest doctor`: is this environment ready for recorded Codex runs?

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use codex_attest::doctor::{self, Level};

use super::{Ctx, Format, Outcome, codex_env, print_stdout};

/// Check the environment: Codex, git and the store, the signing key, secrets, Codex config
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Checks, each with a fix when something is wrong:
  codex                      the Codex CLI is on PATH and is the version codex-attest supports
  git, store                 a git repository, and the health of its store (as `fsck` sees it)
  key                        with --key: private (mode 600), a private key, and outside what
                             Codex's workspace-write sandbox can write
  secret-env                 secret-looking variables Codex's tool commands would inherit
                             (names only, never values) unless shell_environment_policy stops them
  untrusted-project-config   .codex/config.toml files Codex ignores in an untrusted project
  legacy-profile             `profile = ...` and [profiles.*], which Codex 0.169 rejects
  config                     configuration files that are not valid TOML

Exit status: 0 no errors (warnings allowed), 1 errors found, 2 could not check.

Examples:
  codex-attest doctor
  codex-attest doctor --key ~/.config/codex-attest/ci.key
  codex-attest doctor --format json")]
pub struct DoctorArgs {
    /// Also check this private signing key
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// The Codex CLI to check [default: `codex` on PATH]
    #[arg(long, value_name = "PATH")]
    codex: Option<PathBuf>,
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    format: Format,
}

pub fn run(ctx: &Ctx, args: DoctorArgs) -> anyhow::Result<Outcome> {
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    let codex = match args.codex {
        Some(path) => Some(path),
        None => super::wrap::resolve_program(&OsString::from("codex"), &cwd).ok(),
    };
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let cache = std::env::temp_dir().join("codex-attest-cache");
    let codex_env = codex_env();
    let findings = doctor::check(&doctor::Inputs {
        cwd: &cwd,
        codex_env: &codex_env,
        env: &env,
        codex: codex.as_deref(),
        key: args.key.as_deref(),
        cache_dir: &cache,
    });
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    let warnings = findings.iter().filter(|f| f.level == Level::Warn).count();
    match args.format {
        Format::Json => {
            let mut out = String::new();
            for f in &findings {
                out.push_str(&format!("{}\n", json!({"type": "finding", "data": f})));
            }
            out.push_str(&format!(
                "{}\n",
                json!({"type": "summary", "data": {"schema": "codex-attest/doctor/v1", "errors": errors, "warnings": warnings}})
            ));
            print_stdout(&out)?;
        }
        Format::Human => {
            let mut out = String::new();
            for f in &findings {
                if ctx.quiet && f.level == Level::Ok {
                    continue;
                }
                let tag = match f.level {
                    Level::Ok => super::paint(ctx, "ok   ", "32"),
                    Level::Warn => super::paint(ctx, "warn ", "33"),
                    Level::Error => super::paint(ctx, "error", "31"),
                };
                out.push_str(&format!("{tag} {:<26} {}\n", f.check, f.message));
                if !f.fix.is_empty() {
                    out.push_str(&format!("      {:<26} fix: {}\n", "", f.fix));
                }
            }
            out.push_str(&format!(
                "doctor: {errors} error{}, {warnings} warning{}\n",
                if errors == 1 { "" } else { "s" },
                if warnings == 1 { "" } else { "s" }
            ));
            print_stdout(&out)?;
        }
    }
    Ok(if errors > 0 {
        Outcome::Denied
    } else {
        Outcome::Success
    })
}
