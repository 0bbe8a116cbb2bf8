//! The `codex-attest` command line: argument definitions, dispatch, error reporting and the
//! shared pieces every subcommand uses (output streams, key loading, the clock).
//!
//! Only this module tree prints, reads the environment or exits; the library gets what it needs
//! as arguments.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use codex_attest::keys::{self, PrivateKey, PublicKey};
use codex_attest::timestamp::{Clock, FixedClock, SystemClock, Timestamp};

mod completions;
mod demo;
mod diff;
mod doctor;
mod export;
mod fsck;
mod import;
mod init;
mod keygen;
mod keyless;
mod lock;
mod log;
mod man;
mod notes;
mod progress;
mod replay;
mod revert;
mod show;
mod sign;
mod stats;
mod verify;
mod watch;
mod wrap;

/// Environment variable holding the private key passphrase.
pub const PASSPHRASE_ENV: &str = "CODEX_ATTEST_KEY_PASSPHRASE";
/// Environment variable fixing the clock (RFC 3339), for tests and reproducible output.
pub const TIMESTAMP_ENV: &str = "CODEX_ATTEST_TIMESTAMP";

const EXIT_CODES: &str = "\
Exit status:
  0  success: every envelope verified, runs identical
  1  a definite no: a signature or policy check failed, runs differ
  2  could not decide: usage, input, I/O or configuration error";

/// Record, sign, verify, diff and replay OpenAI Codex CLI runs as in-toto / SLSA provenance
#[derive(Debug, Parser)]
#[command(name = "codex-attest", version, about, max_term_width = 100, after_help = EXIT_CODES)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// When to use color in human output
    #[arg(
        long,
        global = true,
        value_name = "WHEN",
        default_value = "auto",
        display_order = 900
    )]
    pub color: ColorChoice,
    /// Print only results and errors
    #[arg(short, long, global = true, display_order = 901)]
    pub quiet: bool,
    /// Print more about what is happening (-vv: every step, timed)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, display_order = 902)]
    pub verbose: u8,
    /// Use private keys that other users can read (refused by default)
    #[arg(long, global = true, display_order = 903)]
    pub allow_insecure_key_permissions: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Demo(demo::DemoArgs),
    Wrap(wrap::WrapArgs),
    Show(show::ShowArgs),
    Log(log::LogArgs),
    Diff(diff::DiffArgs),
    Replay(replay::ReplayArgs),
    Revert(revert::RevertArgs),
    Lock(lock::LockArgs),
    Keygen(keygen::KeygenArgs),
    Sign(sign::SignArgs),
    Verify(verify::VerifyArgs),
    Export(export::ExportArgs),
    Import(import::ImportArgs),
    Notes(notes::NotesArgs),
    Init(init::InitArgs),
    Fsck(fsck::FsckArgs),
    Doctor(doctor::DoctorArgs),
    Stats(stats::StatsArgs),
    Watch(watch::WatchArgs),
    Completions(completions::CompletionsArgs),
    Man(man::ManArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text for people
    #[default]
    Human,
    /// JSON Lines, a documented and versioned shape (see docs/json-output.md)
    Json,
}

/// The result of a command that did not fail outright.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: a definite "no".
    Denied,
    /// Exit 2: could not decide, already reported.
    Undecided,
    /// A wrapped command's own exit status.
    Code(u8),
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::Denied => ExitCode::from(1),
            Outcome::Undecided => ExitCode::from(2),
            Outcome::Code(code) => ExitCode::from(code),
        }
    }
}

/// Shared state for a command: the clock and the output settings.
pub struct Ctx {
    pub clock: Box<dyn Clock>,
    pub quiet: bool,
    pub color: bool,
    pub allow_insecure_key_permissions: bool,
}

