//! SLSA Provenance v1 wire types (`https://slsa.dev/provenance/v1`): camelCase fields, RFC 3339
//! UTC timestamps. Parameters stay JSON values here; our own build type's parameters are typed in
//! `predicate`.
//!
//! What we ignore (and why): extension fields of other producers are preserved as unknown fields
//! are in every foreign format: they are skipped on parse, never interpreted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::intoto::ResourceDescriptor;
use crate::timestamp::Timestamp;

pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// A provenance predicate. Read with its parameters as JSON values; written with them typed
/// (`record::build_statement`), straight to JSON text: a run of 10,000 changed files spent 80 ms
/// turning them into values and back (BENCHMARKS.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "E: Deserialize<'de>, I: Deserialize<'de>")
)]
pub struct Provenance<E = serde_json::Value, I = serde_json::Value> {
    pub build_definition: BuildDefinition<E, I>,
    pub run_details: RunDetails,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "E: Deserialize<'de>, I: Deserialize<'de>")
)]
pub struct BuildDefinition<E = serde_json::Value, I = serde_json::Value> {
    pub build_type: String,
    pub external_parameters: E,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_parameters: Option<I>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    pub builder: Builder,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BuildMetadata>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<ResourceDescriptor>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder_dependencies: Vec<ResourceDescriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    #[error("the predicate type is {found:?}, expected {SLSA_PROVENANCE_V1:?}")]
    PredicateType { found: String },
    #[error("the predicate is not SLSA Provenance v1: {0}")]
    Shape(String),
    #[error("`{0}` is required")]
    Missing(&'static str),
}

impl Provenance {
    /// Reads the predicate of a statement whose `predicateType` is SLSA Provenance v1, enforcing
    /// the fields the reference validator requires (`buildType`, `externalParameters`,
    /// `builder.id`).
    pub fn from_statement(
        statement: &crate::intoto::Statement,
    ) -> Result<Provenance, ProvenanceError> {
        if statement.predicate_type != SLSA_PROVENANCE_V1 {
            return Err(ProvenanceError::PredicateType {
                found: statement.predicate_type.clone(),
            });
        }
        let provenance: Provenance = statement
            .predicate
            .parse()
            .map_err(|err| ProvenanceError::Shape(err.to_string()))?;
        if provenance.build_definition.build_type.is_empty() {
            return Err(ProvenanceError::Missing("buildDefinition.buildType"));
        }
        if provenance.build_definition.external_parameters.is_null() {
            return Err(ProvenanceError::Missing(
                "buildDefinition.externalParameters",
            ));
        }
        if provenance.run_details.builder.id.is_empty() {
            return Err(ProvenanceError::Missing("runDetails.builder.id"));
        }
        Ok(provenance)
    }
}
