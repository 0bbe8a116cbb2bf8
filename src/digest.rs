//! Digests: the `Sha256Digest` and `GitOid` newtypes, in-toto `DigestSet`s, and file hashing.
//!
//! Everything a user copies and pastes (a digest in a policy file, on a command line) goes through
//! the `FromStr` impls here, so malformed values are rejected once, at the edge.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::str::FromStr;

use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY, SHA256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A SHA-256 digest, printed as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest([u8; 32]);

/// A git object id (SHA-1 or SHA-256 repositories), kept as lowercase hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GitOid(String);

/// An in-toto DigestSet: algorithm name to lowercase hex, kept sorted by name, each name once.
///
/// A sorted vector rather than a `BTreeMap`: a release gate holds one for every subject of every
/// statement, and a map's first node takes 544 bytes where two entries take 48 (BENCHMARKS.md).
/// A JSON object that names an algorithm twice is refused, not resolved: two parsers must not
/// read two different digests out of one signed statement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestSet(Vec<(String, String)>);

impl DigestSet {
    pub fn new() -> DigestSet {
        DigestSet::default()
    }

    /// Sets the digest for `algorithm`, returning the one it replaces.
    pub fn insert(&mut self, algorithm: String, value: String) -> Option<String> {
        match self.0.binary_search_by(|(a, _)| a.as_str().cmp(&algorithm)) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (algorithm, value));
                None
            }
        }
    }

    pub fn get(&self, algorithm: &str) -> Option<&String> {
        self.0
            .binary_search_by(|(a, _)| a.as_str().cmp(algorithm))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `(algorithm, digest)` pairs, sorted by algorithm.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.into_iter()
    }
}

impl std::ops::Index<&str> for DigestSet {
    type Output = String;

    /// The digest for `algorithm`; panics when there is none (as a map's index does).
    fn index(&self, algorithm: &str) -> &String {
        match self.get(algorithm) {
            Some(value) => value,
            None => panic!("no {algorithm} digest in the set"),
        }
    }
}

impl<'a> IntoIterator for &'a DigestSet {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(a, v)| (a, v))
    }
}

impl Serialize for DigestSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for DigestSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<DigestSet, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = DigestSet;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of algorithm names to digests")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<DigestSet, A::Error> {
                let mut entries: Vec<(String, String)> =
                    Vec::with_capacity(map.size_hint().unwrap_or(2).min(8));
                while let Some(entry) = map.next_entry::<String, String>()? {
                    entries.push(entry);
                }
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                if let Some(pair) = entries.windows(2).find(|p| p[0].0 == p[1].0) {
                    return Err(serde::de::Error::custom(format!(
                        "the digest algorithm {:?} is named twice",
                        pair[0].0
                    )));
                }
                Ok(DigestSet(entries))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The digests we record for one file: `sha256` plus git's blob id, and its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDigests {
    pub sha256: Sha256Digest,
    pub git_blob: GitOid,
    pub size: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestParseError {
    #[error("expected 64 lowercase hex characters, found {len} characters")]
    Length { len: usize },
    #[error("expected lowercase hex, found {found:?}")]
    NotHex { found: char },
    #[error("expected `sha256:<hex>`, found no `sha256:` prefix")]
    MissingAlgorithm,
}

