//! `codex-attest stats`: totals over the recorded runs.

use serde_json::json;

use super::{Ctx, Outcome, open_store, print_stdout};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsFormat {
    /// A table for people
    Human,
    /// One JSON object (schema codex-attest/stats/v1)
    Json,
    /// Prometheus text format, for node-exporter's textfile collector
    Prometheus,
}

/// Totals over the recorded runs: by role, model and status; tokens, durations, sandbox off
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Counts every run in this repository's store (.git/codex-attest). Tokens come from Codex's --json
events or its rollout; runs with neither are counted as runs without tokens.

Prometheus metrics (all labelled role, model, status):
  codex_attest_runs_total                      runs
  codex_attest_tokens_total{kind=input|output} model tokens
  codex_attest_run_duration_seconds_total      wall time
  codex_attest_changed_files_total             files changed
  codex_attest_danger_full_access_runs_total   runs with Codex's sandbox off
  codex_attest_unreadable_runs                 (no labels) records that could not be read

Examples:
  codex-attest stats
  codex-attest stats --format json
  codex-attest stats --format prometheus > /var/lib/node_exporter/textfile/codex_attest.prom.$$ \\
    && mv /var/lib/node_exporter/textfile/codex_attest.prom.$$ /var/lib/node_exporter/textfile/codex_attest.prom")]
pub struct StatsArgs {
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    format: StatsFormat,
}

pub fn run(_ctx: &Ctx, args: StatsArgs) -> anyhow::Result<Outcome> {
    let (_repo, store) = open_store()?;
    let stats = codex_attest::stats::collect(&store)?;
    let total = stats.total();
    let text = match args.format {
        StatsFormat::Prometheus => codex_attest::stats::prometheus(&stats),
        StatsFormat::Json => {
            let groups: Vec<_> = stats
                .groups
                .iter()
                .map(|(l, t)| json!({"role": l.role, "model": l.model, "status": l.status, "totals": t}))
                .collect();
            format!(
                "{}\n",
                json!({"schema": "codex-attest/stats/v1", "total": total, "groups": groups, "unreadable": stats.unreadable})
            )
        }
        StatsFormat::Human => {
            let mut out = format!(
                "{:<12} {:<16} {:<12} {:>5} {:>10} {:>12} {:>12} {:>7} {:>6}\n",
                "role",
                "model",
                "status",
                "runs",
                "time",
                "in tokens",
                "out tokens",
                "files",
                "no-sbx"
            );
            let row = |role: &str, model: &str, status: &str, t: &codex_attest::stats::Totals| {
                format!(
                    "{:<12} {:<16} {:<12} {:>5} {:>9.1}s {:>12} {:>12} {:>7} {:>6}\n",
                    if role.is_empty() { "-" } else { role },
                    if model.is_empty() { "-" } else { model },
                    status,
                    t.runs,
                    t.duration_ms as f64 / 1000.0,
                    t.input_tokens,
                    t.output_tokens,
                    t.changed_files,
                    t.danger_full_access
                )
            };
            for (l, t) in &stats.groups {
                out.push_str(&row(&l.role, &l.model, &l.status, t));
            }
            out.push_str(&row("all", "", "", &total));
            if total.runs_without_tokens > 0 {
                out.push_str(&format!(
                    "{} run{} without token counts (no events and no rollout)\n",
                    total.runs_without_tokens,
                    if total.runs_without_tokens == 1 {
                        ""
                    } else {
                        "s"
                    }
                ));
            }
            if stats.unreadable > 0 {
                out.push_str(&format!(
                    "{} unreadable run record{} (see codex-attest fsck)\n",
                    stats.unreadable,
                    if stats.unreadable == 1 { "" } else { "s" }
                ));
            }
            out
        }
    };
    print_stdout(&text)?;
    Ok(Outcome::Success)
}
