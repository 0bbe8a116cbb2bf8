//! The `codex-attest` binary: parse the command line, dispatch, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser as _;

mod cli;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => cli::report_error(&err),
    }
}
