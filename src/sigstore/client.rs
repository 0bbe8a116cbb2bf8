//! Keyless signing: an OIDC token, a short-lived Fulcio certificate for an ephemeral P-256 key,
//! the DSSE signature, and a Rekor `dsse` entry, assembled into a v0.3 bundle.
//!
//! Our own small HTTP calls (`ureq`, rustls): Fulcio v2 `POST /api/v2/signingCert` and Rekor v1
//! `POST /api/v1/log/entries`, at URLs the caller chooses. The token is only ever sent to Fulcio;
//! it is never logged, stored or put in an error message. The ephemeral private key lives in
//! memory for the duration of one call.

use std::time::Duration;

use serde_json::{Value, json};

use crate::digest::from_hex;
use crate::dsse::{Envelope, Signature, decode_base64, encode_base64, pae};
use crate::keys::{Algorithm, KeyError, PrivateKey};
use crate::sigstore::bundle::{
    BUNDLE_V03_MEDIA_TYPE, Bundle, Checkpoint, InclusionPromise, InclusionProof, KindVersion,
    LogId, RawCertificate, TlogEntry, VerificationMaterial,
};
use crate::sigstore::cert::{Cert, LeafIdentity, der_to_pem, pem_to_der};
use crate::sigstore::tlog;
use crate::sigstore::trust::TrustedRoot;
use crate::sigstore::verify::{KeylessError, verify_keyless_material};

/// The public-good Sigstore instances.
pub const DEFAULT_FULCIO_URL: &str = "https://fulcio.sigstore.dev";
pub const DEFAULT_REKOR_URL: &str = "https://rekor.sigstore.dev";

/// Where and with what to sign.
pub struct KeylessSigning<'a> {
    pub fulcio_url: &'a str,
    pub rekor_url: &'a str,
    pub token: &'a str,
    /// When given, the new bundle is verified against it before it is returned.
    pub trusted_root: Option<&'a TrustedRoot>,
}

/// What the signature is bound to.
#[derive(Clone, Debug)]
pub struct KeylessSigned {
    pub bundle: Bundle,
    pub identity: LeafIdentity,
    pub log_index: i64,
    pub integrated_time: i64,
    /// Whether the bundle was verified against a trusted root.
    pub verified: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the OIDC identity token is not a JWT with a `sub` or `email` claim")]
    Token,
    #[error("could not reach {service} at {url}: {detail}")]
    Unreachable {
        service: &'static str,
        url: String,
        detail: String,
    },
    #[error("{service} refused the request (HTTP {status}): {message}")]
    Refused {
        service: &'static str,
        status: u16,
        message: String,
    },
    #[error("{service} answered with something unexpected: {detail}")]
    Unexpected {
        service: &'static str,
        detail: String,
    },
    #[error("the certificate Fulcio issued is not for the key we generated")]
    WrongKey,
    #[error("the new bundle does not verify: {0}")]
    Verify(#[from] KeylessError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// POSTs JSON or GETs (when `body` is `None`); returns the status and the body text.
fn call(
    service: &'static str,
    url: &str,
    body: Option<&Value>,
    bearer: Option<&str>,
) -> Result<(u16, String), SignError> {
    let unreachable = |e: ureq::Error| SignError::Unreachable {
        service,
        url: url.to_string(),
        detail: e.to_string(),
    };
    let agent = agent();
    let mut response = match body {
        Some(body) => {
            let text = body.to_string();
            agent
                .post(url)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .send(text.as_bytes())
                .map_err(unreachable)?
        }
        None => {
            let mut request = agent.get(url).header("Accept", "application/json");
            if let Some(token) = bearer {
                request = request.header("Authorization", &format!("bearer {token}"));
            }
            request.call().map_err(unreachable)?
        }
    };
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().map_err(unreachable)?;
    Ok((status, text))
}

fn refused(service: &'static str, status: u16, text: &str) -> SignError {
    let message = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.trim().chars().take(300).collect());
    SignError::Refused {
        service,
        status,
        message,
    }
}

/// The claim Fulcio's proof of possession signs: `email` if present, else `sub`.
pub fn token_subject(token: &str) -> Result<String, SignError> {
    let claims = token.split('.').nth(1).ok_or(SignError::Token)?;
    let bytes = decode_base64(claims).ok_or(SignError::Token)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| SignError::Token)?;
    let pick = |k: &str| {
        value[k]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    pick("email")
        .or_else(|| pick("sub"))
        .ok_or(SignError::Token)
}

/// Asks the GitHub Actions OIDC provider for a token with audience `sigstore`.
pub fn github_actions_token(request_url: &str, request_token: &str) -> Result<String, SignError> {
    let separator = if request_url.contains('?') { '&' } else { '?' };
    let url = format!("{request_url}{separator}audience=sigstore");
    let (status, text) = call(
        "the GitHub Actions OIDC provider",
        &url,
        None,
        Some(request_token),
    )?;
    if !(200..300).contains(&status) {
        return Err(refused("the GitHub Actions OIDC provider", status, &text));
    }
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["value"].as_str().map(str::to_string))
        .ok_or(SignError::Unexpected {
            service: "the GitHub Actions OIDC provider",
            detail: "no `value` in its answer".to_string(),
        })
}

