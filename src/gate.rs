//! The release gate: verified attestations checked against a policy, and bound to code.
//!
//! - `Gate::check` applies the policy's run, input and change rules to one verified attestation.
//! - `bind` checks that every attested file exists, at a work tree or a commit, with the attested
//!   content (`changed-after-run`, `subject-missing`).
//! - `range` checks that every file changed between two commits has its current content produced
//!   by some verified run (`uncovered-change`), and names the commits that no run covers.
//!
//! Every finding names its rule code; levels (deny or warn) come from the command line, then the
//! policy's `[levels]`, then the default. A finding an exception matches becomes a note that
//! carries the exception's reason, so passes are explained too. Only `VerifiedStatement`s come in:
//! unverified bytes never reach a rule.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use serde::Serialize;

use crate::digest::{GitOid, digest_file};
use crate::git::{GitError, Repo};
use crate::intoto::Statement;
use crate::keys::KeyId;
use crate::policy::{Level, Policy, RunRules};
use crate::predicate::{
    CODEX_RUN_BUILD_TYPE, CaptureLevel, ExternalParameters, InternalParameters, RunStatus,
};
use crate::provenance::Provenance;
use crate::record::MANIFEST_SUBJECT;
use crate::timestamp::Timestamp;
use crate::verify::VerifiedStatement;

/// A verified attestation and where it came from.
#[derive(Clone, Debug)]
pub struct Attestation {
    /// `file:line`, `run <id>`, `note on <commit>`.
    pub location: String,
    /// Shared, not copied: a release gate holds thousands of these.
    pub verified: std::sync::Arc<VerifiedStatement>,
    /// The codex-run predicate, or why it could not be read as one. Shared like `verified`: the
    /// gate's lists of attestations are copied, their views are not.
    pub view: std::sync::Arc<Result<RunView, String>>,
}

