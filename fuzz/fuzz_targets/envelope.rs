//! DSSE envelopes and `.intoto.jsonl` bundles: parse, verify against a fixed key, read the
//! statement. Nothing may panic; nothing but a real signature may verify.
#![no_main]

use codex_attest::dsse::Keyring;
use codex_attest::envelope_file::parse_envelope_lines;
use codex_attest::keys::PublicKey;
use codex_attest::verify::verify_statement_envelope;
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = include_bytes!("../../testdata/keys/ed25519.pub");

fuzz_target!(|data: &[u8]| {
    let keyring: Keyring = [PublicKey::from_pem(KEY).unwrap()].into_iter().collect();
    for (_, envelope) in parse_envelope_lines(data) {
        if let Ok(verified) = verify_statement_envelope(&envelope, &keyring, 1) {
            let _ = codex_attest::gate::RunView::from_statement(&verified.statement);
        }
        let _ = envelope.to_json_line();
    }
    let _ = codex_attest::dsse::decode_base64(&String::from_utf8_lossy(data));
});
