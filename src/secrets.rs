//! Keeping secrets out of everything we write.
//!
//! Three mechanisms, used together:
//!
//! 1. By name: environment variables whose names look secret (`*KEY*`, `*TOKEN*`, `*SECRET*`,
//!    `*PASSWORD*`, `*CREDENTIAL*`, the provider's `env_key`, ...) are never recorded, and their
//!    values are collected for (3).
//! 2. By structure: `-c` overrides whose key path looks secret (`http_headers.*`, `*token*`,
//!    `*api_key*`, ...) have their value replaced by `<redacted>`; URLs lose their credentials.
//! 3. By value: every byte we store that came from Codex or the user (the event log, the rollout
//!    transcript, the prompt, configuration files) is scrubbed of the values collected in (1) and
//!    (2), so a tool command that printed its environment cannot leak a key into the store.
//!
//! What we ignore (and why): values shorter than `MIN_SECRET_LEN` bytes are not scrubbed by value:
//! replacing every occurrence of, say, `1` would destroy the record; such values still never
//! appear where (1) and (2) apply.

use std::borrow::Cow;
use std::io::{self, Read, Write};

use aho_corasick::AhoCorasick;

/// The placeholder written in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// Shorter values are not scrubbed by value.
pub const MIN_SECRET_LEN: usize = 4;

/// Name fragments that mark an environment variable or config key as secret.
const SECRET_NAME_PARTS: &[&str] = &[
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
    "SESSION",
    "PRIVATE",
];

/// Well-known variables whose names match a secret fragment but whose values are not secret
/// (git's author identity matches `AUTH`). Scrubbing them would garble stored text that merely
/// contains a person's name.
const NOT_SECRET_NAMES: &[&str] = &["GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE"];

/// Whether an environment variable name looks secret.
pub fn is_secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    !NOT_SECRET_NAMES.contains(&upper.as_str())
        && SECRET_NAME_PARTS.iter().any(|part| upper.contains(part))
}

/// Whether a dotted config key path (as given to `-c`) names a secret value.
pub fn is_secret_config_key(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    // `env_key` and `env_http_headers` hold the *names* of variables, not their values.
    let last = lower.rsplit('.').next().unwrap_or(&lower);
    if last == "env_key" || lower.contains("env_http_headers") {
        return false;
    }
    if lower
        .split('.')
        .any(|part| part == "http_headers" || part == "headers")
    {
        return true;
    }
    let upper = last.to_ascii_uppercase();
    SECRET_NAME_PARTS.iter().any(|p| upper.contains(p))
}

/// Collects the secret values in an environment: values of secret-looking variables, the
/// variables named in `extra_names` (a provider's `env_key`), and credentials in URLs (proxies,
/// base URLs).
pub fn secret_values<'a>(
    env: impl IntoIterator<Item = (&'a str, &'a str)>,
    extra_names: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in env {
        if is_secret_env_name(name) || extra_names.iter().any(|n| n == name) {
            out.push(value.to_string());
        } else if value.contains("://") {
            // Proxies, and base URLs such as OPENAI_BASE_URL, may carry credentials.
            push_url_userinfo(value, &mut out);
        }
    }
    out.retain(|v| v.len() >= MIN_SECRET_LEN);
    out.sort();
    out.dedup();
    out
}

