//! Sigstore bundle v0.3 JSON (protobuf JSON mapping): wire types, structural validation, and the
//! key-signed bundle we export.
//!
//! Lenient like every foreign format we read (unknown fields are ignored), but the rules that
//! protect verification are enforced on parse: a known media type, a DSSE envelope with exactly
//! one signature, exactly one kind of verification material, and for v0.2 and later an inclusion
//! proof with a checkpoint on every log entry.

use serde::{Deserialize, Serialize};

use crate::dsse::{Envelope, Signature};

/// What we write.
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A Sigstore bundle as it appears on the wire. Base64 fields keep their text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub media_type: String,
    pub verification_material: VerificationMaterial,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyIdentifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<RawCertificate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_certificate_chain: Option<CertificateChain>,
    #[serde(default)]
    pub tlog_entries: Vec<TlogEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_verification_data: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyIdentifier {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawCertificate {
    /// Base64 of the DER certificate.
    pub raw_bytes: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateChain {
    #[serde(default)]
    pub certificates: Vec<RawCertificate>,
}

/// One Rekor v1 transparency log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlogEntry {
    #[serde(default, with = "int64")]
    pub log_index: i64,
    pub log_id: LogId,
    pub kind_version: KindVersion,
    #[serde(default, with = "int64")]
    pub integrated_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_promise: Option<InclusionPromise>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_proof: Option<InclusionProof>,
    /// Base64 of the canonical entry body.
    #[serde(default)]
    pub canonicalized_body: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogId {
    /// Base64 of the SHA-256 of the log's public key (DER SPKI).
    pub key_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindVersion {
    pub kind: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionPromise {
    /// Base64 of the log's signature over the entry (the SET).
    pub signed_entry_timestamp: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    #[serde(default, with = "int64")]
    pub log_index: i64,
    #[serde(default)]
    pub root_hash: String,
    #[serde(default, with = "int64")]
    pub tree_size: i64,
    #[serde(default)]
    pub hashes: Vec<String>,
    pub checkpoint: Checkpoint,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub envelope: String,
}

/// Why a document is not a bundle we can use.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("not a Sigstore bundle: {0}")]
    NotJson(String),
    #[error("unsupported bundle mediaType {0:?}; expected {BUNDLE_V03_MEDIA_TYPE}")]
    MediaType(String),
    #[error(
        "the bundle holds a message signature, not a DSSE envelope (only in-toto attestations are supported)"
    )]
    NotDsse,
    #[error("the bundle's DSSE envelope has {0} signatures; a Sigstore bundle must have exactly 1")]
    SignatureCount(usize),
    #[error("the bundle's DSSE envelope has an empty payload or signature")]
    EmptyEnvelope,
    #[error(
        "the bundle's verificationMaterial must hold exactly one of publicKey, certificate and x509CertificateChain"
    )]
    Material,
    #[error("a v0.3 bundle may not use x509CertificateChain; use certificate")]
    ChainInV03,
    #[error(
        "transparency log entry {0} has no inclusionProof with a checkpoint (required from bundle v0.2)"
    )]
    NoInclusionProof(usize),
}

