//! A Responses-API endpoint on loopback that serves scripted model outputs to the real Codex CLI.
//!
//! `replay --mode recorded` serves the outputs recorded in a run's rollout, turn by turn, so Codex
//! re-executes the same tool calls with no model and no network; `demo` serves a bundled example;
//! the test suite scripts its scenarios with it.
//!
//! - Protocol: `POST …/responses`, answered with an SSE stream (`response.created`, one
//!   `response.output_item.done` per item, `response.completed` with usage), closed after the
//!   last event. Codex sends plain JSON with a `content-length` and opens a new connection per
//!   turn (observed with 0.169.0).
//! - Turn selection is stateless: turn N is served when the request's `input` already holds N
//!   model responses (runs of model-output items). Retries and resumed threads land on the right
//!   turn without any per-connection state.
//! - It binds loopback only, caps request sizes, and records every request for inspection.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

/// The proxy variables that, pointed at a closed loopback port (`CLOSED_PROXY`), keep a Codex
/// run talking to this endpoint from reaching anything else.
pub const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];
pub const CLOSED_PROXY: &str = "http://127.0.0.1:9";

const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// One scripted model response.
#[derive(Clone, Debug, PartialEq)]
pub enum Turn {
    /// Output items, served as one successful response.
    Items {
        items: Vec<Value>,
        usage: Option<Value>,
    },
    /// An HTTP error status with a body.
    HttpError { status: u16, body: String },
    /// An SSE `response.failed` event.
    StreamFailed { message: String },
    /// Never answer (until the server stops): for interrupt tests.
    Hang,
}

/// A request as received.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// The turn that was served (its index in the script), if any.
    pub turn: Option<usize>,
}

pub struct ModelServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<ReceivedRequest>>>,
    thread: Option<JoinHandle<()>>,
}

impl ModelServer {
    /// Starts serving `turns` on `127.0.0.1:port` (0 picks a free port).
    pub fn start(turns: Vec<Turn>, port: u16) -> io::Result<ModelServer> {
        ModelServer::start_with_latency(turns, port, Duration::ZERO)
    }

