//! DSSE v1.0.2: the pre-authentication encoding, the JSON envelope, signing and verification.
//!
//! Verification is a type transition: `Envelope::verify` returns a `VerifiedEnvelope` that holds
//! the payload bytes that were verified, and nothing downstream ever sees an unverified payload or
//! re-parses the envelope. The `keyid` of a signature is only a hint for which key to try first:
//! every trusted key is tried, and the threshold counts distinct trusted keys, never entries.
//!
//! What we ignore (and why): unknown envelope fields (the spec says to), and signatures that do
//! not verify with any trusted key (they count for nothing; the threshold decides).

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{
    STANDARD, STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT,
};
use serde::{Deserialize, Serialize};

use crate::ed25519::Equation;
use crate::keys::{KeyError, KeyId, PrivateKey, PublicKey};

/// The payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A DSSE envelope as it appears on the wire. Fields keep their base64 text; decoding happens
/// only inside `verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<Signature>,
}

/// One signature entry. `keyid` is optional and unauthenticated.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    pub sig: String,
}

/// The set of keys a verifier trusts. Keys are de-duplicated by key id.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: Vec<PublicKey>,
}

/// An envelope whose signatures met the threshold. Holds exactly the bytes that were verified.
#[derive(Clone, Debug)]
pub struct VerifiedEnvelope {
    payload: Vec<u8>,
    signatures: VerifiedSignatures,
}

/// What was verified about an envelope's signatures, without its payload: what a statement
/// parsed from the payload keeps of its envelope (a release gate holds thousands of statements,
/// and their payloads would be a second copy of each).
#[derive(Clone, Debug)]
pub struct VerifiedSignatures {
    payload_type: String,
    checks: Vec<SignatureCheck>,
}

