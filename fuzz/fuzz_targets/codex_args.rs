//! Codex command lines (NUL-separated words) as `wrap` parses them, and the prompt composition.
#![no_main]

use std::ffi::OsString;

use codex_attest::codex::args;
use codex_attest::codex::prompt;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let words: Vec<OsString> = data
        .split(|&b| b == 0)
        .map(|w| OsString::from(String::from_utf8_lossy(w).into_owned()))
        .collect();
    if let Some(args::Invocation::Exec(exec)) = args::parse(&words) {
        let _ = exec.requested_sandbox();
        let _ = prompt::compose(exec.prompt.as_deref(), Some(data));
    }
});
