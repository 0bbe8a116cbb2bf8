//! Git's index file (`.git/index`), read: the entries' paths, modes, blob ids, stages and flags.
//!
//! `wrap` reads the index once while the command starts, so that the end of a run can tell what a
//! touched path was in the index without asking git to walk the tree (`touched.rs`). Only what
//! that needs is read: entries, not the cached stat data's meaning, and no extension beyond
//! noticing the two that change what the entries mean (a split index, `link`, keeps entries in a
//! second file; a sparse index, `sdir`, folds whole directories into one entry). Either is refused.
//!
//! Why not a crate: `gix-index` would bring a large part of gitoxide for 200 lines, and `git2`
//! links libgit2 while everything else here goes through the `git` binary (`git.rs`). The format
//! is small, fixed and documented (`gitformat-index(5)`); versions 2, 3 and 4 are read, SHA-1 and
//! SHA-256 repositories alike. Every length is checked: a damaged index is an error, never a
//! panic or a read past the end.

use std::path::Path;

/// One entry of the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The path's bytes: `names[name.0..name.1]`.
    name: (u32, u32),
    /// `0o100644`, `0o100755`, `0o120000` (symlink) or `0o160000` (submodule).
    pub mode: u32,
    /// The file's size when git last looked at it (its low 32 bits; 0 when git has not, or
    /// wants the content compared next time).
    pub size: u32,
    oid: [u8; 32],
    /// The 16-bit flags: assume-valid (0x8000), stage (0x3000).
    flags: u16,
    /// The extended flags of versions 3 and 4: skip-worktree (0x4000), intent-to-add (0x2000).
    extended: u16,
}

impl Entry {
    /// 0 for a normal entry; 1 to 3 for the sides of a merge conflict.
    pub fn stage(&self) -> u8 {
        ((self.flags >> 12) & 3) as u8
    }

    /// `git update-index --assume-unchanged`: git does not look at the file.
    pub fn assume_valid(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// Outside a sparse checkout's cone: git does not look at the file.
    pub fn skip_worktree(&self) -> bool {
        self.extended & 0x4000 != 0
    }

    /// `git add -N`: in the index with no content yet.
    pub fn intent_to_add(&self) -> bool {
        self.extended & 0x2000 != 0
    }
}

/// A parsed index.
#[derive(Clone, Debug)]
pub struct GitIndex {
    oid_len: usize,
    names: Vec<u8>,
    entries: Vec<Entry>,
    /// The trailing hash of the file (all zeros under `index.skipHash`).
    checksum: Vec<u8>,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexError {
    #[error("could not read the index: {0}")]
    Read(String),
    #[error("the index is damaged: {0}")]
    Damaged(&'static str),
    #[error("index version {0} is not read (2, 3 and 4 are)")]
    Version(u32),
    #[error("the index is split (core.splitIndex)")]
    Split,
    #[error("the index is sparse (index.sparse)")]
    Sparse,
}

/// Reads fixed-size fields off a byte slice, every read bounds-checked.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IndexError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(IndexError::Damaged(
                "an entry runs past the end of the file",
            ))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, IndexError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u16(&mut self) -> Result<u16, IndexError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// The offset varint of index version 4 (the encoding of `varint.c`).
    fn varint(&mut self) -> Result<usize, IndexError> {
        let overflow = IndexError::Damaged("a path prefix length overflows");
        let mut c = self.take(1)?[0];
        let mut value = (c & 127) as usize;
        while c & 128 != 0 {
            value = value.checked_add(1).ok_or_else(|| overflow.clone())?;
            if value > usize::MAX >> 7 {
                return Err(overflow);
            }
            c = self.take(1)?[0];
            value = (value << 7) + (c & 127) as usize;
        }
        Ok(value)
    }
}

impl GitIndex {
    /// Reads the index file at `path`; `oid_len` is 20 in a SHA-1 repository, 32 in a SHA-256 one.
    pub fn read(path: &Path, oid_len: usize) -> Result<GitIndex, IndexError> {
        let bytes = std::fs::read(path)
            .map_err(|e| IndexError::Read(format!("{}: {e}", path.display())))?;
        GitIndex::parse(&bytes, oid_len)
    }

