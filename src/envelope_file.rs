//! Reading envelope files: `.intoto.jsonl` (one DSSE envelope per line, the in-toto bundle
//! convention) and single-envelope JSON files, pretty-printed or not.
//!
//! - A line that is JSON but not a DSSE envelope is skipped and reported, as the in-toto bundle
//!   spec requires consumers to ignore lines they do not recognize.
//! - A line that is not JSON at all makes the file unreadable: the gate cannot tell what it was
//!   meant to hold.
//! - One envelope may be at most `MAX_ENVELOPE_BYTES`; larger input is refused before parsing.
//! - A Sigstore bundle (`.sigstore.json`, or a line of JSON Lines) counts as an envelope with its
//!   verification material attached; a malformed bundle makes the file unreadable.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::dsse::Envelope;
use crate::sigstore::bundle::{Bundle, looks_like_bundle};

/// The largest envelope we parse (GitHub caps predicates at 16 MB; this leaves room).
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024 * 1024;

/// An envelope and where it came from.
#[derive(Clone, Debug)]
pub struct LocatedEnvelope {
    pub location: Location,
    pub envelope: Envelope,
    /// The Sigstore bundle the envelope came in, if it came in one.
    pub bundle: Option<Box<Bundle>>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based line of a `.intoto.jsonl` entry; `None` for a single-envelope file.
    pub line: Option<usize>,
}

/// Everything read from one file.
#[derive(Debug, Default)]
pub struct EnvelopeFile {
    pub envelopes: Vec<LocatedEnvelope>,
    /// Lines that held JSON that is not a DSSE envelope (1-based line numbers).
    pub skipped_lines: Vec<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{file}: {source}")]
    Io { file: PathBuf, source: io::Error },
    #[error("{file}: the file is empty")]
    Empty { file: PathBuf },
    #[error("{}: {} is larger than the {} MiB envelope limit", .file.display(), where_(*.line), MAX_ENVELOPE_BYTES / (1024 * 1024))]
    TooLarge { file: PathBuf, line: Option<usize> },
    #[error("{}: {} is not JSON ({detail})", .file.display(), where_(*.line))]
    NotJson {
        file: PathBuf,
        line: Option<usize>,
        detail: String,
    },
    #[error("{}: {} is not a DSSE envelope ({detail})", .file.display(), where_(*.line))]
    NotEnvelope {
        file: PathBuf,
        line: Option<usize>,
        detail: String,
    },
    #[error("{}: {} is not a usable Sigstore bundle ({detail})", .file.display(), where_(*.line))]
    NotBundle {
        file: PathBuf,
        line: Option<usize>,
        detail: String,
    },
    #[error("{}: holds no DSSE envelope", .file.display())]
    NoEnvelopes { file: PathBuf },
}

