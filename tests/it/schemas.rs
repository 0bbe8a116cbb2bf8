//! The JSON Schemas in `schemas/` describe real output, and reject what they should.

use crate::common::{TestEnv, assert_schema_valid, schema_rejects};
use crate::fixtures::provenance_statement;

#[test]
fn codex_run_parameters_match_their_schemas() {
    let predicate = provenance_statement().predicate.to_value().unwrap();
    let definition = &predicate["buildDefinition"];
    assert_schema_valid(
        "codex-run/v1/external-parameters.schema.json",
        &definition["externalParameters"],
    );
    assert_schema_valid(
        "codex-run/v1/internal-parameters.schema.json",
        &definition["internalParameters"],
    );
}

#[test]
fn schemas_reject_malformed_parameters() {
    let predicate = provenance_statement().predicate.to_value().unwrap();
    let mut external = predicate["buildDefinition"]["externalParameters"].clone();
    external["unexpected"] = serde_json::json!(true);
    assert!(schema_rejects(
        "codex-run/v1/external-parameters.schema.json",
        &external
    ));
    let mut internal = predicate["buildDefinition"]["internalParameters"].clone();
    internal["outcome"]["status"] = serde_json::json!("fine");
    assert!(schema_rejects(
        "codex-run/v1/internal-parameters.schema.json",
        &internal
    ));
}

#[test]
fn envelope_lines_match_their_schema() {
    let env = TestEnv::new();
    env.key("ed25519.key");
    env.key("ecdsa-p256.key");
    env.write(
        "st.json",
        serde_json::to_vec(&provenance_statement()).unwrap(),
    );
    env.run(&[
        "sign",
        "--key",
        "keys/ed25519.key",
        "--key",
        "keys/ecdsa-p256.key",
        "--output",
        "a.intoto.jsonl",
        "st.json",
    ])
    .success();
    let line: serde_json::Value =
        serde_json::from_str(env.read("a.intoto.jsonl").trim_end()).unwrap();
    assert_schema_valid("dsse-envelope.schema.json", &line);
    let mut no_sigs = line.clone();
    no_sigs["signatures"] = serde_json::json!([]);
    assert!(schema_rejects("dsse-envelope.schema.json", &no_sigs));
}

/// docs/json-output.md names every coverage status the report schema allows, every finding code
/// that is not a policy rule, and every envelope failure code.
#[test]
fn the_json_output_docs_name_every_coverage_status_and_fixed_finding_code() {
    let read = |path: &str| std::fs::read_to_string(crate::common::repo_path(path)).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(&read("schemas/verify-report.v1.schema.json")).unwrap();
    let docs = read("docs/json-output.md");
    let coverage = schema["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["properties"]["type"]["const"] == "coverage")
        .unwrap();
    let statuses = coverage["properties"]["data"]["properties"]["status"]["enum"]
        .as_array()
        .unwrap();
    let row = docs
        .lines()
        .find(|l| l.starts_with("| `coverage` |"))
        .unwrap();
    assert_eq!(statuses.len(), 5);
    for status in statuses {
        let status = status.as_str().unwrap();
        assert!(row.contains(&format!("`{status}`")), "{status}: {row}");
    }
    let fixed = docs
        .split("Finding codes other than policy rules:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    for code in [
        "no-attestations",
        "unknown-build-type",
        "ignored-attestation",
        "unsafe-path",
    ] {
        assert!(fixed.contains(&format!("`{code}`")), "{code}: {fixed}");
    }
    // Every failure code an envelope record may carry is explained.
    let envelope = schema["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["properties"]["type"]["const"] == "envelope")
        .unwrap();
    let failures = docs
        .split("Failure codes (`code`):")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    let codes = envelope["properties"]["data"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap();
    assert!(codes.len() > 10);
    for code in codes {
        let code = code.as_str().unwrap();
        assert!(
            failures.contains(&format!("`{code}`")),
            "{code}: {failures}"
        );
    }
}
