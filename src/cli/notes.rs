//! `codex-attest notes`: exchange signed attestations through git notes.

use anyhow::Context as _;

use codex_attest::envelope_file::parse_envelope_lines;
use codex_attest::notes;

use super::{Ctx, Outcome, open_store, print_stdout, status, usage_error};

/// Share signed attestations as git notes (refs/notes/codex-attest)
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each signed run's envelopes are attached to the commit the run started from, one JSON line each.
Notes merge line by line (git's cat_sort_uniq), so pushing from several clones is safe.
`verify --range` reads them.

Examples:
  codex-attest notes push                # attach every signed run, merge origin's notes, push
  codex-attest notes fetch origin        # before verify --range in CI
  codex-attest notes show HEAD~1")]
pub struct NotesArgs {
    #[command(subcommand)]
    command: NotesCommand,
}

#[derive(Debug, clap::Subcommand)]
enum NotesCommand {
    /// Attach signed runs' envelopes to the commits they started from
    Add {
        /// Runs to attach (ids, prefixes or `latest`); all signed runs when none is given
        #[arg(value_name = "RUN")]
        runs: Vec<String>,
    },
    /// Attach signed runs, merge the remote's notes, and push
    Push {
        /// The remote
        #[arg(value_name = "REMOTE", default_value = "origin")]
        remote: String,
    },
    /// Fetch the remote's notes and merge them into ours
    Fetch {
        /// The remote
        #[arg(value_name = "REMOTE", default_value = "origin")]
        remote: String,
    },
    /// Print the envelopes attached to a commit
    Show {
        /// The commit
        #[arg(value_name = "COMMIT", default_value = "HEAD")]
        commit: String,
    },
}

pub fn run(ctx: &Ctx, args: NotesArgs) -> anyhow::Result<Outcome> {
    let (repo, store) = open_store()?;
    match args.command {
        NotesCommand::Add { runs } => {
            let (attached, lines) = attach(&repo, &store, &runs)?;
            status(
                ctx,
                &format!(
                    "attached {lines} envelope line(s) from {attached} run(s) to {}",
                    notes::NOTES_REF
                ),
            );
        }
        NotesCommand::Push { remote } => {
            let (attached, lines) = attach(&repo, &store, &[])?;
            notes::push(&repo, &remote)
                .with_context(|| format!("failed to push {} to {remote}", notes::NOTES_REF))?;
            status(
                ctx,
                &format!(
                    "pushed {} to {remote} ({lines} new line(s) from {attached} run(s))",
                    notes::NOTES_REF
                ),
            );
        }
        NotesCommand::Fetch { remote } => {
            let got = notes::fetch(&repo, &remote)
                .with_context(|| format!("failed to fetch {} from {remote}", notes::NOTES_REF))?;
            status(
                ctx,
                &if got {
                    format!("merged {remote}'s {}", notes::NOTES_REF)
                } else {
                    format!("{remote} has no {}", notes::NOTES_REF)
                },
            );
        }
        NotesCommand::Show { commit } => {
            let out = codex_attest::git::run(
                &repo.root,
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("{commit}^{{commit}}"),
                ],
            )
            .map_err(|_| {
                usage_error(
                    format!("{commit:?} is not a commit"),
                    "give a branch, tag or commit id",
                )
            })?;
            let oid: codex_attest::digest::GitOid = String::from_utf8_lossy(&out).trim().parse()?;
            let mut text = String::new();
            for (_, content) in notes::read(&repo, &[oid])? {
                for (_, envelope) in parse_envelope_lines(&content) {
                    text.push_str(&envelope.to_json_line());
                    text.push('\n');
                }
            }
            print_stdout(&text)?;
        }
    }
    Ok(Outcome::Success)
}

/// Attaches the envelopes of `runs` (all signed runs when empty). Returns (runs, new lines).
fn attach(
    repo: &codex_attest::git::Repo,
    store: &codex_attest::store::Store,
    runs: &[String],
) -> anyhow::Result<(usize, usize)> {
    let ids = if runs.is_empty() {
        store.run_ids()?
    } else {
        runs.iter()
            .map(|r| codex_attest::runs::resolve_id(store, r))
            .collect::<Result<Vec<_>, _>>()?
    };
    let (mut attached, mut lines) = (0, 0);
    for id in ids {
        let run = codex_attest::runs::load(store, &id)?;
        let envelopes: Vec<String> = run.envelopes.iter().map(|e| e.to_json_line()).collect();
        if envelopes.is_empty() {
            if !runs.is_empty() {
                return Err(usage_error(
                    format!("run {id} is not signed"),
                    format!("sign it first: codex-attest sign --key KEY {id}"),
                ));
            }
            continue;
        }
        let Some(commit) = &run.record.summary.commit else {
            continue;
        };
        lines += notes::add(repo, commit, &envelopes)?;
        attached += 1;
    }
    Ok((attached, lines))
}
