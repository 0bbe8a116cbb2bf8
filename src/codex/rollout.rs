//! Codex's own record of a run: the rollout transcript
//! (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<local time>-<thread id>.jsonl`).
//!
//! We read it for two things: to cross-check what `wrap` resolved before the run (CLI version,
//! model, sandbox, approval, the AGENTS.md text, the prompt, the git commit), and to rebuild the
//! model's outputs turn by turn for `replay` (each `token_usage_record` closes one model
//! response).
//!
//! What we ignore (and why): line types we do not use; lines that are not JSON (a truncated last
//! line after SIGTERM); `internal_chat_message_metadata_passthrough`, which is Codex bookkeeping
//! that the model never produced.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Lines longer than this are skipped.
const MAX_LINE: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RolloutFacts {
    /// The thread id (`session_meta.payload.id`).
    pub thread_id: Option<String>,
    pub cli_version: Option<String>,
    pub model: Option<String>,
    pub sandbox: Option<String>,
    pub approval_policy: Option<String>,
    pub reasoning_effort: Option<String>,
    pub agents_md_text: Option<String>,
    pub git_commit: Option<String>,
    pub cwd: Option<String>,
    /// User prompts (`user.text` messages), in order.
    pub prompts: Vec<String>,
    pub interrupted: bool,
    pub task_error: Option<String>,
    /// Absolute paths named by `FileChange` items.
    pub file_changes: Vec<String>,
    /// Tool calls the model made (function and custom tool calls).
    pub tool_calls: usize,
    /// Model responses that asked for more than one tool call (run in parallel by Codex).
    pub parallel_responses: usize,
    /// The thread's token usage so far, from the last `token_count` event (input, output).
    pub token_usage: Option<(u64, u64)>,
}

/// One model response: the output items Codex acted on, as the model sent them.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelTurn {
    pub items: Vec<Value>,
    pub usage: Option<Value>,
}

/// Calls `visit` with every `rollout-*.jsonl` file under `dir` (down to `sessions/YYYY/MM/DD`,
/// without following symlinked directories) until it returns `true`.
fn each_rollout(dir: PathBuf, visit: &mut dyn FnMut(&Path, &std::fs::DirEntry) -> bool) -> bool {
    let mut stack = vec![(dir, 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && depth < 4 {
                stack.push((path, depth + 1));
            } else if kind.is_file()
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"))
                && visit(&path, &entry)
            {
                return true;
            }
        }
    }
    false
}

/// Finds the rollout file of a thread under `codex_home`.
pub fn find(codex_home: &Path, thread_id: &str) -> Option<PathBuf> {
    if thread_id.is_empty() || thread_id.contains(['/', '\\']) {
        return None;
    }
    let suffix = format!("-{thread_id}.jsonl");
    let mut found = None;
    for top in ["sessions", "archived_sessions"] {
        let hit = each_rollout(codex_home.join(top), &mut |path, _| {
            let matches = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(&suffix));
            if matches {
                found = Some(path.to_path_buf());
            }
            matches
        });
        if hit {
            break;
        }
    }
    found
}

/// What a search for a run's rollout by time and directory found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    One(PathBuf),
    None,
    /// Several `codex exec` threads started in this directory during the run (concurrent runs):
    /// none can be attributed safely.
    Many(usize),
}

/// Finds the rollout of a `codex exec` run whose thread id is unknown (Codex printed no `--json`
/// events): the rollout files written since `since` whose `session_meta` says an exec thread
/// started in `cwd`. Exactly one such file is the run's; more are ambiguous and yield nothing.
pub fn find_started_since(codex_home: &Path, since: std::time::SystemTime, cwd: &Path) -> Found {
    let mut found = Vec::new();
    each_rollout(codex_home.join("sessions"), &mut |path, entry| {
        let recent = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|m| m >= since);
        if recent && exec_thread_in(path, cwd, since) {
            found.push(path.to_path_buf());
        }
        false
    });
    match found.len() {
        0 => Found::None,
        1 => Found::One(found.remove(0)),
        n => Found::Many(n),
    }
}

/// Whether a rollout's first line is the `session_meta` of an exec thread started in `cwd` at or
/// after `since` (a rollout that was only appended to since then belongs to another run).
fn exec_thread_in(path: &Path, cwd: &Path, since: std::time::SystemTime) -> bool {
    use std::io::{BufRead, Read};
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut first = Vec::new();
    if std::io::BufReader::new(file.take(MAX_LINE as u64))
        .read_until(b'\n', &mut first)
        .is_err()
    {
        return false;
    }
    let Ok(value) = serde_json::from_slice::<Value>(&first) else {
        return false;
    };
    let started = value["payload"]["timestamp"]
        .as_str()
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(std::time::SystemTime::from);
    // Codex writes the thread's start in milliseconds; allow for that rounding.
    let since = since - std::time::Duration::from_millis(1);
    value["type"] == "session_meta"
        && value["payload"]["originator"] == "codex_exec"
        && value["payload"]["cwd"].as_str().map(Path::new) == Some(cwd)
        && started.is_some_and(|t| t >= since)
}

