//! The JSON Schemas in `schemas/` describe real output, and reject what they should.

use crate::common::{TestEnv, assert_schema_valid, schema_rejects};
use crate::fixtures::provenance_statement;

#[test]
fn codex_run_parameters_match_their_schemas() {
    let statement = provenance_statement();
    let definition = &statement.predicate["buildDefinition"];
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
    let statement = provenance_statement();
    let mut external = statement.predicate["buildDefinition"]["externalParameters"].clone();
    external["unexpected"] = serde_json::json!(true);
    assert!(schema_rejects(
        "codex-run/v1/external-parameters.schema.json",
        &external
    ));
    let mut internal = statement.predicate["buildDefinition"]["internalParameters"].clone();
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
