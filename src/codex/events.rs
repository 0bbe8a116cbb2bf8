//! Reading the `codex exec --json` event stream as it passes through, one line at a time.
//!
//! Only what provenance needs is kept (the thread id, token usage, how the turn ended, the paths
//! of file changes and how many commands ran), so memory stays constant however much Codex
//! prints. Lines that are not JSON, or not events we know, are ignored: the stream is also
//! stored whole.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::predicate::TokenUsage;

/// Lines longer than this are not parsed (they still pass through and are stored).
pub const MAX_EVENT_LINE: usize = 4 * 1024 * 1024;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventSummary {
    pub thread_id: Option<String>,
    /// From the last `turn.completed` (Codex reports it cumulatively for the thread).
    pub usage: Option<TokenUsage>,
    pub turn_completed: bool,
    pub turn_failed: Option<String>,
    /// Absolute paths named by `file_change` items.
    pub file_change_paths: BTreeSet<String>,
    pub commands: usize,
    pub lines: u64,
    pub unparsed_lines: u64,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    thread_id: Option<String>,
    #[serde(default)]
    usage: Option<RawUsage>,
    #[serde(default)]
    error: Option<RawError>,
    #[serde(default)]
    item: Option<RawItem>,
}

#[derive(Deserialize)]
struct RawUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    cached_input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    reasoning_output_tokens: u64,
}

#[derive(Deserialize)]
struct RawError {
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct RawItem {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    changes: Vec<RawChange>,
}

#[derive(Deserialize)]
struct RawChange {
    path: String,
}

impl EventSummary {
    /// Feeds one line (without its newline).
    pub fn feed_line(&mut self, line: &[u8]) {
        self.lines += 1;
        if line.len() > MAX_EVENT_LINE {
            self.unparsed_lines += 1;
            return;
        }
        let Ok(event) = serde_json::from_slice::<RawEvent>(line) else {
            self.unparsed_lines += 1;
            return;
        };
        match event.kind.as_str() {
            "thread.started" if self.thread_id.is_none() => self.thread_id = event.thread_id,
            "turn.completed" => {
                self.turn_completed = true;
                if let Some(u) = event.usage {
                    self.usage = Some(TokenUsage {
                        input_tokens: u.input_tokens,
                        cached_input_tokens: u.cached_input_tokens,
                        output_tokens: u.output_tokens,
                        reasoning_output_tokens: u.reasoning_output_tokens,
                    });
                }
            }
            "turn.failed" => {
                self.turn_failed = Some(event.error.map(|e| e.message).unwrap_or_default());
            }
            "item.completed" => {
                if let Some(item) = event.item {
                    match item.kind.as_str() {
                        "file_change" => {
                            self.file_change_paths
                                .extend(item.changes.into_iter().map(|c| c.path));
                        }
                        "command_execution" => self.commands += 1,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_a_real_stream() {
        let stream = [
            r#"{"type":"thread.started","thread_id":"01a20c9e-bcf1-7513-9524-2c0f9cf00e7e"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"item.completed","item":{"id":"item_0","type":"file_change","changes":[{"path":"/r/a.txt","kind":"add"},{"path":"/r/b.txt","kind":"update"}],"status":"completed"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"x","aggregated_output":"","exit_code":0,"status":"completed"}}"#,
            "not json",
            r#"{"type":"turn.completed","usage":{"input_tokens":200,"cached_input_tokens":0,"cache_write_input_tokens":0,"output_tokens":20,"reasoning_output_tokens":0}}"#,
        ];
        let mut s = EventSummary::default();
        for line in stream {
            s.feed_line(line.as_bytes());
        }
        assert_eq!(
            s.thread_id.as_deref(),
            Some("01a20c9e-bcf1-7513-9524-2c0f9cf00e7e")
        );
        assert_eq!(s.usage.as_ref().unwrap().input_tokens, 200);
        assert!(s.turn_completed);
        assert_eq!(s.file_change_paths.len(), 2);
        assert_eq!(s.commands, 1);
        assert_eq!((s.lines, s.unparsed_lines), (6, 1));
    }
}
