use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::common::TestEnv;
use crate::fixtures::SIMPLE_STATEMENT;

/// An environment with the committed test keys and a signed simple statement in `run.intoto.jsonl`.
fn signed_env() -> TestEnv {
    let env = TestEnv::new();
    env.key("ed25519.key");
    env.key("ed25519.pub");
    env.key("ecdsa-p256.key");
    env.key("ecdsa-p256.pub");
    env.key("other.pub");
    env.write("st.json", SIMPLE_STATEMENT);
    env.run(&[
        "sign",
        "--key",
        "keys/ed25519.key",
        "--output",
        "run.intoto.jsonl",
        "st.json",
    ])
    .success();
    env
}

fn envelope(env: &TestEnv, file: &str) -> serde_json::Value {
    serde_json::from_str(env.read(file).lines().next().unwrap()).unwrap()
}

#[test]
fn sign_writes_one_json_line_over_the_exact_bytes() {
    let env = signed_env();
    let text = env.read("run.intoto.jsonl");
    assert_eq!(text.lines().count(), 1);
    assert!(text.ends_with('\n'));
    let env_json = envelope(&env, "run.intoto.jsonl");
    assert_eq!(env_json["payloadType"], "application/vnd.in-toto+json");
    let payload = STANDARD
        .decode(env_json["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        payload,
        SIMPLE_STATEMENT.as_bytes(),
        "the statement's bytes are signed as they are"
    );
    // Signing is deterministic (Ed25519): the same statement gives the same envelope.
    let again = env
        .run(&["sign", "--key", "keys/ed25519.key", "st.json"])
        .success();
    assert_eq!(again.stdout, text);
}

#[test]
fn sign_refuses_to_overwrite_unless_forced_and_can_append() {
    let env = signed_env();
    let before = env.read("run.intoto.jsonl");
    let out = env
        .run(&[
            "sign",
            "--key",
            "keys/ed25519.key",
            "--output",
            "run.intoto.jsonl",
            "st.json",
        ])
        .code(2);
    assert!(out.stderr.contains("already exists"), "{out}");
    assert_eq!(env.read("run.intoto.jsonl"), before);
    env.run(&[
        "sign",
        "--key",
        "keys/ecdsa-p256.key",
        "--output",
        "run.intoto.jsonl",
        "--append",
        "st.json",
    ])
    .success();
    assert_eq!(env.read("run.intoto.jsonl").lines().count(), 2);
    let out = env.run(&[
        "verify",
        "--key",
        "keys/ed25519.pub",
        "--key",
        "keys/ecdsa-p256.pub",
        "run.intoto.jsonl",
    ]);
    assert_eq!(out.status, 0, "{out}");
    env.run(&[
        "sign",
        "--key",
        "keys/ed25519.key",
        "--output",
        "run.intoto.jsonl",
        "--force",
        "st.json",
    ])
    .success();
    assert_eq!(env.read("run.intoto.jsonl"), before);
}

#[test]
fn sign_rejects_what_is_not_a_statement() {
    let env = signed_env();
    env.write(
        "v01.json",
        SIMPLE_STATEMENT.replace("Statement/v1", "Statement/v0.1"),
    );
    let out = env
        .run(&["sign", "--key", "keys/ed25519.key", "v01.json"])
        .code(2);
    assert!(
        out.stderr
            .contains("v01.json is not a valid in-toto Statement v1"),
        "{out}"
    );
    assert!(out.stdout.is_empty());
    let out = env
        .run(&["sign", "--key", "keys/ed25519.pub", "st.json"])
        .code(2);
    assert!(out.stderr.contains("pass the private key"), "{out}");
}

#[test]
fn verify_human_report() {
    let env = signed_env();
    env.run(&[
        "sign",
        "--key",
        "keys/ecdsa-p256.key",
        "--output",
        "p256.intoto.jsonl",
        "st.json",
    ])
    .success();
    let out = env.run(&[
        "verify",
        "--key",
        "keys/ed25519.pub",
        "--key",
        "keys/ecdsa-p256.pub",
        "run.intoto.jsonl",
        "p256.intoto.jsonl",
    ]);
    insta::assert_snapshot!("verify_human_pass", out);
    let out = env.run(&["verify", "--key", "keys/other.pub", "run.intoto.jsonl"]);
    insta::assert_snapshot!("verify_human_wrong_key", out);
}

#[test]
fn verify_json_report() {
    let env = signed_env();
    let out = env.run(&[
        "verify",
        "--key",
        "keys/ed25519.pub",
        "--format",
        "json",
        "run.intoto.jsonl",
    ]);
    insta::assert_snapshot!("verify_json_pass", out);
    env.write("garbage.json", "this is not json");
    let out = env.run(&[
        "verify",
        "--key",
        "keys/other.pub",
        "--format",
        "json",
        "run.intoto.jsonl",
        "garbage.json",
    ]);
    insta::assert_snapshot!("verify_json_fail_and_error", out);
    for line in out.json_lines() {
        crate::common::assert_schema_valid("verify-report.v1.schema.json", &line);
    }
}

#[test]
fn wrong_key_fails_with_exit_1() {
    let env = signed_env();
    let out = env
        .run(&["verify", "--key", "keys/other.pub", "run.intoto.jsonl"])
        .code(1);
    assert!(out.stdout.contains("no trusted key verifies it"), "{out}");
}

#[test]
fn threshold_counts_distinct_keys() {
    let env = signed_env();
    env.run(&[
        "sign",
        "--key",
        "keys/ed25519.key",
        "--key",
        "keys/ecdsa-p256.key",
        "--output",
        "two.intoto.jsonl",
        "st.json",
    ])
    .success();
    let keys = [
        "--key",
        "keys/ed25519.pub",
        "--key",
        "keys/ecdsa-p256.pub",
        "--threshold",
        "2",
    ];
    env.run(&[&["verify"], &keys[..], &["two.intoto.jsonl"]].concat())
        .success();
    env.run(&[&["verify"], &keys[..], &["run.intoto.jsonl"]].concat())
        .code(1);
    // The same key twice never counts twice.
    env.run(&[
        "sign",
        "--key",
        "keys/ed25519.key",
        "--key",
        "keys/ed25519.key",
        "--output",
        "dup.intoto.jsonl",
        "st.json",
    ])
    .success();
    env.run(&[&["verify"], &keys[..], &["dup.intoto.jsonl"]].concat())
        .code(1);
    let out = env
        .run(&[
            "verify",
            "--key",
            "keys/ed25519.pub",
            "--threshold",
            "2",
            "two.intoto.jsonl",
        ])
        .code(2);
    assert!(
        out.stderr
            .contains("needs at least that many distinct trusted keys"),
        "{out}"
    );
}

#[test]
fn url_safe_base64_and_missing_keyid_are_accepted() {
    let env = signed_env();
    let mut env_json = envelope(&env, "run.intoto.jsonl");
    let payload = STANDARD
        .decode(env_json["payload"].as_str().unwrap())
        .unwrap();
    env_json["payload"] = URL_SAFE_NO_PAD.encode(payload).into();
    let sig = STANDARD
        .decode(env_json["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    env_json["signatures"][0]["sig"] = URL_SAFE_NO_PAD.encode(sig).into();
    env_json["signatures"][0]
        .as_object_mut()
        .unwrap()
        .remove("keyid");
    env.write(
        "urlsafe.json",
        serde_json::to_string_pretty(&env_json).unwrap(),
    );
    env.run(&["verify", "--key", "keys/ed25519.pub", "urlsafe.json"])
        .success();
}

/// Every single-byte change of the decoded payload, payloadType or signature fails (exit 1),
/// never passes, never crashes. All mutants go into one bundle so the binary runs once.
#[test]
fn every_single_byte_flip_fails() {
    let env = signed_env();
    let original = envelope(&env, "run.intoto.jsonl");
    let payload = STANDARD
        .decode(original["payload"].as_str().unwrap())
        .unwrap();
    let sig = STANDARD
        .decode(original["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    let payload_type = original["payloadType"]
        .as_str()
        .unwrap()
        .as_bytes()
        .to_vec();
    let mut mutants = Vec::new();
    for i in 0..payload.len() {
        let mut p = payload.clone();
        p[i] ^= 0x01;
        let mut m = original.clone();
        m["payload"] = STANDARD.encode(&p).into();
        mutants.push(m);
    }
    for i in 0..sig.len() {
        let mut s = sig.clone();
        s[i] ^= 0x80;
        let mut m = original.clone();
        m["signatures"][0]["sig"] = STANDARD.encode(&s).into();
        mutants.push(m);
    }
    for i in 0..payload_type.len() {
        let mut t = payload_type.clone();
        t[i] ^= 0x01;
        let mut m = original.clone();
        m["payloadType"] = String::from_utf8_lossy(&t).into_owned().into();
        mutants.push(m);
    }
    let bundle: String = mutants.iter().map(|m| format!("{m}\n")).collect();
    env.write("mutants.intoto.jsonl", bundle);
    let out = env.run(&[
        "verify",
        "--key",
        "keys/ed25519.pub",
        "--format",
        "json",
        "mutants.intoto.jsonl",
    ]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    let records = out.json_lines();
    let envelopes: Vec<_> = records.iter().filter(|r| r["type"] == "envelope").collect();
    assert_eq!(envelopes.len(), mutants.len());
    for (i, record) in envelopes.iter().enumerate() {
        assert_eq!(
            record["data"]["verdict"], "fail",
            "mutant {i} passed: {record}"
        );
    }
    // The unmodified envelope still passes, so the failures above are the mutations' doing.
    env.run(&["verify", "--key", "keys/ed25519.pub", "run.intoto.jsonl"])
        .success();
}

/// Malformed input is "could not decide": exit 2, one line naming the file, no panic.
#[test]
fn bad_input_exits_2_with_one_line_naming_the_file() {
    let env = signed_env();
    let good = env.read("run.intoto.jsonl");
    env.write("truncated.json", &good[..good.len() / 2]);
    env.write("empty.json", "");
    env.write("text.json", "hello world\n");
    env.write("deep.json", "[".repeat(100_000));
    env.write(
        "deep-object.json",
        format!("{}1{}", "{\"a\":".repeat(5_000), "}".repeat(5_000)),
    );
    env.write("array.json", "[1,2,3]");
    env.write("binary.json", [0xff, 0xfe, 0x00, 0x01]);
    for name in [
        "truncated.json",
        "empty.json",
        "text.json",
        "deep.json",
        "deep-object.json",
        "array.json",
        "binary.json",
        "missing.json",
    ] {
        let out = env.run(&["verify", "--key", "keys/ed25519.pub", name]);
        assert_eq!(out.status, 2, "{name}: {out}");
        let error = out.one_error_line();
        assert!(error.contains(name), "{name}: {out}");
        assert!(!out.stderr.contains("panicked"), "{name}: {out}");
    }
}

#[test]
fn huge_input_is_refused() {
    let env = signed_env();
    // 100 MB on one line: over the envelope limit, refused before parsing.
    let path = env.path("huge.json");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        f.write_all(b"{\"payload\":\"").unwrap();
        let chunk = vec![b'A'; 1024 * 1024];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\"}").unwrap();
    }
    let out = env
        .run(&["verify", "--key", "keys/ed25519.pub", "huge.json"])
        .code(2);
    let error = out.one_error_line();
    assert!(error.contains("huge.json"), "{out}");
    assert!(
        error.contains("larger than the 64 MiB envelope limit"),
        "{out}"
    );
}

#[test]
fn verify_needs_keys() {
    let env = signed_env();
    let out = env.run(&["verify", "run.intoto.jsonl"]).code(2);
    assert!(out.stderr.contains("no trusted keys"), "{out}");
    let out = env
        .run(&["verify", "--key", "keys/nope.pub", "run.intoto.jsonl"])
        .code(2);
    assert!(
        out.stderr
            .contains("failed to read public key keys/nope.pub"),
        "{out}"
    );
    // A key file that is there but is not a public key: exit 2, one line naming the file.
    env.write("keys/garbage.pub", "not a key\n");
    for (key, why) in [
        (
            "keys/ed25519.key",
            "pass the public key (`.pub`), not the private key",
        ),
        ("keys/garbage.pub", "pass a `PUBLIC KEY` PEM file"),
    ] {
        let out = env
            .run(&["verify", "--key", key, "run.intoto.jsonl"])
            .code(2);
        let error = out.one_error_line();
        assert!(
            error.contains(&format!("failed to load public key {key}")),
            "{key}: {out}"
        );
        assert!(out.stderr.contains(why), "{key}: {out}");
        assert!(out.stdout.is_empty(), "{key}: {out}");
    }
}

#[test]
fn non_intoto_payload_type_fails_even_when_signed() {
    let env = signed_env();
    let key =
        codex_attest::keys::PrivateKey::from_pem(env.read("keys/ed25519.key").as_bytes(), None)
            .unwrap();
    let signed = codex_attest::dsse::Envelope::sign(
        "application/json",
        SIMPLE_STATEMENT.as_bytes(),
        &[&key],
    )
    .unwrap();
    env.write("json.intoto.jsonl", format!("{}\n", signed.to_json_line()));
    let out = env
        .run(&["verify", "--key", "keys/ed25519.pub", "json.intoto.jsonl"])
        .code(1);
    assert!(out.stdout.contains("unsupported-payload-type"), "{out}");
}

#[test]
fn verify_jobs_give_the_same_report_in_the_same_order() {
    let env = signed_env();
    // Many envelopes, some signed by an untrusted key, some repeated.
    let good = env.read("run.intoto.jsonl");
    let other = codex_attest::keys::PrivateKey::generate(codex_attest::keys::Algorithm::Ed25519)
        .unwrap()
        .private;
    let bad = codex_attest::dsse::Envelope::sign(
        codex_attest::dsse::IN_TOTO_PAYLOAD_TYPE,
        SIMPLE_STATEMENT.as_bytes(),
        &[&other],
    )
    .unwrap()
    .to_json_line();
    let mut bundle = String::new();
    for i in 0..40 {
        bundle.push_str(if i % 3 == 0 { &bad } else { good.trim_end() });
        bundle.push('\n');
    }
    env.write("many.intoto.jsonl", bundle);
    let args = |jobs: &'static str| {
        [
            "verify",
            "--key",
            "keys/ed25519.pub",
            "--format",
            "json",
            "--jobs",
            jobs,
            "many.intoto.jsonl",
        ]
    };
    let one = env.run(&args("1")).code(1);
    let three = env.run(&args("3")).code(1);
    assert_eq!(one.stdout, three.stdout);
    assert!(one.stdout.contains("untrusted-signature"), "{one}");
    let out = env.run(&args("0")).code(2);
    assert!(out.stderr.contains("--jobs must be at least 1"), "{out}");
}

#[test]
fn an_envelope_found_twice_is_verified_and_reported_once() {
    let env = signed_env();
    let good = env.read("run.intoto.jsonl").trim_end().to_string();
    // The same signatures over a payload of the same length: a different envelope, whose
    // signature check fails. It must not be taken for the good one.
    let mut json: serde_json::Value = serde_json::from_str(&good).unwrap();
    let payload = json["payload"].as_str().unwrap();
    let flipped = if payload.starts_with('e') { "f" } else { "e" };
    json["payload"] = format!("{flipped}{}", &payload[1..]).into();
    let tampered = json.to_string();
    env.write(
        "a.intoto.jsonl",
        format!("{good}\n{good}\n{tampered}\n{good}\n"),
    );
    for jobs in ["1", "2"] {
        let out = env
            .run(&[
                "verify",
                "--key",
                "keys/ed25519.pub",
                "--format",
                "json",
                "--jobs",
                jobs,
                "a.intoto.jsonl",
                "a.intoto.jsonl",
            ])
            .code(1);
        let records: Vec<(u64, String)> = out
            .json_lines()
            .iter()
            .filter(|r| r["type"] == "envelope")
            .map(|r| {
                (
                    r["data"]["line"].as_u64().unwrap(),
                    r["data"]["verdict"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            records,
            [(1, "pass".to_string()), (3, "fail".to_string())],
            "{out}"
        );
        let summary = out.json_lines().pop().unwrap();
        assert_eq!(summary["data"]["envelopes"], 2, "{out}");
    }
}
