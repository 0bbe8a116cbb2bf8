//! Release-gate policy files: parsed strictly, validated while collecting every problem, each
//! problem and each rule pointing at its line.
//!
//! ```toml
//! [signers]
//! keys = ["keys/ci.pub"]                 # trusted public keys, relative to this file
//! trusted-root = "trusted_root.json"     # Sigstore trusted root, for keyless bundles
//! [[signers.identities]]                 # accepted keyless signers (Fulcio certificates)
//! issuer = "https://token.actions.githubusercontent.com"
//! identity-regexp = "https://github\\.com/acme/app/\\.github/workflows/release\\.yml@refs/tags/v.*"
//! [run]
//! models = ["gpt-5.5"]
//! codex-versions = ">=0.169, <1.0"
//! sandbox = ["read-only", "workspace-write"]
//! require-success = true
//! max-age = "30d"
//! [inputs]
//! "AGENTS.md" = ["sha256:..."]
//! [changes]
//! deny-paths = [".github/workflows/**"]
//! max-files = 200
//! [roles.reviewer]
//! sandbox = ["read-only"]
//! [levels]
//! changed-after-run = "warn"
//! [[exceptions]]
//! rule = "path-denied"
//! paths = [".github/workflows/release.yml"]
//! reason = "release workflow owned by the agent, approved in #123"
//! ```
//!
//! Our own format is strict (unknown keys are errors: a typo in a release gate must fail loudly),
//! unlike the foreign formats we read.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::digest::Sha256Digest;

