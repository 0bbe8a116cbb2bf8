//! The embedded store: `$(git rev-parse --git-common-dir)/codex-attest/`.
//!
//! ```text
//! codex-attest/
//!   VERSION                      store format version ("1")
//!   objects/sha256/ab/cdef...    content-addressed blobs, read-only
//!   runs/<run-id>/               one directory per run, published by one atomic rename
//!     record.json                the run record (schema codex-attest/run/v1)
//!     statement.json             the exact bytes of the in-toto statement
//!     envelope.intoto.jsonl      DSSE envelopes over statement.json (when signed)
//!     bundle.sigstore.json       a Sigstore bundle over statement.json (when signed keylessly)
//!   tmp/                         scratch space: atomic writes, the index a running wrap primes
//! ```
//!
//! Inside the git directory the store is never committed by accident, is shared by linked
//! worktrees, and is read-only to Codex's `workspace-write` sandbox.
//!
//! **Invariant:** every write is published whole, so a reader, a crash or a concurrent `wrap`
//! never sees a half-written blob or run: a run directory and large blobs are written in `tmp/`
//! and published with `rename`; a small blob is written to an unnamed file (`O_TMPFILE`) and
//! published by giving it its name (`linkat`), falling back to `tmp/` where the filesystem
//! cannot. Blobs are checked against their digest on every read.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{DigestParseError, FileDigests, Sha256Digest};

pub const STORE_DIR: &str = "codex-attest";
/// Files up to this size are stored from memory: read once, hashed, scrubbed, and written only
/// when the store lacks them (10,000 changed files on 100,000: BENCHMARKS.md).
const IN_MEMORY_MAX: u64 = 1 << 20;
const FORMAT_VERSION: &str = "1";

#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("blob {0} is not in the store")]
    MissingBlob(Sha256Digest),
    #[error("blob {digest} is corrupt: its content hashes to {actual}")]
    CorruptBlob {
        digest: Sha256Digest,
        actual: Sha256Digest,
    },
    #[error("run {0:?} is not in the store")]
    MissingRun(String),
    #[error("run id {0:?} is not valid (letters, digits, `-`, `_`, `.`; not starting with `.`)")]
    BadRunId(String),
    #[error("run {0} already exists")]
    RunExists(String),
    #[error(
        "the store at {path} has format version {found:?}; this codex-attest reads version {FORMAT_VERSION}"
    )]
    Version { path: PathBuf, found: String },
    #[error("stored {what} of run {run} is not valid: {detail}")]
    BadRecord {
        run: String,
        what: &'static str,
        detail: String,
    },
}

/// A blob being written: bytes go to a temporary file and are hashed on the way; `finish`
/// publishes it under its digest.
pub struct BlobWriter<'a> {
    store: &'a Store,
    tmp: tempfile::NamedTempFile,
    hasher: ring::digest::Context,
    size: u64,
}

/// Files to publish as one run directory.
pub struct RunFiles<'a> {
    pub record_json: &'a [u8],
    pub statement_json: &'a [u8],
    pub envelope_lines: Option<&'a [u8]>,
}

/// A run as stored: its record and exact statement bytes.
#[derive(Clone, Debug)]
pub struct StoredRun {
    pub id: String,
    pub dir: PathBuf,
    pub record_json: Vec<u8>,
    pub statement_json: Vec<u8>,
    pub envelope_lines: Option<Vec<u8>>,
    /// The keyless Sigstore bundle (`bundle.sigstore.json`), when there is one.
    pub bundle: Option<Vec<u8>>,
}

/// The file name of a run's keyless bundle.
pub const BUNDLE_FILE: &str = "bundle.sigstore.json";

