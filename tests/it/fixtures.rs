//! Statements built through the library's own types, so tests check real serializer output.

use std::collections::BTreeMap;

use codex_attest::digest::digest_bytes;
use codex_attest::intoto::{Predicate, ResourceDescriptor, STATEMENT_TYPE_V1, Statement};
use codex_attest::predicate::*;
use codex_attest::provenance::*;

/// A fully populated codex-run provenance statement (every optional field set).
pub fn provenance_statement() -> Statement {
    let new_file = digest_bytes(b"fn main() {}\n");
    let old_file = digest_bytes(b"fn main() { todo!() }\n");
    let agents = digest_bytes(b"Be careful.\n");
    let changed = |path: &str, before: bool| ChangedFile {
        path: path.to_string(),
        sha256: new_file.sha256,
        git_blob: new_file.git_blob.clone(),
        before: before.then(|| FileVersion {
            sha256: old_file.sha256,
            git_blob: old_file.git_blob.clone(),
        }),
    };
    let external = ExternalParameters {
        argv: [
            "codex",
            "exec",
            "--json",
            "-m",
            "gpt-5.5",
            "<prompt sha256:00>",
        ]
        .map(String::from)
        .to_vec(),
        working_directory: ".".to_string(),
        role: Some("fixer".to_string()),
        prompt: Some(PromptParameter {
            sha256: agents.sha256,
            source: "argument".to_string(),
            size: 12,
        }),
        model: Some("gpt-5.5".to_string()),
        sandbox: Some("workspace-write".to_string()),
        profile: Some("fast".to_string()),
        config_overrides: vec!["model_reasoning_effort=\"high\"".to_string()],
        feature_overrides: vec!["features.hooks=false".to_string()],
        add_dirs: vec!["../shared".to_string()],
        images: vec!["shot.png".to_string()],
        output_schema: Some("schema.json".to_string()),
        flags: vec!["--json".to_string(), "--ephemeral".to_string()],
        resume: None,
    };
    let internal = InternalParameters {
        capture: Some(CaptureLevel::CodexExec),
        codex: Some(CodexBinary {
            path: "/usr/local/bin/codex".to_string(),
            sha256: new_file.sha256,
            version: Some("0.169.0".to_string()),
            launcher: Some(CodexLauncher {
                path: "/usr/lib/node_modules/@openai/codex/bin/codex.js".to_string(),
                sha256: agents.sha256,
            }),
        }),
        settings: Some(EffectiveSettings {
            model: Some("gpt-5.5".to_string()),
            model_provider: Some(ModelProvider {
                id: "openai".to_string(),
                base_url: Some("https://api.openai.com/v1".to_string()),
                wire_api: Some("responses".to_string()),
            }),
            sandbox: Some("workspace-write".to_string()),
            approval_policy: Some("never".to_string()),
            reasoning_effort: Some("high".to_string()),
            project_trusted: Some(false),
            features: BTreeMap::from([("hooks".to_string(), false)]),
            mcp_servers: vec!["docs".to_string()],
            shell_environment_inherit: Some("core".to_string()),
        }),
        agents_md: Some(AgentsMdChain {
            files: vec![AgentsMdFile {
                path: "AGENTS.md".to_string(),
                scope: "project".to_string(),
                sha256: agents.sha256,
                size: 12,
                used_bytes: 12,
            }],
            max_bytes: 32768,
            combined_sha256: Some(agents.sha256),
        }),
        git: Some(GitState {
            commit: Some("0123456789abcdef0123456789abcdef01234567".parse().unwrap()),
            branch: Some("main".to_string()),
            remote: Some("https://github.com/example/repo".to_string()),
            dirty: true,
            uncommitted: vec!["notes.txt".to_string()],
        }),
        outcome: Some(Outcome {
            status: RunStatus::Succeeded,
            exit_code: Some(0),
            signal: None,
            duration_ms: 1234,
            thread_id: Some("019a0000-0000-7000-8000-000000000000".to_string()),
            token_usage: Some(TokenUsage {
                input_tokens: 10,
                cached_input_tokens: 0,
                output_tokens: 5,
                reasoning_output_tokens: 1,
            }),
            changes: Changes {
                added: vec![changed("src/new.rs", false)],
                modified: vec![changed("src/main.rs", true)],
                deleted: vec![ChangedFile {
                    path: "old.txt".to_string(),
                    sha256: old_file.sha256,
                    git_blob: old_file.git_blob.clone(),
                    before: None,
                }],
                renamed: vec![RenamedFile {
                    from: "a.rs".to_string(),
                    to: "b.rs".to_string(),
                    before: FileVersion {
                        sha256: old_file.sha256,
                        git_blob: old_file.git_blob.clone(),
                    },
                    sha256: new_file.sha256,
                    git_blob: new_file.git_blob.clone(),
                }],
            },
            possibly_concurrent: true,
        }),
        disagreements: vec![Disagreement {
            field: "model".to_string(),
            resolved: "gpt-5.5".to_string(),
            recorded: "gpt-5.5-mini".to_string(),
        }],
        warnings: vec!["a warning".to_string()],
        not_recorded: vec![],
    };
    let subject = |name: &str| ResourceDescriptor {
        name: Some(name.to_string()),
        digest: new_file.digest_set(),
        ..Default::default()
    };
    let provenance = Provenance {
        build_definition: BuildDefinition {
            build_type: CODEX_RUN_BUILD_TYPE.to_string(),
            external_parameters: serde_json::to_value(&external).unwrap(),
            internal_parameters: Some(serde_json::to_value(&internal).unwrap()),
            resolved_dependencies: vec![ResourceDescriptor {
                name: Some("AGENTS.md".to_string()),
                digest: agents.digest_set(),
                annotations: BTreeMap::from([(
                    KIND_ANNOTATION.to_string(),
                    serde_json::json!("agents-md"),
                )]),
                ..Default::default()
            }],
        },
        run_details: RunDetails {
            builder: Builder {
                id: BUILDER_ID.to_string(),
                builder_dependencies: vec![],
                version: BTreeMap::from([
                    ("codex-attest".to_string(), "0.1.0".to_string()),
                    ("codex-cli".to_string(), "0.169.0".to_string()),
                ]),
            },
            metadata: Some(BuildMetadata {
                invocation_id: Some("run-1".to_string()),
                started_on: Some("2001-02-03T04:05:06Z".parse().unwrap()),
                finished_on: Some("2001-02-03T04:05:07Z".parse().unwrap()),
            }),
            byproducts: vec![],
        },
    };
    Statement {
        statement_type: STATEMENT_TYPE_V1.to_string(),
        subject: vec![
            subject("src/main.rs"),
            subject("src/new.rs"),
            subject("b.rs"),
        ],
        predicate_type: SLSA_PROVENANCE_V1.to_string(),
        predicate: Predicate::from_value(&serde_json::to_value(&provenance).unwrap()),
    }
}

/// A small statement with one subject and a tiny predicate, for signing tests.
pub const SIMPLE_STATEMENT: &str = r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"src/main.rs","digest":{"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","gitBlob":"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://codex-attest.dev/buildtypes/codex-run/v1","externalParameters":{"argv":["codex","exec"],"workingDirectory":"."}},"runDetails":{"builder":{"id":"https://codex-attest.dev/builder/wrap/v1"}}}}"#;
