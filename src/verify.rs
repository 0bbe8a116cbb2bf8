//! Verifying in-toto envelopes: signatures against trusted keys, the payload type, and the
//! statement inside, in that order. Nothing is parsed before its signature is checked.

use crate::dsse::{Envelope, Keyring, VerifiedEnvelope, VerifiedSignatures, VerifyError};
use crate::intoto::{Statement, StatementError};
use crate::sigstore::bundle::{Bundle, Material};
use crate::sigstore::verify::{KeylessError, KeylessPolicy, verify_keyless};

/// An envelope whose signatures verified and whose payload is a valid in-toto Statement v1.
/// The payload's bytes are not kept: the statement is what was read from them.
#[derive(Clone, Debug)]
pub struct VerifiedStatement {
    pub signatures: VerifiedSignatures,
    pub statement: Statement,
}

/// Why an envelope failed. Every variant is a definite "no".
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeFailure {
    #[error(transparent)]
    Signature(#[from] VerifyError),
    #[error("unsupported payloadType {found:?}; expected application/vnd.in-toto+json")]
    PayloadType { found: String },
    #[error("the signed payload is not a valid in-toto Statement v1: {0}")]
    Statement(#[from] StatementError),
    #[error(transparent)]
    Keyless(#[from] KeylessError),
    #[error(
        "a keyless (certificate) bundle, but no identity policy: give --certificate-identity (or -regexp), --certificate-oidc-issuer and --trusted-root, or [[signers.identities]] and signers.trusted-root in the policy"
    )]
    NoIdentityPolicy,
}

impl EnvelopeFailure {
    /// A stable kebab-case code for JSON output and diagnostics.
    pub fn code(&self) -> &'static str {
        match self {
            EnvelopeFailure::Signature(VerifyError::Threshold { .. }) => "untrusted-signature",
            EnvelopeFailure::Signature(VerifyError::PayloadEncoding) => "malformed-payload",
            EnvelopeFailure::Signature(VerifyError::NoSignatures) => "no-signatures",
            EnvelopeFailure::Signature(_) => "bad-verification-setup",
            EnvelopeFailure::PayloadType { .. } => "unsupported-payload-type",
            EnvelopeFailure::Statement(_) => "invalid-statement",
            EnvelopeFailure::Keyless(err) => err.code(),
            EnvelopeFailure::NoIdentityPolicy => "no-identity-policy",
        }
    }
}

/// Whether a DSSE payload type announces an in-toto statement: `application/vnd.in-toto+json`
/// or `application/vnd.in-toto.<predicate>+json`.
pub fn is_in_toto_payload_type(payload_type: &str) -> bool {
    payload_type == crate::dsse::IN_TOTO_PAYLOAD_TYPE
        || payload_type
            .strip_prefix("application/vnd.in-toto.")
            .and_then(|rest| rest.strip_suffix("+json"))
            .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// Verifies signatures first, then the payload type, then parses the verified bytes.
pub fn verify_statement_envelope(
    envelope: &Envelope,
    keys: &Keyring,
    threshold: usize,
) -> Result<VerifiedStatement, EnvelopeFailure> {
    statement_of(envelope.verify(keys, threshold)?)
}

/// `verify_statement_envelope` for each of `envelopes`, with the same results; their Ed25519
/// signatures are judged together (`Envelope::verify_many`).
pub fn verify_statement_envelopes(
    envelopes: &[&Envelope],
    keys: &Keyring,
    threshold: usize,
) -> Vec<Result<VerifiedStatement, EnvelopeFailure>> {
    Envelope::verify_many(envelopes, keys, threshold)
        .into_iter()
        .map(|verified| statement_of(verified?))
        .collect()
}

/// Verifies a Sigstore bundle: a key-signed one with the keyring, like an envelope; a keyless one
/// against the trusted root and identity rules. Then the payload type and the statement.
pub fn verify_statement_bundle(
    bundle: &Bundle,
    keys: &Keyring,
    threshold: usize,
    keyless: Option<&KeylessPolicy>,
) -> Result<VerifiedStatement, EnvelopeFailure> {
    let verified = match bundle.material() {
        Material::PublicKey { .. } => bundle.envelope().verify(keys, threshold)?,
        Material::Certificate(_) => {
            let policy = keyless.ok_or(EnvelopeFailure::NoIdentityPolicy)?;
            verify_keyless(bundle, policy)?.0
        }
    };
    statement_of(verified)
}

fn statement_of(verified: VerifiedEnvelope) -> Result<VerifiedStatement, EnvelopeFailure> {
    if !is_in_toto_payload_type(verified.payload_type()) {
        return Err(EnvelopeFailure::PayloadType {
            found: verified.payload_type().to_string(),
        });
    }
    let (payload, signatures) = verified.into_parts();
    let statement = Statement::from_slice(&payload)?;
    Ok(VerifiedStatement {
        signatures,
        statement,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_toto_payload_types() {
        assert!(is_in_toto_payload_type("application/vnd.in-toto+json"));
        assert!(is_in_toto_payload_type(
            "application/vnd.in-toto.provenance+json"
        ));
        assert!(!is_in_toto_payload_type("application/vnd.in-toto.+json"));
        assert!(!is_in_toto_payload_type("application/json"));
        assert!(!is_in_toto_payload_type("application/vnd.in-toto+jsonx"));
    }
}
