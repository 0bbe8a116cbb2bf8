//! `codex-attest verify`: check DSSE envelopes against trusted keys.

use std::path::PathBuf;

use serde::Serialize;

use codex_attest::dsse::{Keyring, SignatureCheck, VerifyError};
use codex_attest::envelope_file::{Location, read_envelope_file};
use codex_attest::intoto::ResourceDescriptor;
use codex_attest::verify::{EnvelopeFailure, VerifiedStatement, verify_statement_envelope};

use super::{Ctx, Format, Outcome, load_public_key, print_stdout, usage_error};

/// Verify attestations: DSSE signatures from trusted keys over in-toto Statement v1 payloads
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Accepts .intoto.jsonl files (one envelope per line; lines that are JSON but not envelopes are
skipped) and single-envelope JSON files. Signatures are checked before anything in the payload is
read; a signature's keyid is only a hint.

Exit status: 0 every envelope verified, 1 any envelope failed, 2 could not decide (unreadable or
malformed file, bad key, usage error).

Examples:
  codex-attest verify --key keys/ci.pub run.intoto.jsonl
  codex-attest verify --key a.pub --key b.pub --threshold 2 --format json *.intoto.jsonl")]
pub struct VerifyArgs {
    /// Envelope files to verify
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Trusted public key (can be repeated)
    #[arg(long = "key", value_name = "PUB")]
    keys: Vec<PathBuf>,
    /// Number of distinct trusted keys that must have signed each envelope
    #[arg(long, value_name = "N", default_value_t = 1)]
    threshold: usize,
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    format: Format,
}

/// The JSON report's schema identifier.
const REPORT_SCHEMA: &str = "codex-attest/verify/v1";

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
}

struct Checked {
    location: Location,
    payload_type: String,
    result: Result<VerifiedStatement, EnvelopeFailure>,
}

pub fn run(ctx: &Ctx, args: VerifyArgs) -> anyhow::Result<Outcome> {
    if args.keys.is_empty() {
        return Err(usage_error(
            "no trusted keys: verification needs at least one",
            "pass --key PUB (the .pub file written by `codex-attest keygen`)",
        ));
    }
    if args.threshold == 0 {
        return Err(usage_error(
            "--threshold must be at least 1",
            "use --threshold 1 or more",
        ));
    }
    let keyring: Keyring = args
        .keys
        .iter()
        .map(|p| load_public_key(p))
        .collect::<anyhow::Result<_>>()?;
    if keyring.keys().len() < args.threshold {
        return Err(usage_error(
            format!(
                "--threshold {} needs at least that many distinct trusted keys, {} given",
                args.threshold,
                keyring.keys().len()
            ),
            "pass more --key files or lower --threshold",
        ));
    }

    let mut checked = Vec::new();
    let mut skipped = Vec::new();
    let mut errors = Vec::new();
    for file in &args.files {
        match read_envelope_file(file) {
            Ok(contents) => {
                for line in contents.skipped_lines {
                    skipped.push((file.display().to_string(), line));
                }
                for located in contents.envelopes {
                    let result =
                        verify_statement_envelope(&located.envelope, &keyring, args.threshold);
                    checked.push(Checked {
                        location: located.location,
                        payload_type: located.envelope.payload_type,
                        result,
                    });
                }
            }
            Err(err) => errors.push((file.display().to_string(), err.to_string())),
        }
    }

    let passed = checked.iter().filter(|c| c.result.is_ok()).count();
    let failed = checked.len() - passed;
    let (verdict, outcome) = if !errors.is_empty() || checked.is_empty() {
        ("error", Outcome::Undecided)
    } else if failed > 0 {
        ("fail", Outcome::Denied)
    } else {
        ("pass", Outcome::Success)
    };
    let summary = Summary {
        schema: REPORT_SCHEMA,
        verdict,
        envelopes: checked.len(),
        passed,
        failed,
        errors: errors.len(),
    };
    match args.format {
        Format::Human => render_human(ctx, &checked, &skipped, &errors, &summary)?,
        Format::Json => render_json(&checked, &skipped, &errors, summary)?,
    }
    Ok(outcome)
}

fn render_json(
    checked: &[Checked],
    skipped: &[(String, usize)],
    errors: &[(String, String)],
    summary: Summary,
) -> anyhow::Result<()> {
    let mut out = String::new();
    let mut push = |record: &Record| {
        // Serializing these plain structs cannot fail.
        out.push_str(&serde_json::to_string(record).unwrap_or_default());
        out.push('\n');
    };
    for c in checked {
        push(&Record::Envelope(envelope_record(c)));
    }
    for (file, line) in skipped {
        push(&Record::Skipped {
            file: file.clone(),
            line: *line,
            reason: "not a DSSE envelope",
        });
    }
    for (file, message) in errors {
        push(&Record::Error {
            file: file.clone(),
            message: message.clone(),
        });
    }
    push(&Record::Summary(summary));
    print_stdout(&out)
}

fn envelope_record(c: &Checked) -> EnvelopeRecord<'_> {
    let file = c.location.file.display().to_string();
    match &c.result {
        Ok(v) => EnvelopeRecord {
            file,
            line: c.location.line,
            verdict: "pass",
            code: None,
            reason: None,
            payload_type: &c.payload_type,
            predicate_type: Some(&v.statement.predicate_type),
            subjects: &v.statement.subject,
            signatures: v.envelope.checks(),
        },
        Err(err) => EnvelopeRecord {
            file,
            line: c.location.line,
            verdict: "fail",
            code: Some(err.code()),
            reason: Some(err.to_string()),
            payload_type: &c.payload_type,
            predicate_type: None,
            subjects: &[],
            signatures: match err {
                EnvelopeFailure::Signature(VerifyError::Threshold { checks, .. }) => checks,
                _ => &[],
            },
        },
    }
}

fn render_human(
    ctx: &Ctx,
    checked: &[Checked],
    skipped: &[(String, usize)],
    errors: &[(String, String)],
    summary: &Summary,
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
                let signers: Vec<_> = v
                    .envelope
                    .signers()
                    .iter()
                    .map(|k| k.short().to_string())
                    .collect();
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
    out.push_str(&format!(
        "verified {} of {} envelope{}{}\n",
        summary.passed,
        summary.envelopes,
        if summary.envelopes == 1 { "" } else { "s" },
        if summary.errors > 0 {
            format!(
                "; {} file{} could not be read",
                summary.errors,
                if summary.errors == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        }
    ));
    print_stdout(&out)?;
    for (_, message) in errors {
        eprintln!("error: {message}");
    }
    Ok(())
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
