//! Rekor v1 transparency log entries: the signed entry timestamp (SET), the checkpoint and its
//! signature, the RFC 6962/9162 Merkle inclusion proof, and that the entry body is about this
//! envelope, signature and certificate.

use crate::digest::{from_hex, sha256, to_hex};
use crate::dsse::{Envelope, decode_base64, encode_base64};
use crate::sigstore::bundle::TlogEntry;
use crate::sigstore::cert::{Hash, pem_to_der, verify_ecdsa};
use crate::sigstore::trust::TrustedLog;

/// Why a log entry does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlogError {
    #[error(
        "log entry {index}: the log {log_id} is not in the trusted root (or not trusted at {time})"
    )]
    UntrustedLog {
        index: usize,
        log_id: String,
        time: String,
    },
    #[error(
        "log entry {index} has no signed entry timestamp (inclusionPromise), so it gives no trusted signing time"
    )]
    NoPromise { index: usize },
    #[error(
        "log entry {index}: the signed entry timestamp does not verify with the trusted log key"
    )]
    Promise { index: usize },
    #[error("log entry {index}: invalid inclusion proof: {detail}")]
    Proof { index: usize, detail: String },
    #[error("log entry {index}: invalid checkpoint: {detail}")]
    Checkpoint { index: usize, detail: String },
    #[error("log entry {index} does not match this envelope: {detail}")]
    Body { index: usize, detail: String },
}

impl TlogError {
    pub fn code(&self) -> &'static str {
        match self {
            TlogError::UntrustedLog { .. } => "untrusted-log",
            TlogError::NoPromise { .. } => "missing-inclusion-promise",
            TlogError::Promise { .. } => "invalid-inclusion-promise",
            TlogError::Proof { .. } => "invalid-inclusion-proof",
            TlogError::Checkpoint { .. } => "invalid-checkpoint",
            TlogError::Body { .. } => "tlog-entry-mismatch",
        }
    }
}

/// Finds the trusted log of an entry, valid at its integrated time.
pub fn find_log<'a>(
    index: usize,
    entry: &TlogEntry,
    logs: &'a [TrustedLog],
) -> Result<(&'a TrustedLog, Vec<u8>), TlogError> {
    let untrusted = || TlogError::UntrustedLog {
        index,
        log_id: entry.log_id.key_id.clone(),
        time: crate::timestamp::Timestamp::from_unix_seconds(entry.integrated_time)
            .map_or_else(|| entry.integrated_time.to_string(), |t| t.to_string()),
    };
    let log_id = decode_base64(&entry.log_id.key_id).ok_or_else(untrusted)?;
    let log = logs
        .iter()
        .find(|l| l.log_id == log_id && l.valid_at(entry.integrated_time))
        .ok_or_else(untrusted)?;
    Ok((log, log_id))
}

/// The exact bytes the SET signs: canonical JSON with sorted keys and no whitespace.
pub fn set_payload(body_b64: &str, integrated_time: i64, log_id: &[u8], log_index: i64) -> String {
    format!(
        r#"{{"body":"{body_b64}","integratedTime":{integrated_time},"logID":"{}","logIndex":{log_index}}}"#,
        to_hex(log_id)
    )
}

/// Checks the SET, returning the integrated time it vouches for.
pub fn verify_promise(
    index: usize,
    entry: &TlogEntry,
    log: &TrustedLog,
    log_id: &[u8],
    body: &[u8],
) -> Result<i64, TlogError> {
    let promise = entry
        .inclusion_promise
        .as_ref()
        .ok_or(TlogError::NoPromise { index })?;
    let sig = decode_base64(&promise.signed_entry_timestamp).ok_or(TlogError::Promise { index })?;
    let payload = set_payload(
        &encode_base64(body),
        entry.integrated_time,
        log_id,
        entry.log_index,
    );
    if entry.integrated_time <= 0
        || !verify_ecdsa(&log.public_key, Hash::Sha256, payload.as_bytes(), &sig)
    {
        return Err(TlogError::Promise { index });
    }
    Ok(entry.integrated_time)
}

/// A parsed checkpoint note: origin, size, root hash; and the signed text.
struct Note<'a> {
    signed: &'a str,
    size: u64,
    root: Vec<u8>,
    signatures: Vec<(&'a str, Vec<u8>)>,
}

fn parse_note(text: &str) -> Result<Note<'_>, String> {
    let split = text
        .find("\n\n")
        .ok_or("no blank line between the note and its signatures")?;
    let signed = &text[..split + 1];
    let mut lines = signed.lines();
    let _origin = lines.next().ok_or("no origin line")?;
    let size = lines
        .next()
        .and_then(|l| l.parse::<u64>().ok())
        .ok_or("the tree size line is not a number")?;
    let root = lines
        .next()
        .and_then(decode_base64)
        .ok_or("the root hash line is not base64")?;
    let mut signatures = Vec::new();
    for line in text[split + 2..].lines().filter(|l| !l.is_empty()) {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or("a signature line does not start with an em dash")?;
        let (name, sig) = rest
            .rsplit_once(' ')
            .ok_or("a signature line has no signature")?;
        let sig = decode_base64(sig).ok_or("a checkpoint signature is not base64")?;
        signatures.push((name, sig));
    }
    Ok(Note {
        signed,
        size,
        root,
        signatures,
    })
}

