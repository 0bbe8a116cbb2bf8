//! `codex-attest verify`: the release gate.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use codex_attest::digest::{GitOid, Sha256Digest};
use codex_attest::dsse::{Envelope, Keyring, SignatureCheck, VerifyError};
use codex_attest::envelope_file::{Location, parse_envelope_lines, read_envelope_file};
use codex_attest::gate::{
    self, Attestation, Coverage, CoverageStatus, Finding, Gate, RunView, Severity, Target,
};
use codex_attest::git::Repo;
use codex_attest::intoto::ResourceDescriptor;
use codex_attest::policy::{Level, Policy, RULES};
use codex_attest::sigstore::Bundle;
use codex_attest::verify::{
    EnvelopeFailure, VerifiedStatement, verify_statement_bundle, verify_statement_envelope,
    verify_statement_envelopes,
};

use super::keyless::IdentityArgs;
use super::{Ctx, Format, Outcome, load_private_key, load_public_key, print_stdout, usage_error};

/// Verify attestations: signatures, a release policy, and the files in the release
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Sources: envelope files (.intoto.jsonl, one envelope per line, or single-envelope JSON), Sigstore
bundles (.sigstore.json), runs stored by `wrap` (an id, a prefix or `latest`; their envelopes and
keyless bundle), every *.intoto.jsonl, *.intoto.json and *.sigstore.json file in --attestations
DIR (other files there, such as Codex event logs, are ignored), and, with
--range, the git notes (refs/notes/codex-attest) on the range's commits and every signed run in
the local store. Signatures are checked before anything in a payload is read; keyid is a hint.

Binding to code: --worktree (or --at REV) checks that every attested file is there with the
attested content and reports files changed after the run. --range BASE..HEAD checks that every
file changed in the range has content an attested run produced, and names the commits and files
no attestation covers.

Keyless bundles (signed with a Fulcio certificate) verify offline against --trusted-root: the
certificate chains to a trusted Fulcio CA and was valid when Rekor logged the signature (the SET
and the inclusion proof are checked with the trusted log key, and the log entry must be about
this envelope and certificate), then the certificate's identity (SAN) must equal
--certificate-identity or match --certificate-identity-regexp (anchored: the whole identity) and
its OIDC issuer must equal --certificate-oidc-issuer. A keyless signature proves which CI
workflow signed, not that the content is right.

Fail closed: no trusted key or identity is an error (exit 2); nothing attested fails (exit 1).
Exit status: 0 pass, 1 denied (a signature, rule or coverage check failed), 2 could not decide.

Examples:
  codex-attest verify --key keys/ci.pub run.intoto.jsonl
  codex-attest verify --key keys/ci.pub run.sigstore.json
  codex-attest verify --trusted-root trusted_root.json run.sigstore.json \\
      --certificate-oidc-issuer https://token.actions.githubusercontent.com \\
      --certificate-identity https://github.com/acme/app/.github/workflows/rel.yml@refs/heads/main
  codex-attest verify --policy release/policy.toml --worktree latest
  codex-attest verify --policy release/policy.toml --range v1.2.0..HEAD --format json
  codex-attest verify --policy p.toml --range origin/main..HEAD --vsa vsa.intoto.jsonl --vsa-key gate.key")]
pub struct VerifyArgs {
    /// Envelope files or stored runs to verify
    #[arg(value_name = "FILE|RUN")]
    targets: Vec<String>,
    /// Trusted public key (can be repeated; added to the policy's keys)
    #[arg(long = "key", value_name = "PUB")]
    keys: Vec<PathBuf>,
    /// Distinct trusted keys that must have signed each envelope [default: the policy's, or 1]
    #[arg(long, value_name = "N")]
    threshold: Option<usize>,
    /// Release policy (TOML) to enforce; `codex-attest init --policy FILE` writes a template
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Also verify every *.intoto.jsonl, *.intoto.json and *.sigstore.json file in DIR (repeatable)
    #[arg(long = "attestations", value_name = "DIR")]
    attestation_dirs: Vec<PathBuf>,
    /// Check that every file changed in BASE..HEAD is covered by an attested run
    #[arg(long, value_name = "BASE..HEAD")]
    range: Option<String>,
    /// Check attested files against the work tree
    #[arg(long, conflicts_with = "at")]
    worktree: bool,
    /// Check attested files against a commit
    #[arg(long, value_name = "REV")]
    at: Option<String>,
    /// Make a rule deny (can be repeated)
    #[arg(long = "deny", short = 'D', value_name = "RULE")]
    deny: Vec<String>,
    /// Make a rule only warn (can be repeated)
    #[arg(long = "warn", short = 'W', value_name = "RULE")]
    warn: Vec<String>,
    /// Write a signed SLSA Verification Summary Attestation of the decision to FILE
    #[arg(long, value_name = "FILE", requires = "vsa_key")]
    vsa: Option<PathBuf>,
    /// Key to sign the VSA with
    #[arg(long, value_name = "KEY", requires = "vsa")]
    vsa_key: Option<PathBuf>,
    /// Environment variable that holds the VSA key's passphrase
    #[arg(long, value_name = "VAR", default_value = super::PASSPHRASE_ENV)]
    passphrase_env: String,
    /// Verify signatures on N threads [default: one per core]
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    format: Format,
    #[command(flatten)]
    identity: IdentityArgs,
}

