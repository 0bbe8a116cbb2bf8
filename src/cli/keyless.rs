//! What `sign`, `wrap` and `verify` share for Sigstore: keyless signing flags and the OIDC token,
//! identity flags and the trusted root.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use codex_attest::sigstore::client::{self, DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL};
use codex_attest::sigstore::{IdentityMatch, IdentityRule, KeylessPolicy, TrustedRoot};

use super::{hint, usage_error};

/// An OIDC token for Fulcio, given directly.
pub const SIGSTORE_ID_TOKEN_ENV: &str = "SIGSTORE_ID_TOKEN";
/// GitHub Actions' token request variables (`permissions: id-token: write`).
pub const ACTIONS_REQUEST_URL_ENV: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
pub const ACTIONS_REQUEST_TOKEN_ENV: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
/// Variables that can mint or carry an identity token: never handed to the wrapped command.
pub const OIDC_ENV: [&str; 3] = [
    SIGSTORE_ID_TOKEN_ENV,
    ACTIONS_REQUEST_URL_ENV,
    ACTIONS_REQUEST_TOKEN_ENV,
];

/// Keyless signing flags.
#[derive(Clone, Debug, clap::Args)]
pub struct KeylessArgs {
    /// Sign keylessly: OIDC token -> Fulcio certificate -> Rekor entry; writes a Sigstore bundle
    #[arg(long, help_heading = "Keyless signing (Sigstore)")]
    pub keyless: bool,
    /// The OIDC token, or a file holding it [default: $SIGSTORE_ID_TOKEN, else GitHub Actions']
    #[arg(
        long,
        value_name = "TOKEN|FILE",
        requires = "keyless",
        help_heading = "Keyless signing (Sigstore)"
    )]
    pub identity_token: Option<String>,
    /// Fulcio (certificate authority) base URL
    #[arg(long, value_name = "URL", default_value = DEFAULT_FULCIO_URL, help_heading = "Keyless signing (Sigstore)")]
    pub fulcio_url: String,
    /// Rekor (transparency log) base URL
    #[arg(long, value_name = "URL", default_value = DEFAULT_REKOR_URL, help_heading = "Keyless signing (Sigstore)")]
    pub rekor_url: String,
    /// Verify the new bundle against this trusted root before writing it
    #[arg(
        long = "trusted-root",
        value_name = "FILE",
        requires = "keyless",
        help_heading = "Keyless signing (Sigstore)"
    )]
    pub trusted_root: Option<PathBuf>,
}

/// Where the token will come from; resolved before anything runs, fetched when signing.
pub enum TokenSource {
    Given(zeroize::Zeroizing<String>),
    GithubActions {
        url: String,
        bearer: zeroize::Zeroizing<String>,
    },
}

impl TokenSource {
    /// `--identity-token`, then `$SIGSTORE_ID_TOKEN`, then GitHub Actions' request variables.
    pub fn resolve(args: &KeylessArgs) -> anyhow::Result<TokenSource> {
        if let Some(given) = &args.identity_token {
            let path = Path::new(given);
            let token = if !given.contains('.') || path.is_file() {
                std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read the identity token file {given}"))?
            } else {
                given.clone()
            };
            return Ok(TokenSource::Given(zeroize::Zeroizing::new(
                token.trim().to_string(),
            )));
        }
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(token) = var(SIGSTORE_ID_TOKEN_ENV) {
            return Ok(TokenSource::Given(zeroize::Zeroizing::new(
                token.trim().to_string(),
            )));
        }
        if let (Some(url), Some(bearer)) =
            (var(ACTIONS_REQUEST_URL_ENV), var(ACTIONS_REQUEST_TOKEN_ENV))
        {
            return Ok(TokenSource::GithubActions {
                url,
                bearer: zeroize::Zeroizing::new(bearer),
            });
        }
        Err(usage_error(
            "--keyless needs an OIDC identity token, and none was found",
            format!(
                "set {SIGSTORE_ID_TOKEN_ENV}, pass --identity-token, or in GitHub Actions grant `permissions: id-token: write`"
            ),
        ))
    }

    pub fn token(&self) -> anyhow::Result<zeroize::Zeroizing<String>> {
        match self {
            TokenSource::Given(t) => Ok(t.clone()),
            TokenSource::GithubActions { url, bearer } => client::github_actions_token(url, bearer)
                .map(zeroize::Zeroizing::new)
                .context("failed to get an identity token from GitHub Actions"),
        }
    }
}

/// Loads a trusted root file with a clear error.
pub fn load_trusted_root(path: &Path) -> anyhow::Result<TrustedRoot> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("failed to read trusted root {}", path.display()))?;
    TrustedRoot::from_slice(&bytes).map_err(|err| {
        anyhow::Error::new(err).context(hint(
            format!("{} is not a usable Sigstore trusted root", path.display()),
            "pass a TrustedRoot JSON file (e.g. trusted_root.json from the Sigstore TUF repository, or `cosign trusted-root create`)",
        ))
    })
}

