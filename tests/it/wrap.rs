//! End-to-end: the real Codex CLI 0.169.0 run through `wrap` against a scripted endpoint on
//! loopback. Every expectation is computed from what is on disk or what the endpoint received,
//! never written down by hand.

use std::collections::BTreeMap;
use std::path::Path;

use codex_attest::digest::{digest_bytes, digest_file, sha256};
use codex_attest::model_server::Turn;
use serde_json::Value;

use crate::codex_env::{CodexWorld, PROVIDER_KEY, apply_patch, exec_command, message, turn};

const PATCH: &str = "*** Begin Patch\n*** Add File: added.txt\n+brand new\n*** Update File: hello.txt\n@@\n-hello\n+hello world\n*** Delete File: gone.txt\n*** End Patch";

fn statement(shown: &Value) -> &Value {
    &shown["statement"]
}

fn subjects(shown: &Value) -> BTreeMap<String, Value> {
    statement(shown)["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["digest"].clone()))
        .collect()
}

fn internal(shown: &Value) -> &Value {
    &statement(shown)["predicate"]["buildDefinition"]["internalParameters"]
}

fn external(shown: &Value) -> &Value {
    &statement(shown)["predicate"]["buildDefinition"]["externalParameters"]
}

/// Resolved dependencies by name.
fn deps(shown: &Value) -> BTreeMap<String, Value> {
    statement(shown)["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap().to_string(), d.clone()))
        .collect()
}

fn file_digest(path: &Path) -> Value {
    let d = digest_file(path).unwrap();
    serde_json::json!({"gitBlob": d.git_blob.to_string(), "sha256": d.sha256.to_string()})
}

/// The user messages of the first request Codex sent: (instructions message, prompt).
fn received_texts(world: &CodexWorld) -> (Option<String>, String) {
    let requests = world.server.requests();
    let first = &requests.first().expect("Codex sent no request").body;
    let users: Vec<&Value> = first["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["role"] == "user")
        .collect();
    let prompt = users.last().unwrap()["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let agents = users
        .iter()
        .flat_map(|u| u["content"].as_array().unwrap().iter())
        .filter_map(|c| c["text"].as_str())
        .find(|t| t.starts_with("# AGENTS.md instructions"))
        .map(|t| {
            let start = t.find("<INSTRUCTIONS>\n").unwrap() + "<INSTRUCTIONS>\n".len();
            let end = t.rfind("\n</INSTRUCTIONS>").unwrap();
            t[start..end].to_string()
        });
    (agents, prompt)
}

#[test]
fn apply_patch_changes_become_exact_subjects() {
    let world = CodexWorld::new(vec![
        turn(vec![apply_patch("call_1", PATCH)]),
        turn(vec![message("Patched.")]),
    ]);
    let before_gone = digest_file(&world.env.path("repo/gone.txt")).unwrap();
    let before_hello = digest_file(&world.env.path("repo/hello.txt")).unwrap();
    let out = world.wrap_exec(&[], &["--json", "-s", "workspace-write", "apply the patch"]);
    assert_eq!(out.status, 0, "{out}");
    assert_eq!(
        world.env.read("repo/added.txt"),
        "brand new\n",
        "Codex really applied the patch"
    );
    let shown = world.show(&CodexWorld::run_id(&out));

    // Subjects: exactly the added and modified files, with the digests of their content now.
    let subjects = subjects(&shown);
    assert_eq!(
        subjects.keys().collect::<Vec<_>>(),
        ["added.txt", "hello.txt"]
    );
    assert_eq!(
        subjects["added.txt"],
        file_digest(&world.env.path("repo/added.txt"))
    );
    assert_eq!(
        subjects["hello.txt"],
        file_digest(&world.env.path("repo/hello.txt"))
    );

    // The deletion and the modification carry their content from before the run.
    let changes = &internal(&shown)["outcome"]["changes"];
    assert_eq!(changes["deleted"][0]["path"], "gone.txt");
    assert_eq!(
        changes["deleted"][0]["sha256"],
        before_gone.sha256.to_string()
    );
    assert_eq!(
        changes["deleted"][0]["gitBlob"],
        before_gone.git_blob.to_string()
    );
    assert_eq!(
        changes["modified"][0]["before"]["sha256"],
        before_hello.sha256.to_string()
    );

    // The outcome and Codex's own facts.
    let outcome = &internal(&shown)["outcome"];
    assert_eq!(outcome["status"], "succeeded");
    assert_eq!(outcome["exitCode"], 0);
    assert!(outcome["threadId"].as_str().unwrap().len() > 30);
    assert!(outcome["tokenUsage"]["inputTokens"].as_u64().unwrap() > 0);
    assert_eq!(
        internal(&shown)["disagreements"],
        Value::Null,
        "no disagreement with the rollout"
    );
    assert_eq!(internal(&shown)["settings"]["sandbox"], "workspace-write");
    assert_eq!(internal(&shown)["settings"]["model"], "gpt-5.5");
    assert_eq!(internal(&shown)["codex"]["version"], "0.169.0");

    // Inputs: the config file Codex read, the prompt Codex sent.
    let deps = deps(&shown);
    assert_eq!(
        deps["$CODEX_HOME/config.toml"]["digest"],
        file_digest(&world.env.path("codex_home/config.toml"))
    );
    let (_, prompt) = received_texts(&world);
    assert_eq!(prompt, "apply the patch");
    assert_eq!(
        deps["prompt"]["digest"]["sha256"],
        sha256(prompt.as_bytes()).to_string()
    );
    assert_eq!(external(&shown)["prompt"]["source"], "argument");
    assert!(
        external(&shown)["argv"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().starts_with("<prompt sha256:"))
    );
    assert_eq!(
        deps["git-commit"]["digest"]["gitCommit"],
        world.env.git("repo", &["rev-parse", "HEAD"]).trim()
    );

    // Real output validates against our schemas.
    crate::common::assert_schema_valid(
        "codex-run/v1/external-parameters.schema.json",
        external(&shown),
    );
    crate::common::assert_schema_valid(
        "codex-run/v1/internal-parameters.schema.json",
        internal(&shown),
    );
    // The event log and the rollout are stored and attested by digest.
    let byproducts: Vec<&str> = statement(&shown)["predicate"]["runDetails"]["byproducts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(byproducts, ["codex-events.jsonl", "rollout.jsonl"]);
}

#[test]
fn a_moved_file_is_recorded_as_a_rename() {
    let world = CodexWorld::new(vec![
        turn(vec![exec_command("call_1", "mv old.txt moved.txt")]),
        turn(vec![message("Moved.")]),
    ]);
    let before = digest_file(&world.env.path("repo/old.txt")).unwrap();
    let out = world.wrap_exec(&[], &["--json", "-s", "workspace-write", "move it"]);
    assert_eq!(out.status, 0, "{out}");
    let shown = world.show(&CodexWorld::run_id(&out));
    let renamed = &internal(&shown)["outcome"]["changes"]["renamed"][0];
    assert_eq!(renamed["from"], "old.txt");
    assert_eq!(renamed["to"], "moved.txt");
    assert_eq!(renamed["before"]["sha256"], before.sha256.to_string());
    assert_eq!(subjects(&shown).keys().collect::<Vec<_>>(), ["moved.txt"]);
}

#[test]
fn exec_command_writing_a_file_is_recorded() {
    let world = CodexWorld::new(vec![
        turn(vec![exec_command("call_1", "echo made > made.txt")]),
        turn(vec![message("Made.")]),
    ]);
    let out = world.wrap_exec(&[], &["--json", "-s", "workspace-write", "make a file"]);
    assert_eq!(out.status, 0, "{out}");
    assert_eq!(world.env.read("repo/made.txt"), "made\n");
    let shown = world.show(&CodexWorld::run_id(&out));
    assert_eq!(subjects(&shown).keys().collect::<Vec<_>>(), ["made.txt"]);
    assert_eq!(
        subjects(&shown)["made.txt"],
        file_digest(&world.env.path("repo/made.txt"))
    );
}

#[test]
fn a_dirty_tree_is_pinned_and_only_what_codex_changed_is_a_subject() {
    let world = CodexWorld::new(vec![
        turn(vec![apply_patch(
            "call_1",
            "*** Begin Patch\n*** Update File: old.txt\n@@\n-old edited\n+old edited twice\n*** End Patch",
        )]),
        turn(vec![message("Done.")]),
    ]);
    // Before the run: a modified tracked file Codex will edit again, one it will not touch,
    // an untracked file, a deleted file, and an ignored build directory.
    world.env.write("repo/old.txt", "old edited\n");
    world
        .env
        .write("repo/README.md", "# demo, edited by a human\n");
    world.env.write("repo/notes.txt", "untracked notes\n");
    std::fs::remove_file(world.env.path("repo/gone.txt")).unwrap();
    world.env.write("repo/build/out.bin", "ignored output\n");
    world.env.git(
        "repo",
        &[
            "remote",
            "add",
            "origin",
            "https://bot:ghp_secrettoken123@github.com/example/repo.git",
        ],
    );
    let out = world.wrap_exec(&[], &["--json", "-s", "workspace-write", "edit old.txt"]);
    assert_eq!(out.status, 0, "{out}");
    let shown = world.show(&CodexWorld::run_id(&out));
    assert_eq!(
        subjects(&shown).keys().collect::<Vec<_>>(),
        ["old.txt"],
        "untouched dirty files are not subjects"
    );
    let changes = &internal(&shown)["outcome"]["changes"];
    assert_eq!(
        changes["modified"][0]["before"]["sha256"],
        sha256(b"old edited\n").to_string()
    );
    assert_eq!(
        changes["deleted"],
        Value::Null,
        "a file deleted before the run was not deleted by it"
    );

    // The starting state is pinned: each uncommitted path with its content in the store.
    let git = &internal(&shown)["git"];
    assert_eq!(git["dirty"], true);
    assert_eq!(
        git["remote"], "https://github.com/example/repo.git",
        "credentials stripped"
    );
    assert_eq!(git["branch"], "main");
    assert!(!shown.to_string().contains("ghp_secrettoken123"));
    let mut uncommitted: Vec<&str> = git["uncommitted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    uncommitted.sort();
    assert_eq!(
        uncommitted,
        ["README.md", "gone.txt", "notes.txt", "old.txt"],
        "ignored build/ is not there"
    );
    let deps = deps(&shown);
    assert_eq!(
        deps["notes.txt"]["annotations"]["codexattest.kind"],
        "starting-state"
    );
    assert_eq!(
        deps["notes.txt"]["digest"]["sha256"],
        sha256(b"untracked notes\n").to_string()
    );
    assert_eq!(deps["gone.txt"]["annotations"]["codexattest.absent"], true);
    let record = &shown["record"];
    let notes = record["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "notes.txt")
        .unwrap();
    let blob_path = format!(
        "repo/.git/codex-attest/objects/sha256/{}/{}",
        &notes["blob"].as_str().unwrap()[..2],
        &notes["blob"].as_str().unwrap()[2..]
    );
    assert_eq!(world.env.read(&blob_path), "untracked notes\n");
}

#[test]
fn nested_agents_md_with_override_and_cd_into_a_subdirectory() {
    let world = CodexWorld::new(vec![turn(vec![message("Read them.")])]);
    world.env.write("codex_home/AGENTS.md", "GLOBAL AGENTS\n");
    world.env.write("repo/AGENTS.md", "ROOT AGENTS\n");
    world
        .env
        .write("repo/sub/AGENTS.override.md", "SUB OVERRIDE\n");
    world.env.write(
        "repo/sub/AGENTS.md",
        "SUB PLAIN, shadowed by the override\n",
    );
    world
        .env
        .write("repo/elsewhere/AGENTS.md", "NOT ON THE PATH\n");
    world.env.git("repo", &["add", "-A"]);
    world
        .env
        .git("repo", &["commit", "-q", "-m", "instructions"]);
    let out = world.wrap_exec(&[], &["--json", "-C", "sub", "read the instructions"]);
    assert_eq!(out.status, 0, "{out}");
    let shown = world.show(&CodexWorld::run_id(&out));
    let chain = &internal(&shown)["agentsMd"];
    let paths: Vec<&str> = chain["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "$CODEX_HOME/AGENTS.md",
            "AGENTS.md",
            "sub/AGENTS.override.md"
        ]
    );
    // The text Codex actually sent is the one we computed.
    let (agents_text, _) = received_texts(&world);
    let agents_text = agents_text.expect("Codex sent AGENTS.md instructions");
    assert_eq!(
        chain["combinedSha256"],
        sha256(agents_text.as_bytes()).to_string()
    );
    let deps = deps(&shown);
    assert_eq!(
        deps["sub/AGENTS.override.md"]["digest"],
        file_digest(&world.env.path("repo/sub/AGENTS.override.md"))
    );
    assert!(!deps.contains_key("sub/AGENTS.md"));
    assert!(!deps.contains_key("elsewhere/AGENTS.md"));
    assert_eq!(external(&shown)["workingDirectory"], "sub");
    assert_eq!(
        internal(&shown)["disagreements"],
        Value::Null,
        "{}",
        internal(&shown)
    );
}

#[test]
fn profile_file_config_overrides_rules_and_skills_are_inputs() {
    let world = CodexWorld::new(vec![turn(vec![message("Configured.")])]);
    world.env.write(
        "codex_home/fast.config.toml",
        "model_reasoning_effort = \"high\"\n",
    );
    world.env.write(
        "codex_home/rules/default.rules",
        "prefix_rule(pattern=[\"touch\"], decision=\"forbidden\")\n",
    );
    world.env.write(
        "repo/.codex/skills/demo/SKILL.md",
        "---\nname: demo\ndescription: Demo skill that says hello.\n---\nSay hello.\n",
    );
    world.env.git("repo", &["add", "-A"]);
    world.env.git("repo", &["commit", "-q", "-m", "skill"]);
    let out = world.wrap_exec(
        &[],
        &[
            "--json",
            "-p",
            "fast",
            "-c",
            "model_verbosity=\"low\"",
            "configure",
        ],
    );
    assert_eq!(out.status, 0, "{out}");
    let shown = world.show(&CodexWorld::run_id(&out));
    let deps = deps(&shown);
    assert_eq!(
        deps["$CODEX_HOME/fast.config.toml"]["annotations"]["codexattest.scope"],
        "profile"
    );
    assert_eq!(
        deps["$CODEX_HOME/fast.config.toml"]["digest"],
        file_digest(&world.env.path("codex_home/fast.config.toml"))
    );
    assert_eq!(
        deps["$CODEX_HOME/rules/default.rules"]["annotations"]["codexattest.kind"],
        "rules"
    );
    assert_eq!(
        deps[".codex/skills/demo/SKILL.md"]["annotations"]["codexattest.kind"],
        "skill"
    );
    assert_eq!(external(&shown)["profile"], "fast");
    assert_eq!(
        external(&shown)["configOverrides"][0],
        "model_verbosity=\"low\""
    );
    assert_eq!(internal(&shown)["settings"]["reasoningEffort"], "high");
    // Codex itself recorded the same effort: no disagreement.
    assert_eq!(
        internal(&shown)["disagreements"],
        Value::Null,
        "{}",
        internal(&shown)
    );
    // The skill's name reached the model, as we recorded.
    let body = world.server.requests()[0].body.to_string();
    assert!(body.contains("Demo skill that says hello."));
}

#[test]
fn prompt_on_stdin_is_recorded_and_handed_on() {
    let world = CodexWorld::new(vec![turn(vec![message("Read stdin.")])]);
    let out = world.run_in(
        "repo",
        &["wrap", "--", "codex", "exec", "--json", "-"],
        Some(b"PROMPT FROM STDIN\n"),
    );
    assert_eq!(out.status, 0, "{out}");
    let shown = world.show(&CodexWorld::run_id(&out));
    let (_, prompt) = received_texts(&world);
    assert_eq!(prompt, "PROMPT FROM STDIN\n");
    assert_eq!(external(&shown)["prompt"]["source"], "stdin");
    assert_eq!(
        external(&shown)["prompt"]["sha256"],
        sha256(prompt.as_bytes()).to_string()
    );
}

#[test]
fn prompt_argument_plus_piped_stdin_is_composed_like_codex() {
    let world = CodexWorld::new(vec![turn(vec![message("Both.")])]);
    let out = world.run_in(
        "repo",
        &["wrap", "--", "codex", "exec", "--json", "summarize"],
        Some(b"EXTRA INPUT"),
    );
    assert_eq!(out.status, 0, "{out}");
    let shown = world.show(&CodexWorld::run_id(&out));
    let (_, prompt) = received_texts(&world);
    assert_eq!(prompt, "summarize\n\n<stdin>\nEXTRA INPUT\n</stdin>");
    assert_eq!(external(&shown)["prompt"]["source"], "argument+stdin");
    assert_eq!(
        external(&shown)["prompt"]["sha256"],
        sha256(prompt.as_bytes()).to_string()
    );
    assert_eq!(internal(&shown)["disagreements"], Value::Null);
}

#[test]
fn a_failing_model_endpoint_is_recorded_as_failed() {
    let world = CodexWorld::new(vec![Turn::HttpError {
        status: 400,
        body:
            r#"{"error":{"message":"bad request from the script","type":"invalid_request_error"}}"#
                .to_string(),
    }]);
    let out = world.wrap_exec(&[], &["--json", "do something"]);
    assert_eq!(out.status, 1, "Codex's own exit status:\n{out}");
    assert!(
        out.stdout.contains("turn.failed"),
        "events pass through:\n{out}"
    );
    let shown = world.show(&CodexWorld::run_id(&out));
    assert_eq!(internal(&shown)["outcome"]["status"], "failed");
    assert_eq!(internal(&shown)["outcome"]["exitCode"], 1);
    assert_eq!(shown["record"]["summary"]["status"], "failed");
}

#[test]
fn stdout_through_wrap_equals_stdout_without_it() {
    let script = || {
        vec![
            turn(vec![apply_patch("call_1", PATCH)]),
            turn(vec![message("Patched.")]),
        ]
    };
    let wrapped = CodexWorld::new(script());
    let out = wrapped.wrap_exec(&[], &["--json", "-s", "workspace-write", "apply the patch"]);
    assert_eq!(out.status, 0, "{out}");
    let alone = CodexWorld::new(script());
    let mut cmd = alone.env.command();
    cmd.current_dir(alone.env.path("repo")).args([
        "--json",
        "-s",
        "workspace-write",
        "apply the patch",
    ]);
    let mut direct = std::process::Command::new("codex");
    direct
        .current_dir(alone.env.path("repo"))
        .env_clear()
        .args(["exec", "--json", "-s", "workspace-write", "apply the patch"]);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            direct.env(k, v);
        }
    }
    let direct = direct.stdin(std::process::Stdio::null()).output().unwrap();
    assert_eq!(direct.status.code(), Some(out.status));
    let normalize = |text: &str, root: &Path| -> String {
        let mut s = text.replace(&root.display().to_string(), "ROOT");
        if let Some(start) = s.find("\"thread_id\":\"") {
            let end = s[start + 13..].find('"').unwrap() + start + 13;
            s.replace_range(start + 13..end, "THREAD");
        }
        s
    };
    assert_eq!(
        normalize(&out.stdout, &wrapped.env.path("repo")),
        normalize(
            &String::from_utf8_lossy(&direct.stdout),
            &alone.env.path("repo")
        ),
    );
}

#[test]
fn secrets_in_the_environment_never_reach_the_store() {
    let canaries = [
        ("OPENAI_API_KEY", "canary-openai-4d1b9e"),
        ("CODEX_API_KEY", "canary-codex-77a0c2"),
        ("MY_SECRET_TOKEN", "canary-token-5f02aa"),
        ("CODEX_ATTEST_KEY_PASSPHRASE", "canary-passphrase-0c9e11"),
    ];
    // The model asks Codex to print the environment: the tool output then holds every value.
    let world = {
        let mut world = CodexWorld::new(vec![
            turn(vec![exec_command("call_1", "env > env-dump.txt; env")]),
            turn(vec![message("Dumped.")]),
        ]);
        for (k, v) in canaries {
            world.env.set_env(k, v);
        }
        // Secrets written in the configuration file itself (a provider Codex does not use here).
        world.write_config(
            "[model_providers.other]\nname = \"other\"\n\
             base_url = \"https://cfguser:canary-config-pw-71d3@proxy.example/v1\"\n\
             http_headers = { \"X-Config-Token\" = \"canary-config-token-3c1f7d\" }\n",
        );
        world
    };
    // Under workspace-write, Codex can write /tmp, where this test lives: the key goes elsewhere,
    // and a key in the writable workspace is refused.
    world.env.key("ed25519.key");
    let refused = world.wrap_exec(
        &["--key", "../keys/ed25519.key"],
        &["--json", "-s", "workspace-write", "x"],
    );
    assert_eq!(refused.status, 2, "{refused}");
    assert!(
        refused.stderr.contains("refusing to sign with"),
        "{refused}"
    );
    let key = world.env.outside_key("ed25519.key");
    let out = world.wrap_exec(
        &["--key", &key, "--output", "../run.intoto.jsonl"],
        &[
            "--json",
            "-s",
            "workspace-write",
            "-c",
            "model_providers.local.http_headers.X-Api-Token=\"canary-header-9b8e61\"",
            "dump the environment",
        ],
    );
    assert_eq!(out.status, 0, "{out}");
    let dump = world.env.read("repo/env-dump.txt");
    assert!(
        !dump.contains("canary-passphrase-0c9e11"),
        "codex-attest's own secret must not reach the command"
    );
    assert!(
        dump.contains("canary-openai-4d1b9e"),
        "Codex passes the environment to tools, so the test is meaningful"
    );
    let mut all = vec![
        "canary-header-9b8e61",
        "canary-config-pw-71d3",
        "canary-config-token-3c1f7d",
        PROVIDER_KEY,
    ];
    all.extend(canaries.iter().map(|(_, v)| *v));
    let mut written: Vec<std::path::PathBuf> = walk(&world.env.path("repo/.git/codex-attest"));
    written.push(world.env.path("run.intoto.jsonl"));
    assert!(written.len() > 10);
    for path in written {
        let bytes = std::fs::read(&path).unwrap();
        for canary in &all {
            let found = bytes.windows(canary.len()).any(|w| w == canary.as_bytes());
            assert!(!found, "{canary} found in {}", path.display());
        }
    }
    // Nothing codex-attest itself printed carries a secret either.
    for line in out
        .stderr
        .lines()
        .filter(|l| l.starts_with("codex-attest:"))
    {
        for canary in &all {
            assert!(!line.contains(canary), "{canary} in: {line}");
        }
    }
    // And the attested argv says a secret was there.
    let shown = world.show(&CodexWorld::run_id(&out));
    assert!(
        external(&shown)["configOverrides"][0]
            .as_str()
            .unwrap()
            .ends_with("=<redacted>")
    );
}

#[test]
fn missing_or_non_executable_commands_exit_2_and_store_nothing() {
    let world = CodexWorld::new(vec![]);
    let out = world.run_in("repo", &["wrap", "--", "no-such-agent", "exec", "x"], None);
    assert_eq!(out.status, 2, "{out}");
    assert!(
        out.stderr.contains("no-such-agent: command not found"),
        "{out}"
    );
    world.env.write("repo/script.sh", "#!/bin/sh\necho hi\n");
    let out = world.run_in("repo", &["wrap", "--", "./script.sh"], None);
    assert_eq!(out.status, 2, "{out}");
    assert!(out.stderr.contains("not an executable file"), "{out}");
    assert!(
        !world.env.path("repo/.git/codex-attest/runs").exists()
            || walk(&world.env.path("repo/.git/codex-attest/runs")).is_empty()
    );
}

#[test]
fn other_commands_are_recorded_generically_and_say_so() {
    let world = CodexWorld::new(vec![]);
    let out = world.run_in(
        "repo",
        &[
            "wrap",
            "--role",
            "scaffold",
            "--",
            "sh",
            "-c",
            "echo generated > gen.txt; exit 3",
        ],
        None,
    );
    assert_eq!(out.status, 3, "the command's own exit status:\n{out}");
    assert!(out.stderr.contains("not a Codex command"), "{out}");
    let shown = world.show(&CodexWorld::run_id(&out));
    assert_eq!(internal(&shown)["capture"], "generic");
    assert!(
        internal(&shown)["notRecorded"][0]
            .as_str()
            .unwrap()
            .contains("not a Codex command")
    );
    assert_eq!(
        subjects(&shown)["gen.txt"],
        file_digest(&world.env.path("repo/gen.txt"))
    );
    assert_eq!(internal(&shown)["outcome"]["status"], "failed");
    assert_eq!(external(&shown)["role"], "scaffold");
    crate::common::assert_schema_valid(
        "codex-run/v1/internal-parameters.schema.json",
        internal(&shown),
    );
}

#[test]
fn signed_runs_verify_and_unsigned_runs_can_be_signed_later() {
    let world = CodexWorld::new(vec![turn(vec![message("Nothing to do.")])]);
    world.env.key("ed25519.key");
    world.env.key("ed25519.pub");
    let out = world.wrap_exec(
        &[
            "--key",
            "../keys/ed25519.key",
            "--output",
            "../signed.intoto.jsonl",
            "--role",
            "reviewer",
        ],
        &["--json", "please review"],
    );
    assert_eq!(out.status, 0, "{out}");
    let verified = world
        .run_in(
            ".",
            &[
                "verify",
                "--key",
                "keys/ed25519.pub",
                "--format",
                "json",
                "signed.intoto.jsonl",
            ],
            None,
        )
        .success();
    let record = &verified.json_lines()[0]["data"];
    // A run that changed nothing names the commit it ran on.
    assert_eq!(record["subjects"][0]["name"], "git-commit");
    // Unsigned run, signed afterwards from the store.
    let world2 = CodexWorld::new(vec![turn(vec![message("Later.")])]);
    world2.env.key("ed25519.key");
    world2.env.key("ed25519.pub");
    let out = world2.wrap_exec(&[], &["--json", "later"]);
    let run = CodexWorld::run_id(&out);
    assert!(out.stderr.contains("unsigned"), "{out}");
    let signed = world2
        .run_in(
            "repo",
            &["sign", "--key", "../keys/ed25519.key", &run],
            None,
        )
        .success();
    world2.env.write("later.intoto.jsonl", &signed.stdout);
    world2
        .run_in(
            ".",
            &["verify", "--key", "keys/ed25519.pub", "later.intoto.jsonl"],
            None,
        )
        .success();
    let shown = world2.show(&run);
    assert_eq!(shown["envelopes"], 1, "the signature is kept with the run");
}

#[test]
fn show_and_log_list_runs_with_filters() {
    let world = CodexWorld::new(vec![
        turn(vec![apply_patch("call_1", PATCH)]),
        turn(vec![message("Patched.")]),
    ]);
    let first = world.wrap_exec(
        &["--role", "fixer"],
        &["--json", "-s", "workspace-write", "patch it"],
    );
    assert_eq!(first.status, 0, "{first}");
    let second = world.run_in(
        "repo",
        &[
            "wrap",
            "--role",
            "scaffold",
            "--",
            "sh",
            "-c",
            "echo x > x.txt",
        ],
        None,
    );
    assert_eq!(second.status, 0, "{second}");
    let log = world
        .run_in("repo", &["log", "--format", "json"], None)
        .success();
    let runs: Vec<Value> = log
        .json_lines()
        .into_iter()
        .filter(|r| r["type"] == "run")
        .collect();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["data"]["role"], "scaffold", "newest first");
    let by_role = world
        .run_in(
            "repo",
            &["log", "--role", "fixer", "--format", "json"],
            None,
        )
        .success();
    assert_eq!(by_role.json_lines().len(), 2, "one run and the summary");
    let config_digest = digest_file(&world.env.path("codex_home/config.toml"))
        .unwrap()
        .sha256;
    let by_input = world
        .run_in("repo", &["log", "--input", &config_digest.prefixed()], None)
        .success();
    assert!(
        by_input.stdout.contains("added.txt"),
        "blast radius lists changed files:\n{by_input}"
    );
    assert!(!by_input.stdout.contains("scaffold"));
    let by_path = world
        .run_in(
            "repo",
            &["log", "--path", "x.txt", "--format", "json"],
            None,
        )
        .success();
    assert_eq!(by_path.json_lines()[0]["data"]["role"], "scaffold");
    // Model, Codex version, status and time filters each keep exactly the runs they name.
    let roles = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["log", "--format", "json"];
        full.extend_from_slice(args);
        world
            .run_in("repo", &full, None)
            .success()
            .json_lines()
            .into_iter()
            .filter(|r| r["type"] == "run")
            .map(|r| r["data"]["role"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(roles(&["--model", "gpt-5.5"]), ["fixer"]);
    assert!(roles(&["--model", "gpt-4o"]).is_empty());
    assert_eq!(roles(&["--codex-version", "0.169.0"]), ["fixer"]);
    assert_eq!(roles(&["--status", "succeeded"]), ["scaffold", "fixer"]);
    assert!(roles(&["--status", "failed"]).is_empty());
    assert_eq!(
        roles(&["--since", "2000-01-01T00:00:00Z"]),
        ["scaffold", "fixer"]
    );
    assert!(roles(&["--since", "2999-01-01T00:00:00Z"]).is_empty());
    assert!(roles(&["--until", "2000-01-01T00:00:00Z"]).is_empty());
    let human = world.run_in("repo", &["show", "latest"], None).success();
    assert!(human.stdout.contains("capture    generic"), "{human}");
    let human = world
        .run_in("repo", &["show", &CodexWorld::run_id(&first)], None)
        .success();
    for expected in [
        "A added.txt",
        "M hello.txt",
        "D gone.txt",
        "$CODEX_HOME/config.toml",
        "gpt-5.5 via local",
    ] {
        assert!(
            human.stdout.contains(expected),
            "{expected} missing:\n{human}"
        );
    }
    let missing = world.run_in("repo", &["show", "nope"], None);
    assert_eq!(missing.status, 2);
    assert!(
        missing.stderr.contains("no run matches \"nope\""),
        "{missing}"
    );
    let _ = digest_bytes;
}

/// Every file under a directory.
pub fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Starts `wrap` around a Codex run whose model never answers, waits until Codex is waiting on
/// it, sends `signal` (to wrap alone, or to its whole process group as a terminal would), and
/// returns the exit status and the recorded run.
fn interrupt(to_group: bool, signal: rustix::process::Signal) -> (i32, Value, CodexWorld) {
    use std::os::unix::process::CommandExt;
    let world = CodexWorld::new(vec![Turn::Hang]);
    let mut cmd = world.env.command();
    cmd.current_dir(world.env.path("repo"))
        .args(["wrap", "--", "codex", "exec", "--json", "wait forever"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.process_group(0);
    let child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while world.server.requests().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "Codex never called the model"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    if to_group {
        rustix::process::kill_process_group(pid, signal).unwrap();
    } else {
        rustix::process::kill_process(pid, signal).unwrap();
    }
    let out = crate::common::CommandOutput::from(child.wait_with_output().unwrap());
    let shown = world.show(&CodexWorld::run_id(&out));
    (out.status, shown, world)
}

#[test]
fn ctrl_c_reaches_codex_and_the_run_is_recorded_as_interrupted() {
    for to_group in [false, true] {
        let (status, shown, _world) = interrupt(to_group, rustix::process::Signal::INT);
        assert_eq!(status, 1, "Codex exits 1 on SIGINT (to_group: {to_group})");
        assert_eq!(
            internal(&shown)["outcome"]["status"],
            "interrupted",
            "to_group: {to_group}"
        );
        assert_eq!(shown["record"]["summary"]["status"], "interrupted");
    }
}

#[test]
fn sigterm_reaches_codex_and_its_death_is_reported_as_128_plus_n() {
    let (status, shown, _world) = interrupt(false, rustix::process::Signal::TERM);
    assert_eq!(
        status,
        128 + 15,
        "Codex dies of SIGTERM; wrap reports 128+15"
    );
    let outcome = &internal(&shown)["outcome"];
    assert_eq!(outcome["status"], "interrupted");
    assert_eq!(outcome["signal"], 15);
}

#[test]
fn many_codex_flags_are_understood() {
    let world = CodexWorld::new(vec![turn(vec![message("{\"ok\":true}")])]);
    world.env.write("repo/schema.json", r#"{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"],"additionalProperties":false}"#);
    world.env.write(
        "repo/shot.png",
        [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a],
    );
    std::fs::create_dir_all(world.env.path("shared")).unwrap();
    world.env.git("repo", &["add", "-A"]);
    world.env.git("repo", &["commit", "-q", "-m", "files"]);
    let out = world.wrap_exec(
        &[],
        &[
            "--json",
            "--output-schema",
            "schema.json",
            "-o",
            "../last.txt",
            "--add-dir",
            "../shared",
            "--skip-git-repo-check",
            "--ignore-rules",
            "--ephemeral",
            "-m",
            "gpt-5.5",
            "-s",
            "read-only",
            "-i",
            "shot.png",
            "--",
            "answer in JSON",
        ],
    );
    assert_eq!(out.status, 0, "{out}");
    assert_eq!(world.env.read("last.txt").trim(), "{\"ok\":true}");
    let shown = world.show(&CodexWorld::run_id(&out));
    let ext = external(&shown);
    assert_eq!(ext["outputSchema"], "schema.json");
    assert_eq!(ext["images"][0], "shot.png");
    assert_eq!(ext["addDirs"][0], "../shared");
    assert_eq!(ext["model"], "gpt-5.5");
    assert_eq!(ext["sandbox"], "read-only");
    for flag in [
        "--json",
        "--skip-git-repo-check",
        "--ignore-rules",
        "--ephemeral",
    ] {
        assert!(
            ext["flags"].as_array().unwrap().iter().any(|f| f == flag),
            "{flag}"
        );
    }
    let deps = deps(&shown);
    assert_eq!(
        deps["schema.json"]["annotations"]["codexattest.kind"],
        "output-schema"
    );
    assert_eq!(deps["shot.png"]["annotations"]["codexattest.kind"], "image");
    // The schema really reached the model.
    assert!(world.server.requests()[0].body["text"]["format"]["schema"]["required"][0] == "ok");
    // --ephemeral: no rollout, and the record says why it could not cross-check.
    assert!(
        internal(&shown)["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("--ephemeral"))
    );
    crate::common::assert_schema_valid("codex-run/v1/external-parameters.schema.json", ext);
}

#[test]
fn resumed_threads_are_recorded_with_the_thread() {
    let world = CodexWorld::new(vec![
        turn(vec![message("First.")]),
        turn(vec![apply_patch(
            "call_2",
            "*** Begin Patch\n*** Add File: second.txt\n+second\n*** End Patch",
        )]),
        turn(vec![message("Second.")]),
    ]);
    let first = world.wrap_exec(&[], &["--json", "-s", "workspace-write", "start"]);
    assert_eq!(first.status, 0, "{first}");
    let thread = world.show(&CodexWorld::run_id(&first))["record"]["summary"]["threadId"]
        .as_str()
        .unwrap()
        .to_string();
    let second = world.wrap_exec(
        &[],
        &[
            "--json",
            "-s",
            "workspace-write",
            "resume",
            &thread,
            "continue",
        ],
    );
    assert_eq!(second.status, 0, "{second}");
    let shown = world.show(&CodexWorld::run_id(&second));
    assert_eq!(external(&shown)["resume"], thread);
    assert_eq!(shown["record"]["summary"]["threadId"], thread);
    assert!(
        shown["record"]["replay"]["rolloutOffset"].as_u64().unwrap() > 0,
        "the rollout existed before"
    );
    // The resumed turn's patch (with -s given before `resume`) is this run's change.
    assert_eq!(subjects(&shown).keys().collect::<Vec<_>>(), ["second.txt"]);
    assert_eq!(
        subjects(&shown)["second.txt"],
        file_digest(&world.env.path("repo/second.txt"))
    );
    assert_eq!(internal(&shown)["settings"]["sandbox"], "workspace-write");
}

#[test]
fn outside_a_repository_nothing_runs() {
    let world = CodexWorld::new(vec![]);
    std::fs::create_dir_all(world.env.path("plain")).unwrap();
    let out = world.run_in(
        "plain",
        &["wrap", "--", "sh", "-c", "echo ran > ran.txt"],
        None,
    );
    assert_eq!(out.status, 2, "{out}");
    assert!(
        out.stderr.contains("is not inside a git work tree"),
        "{out}"
    );
    assert!(
        !world.env.path("plain/ran.txt").exists(),
        "the command must not have run"
    );
}

/// What a run that touches every kind of path records, with the tree watched (`watch`), with the
/// watch forced to fall back as after a queue overflow (`forced`), or with `--full-rescan`
/// (`rescan`). `primed`, `watch-many` and `rescan-many` are the same run editing 30 more files in
/// 30 directories, seen through the primed index, the index read at the start, or by a second
/// full status. `service` is the first run with a watch service (`codex-attest watch`) serving
/// the work tree, started after the tree was prepared. The changes come back with the starting
/// state's uncommitted paths.
fn changes_seen(mode: &str) -> (Value, Vec<String>, String) {
    let mut script = "mkdir -p deep/new/dir && echo nested > deep/new/dir/file.txt \
        && mv old.txt renamed.txt && rm gone.txt && echo more >> hello.txt \
        && echo again >> notes/todo.txt && echo ignored >> build/out.bin \
        && mkdir -p build/fresh && echo x > build/fresh/y && mkdir -p src/cache/tmp \
        && echo cached > src/cache/tmp/c.txt"
        .to_string();
    let many = mode == "primed" || mode.ends_with("-many");
    if many {
        script.push_str(" && for i in $(seq 1 30); do echo edited >> many/d$i/f.txt; done");
    }
    let mut world = CodexWorld::new(vec![
        turn(vec![exec_command("call_1", &script)]),
        turn(vec![message("Done.")]),
    ]);
    world.env.set_env("CODEX_ATTEST_LOG", "codex_attest=debug");
    if mode == "forced" {
        world.env.set_env("CODEX_ATTEST_TEST_FORCE_RESCAN", "1");
    }
    if mode == "primed" {
        world.env.set_env("CODEX_ATTEST_TEST_WAIT_PRIMING", "1");
    }
    if many {
        for i in 1..=30 {
            world
                .env
                .write(&format!("repo/many/d{i}/f.txt"), "committed\n");
        }
        world.env.git("repo", &["add", "many"]);
        world.env.git("repo", &["commit", "-q", "-m", "many"]);
    }
    // Before the run: a dirty file the run leaves alone, an untracked directory the run edits,
    // an ignored build directory, and an ignored directory nested in a tracked one.
    world
        .env
        .write("repo/README.md", "# demo, edited by a human\n");
    world.env.write("repo/notes/todo.txt", "untracked\n");
    world.env.write("repo/build/out.bin", "ignored output\n");
    world.env.write("repo/src/lib.rs", "tracked\n");
    world.env.write("repo/src/.gitignore", "cache/\n");
    world.env.write("repo/src/cache/old.txt", "ignored\n");
    world.env.git("repo", &["add", "src"]);
    world.env.git("repo", &["commit", "-q", "-m", "src"]);
    let extra: &[&str] = if mode.starts_with("rescan") {
        &["--full-rescan"]
    } else {
        &[]
    };
    let service = (mode == "service").then(|| start_service(&world));
    let out = world.wrap_exec(extra, &["--json", "-s", "workspace-write", "touch things"]);
    if let Some(mut service) = service {
        let stopped = world.run_in("repo", &["watch", "--stop"], None);
        assert_eq!(stopped.status, 0, "{stopped}");
        assert!(service.wait().unwrap().success());
    }
    assert_eq!(out.status, 0, "{out}");
    assert_eq!(world.env.read("repo/deep/new/dir/file.txt"), "nested\n");
    let shown = world.show(&CodexWorld::run_id(&out));
    let mut changes = internal(&shown)["outcome"]["changes"].clone();
    changes["uncommitted (test)"] = internal(&shown)["git"]["uncommitted"].clone();
    let names = subjects(&shown).keys().cloned().collect();
    (changes, names, out.stderr)
}

#[test]
fn the_watch_records_new_directories_renames_and_deletions_and_skips_ignored_paths() {
    let (watched, subjects, stderr) = changes_seen("watch");
    assert!(
        stderr.contains("change detection: watched paths only"),
        "the watch was used: {stderr}"
    );
    assert_eq!(
        subjects,
        [
            "deep/new/dir/file.txt",
            "hello.txt",
            "notes/todo.txt",
            "renamed.txt"
        ],
        "nothing under build/ or src/cache/ (ignored), README.md untouched by the run"
    );
    assert_eq!(watched["renamed"][0]["from"], "old.txt");
    assert_eq!(watched["renamed"][0]["to"], "renamed.txt");
    assert_eq!(watched["deleted"][0]["path"], "gone.txt");
    assert_eq!(watched["deleted"].as_array().unwrap().len(), 1);

    // The same run found by the fallback and by a second full status: the same changes.
    let (forced, _, stderr) = changes_seen("forced");
    assert!(
        stderr.contains("change detection: full rescan (forced"),
        "the fallback was taken: {stderr}"
    );
    assert_eq!(forced, watched);
    let (rescanned, _, stderr) = changes_seen("rescan");
    assert!(!stderr.contains("change detection: watch"), "{stderr}");
    assert_eq!(rescanned, watched);
}

/// `codex-attest watch` in `repo/`, once it answers.
fn start_service(world: &CodexWorld) -> std::process::Child {
    let mut child = world
        .env
        .command()
        .current_dir(world.env.path("repo"))
        .args(["watch"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if world.run_in("repo", &["watch", "--status"], None).status == 0 {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the watch service did not answer within 10 s");
}

#[test]
fn a_watch_service_gives_the_same_record_as_the_run_s_own_walks() {
    let (served, subjects, stderr) = changes_seen("service");
    assert!(
        stderr.contains("change detection: the watch service dirty=2"),
        "the service gave the starting state (README.md and notes/todo.txt): {stderr}"
    );
    assert!(
        stderr.contains("change detection: watched paths only"),
        "{stderr}"
    );
    assert_eq!(subjects.len(), 4, "{subjects:?}");
    let (rescanned, _, stderr) = changes_seen("rescan");
    assert!(!stderr.contains("the watch service"), "{stderr}");
    assert_eq!(served, rescanned);
    assert_eq!(
        served["uncommitted (test)"],
        serde_json::json!(["README.md", "notes/todo.txt"])
    );
}

#[test]
fn a_run_without_a_service_says_why_and_walks_the_tree() {
    let mut world = CodexWorld::new(vec![turn(vec![message("Done.")])]);
    world.env.set_env("CODEX_ATTEST_LOG", "codex_attest=debug");
    let out = world.wrap_exec(&[], &["--json", "-s", "read-only", "look"]);
    assert_eq!(out.status, 0, "{out}");
    assert!(
        out.stderr
            .contains("no watch service (no watch service serves this work tree"),
        "{out}"
    );
    assert!(out.stderr.contains("change detection: watching"), "{out}");
    // `--status` and `--stop` without a service: exit 2 and how to start one.
    for flag in ["--status", "--stop"] {
        let out = world.run_in("repo", &["watch", flag], None);
        assert_eq!(out.status, 2, "{out}");
        assert!(out.stderr.contains("codex-attest watch &"), "{out}");
    }
}

#[test]
fn many_touched_paths_are_seen_through_the_primed_index_as_by_a_full_status() {
    let (primed, subjects, stderr) = changes_seen("primed");
    assert!(
        stderr.contains("change detection: the primed index"),
        "the primed index was used: {stderr}"
    );
    assert!(!stderr.contains("not primed"), "{stderr}");
    assert_eq!(subjects.len(), 34, "{subjects:?}");
    assert!(subjects.contains(&"many/d17/f.txt".to_string()));
    let (rescanned, _, stderr) = changes_seen("rescan-many");
    assert!(!stderr.contains("change detection: watch"), "{stderr}");
    assert_eq!(primed, rescanned);
    // By default the index read at the start decides the touched files, nothing is primed,
    // and git looks at two paths: the new directory and the file in an untracked directory.
    let (indexed, _, stderr) = changes_seen("watch-many");
    assert!(
        stderr.contains("change detection: the index read at the start, ")
            && stderr.contains(", 2 left to git"),
        "the index was used: {stderr}"
    );
    assert!(
        stderr.contains("not primed (the index read at the start decides)"),
        "{stderr}"
    );
    assert_eq!(indexed, rescanned);
}

#[test]
fn without_json_events_the_thread_and_tokens_come_from_codexs_rollout() {
    let world = CodexWorld::new(vec![turn(vec![message("Nothing to do.")])]);
    let out = world.wrap_exec(&[], &["-s", "read-only", "look around"]);
    assert_eq!(out.status, 0, "{out}");
    let shown = world.show(&CodexWorld::run_id(&out));
    let outcome = &internal(&shown)["outcome"];
    let thread = outcome["threadId"]
        .as_str()
        .expect("a thread id")
        .to_string();
    assert!(thread.len() > 30, "{thread}");
    assert!(outcome["tokenUsage"]["inputTokens"].as_u64().unwrap() > 0);
    // The id is the one in the rollout Codex wrote for this thread.
    let rollouts = walk(&world.env.path("codex_home/sessions"));
    assert!(
        rollouts
            .iter()
            .any(|p| p.to_string_lossy().contains(&thread)),
        "{thread} not among {rollouts:?}"
    );
}

#[test]
fn an_unconfigured_model_is_recorded_as_codex_chose_it() {
    let world = CodexWorld::new(vec![turn(vec![message("Done.")])]);
    let config = world.env.read("codex_home/config.toml");
    let without_model: String = config
        .lines()
        .filter(|l| !l.starts_with("model = "))
        .map(|l| format!("{l}\n"))
        .collect();
    world.env.write("codex_home/config.toml", &without_model);
    let out = world.wrap_exec(&[], &["--json", "-s", "read-only", "hello"]);
    assert_eq!(out.status, 0, "{out}");
    let shown = world.show(&CodexWorld::run_id(&out));
    let model = internal(&shown)["settings"]["model"]
        .as_str()
        .expect("the model Codex used")
        .to_string();
    // The same as in Codex's rollout.
    let rollout = walk(&world.env.path("codex_home/sessions"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .expect("a rollout");
    let text = std::fs::read_to_string(rollout).unwrap();
    assert!(
        text.contains(&format!("\"model\":\"{model}\"")),
        "{model} is not the rollout's model"
    );
}

#[test]
fn a_command_that_writes_the_moment_it_starts_is_fully_seen() {
    // The watch is set up while git takes the starting snapshot, and the command starts only
    // once it is complete: a command that writes at once, all over a wide tree, is fully seen,
    // even when the set-up is held back (half a second) until well after the snapshot.
    let mut world = CodexWorld::new(vec![]);
    world.env.set_env("CODEX_ATTEST_LOG", "codex_attest=debug");
    world.env.set_env("CODEX_ATTEST_TEST_SLOW_WATCH", "1");
    let files: Vec<String> = (0..400)
        .map(|i| format!("t/d{}/e{i}/f.txt", i % 20))
        .collect();
    for f in &files {
        world.env.write(&format!("repo/{f}"), "x\n");
    }
    world.env.git("repo", &["add", "t"]);
    world.env.git("repo", &["commit", "-q", "-m", "wide"]);
    let out = world.run_in(
        "repo",
        &[
            "wrap",
            "--",
            "sh",
            "-c",
            "for f in t/*/*/f.txt; do echo y >> \"$f\"; done; echo new > t/d3/new.txt",
        ],
        None,
    );
    assert_eq!(out.status, 0, "{out}");
    assert!(
        out.stderr.contains("change detection: watched paths only"),
        "the watch was used: {out}"
    );
    let shown = world.show(&CodexWorld::run_id(&out));
    let mut expected = files.clone();
    expected.push("t/d3/new.txt".to_string());
    expected.sort();
    assert_eq!(
        subjects(&shown).keys().cloned().collect::<Vec<_>>(),
        expected
    );
}

#[test]
fn editing_a_gitignore_during_the_run_falls_back_to_a_full_status() {
    // The run un-ignores build/: what appears there is then recorded, as a full status sees it.
    let mut world = CodexWorld::new(vec![
        turn(vec![exec_command(
            "call_1",
            "echo made > build/made.txt && printf 'other/\\n' > .gitignore",
        )]),
        turn(vec![message("Done.")]),
    ]);
    world.env.set_env("CODEX_ATTEST_LOG", "codex_attest=debug");
    world.env.write("repo/build/old.bin", "ignored before\n");
    let out = world.wrap_exec(&[], &["--json", "-s", "workspace-write", "unignore"]);
    assert_eq!(out.status, 0, "{out}");
    assert!(
        out.stderr
            .contains("change detection: full rescan (a .gitignore changed)"),
        "{out}"
    );
    let shown = world.show(&CodexWorld::run_id(&out));
    assert_eq!(
        subjects(&shown).keys().collect::<Vec<_>>(),
        [".gitignore", "build/made.txt", "build/old.bin"]
    );
}
