//! Codex rollout transcripts: facts for the cross-check and model turns for replay.
#![no_main]

use codex_attest::codex::rollout;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rollout::facts(data);
    for turn in rollout::model_turns(data) {
        let _ = serde_json::to_string(&turn.items);
    }
});
