//! `codex-attest revert`: undo exactly what a run changed.

use codex_attest::revert;

use super::{Ctx, Format, Outcome, open_store, print_stdout};

/// Undo exactly what a run changed in the work tree, file by file
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Restores modified and deleted files to their content and mode before the run (executable bit,
symlink), moves renamed files back and removes files the run added, but only where a file still
holds what the run produced; a file edited since, a rename whose old path is taken again, or a
file whose content before the run is not recorded is refused with the reason (unless --force,
which takes the starting commit's version of the last). Nothing outside the run's files is
touched.

Exit status: 0 everything reverted, 1 some files refused, 2 error.

Examples:
  codex-attest revert latest --dry-run
  codex-attest revert 20261124T081512Z")]
pub struct RevertArgs {
    /// The run to undo (an id, a unique prefix, or `latest`)
    #[arg(value_name = "RUN")]
    run: String,
    /// Say what would be done, change nothing
    #[arg(long)]
    dry_run: bool,
    /// Revert files even if they were edited after the run
    #[arg(long)]
    force: bool,
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    format: Format,
}

pub fn run(_ctx: &Ctx, args: RevertArgs) -> anyhow::Result<Outcome> {
    let (repo, store) = open_store()?;
    let id = codex_attest::runs::resolve_id(&store, &args.run)?;
    let run = codex_attest::runs::load(&store, &id)?;
    let report = revert::revert(&repo, &store, &run, args.dry_run, args.force)?;
    match args.format {
        Format::Json => print_stdout(&format!("{}\n", serde_json::to_string(&report)?))?,
        Format::Human => {
            let mut out = format!(
                "revert run {}{}\n",
                report.run,
                if report.dry_run { " (dry run)" } else { "" }
            );
            for f in &report.files {
                out.push_str(&format!("  {:<16} {:<9} {}", f.status, f.action, f.path));
                if let Some(reason) = &f.reason {
                    out.push_str(&format!(": {reason}"));
                }
                out.push('\n');
            }
            if report.files.is_empty() {
                out.push_str("  (the run changed no files)\n");
            }
            print_stdout(&out)?;
        }
    }
    Ok(if report.refused() > 0 {
        Outcome::Denied
    } else {
        Outcome::Success
    })
}