/// Signs `payload` keylessly and returns the bundle.
pub fn sign_keyless(
    payload_type: &str,
    payload: &[u8],
    signing: &KeylessSigning,
) -> Result<KeylessSigned, SignError> {
    let subject = token_subject(signing.token)?;
    let key = PrivateKey::generate(Algorithm::EcdsaP256)?.private;
    let spki = key.public_key().spki_der();
    let proof = key.sign(subject.as_bytes())?;

    // Fulcio: a certificate for the ephemeral key.
    let fulcio_url = format!(
        "{}/api/v2/signingCert",
        signing.fulcio_url.trim_end_matches('/')
    );
    let request = json!({
        "credentials": {"oidcIdentityToken": signing.token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": key.public_key().to_pem()},
            "proofOfPossession": encode_base64(&proof),
        },
    });
    let (status, text) = call("Fulcio", &fulcio_url, Some(&request), None)?;
    if !(200..300).contains(&status) {
        return Err(refused("Fulcio", status, &text));
    }
    let unexpected = |detail: &str| SignError::Unexpected {
        service: "Fulcio",
        detail: detail.to_string(),
    };
    let answer: Value = serde_json::from_str(&text).map_err(|_| unexpected("not JSON"))?;
    let chain = answer["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        .as_array()
        .or_else(|| answer["signedCertificateDetachedSct"]["chain"]["certificates"].as_array())
        .ok_or_else(|| unexpected("no certificate chain"))?;
    let leaf_pem = chain
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| unexpected("an empty certificate chain"))?;
    let leaf_der = pem_to_der(leaf_pem).ok_or_else(|| unexpected("the leaf is not PEM"))?;
    let leaf = Cert::from_der(leaf_der.clone()).map_err(|e| unexpected(&e))?;
    if leaf.spki_der().as_deref() != Some(&spki[..]) {
        return Err(SignError::WrongKey);
    }

    // The DSSE envelope, as Sigstore clients write it: one signature, no keyid.
    let sig = key.sign(&pae(payload_type.as_bytes(), payload))?;
    drop(key);
    let envelope = Envelope {
        payload: encode_base64(payload),
        payload_type: payload_type.to_string(),
        signatures: vec![Signature {
            keyid: None,
            sig: encode_base64(&sig),
        }],
    };

    // Rekor: a `dsse` entry for the envelope and the certificate.
    let rekor_url = format!(
        "{}/api/v1/log/entries",
        signing.rekor_url.trim_end_matches('/')
    );
    let proposed = json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {
            "envelope": envelope.to_json_line(),
            "verifiers": [encode_base64(der_to_pem("CERTIFICATE", &leaf_der).as_bytes())],
        }},
    });
    let (status, text) = call("Rekor", &rekor_url, Some(&proposed), None)?;
    if !(200..300).contains(&status) {
        return Err(refused("Rekor", status, &text));
    }
    let entry = tlog_entry_from_rekor(&text).map_err(|detail| SignError::Unexpected {
        service: "Rekor",
        detail,
    })?;

    let bundle = Bundle {
        media_type: BUNDLE_V03_MEDIA_TYPE.to_string(),
        verification_material: VerificationMaterial {
            certificate: Some(RawCertificate {
                raw_bytes: encode_base64(&leaf_der),
            }),
            tlog_entries: vec![entry.clone()],
            ..Default::default()
        },
        dsse_envelope: Some(envelope.clone()),
        message_signature: None,
    };
    // Check what came back before handing it out: fully against a trusted root when there is
    // one, else at least that the log entry is about this envelope and certificate.
    let (identity, integrated_time, verified) = match signing.trusted_root {
        Some(root) => {
            let (_, facts) = verify_keyless_material(&bundle, root)?;
            (facts.identity, facts.integrated_time, true)
        }
        None => {
            let body = decode_base64(&entry.canonicalized_body).unwrap_or_default();
            tlog::verify_body(0, &entry, &body, &envelope, payload, &leaf_der)
                .map_err(KeylessError::from)?;
            (leaf.leaf_identity(), entry.integrated_time, false)
        }
    };
    Ok(KeylessSigned {
        bundle,
        identity,
        log_index: entry.log_index,
        integrated_time,
        verified,
    })
}