/// What happened to one signature entry during verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignatureCheck {
    pub index: usize,
    #[serde(rename = "keyidHint", skip_serializing_if = "Option::is_none")]
    pub keyid_hint: Option<String>,
    #[serde(flatten)]
    pub outcome: SignatureOutcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum SignatureOutcome {
    /// Verified with this trusted key.
    Verified {
        #[serde(rename = "keyid")]
        key_id: KeyId,
    },
    /// Verified with a key that already counted toward the threshold.
    DuplicateKey {
        #[serde(rename = "keyid")]
        key_id: KeyId,
    },
    /// Verified with a Fulcio certificate (keyless) that the identity policy accepts.
    VerifiedCertificate { identity: String, issuer: String },
    /// No trusted key verifies this signature.
    NoTrustedKey,
    /// The `sig` field is not base64.
    NotBase64,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the threshold must be at least 1")]
    ZeroThreshold,
    #[error("no trusted keys were given")]
    NoKeys,
    #[error("the payload is not valid base64")]
    PayloadEncoding,
    #[error("the envelope has no signatures")]
    NoSignatures,
    #[error("{found} of {need} required signatures are from trusted keys ({})", describe(.checks))]
    Threshold {
        need: usize,
        found: usize,
        checks: Vec<SignatureCheck>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no signing key was given")]
    NoSigners,
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The DSSE pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal bytes.
pub fn pae(payload_type: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type);
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// Decodes standard or URL-safe base64, padded or not. Non-canonical encodings (stray trailing
/// bits) and text mixing the two alphabets are rejected.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    // The standard alphabet first, without looking for the URL-safe one: scanning every payload
    // for `-` and `_` cost more than decoding it (BENCHMARKS.md). Text that holds either is
    // invalid in the standard alphabet, so it fails there and is decoded as URL-safe.
    STANDARD_PAD_INDIFFERENT
        .decode(text)
        .ok()
        .or_else(|| URL_SAFE_PAD_INDIFFERENT.decode(text).ok())
}

/// Standard, padded base64: what we write.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

impl Envelope {
    /// Signs `payload` with every signer (at least one) and builds the envelope.
    pub fn sign(
        payload_type: &str,
        payload: &[u8],
        signers: &[&PrivateKey],
    ) -> Result<Envelope, SignError> {
        if signers.is_empty() {
            return Err(SignError::NoSigners);
        }
        let message = pae(payload_type.as_bytes(), payload);
        let mut signatures = Vec::with_capacity(signers.len());
        for signer in signers {
            let sig = signer.sign(&message)?;
            signatures.push(Signature {
                keyid: Some(signer.key_id().to_string()),
                sig: encode_base64(&sig),
            });
        }
        Ok(Envelope {
            payload: encode_base64(payload),
            payload_type: payload_type.to_string(),
            signatures,
        })
    }

    /// The envelope as one line of JSON, without the trailing newline.
    pub fn to_json_line(&self) -> String {
        // Serializing plain strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks that at least `threshold` distinct keys from `keys` signed
    /// `PAE(payloadType, payload)`.
    pub fn verify(
        &self,
        keys: &Keyring,
        threshold: usize,
    ) -> Result<VerifiedEnvelope, VerifyError> {
        let decoded = self.decode(keys, threshold)?;
        self.conclude(decoded, keys, threshold, &[])
    }

    /// `verify` for each of `envelopes`, with the same results. The first key each Ed25519
    /// signature is tried with is judged for all of them at once (`ed25519::Equation::hold_all`,
    /// which shares one field inversion among many signatures and judges each alone); any other
    /// key is tried as `verify` tries it.
    pub fn verify_many(
        envelopes: &[&Envelope],
        keys: &Keyring,
        threshold: usize,
    ) -> Vec<Result<VerifiedEnvelope, VerifyError>> {
        let decoded: Vec<_> = envelopes
            .iter()
            .map(|e| e.decode(keys, threshold))
            .collect();
        let mut equations = Vec::new();
        let mut owners = Vec::new();
        for (at, (envelope, decoded)) in envelopes.iter().zip(&decoded).enumerate() {
            let Ok(decoded) = decoded else { continue };
            for (index, (entry, sig)) in envelope
                .signatures
                .iter()
                .zip(&decoded.signatures)
                .enumerate()
            {
                let first = keys.candidates(hint(entry)).next();
                let equation = match (first, sig) {
                    (Some(key), Some(sig)) => key.ed25519_equation(&decoded.message, sig),
                    _ => None,
                };
                if let Some(equation) = equation {
                    equations.push(equation);
                    owners.push((at, index));
                }
            }
        }
        let mut known: Vec<Vec<Option<bool>>> = decoded
            .iter()
            .map(|d| match d {
                Ok(d) => vec![None; d.signatures.len()],
                Err(_) => Vec::new(),
            })
            .collect();
        for ((at, index), holds) in owners.into_iter().zip(Equation::hold_all(&equations)) {
            known[at][index] = Some(holds);
        }
        envelopes
            .iter()
            .zip(decoded)
            .zip(known)
            .map(|((envelope, decoded), known)| {
                envelope.conclude(decoded?, keys, threshold, &known)
            })
            .collect()
    }

    /// The checks before any signature, and the decoding `verify` needs.
    fn decode(&self, keys: &Keyring, threshold: usize) -> Result<Decoded, VerifyError> {
        if threshold == 0 {
            return Err(VerifyError::ZeroThreshold);
        }
        if keys.is_empty() {
            return Err(VerifyError::NoKeys);
        }
        let payload = decode_base64(&self.payload).ok_or(VerifyError::PayloadEncoding)?;
        if self.signatures.is_empty() {
            return Err(VerifyError::NoSignatures);
        }
        let message = pae(self.payload_type.as_bytes(), &payload);
        let signatures = self
            .signatures
            .iter()
            .map(|entry| decode_base64(&entry.sig))
            .collect();
        Ok(Decoded {
            payload,
            message,
            signatures,
        })
    }

    /// Each signature's outcome and the threshold. `known[i]`, when there, is whether signature
    /// `i` verifies with the first key `Keyring::candidates` gives for it.
    fn conclude(
        &self,
        decoded: Decoded,
        keys: &Keyring,
        threshold: usize,
        known: &[Option<bool>],
    ) -> Result<VerifiedEnvelope, VerifyError> {
        let mut counted: BTreeSet<KeyId> = BTreeSet::new();
        let mut checks = Vec::with_capacity(self.signatures.len());
        for (index, (entry, sig)) in self.signatures.iter().zip(&decoded.signatures).enumerate() {
            let keyid_hint = hint(entry).map(str::to_string);
            let outcome = match sig {
                None => SignatureOutcome::NotBase64,
                Some(sig) => {
                    let first = known.get(index).copied().flatten();
                    match keys.find_signer(hint(entry), &decoded.message, sig, first) {
                        None => SignatureOutcome::NoTrustedKey,
                        Some(key) => {
                            let key_id = key.key_id().clone();
                            if counted.insert(key_id.clone()) {
                                SignatureOutcome::Verified { key_id }
                            } else {
                                SignatureOutcome::DuplicateKey { key_id }
                            }
                        }
                    }
                }
            };
            checks.push(SignatureCheck {
                index,
                keyid_hint,
                outcome,
            });
        }
        if counted.len() < threshold {
            return Err(VerifyError::Threshold {
                need: threshold,
                found: counted.len(),
                checks,
            });
        }
        Ok(VerifiedEnvelope {
            payload: decoded.payload,
            signatures: VerifiedSignatures {
                payload_type: self.payload_type.clone(),
                checks,
            },
        })
    }
}

/// An envelope's payload, the message its signatures sign, and each signature's bytes (`None`
/// when not base64).
struct Decoded {
    payload: Vec<u8>,
    message: Vec<u8>,
    signatures: Vec<Option<Vec<u8>>>,
}

/// A signature entry's key id, when it gives a non-empty one (a hint, not authenticated).
fn hint(entry: &Signature) -> Option<&str> {
    entry.keyid.as_deref().filter(|k| !k.is_empty())
}

impl Keyring {
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Adds a key; a key already present (same key id) is ignored.
    pub fn add(&mut self, key: PublicKey) {
        if !self.keys.iter().any(|k| k.key_id() == key.key_id()) {
            self.keys.push(key);
        }
    }

    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys to try a signature with, in order: the one whose id equals the hint first, then
    /// the others, because the hint is not authenticated.
    fn candidates<'a>(&'a self, hint: Option<&str>) -> impl Iterator<Item = &'a PublicKey> {
        let hinted = hint.and_then(|h| self.keys.iter().find(|k| k.key_id().as_str() == h));
        hinted.into_iter().chain(
            self.keys
                .iter()
                .filter(move |k| Some(k.key_id()) != hinted.map(|h| h.key_id())),
        )
    }

    /// The trusted key that verifies `sig` over `message`, trying `candidates` in order. `first`,
    /// when known, is whether the first candidate verifies it.
    fn find_signer(
        &self,
        hint: Option<&str>,
        message: &[u8],
        sig: &[u8],
        first: Option<bool>,
    ) -> Option<&PublicKey> {
        self.candidates(hint)
            .enumerate()
            .find(|(n, key)| match (n, first) {
                (0, Some(known)) => known,
                _ => key.verify(message, sig),
            })
            .map(|(_, key)| key)
    }
}