const REPORT_SCHEMA: &str = "codex-attest/verify/v1";

/// One envelope as found, before verification.
struct Found {
    location: String,
    envelope: Envelope,
    /// The Sigstore bundle the envelope came in, if any.
    bundle: Option<Box<Bundle>>,
    /// Named by the user (failures deny) or discovered (failures are ignored with a warning).
    explicit: bool,
}

/// One envelope after verification.
struct Checked {
    location: String,
    explicit: bool,
    payload_type: String,
    /// The digest of the envelope's JSON line, taken only for a VSA (which lists its inputs).
    line_digest: Option<Sha256Digest>,
    result: Result<std::sync::Arc<VerifiedStatement>, EnvelopeFailure>,
    /// The codex-run predicate of a verified statement (read once, on the verifying thread).
    view: Option<std::sync::Arc<Result<RunView, String>>>,
}

#[derive(Serialize)]
#[serde(tag = "type", content = "data", rename_all = "kebab-case")]
enum Record<'a> {
    Envelope(EnvelopeRecord<'a>),
    Skipped {
        file: String,
        line: usize,
        reason: &'static str,
    },
    Error {
        file: String,
        message: String,
    },
    Finding(&'a Finding),
    Coverage(&'a Coverage),
    Summary(Summary),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeRecord<'a> {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    payload_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    predicate_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<String>,
    subjects: &'a [ResourceDescriptor],
    signatures: &'a [SignatureCheck],
}

#[derive(Serialize)]
struct Summary {
    schema: &'static str,
    verdict: &'static str,
    envelopes: usize,
    passed: usize,
    failed: usize,
    errors: usize,
    denied: usize,
    warnings: usize,
    uncovered: usize,
}

/// What identifies an envelope for de-duplication: the same envelope found twice (in the store
/// and in a note, say) is verified and reported once. Two plain envelopes are the same when they
/// are equal field by field, which is what their JSON lines being equal meant; the hash looks at
/// the signatures only (short, and different for different signed envelopes), the comparison at
/// everything. An envelope in a Sigstore bundle is compared by the digest of the bundle's line.
#[derive(PartialEq, Eq)]
enum Identity<'a> {
    Envelope(&'a Envelope),
    Bundle(Sha256Digest),
}

impl std::hash::Hash for Identity<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Identity::Envelope(e) => {
                e.payload_type.hash(state);
                e.payload.len().hash(state);
                e.signatures.hash(state);
            }
            Identity::Bundle(digest) => digest.hash(state),
        }
    }
}

/// Drops the second and later copies of an envelope, keeping the order of the first copies.
fn unique(found: Vec<Found>) -> Vec<Found> {
    let keep: Vec<bool> = {
        let mut seen = std::collections::HashSet::with_capacity(found.len());
        found
            .iter()
            .map(|f| {
                seen.insert(match &f.bundle {
                    Some(bundle) => Identity::Bundle(codex_attest::digest::sha256(
                        bundle.to_json_line().as_bytes(),
                    )),
                    None => Identity::Envelope(&f.envelope),
                })
            })
            .collect()
    };
    found
        .into_iter()
        .zip(keep)
        .filter_map(|(f, keep)| keep.then_some(f))
        .collect()
}

