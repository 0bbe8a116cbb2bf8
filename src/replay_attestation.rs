//! The signed record of a replay: an in-toto Statement v1 whose subject is the replayed run's
//! own statement (by digest) and whose predicate is the replay report, so "re-running run X
//! from its pinned inputs gave this outcome" can be kept, shared and verified like any run.

use serde_json::json;

use crate::digest::{DigestSet, Sha256Digest};
use crate::intoto::{Predicate, ResourceDescriptor, STATEMENT_TYPE_V1, Statement};
use crate::replay::ReplayReport;
use crate::timestamp::Timestamp;

/// The predicate type of a replay attestation; `predicate.report` is the `replay --format json`
/// report.
pub const REPLAY_PREDICATE_TYPE: &str = "https://codex-attest.dev/replay/v1";

pub fn build(
    report: &ReplayReport,
    run_statement: Sha256Digest,
    time: Timestamp,
    tool_version: &str,
) -> Statement {
    let mut digest = DigestSet::new();
    digest.insert("sha256".to_string(), run_statement.to_string());
    Statement {
        statement_type: STATEMENT_TYPE_V1.to_string(),
        subject: vec![ResourceDescriptor {
            name: Some(format!("codex-attest-run:{}", report.run)),
            digest,
            media_type: Some("application/vnd.in-toto+json".to_string()),
            ..Default::default()
        }],
        predicate_type: REPLAY_PREDICATE_TYPE.to_string(),
        predicate: Predicate::from_value(&json!({
            "replayer": {"id": "https://codex-attest.dev/replayer/v1", "version": {"codex-attest": tool_version}},
            "timeReplayed": time,
            "report": report,
        })),
    }
}
