//! `codex-attest diff`: what differed between two runs.

use std::path::Path;

use codex_attest::diff::{EntryDiff, EntryStatus, RunDiff, Side, diff_runs};
use codex_attest::dsse::Keyring;
use codex_attest::envelope_file::read_envelope_file;
use codex_attest::intoto::Statement;
use codex_attest::record::StoredInput;

use super::{Ctx, Format, Outcome, load_public_key, print_stdout, usage_error};

/// Compare two runs: settings, inputs (with text diffs), prompt, starting state, changed files
#[derive(Debug, clap::Args)]
#[command(after_help = "\
A and B are stored runs (ids, prefixes, `latest`) or attestation files. Files are verified with
--key when given; otherwise their statements are read unverified, and the report says so. Text
diffs are shown for inputs whose pinned contents are in the local store.

Exit status: 0 identical, 1 different, 2 could not compare.

Examples:
  codex-attest diff 20261120T0910Z 20261124T0815Z
  codex-attest diff good.intoto.jsonl bad.intoto.jsonl --key keys/ci.pub --format json")]
pub struct DiffArgs {
    /// The first run
    #[arg(value_name = "A")]
    a: String,
    /// The second run
    #[arg(value_name = "B")]
    b: String,
    /// Trusted key to verify attestation files with (can be repeated)
    #[arg(long = "key", value_name = "PUB")]
    keys: Vec<std::path::PathBuf>,
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    format: Format,
}

struct Loaded {
    label: String,
    statement: Statement,
    inputs: Option<Vec<StoredInput>>,
    verified: Option<bool>,
}

pub fn run(ctx: &Ctx, args: DiffArgs) -> anyhow::Result<Outcome> {
    let keyring: Keyring = args
        .keys
        .iter()
        .map(|p| load_public_key(p))
        .collect::<anyhow::Result<_>>()?;
    let store = super::open_store().ok().map(|(_, s)| s);
    let a = load(&args.a, store.as_ref(), &keyring)?;
    let b = load(&args.b, store.as_ref(), &keyring)?;
    for side in [&a, &b] {
        if side.verified == Some(false) {
            super::status(
                ctx,
                &format!(
                    "warning: {} was read without verifying its signature (pass --key)",
                    side.label
                ),
            );
        }
    }
    let diff = diff_runs(
        &Side {
            label: a.label.clone(),
            statement: &a.statement,
            inputs: a.inputs.as_deref(),
        },
        &Side {
            label: b.label.clone(),
            statement: &b.statement,
            inputs: b.inputs.as_deref(),
        },
        store.as_ref(),
    );
    match args.format {
        Format::Json => print_stdout(&format!("{}\n", serde_json::to_string(&diff)?))?,
        Format::Human => print_stdout(&render(&diff))?,
    }
    Ok(if diff.identical {
        Outcome::Success
    } else {
        Outcome::Denied
    })
}

fn load(
    arg: &str,
    store: Option<&codex_attest::store::Store>,
    keyring: &Keyring,
) -> anyhow::Result<Loaded> {
    let path = Path::new(arg);
    if path.exists() {
        let file = read_envelope_file(path)?;
        let located = file.envelopes.into_iter().next().ok_or_else(|| {
            usage_error(
                format!("{arg} holds no envelope"),
                "give an .intoto.jsonl file",
            )
        })?;
        let (payload, verified) = if keyring.is_empty() {
            let bytes = codex_attest::dsse::decode_base64(&located.envelope.payload)
                .ok_or_else(|| anyhow::anyhow!("{arg}: the payload is not base64"))?;
            (bytes, Some(false))
        } else {
            let verified = located
                .envelope
                .verify(keyring, 1)
                .map_err(|err| anyhow::anyhow!("{arg}: {err}"))?;
            (verified.payload().to_vec(), Some(true))
        };
        let statement =
            Statement::from_slice(&payload).map_err(|err| anyhow::anyhow!("{arg}: {err}"))?;
        // The run's record, when it is in the local store, gives text diffs.
        let inputs = store.and_then(|s| {
            let id = statement
                .predicate
                .to_value()
                .ok()?
                .pointer("/runDetails/metadata/invocationId")?
                .as_str()?
                .to_string();
            codex_attest::runs::load(s, &id)
                .ok()
                .map(|r| r.record.inputs)
        });
        return Ok(Loaded {
            label: arg.to_string(),
            statement,
            inputs,
            verified,
        });
    }
    let store = store.ok_or_else(|| {
        usage_error(
            format!("{arg}: no such file, and not inside a repository"),
            "give a run id inside the repository, or an attestation file",
        )
    })?;
    let id = codex_attest::runs::resolve_id(store, arg)?;
    let run = codex_attest::runs::load(store, &id)?;
    Ok(Loaded {
        label: id,
        statement: run.statement,
        inputs: Some(run.record.inputs),
        verified: None,
    })
}

fn render(d: &RunDiff) -> String {
    let mut out = format!("diff {} → {}\n", d.a, d.b);
    let changed: Vec<_> = d.settings.iter().filter(|s| !s.same).collect();
    out.push_str("settings:\n");
    if changed.is_empty() {
        out.push_str("  same\n");
    }
    for s in changed {
        out.push_str(&format!(
            "  {:<16} {} → {}\n",
            s.name,
            s.a.as_deref().unwrap_or("-"),
            s.b.as_deref().unwrap_or("-")
        ));
    }
    section(&mut out, "inputs", &d.inputs);
    if let Some(p) = &d.prompt {
        section(&mut out, "prompt", std::slice::from_ref(p));
    }
    section(&mut out, "starting state", &d.starting_state);
    section(&mut out, "changed files", &d.changes);
    out.push_str(if d.identical {
        "result: IDENTICAL\n"
    } else {
        "result: DIFFERENT\n"
    });
    out
}

fn section(out: &mut String, title: &str, entries: &[EntryDiff]) {
    let different: Vec<_> = entries
        .iter()
        .filter(|e| e.status != EntryStatus::Same)
        .collect();
    out.push_str(&format!(
        "{title} ({} same, {} different):\n",
        entries.len() - different.len(),
        different.len()
    ));
    for e in different {
        let status = match e.status {
            EntryStatus::Same => "same",
            EntryStatus::Changed => "changed",
            EntryStatus::OnlyInA => "only in A",
            EntryStatus::OnlyInB => "only in B",
        };
        out.push_str(&format!(
            "  {status:<10} {}  {} → {}\n",
            e.name,
            e.a.as_deref().unwrap_or("-"),
            e.b.as_deref().unwrap_or("-")
        ));
        if let Some(diff) = &e.diff {
            for line in diff.lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
    }
}
