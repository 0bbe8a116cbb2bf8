//! Signing keys: Ed25519 (the default) and ECDSA P-256 with SHA-256.
//!
//! - Private keys are PKCS#8 PEM (`PRIVATE KEY`), optionally passphrase-encrypted
//!   (`ENCRYPTED PRIVATE KEY`, PBES2). Keys written by `openssl genpkey` load as they are.
//! - Public keys are SubjectPublicKeyInfo PEM (`PUBLIC KEY`).
//! - The key id is the one Python `securesystemslib` computes for the same public key
//!   (SHA-256 of the canonical JSON of `{keytype, scheme, keyval}`), so its DSSE verifier, which
//!   matches signatures to keys by key id, finds our signatures.
//!
//! Crypto backends: `ring` signs Ed25519 and verifies ECDSA; Ed25519 signatures are verified by
//! `crate::ed25519`, on `curve25519-dalek`. `ring` cannot sign ECDSA deterministically (its
//! random source is sealed), so P-256 signing uses RustCrypto's `p256`, which implements
//! RFC 6979; every P-256 signature is then checked with `ring` before it leaves this module, so a
//! fault in either implementation cannot produce a bad signature silently.
//!
//! This is the only module that touches private key material. Secrets are zeroized on drop and
//! never printed (`PrivateKey`'s `Debug` shows only the key id).

use std::fmt;
use std::str::FromStr;

use pkcs8::der::Decode;
use pkcs8::der::pem::LineEnding;
use pkcs8::{EncryptedPrivateKeyInfoRef, ObjectIdentifier, PrivateKeyInfoRef};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self as ring_sig, Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::digest::{sha256, to_hex};

const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32-byte key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of a P-256 SubjectPublicKeyInfo; the 65-byte uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// PBKDF2-HMAC-SHA256 iterations for encrypted private keys (OWASP 2023 recommendation).
const PBKDF2_ITERATIONS: u32 = 600_000;

/// A signature algorithm we can sign and verify with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    #[serde(rename = "ed25519")]
    Ed25519,
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
}

/// A key id: 64 lowercase hex characters, as computed by `securesystemslib`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct KeyId(String);

/// A public key we can verify signatures with.
#[derive(Clone)]
pub struct PublicKey {
    algorithm: Algorithm,
    key_id: KeyId,
    /// Ed25519: the 32-byte key. P-256: the 65-byte uncompressed SEC1 point.
    raw: Vec<u8>,
    /// Ed25519: the decompressed point, once, for `verify`; `None` when `raw` is not a point or
    /// is of small order (such a key verifies nothing).
    ed25519: Option<crate::ed25519::VerifyingKey>,
}

/// A private key we can sign with.
pub struct PrivateKey {
    inner: PrivateInner,
    public: PublicKey,
}

enum PrivateInner {
    Ed25519(Ed25519KeyPair),
    P256(p256::ecdsa::SigningKey),
}

/// A freshly generated key pair: the PKCS#8 document to store and the parsed keys.
pub struct GeneratedKey {
    pub pkcs8_der: Zeroizing<Vec<u8>>,
    pub private: PrivateKey,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM file ({0})")]
    Pem(String),
    #[error("found a PEM `{found}` block where a {expected} was expected")]
    UnexpectedLabel {
        found: String,
        expected: &'static str,
    },
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("RSA keys are not supported; use Ed25519 or ECDSA P-256")]
    Rsa,
    #[error("unsupported key algorithm {oid}; supported: Ed25519, ECDSA P-256")]
    UnsupportedAlgorithm { oid: String },
    #[error("unsupported elliptic curve {oid}; only P-256 (prime256v1) is supported")]
    UnsupportedCurve { oid: String },
    #[error("the private key is encrypted and no passphrase was given")]
    PassphraseRequired,
    #[error("could not decrypt the private key: wrong passphrase or unsupported encryption")]
    Decrypt,
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("the system random number generator failed")]
    Rng,
}

