//! Sigstore: key-signed bundles checked by the npm `@sigstore/verify` library, export/import,
//! and keyless signing end to end against a local Fulcio, Rekor and OIDC issuer
//! (`tests/sigstore/mock-sigstore.mjs`, `@sigstore/mock` served on loopback).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::codex_env::{CodexWorld, exec_command, message, turn};
use crate::common::{CommandOutput, TestEnv, repo_path};
use crate::fixtures::SIMPLE_STATEMENT;

const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn test_deps() -> PathBuf {
    match std::env::var_os("CODEX_ATTEST_TEST_DEPS") {
        Some(dir) => PathBuf::from(dir),
        None => repo_path("target/test-deps"),
    }
}

/// Runs one of the Node scripts in `tests/sigstore/`.
fn node(script: &str, args: &[&str], cwd: &Path) -> CommandOutput {
    let deps = test_deps();
    assert!(
        deps.join("node_modules/@sigstore/verify").exists(),
        "@sigstore/verify is missing under {}: run `scripts/test-deps` first",
        deps.display()
    );
    let output = Command::new("node")
        .arg(repo_path(&format!("tests/sigstore/{script}")))
        .args(args)
        .env("CODEX_ATTEST_TEST_DEPS", &deps)
        .current_dir(cwd)
        .output()
        .unwrap();
    CommandOutput::from(output)
}

/// `verify-bundle.mjs`: its one JSON line, and whether it verified.
fn sigstore_js_verify(args: &[&str], cwd: &Path) -> Value {
    let out = node("verify-bundle.mjs", args, cwd);
    let line = out.stdout.lines().last().unwrap_or_default().to_string();
    let value: Value = serde_json::from_str(&line)
        .unwrap_or_else(|_| panic!("no JSON from verify-bundle:\n{out}"));
    assert_eq!(value["ok"] == true, out.status == 0, "{out}");
    value
}

/// The local Sigstore stack; killed (by its pid) when dropped.
struct Mock {
    child: Child,
    ready: Value,
    dir: tempfile::TempDir,
}