/// Verifies every envelope (and reads the codex-run predicate of those that verify, and digests
/// its line when `digest_lines`: a VSA lists them, and is written only when they were taken) on
/// `jobs` threads, in batches that the threads take in turn; the results come back in the order
/// of `found`. Each envelope is dropped once it is checked, so a large verify holds the signed
/// text once, not twice.
fn verify_all(
    found: Vec<Found>,
    keyring: &Keyring,
    threshold: usize,
    keyless: Option<&codex_attest::sigstore::verify::KeylessPolicy>,
    jobs: usize,
    digest_lines: bool,
) -> Vec<Checked> {
    // Envelopes are checked in batches, whose Ed25519 signatures are judged together
    // (`verify_statement_envelopes`); bundles one at a time.
    const BATCH: usize = 32;
    let batch = |batch: Vec<Found>| -> Vec<Checked> {
        let plain: Vec<&Envelope> = batch
            .iter()
            .filter(|f| f.bundle.is_none())
            .map(|f| &f.envelope)
            .collect();
        let mut plain_results = verify_statement_envelopes(&plain, keyring, threshold).into_iter();
        batch
            .into_iter()
            .map(|f| {
                let line_digest = digest_lines.then(|| {
                    let line = match &f.bundle {
                        Some(bundle) => bundle.to_json_line(),
                        None => f.envelope.to_json_line(),
                    };
                    codex_attest::digest::sha256(line.as_bytes())
                });
                let result = match &f.bundle {
                    Some(bundle) => verify_statement_bundle(bundle, keyring, threshold, keyless),
                    None => plain_results.next().unwrap_or_else(|| {
                        verify_statement_envelope(&f.envelope, keyring, threshold)
                    }),
                };
                let view = result
                    .as_ref()
                    .ok()
                    .map(|v| std::sync::Arc::new(RunView::from_statement(&v.statement)));
                Checked {
                    location: f.location,
                    explicit: f.explicit,
                    payload_type: f.envelope.payload_type,
                    line_digest,
                    result: result.map(std::sync::Arc::new),
                    view,
                }
            })
            .collect()
    };
    let mut batches: Vec<Vec<Found>> = Vec::with_capacity(found.len().div_ceil(BATCH));
    let mut rest = found.into_iter();
    loop {
        let next: Vec<Found> = rest.by_ref().take(BATCH).collect();
        if next.is_empty() {
            break;
        }
        batches.push(next);
    }
    if jobs <= 1 || batches.len() < 2 {
        return batches.into_iter().flat_map(batch).collect();
    }
    // Each thread takes the next batch when it is done with one, so a thread slowed by anything
    // else does not hold the others up; the results are put back in order.
    let queue: Vec<std::sync::Mutex<Vec<Found>>> =
        batches.into_iter().map(std::sync::Mutex::new).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, Vec<Checked>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.min(queue.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(slot) = queue.get(at) else {
                            return out;
                        };
                        let taken =
                            std::mem::take(&mut *slot.lock().unwrap_or_else(|e| e.into_inner()));
                        out.push((at, batch(taken)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            // A verification thread only panics on a bug; re-raise it rather than lose results.
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    done.sort_unstable_by_key(|(at, _)| *at);
    done.into_iter().flat_map(|(_, checked)| checked).collect()
}

pub fn run(ctx: &Ctx, args: VerifyArgs) -> anyhow::Result<Outcome> {
    let overrides = level_overrides(&args)?;
    let policy = match &args.policy {
        Some(path) => match Policy::load(path) {
            Ok(policy) => Some(policy),
            Err(err) => {
                eprint!("{}", render_policy_error(&err));
                return Ok(Outcome::Undecided);
            }
        },
        None => None,
    };

    // Trusted keys: the command line's and the policy's.
    let mut keyring = Keyring::new();
    for path in &args.keys {
        keyring.add(load_public_key(path)?);
    }
    if let Some(policy) = &policy {
        for key in &policy.keys {
            let loaded = load_public_key(key.get_ref()).with_context(|| {
                let (line, _, _) = policy.locate(&key.span());
                format!("trusted key listed at {}:{line}", policy.path.display())
            })?;
            keyring.add(loaded);
        }
    }
    // Keyless signers: the command line's rule and the policy's.
    let mut rules: Vec<_> = args.identity.rule()?.into_iter().collect();
    let mut trusted_root = args.identity.trusted_root.clone();
    if let Some(policy) = &policy {
        rules.extend(policy.identities.iter().cloned());
        if trusted_root.is_none() {
            trusted_root = policy.trusted_root.as_ref().map(|r| r.get_ref().clone());
        }
    }
    let keyless = super::keyless::policy(rules, trusted_root.as_deref())?;
    if keyring.is_empty() && keyless.is_none() {
        return Err(usage_error(
            "no trusted keys or identities: verification needs at least one",
            "pass --key PUB (or --certificate-identity, --certificate-oidc-issuer and --trusted-root), or list them in the policy's [signers]",
        ));
    }
    let threshold = args
        .threshold
        .or(policy.as_ref().map(|p| p.threshold))
        .unwrap_or(1);
    if threshold == 0 {
        return Err(usage_error(
            "--threshold must be at least 1",
            "use --threshold 1 or more",
        ));
    }
    if !keyring.is_empty() && keyring.keys().len() < threshold {
        return Err(usage_error(
            format!(
                "--threshold {threshold} needs at least that many distinct trusted keys, {} given",
                keyring.keys().len()
            ),
            "pass more --key files or lower --threshold",
        ));
    }
    let jobs = match args.jobs {
        Some(0) => {
            return Err(usage_error(
                "--jobs must be at least 1",
                "use --jobs 1 or more, or leave it out to use every core",
            ));
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let needs_repo = args.range.is_some() || args.worktree || args.at.is_some();
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    let repo = Repo::discover(&cwd)?;
    if needs_repo && repo.is_none() {
        return Err(usage_error(
            format!("{} is not inside a git work tree", cwd.display()),
            "--range, --worktree and --at check files in a repository: run verify inside it",
        ));
    }
    if args.targets.is_empty() && args.range.is_none() && args.attestation_dirs.is_empty() {
        return Err(usage_error(
            "nothing to verify",
            "give envelope files or runs, --attestations DIR, or --range BASE..HEAD",
        ));
    }

    // Gather every envelope.
    let mut found: Vec<Found> = Vec::new();
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut skipped: Vec<(String, usize)> = Vec::new();
    let store = repo
        .as_ref()
        .map(|r| codex_attest::store::Store::at(&r.common_dir));
    for target in &args.targets {
        gather_target(
            target,
            store.as_ref(),
            &mut found,
            &mut errors,
            &mut skipped,
        );
    }
    for dir in &args.attestation_dirs {
        gather_dir(dir, &mut found, &mut errors, &mut skipped);
    }
    let range = match (&args.range, &repo) {
        (Some(spec), Some(repo)) => Some(resolve_range(repo, spec)?),
        _ => None,
    };
    if let (Some((base, head)), Some(repo), Some(store)) = (&range, &repo, &store) {
        gather_range(repo, store, base, head, &mut found)?;
    }

    // Verify each envelope once, spread over `jobs` threads; the order of `found` is kept.
    let digest_lines = args.vsa.is_some() && args.vsa_key.is_some();
    let checked = verify_all(
        unique(found),
        &keyring,
        threshold,
        keyless.as_ref(),
        jobs,
        digest_lines,
    );

    let now = ctx.clock.now();
    let gate = Gate::new(policy.as_ref(), &overrides, now);
    let mut findings: Vec<Finding> = Vec::new();
    let mut attestations: Vec<(Attestation, bool)> = Vec::new();
    for c in &checked {
        match &c.result {
            Ok(verified) => attestations.push((
                Attestation {
                    location: c.location.clone(),
                    verified: std::sync::Arc::clone(verified),
                    view: match &c.view {
                        Some(view) => std::sync::Arc::clone(view),
                        None => std::sync::Arc::new(RunView::from_statement(&verified.statement)),
                    },
                },
                c.explicit,
            )),
            Err(err) if !c.explicit => findings.push(Finding {
                code: "ignored-attestation",
                severity: Severity::Warning,
                message: format!("{} was found but not used: {err}", c.location),
                attestation: Some(c.location.clone()),
                run: None,
                path: None,
                field: None,
                rule: None,
                excused_by: None,
            }),
            Err(_) => {}
        }
    }
    // Rules and bindings read the codex-run predicate; plain signature checks do not need it.
    let needs_codex_run = policy.is_some() || needs_repo;
    for (a, explicit) in attestations.iter().filter(|_| needs_codex_run) {
        if let Err(err) = a.view.as_ref() {
            let code = if *explicit {
                Severity::Error
            } else {
                Severity::Warning
            };
            findings.push(Finding {
                code: "unknown-build-type",
                severity: code,
                message: format!("{} is not a codex-run/v1 provenance: {err}", a.location),
                attestation: Some(a.location.clone()),
                run: None,
                path: None,
                field: Some("/predicate/buildDefinition".to_string()),
                rule: None,
                excused_by: None,
            });
        }
    }

    // Bind to code.
    let usable_at: Vec<usize> = (0..attestations.len())
        .filter(|i| attestations[*i].0.view.is_ok())
        .collect();
    let usable: Vec<Attestation> = usable_at
        .iter()
        .map(|i| attestations[*i].0.clone())
        .collect();
    let mut coverage: Vec<Coverage> = Vec::new();
    // The attestations the policy judges: all of them, or with --range those named on the
    // command line and those vouching for a file in the range (found in notes, the store or
    // --attestations, which may hold unrelated runs).
    let mut relevant: BTreeSet<usize> = attestations
        .iter()
        .enumerate()
        .filter(|(_, (_, e))| *e || range.is_none())
        .map(|(i, _)| i)
        .collect();
    let mut range_label = None;
    if let (Some((base, head)), Some(repo)) = (&range, &repo) {
        let report = gate::range(repo, base, head, &usable)?;
        range_label = Some(format!(
            "{} changed file(s) in {} commit(s)",
            report.coverage.len(),
            report.commits
        ));
        for c in &report.coverage {
            if c.status == CoverageStatus::Uncovered {
                let commits: Vec<String> = c
                    .commits
                    .iter()
                    .map(|h| h[..12.min(h.len())].to_string())
                    .collect();
                gate.push(
                    &mut findings,
                    "uncovered-change",
                    format!(
                        "{} changed in {} but no attested run produced its content",
                        c.path,
                        commits.join(", ")
                    ),
                    c.attestation.and_then(|k| usable.get(k)),
                    Some(&c.path),
                    None,
                    None,
                );
            }
            if let Some(i) = c.attestation.and_then(|k| usable_at.get(k)) {
                relevant.insert(*i);
            }
            if let Some(run) = &c.run {
                for (i, (a, _)) in attestations.iter().enumerate() {
                    if a.run_id().as_ref() == Some(run) {
                        relevant.insert(i);
                    }
                }
            }
        }
        coverage.extend(report.coverage);
    }
    if let Some(repo) = &repo {
        let target_commit = match &args.at {
            Some(rev) => Some(resolve_rev(repo, rev)?),
            None => None,
        };
        let target = match (&target_commit, args.worktree) {
            (Some(commit), _) => Some(Target::Commit(commit)),
            (None, true) => Some(Target::Worktree(&repo.root)),
            (None, false) => None,
        };
        if let Some(target) = target {
            let bound: Vec<Attestation> = relevant
                .iter()
                .filter_map(|i| attestations.get(*i))
                .map(|(a, _)| a.clone())
                .filter(|a| a.view.is_ok())
                .collect();
            for c in gate::bind(repo, &bound, &target)? {
                let run = c.run.clone().unwrap_or_default();
                // The latest attestation that claimed the path, named in the finding.
                let claimed = c.attestation.and_then(|k| bound.get(k));
                match c.status {
                    CoverageStatus::ChangedAfterRun => gate.push(&mut findings, "changed-after-run", format!("{} was changed after run {run}: its content is not what any attested run produced", c.path), claimed, Some(&c.path), None, None),
                    CoverageStatus::Missing => gate.push(&mut findings, "subject-missing", format!("{} was produced by run {run} and is gone", c.path), claimed, Some(&c.path), None, None),
                    CoverageStatus::UnsafePath => findings.push(Finding {
                        code: "unsafe-path",
                        severity: Severity::Error,
                        message: format!("run {run} names {:?}, which is not a safe relative path; it was not read", c.path),
                        attestation: claimed.map(|a| a.location.clone()),
                        run: c.run.clone(),
                        path: Some(c.path.clone()),
                        field: Some("/subject".to_string()),
                        rule: None,
                        excused_by: None,
                    }),
                    _ => {}
                }
                if !coverage.iter().any(|x| x.path == c.path) {
                    coverage.push(c);
                }
            }
        }
    }
    for i in &relevant {
        if let Some((a, _)) = attestations.get(*i) {
            gate.check(a, &mut findings);
        }
    }
    gate.finish(&mut findings);
    let verified = attestations.len();
    let explicit_failures = checked
        .iter()
        .filter(|c| c.explicit && c.result.is_err())
        .count();
    if verified == 0 && explicit_failures == 0 && errors.is_empty() {
        findings.push(Finding {
            code: "no-attestations",
            severity: Severity::Error,
            message: "no verified attestation was found: nothing vouches for this release"
                .to_string(),
            attestation: None,
            run: None,
            path: None,
            field: None,
            rule: None,
            excused_by: None,
        });
    }
    findings.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(a.code.cmp(b.code))
            .then(a.message.cmp(&b.message))
    });

    let denied = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let explicit: Vec<&Checked> = checked.iter().filter(|c| c.explicit).collect();
    let passed = explicit.iter().filter(|c| c.result.is_ok()).count();
    let (verdict, outcome) = if !errors.is_empty() {
        ("error", Outcome::Undecided)
    } else if explicit_failures > 0 || denied > 0 {
        ("fail", Outcome::Denied)
    } else {
        ("pass", Outcome::Success)
    };
    let uncovered = coverage
        .iter()
        .filter(|c| c.status != CoverageStatus::Covered)
        .count();
    let summary = Summary {
        schema: REPORT_SCHEMA,
        verdict,
        envelopes: explicit.len(),
        passed,
        failed: explicit_failures,
        errors: errors.len(),
        denied,
        warnings,
        uncovered,
    };

    if let (Some(path), Some(key)) = (&args.vsa, &args.vsa_key) {
        write_vsa(
            ctx,
            path,
            key,
            &args.passphrase_env,
            &repo,
            &range,
            policy.as_ref(),
            &checked,
            &attestations,
            verdict == "pass",
        )?;
    }

    match args.format {
        Format::Human => render_human(
            ctx,
            &explicit,
            &skipped,
            &errors,
            &findings,
            &coverage,
            range_label.as_deref(),
            &summary,
            verified,
        )?,
        Format::Json => render_json(&explicit, &skipped, &errors, &findings, &coverage, summary)?,
    }
    // The process ends after this command: freeing thousands of parsed statements one allocation
    // at a time cost a tenth of a large verify (BENCHMARKS.md), so the memory goes back with the
    // process instead.
    drop(explicit);
    std::mem::forget((checked, attestations, coverage, findings));
    Ok(outcome)
}

fn level_overrides(args: &VerifyArgs) -> anyhow::Result<BTreeMap<String, Level>> {
    let mut out = BTreeMap::new();
    for (codes, level) in [(&args.deny, Level::Deny), (&args.warn, Level::Warn)] {
        for code in codes {
            if !RULES.iter().any(|(c, _, _)| c == code) {
                let known: Vec<&str> = RULES.iter().map(|(c, _, _)| *c).collect();
                return Err(usage_error(
                    format!("unknown rule {code:?}"),
                    format!("rules are: {}", known.join(", ")),
                ));
            }
            out.insert(code.clone(), level);
        }
    }
    Ok(out)
}

fn gather_target(
    target: &str,
    store: Option<&codex_attest::store::Store>,
    found: &mut Vec<Found>,
    errors: &mut Vec<(String, String)>,
    skipped: &mut Vec<(String, usize)>,
) {
    let path = Path::new(target);
    if path.exists() {
        gather_file(path, true, found, errors, skipped);
        return;
    }
    let Some(store) = store else {
        errors.push((
            target.to_string(),
            format!("{target}: no such file (and not inside a repository with stored runs)"),
        ));
        return;
    };
    let id = match codex_attest::runs::resolve_id(store, target) {
        Ok(id) => id,
        Err(err) => {
            errors.push((
                target.to_string(),
                format!("{target}: no such file, and {err}"),
            ));
            return;
        }
    };
    match store.get_run(&id) {
        Ok(run) => {
            let before = found.len();
            for (_, envelope) in
                parse_envelope_lines(run.envelope_lines.as_deref().unwrap_or_default())
            {
                found.push(Found {
                    location: format!("run {id}"),
                    envelope,
                    bundle: None,
                    explicit: true,
                });
            }
            match run_bundle(&run) {
                Some(Ok(bundle)) => found.push(Found {
                    location: format!("run {id} (keyless bundle)"),
                    envelope: bundle.envelope().clone(),
                    bundle: Some(Box::new(bundle)),
                    explicit: true,
                }),
                Some(Err(err)) => errors.push((target.to_string(), err)),
                None => {}
            }
            if found.len() == before {
                errors.push((
                    target.to_string(),
                    format!("run {id} is not signed; sign it with `codex-attest sign --key KEY {id}` (or --keyless)"),
                ));
            }
        }
        Err(err) => errors.push((target.to_string(), err.to_string())),
    }
}

/// A run's keyless bundle, if it has one.
fn run_bundle(run: &codex_attest::store::StoredRun) -> Option<Result<Bundle, String>> {
    let bytes = run.bundle.as_ref()?;
    Some(Bundle::from_slice(bytes).map_err(|err| {
        format!(
            "{}: {err}",
            run.dir.join(codex_attest::store::BUNDLE_FILE).display()
        )
    }))
}

fn gather_file(
    path: &Path,
    explicit: bool,
    found: &mut Vec<Found>,
    errors: &mut Vec<(String, String)>,
    skipped: &mut Vec<(String, usize)>,
) {
    match read_envelope_file(path) {
        Ok(file) => {
            for line in file.skipped_lines {
                skipped.push((path.display().to_string(), line));
            }
            for located in file.envelopes {
                found.push(Found {
                    location: location(&located.location),
                    envelope: located.envelope,
                    bundle: located.bundle,
                    explicit,
                });
            }
        }
        Err(err) => errors.push((path.display().to_string(), err.to_string())),
    }
}

fn gather_dir(
    dir: &Path,
    found: &mut Vec<Found>,
    errors: &mut Vec<(String, String)>,
    skipped: &mut Vec<(String, usize)>,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(err) => {
            errors.push((
                dir.display().to_string(),
                format!("{}: {err}", dir.display()),
            ));
            return;
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && is_attestation_file(p))
        .collect();
    files.sort();
    for file in files {
        gather_file(&file, false, found, errors, skipped);
    }
}

/// The files `--attestations DIR` reads: `*.intoto.jsonl`, `*.intoto.json` and Sigstore bundles
/// (`*.sigstore.json`). A CI artifact directory also holds Codex's event logs (`.jsonl`) and other
/// files; they are not attestations.
fn is_attestation_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n.ends_with(".intoto.jsonl") || n.ends_with(".intoto.json") || n.ends_with(".sigstore.json")
    })
}

