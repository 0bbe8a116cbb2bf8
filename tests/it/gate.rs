//! The release gate: policy rules, levels, exceptions, binding to code, ranges, notes, VSAs.
//! Attestations are built through the library's own types and signed with the committed test
//! keys, so reports are byte-stable; the notes test records a real Codex run.

use codex_attest::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use codex_attest::keys::PrivateKey;
use serde_json::{Value, json};

use crate::codex_env::{CodexWorld, apply_patch, message, turn};
use crate::common::{CommandOutput, TestEnv};
use crate::fixtures::provenance_statement;

const BASE_POLICY: &str = "[signers]\nkeys = [\"keys/ed25519.pub\"]\n";

/// The fixture statement, edited, signed with the committed Ed25519 key, as one envelope line.
fn signed(env: &TestEnv, edit: impl FnOnce(&mut Value)) -> String {
    let mut statement = serde_json::to_value(provenance_statement()).unwrap();
    // The fixture sets every field; a clean run has no concurrency flag and no disagreement.
    let internal_params = internal(&mut statement).as_object_mut().unwrap();
    internal_params.remove("disagreements");
    internal_params["outcome"]
        .as_object_mut()
        .unwrap()
        .remove("possiblyConcurrent");
    edit(&mut statement);
    let key = PrivateKey::from_pem(
        std::fs::read(crate::common::repo_path("testdata/keys/ed25519.key"))
            .unwrap()
            .as_slice(),
        None,
    )
    .unwrap();
    let _ = env;
    let envelope = Envelope::sign(
        IN_TOTO_PAYLOAD_TYPE,
        serde_json::to_string(&statement).unwrap().as_bytes(),
        &[&key],
    )
    .unwrap();
    format!("{}\n", envelope.to_json_line())
}

fn internal(statement: &mut Value) -> &mut Value {
    &mut statement["predicate"]["buildDefinition"]["internalParameters"]
}

fn gate_env() -> TestEnv {
    let env = TestEnv::new();
    env.key("ed25519.pub");
    env.key("other.pub");
    env.key("ed25519.key");
    env
}

