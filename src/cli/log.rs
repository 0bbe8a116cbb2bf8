//! `codex-attest log`: stored runs, newest first, with filters.

use serde_json::json;

use codex_attest::digest::Sha256Digest;
use codex_attest::predicate::RunStatus;
use codex_attest::runs::{self, InputQuery, LogFilter};
use codex_attest::timestamp::Timestamp;

use super::{Ctx, Format, Outcome, open_store, print_stdout, usage_error};

/// List recorded runs, newest first
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Blast radius: `--input` lists every run that used an input, by digest or by name, so a poisoned
AGENTS.md or rules file can be traced to every change it influenced.

Examples:
  codex-attest log
  codex-attest log --model gpt-5.5 --status failed --since 2026-11-01
  codex-attest log --input sha256:3f2a... --format json
  codex-attest log --path src/auth/")]
pub struct LogArgs {
    /// Only runs with this model
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,
    /// Only runs with this role
    #[arg(long, value_name = "NAME")]
    role: Option<String>,
    /// Only runs with this status
    #[arg(long, value_name = "STATUS", value_parser = ["succeeded", "failed", "interrupted", "killed"])]
    status: Option<String>,
    /// Only runs of this Codex CLI version
    #[arg(long, value_name = "VERSION")]
    codex_version: Option<String>,
    /// Only runs started at or after this time (RFC 3339, or a date YYYY-MM-DD)
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only runs started at or before this time (RFC 3339, or a date YYYY-MM-DD)
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only runs that changed this path (a trailing `/` matches a directory)
    #[arg(long, value_name = "PATH")]
    path: Option<String>,
    /// Only runs that used this input: `sha256:<hex>` or an input name such as AGENTS.md
    #[arg(long, value_name = "DIGEST|NAME")]
    input: Option<String>,
    /// Show at most N runs
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<usize>,
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    format: Format,
}

pub fn run(_ctx: &Ctx, args: LogArgs) -> anyhow::Result<Outcome> {
    let filter = LogFilter {
        model: args.model,
        role: args.role,
        status: args.status.as_deref().map(parse_status),
        codex_version: args.codex_version,
        since: args
            .since
            .as_deref()
            .map(|t| parse_time(t, "--since", false))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| parse_time(t, "--until", true))
            .transpose()?,
        path: args.path,
        input: args.input.as_deref().map(parse_input).transpose()?,
    };
    let (_repo, store) = open_store()?;
    let mut ids = store.run_ids()?;
    ids.reverse();
    let mut shown = Vec::new();
    let mut problems = Vec::new();
    for id in ids {
        if args.limit.is_some_and(|n| shown.len() >= n) {
            break;
        }
        match runs::load(&store, &id) {
            Ok(run) if filter.matches(&run) => shown.push(run),
            Ok(_) => {}
            Err(err) => problems.push(err.to_string()),
        }
    }
    let mut out = String::new();
    match args.format {
        Format::Human => {
            for run in &shown {
                let s = &run.record.summary;
                out.push_str(&format!(
                    "{}  {:<11} {:<14} {:<10} {:>3} changed  {}\n",
                    run.id,
                    s.status.as_str(),
                    s.model.as_deref().unwrap_or("-"),
                    s.role.as_deref().unwrap_or("-"),
                    s.changed_files,
                    s.command
                ));
                if filter.input.is_some() || filter.path.is_some() {
                    for path in runs::changed_paths(run) {
                        out.push_str(&format!("    {path}\n"));
                    }
                }
            }
            if shown.is_empty() {
                out.push_str("no runs match\n");
            }
        }
        Format::Json => {
            for run in &shown {
                let s = &run.record.summary;
                let record = json!({"type": "run", "data": {
                    "id": run.id,
                    "startedOn": s.started_on,
                    "status": s.status,
                    "exitCode": s.exit_code,
                    "model": s.model,
                    "codexVersion": s.codex_version,
                    "role": s.role,
                    "changedFiles": s.changed_files,
                    "changedPaths": runs::changed_paths(run),
                    "command": s.command,
                    "signed": !run.envelopes.is_empty(),
                }});
                out.push_str(&format!("{record}\n"));
            }
            out.push_str(&format!("{}\n", json!({"type": "summary", "data": {"schema": "codex-attest/log/v1", "runs": shown.len(), "unreadable": problems.len()}})));
        }
    }
    print_stdout(&out)?;
    for problem in &problems {
        eprintln!("warning: {problem}");
    }
    Ok(Outcome::Success)
}

fn parse_status(s: &str) -> RunStatus {
    match s {
        "succeeded" => RunStatus::Succeeded,
        "failed" => RunStatus::Failed,
        "interrupted" => RunStatus::Interrupted,
        _ => RunStatus::Killed,
    }
}

fn parse_time(text: &str, flag: &str, end_of_day: bool) -> anyhow::Result<Timestamp> {
    let full = if text.len() == 10 {
        format!(
            "{text}T{}Z",
            if end_of_day { "23:59:59" } else { "00:00:00" }
        )
    } else {
        text.to_string()
    };
    full.parse().map_err(|_| {
        usage_error(
            format!("{flag} {text:?} is not a time"),
            "use YYYY-MM-DD or RFC 3339 (2026-11-24T08:00:00Z)",
        )
    })
}

fn parse_input(text: &str) -> anyhow::Result<InputQuery> {
    if text.starts_with("sha256:") {
        return Sha256Digest::parse_prefixed(text)
            .map(InputQuery::Digest)
            .map_err(|err| {
                usage_error(
                    format!("--input {text:?}: {err}"),
                    "use sha256:<64 lowercase hex>",
                )
            });
    }
    Ok(InputQuery::Name(text.to_string()))
}
