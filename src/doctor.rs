//! `codex-attest doctor`: checks of the environment `wrap` and Codex will run in, each with a
//! fix. The checks read files and the environment they are given; they never change anything.
//!
//! What we check: the Codex CLI and its version, the git repository and the store, the signing
//! key (readable, private, outside what Codex can write), secret variables Codex's tool commands
//! would inherit, project configuration Codex would ignore as untrusted, and the legacy profile
//! syntax Codex 0.169 rejects.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::codex::args::ExecArgs;
use crate::codex::config::{self, CodexEnv, LayerKind, ResolvedConfig};
use crate::git::Repo;
use crate::secrets;
use crate::store::Store;
use crate::wrap::{self, WritableScope};

/// The Codex CLI version this codex-attest resolves inputs for.
pub const SUPPORTED_CODEX: &str = "0.169";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable name for the check, e.g. `codex`, `secret-env`.
    pub check: &'static str,
    pub level: Level,
    pub message: String,
    /// How to fix it (empty for `ok`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

fn finding(check: &'static str, level: Level, message: String, fix: impl Into<String>) -> Finding {
    Finding {
        check,
        level,
        message,
        fix: fix.into(),
    }
}

/// What the checks look at.
pub struct Inputs<'a> {
    pub cwd: &'a Path,
    pub codex_env: &'a CodexEnv,
    /// The environment `wrap` would give Codex (names and values; values are never reported).
    pub env: &'a [(OsString, OsString)],
    /// The Codex CLI found on PATH (or given), if any.
    pub codex: Option<&'a Path>,
    /// A private key to check, if given.
    pub key: Option<&'a Path>,
    /// A directory for the digest cache of the Codex binary.
    pub cache_dir: &'a Path,
}

/// Runs every check.
pub fn check(inputs: &Inputs) -> Vec<Finding> {
    let mut out = Vec::new();
    check_codex(inputs, &mut out);
    check_repo(inputs, &mut out);
    let resolved = config::resolve(&ExecArgs::default(), inputs.codex_env, inputs.cwd);
    check_config(&resolved, &mut out);
    check_secret_env(inputs, &resolved, &mut out);
    if let Some(key) = inputs.key {
        check_key(inputs, key, &mut out);
    }
    out
}

fn check_codex(inputs: &Inputs, out: &mut Vec<Finding>) {
    let Some(program) = inputs.codex else {
        out.push(finding(
            "codex",
            Level::Error,
            "the Codex CLI (`codex`) is not on PATH".to_string(),
            "install it with `npm install -g @openai/codex@0.169.0`",
        ));
        return;
    };
    let binary = wrap::codex_binary(program, inputs.env, inputs.cache_dir);
    match binary.as_ref().and_then(|b| b.version.clone()) {
        Some(version) if version == SUPPORTED_CODEX || version.starts_with(&format!("{SUPPORTED_CODEX}.")) => {
            out.push(finding(
                "codex",
                Level::Ok,
                format!("Codex CLI {version} at {}", program.display()),
                "",
            ))
        }
        Some(version) => out.push(finding(
            "codex",
            Level::Warn,
            format!(
                "Codex CLI {version} at {}; codex-attest resolves inputs the way {SUPPORTED_CODEX} does, so a newer or older CLI may read inputs it does not record",
                program.display()
            ),
            format!("install {SUPPORTED_CODEX}: `npm install -g @openai/codex@{SUPPORTED_CODEX}.0`"),
        )),
        None => out.push(finding(
            "codex",
            Level::Error,
            format!("{} did not report a version", program.display()),
            "check that it is the Codex CLI: `codex --version`",
        )),
    }
}

