//! X.509 for keyless verification: the Fulcio leaf (identity, issuer, validity, key), the path to
//! a trusted CA, and the embedded SCT. Parsing is RustCrypto `x509-cert`; every signature is
//! checked with `ring` (ECDSA P-256/P-384 with SHA-256/SHA-384, DER signatures).

use pkcs8::ObjectIdentifier;
use ring::signature::{self as ring_sig, UnparsedPublicKey};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

use crate::digest::sha256;

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// Fulcio's OIDC issuer: `.1.8` is a DER UTF8String, `.1.1` (legacy) the raw bytes.
const OID_FULCIO_ISSUER_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const OID_FULCIO_ISSUER_V1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
const OID_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// The embedded SCT list (RFC 6962 §3.3); its DER OID content bytes, for removal from the TBS.
const SCT_OID_CONTENT: [u8; 10] = [0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];

/// Which hash an ECDSA signature uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
}

/// A parsed certificate with its DER.
pub struct Cert {
    pub der: Vec<u8>,
    pub cert: Certificate,
}

/// What the leaf says about the signer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafIdentity {
    /// The SAN URI and e-mail values, in certificate order.
    pub identities: Vec<String>,
    /// The OIDC issuer from the Fulcio extension.
    pub issuer: Option<String>,
}

impl Cert {
    pub fn from_der(der: Vec<u8>) -> Result<Cert, String> {
        let cert =
            Certificate::from_der(&der).map_err(|e| format!("not a DER certificate: {e}"))?;
        Ok(Cert { der, cert })
    }

    pub fn not_before(&self) -> i64 {
        self.cert
            .tbs_certificate()
            .validity()
            .not_before
            .to_unix_duration()
            .as_secs() as i64
    }

    pub fn not_after(&self) -> i64 {
        self.cert
            .tbs_certificate()
            .validity()
            .not_after
            .to_unix_duration()
            .as_secs() as i64
    }

