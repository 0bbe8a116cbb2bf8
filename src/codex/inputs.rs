//! Every file a `codex exec` run reads as instructions or configuration, found the way Codex
//! finds them: the AGENTS.md chain, configuration layers, `*.rules` of each active layer, every
//! skills root Codex scans, hooks files, the output schema and images.
//!
//! Names are portable: `$CODEX_HOME/...` for files in Codex's home, `~/...` for the user's home,
//! paths relative to the repository root for project files, absolute paths otherwise.

use std::path::{Path, PathBuf};

use super::agents::{self, AgentsChain};
use super::args::ExecArgs;
use super::config::{CodexEnv, LayerKind, ResolvedConfig, dirs_from_root};
use crate::predicate::InputKind;

/// Skills scanning limits, as in Codex's loader.
const SKILL_SCAN_DEPTH: usize = 6;
const SKILL_SCAN_MAX_DIRS: usize = 2000;

/// One input file to pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// Portable name (see the module docs).
    pub name: String,
    pub path: PathBuf,
    pub kind: InputKind,
    /// The layer or scope it belongs to: `system`, `user`, `profile`, `project`, `global`, `repo`.
    pub scope: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct CollectedInputs {
    pub files: Vec<InputFile>,
    pub agents: AgentsChain,
    pub warnings: Vec<String>,
}

/// How to turn real paths into portable names.
pub struct Namer<'a> {
    pub codex_home: &'a Path,
    pub home: Option<&'a Path>,
    pub repo_root: Option<&'a Path>,
}

impl Namer<'_> {
    pub fn name(&self, path: &Path) -> String {
        if let Ok(rel) = path.strip_prefix(self.codex_home) {
            return format!("$CODEX_HOME/{}", rel.display());
        }
        if let Some(root) = self.repo_root {
            if let Ok(rel) = path.strip_prefix(root) {
                return rel.display().to_string();
            }
        }
        if let Some(home) = self.home {
            if let Ok(rel) = path.strip_prefix(home) {
                return format!("~/{}", rel.display());
            }
        }
        path.display().to_string()
    }
}

/// Collects the inputs of an `exec` invocation.
pub fn collect(
    args: &ExecArgs,
    resolved: &ResolvedConfig,
    env: &CodexEnv,
    process_cwd: &Path,
    namer: &Namer,
) -> CollectedInputs {
    let mut out = CollectedInputs::default();
    let push = |out: &mut CollectedInputs, path: PathBuf, kind: InputKind, scope: &str| {
        if out.files.iter().any(|f| f.path == path) {
            return;
        }
        out.files.push(InputFile {
            name: namer.name(&path),
            path,
            kind,
            scope: Some(scope.to_string()),
        });
    };

    // AGENTS.md chain.
    out.agents = agents::discover(
        &resolved.codex_home,
        resolved.project_root.as_deref(),
        &resolved.cwd,
        resolved.settings.project_doc_max_bytes,
        &resolved.settings.project_doc_fallback_filenames,
    );
    let agents_files: Vec<(PathBuf, bool)> = out
        .agents
        .files
        .iter()
        .map(|f| (f.path.clone(), f.global))
        .collect();
    for (path, global) in agents_files {
        let scope = if global { "global" } else { "project" };
        push(&mut out, path, InputKind::AgentsMd, scope);
    }

    // Configuration layers that apply.
    for layer in resolved.layers.iter().filter(|l| l.enabled) {
        let scope = layer_scope(layer.kind);
        push(&mut out, layer.path.clone(), InputKind::Config, scope);
    }

    // Rules and hooks of each active layer folder.
    // The user folder is included even with --ignore-user-config, which skips only
    // config.toml: recording an input Codex might not read is safe, missing one is not.
    let mut layer_dirs: Vec<(PathBuf, &str)> = vec![
        (env.system_dir.clone(), "system"),
        (resolved.codex_home.clone(), "user"),
    ];
    if resolved.project_trusted {
        if let Some(root) = &resolved.project_root {
            for dir in dirs_from_root(root, &resolved.cwd) {
                layer_dirs.push((dir.join(".codex"), "project"));
            }
        }
    }
    for (dir, scope) in &layer_dirs {
        let rules_apply = *scope == "system" || !args.ignore_rules;
        if rules_apply {
            for path in files_with_extension(&dir.join("rules"), "rules") {
                push(&mut out, path, InputKind::Rules, scope);
            }
        }
        let hooks = dir.join("hooks.json");
        if hooks.is_file() {
            push(&mut out, hooks, InputKind::Hooks, scope);
        }
    }

    // Skills: every root Codex scans, trusted or not.
    let mut roots: Vec<(PathBuf, &str)> = Vec::new();
    let project_dirs = match &resolved.project_root {
        Some(root) => dirs_from_root(root, &resolved.cwd),
        None => vec![resolved.cwd.clone()],
    };
    for dir in &project_dirs {
        roots.push((dir.join(".codex").join("skills"), "repo"));
    }
    roots.push((resolved.codex_home.join("skills"), "user"));
    if let Some(home) = &env.home {
        roots.push((home.join(".agents").join("skills"), "user"));
    }
    for dir in &project_dirs {
        roots.push((dir.join(".agents").join("skills"), "repo"));
    }
    roots.push((env.system_dir.join("skills"), "admin"));
    for (root, scope) in roots {
        for path in skill_files(&root) {
            push(&mut out, path, InputKind::Skill, scope);
        }
    }

    // Files named on the command line.
    if let Some(schema) = &args.output_schema {
        let path = process_cwd.join(schema);
        if path.is_file() {
            push(&mut out, path, InputKind::OutputSchema, "command-line");
        } else {
            out.warnings
                .push(format!("--output-schema {schema} is not a readable file"));
        }
    }
    for image in &args.images {
        let path = process_cwd.join(image);
        if path.is_file() {
            push(&mut out, path, InputKind::Image, "command-line");
        } else {
            out.warnings
                .push(format!("image {image} is not a readable file"));
        }
    }
    out
}

