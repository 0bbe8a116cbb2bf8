//! Sigstore bundles and trusted roots: parse, re-serialize, and run keyless verification against
//! an empty trusted root. Nothing may panic, and with nothing trusted nothing may verify.
#![no_main]

use codex_attest::sigstore::bundle::Bundle;
use codex_attest::sigstore::trust::TrustedRoot;
use codex_attest::sigstore::verify::verify_keyless_material;
use libfuzzer_sys::fuzz_target;

const EMPTY_ROOT: &[u8] =
    br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[],"certificateAuthorities":[],"ctlogs":[],"timestampAuthorities":[]}"#;

fuzz_target!(|data: &[u8]| {
    let _ = TrustedRoot::from_slice(data);
    if let Ok(bundle) = Bundle::from_slice(data) {
        let _ = bundle.material();
        let _ = bundle.to_json_line();
        if let Ok(root) = TrustedRoot::from_slice(EMPTY_ROOT) {
            assert!(
                verify_keyless_material(&bundle, &root).is_err(),
                "nothing verifies against an empty trusted root"
            );
        }
    }
});
