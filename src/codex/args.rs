//! Parsing a Codex CLI 0.169 command line the way Codex's own clap definitions do, so that `wrap`
//! knows which inputs the run will read.
//!
//! Root options (`codex -c k=v exec ...`) and `exec` options are merged, as Codex merges them.
//! `-i/--image` takes one or more values (clap `num_args = 1..`): it swallows following words
//! until the next option, exactly as Codex does. Unknown options are kept and reported: the run
//! still happens, but the record says its inputs may be incomplete.

use std::ffi::OsString;

/// What kind of Codex invocation a command line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `codex exec ...` (or `codex e ...`).
    Exec(Box<ExecArgs>),
    /// Any other `codex` subcommand (`review`, `apply`, the interactive TUI, ...).
    OtherSubcommand { name: String },
}

/// The options of `codex exec` (and `codex exec resume`) that decide what Codex reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecArgs {
    /// `-c key=value`, in order.
    pub config_overrides: Vec<String>,
    /// `--enable` / `--disable`, as `(feature, enabled)`, in order.
    pub feature_overrides: Vec<(String, bool)>,
    pub model: Option<String>,
    pub profile: Option<String>,
    pub sandbox: Option<String>,
    pub cd: Option<String>,
    pub add_dirs: Vec<String>,
    pub images: Vec<String>,
    pub output_schema: Option<String>,
    pub output_last_message: Option<String>,
    pub json: bool,
    pub ephemeral: bool,
    pub skip_git_repo_check: bool,
    pub ignore_user_config: bool,
    pub ignore_rules: bool,
    pub trust: bool,
    pub dangerously_bypass: bool,
    pub oss: bool,
    pub worktree: bool,
    /// Other flags given, in order, with their values (`--strict-config`, `--color=never`, ...).
    pub other_flags: Vec<String>,
    /// `resume`: `Some(thread id)`, `Some("--last")`, or `None` when not resuming.
    pub resume: Option<String>,
    /// `review` or `fork` under `exec`: recorded generically.
    pub exec_subcommand: Option<String>,
    /// The prompt argument: `Some("-")` means read stdin.
    pub prompt: Option<String>,
    /// Index of the prompt argument in the parsed words.
    pub prompt_index: Option<usize>,
    /// Indices of words that hold `-c` values (to redact in the record).
    pub config_value_indices: Vec<usize>,
    /// Options this parser does not know.
    pub unknown: Vec<String>,
}

/// Options that take a value, for root and `exec`: (long, short).
const VALUE_OPTIONS: &[(&str, Option<char>)] = &[
    ("config", Some('c')),
    ("enable", None),
    ("disable", None),
    ("image", Some('i')),
    ("model", Some('m')),
    ("local-provider", None),
    ("profile", Some('p')),
    ("sandbox", Some('s')),
    ("cd", Some('C')),
    ("add-dir", None),
    ("thread-source", None),
    ("cyber-access-program", None),
    ("output-schema", None),
    ("color", None),
    ("output-last-message", Some('o')),
    ("ask-for-approval", Some('a')),
    ("remote", None),
    ("remote-auth-token-env", None),
];

/// Boolean options we know.
const FLAG_OPTIONS: &[&str] = &[
    "strict-config",
    "oss",
    "approve-for-me",
    "dangerously-bypass-approvals-and-sandbox",
    "dangerously-bypass-hook-trust",
    "worktree",
    "skip-git-repo-check",
    "trust",
    "ephemeral",
    "ignore-user-config",
    "ignore-rules",
    "json",
    "search",
    "no-alt-screen",
    "no-daemon",
    "last",
    "all",
    "full-auto",
];