/// What a codex-run/v1 statement says, read from verified bytes.
#[derive(Clone, Debug)]
pub struct RunView {
    pub run_id: Option<String>,
    pub external: ExternalParameters,
    pub internal: InternalParameters,
    pub finished_on: Option<Timestamp>,
    /// Files the run left behind, with their content digests.
    pub produced: Vec<ProducedFile>,
    /// Files the run deleted (or renamed away), with their content before the run.
    pub deleted: Vec<ProducedFile>,
    /// Inputs from `resolvedDependencies`: name, kind (`codexattest.kind`) and SHA-256.
    pub inputs: Vec<(String, String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducedFile {
    pub path: String,
    pub sha256: String,
    pub git_blob: String,
}

/// One finding of the gate.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The attestation field the rule looked at (a JSON pointer into the statement).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Where the rule is defined in the policy file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleLocation>,
    /// The reason of the exception that excused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excused_by: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleLocation {
    pub file: String,
    pub line: usize,
    pub column: usize,
    #[serde(skip)]
    pub source_line: String,
    #[serde(skip)]
    pub width: usize,
    pub label: String,
}

/// Whether one path is covered by an attested run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    pub path: String,
    pub status: CoverageStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
    /// Which of the attestations given to `range` or `bind` covers the path (its index), so the
    /// gate can check that one against the policy even when it names no run; for a path that is
    /// not as attested, the latest attestation that claimed it, so findings can name it.
    #[serde(skip)]
    pub attestation: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoverageStatus {
    /// The content is what an attested run produced (or the path was deleted by one).
    Covered,
    /// The file exists with content no attested run produced.
    ChangedAfterRun,
    /// An attested run produced the file, and it is gone.
    Missing,
    /// Changed in the range, produced by no attested run.
    Uncovered,
    /// The attestation names this path, but it is not a safe relative path (`..`, absolute, NUL,
    /// or through a symlinked directory): it was not looked at.
    UnsafePath,
}

/// Where to bind subjects.
pub enum Target<'a> {
    Worktree(&'a Path),
    Commit(&'a GitOid),
}

/// The result of checking a commit range.
#[derive(Clone, Debug, Default)]
pub struct RangeReport {
    pub coverage: Vec<Coverage>,
    pub commits: usize,
    /// Commits that changed at least one uncovered path, with those paths.
    pub uncovered_commits: Vec<(String, Vec<String>)>,
}

/// Evaluates rules, applying levels and exceptions.
pub struct Gate<'a> {
    policy: Option<&'a Policy>,
    overrides: &'a BTreeMap<String, Level>,
    now: Timestamp,
    used_exceptions: RefCell<BTreeSet<usize>>,
}

impl RunView {
    /// Reads the codex-run/v1 predicate of a verified statement.
    pub fn from_statement(statement: &Statement) -> Result<RunView, String> {
        let provenance = Provenance::from_statement(statement).map_err(|e| e.to_string())?;
        let def = &provenance.build_definition;
        if def.build_type != CODEX_RUN_BUILD_TYPE {
            return Err(format!(
                "build type {:?} is not {CODEX_RUN_BUILD_TYPE:?}",
                def.build_type
            ));
        }
        let external: ExternalParameters = serde_json::from_value(def.external_parameters.clone())
            .map_err(|e| format!("externalParameters: {e}"))?;
        let internal_value = def
            .internal_parameters
            .clone()
            .unwrap_or_else(|| serde_json::json!({}));
        let internal: InternalParameters = serde_json::from_value(internal_value)
            .map_err(|e| format!("internalParameters: {e}"))?;
        let mut produced: Vec<ProducedFile> = Vec::new();
        let mut deleted = Vec::new();
        if let Some(outcome) = &internal.outcome {
            let c = &outcome.changes;
            for f in c.added.iter().chain(&c.modified) {
                produced.push(ProducedFile {
                    path: f.path.clone(),
                    sha256: f.sha256.to_string(),
                    git_blob: f.git_blob.to_string(),
                });
            }
            for r in &c.renamed {
                produced.push(ProducedFile {
                    path: r.to.clone(),
                    sha256: r.sha256.to_string(),
                    git_blob: r.git_blob.to_string(),
                });
                deleted.push(ProducedFile {
                    path: r.from.clone(),
                    sha256: r.before.sha256.to_string(),
                    git_blob: r.before.git_blob.to_string(),
                });
            }
            for f in &c.deleted {
                deleted.push(ProducedFile {
                    path: f.path.clone(),
                    sha256: f.sha256.to_string(),
                    git_blob: f.git_blob.to_string(),
                });
            }
            // The subjects are the signed claim; the change list must agree with them.
            check_subjects(statement, &produced, &c.clone())?;
        }
        let inputs = def
            .resolved_dependencies
            .iter()
            .filter_map(|d| {
                let kind = d
                    .annotations
                    .get(crate::predicate::KIND_ANNOTATION)
                    .and_then(|k| k.as_str())
                    .unwrap_or("");
                Some((
                    d.name.clone()?,
                    kind.to_string(),
                    d.digest.get("sha256")?.clone(),
                ))
            })
            .collect();
        Ok(RunView {
            run_id: provenance
                .run_details
                .metadata
                .as_ref()
                .and_then(|m| m.invocation_id.clone()),
            finished_on: provenance
                .run_details
                .metadata
                .as_ref()
                .and_then(|m| m.finished_on),
            external,
            internal,
            produced,
            deleted,
            inputs,
        })
    }
}

/// The statement's subjects must be exactly the produced files (or their manifest).
fn check_subjects(
    statement: &Statement,
    produced: &[ProducedFile],
    changes: &crate::predicate::Changes,
) -> Result<(), String> {
    if statement.subject.len() == 1
        && statement.subject[0].name.as_deref() == Some(MANIFEST_SUBJECT)
    {
        let expected = crate::record::manifest_digest(changes).to_string();
        return match statement.subject[0].digest.get("sha256") {
            Some(d) if *d == expected => Ok(()),
            _ => Err("the manifest subject does not match the change list".to_string()),
        };
    }
    if produced.is_empty() {
        return Ok(());
    }
    let claimed: BTreeSet<(String, String)> = statement
        .subject
        .iter()
        .filter_map(|s| Some((s.name.clone()?, s.digest.get("sha256")?.clone())))
        .collect();
    let listed: BTreeSet<(String, String)> = produced
        .iter()
        .map(|p| (p.path.clone(), p.sha256.clone()))
        .collect();
    if claimed != listed {
        return Err("the subjects do not match the change list in internalParameters".to_string());
    }
    Ok(())
}

impl Attestation {
    pub fn new(location: String, verified: std::sync::Arc<VerifiedStatement>) -> Attestation {
        let view = std::sync::Arc::new(RunView::from_statement(&verified.statement));
        Attestation {
            location,
            verified,
            view,
        }
    }

