//! Codex's configuration layers, merged the way Codex 0.169 merges them, and the effective
//! settings that matter for provenance.
//!
//! Layers, lowest precedence first: system (`/etc/codex/config.toml`), user
//! (`$CODEX_HOME/config.toml`, skipped by `--ignore-user-config`), profile
//! (`$CODEX_HOME/<name>.config.toml` with `-p`; silently absent when missing, as in Codex), project
//! (`.codex/config.toml` in each directory from the project root down to the working directory,
//! only when the project is trusted, minus the keys Codex refuses from projects), and the command
//! line (`-c`, `--enable`, `--disable`). Then exec's direct overrides: `-m`, `-s`,
//! `--dangerously-bypass-approvals-and-sandbox`, and the approval policy that exec forces to
//! `never`.
//!
//! What we ignore (and why): MDM and cloud-managed layers and `requirements.toml` exist only on
//! managed machines and are reported as not recorded when present; the legacy
//! `managed_config.toml` likewise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::args::ExecArgs;

/// Keys Codex ignores in a project's `.codex/config.toml` (`PROJECT_LOCAL_CONFIG_DENYLIST`).
const PROJECT_DENYLIST: &[&str] = &[
    "openai_base_url",
    "chatgpt_base_url",
    "apps_mcp_product_sku",
    "model_provider",
    "model_providers",
    "notify",
    "profile",
    "profiles",
    "otel",
];

pub const DEFAULT_PROJECT_DOC_MAX_BYTES: u64 = 32 * 1024;

/// Where a configuration layer comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    System,
    User,
    Profile,
    Project,
}

/// One configuration file Codex would consult.
#[derive(Clone, Debug)]
pub struct ConfigLayer {
    pub kind: LayerKind,
    pub path: PathBuf,
    /// Whether Codex applies it (project layers need trust).
    pub enabled: bool,
    /// Parse error, when the file is not valid TOML (Codex then refuses to start).
    pub error: Option<String>,
    table: Table,
}

/// The resolved configuration of one `codex exec` invocation.
#[derive(Clone, Debug)]
pub struct ResolvedConfig {
    pub codex_home: PathBuf,
    /// The directory Codex works in (after `-C`).
    pub cwd: PathBuf,
    /// The project root (first ancestor with a marker), if any.
    pub project_root: Option<PathBuf>,
    pub project_trusted: bool,
    pub layers: Vec<ConfigLayer>,
    /// Every layer and override merged, project keys filtered.
    pub merged: Table,
    pub settings: Settings,
    pub warnings: Vec<String>,
}

/// Effective values that matter for provenance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub model: Option<String>,
    pub provider_id: String,
    pub provider_base_url: Option<String>,
    pub provider_wire_api: Option<String>,
    pub provider_env_key: Option<String>,
    pub sandbox: String,
    pub approval_policy: String,
    pub reasoning_effort: Option<String>,
    pub features: BTreeMap<String, bool>,
    pub mcp_servers: Vec<String>,
    pub shell_environment_inherit: String,
    pub project_doc_max_bytes: u64,
    pub project_doc_fallback_filenames: Vec<String>,
}

/// What the resolver needs from the environment (passed in: the library reads no env itself).
#[derive(Clone, Debug, Default)]
pub struct CodexEnv {
    /// `$CODEX_HOME`, if set.
    pub codex_home: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// `$OPENAI_BASE_URL`, if set.
    pub openai_base_url: Option<String>,
    /// Root of system configuration (`/etc/codex`); tests point it elsewhere.
    pub system_dir: PathBuf,
}

impl CodexEnv {
    /// `$CODEX_HOME`, or `~/.codex`.
    pub fn codex_home(&self) -> PathBuf {
        match (&self.codex_home, &self.home) {
            (Some(dir), _) => dir.clone(),
            (None, Some(home)) => home.join(".codex"),
            (None, None) => PathBuf::from(".codex"),
        }
    }
}

impl ConfigLayer {
    pub fn table(&self) -> &Table {
        &self.table
    }
}

