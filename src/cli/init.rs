//! `codex-attest init`: commented templates, never overwriting.

use std::path::PathBuf;

use super::{Ctx, Outcome, status, usage_error, write_file_atomically};

/// Write commented templates: a release policy
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Existing files are never overwritten.

Examples:
  codex-attest init --policy release/policy.toml")]
pub struct InitArgs {
    /// Write a commented release-gate policy template to FILE
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: InitArgs) -> anyhow::Result<Outcome> {
    let Some(path) = args.policy else {
        return Err(usage_error("nothing to write", "pass --policy FILE"));
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    write_file_atomically(&path, codex_attest::policy::TEMPLATE.as_bytes(), false)?;
    status(
        ctx,
        &format!(
            "wrote {} (edit signers.keys, then: codex-attest verify --policy {} ...)",
            path.display(),
            path.display()
        ),
    );
    Ok(Outcome::Success)
}