/// RFC 6962 leaf and node hashes.
fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut data = Vec::with_capacity(body.len() + 1);
    data.push(0);
    data.extend_from_slice(body);
    *sha256(&data).as_bytes()
}

fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut data = Vec::with_capacity(65);
    data.push(1);
    data.extend_from_slice(left);
    data.extend_from_slice(right);
    *sha256(&data).as_bytes()
}

/// The root computed from an inclusion proof (RFC 9162 §2.1.3.2), or why there is none.
pub fn root_from_proof(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    hashes: &[Vec<u8>],
) -> Result<[u8; 32], String> {
    if index >= size {
        return Err(format!("index {index} is not inside a tree of size {size}"));
    }
    let inner = 64 - (index ^ (size - 1)).leading_zeros() as usize;
    let border = (index >> inner).count_ones() as usize;
    if hashes.len() != inner + border {
        return Err(format!(
            "{} hashes, but a proof for index {index} in a tree of size {size} has {}",
            hashes.len(),
            inner + border
        ));
    }
    if hashes.iter().any(|h| h.len() != 32) {
        return Err("a proof hash is not 32 bytes".to_string());
    }
    let mut acc = leaf;
    for (i, h) in hashes[..inner].iter().enumerate() {
        acc = if (index >> i) & 1 == 1 {
            node_hash(h, &acc)
        } else {
            node_hash(&acc, h)
        };
    }
    for h in &hashes[inner..] {
        acc = node_hash(h, &acc);
    }
    Ok(acc)
}