/// A Rekor v1 `POST /api/v1/log/entries` answer (`{uuid: entry}`) as a bundle log entry.
pub fn tlog_entry_from_rekor(text: &str) -> Result<TlogEntry, String> {
    let answer: Value = serde_json::from_str(text).map_err(|_| "not JSON".to_string())?;
    let (_, e) = answer
        .as_object()
        .and_then(|o| o.iter().next())
        .ok_or("no entry")?;
    let body_b64 = e["body"].as_str().ok_or("no body")?;
    let body: Value = decode_base64(body_b64)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("the body is not base64 JSON")?;
    let hex_b64 = |v: &Value, what: &str| -> Result<String, String> {
        v.as_str()
            .and_then(from_hex)
            .map(|b| encode_base64(&b))
            .ok_or(format!("{what} is not hex"))
    };
    let int = |v: &Value, what: &str| v.as_i64().ok_or(format!("{what} is not a number"));
    let verification = &e["verification"];
    let inclusion_proof = match verification.get("inclusionProof") {
        None | Some(Value::Null) => None,
        Some(p) => Some(InclusionProof {
            log_index: int(&p["logIndex"], "inclusionProof.logIndex")?,
            root_hash: hex_b64(&p["rootHash"], "rootHash")?,
            tree_size: int(&p["treeSize"], "treeSize")?,
            hashes: p["hashes"]
                .as_array()
                .map(|a| a.iter().map(|h| hex_b64(h, "a proof hash")).collect())
                .transpose()?
                .unwrap_or_default(),
            checkpoint: Checkpoint {
                envelope: p["checkpoint"].as_str().ok_or("no checkpoint")?.to_string(),
            },
        }),
    };
    Ok(TlogEntry {
        log_index: int(&e["logIndex"], "logIndex")?,
        log_id: LogId {
            key_id: hex_b64(&e["logID"], "logID")?,
        },
        kind_version: KindVersion {
            kind: body["kind"].as_str().unwrap_or_default().to_string(),
            version: body["apiVersion"].as_str().unwrap_or_default().to_string(),
        },
        integrated_time: int(&e["integratedTime"], "integratedTime")?,
        inclusion_promise: verification["signedEntryTimestamp"].as_str().map(|s| {
            InclusionPromise {
                signed_entry_timestamp: s.to_string(),
            }
        }),
        inclusion_proof,
        canonicalized_body: body_b64.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_subject_prefers_email() {
        let claims = |c: &str| format!("h.{}.s", crate::dsse::encode_base64(c.as_bytes()));
        assert_eq!(
            token_subject(&claims(r#"{"sub":"s","email":"e@x"}"#)).unwrap(),
            "e@x"
        );
        assert_eq!(token_subject(&claims(r#"{"sub":"s"}"#)).unwrap(), "s");
        assert!(token_subject(&claims(r#"{"iss":"i"}"#)).is_err());
        assert!(token_subject("nodots").is_err());
    }
}
