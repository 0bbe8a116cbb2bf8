//! `codex-attest demo`: the first ten minutes. In a scratch directory, the real Codex CLI fixes a
//! bug in a tiny project, answered by a recorded model on loopback; `wrap` records and signs the
//! run; then `show`, `verify`, `diff` (after an AGENTS.md "incident") and `replay` run on it,
//! each printed as the command a user would type.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;

use codex_attest::demo::{self, Layout};
use codex_attest::model_server::ModelServer;

use super::{Ctx, Outcome, hint, usage_error};

/// Run the real Codex CLI on a built-in example, recorded, then show, verify, diff and replay it
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Needs the Codex CLI (`npm install -g @openai/codex@0.169.0`), git and nothing else: no network, no
model account. The model's side of the run is a recording shipped with codex-attest, served on
127.0.0.1; Codex itself is real and really edits the scratch repository. Everything is written
under the scratch directory (the repository, its store in .git/codex-attest, CODEX_HOME, HOME,
TMPDIR, the key pair and the attestations); nothing else is touched.

Examples:
  codex-attest demo
  codex-attest demo --dir /tmp/try-codex-attest
  codex-attest demo --codex ./node_modules/.bin/codex")]
pub struct DemoArgs {
    /// The scratch directory to create (must not exist, or be empty) [default: a new one in the
    /// system's temporary directory]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The Codex CLI to run [default: `codex` on PATH]
    #[arg(long, value_name = "PATH")]
    codex: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: DemoArgs) -> anyhow::Result<Outcome> {
    let codex = find_codex(args.codex.as_deref())?;
    let root = scratch_dir(args.dir)?;
    let server = ModelServer::start(demo::turns(), 0)
        .context("failed to start the demo's model endpoint on 127.0.0.1")?;
    let layout = Layout::new(&root);
    layout
        .create(&server.base_url())
        .with_context(|| format!("failed to set up {}", root.display()))?;
    let demo = Demo {
        exe: std::env::current_exe().context("failed to find the codex-attest executable")?,
        env: child_env(&layout, &codex),
        layout,
        quiet: ctx.quiet,
    };
    let result = demo.play();
    server.stop();
    result
}

/// The Codex CLI to use, with a message that says how to get it.
fn find_codex(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let install = "install it with `npm install -g @openai/codex@0.169.0`, or pass --codex PATH";
    let path = match given {
        Some(path) => path.to_path_buf(),
        None => std::env::var_os("PATH")
            .and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("codex"))
                    .find(|p| p.is_file())
            })
            .ok_or_else(|| {
                usage_error(
                    "the demo runs the real Codex CLI, and `codex` is not on PATH",
                    install,
                )
            })?,
    };
    let path = path
        .canonicalize()
        .map_err(|err| usage_error(format!("{}: {err}", path.display()), install))?;
    if !path.is_file() {
        return Err(usage_error(
            format!("{} is not a file", path.display()),
            install,
        ));
    }
    Ok(path)
}

/// Creates the scratch directory: the given one (new or empty) or a fresh temporary one, kept.
fn scratch_dir(dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = match dir {
        Some(dir) => {
            if dir.exists()
                && std::fs::read_dir(&dir)
                    .with_context(|| format!("failed to read {}", dir.display()))?
                    .next()
                    .is_some()
            {
                return Err(usage_error(
                    format!("{} exists and is not empty", dir.display()),
                    "give a new directory to --dir, or leave --dir out",
                ));
            }
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
            dir
        }
        None => tempfile::Builder::new()
            .prefix("codex-attest-demo-")
            .tempdir()
            .context("failed to create a scratch directory")?
            .keep(),
    };
    dir.canonicalize()
        .with_context(|| format!("failed to resolve {}", dir.display()))
}