/// Reads the facts in a rollout (or in the part of it a run appended).
pub fn facts(bytes: &[u8]) -> RolloutFacts {
    facts_of(lines(bytes))
}

/// The same facts, read one line at a time from `reader`: memory stays flat however long the
/// transcript is.
pub fn facts_from_reader(reader: impl std::io::BufRead) -> RolloutFacts {
    facts_of(ReaderLines {
        reader,
        buf: Vec::new(),
    })
}

fn facts_of(values: impl Iterator<Item = Value>) -> RolloutFacts {
    let mut facts = RolloutFacts::default();
    let mut calls_in_response = 0usize;
    for value in values {
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let payload = value.get("payload").unwrap_or(&Value::Null);
        match kind {
            "session_meta" => {
                facts.thread_id = str_at(payload, &["id"]).or(facts.thread_id.take());
                facts.cli_version = str_at(payload, &["cli_version"]).or(facts.cli_version.take());
                facts.git_commit =
                    str_at(payload, &["git", "commit_hash"]).or(facts.git_commit.take());
                facts.cwd = str_at(payload, &["cwd"]).or(facts.cwd.take());
            }
            "turn_context" => {
                facts.model = str_at(payload, &["model"]).or(facts.model.take());
                facts.sandbox =
                    str_at(payload, &["sandbox_policy", "type"]).or(facts.sandbox.take());
                facts.approval_policy =
                    str_at(payload, &["approval_policy"]).or(facts.approval_policy.take());
                facts.reasoning_effort = str_at(payload, &["effort"])
                    .or_else(|| {
                        str_at(
                            payload,
                            &["collaboration_mode", "settings", "reasoning_effort"],
                        )
                    })
                    .or(facts.reasoning_effort.take());
            }
            "world_state" => {
                if let Some(text) = str_at(payload, &["state", "agents_md", "text"]) {
                    facts.agents_md_text = Some(text);
                }
            }
            "response_item" => match str_at(payload, &["type"]).as_deref() {
                Some("message") if str_at(payload, &["role"]).as_deref() == Some("user") => {
                    let kinds = payload
                        .pointer("/internal_chat_message_metadata_passthrough/content_item_kinds")
                        .and_then(Value::as_array);
                    let is_prompt = kinds.is_some_and(|k| k.iter().any(|v| v == "user.text"));
                    if is_prompt {
                        if let Some(text) =
                            payload.pointer("/content/0/text").and_then(Value::as_str)
                        {
                            facts.prompts.push(text.to_string());
                        }
                    }
                }
                Some("function_call" | "custom_tool_call") => {
                    facts.tool_calls += 1;
                    calls_in_response += 1;
                }
                _ => {}
            },
            "token_usage_record" => {
                if calls_in_response > 1 {
                    facts.parallel_responses += 1;
                }
                calls_in_response = 0;
            }
            "event_msg" => match str_at(payload, &["type"]).as_deref() {
                Some("turn_aborted") => facts.interrupted = true,
                Some("token_count") => {
                    let total = payload.pointer("/info/total_token_usage");
                    let n = |key: &str| total.and_then(|t| t.get(key)).and_then(Value::as_u64);
                    if let (Some(input), Some(output)) = (n("input_tokens"), n("output_tokens")) {
                        facts.token_usage = Some((input, output));
                    }
                }
                Some("task_complete") => {
                    facts.task_error = str_at(payload, &["error", "message"]);
                }
                Some("item_completed")
                    if str_at(payload, &["item", "type"]).as_deref() == Some("FileChange") =>
                {
                    if let Some(changes) =
                        payload.pointer("/item/changes").and_then(Value::as_object)
                    {
                        facts.file_changes.extend(changes.keys().cloned());
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    facts
}

/// The model's responses, in order: the items Codex acted on, grouped by `token_usage_record`.
pub fn model_turns(bytes: &[u8]) -> Vec<ModelTurn> {
    let mut turns = Vec::new();
    let mut current: Vec<Value> = Vec::new();
    for value in lines(bytes) {
        match value.get("type").and_then(Value::as_str) {
            Some("response_item") => {
                let Some(mut payload) = value.get("payload").cloned() else {
                    continue;
                };
                let item_type = str_at(&payload, &["type"]).unwrap_or_default();
                let is_output = match item_type.as_str() {
                    "reasoning" | "function_call" | "custom_tool_call" => true,
                    "message" => str_at(&payload, &["role"]).as_deref() == Some("assistant"),
                    _ => false,
                };
                if is_output {
                    if let Some(obj) = payload.as_object_mut() {
                        obj.remove("internal_chat_message_metadata_passthrough");
                    }
                    current.push(payload);
                }
            }
            Some("token_usage_record") => {
                let usage = value.pointer("/payload/usage").cloned();
                turns.push(ModelTurn {
                    items: std::mem::take(&mut current),
                    usage,
                });
            }
            _ => {}
        }
    }
    if !current.is_empty() {
        turns.push(ModelTurn {
            items: current,
            usage: None,
        });
    }
    turns
}

/// The JSON lines of a reader, one at a time; lines over `MAX_LINE` and lines that are not JSON
/// are skipped, as by `lines`. A read error ends the iteration.
struct ReaderLines<R> {
    reader: R,
    buf: Vec<u8>,
}

impl<R: std::io::BufRead> Iterator for ReaderLines<R> {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        use std::io::{BufRead as _, Read as _};
        loop {
            self.buf.clear();
            let n = (&mut self.reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .ok()?;
            if n == 0 {
                return None;
            }
            if self.buf.len() > MAX_LINE {
                // Too long: skip to the end of this line without holding it.
                while self.buf.last() != Some(&b'\n') {
                    self.buf.clear();
                    let m = (&mut self.reader)
                        .take(1 << 20)
                        .read_until(b'\n', &mut self.buf)
                        .ok()?;
                    if m == 0 {
                        return None;
                    }
                }
                continue;
            }
            let line = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            if line.is_empty() {
                continue;
            }
            if let Ok(value) = serde_json::from_slice::<Value>(line) {
                return Some(value);
            }
        }
    }
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = Value> + '_ {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l.len() <= MAX_LINE)
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
}

fn str_at(value: &Value, path: &[&str]) -> Option<String> {
    let mut cursor = value;
    for key in path {
        cursor = cursor.get(key)?;
    }
    cursor.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_line_by_line_gives_the_same_facts() {
        let mut long = ROLLOUT.as_bytes().to_vec();
        // An over-long line in the middle is skipped by both readers.
        long.extend_from_slice(&vec![b'x'; MAX_LINE + 10]);
        long.push(b'\n');
        long.extend_from_slice(ROLLOUT.as_bytes());
        for bytes in [ROLLOUT.as_bytes(), long.as_slice()] {
            let whole = facts(bytes);
            let streamed = facts_from_reader(std::io::BufReader::new(bytes));
            assert_eq!(format!("{whole:?}"), format!("{streamed:?}"));
        }
        assert!(facts(ROLLOUT.as_bytes()).thread_id.is_some());
    }

    const ROLLOUT: &str = r#"{"timestamp":"t","type":"session_meta","payload":{"id":"th","cwd":"/r","cli_version":"0.169.0","git":{"commit_hash":"abc","branch":"main"}}}
{"timestamp":"t","type":"world_state","payload":{"full":true,"state":{"agents_md":{"directory":"/r","text":"ROOT\n"}}}}
{"timestamp":"t","type":"turn_context","payload":{"model":"gpt-5.5","approval_policy":"never","sandbox_policy":{"type":"workspace-write"},"collaboration_mode":{"settings":{"reasoning_effort":null}}}}
{"timestamp":"t","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"do it"}],"internal_chat_message_metadata_passthrough":{"content_item_kinds":["user.text"]}}}
{"timestamp":"t","type":"response_item","payload":{"type":"reasoning","id":"rs_1","summary":[]}}
{"timestamp":"t","type":"response_item","payload":{"type":"custom_tool_call","call_id":"c1","name":"apply_patch","input":"*** Begin Patch\n*** End Patch","internal_chat_message_metadata_passthrough":{"turn_id":"x"}}}
{"timestamp":"t","type":"response_item","payload":{"type":"function_call","call_id":"c2","name":"exec_command","arguments":"{}"}}
{"timestamp":"t","type":"token_usage_record","payload":{"response_id":"resp_000","usage":{"input_tokens":1}}}
{"timestamp":"t","type":"event_msg","payload":{"type":"item_completed","item":{"type":"FileChange","changes":{"/r/a.txt":{"type":"add","content":"hi\n"}}}}}
{"timestamp":"t","type":"response_item","payload":{"type":"custom_tool_call_output","call_id":"c1","output":"ok"}}
{"timestamp":"t","type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Done."}]}}
{"timestamp":"t","type":"token_usage_record","payload":{"response_id":"resp_001","usage":{"input_tokens":2}}}
{"timestamp":"t","type":"event_msg","payload":{"type":"task_complete","last_agent_message":"Done."}}
{"truncated":"#;

    #[test]
    fn facts_from_a_rollout() {
        let f = facts(ROLLOUT.as_bytes());
        assert_eq!(f.cli_version.as_deref(), Some("0.169.0"));
        assert_eq!(f.model.as_deref(), Some("gpt-5.5"));
        assert_eq!(f.sandbox.as_deref(), Some("workspace-write"));
        assert_eq!(f.agents_md_text.as_deref(), Some("ROOT\n"));
        assert_eq!(f.prompts, ["do it"]);
        assert_eq!(f.file_changes, ["/r/a.txt"]);
        assert_eq!((f.tool_calls, f.parallel_responses), (2, 1));
        assert!(!f.interrupted);
    }

    #[test]
    fn turns_for_replay() {
        let turns = model_turns(ROLLOUT.as_bytes());
        assert_eq!(turns.len(), 2);
        assert_eq!(turns[0].items.len(), 3);
        assert!(
            turns[0].items[1]
                .get("internal_chat_message_metadata_passthrough")
                .is_none()
        );
        assert_eq!(turns[1].items[0]["role"], "assistant");
        assert_eq!(turns[1].usage.as_ref().unwrap()["input_tokens"], 2);
    }
}