    pub fn signers(&self) -> Vec<KeyId> {
        self.verified
            .signatures
            .signers()
            .into_iter()
            .cloned()
            .collect()
    }

    pub fn run_id(&self) -> Option<String> {
        self.view
            .as_ref()
            .as_ref()
            .ok()
            .and_then(|v| v.run_id.clone())
    }
}

impl<'a> Gate<'a> {
    pub fn new(
        policy: Option<&'a Policy>,
        overrides: &'a BTreeMap<String, Level>,
        now: Timestamp,
    ) -> Gate<'a> {
        Gate {
            policy,
            overrides,
            now,
            used_exceptions: RefCell::new(BTreeSet::new()),
        }
    }

    fn level(&self, code: &str) -> Level {
        if let Some(level) = self.overrides.get(code) {
            return *level;
        }
        match self.policy {
            Some(p) => p.level(code),
            None => crate::policy::default_level(code),
        }
    }

    fn rule(&self, span: &Range<usize>, label: &str) -> Option<RuleLocation> {
        let policy = self.policy?;
        let (line, column, text) = policy.locate(span);
        let width = policy
            .source
            .get(span.clone())
            .map(|s| s.lines().next().unwrap_or("").chars().count())
            .unwrap_or(1)
            .max(1);
        Some(RuleLocation {
            file: policy.path.display().to_string(),
            line,
            column,
            source_line: text.to_string(),
            width,
            label: label.to_string(),
        })
    }

