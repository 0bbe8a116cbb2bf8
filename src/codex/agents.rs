//! The AGENTS.md chain, discovered and combined exactly as Codex 0.169 does
//! (`codex-rs/core/src/agents_md.rs`):
//!
//! - Global: `$CODEX_HOME/AGENTS.override.md`, else `$CODEX_HOME/AGENTS.md`; the first whose
//!   trimmed text is not empty wins, trimmed. It does not count against the project budget.
//! - Project: in each directory from the project root down to the working directory, the first
//!   *file* among `AGENTS.override.md`, `AGENTS.md` and the fallback names. Files are read up to
//!   the remaining budget (`project_doc_max_bytes`); a file that is only whitespace is skipped
//!   and costs nothing; once the budget is spent, the rest are skipped.
//! - Combined: global text, then `"\n\n--- project-doc ---\n\n"` before the first project text,
//!   then project texts joined by `"\n\n"`.

use std::path::{Path, PathBuf};

use super::config::dirs_from_root;

const OVERRIDE_NAME: &str = "AGENTS.override.md";
const DEFAULT_NAME: &str = "AGENTS.md";
const SEPARATOR: &str = "\n\n--- project-doc ---\n\n";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentsFile {
    pub path: PathBuf,
    pub global: bool,
    /// The file's full content.
    pub content: Vec<u8>,
    /// Bytes of it that Codex uses (after the budget).
    pub used_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentsChain {
    pub files: Vec<AgentsFile>,
    /// The text Codex sends, as we compute it; `None` when there is none.
    pub combined: Option<String>,
}

/// Discovers the chain. `project_root` is `None` when no marker was found (then only `cwd` is
/// searched).
pub fn discover(
    codex_home: &Path,
    project_root: Option<&Path>,
    cwd: &Path,
    max_bytes: u64,
    fallback_names: &[String],
) -> AgentsChain {
    let mut chain = AgentsChain::default();
    let mut global_text: Option<String> = None;
    for name in [OVERRIDE_NAME, DEFAULT_NAME] {
        let path = codex_home.join(name);
        let Ok(content) = std::fs::read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&content).trim().to_string();
        if text.is_empty() {
            continue;
        }
        chain.files.push(AgentsFile {
            path,
            global: true,
            used_bytes: content.len() as u64,
            content,
        });
        global_text = Some(text);
        break;
    }

    let mut project_texts: Vec<String> = Vec::new();
    if max_bytes > 0 {
        let dirs = match project_root {
            Some(root) => dirs_from_root(root, cwd),
            None => vec![cwd.to_path_buf()],
        };
        let mut names: Vec<&str> = vec![OVERRIDE_NAME, DEFAULT_NAME];
        for name in fallback_names {
            if !name.is_empty() && !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        let mut remaining = max_bytes;
        for dir in dirs {
            if remaining == 0 {
                break;
            }
            let Some(path) = names.iter().map(|n| dir.join(n)).find(|p| p.is_file()) else {
                continue;
            };
            let Ok(content) = std::fs::read(&path) else {
                continue;
            };
            let used = (content.len() as u64).min(remaining);
            let text = String::from_utf8_lossy(&content[..used as usize]).into_owned();
            if text.trim().is_empty() {
                continue;
            }
            remaining -= used;
            chain.files.push(AgentsFile {
                path,
                global: false,
                used_bytes: used,
                content,
            });
            project_texts.push(text);
        }
    }

    let mut combined = String::new();
    if let Some(global) = &global_text {
        combined.push_str(global);
    }
    for (i, text) in project_texts.iter().enumerate() {
        if i == 0 && global_text.is_some() {
            combined.push_str(SEPARATOR);
        } else if i > 0 {
            combined.push_str("\n\n");
        }
        combined.push_str(text);
    }
    chain.combined = (!combined.is_empty()).then_some(combined);
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_observed_concatenation() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let repo = dir.path().join("repo");
        let sub = repo.join("sub");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(home.join("AGENTS.md"), "GLOBAL AGENTS\n").unwrap();
        std::fs::write(repo.join("AGENTS.md"), "ROOT AGENTS\n").unwrap();
        std::fs::write(sub.join("AGENTS.override.md"), "SUB OVERRIDE\n").unwrap();
        std::fs::write(sub.join("AGENTS.md"), "SUB PLAIN (ignored)\n").unwrap();
        let chain = discover(&home, Some(&repo), &sub, 32768, &[]);
        // Observed with Codex 0.169.0 (world_state.agents_md.text).
        assert_eq!(
            chain.combined.as_deref(),
            Some("GLOBAL AGENTS\n\n--- project-doc ---\n\nROOT AGENTS\n\n\nSUB OVERRIDE\n")
        );
        assert_eq!(chain.files.len(), 3);
    }

    #[test]
    fn budget_truncates_then_skips_and_fallbacks_apply() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let repo = dir.path().join("repo");
        let a = repo.join("a");
        let b = a.join("b");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(home.join("AGENTS.override.md"), "   \n").unwrap();
        std::fs::write(home.join("AGENTS.md"), "G").unwrap();
        std::fs::write(repo.join("AGENTS.md"), "0123456789\n").unwrap();
        std::fs::write(a.join("TEAM.md"), "abcdefghij\n").unwrap();
        std::fs::write(b.join("AGENTS.md"), "never\n").unwrap();
        let chain = discover(&home, Some(&repo), &b, 15, &["TEAM.md".to_string()]);
        assert_eq!(
            chain.combined.as_deref(),
            Some("G\n\n--- project-doc ---\n\n0123456789\n\n\nabcd")
        );
        let used: Vec<u64> = chain.files.iter().map(|f| f.used_bytes).collect();
        assert_eq!(used, [1, 11, 4]);
        // Budget zero: no project docs, global still used.
        let chain = discover(&home, Some(&repo), &b, 0, &[]);
        assert_eq!(chain.combined.as_deref(), Some("G"));
    }
}