impl Algorithm {
    /// The `securesystemslib` key type.
    pub fn keytype(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256 => "ecdsa",
        }
    }

    /// The `securesystemslib` signing scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256 => "ecdsa-sha2-nistp256",
        }
    }

    /// The name used on our command line (`--algorithm`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256 => "ecdsa-p256",
        }
    }
}

impl KeyId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 hex characters, for human output.
    pub fn short(&self) -> &str {
        &self.0[..8]
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl FromStr for KeyId {
    type Err = crate::digest::DigestParseError;

    fn from_str(s: &str) -> Result<KeyId, Self::Err> {
        let digest: crate::digest::Sha256Digest = s.parse()?;
        Ok(KeyId(digest.to_string()))
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl PublicKey {
    /// Parses a `PUBLIC KEY` PEM block (SubjectPublicKeyInfo).
    pub fn from_pem(pem: &[u8]) -> Result<PublicKey, KeyError> {
        let (label, der) = decode_pem(pem)?;
        match label.as_str() {
            "PUBLIC KEY" => PublicKey::from_spki_der(&der),
            "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" | "EC PRIVATE KEY" => {
                Err(KeyError::UnexpectedLabel {
                    found: label,
                    expected: "public key",
                })
            }
            _ => Err(KeyError::UnexpectedLabel {
                found: label,
                expected: "`PUBLIC KEY` block",
            }),
        }
    }

    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|err| malformed("public key", err))?;
        let bits = spki.subject_public_key.raw_bytes();
        let oid = spki.algorithm.oid;
        if oid == OID_ED25519 {
            if bits.len() != 32 {
                return Err(KeyError::Malformed {
                    what: "Ed25519 public key",
                    detail: format!("expected 32 bytes, found {}", bits.len()),
                });
            }
            let mut raw = [0u8; 32];
            raw.copy_from_slice(bits);
            // A key of small order verifies signatures nobody made with a private key.
            return match crate::ed25519::VerifyingKey::from_bytes(&raw) {
                Err(problem) => Err(malformed("Ed25519 public key", problem)),
                Ok(_) => Ok(PublicKey::new(Algorithm::Ed25519, raw.to_vec())),
            };
        }
        if oid == OID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or(KeyError::Malformed {
                    what: "EC public key",
                    detail: "missing named curve".to_string(),
                })?;
            if curve != OID_P256 {
                return Err(KeyError::UnsupportedCurve {
                    oid: curve.to_string(),
                });
            }
            // Accept compressed points too; normalize to the uncompressed form that
            // `securesystemslib` and `ring` use.
            let point = p256::PublicKey::from_sec1_bytes(bits)
                .map_err(|_| malformed("P-256 public key", "not a point on the curve"))?;
            use p256::elliptic_curve::sec1::ToSec1Point;
            let uncompressed = point.to_sec1_point(false);
            return Ok(PublicKey::new(
                Algorithm::EcdsaP256,
                uncompressed.as_bytes().to_vec(),
            ));
        }
        if oid == OID_RSA {
            return Err(KeyError::Rsa);
        }
        Err(KeyError::UnsupportedAlgorithm {
            oid: oid.to_string(),
        })
    }

    fn new(algorithm: Algorithm, raw: Vec<u8>) -> PublicKey {
        let key_id = compute_key_id(algorithm, &raw);
        let ed25519 = match algorithm {
            Algorithm::Ed25519 => <[u8; 32]>::try_from(raw.as_slice())
                .ok()
                .and_then(|bytes| crate::ed25519::VerifyingKey::from_bytes(&bytes).ok()),
            Algorithm::EcdsaP256 => None,
        };
        PublicKey {
            algorithm,
            key_id,
            raw,
            ed25519,
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// For an Ed25519 key, the equation of `sig` over `msg`, to be judged with others
    /// (`crate::ed25519::Equation::hold_all`); `None` for other keys, and for signatures that
    /// cannot hold (`verify` is false for them).
    pub fn ed25519_equation(&self, msg: &[u8], sig: &[u8]) -> Option<crate::ed25519::Equation> {
        self.ed25519.as_ref()?.equation(&[msg], sig)
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The DER SubjectPublicKeyInfo, in its normalized form.
    pub fn spki_der(&self) -> Vec<u8> {
        let prefix: &[u8] = match self.algorithm {
            Algorithm::Ed25519 => &ED25519_SPKI_PREFIX,
            Algorithm::EcdsaP256 => &P256_SPKI_PREFIX,
        };
        [prefix, &self.raw].concat()
    }

    /// The `PUBLIC KEY` PEM text, 64-character lines, LF line endings.
    pub fn to_pem(&self) -> String {
        // Encoding a few dozen bytes into PEM cannot fail.
        pkcs8::der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &self.spki_der())
            .unwrap_or_default()
    }

    /// Checks `sig` over `msg`.
    ///
    /// Ed25519 is checked as ed25519-dalek's `verify_strict` checks it (`crate::ed25519`):
    /// RFC 8032's equation without the cofactor (`[s]B = R + [k]A`, as ring and OpenSSL check it),
    /// with `s` below the group order (no malleable signatures), and neither the key (refused
    /// when loaded) nor `R` of small order.
    ///
    /// ECDSA signatures are accepted in ASN.1 DER (what we and securesystemslib write) and in
    /// the fixed 64-byte `r||s` form (what the DSSE spec's own test vector uses); both bind the
    /// same key and message.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self.algorithm {
            Algorithm::Ed25519 => self
                .ed25519
                .as_ref()
                .is_some_and(|key| key.verify(&[msg], sig)),
            Algorithm::EcdsaP256 => {
                let der =
                    ring_sig::UnparsedPublicKey::new(&ring_sig::ECDSA_P256_SHA256_ASN1, &self.raw);
                if der.verify(msg, sig).is_ok() {
                    return true;
                }
                sig.len() == 64
                    && ring_sig::UnparsedPublicKey::new(
                        &ring_sig::ECDSA_P256_SHA256_FIXED,
                        &self.raw,
                    )
                    .verify(msg, sig)
                    .is_ok()
            }
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl PrivateKey {
    /// Parses a PKCS#8 PEM private key. `passphrase` is used only when the key is encrypted.
    pub fn from_pem(pem: &[u8], passphrase: Option<&[u8]>) -> Result<PrivateKey, KeyError> {
        let (label, der) = decode_pem(pem)?;
        let der = Zeroizing::new(der);
        match label.as_str() {
            "PRIVATE KEY" => PrivateKey::from_pkcs8_der(&der),
            "ENCRYPTED PRIVATE KEY" => {
                let passphrase = passphrase.ok_or(KeyError::PassphraseRequired)?;
                let info = EncryptedPrivateKeyInfoRef::from_der(&der)
                    .map_err(|err| malformed("encrypted private key", err))?;
                let doc = info.decrypt(passphrase).map_err(|_| KeyError::Decrypt)?;
                PrivateKey::from_pkcs8_der(doc.as_bytes())
            }
            "EC PRIVATE KEY" => Err(KeyError::UnexpectedLabel {
                found: label,
                expected: "PKCS#8 `PRIVATE KEY` (convert with `openssl pkcs8 -topk8`)",
            }),
            "PUBLIC KEY" => Err(KeyError::UnexpectedLabel {
                found: label,
                expected: "private key",
            }),
            _ => Err(KeyError::UnexpectedLabel {
                found: label,
                expected: "`PRIVATE KEY` block",
            }),
        }
    }

    /// Parses an unencrypted PKCS#8 DER document (v1 or v2).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        let info = PrivateKeyInfoRef::from_der(der).map_err(|err| malformed("private key", err))?;
        let oid = info.algorithm.oid;
        if oid == OID_ED25519 {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map_err(|err| malformed("Ed25519 private key", err))?;
            let public = PublicKey::new(Algorithm::Ed25519, pair.public_key().as_ref().to_vec());
            return Ok(PrivateKey {
                inner: PrivateInner::Ed25519(pair),
                public,
            });
        }
        if oid == OID_EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            if curve != Some(OID_P256) {
                let oid = curve
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "(none)".to_string());
                return Err(KeyError::UnsupportedCurve { oid });
            }
            use p256::pkcs8::DecodePrivateKey;
            let signing = p256::ecdsa::SigningKey::from_pkcs8_der(der)
                .map_err(|err| malformed("P-256 private key", err))?;
            let point = signing.verifying_key().to_sec1_point(false);
            let public = PublicKey::new(Algorithm::EcdsaP256, point.as_bytes().to_vec());
            return Ok(PrivateKey {
                inner: PrivateInner::P256(signing),
                public,
            });
        }
        if oid == OID_RSA {
            return Err(KeyError::Rsa);
        }
        Err(KeyError::UnsupportedAlgorithm {
            oid: oid.to_string(),
        })
    }

    /// Generates a new key pair with the system random number generator.
    pub fn generate(algorithm: Algorithm) -> Result<GeneratedKey, KeyError> {
        let rng = SystemRandom::new();
        let doc = match algorithm {
            Algorithm::Ed25519 => {
                Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Rng)?
            }
            Algorithm::EcdsaP256 => ring_sig::EcdsaKeyPair::generate_pkcs8(
                &ring_sig::ECDSA_P256_SHA256_ASN1_SIGNING,
                &rng,
            )
            .map_err(|_| KeyError::Rng)?,
        };
        let pkcs8_der = Zeroizing::new(doc.as_ref().to_vec());
        let private = PrivateKey::from_pkcs8_der(&pkcs8_der)?;
        Ok(GeneratedKey { pkcs8_der, private })
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn key_id(&self) -> &KeyId {
        self.public.key_id()
    }

    pub fn algorithm(&self) -> Algorithm {
        self.public.algorithm()
    }

    /// Signs `msg`: Ed25519, or deterministic ECDSA P-256/SHA-256 with a DER signature.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            PrivateInner::Ed25519(pair) => Ok(pair.sign(msg).as_ref().to_vec()),
            PrivateInner::P256(signing) => {
                use p256::ecdsa::signature::Signer as _;
                let sig: p256::ecdsa::DerSignature = signing
                    .try_sign(msg)
                    .map_err(|err| KeyError::Sign(err.to_string()))?;
                let sig = sig.as_bytes().to_vec();
                if !self.public.verify(msg, &sig) {
                    return Err(KeyError::Sign(
                        "the ECDSA signature did not verify with ring".to_string(),
                    ));
                }
                Ok(sig)
            }
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey({}, {})",
            self.algorithm().name(),
            self.key_id()
        )
    }
}

