//! `codex-attest wrap`: run a command (normally `codex exec`) transparently and record it.

use std::ffi::OsString;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use codex_attest::secrets;
use codex_attest::supervise::SpawnError;
use codex_attest::wrap::{self, Plan, StdinInput, WrapError, WrapOptions};

use super::keyless::{self, KeylessArgs, OIDC_ENV, TokenSource};
use super::{Ctx, Outcome, PASSPHRASE_ENV, hint, load_private_key, usage_error};

/// Run Codex (or any command) exactly as it would run alone, and record a signed attestation
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The command runs with the same stdin, stdout, stderr, environment (minus codex-attest's own
secrets and the OIDC token variables SIGSTORE_ID_TOKEN, ACTIONS_ID_TOKEN_REQUEST_URL and
ACTIONS_ID_TOKEN_REQUEST_TOKEN, so the agent can never sign as the CI workflow) and exit status
as without wrap; a command killed by signal N exits 128+N, and Ctrl-C reaches it. Afterwards one
line on stderr names the run and where it is stored
($(git rev-parse --git-common-dir)/codex-attest/runs/<run>).

For `codex exec`, every input Codex reads is resolved and pinned: the AGENTS.md chain, config
layers, rules, skills, hooks, output schema, images and the prompt (argument and/or stdin), plus
the Codex binary and version. For other commands only git state, changes, exit status and timing
are recorded, and the record says so.

With --keyless the run is signed after the command ends, like `sign --keyless`: a Fulcio
certificate for the CI identity, a Rekor entry, and a Sigstore bundle stored with the run
(bundle.sigstore.json; --output also writes it). If keyless signing fails the run stays recorded,
unsigned, and wrap exits with at least 2.

Examples:
  codex-attest wrap -- codex exec --json -s workspace-write \"fix the failing test\"
  codex-attest wrap --key keys/ci.key --output run.intoto.jsonl --role fixer -- codex exec ...
  codex-attest wrap --keyless --output run.sigstore.json -- codex exec ...   # in GitHub Actions
  echo \"review this\" | codex-attest wrap -- codex exec -")]
pub struct WrapArgs {
    /// Sign the attestation with this private key (can be repeated)
    #[arg(long = "key", value_name = "KEY", conflicts_with = "keyless")]
    keys: Vec<PathBuf>,
    /// Also write the signed envelope (.intoto.jsonl), or with --keyless the bundle, to FILE
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Append to FILE instead of refusing when it exists
    #[arg(long, requires = "output")]
    append: bool,
    /// Refuse to start Codex if anything pinned in the lock file drifted
    #[arg(long)]
    locked: bool,
    /// The lock file for --locked [default: codex-attest.lock at the repository root]
    #[arg(long, value_name = "FILE", requires = "locked")]
    lock: Option<PathBuf>,
    /// The role of this run (scaffold, fixer, reviewer, ...), recorded in the attestation
    #[arg(long, value_name = "NAME")]
    role: Option<String>,
    /// Sign with a key the command could modify (inside its writable workspace)
    #[arg(long)]
    allow_key_in_workspace: bool,
    /// Find the run's changes with a second full `git status` instead of watching the tree during
    /// the run (for file systems where inotify misses writes: network mounts, mmap writers)
    #[arg(long)]
    full_rescan: bool,
    /// Environment variable that holds the key passphrase (removed from the command's environment)
    #[arg(long, value_name = "VAR", default_value = PASSPHRASE_ENV)]
    passphrase_env: String,
    #[command(flatten)]
    keyless: KeylessArgs,
    /// The command to run, after `--`
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<OsString>,
}