impl Sha256Digest {
    pub fn from_bytes(bytes: [u8; 32]) -> Sha256Digest {
        Sha256Digest(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses `sha256:<hex>`, the form used in policy files and on command lines.
    pub fn parse_prefixed(s: &str) -> Result<Sha256Digest, DigestParseError> {
        match s.strip_prefix("sha256:") {
            Some(hex) => hex.parse(),
            None => Err(DigestParseError::MissingAlgorithm),
        }
    }

    /// `sha256:<hex>`.
    pub fn prefixed(&self) -> String {
        format!("sha256:{self}")
    }

    /// The first 12 hex characters, for human output.
    pub fn short(&self) -> String {
        self.to_string()[..12].to_string()
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{self}")
    }
}

impl FromStr for Sha256Digest {
    type Err = DigestParseError;

    fn from_str(s: &str) -> Result<Sha256Digest, DigestParseError> {
        if s.len() != 64 {
            return Err(DigestParseError::Length {
                len: s.chars().count(),
            });
        }
        let mut out = [0u8; 32];
        for (i, pair) in s.as_bytes().chunks(2).enumerate() {
            out[i] = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
        }
        Ok(Sha256Digest(out))
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl GitOid {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GitOid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for GitOid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "git:{}", self.0)
    }
}

impl FromStr for GitOid {
    type Err = DigestParseError;

    fn from_str(s: &str) -> Result<GitOid, DigestParseError> {
        if s.len() != 40 && s.len() != 64 {
            return Err(DigestParseError::Length {
                len: s.chars().count(),
            });
        }
        for b in s.bytes() {
            hex_value(b)?;
        }
        Ok(GitOid(s.to_string()))
    }
}

impl Serialize for GitOid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for GitOid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl FileDigests {
    /// The in-toto DigestSet for a subject or dependency: `sha256` and `gitBlob`.
    pub fn digest_set(&self) -> DigestSet {
        let mut set = DigestSet::new();
        set.insert("sha256".to_string(), self.sha256.to_string());
        set.insert("gitBlob".to_string(), self.git_blob.to_string());
        set
    }
}

/// SHA-256 of a byte string.
pub fn sha256(bytes: &[u8]) -> Sha256Digest {
    let d = ring::digest::digest(&SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Sha256Digest(out)
}

/// `sha256` and git's SHA-1 blob id of a byte string.
pub fn digest_bytes(bytes: &[u8]) -> FileDigests {
    let mut hasher = DualHasher::new(bytes.len() as u64);
    hasher.update(bytes);
    hasher.finish()
}

/// Hashes a file's content in one streaming pass. Symlinks are not followed by the caller's
/// choice: pass the path of a regular file.
pub fn digest_file(path: &Path) -> io::Result<FileDigests> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    digest_reader(&mut file, size)
}

/// Hashes many files, spread over every core (each file in one streaming pass), returning the
/// results in the order of `paths`.
pub fn digest_files(paths: &[impl AsRef<Path> + Sync]) -> Vec<io::Result<FileDigests>> {
    on_every_core(paths, |p| digest_file(p.as_ref()))
}

/// Applies `f` to every item on up to one thread per core, returning the results in the order
/// of `items`. For file work (hashing, storing) whose cost grows with the size of a change.
pub fn on_every_core<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            done.push((i, f(item)));
        }
        done
    };
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut all = work();
        for helper in helpers {
            // A helper that panicked leaves its items undone; they are redone below.
            if let Ok(done) = helper.join() {
                all.extend(done);
            }
        }
        all
    });
    results.sort_by_key(|(i, _)| *i);
    let mut out = Vec::with_capacity(items.len());
    let mut results = results.into_iter().peekable();
    for (i, item) in items.iter().enumerate() {
        match results.next_if(|(j, _)| *j == i) {
            Some((_, r)) => out.push(r),
            None => out.push(f(item)),
        }
    }
    out
}

/// Hashes `size` bytes from a reader; fails if the reader yields a different number of bytes,
/// which happens when a file changes while it is read.
pub fn digest_reader(reader: &mut dyn Read, size: u64) -> io::Result<FileDigests> {
    let mut hasher = DualHasher::new(size);
    let mut buf = vec![0u8; 256 * 1024];
    let mut seen = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        seen += n as u64;
        if seen > size {
            break;
        }
        hasher.update(&buf[..n]);
    }
    if seen != size {
        return Err(changed_while_read(size, seen));
    }
    Ok(hasher.finish())
}

/// The error for a file whose size changed between its `stat` and the end of its reading.
pub fn changed_while_read(expected: u64, read: u64) -> io::Error {
    io::Error::other(format!(
        "file changed while it was read: expected {expected} bytes, read {read}"
    ))
}

/// Computes SHA-256 and the git blob id (`SHA-1("blob <size>\0" + content)`) together.
struct DualHasher {
    sha256: Context,
    sha1: Context,
    size: u64,
}

