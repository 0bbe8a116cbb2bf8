//! Codex `--json` event streams, line by line as `wrap` reads them.
#![no_main]

use codex_attest::codex::events::EventSummary;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut summary = EventSummary::default();
    for line in data.split(|&b| b == b'\n') {
        summary.feed_line(line);
    }
});
