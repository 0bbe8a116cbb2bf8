//! Keyless (Fulcio certificate) bundle verification, offline, against a trusted root and an
//! identity policy. Every step fails closed, in this order:
//!
//! 1. at least one transparency log entry; every entry's log is in the trusted root, its signed
//!    entry timestamp (SET) verifies with that log's key (this gives the signing time), and its
//!    inclusion proof leads to a checkpoint the log signed;
//! 2. the leaf certificate chains to a trusted Fulcio CA that was valid at the signing time, and
//!    every certificate on the path (the leaf included) was valid at that time;
//! 3. the leaf is for code signing, and an embedded SCT verifies with a trusted CT log (when the
//!    trusted root lists CT logs);
//! 4. the DSSE signature verifies over PAE with the leaf key;
//! 5. every log entry's body is about this envelope: its signature, its payload's hash, and this
//!    certificate;
//! 6. the identity policy: a rule whose issuer equals the certificate's OIDC issuer and whose
//!    identity (exact, or an anchored regexp) matches a SAN URI or e-mail.
//!
//! Only then does anyone look inside the payload. RFC 3161 timestamps are not used: the signing
//! time comes from the log's SET.

use crate::dsse::{VerifiedEnvelope, decode_base64, pae};
use crate::sigstore::bundle::{Bundle, Material};
use crate::sigstore::cert::{Cert, LeafIdentity, default_hash, verify_ecdsa};
use crate::sigstore::tlog::{self, TlogError};
use crate::sigstore::trust::TrustedRoot;
use crate::timestamp::Timestamp;

/// How a rule matches the certificate identity (SAN URI or e-mail).
#[derive(Clone, Debug)]
pub enum IdentityMatch {
    Exact(String),
    /// The user's pattern and the compiled, anchored (`^(?:...)$`) form.
    Regexp(String, regex::Regex),
}

/// One accepted signer: an identity and the OIDC issuer that vouched for it.
#[derive(Clone, Debug)]
pub struct IdentityRule {
    pub identity: IdentityMatch,
    pub issuer: String,
}

/// What a keyless verification trusts.
#[derive(Clone, Debug)]
pub struct KeylessPolicy {
    pub trusted_root: TrustedRoot,
    pub rules: Vec<IdentityRule>,
}

/// What a keyless verification established, besides the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeylessFacts {
    pub identity: LeafIdentity,
    /// The log's integrated time of the (first) entry, Unix seconds.
    pub integrated_time: i64,
    pub log_index: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeylessError {
    #[error("the bundle is signed with a key, not a certificate")]
    NotKeyless,
    #[error("the bundle's certificate is malformed: {0}")]
    MalformedCertificate(String),
    #[error("the bundle's DSSE envelope is malformed: {0}")]
    MalformedEnvelope(&'static str),
    #[error("missing transparency log entry: a keyless signature needs one, the bundle has none")]
    MissingTlogEntry,
    #[error(transparent)]
    Tlog(#[from] TlogError),
    #[error("untrusted certificate: {0}")]
    UntrustedCertificate(String),
    #[error(
        "the signing certificate was not valid when the log entry was made: integrated at {time}, certificate valid from {not_before} to {not_after}"
    )]
    CertificateExpired {
        time: String,
        not_before: String,
        not_after: String,
    },
    #[error("no embedded SCT verifies with a CT log of the trusted root")]
    Sct,
    #[error("the DSSE signature does not verify with the certificate's key")]
    Signature,
    #[error(
        "certificate identity mismatch: the certificate names {found}, the policy wants {expected}"
    )]
    Identity { expected: String, found: String },
    #[error(
        "certificate OIDC issuer mismatch: the certificate's issuer is {found}, the policy wants {expected}"
    )]
    Issuer { expected: String, found: String },
}

impl KeylessError {
    /// A stable kebab-case code for reports.
    pub fn code(&self) -> &'static str {
        match self {
            KeylessError::NotKeyless => "not-keyless",
            KeylessError::MalformedCertificate(_) => "malformed-certificate",
            KeylessError::MalformedEnvelope(_) => "malformed-payload",
            KeylessError::MissingTlogEntry => "missing-tlog-entry",
            KeylessError::Tlog(e) => e.code(),
            KeylessError::UntrustedCertificate(_) => "untrusted-certificate",
            KeylessError::CertificateExpired { .. } => "certificate-expired",
            KeylessError::Sct => "invalid-sct",
            KeylessError::Signature => "untrusted-signature",
            KeylessError::Identity { .. } => "certificate-identity-mismatch",
            KeylessError::Issuer { .. } => "certificate-issuer-mismatch",
        }
    }
}

fn rfc3339(t: i64) -> String {
    Timestamp::from_unix_seconds(t)
        .map(|t| t.to_string())
        .unwrap_or_else(|| t.to_string())
}

impl IdentityMatch {
    /// An anchored regexp: the whole identity must match.
    pub fn regexp(pattern: &str) -> Result<IdentityMatch, regex::Error> {
        let re = regex::Regex::new(&format!("^(?:{pattern})$"))?;
        Ok(IdentityMatch::Regexp(pattern.to_string(), re))
    }