/// Collects the secret values written in a Codex configuration table: strings under
/// secret-looking keys (`http_headers`, `*token*`, `*key*`, ...; not `env_key`, which names a
/// variable) and the `user:password` of any URL, at any depth.
pub fn secret_values_in_config(table: &toml::Table) -> Vec<String> {
    fn walk(path: &str, value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::String(text) => push_config_value(path, text, out),
            toml::Value::Array(items) => {
                for item in items {
                    walk(path, item, out);
                }
            }
            toml::Value::Table(table) => {
                for (key, value) in table {
                    walk(&format!("{path}.{key}"), value, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (key, value) in table {
        walk(key, value, &mut out);
    }
    out.retain(|v| v.len() >= MIN_SECRET_LEN);
    out.sort();
    out.dedup();
    out
}

/// Collects the secret values of `-c key=value` overrides, the same way as in a configuration
/// file (the value as written, quotes and all, too).
pub fn secret_values_in_overrides(overrides: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in overrides.iter().filter_map(|a| a.split_once('=')) {
        let key = key.trim();
        if is_secret_config_key(key) {
            out.push(value.to_string());
        }
        push_config_value(key, value.trim().trim_matches('"'), &mut out);
    }
    out.retain(|v| v.len() >= MIN_SECRET_LEN);
    out.sort();
    out.dedup();
    out
}

/// The secret parts of one configuration string at dotted `path`: the whole value under a
/// secret-looking key, and its last word (the token of `Bearer <token>`); the credentials of a
/// URL under any key.
fn push_config_value(path: &str, text: &str, out: &mut Vec<String>) {
    if is_secret_config_key(path) {
        out.push(text.to_string());
        if let Some(last) = text.split_whitespace().last() {
            out.push(last.to_string());
        }
    }
    push_url_userinfo(text, out);
}

/// The `user:password` of a URL and its password alone, when the text is such a URL.
fn push_url_userinfo(text: &str, out: &mut Vec<String>) {
    if let Some(userinfo) = url_userinfo(text) {
        out.push(userinfo.to_string());
        if let Some((_, password)) = userinfo.split_once(':') {
            out.push(password.to_string());
        }
    }
}

/// Removes the `user:password@` part of a URL and the values of secret-looking query
/// parameters. Strings that are not URLs come back unchanged.
pub fn strip_url_credentials(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, Some(f)),
                None => (query, None),
            };
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if is_secret_config_key(k) => format!("{k}={REDACTED}"),
                    _ => pair.to_string(),
                })
                .collect();
            let mut out = format!("{path}?{}", query.join("&"));
            if let Some(f) = fragment {
                out.push('#');
                out.push_str(f);
            }
            out
        }
        None => tail.to_string(),
    };
    format!("{scheme}{host}{tail}")
}

/// The `user:password` of a URL, if any.
fn url_userinfo(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority
        .rfind('@')
        .map(|at| &authority[..at])
        .filter(|u| !u.is_empty())
}

/// Redacts one `-c key=value` override for the record.
pub fn redact_config_override(assignment: &str) -> String {
    match assignment.split_once('=') {
        Some((key, _)) if is_secret_config_key(key.trim()) => format!("{key}={REDACTED}"),
        Some((key, value)) => {
            // A TOML string value keeps its quotes around the cleaned URL.
            let cleaned = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) => format!("\"{}\"", strip_url_credentials(inner)),
                None => strip_url_credentials(value),
            };
            format!("{key}={cleaned}")
        }
        None => assignment.to_string(),
    }
}

/// Replaces known secret values wherever they occur.
pub struct Scrubber {
    matcher: Option<AhoCorasick>,
    longest: usize,
}

impl Scrubber {
    pub fn new(values: &[String]) -> Scrubber {
        let values: Vec<&String> = values
            .iter()
            .filter(|v| v.len() >= MIN_SECRET_LEN)
            .collect();
        let longest = values.iter().map(|v| v.len()).max().unwrap_or(0);
        let matcher = if values.is_empty() {
            None
        } else {
            // Building the automaton from plain strings cannot fail below its size limits.
            AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(&values)
                .ok()
        };
        Scrubber { matcher, longest }
    }

    /// Whether there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// Scrubs a byte string.
    pub fn scrub<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        match &self.matcher {
            Some(m) if m.is_match(bytes) => {
                Cow::Owned(m.replace_all_bytes(bytes, &vec![REDACTED.as_bytes(); m.patterns_len()]))
            }
            _ => Cow::Borrowed(bytes),
        }
    }

    /// Scrubs a stream in bounded memory.
    pub fn scrub_stream(&self, reader: &mut dyn Read, writer: &mut dyn Write) -> io::Result<()> {
        let mut out = ScrubWriter::new(self, writer);
        io::copy(reader, &mut out)?;
        out.finish()
    }
}