/// Encodes a PKCS#8 DER document as PEM, encrypting it with PBES2 (PBKDF2-HMAC-SHA256,
/// AES-256-CBC) when a passphrase is given. OpenSSL and Python `cryptography` read both forms.
pub fn encode_private_pem(
    pkcs8_der: &[u8],
    passphrase: Option<&[u8]>,
) -> Result<Zeroizing<String>, KeyError> {
    let Some(passphrase) = passphrase else {
        let pem = pkcs8::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, pkcs8_der)
            .map_err(|err| malformed("private key", err))?;
        return Ok(Zeroizing::new(pem));
    };
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| KeyError::Rng)?;
    rng.fill(&mut iv).map_err(|_| KeyError::Rng)?;
    let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(
        PBKDF2_ITERATIONS,
        &salt,
        iv,
    )
    .map_err(|err| malformed("encryption parameters", err))?;
    let info =
        PrivateKeyInfoRef::from_der(pkcs8_der).map_err(|err| malformed("private key", err))?;
    let encrypted = info
        .encrypt_with_params(params, passphrase)
        .map_err(|err| malformed("private key encryption", err))?;
    let pem = pkcs8::der::pem::encode_string(
        "ENCRYPTED PRIVATE KEY",
        LineEnding::LF,
        encrypted.as_bytes(),
    )
    .map_err(|err| malformed("private key", err))?;
    Ok(Zeroizing::new(pem))
}

