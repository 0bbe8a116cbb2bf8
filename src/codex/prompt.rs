//! The prompt exactly as `codex exec` composes it from its argument and standard input
//! (observed with Codex 0.169.0):
//!
//! | argument | stdin (not a terminal)      | prompt                                             |
//! |----------|-----------------------------|----------------------------------------------------|
//! | `P`      | empty                       | `P`                                                |
//! | `P`      | `S`                         | `P\n\n<stdin>\nS` + `\n` if missing + `</stdin>`    |
//! | `-`      | `S`                         | `S` (required)                                     |
//! | none     | `S`                         | `S` (required)                                     |
//!
//! When standard input is a terminal Codex does not read it. Standard input is decoded as UTF-8
//! (a BOM is dropped) or, with a BOM, UTF-16.

/// Where the prompt came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptSource {
    Argument,
    Stdin,
    ArgumentAndStdin,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComposedPrompt {
    pub text: String,
    pub source: PromptSource,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PromptError {
    #[error("no prompt: Codex will exit with \"No prompt provided\"")]
    Missing,
    #[error("standard input is not UTF-8 or UTF-16 text: Codex will reject it")]
    Encoding,
}

impl PromptSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PromptSource::Argument => "argument",
            PromptSource::Stdin => "stdin",
            PromptSource::ArgumentAndStdin => "argument+stdin",
        }
    }
}

/// Composes the prompt. `stdin` is `None` when standard input is a terminal.
pub fn compose(
    argument: Option<&str>,
    stdin: Option<&[u8]>,
) -> Result<ComposedPrompt, PromptError> {
    match argument {
        Some(p) if p != "-" => {
            let extra = match stdin {
                Some(bytes) => decode(bytes)?,
                None => String::new(),
            };
            if extra.trim().is_empty() {
                return Ok(ComposedPrompt {
                    text: p.to_string(),
                    source: PromptSource::Argument,
                });
            }
            let mut text = format!("{p}\n\n<stdin>\n{extra}");
            if !extra.ends_with('\n') {
                text.push('\n');
            }
            text.push_str("</stdin>");
            Ok(ComposedPrompt {
                text,
                source: PromptSource::ArgumentAndStdin,
            })
        }
        _ => {
            let bytes = stdin.ok_or(PromptError::Missing)?;
            let text = decode(bytes)?;
            if text.trim().is_empty() {
                return Err(PromptError::Missing);
            }
            Ok(ComposedPrompt {
                text,
                source: PromptSource::Stdin,
            })
        }
    }
}

fn decode(bytes: &[u8]) -> Result<String, PromptError> {
    if let Some(rest) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        return String::from_utf8(rest.to_vec()).map_err(|_| PromptError::Encoding);
    }
    let utf16 = |rest: &[u8], le: bool| {
        if rest.len() % 2 != 0 {
            return Err(PromptError::Encoding);
        }
        let units: Vec<u16> = rest
            .chunks(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| PromptError::Encoding)
    };
    if let Some(rest) = bytes.strip_prefix(&[0xff, 0xfe]) {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        return utf16(rest, false);
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| PromptError::Encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composition_matches_codex() {
        let c = compose(Some("P"), Some(b"EXTRA STDIN TEXT")).unwrap();
        assert_eq!(c.text, "P\n\n<stdin>\nEXTRA STDIN TEXT\n</stdin>");
        assert_eq!(c.source, PromptSource::ArgumentAndStdin);
        assert_eq!(compose(Some("P"), Some(b"")).unwrap().text, "P");
        assert_eq!(
            compose(Some("P"), None).unwrap().source,
            PromptSource::Argument
        );
        assert_eq!(
            compose(Some("-"), Some(b"PROMPT FROM STDIN\n"))
                .unwrap()
                .text,
            "PROMPT FROM STDIN\n"
        );
        assert_eq!(
            compose(None, Some(b"ONLY STDIN\n")).unwrap().source,
            PromptSource::Stdin
        );
        assert_eq!(compose(None, Some(b"  \n")), Err(PromptError::Missing));
        assert_eq!(compose(None, None), Err(PromptError::Missing));
        assert_eq!(
            compose(Some("-"), Some(b"\xef\xbb\xbfhi")).unwrap().text,
            "hi"
        );
        assert_eq!(
            compose(Some("-"), Some(&[0xff, 0xfe, b'h', 0, b'i', 0]))
                .unwrap()
                .text,
            "hi"
        );
        assert_eq!(
            compose(Some("-"), Some(b"\xff\x00")),
            Err(PromptError::Encoding)
        );
    }
}
