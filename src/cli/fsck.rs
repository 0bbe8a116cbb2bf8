//! `codex-attest fsck`: check the store for leftovers and damage.

use serde_json::json;

use super::{Ctx, Format, Outcome, open_store, print_stdout};

/// Check the store: leftovers of interrupted writes, corrupt blobs, broken or incomplete runs
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Every write to the store goes through its tmp/ directory and a rename, so a crash leaves at most
leftovers there, never a half-written blob or run. fsck finds those leftovers (ignoring the
temporary files of codex-attest processes still running), blobs whose content no longer matches
their name, run directories without a record, and runs that point at missing blobs.

Exit status: 0 healthy, 1 problems found, 2 could not check.

Examples:
  codex-attest fsck
  codex-attest fsck --repair        # remove leftovers (never runs or blobs)")]
pub struct FsckArgs {
    /// Remove leftovers of interrupted writes (runs and blobs are never removed)
    #[arg(long)]
    repair: bool,
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    format: Format,
}

pub fn run(_ctx: &Ctx, args: FsckArgs) -> anyhow::Result<Outcome> {
    let (_repo, store) = open_store()?;
    if !store.exists() {
        print_stdout(&format!("no store at {} yet\n", store.root().display()))?;
        return Ok(Outcome::Success);
    }
    let report = store.check(args.repair)?;
    let mut broken: Vec<String> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    for id in store.run_ids()? {
        match codex_attest::runs::load(&store, &id) {
            Ok(run) => {
                let blobs = run
                    .record
                    .inputs
                    .iter()
                    .filter_map(|i| i.blob.map(|b| (i.name.clone(), b)))
                    .chain(
                        run.record
                            .outputs
                            .iter()
                            .map(|o| (o.path.clone(), o.sha256)),
                    )
                    .chain(
                        run.record
                            .byproducts
                            .iter()
                            .map(|b| (b.name.clone(), b.blob)),
                    );
                for (name, blob) in blobs {
                    if !store.has_blob(&blob) {
                        missing.push(format!("run {id}: {name} (blob {blob})"));
                    }
                }
            }
            Err(err) => broken.push(err.to_string()),
        }
    }
    let leftovers = if args.repair {
        0
    } else {
        report.leftovers.len()
    };
    let problems = leftovers
        + report.corrupt_blobs.len()
        + report.incomplete_runs.len()
        + broken.len()
        + missing.len();
    match args.format {
        Format::Json => {
            let value = json!({
                "schema": "codex-attest/fsck/v1",
                "store": store.root(),
                "runs": report.runs,
                "blobs": report.blobs,
                "leftovers": report.leftovers,
                "repaired": args.repair,
                "inUse": report.in_use,
                "corruptBlobs": report.corrupt_blobs,
                "incompleteRuns": report.incomplete_runs,
                "brokenRuns": broken,
                "missingBlobs": missing,
                "problems": problems,
            });
            print_stdout(&format!("{value}\n"))?;
        }
        Format::Human => {
            let mut out = format!(
                "store {}: {} runs, {} blobs\n",
                store.root().display(),
                report.runs,
                report.blobs
            );
            for path in &report.leftovers {
                let verb = if args.repair {
                    "removed leftover"
                } else {
                    "leftover"
                };
                out.push_str(&format!("  {verb} {}\n", path.display()));
            }
            for path in &report.in_use {
                out.push_str(&format!(
                    "  in use by a running codex-attest: {}\n",
                    path.display()
                ));
            }
            for path in &report.corrupt_blobs {
                out.push_str(&format!("  corrupt blob {}\n", path.display()));
            }
            for id in &report.incomplete_runs {
                out.push_str(&format!("  incomplete run directory {id}\n"));
            }
            for b in &broken {
                out.push_str(&format!("  broken run: {b}\n"));
            }
            for m in &missing {
                out.push_str(&format!("  missing blob: {m}\n"));
            }
            out.push_str(&if problems == 0 {
                "healthy\n".to_string()
            } else {
                format!("{problems} problem(s); `codex-attest fsck --repair` removes leftovers\n")
            });
            print_stdout(&out)?;
        }
    }
    Ok(if problems == 0 {
        Outcome::Success
    } else {
        Outcome::Denied
    })
}