/// Whether a PEM file holds an encrypted private key, so the caller knows to ask for a passphrase.
pub fn pem_is_encrypted(pem: &[u8]) -> bool {
    find_subslice(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----").is_some()
}

/// The `securesystemslib` default key id: SHA-256 over the canonical JSON of
/// `{"keytype", "keyval": {"public"}, "scheme"}`. Ed25519 keys carry their public key as hex,
/// ECDSA keys as SPKI PEM (as `cryptography` writes it: 64-column lines, trailing newline).
fn compute_key_id(algorithm: Algorithm, raw: &[u8]) -> KeyId {
    let public = match algorithm {
        Algorithm::Ed25519 => to_hex(raw),
        Algorithm::EcdsaP256 => {
            let der = [&P256_SPKI_PREFIX[..], raw].concat();
            pkcs8::der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &der).unwrap_or_default()
        }
    };
    // OLPC canonical JSON: keys sorted, no whitespace, strings escape only `\` and `"`.
    let canonical = format!(
        r#"{{"keytype":{},"keyval":{{"public":{}}},"scheme":{}}}"#,
        canonical_string(algorithm.keytype()),
        canonical_string(&public),
        canonical_string(algorithm.scheme()),
    );
    KeyId(sha256(canonical.as_bytes()).to_string())
}