    pub fn matches(&self, identity: &str) -> bool {
        match self {
            IdentityMatch::Exact(want) => want == identity,
            IdentityMatch::Regexp(_, re) => re.is_match(identity),
        }
    }

    fn describe(&self) -> String {
        match self {
            IdentityMatch::Exact(want) => format!("{want:?}"),
            IdentityMatch::Regexp(pattern, _) => format!("an identity matching ^(?:{pattern})$"),
        }
    }
}

/// Steps 1 to 5: everything but the identity policy. Returns the verified payload bytes.
pub fn verify_keyless_material(
    bundle: &Bundle,
    root: &TrustedRoot,
) -> Result<(Vec<u8>, KeylessFacts), KeylessError> {
    let Material::Certificate(cert_b64) = bundle.material() else {
        return Err(KeylessError::NotKeyless);
    };
    let leaf_der = decode_base64(cert_b64)
        .ok_or_else(|| KeylessError::MalformedCertificate("not base64".to_string()))?;
    let leaf = Cert::from_der(leaf_der).map_err(KeylessError::MalformedCertificate)?;
    let envelope = bundle.envelope();
    let payload =
        decode_base64(&envelope.payload).ok_or(KeylessError::MalformedEnvelope("payload"))?;
    let sig = envelope
        .signatures
        .first()
        .and_then(|s| decode_base64(&s.sig))
        .ok_or(KeylessError::MalformedEnvelope("signature"))?;

    // 1. Log entries and the signing time.
    let entries = &bundle.verification_material.tlog_entries;
    if entries.is_empty() {
        return Err(KeylessError::MissingTlogEntry);
    }
    let mut bodies = Vec::with_capacity(entries.len());
    let mut times = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let (log, log_id) = tlog::find_log(index, entry, &root.tlogs)?;
        let body = decode_base64(&entry.canonicalized_body).ok_or(TlogError::Body {
            index,
            detail: "canonicalizedBody is not base64".to_string(),
        })?;
        times.push(tlog::verify_promise(index, entry, log, &log_id, &body)?);
        tlog::verify_inclusion(index, entry, log, &log_id, &body)?;
        bodies.push(body);
    }

    // 2. The certificate path at every signing time.
    let mut issuer_der = None;
    for &t in &times {
        if !leaf.valid_at(t) {
            return Err(KeylessError::CertificateExpired {
                time: rfc3339(t),
                not_before: rfc3339(leaf.not_before()),
                not_after: rfc3339(leaf.not_after()),
            });
        }
        issuer_der = Some(chain_at(&leaf, root, t)?);
    }
    let issuer = Cert::from_der(issuer_der.unwrap_or_default())
        .map_err(KeylessError::UntrustedCertificate)?;

    // 3. Usage and SCT.
    leaf.check_leaf_usage().map_err(|e| {
        KeylessError::UntrustedCertificate(format!("the leaf is not for code signing: {e}"))
    })?;
    if !root.ctlogs.is_empty() {
        let logs: Vec<(&[u8], &[u8])> = root
            .ctlogs
            .iter()
            .map(|l| (l.log_id.as_slice(), l.public_key.as_slice()))
            .collect();
        if leaf.verified_scts(&issuer, &logs) == 0 {
            return Err(KeylessError::Sct);
        }
    }

    // 4. The signature.
    let spki = leaf
        .spki_der()
        .ok_or_else(|| KeylessError::MalformedCertificate("no public key".to_string()))?;
    let message = pae(envelope.payload_type.as_bytes(), &payload);
    if !verify_ecdsa(&spki, default_hash(&spki), &message, &sig) {
        return Err(KeylessError::Signature);
    }

    // 5. The log entries are about this envelope and certificate.
    for (index, (entry, body)) in entries.iter().zip(&bodies).enumerate() {
        tlog::verify_body(index, entry, body, envelope, &payload, &leaf.der)?;
    }

    Ok((
        payload,
        KeylessFacts {
            identity: leaf.leaf_identity(),
            integrated_time: times[0],
            log_index: entries[0].log_index,
        },
    ))
}