/// Checks the inclusion proof against the signed checkpoint.
pub fn verify_inclusion(
    index: usize,
    entry: &TlogEntry,
    log: &TrustedLog,
    log_id: &[u8],
    body: &[u8],
) -> Result<(), TlogError> {
    let Some(proof) = &entry.inclusion_proof else {
        return Ok(());
    };
    let checkpoint = |detail: String| TlogError::Checkpoint { index, detail };
    let bad = |detail: String| TlogError::Proof { index, detail };
    let note = parse_note(&proof.checkpoint.envelope).map_err(checkpoint)?;
    let signed = note.signatures.iter().any(|(name, sig)| {
        sig.len() > 4
            && sig[..4] == log_id[..4.min(log_id.len())]
            && log.base_url.contains(name)
            && verify_ecdsa(
                &log.public_key,
                Hash::Sha256,
                note.signed.as_bytes(),
                &sig[4..],
            )
    });
    if !signed {
        return Err(checkpoint(
            "no signature by the trusted log verifies".to_string(),
        ));
    }
    let hashes = proof
        .hashes
        .iter()
        .map(|h| decode_base64(h).ok_or_else(|| bad("a proof hash is not base64".to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if proof.tree_size as u64 != note.size {
        return Err(bad(format!(
            "treeSize {} differs from the checkpoint's {}",
            proof.tree_size, note.size
        )));
    }
    if decode_base64(&proof.root_hash).as_deref() != Some(&note.root[..]) {
        return Err(bad("rootHash differs from the checkpoint's".to_string()));
    }
    if proof.log_index < 0 {
        return Err(bad("negative logIndex".to_string()));
    }
    let root = root_from_proof(proof.log_index as u64, note.size, leaf_hash(body), &hashes)
        .map_err(bad)?;
    if root[..] != note.root[..] {
        return Err(bad(
            "the proof does not lead to the checkpoint's root hash".to_string()
        ));
    }
    Ok(())
}

/// Checks that a canonical `dsse` 0.0.1 or `intoto` 0.0.2 body is about `envelope` (its one
/// signature and its payload) and `verifier_der` (the leaf certificate or public key, DER).
pub fn verify_body(
    index: usize,
    entry: &TlogEntry,
    body: &[u8],
    envelope: &Envelope,
    payload: &[u8],
    verifier_der: &[u8],
) -> Result<(), TlogError> {
    let bad = |detail: &str| TlogError::Body {
        index,
        detail: detail.to_string(),
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| bad("its body is not JSON"))?;
    let kind = value["kind"].as_str().unwrap_or_default();
    let version = value["apiVersion"].as_str().unwrap_or_default();
    if kind != entry.kind_version.kind || version != entry.kind_version.version {
        return Err(bad(
            "its body's kind and apiVersion differ from kindVersion",
        ));
    }
    let envelope_sig = envelope
        .signatures
        .first()
        .and_then(|s| decode_base64(&s.sig))
        .ok_or_else(|| bad("the envelope signature is not base64"))?;
    let payload_hash = to_hex(sha256(payload).as_bytes());
    let spec = &value["spec"];
    let (logged_sig, logged_hash, logged_verifier) = match (kind, version) {
        ("dsse", "0.0.1") => {
            let sigs = spec["signatures"]
                .as_array()
                .ok_or_else(|| bad("its body has no signatures"))?;
            if sigs.len() != 1 {
                return Err(bad("its body does not hold exactly one signature"));
            }
            (
                sigs[0]["signature"].as_str().and_then(decode_base64),
                spec["payloadHash"].clone(),
                sigs[0]["verifier"].as_str().map(str::to_string),
            )
        }
        ("intoto", "0.0.2") => {
            let sigs = spec["content"]["envelope"]["signatures"]
                .as_array()
                .ok_or_else(|| bad("its body has no signatures"))?;
            if sigs.len() != 1 {
                return Err(bad("its body does not hold exactly one signature"));
            }
            // The sig is base64 of the envelope's base64 text.
            let sig = sigs[0]["sig"]
                .as_str()
                .and_then(decode_base64)
                .and_then(|t| String::from_utf8(t).ok())
                .and_then(|t| decode_base64(&t));
            (
                sig,
                spec["content"]["payloadHash"].clone(),
                sigs[0]["publicKey"].as_str().map(str::to_string),
            )
        }
        _ => {
            return Err(bad(&format!(
                "unsupported entry kind {kind}/{version} (dsse 0.0.1 and intoto 0.0.2 are)"
            )));
        }
    };
    if logged_sig.as_deref() != Some(&envelope_sig[..]) {
        return Err(bad("the logged signature is not this envelope's signature"));
    }
    if logged_hash["algorithm"].as_str() != Some("sha256")
        || logged_hash["value"].as_str().and_then(from_hex) != from_hex(&payload_hash)
    {
        return Err(bad(
            "the logged payload hash is not this envelope's payload's",
        ));
    }
    let verifier = logged_verifier
        .and_then(|v| decode_base64(&v))
        .and_then(|pem| String::from_utf8(pem).ok())
        .and_then(|pem| pem_to_der(&pem));
    if verifier.as_deref() != Some(verifier_der) {
        return Err(bad(
            "the logged verifier is not this bundle's certificate or key",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_root(leaves: &[[u8; 32]]) -> [u8; 32] {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let k = leaves.len().next_power_of_two() / 2;
        let k = if k == leaves.len() { k / 2 } else { k };
        node_hash(&tree_root(&leaves[..k]), &tree_root(&leaves[k..]))
    }

    fn proof(leaves: &[[u8; 32]], index: usize) -> Vec<Vec<u8>> {
        if leaves.len() == 1 {
            return Vec::new();
        }
        let k = leaves.len().next_power_of_two() / 2;
        let k = if k == leaves.len() { k / 2 } else { k };
        if index < k {
            let mut p = proof(&leaves[..k], index);
            p.push(tree_root(&leaves[k..]).to_vec());
            p
        } else {
            let mut p = proof(&leaves[k..], index - k);
            p.push(tree_root(&leaves[..k]).to_vec());
            p
        }
    }

    #[test]
    fn inclusion_proofs_for_every_leaf_of_small_trees() {
        for size in 1..=13usize {
            let leaves: Vec<[u8; 32]> = (0..size).map(|i| leaf_hash(&[i as u8])).collect();
            let root = tree_root(&leaves);
            for index in 0..size {
                let p = proof(&leaves, index);
                let got = root_from_proof(index as u64, size as u64, leaves[index], &p).unwrap();
                assert_eq!(got, root, "size {size} index {index}");
                if !p.is_empty() {
                    let mut wrong = p.clone();
                    wrong[0][0] ^= 1;
                    assert_ne!(
                        root_from_proof(index as u64, size as u64, leaves[index], &wrong).unwrap(),
                        root
                    );
                }
            }
        }
        assert!(root_from_proof(3, 3, [0; 32], &[]).is_err());
        assert!(root_from_proof(0, 2, [0; 32], &[]).is_err());
    }

    #[test]
    fn set_payload_is_canonical() {
        assert_eq!(
            set_payload("e30=", 5, &[0xab, 0x01], 7),
            r#"{"body":"e30=","integratedTime":5,"logID":"ab01","logIndex":7}"#
        );
    }

    #[test]
    fn notes_parse() {
        let note =
            parse_note("origin - 1\n2\nAAAA\nTimestamp: 1\n\n\u{2014} origin AAAAAQ==\n").unwrap();
        assert_eq!(note.size, 2);
        assert_eq!(note.signed, "origin - 1\n2\nAAAA\nTimestamp: 1\n");
        assert_eq!(note.signatures.len(), 1);
        assert!(parse_note("no blank line\n").is_err());
    }
}