    /// [`ModelServer::start`], each answer held back by `latency` as a real model's would be
    /// (benchmarks of what `wrap` does while Codex waits).
    pub fn start_with_latency(
        turns: Vec<Turn>,
        port: u16,
        latency: Duration,
    ) -> io::Result<ModelServer> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let turns = Arc::new(turns);
        let thread = {
            let stop = Arc::clone(&stop);
            let requests = Arc::clone(&requests);
            std::thread::spawn(move || accept_loop(listener, turns, stop, requests, latency))
        };
        Ok(ModelServer {
            addr,
            stop,
            requests,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT/v1`, for `model_providers.<id>.base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Stops accepting and waits for the accept loop to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Stops serving, keeping the value (and the requests it received) around.
    pub fn halt(&mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(
    listener: TcpListener,
    turns: Arc<Vec<Turn>>,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<ReceivedRequest>>>,
    latency: Duration,
) {
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let turns = Arc::clone(&turns);
                let stop = Arc::clone(&stop);
                let requests = Arc::clone(&requests);
                handlers.push(std::thread::spawn(move || {
                    let _ = handle(stream, &turns, &stop, &requests, latency);
                }));
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
        handlers.retain(|h| !h.is_finished());
    }
    for h in handlers {
        let _ = h.join();
    }
}

fn handle(
    stream: TcpStream,
    turns: &[Turn],
    stop: &AtomicBool,
    requests: &Mutex<Vec<ReceivedRequest>>,
    latency: Duration,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    // Serve requests on this connection until the client closes it.
    loop {
        let Some((method, path, headers)) = read_head(&mut reader)? else {
            return Ok(());
        };
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        if length > MAX_BODY_BYTES {
            return respond(
                &mut writer,
                413,
                "application/json",
                br#"{"error":{"message":"request too large"}}"#,
                false,
            );
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if method != "POST" || !path.ends_with("/responses") {
            respond(
                &mut writer,
                404,
                "application/json",
                br#"{"error":{"message":"not found"}}"#,
                true,
            )?;
            continue;
        }
        let turn_index = count_model_responses(&body);
        if let Ok(mut r) = requests.lock() {
            r.push(ReceivedRequest {
                method: method.clone(),
                path: path.clone(),
                headers: headers.clone(),
                body: body.clone(),
                turn: (turn_index < turns.len()).then_some(turn_index),
            });
        }
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        match turns.get(turn_index) {
            None => {
                let msg = format!(
                    r#"{{"error":{{"message":"the script has {} turns and turn {} was requested","type":"invalid_request_error"}}}}"#,
                    turns.len(),
                    turn_index + 1
                );
                respond(&mut writer, 400, "application/json", msg.as_bytes(), false)?;
                return Ok(());
            }
            Some(Turn::HttpError { status, body }) => {
                respond(
                    &mut writer,
                    *status,
                    "application/json",
                    body.as_bytes(),
                    true,
                )?;
                continue;
            }
            Some(Turn::Hang) => {
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return Ok(());
            }
            Some(Turn::StreamFailed { message }) => {
                let events = vec![
                    (
                        "response.created",
                        json!({"type": "response.created", "response": {"id": format!("resp_{turn_index:03}")}}),
                    ),
                    (
                        "response.failed",
                        json!({"type": "response.failed", "response": {"id": format!("resp_{turn_index:03}"), "error": {"code": "server_error", "message": message}}}),
                    ),
                ];
                return write_sse(&mut writer, &events);
            }
            Some(Turn::Items { items, usage }) => {
                let id = format!("resp_{turn_index:03}");
                let mut events = vec![(
                    "response.created",
                    json!({"type": "response.created", "response": {"id": id}}),
                )];
                for (i, item) in items.iter().enumerate() {
                    events.push((
                        "response.output_item.done",
                        json!({"type": "response.output_item.done", "output_index": i, "item": item}),
                    ));
                }
                let usage = usage.clone().unwrap_or_else(default_usage);
                events.push((
                    "response.completed",
                    json!({"type": "response.completed", "response": {"id": id, "usage": usage}}),
                ));
                return write_sse(&mut writer, &events);
            }
        }
    }
}

fn default_usage() -> Value {
    json!({
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 10,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 110
    })
}

/// Model responses already in the request's history: runs of model-output items.
fn count_model_responses(body: &Value) -> usize {
    let Some(input) = body.get("input").and_then(Value::as_array) else {
        return 0;
    };
    let mut count = 0;
    let mut in_group = false;
    for item in input {
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message");
        let role = item.get("role").and_then(Value::as_str);
        let is_output = matches!(kind, "reasoning" | "function_call" | "custom_tool_call")
            || (kind == "message" && role == Some("assistant"));
        if is_output && !in_group {
            count += 1;
        }
        in_group = is_output;
    }
    count
}

type Head = (String, String, Vec<(String, String)>);

fn read_head(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Head>> {
    let mut total = 0;
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(None);
    }
    total += request_line.len();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        total += n;
        if n == 0 || total > MAX_HEADER_BYTES {
            return Ok(None);
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Ok(Some((method, path, headers)))
}

fn respond(
    writer: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: {}\r\n\r\n",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    writer.write_all(head.as_bytes())?;
    writer.write_all(body)?;
    writer.flush()
}

fn write_sse(writer: &mut TcpStream, events: &[(&str, Value)]) -> io::Result<()> {
    let mut body = String::new();
    for (name, data) in events {
        body.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    writer.write_all(head.as_bytes())?;
    writer.write_all(body.as_bytes())?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(port: u16, body: &Value) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let body = body.to_string();
        write!(
            stream,
            "POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_turns_by_history() {
        let message = json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]});
        let call = json!({"type": "function_call", "name": "exec_command", "call_id": "c1", "arguments": "{}"});
        let server = ModelServer::start(
            vec![
                Turn::Items {
                    items: vec![call.clone()],
                    usage: None,
                },
                Turn::Items {
                    items: vec![message.clone()],
                    usage: None,
                },
            ],
            0,
        )
        .unwrap();
        let first = post(
            server.port(),
            &json!({"input": [{"type": "message", "role": "user", "content": []}]}),
        );
        assert!(first.starts_with("HTTP/1.1 200 OK"));
        assert!(first.contains("event: response.output_item.done"));
        assert!(first.contains("exec_command"));
        let second = post(
            server.port(),
            &json!({"input": [{"type": "message", "role": "user"}, call, {"type": "function_call_output", "call_id": "c1", "output": "ok"}]}),
        );
        assert!(second.contains("Done."));
        let third = post(
            server.port(),
            &json!({"input": [call, {"type": "function_call_output"}, message]}),
        );
        assert!(third.starts_with("HTTP/1.1 400"), "{third}");
        assert_eq!(server.requests().len(), 3);
        server.stop();
    }

    #[test]
    fn counting_groups() {
        let body = json!({"input": [
            {"type": "message", "role": "developer"},
            {"type": "reasoning"}, {"type": "custom_tool_call"}, {"type": "function_call"},
            {"type": "custom_tool_call_output"}, {"type": "function_call_output"},
            {"type": "message", "role": "assistant"},
            {"type": "message", "role": "user"},
        ]});
        assert_eq!(count_model_responses(&body), 2);
        assert_eq!(count_model_responses(&json!({})), 0);
    }
}