/// Leftovers and inconsistencies found by `check`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub runs: usize,
    pub blobs: usize,
    /// Temporary files or directories left by an interrupted write.
    pub leftovers: Vec<PathBuf>,
    /// Temporary entries of codex-attest processes still running (not leftovers).
    pub in_use: Vec<PathBuf>,
    /// Blobs whose content does not match their name.
    pub corrupt_blobs: Vec<PathBuf>,
    /// Run directories missing a record or statement.
    pub incomplete_runs: Vec<String>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Store {
    /// The store under a repository's common git directory. Nothing is created until the first
    /// write.
    pub fn at(common_dir: &Path) -> Store {
        Store {
            root: common_dir.join(STORE_DIR),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn exists(&self) -> bool {
        self.root.is_dir()
    }

    /// Creates the directory layout if needed and checks the format version.
    pub fn init(&self) -> Result<(), StoreError> {
        for dir in ["objects/sha256", "runs", "tmp"] {
            let path = self.root.join(dir);
            fs::create_dir_all(&path).map_err(io_err(&path))?;
        }
        let version = self.root.join("VERSION");
        match fs::read_to_string(&version) {
            Ok(found) if found.trim() == FORMAT_VERSION => Ok(()),
            Ok(found) => Err(StoreError::Version {
                path: self.root.clone(),
                found: found.trim().to_string(),
            }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                self.write_atomically(&version, format!("{FORMAT_VERSION}\n").as_bytes(), true)
            }
            Err(source) => Err(StoreError::Io {
                path: version,
                source,
            }),
        }
    }

    fn blob_path(&self, digest: &Sha256Digest) -> PathBuf {
        let hex = digest.to_string();
        self.root
            .join("objects/sha256")
            .join(&hex[..2])
            .join(&hex[2..])
    }

    pub fn has_blob(&self, digest: &Sha256Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Stores bytes; returns their SHA-256.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Sha256Digest, StoreError> {
        let digest = crate::digest::sha256(bytes);
        self.put_blob_as(bytes, digest)?;
        Ok(digest)
    }

    /// Stores bytes whose SHA-256 is `digest`, unless the store has them.
    fn put_blob_as(&self, bytes: &[u8], digest: Sha256Digest) -> Result<(), StoreError> {
        let dest = self.blob_path(&digest);
        if !holds(&dest, bytes.len() as u64) && !self.link_unnamed(&dest, bytes)? {
            self.publish_blob(&dest, |file| file.write_all(bytes))?;
        }
        Ok(())
    }

    /// Writes `bytes` to an unnamed file in `dest`'s directory and names it `dest`: one file
    /// created, no rename, nothing left behind by a crash. `false` when the filesystem or the
    /// system cannot (no `O_TMPFILE`, no `/proc`), or when a blob of the wrong size holds the
    /// name: the caller then writes through `tmp/`.
    fn link_unnamed(&self, dest: &Path, bytes: &[u8]) -> Result<bool, StoreError> {
        use rustix::fs::{AtFlags, CWD, Mode, OFlags};
        let Some(parent) = dest.parent() else {
            return Ok(false);
        };
        fs::create_dir_all(parent).map_err(io_err(parent))?;
        let fd = match rustix::fs::openat(
            CWD,
            parent,
            OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => fd,
            Err(_) => return Ok(false),
        };
        let mut file = File::from(fd);
        file.write_all(bytes).map_err(io_err(dest))?;
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o444))
            .map_err(io_err(dest))?;
        use std::os::fd::AsRawFd;
        let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
        match rustix::fs::linkat(CWD, &proc_path, CWD, dest, AtFlags::SYMLINK_FOLLOW) {
            Ok(()) => Ok(true),
            // A concurrent writer published the same content first: that is success.
            Err(rustix::io::Errno::EXIST) => Ok(holds(dest, bytes.len() as u64)),
            Err(_) => Ok(false),
        }
    }

    /// Stores a file's content while hashing it (sha256 and git blob id in one pass).
    pub fn put_file(&self, path: &Path) -> Result<FileDigests, StoreError> {
        let mut src = File::open(path).map_err(io_err(path))?;
        let size = src.metadata().map_err(io_err(path))?.len();
        self.put_opened(path, &mut src, size)
    }

    /// Stores `size` bytes of `src`, the file at `path`, streaming.
    fn put_opened(
        &self,
        path: &Path,
        src: &mut File,
        size: u64,
    ) -> Result<FileDigests, StoreError> {
        let mut tmp = self.temp_file()?;
        let digests = {
            let mut tee = TeeReader {
                inner: src,
                copy: tmp.as_file_mut(),
                error: None,
            };
            let result = crate::digest::digest_reader(&mut tee, size);
            if let Some(err) = tee.error {
                return Err(StoreError::Io {
                    path: tmp.path().to_path_buf(),
                    source: err,
                });
            }
            result.map_err(io_err(path))?
        };
        let dest = self.blob_path(&digests.sha256);
        if !holds(&dest, digests.size) {
            self.persist_blob(tmp, &dest)?;
        }
        Ok(digests)
    }

    /// Stores a file's content with known secrets scrubbed from the stored copy. Returns the
    /// digests of the real content, the digest of the stored blob, and whether they differ.
    pub fn put_file_scrubbed(
        &self,
        path: &Path,
        scrubber: &crate::secrets::Scrubber,
    ) -> Result<(FileDigests, Sha256Digest), StoreError> {
        let mut src = File::open(path).map_err(io_err(path))?;
        let size = src.metadata().map_err(io_err(path))?.len();
        if size <= IN_MEMORY_MAX {
            let mut bytes = Vec::with_capacity(size as usize);
            (&mut src)
                .take(size + 1)
                .read_to_end(&mut bytes)
                .map_err(io_err(path))?;
            if bytes.len() as u64 != size {
                return Err(StoreError::Io {
                    path: path.to_path_buf(),
                    source: crate::digest::changed_while_read(size, bytes.len() as u64),
                });
            }
            let digests = crate::digest::digest_bytes(&bytes);
            let stored = match scrubber.scrub(&bytes) {
                std::borrow::Cow::Borrowed(_) => {
                    self.put_blob_as(&bytes, digests.sha256)?;
                    digests.sha256
                }
                std::borrow::Cow::Owned(scrubbed) => self.put_blob(&scrubbed)?,
            };
            return Ok((digests, stored));
        }
        if scrubber.is_empty() {
            let digests = self.put_opened(path, &mut src, size)?;
            let stored = digests.sha256;
            return Ok((digests, stored));
        }
        let mut writer = self.blob_writer()?;
        let tmp_path = writer.tmp.path().to_path_buf();
        let digests = {
            let mut scrubbing = crate::secrets::ScrubWriter::new(scrubber, &mut writer);
            let mut tee = TeeReader {
                inner: &mut src,
                copy: &mut scrubbing,
                error: None,
            };
            let result = crate::digest::digest_reader(&mut tee, size);
            if let Some(err) = tee.error {
                return Err(StoreError::Io {
                    path: tmp_path,
                    source: err,
                });
            }
            let digests = result.map_err(io_err(path))?;
            scrubbing.finish().map_err(|source| StoreError::Io {
                path: tmp_path.clone(),
                source,
            })?;
            digests
        };
        let (stored, _) = writer.finish()?;
        Ok((digests, stored))
    }

    /// Stores bytes with known secrets scrubbed; returns the stored digest and whether anything
    /// was redacted.
    pub fn put_blob_scrubbed(
        &self,
        bytes: &[u8],
        scrubber: &crate::secrets::Scrubber,
    ) -> Result<(Sha256Digest, bool), StoreError> {
        let scrubbed = scrubber.scrub(bytes);
        let redacted = matches!(scrubbed, std::borrow::Cow::Owned(_));
        Ok((self.put_blob(&scrubbed)?, redacted))
    }

    /// Stores what `reader` yields, returning its SHA-256 and size.
    pub fn put_stream(&self, reader: &mut dyn Read) -> Result<(Sha256Digest, u64), StoreError> {
        let mut writer = self.blob_writer()?;
        let tmp_path = writer.tmp.path().to_path_buf();
        io::copy(reader, &mut writer).map_err(|source| StoreError::Io {
            path: tmp_path,
            source,
        })?;
        writer.finish()
    }

    /// Starts writing a blob of unknown content (a captured stream).
    pub fn blob_writer(&self) -> Result<BlobWriter<'_>, StoreError> {
        Ok(BlobWriter {
            store: self,
            tmp: self.temp_file()?,
            hasher: ring::digest::Context::new(&ring::digest::SHA256),
            size: 0,
        })
    }

    /// Reads a blob and checks it against its digest.
    pub fn read_blob(&self, digest: &Sha256Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::MissingBlob(*digest));
            }
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let actual = crate::digest::sha256(&bytes);
        if actual != *digest {
            return Err(StoreError::CorruptBlob {
                digest: *digest,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Flushes the filesystem holding the store (`syncfs`): one call instead of an fsync per blob.
    pub fn sync(&self) -> Result<(), StoreError> {
        let dir = File::open(&self.root).map_err(io_err(&self.root))?;
        rustix::fs::syncfs(&dir).map_err(|e| StoreError::Io {
            path: self.root.clone(),
            source: e.into(),
        })
    }

    /// A scratch directory in `tmp/` (removed when dropped; `fsck` knows it for as long as this
    /// process runs). Inside the git directory, which Codex's sandbox cannot write.
    pub fn scratch_dir(&self, kind: &str) -> Result<tempfile::TempDir, StoreError> {
        tempfile::Builder::new()
            .prefix(&temp_prefix(kind))
            .tempdir_in(self.root.join("tmp"))
            .map_err(io_err(&self.root.join("tmp")))
    }

    /// Publishes a run directory in one rename.
    pub fn put_run(&self, id: &str, files: &RunFiles) -> Result<PathBuf, StoreError> {
        check_run_id(id)?;
        self.init()?;
        let final_dir = self.root.join("runs").join(id);
        if final_dir.exists() {
            return Err(StoreError::RunExists(id.to_string()));
        }
        // Every blob this run references reaches the disk before the run does.
        self.sync()?;
        let tmp = tempfile::Builder::new()
            .prefix(&temp_prefix("run"))
            .tempdir_in(self.root.join("tmp"))
            .map_err(io_err(&self.root.join("tmp")))?;
        write_synced(&tmp.path().join("record.json"), files.record_json)?;
        write_synced(&tmp.path().join("statement.json"), files.statement_json)?;
        if let Some(lines) = files.envelope_lines {
            write_synced(&tmp.path().join("envelope.intoto.jsonl"), lines)?;
        }
        let tmp_path = tmp.keep();
        match fs::rename(&tmp_path, &final_dir) {
            Ok(()) => {}
            Err(err) => {
                let _ = fs::remove_dir_all(&tmp_path);
                if final_dir.exists() {
                    return Err(StoreError::RunExists(id.to_string()));
                }
                return Err(StoreError::Io {
                    path: final_dir,
                    source: err,
                });
            }
        }
        sync_dir(&self.root.join("runs"));
        Ok(final_dir)
    }

    /// Replaces a run's envelope file (adding signatures later).
    pub fn put_envelopes(&self, id: &str, lines: &[u8]) -> Result<PathBuf, StoreError> {
        let dir = self.run_dir(id)?;
        let path = dir.join("envelope.intoto.jsonl");
        self.write_atomically(&path, lines, true)?;
        Ok(path)
    }

    /// Replaces a run's Sigstore bundle (keyless signing).
    pub fn put_bundle(&self, id: &str, bundle: &[u8]) -> Result<PathBuf, StoreError> {
        let dir = self.run_dir(id)?;
        let path = dir.join(BUNDLE_FILE);
        self.write_atomically(&path, bundle, true)?;
        Ok(path)
    }

    fn run_dir(&self, id: &str) -> Result<PathBuf, StoreError> {
        check_run_id(id)?;
        let dir = self.root.join("runs").join(id);
        if !dir.join("record.json").is_file() {
            return Err(StoreError::MissingRun(id.to_string()));
        }
        Ok(dir)
    }

    /// Loads a run's files.
    pub fn get_run(&self, id: &str) -> Result<StoredRun, StoreError> {
        let dir = self.run_dir(id)?;
        let read = |name: &str| fs::read(dir.join(name)).map_err(io_err(&dir.join(name)));
        let envelope_path = dir.join("envelope.intoto.jsonl");
        let envelope_lines = match fs::read(&envelope_path) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(StoreError::Io {
                    path: envelope_path,
                    source,
                });
            }
        };
        let bundle_path = dir.join(BUNDLE_FILE);
        let bundle = match fs::read(&bundle_path) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(StoreError::Io {
                    path: bundle_path,
                    source,
                });
            }
        };
        Ok(StoredRun {
            id: id.to_string(),
            record_json: read("record.json")?,
            statement_json: read("statement.json")?,
            envelope_lines,
            bundle,
            dir,
        })
    }

    /// Ids of every complete run, sorted (run ids sort by start time).
    pub fn run_ids(&self) -> Result<Vec<String>, StoreError> {
        let runs = self.root.join("runs");
        let entries = match fs::read_dir(&runs) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StoreError::Io { path: runs, source }),
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| check_run_id(id).is_ok() && runs.join(id).join("record.json").is_file())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Finds leftovers and corruption. With `repair`, removes leftovers in `tmp/` (never runs or
    /// blobs).
    pub fn check(&self, repair: bool) -> Result<CheckReport, StoreError> {
        let mut report = CheckReport::default();
        let tmp = self.root.join("tmp");
        if let Ok(entries) = fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let path = entry.path();
                if temp_owner_alive(&entry.file_name().to_string_lossy()) {
                    report.in_use.push(path);
                    continue;
                }
                if repair {
                    let removed = if path.is_dir() {
                        fs::remove_dir_all(&path)
                    } else {
                        fs::remove_file(&path)
                    };
                    removed.map_err(io_err(&path))?;
                }
                report.leftovers.push(path);
            }
        }
        let objects = self.root.join("objects/sha256");
        if let Ok(prefixes) = fs::read_dir(&objects) {
            for prefix in prefixes.flatten() {
                let Ok(blobs) = fs::read_dir(prefix.path()) else {
                    continue;
                };
                for blob in blobs.flatten() {
                    report.blobs += 1;
                    let name = format!(
                        "{}{}",
                        prefix.file_name().to_string_lossy(),
                        blob.file_name().to_string_lossy()
                    );
                    let ok = name
                        .parse::<Sha256Digest>()
                        .map_err(|_: DigestParseError| ())
                        .and_then(|d| self.read_blob(&d).map_err(|_| ()));
                    if ok.is_err() {
                        report.corrupt_blobs.push(blob.path());
                    }
                }
            }
        }
        let runs = self.root.join("runs");
        if let Ok(entries) = fs::read_dir(&runs) {
            for entry in entries.flatten() {
                let id = entry.file_name().to_string_lossy().into_owned();
                let dir = entry.path();
                if dir.join("record.json").is_file() && dir.join("statement.json").is_file() {
                    report.runs += 1;
                } else {
                    report.incomplete_runs.push(id);
                }
            }
        }
        report.leftovers.sort();
        report.corrupt_blobs.sort();
        report.incomplete_runs.sort();
        Ok(report)
    }

    fn temp_file(&self) -> Result<tempfile::NamedTempFile, StoreError> {
        let tmp = self.root.join("tmp");
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        tempfile::Builder::new()
            .prefix(&temp_prefix("blob"))
            .tempfile_in(&tmp)
            .map_err(io_err(&tmp))
    }

    fn publish_blob(
        &self,
        dest: &Path,
        write: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> Result<(), StoreError> {
        let mut tmp = self.temp_file()?;
        write(tmp.as_file_mut()).map_err(io_err(tmp.path()))?;
        self.persist_blob(tmp, dest)
    }

    /// Publishes a blob by rename. Blobs are not fsynced one by one (10,000 changed files would
    /// cost seconds in fsyncs alone): `put_run` flushes the store's filesystem once before a run
    /// that references them is published, so a run never points at a blob that is not durable.
    fn persist_blob(&self, tmp: tempfile::NamedTempFile, dest: &Path) -> Result<(), StoreError> {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o444));
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let size = tmp.as_file().metadata().map_err(io_err(tmp.path()))?.len();
        // A concurrent writer may have published the same content first: that is success. A
        // blob of the wrong size (cut short by a crash before it was flushed) is replaced.
        match tmp.persist_noclobber(dest) {
            Ok(_) => Ok(()),
            Err(err)
                if dest
                    .metadata()
                    .is_ok_and(|m| m.is_file() && m.len() == size) =>
            {
                drop(err);
                Ok(())
            }
            Err(err) if dest.is_file() => {
                err.file
                    .persist(dest)
                    .map(|_| ())
                    .map_err(|e| StoreError::Io {
                        path: dest.to_path_buf(),
                        source: e.error,
                    })
            }
            Err(err) => Err(StoreError::Io {
                path: dest.to_path_buf(),
                source: err.error,
            }),
        }
    }

    fn write_atomically(
        &self,
        path: &Path,
        bytes: &[u8],
        overwrite: bool,
    ) -> Result<(), StoreError> {
        let tmp_dir = self.root.join("tmp");
        fs::create_dir_all(&tmp_dir).map_err(io_err(&tmp_dir))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(&temp_prefix("write"))
            .tempfile_in(&tmp_dir)
            .map_err(io_err(&tmp_dir))?;
        tmp.write_all(bytes).map_err(io_err(tmp.path()))?;
        tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
        let result = if overwrite {
            tmp.persist(path).map(|_| ())
        } else {
            tmp.persist_noclobber(path).map(|_| ())
        };
        result.map_err(|err| StoreError::Io {
            path: path.to_path_buf(),
            source: err.error,
        })
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.tmp.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

impl BlobWriter<'_> {
    /// Publishes the blob; returns its digest and size.
    pub fn finish(self) -> Result<(Sha256Digest, u64), StoreError> {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.hasher.finish().as_ref());
        let digest = Sha256Digest::from_bytes(out);
        let dest = self.store.blob_path(&digest);
        if !holds(&dest, self.size) {
            self.store.persist_blob(self.tmp, &dest)?;
        }
        Ok((digest, self.size))
    }
}

