//! codex-attest: record, sign, verify, diff and replay OpenAI Codex CLI runs as in-toto
//! Statement v1 / SLSA Provenance v1 attestations in DSSE envelopes.
//!
//! This library never prints, never exits, never reads the clock or the environment on its own:
//! the `codex-attest` binary (`src/main.rs`, `src/cli/`) owns the terminal and hands the library
//! what it needs. See ARCHITECTURE.md for the map.

pub mod changes;
pub mod codex;
pub mod demo;
pub mod diff;
pub mod digest;
pub mod doctor;
pub mod dsse;
pub mod ed25519;
pub mod envelope_file;
pub mod fsmonitor;
pub mod gate;
pub mod git;
pub mod index;
pub mod init;
pub mod intoto;
pub mod keys;
pub mod lock;
pub mod model_server;
pub mod notes;
pub mod paths;
pub mod policy;
pub mod predicate;
pub mod provenance;
pub mod record;
pub mod replay;
pub mod replay_attestation;
pub mod revert;
pub mod runs;
pub mod secrets;
pub mod service;
pub mod sigstore;
pub mod stats;
pub mod store;
pub mod supervise;
#[cfg(test)]
mod testing;
pub mod timestamp;
pub mod touched;
pub mod verify;
pub mod vsa;
pub mod watch;
pub mod wrap;