impl FromIterator<PublicKey> for Keyring {
    fn from_iter<I: IntoIterator<Item = PublicKey>>(iter: I) -> Keyring {
        let mut ring = Keyring::new();
        for key in iter {
            ring.add(key);
        }
        ring
    }
}

impl VerifiedEnvelope {
    pub fn payload_type(&self) -> &str {
        &self.signatures.payload_type
    }

    /// Exactly the bytes whose signatures were checked.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    pub fn signatures(&self) -> &VerifiedSignatures {
        &self.signatures
    }

    /// The payload and the signatures' results, apart.
    pub fn into_parts(self) -> (Vec<u8>, VerifiedSignatures) {
        (self.payload, self.signatures)
    }

    /// A keyless verification's result; only `sigstore::verify` builds one, after checking the
    /// certificate, the log entry, the signature and the identity policy.
    pub(crate) fn from_certificate(
        payload_type: String,
        payload: Vec<u8>,
        identity: String,
        issuer: String,
    ) -> VerifiedEnvelope {
        VerifiedEnvelope {
            payload,
            signatures: VerifiedSignatures {
                payload_type,
                checks: vec![SignatureCheck {
                    index: 0,
                    keyid_hint: None,
                    outcome: SignatureOutcome::VerifiedCertificate { identity, issuer },
                }],
            },
        }
    }
}

impl VerifiedSignatures {
    pub fn payload_type(&self) -> &str {
        &self.payload_type
    }

    /// The distinct trusted keys that signed, in signature order.
    pub fn signers(&self) -> Vec<&KeyId> {
        self.checks
            .iter()
            .filter_map(|c| match &c.outcome {
                SignatureOutcome::Verified { key_id } => Some(key_id),
                _ => None,
            })
            .collect()
    }