impl DualHasher {
    fn new(size: u64) -> DualHasher {
        let mut sha1 = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
        sha1.update(format!("blob {size}\0").as_bytes());
        DualHasher {
            sha256: Context::new(&SHA256),
            sha1,
            size,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        self.sha1.update(bytes);
    }

    fn finish(self) -> FileDigests {
        let mut sha = [0u8; 32];
        sha.copy_from_slice(self.sha256.finish().as_ref());
        FileDigests {
            sha256: Sha256Digest(sha),
            git_blob: GitOid(to_hex(self.sha1.finish().as_ref())),
            size: self.size,
        }
    }
}

/// Lowercase hex of a byte string.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
    out
}

/// Whether `s` is exactly `len` lowercase hex digits, the shape every digest we write has.
pub fn is_hex_digest(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Decodes lowercase or uppercase hex.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

fn hex_value(b: u8) -> Result<u8, DigestParseError> {
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        _ => Err(DigestParseError::NotHex { found: b as char }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_sets_are_sorted_maps_that_refuse_a_repeated_algorithm() {
        let set: DigestSet = serde_json::from_str(r#"{"sha256":"bb","gitBlob":"aa"}"#).unwrap();
        assert_eq!(set.get("gitBlob").map(String::as_str), Some("aa"));
        assert_eq!(set["sha256"], "bb");
        assert_eq!(set.get("sha512"), None);
        // Written sorted, as a BTreeMap was.
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"{"gitBlob":"aa","sha256":"bb"}"#
        );
        let mut built = DigestSet::new();
        assert_eq!(built.insert("sha256".into(), "x".into()), None);
        built.insert("gitBlob".into(), "aa".into());
        assert_eq!(built.insert("sha256".into(), "bb".into()), Some("x".into()));
        assert_eq!(built, set);
        assert_eq!(
            built.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
            ["gitBlob", "sha256"]
        );
        // serde_json keeps the last of two equal keys in a map; a digest set refuses them.
        let err = serde_json::from_str::<DigestSet>(r#"{"sha256":"aa","sha256":"bb"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("named twice"), "{err}");
        assert!(serde_json::from_str::<DigestSet>(r#"{"sha256":1}"#).is_err());
    }

    #[test]
    fn work_on_every_core_comes_back_in_order() {
        let items: Vec<u64> = (0..5_000).collect();
        let doubled = on_every_core(&items, |x| x * 2);
        assert_eq!(doubled, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert!(on_every_core(&[] as &[u64], |x| *x).is_empty());
    }

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            sha256(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn git_blob_matches_git_hash_object() {
        // `printf 'hello\n' | git hash-object --stdin`
        let d = digest_bytes(b"hello\n");
        assert_eq!(
            d.git_blob.as_str(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(d.size, 6);
    }

    #[test]
    fn digest_parsing_rejects_bad_input() {
        assert!("ABC".parse::<Sha256Digest>().is_err());
        let upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        assert!(matches!(
            upper.parse::<Sha256Digest>(),
            Err(DigestParseError::NotHex { .. })
        ));
        assert!(Sha256Digest::parse_prefixed("sha1:abc").is_err());
        let ok = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(Sha256Digest::parse_prefixed(ok).unwrap().prefixed(), ok);
        // Multi-byte characters must not panic on the length check or slicing.
        assert!("é".repeat(32).parse::<Sha256Digest>().is_err());
    }

    #[test]
    fn many_files_are_hashed_in_order_with_errors_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for i in 0..50 {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, "x".repeat(i * 1000)).unwrap();
            paths.push(p);
        }
        paths.insert(7, dir.path().join("missing"));
        let results = digest_files(&paths);
        assert_eq!(results.len(), paths.len());
        for (path, result) in paths.iter().zip(&results) {
            match digest_file(path) {
                Ok(d) => assert_eq!(result.as_ref().unwrap(), &d, "{}", path.display()),
                Err(_) => assert!(result.is_err()),
            }
        }
        assert!(results[7].is_err());
    }

    #[test]
    fn reader_that_changes_size_is_an_error() {
        let data = b"abcdef".to_vec();
        assert!(digest_reader(&mut &data[..], 3).is_err());
        assert!(digest_reader(&mut &data[..], 10).is_err());
        assert_eq!(
            digest_reader(&mut &data[..], 6).unwrap(),
            digest_bytes(&data)
        );
    }
}