fn verify(env: &TestEnv, policy: &str, envelope: &str, extra: &[&str]) -> CommandOutput {
    env.write("policy.toml", policy);
    env.write("run.intoto.jsonl", envelope);
    let mut args = vec![
        "verify",
        "--policy",
        "policy.toml",
        "--format",
        "json",
        "run.intoto.jsonl",
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

fn codes(out: &CommandOutput, severity: &str) -> Vec<String> {
    out.json_lines()
        .into_iter()
        .filter(|r| r["type"] == "finding" && r["data"]["severity"] == severity)
        .map(|r| r["data"]["code"].as_str().unwrap().to_string())
        .collect()
}

/// A finding made a warning, in the policy's `[levels]` or with `-W`: the gate passes and reports
/// it as a warning.
fn assert_can_be_warned(env: &TestEnv, policy: &str, envelope: &str, code: &str) {
    let in_policy = format!("{policy}[levels]\n{code} = \"warn\"\n");
    for (policy, extra) in [(in_policy.as_str(), &[][..]), (policy, &["-W", code][..])] {
        let warned = verify(env, policy, envelope, extra);
        assert_eq!(warned.status, 0, "{warned}");
        assert_eq!(codes(&warned, "warning"), [code]);
    }
}

/// Each rule, once satisfied and once broken: (policy lines, edit that breaks it, code).
#[test]
fn every_rule_passes_and_fails() {
    type Edit = fn(&mut Value);
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "[run]\nmodels = [\"gpt-5.5\"]\n",
            |s| internal(s)["settings"]["model"] = json!("gpt-4o"),
            "model-not-allowed",
        ),
        (
            "[run]\ncodex-versions = \">=0.169, <1.0\"\n",
            |s| internal(s)["codex"]["version"] = json!("0.168.2"),
            "codex-version-not-allowed",
        ),
        (
            "[run]\nsandbox = [\"read-only\", \"workspace-write\"]\n",
            |s| internal(s)["settings"]["sandbox"] = json!("danger-full-access"),
            "sandbox-not-allowed",
        ),
        (
            "[run]\napproval = [\"never\"]\n",
            |s| internal(s)["settings"]["approvalPolicy"] = json!("on-request"),
            "approval-not-allowed",
        ),
        (
            "[run]\nrequire-success = true\n",
            |s| internal(s)["outcome"]["status"] = json!("failed"),
            "run-not-successful",
        ),
        (
            "[run]\nmax-age = \"30d\"\n",
            |s| {
                s["predicate"]["runDetails"]["metadata"]["finishedOn"] =
                    json!("2000-11-01T00:00:00Z")
            },
            "attestation-too-old",
        ),
        (
            "[run]\ncapture = [\"codex-exec\"]\n",
            |s| internal(s)["capture"] = json!("generic"),
            "capture-not-allowed",
        ),
        (
            "[run]\nroles = [\"fixer\"]\n",
            |s| s["predicate"]["buildDefinition"]["externalParameters"]["role"] = json!("reviewer"),
            "role-not-allowed",
        ),
        (
            "[inputs]\n\"AGENTS.md\" = [\"sha256:d1a1b25eef4f6ee5d1cbf4a07195ae339d4a0fa9a6e70f00f8d31d5c4c6a1f62\"]\n",
            |_| {},
            "input-not-approved",
        ),
        (
            "[changes]\ndeny-paths = [\".github/**\"]\n",
            |s| {
                s["subject"][0]["name"] = json!(".github/workflows/ci.yml");
                internal(s)["outcome"]["changes"]["modified"][0]["path"] =
                    json!(".github/workflows/ci.yml");
            },
            "path-denied",
        ),
        (
            "[changes]\nallow-paths = [\"src/**\", \"*.rs\", \"old.txt\"]\n",
            |s| {
                s["subject"][0]["name"] = json!("docs/x.md");
                internal(s)["outcome"]["changes"]["modified"][0]["path"] = json!("docs/x.md");
            },
            "path-not-allowed",
        ),
        (
            "[changes]\nmax-files = 4\n",
            |s| {
                internal(s)["outcome"]["changes"]["deleted"].as_array_mut().unwrap().push(json!({"path": "x", "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "gitBlob": "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"}))
            },
            "too-many-files",
        ),
        (
            "[roles.fixer]\nsandbox = [\"workspace-write\"]\n",
            |s| internal(s)["settings"]["sandbox"] = json!("read-only"),
            "sandbox-not-allowed",
        ),
    ];
    for (rules, break_it, code) in cases {
        let env = gate_env();
        let mut policy = format!("{BASE_POLICY}{rules}");
        if code == "input-not-approved" {
            // The approved digest is the fixture's AGENTS.md: computed, not written by hand.
            let agents = codex_attest::digest::sha256(b"Be careful.\n");
            policy = format!("{BASE_POLICY}[inputs]\n\"AGENTS.md\" = [\"sha256:{agents}\"]\n");
            let ok = verify(&env, &policy, &signed(&env, |_| {}), &[]);
            assert_eq!(ok.status, 0, "{code} should pass:\n{ok}");
            let bad = verify(
                &env,
                &policy,
                &signed(&env, |s| {
                    s["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]["sha256"] =
                        json!("d1a1b25eef4f6ee5d1cbf4a07195ae339d4a0fa9a6e70f00f8d31d5c4c6a1f62");
                }),
                &[],
            );
            assert_eq!(bad.status, 1, "{code} should fail:\n{bad}");
            assert_eq!(codes(&bad, "error"), [code]);
            continue;
        }
        let ok = verify(&env, &policy, &signed(&env, |_| {}), &[]);
        assert_eq!(ok.status, 0, "{code} should pass:\n{ok}");
        assert!(codes(&ok, "error").is_empty(), "{code}: {ok}");
        let bad = verify(&env, &policy, &signed(&env, break_it), &[]);
        assert_eq!(bad.status, 1, "{code} should fail:\n{bad}");
        assert_eq!(codes(&bad, "error"), [code], "{bad}");
        // The finding points at the rule's line in the policy.
        let finding = bad
            .json_lines()
            .into_iter()
            .find(|r| r["type"] == "finding")
            .unwrap();
        let line = finding["data"]["rule"]["line"].as_u64().unwrap() as usize;
        let policy_line = policy.lines().nth(line - 1).unwrap();
        assert!(
            policy.lines().skip(2).any(|l| l == policy_line),
            "{code} points at {policy_line:?}"
        );
    }
}

#[test]
fn levels_overrides_and_exceptions() {
    let env = gate_env();
    let denied = signed(&env, |s| {
        s["subject"][0]["name"] = json!(".github/workflows/release.yml");
        internal(s)["outcome"]["changes"]["modified"][0]["path"] =
            json!(".github/workflows/release.yml");
    });
    let policy = format!("{BASE_POLICY}[changes]\ndeny-paths = [\".github/**\"]\n");
    assert_eq!(verify(&env, &policy, &denied, &[]).status, 1);
    assert_can_be_warned(&env, &policy, &denied, "path-denied");
    // An exception turns the finding into a note that explains why it passed.
    let excused = verify(
        &env,
        &format!(
            "{policy}[[exceptions]]\nrule = \"path-denied\"\npaths = [\".github/workflows/release.yml\"]\nreason = \"owned by the release agent (#123)\"\n[[exceptions]]\nrule = \"model-not-allowed\"\nreason = \"stale\"\n"
        ),
        &denied,
        &[],
    );
    assert_eq!(excused.status, 0, "{excused}");
    assert_eq!(codes(&excused, "note"), ["path-denied"]);
    assert_eq!(codes(&excused, "warning"), ["unused-exception"]);
    let note = excused
        .json_lines()
        .into_iter()
        .find(|r| r["data"]["severity"] == "note")
        .unwrap();
    assert_eq!(
        note["data"]["excusedBy"],
        "owned by the release agent (#123)"
    );
    // -D makes a warning rule deny.
    let out = verify(
        &env,
        &format!("{BASE_POLICY}[[exceptions]]\nrule = \"path-denied\"\nreason = \"unused\"\n"),
        &signed(&env, |_| {}),
        &["-D", "unused-exception"],
    );
    assert_eq!(out.status, 1, "{out}");
    let out = verify(
        &env,
        BASE_POLICY,
        &signed(&env, |_| {}),
        &["-W", "no-such-rule"],
    );
    assert_eq!(out.status, 2);
    assert!(
        out.stderr.contains("unknown rule \"no-such-rule\""),
        "{out}"
    );
}

#[test]
fn concurrency_and_disagreements_warn_by_default() {
    let env = gate_env();
    let out = verify(
        &env,
        BASE_POLICY,
        &signed(&env, |s| {
            internal(s)["outcome"]["possiblyConcurrent"] = json!(true);
            internal(s)["disagreements"] =
                json!([{"field": "model", "resolved": "gpt-5.5", "recorded": "gpt-5.5-mini"}]);
        }),
        &[],
    );
    assert_eq!(out.status, 0, "{out}");
    assert_eq!(
        codes(&out, "warning"),
        ["codex-record-disagrees", "possibly-concurrent"]
    );
    let out = verify(
        &env,
        &format!("{BASE_POLICY}[levels]\npossibly-concurrent = \"deny\"\n"),
        &signed(&env, |s| {
            internal(s)["outcome"]["possiblyConcurrent"] = json!(true);
        }),
        &[],
    );
    assert_eq!(out.status, 1, "{out}");
}

#[test]
fn untrusted_keys_and_empty_key_lists_fail_closed() {
    let env = gate_env();
    let out = verify(
        &env,
        "[signers]\nkeys = [\"keys/other.pub\"]\n",
        &signed(&env, |_| {}),
        &[],
    );
    assert_eq!(
        out.status, 1,
        "signed by a key the policy does not trust:\n{out}"
    );
    let out = verify(&env, "[signers]\nkeys = []\n", &signed(&env, |_| {}), &[]);
    assert_eq!(out.status, 2, "{out}");
    assert!(
        out.stderr.contains("policy.toml:2:8"),
        "the problem points at the line:\n{out}"
    );
    assert!(out.stderr.contains("signers.keys is empty"), "{out}");
    let out = verify(
        &env,
        "[run]\nmodels = [\"x\"]\n",
        &signed(&env, |_| {}),
        &[],
    );
    assert_eq!(out.status, 2, "no [signers] at all:\n{out}");
    // Nothing to check is a failure, never a vacuous pass.
    std::fs::create_dir_all(env.path("empty")).unwrap();
    env.write("policy.toml", BASE_POLICY);
    let out = env.run(&[
        "verify",
        "--policy",
        "policy.toml",
        "--attestations",
        "empty",
    ]);
    assert_eq!(out.status, 1, "{out}");
    assert!(out.stdout.contains("error[no-attestations]"), "{out}");
}

#[test]
fn attestations_found_in_a_directory_are_judged_by_the_policy() {
    // The CI gate of `init --workflow` passes its artifacts with --attestations: a run there
    // that breaks the policy fails the gate, with or without --worktree.
    let env = gate_env();
    let policy = format!("{BASE_POLICY}[run]\nmodels = [\"gpt-5.5\"]\n");
    env.write("policy.toml", &policy);
    env.write("ok/run.intoto.jsonl", signed(&env, |_| {}));
    let args = |dir: &'static str| {
        [
            "verify",
            "--policy",
            "policy.toml",
            "--attestations",
            dir,
            "--format",
            "json",
        ]
    };
    let out = env.run(&args("ok"));
    assert_eq!(out.status, 0, "{out}");
    env.write(
        "bad/run.intoto.jsonl",
        signed(&env, |s| {
            internal(s)["settings"]["model"] = json!("gpt-4o");
        }),
    );
    let out = env.run(&args("bad"));
    assert_eq!(out.status, 1, "{out}");
    assert_eq!(codes(&out, "error"), ["model-not-allowed"]);
}

#[test]
fn a_run_that_covers_a_range_is_judged_even_without_a_run_id() {
    // Coverage found the covering attestation by its subjects, not by its run id: one without
    // an invocation id is still checked against the policy.
    let env = gate_env();
    let base = committed_repo(&env, &[("README.md", "readme\n")]);
    for path in ["src/main.rs", "src/new.rs", "b.rs"] {
        env.write(&format!("repo/{path}"), "fn main() {}\n");
    }
    env.git("repo", &["add", "-A"]);
    env.git("repo", &["commit", "-q", "-m", "agent"]);
    env.write(
        "attestations/run.intoto.jsonl",
        signed(&env, |s| {
            let metadata = s["predicate"]["runDetails"]["metadata"]
                .as_object_mut()
                .unwrap();
            metadata.remove("invocationId");
            internal(s)["settings"]["model"] = json!("gpt-4o");
        }),
    );
    env.write(
        "policy.toml",
        format!("{BASE_POLICY}[run]\nmodels = [\"gpt-5.5\"]\n"),
    );
    let range = format!("{base}..HEAD");
    let out = run_in(
        &env,
        "repo",
        &[
            "verify",
            "--policy",
            "../policy.toml",
            "--attestations",
            "../attestations",
            "--range",
            range.as_str(),
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status, 1, "{out}");
    assert!(
        codes(&out, "error").contains(&"model-not-allowed".to_string()),
        "{out}"
    );
}

#[test]
fn policy_errors_name_every_problem_and_line() {
    let env = gate_env();
    let out = verify(
        &env,
        "[signers]\nkeys = [\"keys/ed25519.pub\"]\n[run]\nmodels = \"gpt-5.5\"\n",
        &signed(&env, |_| {}),
        &[],
    );
    assert_eq!(out.status, 2);
    insta::assert_snapshot!("policy_error", out.stderr);
}

/// A repository `repo/` with `files` committed on `main`; returns the commit.
fn committed_repo(env: &TestEnv, files: &[(&str, &str)]) -> String {
    std::fs::create_dir_all(env.path("repo")).unwrap();
    env.git("repo", &["init", "-q", "-b", "main"]);
    for (path, content) in files {
        env.write(&format!("repo/{path}"), content);
    }
    env.git("repo", &["add", "-A"]);
    env.git("repo", &["commit", "-q", "-m", "base"]);
    env.git("repo", &["rev-parse", "HEAD"]).trim().to_string()
}

fn bound_repo(env: &TestEnv) -> String {
    // A repository holding exactly what the fixture run produced.
    std::fs::create_dir_all(env.path("repo")).unwrap();
    env.git("repo", &["init", "-q", "-b", "main"]);
    for path in ["src/main.rs", "src/new.rs", "b.rs"] {
        env.write(&format!("repo/{path}"), "fn main() {}\n");
    }
    env.write("repo/README.md", "readme\n");
    env.git("repo", &["add", "-A"]);
    env.git("repo", &["commit", "-q", "-m", "agent work"]);
    signed(env, |_| {})
}

fn run_in(env: &TestEnv, dir: &str, args: &[&str]) -> CommandOutput {
    let mut cmd = env.command();
    cmd.current_dir(env.path(dir)).args(args);
    CommandOutput::from(cmd.output().unwrap())
}

#[test]
fn worktree_and_commit_binding_report_files_changed_after_the_run() {
    let env = gate_env();
    let envelope = bound_repo(&env);
    env.write("run.intoto.jsonl", &envelope);
    let args = [
        "verify",
        "--key",
        "../keys/ed25519.pub",
        "--format",
        "json",
        "--worktree",
        "../run.intoto.jsonl",
    ];
    let out = run_in(&env, "repo", &args);
    assert_eq!(out.status, 0, "{out}");
    let covered = out
        .json_lines()
        .into_iter()
        .filter(|r| r["type"] == "coverage" && r["data"]["status"] == "covered")
        .count();
    assert_eq!(covered, 5, "3 produced, 2 deleted, all as attested:\n{out}");
    // A human edits a file the agent produced, and deletes another.
    env.write("repo/src/main.rs", "fn main() { println!(\"edited\"); }\n");
    std::fs::remove_file(env.path("repo/src/new.rs")).unwrap();
    let out = run_in(&env, "repo", &args);
    assert_eq!(out.status, 1, "{out}");
    let mut found = codes(&out, "error");
    found.sort();
    assert_eq!(found, ["changed-after-run", "subject-missing"]);
    // Each finding names the attestation that claimed the file, and its run.
    for finding in out.json_lines().iter().filter(|r| r["type"] == "finding") {
        assert_eq!(
            finding["data"]["attestation"], "../run.intoto.jsonl:1",
            "{finding}"
        );
        assert_eq!(finding["data"]["run"], "run-1", "{finding}");
    }
    let human = run_in(
        &env,
        "repo",
        &[
            "verify",
            "--key",
            "../keys/ed25519.pub",
            "--worktree",
            "../run.intoto.jsonl",
        ],
    );
    insta::assert_snapshot!("bind_human", human.stdout);
    // So an exception can name the run.
    env.write(
        "policy.toml",
        "[signers]\nkeys = [\"keys/ed25519.pub\"]\n[[exceptions]]\nrule = \"changed-after-run\"\nruns = [\"run-1\"]\nreason = \"hotfix on top of run-1 (#9)\"\n",
    );
    let excused = run_in(
        &env,
        "repo",
        &[
            "verify",
            "--policy",
            "../policy.toml",
            "--format",
            "json",
            "--worktree",
            "../run.intoto.jsonl",
        ],
    );
    assert_eq!(excused.status, 1, "subject-missing still denies: {excused}");
    assert_eq!(codes(&excused, "note"), ["changed-after-run"]);
    assert_eq!(codes(&excused, "error"), ["subject-missing"]);
    // --at checks a commit instead: HEAD still has the attested content.
    let at = run_in(
        &env,
        "repo",
        &[
            "verify",
            "--key",
            "../keys/ed25519.pub",
            "--at",
            "HEAD",
            "../run.intoto.jsonl",
        ],
    );
    assert_eq!(at.status, 0, "{at}");
    env.git("repo", &["commit", "-q", "-am", "human edit"]);
    let at = run_in(
        &env,
        "repo",
        &[
            "verify",
            "--key",
            "../keys/ed25519.pub",
            "--at",
            "HEAD",
            "../run.intoto.jsonl",
        ],
    );
    assert_eq!(at.status, 1, "{at}");
    assert!(
        at.stdout
            .contains("src/main.rs was changed after run run-1"),
        "{at}"
    );
}

#[test]
fn ranges_name_uncovered_files_and_commits() {
    let env = gate_env();
    let todo = "fn main() { todo!() }\n";
    let base = committed_repo(
        &env,
        &[
            ("README.md", "readme\n"),
            ("old.txt", todo),
            ("a.rs", todo),
            ("src/main.rs", todo),
        ],
    );
    // The agent's changes, committed as the fixture run describes them.
    for path in ["src/main.rs", "src/new.rs", "b.rs"] {
        env.write(&format!("repo/{path}"), "fn main() {}\n");
    }
    std::fs::remove_file(env.path("repo/old.txt")).unwrap();
    std::fs::remove_file(env.path("repo/a.rs")).unwrap();
    env.git("repo", &["add", "-A"]);
    env.git("repo", &["commit", "-q", "-m", "agent"]);
    env.write("attestations/run.intoto.jsonl", signed(&env, |_| {}));
    let range = format!("{base}..HEAD");
    let args = [
        "verify",
        "--key",
        "../keys/ed25519.pub",
        "--attestations",
        "../attestations",
        "--range",
        range.as_str(),
        "--format",
        "json",
    ];
    let out = run_in(&env, "repo", &args);
    assert_eq!(out.status, 0, "{out}");
    // A human commit on top is not covered, and is named.
    env.write("repo/README.md", "readme, edited by hand\n");
    env.git("repo", &["commit", "-q", "-am", "human"]);
    let human = env.git("repo", &["rev-parse", "HEAD"]).trim().to_string();
    let out = run_in(&env, "repo", &args);
    assert_eq!(out.status, 1, "{out}");
    assert_eq!(codes(&out, "error"), ["uncovered-change"]);
    let uncovered: Vec<Value> = out
        .json_lines()
        .into_iter()
        .filter(|r| r["type"] == "coverage" && r["data"]["status"] == "uncovered")
        .collect();
    assert_eq!(uncovered.len(), 1);
    assert_eq!(uncovered[0]["data"]["path"], "README.md");
    assert_eq!(uncovered[0]["data"]["commits"][0], human);
    let human_out = run_in(
        &env,
        "repo",
        &[
            "verify",
            "--key",
            "../keys/ed25519.pub",
            "--attestations",
            "../attestations",
            "--range",
            range.as_str(),
        ],
    );
    insta::assert_snapshot!(
        "range_human",
        human_out.stdout.replace(&human[..12], "HUMANCOMMIT0")
    );
}

#[test]
fn reports_are_stable() {
    let env = gate_env();
    let policy = format!(
        "{BASE_POLICY}[run]\nmodels = [\"gpt-5.5\"]\nrequire-success = true\n[changes]\ndeny-paths = [\".github/**\"]\n"
    );
    let envelope = signed(&env, |s| {
        internal(s)["settings"]["model"] = json!("gpt-4o");
        internal(s)["outcome"]["status"] = json!("failed");
    });
    let json = verify(&env, &policy, &envelope, &[]);
    insta::assert_snapshot!("gate_json", json);
    for line in json.json_lines() {
        crate::common::assert_schema_valid("verify-report.v1.schema.json", &line);
    }
    env.write("run.intoto.jsonl", &envelope);
    let human = env.run(&["verify", "--policy", "policy.toml", "run.intoto.jsonl"]);
    insta::assert_snapshot!("gate_human", human);
}

#[test]
fn the_decision_can_be_signed_as_a_vsa() {
    let env = gate_env();
    let envelope = signed(&env, |_| {});
    let out = verify(
        &env,
        BASE_POLICY,
        &envelope,
        &["--vsa", "vsa.intoto.jsonl", "--vsa-key", "keys/ed25519.key"],
    );
    assert_eq!(out.status, 0, "{out}");
    let checked = env
        .run(&[
            "verify",
            "--key",
            "keys/ed25519.pub",
            "--format",
            "json",
            "vsa.intoto.jsonl",
        ])
        .success();
    assert_eq!(
        checked.json_lines()[0]["data"]["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    let line: Value = serde_json::from_str(env.read("vsa.intoto.jsonl").trim()).unwrap();
    let payload = codex_attest::dsse::decode_base64(line["payload"].as_str().unwrap()).unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement["predicate"]["verificationResult"], "PASSED");
    assert_eq!(
        statement["predicate"]["policy"]["digest"]["sha256"],
        codex_attest::digest::sha256(env.read("policy.toml").as_bytes()).to_string()
    );
    assert_eq!(statement["subject"].as_array().unwrap().len(), 3);
    // The attestation it judged, named with the digest of its line.
    let inputs = statement["predicate"]["inputAttestations"]
        .as_array()
        .unwrap();
    assert_eq!(inputs.len(), 1, "{statement}");
    assert_eq!(inputs[0]["uri"], "run.intoto.jsonl:1");
    assert_eq!(
        inputs[0]["digest"]["sha256"],
        codex_attest::digest::sha256(envelope.trim_end().as_bytes()).to_string()
    );
}

#[test]
fn init_writes_a_policy_template_once() {
    let env = gate_env();
    env.run(&["init", "--policy", "release/policy.toml"])
        .success();
    assert!(env.read("release/policy.toml").contains("[signers]"));
    env.write("release/policy.toml", "# mine\n");
    let again = env
        .run(&["init", "--policy", "release/policy.toml"])
        .success();
    assert!(again.stderr.contains("kept existing"), "{again}");
    assert_eq!(env.read("release/policy.toml"), "# mine\n");
}

/// Push notes from one clone, verify the range from another, through a bare remote on disk.
#[test]
fn notes_travel_through_a_remote_and_gate_a_range() {
    let world = CodexWorld::new(vec![
        turn(vec![apply_patch(
            "call_1",
            "*** Begin Patch\n*** Add File: feature.txt\n+agent feature\n*** End Patch",
        )]),
        turn(vec![message("Added.")]),
    ]);
    let key = world.env.outside_key("ed25519.key");
    world.env.key("ed25519.pub");
    world
        .env
        .git(".", &["init", "-q", "--bare", "-b", "main", "remote.git"]);
    world
        .env
        .git("repo", &["remote", "add", "origin", "../remote.git"]);
    world.env.git("repo", &["push", "-q", "origin", "main"]);
    let base = world
        .env
        .git("repo", &["rev-parse", "HEAD"])
        .trim()
        .to_string();
    let out = world.wrap_exec(
        &["--key", &key],
        &["--json", "-s", "workspace-write", "add a feature"],
    );
    assert_eq!(out.status, 0, "{out}");
    world.env.git("repo", &["add", "-A"]);
    world
        .env
        .git("repo", &["commit", "-q", "-m", "feature by the agent"]);
    world.env.git("repo", &["push", "-q", "origin", "main"]);
    let pushed = world.run_in("repo", &["notes", "push", "origin"], None);
    assert_eq!(pushed.status, 0, "{pushed}");

    // A second clone: no local store, only what the remote carries.
    world.env.git(".", &["clone", "-q", "remote.git", "clone"]);
    let fetched = world.run_in("clone", &["notes", "fetch", "origin"], None);
    assert_eq!(fetched.status, 0, "{fetched}");
    world.env.write("policy.toml", "[signers]\nkeys = [\"keys/ed25519.pub\"]\n[run]\nmodels = [\"gpt-5.5\"]\nsandbox = [\"workspace-write\"]\nrequire-success = true\n[changes]\ndeny-paths = [\".github/**\"]\n");
    let range = format!("{base}..HEAD");
    let gate = world.run_in(
        "clone",
        &[
            "verify",
            "--policy",
            "../policy.toml",
            "--range",
            &range,
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(gate.status, 0, "{gate}");
    let covered: Vec<Value> = gate
        .json_lines()
        .into_iter()
        .filter(|r| r["type"] == "coverage")
        .collect();
    assert_eq!(covered.len(), 1);
    assert_eq!(covered[0]["data"]["path"], "feature.txt");
    assert_eq!(covered[0]["data"]["status"], "covered");
    // Pushing again, or from the second clone, duplicates nothing.
    assert_eq!(
        world
            .run_in("repo", &["notes", "push", "origin"], None)
            .status,
        0
    );
    let shown = world
        .run_in("clone", &["notes", "show", &base], None)
        .success();
    assert_eq!(shown.stdout.lines().count(), 1, "{shown}");
    // A human edit pushed later is caught in the second clone.
    world.env.write("repo/feature.txt", "edited by hand\n");
    world.env.git("repo", &["commit", "-q", "-am", "hand edit"]);
    world.env.git("repo", &["push", "-q", "origin", "main"]);
    world.env.git("clone", &["pull", "-q", "origin", "main"]);
    let gate = world.run_in(
        "clone",
        &["verify", "--policy", "../policy.toml", "--range", &range],
        None,
    );
    assert_eq!(gate.status, 1, "{gate}");
    assert!(
        gate.stdout
            .contains("error[uncovered-change]: feature.txt changed in"),
        "{gate}"
    );
}

#[test]
fn policies_can_require_runs_to_match_the_lock() {
    let env = gate_env();
    let agents = codex_attest::digest::sha256(b"Be careful.\n");
    env.write(
        "codex-attest.lock",
        format!("version = 1\ncodex-version = \"0.169.0\"\nmodel = \"gpt-5.5\"\nsandbox = \"workspace-write\"\napproval = \"never\"\n\n[[input]]\nname = \"AGENTS.md\"\nkind = \"agents-md\"\nsha256 = \"{agents}\"\n"),
    );
    let policy = format!("{BASE_POLICY}[run]\nlock = \"codex-attest.lock\"\n");
    let ok = verify(&env, &policy, &signed(&env, |_| {}), &[]);
    assert_eq!(ok.status, 0, "{ok}");
    let bad = verify(
        &env,
        &policy,
        &signed(&env, |s| {
            internal(s)["settings"]["model"] = json!("gpt-4o");
            s["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]["sha256"] =
                json!("d1a1b25eef4f6ee5d1cbf4a07195ae339d4a0fa9a6e70f00f8d31d5c4c6a1f62");
        }),
        &[],
    );
    assert_eq!(bad.status, 1, "{bad}");
    assert_eq!(codes(&bad, "error"), ["lock-mismatch", "lock-mismatch"]);
    assert!(
        bad.stdout.contains("model: locked gpt-5.5, ran gpt-4o"),
        "{bad}"
    );
    // Like every rule, it can be made a warning, in the policy or on the command line, or excused.
    let drifted = signed(&env, |s| {
        internal(s)["settings"]["model"] = json!("gpt-4o");
    });
    assert_can_be_warned(&env, &policy, &drifted, "lock-mismatch");
    let excused = verify(
        &env,
        &format!(
            "{policy}[[exceptions]]\nrule = \"lock-mismatch\"\nruns = [\"run-1\"]\nreason = \"model upgrade trial (#7)\"\n"
        ),
        &drifted,
        &[],
    );
    assert_eq!(excused.status, 0, "{excused}");
    assert_eq!(codes(&excused, "note"), ["lock-mismatch"]);
    // A lock that is not there is a policy error pointing at the line.
    let missing = verify(
        &env,
        &format!("{BASE_POLICY}[run]\nlock = \"nope.lock\"\n"),
        &signed(&env, |_| {}),
        &[],
    );
    assert_eq!(missing.status, 2, "{missing}");
    assert!(missing.stderr.contains("policy.toml:4:8"), "{missing}");
}

/// Every code the gate reports through its levels and exceptions is a rule a policy can name, and
/// docs/policy.md lists every rule with its default, and every other finding code as fixed.
#[test]
fn every_rule_the_gate_reports_can_be_leveled_and_is_documented() {
    use codex_attest::policy::{Level, RULES};
    let rules: Vec<(String, &str)> = RULES
        .iter()
        .map(|(code, level, _)| {
            let level = match level {
                Level::Deny => "deny",
                Level::Warn => "warn",
            };
            (code.to_string(), level)
        })
        .collect();
    let is_rule = |code: &str| rules.iter().any(|(c, _)| c == code);
    // Codes passed to `Gate::push` (which applies levels and exceptions), and findings built
    // directly, with a fixed level.
    let pushed = regex::Regex::new(r#"push\(\s*(?:&mut findings|out),\s*"([a-z-]+)""#).unwrap();
    let fixed = regex::Regex::new(r#"code: "([a-z-]+)""#).unwrap();
    let mut pushed_codes = std::collections::BTreeSet::new();
    let mut fixed_codes = std::collections::BTreeSet::new();
    for file in ["src/gate.rs", "src/cli/verify.rs"] {
        let source = std::fs::read_to_string(crate::common::repo_path(file)).unwrap();
        pushed_codes.extend(pushed.captures_iter(&source).map(|c| c[1].to_string()));
        fixed_codes.extend(fixed.captures_iter(&source).map(|c| c[1].to_string()));
    }
    for code in &pushed_codes {
        assert!(
            is_rule(code),
            "{code} is reported as a rule but is not in RULES"
        );
    }
    for (code, _) in &rules {
        assert!(pushed_codes.contains(code), "rule {code} is never reported");
    }
    let docs = std::fs::read_to_string(crate::common::repo_path("docs/policy.md")).unwrap();
    let table = docs.split("## Rules").nth(1).unwrap();
    let documented: Vec<(String, &str)> = table
        .split("\n\n")
        .nth(1)
        .unwrap()
        .lines()
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2])
        })
        .collect();
    assert_eq!(documented, rules, "docs/policy.md's rules table");
    assert_eq!(
        fixed_codes.iter().collect::<Vec<_>>(),
        [
            "ignored-attestation",
            "no-attestations",
            "unknown-build-type",
            "unsafe-path"
        ]
    );
    for code in &fixed_codes {
        assert!(!is_rule(code), "{code}");
        assert!(
            table.contains(&format!("| `{code}` |")),
            "docs/policy.md does not say why {code} cannot be downgraded"
        );
    }
}