    /// The certificate identities (identity, OIDC issuer) that signed, for keyless bundles.
    pub fn certificate_signers(&self) -> Vec<(&str, &str)> {
        self.checks
            .iter()
            .filter_map(|c| match &c.outcome {
                SignatureOutcome::VerifiedCertificate { identity, issuer } => {
                    Some((identity.as_str(), issuer.as_str()))
                }
                _ => None,
            })
            .collect()
    }

    pub fn checks(&self) -> &[SignatureCheck] {
        &self.checks
    }
}

impl fmt::Display for SignatureOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureOutcome::Verified { key_id } => write!(f, "verified by {}", key_id.short()),
            SignatureOutcome::DuplicateKey { key_id } => {
                write!(f, "repeats trusted key {}", key_id.short())
            }
            SignatureOutcome::VerifiedCertificate { identity, issuer } => {
                write!(f, "verified certificate of {identity} (issuer {issuer})")
            }
            SignatureOutcome::NoTrustedKey => f.write_str("no trusted key verifies it"),
            SignatureOutcome::NotBase64 => f.write_str("not valid base64"),
        }
    }
}

fn describe(checks: &[SignatureCheck]) -> String {
    checks
        .iter()
        .map(|c| match &c.keyid_hint {
            Some(hint) => format!(
                "signature {} (keyid {}): {}",
                c.index,
                short(hint),
                c.outcome
            ),
            None => format!("signature {}: {}", c.index, c.outcome),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn short(hint: &str) -> &str {
    let end = hint
        .char_indices()
        .nth(8)
        .map(|(i, _)| i)
        .unwrap_or(hint.len());
    &hint[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Algorithm;

    #[test]
    fn pae_matches_the_spec_vector() {
        assert_eq!(
            pae(b"http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae(b"", b""), b"DSSEv1 0  0 ");
        // Lengths are bytes, not characters.
        assert_eq!(pae("é".as_bytes(), b"x"), "DSSEv1 2 é 1 x".as_bytes());
    }

    #[test]
    fn both_base64_alphabets_and_padding_are_accepted() {
        let bytes = [0xfbu8, 0xff, 0xfe];
        assert_eq!(decode_base64("+//+").unwrap(), bytes);
        assert_eq!(decode_base64("-__-").unwrap(), bytes);
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("aGk").unwrap(), b"hi");
        assert!(
            decode_base64("aGl=").is_none(),
            "non-canonical trailing bits"
        );
        assert!(decode_base64("a$b=").is_none());
        // One alphabet or the other, never both in one text.
        assert!(decode_base64("+/-_").is_none());
        assert!(decode_base64("-/+_").is_none());
    }

    fn keyring_of(keys: &[&PrivateKey]) -> Keyring {
        keys.iter().map(|k| k.public_key().clone()).collect()
    }

    #[test]
    fn threshold_counts_distinct_keys() {
        let a = PrivateKey::generate(Algorithm::Ed25519).unwrap().private;
        let b = PrivateKey::generate(Algorithm::EcdsaP256).unwrap().private;
        let ring = keyring_of(&[&a, &b]);
        let env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{}", &[&a, &a]).unwrap();
        assert!(env.verify(&ring, 1).is_ok());
        match env.verify(&ring, 2) {
            Err(VerifyError::Threshold {
                need: 2,
                found: 1,
                checks,
            }) => {
                assert!(matches!(
                    checks[1].outcome,
                    SignatureOutcome::DuplicateKey { .. }
                ));
            }
            other => panic!("unexpected {other:?}"),
        }
        let both = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{}", &[&a, &b]).unwrap();
        let verified = both.verify(&ring, 2).unwrap();
        assert_eq!(verified.signatures().signers().len(), 2);
        assert_eq!(verified.payload(), b"{}");
        assert!(matches!(
            env.verify(&ring, 0),
            Err(VerifyError::ZeroThreshold)
        ));
        assert!(matches!(
            env.verify(&Keyring::new(), 1),
            Err(VerifyError::NoKeys)
        ));
    }

    /// `verify_many` gives `verify`'s result for every envelope: signed by the first key tried
    /// or a later one, with a right, wrong or missing hint, by ECDSA, tampered, with a signature
    /// or payload that is not base64, below the threshold; across several batches.
    #[test]
    fn verify_many_gives_the_results_of_verify() {
        let a = PrivateKey::generate(Algorithm::Ed25519).unwrap().private;
        let b = PrivateKey::generate(Algorithm::Ed25519).unwrap().private;
        let p = PrivateKey::generate(Algorithm::EcdsaP256).unwrap().private;
        let stranger = PrivateKey::generate(Algorithm::Ed25519).unwrap().private;
        let mut envelopes = Vec::new();
        for i in 0..75u32 {
            let payload = format!("{{\"n\":{i}}}");
            let signers: Vec<&PrivateKey> = match i % 5 {
                0 => vec![&a],
                1 => vec![&b],
                2 => vec![&p, &b],
                3 => vec![&stranger],
                _ => vec![&a, &b],
            };
            let mut env =
                Envelope::sign(IN_TOTO_PAYLOAD_TYPE, payload.as_bytes(), &signers).unwrap();
            match i % 7 {
                0 => env.signatures.iter_mut().for_each(|s| s.keyid = None),
                1 => env.signatures[0].keyid = Some(b.key_id().to_string()),
                2 => env.signatures[0].keyid = Some(String::new()),
                3 => env.payload = encode_base64(b"{\"n\":-1}"),
                4 => env.signatures[0].sig = "not base64!".to_string(),
                5 if i % 2 == 0 => env.payload = "%%".to_string(),
                _ => {}
            }
            envelopes.push(env);
        }
        let refs: Vec<&Envelope> = envelopes.iter().collect();
        let (mut passed, mut failed) = (0, 0);
        for ring in [
            keyring_of(&[&a, &b, &p]),
            keyring_of(&[&b, &a]),
            keyring_of(&[&p, &a]),
        ] {
            for threshold in [1, 2] {
                let many = Envelope::verify_many(&refs, &ring, threshold);
                assert_eq!(many.len(), envelopes.len());
                for (env, result) in envelopes.iter().zip(many) {
                    let single = env.verify(&ring, threshold);
                    assert_eq!(format!("{result:?}"), format!("{single:?}"));
                    if result.is_ok() {
                        passed += 1
                    } else {
                        failed += 1
                    }
                }
            }
        }
        assert!(
            passed > 100 && failed > 100,
            "{passed} passed, {failed} failed"
        );
        assert!(Envelope::verify_many(&[], &keyring_of(&[&a]), 1).is_empty());
    }

    #[test]
    fn keyid_is_only_a_hint() {
        let a = PrivateKey::generate(Algorithm::Ed25519).unwrap().private;
        let b = PrivateKey::generate(Algorithm::Ed25519).unwrap().private;
        let mut env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{}", &[&a]).unwrap();
        // A wrong hint naming another trusted key does not stop verification with the right key.
        env.signatures[0].keyid = Some(b.key_id().to_string());
        assert!(env.verify(&keyring_of(&[&a, &b]), 1).is_ok());
        // No hint at all works too.
        env.signatures[0].keyid = None;
        assert!(env.verify(&keyring_of(&[&a]), 1).is_ok());
        // A hint naming a trusted key never makes an untrusted signature count.
        let forged = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{}", &[&b]).unwrap();
        let mut forged = forged;
        forged.signatures[0].keyid = Some(a.key_id().to_string());
        assert!(forged.verify(&keyring_of(&[&a]), 1).is_err());
    }

    #[test]
    fn tampering_fails() {
        let a = PrivateKey::generate(Algorithm::Ed25519).unwrap().private;
        let ring = keyring_of(&[&a]);
        let env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}", &[&a]).unwrap();
        let mut wrong_type = env.clone();
        wrong_type.payload_type = "application/json".to_string();
        assert!(wrong_type.verify(&ring, 1).is_err());
        let mut wrong_payload = env.clone();
        wrong_payload.payload = encode_base64(b"{\"a\":2}");
        assert!(wrong_payload.verify(&ring, 1).is_err());
        let mut not_b64 = env.clone();
        not_b64.signatures[0].sig = "***".to_string();
        match not_b64.verify(&ring, 1) {
            Err(VerifyError::Threshold { checks, .. }) => {
                assert_eq!(checks[0].outcome, SignatureOutcome::NotBase64)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