/// The path from the leaf to a trusted CA valid at `t`; returns the leaf's issuer (DER).
fn chain_at(leaf: &Cert, root: &TrustedRoot, t: i64) -> Result<Vec<u8>, KeylessError> {
    let mut saw_issuer_outside_time = false;
    for ca in root.certificate_authorities.iter() {
        let chain: Vec<Cert> = ca
            .chain
            .iter()
            .filter_map(|der| Cert::from_der(der.clone()).ok())
            .collect();
        let Some(start) = chain.iter().position(|c| leaf.issued_by(c)) else {
            continue;
        };
        if !ca.valid_at(t) {
            saw_issuer_outside_time = true;
            continue;
        }
        let path = &chain[start..];
        let chained = path.windows(2).all(|w| w[0].issued_by(&w[1]));
        let cas = path.iter().all(Cert::is_ca);
        if !chained || !cas {
            continue;
        }
        if let Some(bad) = path.iter().find(|c| !c.valid_at(t)) {
            return Err(KeylessError::UntrustedCertificate(format!(
                "a CA certificate on its path is not valid at the signing time {} (valid {} to {})",
                rfc3339(t),
                rfc3339(bad.not_before()),
                rfc3339(bad.not_after())
            )));
        }
        return Ok(path[0].der.clone());
    }
    Err(KeylessError::UntrustedCertificate(
        if saw_issuer_outside_time {
            format!(
                "its certificate authority is not trusted at the signing time {}",
                rfc3339(t)
            )
        } else {
            "no certificate authority in the trusted root issued it".to_string()
        },
    ))
}

/// Step 6: the identity policy.
pub fn check_identity(identity: &LeafIdentity, rules: &[IdentityRule]) -> Result<(), KeylessError> {
    let issuer = identity.issuer.as_deref();
    let found_identity = identity.identities.join(", ");
    if rules.iter().any(|r| {
        issuer == Some(r.issuer.as_str())
            && identity.identities.iter().any(|i| r.identity.matches(i))
    }) {
        return Ok(());
    }
    // Explain with the closest rule: one whose identity matches (so the issuer is wrong), else
    // the first one.
    let by_identity = rules
        .iter()
        .find(|r| identity.identities.iter().any(|i| r.identity.matches(i)));
    match (by_identity, rules.first()) {
        (Some(rule), _) => Err(KeylessError::Issuer {
            expected: format!("{:?}", rule.issuer),
            found: issuer.map_or("absent".to_string(), |i| format!("{i:?}")),
        }),
        (None, Some(rule)) => Err(KeylessError::Identity {
            expected: rule.identity.describe(),
            found: if found_identity.is_empty() {
                "no URI or e-mail identity".to_string()
            } else {
                format!("{found_identity:?}")
            },
        }),
        (None, None) => Err(KeylessError::Identity {
            expected: "nothing (no identity rule was given)".to_string(),
            found: format!("{found_identity:?}"),
        }),
    }
}

/// The whole keyless verification: material, then identity. The verified envelope carries the
/// identity and issuer as its signer.
pub fn verify_keyless(
    bundle: &Bundle,
    policy: &KeylessPolicy,
) -> Result<(VerifiedEnvelope, KeylessFacts), KeylessError> {
    let (payload, facts) = verify_keyless_material(bundle, &policy.trusted_root)?;
    check_identity(&facts.identity, &policy.rules)?;
    let identity = facts
        .identity
        .identities
        .iter()
        .find(|i| policy.rules.iter().any(|r| r.identity.matches(i)))
        .cloned()
        .unwrap_or_default();
    let verified = VerifiedEnvelope::from_certificate(
        bundle.envelope().payload_type.clone(),
        payload,
        identity,
        facts.identity.issuer.clone().unwrap_or_default(),
    );
    Ok((verified, facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(ids: &[&str], issuer: Option<&str>) -> LeafIdentity {
        LeafIdentity {
            identities: ids.iter().map(|s| s.to_string()).collect(),
            issuer: issuer.map(str::to_string),
        }
    }

    #[test]
    fn identity_rules() {
        let gh = "https://token.actions.githubusercontent.com";
        let wf = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
        let exact = IdentityRule {
            identity: IdentityMatch::Exact(wf.to_string()),
            issuer: gh.to_string(),
        };
        assert!(check_identity(&leaf(&[wf], Some(gh)), std::slice::from_ref(&exact)).is_ok());
        let err = check_identity(
            &leaf(&[wf], Some("https://accounts.google.com")),
            std::slice::from_ref(&exact),
        )
        .unwrap_err();
        assert_eq!(err.code(), "certificate-issuer-mismatch", "{err}");
        let err = check_identity(
            &leaf(&["https://github.com/evil/x"], Some(gh)),
            std::slice::from_ref(&exact),
        )
        .unwrap_err();
        assert_eq!(err.code(), "certificate-identity-mismatch", "{err}");
        // Regexps are anchored: a prefix or suffix match is not enough.
        let re = IdentityRule {
            identity: IdentityMatch::regexp(r"https://github\.com/acme/app/.*").unwrap(),
            issuer: gh.to_string(),
        };
        assert!(check_identity(&leaf(&[wf], Some(gh)), std::slice::from_ref(&re)).is_ok());
        let evil = "https://evil.example/?https://github.com/acme/app/x";
        assert!(check_identity(&leaf(&[evil], Some(gh)), std::slice::from_ref(&re)).is_err());
        let part = IdentityRule {
            identity: IdentityMatch::regexp("acme").unwrap(),
            issuer: gh.to_string(),
        };
        assert!(check_identity(&leaf(&[wf], Some(gh)), &[part]).is_err());
        assert!(check_identity(&leaf(&[wf], None), &[exact]).is_err());
    }
}