fn location(l: &Location) -> String {
    l.to_string()
}

fn resolve_rev(repo: &Repo, rev: &str) -> anyhow::Result<GitOid> {
    let out = codex_attest::git::run(
        &repo.root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .map_err(|_| {
        usage_error(
            format!("{rev:?} is not a commit in this repository"),
            "give a branch, tag or commit id",
        )
    })?;
    String::from_utf8_lossy(&out)
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("git printed an unexpected commit id"))
}

fn resolve_range(repo: &Repo, spec: &str) -> anyhow::Result<(GitOid, GitOid)> {
    let Some((base, head)) = spec.split_once("..") else {
        return Err(usage_error(
            format!("--range {spec:?} is not BASE..HEAD"),
            "e.g. --range v1.2.0..HEAD or origin/main..HEAD",
        ));
    };
    let head = if head.is_empty() { "HEAD" } else { head };
    Ok((resolve_rev(repo, base)?, resolve_rev(repo, head)?))
}

/// Notes on the range's commits (and its base), and every signed run in the local store.
fn gather_range(
    repo: &Repo,
    store: &codex_attest::store::Store,
    base: &GitOid,
    head: &GitOid,
    found: &mut Vec<Found>,
) -> anyhow::Result<()> {
    let list = codex_attest::git::run(&repo.root, &["rev-list", &format!("{base}..{head}")])?;
    let mut commits: Vec<GitOid> = String::from_utf8_lossy(&list)
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    commits.push(base.clone());
    for (commit, content) in codex_attest::notes::read(repo, &commits)? {
        for (line, envelope) in parse_envelope_lines(&content) {
            found.push(Found {
                location: format!("note on {}:{line}", &commit.as_str()[..12]),
                envelope,
                bundle: None,
                explicit: false,
            });
        }
    }
    for id in store.run_ids().unwrap_or_default() {
        if let Ok(run) = store.get_run(&id) {
            for (_, envelope) in run
                .envelope_lines
                .as_deref()
                .map(parse_envelope_lines)
                .unwrap_or_default()
            {
                found.push(Found {
                    location: format!("run {id}"),
                    envelope,
                    bundle: None,
                    explicit: false,
                });
            }
            if let Some(Ok(bundle)) = run_bundle(&run) {
                found.push(Found {
                    location: format!("run {id} (keyless bundle)"),
                    envelope: bundle.envelope().clone(),
                    bundle: Some(Box::new(bundle)),
                    explicit: false,
                });
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn write_vsa(
    ctx: &Ctx,
    path: &Path,
    key: &Path,
    passphrase_env: &str,
    repo: &Option<Repo>,
    range: &Option<(GitOid, GitOid)>,
    policy: Option<&Policy>,
    checked: &[Checked],
    attestations: &[(Attestation, bool)],
    passed: bool,
) -> anyhow::Result<()> {
    let key = load_private_key(ctx, key, passphrase_env)?;
    let remote = repo.as_ref().and_then(|r| r.remote_url());
    let (subjects, resource_uri) = match range {
        Some((_, head)) => {
            let mut digest = codex_attest::digest::DigestSet::new();
            digest.insert("gitCommit".to_string(), head.to_string());
            let uri = match &remote {
                Some(r) => format!("git+{r}@{head}"),
                None => format!("git:{head}"),
            };
            (
                vec![ResourceDescriptor {
                    name: Some("git-commit".to_string()),
                    uri: Some(uri.clone()),
                    digest,
                    ..Default::default()
                }],
                uri,
            )
        }
        None => {
            let subjects: Vec<ResourceDescriptor> = attestations
                .iter()
                .flat_map(|(a, _)| a.verified.statement.subject.clone())
                .collect();
            (subjects, remote.unwrap_or_else(|| "local".to_string()))
        }
    };
    if subjects.is_empty() {
        return Err(usage_error(
            "the VSA has no subject: nothing was verified",
            "give attestations or --range",
        ));
    }
    let statement = codex_attest::vsa::build(codex_attest::vsa::VsaParts {
        subjects,
        resource_uri,
        policy: policy.map(|p| (p.path.display().to_string(), p.digest)),
        inputs: checked
            .iter()
            .filter_map(|c| Some((c.location.clone(), c.line_digest?)))
            .collect(),
        passed,
        time: ctx.clock.now(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
    });
    let envelope = Envelope::sign(
        codex_attest::dsse::IN_TOTO_PAYLOAD_TYPE,
        &statement.to_json(),
        &[&key],
    )
    .context("failed to sign the VSA")?;
    super::write_file_atomically(
        path,
        format!("{}\n", envelope.to_json_line()).as_bytes(),
        true,
    )
}

fn envelope_record(c: &Checked) -> EnvelopeRecord<'_> {
    let (file, line) = split_location(&c.location);
    match &c.result {
        Ok(v) => EnvelopeRecord {
            file,
            line,
            verdict: "pass",
            code: None,
            reason: None,
            payload_type: &c.payload_type,
            predicate_type: Some(&v.statement.predicate_type),
            run: c
                .view
                .as_ref()
                .and_then(|view| view.as_ref().as_ref().ok())
                .and_then(|r| r.run_id.clone()),
            subjects: &v.statement.subject,
            signatures: v.signatures.checks(),
        },
        Err(err) => EnvelopeRecord {
            file,
            line,
            verdict: "fail",
            code: Some(err.code()),
            reason: Some(err.to_string()),
            payload_type: &c.payload_type,
            predicate_type: None,
            run: None,
            subjects: &[],
            signatures: match err {
                EnvelopeFailure::Signature(VerifyError::Threshold { checks, .. }) => checks,
                _ => &[],
            },
        },
    }
}

fn split_location(location: &str) -> (String, Option<usize>) {
    match location.rsplit_once(':') {
        Some((file, line)) if !file.starts_with("note on") => match line.parse() {
            Ok(n) => (file.to_string(), Some(n)),
            Err(_) => (location.to_string(), None),
        },
        _ => (location.to_string(), None),
    }
}

fn render_json(
    checked: &[&Checked],
    skipped: &[(String, usize)],
    errors: &[(String, String)],
    findings: &[Finding],
    coverage: &[Coverage],
    summary: Summary,
) -> anyhow::Result<()> {
    // Streamed: a report on thousands of envelopes is tens of megabytes.
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    let mut push = |record: &Record| -> anyhow::Result<()> {
        serde_json::to_writer(&mut out, record)?;
        out.write_all(b"\n")?;
        Ok(())
    };
    for c in checked {
        push(&Record::Envelope(envelope_record(c)))?;
    }
    for (file, line) in skipped {
        push(&Record::Skipped {
            file: file.clone(),
            line: *line,
            reason: "not a DSSE envelope",
        })?;
    }
    for (file, message) in errors {
        push(&Record::Error {
            file: file.clone(),
            message: message.clone(),
        })?;
    }
    for f in findings {
        push(&Record::Finding(f))?;
    }
    for c in coverage {
        push(&Record::Coverage(c))?;
    }
    push(&Record::Summary(summary))?;
    out.flush()?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn render_human(
    ctx: &Ctx,
    checked: &[&Checked],
    skipped: &[(String, usize)],
    errors: &[(String, String)],
    findings: &[Finding],
    coverage: &[Coverage],
    range_label: Option<&str>,
    summary: &Summary,
    verified: usize,
) -> anyhow::Result<()> {
    let paint = |text: &str, code: &str| {
        if ctx.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let mut out = String::new();
    for c in checked {
        match &c.result {
            Ok(v) => {
                let mut signers: Vec<_> = v
                    .signatures
                    .signers()
                    .iter()
                    .map(|k| k.short().to_string())
                    .collect();
                signers.extend(
                    v.signatures
                        .certificate_signers()
                        .iter()
                        .map(|(identity, issuer)| format!("{identity} (keyless, issuer {issuer})")),
                );
                out.push_str(&format!("{} {}\n", paint("PASS", "32"), c.location));
                out.push_str(&format!("  predicate: {}\n", v.statement.predicate_type));
                out.push_str(&format!("  signed by: {}\n", signers.join(", ")));
                out.push_str(&format!("  subjects ({}):\n", v.statement.subject.len()));
                for s in &v.statement.subject {
                    out.push_str(&format!("    {}\n", describe_subject(s)));
                }
            }
            Err(err) => {
                out.push_str(&format!("{} {}\n", paint("FAIL", "31"), c.location));
                out.push_str(&format!("  [{}] {}\n", err.code(), err));
            }
        }
    }
    for (file, line) in skipped {
        out.push_str(&format!("SKIP {file}:{line}\n  not a DSSE envelope (ignored, as the in-toto bundle spec requires)\n"));
    }
    for f in findings {
        out.push_str(&render_finding(f, ctx.color));
    }
    if !coverage.is_empty() {
        out.push_str(&format!(
            "coverage{}:\n",
            range_label.map(|l| format!(" ({l})")).unwrap_or_default()
        ));
        let width = coverage
            .iter()
            .map(|c| c.path.chars().count())
            .max()
            .unwrap_or(0);
        for c in coverage {
            let status = match c.status {
                CoverageStatus::Covered => "covered",
                CoverageStatus::ChangedAfterRun => "changed-after-run",
                CoverageStatus::Missing => "missing",
                CoverageStatus::Uncovered => "uncovered",
                CoverageStatus::UnsafePath => "unsafe-path",
            };
            let by = match (&c.run, c.status) {
                (Some(run), CoverageStatus::Covered) => format!("by run {run}"),
                (Some(run), _) => format!("(last attested by run {run})"),
                (None, _) if !c.commits.is_empty() => format!(
                    "in {}",
                    c.commits
                        .iter()
                        .map(|h| &h[..12.min(h.len())])
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                (None, _) => String::new(),
            };
            out.push_str(format!("  {status:<18} {:<width$}  {by}", c.path).trim_end());
            out.push('\n');
        }
    }
    let verdict = match summary.verdict {
        "pass" => paint("PASS", "32"),
        "fail" => paint("FAIL", "31"),
        _ => paint("ERROR", "31"),
    };
    out.push_str(&format!(
        "gate: {verdict}: {verified} attestation{} verified, {} denied, {} warning{}{}\n",
        if verified == 1 { "" } else { "s" },
        summary.denied + summary.failed,
        summary.warnings,
        if summary.warnings == 1 { "" } else { "s" },
        if summary.errors > 0 {
            format!(", {} input(s) could not be read", summary.errors)
        } else {
            String::new()
        },
    ));
    print_stdout(&out)?;
    for (_, message) in errors {
        eprintln!("error: {message}");
    }
    Ok(())
}

fn render_finding(f: &Finding, color: bool) -> String {
    let (word, code) = match f.severity {
        Severity::Error => ("error", "31"),
        Severity::Warning => ("warning", "33"),
        Severity::Note => ("note", "36"),
    };
    let head = if color {
        format!("\x1b[{code}m{word}[{}]\x1b[0m", f.code)
    } else {
        format!("{word}[{}]", f.code)
    };
    let mut out = format!("{head}: {}\n", f.message);
    if let Some(rule) = &f.rule {
        let gutter = rule.line.to_string().len();
        let pad = " ".repeat(gutter);
        out.push_str(&format!(
            "{pad}--> {}:{}:{}\n",
            rule.file, rule.line, rule.column
        ));
        out.push_str(&format!("{pad} |\n"));
        out.push_str(&format!("{} | {}\n", rule.line, rule.source_line));
        out.push_str(&format!(
            "{pad} | {}{} {}\n",
            " ".repeat(rule.column.saturating_sub(1)),
            "^".repeat(rule.width),
            rule.label
        ));
    }
    if let Some(a) = &f.attestation {
        out.push_str(&format!("  = attestation: {a}\n"));
    }
    if let Some(field) = &f.field {
        out.push_str(&format!("  = field: {field}\n"));
    }
    if let Some(reason) = &f.excused_by {
        out.push_str(&format!("  = allowed by exception: {reason}\n"));
    }
    out
}

/// Renders every problem of a policy file, each pointing at its line.
pub fn render_policy_error(err: &codex_attest::policy::PolicyError) -> String {
    let mut out = format!("error: {err}\n");
    for problem in &err.problems {
        match &problem.span {
            Some(span) if !err.source_text.is_empty() => {
                let (line, column, text) = codex_attest::policy::locate(&err.source_text, span);
                let width = err
                    .source_text
                    .get(span.clone())
                    .map(|s| s.lines().next().unwrap_or("").chars().count())
                    .unwrap_or(1)
                    .max(1);
                let pad = " ".repeat(line.to_string().len());
                out.push_str(&format!(
                    "{pad}--> {}:{line}:{column}\n",
                    err.path.display()
                ));
                out.push_str(&format!("{line} | {text}\n"));
                out.push_str(&format!(
                    "{pad} | {}{} {}\n",
                    " ".repeat(column.saturating_sub(1)),
                    "^".repeat(width),
                    problem.message
                ));
            }
            _ => out.push_str(&format!("  = {}\n", problem.message)),
        }
    }
    out.push_str("hint: `codex-attest init --policy FILE` writes a commented template\n");
    out
}

fn describe_subject(subject: &ResourceDescriptor) -> String {
    let name = subject
        .name
        .as_deref()
        .or(subject.uri.as_deref())
        .unwrap_or("_");
    let digest = subject
        .digest
        .get("sha256")
        .map(|d| format!("sha256:{d}"))
        .or_else(|| {
            subject
                .digest
                .iter()
                .next()
                .map(|(k, v)| format!("{k}:{v}"))
        })
        .unwrap_or_default();
    format!("{name}  {digest}")
}