/// An error context that carries a hint about how to fix the problem.
#[derive(Debug)]
pub struct Hint {
    pub message: String,
    pub hint: String,
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Adds a hint to an error: `err.context(hint(message, hint))`.
pub fn hint(message: impl Into<String>, hint: impl Into<String>) -> Hint {
    Hint {
        message: message.into(),
        hint: hint.into(),
    }
}

/// A usage error (exit 2) with a hint.
pub fn usage_error(message: impl Into<String>, hint_text: impl Into<String>) -> anyhow::Error {
    anyhow::Error::msg(hint(message, hint_text))
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let clock: Box<dyn Clock> = match std::env::var_os(TIMESTAMP_ENV) {
        Some(value) => {
            let text = value.to_string_lossy();
            let start: Timestamp = text.parse().map_err(|err| {
                anyhow::Error::msg(hint(
                    format!("{TIMESTAMP_ENV}={text:?} is not a timestamp: {err}"),
                    format!("use RFC 3339, e.g. {TIMESTAMP_ENV}=2001-02-03T04:05:06Z, or unset it"),
                ))
            })?;
            Box::new(FixedClock::new(start))
        }
        None => Box::new(SystemClock),
    };
    init_tracing(args.global.verbose, args.global.quiet);
    let color = match args.global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    };
    let ctx = Ctx {
        clock,
        quiet: args.global.quiet,
        color,
        allow_insecure_key_permissions: args.global.allow_insecure_key_permissions,
    };
    match args.command {
        Command::Demo(a) => demo::run(&ctx, a),
        Command::Wrap(a) => wrap::run(&ctx, a),
        Command::Show(a) => show::run(&ctx, a),
        Command::Log(a) => log::run(&ctx, a),
        Command::Diff(a) => diff::run(&ctx, a),
        Command::Replay(a) => replay::run(&ctx, a),
        Command::Revert(a) => revert::run(&ctx, a),
        Command::Lock(a) => lock::run(&ctx, a),
        Command::Keygen(a) => keygen::run(&ctx, a),
        Command::Sign(a) => sign::run(&ctx, a),
        Command::Verify(a) => verify::run(&ctx, a),
        Command::Export(a) => export::run(&ctx, a),
        Command::Import(a) => import::run(&ctx, a),
        Command::Notes(a) => notes::run(&ctx, a),
        Command::Init(a) => init::run(&ctx, a),
        Command::Fsck(a) => fsck::run(&ctx, a),
        Command::Doctor(a) => doctor::run(&ctx, a),
        Command::Stats(a) => stats::run(&ctx, a),
        Command::Watch(a) => watch::run(&ctx, a),
        Command::Completions(a) => completions::run(&ctx, a),
        Command::Man(a) => man::run(&ctx, a),
    }
}

fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CODEX_ATTEST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_target(false);
    // From -vv on, every line carries the time since start: the phases of a run can be timed.
    let _ = if verbose >= 2 {
        builder
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .try_init()
    } else {
        builder.without_time().try_init()
    };
}

/// Prints an error chain on one line, then any hints, and returns exit status 2.
/// A broken pipe on stdout is not an error: the reader went away, so we stop quietly.
pub fn report_error(err: &anyhow::Error) -> ExitCode {
    if err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    }) {
        return ExitCode::SUCCESS;
    }
    let mut stderr = io::stderr().lock();
    let message: Vec<String> = err.chain().map(|cause| cause.to_string()).collect();
    let _ = writeln!(stderr, "error: {}", dedup_chain(&message).join(": "));
    if let Some(h) = err.downcast_ref::<Hint>() {
        let _ = writeln!(stderr, "hint: {}", h.hint);
    }
    ExitCode::from(2)
}

/// Drops chain links whose text the previous link already ends with (errors that repeat their
/// source), so the one-line message reads cleanly.
fn dedup_chain(parts: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in parts {
        if out.last().is_some_and(|prev| prev.ends_with(part.as_str())) {
            continue;
        }
        out.push(part.clone());
    }
    out
}