/// Signs a statement keylessly; errors name the service and the fix.
pub fn sign(
    args: &KeylessArgs,
    source: &TokenSource,
    payload: &[u8],
) -> anyhow::Result<client::KeylessSigned> {
    let trusted_root = args
        .trusted_root
        .as_deref()
        .map(load_trusted_root)
        .transpose()?;
    let token = source.token()?;
    client::sign_keyless(
        codex_attest::dsse::IN_TOTO_PAYLOAD_TYPE,
        payload,
        &client::KeylessSigning {
            fulcio_url: &args.fulcio_url,
            rekor_url: &args.rekor_url,
            token: &token,
            trusted_root: trusted_root.as_ref(),
        },
    )
    .context("keyless signing failed; nothing was written")
}

/// A one-line description of a keyless signature.
pub fn describe(signed: &client::KeylessSigned) -> String {
    format!(
        "keylessly as {} (issuer {}), Rekor log index {}{}",
        signed.identity.identities.join(", "),
        signed.identity.issuer.as_deref().unwrap_or("unknown"),
        signed.log_index,
        if signed.verified {
            ", verified against the trusted root"
        } else {
            ""
        }
    )
}

/// Identity flags of `verify` (cosign's names).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct IdentityArgs {
    /// Accept keyless bundles whose certificate names exactly this identity (SAN URI or e-mail)
    #[arg(
        long,
        value_name = "ID",
        help_heading = "Keyless verification (Sigstore)"
    )]
    pub certificate_identity: Option<String>,
    /// Like --certificate-identity, with a regexp that must match the whole identity
    #[arg(
        long,
        value_name = "REGEXP",
        conflicts_with = "certificate_identity",
        help_heading = "Keyless verification (Sigstore)"
    )]
    pub certificate_identity_regexp: Option<String>,
    /// The OIDC issuer the certificate must name (exact), e.g. https://token.actions.githubusercontent.com
    #[arg(
        long,
        value_name = "URL",
        help_heading = "Keyless verification (Sigstore)"
    )]
    pub certificate_oidc_issuer: Option<String>,
    /// The Sigstore trusted root (Fulcio CAs, Rekor and CT log keys) to verify keyless bundles with
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Keyless verification (Sigstore)"
    )]
    pub trusted_root: Option<PathBuf>,
}

impl IdentityArgs {
    /// The command line's identity rule, if any; half a rule is a usage error.
    pub fn rule(&self) -> anyhow::Result<Option<IdentityRule>> {
        let identity = match (
            &self.certificate_identity,
            &self.certificate_identity_regexp,
        ) {
            (Some(id), _) => Some(IdentityMatch::Exact(id.clone())),
            (None, Some(re)) => Some(IdentityMatch::regexp(re).map_err(|err| {
                usage_error(
                    format!("--certificate-identity-regexp {re:?} is not a valid regexp: {err}"),
                    "use Rust regex syntax; it must match the whole identity",
                )
            })?),
            (None, None) => None,
        };
        match (identity, &self.certificate_oidc_issuer) {
            (Some(identity), Some(issuer)) => Ok(Some(IdentityRule {
                identity,
                issuer: issuer.clone(),
            })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(usage_error(
                "--certificate-identity needs --certificate-oidc-issuer",
                "name the OIDC issuer too, e.g. --certificate-oidc-issuer https://token.actions.githubusercontent.com",
            )),
            (None, Some(_)) => Err(usage_error(
                "--certificate-oidc-issuer needs --certificate-identity or --certificate-identity-regexp",
                "name the identity too, e.g. the workflow URI https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/heads/main",
            )),
        }
    }
}

/// Builds the keyless policy from rules and a trusted root; rules without a root (or a root
/// without rules) are usage errors.
pub fn policy(
    rules: Vec<IdentityRule>,
    trusted_root: Option<&Path>,
) -> anyhow::Result<Option<KeylessPolicy>> {
    match (rules.is_empty(), trusted_root) {
        (true, None) => Ok(None),
        (false, Some(path)) => Ok(Some(KeylessPolicy {
            trusted_root: load_trusted_root(path)?,
            rules,
        })),
        (false, None) => Err(usage_error(
            "identity rules need a trusted root to check certificates and log entries against",
            "pass --trusted-root FILE, or set signers.trusted-root in the policy",
        )),
        (true, Some(_)) => Err(usage_error(
            "--trusted-root without an identity rule would trust any Sigstore signer",
            "add --certificate-identity (or -regexp) and --certificate-oidc-issuer, or [[signers.identities]] in the policy",
        )),
    }
}
