//! in-toto statements and SLSA / codex-run predicates, as `verify`, `diff` and the gate read them.
#![no_main]

use codex_attest::intoto::Statement;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(statement) = Statement::from_slice(data) {
        let _ = codex_attest::provenance::Provenance::from_statement(&statement);
        let _ = codex_attest::gate::RunView::from_statement(&statement);
        let side = codex_attest::diff::Side { label: "a".to_string(), statement: &statement, inputs: None };
        let _ = codex_attest::diff::diff_runs(&side, &side, None);
        let _ = statement.to_json();
    }
});