/// Parses the arguments after the program name. Returns `None` when the words cannot be read as
/// UTF-8 (Codex would reject them too).
pub fn parse(args: &[OsString]) -> Option<Invocation> {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_str().map(str::to_string))
        .collect::<Option<_>>()?;
    let mut exec = ExecArgs::default();
    let mut it = args.iter().enumerate().peekable();
    let mut in_exec = false;
    let mut positional_only = false;
    while let Some((index, arg)) = it.next() {
        if !positional_only && arg == "--" {
            positional_only = true;
            continue;
        }
        if !positional_only && arg.starts_with('-') && arg.len() > 1 {
            let (name, inline) = split_option(arg);
            match lookup(&name) {
                Some(Lookup::Value(long)) => {
                    let value = match inline {
                        Some(v) => {
                            if long == "config" {
                                exec.config_value_indices.push(index);
                            }
                            Some(v)
                        }
                        None => it.next().map(|(i, v)| {
                            if long == "config" {
                                exec.config_value_indices.push(i);
                            }
                            v.clone()
                        }),
                    };
                    let Some(value) = value else {
                        exec.unknown.push(arg.clone());
                        continue;
                    };
                    apply_value(&mut exec, long, value);
                    if long == "image" {
                        // `-i a.png b.png`: more values until the next option word.
                        while let Some((_, next)) = it.peek() {
                            if next.starts_with('-') {
                                break;
                            }
                            exec.images.push((*next).clone());
                            it.next();
                        }
                    }
                }
                Some(Lookup::Flag(long)) => apply_flag(&mut exec, long),
                None => exec.unknown.push(arg.clone()),
            }
            continue;
        }
        if !in_exec {
            match arg.as_str() {
                "exec" | "e" => {
                    in_exec = true;
                    continue;
                }
                other => {
                    return Some(Invocation::OtherSubcommand {
                        name: other.to_string(),
                    });
                }
            }
        }
        // Positionals under `exec`: a subcommand keyword first, then the prompt.
        if exec.prompt.is_none()
            && exec.resume.is_none()
            && exec.exec_subcommand.is_none()
            && !positional_only
        {
            match arg.as_str() {
                "resume" => {
                    exec.resume = Some(String::new());
                    continue;
                }
                "review" | "fork" | "help" => {
                    exec.exec_subcommand = Some(arg.clone());
                    continue;
                }
                _ => {}
            }
        }
        if exec.resume.as_deref() == Some("") && !exec.other_flags.iter().any(|f| f == "--last") {
            exec.resume = Some(arg.clone());
            continue;
        }
        if exec.prompt.is_none() {
            exec.prompt = Some(arg.clone());
            exec.prompt_index = Some(index);
        } else {
            exec.unknown.push(arg.clone());
        }
    }
    if exec.resume.as_deref() == Some("") && exec.other_flags.iter().any(|f| f == "--last") {
        exec.resume = Some("--last".to_string());
    }
    if !in_exec {
        return Some(Invocation::OtherSubcommand {
            name: "(interactive)".to_string(),
        });
    }
    Some(Invocation::Exec(Box::new(exec)))
}

