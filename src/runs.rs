//! Stored runs: loading one (record, statement, envelopes), finding one by id or prefix, and
//! filtering many (the `log` command and blast-radius queries).

use crate::digest::Sha256Digest;
use crate::dsse::Envelope;
use crate::envelope_file::parse_envelope_lines;
use crate::intoto::Statement;
use crate::predicate::{ExternalParameters, InternalParameters, RunStatus};
use crate::provenance::Provenance;
use crate::record::{RECORD_SCHEMA, RunRecord};
use crate::store::{Store, StoreError};
use crate::timestamp::Timestamp;

/// A run read back from the store.
#[derive(Clone, Debug)]
pub struct LoadedRun {
    pub id: String,
    pub dir: std::path::PathBuf,
    pub record: RunRecord,
    pub statement_json: Vec<u8>,
    pub statement: Statement,
    pub provenance: Option<Provenance>,
    pub external: Option<ExternalParameters>,
    pub internal: Option<InternalParameters>,
    pub envelopes: Vec<Envelope>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no run matches {0:?}")]
    NoMatch(String),
    #[error("{query:?} matches {count} runs; give more of the id")]
    Ambiguous { query: String, count: usize },
    #[error("the store has no runs yet")]
    Empty,
    #[error("the attested statement is not valid: {0}")]
    BadStatement(String),
    #[error("the attested statement names no run (no runDetails.metadata.invocationId)")]
    NoRunId,
    #[error(
        "the attested statement is not the one stored for run {0} (the attestation or the store \
         was changed)"
    )]
    NotTheStoredStatement(String),
    #[error("run {run}: {what} is not valid: {detail}")]
    Invalid {
        run: String,
        what: &'static str,
        detail: String,
    },
}

/// Finds a run id: exact, `latest`, or a unique prefix.
pub fn resolve_id(store: &Store, query: &str) -> Result<String, RunError> {
    let ids = store.run_ids()?;
    if query == "latest" {
        return ids.last().cloned().ok_or(RunError::Empty);
    }
    if ids.iter().any(|id| id == query) {
        return Ok(query.to_string());
    }
    let matching: Vec<&String> = ids.iter().filter(|id| id.starts_with(query)).collect();
    match matching.len() {
        0 => Err(RunError::NoMatch(query.to_string())),
        1 => Ok(matching[0].clone()),
        count => Err(RunError::Ambiguous {
            query: query.to_string(),
            count,
        }),
    }
}

/// Loads a run, checking that its record and statement belong together.
pub fn load(store: &Store, id: &str) -> Result<LoadedRun, RunError> {
    let stored = store.get_run(id)?;
    let invalid = |what, detail: String| RunError::Invalid {
        run: id.to_string(),
        what,
        detail,
    };
    let record: RunRecord = serde_json::from_slice(&stored.record_json)
        .map_err(|err| invalid("record.json", err.to_string()))?;
    if record.schema != RECORD_SCHEMA {
        return Err(invalid(
            "record.json",
            format!("schema {:?}, expected {RECORD_SCHEMA:?}", record.schema),
        ));
    }
    if record.id != id {
        return Err(invalid(
            "record.json",
            format!("it names run {:?}", record.id),
        ));
    }
    let statement = Statement::from_slice(&stored.statement_json)
        .map_err(|err| invalid("statement.json", err.to_string()))?;
    let provenance = Provenance::from_statement(&statement).ok();
    let external = provenance
        .as_ref()
        .and_then(|p| serde_json::from_value(p.build_definition.external_parameters.clone()).ok());
    let internal = provenance
        .as_ref()
        .and_then(|p| p.build_definition.internal_parameters.clone())
        .and_then(|v| serde_json::from_value(v).ok());
    let envelopes = stored
        .envelope_lines
        .as_deref()
        .map(|lines| {
            parse_envelope_lines(lines)
                .into_iter()
                .map(|(_, e)| e)
                .collect()
        })
        .unwrap_or_default();
    Ok(LoadedRun {
        id: id.to_string(),
        dir: stored.dir,
        record,
        statement_json: stored.statement_json,
        statement,
        provenance,
        external,
        internal,
        envelopes,
    })
}

/// The stored run an attested statement (`payload`, the envelope's payload bytes) is about: the
/// one its `runDetails.metadata.invocationId` names, whose stored statement must be exactly these
/// bytes, so that nothing the attestation does not say is taken from the store.
pub fn load_attested(store: &Store, payload: &[u8]) -> Result<LoadedRun, RunError> {
    let statement =
        Statement::from_slice(payload).map_err(|err| RunError::BadStatement(err.to_string()))?;
    let predicate = statement
        .predicate
        .to_value()
        .map_err(|err| RunError::BadStatement(err.to_string()))?;
    let id = predicate
        .pointer("/runDetails/metadata/invocationId")
        .and_then(|v| v.as_str())
        .ok_or(RunError::NoRunId)?;
    let run = load(store, id)?;
    if run.statement_json != payload {
        return Err(RunError::NotTheStoredStatement(run.id));
    }
    Ok(run)
}

/// Filters for `log`.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    pub model: Option<String>,
    pub role: Option<String>,
    pub status: Option<RunStatus>,
    pub codex_version: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// A changed path (exact, or a directory prefix ending in `/`).
    pub path: Option<String>,
    /// An input, by digest or by name.
    pub input: Option<InputQuery>,
}

#[derive(Clone, Debug)]
pub enum InputQuery {
    Digest(Sha256Digest),
    Name(String),
}

impl LogFilter {
    pub fn matches(&self, run: &LoadedRun) -> bool {
        let s = &run.record.summary;
        if self
            .model
            .as_ref()
            .is_some_and(|m| s.model.as_ref() != Some(m))
        {
            return false;
        }
        if self
            .role
            .as_ref()
            .is_some_and(|r| s.role.as_ref() != Some(r))
        {
            return false;
        }
        if self.status.is_some_and(|st| s.status != st) {
            return false;
        }
        if self
            .codex_version
            .as_ref()
            .is_some_and(|v| s.codex_version.as_ref() != Some(v))
        {
            return false;
        }
        if self.since.is_some_and(|t| s.started_on < t)
            || self.until.is_some_and(|t| s.started_on > t)
        {
            return false;
        }
        if let Some(path) = &self.path {
            let changed = changed_paths(run);
            let hit = changed
                .iter()
                .any(|p| p == path || (path.ends_with('/') && p.starts_with(path.as_str())));
            if !hit {
                return false;
            }
        }
        if let Some(query) = &self.input {
            let hit = run.record.inputs.iter().any(|i| match query {
                InputQuery::Digest(d) => i.sha256 == *d,
                InputQuery::Name(n) => i.name == *n,
            });
            if !hit {
                return false;
            }
        }
        true
    }
}

/// Every path a run changed (added, modified, deleted, renamed from and to).
pub fn changed_paths(run: &LoadedRun) -> Vec<String> {
    let Some(outcome) = run.internal.as_ref().and_then(|i| i.outcome.as_ref()) else {
        return Vec::new();
    };
    let c = &outcome.changes;
    c.added
        .iter()
        .chain(&c.modified)
        .chain(&c.deleted)
        .map(|f| f.path.clone())
        .chain(
            c.renamed
                .iter()
                .flat_map(|r| [r.from.clone(), r.to.clone()]),
        )
        .collect()
}
