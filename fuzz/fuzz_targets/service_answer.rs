//! A watch service's answers, as `wrap` reads them: nothing may panic, and what is accepted
//! names only relative paths inside the tree (no `.`, `..` or empty component, no NUL).
#![no_main]

use libfuzzer_sys::fuzz_target;

fn inside(path: &[u8]) -> bool {
    !path.is_empty()
        && !path.contains(&0)
        && path
            .split(|&b| b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

fuzz_target!(|data: &[u8]| {
    if let Ok((_, snapshot)) = codex_attest::service::parse_begun(data) {
        for path in snapshot.dirty.keys() {
            assert!(inside(path.as_bytes()), "{path:?}");
        }
    }
    if let Ok(Ok(paths)) = codex_attest::service::parse_ended(data) {
        for path in &paths {
            assert!(inside(path.as_bytes()), "{path:?}");
        }
    }
});