enum Lookup {
    Value(&'static str),
    Flag(&'static str),
}

/// Splits `--name=value`, `-xvalue`, `-x`, `--name`.
fn split_option(arg: &str) -> (String, Option<String>) {
    if let Some(long) = arg.strip_prefix("--") {
        return match long.split_once('=') {
            Some((name, value)) => (format!("--{name}"), Some(value.to_string())),
            None => (arg.to_string(), None),
        };
    }
    let mut chars = arg[1..].chars();
    let short = chars.next().map(|c| format!("-{c}")).unwrap_or_default();
    let rest: String = chars.collect();
    let rest = rest.strip_prefix('=').map(str::to_string).unwrap_or(rest);
    if rest.is_empty() {
        (short, None)
    } else {
        (short, Some(rest))
    }
}

fn lookup(name: &str) -> Option<Lookup> {
    if let Some(long) = name.strip_prefix("--") {
        if let Some((l, _)) = VALUE_OPTIONS.iter().find(|(l, _)| *l == long) {
            return Some(Lookup::Value(l));
        }
        return FLAG_OPTIONS
            .iter()
            .find(|f| **f == long)
            .map(|f| Lookup::Flag(f));
    }
    let short = name.strip_prefix('-')?.chars().next()?;
    VALUE_OPTIONS
        .iter()
        .find(|(_, s)| *s == Some(short))
        .map(|(l, _)| Lookup::Value(l))
}

fn apply_value(exec: &mut ExecArgs, long: &str, value: String) {
    match long {
        "config" => exec.config_overrides.push(value),
        "enable" => exec.feature_overrides.push((value, true)),
        "disable" => exec.feature_overrides.push((value, false)),
        "image" => exec.images.extend(value.split(',').map(str::to_string)),
        "model" => exec.model = Some(value),
        "profile" => exec.profile = Some(value),
        "sandbox" => exec.sandbox = Some(value),
        "cd" => exec.cd = Some(value),
        "add-dir" => exec.add_dirs.push(value),
        "output-schema" => exec.output_schema = Some(value),
        "output-last-message" => exec.output_last_message = Some(value),
        other => exec.other_flags.push(format!("--{other}={value}")),
    }
}

fn apply_flag(exec: &mut ExecArgs, long: &str) {
    match long {
        "json" => exec.json = true,
        "ephemeral" => exec.ephemeral = true,
        "skip-git-repo-check" => exec.skip_git_repo_check = true,
        "ignore-user-config" => exec.ignore_user_config = true,
        "ignore-rules" => exec.ignore_rules = true,
        "trust" => exec.trust = true,
        "dangerously-bypass-approvals-and-sandbox" => exec.dangerously_bypass = true,
        "oss" => exec.oss = true,
        "worktree" => exec.worktree = true,
        _ => {}
    }
    exec.other_flags.push(format!("--{long}"));
}

impl ExecArgs {
    /// The boolean flags given, for the record, in a stable order.
    pub fn recorded_flags(&self) -> Vec<String> {
        self.other_flags
            .iter()
            .filter(|f| !f.starts_with("--color="))
            .cloned()
            .collect()
    }

    /// The sandbox the command line asks for.
    pub fn requested_sandbox(&self) -> Option<String> {
        if self.dangerously_bypass {
            return Some("danger-full-access".to_string());
        }
        self.sandbox.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(words: &[&str]) -> ExecArgs {
        let args: Vec<OsString> = words.iter().map(OsString::from).collect();
        match parse(&args) {
            Some(Invocation::Exec(e)) => *e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exec_options_and_prompt() {
        let e = exec(&[
            "exec",
            "--json",
            "-m",
            "gpt-5.5",
            "-c",
            "a=1",
            "--config=b=2",
            "-cc=3",
            "-s",
            "workspace-write",
            "-C",
            "sub",
            "fix it",
        ]);
        assert_eq!(e.model.as_deref(), Some("gpt-5.5"));
        assert_eq!(e.config_overrides, ["a=1", "b=2", "c=3"]);
        assert_eq!(e.sandbox.as_deref(), Some("workspace-write"));
        assert_eq!(e.cd.as_deref(), Some("sub"));
        assert_eq!(e.prompt.as_deref(), Some("fix it"));
        assert!(e.json);
    }

    #[test]
    fn root_options_merge_with_exec_options() {
        let e = exec(&["-c", "x=1", "-p", "fast", "exec", "-c", "y=2", "go"]);
        assert_eq!(e.config_overrides, ["x=1", "y=2"]);
        assert_eq!(e.profile.as_deref(), Some("fast"));
    }

    #[test]
    fn images_are_variadic_like_clap() {
        let e = exec(&["exec", "-i", "a.png", "b.png", "--json"]);
        assert_eq!(e.images, ["a.png", "b.png"]);
        assert_eq!(e.prompt, None);
        let e = exec(&["exec", "-i", "a.png", "--", "the prompt"]);
        assert_eq!(e.images, ["a.png"]);
        assert_eq!(e.prompt.as_deref(), Some("the prompt"));
    }

    #[test]
    fn dash_means_stdin_and_resume_is_recognized() {
        assert_eq!(exec(&["exec", "-"]).prompt.as_deref(), Some("-"));
        let e = exec(&["exec", "--json", "resume", "0199-abc", "next step"]);
        assert_eq!(e.resume.as_deref(), Some("0199-abc"));
        assert_eq!(e.prompt.as_deref(), Some("next step"));
        let e = exec(&["exec", "resume", "--last", "again"]);
        assert_eq!(e.resume.as_deref(), Some("--last"));
        assert_eq!(e.prompt.as_deref(), Some("again"));
    }

    #[test]
    fn other_subcommands_and_unknown_flags() {
        let args: Vec<OsString> = ["review"].iter().map(OsString::from).collect();
        assert_eq!(
            parse(&args),
            Some(Invocation::OtherSubcommand {
                name: "review".to_string()
            })
        );
        let e = exec(&["exec", "--frobnicate", "p"]);
        assert_eq!(e.unknown, ["--frobnicate"]);
        let e = exec(&["exec", "--dangerously-bypass-approvals-and-sandbox", "p"]);
        assert_eq!(e.requested_sandbox().as_deref(), Some("danger-full-access"));
    }
}
