//! Interoperability with independent implementations written by others: Python
//! `securesystemslib` (the reference DSSE code) and `in-toto-attestation` (protobuf bindings).

use crate::common::{TestEnv, run_python};
use crate::fixtures::{SIMPLE_STATEMENT, provenance_statement};

fn env_with_keys() -> TestEnv {
    let env = TestEnv::new();
    for name in [
        "ed25519.key",
        "ed25519.pub",
        "ecdsa-p256.key",
        "ecdsa-p256.pub",
    ] {
        env.key(name);
    }
    env
}

#[test]
fn securesystemslib_verifies_our_envelopes() {
    let env = env_with_keys();
    env.write(
        "st.json",
        serde_json::to_vec(&provenance_statement()).unwrap(),
    );
    for alg in ["ed25519", "ecdsa-p256"] {
        let out_file = format!("{alg}.intoto.jsonl");
        env.run(&[
            "sign",
            "--key",
            &format!("keys/{alg}.key"),
            "--output",
            &out_file,
            "st.json",
        ])
        .success();
        let out = run_python(
            "sslib_verify.py",
            &[&out_file, &format!("keys/{alg}.pub")],
            env.root(),
        );
        assert_eq!(
            out.status, 0,
            "securesystemslib rejected our {alg} envelope:\n{out}"
        );
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        // securesystemslib matches signatures to keys by key id: ours must be the one it computes.
        let ours: serde_json::Value =
            serde_json::from_str(env.read(&out_file).lines().next().unwrap()).unwrap();
        assert_eq!(report["keyids"][0], ours["signatures"][0]["keyid"], "{alg}");
        assert_eq!(
            report["accepted"][0], ours["signatures"][0]["keyid"],
            "{alg}"
        );
        assert_eq!(
            report["payload"].as_str().unwrap().as_bytes(),
            env.read("st.json").as_bytes()
        );
    }
}

#[test]
fn securesystemslib_rejects_our_envelope_under_another_key() {
    let env = env_with_keys();
    env.key("other.pub");
    env.write("st.json", SIMPLE_STATEMENT);
    env.run(&[
        "sign",
        "--key",
        "keys/ed25519.key",
        "--output",
        "a.intoto.jsonl",
        "st.json",
    ])
    .success();
    let out = run_python(
        "sslib_verify.py",
        &["a.intoto.jsonl", "keys/other.pub"],
        env.root(),
    );
    assert_eq!(out.status, 1, "{out}");
}

#[test]
fn we_verify_envelopes_securesystemslib_signed() {
    let env = env_with_keys();
    env.key("other.pub");
    env.write(
        "st.json",
        serde_json::to_vec(&provenance_statement()).unwrap(),
    );
    for alg in ["ed25519", "ecdsa"] {
        let out = run_python("sslib_sign.py", &[alg, "st.json", alg], env.root());
        assert_eq!(out.status, 0, "{out}");
        let pub_file = format!("{alg}.pub");
        let env_file = format!("{alg}.intoto.jsonl");
        let ours = env
            .run(&["verify", "--key", &pub_file, "--format", "json", &env_file])
            .success();
        let record = &ours.json_lines()[0];
        // Our key id for their key equals the one they wrote.
        assert_eq!(
            record["data"]["signatures"][0]["keyid"].as_str(),
            Some(out.stdout.trim()),
            "{alg}"
        );
        env.run(&["verify", "--key", "keys/other.pub", &env_file])
            .code(1);
    }
}

#[test]
fn in_toto_attestation_validates_our_statement_and_predicate() {
    let env = env_with_keys();
    env.write(
        "st.json",
        serde_json::to_vec(&provenance_statement()).unwrap(),
    );
    env.run(&[
        "sign",
        "--key",
        "keys/ed25519.key",
        "--output",
        "p.intoto.jsonl",
        "st.json",
    ])
    .success();
    let out = run_python("intoto_validate.py", &["p.intoto.jsonl"], env.root());
    assert_eq!(out.status, 0, "{out}");
    assert_eq!(out.stdout.trim(), "ok");
    // The validator is not a rubber stamp: a statement without subjects is rejected.
    let mut bad = provenance_statement();
    bad.subject.clear();
    let bad_json = serde_json::to_string(&bad).unwrap();
    let key =
        codex_attest::keys::PrivateKey::from_pem(env.read("keys/ed25519.key").as_bytes(), None)
            .unwrap();
    let signed = codex_attest::dsse::Envelope::sign(
        codex_attest::dsse::IN_TOTO_PAYLOAD_TYPE,
        bad_json.as_bytes(),
        &[&key],
    )
    .unwrap();
    env.write("bad.intoto.jsonl", format!("{}\n", signed.to_json_line()));
    let out = run_python("intoto_validate.py", &["bad.intoto.jsonl"], env.root());
    assert_eq!(out.status, 1, "{out}");
}
