//! Hardening as tested facts: tampering, unsafe paths, faults, concurrency.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use codex_attest::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE, Keyring};
use codex_attest::keys::PrivateKey;
use codex_attest::model_server::Turn;
use codex_attest::verify::verify_statement_envelope;
use serde_json::{Value, json};

use crate::codex_env::{CodexWorld, apply_patch, message, turn};
use crate::common::{CommandOutput, repo_path};
use crate::fixtures::provenance_statement;

fn test_key() -> PrivateKey {
    PrivateKey::from_pem(
        &std::fs::read(repo_path("testdata/keys/ed25519.key")).unwrap(),
        None,
    )
    .unwrap()
}

fn sign(statement: &[u8]) -> Envelope {
    Envelope::sign(IN_TOTO_PAYLOAD_TYPE, statement, &[&test_key()]).unwrap()
}

/// What the signature covers: payload type, payload and signatures, decoded.
fn authenticated_parts(e: &Envelope) -> Option<(String, Vec<u8>, Vec<Vec<u8>>)> {
    Some((
        e.payload_type.clone(),
        codex_attest::dsse::decode_base64(&e.payload)?,
        e.signatures
            .iter()
            .map(|s| codex_attest::dsse::decode_base64(&s.sig))
            .collect::<Option<_>>()?,
    ))
}

/// Every single-byte change, every truncation and a signature swap of a signed envelope line
/// fail verification, except changes to the unauthenticated `keyid` hint, which by the DSSE spec
/// must not matter (and verification still checks the same authenticated bytes).
#[test]
fn mutation_campaign() {
    let statement = serde_json::to_vec(&provenance_statement()).unwrap();
    let original = sign(&statement);
    let line = original.to_json_line();
    let keyring: Keyring = [test_key().public_key().clone()].into_iter().collect();
    assert!(verify_statement_envelope(&original, &keyring, 1).is_ok());
    let original_parts = authenticated_parts(&original).unwrap();
    let mut checked = 0;
    let mut verifying_positions = Vec::new();
    for i in 0..line.len() {
        for replacement in [
            line.as_bytes()[i] ^ 0x01,
            line.as_bytes()[i] ^ 0x20,
            b'A',
            b'0',
            b'"',
            b'}',
        ] {
            if replacement == line.as_bytes()[i] {
                continue;
            }
            let mut bytes = line.clone().into_bytes();
            bytes[i] = replacement;
            checked += 1;
            let Ok(mutant) = serde_json::from_slice::<Envelope>(&bytes) else {
                continue;
            };
            if verify_statement_envelope(&mutant, &keyring, 1).is_ok() {
                assert_eq!(
                    authenticated_parts(&mutant).as_ref(),
                    Some(&original_parts),
                    "byte {i} changed to {replacement:?} verified with different content: {}",
                    String::from_utf8_lossy(&bytes)
                );
                verifying_positions.push(i);
            }
        }
    }
    assert!(checked > 5000, "{checked}");
    // Only mutations inside the keyid hint (its name or value) can keep the envelope valid.
    let keyid_span = line.find("\"keyid\"").unwrap()..line.find("\"sig\"").unwrap();
    let outside: Vec<usize> = verifying_positions
        .iter()
        .copied()
        .filter(|i| !keyid_span.contains(i))
        .collect();
    assert!(
        outside.is_empty(),
        "mutations at {outside:?} (outside the keyid hint) still verified"
    );
    assert!(
        !verifying_positions.is_empty(),
        "changing the unauthenticated hint must not break verification"
    );
    for len in 0..line.len() {
        if let Ok(truncated) = serde_json::from_slice::<Envelope>(&line.as_bytes()[..len]) {
            assert!(
                verify_statement_envelope(&truncated, &keyring, 1).is_err(),
                "truncation to {len} verified"
            );
        }
    }
    // Another statement's valid signature does not transfer.
    let other = sign(br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}],"predicateType":"p"}"#);
    let mut swapped = original.clone();
    swapped.signatures = other.signatures.clone();
    assert!(verify_statement_envelope(&swapped, &keyring, 1).is_err());
    // The same statement re-encoded with other whitespace fails: bytes are verified, not meaning.
    let value: Value = serde_json::from_slice(&statement).unwrap();
    let mut reencoded = original.clone();
    reencoded.payload = STANDARD.encode(serde_json::to_vec_pretty(&value).unwrap());
    assert!(verify_statement_envelope(&reencoded, &keyring, 1).is_err());
}