/// Writes a result to stdout; results never go to stderr.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Wraps `text` in an ANSI color (e.g. "31" red) when color is on.
pub fn paint(ctx: &Ctx, text: &str, code: &str) -> String {
    if ctx.color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Writes a progress or status line to stderr unless `--quiet`.
pub fn status(ctx: &Ctx, text: &str) {
    if !ctx.quiet {
        let _ = writeln!(io::stderr().lock(), "{text}");
    }
}

/// Reads a passphrase from `env_var`, or from the terminal when there is one.
pub fn read_passphrase(env_var: &str, prompt: &str) -> anyhow::Result<zeroize::Zeroizing<String>> {
    if let Some(value) = std::env::var_os(env_var) {
        let value = value
            .into_string()
            .map_err(|_| anyhow::anyhow!("{env_var} is not UTF-8"))?;
        return Ok(zeroize::Zeroizing::new(value));
    }
    if !io::stdin().is_terminal() && !io::stderr().is_terminal() {
        return Err(usage_error(
            "the private key is encrypted and there is no terminal to ask for its passphrase",
            format!("set {env_var} in the environment"),
        ));
    }
    let value = rpassword::prompt_password(prompt).context("failed to read the passphrase")?;
    Ok(zeroize::Zeroizing::new(value))
}

/// Loads a private key file, asking for the passphrase if it is encrypted. A key file that
/// other users can read is refused unless `--allow-insecure-key-permissions`.
pub fn load_private_key(
    ctx: &Ctx,
    path: &Path,
    passphrase_env: &str,
) -> anyhow::Result<PrivateKey> {
    use std::os::unix::fs::PermissionsExt;
    let pem = zeroize::Zeroizing::new(
        std::fs::read(path)
            .with_context(|| format!("failed to read private key {}", path.display()))?,
    );
    let mode = std::fs::metadata(path)
        .with_context(|| format!("failed to read private key {}", path.display()))?
        .permissions()
        .mode();
    // Only private key files are held to this; a wrong file gets its own clear error below.
    let is_private = pem.windows(11).any(|w| w == b"PRIVATE KEY");
    if is_private && mode & 0o077 != 0 && !ctx.allow_insecure_key_permissions {
        return Err(usage_error(
            format!(
                "private key {} is readable by other users (mode {:o})",
                path.display(),
                mode & 0o777
            ),
            format!(
                "run `chmod 600 {}`, or pass --allow-insecure-key-permissions",
                path.display()
            ),
        ));
    }
    let passphrase = if keys::pem_is_encrypted(&pem) {
        Some(read_passphrase(
            passphrase_env,
            &format!("passphrase for {}: ", path.display()),
        )?)
    } else {
        None
    };
    PrivateKey::from_pem(&pem, passphrase.as_ref().map(|p| p.as_bytes())).map_err(|err| {
        let fix = match err {
            keys::KeyError::Decrypt => format!("check the passphrase in {passphrase_env}"),
            keys::KeyError::UnexpectedLabel { .. } => {
                "pass the private key (`.key`), not the public key".to_string()
            }
            _ => "create a key with `codex-attest keygen --out PREFIX`".to_string(),
        };
        anyhow::Error::new(err).context(hint(
            format!("failed to load private key {}", path.display()),
            fix,
        ))
    })
}

/// What Codex's configuration resolution needs from the environment.
pub fn codex_env() -> codex_attest::codex::config::CodexEnv {
    codex_attest::codex::config::CodexEnv {
        codex_home: std::env::var_os("CODEX_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        home: std::env::var_os("HOME").map(PathBuf::from),
        openai_base_url: std::env::var("OPENAI_BASE_URL").ok(),
        system_dir: PathBuf::from("/etc/codex"),
    }
}

/// The repository around the current directory and its store.
pub fn open_store() -> anyhow::Result<(codex_attest::git::Repo, codex_attest::store::Store)> {
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    let repo = codex_attest::git::Repo::discover(&cwd)?.ok_or_else(|| {
        anyhow::Error::msg(hint(
            format!("{} is not inside a git work tree", cwd.display()),
            "run this inside the repository whose runs you want (they live in .git/codex-attest)",
        ))
    })?;
    let store = codex_attest::store::Store::at(&repo.common_dir);
    Ok((repo, store))
}

/// Loads a public key file.
pub fn load_public_key(path: &Path) -> anyhow::Result<PublicKey> {
    let pem = std::fs::read(path)
        .with_context(|| format!("failed to read public key {}", path.display()))?;
    PublicKey::from_pem(&pem).map_err(|err| {
        let fix = match err {
            keys::KeyError::UnexpectedLabel { .. } => {
                "pass the public key (`.pub`), not the private key".to_string()
            }
            _ => "pass a `PUBLIC KEY` PEM file, e.g. the `.pub` written by `codex-attest keygen`"
                .to_string(),
        };
        anyhow::Error::new(err).context(hint(
            format!("failed to load public key {}", path.display()),
            fix,
        ))
    })
}

/// A command's result: to FILE (atomically; replacing it only with `force`), or to stdout.
pub fn emit(output: Option<&Path>, text: &str, force: bool) -> anyhow::Result<()> {
    match output {
        None => print_stdout(text),
        Some(path) => write_file_atomically(path, text.as_bytes(), force),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees half a file. Refuses to replace an existing file unless `overwrite`.
pub fn write_file_atomically(path: &Path, bytes: &[u8], overwrite: bool) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("failed to create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .with_context(|| format!("failed to write {}", path.display()))?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("failed to write {}", path.display()))?;
    if overwrite {
        tmp.persist(path)
            .with_context(|| format!("failed to write {}", path.display()))?;
    } else {
        tmp.persist_noclobber(path).map_err(|err| {
            if err.error.kind() == io::ErrorKind::AlreadyExists {
                usage_error(
                    format!("{} already exists", path.display()),
                    "choose another path, or pass --force to replace it",
                )
            } else {
                anyhow::Error::new(err.error).context(format!("failed to write {}", path.display()))
            }
        })?;
    }
    Ok(())
}