impl ResolvedConfig {
    /// Secret values written in any configuration layer (enabled or not: every layer file is
    /// stored as an input), so the scrubber removes them from what is stored.
    pub fn secret_values(&self) -> Vec<String> {
        self.layers
            .iter()
            .flat_map(|layer| crate::secrets::secret_values_in_config(&layer.table))
            .collect()
    }
}

/// Resolves the configuration for an `exec` invocation started in `process_cwd`.
pub fn resolve(args: &ExecArgs, env: &CodexEnv, process_cwd: &Path) -> ResolvedConfig {
    let codex_home = env.codex_home();
    let cwd = match &args.cd {
        Some(dir) => absolutize(process_cwd, Path::new(dir)),
        None => process_cwd.to_path_buf(),
    };
    let cwd = cwd.canonicalize().unwrap_or(cwd);
    let mut warnings = Vec::new();
    let mut layers = Vec::new();

    layers.push(load_layer(
        LayerKind::System,
        env.system_dir.join("config.toml"),
        true,
    ));
    if !args.ignore_user_config {
        layers.push(load_layer(
            LayerKind::User,
            codex_home.join("config.toml"),
            true,
        ));
    }
    if let Some(profile) = &args.profile {
        if profile.is_empty() || profile.contains(['/', '\\']) || profile.starts_with('.') {
            warnings.push(format!(
                "profile name {profile:?} is not a plain name; its file was not read"
            ));
        } else {
            layers.push(load_layer(
                LayerKind::Profile,
                codex_home.join(format!("{profile}.config.toml")),
                true,
            ));
        }
    }
    layers.retain(|l| l.path.is_file() || l.error.is_some());

    let cli = cli_layer(args, &mut warnings);

    // Markers and trust come from every layer except the project layers.
    let mut base = Table::new();
    for layer in &layers {
        merge(&mut base, &layer.table);
    }
    merge(&mut base, &cli);
    let markers = match base.get("project_root_markers") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => vec![".git".to_string()],
    };
    let project_root = find_project_root(&cwd, &markers);
    let project_trusted = args.trust
        || project_root
            .as_ref()
            .is_some_and(|root| trust_level(&base, root).as_deref() == Some("trusted"));

    if let Some(root) = &project_root {
        for dir in dirs_from_root(root, &cwd) {
            let path = dir.join(".codex").join("config.toml");
            if !path.is_file() {
                continue;
            }
            let mut layer = load_layer(LayerKind::Project, path, project_trusted);
            let ignored: Vec<&str> = PROJECT_DENYLIST
                .iter()
                .copied()
                .filter(|k| layer.table.remove(*k).is_some())
                .collect();
            if !ignored.is_empty() && project_trusted {
                warnings.push(format!(
                    "{} sets keys Codex ignores in project config: {}",
                    layer.path.display(),
                    ignored.join(", ")
                ));
            }
            if !project_trusted {
                warnings.push(format!(
                    "{} is ignored by Codex because the project is not trusted",
                    layer.path.display()
                ));
            }
            layers.push(layer);
        }
    }

    let mut merged = Table::new();
    for layer in layers.iter().filter(|l| l.enabled) {
        merge(&mut merged, &layer.table);
    }
    merge(&mut merged, &cli);
    for layer in &layers {
        if let Some(err) = &layer.error {
            warnings.push(format!(
                "{} is not valid TOML ({err}); Codex will refuse to start",
                layer.path.display()
            ));
        }
    }

    let settings = settings(&merged, args, env);
    ResolvedConfig {
        codex_home,
        cwd,
        project_root,
        project_trusted,
        layers,
        merged,
        settings,
        warnings,
    }
}