fn layer_scope(kind: LayerKind) -> &'static str {
    match kind {
        LayerKind::System => "system",
        LayerKind::User => "user",
        LayerKind::Profile => "profile",
        LayerKind::Project => "project",
    }
}

/// Regular files `dir/*.{ext}`, sorted.
fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext) && p.is_file())
        .collect();
    out.sort();
    out
}

/// `SKILL.md` files (and their `agents/openai.yaml`) under a skills root, without following
/// symlinked directories, within Codex's depth and directory limits.
fn skill_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let mut visited = 0usize;
    while let Some((dir, depth)) = stack.pop() {
        visited += 1;
        if visited > SKILL_SCAN_MAX_DIRS {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() && depth < SKILL_SCAN_DEPTH {
                stack.push((path, depth + 1));
            } else if (kind.is_file() || kind.is_symlink()) && entry.file_name() == "SKILL.md" {
                out.push(path);
                let meta = dir.join("agents").join("openai.yaml");
                if meta.is_file() {
                    out.push(meta);
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codex::config;

    #[test]
    fn collects_every_kind_of_input() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let home = base.join("home");
        let codex_home = base.join("codex_home");
        let repo = base.join("repo");
        for d in [
            &home,
            &codex_home,
            &repo.join(".git"),
            &repo.join(".codex/rules"),
            &codex_home.join("rules"),
            &repo.join(".codex/skills/demo/agents"),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(
            codex_home.join("config.toml"),
            format!(
                "[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
                repo.display()
            ),
        )
        .unwrap();
        std::fs::write(
            codex_home.join("rules/default.rules"),
            "prefix_rule(pattern=[\"rm\"], decision=\"forbidden\")\n",
        )
        .unwrap();
        std::fs::write(codex_home.join("hooks.json"), "{}").unwrap();
        std::fs::write(repo.join(".codex/config.toml"), "model = \"m\"\n").unwrap();
        std::fs::write(repo.join(".codex/rules/team.rules"), "").unwrap();
        std::fs::write(
            repo.join(".codex/skills/demo/SKILL.md"),
            "---\nname: demo\n---\n",
        )
        .unwrap();
        std::fs::write(repo.join(".codex/skills/demo/agents/openai.yaml"), "x: 1\n").unwrap();
        std::fs::write(repo.join("AGENTS.md"), "Be careful.\n").unwrap();
        std::fs::write(repo.join("schema.json"), "{}").unwrap();
        let env = CodexEnv {
            codex_home: Some(codex_home.clone()),
            home: Some(home.clone()),
            system_dir: base.join("etc"),
            ..Default::default()
        };
        let args = ExecArgs {
            output_schema: Some("schema.json".to_string()),
            images: vec!["missing.png".to_string()],
            ..Default::default()
        };
        let resolved = config::resolve(&args, &env, &repo);
        let namer = Namer {
            codex_home: &codex_home,
            home: Some(&home),
            repo_root: Some(&repo),
        };
        let inputs = collect(&args, &resolved, &env, &repo, &namer);
        let names: Vec<(String, InputKind)> = inputs
            .files
            .iter()
            .map(|f| (f.name.clone(), f.kind))
            .collect();
        for expected in [
            ("AGENTS.md", InputKind::AgentsMd),
            ("$CODEX_HOME/config.toml", InputKind::Config),
            (".codex/config.toml", InputKind::Config),
            ("$CODEX_HOME/rules/default.rules", InputKind::Rules),
            (".codex/rules/team.rules", InputKind::Rules),
            ("$CODEX_HOME/hooks.json", InputKind::Hooks),
            (".codex/skills/demo/SKILL.md", InputKind::Skill),
            (".codex/skills/demo/agents/openai.yaml", InputKind::Skill),
            ("schema.json", InputKind::OutputSchema),
        ] {
            assert!(
                names.contains(&(expected.0.to_string(), expected.1)),
                "{expected:?} missing from {names:?}"
            );
        }
        assert!(inputs.warnings.iter().any(|w| w.contains("missing.png")));

        // --ignore-rules drops user and project rules.
        let args = ExecArgs {
            ignore_rules: true,
            ..Default::default()
        };
        let resolved = config::resolve(&args, &env, &repo);
        let inputs = collect(&args, &resolved, &env, &repo, &namer);
        assert!(!inputs.files.iter().any(|f| f.kind == InputKind::Rules));
    }
}
