//! SLSA Verification Summary Attestations (`https://slsa.dev/verification_summary/v1`): the
//! signed record of a gate's decision, for whoever consumes the release next.

use std::collections::BTreeMap;

use serde_json::json;

use crate::digest::{DigestSet, Sha256Digest};
use crate::intoto::{Predicate, ResourceDescriptor, STATEMENT_TYPE_V1, Statement};
use crate::timestamp::Timestamp;

pub const VSA_PREDICATE_TYPE: &str = "https://slsa.dev/verification_summary/v1";
pub const VERIFIER_ID: &str = "https://codex-attest.dev/verifier/v1";

pub struct VsaParts {
    pub subjects: Vec<ResourceDescriptor>,
    pub resource_uri: String,
    pub policy: Option<(String, Sha256Digest)>,
    /// Each input attestation: where it came from, and the SHA-256 of its envelope line.
    pub inputs: Vec<(String, Sha256Digest)>,
    pub passed: bool,
    pub time: Timestamp,
    pub tool_version: String,
}

pub fn build(parts: VsaParts) -> Statement {
    let digest = |d: &Sha256Digest| {
        let mut set = DigestSet::new();
        set.insert("sha256".to_string(), d.to_string());
        set
    };
    let mut predicate = json!({
        "verifier": {"id": VERIFIER_ID, "version": BTreeMap::from([("codex-attest", parts.tool_version.clone())])},
        "timeVerified": parts.time,
        "resourceUri": parts.resource_uri,
        "inputAttestations": parts.inputs.iter().map(|(uri, d)| json!({"uri": uri, "digest": digest(d)})).collect::<Vec<_>>(),
        "verificationResult": if parts.passed { "PASSED" } else { "FAILED" },
        "verifiedLevels": if parts.passed { vec!["SLSA_BUILD_LEVEL_1"] } else { Vec::new() },
        "slsaVersion": "1.0",
    });
    if let Some((uri, d)) = &parts.policy {
        predicate["policy"] = json!({"uri": uri, "digest": digest(d)});
    }
    Statement {
        statement_type: STATEMENT_TYPE_V1.to_string(),
        subject: parts.subjects,
        predicate_type: VSA_PREDICATE_TYPE.to_string(),
        predicate: Predicate::from_value(&predicate),
    }
}