    /// Records a finding at its level, unless an exception excuses it.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &self,
        out: &mut Vec<Finding>,
        code: &'static str,
        message: String,
        attestation: Option<&Attestation>,
        path: Option<&str>,
        field: Option<&str>,
        rule: Option<RuleLocation>,
    ) {
        let run = attestation.and_then(|a| a.run_id());
        let severity = match self.level(code) {
            Level::Deny => Severity::Error,
            Level::Warn => Severity::Warning,
        };
        let mut finding = Finding {
            code,
            severity,
            message,
            attestation: attestation.map(|a| a.location.clone()),
            run: run.clone(),
            path: path.map(str::to_string),
            field: field.map(str::to_string),
            rule,
            excused_by: None,
        };
        if let Some(policy) = self.policy {
            for (i, ex) in policy.exceptions.iter().enumerate() {
                if ex.rule != code {
                    continue;
                }
                let path_ok = match (&ex.paths, path) {
                    (Some(set), Some(p)) => set.is_match(p),
                    (Some(_), None) => false,
                    (None, _) => true,
                };
                let run_ok = ex.runs.is_empty()
                    || run
                        .as_ref()
                        .is_some_and(|r| ex.runs.iter().any(|x| r.starts_with(x.as_str())));
                if path_ok && run_ok {
                    self.used_exceptions.borrow_mut().insert(i);
                    finding.severity = Severity::Note;
                    finding.excused_by = Some(ex.reason.clone());
                    break;
                }
            }
        }
        out.push(finding);
    }

    /// Reports exceptions that excused nothing.
    pub fn finish(&self, out: &mut Vec<Finding>) {
        let Some(policy) = self.policy else { return };
        let used = self.used_exceptions.borrow().clone();
        for (i, ex) in policy.exceptions.iter().enumerate() {
            if !used.contains(&i) {
                let rule = self.rule(&ex.span, "exception defined here");
                self.push(
                    out,
                    "unused-exception",
                    format!("the exception for {} matched nothing; remove it", ex.rule),
                    None,
                    None,
                    None,
                    rule,
                );
            }
        }
    }

    /// Applies the policy's run, input and change rules to one attestation.
    pub fn check(&self, a: &Attestation, out: &mut Vec<Finding>) {
        let Some(policy) = self.policy else { return };
        let view = match a.view.as_ref() {
            Ok(v) => v,
            Err(_) => return, // Reported by the caller as an unknown build type.
        };
        let run_label = view
            .run_id
            .clone()
            .map(|r| format!("run {r}"))
            .unwrap_or_else(|| "the run".to_string());
        self.check_rules(a, view, &policy.run, &run_label, out);
        if let Some(role) = &view.external.role {
            if let Some((_, rules)) = policy.roles.get(role) {
                self.check_rules(a, view, rules, &format!("{run_label} (role {role})"), out);
            }
        }
        if let Some(allowed) = &policy.run.roles {
            let role = view.external.role.clone().unwrap_or_default();
            if !allowed.get_ref().contains(&role) {
                self.push(
                    out,
                    "role-not-allowed",
                    format!(
                        "{run_label} has role {role:?}, not one of {:?}",
                        allowed.get_ref()
                    ),
                    Some(a),
                    None,
                    Some("/predicate/buildDefinition/externalParameters/role"),
                    self.rule(&allowed.span(), "allowed roles defined here"),
                );
            }
        }
        for rule in &policy.inputs {
            for (name, _, sha) in &view.inputs {
                if !rule.matcher.is_match(name) {
                    continue;
                }
                if !rule.approved.iter().any(|d| d.to_string() == *sha) {
                    self.push(
                        out,
                        "input-not-approved",
                        format!("{run_label} used {name} with sha256:{sha}, which is not an approved digest"),
                        Some(a),
                        Some(name),
                        Some("/predicate/buildDefinition/resolvedDependencies"),
                        self.rule(&rule.span, "approved digests defined here"),
                    );
                }
            }
        }
        if view
            .internal
            .outcome
            .as_ref()
            .is_some_and(|o| o.possibly_concurrent)
        {
            self.push(
                out,
                "possibly-concurrent",
                format!("{run_label}'s changes may include another process's writes"),
                Some(a),
                None,
                Some("/predicate/buildDefinition/internalParameters/outcome/possiblyConcurrent"),
                None,
            );
        }
        for d in &view.internal.disagreements {
            self.push(
                out,
                "codex-record-disagrees",
                format!(
                    "{run_label}: Codex recorded {} = {}, codex-attest resolved {}",
                    d.field, d.recorded, d.resolved
                ),
                Some(a),
                None,
                Some("/predicate/buildDefinition/internalParameters/disagreements"),
                None,
            );
        }
    }

    fn check_rules(
        &self,
        a: &Attestation,
        view: &RunView,
        rules: &RunRules,
        run_label: &str,
        out: &mut Vec<Finding>,
    ) {
        let internal = &view.internal;
        let settings = internal.settings.as_ref();
        if let Some(models) = &rules.models {
            let model = settings.and_then(|s| s.model.clone());
            if !model.as_ref().is_some_and(|m| models.get_ref().contains(m)) {
                self.push(
                    out,
                    "model-not-allowed",
                    format!(
                        "{run_label} used model {}, not one of {:?}",
                        model.as_deref().unwrap_or("(unknown)"),
                        models.get_ref()
                    ),
                    Some(a),
                    None,
                    Some("/predicate/buildDefinition/internalParameters/settings/model"),
                    self.rule(&models.span(), "allowed models defined here"),
                );
            }
        }
        if let Some((req, span)) = &rules.codex_versions {
            let version = internal.codex.as_ref().and_then(|c| c.version.clone());
            let ok = version
                .as_deref()
                .and_then(|v| semver::Version::parse(v).ok())
                .is_some_and(|v| req.matches(&v));
            if !ok {
                self.push(
                    out,
                    "codex-version-not-allowed",
                    format!(
                        "{run_label} used Codex CLI {}, which does not satisfy {req}",
                        version.as_deref().unwrap_or("(unknown version)")
                    ),
                    Some(a),
                    None,
                    Some("/predicate/buildDefinition/internalParameters/codex/version"),
                    self.rule(span, "allowed versions defined here"),
                );
            }
        }
        if let Some(sandbox) = &rules.sandbox {
            let mode = settings.and_then(|s| s.sandbox.clone());
            if !mode.as_ref().is_some_and(|m| sandbox.get_ref().contains(m)) {
                self.push(
                    out,
                    "sandbox-not-allowed",
                    format!(
                        "{run_label} ran with sandbox {}, not one of {:?}",
                        mode.as_deref().unwrap_or("(unknown)"),
                        sandbox.get_ref()
                    ),
                    Some(a),
                    None,
                    Some("/predicate/buildDefinition/internalParameters/settings/sandbox"),
                    self.rule(&sandbox.span(), "allowed sandbox modes defined here"),
                );
            }
        }
        if let Some(approval) = &rules.approval {
            let policy = settings.and_then(|s| s.approval_policy.clone());
            if !policy
                .as_ref()
                .is_some_and(|m| approval.get_ref().contains(m))
            {
                self.push(
                    out,
                    "approval-not-allowed",
                    format!(
                        "{run_label} ran with approval policy {}, not one of {:?}",
                        policy.as_deref().unwrap_or("(unknown)"),
                        approval.get_ref()
                    ),
                    Some(a),
                    None,
                    Some("/predicate/buildDefinition/internalParameters/settings/approvalPolicy"),
                    self.rule(&approval.span(), "allowed approval policies defined here"),
                );
            }
        }
        if let Some(required) = &rules.require_success {
            let status = internal.outcome.as_ref().map(|o| o.status);
            if *required.get_ref() && status != Some(RunStatus::Succeeded) {
                let status = status.map(|s| s.as_str()).unwrap_or("unknown");
                self.push(
                    out,
                    "run-not-successful",
                    format!("{run_label} {status}, and the policy requires success"),
                    Some(a),
                    None,
                    Some("/predicate/buildDefinition/internalParameters/outcome/status"),
                    self.rule(&required.span(), "required here"),
                );
            }
        }
        if let Some((max_age, span)) = &rules.max_age {
            // A finish time slightly ahead of our clock (skew between machines) counts as age 0.
            let age = view
                .finished_on
                .map(|t| (self.now.unix_seconds() - t.unix_seconds()).max(0));
            if age.is_none_or(|a| a as u64 > *max_age) {
                let age = age
                    .map(|s| format!("{}d {}h old", s / 86_400, (s % 86_400) / 3600))
                    .unwrap_or_else(|| "of unknown age".to_string());
                self.push(
                    out,
                    "attestation-too-old",
                    format!("{run_label} is {age}, older than the policy allows"),
                    Some(a),
                    None,
                    Some("/predicate/runDetails/metadata/finishedOn"),
                    self.rule(span, "maximum age defined here"),
                );
            }
        }
        if let Some(capture) = &rules.capture {
            let level = match internal.capture {
                Some(CaptureLevel::CodexExec) => "codex-exec",
                Some(CaptureLevel::Generic) => "generic",
                None => "(unknown)",
            };
            if !capture.get_ref().iter().any(|c| c == level) {
                self.push(
                    out,
                    "capture-not-allowed",
                    format!(
                        "{run_label} was captured as {level}, not one of {:?}",
                        capture.get_ref()
                    ),
                    Some(a),
                    None,
                    Some("/predicate/buildDefinition/internalParameters/capture"),
                    self.rule(&capture.span(), "allowed capture levels defined here"),
                );
            }
        }
        let touched: Vec<&str> = view
            .produced
            .iter()
            .chain(&view.deleted)
            .map(|f| f.path.as_str())
            .collect();
        if let Some((deny, span)) = &rules.deny_paths {
            for path in &touched {
                if deny.is_match(path) {
                    self.push(
                        out,
                        "path-denied",
                        format!("{run_label} changed {path}, which the policy forbids"),
                        Some(a),
                        Some(path),
                        Some("/subject"),
                        self.rule(span, "denied paths defined here"),
                    );
                }
            }
        }
        if let Some((allow, span)) = &rules.allow_paths {
            for path in &touched {
                if !allow.is_match(path) {
                    self.push(
                        out,
                        "path-not-allowed",
                        format!("{run_label} changed {path}, outside the allowed paths"),
                        Some(a),
                        Some(path),
                        Some("/subject"),
                        self.rule(span, "allowed paths defined here"),
                    );
                }
            }
        }
        if let Some((lock, span)) = &rules.lock {
            let mut drift = Vec::new();
            let mut field = |name: &str, locked: &Option<String>, actual: Option<String>| {
                if locked.is_some() && *locked != actual {
                    drift.push(format!(
                        "{name}: locked {}, ran {}",
                        locked.as_deref().unwrap_or("-"),
                        actual.as_deref().unwrap_or("(unknown)")
                    ));
                }
            };
            field(
                "codex-version",
                &lock.codex_version,
                internal.codex.as_ref().and_then(|c| c.version.clone()),
            );
            field("model", &lock.model, settings.and_then(|s| s.model.clone()));
            field(
                "sandbox",
                &lock.sandbox,
                settings.and_then(|s| s.sandbox.clone()),
            );
            field(
                "approval",
                &lock.approval,
                settings.and_then(|s| s.approval_policy.clone()),
            );
            let used: BTreeMap<String, String> = view
                .inputs
                .iter()
                .filter(|(_, kind, _)| {
                    serde_json::from_value::<crate::predicate::InputKind>(
                        serde_json::Value::String(kind.clone()),
                    )
                    .is_ok_and(crate::lock::locked_kind)
                })
                .map(|(name, _, sha)| (name.clone(), sha.clone()))
                .collect();
            drift.extend(crate::lock::input_drift(&lock.inputs, &used));
            for d in drift {
                self.push(
                    out,
                    "lock-mismatch",
                    format!("{run_label} does not match the lock: {d}"),
                    Some(a),
                    None,
                    Some("/predicate/buildDefinition"),
                    self.rule(span, "lock required here"),
                );
            }
        }
        if let Some(max) = &rules.max_files {
            let count = internal
                .outcome
                .as_ref()
                .map(|o| o.changes.count())
                .unwrap_or(0) as u64;
            if count > *max.get_ref() {
                self.push(
                    out,
                    "too-many-files",
                    format!(
                        "{run_label} changed {count} files, more than {}",
                        max.get_ref()
                    ),
                    Some(a),
                    None,
                    Some("/predicate/buildDefinition/internalParameters/outcome/changes"),
                    self.rule(&max.span(), "limit defined here"),
                );
            }
        }
    }
}

