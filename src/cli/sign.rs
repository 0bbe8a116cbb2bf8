//! `codex-attest sign`: sign an in-toto statement into a DSSE envelope.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;

use codex_attest::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use codex_attest::envelope_file::MAX_ENVELOPE_BYTES;
use codex_attest::intoto::Statement;

use super::keyless::{self, KeylessArgs, TokenSource};
use super::{Ctx, Outcome, PASSPHRASE_ENV, hint, load_private_key, print_stdout, status};

/// Sign a stored run or an in-toto Statement v1: a DSSE envelope line, or keylessly a Sigstore bundle
#[derive(Debug, clap::Args)]
#[command(after_help = "\
TARGET is a statement file, or a run recorded by `wrap` (an id, a unique prefix, or `latest`);
a run's signature is also kept with it in the store. The statement's exact bytes are signed
(never re-serialized), with payloadType application/vnd.in-toto+json. The envelope is one JSON
line, the .intoto.jsonl convention.

Keyless (--keyless): the OIDC token (--identity-token, else $SIGSTORE_ID_TOKEN, else GitHub
Actions' ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN) gets a 10-minute Fulcio certificate for a fresh
P-256 key, the envelope is logged in Rekor as a `dsse` entry, and the result is a Sigstore bundle
v0.3 (JSON), kept with a stored run as bundle.sigstore.json. The token is never written anywhere.

Examples:
  codex-attest sign --key keys/ci.key latest > run.intoto.jsonl
  codex-attest sign --key keys/ci.key statement.json > statement.intoto.jsonl
  codex-attest sign --key a.key --key b.key --output run.intoto.jsonl 20261124T081512Z
  codex-attest sign --keyless latest --output run.sigstore.json      # in GitHub Actions
  SIGSTORE_ID_TOKEN=$(cat token) codex-attest sign --keyless --fulcio-url https://fulcio.example \\
      --rekor-url https://rekor.example --trusted-root trusted_root.json statement.json")]
pub struct SignArgs {
    /// A statement file, or a stored run
    #[arg(value_name = "TARGET")]
    statement: PathBuf,
    /// Private key to sign with (can be repeated: one signature per key)
    #[arg(
        long = "key",
        value_name = "KEY",
        required_unless_present = "keyless",
        conflicts_with = "keyless"
    )]
    keys: Vec<PathBuf>,
    /// Write the envelope to FILE instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace FILE if it exists
    #[arg(long, requires = "output", conflicts_with = "append")]
    force: bool,
    /// Append the envelope as a new line of FILE (an .intoto.jsonl bundle)
    #[arg(long, requires = "output", conflicts_with = "keyless")]
    append: bool,
    /// Environment variable that holds the key passphrase
    #[arg(long, value_name = "VAR", default_value = PASSPHRASE_ENV)]
    passphrase_env: String,
    #[command(flatten)]
    keyless: KeylessArgs,
}

pub fn run(ctx: &Ctx, args: SignArgs) -> anyhow::Result<Outcome> {
    // A path that exists is a statement file; anything else names a stored run.
    let stored_run = if args.statement.exists() {
        None
    } else {
        let (_repo, store) = super::open_store().with_context(|| {
            format!(
                "{} is neither a file nor a run in this repository",
                args.statement.display()
            )
        })?;
        let query = args.statement.to_string_lossy().into_owned();
        let id = codex_attest::runs::resolve_id(&store, &query)
            .with_context(|| format!("{query} is neither a file nor a stored run"))?;
        let run = store.get_run(&id)?;
        Some((store, run))
    };
    let payload = match &stored_run {
        Some((_, run)) => run.statement_json.clone(),
        None => read_statement(&args.statement)?,
    };
    let statement = Statement::from_slice(&payload).map_err(|err| {
        anyhow::Error::new(err).context(hint(
            format!(
                "{} is not a valid in-toto Statement v1",
                args.statement.display()
            ),
            "see https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md",
        ))
    })?;
    if args.keyless.keyless {
        let source = TokenSource::resolve(&args.keyless)?;
        let signed = keyless::sign(&args.keyless, &source, &payload)?;
        let text = signed.bundle.to_json_pretty();
        if let Some((store, run)) = &stored_run {
            store.put_bundle(&run.id, text.as_bytes())?;
        }
        super::emit(args.output.as_deref(), &text, args.force)?;
        status(
            ctx,
            &format!(
                "signed {} {}{}",
                args.statement.display(),
                keyless::describe(&signed),
                args.output
                    .as_ref()
                    .map(|p| format!(" into {}", p.display()))
                    .unwrap_or_default()
            ),
        );
        return Ok(Outcome::Success);
    }
    let keys = args
        .keys
        .iter()
        .map(|path| load_private_key(ctx, path, &args.passphrase_env))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let signers: Vec<_> = keys.iter().collect();
    let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &payload, &signers)
        .context("failed to sign the statement")?;
    let line = format!("{}\n", envelope.to_json_line());
    if let Some((store, run)) = &stored_run {
        let mut lines = run.envelope_lines.clone().unwrap_or_default();
        lines.extend_from_slice(line.as_bytes());
        store.put_envelopes(&run.id, &lines)?;
    }
    match &args.output {
        None => print_stdout(&line)?,
        Some(path) if args.append => append_line(path, &line)?,
        Some(path) => super::write_file_atomically(path, line.as_bytes(), args.force)?,
    }
    let key_ids: Vec<_> = keys
        .iter()
        .map(|k| k.key_id().short().to_string())
        .collect();
    status(
        ctx,
        &format!(
            "signed {} ({} subject{}) with {}{}",
            args.statement.display(),
            statement.subject.len(),
            if statement.subject.len() == 1 {
                ""
            } else {
                "s"
            },
            key_ids.join(", "),
            args.output
                .as_ref()
                .map(|p| format!(" into {}", p.display()))
                .unwrap_or_default()
        ),
    );
    Ok(Outcome::Success)
}

fn read_statement(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("failed to read statement {}", path.display()))?;
    let mut payload = Vec::new();
    file.take(MAX_ENVELOPE_BYTES as u64 + 1)
        .read_to_end(&mut payload)
        .with_context(|| format!("failed to read statement {}", path.display()))?;
    if payload.len() > MAX_ENVELOPE_BYTES {
        anyhow::bail!(
            "statement {} is larger than the {} MiB limit",
            path.display(),
            MAX_ENVELOPE_BYTES / (1024 * 1024)
        );
    }
    Ok(payload)
}

/// Appends one line with a single `write` on an `O_APPEND` descriptor, so concurrent appenders
/// never interleave within a line.
fn append_line(path: &PathBuf, line: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("failed to open {} for appending", path.display()))?;
    file.write_all(line.as_bytes())
        .with_context(|| format!("failed to append to {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("failed to append to {}", path.display()))?;
    Ok(())
}