impl Mock {
    fn start() -> Mock {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut child = Command::new("node")
            .arg(repo_path("tests/sigstore/mock-sigstore.mjs"))
            .args(["--port", "0", "--lifetime", "300", "--out"])
            .arg(&state)
            .env("CODEX_ATTEST_TEST_DEPS", test_deps())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("mock-sigstore did not start: {line:?}"));
        Mock { child, ready, dir }
    }

    fn url(&self, key: &str) -> String {
        self.ready[key].as_str().unwrap().to_string()
    }

    fn variant(&self, key: &str) -> String {
        self.ready["variants"][key].as_str().unwrap().to_string()
    }

    fn trusted_root(&self) -> String {
        self.url("trustedRoot")
    }

    fn token(&self, subject: &str, issuer: &str) -> String {
        let state = self.dir.path().join("state");
        let out = node(
            "mock-sigstore.mjs",
            &[
                "token",
                "--out",
                state.to_str().unwrap(),
                "--subject",
                subject,
                "--issuer",
                issuer,
            ],
            self.dir.path(),
        );
        assert_eq!(out.status, 0, "{out}");
        out.stdout.trim().to_string()
    }

    /// `--fulcio-url`, `--rekor-url` flags for the normal endpoints.
    fn sign_flags(&self) -> Vec<String> {
        vec![
            "--fulcio-url".to_string(),
            self.url("fulcioURL"),
            "--rekor-url".to_string(),
            self.url("rekorURL"),
        ]
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keyless_sign(env: &TestEnv, fulcio: &str, rekor: &str, out: &str) -> CommandOutput {
    env.run(&[
        "sign",
        "--keyless",
        "--fulcio-url",
        fulcio,
        "--rekor-url",
        rekor,
        "--output",
        out,
        "st.json",
    ])
}

/// Our verify, JSON: the envelope record and the exit status.
fn verify_keyless(
    env: &TestEnv,
    root: &str,
    identity: &str,
    issuer: &str,
    file: &str,
) -> (i32, Value) {
    let out = env.run(&[
        "verify",
        "--trusted-root",
        root,
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
        "--format",
        "json",
        file,
    ]);
    for line in out.json_lines() {
        crate::common::assert_schema_valid("verify-report.v1.schema.json", &line);
    }
    let record = out.json_lines()[0]["data"].clone();
    (out.status, record)
}

#[test]
fn key_signed_bundles_verify_with_sigstore_js_and_round_trip() {
    let env = TestEnv::new();
    env.write("st.json", SIMPLE_STATEMENT);
    for alg in ["ed25519", "ecdsa-p256"] {
        env.key(&format!("{alg}.key"));
        let public = env.key(&format!("{alg}.pub"));
        let envelope_file = format!("{alg}.intoto.jsonl");
        let bundle_file = format!("{alg}.sigstore.json");
        env.run(&[
            "sign",
            "--key",
            &format!("keys/{alg}.key"),
            "-o",
            &envelope_file,
            "st.json",
        ])
        .success();
        env.run(&[
            "export",
            &envelope_file,
            "--format",
            "sigstore-bundle",
            "-o",
            &bundle_file,
        ])
        .success();
        let bundle: Value = serde_json::from_str(&env.read(&bundle_file)).unwrap();
        let keyid = &bundle["dsseEnvelope"]["signatures"][0]["keyid"];
        assert_eq!(bundle["verificationMaterial"]["publicKey"]["hint"], *keyid);
        assert_eq!(
            bundle["verificationMaterial"]["tlogEntries"],
            serde_json::json!([])
        );
        let js = sigstore_js_verify(
            &[
                "--bundle",
                &bundle_file,
                "--key",
                &public,
                "--require-keyid-hint-match",
            ],
            env.root(),
        );
        assert_eq!(js["ok"], true, "{alg}: {js}");
        assert_eq!(js["keyidMatchesHint"], true, "{alg}: {js}");
        // Another key: rejected by them and by us.
        let other = env.key("other.pub");
        let js = sigstore_js_verify(&["--bundle", &bundle_file, "--key", &other], env.root());
        assert_eq!(js["ok"], false, "{js}");
        env.run(&["verify", "--key", &public, &bundle_file])
            .success();
        let denied = env
            .run(&["verify", "--key", &other, "--format", "json", &bundle_file])
            .code(1);
        assert_eq!(
            denied.json_lines()[0]["data"]["code"],
            "untrusted-signature"
        );
        // import gives back the exact envelope line.
        let imported = env.run(&["import", &bundle_file]).success();
        assert_eq!(imported.stdout, env.read(&envelope_file), "{alg}");
    }
}

#[test]
fn export_picks_one_signature_and_bad_bundles_are_input_errors() {
    let env = TestEnv::new();
    env.write("st.json", SIMPLE_STATEMENT);
    env.key("ed25519.key");
    env.key("ecdsa-p256.key");
    let public = env.key("ecdsa-p256.pub");
    env.run(&[
        "sign",
        "--key",
        "keys/ed25519.key",
        "--key",
        "keys/ecdsa-p256.key",
        "-o",
        "two.intoto.jsonl",
        "st.json",
    ])
    .success();
    let out = env.run(&["export", "two.intoto.jsonl"]).code(2);
    assert!(
        out.stderr.contains("has 2 signatures") && out.stderr.contains("--keyid"),
        "{out}"
    );
    let line: Value = serde_json::from_str(env.read("two.intoto.jsonl").trim()).unwrap();
    let keyid = line["signatures"][1]["keyid"].as_str().unwrap();
    env.run(&[
        "export",
        "two.intoto.jsonl",
        "--keyid",
        &keyid[..8],
        "-o",
        "p256.sigstore.json",
    ])
    .success();
    env.run(&["verify", "--key", &public, "p256.sigstore.json"])
        .success();
    // Two signatures in a bundle: refused, naming the file and the rule.
    let mut bundle: Value = serde_json::from_str(&env.read("p256.sigstore.json")).unwrap();
    bundle["dsseEnvelope"]["signatures"] = line["signatures"].clone();
    env.write("bad.sigstore.json", bundle.to_string());
    let out = env
        .run(&["verify", "--key", &public, "bad.sigstore.json"])
        .code(2);
    assert!(
        out.stderr.contains("bad.sigstore.json") && out.stderr.contains("exactly 1"),
        "{out}"
    );
    let out = env.run(&["import", "bad.sigstore.json"]).code(2);
    assert!(out.stderr.contains("exactly 1"), "{out}");
    // A trusted root without an identity rule would trust anyone: refused.
    let out = env
        .run(&["verify", "--trusted-root", "x.json", "p256.sigstore.json"])
        .code(2);
    assert!(out.stderr.contains("identity"), "{out}");
    let out = env
        .run(&[
            "verify",
            "--certificate-identity",
            IDENTITY,
            "p256.sigstore.json",
        ])
        .code(2);
    assert!(out.stderr.contains("--certificate-oidc-issuer"), "{out}");
}

#[test]
fn keyless_sign_verifies_with_us_and_sigstore_js_and_fails_with_clear_reasons() {
    let mock = Mock::start();
    let mut env = TestEnv::new();
    env.write("st.json", SIMPLE_STATEMENT);
    env.set_env("SIGSTORE_ID_TOKEN", &mock.token(IDENTITY, ISSUER));
    let root = mock.trusted_root();
    let (fulcio, rekor) = (mock.url("fulcioURL"), mock.url("rekorURL"));
    let mut flags = mock.sign_flags();
    flags.extend(["--trusted-root".to_string(), root.clone()]);
    let mut args = vec!["sign", "--keyless"];
    args.extend(flags.iter().map(String::as_str));
    args.extend(["--output", "good.sigstore.json", "st.json"]);
    let out = env.run(&args).success();
    assert!(
        out.stderr.contains("verified against the trusted root"),
        "{out}"
    );
    let bundle: Value = serde_json::from_str(&env.read("good.sigstore.json")).unwrap();
    assert!(bundle["verificationMaterial"]["certificate"]["rawBytes"].is_string());
    assert_eq!(
        bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"],
        "dsse"
    );
    assert!(
        !env.read("good.sigstore.json")
            .contains(&mock.token(IDENTITY, ISSUER)[..40])
    );

    // Verified by us and by @sigstore/verify.
    let (status, record) = verify_keyless(&env, &root, IDENTITY, ISSUER, "good.sigstore.json");
    assert_eq!(status, 0, "{record}");
    assert_eq!(record["signatures"][0]["result"], "verified-certificate");
    assert_eq!(record["signatures"][0]["identity"], IDENTITY);
    assert_eq!(record["signatures"][0]["issuer"], ISSUER);
    let js = sigstore_js_verify(
        &[
            "--bundle",
            "good.sigstore.json",
            "--trusted-root",
            &root,
            "--identity",
            IDENTITY,
            "--issuer",
            ISSUER,
        ],
        env.root(),
    );
    assert_eq!(js["ok"], true, "{js}");
    // An anchored regexp matches the whole identity only.
    env.run(&[
        "verify",
        "--trusted-root",
        &root,
        "--certificate-identity-regexp",
        r"https://github\.com/acme/app/\.github/workflows/.*",
        "--certificate-oidc-issuer",
        ISSUER,
        "good.sigstore.json",
    ])
    .success();
    env.run(&[
        "verify",
        "--trusted-root",
        &root,
        "--certificate-identity-regexp",
        "acme",
        "--certificate-oidc-issuer",
        ISSUER,
        "good.sigstore.json",
    ])
    .code(1);

    // Wrong identity, wrong issuer.
    let (status, record) = verify_keyless(
        &env,
        &root,
        "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main",
        ISSUER,
        "good.sigstore.json",
    );
    assert_eq!(
        (status, record["code"].as_str()),
        (1, Some("certificate-identity-mismatch")),
        "{record}"
    );
    assert!(
        record["reason"].as_str().unwrap().contains("evil"),
        "{record}"
    );
    let (status, record) = verify_keyless(
        &env,
        &root,
        IDENTITY,
        "https://accounts.google.com",
        "good.sigstore.json",
    );
    assert_eq!(
        (status, record["code"].as_str()),
        (1, Some("certificate-issuer-mismatch")),
        "{record}"
    );
    assert!(
        record["reason"]
            .as_str()
            .unwrap()
            .contains("accounts.google.com"),
        "{record}"
    );

    // An expired certificate: issued two hours ago, logged now.
    keyless_sign(
        &env,
        &mock.variant("expiredFulcioURL"),
        &rekor,
        "expired.sigstore.json",
    )
    .success();
    let (status, record) = verify_keyless(&env, &root, IDENTITY, ISSUER, "expired.sigstore.json");
    assert_eq!(
        (status, record["code"].as_str()),
        (1, Some("certificate-expired")),
        "{record}"
    );
    assert!(
        record["reason"]
            .as_str()
            .unwrap()
            .contains("not valid when the log entry was made")
    );
    let js = sigstore_js_verify(
        &[
            "--bundle",
            "expired.sigstore.json",
            "--trusted-root",
            &root,
            "--identity",
            IDENTITY,
            "--issuer",
            ISSUER,
        ],
        env.root(),
    );
    assert_eq!(js["ok"], false, "{js}");

    // A CA and a log the trusted root does not list.
    keyless_sign(
        &env,
        &mock.variant("untrustedFulcioURL"),
        &rekor,
        "untrusted.sigstore.json",
    )
    .success();
    let (_, record) = verify_keyless(&env, &root, IDENTITY, ISSUER, "untrusted.sigstore.json");
    assert_eq!(record["code"], "untrusted-certificate", "{record}");
    keyless_sign(
        &env,
        &fulcio,
        &mock.variant("rogueRekorURL"),
        "rogue.sigstore.json",
    )
    .success();
    let (_, record) = verify_keyless(&env, &root, IDENTITY, ISSUER, "rogue.sigstore.json");
    assert_eq!(record["code"], "untrusted-log", "{record}");
    // The CA was not trusted at the signing time.
    let (_, record) = verify_keyless(
        &env,
        &mock.url("trustedRootCaClosed"),
        IDENTITY,
        ISSUER,
        "good.sigstore.json",
    );
    assert_eq!(record["code"], "untrusted-certificate", "{record}");

    // A missing log entry, and a log entry about another envelope.
    let mut missing = bundle.clone();
    missing["verificationMaterial"]["tlogEntries"] = serde_json::json!([]);
    env.write("missing.sigstore.json", missing.to_string());
    let (status, record) = verify_keyless(&env, &root, IDENTITY, ISSUER, "missing.sigstore.json");
    assert_eq!(
        (status, record["code"].as_str()),
        (1, Some("missing-tlog-entry")),
        "{record}"
    );
    assert!(
        record["reason"]
            .as_str()
            .unwrap()
            .contains("missing transparency log entry")
    );
    env.write("st.json", SIMPLE_STATEMENT.replace('}', " }"));
    keyless_sign(&env, &fulcio, &rekor, "other.sigstore.json").success();
    let other: Value = serde_json::from_str(&env.read("other.sigstore.json")).unwrap();
    let mut swapped = bundle.clone();
    swapped["verificationMaterial"]["tlogEntries"] =
        other["verificationMaterial"]["tlogEntries"].clone();
    env.write("swapped.sigstore.json", swapped.to_string());
    let (status, record) = verify_keyless(&env, &root, IDENTITY, ISSUER, "swapped.sigstore.json");
    assert_eq!(
        (status, record["code"].as_str()),
        (1, Some("tlog-entry-mismatch")),
        "{record}"
    );
    let js = sigstore_js_verify(
        &[
            "--bundle",
            "swapped.sigstore.json",
            "--trusted-root",
            &root,
            "--identity",
            IDENTITY,
            "--issuer",
            ISSUER,
        ],
        env.root(),
    );
    assert_eq!(js["ok"], false, "{js}");
    // An edited entry breaks the signed entry timestamp.
    let mut tampered = bundle.clone();
    tampered["verificationMaterial"]["tlogEntries"][0]["logIndex"] = Value::String("1".to_string());
    env.write("tampered.sigstore.json", tampered.to_string());
    let (status, record) = verify_keyless(&env, &root, IDENTITY, ISSUER, "tampered.sigstore.json");
    assert_eq!(
        (status, record["code"].as_str()),
        (1, Some("invalid-inclusion-promise")),
        "{record}"
    );
    // Without an identity policy, a keyless bundle is not trusted.
    let public = env.key("ed25519.pub");
    let out = env
        .run(&[
            "verify",
            "--key",
            &public,
            "--format",
            "json",
            "good.sigstore.json",
        ])
        .code(1);
    assert_eq!(
        out.json_lines()[0]["data"]["code"],
        "no-identity-policy",
        "{out}"
    );

    // Signing stops with a clear error and writes nothing when a service refuses.
    let out = keyless_sign(
        &env,
        &fulcio,
        &mock.variant("unavailableRekorURL"),
        "none.sigstore.json",
    )
    .code(2);
    assert!(
        out.stderr.contains("Rekor refused the request (HTTP 503)"),
        "{out}"
    );
    assert!(!env.path("none.sigstore.json").exists());
    env.set_env(
        "SIGSTORE_ID_TOKEN",
        &mock
            .token(IDENTITY, ISSUER)
            .replace('.', "x.")
            .replacen("x.", ".", 1),
    );
    let out = keyless_sign(&env, &fulcio, &rekor, "none.sigstore.json").code(2);
    assert!(out.stderr.contains("error:"), "{out}");
    env.remove_env("SIGSTORE_ID_TOKEN");
    let out = keyless_sign(&env, &fulcio, &rekor, "none.sigstore.json").code(2);
    assert!(out.stderr.contains("SIGSTORE_ID_TOKEN"), "{out}");
    assert!(!env.path("none.sigstore.json").exists());
}

#[test]
fn keyless_wrap_end_to_end_with_policy_identities_and_no_oidc_variables_for_codex() {
    let mock = Mock::start();
    let mut world = CodexWorld::new(vec![
        turn(vec![exec_command("call_1", "env > seen-env.txt")]),
        turn(vec![message("Done.")]),
    ]);
    let token = mock.token(IDENTITY, ISSUER);
    world.env.set_env("SIGSTORE_ID_TOKEN", &token);
    world.env.set_env(
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "http://127.0.0.1:9/token-canary-url",
    );
    world.env.set_env(
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "request-token-canary-5d1e",
    );
    let root = mock.trusted_root();
    let mut wrap_args = vec![
        "--keyless".to_string(),
        "--trusted-root".to_string(),
        root.clone(),
    ];
    wrap_args.extend(mock.sign_flags());
    wrap_args.extend(["--output".to_string(), "../run.sigstore.json".to_string()]);
    let wrap_args: Vec<&str> = wrap_args.iter().map(String::as_str).collect();
    let out = world.wrap_exec(&wrap_args, &["--json", "-s", "workspace-write", "show env"]);
    assert_eq!(out.status, 0, "{out}");
    assert!(out.stderr.contains("signed keylessly as"), "{out}");
    let run = CodexWorld::run_id(&out);

    // Codex never saw a variable that can mint or carry an identity token.
    let seen = world.env.read("repo/seen-env.txt");
    assert!(
        seen.contains("LOCAL_MODEL_KEY="),
        "the command's env was captured: {seen}"
    );
    for var in [
        "SIGSTORE_ID_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    ] {
        assert!(!seen.contains(var), "{var} reached Codex");
    }
    // Nothing stored holds the token.
    for path in crate::wrap::walk(&world.env.path("repo/.git/codex-attest")) {
        let bytes = std::fs::read(&path).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !text.contains(signature),
            "the token is in {}",
            path.display()
        );
        assert!(
            !text.contains("request-token-canary-5d1e"),
            "{}",
            path.display()
        );
    }

    // The stored run verifies by identity; so does the --output bundle, with @sigstore/verify too.
    let verified = world
        .run_in(
            "repo",
            &[
                "verify",
                "--trusted-root",
                &root,
                "--certificate-identity",
                IDENTITY,
                "--certificate-oidc-issuer",
                ISSUER,
                "--format",
                "json",
                &run,
            ],
            None,
        )
        .success();
    assert_eq!(
        verified.json_lines()[0]["data"]["file"],
        format!("run {run} (keyless bundle)")
    );
    let js = sigstore_js_verify(
        &[
            "--bundle",
            "run.sigstore.json",
            "--trusted-root",
            &root,
            "--identity",
            IDENTITY,
            "--issuer",
            ISSUER,
        ],
        world.env.root(),
    );
    assert_eq!(js["ok"], true, "{js}");
    world
        .run_in(
            "repo",
            &[
                "export",
                &run,
                "--keyless",
                "-o",
                "../exported.sigstore.json",
            ],
            None,
        )
        .success();
    assert_eq!(
        world.env.read("exported.sigstore.json"),
        world.env.read("run.sigstore.json")
    );

    // The identity rules in a policy file.
    let policy = |identity: &str| {
        format!(
            "version = 1\n[signers]\ntrusted-root = {root:?}\n[[signers.identities]]\nissuer = {ISSUER:?}\n{identity}\n[run]\nrequire-success = true\n"
        )
    };
    world.env.write("good.toml", policy(r#"identity-regexp = 'https://github\.com/acme/app/\.github/workflows/release\.yml@refs/heads/.*'"#));
    world
        .run_in("repo", &["verify", "--policy", "../good.toml", &run], None)
        .success();
    world.env.write("evil.toml", policy(r#"identity = "https://github.com/acme/app/.github/workflows/evil.yml@refs/heads/main""#));
    let out = world
        .run_in("repo", &["verify", "--policy", "../evil.toml", &run], None)
        .code(1);
    assert!(
        out.stdout.contains("certificate-identity-mismatch"),
        "{out}"
    );
    world.env.write(
        "half.toml",
        "version = 1\n[signers]\n[[signers.identities]]\nidentity = \"x\"\n",
    );
    let out = world
        .run_in("repo", &["verify", "--policy", "../half.toml", &run], None)
        .code(2);
    assert!(
        out.stderr.contains("signers.trusted-root") && out.stderr.contains("issuer"),
        "{out}"
    );
}