    /// Parses an index file's bytes. The trailing hash is kept, not checked (git does not check
    /// it either when it reads the index; `git fsck` does).
    pub fn parse(bytes: &[u8], oid_len: usize) -> Result<GitIndex, IndexError> {
        if oid_len != 20 && oid_len != 32 {
            return Err(IndexError::Damaged("object ids are 20 or 32 bytes"));
        }
        let body_len = bytes
            .len()
            .checked_sub(oid_len)
            .filter(|&n| n >= 12)
            .ok_or(IndexError::Damaged("shorter than a header"))?;
        let body = &bytes[..body_len];
        let mut c = Cursor { bytes: body, at: 0 };
        if c.take(4)? != b"DIRC" {
            return Err(IndexError::Damaged("no DIRC signature"));
        }
        let version = c.u32()?;
        if !(2..=4).contains(&version) {
            return Err(IndexError::Version(version));
        }
        let count = c.u32()? as usize;
        // Every entry takes at least 40 + oid_len + 2 bytes: a count the file cannot hold is
        // refused before anything is allocated for it.
        if count > body_len / (42 + oid_len) {
            return Err(IndexError::Damaged("more entries than the file can hold"));
        }
        let mut names: Vec<u8> = Vec::with_capacity(body_len / 2);
        let mut entries: Vec<Entry> = Vec::with_capacity(count);
        let mut previous: (usize, usize) = (0, 0);
        // What would make the entries unusable is reported after the extensions: a split index's
        // own entries may be nameless (they stand for entries of the shared index), and being
        // split is the better answer.
        let mut unusable: Option<IndexError> = None;
        for _ in 0..count {
            let start = c.at;
            c.take(24)?; // ctime, mtime, dev, ino
            let mode = c.u32()?;
            c.take(8)?; // uid, gid
            let size = c.u32()?;
            let mut oid = [0u8; 32];
            oid[..oid_len].copy_from_slice(c.take(oid_len)?);
            let flags = c.u16()?;
            let extended = if flags & 0x4000 != 0 {
                if version < 3 {
                    return Err(IndexError::Damaged(
                        "an extended entry in a version 2 index",
                    ));
                }
                c.u16()?
            } else {
                0
            };
            let name_start = names.len();
            if version == 4 {
                // The path is the previous one less `strip` bytes, then a NUL-terminated suffix.
                let strip = c.varint()?;
                let kept =
                    (previous.1 - previous.0)
                        .checked_sub(strip)
                        .ok_or(IndexError::Damaged(
                            "a path prefix longer than the path before",
                        ))?;
                names.extend_from_within(previous.0..previous.0 + kept);
                let rest = &body[c.at..];
                let nul = rest
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or(IndexError::Damaged("a path without its NUL"))?;
                names.extend_from_slice(&rest[..nul]);
                c.take(nul + 1)?;
            } else {
                let rest = &body[c.at..];
                let nul = rest
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or(IndexError::Damaged("a path without its NUL"))?;
                let stated = (flags & 0xfff) as usize;
                if stated != 0xfff && stated != nul {
                    return Err(IndexError::Damaged("a path length that does not match"));
                }
                names.extend_from_slice(&rest[..nul]);
                // The name and 1 to 8 NULs, to a multiple of 8 bytes from the entry's start.
                let unpadded = c.at + nul - start;
                let padded = (unpadded + 8) & !7;
                c.take(padded - (c.at - start))?;
            }
            let name = (name_start, names.len());
            if name.0 == name.1 {
                unusable.get_or_insert(IndexError::Damaged("an empty path"));
            }
            let entry = Entry {
                name: (
                    u32::try_from(name.0).map_err(|_| IndexError::Damaged("too large"))?,
                    u32::try_from(name.1).map_err(|_| IndexError::Damaged("too large"))?,
                ),
                mode,
                size,
                oid,
                flags,
                extended,
            };
            // Sorted by path, then stage: lookups below are binary searches.
            if let Some(last) = entries.last() {
                let order = names[previous.0..previous.1]
                    .cmp(&names[name.0..name.1])
                    .then(last.stage().cmp(&entry.stage()));
                if order != std::cmp::Ordering::Less {
                    unusable.get_or_insert(IndexError::Damaged("entries out of order"));
                }
            }
            entries.push(entry);
            previous = name;
        }
        // Extensions: a signature, a 32-bit length, the data.
        while c.at < body_len {
            let signature = c.take(4)?;
            let len = c.u32()? as usize;
            match signature {
                b"link" => return Err(IndexError::Split),
                b"sdir" => return Err(IndexError::Sparse),
                _ => {}
            }
            c.take(len)?;
        }
        if let Some(err) = unusable {
            return Err(err);
        }
        Ok(GitIndex {
            oid_len,
            names,
            entries,
            checksum: bytes[body_len..].to_vec(),
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The trailing hash, which names the file's content unless it is all zeros
    /// (`index.skipHash`).
    pub fn checksum(&self) -> &[u8] {
        &self.checksum
    }

    pub fn path(&self, entry: &Entry) -> &[u8] {
        &self.names[entry.name.0 as usize..entry.name.1 as usize]
    }

    /// The entry's blob id in hex, as git prints it.
    pub fn oid_hex(&self, entry: &Entry) -> String {
        entry.oid[..self.oid_len]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Every entry, in the index's order (by path, then stage).
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.entries.iter().map(|e| (self.path(e), e))
    }

    /// The entries for `path`: one at stage 0, or the stages of a conflict, or none.
    pub fn get(&self, path: &[u8]) -> &[Entry] {
        let from = self.entries.partition_point(|e| self.path(e) < path);
        let to = from + self.entries[from..].partition_point(|e| self.path(e) == path);
        &self.entries[from..to]
    }

    /// Whether any entry lies below `dir` (`dir/...`): the directory holds tracked files.
    pub fn has_below(&self, dir: &[u8]) -> bool {
        let prefix = [dir, b"/"].concat();
        let from = self.entries.partition_point(|e| self.path(e) < &prefix[..]);
        self.entries
            .get(from)
            .is_some_and(|e| self.path(e).starts_with(&prefix))
    }

    /// Whether two indexes hold the same entries: paths, modes, blobs, stages and flags (the
    /// cached stat data, which any `git status` may refresh, aside).
    pub fn same_entries(&self, other: &GitIndex) -> bool {
        self.oid_len == other.oid_len
            && self.entries.len() == other.entries.len()
            && self.entries.iter().zip(&other.entries).all(|(a, b)| {
                self.path(a) == other.path(b)
                    && a.mode == b.mode
                    && a.oid == b.oid
                    && a.flags & 0xf000 == b.flags & 0xf000
                    && a.extended == b.extended
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    use crate::testing::git;

    /// `git ls-files -s`, rebuilt from our reading: the two must agree.
    fn as_ls_files(index: &GitIndex) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, e) in index.entries() {
            out.extend_from_slice(
                format!("{:06o} {} {}\t", e.mode, index.oid_hex(e), e.stage()).as_bytes(),
            );
            out.extend_from_slice(path);
            out.push(0);
        }
        out
    }

    fn repo(format: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        git(
            dir.path(),
            &["init", "-q", &format!("--object-format={format}")],
        );
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/deep/er")).unwrap();
        std::fs::write(root.join("a/deep/er/file.txt"), "x").unwrap();
        std::fs::write(root.join("a/b.txt"), "b").unwrap();
        std::fs::write(root.join("a-b.txt"), "c").unwrap();
        std::fs::create_dir_all(root.join("other")).unwrap();
        std::fs::write(root.join("other/x.txt"), "o").unwrap();
        std::fs::write(root.join("tool.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            root.join("tool.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("a/b.txt", root.join("link")).unwrap();
        std::fs::write(root.join("caf\u{e9} \u{2603}.txt"), "unicode").unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", "one"]);
        dir
    }

    fn read(root: &Path, oid_len: usize) -> GitIndex {
        GitIndex::read(&root.join(".git/index"), oid_len).unwrap()
    }

    #[test]
    fn every_version_and_object_format_reads_as_git_lists_it() {
        for (format, oid_len) in [("sha1", 20), ("sha256", 32)] {
            for version in ["2", "3", "4"] {
                let dir = repo(format);
                let root = dir.path();
                git(root, &["update-index", "--index-version", version]);
                if version != "2" {
                    // An extended entry (intent-to-add) is what versions 3 and 4 add.
                    std::fs::write(root.join("a/new.txt"), "n").unwrap();
                    git(root, &["add", "-N", "a/new.txt"]);
                }
                let index = read(root, oid_len);
                assert_eq!(
                    String::from_utf8_lossy(&as_ls_files(&index)),
                    String::from_utf8_lossy(&git(root, &["ls-files", "-s", "-z"])),
                    "{format} index version {version}"
                );
                assert!(index.get(b"tool.sh")[0].mode == 0o100755);
                assert_eq!(index.get(b"a-b.txt")[0].size, 1, "the size git saw");
                assert!(index.get(b"link")[0].mode == 0o120000);
                assert_eq!(index.get(b"a/new.txt").len(), usize::from(version != "2"));
                if version != "2" {
                    assert!(index.get(b"a/new.txt")[0].intent_to_add());
                }
                assert!(index.get(b"a").is_empty(), "a directory is not an entry");
                assert!(index.has_below(b"a"));
                assert!(index.has_below(b"a/deep"));
                assert!(!index.has_below(b"a/b.txt"));
                assert!(
                    !index.has_below(b"a-"),
                    "below means under a whole component"
                );
                assert!(index.same_entries(&read(root, oid_len)));
            }
        }
    }

    #[test]
    fn conflicts_and_flags_are_read() {
        let dir = repo("sha1");
        let root = dir.path();
        git(root, &["checkout", "-qb", "side"]);
        std::fs::write(root.join("a/b.txt"), "side").unwrap();
        git(root, &["commit", "-qam", "side"]);
        git(root, &["checkout", "-q", "-"]);
        std::fs::write(root.join("a/b.txt"), "main").unwrap();
        git(root, &["commit", "-qam", "main"]);
        let _ = Command::new("git")
            .args(["merge", "-q", "side"])
            .current_dir(root)
            .output();
        git(root, &["update-index", "--assume-unchanged", "tool.sh"]);
        let index = read(root, 20);
        let stages: Vec<u8> = index.get(b"a/b.txt").iter().map(Entry::stage).collect();
        assert_eq!(stages, [1, 2, 3]);
        assert!(index.get(b"tool.sh")[0].assume_valid());
        assert!(!index.get(b"a-b.txt")[0].assume_valid());
        assert_eq!(
            String::from_utf8_lossy(&as_ls_files(&index)),
            String::from_utf8_lossy(&git(root, &["ls-files", "-s", "-z"])),
        );
    }

    #[test]
    fn stat_data_is_not_a_difference_but_content_is() {
        let dir = repo("sha1");
        let root = dir.path();
        let before = read(root, 20);
        // A status that refreshes stat data rewrites the index with the same entries.
        std::fs::write(root.join("a/b.txt"), "b").unwrap();
        git(root, &["status", "--porcelain"]);
        let after = read(root, 20);
        assert!(before.same_entries(&after));
        std::fs::write(root.join("a/b.txt"), "changed").unwrap();
        git(root, &["add", "a/b.txt"]);
        assert!(!before.same_entries(&read(root, 20)));
    }

    #[test]
    fn split_and_sparse_indexes_are_refused() {
        let dir = repo("sha1");
        let root = dir.path();
        git(root, &["update-index", "--split-index"]);
        assert_eq!(
            GitIndex::read(&root.join(".git/index"), 20).unwrap_err(),
            IndexError::Split
        );
        let dir = repo("sha1");
        let root = dir.path();
        git(
            root,
            &["sparse-checkout", "init", "--cone", "--sparse-index"],
        );
        git(root, &["sparse-checkout", "set", "a/deep"]);
        assert_eq!(
            GitIndex::read(&root.join(".git/index"), 20).unwrap_err(),
            IndexError::Sparse
        );
    }

    #[test]
    fn damaged_indexes_are_errors_not_panics() {
        let dir = repo("sha1");
        let root = dir.path();
        git(root, &["update-index", "--index-version", "4"]);
        let v4 = std::fs::read(root.join(".git/index")).unwrap();
        git(root, &["update-index", "--index-version", "2"]);
        let v2 = std::fs::read(root.join(".git/index")).unwrap();
        for good in [&v2, &v4] {
            assert!(GitIndex::parse(good, 20).is_ok());
            // Every truncation, and every single-byte change in the header and first entries.
            for len in 0..good.len() - 20 {
                let mut cut = good[..len].to_vec();
                cut.extend_from_slice(&[0; 20]);
                let _ = GitIndex::parse(&cut, 20);
            }
            for at in 0..good.len().min(400) {
                for value in [0u8, 0x7f, 0x80, 0xff] {
                    let mut bad = good.clone();
                    bad[at] = value;
                    let _ = GitIndex::parse(&bad, 20);
                }
            }
        }
        assert_eq!(
            GitIndex::parse(b"DIRC", 20).unwrap_err(),
            IndexError::Damaged("shorter than a header")
        );
        let mut count = v2.clone();
        count[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            GitIndex::parse(&count, 20).unwrap_err(),
            IndexError::Damaged("more entries than the file can hold")
        );
        // A path of 0xfff bytes or more says 0xfff in its flags and is read up to its NUL
        // (PATH_MAX keeps such a path out of a real work tree here).
        let mut long = v2.clone();
        let flags_at = 12 + 40 + 20;
        long[flags_at] |= 0x0f;
        long[flags_at + 1] = 0xff;
        let parsed = GitIndex::parse(&long, 20).unwrap();
        assert!(parsed.same_entries(&GitIndex::parse(&v2, 20).unwrap()));
        assert_eq!(
            parsed
                .entries()
                .map(|(p, _)| p.to_vec())
                .collect::<Vec<_>>(),
            GitIndex::parse(&v2, 20)
                .unwrap()
                .entries()
                .map(|(p, _)| p.to_vec())
                .collect::<Vec<_>>()
        );
        let mut version = v2.clone();
        version[4..8].copy_from_slice(&5u32.to_be_bytes());
        assert_eq!(
            GitIndex::parse(&version, 20).unwrap_err(),
            IndexError::Version(5)
        );
    }
}