/// One run's claim about a path: when it finished, its id, the blob it left (`None`: deleted), and
/// the index of its attestation.
type Claim = (Option<Timestamp>, Option<String>, Option<String>, usize);

/// Checks every attested file at a work tree or commit. The latest attestation of a path wins
/// when several runs produced it.
pub fn bind(
    repo: &Repo,
    attestations: &[Attestation],
    target: &Target,
) -> Result<Vec<Coverage>, GitError> {
    // path -> (finished, run, produced blob or None for deleted, attestation index)
    let mut claims: BTreeMap<String, Vec<Claim>> = BTreeMap::new();
    for (i, a) in attestations.iter().enumerate() {
        let Ok(view) = a.view.as_ref() else { continue };
        for f in &view.produced {
            claims.entry(f.path.clone()).or_default().push((
                view.finished_on,
                view.run_id.clone(),
                Some(f.git_blob.clone()),
                i,
            ));
        }
        for f in &view.deleted {
            claims.entry(f.path.clone()).or_default().push((
                view.finished_on,
                view.run_id.clone(),
                None,
                i,
            ));
        }
    }
    for runs in claims.values_mut() {
        runs.sort_by_key(|claim| claim.0);
    }
    let mut out = Vec::new();
    let root = match target {
        Target::Worktree(root) => Some(*root),
        Target::Commit(_) => None,
    };
    claims.retain(|path, runs| {
        let safe = match root {
            Some(root) => crate::paths::safe_join(root, path).is_ok(),
            None => crate::paths::check_relative(path).is_ok(),
        };
        if !safe {
            let latest = runs.last();
            out.push(Coverage {
                path: path.clone(),
                status: CoverageStatus::UnsafePath,
                run: latest.and_then(|r| r.1.clone()),
                commits: Vec::new(),
                attestation: latest.map(|r| r.3),
            });
        }
        safe
    });
    let paths: Vec<String> = claims.keys().cloned().collect();
    let current = current_blobs(repo, &paths, target)?;
    for (path, runs) in claims {
        let now = current.get(&path).cloned().flatten();
        let matching = runs.iter().rev().find(|(_, _, blob, _)| *blob == now);
        let (status, claim) = match (matching, &now) {
            (Some(claim), _) => (CoverageStatus::Covered, Some(claim)),
            (None, Some(_)) => (CoverageStatus::ChangedAfterRun, runs.last()),
            (None, None) => (CoverageStatus::Missing, runs.last()),
        };
        out.push(Coverage {
            path,
            status,
            run: claim.and_then(|c| c.1.clone()),
            commits: Vec::new(),
            attestation: claim.map(|c| c.3),
        });
    }
    Ok(out)
}

