//! PEM keys: public (SPKI) and private (PKCS#8, encrypted or not).
#![no_main]

use codex_attest::keys::{PrivateKey, PublicKey, pem_is_encrypted};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = PublicKey::from_pem(data) {
        let _ = key.to_pem();
        let _ = key.verify(b"message", data);
    }
    let _ = pem_is_encrypted(data);
    // A cheap wrong passphrase: real decryption work is bounded by the KDF parameters parsed.
    if let Ok(key) = PrivateKey::from_pem(data, Some(b"fuzz")) {
        let _ = key.sign(b"message");
    }
});
