//! `codex-attest replay`: re-run a recorded run from its pinned inputs and compare.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use codex_attest::dsse::{Keyring, decode_base64};
use codex_attest::envelope_file::read_envelope_file;
use codex_attest::replay::{self, FileStatus, Mode, ReplayOptions, ReplayReport};
use codex_attest::runs::{LoadedRun, RunError};
use codex_attest::store::{Store, StoreError};

use super::{Ctx, Format, Outcome, load_public_key, open_store, print_stdout, status, usage_error};

/// Rebuild a run from its pinned inputs in scratch space, re-run Codex, and compare the outcome
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The starting state is rebuilt in a private clone at the pinned commit with the pinned uncommitted
changes, and a scratch CODEX_HOME holds the pinned AGENTS.md, config layers, rules, skills and
hooks: your checkout and your CODEX_HOME are not touched.

recorded (default): codex-attest serves the model outputs recorded in the run's transcript from a
loopback endpoint, so Codex re-executes the same tool calls with no model and no network.
live: the same rebuilt state against the real provider (its credentials come from your
environment); the report shows how far the new outcome is from the recorded one.

RUN is a stored run (an id, a unique prefix, `latest`) or an attestation file (.intoto.jsonl)
of a run in this repository's store: the run its statement names is replayed, and only if the
stored statement is byte for byte the attested one. With --key the envelope is verified first;
without, it is read unverified and a warning says so.

Exit status: 0 identical, 1 differs, 2 could not replay (missing blobs, a corrupt transcript, a
Codex that is not the pinned version, an attestation that does not match the store, ...).

Examples:
  codex-attest replay latest
  codex-attest replay 20261124T081512Z --keep --format json
  codex-attest replay run.intoto.jsonl --key keys/ci.pub
  codex-attest replay RUN --mode live --codex ~/.local/bin/codex
  codex-attest replay RUN --attestation replay.intoto.jsonl --attestation-key keys/ci.key