    pub fn valid_at(&self, t: i64) -> bool {
        self.not_before() <= t && t <= self.not_after()
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Option<Vec<u8>> {
        self.cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .ok()
    }

    /// The raw TBSCertificate bytes, exactly as signed.
    fn tbs_der(&self) -> Option<&[u8]> {
        let (_, content, _) = read_tlv(&self.der)?;
        let (_, _, whole) = read_tlv(content)?;
        Some(whole)
    }

    pub fn is_ca(&self) -> bool {
        matches!(
            self.cert.tbs_certificate().get_extension::<BasicConstraints>(),
            Ok(Some((_, bc))) if bc.ca
        )
    }

    /// Whether `self` was issued by `issuer`: names chain and the signature verifies.
    pub fn issued_by(&self, issuer: &Cert) -> bool {
        if self.cert.tbs_certificate().issuer() != issuer.cert.tbs_certificate().subject() {
            return false;
        }
        let Some(tbs) = self.tbs_der() else {
            return false;
        };
        let Some(hash) = signature_hash(&self.cert.signature_algorithm().oid) else {
            return false;
        };
        let Some(sig) = self.cert.signature().as_bytes() else {
            return false;
        };
        issuer
            .spki_der()
            .is_some_and(|spki| verify_ecdsa(&spki, hash, tbs, sig))
    }

    /// The signer identity of a Fulcio leaf.
    pub fn leaf_identity(&self) -> LeafIdentity {
        let tbs = self.cert.tbs_certificate();
        let mut identities = Vec::new();
        if let Ok(Some((_, san))) = tbs.get_extension::<SubjectAltName>() {
            for name in san.0 {
                match name {
                    GeneralName::UniformResourceIdentifier(uri) => identities.push(uri.to_string()),
                    GeneralName::Rfc822Name(mail) => identities.push(mail.to_string()),
                    _ => {}
                }
            }
        }
        let mut v1 = None;
        let mut v2 = None;
        for ext in tbs.extensions().into_iter().flatten() {
            if ext.extn_id == OID_FULCIO_ISSUER_V2 {
                v2 = x509_cert::der::asn1::Utf8StringRef::from_der(ext.extn_value.as_bytes())
                    .ok()
                    .map(|s| s.as_str().to_string());
            } else if ext.extn_id == OID_FULCIO_ISSUER_V1 {
                v1 = String::from_utf8(ext.extn_value.as_bytes().to_vec()).ok();
            }
        }
        LeafIdentity {
            identities,
            issuer: v2.or(v1),
        }
    }

    /// Checks the leaf is meant for signing code: KeyUsage digitalSignature and, when present,
    /// an EKU that includes codeSigning.
    pub fn check_leaf_usage(&self) -> Result<(), String> {
        let tbs = self.cert.tbs_certificate();
        match tbs.get_extension::<KeyUsage>() {
            Ok(Some((_, ku))) if ku.digital_signature() => {}
            Ok(Some(_)) => return Err("its KeyUsage lacks digitalSignature".to_string()),
            Ok(None) => return Err("it has no KeyUsage extension".to_string()),
            Err(e) => return Err(format!("its KeyUsage is malformed: {e}")),
        }
        match tbs.get_extension::<ExtendedKeyUsage>() {
            Ok(Some((_, eku))) if eku.0.contains(&OID_CODE_SIGNING) => Ok(()),
            Ok(Some(_)) => Err("its ExtendedKeyUsage lacks codeSigning".to_string()),
            Ok(None) => Ok(()),
            Err(e) => Err(format!("its ExtendedKeyUsage is malformed: {e}")),
        }
    }

    /// The embedded SCTs (RFC 6962 §3.3), raw.
    fn embedded_scts(&self) -> Vec<Vec<u8>> {
        let tbs = self.cert.tbs_certificate();
        let Some(ext) = tbs
            .extensions()
            .into_iter()
            .flatten()
            .find(|e| e.extn_id.as_bytes() == SCT_OID_CONTENT)
        else {
            return Vec::new();
        };
        // extnValue holds a DER OCTET STRING whose content is the TLS-encoded list.
        let Some((0x04, list, _)) = read_tlv(ext.extn_value.as_bytes()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let Some(total) = list
            .get(..2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        else {
            return out;
        };
        let mut rest = list.get(2..2 + total).unwrap_or(&[]);
        while rest.len() >= 2 {
            let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            let Some(sct) = rest.get(2..2 + len) else {
                break;
            };
            out.push(sct.to_vec());
            rest = &rest[2 + len..];
        }
        out
    }

    /// The TBSCertificate with the SCT list extension removed, as the CT log signed it.
    fn precert_tbs(&self) -> Option<Vec<u8>> {
        let (tag, content, _) = read_tlv(self.tbs_der()?)?;
        let mut fields = Vec::new();
        let mut rest = content;
        while !rest.is_empty() {
            let (ftag, fcontent, whole) = read_tlv(rest)?;
            rest = &rest[whole.len()..];
            if ftag != 0xa3 {
                fields.extend_from_slice(whole);
                continue;
            }
            let (0x30, exts, _) = read_tlv(fcontent)? else {
                return None;
            };
            let mut kept = Vec::new();
            let mut erest = exts;
            while !erest.is_empty() {
                let (_, econtent, ewhole) = read_tlv(erest)?;
                erest = &erest[ewhole.len()..];
                let (otag, oid, _) = read_tlv(econtent)?;
                if otag == 0x06 && oid == SCT_OID_CONTENT {
                    continue;
                }
                kept.extend_from_slice(ewhole);
            }
            fields.extend_from_slice(&write_tlv(0xa3, &write_tlv(0x30, &kept)));
        }
        Some(write_tlv(tag, &fields))
    }

    /// Whether an embedded SCT from one of `logs` (DER SPKI keyed by log id) verifies.
    /// Returns the number of SCTs that verified.
    pub fn verified_scts(&self, issuer: &Cert, logs: &[(&[u8], &[u8])]) -> usize {
        let Some(issuer_spki) = issuer.spki_der() else {
            return 0;
        };
        let Some(tbs) = self.precert_tbs() else {
            return 0;
        };
        let issuer_key_hash = sha256(&issuer_spki);
        let mut verified = 0;
        for sct in self.embedded_scts() {
            // v1: version(1) log_id(32) timestamp(8) extensions(2+n) hash(1) sig_alg(1) sig(2+n)
            if sct.len() < 43 || sct[0] != 0 {
                continue;
            }
            let log_id = &sct[1..33];
            let timestamp = &sct[33..41];
            let ext_len = u16::from_be_bytes([sct[41], sct[42]]) as usize;
            let Some(extensions) = sct.get(43..43 + ext_len) else {
                continue;
            };
            let rest = &sct[43 + ext_len..];
            if rest.len() < 4 || rest[0] != 4 || rest[1] != 3 {
                continue; // only SHA-256 with ECDSA
            }
            let sig_len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
            let Some(sig) = rest.get(4..4 + sig_len) else {
                continue;
            };
            let mut signed = vec![0u8, 0u8];
            signed.extend_from_slice(timestamp);
            signed.extend_from_slice(&[0, 1]);
            signed.extend_from_slice(issuer_key_hash.as_bytes());
            let len = tbs.len() as u32;
            signed.extend_from_slice(&len.to_be_bytes()[1..]);
            signed.extend_from_slice(&tbs);
            signed.extend_from_slice(&(ext_len as u16).to_be_bytes());
            signed.extend_from_slice(extensions);
            if logs
                .iter()
                .any(|(id, key)| *id == log_id && verify_ecdsa(key, Hash::Sha256, &signed, sig))
            {
                verified += 1;
            }
        }
        verified
    }
}

fn signature_hash(oid: &ObjectIdentifier) -> Option<Hash> {
    if *oid == OID_ECDSA_SHA256 {
        Some(Hash::Sha256)
    } else if *oid == OID_ECDSA_SHA384 {
        Some(Hash::Sha384)
    } else {
        None
    }
}

/// Verifies an ASN.1 DER ECDSA signature with a P-256 or P-384 key given as DER SPKI.
pub fn verify_ecdsa(spki_der: &[u8], hash: Hash, msg: &[u8], sig: &[u8]) -> bool {
    let Ok(spki) = spki::SubjectPublicKeyInfoRef::from_der(spki_der) else {
        return false;
    };
    if spki.algorithm.oid != OID_EC_PUBLIC_KEY {
        return false;
    }
    let Some(curve) = spki
        .algorithm
        .parameters
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
    else {
        return false;
    };
    let Some(point) = spki.subject_public_key.as_bytes() else {
        return false;
    };
    let alg: &dyn ring_sig::VerificationAlgorithm = match (curve, hash) {
        (c, Hash::Sha256) if c == OID_P256 => &ring_sig::ECDSA_P256_SHA256_ASN1,
        (c, Hash::Sha384) if c == OID_P256 => &ring_sig::ECDSA_P256_SHA384_ASN1,
        (c, Hash::Sha256) if c == OID_P384 => &ring_sig::ECDSA_P384_SHA256_ASN1,
        (c, Hash::Sha384) if c == OID_P384 => &ring_sig::ECDSA_P384_SHA384_ASN1,
        _ => return false,
    };
    UnparsedPublicKey::new(alg, point).verify(msg, sig).is_ok()
}

/// The default hash for signatures made with a key: SHA-384 for P-384, else SHA-256.
pub fn default_hash(spki_der: &[u8]) -> Hash {
    match spki::SubjectPublicKeyInfoRef::from_der(spki_der)
        .ok()
        .and_then(|s| s.algorithm.parameters)
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
    {
        Some(c) if c == OID_P384 => Hash::Sha384,
        _ => Hash::Sha256,
    }
}

/// Reads one DER TLV (single-byte tags): `(tag, content, whole)`.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)? as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in input.get(2..2 + n)? {
            len = (len << 8) | *b as usize;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, input.get(header..end)?, input.get(..end)?))
}

fn write_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// DER of the first PEM block of `text` (any label).
pub fn pem_to_der(text: &str) -> Option<Vec<u8>> {
    let start = text.find("-----BEGIN ")?;
    let body_start = start + text[start..].find('\n')? + 1;
    let end = body_start + text[body_start..].find("-----END ")?;
    let b64: String = text[body_start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    crate::dsse::decode_base64(&b64)
}

/// Canonical PEM (64-column lines), as Go's `pem.Encode` writes it.
pub fn der_to_pem(label: &str, der: &[u8]) -> String {
    let b64 = crate::dsse::encode_base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_round_trip() {
        for len in [0usize, 5, 127, 128, 300, 70_000] {
            let content = vec![7u8; len];
            let encoded = write_tlv(0x30, &content);
            let (tag, c, whole) = read_tlv(&encoded).unwrap();
            assert_eq!((tag, c.len(), whole.len()), (0x30, len, encoded.len()));
        }
        assert!(read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(read_tlv(&[0x30, 0x05, 1]).is_none());
    }

    #[test]
    fn pem_round_trip() {
        let der = vec![1u8; 100];
        let pem = der_to_pem("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(pem_to_der(&pem).unwrap(), der);
    }
}
