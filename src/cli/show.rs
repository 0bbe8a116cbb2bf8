//! `codex-attest show`: one stored run, in full.

use serde_json::json;

use codex_attest::predicate::InputKind;
use codex_attest::runs::{self, LoadedRun};

use super::{Ctx, Format, Outcome, open_store, print_stdout};

/// Show a recorded run: command, settings, inputs, changes, warnings
#[derive(Debug, clap::Args)]
#[command(after_help = "\
RUN is a run id, a unique prefix of one, or `latest`.

Examples:
  codex-attest show latest
  codex-attest show 20261124T081512Z --format json")]
pub struct ShowArgs {
    /// The run to show
    #[arg(value_name = "RUN", default_value = "latest")]
    run: String,
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    format: Format,
}

pub fn run(_ctx: &Ctx, args: ShowArgs) -> anyhow::Result<Outcome> {
    let (_repo, store) = open_store()?;
    let id = runs::resolve_id(&store, &args.run)?;
    let run = runs::load(&store, &id)?;
    match args.format {
        Format::Json => {
            let statement: serde_json::Value = serde_json::from_slice(&run.statement_json)?;
            let value = json!({
                "schema": "codex-attest/show/v1",
                "id": run.id,
                "dir": run.dir,
                "record": run.record,
                "statement": statement,
                "envelopes": run.envelopes.len(),
                "signers": signers(&run),
            });
            print_stdout(&format!("{value}\n"))?;
        }
        Format::Human => print_stdout(&render(&run))?,
    }
    Ok(Outcome::Success)
}

fn signers(run: &LoadedRun) -> Vec<String> {
    run.envelopes
        .iter()
        .flat_map(|e| e.signatures.iter().filter_map(|s| s.keyid.clone()))
        .collect()
}

