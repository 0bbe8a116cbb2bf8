//! Release policies: parse and validate; every problem must carry a span inside the source.
#![no_main]

use std::path::Path;

use codex_attest::policy::{Policy, locate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    match Policy::parse(Path::new("/fuzz/policy.toml"), text) {
        Ok(policy) => {
            for code in ["model-not-allowed", "unused-exception"] {
                let _ = policy.level(code);
            }
        }
        Err(err) => {
            for problem in &err.problems {
                if let Some(span) = &problem.span {
                    let _ = locate(&err.source_text, span);
                }
            }
        }
    }
});
