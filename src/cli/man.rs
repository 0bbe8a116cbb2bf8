//! `codex-attest man`: man pages generated from the clap definitions.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::CommandFactory as _;

use super::{Args, Ctx, Outcome, print_stdout, status};

/// Print the man page, or write one per command to a directory
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The pages are generated from the same definitions as --help, so they always match this binary.

Examples:
  codex-attest man | man -l -
  codex-attest man --out-dir /usr/local/share/man/man1   # codex-attest.1, codex-attest-wrap.1, ...")]
pub struct ManArgs {
    /// Write codex-attest.1 and one codex-attest-COMMAND.1 per command into DIR
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: ManArgs) -> anyhow::Result<Outcome> {
    let command = Args::command();
    let Some(dir) = args.out_dir else {
        print_stdout(&String::from_utf8_lossy(&render(command)?))?;
        return Ok(Outcome::Success);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let mut pages = vec![("codex-attest.1".to_string(), render(command.clone())?)];
    for sub in command.get_subcommands() {
        let name = format!("codex-attest-{}", sub.get_name());
        let page = render(
            sub.clone()
                .display_name(name.clone())
                .version(env!("CARGO_PKG_VERSION")),
        )?;
        pages.push((format!("{name}.1"), page));
    }
    for (name, page) in &pages {
        super::write_file_atomically(&dir.join(name), page, true)?;
    }
    status(
        ctx,
        &format!("wrote {} man pages to {}", pages.len(), dir.display()),
    );
    Ok(Outcome::Success)
}

fn render(command: clap::Command) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut out)
        .context("failed to render the man page")?;
    Ok(out)
}
