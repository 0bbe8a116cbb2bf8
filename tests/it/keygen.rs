use std::os::unix::fs::PermissionsExt;

use crate::common::TestEnv;

#[test]
fn keygen_writes_a_private_and_a_public_key() {
    let env = TestEnv::new();
    let out = env
        .run(&["keygen", "--out", "ci", "--format", "json"])
        .success();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["algorithm"], "ed25519");
    assert_eq!(report["encrypted"], false);
    let mode = std::fs::metadata(env.path("ci.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "private key must be 0600");
    assert!(
        env.read("ci.key")
            .starts_with("-----BEGIN PRIVATE KEY-----\n")
    );
    assert!(
        env.read("ci.pub")
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );
    assert_eq!(report["keyid"].as_str().unwrap().len(), 64);
}

#[test]
fn keygen_never_overwrites() {
    let env = TestEnv::new();
    env.write("ci.pub", "keep me");
    let out = env.run(&["keygen", "--out", "ci"]).code(2);
    assert!(out.stderr.contains("ci.pub already exists"), "{out}");
    assert_eq!(env.read("ci.pub"), "keep me");
    assert!(!env.path("ci.key").exists(), "nothing half-written");
    // The private key is there: it is kept as it was, and no public key is written beside it.
    let key = "-----BEGIN PRIVATE KEY-----\nkeep me too\n-----END PRIVATE KEY-----\n";
    env.write("other.key", key);
    let out = env.run(&["keygen", "--out", "other"]).code(2);
    let error = out.one_error_line();
    assert!(error.contains("other.key already exists"), "{out}");
    assert_eq!(env.read("other.key"), key);
    assert!(!env.path("other.pub").exists(), "nothing half-written");
}

#[test]
fn encrypted_keys_use_the_passphrase_from_the_environment() {
    let mut env = TestEnv::new();
    env.set_env("CODEX_ATTEST_KEY_PASSPHRASE", "s3cret");
    env.run(&[
        "keygen",
        "--out",
        "enc",
        "--algorithm",
        "ecdsa-p256",
        "--encrypt",
    ])
    .success();
    assert!(
        env.read("enc.key")
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    );
    env.write("st.json", crate::fixtures::SIMPLE_STATEMENT);
    env.run(&[
        "sign",
        "--key",
        "enc.key",
        "--output",
        "out.intoto.jsonl",
        "st.json",
    ])
    .success();
    env.run(&["verify", "--key", "enc.pub", "out.intoto.jsonl"])
        .success();

    // Wrong passphrase: a clear error, exit 2.
    env.set_env("CODEX_ATTEST_KEY_PASSPHRASE", "wrong");
    let out = env.run(&["sign", "--key", "enc.key", "st.json"]).code(2);
    assert!(
        out.stderr.contains("failed to load private key enc.key"),
        "{out}"
    );
    assert!(out.stderr.contains("wrong passphrase"), "{out}");

    // No passphrase and no terminal: told how to give one, never prompted.
    env.remove_env("CODEX_ATTEST_KEY_PASSPHRASE");
    let out = env.run(&["sign", "--key", "enc.key", "st.json"]).code(2);
    assert!(out.stderr.contains("CODEX_ATTEST_KEY_PASSPHRASE"), "{out}");
}

#[test]
fn keys_made_by_openssl_load() {
    let mut env = TestEnv::new();
    env.set_env("CODEX_ATTEST_KEY_PASSPHRASE", "pw");
    env.write("st.json", crate::fixtures::SIMPLE_STATEMENT);
    let root = env.root().to_path_buf();
    let openssl = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&root)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl must be installed for this test");
        assert!(status.success(), "openssl {args:?}");
    };
    let cases: [(&str, &[&str]); 4] = [
        (
            "ed",
            &["genpkey", "-algorithm", "ed25519", "-out", "ed.key"],
        ),
        (
            "ec",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "ec.key",
            ],
        ),
        (
            "ed-enc",
            &[
                "genpkey",
                "-algorithm",
                "ed25519",
                "-aes-256-cbc",
                "-pass",
                "pass:pw",
                "-out",
                "ed-enc.key",
            ],
        ),
        (
            "ec-enc",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-aes-256-cbc",
                "-pass",
                "pass:pw",
                "-out",
                "ec-enc.key",
            ],
        ),
    ];
    for (name, genpkey) in cases {
        openssl(genpkey);
        let key = format!("{name}.key");
        let public = format!("{name}.pub");
        // codex-attest refuses private keys that other users can read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(env.path(&key), std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = env.run(&["sign", "--key", &key, "st.json"]);
        assert_eq!(refused.status, 2, "{refused}");
        assert!(
            refused.stderr.contains("readable by other users"),
            "{refused}"
        );
        std::fs::set_permissions(env.path(&key), std::fs::Permissions::from_mode(0o600)).unwrap();
        openssl(&[
            "pkey", "-in", &key, "-passin", "pass:pw", "-pubout", "-out", &public,
        ]);
        let out_file = format!("{name}.intoto.jsonl");
        env.run(&["sign", "--key", &key, "--output", &out_file, "st.json"])
            .success();
        env.run(&["verify", "--key", &public, &out_file]).success();
    }
    // RSA is refused with a clear message.
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "rsa.key",
    ]);
    let out = env
        .run(&[
            "sign",
            "--allow-insecure-key-permissions",
            "--key",
            "rsa.key",
            "st.json",
        ])
        .code(2);
    assert!(out.stderr.contains("RSA keys are not supported"), "{out}");
}