/// A writer that scrubs secrets from what passes through it, holding back at most the length of
/// the longest secret so that a secret split across writes is still caught.
pub struct ScrubWriter<'a, W: Write> {
    scrubber: &'a Scrubber,
    inner: W,
    pending: Vec<u8>,
}

impl<'a, W: Write> ScrubWriter<'a, W> {
    pub fn new(scrubber: &'a Scrubber, inner: W) -> ScrubWriter<'a, W> {
        ScrubWriter {
            scrubber,
            inner,
            pending: Vec::new(),
        }
    }

    /// Writes what is held back. Must be called at the end of the stream.
    pub fn finish(mut self) -> io::Result<()> {
        let rest = std::mem::take(&mut self.pending);
        self.inner.write_all(&self.scrubber.scrub(&rest))?;
        self.inner.flush()
    }
}

impl<W: Write> Write for ScrubWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(matcher) = &self.scrubber.matcher else {
            self.inner.write_all(buf)?;
            return Ok(buf.len());
        };
        self.pending.extend_from_slice(buf);
        // A match starting before `cut` lies wholly in `pending` whatever comes next; later
        // starts wait for more input.
        let cut = self
            .pending
            .len()
            .saturating_sub(self.scrubber.longest.saturating_sub(1));
        let mut pos = 0;
        for m in matcher.find_iter(&self.pending) {
            if m.start() >= cut {
                break;
            }
            self.inner.write_all(&self.pending[pos..m.start()])?;
            self.inner.write_all(REDACTED.as_bytes())?;
            pos = m.end();
        }
        let keep_from = pos.max(cut);
        self.inner.write_all(&self.pending[pos..keep_from])?;
        self.pending.drain(..keep_from);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_written_in_a_config_file_are_found() {
        let table: toml::Table = toml::from_str(
            r#"
model = "gpt-5.5"
experimental_bearer_token = "bearer-canary-0001"
[model_providers.p]
name = "provider-name"
env_key = "PROVIDER_KEY_VARIABLE"
base_url = "https://someone:url-password-0002@llm.example/v1"
http_headers = { "X-Org" = "header-value-0003", "Authorization" = "Bearer bearer-word-0006" }
[mcp_servers.s]
command = "server"
env = { API_TOKEN = "token-canary-0004" }
"#,
        )
        .unwrap();
        let found = secret_values_in_config(&table);
        for secret in [
            "bearer-canary-0001",
            "url-password-0002",
            "someone:url-password-0002",
            "header-value-0003",
            "token-canary-0004",
            "bearer-word-0006",
        ] {
            assert!(
                found.iter().any(|f| f == secret),
                "{secret} not in {found:?}"
            );
        }
        for plain in [
            "gpt-5.5",
            "provider-name",
            "PROVIDER_KEY_VARIABLE",
            "server",
        ] {
            assert!(!found.iter().any(|f| f == plain), "{plain} in {found:?}");
        }
    }

    #[test]
    fn overrides_are_read_like_config_files() {
        let found = secret_values_in_overrides(&[
            "model_providers.p.http_headers.Authorization=\"Bearer override-token-0007\""
                .to_string(),
            "model_providers.p.base_url=\"https://u:override-pw-0008@llm.example/v1\"".to_string(),
            "model=\"gpt-5.5\"".to_string(),
        ]);
        for secret in [
            "\"Bearer override-token-0007\"",
            "Bearer override-token-0007",
            "override-token-0007",
            "override-pw-0008",
        ] {
            assert!(
                found.iter().any(|f| f == secret),
                "{secret} not in {found:?}"
            );
        }
        assert!(!found.iter().any(|f| f.contains("gpt-5.5")), "{found:?}");
    }

    #[test]
    fn credentials_in_any_url_variable_are_secret() {
        let found = secret_values(
            [(
                "OPENAI_BASE_URL",
                "https://u:base-url-pw-0005@llm.example/v1",
            )],
            &[],
        );
        assert!(found.iter().any(|f| f == "base-url-pw-0005"), "{found:?}");
    }

