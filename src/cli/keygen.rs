//! `codex-attest keygen`: create a signing key pair.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use codex_attest::keys::{self, Algorithm, PrivateKey};

use super::{Ctx, Format, Outcome, PASSPHRASE_ENV, print_stdout, status, usage_error};

/// Create a signing key pair: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM)
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  codex-attest keygen --out keys/ci
  CODEX_ATTEST_KEY_PASSPHRASE=... codex-attest keygen --out keys/release --encrypt
  codex-attest keygen --out keys/p256 --algorithm ecdsa-p256

The key id printed is the one Python securesystemslib computes for the same key.
Existing files are never overwritten.")]
pub struct KeygenArgs {
    /// Path prefix of the key files: writes PREFIX.key and PREFIX.pub
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
    /// Signature algorithm
    #[arg(long, value_name = "ALG", default_value = "ed25519")]
    algorithm: AlgorithmArg,
    /// Encrypt the private key with a passphrase (read from the environment variable named by
    /// --passphrase-env, or asked for on the terminal)
    #[arg(long)]
    encrypt: bool,
    /// Environment variable that holds the passphrase
    #[arg(long, value_name = "VAR", default_value = PASSPHRASE_ENV)]
    passphrase_env: String,
    /// Output format
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    format: Format,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum AlgorithmArg {
    /// Ed25519 (default)
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256, deterministic (RFC 6979), DER signatures
    EcdsaP256,
}

pub fn run(ctx: &Ctx, args: KeygenArgs) -> anyhow::Result<Outcome> {
    let algorithm = match args.algorithm {
        AlgorithmArg::Ed25519 => Algorithm::Ed25519,
        AlgorithmArg::EcdsaP256 => Algorithm::EcdsaP256,
    };
    let key_path = with_suffix(&args.out, "key");
    let pub_path = with_suffix(&args.out, "pub");
    for path in [&key_path, &pub_path] {
        if path.exists() || path.is_symlink() {
            return Err(usage_error(
                format!("{} already exists", path.display()),
                "keygen never overwrites keys; choose another --out prefix",
            ));
        }
    }
    let passphrase = if args.encrypt {
        Some(new_passphrase(&args.passphrase_env)?)
    } else {
        None
    };
    let generated = PrivateKey::generate(algorithm).context("failed to generate a key")?;
    let private_pem = keys::encode_private_pem(
        &generated.pkcs8_der,
        passphrase.as_ref().map(|p| p.as_bytes()),
    )
    .context("failed to encode the private key")?;
    let public = generated.private.public_key();

    write_new_file(&key_path, private_pem.as_bytes(), 0o600)?;
    if let Err(err) = write_new_file(&pub_path, public.to_pem().as_bytes(), 0o644) {
        // Leave nothing half-made behind.
        let _ = std::fs::remove_file(&key_path);
        return Err(err);
    }

    let key_id = public.key_id().to_string();
    match args.format {
        Format::Human => {
            status(
                ctx,
                &format!(
                    "wrote {} (private, mode 0600) and {}",
                    key_path.display(),
                    pub_path.display()
                ),
            );
            print_stdout(&format!(
                "{} key {}\nprivate: {}{}\npublic:  {}\n",
                algorithm.name(),
                key_id,
                key_path.display(),
                if args.encrypt { " (encrypted)" } else { "" },
                pub_path.display()
            ))?;
        }
        Format::Json => {
            let value = serde_json::json!({
                "schema": "codex-attest/keygen/v1",
                "algorithm": algorithm.name(),
                "keyid": key_id,
                "privateKey": key_path,
                "publicKey": pub_path,
                "encrypted": args.encrypt,
            });
            print_stdout(&format!("{value}\n"))?;
        }
    }
    Ok(Outcome::Success)
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_os_string();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates a file that must not exist yet, with the given mode from the start (no window in which
/// a private key is readable by others).
fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("failed to write {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(())
}

fn new_passphrase(env_var: &str) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let from_env = std::env::var_os(env_var).is_some();
    let first = super::read_passphrase(env_var, "passphrase for the new key: ")?;
    if first.is_empty() {
        return Err(usage_error(
            "the passphrase is empty",
            format!("set a non-empty passphrase in {env_var}, or drop --encrypt"),
        ));
    }
    if !from_env {
        let second = rpassword::prompt_password("repeat the passphrase: ")
            .context("failed to read the passphrase")?;
        if *first != second {
            return Err(usage_error(
                "the passphrases do not match",
                "run keygen again",
            ));
        }
    }
    Ok(first)
}
