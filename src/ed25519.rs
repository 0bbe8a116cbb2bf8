//! Ed25519 signature verification (RFC 8032, section 5.1.7), written on curve25519-dalek's group
//! operations so that many signatures can share their last step.
//!
//! What is checked, exactly what ed25519-dalek's `verify_strict` checks (a test compares the two
//! on valid, tampered and crafted signatures):
//! - the key `A` is the encoding of a point, not of small order (`VerifyingKey::from_bytes`);
//! - `s` is below the group order ℓ, so no second signature can be made from a first;
//! - `[s]B - [k]A`, with `k = SHA-512(R || A || M) mod ℓ`, encodes to the signature's `R`: the
//!   equation without the cofactor, as ring and OpenSSL check it. Encodings are compared, so `R`
//!   must be the canonical encoding of a point;
//! - `R` is not of small order.
//!
//! Encoding the computed point takes a field inversion, about a sixth of the work of a
//! signature. `Equation::hold_all` encodes many points with one inversion (Montgomery's trick)
//! and then judges every signature on its own, so each result is the one `Equation::holds`
//! gives. This is not batch verification, which checks one random combination of many
//! equations and accepts signatures that single verification refuses (SECURITY.md).

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;

/// Why 32 bytes are not a key we verify with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    #[error("not a point on the curve")]
    NotAPoint,
    #[error("a point of small order, for which anyone can forge signatures")]
    SmallOrder,
}

/// An Ed25519 public key, decoded once.
#[derive(Clone, Debug)]
pub struct VerifyingKey {
    /// The key as it was given: what `k` hashes.
    bytes: [u8; 32],
    /// `-A`, the point the equation multiplies.
    minus_a: EdwardsPoint,
}

/// One signature's equation, computed up to the encoding of `[s]B - [k]A`.
#[derive(Clone, Debug)]
pub struct Equation {
    r: [u8; 32],
    computed: EdwardsPoint,
}

impl VerifyingKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<VerifyingKey, KeyProblem> {
        let point = CompressedEdwardsY(*bytes)
            .decompress()
            .ok_or(KeyProblem::NotAPoint)?;
        if point.is_small_order() {
            return Err(KeyProblem::SmallOrder);
        }
        Ok(VerifyingKey {
            bytes: *bytes,
            minus_a: -point,
        })
    }

    /// Whether `signature` is this key's over the concatenation of `message`'s parts.
    pub fn verify(&self, message: &[&[u8]], signature: &[u8]) -> bool {
        self.equation(message, signature)
            .is_some_and(|equation| equation.holds())
    }

    /// The equation of `signature` over the concatenation of `message`'s parts, or `None` when
    /// the signature is not 64 bytes or its `s` is not below the group order (it holds for no
    /// message then).
    pub fn equation(&self, message: &[&[u8]], signature: &[u8]) -> Option<Equation> {
        let signature: &[u8; 64] = signature.try_into().ok()?;
        let (r, s) = signature.split_at(32);
        let r: [u8; 32] = r.try_into().ok()?;
        let s: [u8; 32] = s.try_into().ok()?;
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s))?;
        let mut hash = ring::digest::Context::new(&ring::digest::SHA512);
        hash.update(&r);
        hash.update(&self.bytes);
        for part in message {
            hash.update(part);
        }
        let wide: [u8; 64] = hash.finish().as_ref().try_into().ok()?;
        let k = Scalar::from_bytes_mod_order_wide(&wide);
        Some(Equation {
            r,
            computed: EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &self.minus_a, &s),
        })
    }
}

impl Equation {
    /// Whether the signature is valid.
    pub fn holds(&self) -> bool {
        self.judge(&self.computed.compress())
    }

    /// Whether each signature is valid: `holds` for each, with one field inversion for every
    /// `BATCH` of them instead of one each.
    pub fn hold_all(equations: &[Equation]) -> Vec<bool> {
        const BATCH: usize = 32;
        let mut out = Vec::with_capacity(equations.len());
        for chunk in equations.chunks(BATCH) {
            // A short last chunk is filled with the base point, whose encoding is not used.
            let points: [EdwardsPoint; BATCH] = std::array::from_fn(|i| {
                chunk
                    .get(i)
                    .map_or(curve25519_dalek::constants::ED25519_BASEPOINT_POINT, |e| {
                        e.computed
                    })
            });
            let encoded = EdwardsPoint::compress_batch(&points);
            out.extend(chunk.iter().zip(&encoded).map(|(e, c)| e.judge(c)));
        }
        out
    }

