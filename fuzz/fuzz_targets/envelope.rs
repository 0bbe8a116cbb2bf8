//! DSSE envelopes and `.intoto.jsonl` bundles: parse, verify against a fixed key, read the
//! statement. Nothing may panic; nothing but a real signature may verify; verifying the
//! envelopes of a file together gives each the result it gets alone.
#![no_main]

use codex_attest::dsse::{Envelope, Keyring};
use codex_attest::envelope_file::parse_envelope_lines;
use codex_attest::keys::PublicKey;
use codex_attest::verify::{verify_statement_envelope, verify_statement_envelopes};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = include_bytes!("../../testdata/keys/ed25519.pub");

fuzz_target!(|data: &[u8]| {
    let keyring: Keyring = [PublicKey::from_pem(KEY).unwrap()].into_iter().collect();
    let envelopes: Vec<Envelope> = parse_envelope_lines(data)
        .into_iter()
        .map(|(_, envelope)| envelope)
        .collect();
    let together = verify_statement_envelopes(&envelopes.iter().collect::<Vec<_>>(), &keyring, 1);
    assert_eq!(together.len(), envelopes.len());
    for (envelope, together) in envelopes.iter().zip(together) {
        let alone = verify_statement_envelope(envelope, &keyring, 1);
        assert_eq!(format!("{alone:?}"), format!("{together:?}"));
        if let Ok(verified) = alone {
            let _ = codex_attest::gate::RunView::from_statement(&verified.statement);
        }
        let _ = envelope.to_json_line();
    }
    let _ = codex_attest::dsse::decode_base64(&String::from_utf8_lossy(data));
});