fn statement_with_subjects(names: &[(&str, &[u8])]) -> Vec<u8> {
    let mut statement = serde_json::to_value(provenance_statement()).unwrap();
    let mut subjects = Vec::new();
    let mut modified = Vec::new();
    for (name, content) in names {
        let d = codex_attest::digest::digest_bytes(content);
        subjects.push(json!({"name": name, "digest": {"sha256": d.sha256.to_string(), "gitBlob": d.git_blob.to_string()}}));
        modified.push(json!({"path": name, "sha256": d.sha256.to_string(), "gitBlob": d.git_blob.to_string()}));
    }
    statement["subject"] = Value::Array(subjects);
    statement["predicate"]["buildDefinition"]["internalParameters"]["outcome"]["changes"] =
        json!({"modified": modified});
    serde_json::to_vec(&statement).unwrap()
}

#[test]
fn verify_never_reads_paths_outside_the_repository() {
    let env = crate::common::TestEnv::new();
    env.key("ed25519.pub");
    std::fs::create_dir_all(env.path("repo")).unwrap();
    env.git("repo", &["init", "-q", "-b", "main"]);
    env.write("outside.txt", "secret outside the repository\n");
    std::fs::create_dir_all(env.path("elsewhere")).unwrap();
    env.write("elsewhere/file.txt", "through a symlink\n");
    std::os::unix::fs::symlink(env.path("elsewhere"), env.path("repo/link")).unwrap();
    env.write("repo/inside.txt", "inside\n");
    // Each subject's digest matches the file it points at: following them would "cover" them.
    let statement = statement_with_subjects(&[
        ("../outside.txt", b"secret outside the repository\n"),
        ("link/file.txt", b"through a symlink\n"),
        ("/etc/hostname", b"x"),
        ("inside.txt", b"inside\n"),
    ]);
    env.write(
        "run.intoto.jsonl",
        format!("{}\n", sign(&statement).to_json_line()),
    );
    let mut cmd = env.command();
    cmd.current_dir(env.path("repo")).args([
        "verify",
        "--key",
        "../keys/ed25519.pub",
        "--worktree",
        "--format",
        "json",
        "../run.intoto.jsonl",
    ]);
    let out = CommandOutput::from(cmd.output().unwrap());
    assert_eq!(out.status, 1, "{out}");
    let coverage: Vec<(String, String)> = out
        .json_lines()
        .into_iter()
        .filter(|r| r["type"] == "coverage")
        .map(|r| {
            (
                r["data"]["path"].as_str().unwrap().to_string(),
                r["data"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for unsafe_path in ["../outside.txt", "link/file.txt", "/etc/hostname"] {
        assert!(
            coverage.contains(&(unsafe_path.to_string(), "unsafe-path".to_string())),
            "{unsafe_path}: {coverage:?}"
        );
    }
    assert!(coverage.contains(&("inside.txt".to_string(), "covered".to_string())));
    let unsafe_findings: Vec<Value> = out
        .json_lines()
        .into_iter()
        .filter(|r| r["data"]["code"] == "unsafe-path")
        .collect();
    assert_eq!(unsafe_findings.len(), 3);
    for finding in &unsafe_findings {
        assert_eq!(
            finding["data"]["attestation"], "../run.intoto.jsonl:1",
            "{finding}"
        );
    }
}

/// A tampered record cannot make replay or revert write outside their roots.
#[test]
fn tampered_records_cannot_escape_replay_or_revert() {
    let mut world = CodexWorld::new(vec![
        turn(vec![apply_patch(
            "call_1",
            "*** Begin Patch\n*** Add File: added.txt\n+new\n*** End Patch",
        )]),
        turn(vec![message("Done.")]),
    ]);
    world.env.write("repo/notes.txt", "untracked\n");
    let out = world.wrap_exec(&[], &["--json", "-s", "workspace-write", "add"]);
    assert_eq!(out.status, 0, "{out}");
    let run = CodexWorld::run_id(&out);
    world.server.halt();
    let record_path = world
        .env
        .path(&format!("repo/.git/codex-attest/runs/{run}/record.json"));
    let original = std::fs::read_to_string(&record_path).unwrap();
    let tampered = original.replace("\"name\": \"notes.txt\"", "\"name\": \"../../escaped.txt\"");
    assert_ne!(tampered, original);
    std::fs::write(&record_path, tampered).unwrap();
    let out = world.run_in("repo", &["replay", &run], None);
    assert_eq!(out.status, 2, "{out}");
    assert!(
        out.stderr
            .contains("refusing to write outside the scratch area"),
        "{out}"
    );
    assert!(!std::env::temp_dir().join("escaped.txt").exists());
    assert!(!world.env.path("escaped.txt").exists());

    // revert takes its paths from the (signed-over) statement, checked the same way.
    let statement_path = world
        .env
        .path(&format!("repo/.git/codex-attest/runs/{run}/statement.json"));
    let statement = std::fs::read_to_string(&statement_path)
        .unwrap()
        .replace("\"path\":\"added.txt\"", "\"path\":\"../added.txt\"");
    std::fs::write(&statement_path, statement).unwrap();
    world.env.write("added.txt", "outside, same name\n");
    let out = world.run_in("repo", &["revert", &run], None);
    assert_eq!(out.status, 2, "{out}");
    assert!(
        out.stderr.contains("not a safe relative path") || out.stderr.contains("outside"),
        "{out}"
    );
    assert_eq!(world.env.read("added.txt"), "outside, same name\n");
}

fn spawn_wrap(world: &CodexWorld, exec: &[&str]) -> std::process::Child {
    let mut cmd = world.env.command();
    cmd.current_dir(world.env.path("repo"))
        .args(["wrap", "--", "codex", "exec"])
        .args(exec)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.spawn().unwrap()
}

fn wait_for_requests(world: &CodexWorld, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while world.server.requests().len() < n {
        assert!(Instant::now() < deadline, "Codex never made request {n}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) {
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            let ppid: u32 = after.split_whitespace().nth(1).unwrap().parse().unwrap();
            if ppid == pid {
                out.push(p);
            }
        }
    }
    out
}

/// The process that really is Codex (the native binary under the npm launcher).
fn native_codex(wrap_pid: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut frontier = children_of(wrap_pid);
        while let Some(p) = frontier.pop() {
            let exe = std::fs::read_link(format!("/proc/{p}/exe")).unwrap_or_default();
            if exe.to_string_lossy().ends_with("/bin/codex") {
                return p;
            }
            frontier.extend(children_of(p));
        }
        assert!(
            Instant::now() < deadline,
            "no native codex process under {wrap_pid}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn codex_killed_with_sigkill_is_recorded_as_killed() {
    let world = CodexWorld::new(vec![Turn::Hang]);
    let child = spawn_wrap(&world, &["--json", "hang"]);
    wait_for_requests(&world, 1);
    let native = native_codex(child.id());
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(native as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let out = CommandOutput::from(child.wait_with_output().unwrap());
    assert_eq!(out.status, 128 + 9, "{out}");
    let shown = world.show(&CodexWorld::run_id(&out));
    let outcome =
        &shown["statement"]["predicate"]["buildDefinition"]["internalParameters"]["outcome"];
    assert_eq!(outcome["status"], "killed");
    assert_eq!(outcome["signal"], 9);
}

#[test]
fn codex_attest_killed_mid_run_leaves_a_consistent_store() {
    let mut world = CodexWorld::new(vec![Turn::Hang]);
    let mut child = spawn_wrap(&world, &["--json", "hang"]);
    wait_for_requests(&world, 1);
    // wrap is capturing the event log into the store's tmp/ when it dies.
    child.kill().unwrap();
    child.wait().unwrap();
    world.server.halt();
    let fsck = world.run_in("repo", &["fsck", "--format", "json"], None);
    assert_eq!(fsck.status, 1, "{fsck}");
    let report: Value = serde_json::from_str(&fsck.stdout).unwrap();
    assert!(
        !report["leftovers"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert_eq!(report["runs"], 0);
    assert_eq!(report["corruptBlobs"], json!([]));
    // The store still works, and repair removes the leftovers.
    world.run_in("repo", &["log"], None).success();
    world.run_in("repo", &["fsck", "--repair"], None).success();
    world.run_in("repo", &["fsck"], None).success();
    let next = world.run_in(
        "repo",
        &["wrap", "--", "sh", "-c", "echo after > after.txt"],
        None,
    );
    assert_eq!(next.status, 0, "{next}");
    world
        .run_in("repo", &["show", &CodexWorld::run_id(&next)], None)
        .success();
}

#[test]
fn a_full_disk_is_a_clear_error_and_codex_exit_status_is_kept() {
    let world = CodexWorld::new(vec![turn(vec![message("Done.")])]);
    let store = world.env.path("repo/.git/codex-attest");
    std::fs::create_dir_all(&store).unwrap();
    // A private mount namespace with a 48 KiB tmpfs as the store: enough for the inputs pinned
    // before the run, not for Codex's transcript after it.
    let script = format!(
        "mount -t tmpfs -o size=48k tmpfs '{}' && exec \"$0\" wrap -- codex exec --json 'say done'",
        store.display()
    );
    let mut cmd = world.env.command();
    let program = cmd.get_program().to_owned();
    let mut unshare = std::process::Command::new("unshare");
    unshare
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .arg(&program);
    unshare.current_dir(world.env.path("repo")).env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            unshare.env(k, v);
        }
    }
    cmd.current_dir(world.env.path("repo"));
    let out = CommandOutput::from(
        unshare
            .stdin(std::process::Stdio::null())
            .output()
            .expect("unshare (util-linux) must be installed"),
    );
    assert_eq!(out.status, 0, "Codex's own exit status:\n{out}");
    assert!(out.stderr.contains("the run was not recorded"), "{out}");
    assert!(out.stderr.contains("No space left on device"), "{out}");
    assert!(
        out.stdout.contains("turn.completed"),
        "Codex's output still passed through:\n{out}"
    );
}

#[test]
fn eight_wraps_at_once_leave_eight_intact_records() {
    let world = CodexWorld::new(vec![turn(vec![message("Done.")])]);
    let mut children = Vec::new();
    for i in 0..8 {
        let mut cmd = world.env.command();
        cmd.current_dir(world.env.path("repo"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if i % 2 == 0 {
            cmd.args([
                "wrap",
                "--",
                "codex",
                "exec",
                "--json",
                &format!("task {i}"),
            ]);
        } else {
            cmd.args(["wrap", "--", "sh", "-c", &format!("echo {i} > file{i}.txt")]);
        }
        children.push(cmd.spawn().unwrap());
    }
    let mut ids = Vec::new();
    for child in children {
        let out = CommandOutput::from(child.wait_with_output().unwrap());
        assert_eq!(out.status, 0, "{out}");
        ids.push(CodexWorld::run_id(&out));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    let log = world
        .run_in("repo", &["log", "--format", "json"], None)
        .success();
    assert_eq!(
        log.json_lines()
            .iter()
            .filter(|r| r["type"] == "run")
            .count(),
        8
    );
    for id in &ids {
        world.run_in("repo", &["show", id], None).success();
    }
    world.run_in("repo", &["fsck"], None).success();
}

#[test]
fn changes_another_process_made_during_the_run_are_flagged() {
    let world = CodexWorld::new(vec![
        turn(vec![apply_patch(
            "call_1",
            "*** Begin Patch\n*** Add File: by-codex.txt\n+codex\n*** End Patch",
        )]),
        Turn::Hang,
    ]);
    let child = spawn_wrap(&world, &["--json", "-s", "workspace-write", "patch"]);
    wait_for_requests(&world, 2);
    // Codex has applied its patch and waits for the model; someone else writes a file.
    world.env.write("repo/by-someone-else.txt", "not codex\n");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let out = CommandOutput::from(child.wait_with_output().unwrap());
    assert!(
        out.stderr
            .contains("another process may have written to the tree"),
        "{out}"
    );
    let shown = world.show(&CodexWorld::run_id(&out));
    let outcome =
        &shown["statement"]["predicate"]["buildDefinition"]["internalParameters"]["outcome"];
    assert_eq!(outcome["possiblyConcurrent"], true);
    let added: Vec<&str> = outcome["changes"]["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["by-codex.txt", "by-someone-else.txt"]);
}
