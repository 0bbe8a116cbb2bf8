//! The one integration test binary (`autotests = false`): each module tests one area through the
//! real `codex-attest` executable.

mod common;
mod fixtures;

// keygen: key files, modes, formats, OpenSSL-made keys.
mod keygen;
// sign and verify: round trips, tampering, bad input, snapshots of the reports.
mod sign_verify;
// Independent implementations: Python securesystemslib and in-toto-attestation.
mod interop;
// JSON Schemas in schemas/ against real output.
mod schemas;
// --help text.
mod help;
// Codex test world: repository, CODEX_HOME, scripted endpoint.
mod codex_env;
// The release gate: policies, binding to code, ranges, notes.
mod gate;
// replay, diff, lock and revert with the real Codex CLI.
mod replay;
// Tampering, unsafe paths, faults and concurrency.
mod hardening;
// wrap: real Codex runs recorded end to end.
mod wrap;
// Everyday use: init, completions, man pages, demo, doctor, stats, progress.
mod ecosystem;
// The examples of docs/guides/, run as written.
mod guides;
// Sigstore bundles, keyless signing against a local Fulcio and Rekor.
mod sigstore;