/// Every rule code a policy can set a level for, with its default level and description.
pub const RULES: &[(&str, Level, &str)] = &[
    (
        "model-not-allowed",
        Level::Deny,
        "the run's model is not in `models`",
    ),
    (
        "codex-version-not-allowed",
        Level::Deny,
        "the Codex CLI version does not satisfy `codex-versions`",
    ),
    (
        "sandbox-not-allowed",
        Level::Deny,
        "the run's sandbox is not in `sandbox`",
    ),
    (
        "approval-not-allowed",
        Level::Deny,
        "the run's approval policy is not in `approval`",
    ),
    (
        "run-not-successful",
        Level::Deny,
        "`require-success` and the run did not exit 0",
    ),
    (
        "attestation-too-old",
        Level::Deny,
        "the run finished longer ago than `max-age`",
    ),
    (
        "capture-not-allowed",
        Level::Deny,
        "the run was not a `codex exec` with full capture",
    ),
    (
        "role-not-allowed",
        Level::Deny,
        "the run's role is not in `roles`",
    ),
    (
        "input-not-approved",
        Level::Deny,
        "an input's digest is not among the approved ones",
    ),
    (
        "path-denied",
        Level::Deny,
        "the run changed a path matching `deny-paths`",
    ),
    (
        "path-not-allowed",
        Level::Deny,
        "the run changed a path outside `allow-paths`",
    ),
    (
        "too-many-files",
        Level::Deny,
        "the run changed more files than `max-files`",
    ),
    (
        "changed-after-run",
        Level::Deny,
        "a file differs from what the attested run produced",
    ),
    (
        "subject-missing",
        Level::Deny,
        "a file the run produced is missing",
    ),
    (
        "uncovered-change",
        Level::Deny,
        "a change in the range that no attested run produced",
    ),
    (
        "lock-mismatch",
        Level::Deny,
        "the run's Codex version, model, sandbox or instruction inputs differ from the lock",
    ),
    (
        "possibly-concurrent",
        Level::Warn,
        "the run's changes may include another process's",
    ),
    (
        "codex-record-disagrees",
        Level::Warn,
        "Codex's own record disagrees with what was resolved",
    ),
    (
        "unused-exception",
        Level::Warn,
        "an exception that matched nothing",
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Deny,
    Warn,
}

/// A validated policy.
#[derive(Clone, Debug)]
pub struct Policy {
    pub path: PathBuf,
    pub source: String,
    pub digest: Sha256Digest,
    pub keys: Vec<Spanned<PathBuf>>,
    pub keys_span: Range<usize>,
    pub threshold: usize,
    /// The Sigstore trusted root for keyless bundles (relative paths resolved).
    pub trusted_root: Option<Spanned<PathBuf>>,
    /// Accepted keyless signers.
    pub identities: Vec<crate::sigstore::IdentityRule>,
    pub run: RunRules,
    pub roles: BTreeMap<String, (Range<usize>, RunRules)>,
    pub inputs: Vec<InputRule>,
    pub levels: BTreeMap<String, Level>,
    pub exceptions: Vec<Exception>,
}

/// Constraints on runs (globally, or for one role).
#[derive(Clone, Debug, Default)]
pub struct RunRules {
    pub models: Option<Spanned<Vec<String>>>,
    pub codex_versions: Option<(semver::VersionReq, Range<usize>)>,
    pub sandbox: Option<Spanned<Vec<String>>>,
    pub approval: Option<Spanned<Vec<String>>>,
    pub require_success: Option<Spanned<bool>>,
    pub max_age: Option<(u64, Range<usize>)>,
    pub capture: Option<Spanned<Vec<String>>>,
    pub roles: Option<Spanned<Vec<String>>>,
    pub deny_paths: Option<(globset::GlobSet, Range<usize>)>,
    pub allow_paths: Option<(globset::GlobSet, Range<usize>)>,
    pub max_files: Option<Spanned<u64>>,
    pub lock: Option<(crate::lock::LockFile, Range<usize>)>,
}

#[derive(Clone, Debug)]
pub struct InputRule {
    pub name: String,
    pub matcher: globset::GlobMatcher,
    pub approved: Vec<Sha256Digest>,
    pub span: Range<usize>,
}

#[derive(Clone, Debug)]
pub struct Exception {
    pub rule: String,
    pub paths: Option<globset::GlobSet>,
    pub runs: Vec<String>,
    pub reason: String,
    pub span: Range<usize>,
}

/// One problem in a policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyProblem {
    pub message: String,
    pub span: Option<Range<usize>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{} has {} problem{}", path.display(), problems.len(), if problems.len() == 1 { "" } else { "s" })]
pub struct PolicyError {
    pub path: PathBuf,
    pub source_text: String,
    pub problems: Vec<PolicyProblem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Option<Spanned<i64>>,
    signers: Option<RawSigners>,
    run: Option<Spanned<RawRun>>,
    inputs: Option<BTreeMap<Spanned<String>, RawDigests>>,
    changes: Option<Spanned<RawChanges>>,
    roles: Option<BTreeMap<Spanned<String>, Spanned<RawRole>>>,
    levels: Option<BTreeMap<Spanned<String>, Spanned<Level>>>,
    exceptions: Option<Vec<Spanned<RawException>>>,
}

type RawDigests = Spanned<Vec<Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSigners {
    keys: Option<Spanned<Vec<Spanned<String>>>>,
    threshold: Option<Spanned<i64>>,
    trusted_root: Option<Spanned<String>>,
    identities: Option<Vec<Spanned<RawIdentity>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawIdentity {
    identity: Option<Spanned<String>>,
    identity_regexp: Option<Spanned<String>>,
    issuer: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRun {
    models: Option<Spanned<Vec<String>>>,
    codex_versions: Option<Spanned<String>>,
    sandbox: Option<Spanned<Vec<String>>>,
    approval: Option<Spanned<Vec<String>>>,
    require_success: Option<Spanned<bool>>,
    max_age: Option<Spanned<String>>,
    capture: Option<Spanned<Vec<String>>>,
    roles: Option<Spanned<Vec<String>>>,
    lock: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawChanges {
    deny_paths: Option<Spanned<Vec<String>>>,
    allow_paths: Option<Spanned<Vec<String>>>,
    max_files: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRole {
    models: Option<Spanned<Vec<String>>>,
    codex_versions: Option<Spanned<String>>,
    sandbox: Option<Spanned<Vec<String>>>,
    approval: Option<Spanned<Vec<String>>>,
    require_success: Option<Spanned<bool>>,
    max_age: Option<Spanned<String>>,
    capture: Option<Spanned<Vec<String>>>,
    deny_paths: Option<Spanned<Vec<String>>>,
    allow_paths: Option<Spanned<Vec<String>>>,
    max_files: Option<Spanned<i64>>,
    lock: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawException {
    rule: Spanned<String>,
    paths: Option<Spanned<Vec<String>>>,
    runs: Option<Vec<String>>,
    reason: Option<Spanned<String>>,
}

type KeylessSigners = (Option<Spanned<PathBuf>>, Vec<crate::sigstore::IdentityRule>);

/// `signers.trusted-root` and `[[signers.identities]]`: both or neither.
fn keyless_signers(
    signers: &RawSigners,
    base: &Path,
    problems: &mut Vec<PolicyProblem>,
) -> KeylessSigners {
    use crate::sigstore::{IdentityMatch, IdentityRule};
    let mut rules = Vec::new();
    for raw in signers.identities.iter().flatten() {
        let span = raw.span();
        let raw = raw.get_ref();
        let identity = match (&raw.identity, &raw.identity_regexp) {
            (Some(id), None) if !id.get_ref().is_empty() => {
                Some(IdentityMatch::Exact(id.get_ref().clone()))
            }
            (None, Some(re)) => match IdentityMatch::regexp(re.get_ref()) {
                Ok(m) => Some(m),
                Err(err) => {
                    problems.push(PolicyProblem {
                        message: format!("identity-regexp is not a valid regexp: {err}"),
                        span: Some(re.span()),
                    });
                    None
                }
            },
            _ => {
                problems.push(PolicyProblem {
                    message: "an identity needs exactly one of `identity` (exact) and `identity-regexp` (must match the whole identity)".to_string(),
                    span: Some(span.clone()),
                });
                None
            }
        };
        let issuer = match &raw.issuer {
            Some(i) if !i.get_ref().is_empty() => Some(i.get_ref().clone()),
            _ => {
                problems.push(PolicyProblem {
                    message: "an identity needs its OIDC `issuer`, e.g. \"https://token.actions.githubusercontent.com\"".to_string(),
                    span: Some(span.clone()),
                });
                None
            }
        };
        if let (Some(identity), Some(issuer)) = (identity, issuer) {
            rules.push(IdentityRule { identity, issuer });
        }
    }
    let root = signers
        .trusted_root
        .as_ref()
        .map(|r| Spanned::new(r.span(), base.join(r.get_ref())));
    let listed = signers.identities.as_ref().is_some_and(|i| !i.is_empty());
    match (&root, listed) {
        (None, true) => problems.push(PolicyProblem {
            message: "[[signers.identities]] need `signers.trusted-root`, the Sigstore trusted root to check certificates and log entries against".to_string(),
            span: None,
        }),
        (Some(r), false) => problems.push(PolicyProblem {
            message: "signers.trusted-root without [[signers.identities]] would trust any Sigstore signer".to_string(),
            span: Some(r.span()),
        }),
        _ => {}
    }
    (root, rules)
}

const SANDBOXES: &[&str] = &["read-only", "workspace-write", "danger-full-access"];
const CAPTURES: &[&str] = &["codex-exec", "generic"];

impl Policy {
    /// Reads and validates a policy file, reporting every problem at once.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let source = std::fs::read_to_string(path).map_err(|err| PolicyError {
            path: path.to_path_buf(),
            source_text: String::new(),
            problems: vec![PolicyProblem {
                message: format!("cannot read it: {err}"),
                span: None,
            }],
        })?;
        Policy::parse(path, source)
    }

    pub fn parse(path: &Path, source: String) -> Result<Policy, PolicyError> {
        let fail = |problems: Vec<PolicyProblem>, source_text: String| PolicyError {
            path: path.to_path_buf(),
            source_text,
            problems,
        };
        let raw: RawPolicy = match toml::from_str(&source) {
            Ok(raw) => raw,
            Err(err) => {
                let problem = PolicyProblem {
                    message: err.message().to_string(),
                    span: err.span(),
                };
                return Err(fail(vec![problem], source));
            }
        };
        let mut problems = Vec::new();
        let mut p = |message: String, span: Range<usize>| {
            problems.push(PolicyProblem {
                message,
                span: Some(span),
            })
        };

        if let Some(v) = &raw.version {
            if *v.get_ref() != 1 {
                p(
                    format!(
                        "unsupported policy version {}; this codex-attest reads version 1",
                        v.get_ref()
                    ),
                    v.span(),
                );
            }
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let (keys, keys_span, threshold) = match &raw.signers {
            None => {
                problems.push(PolicyProblem {
                    message:
                        "no [signers] table: a gate needs trusted keys (`keys = [\"keys/ci.pub\"]`) or keyless identities ([[signers.identities]])"
                            .to_string(),
                    span: None,
                });
                (Vec::new(), 0..0, 1)
            }
            Some(signers) => {
                let (keys, span) = match &signers.keys {
                    Some(k) => {
                        let span = k.span();
                        let list: Vec<Spanned<PathBuf>> = k
                            .get_ref()
                            .iter()
                            .map(|s| Spanned::new(s.span(), base.join(s.get_ref())))
                            .collect();
                        (list, span)
                    }
                    None => (Vec::new(), 0..0),
                };
                let has_identities = signers.identities.as_ref().is_some_and(|i| !i.is_empty());
                if keys.is_empty() && !has_identities {
                    problems.push(PolicyProblem {
                        message: "signers.keys is empty and there are no [[signers.identities]]: a gate with no trusted signer would let nothing pass".to_string(),
                        span: signers.keys.as_ref().map(Spanned::span),
                    });
                }
                let threshold = match &signers.threshold {
                    Some(t) if *t.get_ref() < 1 => {
                        problems.push(PolicyProblem {
                            message: "signers.threshold must be at least 1".to_string(),
                            span: Some(t.span()),
                        });
                        1
                    }
                    Some(t) => *t.get_ref() as usize,
                    None => 1,
                };
                if threshold > keys.len() && !keys.is_empty() {
                    problems.push(PolicyProblem {
                        message: format!(
                            "signers.threshold {threshold} is more than the {} keys listed",
                            keys.len()
                        ),
                        span: signers.threshold.as_ref().map(Spanned::span),
                    });
                }
                (keys, span, threshold)
            }
        };
        let (trusted_root, identities) = match &raw.signers {
            Some(signers) => keyless_signers(signers, base, &mut problems),
            None => (None, Vec::new()),
        };

        let raw_run = raw.run.map(Spanned::into_inner).unwrap_or_default();
        let raw_changes = raw.changes.map(Spanned::into_inner).unwrap_or_default();
        let mut run = run_rules(
            RawRole {
                models: raw_run.models,
                codex_versions: raw_run.codex_versions,
                sandbox: raw_run.sandbox,
                approval: raw_run.approval,
                require_success: raw_run.require_success,
                max_age: raw_run.max_age,
                capture: raw_run.capture,
                deny_paths: raw_changes.deny_paths,
                allow_paths: raw_changes.allow_paths,
                max_files: raw_changes.max_files,
                lock: raw_run.lock,
            },
            base,
            &mut problems,
        );
        run.roles = raw_run.roles;

        let mut roles = BTreeMap::new();
        for (name, role) in raw.roles.unwrap_or_default() {
            let span = name.span();
            let rules = run_rules(role.into_inner(), base, &mut problems);
            roles.insert(name.into_inner(), (span, rules));
        }

        let mut inputs = Vec::new();
        for (name, digests) in raw.inputs.unwrap_or_default() {
            let matcher = match glob(name.get_ref()) {
                Ok(g) => g.compile_matcher(),
                Err(err) => {
                    problems.push(PolicyProblem {
                        message: format!("input name pattern: {err}"),
                        span: Some(name.span()),
                    });
                    continue;
                }
            };
            let mut approved = Vec::new();
            for d in digests.get_ref() {
                match Sha256Digest::parse_prefixed(d.get_ref()) {
                    Ok(digest) => approved.push(digest),
                    Err(err) => problems.push(PolicyProblem {
                        message: format!("{:?} is not a digest: {err}", d.get_ref()),
                        span: Some(d.span()),
                    }),
                }
            }
            if approved.is_empty() && digests.get_ref().is_empty() {
                problems.push(PolicyProblem {
                    message: format!("inputs.{:?} lists no approved digest, so every run using it would be denied", name.get_ref()),
                    span: Some(digests.span()),
                });
            }
            inputs.push(InputRule {
                name: name.get_ref().clone(),
                matcher,
                approved,
                span: digests.span(),
            });
        }

        let mut levels = BTreeMap::new();
        for (code, level) in raw.levels.unwrap_or_default() {
            if !RULES.iter().any(|(c, _, _)| c == code.get_ref()) {
                problems.push(PolicyProblem {
                    message: unknown_rule(code.get_ref()),
                    span: Some(code.span()),
                });
                continue;
            }
            levels.insert(code.into_inner(), level.into_inner());
        }

        let mut exceptions = Vec::new();
        for ex in raw.exceptions.unwrap_or_default() {
            let span = ex.span();
            let ex = ex.into_inner();
            if !RULES.iter().any(|(c, _, _)| c == ex.rule.get_ref()) {
                problems.push(PolicyProblem {
                    message: unknown_rule(ex.rule.get_ref()),
                    span: Some(ex.rule.span()),
                });
            }
            let reason = match &ex.reason {
                Some(r) if !r.get_ref().trim().is_empty() => r.get_ref().clone(),
                Some(r) => {
                    problems.push(PolicyProblem {
                        message: "an exception's reason must not be empty".to_string(),
                        span: Some(r.span()),
                    });
                    continue;
                }
                None => {
                    problems.push(PolicyProblem {
                        message: "every exception needs a `reason`".to_string(),
                        span: Some(span.clone()),
                    });
                    continue;
                }
            };
            let paths = match &ex.paths {
                Some(list) => match glob_set(list.get_ref()) {
                    Ok(set) => Some(set),
                    Err(err) => {
                        problems.push(PolicyProblem {
                            message: err,
                            span: Some(list.span()),
                        });
                        None
                    }
                },
                None => None,
            };
            exceptions.push(Exception {
                rule: ex.rule.into_inner(),
                paths,
                runs: ex.runs.unwrap_or_default(),
                reason,
                span,
            });
        }

        if !problems.is_empty() {
            return Err(fail(problems, source));
        }
        let digest = crate::digest::sha256(source.as_bytes());
        Ok(Policy {
            path: path.to_path_buf(),
            source,
            digest,
            keys,
            keys_span,
            threshold,
            trusted_root,
            identities,
            run,
            roles,
            inputs,
            levels,
            exceptions,
        })
    }

    /// The effective level of a rule.
    pub fn level(&self, code: &str) -> Level {
        self.levels
            .get(code)
            .copied()
            .unwrap_or_else(|| default_level(code))
    }

    /// 1-based line and column of a byte offset, and the text of that line.
    pub fn locate(&self, span: &Range<usize>) -> (usize, usize, &str) {
        locate(&self.source, span)
    }
}

pub fn default_level(code: &str) -> Level {
    RULES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, l, _)| *l)
        .unwrap_or(Level::Deny)
}

/// 1-based line and column of a byte offset in `source`, and the text of that line.
pub fn locate<'a>(source: &'a str, span: &Range<usize>) -> (usize, usize, &'a str) {
    let start = span.start.min(source.len());
    let line_start = source[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = source[start..]
        .find('\n')
        .map(|i| start + i)
        .unwrap_or(source.len());
    let line = source[..start].matches('\n').count() + 1;
    let column = source[line_start..start].chars().count() + 1;
    (line, column, &source[line_start..line_end])
}

fn unknown_rule(code: &str) -> String {
    let known: Vec<&str> = RULES.iter().map(|(c, _, _)| *c).collect();
    format!("unknown rule {code:?}; rules are: {}", known.join(", "))
}

fn run_rules(raw: RawRole, base: &Path, problems: &mut Vec<PolicyProblem>) -> RunRules {
    let mut p = |message: String, span: Range<usize>| {
        problems.push(PolicyProblem {
            message,
            span: Some(span),
        })
    };
    let codex_versions =
        raw.codex_versions
            .and_then(|v| match semver::VersionReq::parse(v.get_ref()) {
                Ok(req) => Some((req, v.span())),
                Err(err) => {
                    p(
                        format!("{:?} is not a version requirement: {err}", v.get_ref()),
                        v.span(),
                    );
                    None
                }
            });
    let max_age = raw.max_age.and_then(|v| match parse_duration(v.get_ref()) {
        Some(secs) => Some((secs, v.span())),
        None => {
            p(
                format!(
                    "{:?} is not a duration; use a number and a unit: 30d, 12h, 90m, 2w",
                    v.get_ref()
                ),
                v.span(),
            );
            None
        }
    });
    for (list, allowed, what) in [
        (&raw.sandbox, SANDBOXES, "sandbox mode"),
        (&raw.capture, CAPTURES, "capture level"),
    ] {
        if let Some(list) = list {
            for item in list.get_ref() {
                if !allowed.contains(&item.as_str()) {
                    p(
                        format!(
                            "{item:?} is not a {what}; use one of {}",
                            allowed.join(", ")
                        ),
                        list.span(),
                    );
                }
            }
        }
    }
    let mut globs = |list: Option<Spanned<Vec<String>>>| {
        list.and_then(|l| match glob_set(l.get_ref()) {
            Ok(set) => Some((set, l.span())),
            Err(err) => {
                p(err, l.span());
                None
            }
        })
    };
    let deny_paths = globs(raw.deny_paths);
    let allow_paths = globs(raw.allow_paths);
    let lock = raw.lock.and_then(
        |l| match crate::lock::LockFile::load(&base.join(l.get_ref())) {
            Ok(lock) => Some((lock, l.span())),
            Err(err) => {
                problems.push(PolicyProblem {
                    message: format!("the lock file cannot be used: {err}"),
                    span: Some(l.span()),
                });
                None
            }
        },
    );
    let max_files = raw.max_files.and_then(|m| {
        if *m.get_ref() < 0 {
            problems.push(PolicyProblem {
                message: "max-files cannot be negative".to_string(),
                span: Some(m.span()),
            });
            return None;
        }
        Some(Spanned::new(m.span(), *m.get_ref() as u64))
    });
    RunRules {
        models: raw.models,
        codex_versions,
        sandbox: raw.sandbox,
        approval: raw.approval,
        require_success: raw.require_success,
        max_age,
        capture: raw.capture,
        roles: None,
        deny_paths,
        allow_paths,
        max_files,
        lock,
    }
}

fn glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
}

fn glob_set(patterns: &[String]) -> Result<globset::GlobSet, String> {
    let mut builder = globset::GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(glob(pattern).map_err(|err| format!("{pattern:?} is not a glob: {err}"))?);
    }
    builder.build().map_err(|err| err.to_string())
}

