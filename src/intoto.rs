//! in-toto Statement v1 and ResourceDescriptor wire types.
//!
//! Parsing is lenient as the attestation spec requires (unknown fields are ignored); validation
//! is a separate step (`Statement::validate`) that enforces what the Go reference bindings
//! enforce: the `_type`, at least one subject, a digest on every subject with well-formed hex of
//! the right length for the algorithms we know, a `predicateType`, and a predicate object.
//!
//! We write these types ourselves rather than use the `in-toto` 0.4 crate, which only knows
//! Statement v0.1 and SLSA v0.1/v0.2 (see ARCHITECTURE.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::DigestSet;

pub const STATEMENT_TYPE_V1: &str = "https://in-toto.io/Statement/v1";

/// An in-toto Statement v1. The predicate stays JSON text here; typed predicates live in
/// `provenance`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: Predicate,
}

/// A statement's predicate, kept as the JSON text it was read as (or built from). Readers parse
/// it into their own types when they need it: a release gate holds thousands of statements, and
/// a predicate held as a `serde_json::Value` costs about 9 KB of small allocations (BENCHMARKS.md).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Predicate(Box<serde_json::value::RawValue>);

impl Predicate {
    /// The predicate of `value`, written compactly (object keys sorted, as `serde_json` writes a
    /// `Value`).
    pub fn from_value(value: &serde_json::Value) -> Predicate {
        // A `Value` always serializes.
        Predicate::from_serialize(value).unwrap_or_default()
    }

    /// The predicate `value` serializes to, written compactly (object keys in the order `value`
    /// writes them).
    pub fn from_serialize<T: Serialize + ?Sized>(
        value: &T,
    ) -> Result<Predicate, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Predicate)
    }

    /// The predicate parsed into `T`.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// The predicate as a generic JSON value.
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        self.parse()
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    pub fn is_object(&self) -> bool {
        self.0.get().trim_start().starts_with('{')
    }
}

impl Default for Predicate {
    /// The empty object, `{}`.
    fn default() -> Predicate {
        Predicate(
            serde_json::value::RawValue::from_string("{}".to_string())
                .unwrap_or_else(|_| unreachable!("`{{}}` is JSON")),
        )
    }
}

/// Two predicates are equal when their JSON text is.
impl PartialEq for Predicate {
    fn eq(&self, other: &Predicate) -> bool {
        self.get() == other.get()
    }
}

/// An in-toto ResourceDescriptor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "DigestSet::is_empty")]
    pub digest: DigestSet,
    /// Raw content, base64 in JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatementError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("`_type` is {found:?}, expected {STATEMENT_TYPE_V1:?}")]
    Type { found: String },
    #[error("the statement has no subjects")]
    NoSubjects,
    #[error("subject {index} has no digest")]
    SubjectWithoutDigest { index: usize },
    #[error("subject {index} has a malformed {algorithm} digest: {reason}")]
    BadDigest {
        index: usize,
        algorithm: String,
        reason: String,
    },
    #[error("`predicateType` is empty")]
    NoPredicateType,
    #[error("`predicate` is not a JSON object")]
    PredicateNotObject,
}

impl Statement {
    /// Parses and validates a statement from bytes (normally the verified payload of an envelope).
    pub fn from_slice(bytes: &[u8]) -> Result<Statement, StatementError> {
        let statement: Statement =
            serde_json::from_slice(bytes).map_err(|err| StatementError::Json(err.to_string()))?;
        statement.validate()?;
        Ok(statement)
    }

    pub fn validate(&self) -> Result<(), StatementError> {
        if self.statement_type != STATEMENT_TYPE_V1 {
            return Err(StatementError::Type {
                found: self.statement_type.clone(),
            });
        }
        if self.subject.is_empty() {
            return Err(StatementError::NoSubjects);
        }
        for (index, subject) in self.subject.iter().enumerate() {
            if subject.digest.is_empty() {
                return Err(StatementError::SubjectWithoutDigest { index });
            }
            for (algorithm, value) in &subject.digest {
                if let Err(reason) = check_digest(algorithm, value) {
                    return Err(StatementError::BadDigest {
                        index,
                        algorithm: algorithm.clone(),
                        reason,
                    });
                }
            }
        }
        if self.predicate_type.is_empty() {
            return Err(StatementError::NoPredicateType);
        }
        if !self.predicate.is_object() {
            return Err(StatementError::PredicateNotObject);
        }
        Ok(())
    }

    /// Compact JSON, as we sign it.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing JSON values and strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Checks lowercase hex and, for the algorithms the spec names, the length.
fn check_digest(algorithm: &str, value: &str) -> Result<(), String> {
    let expected: &[usize] = match algorithm {
        "sha256" | "sha512_256" | "sha3_256" | "blake2s" => &[64],
        "sha224" | "sha512_224" | "sha3_224" => &[56],
        "sha384" | "sha3_384" => &[96],
        "sha512" | "sha3_512" | "blake2b" => &[128],
        "sha1" | "ripemd160" => &[40],
        "md5" => &[32],
        "gitBlob" | "gitCommit" | "gitTree" | "gitTag" => &[40, 64],
        // Other algorithms (dirHash, gost, sm3, custom ones) are not length-checked.
        _ => &[],
    };
    if !expected.is_empty() {
        if let Some(bad) = value.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(format!("{bad:?} is not lowercase hex"));
        }
        if !expected.contains(&value.len()) {
            return Err(format!(
                "{} hex characters, expected {:?}",
                value.len(),
                expected
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<Statement, StatementError> {
        Statement::from_slice(json.as_bytes())
    }

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn valid_statement_ignores_unknown_fields() {
        let json = format!(
            r#"{{"_type":"{STATEMENT_TYPE_V1}","subject":[{{"name":"a","digest":{{"sha256":"{SHA}"}},"x":1}}],"predicateType":"p","predicate":{{}},"extra":true}}"#
        );
        let statement = check(&json).unwrap();
        assert_eq!(statement.subject[0].name.as_deref(), Some("a"));
    }

    #[test]
    fn invalid_statements_are_rejected() {
        let cases = [
            (
                r#"{"_type":"https://in-toto.io/Statement/v0.1","subject":[],"predicateType":"p"}"#,
                "`_type`",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"p"}"#,
                "no subjects",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a"}],"predicateType":"p"}"#,
                "no digest",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ABC"}}],"predicateType":"p"}"#,
                "malformed sha256",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"gitBlob":"abc"}}],"predicateType":"p"}"#,
                "malformed gitBlob",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"x":"y"}}],"predicateType":""}"#,
                "`predicateType` is empty",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"x":"y"}}],"predicateType":"p","predicate":[]}"#,
                "not a JSON object",
            ),
            (r#"{"subject":[]}"#, "not JSON"),
        ];
        for (json, expected) in cases {
            let err = check(json).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn missing_predicate_means_empty() {
        let json = format!(
            r#"{{"_type":"{STATEMENT_TYPE_V1}","subject":[{{"digest":{{"sha256":"{SHA}"}}}}],"predicateType":"p"}}"#
        );
        assert_eq!(check(&json).unwrap().predicate.get(), "{}");
    }
}