fn canonical_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Decodes the first PEM block in `input`, tolerating text before it (as `openssl -text` writes).
fn decode_pem(input: &[u8]) -> Result<(String, Vec<u8>), KeyError> {
    let start = find_subslice(input, b"-----BEGIN ")
        .ok_or_else(|| KeyError::Pem("no `-----BEGIN` line".to_string()))?;
    let block = &input[start..];
    let end_marker = find_subslice(block, b"-----END ")
        .ok_or_else(|| KeyError::Pem("no `-----END` line".to_string()))?;
    let end = block[end_marker + 9..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| end_marker + 9 + p + 1)
        .unwrap_or(block.len());
    let (label, der) =
        pkcs8::der::pem::decode_vec(&block[..end]).map_err(|err| KeyError::Pem(err.to_string()))?;
    Ok((label.to_string(), der))
}

fn find_subslice(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn malformed(what: &'static str, err: impl fmt::Display) -> KeyError {
    KeyError::Malformed {
        what,
        detail: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_verify() {
        for alg in [Algorithm::Ed25519, Algorithm::EcdsaP256] {
            let generated = PrivateKey::generate(alg).unwrap();
            let sig = generated.private.sign(b"message").unwrap();
            let public = generated.private.public_key();
            assert!(public.verify(b"message", &sig));
            assert!(!public.verify(b"messagf", &sig));
            // The public key survives a PEM round trip with the same key id.
            let reparsed = PublicKey::from_pem(public.to_pem().as_bytes()).unwrap();
            assert_eq!(reparsed.key_id(), public.key_id());
        }
    }

    #[test]
    fn ecdsa_signing_is_deterministic() {
        let generated = PrivateKey::generate(Algorithm::EcdsaP256).unwrap();
        let a = generated.private.sign(b"same message").unwrap();
        let b = generated.private.sign(b"same message").unwrap();
        assert_eq!(a, b);
    }

    /// The DSSE spec's own vector (`protocol.md`): deterministic ECDSA over the PAE reproduces
    /// the published `r||s` signature byte for byte, and the published point verifies it.
    #[test]
    fn dsse_spec_vector_is_reproduced() {
        use p256::pkcs8::EncodePrivateKey;
        let d = crate::digest::from_hex(
            "d73ec437fd6346e3619c5ebfdfff0f6916804955ad32ac9ac492b0ede1f6ffb7",
        )
        .unwrap();
        let signing = p256::ecdsa::SigningKey::from_slice(&d).unwrap();
        let der = signing.to_pkcs8_der().unwrap();
        let key = PrivateKey::from_pkcs8_der(der.as_bytes()).unwrap();
        let point = crate::digest::from_hex(concat!(
            "0467cd390f77aa359cb08c2235f652270493a9ed832b0abcc01f70954c0390d238",
            "0c782bd54e269125a44f4433aff1432ce94e12bca73aa67ac80cea12608ddf74"
        ))
        .unwrap();
        assert_eq!(key.public_key().raw, point);
        let pae = crate::dsse::pae(b"http://example.com/HelloWorld", b"hello world");
        let sig = key.sign(&pae).unwrap();
        let fixed = p256::ecdsa::Signature::from_der(&sig).unwrap().to_bytes();
        let expected = "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==";
        assert_eq!(crate::dsse::encode_base64(&fixed), expected);
        // The published raw signature verifies too, and not over another message.
        let published = crate::dsse::decode_base64(expected).unwrap();
        assert!(key.public_key().verify(&pae, &published));
        assert!(!key.public_key().verify(b"DSSEv1 0  0 ", &published));
    }

    fn ed25519_spki(raw: &[u8]) -> Vec<u8> {
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(raw);
        der
    }

    /// RFC 8032, section 7.1, tests 1 and 2: the published signatures verify, and not over
    /// another message.
    #[test]
    fn rfc8032_vectors_verify() {
        let hex = |s: &str| crate::digest::from_hex(s).unwrap();
        for (public, message, signature) in [
            (
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
        ] {
            let key = PublicKey::from_spki_der(&ed25519_spki(&hex(public))).unwrap();
            assert!(key.verify(&hex(message), &hex(signature)));
            assert!(!key.verify(b"other", &hex(signature)));
        }
    }

    /// Adding the group order to `s` gives a second signature that satisfies the same equation;
    /// RFC 8032 requires `s` below the order, so it must fail.
    #[test]
    fn ed25519_signatures_are_not_malleable() {
        let key = PrivateKey::generate(Algorithm::Ed25519).unwrap().private;
        let mut sig = key.sign(b"message").unwrap();
        assert!(key.public_key().verify(b"message", &sig));
        crate::ed25519::add_group_order(&mut sig);
        assert!(!key.public_key().verify(b"message", &sig));
    }

    /// A trusted key must be a point, and not one of small order (for which signatures can be
    /// made without any private key).
    #[test]
    fn unusable_ed25519_keys_are_refused_when_loaded() {
        // The identity point (y = 1) has order 1.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let err = PublicKey::from_spki_der(&ed25519_spki(&identity)).unwrap_err();
        assert!(err.to_string().contains("small order"), "{err}");
        // Some small y is not the y of any point.
        let not_a_point = (2u8..=255)
            .map(|y| {
                let mut raw = [0u8; 32];
                raw[0] = y;
                raw
            })
            .find(|raw| {
                curve25519_dalek::edwards::CompressedEdwardsY(*raw)
                    .decompress()
                    .is_none()
            })
            .unwrap();
        let err = PublicKey::from_spki_der(&ed25519_spki(&not_a_point)).unwrap_err();
        assert!(err.to_string().contains("not a point"), "{err}");
    }

    #[test]
    fn encrypted_keys_need_the_right_passphrase() {
        let generated = PrivateKey::generate(Algorithm::Ed25519).unwrap();
        let pem = encode_private_pem(&generated.pkcs8_der, Some(b"correct horse")).unwrap();
        assert!(pem_is_encrypted(pem.as_bytes()));
        assert!(matches!(
            PrivateKey::from_pem(pem.as_bytes(), None),
            Err(KeyError::PassphraseRequired)
        ));
        assert!(matches!(
            PrivateKey::from_pem(pem.as_bytes(), Some(b"wrong")),
            Err(KeyError::Decrypt)
        ));
        let key = PrivateKey::from_pem(pem.as_bytes(), Some(b"correct horse")).unwrap();
        assert_eq!(key.key_id(), generated.private.key_id());
    }

    #[test]
    fn wrong_pem_kinds_are_named() {
        let generated = PrivateKey::generate(Algorithm::Ed25519).unwrap();
        let private_pem = encode_private_pem(&generated.pkcs8_der, None).unwrap();
        let err = PublicKey::from_pem(private_pem.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("`PRIVATE KEY`"), "{err}");
        let public_pem = generated.private.public_key().to_pem();
        assert!(PrivateKey::from_pem(public_pem.as_bytes(), None).is_err());
        assert!(matches!(
            PublicKey::from_pem(b"hello"),
            Err(KeyError::Pem(_))
        ));
        assert!(
            PublicKey::from_pem(b"-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
    }
}