/// The verification material, decided once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Material<'a> {
    /// A managed key; the hint is only a lookup key.
    PublicKey { hint: Option<&'a str> },
    /// Base64 of the signing (leaf) certificate.
    Certificate(&'a str),
}

/// The minor version of a bundle media type (1, 2 or 3), or `None` for an unknown type.
pub fn media_type_version(media_type: &str) -> Option<u32> {
    let minor = media_type
        .strip_prefix("application/vnd.dev.sigstore.bundle.v0.")
        .and_then(|rest| rest.strip_suffix("+json"))
        .or_else(|| {
            media_type.strip_prefix("application/vnd.dev.sigstore.bundle+json;version=0.")
        })?;
    match minor {
        "1" => Some(1),
        "2" => Some(2),
        "3" => Some(3),
        _ => None,
    }
}

/// Whether a JSON value looks like a bundle (for telling bundles from envelopes in files).
pub fn looks_like_bundle(value: &serde_json::Value) -> bool {
    value.as_object().is_some_and(|o| {
        o.get("mediaType")
            .and_then(|m| m.as_str())
            .is_some_and(|m| m.starts_with("application/vnd.dev.sigstore.bundle"))
            || o.contains_key("verificationMaterial")
    })
}

impl Bundle {
    /// Parses and validates a bundle.
    pub fn from_slice(bytes: &[u8]) -> Result<Bundle, BundleError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| BundleError::NotJson(e.to_string()))?;
        Bundle::from_value(value)
    }

    pub fn from_value(value: serde_json::Value) -> Result<Bundle, BundleError> {
        let bundle: Bundle =
            serde_json::from_value(value).map_err(|e| BundleError::NotJson(e.to_string()))?;
        bundle.validate()?;
        Ok(bundle)
    }

    fn validate(&self) -> Result<(), BundleError> {
        let version = media_type_version(&self.media_type)
            .ok_or_else(|| BundleError::MediaType(self.media_type.clone()))?;
        let envelope = self.dsse_envelope.as_ref().ok_or(BundleError::NotDsse)?;
        if envelope.signatures.len() != 1 {
            return Err(BundleError::SignatureCount(envelope.signatures.len()));
        }
        if envelope.payload.is_empty() || envelope.signatures[0].sig.is_empty() {
            return Err(BundleError::EmptyEnvelope);
        }
        let m = &self.verification_material;
        let kinds = [
            m.public_key.is_some(),
            m.certificate.is_some(),
            m.x509_certificate_chain.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(BundleError::Material);
        }
        if version >= 3 && m.x509_certificate_chain.is_some() {
            return Err(BundleError::ChainInV03);
        }
        if m.x509_certificate_chain
            .as_ref()
            .is_some_and(|c| c.certificates.is_empty())
        {
            return Err(BundleError::Material);
        }
        if version >= 2 {
            if let Some(i) = m
                .tlog_entries
                .iter()
                .position(|e| e.inclusion_proof.is_none())
            {
                return Err(BundleError::NoInclusionProof(i));
            }
        }
        Ok(())
    }

    /// The minor version of the media type (validated on parse).
    pub fn version(&self) -> u32 {
        media_type_version(&self.media_type).unwrap_or(3)
    }

    /// The DSSE envelope (present after validation).
    pub fn envelope(&self) -> &Envelope {
        // `validate` guarantees it; a hand-built bundle without one gets an empty envelope.
        static EMPTY: std::sync::OnceLock<Envelope> = std::sync::OnceLock::new();
        self.dsse_envelope.as_ref().unwrap_or_else(|| {
            EMPTY.get_or_init(|| Envelope {
                payload: String::new(),
                payload_type: String::new(),
                signatures: Vec::new(),
            })
        })
    }

    pub fn material(&self) -> Material<'_> {
        let m = &self.verification_material;
        if let Some(cert) = &m.certificate {
            return Material::Certificate(&cert.raw_bytes);
        }
        if let Some(first) = m
            .x509_certificate_chain
            .as_ref()
            .and_then(|c| c.certificates.first())
        {
            return Material::Certificate(&first.raw_bytes);
        }
        Material::PublicKey {
            hint: m.public_key.as_ref().and_then(|k| k.hint.as_deref()),
        }
    }

    /// A v0.3 bundle for one signature of a key-signed envelope: the public-key hint and the
    /// DSSE `keyid` are both our key id, and there is no log entry.
    pub fn for_key_signature(envelope: &Envelope, index: usize) -> Option<Bundle> {
        let signature = envelope.signatures.get(index)?;
        let keyid = signature.keyid.clone().filter(|k| !k.is_empty());
        Some(Bundle {
            media_type: BUNDLE_V03_MEDIA_TYPE.to_string(),
            verification_material: VerificationMaterial {
                public_key: Some(PublicKeyIdentifier {
                    hint: keyid.clone(),
                }),
                ..Default::default()
            },
            dsse_envelope: Some(Envelope {
                payload: envelope.payload.clone(),
                payload_type: envelope.payload_type.clone(),
                signatures: vec![Signature {
                    keyid,
                    sig: signature.sig.clone(),
                }],
            }),
            message_signature: None,
        })
    }

    /// Pretty JSON with a trailing newline, as written to `.sigstore.json` files.
    pub fn to_json_pretty(&self) -> String {
        // Serializing plain strings and numbers cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// One line of JSON, without the newline.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// protobuf JSON `int64`: written as a decimal string, read from a string or a number.
mod int64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(i64),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(n),
            Either::Text(t) if t.is_empty() => Ok(0),
            Either::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: &str = r#"{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"keyid":"k","sig":"AA=="}]}"#;

    fn bundle(material: &str, envelope: &str, media: &str) -> String {
        format!(
            r#"{{"mediaType":"{media}","verificationMaterial":{material},"dsseEnvelope":{envelope}}}"#
        )
    }

    #[test]
    fn media_types() {
        assert_eq!(media_type_version(BUNDLE_V03_MEDIA_TYPE), Some(3));
        assert_eq!(
            media_type_version("application/vnd.dev.sigstore.bundle+json;version=0.1"),
            Some(1)
        );
        assert_eq!(
            media_type_version("application/vnd.dev.sigstore.bundle.v0.4+json"),
            None
        );
        assert_eq!(media_type_version("application/json"), None);
    }

    #[test]
    fn validation_rules() {
        let key = r#"{"publicKey":{"hint":"k"},"tlogEntries":[]}"#;
        let ok = Bundle::from_slice(bundle(key, ENV, BUNDLE_V03_MEDIA_TYPE).as_bytes()).unwrap();
        assert_eq!(ok.material(), Material::PublicKey { hint: Some("k") });
        let two = ENV.replace(
            r#"[{"keyid":"k","sig":"AA=="}]"#,
            r#"[{"sig":"AA=="},{"sig":"AQ=="}]"#,
        );
        for (text, expected) in [
            (bundle(key, &two, BUNDLE_V03_MEDIA_TYPE), "exactly 1"),
            (bundle(key, ENV, "application/json"), "mediaType"),
            (bundle("{}", ENV, BUNDLE_V03_MEDIA_TYPE), "exactly one of"),
            (
                bundle(
                    r#"{"x509CertificateChain":{"certificates":[{"rawBytes":"AA=="}]}}"#,
                    ENV,
                    BUNDLE_V03_MEDIA_TYPE,
                ),
                "v0.3",
            ),
            (
                bundle(
                    r#"{"certificate":{"rawBytes":"AA=="},"tlogEntries":[{"logIndex":"1","logId":{"keyId":"AA=="},"kindVersion":{"kind":"dsse","version":"0.0.1"},"integratedTime":"1","canonicalizedBody":"e30="}]}"#,
                    ENV,
                    BUNDLE_V03_MEDIA_TYPE,
                ),
                "inclusionProof",
            ),
        ] {
            let err = Bundle::from_slice(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn int64_reads_strings_and_numbers_and_writes_strings() {
        let entry: TlogEntry = serde_json::from_str(
            r#"{"logIndex":7,"logId":{"keyId":"AA=="},"kindVersion":{"kind":"dsse","version":"0.0.1"},"integratedTime":"12"}"#,
        )
        .unwrap();
        assert_eq!((entry.log_index, entry.integrated_time), (7, 12));
        let text = serde_json::to_string(&entry).unwrap();
        assert!(text.contains(r#""logIndex":"7""#), "{text}");
    }

    #[test]
    fn key_bundle_carries_the_keyid_as_hint() {
        let envelope: Envelope = serde_json::from_str(ENV).unwrap();
        let b = Bundle::for_key_signature(&envelope, 0).unwrap();
        let round = Bundle::from_slice(b.to_json_pretty().as_bytes()).unwrap();
        assert_eq!(round, b);
        assert_eq!(round.material(), Material::PublicKey { hint: Some("k") });
        assert_eq!(round.envelope().signatures[0].keyid.as_deref(), Some("k"));
        assert!(Bundle::for_key_signature(&envelope, 1).is_none());
    }
}
