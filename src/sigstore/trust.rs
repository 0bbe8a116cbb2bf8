//! The Sigstore trusted root (`trusted_root.json`, TrustedRoot v0.1): which Fulcio CAs, Rekor
//! logs and CT logs a keyless verification trusts, and when.
//!
//! Read offline from a file the verifier chose (`--trusted-root`, `signers.trusted-root`); we do
//! not fetch it through TUF. Timestamp authorities are read but not used (see `verify`).

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::dsse::decode_base64;

#[derive(Debug, thiserror::Error)]
pub enum TrustedRootError {
    #[error("not a trusted root: {0}")]
    Json(String),
    #[error("unsupported trusted root mediaType {0:?}")]
    MediaType(String),
    #[error("{what} is not valid base64")]
    Base64 { what: String },
    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },
    #[error("the trusted root lists no Fulcio certificate authority and no transparency log")]
    Empty,
}

/// A transparency log (Rekor) or CT log the verifier trusts.
#[derive(Clone, Debug)]
pub struct TrustedLog {
    pub base_url: String,
    /// SHA-256 of the log's DER SPKI.
    pub log_id: Vec<u8>,
    /// DER SPKI of the log's key.
    pub public_key: Vec<u8>,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
}

/// A certificate authority (Fulcio): its chain, leaf-most first, as DER.
#[derive(Clone, Debug)]
pub struct TrustedCa {
    pub uri: String,
    pub chain: Vec<Vec<u8>>,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct TrustedRoot {
    pub tlogs: Vec<TrustedLog>,
    pub ctlogs: Vec<TrustedLog>,
    pub certificate_authorities: Vec<TrustedCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: Option<String>,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    public_key: RawKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKey {
    raw_bytes: Option<String>,
    valid_for: Option<RawValidFor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCa {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: Option<RawValidFor>,
}

#[derive(Deserialize)]
struct RawChain {
    #[serde(default)]
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct RawValidFor {
    start: Option<String>,
    end: Option<String>,
}

fn parse_time(text: &str, what: &str) -> Result<i64, TrustedRootError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| TrustedRootError::Invalid {
            what: what.to_string(),
            detail: format!("{text:?} is not an RFC 3339 time: {e}"),
        })
}

fn window(
    valid: &Option<RawValidFor>,
    what: &str,
) -> Result<(Option<i64>, Option<i64>), TrustedRootError> {
    let Some(v) = valid else {
        return Ok((None, None));
    };
    let start = v
        .start
        .as_deref()
        .map(|s| parse_time(s, what))
        .transpose()?;
    let end = v.end.as_deref().map(|s| parse_time(s, what)).transpose()?;
    Ok((start, end))
}

fn b64(text: &str, what: String) -> Result<Vec<u8>, TrustedRootError> {
    decode_base64(text).ok_or(TrustedRootError::Base64 { what })
}

fn logs(raw: Vec<RawLog>, kind: &str) -> Result<Vec<TrustedLog>, TrustedRootError> {
    raw.into_iter()
        .enumerate()
        .filter_map(|(i, log)| {
            // A log without key bytes cannot verify anything; it is skipped, not trusted.
            let key = log.public_key.raw_bytes.clone()?;
            Some((i, log, key))
        })
        .map(|(i, log, key)| {
            let what = format!("{kind}[{i}]");
            let (valid_from, valid_until) = window(&log.public_key.valid_for, &what)?;
            Ok(TrustedLog {
                base_url: log.base_url,
                log_id: b64(&log.log_id.key_id, format!("{what}.logId.keyId"))?,
                public_key: b64(&key, format!("{what}.publicKey.rawBytes"))?,
                valid_from,
                valid_until,
            })
        })
        .collect()
}

impl TrustedRoot {
    pub fn from_slice(bytes: &[u8]) -> Result<TrustedRoot, TrustedRootError> {
        let raw: RawRoot =
            serde_json::from_slice(bytes).map_err(|e| TrustedRootError::Json(e.to_string()))?;
        if let Some(media) = &raw.media_type {
            if !media.starts_with("application/vnd.dev.sigstore.trustedroot") {
                return Err(TrustedRootError::MediaType(media.clone()));
            }
        }
        let tlogs = logs(raw.tlogs, "tlogs")?;
        let ctlogs = logs(raw.ctlogs, "ctlogs")?;
        let mut cas = Vec::new();
        for (i, ca) in raw.certificate_authorities.into_iter().enumerate() {
            let what = format!("certificateAuthorities[{i}]");
            let (valid_from, valid_until) = window(&ca.valid_for, &what)?;
            let chain = ca
                .cert_chain
                .certificates
                .iter()
                .enumerate()
                .map(|(j, c)| b64(&c.raw_bytes, format!("{what}.certChain.certificates[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            if chain.is_empty() {
                continue;
            }
            cas.push(TrustedCa {
                uri: ca.uri,
                chain,
                valid_from,
                valid_until,
            });
        }
        if cas.is_empty() && tlogs.is_empty() {
            return Err(TrustedRootError::Empty);
        }
        Ok(TrustedRoot {
            tlogs,
            ctlogs,
            certificate_authorities: cas,
        })
    }
}

impl TrustedLog {
    pub fn valid_at(&self, t: i64) -> bool {
        self.valid_from.is_none_or(|s| s <= t) && self.valid_until.is_none_or(|e| t <= e)
    }
}

impl TrustedCa {
    pub fn valid_at(&self, t: i64) -> bool {
        self.valid_from.is_none_or(|s| s <= t) && self.valid_until.is_none_or(|e| t <= e)
    }
}