pub fn run(ctx: &Ctx, args: WrapArgs) -> anyhow::Result<Outcome> {
    if let Some(role) = &args.role {
        if role.is_empty()
            || !role
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(usage_error(
                format!("--role {role:?} is not a simple name"),
                "use letters, digits, `-`, `_` or `.`",
            ));
        }
    }
    if args.output.is_some() && args.keys.is_empty() && !args.keyless.keyless {
        return Err(usage_error(
            "--output writes the signed attestation, but nothing signs it",
            "add --key KEY or --keyless",
        ));
    }
    if args.keyless.keyless && args.append {
        return Err(usage_error(
            "--append adds an envelope line; a keyless bundle is one JSON document",
            "write the bundle to a new --output file",
        ));
    }
    // The token source is found before anything runs; the token is fetched after.
    let token_source = if args.keyless.keyless {
        Some(TokenSource::resolve(&args.keyless)?)
    } else {
        None
    };
    if let Some(output) = &args.output {
        if output.exists() && !args.append {
            return Err(usage_error(
                format!("{} already exists", output.display()),
                "choose another --output, or pass --append to add a line to it",
            ));
        }
    }
    // Keys are loaded (and passphrases asked for) before anything runs.
    let keys = args
        .keys
        .iter()
        .map(|path| load_private_key(ctx, path, &args.passphrase_env))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let process_cwd = std::env::current_dir().context("failed to read the current directory")?;
    let program_word = args.command[0].clone();
    let program = resolve_program(&program_word, &process_cwd)?;
    let rest: Vec<OsString> = args.command[1..].to_vec();
    let plan = wrap::plan(&program, &rest);
    if !args.keys.is_empty() && !args.allow_key_in_workspace {
        let tmpdir = std::env::var_os("TMPDIR").map(PathBuf::from);
        let scope =
            wrap::writable_scope(&plan, &super::codex_env(), &process_cwd, tmpdir.as_deref());
        let repo_root = codex_attest::git::Repo::discover(&process_cwd)
            .ok()
            .flatten()
            .map(|r| r.root);
        for key in &args.keys {
            let real = key.canonicalize().unwrap_or_else(|_| process_cwd.join(key));
            let in_repo = repo_root
                .as_ref()
                .is_some_and(|root| real.starts_with(root));
            if scope.covers(&real) || in_repo {
                let why = match (&scope, in_repo) {
                    (_, true) => "it is inside the repository the command works in".to_string(),
                    (wrap::WritableScope::Everything, _) => "the command runs without a sandbox codex-attest knows, so it can write anywhere you can".to_string(),
                    _ => "it is inside the directories Codex's workspace-write sandbox can write (the workspace, /tmp, $TMPDIR, --add-dir)".to_string(),
                };
                return Err(usage_error(
                    format!("refusing to sign with {}: {why}", key.display()),
                    "keep the key outside the workspace, or sign in a separate step (`wrap` without --key, then `codex-attest sign --key KEY RUN`); --allow-key-in-workspace overrides",
                ));
            }
        }
    }
    if args.locked {
        let path = args
            .lock
            .clone()
            .unwrap_or_else(|| super::lock::default_lock_path(&process_cwd));
        let locked = codex_attest::lock::LockFile::load(&path).map_err(|err| {
            anyhow::Error::new(err).context(hint(
                "--locked needs a lock file",
                "write one with `codex-attest lock -- codex exec ...` and commit it",
            ))
        })?;
        let now = super::lock::resolve(&args.command, &process_cwd)?;
        let drift = locked.drift(&now);
        if !drift.is_empty() {
            for d in &drift {
                eprintln!("codex-attest: drift: {d}");
            }
            return Err(usage_error(
                format!(
                    "refusing to start Codex: {} drifted from {}",
                    drift.len(),
                    path.display()
                ),
                "review the change; if it is intended, run `codex-attest lock -- codex exec ...` and commit the lock",
            ));
        }
    }

    // `codex exec` reads piped stdin to the end; so do we, to record it and hand it on.
    let stdin = match &plan {
        Plan::CodexExec(_) if std::io::stdin().is_terminal() => StdinInput::Terminal,
        Plan::CodexExec(_) => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("failed to read standard input")?;
            StdinInput::Read(bytes)
        }
        _ => StdinInput::Inherit,
    };

    let mut removed = vec![PASSPHRASE_ENV.to_string(), args.passphrase_env.clone()];
    removed.extend(OIDC_ENV.iter().map(|v| v.to_string()));
    let child_env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !removed.iter().any(|r| k == r.as_str()))
        .collect();
    let env_pairs: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let mut secret_values =
        secrets::secret_values(env_pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &[]);
    if let Plan::CodexExec(exec) = &plan {
        secret_values.extend(secrets::secret_values_in_overrides(&exec.config_overrides));
        // The provider's own key variable, whatever it is called.
        for assignment in &exec.config_overrides {
            if let Some((key, value)) = assignment.split_once('=') {
                if key.trim().ends_with(".env_key") {
                    let name = value.trim().trim_matches('"');
                    if let Some((_, v)) = env_pairs.iter().find(|(k, _)| k == name) {
                        secret_values.push(v.clone());
                    }
                }
            }
        }
    }

    let codex_env = super::codex_env();
    let run_id = new_run_id(ctx)?;
    let options = WrapOptions {
        run_id,
        command: args.command.clone(),
        program,
        process_cwd,
        child_env,
        codex_env,
        stdin,
        role: args.role.clone(),
        secret_values,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        change_detection: if args.full_rescan {
            wrap::ChangeDetection::FullRescan
        } else if std::env::var_os("CODEX_ATTEST_TEST_FORCE_RESCAN").is_some() {
            // Tests of the fallback path only: watch, then behave as after a queue overflow.
            wrap::ChangeDetection::WatchThenForcedRescan
        } else if std::env::var_os("CODEX_ATTEST_TEST_SLOW_WATCH").is_some() {
            // Tests of the hand-over only: the watch's set-up is held back half a second.
            wrap::ChangeDetection::WatchWithSlowSetUp
        } else if std::env::var_os("CODEX_ATTEST_TEST_WAIT_PRIMING").is_some() {
            // Tests of the primed index only: use it even if it was slower than the command.
            wrap::ChangeDetection::WatchWaitingForPriming
        } else {
            wrap::ChangeDetection::Watch
        },
    };
    let prepared = wrap::prepare(options).map_err(|err| match err {
        WrapError::NotInRepo(dir) => anyhow::Error::msg(hint(
            format!("{} is not inside a git work tree", dir.display()),
            "run wrap inside a git repository: runs are stored in its git directory (.git/codex-attest)",
        )),
        other => anyhow::Error::new(other).context("could not prepare the run; nothing was started"),
    })?;
    // From here on the user's stdout belongs to the command.
    let mut stdout = std::io::stdout();
    let executed = match wrap::execute(&prepared, ctx.clock.as_ref(), &mut stdout) {
        Ok(executed) => executed,
        Err(WrapError::Spawn(
            err @ (SpawnError::NotFound { .. } | SpawnError::NotExecutable { .. }),
        )) => {
            return Err(
                anyhow::Error::new(err).context("the command did not start; nothing was recorded")
            );
        }
        Err(err) => return Err(anyhow::Error::new(err).context("the command could not be run")),
    };
    let exit_status = executed.outcome.exit_status();
    let signers: Vec<_> = keys.iter().collect();
    let spinner = super::progress::Spinner::start(
        ctx,
        "codex-attest: recording the run (hashing changed files, storing)",
    );
    let recorded = wrap::record(prepared, executed, &signers);
    drop(spinner);
    match recorded {
        Ok(recorded) => {
            for warning in recorded.not_recorded.iter().chain(&recorded.warnings) {
                super::status(ctx, &format!("codex-attest: warning: {warning}"));
            }
            let mut destination = format!("{}", recorded.dir.display());
            let mut keyless_signed = None;
            if let Some(source) = &token_source {
                let signed = keyless::sign(&args.keyless, source, &recorded.statement_json)
                    .and_then(|signed| {
                        let text = signed.bundle.to_json_pretty();
                        let (_repo, store) = super::open_store()?;
                        store.put_bundle(&recorded.id, text.as_bytes())?;
                        if let Some(output) = &args.output {
                            super::write_file_atomically(output, text.as_bytes(), false)?;
                            destination.push_str(&format!("; attestation {}", output.display()));
                        }
                        Ok(signed)
                    });
                match signed {
                    Ok(signed) => keyless_signed = Some(signed),
                    Err(err) => {
                        eprintln!(
                            "codex-attest: error: run {} was recorded in {} but not signed: {err:#}",
                            recorded.id,
                            recorded.dir.display()
                        );
                        eprintln!(
                            "hint: sign it later with `codex-attest sign --keyless {}`",
                            recorded.id
                        );
                        return Ok(exit_code(exit_status.max(2)));
                    }
                }
            }
            if let (Some(output), Some(line)) = (&args.output, &recorded.envelope_line) {
                if let Err(err) = write_output(output, line, args.append) {
                    eprintln!(
                        "codex-attest: error: the run was recorded but {} could not be written: {err:#}",
                        output.display()
                    );
                    return Ok(exit_code(exit_status.max(2)));
                }
                destination.push_str(&format!("; attestation {}", output.display()));
            }
            let signed = if let Some(signed) = &keyless_signed {
                format!("signed {}", keyless::describe(signed))
            } else if keys.is_empty() {
                "unsigned (sign it with `codex-attest sign --key KEY RUN`)".to_string()
            } else {
                format!(
                    "signed by {}",
                    keys.iter()
                        .map(|k| k.key_id().short().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            super::status(
                ctx,
                &format!(
                    "codex-attest: recorded run {} ({}, {} file{} changed, {signed}) in {destination}",
                    recorded.id,
                    recorded.record.summary.status.as_str(),
                    recorded.changes.count(),
                    if recorded.changes.count() == 1 {
                        ""
                    } else {
                        "s"
                    },
                ),
            );
        }
        Err(err) => {
            eprintln!("codex-attest: error: the run was not recorded: {err}");
        }
    }
    Ok(exit_code(exit_status))
}

fn exit_code(status: i32) -> Outcome {
    Outcome::Code(status.clamp(0, 255) as u8)
}

/// Finds the program like a shell does: a word with `/` is a path, otherwise `$PATH` is searched.
pub fn resolve_program(word: &OsString, cwd: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = Path::new(word);
    let not_found = || {
        anyhow::Error::msg(hint(
            format!(
                "{}: command not found; nothing was run or recorded",
                path.display()
            ),
            if path.file_name().is_some_and(|n| n == "codex") {
                "install the Codex CLI with `npm install -g @openai/codex`, or give its path"
            } else {
                "check the command name and $PATH"
            },
        ))
    };
    let candidate = if word.to_string_lossy().contains('/') {
        Some(cwd.join(path))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(path))
                .find(|p| {
                    p.metadata()
                        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                })
        })
    };
    let candidate = candidate.ok_or_else(not_found)?;
    let meta = candidate.metadata().map_err(|_| not_found())?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(anyhow::Error::msg(hint(
            format!(
                "{}: not an executable file; nothing was run or recorded",
                candidate.display()
            ),
            "check the path, or make it executable",
        )));
    }
    Ok(candidate)
}

fn new_run_id(ctx: &Ctx) -> anyhow::Result<String> {
    use ring::rand::SecureRandom;
    let now = ctx.clock.now();
    let mut random = [0u8; 4];
    ring::rand::SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| anyhow::anyhow!("the system random number generator failed"))?;
    Ok(format!(
        "{}-{}",
        now.compact(),
        codex_attest::digest::to_hex(&random)
    ))
}

fn write_output(path: &Path, line: &str, append: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if append {
        options.create(true).append(true)
    } else {
        options.create_new(true)
    };
    let mut file = options
        .open(path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    file.write_all(format!("{line}\n").as_bytes())?;
    file.sync_all()?;
    Ok(())
}
