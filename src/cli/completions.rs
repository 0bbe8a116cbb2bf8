//! `codex-attest completions`: shell completion scripts generated from the clap definitions.

use clap::CommandFactory as _;

use super::{Args, Ctx, Outcome};

/// Print a shell completion script
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The script is generated from the same definitions as --help, so it always matches this binary.

Examples:
  codex-attest completions bash > ~/.local/share/bash-completion/completions/codex-attest
  codex-attest completions zsh > \"${fpath[1]}/_codex-attest\"
  codex-attest completions fish > ~/.config/fish/completions/codex-attest.fish")]
pub struct CompletionsArgs {
    /// The shell to write completions for
    #[arg(value_name = "SHELL")]
    shell: clap_complete::Shell,
}

pub fn run(_ctx: &Ctx, args: CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut command = Args::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "codex-attest", &mut out);
    super::print_stdout(&String::from_utf8_lossy(&out))?;
    Ok(Outcome::Success)
}
