//! A hermetic world for the real Codex CLI: a git repository, a fresh `CODEX_HOME` whose
//! provider points at a scripted Responses-API endpoint on loopback, and no way out to the network
//! (plugins and analytics off, every proxy variable pointing at a closed loopback port).

use std::path::PathBuf;

use codex_attest::model_server::{ModelServer, Turn};
use serde_json::{Value, json};

use crate::common::{CommandOutput, TestEnv, repo_path};

/// The secret the provider key variable holds in every test; it must never be stored.
pub const PROVIDER_KEY: &str = "sk-test-provider-key-3f9a1c77";

pub struct CodexWorld {
    pub env: TestEnv,
    pub server: ModelServer,
}

/// The real Codex CLI installed by `scripts/test-deps`.
pub fn codex_bin_dir() -> PathBuf {
    let deps = match std::env::var_os("CODEX_ATTEST_TEST_DEPS") {
        Some(dir) => PathBuf::from(dir),
        None => repo_path("target/test-deps"),
    };
    let dir = deps.join("node_modules/.bin");
    assert!(
        dir.join("codex").exists(),
        "the Codex CLI is missing at {}: run `scripts/test-deps` (or `scripts/test`) first",
        dir.display()
    );
    dir
}

impl CodexWorld {
    pub fn new(turns: Vec<Turn>) -> CodexWorld {
        let server = ModelServer::start(turns, 0).unwrap();
        let mut env = TestEnv::new();
        let bin = codex_bin_dir();
        env.set_env(
            "PATH",
            &format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        );
        env.set_env("CODEX_HOME", &env.path("codex_home").display().to_string());
        env.set_env("LOCAL_MODEL_KEY", PROVIDER_KEY);
        for var in codex_attest::model_server::PROXY_VARS {
            env.set_env(var, codex_attest::model_server::CLOSED_PROXY);
        }
        env.set_env("NO_PROXY", "127.0.0.1,localhost");
        env.set_env("no_proxy", "127.0.0.1,localhost");
        env.set_env("LANG", "C.UTF-8");
        let world = CodexWorld { env, server };
        world.write_config("");
        std::fs::create_dir_all(world.env.path("repo")).unwrap();
        world.env.git("repo", &["init", "-q", "-b", "main"]);
        world.env.write("repo/README.md", "# demo\n");
        world.env.write("repo/hello.txt", "hello\n");
        world.env.write("repo/old.txt", "old\n");
        world.env.write("repo/gone.txt", "delete me\n");
        world.env.write("repo/.gitignore", "build/\n");
        world.env.git("repo", &["add", "-A"]);
        world.env.git("repo", &["commit", "-q", "-m", "initial"]);
        world
    }

    /// Writes `$CODEX_HOME/config.toml`: the loopback provider plus `extra`.
    pub fn write_config(&self, extra: &str) {
        let config = format!(
            r#"model = "gpt-5.5"
model_provider = "local"
{extra}

[features]
plugins = false

[analytics]
enabled = false

[model_providers.local]
name = "local"
base_url = "{}"
wire_api = "responses"
env_key = "LOCAL_MODEL_KEY"
request_max_retries = 0
stream_max_retries = 0
"#,
            self.server.base_url()
        );
        self.env.write("codex_home/config.toml", config);
    }

    /// Runs `codex-attest ARGS` in `repo/` (or a subdirectory).
    pub fn run_in(&self, dir: &str, args: &[&str], stdin: Option<&[u8]>) -> CommandOutput {
        let mut cmd = self.env.command();
        cmd.current_dir(self.env.path(dir)).args(args);
        match stdin {
            None => CommandOutput::from(cmd.output().unwrap()),
            Some(bytes) => {
                use std::io::Write;
                use std::process::Stdio;
                let mut child = cmd
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                child.stdin.take().unwrap().write_all(bytes).unwrap();
                CommandOutput::from(child.wait_with_output().unwrap())
            }
        }
    }

    /// `codex-attest wrap -- codex exec ARGS` in `repo/`.
    pub fn wrap_exec(&self, wrap_args: &[&str], exec_args: &[&str]) -> CommandOutput {
        let mut args = vec!["wrap"];
        args.extend_from_slice(wrap_args);
        args.extend_from_slice(&["--", "codex", "exec"]);
        args.extend_from_slice(exec_args);
        self.run_in("repo", &args, None)
    }

    /// The run id named in wrap's last stderr line.
    pub fn run_id(out: &CommandOutput) -> String {
        let line = out
            .stderr
            .lines()
            .find(|l| l.starts_with("codex-attest: recorded run "))
            .unwrap_or_else(|| panic!("no run line in:\n{out}"));
        line["codex-attest: recorded run ".len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }

    /// `show --format json` of a run.
    pub fn show(&self, run: &str) -> Value {
        let out = self
            .run_in("repo", &["show", run, "--format", "json"], None)
            .success();
        serde_json::from_str(&out.stdout).unwrap()
    }
}

/// A final assistant message.
pub fn message(text: &str) -> Value {
    json!({"type": "message", "role": "assistant", "id": "msg_1", "content": [{"type": "output_text", "text": text}]})
}

/// An `apply_patch` call (a freeform custom tool in Codex 0.169).
pub fn apply_patch(call_id: &str, patch: &str) -> Value {
    json!({"type": "custom_tool_call", "name": "apply_patch", "call_id": call_id, "input": patch})
}

/// An `exec_command` function call.
pub fn exec_command(call_id: &str, cmd: &str) -> Value {
    json!({"type": "function_call", "name": "exec_command", "call_id": call_id, "arguments": json!({"cmd": cmd}).to_string()})
}

pub fn turn(items: Vec<Value>) -> Turn {
    Turn::Items { items, usage: None }
}