fn check_repo(inputs: &Inputs, out: &mut Vec<Finding>) {
    let repo = match Repo::discover(inputs.cwd) {
        Ok(Some(repo)) => repo,
        Ok(None) => {
            out.push(finding(
                "git",
                Level::Warn,
                format!("{} is not inside a git work tree: runs here record no commit and cannot be replayed", inputs.cwd.display()),
                "run codex inside a git repository (`git init` and a first commit)",
            ));
            return;
        }
        Err(err) => {
            out.push(finding(
                "git",
                Level::Error,
                format!("git failed: {err}"),
                "check that git is installed and the repository is readable",
            ));
            return;
        }
    };
    out.push(finding(
        "git",
        Level::Ok,
        format!("git repository at {}", repo.root.display()),
        "",
    ));
    let store = Store::at(&repo.common_dir);
    if !store.exists() {
        out.push(finding(
            "store",
            Level::Ok,
            format!(
                "no runs recorded yet (the store will be {})",
                store.root().display()
            ),
            "",
        ));
        return;
    }
    match store.check(false) {
        Ok(report) => {
            let problems =
                report.leftovers.len() + report.corrupt_blobs.len() + report.incomplete_runs.len();
            if problems == 0 {
                out.push(finding(
                    "store",
                    Level::Ok,
                    format!(
                        "store at {}: {} runs, {} blobs, healthy",
                        store.root().display(),
                        report.runs,
                        report.blobs
                    ),
                    "",
                ));
            } else {
                out.push(finding(
                    "store",
                    Level::Warn,
                    format!(
                        "store at {}: {} leftovers of interrupted writes, {} corrupt blobs, {} incomplete runs",
                        store.root().display(),
                        report.leftovers.len(),
                        report.corrupt_blobs.len(),
                        report.incomplete_runs.len()
                    ),
                    "run `codex-attest fsck` for the details (`fsck --repair` removes leftovers)",
                ));
            }
        }
        Err(err) => out.push(finding(
            "store",
            Level::Error,
            format!(
                "store at {} could not be read: {err}",
                store.root().display()
            ),
            "check its permissions",
        )),
    }
}

fn check_config(resolved: &ResolvedConfig, out: &mut Vec<Finding>) {
    for layer in &resolved.layers {
        if let Some(err) = &layer.error {
            out.push(finding(
                "config",
                Level::Error,
                format!(
                    "{} is not valid TOML, so Codex will refuse to start: {err}",
                    layer.path.display()
                ),
                "fix the file",
            ));
        }
        if layer.kind == LayerKind::Project && !layer.enabled {
            out.push(finding(
                "untrusted-project-config",
                Level::Warn,
                format!(
                    "{} is ignored: Codex does not apply project configuration of an untrusted project",
                    layer.path.display()
                ),
                match &resolved.project_root {
                    Some(root) => format!(
                        "if you trust this repository, run `codex exec --trust` once, or add [projects.\"{}\"] trust_level = \"trusted\" to {}",
                        root.display(),
                        resolved.codex_home.join("config.toml").display()
                    ),
                    None => "trust the project (`codex exec --trust`), or remove the file".to_string(),
                },
            ));
        }
        if layer.kind == LayerKind::User || layer.kind == LayerKind::System {
            let table = layer.table();
            if let Some(name) = table.get("profile").and_then(|v| v.as_str()) {
                out.push(finding(
                    "legacy-profile",
                    Level::Error,
                    format!(
                        "{} sets `profile = \"{name}\"`, which Codex 0.169 rejects (exit 1)",
                        layer.path.display()
                    ),
                    format!(
                        "remove it and run `codex exec --profile {name}` with the settings in {}",
                        resolved
                            .codex_home
                            .join(format!("{name}.config.toml"))
                            .display()
                    ),
                ));
            }
            if let Some(profiles) = table.get("profiles").and_then(|v| v.as_table()) {
                let names: Vec<&str> = profiles.keys().map(String::as_str).collect();
                out.push(finding(
                    "legacy-profile",
                    Level::Warn,
                    format!(
                        "{} has legacy [profiles.*] tables ({}); Codex 0.169 refuses `--profile NAME` while [profiles.NAME] exists",
                        layer.path.display(),
                        names.join(", ")
                    ),
                    format!("move each table's settings to {}, as top-level keys", resolved.codex_home.join("NAME.config.toml").display()),
                ));
            }
        }
    }
}

