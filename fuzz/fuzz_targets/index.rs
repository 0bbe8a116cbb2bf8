//! git's index file: parse as a SHA-1 and as a SHA-256 index. Nothing may panic, and what parses
//! must answer its own lookups: every entry is found under its path, and an index holds the same
//! entries as itself.
#![no_main]

use codex_attest::index::GitIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for oid_len in [20, 32] {
        let Ok(index) = GitIndex::parse(data, oid_len) else {
            continue;
        };
        assert!(index.same_entries(&index));
        for (path, entry) in index.entries() {
            assert!(index.get(path).contains(entry), "an entry is found by its path");
            let _ = index.oid_hex(entry);
            if let Some(slash) = path.iter().rposition(|&b| b == b'/') {
                assert!(index.has_below(&path[..slash]), "its directory holds it");
            }
        }
    }
});