    #[test]
    fn secret_env_names() {
        for name in [
            "OPENAI_API_KEY",
            "CODEX_API_KEY",
            "GITHUB_TOKEN",
            "MY_SECRET",
            "db_password",
            "GIT_AUTH_TOKEN",
            // OIDC tokens for keyless signing, and GitHub's request for one.
            "SIGSTORE_ID_TOKEN",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
        ] {
            assert!(is_secret_env_name(name), "{name}");
        }
        for name in [
            "PATH",
            "HOME",
            "CODEX_HOME",
            "LANG",
            "GIT_AUTHOR_NAME",
            "git_author_email",
        ] {
            assert!(!is_secret_env_name(name), "{name}");
        }
    }

    #[test]
    fn config_overrides_are_redacted_by_key() {
        assert_eq!(
            redact_config_override("model_providers.x.http_headers.Authorization=\"Bearer abc\""),
            "model_providers.x.http_headers.Authorization=<redacted>"
        );
        assert_eq!(
            redact_config_override("api_key=sk-123"),
            "api_key=<redacted>"
        );
        assert_eq!(
            redact_config_override("model_providers.x.env_key=\"MY_KEY\""),
            "model_providers.x.env_key=\"MY_KEY\""
        );
        assert_eq!(
            redact_config_override("model=\"gpt-5.5\""),
            "model=\"gpt-5.5\""
        );
        assert_eq!(
            redact_config_override("model_providers.x.base_url=\"https://u:p@h/v1?api_key=k\""),
            "model_providers.x.base_url=\"https://h/v1?api_key=<redacted>\""
        );
    }

    #[test]
    fn url_credentials_are_stripped() {
        assert_eq!(
            strip_url_credentials("https://user:pw@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(
            strip_url_credentials("https://TOKEN@github.com/o/r"),
            "https://github.com/o/r"
        );
        assert_eq!(
            strip_url_credentials("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
        assert_eq!(
            strip_url_credentials("http://127.0.0.1:8080/v1"),
            "http://127.0.0.1:8080/v1"
        );
        assert_eq!(
            strip_url_credentials("https://h/p?a=1&token=x#f"),
            "https://h/p?a=1&token=<redacted>#f"
        );
    }

    #[test]
    fn secret_values_include_proxy_passwords() {
        let env = [
            ("OPENAI_API_KEY", "sk-live-123"),
            ("HTTPS_PROXY", "http://bob:hunter22@proxy:3128"),
            ("PATH", "/usr/bin"),
            ("SHORT_TOKEN", "ab"),
            ("LOCAL_MODEL", "provider-key-xyz"),
        ];
        let values = secret_values(env, &["LOCAL_MODEL".to_string()]);
        assert_eq!(
            values,
            vec![
                "bob:hunter22",
                "hunter22",
                "provider-key-xyz",
                "sk-live-123"
            ]
        );
    }

    #[test]
    fn scrubbing_replaces_every_occurrence_in_bytes_and_streams() {
        let scrubber = Scrubber::new(&["sk-live-123".to_string(), "hunter22".to_string()]);
        let text = b"a sk-live-123 b hunter22 c sk-live-123";
        assert_eq!(
            &*scrubber.scrub(text),
            b"a <redacted> b <redacted> c <redacted>"
        );
        // A long stream with secrets straddling buffer boundaries, and one secret that is a
        // prefix of another (the longer one must win).
        let scrubber = Scrubber::new(&[
            "sk-live-123".to_string(),
            "hunter22".to_string(),
            "sk-live".to_string(),
        ]);
        let mut big = vec![b'x'; 256 * 1024 - 4];
        big.extend_from_slice(b"sk-live-123");
        big.extend(vec![b'y'; 100_000]);
        big.extend_from_slice(b"hunter22");
        let mut out = Vec::new();
        scrubber.scrub_stream(&mut &big[..], &mut out).unwrap();
        let needle = |hay: &[u8], n: &[u8]| hay.windows(n.len()).any(|w| w == n);
        assert!(!needle(&out, b"sk-live-123"));
        assert!(!needle(&out, b"hunter22"));
        assert_eq!(out.len(), big.len() - 11 - 8 + 2 * REDACTED.len());
    }
}