fn settings(merged: &Table, args: &ExecArgs, env: &CodexEnv) -> Settings {
    let get_str = |key: &str| merged.get(key).and_then(Value::as_str).map(str::to_string);
    let provider_id = if args.oss {
        get_str("oss_provider").unwrap_or_else(|| "oss".to_string())
    } else {
        get_str("model_provider").unwrap_or_else(|| "openai".to_string())
    };
    let provider = merged
        .get("model_providers")
        .and_then(Value::as_table)
        .and_then(|t| t.get(&provider_id))
        .and_then(Value::as_table);
    let provider_str = |key: &str| {
        provider
            .and_then(|p| p.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut provider_base_url = provider_str("base_url");
    if provider_base_url.is_none() && provider_id == "openai" {
        provider_base_url = get_str("openai_base_url")
            .or_else(|| env.openai_base_url.clone())
            .or_else(|| Some("https://api.openai.com/v1".to_string()));
    }
    let provider_base_url = provider_base_url.map(|u| crate::secrets::strip_url_credentials(&u));
    let sandbox = args
        .requested_sandbox()
        .or_else(|| get_str("sandbox_mode"))
        .unwrap_or_else(|| "read-only".to_string());
    let mut features: BTreeMap<String, bool> = merged
        .get("features")
        .and_then(Value::as_table)
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| v.as_bool().map(|b| (k.clone(), b)))
                .collect()
        })
        .unwrap_or_default();
    for (name, on) in &args.feature_overrides {
        features.insert(name.clone(), *on);
    }
    let mcp_servers = merged
        .get("mcp_servers")
        .and_then(Value::as_table)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    let shell_environment_inherit = merged
        .get("shell_environment_policy")
        .and_then(Value::as_table)
        .and_then(|t| t.get("inherit"))
        .and_then(Value::as_str)
        .unwrap_or("all")
        .to_string();
    let project_doc_max_bytes = merged
        .get("project_doc_max_bytes")
        .and_then(Value::as_integer)
        .map(|n| n.max(0) as u64)
        .unwrap_or(DEFAULT_PROJECT_DOC_MAX_BYTES);
    let project_doc_fallback_filenames = merged
        .get("project_doc_fallback_filenames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Settings {
        model: args.model.clone().or_else(|| get_str("model")),
        provider_id,
        provider_base_url,
        provider_wire_api: provider_str("wire_api"),
        provider_env_key: provider_str("env_key"),
        sandbox,
        // `codex exec` forces `never`, whatever the configuration says.
        approval_policy: "never".to_string(),
        reasoning_effort: get_str("model_reasoning_effort"),
        features,
        mcp_servers,
        shell_environment_inherit,
        project_doc_max_bytes,
        project_doc_fallback_filenames,
    }
}

fn load_layer(kind: LayerKind, path: PathBuf, enabled: bool) -> ConfigLayer {
    let (table, error) = match std::fs::read_to_string(&path) {
        Ok(text) => match text.parse::<Table>() {
            Ok(table) => (table, None),
            Err(err) => (Table::new(), Some(err.message().to_string())),
        },
        Err(_) => (Table::new(), None),
    };
    ConfigLayer {
        kind,
        path,
        enabled,
        error,
        table,
    }
}

/// The `-c`, `--enable` and `--disable` overrides as one table.
fn cli_layer(args: &ExecArgs, warnings: &mut Vec<String>) -> Table {
    let mut table = Table::new();
    for assignment in &args.config_overrides {
        let Some((key, raw)) = assignment.split_once('=') else {
            warnings.push(format!(
                "-c {assignment:?} has no `=`; Codex will reject it"
            ));
            continue;
        };
        let Some(path) = split_dotted_key(key.trim()) else {
            warnings.push(format!("-c key {key:?} is not a dotted key path"));
            continue;
        };
        // Codex parses the value as TOML and falls back to the raw string.
        let value = format!("v = {raw}")
            .parse::<Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| Value::String(raw.to_string()));
        insert_path(&mut table, &path, value);
    }
    for (name, on) in &args.feature_overrides {
        insert_path(
            &mut table,
            &["features".to_string(), name.clone()],
            Value::Boolean(*on),
        );
    }
    table
}

/// Splits `a.b."c.d".e` into its segments.
pub fn split_dotted_key(key: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = key.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => quoted = false,
            '"' => quoted = true,
            '\\' if quoted => current.push(chars.next()?),
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if quoted {
        return None;
    }
    parts.push(current);
    parts.iter().all(|p| !p.is_empty()).then_some(parts)
}

