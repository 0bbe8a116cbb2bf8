//! `codex-attest.lock` files: parse, print, compare.
#![no_main]

use std::path::Path;

use codex_attest::lock::LockFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(lock) = LockFile::parse(Path::new("fuzz.lock"), &text) {
        let again = LockFile::parse(Path::new("fuzz.lock"), &lock.to_toml()).expect("our own output parses");
        assert!(lock.drift(&again).is_empty(), "a lock round-trips without drift");
    }
});