/// Whether `blob` is a stored blob of `size` bytes. One of another size was cut short by a
/// crash before the store's filesystem was flushed (no run refers to it) and is replaced.
fn holds(blob: &Path, size: u64) -> bool {
    blob.metadata()
        .is_ok_and(|m| m.is_file() && m.len() == size)
}

/// Temporary names carry the writer's process id (`blob.1234.XXXXXX`), so `check` can tell a
/// leftover of a crashed process from the work of a running one.
fn temp_prefix(kind: &str) -> String {
    format!("{kind}.{}.", std::process::id())
}

/// The process that created a temporary entry, if its name says, and whether it still runs.
fn temp_owner_alive(name: &str) -> bool {
    let Some(pid) = name.split('.').nth(1).and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    pid != 0 && Path::new("/proc").join(pid.to_string()).exists()
}

/// Run ids: `[A-Za-z0-9._-]+`, not starting with `.`, at most 128 characters.
pub fn check_run_id(id: &str) -> Result<(), StoreError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadRunId(id.to_string()))
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = File::create(path).map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

fn sync_dir(dir: &Path) {
    if let Ok(file) = File::open(dir) {
        let _ = file.sync_all();
    }
}

/// Copies what it reads into a second writer, remembering the first write error.
struct TeeReader<'a> {
    inner: &'a mut dyn Read,
    copy: &'a mut dyn Write,
    error: Option<io::Error>,
}

