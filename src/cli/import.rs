//! `codex-attest import`: read Sigstore bundles back as DSSE envelopes, or attach them to a run.

use std::path::PathBuf;

use anyhow::Context as _;

use codex_attest::dsse::decode_base64;
use codex_attest::envelope_file::read_envelope_file;
use codex_attest::sigstore::bundle::Material;

use super::{Ctx, Outcome, hint, status, usage_error};

/// Read Sigstore bundles back: print their DSSE envelopes as .intoto.jsonl, or attach them to a run
#[derive(Debug, clap::Args)]
#[command(after_help = "\
FILE holds Sigstore bundles (a .sigstore.json bundle, or JSON Lines of bundles). Each bundle's
DSSE envelope is written as one .intoto.jsonl line, byte for byte the envelope that was signed
(a key bundle's hint becomes the signature's keyid). Nothing is verified here: run
`codex-attest verify` on the bundle or on the result.

A keyless bundle's certificate and log entry do not fit in an envelope: keep the bundle itself
to verify it keylessly, or attach it to its run with --run.

With --run RUN, the bundles are attached to a stored run instead (key signatures are added to
its envelope file, a keyless bundle becomes its bundle.sigstore.json); each bundle's payload must
be exactly the run's statement.

Examples:
  codex-attest import run.sigstore.json > run.intoto.jsonl
  codex-attest import run.sigstore.json --run latest")]
pub struct ImportArgs {
    /// The bundle file
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Attach the bundles to this stored run instead of printing envelopes
    #[arg(long, value_name = "RUN", conflicts_with = "output")]
    run: Option<String>,
    /// Write the envelopes to FILE instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace FILE if it exists
    #[arg(long, requires = "output")]
    force: bool,
}

pub fn run(ctx: &Ctx, args: ImportArgs) -> anyhow::Result<Outcome> {
    let file = read_envelope_file(&args.file).map_err(|err| {
        anyhow::Error::new(err).context(hint(
            format!("cannot import {}", args.file.display()),
            "give a Sigstore bundle (.sigstore.json) as written by `codex-attest export` or a Sigstore client",
        ))
    })?;
    let bundles: Vec<_> = file
        .envelopes
        .into_iter()
        .filter_map(|l| l.bundle)
        .collect();
    if bundles.is_empty() {
        return Err(usage_error(
            format!("{} holds no Sigstore bundle", args.file.display()),
            "it holds plain DSSE envelopes, which `codex-attest verify` reads as they are",
        ));
    }
    if let Some(query) = &args.run {
        let (_repo, store) = super::open_store()?;
        let id = codex_attest::runs::resolve_id(&store, query)?;
        let run = store.get_run(&id)?;
        let mut lines = run.envelope_lines.clone().unwrap_or_default();
        let mut added = 0;
        for bundle in &bundles {
            let payload = decode_base64(&bundle.envelope().payload).unwrap_or_default();
            if payload != run.statement_json {
                return Err(usage_error(
                    format!(
                        "{} is not about run {id}: its payload is not the run's statement",
                        args.file.display()
                    ),
                    format!("export the bundle of run {id}, or import without --run"),
                ));
            }
            match bundle.material() {
                Material::Certificate(_) => {
                    store
                        .put_bundle(&id, bundle.to_json_pretty().as_bytes())
                        .with_context(|| format!("failed to attach the bundle to run {id}"))?;
                }
                Material::PublicKey { .. } => {
                    lines.extend_from_slice(bundle.envelope().to_json_line().as_bytes());
                    lines.push(b'\n');
                    added += 1;
                }
            }
        }
        if added > 0 {
            store.put_envelopes(&id, &lines)?;
        }
        status(
            ctx,
            &format!(
                "attached {} bundle{} from {} to run {id}",
                bundles.len(),
                if bundles.len() == 1 { "" } else { "s" },
                args.file.display()
            ),
        );
        return Ok(Outcome::Success);
    }
    let mut text = String::new();
    let mut keyless = 0;
    for bundle in &bundles {
        if matches!(bundle.material(), Material::Certificate(_)) {
            keyless += 1;
        }
        text.push_str(&bundle.envelope().to_json_line());
        text.push('\n');
    }
    super::emit(args.output.as_deref(), &text, args.force)?;
    if keyless > 0 {
        status(
            ctx,
            &format!(
                "codex-attest: warning: {keyless} keyless bundle{} lost {} certificate and log entry in the envelope; keep {} to verify keylessly",
                if keyless == 1 { "" } else { "s" },
                if keyless == 1 { "its" } else { "their" },
                args.file.display()
            ),
        );
    }
    status(
        ctx,
        &format!(
            "imported {} envelope{} from {}",
            bundles.len(),
            if bundles.len() == 1 { "" } else { "s" },
            args.file.display()
        ),
    );
    Ok(Outcome::Success)
}