fn where_(line: Option<usize>) -> String {
    match line {
        Some(n) => format!("line {n}"),
        None => "the content".to_string(),
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// Reads every envelope in a file.
pub fn read_envelope_file(path: &Path) -> Result<EnvelopeFile, ReadError> {
    let io_err = |source| ReadError::Io {
        file: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut lines: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut line_no = 0usize;
    let mut total = 0usize;
    loop {
        let mut line = Vec::new();
        let n = (&mut reader)
            .take(MAX_ENVELOPE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(io_err)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line.len() > MAX_ENVELOPE_BYTES {
            return Err(ReadError::TooLarge {
                file: path.to_path_buf(),
                line: Some(line_no),
            });
        }
        total += line.len();
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines.push((line_no, line));
    }
    if lines.is_empty() {
        return Err(ReadError::Empty {
            file: path.to_path_buf(),
        });
    }
    // A single envelope may be pretty-printed over many lines: when the first line does not
    // parse alone, parse the file as one JSON document.
    let first_alone = serde_json::from_slice::<serde_json::Value>(&lines[0].1);
    if first_alone.is_err() && lines.len() > 1 {
        if total > MAX_ENVELOPE_BYTES {
            return Err(ReadError::TooLarge {
                file: path.to_path_buf(),
                line: None,
            });
        }
        let first_line = lines[0].0;
        let whole: Vec<u8> = lines.into_iter().flat_map(|(_, l)| l).collect();
        let value: serde_json::Value = match serde_json::from_slice(&whole) {
            Ok(value) => value,
            // Neither one document nor JSON Lines: report the first line that failed.
            Err(_) => {
                let detail = first_alone.err().map(|e| e.to_string()).unwrap_or_default();
                return Err(ReadError::NotJson {
                    file: path.to_path_buf(),
                    line: Some(first_line),
                    detail,
                });
            }
        };
        let (envelope, bundle) = to_envelope_or_bundle(value, path, None)?;
        let location = Location {
            file: path.to_path_buf(),
            line: None,
        };
        return Ok(EnvelopeFile {
            envelopes: vec![LocatedEnvelope {
                location,
                envelope,
                bundle,
            }],
            skipped_lines: Vec::new(),
        });
    }
    let single_line = lines.len() == 1;
    let mut out = EnvelopeFile::default();
    for (line_no, line) in lines {
        let line_ref = if single_line && !path_is_jsonl(path) {
            None
        } else {
            Some(line_no)
        };
        let value: serde_json::Value =
            serde_json::from_slice(&line).map_err(|err| ReadError::NotJson {
                file: path.to_path_buf(),
                line: line_ref,
                detail: err.to_string(),
            })?;
        if !looks_like_envelope(&value) && !looks_like_bundle(&value) {
            if single_line {
                return Err(ReadError::NotEnvelope {
                    file: path.to_path_buf(),
                    line: line_ref,
                    detail: "no `payload`, `payloadType` and `signatures`".to_string(),
                });
            }
            out.skipped_lines.push(line_no);
            continue;
        }
        let (envelope, bundle) = to_envelope_or_bundle(value, path, line_ref)?;
        let location = Location {
            file: path.to_path_buf(),
            line: line_ref,
        };
        out.envelopes.push(LocatedEnvelope {
            location,
            envelope,
            bundle,
        });
    }
    if out.envelopes.is_empty() {
        return Err(ReadError::NoEnvelopes {
            file: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// Parses envelopes from in-memory JSON Lines (for stored runs and git notes), skipping lines
/// that are not envelopes. Returns `(line, envelope)` pairs.
pub fn parse_envelope_lines(text: &[u8]) -> Vec<(usize, Envelope)> {
    text.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| line.len() <= MAX_ENVELOPE_BYTES)
        .filter_map(|(i, line)| {
            let value: serde_json::Value = serde_json::from_slice(line).ok()?;
            if !looks_like_envelope(&value) {
                return None;
            }
            to_envelope(value).ok().map(|e| (i + 1, e))
        })
        .collect()
}

fn path_is_jsonl(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "jsonl")
}

fn looks_like_envelope(value: &serde_json::Value) -> bool {
    value.as_object().is_some_and(|o| {
        o.contains_key("payload") || o.contains_key("payloadType") || o.contains_key("signatures")
    })
}

type EnvelopeAndBundle = (Envelope, Option<Box<Bundle>>);

fn to_envelope_or_bundle(
    value: serde_json::Value,
    path: &Path,
    line: Option<usize>,
) -> Result<EnvelopeAndBundle, ReadError> {
    if looks_like_bundle(&value) {
        let bundle = Bundle::from_value(value).map_err(|err| ReadError::NotBundle {
            file: path.to_path_buf(),
            line,
            detail: err.to_string(),
        })?;
        return Ok((bundle.envelope().clone(), Some(Box::new(bundle))));
    }
    let envelope = to_envelope(value).map_err(|detail| ReadError::NotEnvelope {
        file: path.to_path_buf(),
        line,
        detail,
    })?;
    Ok((envelope, None))
}

fn to_envelope(value: serde_json::Value) -> Result<Envelope, String> {
    serde_json::from_value::<Envelope>(value).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(content: &[u8], name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(content)
            .unwrap();
        (dir, path)
    }

    const ENV: &str = r#"{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"keyid":"k","sig":"AA=="}]}"#;

    #[test]
    fn reads_jsonl_and_skips_foreign_lines() {
        let text = format!("{ENV}\n\n{{\"other\":1}}\n{ENV}\n");
        let (_d, path) = write(text.as_bytes(), "a.intoto.jsonl");
        let file = read_envelope_file(&path).unwrap();
        assert_eq!(file.envelopes.len(), 2);
        assert_eq!(file.envelopes[1].location.line, Some(4));
        assert_eq!(file.skipped_lines, vec![3]);
    }

    #[test]
    fn reads_pretty_printed_single_envelope() {
        let value: serde_json::Value = serde_json::from_str(ENV).unwrap();
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let (_d, path) = write(pretty.as_bytes(), "a.json");
        let file = read_envelope_file(&path).unwrap();
        assert_eq!(file.envelopes.len(), 1);
        assert_eq!(file.envelopes[0].location.line, None);
    }

    #[test]
    fn bad_files_are_errors() {
        for (content, expected) in [
            (&b""[..], "empty"),
            (b"not json", "not JSON"),
            (b"{\"a\":1}", "not a DSSE envelope"),
            (
                b"{\"payload\":1,\"payloadType\":\"t\",\"signatures\":[]}",
                "not a DSSE envelope",
            ),
            (b"{\"payload\":\"", "not JSON"),
        ] {
            let (_d, path) = write(content, "x.json");
            let err = read_envelope_file(&path).unwrap_err().to_string();
            assert!(err.contains(expected), "{content:?}: {err}");
        }
        let nested = "[".repeat(10_000);
        let (_d, path) = write(nested.as_bytes(), "deep.json");
        assert!(
            read_envelope_file(&path)
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
    }
}