/// The git blob id of each path at the target (`None` when absent).
fn current_blobs(
    repo: &Repo,
    paths: &[String],
    target: &Target,
) -> Result<BTreeMap<String, Option<String>>, GitError> {
    let mut out = BTreeMap::new();
    match target {
        Target::Worktree(root) => {
            for path in paths {
                let full = root.join(path);
                let state = crate::changes::read_state(&full, &|p| digest_file(p));
                let blob = match state {
                    crate::changes::FileState::Present { digests, .. } => {
                        Some(digests.git_blob.to_string())
                    }
                    crate::changes::FileState::Missing => None,
                };
                out.insert(path.clone(), blob);
            }
        }
        Target::Commit(commit) => {
            for path in paths {
                out.insert(path.clone(), None);
            }
            for chunk in paths.chunks(500) {
                let mut args: Vec<&str> = vec!["ls-tree", "-z", commit.as_str(), "--"];
                args.extend(chunk.iter().map(String::as_str));
                let listing = crate::git::run(&repo.root, &args)?;
                for record in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
                    let Some(tab) = record.iter().position(|&b| b == b'\t') else {
                        continue;
                    };
                    let meta = String::from_utf8_lossy(&record[..tab]);
                    let path = String::from_utf8_lossy(&record[tab + 1..]).into_owned();
                    let mut fields = meta.split_whitespace();
                    let (_, kind, oid) = (fields.next(), fields.next(), fields.next());
                    if kind == Some("blob") {
                        out.insert(path, oid.map(str::to_string));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Checks every file changed between `base` and `head`.
pub fn range(
    repo: &Repo,
    base: &GitOid,
    head: &GitOid,
    attestations: &[Attestation],
) -> Result<RangeReport, GitError> {
    let raw = crate::git::run(
        &repo.root,
        &[
            "diff",
            "--raw",
            "-z",
            "--no-renames",
            "--no-abbrev",
            base.as_str(),
            head.as_str(),
        ],
    )?;
    let mut changed: Vec<(String, char, String, String)> = Vec::new();
    let mut fields = raw.split(|&b| b == 0).filter(|r| !r.is_empty());
    while let Some(meta) = fields.next() {
        let Some(path) = fields.next() else { break };
        let meta = String::from_utf8_lossy(meta);
        let parts: Vec<&str> = meta.trim_start_matches(':').split_whitespace().collect();
        if parts.len() < 5 {
            continue;
        }
        let status = parts[4].chars().next().unwrap_or('M');
        changed.push((
            String::from_utf8_lossy(path).into_owned(),
            status,
            parts[2].to_string(),
            parts[3].to_string(),
        ));
    }
    type Claims = BTreeMap<(String, String), (Option<String>, usize)>;
    let mut produced: Claims = BTreeMap::new();
    let mut deleted: Claims = BTreeMap::new();
    for (i, a) in attestations.iter().enumerate() {
        let Ok(view) = a.view.as_ref() else { continue };
        for f in &view.produced {
            produced.insert(
                (f.path.clone(), f.git_blob.clone()),
                (view.run_id.clone(), i),
            );
        }
        for f in &view.deleted {
            deleted.insert(
                (f.path.clone(), f.git_blob.clone()),
                (view.run_id.clone(), i),
            );
        }
    }
    let mut report = RangeReport::default();
    let mut uncovered: BTreeSet<String> = BTreeSet::new();
    for (path, status, old, new) in changed {
        let hit = if status == 'D' {
            deleted.get(&(path.clone(), old)).cloned()
        } else {
            produced.get(&(path.clone(), new)).cloned()
        };
        let (status, run, attestation) = match hit {
            Some((run, i)) => (CoverageStatus::Covered, run, Some(i)),
            None => {
                uncovered.insert(path.clone());
                (CoverageStatus::Uncovered, None, None)
            }
        };
        report.coverage.push(Coverage {
            path,
            status,
            run,
            commits: Vec::new(),
            attestation,
        });
    }
    // Commits in the range, and which of them touched uncovered paths.
    let spec = format!("{base}..{head}");
    let commits = crate::git::run(&repo.root, &["rev-list", &spec])?;
    report.commits = String::from_utf8_lossy(&commits).lines().count();
    let mut by_commit: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in &uncovered {
        let log = crate::git::run(
            &repo.root,
            &["log", "--format=%H", "--no-renames", &spec, "--", path],
        )?;
        let touching: Vec<String> = String::from_utf8_lossy(&log)
            .lines()
            .map(str::to_string)
            .collect();
        for c in report.coverage.iter_mut().filter(|c| &c.path == path) {
            c.commits = touching.clone();
        }
        for commit in touching {
            by_commit.entry(commit).or_default().push(path.clone());
        }
    }
    report.uncovered_commits = by_commit.into_iter().collect();
    Ok(report)
}