/// The environment every demo command runs with: the user's PATH (Codex's directory first) and
/// locale, everything else pointing into the scratch directory. No secrets, no proxy escape.
fn child_env(layout: &Layout, codex: &Path) -> Vec<(OsString, OsString)> {
    let mut path = OsString::new();
    if let Some(dir) = codex.parent() {
        path.push(dir);
        path.push(":");
    }
    path.push(std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()));
    let mut env: Vec<(OsString, OsString)> = vec![
        ("PATH".into(), path),
        ("HOME".into(), layout.home.clone().into()),
        ("CODEX_HOME".into(), layout.codex_home.clone().into()),
        ("TMPDIR".into(), layout.tmp.clone().into()),
        (demo::PROVIDER_KEY_ENV.into(), "not-a-secret".into()),
        ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
        ("GIT_AUTHOR_NAME".into(), "codex-attest demo".into()),
        ("GIT_AUTHOR_EMAIL".into(), "demo@example.invalid".into()),
        ("GIT_COMMITTER_NAME".into(), "codex-attest demo".into()),
        ("GIT_COMMITTER_EMAIL".into(), "demo@example.invalid".into()),
        ("NO_PROXY".into(), "127.0.0.1,localhost".into()),
        ("no_proxy".into(), "127.0.0.1,localhost".into()),
    ];
    // Anything that is not loopback goes to a closed port: the demo never reaches the network.
    for var in codex_attest::model_server::PROXY_VARS {
        env.push((var.into(), codex_attest::model_server::CLOSED_PROXY.into()));
    }
    for var in ["LANG", "LC_ALL", "TERM", "NO_COLOR", "COLUMNS"] {
        if let Some(value) = std::env::var_os(var) {
            env.push((var.into(), value));
        }
    }
    env
}

struct Demo {
    exe: PathBuf,
    env: Vec<(OsString, OsString)>,
    layout: Layout,
    quiet: bool,
}

impl Demo {
    fn play(&self) -> anyhow::Result<Outcome> {
        let l = &self.layout;
        let prompt = demo::prompt();
        self.say(&format!(
            "codex-attest demo, in {}\n\
             A tiny Python project has a bug. The real Codex CLI fixes it, answered by a model\n\
             recording served on 127.0.0.1, and codex-attest records and signs what happened.",
            l.root.display()
        ))?;

        self.heading("1. A repository and a signing key")?;
        self.git(&["init", "-q", "-b", "main"])?;
        self.git(&["add", "-A"])?;
        self.git(&["commit", "-q", "-m", "tally: count words"])?;
        self.attest(
            "keygen --out ../keys/demo",
            &["keygen", "--out", "../keys/demo"],
            0,
        )?;

        self.heading("2. Codex fixes the bug; wrap records the run, then it is signed")?;
        let wrap: Vec<String> = [
            "wrap",
            "--",
            "codex",
            "exec",
            "-s",
            "workspace-write",
            &prompt,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let shown_wrap = format!(
            "wrap -- codex exec -s workspace-write {}",
            shell_quote(&prompt)
        );
        self.attest(&shown_wrap, &refs(&wrap), 0)?;
        let run_1 = self.latest_run()?;
        self.say(
            "Signing is a separate step: the key stays out of everything Codex could write\n\
             (the workspace, /tmp, $TMPDIR), so an agent cannot reach it.",
        )?;
        self.sign(&run_1, "../attestations/run-1.intoto.jsonl")?;
        self.run_shown("git diff --stat", "git", &["diff", "--stat"], 0)?;

        self.heading("3. What was recorded")?;
        self.attest("show latest", &["show", "latest"], 0)?;

        self.heading("4. A release gate verifies the signature")?;
        self.attest(
            "verify --key ../keys/demo.pub ../attestations/run-1.intoto.jsonl",
            &[
                "verify",
                "--key",
                "../keys/demo.pub",
                "../attestations/run-1.intoto.jsonl",
            ],
            0,
        )?;

        self.heading("5. An incident: someone changed AGENTS.md, and the run is repeated")?;
        self.git(&["checkout", "-q", "--", "."])?;
        let agents = l.repo.join("AGENTS.md");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&agents)
            .with_context(|| format!("failed to open {}", agents.display()))?;
        file.write_all(demo::INJECTED_INSTRUCTION.as_bytes())
            .with_context(|| format!("failed to write {}", agents.display()))?;
        self.say(&format!(
            "$ echo {} >> AGENTS.md",
            shell_quote(demo::INJECTED_INSTRUCTION.trim_end())
        ))?;
        self.attest(&shown_wrap, &refs(&wrap), 0)?;
        let run_2 = self.latest_run()?;
        self.sign(&run_2, "../attestations/run-2.intoto.jsonl")?;
        self.say("diff names every input and setting that differed between the two runs:")?;
        // diff exits 1 when the runs differ, which is the point here.
        self.attest(
            &format!("diff {run_1} {run_2}"),
            &["diff", &run_1, &run_2],
            1,
        )?;

        self.heading("6. Replay the second run from its pinned inputs")?;
        self.say(
            "A scratch copy of the starting state (commit, uncommitted AGENTS.md, CODEX_HOME) is\n\
             rebuilt and Codex runs again against the model outputs in its own transcript:",
        )?;
        self.attest(&format!("replay {run_2}"), &["replay", &run_2], 0)?;

        self.heading("Where everything is")?;
        self.say(&format!(
            "  scratch directory   {root}\n\
             \x20 repository          {repo}\n\
             \x20 recorded runs       {repo}/.git/codex-attest/runs/\n\
             \x20 attestations        {att}/run-1.intoto.jsonl, run-2.intoto.jsonl\n\
             \x20 signing key         {keys}/demo.key (public: demo.pub)\n\
             \x20 Codex's home        {home}  (config, sessions/ with the rollouts)\n\
             Try, inside the repository: codex-attest log; codex-attest show {run_2} --format json\n\
             Remove it all with: rm -rf {root}",
            root = l.root.display(),
            repo = l.repo.display(),
            att = l.attestations.display(),
            keys = l.keys.display(),
            home = l.codex_home.display(),
        ))?;
        Ok(Outcome::Success)
    }

