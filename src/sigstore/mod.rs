//! Sigstore: bundle v0.3 export and import, keyless signing (Fulcio + Rekor v1), and offline
//! verification of keyless bundles against a trusted root with a cosign-like identity policy.
//!
//! - `bundle`: the wire format and its structural rules;
//! - `trust`: `trusted_root.json`;
//! - `cert`: X.509 (leaf identity, path, SCT) with `x509-cert` parsing and `ring` signatures;
//! - `tlog`: SET, checkpoint, Merkle inclusion, entry body;
//! - `verify`: the keyless verification and identity rules;
//! - `client`: keyless signing over HTTP.
//!
//! Key-signed bundles are verified by `crate::verify` with the ordinary `Keyring`: the public-key
//! hint is only a lookup key, like a DSSE keyid.

pub mod bundle;
pub mod cert;
pub mod client;
pub mod tlog;
pub mod trust;
pub mod verify;

pub use bundle::{BUNDLE_V03_MEDIA_TYPE, Bundle, BundleError};
pub use trust::TrustedRoot;
pub use verify::{IdentityMatch, IdentityRule, KeylessError, KeylessPolicy};