pub fn render(run: &LoadedRun) -> String {
    let s = &run.record.summary;
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<11}{value}\n"));
    let exit = match (s.exit_code, s.signal) {
        (_, Some(sig)) => format!("signal {sig}"),
        (Some(code), None) => format!("exit {code}"),
        (None, None) => "no exit status".to_string(),
    };
    line(
        "run",
        format!(
            "{} ({}, {exit}, {:.1}s)",
            run.id,
            s.status.as_str(),
            s.duration_ms as f64 / 1000.0
        ),
    );
    line("started", s.started_on.to_string());
    line("command", s.command.clone());
    if let Some(role) = &s.role {
        line("role", role.clone());
    }
    if let Some(internal) = &run.internal {
        if let Some(codex) = &internal.codex {
            line(
                "codex",
                format!(
                    "{} ({} sha256:{})",
                    codex.version.as_deref().unwrap_or("unknown version"),
                    codex.path,
                    codex.sha256.short()
                ),
            );
        }
        if let Some(settings) = &internal.settings {
            let provider = settings.model_provider.as_ref().map(|p| {
                format!(
                    " via {}{}",
                    p.id,
                    p.base_url
                        .as_ref()
                        .map(|u| format!(" ({u})"))
                        .unwrap_or_default()
                )
            });
            line(
                "model",
                format!(
                    "{}{}",
                    settings.model.as_deref().unwrap_or("(Codex default)"),
                    provider.unwrap_or_default()
                ),
            );
            line(
                "sandbox",
                format!(
                    "{}, approval {}, reasoning effort {}{}",
                    settings.sandbox.as_deref().unwrap_or("?"),
                    settings.approval_policy.as_deref().unwrap_or("?"),
                    settings
                        .reasoning_effort
                        .as_deref()
                        .unwrap_or("(model default)"),
                    match settings.project_trusted {
                        Some(true) => ", project config trusted",
                        Some(false) => ", project config not trusted",
                        None => "",
                    }
                ),
            );
        }
        if let Some(git) = &internal.git {
            let commit = git
                .commit
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "(no commits)".to_string());
            let dirty = if git.dirty {
                format!(", {} uncommitted path(s) pinned", git.uncommitted.len())
            } else {
                String::new()
            };
            line(
                "git",
                format!(
                    "{commit}{}{dirty}",
                    git.branch
                        .as_ref()
                        .map(|b| format!(" on {b}"))
                        .unwrap_or_default()
                ),
            );
        }
        if let Some(capture) = internal.capture {
            if capture == codex_attest::predicate::CaptureLevel::Generic {
                line("capture", "generic (not `codex exec`)".to_string());
            }
        }
    }
    if let Some(thread) = &s.thread_id {
        line("thread", thread.clone());
    }
    if let (Some(i), Some(o)) = (s.input_tokens, s.output_tokens) {
        line("tokens", format!("{i} in, {o} out"));
    }
    let inputs: Vec<_> = run
        .record
        .inputs
        .iter()
        .filter(|i| i.kind != InputKind::StartingState)
        .collect();
    out.push_str(&format!("inputs ({}):\n", inputs.len()));
    for input in inputs {
        let scope = input
            .scope
            .as_ref()
            .map(|s| format!(", {s}"))
            .unwrap_or_default();
        let note = if input.redacted {
            ", secrets redacted in the stored copy"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {:<44} sha256:{}  {}{scope}{note}\n",
            input.name,
            input.sha256.short(),
            input.kind.as_str()
        ));
    }
    let starting: Vec<_> = run
        .record
        .inputs
        .iter()
        .filter(|i| i.kind == InputKind::StartingState)
        .collect();
    if !starting.is_empty() {
        out.push_str(&format!(
            "starting state ({} uncommitted):\n",
            starting.len()
        ));
        for input in starting {
            let state = if input.absent {
                "deleted".to_string()
            } else {
                format!("sha256:{}", input.sha256.short())
            };
            out.push_str(&format!(
                "  {} {:<42} {state}\n",
                input.git_status.as_deref().unwrap_or("??"),
                input.name
            ));
        }
    }
    if let Some(outcome) = run.internal.as_ref().and_then(|i| i.outcome.as_ref()) {
        let c = &outcome.changes;
        out.push_str(&format!("changes ({}):\n", c.count()));
        for f in &c.added {
            out.push_str(&format!("  A {:<42} sha256:{}\n", f.path, f.sha256.short()));
        }
        for f in &c.modified {
            let was = f
                .before
                .as_ref()
                .map(|b| format!(" (was sha256:{})", b.sha256.short()))
                .unwrap_or_default();
            out.push_str(&format!(
                "  M {:<42} sha256:{}{was}\n",
                f.path,
                f.sha256.short()
            ));
        }
        for f in &c.deleted {
            out.push_str(&format!(
                "  D {:<42} (was sha256:{})\n",
                f.path,
                f.sha256.short()
            ));
        }
        for r in &c.renamed {
            out.push_str(&format!(
                "  R {} -> {}  sha256:{}\n",
                r.from,
                r.to,
                r.sha256.short()
            ));
        }
        if outcome.possibly_concurrent {
            out.push_str("  (possibly concurrent: changes Codex's record does not account for)\n");
        }
    }
    if let Some(internal) = &run.internal {
        if !internal.disagreements.is_empty() {
            out.push_str("disagreements with Codex's own record:\n");
            for d in &internal.disagreements {
                out.push_str(&format!(
                    "  {}: resolved {}, Codex recorded {}\n",
                    d.field, d.resolved, d.recorded
                ));
            }
        }
        let notes: Vec<&String> = internal
            .not_recorded
            .iter()
            .chain(&internal.warnings)
            .collect();
        if !notes.is_empty() {
            out.push_str("warnings:\n");
            for w in notes {
                out.push_str(&format!("  {w}\n"));
            }
        }
    }
    let signers = signers(run);
    let signed = if signers.is_empty() {
        "unsigned".to_string()
    } else {
        signers
            .iter()
            .map(|k| k.chars().take(8).collect::<String>())
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!("{:<11}{signed}\n", "signed by"));
    out.push_str(&format!("{:<11}{}\n", "stored in", run.dir.display()));
    out
}