impl Read for TeeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.error.is_none() {
            if let Err(err) = self.copy.write_all(&buf[..n]) {
                let kind = err.kind();
                self.error = Some(err);
                return Err(io::Error::new(kind, "failed to write into the store"));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip_and_are_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        store.init().unwrap();
        let d = store.put_blob(b"hello").unwrap();
        assert_eq!(store.put_blob(b"hello").unwrap(), d, "idempotent");
        assert_eq!(store.read_blob(&d).unwrap(), b"hello");
        let file = dir.path().join("f.txt");
        fs::write(&file, b"file content\n").unwrap();
        let digests = store.put_file(&file).unwrap();
        assert_eq!(store.read_blob(&digests.sha256).unwrap(), b"file content\n");
        let (s, n) = store.put_stream(&mut &b"streamed"[..]).unwrap();
        assert_eq!(
            (store.read_blob(&s).unwrap().as_slice(), n),
            (&b"streamed"[..], 8)
        );

        // Tampering is detected on read.
        let path = store.blob_path(&d);
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&path, b"HELLO").unwrap();
        assert!(matches!(
            store.read_blob(&d),
            Err(StoreError::CorruptBlob { .. })
        ));
        assert_eq!(store.check(false).unwrap().corrupt_blobs.len(), 1);
        let missing = crate::digest::sha256(b"nope");
        assert!(matches!(
            store.read_blob(&missing),
            Err(StoreError::MissingBlob(_))
        ));
    }

    #[test]
    fn small_files_are_stored_from_memory_whole_read_only_and_scrubbed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(&dir.path().join("store"));
        store.init().unwrap();
        let none = crate::secrets::Scrubber::new(&[]);
        let file = dir.path().join("f.txt");
        fs::write(&file, b"small file\n").unwrap();
        let (digests, stored) = store.put_file_scrubbed(&file, &none).unwrap();
        assert_eq!(digests, crate::digest::digest_file(&file).unwrap());
        assert_eq!(stored, digests.sha256);
        assert_eq!(store.read_blob(&stored).unwrap(), b"small file\n");
        let blob = store.blob_path(&stored);
        let mode = fs::metadata(&blob).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o444, "blobs are read-only");
        assert_eq!(
            fs::read_dir(store.root().join("tmp")).unwrap().count(),
            0,
            "nothing is left in tmp/"
        );

        // A blob cut short (a crash before the data reached the disk) is replaced.
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&blob, b"small").unwrap();
        store.put_file_scrubbed(&file, &none).unwrap();
        assert_eq!(store.read_blob(&stored).unwrap(), b"small file\n");

        // A known secret never reaches the store; the digests are the real content's.
        let secret = "sk-live-0123456789abcdef";
        fs::write(&file, format!("token = {secret}\n")).unwrap();
        let scrubber = crate::secrets::Scrubber::new(&[secret.to_string()]);
        let (digests, stored) = store.put_file_scrubbed(&file, &scrubber).unwrap();
        assert_eq!(digests, crate::digest::digest_file(&file).unwrap());
        assert_ne!(stored, digests.sha256);
        let kept = String::from_utf8(store.read_blob(&stored).unwrap()).unwrap();
        assert!(!kept.contains(secret), "{kept}");

        // Past the in-memory size, the streaming path gives the same digests.
        let big = vec![b'x'; IN_MEMORY_MAX as usize + 10];
        fs::write(&file, &big).unwrap();
        let (digests, stored) = store.put_file_scrubbed(&file, &none).unwrap();
        assert_eq!(digests, crate::digest::digest_bytes(&big));
        assert_eq!(store.read_blob(&stored).unwrap(), big);
    }

    #[test]
    fn runs_publish_atomically_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        let files = RunFiles {
            record_json: b"{}",
            statement_json: b"{\"s\":1}",
            envelope_lines: None,
        };
        store.put_run("r1", &files).unwrap();
        assert!(matches!(
            store.put_run("r1", &files),
            Err(StoreError::RunExists(_))
        ));
        assert!(matches!(
            store.put_run("../x", &files),
            Err(StoreError::BadRunId(_))
        ));
        assert!(matches!(
            store.put_run(".hidden", &files),
            Err(StoreError::BadRunId(_))
        ));
        let run = store.get_run("r1").unwrap();
        assert_eq!(run.statement_json, b"{\"s\":1}");
        assert!(run.envelope_lines.is_none());
        store.put_envelopes("r1", b"line\n").unwrap();
        assert_eq!(
            store.get_run("r1").unwrap().envelope_lines.unwrap(),
            b"line\n"
        );
        assert_eq!(store.run_ids().unwrap(), ["r1"]);
        // A leftover from an interrupted write is reported, then removed with repair.
        fs::write(store.root().join("tmp/blob.999999999.leftover"), b"x").unwrap();
        // An entry of a live process (this one) is in use, not a leftover.
        fs::write(
            store
                .root()
                .join(format!("tmp/blob.{}.busy", std::process::id())),
            b"x",
        )
        .unwrap();
        fs::create_dir(store.root().join("runs/broken")).unwrap();
        let report = store.check(false).unwrap();
        assert_eq!(report.leftovers.len(), 1);
        assert_eq!(report.in_use.len(), 1);
        assert_eq!(report.incomplete_runs, ["broken"]);
        assert_eq!(store.check(true).unwrap().leftovers.len(), 1);
        assert!(store.check(false).unwrap().leftovers.is_empty());
    }

    #[test]
    fn version_mismatch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        store.init().unwrap();
        fs::write(store.root().join("VERSION"), "9\n").unwrap();
        assert!(matches!(store.init(), Err(StoreError::Version { .. })));
    }
}
