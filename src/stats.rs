//! `codex-attest stats`: totals over the runs in the store, by role, model and status, for
//! people (a table), programs (JSON) and monitoring (the Prometheus text exposition format, for
//! node-exporter's textfile collector).
//!
//! What we ignore (and why): token counts come from Codex's `--json` events or, without them, its
//! rollout; runs with neither (Codex kept no rollout, or not Codex at all) count zero tokens and
//! are counted in `runs_without_tokens`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::runs;
use crate::store::{Store, StoreError};

/// The labels a run is counted under.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Labels {
    pub role: String,
    pub model: String,
    pub status: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub runs: u64,
    pub duration_ms: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub changed_files: u64,
    /// Runs with Codex's sandbox off (`danger-full-access`).
    pub danger_full_access: u64,
    pub runs_without_tokens: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub groups: BTreeMap<Labels, Totals>,
    /// Run directories whose record could not be read (see `fsck`).
    pub unreadable: u64,
}

impl Stats {
    pub fn total(&self) -> Totals {
        let mut t = Totals::default();
        for g in self.groups.values() {
            t.runs += g.runs;
            t.duration_ms += g.duration_ms;
            t.input_tokens += g.input_tokens;
            t.output_tokens += g.output_tokens;
            t.changed_files += g.changed_files;
            t.danger_full_access += g.danger_full_access;
            t.runs_without_tokens += g.runs_without_tokens;
        }
        t
    }
}

/// Reads every run in the store.
pub fn collect(store: &Store) -> Result<Stats, StoreError> {
    let mut stats = Stats::default();
    if !store.exists() {
        return Ok(stats);
    }
    for id in store.run_ids()? {
        let Ok(run) = runs::load(store, &id) else {
            stats.unreadable += 1;
            continue;
        };
        let s = &run.record.summary;
        let labels = Labels {
            role: s.role.clone().unwrap_or_default(),
            model: s.model.clone().unwrap_or_default(),
            status: s.status.as_str().to_string(),
        };
        let g = stats.groups.entry(labels).or_default();
        g.runs += 1;
        g.duration_ms += s.duration_ms;
        g.changed_files += s.changed_files as u64;
        match (s.input_tokens, s.output_tokens) {
            (None, None) => g.runs_without_tokens += 1,
            (i, o) => {
                g.input_tokens += i.unwrap_or(0);
                g.output_tokens += o.unwrap_or(0);
            }
        }
        if s.sandbox.as_deref() == Some("danger-full-access") {
            g.danger_full_access += 1;
        }
    }
    Ok(stats)
}

/// The Prometheus text exposition format (version 0.0.4).
pub fn prometheus(stats: &Stats) -> String {
    let mut out = String::new();
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        &mut out,
        "codex_attest_runs_total",
        "counter",
        "Codex runs recorded by codex-attest wrap.",
    );
    for (l, t) in &stats.groups {
        let _ = writeln!(
            out,
            "codex_attest_runs_total{{{}}} {}",
            labels(l, &[]),
            t.runs
        );
    }
    family(
        &mut out,
        "codex_attest_tokens_total",
        "counter",
        "Model tokens used by recorded runs.",
    );
    for (l, t) in &stats.groups {
        for (kind, n) in [("input", t.input_tokens), ("output", t.output_tokens)] {
            let _ = writeln!(
                out,
                "codex_attest_tokens_total{{{}}} {n}",
                labels(l, &[("kind", kind)])
            );
        }
    }
    family(
        &mut out,
        "codex_attest_run_duration_seconds_total",
        "counter",
        "Wall time of recorded runs.",
    );
    for (l, t) in &stats.groups {
        let _ = writeln!(
            out,
            "codex_attest_run_duration_seconds_total{{{}}} {}",
            labels(l, &[]),
            t.duration_ms as f64 / 1000.0
        );
    }
    family(
        &mut out,
        "codex_attest_changed_files_total",
        "counter",
        "Files changed by recorded runs.",
    );
    for (l, t) in &stats.groups {
        let _ = writeln!(
            out,
            "codex_attest_changed_files_total{{{}}} {}",
            labels(l, &[]),
            t.changed_files
        );
    }
    family(
        &mut out,
        "codex_attest_danger_full_access_runs_total",
        "counter",
        "Recorded runs with Codex's sandbox off (danger-full-access).",
    );
    for (l, t) in &stats.groups {
        let _ = writeln!(
            out,
            "codex_attest_danger_full_access_runs_total{{{}}} {}",
            labels(l, &[]),
            t.danger_full_access
        );
    }
    family(
        &mut out,
        "codex_attest_unreadable_runs",
        "gauge",
        "Run directories in the store whose record could not be read (see codex-attest fsck).",
    );
    let _ = writeln!(out, "codex_attest_unreadable_runs {}", stats.unreadable);
    out
}

fn labels(l: &Labels, extra: &[(&str, &str)]) -> String {
    let mut parts = vec![
        format!("role=\"{}\"", escape(&l.role)),
        format!("model=\"{}\"", escape(&l.model)),
        format!("status=\"{}\"", escape(&l.status)),
    ];
    parts.extend(extra.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))));
    parts.join(",")
}

/// Label values escape `\`, `"` and newlines.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut stats = Stats::default();
        stats.groups.insert(
            Labels {
                role: "r\"x".into(),
                model: "m".into(),
                status: "succeeded".into(),
            },
            Totals {
                runs: 2,
                ..Totals::default()
            },
        );
        let text = prometheus(&stats);
        assert!(
            text.contains(
                "codex_attest_runs_total{role=\"r\\\"x\",model=\"m\",status=\"succeeded\"} 2\n"
            ),
            "{text}"
        );
    }
}
