//! Comparing two runs: settings, each input (with a unified diff of the pinned texts when both
//! are in the store), the prompt, the starting state, and the changed files.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::digest::Sha256Digest;
use crate::intoto::Statement;
use crate::predicate::{ExternalParameters, InputKind, InternalParameters};
use crate::provenance::Provenance;
use crate::record::StoredInput;
use crate::store::Store;

/// One side of a comparison: a statement, and the record when the run is in the store.
pub struct Side<'a> {
    pub label: String,
    pub statement: &'a Statement,
    pub inputs: Option<&'a [StoredInput]>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDiff {
    pub schema: &'static str,
    pub a: String,
    pub b: String,
    pub identical: bool,
    pub settings: Vec<SettingDiff>,
    pub inputs: Vec<EntryDiff>,
    pub prompt: Option<EntryDiff>,
    pub starting_state: Vec<EntryDiff>,
    pub changes: Vec<EntryDiff>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingDiff {
    pub name: &'static str,
    pub a: Option<String>,
    pub b: Option<String>,
    pub same: bool,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryDiff {
    pub name: String,
    pub status: EntryStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryStatus {
    Same,
    Changed,
    OnlyInA,
    OnlyInB,
}

/// A unified diff of two texts, or `None` when they are equal.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> Option<String> {
    if old == new {
        return None;
    }
    let diff = similar::TextDiff::from_lines(old, new);
    Some(
        diff.unified_diff()
            .context_radius(3)
            .header(old_label, new_label)
            .to_string(),
    )
}

struct View {
    external: Option<ExternalParameters>,
    internal: Option<InternalParameters>,
    /// name -> (kind, sha256)
    inputs: BTreeMap<String, (String, String)>,
    /// Produced files: path -> Some(sha256) or None when deleted.
    outcome: BTreeMap<String, Option<String>>,
    commit: Option<String>,
}

fn view(statement: &Statement) -> View {
    let provenance = Provenance::from_statement(statement).ok();
    let def = provenance.as_ref().map(|p| &p.build_definition);
    let external = def.and_then(|d| serde_json::from_value(d.external_parameters.clone()).ok());
    let internal: Option<InternalParameters> = def
        .and_then(|d| d.internal_parameters.clone())
        .and_then(|v| serde_json::from_value(v).ok());
    let mut inputs = BTreeMap::new();
    let mut commit = None;
    for dep in def
        .map(|d| d.resolved_dependencies.as_slice())
        .unwrap_or_default()
    {
        let kind = dep
            .annotations
            .get(crate::predicate::KIND_ANNOTATION)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        if kind == "git-commit" {
            commit = dep.digest.get("gitCommit").cloned();
            continue;
        }
        if let (Some(name), Some(sha)) = (&dep.name, dep.digest.get("sha256")) {
            inputs.insert(name.clone(), (kind, sha.clone()));
        }
    }
    let mut outcome = BTreeMap::new();
    if let Some(c) = internal
        .as_ref()
        .and_then(|i| i.outcome.as_ref())
        .map(|o| &o.changes)
    {
        for f in c.added.iter().chain(&c.modified) {
            outcome.insert(f.path.clone(), Some(f.sha256.to_string()));
        }
        for r in &c.renamed {
            outcome.insert(r.to.clone(), Some(r.sha256.to_string()));
            outcome.insert(r.from.clone(), None);
        }
        for f in &c.deleted {
            outcome.insert(f.path.clone(), None);
        }
    }
    View {
        external,
        internal,
        inputs,
        outcome,
        commit,
    }
}

/// Compares two runs.
pub fn diff_runs(a: &Side, b: &Side, store: Option<&Store>) -> RunDiff {
    let va = view(a.statement);
    let vb = view(b.statement);
    let mut settings = Vec::new();
    let mut setting = |name: &'static str, f: &dyn Fn(&View) -> Option<String>| {
        let (x, y) = (f(&va), f(&vb));
        settings.push(SettingDiff {
            name,
            same: x == y,
            a: x,
            b: y,
        });
    };
    setting("codexVersion", &|v| {
        v.internal.as_ref()?.codex.as_ref()?.version.clone()
    });
    setting("codexBinary", &|v| {
        v.internal
            .as_ref()?
            .codex
            .as_ref()
            .map(|c| format!("sha256:{}", c.sha256))
    });
    setting("model", &|v| {
        v.internal.as_ref()?.settings.as_ref()?.model.clone()
    });
    setting("provider", &|v| {
        let p = v
            .internal
            .as_ref()?
            .settings
            .as_ref()?
            .model_provider
            .as_ref()?;
        Some(format!(
            "{}{}",
            p.id,
            p.base_url
                .as_ref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default()
        ))
    });
    setting("sandbox", &|v| {
        v.internal.as_ref()?.settings.as_ref()?.sandbox.clone()
    });
    setting("approvalPolicy", &|v| {
        v.internal
            .as_ref()?
            .settings
            .as_ref()?
            .approval_policy
            .clone()
    });
    setting("reasoningEffort", &|v| {
        v.internal
            .as_ref()?
            .settings
            .as_ref()?
            .reasoning_effort
            .clone()
    });
    setting("projectTrusted", &|v| {
        v.internal
            .as_ref()?
            .settings
            .as_ref()?
            .project_trusted
            .map(|t| t.to_string())
    });
    setting("features", &|v| {
        let f = &v.internal.as_ref()?.settings.as_ref()?.features;
        (!f.is_empty()).then(|| {
            f.iter()
                .map(|(k, on)| format!("{k}={on}"))
                .collect::<Vec<_>>()
                .join(",")
        })
    });
    setting("role", &|v| v.external.as_ref()?.role.clone());
    setting("profile", &|v| v.external.as_ref()?.profile.clone());
    setting("commit", &|v| v.commit.clone());

    let text_of = |side: &Side, name: &str, sha: &str| -> Option<String> {
        let store = store?;
        let blob = side
            .inputs
            .and_then(|inputs| inputs.iter().find(|i| i.name == name))
            .and_then(|i| i.blob)
            .or_else(|| sha.parse::<Sha256Digest>().ok())?;
        let bytes = store.read_blob(&blob).ok()?;
        String::from_utf8(bytes).ok()
    };
    let mut inputs = Vec::new();
    let mut starting_state = Vec::new();
    let mut prompt = None;
    let names: BTreeSet<&String> = va.inputs.keys().chain(vb.inputs.keys()).collect();
    for name in names {
        let x = va.inputs.get(name);
        let y = vb.inputs.get(name);
        let kind = x.or(y).map(|(k, _)| k.clone()).unwrap_or_default();
        let status = match (x, y) {
            (Some((_, p)), Some((_, q))) if p == q => EntryStatus::Same,
            (Some(_), Some(_)) => EntryStatus::Changed,
            (Some(_), None) => EntryStatus::OnlyInA,
            (None, _) => EntryStatus::OnlyInB,
        };
        let diff = match (status, x, y) {
            (EntryStatus::Changed, Some((_, p)), Some((_, q))) => {
                match (text_of(a, name, p), text_of(b, name, q)) {
                    (Some(ta), Some(tb)) => unified(
                        &ta,
                        &tb,
                        &format!("{}/{name}", a.label),
                        &format!("{}/{name}", b.label),
                    ),
                    _ => None,
                }
            }
            _ => None,
        };
        let entry = EntryDiff {
            name: name.clone(),
            status,
            a: x.map(|(_, s)| format!("sha256:{s}")),
            b: y.map(|(_, s)| format!("sha256:{s}")),
            diff,
        };
        match kind.as_str() {
            k if k == InputKind::Prompt.as_str() => prompt = Some(entry),
            k if k == InputKind::StartingState.as_str() => starting_state.push(entry),
            k if k == InputKind::CodexExecutable.as_str() => {}
            _ => inputs.push(entry),
        }
    }
    let mut changes = Vec::new();
    let paths: BTreeSet<&String> = va.outcome.keys().chain(vb.outcome.keys()).collect();
    for path in paths {
        let x = va.outcome.get(path);
        let y = vb.outcome.get(path);
        let show = |v: Option<&Option<String>>| {
            v.map(|d| {
                d.as_ref()
                    .map(|s| format!("sha256:{s}"))
                    .unwrap_or_else(|| "deleted".to_string())
            })
        };
        let status = match (x, y) {
            (Some(p), Some(q)) if p == q => EntryStatus::Same,
            (Some(_), Some(_)) => EntryStatus::Changed,
            (Some(_), None) => EntryStatus::OnlyInA,
            (None, _) => EntryStatus::OnlyInB,
        };
        changes.push(EntryDiff {
            name: path.clone(),
            status,
            a: show(x),
            b: show(y),
            diff: None,
        });
    }
    let identical = settings.iter().all(|s| s.same)
        && inputs
            .iter()
            .chain(&starting_state)
            .chain(&changes)
            .chain(prompt.iter())
            .all(|e| e.status == EntryStatus::Same);
    RunDiff {
        schema: "codex-attest/diff/v1",
        a: a.label.clone(),
        b: b.label.clone(),
        identical,
        settings,
        inputs,
        prompt,
        starting_state,
        changes,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unified_diffs() {
        assert_eq!(super::unified("a\n", "a\n", "x", "y"), None);
        let d = super::unified("one\ntwo\n", "one\nthree\n", "a/f", "b/f").unwrap();
        assert!(d.contains("--- a/f\n+++ b/f\n"), "{d}");
        assert!(d.contains("-two\n+three\n"), "{d}");
    }
}
