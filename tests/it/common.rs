//! Shared test harness: a hermetic `TestEnv` that runs the real binary in a temporary directory
//! with a cleared environment and a fixed clock, and a `CommandOutput` that snapshots well.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The fixed clock every command in a test sees (`CODEX_ATTEST_TIMESTAMP`).
pub const FIXED_TIME: &str = "2001-02-03T04:05:06Z";

pub struct TestEnv {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    /// Commands run so far: each sees the fixed clock plus one minute per earlier command.
    commands: std::cell::Cell<i64>,
}

pub struct CommandOutput {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("codex-attest-test-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        let home = dir.path().join("home").display().to_string();
        let env = vec![
            ("HOME".to_string(), home),
            (
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_default(),
            ),
            ("NO_COLOR".to_string(), "1".to_string()),
            ("COLUMNS".to_string(), "100".to_string()),
            ("CODEX_ATTEST_TIMESTAMP".to_string(), FIXED_TIME.to_string()),
            ("GIT_CONFIG_NOSYSTEM".to_string(), "1".to_string()),
            ("GIT_AUTHOR_NAME".to_string(), "Test".to_string()),
            (
                "GIT_AUTHOR_EMAIL".to_string(),
                "test@example.com".to_string(),
            ),
            ("GIT_COMMITTER_NAME".to_string(), "Test".to_string()),
            (
                "GIT_COMMITTER_EMAIL".to_string(),
                "test@example.com".to_string(),
            ),
            (
                "GIT_AUTHOR_DATE".to_string(),
                "2001-02-03T04:05:06Z".to_string(),
            ),
            (
                "GIT_COMMITTER_DATE".to_string(),
                "2001-02-03T04:05:06Z".to_string(),
            ),
        ];
        TestEnv {
            dir,
            env,
            commands: std::cell::Cell::new(0),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    pub fn remove_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, content).unwrap();
        path
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    /// Copies a committed test key into the environment with mode 0600, as a real key would be.
    pub fn key(&self, name: &str) -> String {
        let src = repo_path(&format!("testdata/keys/{name}"));
        let dest = self.path(&format!("keys/{name}"));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&src, &dest).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = if name.ends_with(".key") { 0o600 } else { 0o644 };
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).unwrap();
        format!("keys/{name}")
    }

    /// Copies a committed test key, mode 0600, to a directory outside `/tmp` (which Codex's
    /// workspace-write sandbox can write, so `wrap` rightly refuses keys there). Returns its
    /// absolute path.
    pub fn outside_key(&self, name: &str) -> String {
        let dir = tempfile::Builder::new()
            .prefix("keys-")
            .tempdir_in(outside_codex_scope())
            .unwrap()
            .keep();
        let dest = dir.join(name);
        std::fs::copy(repo_path(&format!("testdata/keys/{name}")), &dest).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).unwrap();
        dest.display().to_string()
    }

    /// The environment commands run with.
    #[allow(dead_code)] // Used by the terminal test.
    pub fn vars(&self) -> &[(String, String)] {
        &self.env
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_codex-attest"));
        cmd.current_dir(self.root()).env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if self
            .env
            .iter()
            .any(|(k, v)| k == "CODEX_ATTEST_TIMESTAMP" && v == FIXED_TIME)
        {
            let n = self.commands.get();
            self.commands.set(n + 1);
            let base: codex_attest::timestamp::Timestamp = FIXED_TIME.parse().unwrap();
            cmd.env(
                "CODEX_ATTEST_TIMESTAMP",
                base.plus_seconds(60 * n).to_string(),
            );
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    #[must_use = "check the exit status or snapshot the output"]
    pub fn run(&self, args: &[&str]) -> CommandOutput {
        let output = self.command().args(args).output().unwrap();
        CommandOutput::from(output)
    }

    #[allow(dead_code)] // Used by the wrap tests.
    #[must_use = "check the exit status or snapshot the output"]
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> CommandOutput {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        CommandOutput::from(child.wait_with_output().unwrap())
    }

    #[allow(dead_code)] // Used by the wrap tests.
    /// Runs `git` in `dir` (relative to the environment root) and returns its stdout.
    pub fn git(&self, dir: &str, args: &[&str]) -> String {
        let mut cmd = Command::new("git");
        cmd.current_dir(self.path(dir)).env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl From<std::process::Output> for CommandOutput {
    fn from(output: std::process::Output) -> CommandOutput {
        CommandOutput {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            status: output.status.code().unwrap_or(-1),
        }
    }
}

impl CommandOutput {
    #[track_caller]
    pub fn success(self) -> CommandOutput {
        assert_eq!(self.status, 0, "command failed:\n{self}");
        self
    }

    #[track_caller]
    pub fn code(self, expected: i32) -> CommandOutput {
        assert_eq!(self.status, expected, "unexpected exit status:\n{self}");
        self
    }

    /// The one `error:` line on stderr (bad input gets exactly one, naming the file).
    #[track_caller]
    pub fn one_error_line(&self) -> &str {
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 1, "not exactly one error line:\n{self}");
        errors[0]
    }

    /// Parses stdout as JSON Lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

impl fmt::Display for CommandOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.stdout.is_empty() {
            writeln!(f, "------- stdout -------")?;
            write!(f, "{}", self.stdout)?;
        }
        if !self.stderr.is_empty() {
            writeln!(f, "------- stderr -------")?;
            write!(f, "{}", self.stderr)?;
        }
        write!(f, "[exit status: {}]", self.status)
    }
}

/// A path inside the repository.
/// A directory Codex's workspace-write sandbox cannot write (not under /tmp or $TMPDIR): the
/// target directory's tmp/, unless the checkout itself lives in /tmp (CI clones often do), then
/// /var/tmp.
fn outside_codex_scope() -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let tmpdir = std::env::var_os("TMPDIR").map(PathBuf::from);
    let inside = |dir: &Path| {
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        dir.starts_with("/tmp")
            || tmpdir
                .as_ref()
                .is_some_and(|t| dir.starts_with(t.canonicalize().unwrap_or_else(|_| t.clone())))
    };
    if !inside(&target) {
        return target;
    }
    let dir = PathBuf::from("/var/tmp/codex-attest-tests");
    std::fs::create_dir_all(&dir).unwrap();
    assert!(
        !inside(&dir),
        "no directory outside /tmp and $TMPDIR for test keys"
    );
    dir
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Where `scripts/test-deps` installs the third-party tools the suite runs.
fn test_deps() -> PathBuf {
    match std::env::var_os("CODEX_ATTEST_TEST_DEPS") {
        Some(dir) => PathBuf::from(dir),
        None => repo_path("target/test-deps"),
    }
}

/// The Python interpreter of the test virtualenv (securesystemslib, in-toto-attestation).
pub fn python() -> PathBuf {
    let python = test_deps().join("venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `scripts/test-deps` (or `scripts/test`, which runs it) first",
        python.display()
    );
    python
}

/// Runs one of the interop scripts in `tests/interop/` with the test Python.
pub fn run_python(script: &str, args: &[&str], cwd: &Path) -> CommandOutput {
    let output = Command::new(python())
        .arg(repo_path(&format!("tests/interop/{script}")))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    CommandOutput::from(output)
}

/// Validates a JSON value against a schema file in `schemas/`, listing every violation.
#[track_caller]
pub fn assert_schema_valid(schema_rel: &str, value: &serde_json::Value) {
    let schema_text = std::fs::read_to_string(repo_path(&format!("schemas/{schema_rel}"))).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema_text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{schema_rel}: {value:#}\n{}",
        errors.join("\n")
    );
}

/// Whether a value fails a schema (for negative tests).
pub fn schema_rejects(schema_rel: &str, value: &serde_json::Value) -> bool {
    let schema_text = std::fs::read_to_string(repo_path(&format!("schemas/{schema_rel}"))).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema_text).unwrap();
    !jsonschema::validator_for(&schema).unwrap().is_valid(value)
}
