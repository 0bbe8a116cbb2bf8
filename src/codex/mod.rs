//! Knowledge of the Codex CLI (0.169): its command line, configuration layers, AGENTS.md chain,
//! prompt composition, input files, `--json` events and rollout transcripts.
//!
//! Everything here follows Codex's observed behaviour and source (see `../shared/docs/codex-cli.md`
//! in the project's reference material); each module says which rules it mirrors.

pub mod agents;
pub mod args;
pub mod config;
pub mod events;
pub mod inputs;
pub mod prompt;
pub mod rollout;

/// The Codex CLI version these rules were checked against.
pub const KNOWN_VERSION: &str = "0.169.0";

/// Parses the version from `codex --version` output (`codex-cli 0.169.0`).
pub fn parse_version(output: &str) -> Option<String> {
    let line = output.lines().next()?.trim();
    let version = line.rsplit(' ').next()?;
    let valid = !version.is_empty()
        && version.chars().next().is_some_and(|c| c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    valid.then(|| version.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_output() {
        assert_eq!(
            super::parse_version("codex-cli 0.169.0\n").as_deref(),
            Some("0.169.0")
        );
        assert_eq!(super::parse_version("garbage here"), None);
        assert_eq!(super::parse_version(""), None);
    }
}
