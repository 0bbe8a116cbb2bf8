//! `codex-attest export`: a stored run or an envelope file as a Sigstore bundle.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use codex_attest::envelope_file::{parse_envelope_lines, read_envelope_file};
use codex_attest::sigstore::Bundle;
use codex_attest::sigstore::bundle::Material;

use super::{Ctx, Outcome, hint, status, usage_error};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Sigstore bundle v0.3 JSON (one DSSE signature per bundle)
    #[default]
    SigstoreBundle,
}

/// Export a signed run or envelope file as a Sigstore bundle (v0.3 JSON)
#[derive(Debug, clap::Args)]
#[command(after_help = "\
TARGET is a run recorded by `wrap` (an id, a unique prefix, or `latest`) or an envelope file
(.intoto.jsonl or single-envelope JSON). A Sigstore bundle holds exactly one DSSE signature:

- a key signature becomes a bundle with a public-key hint (our 64-hex key id, also the DSSE
  keyid) and no transparency log entry; it verifies offline with the public key, with
  `codex-attest verify --key` or any Sigstore verifier given that key;
- a run signed with --keyless already has its bundle (certificate and Rekor entry); it is
  written as it is.

When the target holds several signatures, pick one with --keyid (or --keyless for the keyless
bundle of a run). The signed bytes are never changed: splitting a multi-signature envelope keeps
each signature valid.

Examples:
  codex-attest export latest --format sigstore-bundle --output run.sigstore.json
  codex-attest export run.intoto.jsonl --keyid 3b0f9c1e > run.sigstore.json
  codex-attest export latest --keyless --output keyless.sigstore.json")]
pub struct ExportArgs {
    /// A stored run, or an envelope file
    #[arg(value_name = "RUN|FILE")]
    target: String,
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "sigstore-bundle")]
    format: ExportFormat,
    /// Export the signature by this key id (or a unique prefix of it)
    #[arg(long, value_name = "KEYID", conflicts_with = "keyless")]
    keyid: Option<String>,
    /// Export the run's keyless bundle
    #[arg(long)]
    keyless: bool,
    /// Write the bundle to FILE instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace FILE if it exists
    #[arg(long, requires = "output")]
    force: bool,
}

pub fn run(ctx: &Ctx, args: ExportArgs) -> anyhow::Result<Outcome> {
    let ExportFormat::SigstoreBundle = args.format;
    let (label, candidates) = candidates(&args.target)?;
    let chosen: Vec<&Bundle> = candidates
        .iter()
        .filter(|b| match (&args.keyid, args.keyless, b.material()) {
            (_, true, Material::Certificate(_)) => true,
            (_, true, _) => false,
            (Some(want), _, Material::PublicKey { hint }) => {
                hint.is_some_and(|h| !want.is_empty() && h.starts_with(want.as_str()))
            }
            (Some(_), _, _) => false,
            (None, false, _) => true,
        })
        .collect();
    let bundle = match chosen.as_slice() {
        [one] => *one,
        [] => {
            return Err(usage_error(
                format!(
                    "{label} has no {}",
                    match (&args.keyid, args.keyless) {
                        (Some(k), _) => format!("signature by key {k}"),
                        (_, true) => "keyless bundle".to_string(),
                        _ => "signature".to_string(),
                    }
                ),
                format!("it has: {}", describe_all(&candidates)),
            ));
        }
        _ => {
            return Err(usage_error(
                format!(
                    "{label} has {} signatures and a Sigstore bundle holds one",
                    chosen.len()
                ),
                format!(
                    "pick one with --keyid KEYID or --keyless; it has: {}",
                    describe_all(&candidates)
                ),
            ));
        }
    };
    let text = bundle.to_json_pretty();
    super::emit(args.output.as_deref(), &text, args.force)?;
    status(
        ctx,
        &format!(
            "exported {} ({}) as a Sigstore bundle{}",
            label,
            describe(bundle),
            args.output
                .as_ref()
                .map(|p| format!(" to {}", p.display()))
                .unwrap_or_default()
        ),
    );
    Ok(Outcome::Success)
}

fn describe(bundle: &Bundle) -> String {
    match bundle.material() {
        Material::PublicKey { hint: Some(h) } => format!("key {}", &h[..h.len().min(12)]),
        Material::PublicKey { hint: None } => "key without id".to_string(),
        Material::Certificate(_) => "keyless".to_string(),
    }
}

fn describe_all(bundles: &[Bundle]) -> String {
    if bundles.is_empty() {
        return "no signatures".to_string();
    }
    bundles.iter().map(describe).collect::<Vec<_>>().join(", ")
}

/// Every single-signature bundle a target holds, and a label for messages.
fn candidates(target: &str) -> anyhow::Result<(String, Vec<Bundle>)> {
    let path = Path::new(target);
    let mut out = Vec::new();
    if path.exists() {
        let file = read_envelope_file(path).map_err(|err| {
            anyhow::Error::new(err).context(hint(
                format!("cannot export {target}"),
                "give a .intoto.jsonl or envelope JSON file, or a stored run",
            ))
        })?;
        for located in file.envelopes {
            match located.bundle {
                Some(bundle) => out.push(*bundle),
                None => split(&located.envelope, &mut out),
            }
        }
        return Ok((target.to_string(), out));
    }
    let (_repo, store) = super::open_store()
        .with_context(|| format!("{target} is neither a file nor a run in this repository"))?;
    let id = codex_attest::runs::resolve_id(&store, target)
        .with_context(|| format!("{target} is neither a file nor a stored run"))?;
    let run = store.get_run(&id)?;
    for (_, envelope) in parse_envelope_lines(run.envelope_lines.as_deref().unwrap_or_default()) {
        split(&envelope, &mut out);
    }
    if let Some(bytes) = &run.bundle {
        let bundle = Bundle::from_slice(bytes).with_context(|| {
            format!("the stored bundle of run {id} is unreadable; run `codex-attest fsck`")
        })?;
        out.push(bundle);
    }
    if out.is_empty() {
        return Err(usage_error(
            format!("run {id} is not signed"),
            format!("sign it with `codex-attest sign --key KEY {id}` or `--keyless`"),
        ));
    }
    Ok((format!("run {id}"), out))
}

fn split(envelope: &codex_attest::dsse::Envelope, out: &mut Vec<Bundle>) {
    for index in 0..envelope.signatures.len() {
        if let Some(bundle) = Bundle::for_key_signature(envelope, index) {
            out.push(bundle);
        }
    }
}