    fn judge(&self, computed: &CompressedEdwardsY) -> bool {
        computed.as_bytes() == &self.r && !small_order(&self.r)
    }
}

/// Whether `r`, once it equals a computed point's encoding (so is canonical), encodes a point of
/// small order: the eight such points have eight canonical encodings. Comparing bytes is
/// `verify_strict`'s decompress-then-test without its square root (5 µs of 29 per signature).
fn small_order(r: &[u8; 32]) -> bool {
    static ENCODINGS: std::sync::OnceLock<[[u8; 32]; 8]> = std::sync::OnceLock::new();
    ENCODINGS
        .get_or_init(|| EIGHT_TORSION.map(|p| p.compress().to_bytes()))
        .contains(r)
}

/// Adds the group order ℓ to a signature's `s`: the same equation, a second encoding of `s`,
/// which verification must refuse (tests of this module and of `keys.rs`).
#[cfg(test)]
pub(crate) fn add_group_order(sig: &mut [u8]) {
    const ORDER: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (byte, add) in sig[32..].iter_mut().zip(ORDER) {
        let sum = u16::from(*byte) + u16::from(add) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "s + ℓ does not fit in 32 bytes");
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair as _};

    fn sha512(parts: &[&[u8]]) -> [u8; 64] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA512);
        parts.iter().for_each(|p| ctx.update(p));
        ctx.finish().as_ref().try_into().unwrap()
    }

    /// A key pair from a seed, with its secret scalar (RFC 8032, section 5.1.5).
    fn pair(seed: u8) -> (Ed25519KeyPair, [u8; 32], Scalar) {
        let seed = [seed; 32];
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        let public: [u8; 32] = pair.public_key().as_ref().try_into().unwrap();
        let mut a: [u8; 32] = sha512(&[&seed])[..32].try_into().unwrap();
        a[0] &= 248;
        a[31] &= 127;
        a[31] |= 64;
        (pair, public, Scalar::from_bytes_mod_order(a))
    }

    /// A signature whose `R` is a point of small order: its holder picks `R`, then `s = k·a`
    /// (plus the small point's part, which the equation without the cofactor cannot absorb
    /// unless `R` is the identity).
    fn small_order_r(public: &[u8; 32], a: &Scalar, message: &[u8], which: usize) -> Vec<u8> {
        let r = EIGHT_TORSION[which].compress().to_bytes();
        let k = Scalar::from_bytes_mod_order_wide(&sha512(&[&r, public, message]));
        let mut sig = r.to_vec();
        sig.extend_from_slice(&(k * a).to_bytes());
        sig
    }

    /// Every kind of signature we could think of, valid or not, with its message and key.
    fn cases() -> Vec<([u8; 32], Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        for seed in 1..=6u8 {
            let (pair, public, a) = pair(seed);
            for len in [0usize, 1, 63, 64, 65, 111, 112, 128, 2700] {
                let message: Vec<u8> = (0..len).map(|i| (i as u8) ^ seed).collect();
                let sig = pair.sign(&message).as_ref().to_vec();
                out.push((public, message.clone(), sig.clone()));
                // Another message, another key, a flipped bit in R, in s, in the message.
                out.push((public, b"other".to_vec(), sig.clone()));
                out.push((self::pair(seed + 100).1, message.clone(), sig.clone()));
                for bit in [0usize, 7, 255, 256, 300, 511] {
                    let mut flipped = sig.clone();
                    flipped[bit / 8] ^= 1 << (bit % 8);
                    out.push((public, message.clone(), flipped));
                }
                if !message.is_empty() {
                    let mut other = message.clone();
                    other[len / 2] ^= 0x40;
                    out.push((public, other, sig.clone()));
                }
                // Malleated s; truncated and extended signatures.
                let mut malleated = sig.clone();
                add_group_order(&mut malleated);
                out.push((public, message.clone(), malleated));
                out.push((public, message.clone(), sig[..63].to_vec()));
                out.push((public, message.clone(), [&sig[..], &[0]].concat()));
                // R of small order, each of the eight.
                for which in 0..8 {
                    out.push((
                        public,
                        message.clone(),
                        small_order_r(&public, &a, &message, which),
                    ));
                }
                // R not canonical: y + p for y = 1 (the identity's y) and y = 2 (no point).
                for y in [1u8, 2] {
                    let mut non_canonical = sig.clone();
                    let mut r = [0xffu8; 32];
                    r[0] = 0xed + y;
                    r[31] = 0x7f;
                    non_canonical[..32].copy_from_slice(&r);
                    out.push((public, message.clone(), non_canonical));
                }
            }
        }
        out
    }

    /// Our checks against ed25519-dalek's `verify_strict`, an independent implementation, on
    /// valid, tampered and crafted signatures; and `hold_all` against `holds`.
    #[test]
    fn the_same_verdicts_as_ed25519_dalek_verify_strict() {
        let cases = cases();
        let mut equations = Vec::new();
        let mut single = Vec::new();
        let (mut valid, mut invalid) = (0, 0);
        for (public, message, sig) in &cases {
            let dalek = ed25519_dalek::VerifyingKey::from_bytes(public).unwrap();
            let expected = ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| dalek.verify_strict(message, &s).is_ok());
            let key = VerifyingKey::from_bytes(public).unwrap();
            assert_eq!(key.verify(&[message], sig), expected, "{sig:02x?}");
            // The message in parts gives the same verdict.
            let (head, tail) = message.split_at(message.len() / 3);
            assert_eq!(key.verify(&[head, tail], sig), expected);
            if let Some(equation) = key.equation(&[message], sig) {
                single.push(equation.holds());
                equations.push(equation);
            }
            if expected { valid += 1 } else { invalid += 1 }
        }
        assert!(
            valid >= 50 && invalid >= 500,
            "{valid} valid, {invalid} invalid"
        );
        // Several batches, the last one short.
        assert!(equations.len() > 64 && equations.len() % 32 != 0);
        assert_eq!(Equation::hold_all(&equations), single);
        assert_eq!(Equation::hold_all(&equations[..5]), single[..5]);
        assert!(Equation::hold_all(&[]).is_empty());
    }

    /// The plain equation accepts a small-order `R` when it is the identity; we do not.
    #[test]
    fn a_small_order_r_that_satisfies_the_equation_is_refused() {
        let (_, public, a) = pair(7);
        let message = b"DSSEv1 0  0 ";
        let identity = 0; // EIGHT_TORSION[0] is the identity (y = 1)
        assert_eq!(EIGHT_TORSION[identity].compress().to_bytes()[0], 1);
        let sig = small_order_r(&public, &a, message, identity);
        let dalek = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
        let parsed = ed25519_dalek::Signature::from_slice(&sig).unwrap();
        use ed25519_dalek::Verifier as _;
        assert!(
            dalek.verify(message, &parsed).is_ok(),
            "the plain equation holds"
        );
        let key = VerifyingKey::from_bytes(&public).unwrap();
        let equation = key.equation(&[message], &sig).unwrap();
        assert_eq!(equation.computed.compress().to_bytes(), equation.r);
        assert!(!equation.holds());
        assert_eq!(Equation::hold_all(&[equation]), [false]);
    }

    #[test]
    fn keys_that_are_not_points_or_of_small_order_are_refused() {
        for point in EIGHT_TORSION {
            let bytes = point.compress().to_bytes();
            assert_eq!(
                VerifyingKey::from_bytes(&bytes).unwrap_err(),
                KeyProblem::SmallOrder
            );
        }
        let not_a_point = (2u8..=255)
            .map(|y| {
                let mut raw = [0u8; 32];
                raw[0] = y;
                raw
            })
            .find(|raw| CompressedEdwardsY(*raw).decompress().is_none())
            .unwrap();
        assert_eq!(
            VerifyingKey::from_bytes(&not_a_point).unwrap_err(),
            KeyProblem::NotAPoint
        );
    }
}