    fn sign(&self, run: &str, output: &str) -> anyhow::Result<()> {
        self.attest(
            &format!("sign --key ../keys/demo.key --output {output} {run}"),
            &["sign", "--key", "../keys/demo.key", "--output", output, run],
            0,
        )
    }

    fn say(&self, text: &str) -> anyhow::Result<()> {
        super::print_stdout(&format!("{text}\n"))
    }

    fn heading(&self, text: &str) -> anyhow::Result<()> {
        super::print_stdout(&format!("\n== {text} ==\n"))
    }

    fn git(&self, args: &[&str]) -> anyhow::Result<()> {
        let out = self
            .command("git")
            .args(args)
            .stdout(Stdio::null())
            .output()
            .context("failed to run git; the demo needs git on PATH")?;
        if !out.status.success() {
            anyhow::bail!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Runs `codex-attest ARGS` in the repository, showing it as `$ codex-attest SHOWN`.
    fn attest(&self, shown: &str, args: &[&str], expect: i32) -> anyhow::Result<()> {
        let exe = self.exe.clone();
        self.run_shown(&format!("codex-attest {shown}"), &exe, args, expect)
    }

    fn run_shown(
        &self,
        shown: &str,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        expect: i32,
    ) -> anyhow::Result<()> {
        self.say(&format!("$ {shown}"))?;
        let mut command = self.command(program);
        command.args(args);
        if self.quiet {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let status = command
            .status()
            .with_context(|| format!("failed to start `{shown}`"))?;
        if status.code() != Some(expect) {
            return Err(anyhow::Error::msg(hint(
                format!("demo step `{shown}` exited with {status}, expected {expect}",),
                format!(
                    "the scratch directory {} is kept for a look; please report this with its output",
                    self.layout.root.display()
                ),
            )));
        }
        Ok(())
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(&self.layout.repo)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    fn latest_run(&self) -> anyhow::Result<String> {
        let out = self
            .command(&self.exe)
            .args(["show", "latest", "--format", "json"])
            .output()
            .context("failed to run codex-attest show")?;
        let value: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("codex-attest show printed no JSON")?;
        value["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("codex-attest show printed no run id"))
    }
}

fn refs(words: &[String]) -> Vec<&str> {
    words.iter().map(String::as_str).collect()
}

/// Quotes a word for display the way a POSIX shell reads it.
fn shell_quote(word: &str) -> String {
    if word
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