fn check_secret_env(inputs: &Inputs, resolved: &ResolvedConfig, out: &mut Vec<Finding>) {
    let policy = resolved
        .merged
        .get("shell_environment_policy")
        .and_then(|v| v.as_table());
    let inherit = resolved.settings.shell_environment_inherit.as_str();
    let include_only = policy.is_some_and(|p| p.contains_key("include_only"));
    let excludes: Vec<globset::GlobMatcher> = policy
        .and_then(|p| p.get("exclude"))
        .and_then(|v| v.as_array())
        .map(|patterns| {
            patterns
                .iter()
                .filter_map(|p| p.as_str())
                .filter_map(|p| {
                    globset::GlobBuilder::new(p)
                        .case_insensitive(true)
                        .build()
                        .ok()
                })
                .map(|g| g.compile_matcher())
                .collect()
        })
        .unwrap_or_default();
    if inherit == "none" || inherit == "core" || include_only {
        out.push(finding(
            "secret-env",
            Level::Ok,
            format!("shell_environment_policy keeps the environment out of tool commands (inherit = \"{inherit}\"{})", if include_only { ", include_only" } else { "" }),
            "",
        ));
        return;
    }
    let mut exposed: Vec<String> = inputs
        .env
        .iter()
        .filter_map(|(name, _)| name.to_str())
        .filter(|name| secrets::is_secret_env_name(name))
        // wrap removes its own secrets from Codex's environment.
        .filter(|name| !name.starts_with("CODEX_ATTEST_"))
        .filter(|name| !excludes.iter().any(|g| g.is_match(name)))
        .map(str::to_string)
        .collect();
    exposed.sort();
    exposed.dedup();
    if exposed.is_empty() {
        out.push(finding(
            "secret-env",
            Level::Ok,
            "no secret-looking variables would reach Codex's tool commands".to_string(),
            "",
        ));
    } else {
        out.push(finding(
            "secret-env",
            Level::Warn,
            format!(
                "Codex's tool commands would inherit {} secret-looking variable{}: {} (the default shell_environment_policy passes them on)",
                exposed.len(),
                if exposed.len() == 1 { "" } else { "s" },
                exposed.join(", ")
            ),
            format!(
                "add to {}:  [shell_environment_policy] inherit = \"core\"  (or exclude = [\"*KEY*\", \"*SECRET*\", \"*TOKEN*\"])",
                resolved.codex_home.join("config.toml").display()
            ),
        ));
    }
}

fn check_key(inputs: &Inputs, key: &Path, out: &mut Vec<Finding>) {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(key) {
        Ok(meta) => meta,
        Err(err) => {
            out.push(finding(
                "key",
                Level::Error,
                format!("{}: {err}", key.display()),
                "give the private key file written by `codex-attest keygen`",
            ));
            return;
        }
    };
    let pem = match std::fs::read(key) {
        Ok(pem) => zeroize::Zeroizing::new(pem),
        Err(err) => {
            out.push(finding(
                "key",
                Level::Error,
                format!("{}: {err}", key.display()),
                "make it readable by this user",
            ));
            return;
        }
    };
    if !pem.windows(11).any(|w| w == b"PRIVATE KEY") {
        out.push(finding(
            "key",
            Level::Error,
            format!("{} is not a PEM private key", key.display()),
            "give the `.key` file written by `codex-attest keygen`, not the `.pub`",
        ));
        return;
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        out.push(finding(
            "key",
            Level::Error,
            format!(
                "{} is readable by other users (mode {mode:o})",
                key.display()
            ),
            format!("chmod 600 {}", key.display()),
        ));
    }
    let canonical = key.canonicalize().unwrap_or_else(|_| key.to_path_buf());
    // The sandbox agents usually run with; `wrap` checks the real one before each run.
    let exec = ExecArgs {
        sandbox: Some("workspace-write".to_string()),
        ..ExecArgs::default()
    };
    let plan = wrap::Plan::CodexExec(Box::new(exec));
    let tmpdir: Option<PathBuf> = inputs
        .env
        .iter()
        .find(|(k, _)| k == "TMPDIR")
        .map(|(_, v)| PathBuf::from(v));
    let scope = wrap::writable_scope(&plan, inputs.codex_env, inputs.cwd, tmpdir.as_deref());
    if scope.covers(&canonical) {
        let why = match scope {
            WritableScope::Everything => "Codex runs here without a sandbox we know of, so it can write anywhere the user can".to_string(),
            _ => "it is inside what Codex's workspace-write sandbox can write (the workspace, /tmp, $TMPDIR)".to_string(),
        };
        out.push(finding(
            "key",
            Level::Error,
            format!("{}: {why}; an agent could read or replace it", key.display()),
            "keep the key elsewhere, or sign in a separate step: `wrap` without --key, then `codex-attest sign --key KEY RUN`",
        ));
    } else if mode & 0o077 == 0 {
        out.push(finding(
            "key",
            Level::Ok,
            format!(
                "{} is private (mode {mode:o}) and outside what Codex can write",
                key.display()
            ),
            "",
        ));
    }
}