--attestation writes a DSSE envelope of an in-toto statement (predicate type
https://codex-attest.dev/replay/v1) whose subject is the replayed run's statement and whose
predicate holds the report; `codex-attest verify --key PUB FILE` checks it.")]
pub struct ReplayArgs {
    /// The run to replay (an id, a unique prefix, `latest`, or an attestation file)
    #[arg(value_name = "RUN")]
    run: String,
    /// Trusted key to verify an attestation file with (can be repeated)
    #[arg(long = "key", value_name = "PUB")]
    keys: Vec<PathBuf>,
    /// Where the model's outputs come from
    #[arg(long, value_name = "MODE", default_value = "recorded")]
    mode: ModeArg,
    /// The Codex executable [default: `codex` on PATH]
    #[arg(long, value_name = "PATH")]
    codex: Option<PathBuf>,
    /// Replay with a Codex CLI version other than the pinned one
    #[arg(long)]
    allow_version_drift: bool,
    /// Keep the scratch directory and print where it is
    #[arg(long)]
    keep: bool,
    /// Loopback port for the recorded-model endpoint [default: any free port]
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    port: u16,
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    format: Format,
    /// Write a signed attestation of the replay (its report, about the run's statement) to FILE
    #[arg(long, value_name = "FILE", requires = "attestation_key")]
    attestation: Option<PathBuf>,
    /// Key to sign the replay attestation with
    #[arg(long, value_name = "KEY", requires = "attestation")]
    attestation_key: Option<PathBuf>,
    /// Environment variable that holds the attestation key's passphrase
    #[arg(long, value_name = "VAR", default_value = super::PASSPHRASE_ENV)]
    passphrase_env: String,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ModeArg {
    Recorded,
    Live,
}

pub fn run(ctx: &Ctx, args: ReplayArgs) -> anyhow::Result<Outcome> {
    let (repo, store) = open_store()?;
    let run = resolve(ctx, &store, &args.run, &args.keys)?;
    let id = run.id.clone();
    // The signing key is loaded (and its passphrase asked) before the replay, not after it.
    let attestation_key = match &args.attestation_key {
        Some(key) => Some(super::load_private_key(ctx, key, &args.passphrase_env)?),
        None => None,
    };
    let codex = match args.codex {
        Some(path) => path,
        None => which("codex").ok_or_else(|| {
            anyhow::Error::msg(super::hint(
                "codex is not on PATH",
                "install it with `npm install -g @openai/codex`, or pass --codex PATH",
            ))
        })?,
    };
    let mode = match args.mode {
        ModeArg::Recorded => Mode::Recorded,
        ModeArg::Live => Mode::Live,
    };
    status(
        ctx,
        &format!(
            "replaying run {id} ({} mode) with {}",
            if mode == Mode::Recorded {
                "recorded"
            } else {
                "live"
            },
            codex.display()
        ),
    );
    let options = ReplayOptions {
        mode,
        codex,
        allow_version_drift: args.allow_version_drift,
        scratch_parent: std::env::temp_dir(),
        keep: args.keep,
        port: args.port,
        env: std::env::vars_os()
            .filter(|(k, _)| k != super::PASSPHRASE_ENV)
            .collect(),
    };
    let spinner = super::progress::Spinner::start(
        ctx,
        "codex-attest: replaying (rebuilding the starting state, running Codex, comparing)",
    );
    let report = replay::replay(&repo, &store, &run, &options);
    drop(spinner);
    let report = report.context("could not replay")?;
    match args.format {
        Format::Json => print_stdout(&format!("{}\n", serde_json::to_string(&report)?))?,
        Format::Human => print_stdout(&render(&report))?,
    }
    if let Some(dir) = &report.scratch {
        status(ctx, &format!("scratch state kept in {}", dir.display()));
    }
    if let (Some(path), Some(key)) = (&args.attestation, &attestation_key) {
        let statement = codex_attest::replay_attestation::build(
            &report,
            codex_attest::digest::sha256(&run.statement_json),
            ctx.clock.now(),
            env!("CARGO_PKG_VERSION"),
        );
        let envelope = codex_attest::dsse::Envelope::sign(
            codex_attest::dsse::IN_TOTO_PAYLOAD_TYPE,
            &statement.to_json(),
            &[key],
        )
        .context("failed to sign the replay attestation")?;
        super::write_file_atomically(
            path,
            format!("{}\n", envelope.to_json_line()).as_bytes(),
            true,
        )?;
        status(
            ctx,
            &format!("replay attestation written to {}", path.display()),
        );
    }
    Ok(if report.identical {
        Outcome::Success
    } else {
        Outcome::Denied
    })
}

/// The run `arg` names: a stored run, or the run an attestation file's statement is about.
fn resolve(ctx: &Ctx, store: &Store, arg: &str, keys: &[PathBuf]) -> anyhow::Result<LoadedRun> {
    let path = Path::new(arg);
    if !path.is_file() {
        if !keys.is_empty() {
            return Err(usage_error(
                format!("--key verifies an attestation file, and {arg} is not a file"),
                "give the .intoto.jsonl file to replay, or drop --key",
            ));
        }
        let id = codex_attest::runs::resolve_id(store, arg)?;
        return Ok(codex_attest::runs::load(store, &id)?);
    }
    let file = read_envelope_file(path)?;
    let payload = if keys.is_empty() {
        let first = file
            .envelopes
            .first()
            .ok_or_else(|| anyhow::anyhow!("{arg}: holds no DSSE envelope"))?;
        status(
            ctx,
            &format!("warning: {arg} was read without verifying its signature (pass --key)"),
        );
        decode_base64(&first.envelope.payload)
            .ok_or_else(|| anyhow::anyhow!("{arg}: the payload is not base64"))?
    } else {
        let keyring: Keyring = keys
            .iter()
            .map(|p| load_public_key(p))
            .collect::<anyhow::Result<_>>()?;
        // The first envelope a trusted key signed.
        let mut first_error = None;
        let mut verified = None;
        for located in &file.envelopes {
            match located.envelope.verify(&keyring, 1) {
                Ok(v) => {
                    verified = Some(v.payload().to_vec());
                    break;
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        match (verified, first_error) {
            (Some(payload), _) => payload,
            (None, Some(err)) => return Err(anyhow::anyhow!("{arg}: {err}")),
            (None, None) => return Err(anyhow::anyhow!("{arg}: holds no DSSE envelope")),
        }
    };
    codex_attest::runs::load_attested(store, &payload).map_err(|err| match err {
        RunError::Store(StoreError::MissingRun(id)) => usage_error(
            format!("{arg}: run {id} is not in this repository's store"),
            "replay needs the run's pinned inputs: run it in the repository that recorded it",
        ),
        err => anyhow::anyhow!("{arg}: {err}"),
    })
}

fn render(r: &ReplayReport) -> String {
    let mut out = format!(
        "replay of run {} ({} mode, Codex CLI {}{})\n",
        r.run,
        match r.mode {
            Mode::Recorded => "recorded",
            Mode::Live => "live",
        },
        r.codex_version.as_deref().unwrap_or("?"),
        match (&r.pinned_codex_version, &r.codex_version) {
            (Some(p), Some(c)) if p != c => format!(", pinned {p}"),
            _ => String::new(),
        }
    );
    for f in &r.files {
        let status = match f.status {
            FileStatus::Identical => "identical",
            FileStatus::Differs => "differs",
            FileStatus::Missing => "missing",
            FileStatus::Extra => "extra",
        };
        out.push_str(&format!("  {status:<10} {}\n", f.path));
        if let Some(diff) = &f.diff {
            for line in diff.lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
    }
    if r.files.is_empty() {
        out.push_str("  (the run changed no files, and neither did the replay)\n");
    }
    for n in &r.nondeterminism {
        out.push_str(&format!("nondeterminism: {n}\n"));
    }
    for w in &r.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    let counts: Vec<String> = r.counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    out.push_str(&format!(
        "result: {} ({})\n",
        if r.identical { "IDENTICAL" } else { "DIFFERS" },
        if counts.is_empty() {
            "no files".to_string()
        } else {
            counts.join(", ")
        }
    ));
    out
}

fn which(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