/// `30d`, `12h`, `90m`, `45s`, `2w` in seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number: u64 = text[..text.len() - unit.len_utf8()].trim().parse().ok()?;
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// A commented template listing every key, for `codex-attest init --policy`.
pub const TEMPLATE: &str = include_str!("policy_template.toml");

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(Path::new("/p/policy.toml"), text.to_string())
    }

    #[test]
    fn the_template_is_a_valid_policy() {
        let policy = parse(TEMPLATE).unwrap();
        assert_eq!(policy.keys[0].get_ref(), Path::new("/p/keys/ci.pub"));
        assert!(policy.run.models.is_some());
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let err = parse(
            "[signers]\nkeys = []\n[run]\nmodels = [\"gpt-5.5\"]\ncodex-versions = \"banana\"\nmax-age = \"3 fortnights\"\nsandbox = [\"yolo\"]\n[levels]\nno-such-rule = \"warn\"\n[[exceptions]]\nrule = \"path-denied\"\n",
        )
        .unwrap_err();
        let messages: Vec<String> = err
            .problems
            .iter()
            .map(|p| {
                format!(
                    "{}: {}",
                    p.span
                        .as_ref()
                        .map(|s| locate(&err.source_text, s).0)
                        .unwrap_or(0),
                    p.message
                )
            })
            .collect();
        let text = messages.join("\n");
        for expected in [
            "2: signers.keys is empty",
            "5: \"banana\" is not a version",
            "6: \"3 fortnights\" is not a duration",
            "7: \"yolo\" is not a sandbox mode",
            "9: unknown rule \"no-such-rule\"",
            "10: every exception needs a `reason`",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn unknown_keys_and_syntax_errors_point_at_the_line() {
        let err = parse("[signers]\nkeys = [\"a.pub\"]\n[run]\nmodel = [\"x\"]\n").unwrap_err();
        let span = err.problems[0].span.clone().unwrap();
        assert_eq!(locate(&err.source_text, &span).0, 4);
        assert!(
            err.problems[0].message.contains("unknown field `model`"),
            "{:?}",
            err.problems
        );
        let err = parse("[signers\n").unwrap_err();
        assert_eq!(
            locate(&err.source_text, &err.problems[0].span.clone().unwrap()).0,
            1
        );
    }

    #[test]
    fn durations_and_levels() {
        assert_eq!(parse_duration("30d"), Some(30 * 86_400));
        assert_eq!(parse_duration("2w"), Some(14 * 86_400));
        assert_eq!(parse_duration("d"), None);
        assert_eq!(parse_duration("5y"), None);
        let policy =
            parse("[signers]\nkeys = [\"a.pub\"]\n[levels]\nchanged-after-run = \"warn\"\n")
                .unwrap();
        assert_eq!(policy.level("changed-after-run"), Level::Warn);
        assert_eq!(policy.level("path-denied"), Level::Deny);
        assert_eq!(policy.level("unused-exception"), Level::Warn);
    }
}