fn insert_path(table: &mut Table, path: &[String], value: Value) {
    let (last, parents) = match path.split_last() {
        Some(split) => split,
        None => return,
    };
    let mut cursor = table;
    for part in parents {
        let entry = cursor
            .entry(part.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        cursor = match entry.as_table_mut() {
            Some(t) => t,
            None => return,
        };
    }
    cursor.insert(last.clone(), value);
}

/// Deep-merges `overlay` into `base`: tables merge key by key, anything else replaces.
pub fn merge(base: &mut Table, overlay: &Table) {
    for (key, value) in overlay {
        match (base.get_mut(key), value) {
            (Some(Value::Table(existing)), Value::Table(incoming)) => merge(existing, incoming),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

fn trust_level(config: &Table, root: &Path) -> Option<String> {
    let projects = config.get("projects")?.as_table()?;
    let key = root.to_str()?;
    projects
        .get(key)?
        .as_table()?
        .get("trust_level")?
        .as_str()
        .map(str::to_string)
}

/// The first ancestor of `cwd` (itself included) holding one of `markers`.
pub fn find_project_root(cwd: &Path, markers: &[String]) -> Option<PathBuf> {
    if markers.is_empty() {
        return None;
    }
    cwd.ancestors()
        .find(|dir| {
            markers
                .iter()
                .any(|m| dir.join(m).symlink_metadata().is_ok())
        })
        .map(Path::to_path_buf)
}

/// Directories from `root` down to `cwd`, both included (just `cwd` if it is not under `root`).
pub fn dirs_from_root(root: &Path, cwd: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for dir in cwd.ancestors() {
        dirs.push(dir.to_path_buf());
        if dir == root {
            dirs.reverse();
            return dirs;
        }
    }
    vec![cwd.to_path_buf()]
}

fn absolutize(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys() {
        assert_eq!(split_dotted_key("a.b.c").unwrap(), ["a", "b", "c"]);
        assert_eq!(
            split_dotted_key(r#"projects."/x/y.z".trust_level"#).unwrap(),
            ["projects", "/x/y.z", "trust_level"]
        );
        assert!(split_dotted_key("a..b").is_none());
        assert!(split_dotted_key("\"open").is_none());
    }

    #[test]
    fn layers_merge_in_codex_order() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("codex_home");
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join(".codex")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let repo = repo.canonicalize().unwrap();
        std::fs::write(
            home.join("config.toml"),
            format!(
                "model = \"user\"\nmodel_reasoning_effort = \"low\"\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n[features]\nhooks = true\n",
                repo.display()
            ),
        )
        .unwrap();
        std::fs::write(home.join("fast.config.toml"), "model = \"profile\"\n").unwrap();
        std::fs::write(
            repo.join(".codex/config.toml"),
            "model_reasoning_effort = \"high\"\nmodel_provider = \"evil\"\n",
        )
        .unwrap();
        let env = CodexEnv {
            codex_home: Some(home),
            system_dir: dir.path().join("etc"),
            ..Default::default()
        };
        let args = ExecArgs {
            profile: Some("fast".to_string()),
            config_overrides: vec![
                "sandbox_mode=\"workspace-write\"".to_string(),
                "x.y=not toml".to_string(),
            ],
            feature_overrides: vec![("hooks".to_string(), false)],
            ..Default::default()
        };
        let resolved = resolve(&args, &env, &repo);
        assert!(resolved.project_trusted);
        assert_eq!(resolved.settings.model.as_deref(), Some("profile"));
        assert_eq!(
            resolved.settings.reasoning_effort.as_deref(),
            Some("high"),
            "trusted project beats user"
        );
        assert_eq!(
            resolved.settings.provider_id, "openai",
            "project may not set the provider"
        );
        assert_eq!(resolved.settings.sandbox, "workspace-write");
        assert_eq!(resolved.settings.features.get("hooks"), Some(&false));
        assert_eq!(resolved.merged["x"]["y"].as_str(), Some("not toml"));
        assert_eq!(resolved.layers.len(), 3);

        // -m beats everything; without trust the project layer is off.
        let args = ExecArgs {
            model: Some("cli".to_string()),
            ignore_user_config: true,
            ..Default::default()
        };
        let resolved = resolve(&args, &env, &repo);
        assert!(!resolved.project_trusted);
        assert_eq!(resolved.settings.model.as_deref(), Some("cli"));
        assert_eq!(resolved.settings.reasoning_effort, None);
        assert!(resolved.warnings.iter().any(|w| w.contains("not trusted")));
    }
}
