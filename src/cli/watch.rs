//! `codex-attest watch`: the watch service of one work tree, in the foreground.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use codex_attest::service::{self, Service, ServiceError};

use super::{Ctx, Format, Outcome, hint, open_store, print_stdout};

/// Keep this work tree watched so that `wrap` starts without walking it
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Without a service, every `wrap` runs one `git status` (a walk of the whole tree) before Codex
starts. `codex-attest watch` walks it once, keeps every directory watched (inotify) and the
status current, and answers `wrap` over a socket in .git/codex-attest/watch/, so a run starts
in milliseconds whatever the size of the tree. It stays in the foreground until Ctrl-C, SIGTERM
or `codex-attest watch --stop`; run it in the background (`&`, a terminal of its own, a user
service).

`wrap` uses the service when one answers and walks the tree itself otherwise: the service can
make a run start sooner, never its record less complete. It takes a fresh status whenever the
index, HEAD or the git configuration changed, sets its watch up again when a directory was
created, moved or deleted, and tells an open run to examine the whole tree when it cannot vouch
for what it saw (see SECURITY.md). Like any inotify watch it does not see writes through shared
memory mappings or changes made from another machine on a network file system: use
`wrap --full-rescan` there.

Examples:
  codex-attest watch &
  codex-attest wrap --key k.pem -- codex exec 'fix the tests'
  codex-attest watch --status --format json
  codex-attest watch --stop")]
pub struct WatchArgs {
    /// Print the running service's counters instead of starting one
    #[arg(long, conflicts_with = "stop")]
    status: bool,
    /// Ask the running service to stop
    #[arg(long)]
    stop: bool,
    /// Output format of --status
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    format: Format,
}

pub fn run(ctx: &Ctx, args: WatchArgs) -> anyhow::Result<Outcome> {
    let (repo, _store) = open_store()?;
    if args.stop {
        service::stop(&repo).map_err(not_running)?;
        if !ctx.quiet {
            eprintln!("asked the watch service of {} to stop", repo.root.display());
        }
        return Ok(Outcome::Success);
    }
    if args.status {
        let status = service::status(&repo).map_err(not_running)?;
        let text = match args.format {
            Format::Json => {
                let mut value = serde_json::to_value(&status)?;
                value["schema"] = "codex-attest/watch-status/v1".into();
                format!("{value}\n")
            }
            Format::Human => format!(
                "watching {} ({} directories, pid {}, up {} s)\n\
                 dirty paths: {}\n\
                 runs served: {} ({} open)\n\
                 full snapshots: {}, watch set-ups after the first: {}\n",
                status.root,
                status.directories,
                status.pid,
                status.uptime_s,
                status.dirty,
                status.runs,
                status.open_runs,
                status.rebaselines,
                status.restarts
            ),
        };
        print_stdout(&text)?;
        return Ok(Outcome::Success);
    }

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("could not install signal handlers")?;
    }
    let mut service = Service::start(&repo, &global_git_files()).map_err(|err| match err {
        ServiceError::Running(_) | ServiceError::PathTooLong(_) | ServiceError::Unusable(_) => {
            anyhow::Error::msg(err.to_string())
        }
        other => anyhow::Error::new(other).context("could not start the watch service"),
    })?;
    if !ctx.quiet {
        let status = service.status();
        eprintln!(
            "watching {} ({} directories, {} dirty paths); socket {}",
            status.root,
            status.directories,
            status.dirty,
            service.socket().display()
        );
    }
    service
        .run(&stop)
        .context("the watch service stopped on an error")?;
    Ok(Outcome::Success)
}

fn not_running(err: ServiceError) -> anyhow::Error {
    match err {
        ServiceError::NotRunning(_) => anyhow::Error::msg(hint(
            err.to_string(),
            "start one with `codex-attest watch &`",
        )),
        other => anyhow::Error::new(other),
    }
}

/// The user's git files where git looks for them by default (`~/.gitconfig`, and `config`,
/// `ignore` and `attributes` in `$XDG_CONFIG_HOME/git/`, else `~/.config/git/`), whether or not
/// they exist yet: a change to any of them makes the service take a fresh status.
fn global_git_files() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let mut files: Vec<PathBuf> = home.iter().map(|h| h.join(".gitconfig")).collect();
    if let Some(base) = base {
        for name in ["config", "ignore", "attributes"] {
            files.push(base.join("git").join(name));
        }
    }
    files
}
