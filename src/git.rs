//! Git, through the `git` program: repository discovery, HEAD, branch, remote, and
//! `git status` in its machine format.
//!
//! We run the `git` binary rather than link libgit2: `git status` is the fastest status walk
//! there is (parallel lstat, untracked cache, fsmonitor where configured), it honours every
//! `.gitignore` and config exactly as the user's own git does, and it never walks `.git/`. The same
//! reasoning led go-witness to switch from go-git to the binary (go-witness PR #359).
//!
//! Paths stay raw bytes (`RepoPath`) until they are written into JSON, because git paths need not
//! be UTF-8.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::digest::GitOid;

/// The `git status` that `wrap` takes its snapshots with (the benchmarks time the same one).
/// `--no-optional-locks`: the user's index is read, never rewritten (git would otherwise store
/// the stat data it refreshed, an 8 MB write on a 100,000-file tree, racing Codex's own git).
pub const STATUS_ARGS: [&str; 9] = [
    "--no-optional-locks",
    "-c",
    "core.quotePath=false",
    "status",
    "--porcelain=v2",
    "-z",
    "--untracked-files=all",
    "--no-renames",
    "--ignore-submodules=none",
];

/// A path relative to the repository root, as git prints it (raw bytes, `/`-separated).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoPath(Vec<u8>);

#[derive(Clone, Debug)]
pub struct Repo {
    /// The working tree root (`git rev-parse --show-toplevel`).
    pub root: PathBuf,
    /// The repository's common directory, shared by linked worktrees.
    pub common_dir: PathBuf,
}

/// One line of `git status --porcelain=v2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusEntry {
    /// A tracked path whose index or worktree differs from HEAD.
    Changed {
        path: RepoPath,
        /// Two-letter staged/unstaged code, e.g. `.M`, `A.`, `D.`.
        xy: [u8; 2],
        /// Blob in HEAD, `None` when the path is not in HEAD (added to the index).
        head: Option<GitOid>,
        /// How HEAD records the path (`mH`), `None` when it is not a file there.
        head_mode: Option<FileMode>,
        /// Blob in the index, `None` when the path was removed from the index.
        index: Option<GitOid>,
        submodule: bool,
    },
    /// An untracked, not ignored file.
    Untracked { path: RepoPath },
    /// A path with merge conflicts.
    Unmerged { path: RepoPath },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub entries: Vec<StatusEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("could not run git: {0}")]
    Spawn(std::io::Error),
    #[error("`git {args}` failed: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("unexpected output from `git {args}`: {detail}")]
    Parse { args: String, detail: String },
}

impl RepoPath {
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> RepoPath {
        RepoPath(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The path as UTF-8, if it is.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// A readable rendering; non-UTF-8 bytes appear as `\xNN`.
    pub fn display(&self) -> String {
        self.0.escape_ascii().to_string()
    }

    /// The path joined to a root directory.
    pub fn under(&self, root: &Path) -> PathBuf {
        root.join(OsStr::from_bytes(&self.0))
    }
}

impl std::fmt::Debug for RepoPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.display())
    }
}

impl StatusEntry {
    pub fn path(&self) -> &RepoPath {
        match self {
            StatusEntry::Changed { path, .. }
            | StatusEntry::Untracked { path }
            | StatusEntry::Unmerged { path } => path,
        }
    }
}

/// How git records a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileMode {
    /// `100644`.
    Regular,
    /// `100755`.
    Executable,
    /// `120000`: the content is the link's target.
    Symlink,
}

impl FileMode {
    pub fn from_flags(executable: bool, symlink: bool) -> FileMode {
        match (symlink, executable) {
            (true, _) => FileMode::Symlink,
            (false, true) => FileMode::Executable,
            (false, false) => FileMode::Regular,
        }
    }

    /// A tree entry's mode; `None` for what is not a file (a tree, a submodule).
    pub(crate) fn from_git(mode: &[u8]) -> Option<FileMode> {
        match mode {
            b"100644" => Some(FileMode::Regular),
            b"100755" => Some(FileMode::Executable),
            b"120000" => Some(FileMode::Symlink),
            _ => None,
        }
    }
}

/// Runs git with `args` in `dir` and returns its stdout.
pub fn run(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    run_with_env(dir, args, &[])
}

/// [`run`] with variables added to git's environment.
pub fn run_with_env(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
) -> Result<Vec<u8>, GitError> {
    let output = Command::new("git")
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(GitError::Spawn)?;
    if !output.status.success() {
        return Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(output.stdout)
}

/// Runs git with `input` on its standard input (written from another thread, so a large input
/// cannot deadlock against git's output); the exit status is the caller's to judge.
pub fn run_with_input(
    dir: &Path,
    args: &[&str],
    input: Vec<u8>,
) -> Result<std::process::Output, GitError> {
    let (child, writer) = spawn_with_input(dir, args, input)?;
    let out = child.wait_with_output().map_err(GitError::Spawn);
    let _ = writer.join();
    out
}

/// Starts git with its standard output piped and `input` written to its standard input by a
/// thread of its own; join the thread once git is done.
fn spawn_with_input(
    dir: &Path,
    args: &[&str],
    input: Vec<u8>,
) -> Result<
    (
        std::process::Child,
        std::thread::JoinHandle<std::io::Result<()>>,
    ),
    GitError,
> {
    use std::io::Write as _;
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(GitError::Spawn)?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| GitError::Spawn(std::io::Error::other("no stdin")))?;
    Ok((child, std::thread::spawn(move || stdin.write_all(&input))))
}

/// Which of `paths` git ignores: one `git check-ignore --no-index --stdin` for the batch. The
/// paths must not be tracked files (the index is not read; git would not call a tracked file
/// ignored). A directory is matched as a directory (git looks at what is on disk).
pub fn ignored(
    dir: &Path,
    paths: &[&[u8]],
) -> Result<std::collections::HashSet<Vec<u8>>, GitError> {
    let args = ["check-ignore", "--no-index", "-z", "--stdin"];
    let input: Vec<u8> = paths
        .iter()
        .flat_map(|p| p.iter().copied().chain([0]))
        .collect();
    let out = run_with_input(dir, &args, input)?;
    // 0: some ignored, 1: none ignored; anything else is an error.
    if !matches!(out.status.code(), Some(0 | 1)) {
        return Err(GitError::Failed {
            args: args.join(" "),
            stderr: format!("exit status {}", out.status),
        });
    }
    Ok(out
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

fn run_text(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = run(dir, args)?;
    String::from_utf8(out).map_err(|_| GitError::Parse {
        args: args.join(" "),
        detail: "not UTF-8".to_string(),
    })
}

impl Repo {
    /// The repository containing `dir`, or `None` when `dir` is not inside a work tree.
    pub fn discover(dir: &Path) -> Result<Option<Repo>, GitError> {
        let args = [
            "rev-parse",
            "--is-inside-work-tree",
            "--show-toplevel",
            "--git-common-dir",
        ];
        let out = match run_text(dir, &args) {
            Ok(out) => out,
            Err(GitError::Failed { stderr, .. }) if stderr.contains("not a git repository") => {
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        let mut lines = out.lines();
        if lines.next() != Some("true") {
            return Ok(None);
        }
        let parse_err = || GitError::Parse {
            args: args.join(" "),
            detail: out.clone(),
        };
        let root = PathBuf::from(lines.next().ok_or_else(parse_err)?);
        let common = PathBuf::from(lines.next().ok_or_else(parse_err)?);
        let common_dir = if common.is_absolute() {
            common
        } else {
            dir.join(common)
        };
        let common_dir = common_dir.canonicalize().unwrap_or(common_dir);
        Ok(Some(Repo { root, common_dir }))
    }

    /// The HEAD commit, or `None` in a repository with no commits yet.
    pub fn head(&self) -> Result<Option<GitOid>, GitError> {
        match run_text(
            &self.root,
            &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
        ) {
            Ok(text) => Ok(Some(parse_oid(text.trim(), "rev-parse HEAD")?)),
            Err(GitError::Failed { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The current branch, `None` on a detached HEAD.
    pub fn branch(&self) -> Option<String> {
        run_text(&self.root, &["symbolic-ref", "--quiet", "--short", "HEAD"])
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// The URL of `origin` (or of the first remote), credentials removed.
    pub fn remote_url(&self) -> Option<String> {
        let remotes = run_text(&self.root, &["remote"]).ok()?;
        let name = if remotes.lines().any(|r| r == "origin") {
            "origin".to_string()
        } else {
            remotes.lines().next()?.to_string()
        };
        let key = format!("remote.{name}.url");
        let url = run_text(&self.root, &["config", "--get", &key]).ok()?;
        Some(crate::secrets::strip_url_credentials(url.trim()))
    }

    /// `git status` of the whole work tree: changed tracked paths and untracked files (every
    /// file, not collapsed directories), ignored files left out.
    pub fn status(&self) -> Result<Status, GitError> {
        self.status_with(&[], &[])
    }

    /// [`Repo::status`] with `-c` settings before the command and variables added to git's
    /// environment (a private index and its fsmonitor hook: `fsmonitor.rs`).
    pub fn status_with(
        &self,
        config: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Result<Status, GitError> {
        let args: Vec<&str> = config.iter().copied().chain(STATUS_ARGS).collect();
        let out = run_with_env(&self.root, &args, env)?;
        parse_status(&out).map_err(|detail| GitError::Parse {
            args: args.join(" "),
            detail,
        })
    }

    /// `git status` limited to `paths` (files, or directories with everything below them), taken
    /// literally: the same view as `status` for those paths, at the cost of reading the index and
    /// looking at those paths only.
    pub fn status_of(&self, paths: &[&OsStr]) -> Result<Status, GitError> {
        let args = format!(
            "--literal-pathspecs {} -- <{} paths>",
            STATUS_ARGS.join(" "),
            paths.len()
        );
        let output = Command::new("git")
            .arg("--literal-pathspecs")
            .args(STATUS_ARGS)
            .arg("--")
            .args(paths)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .output()
            .map_err(GitError::Spawn)?;
        if !output.status.success() {
            return Err(GitError::Failed {
                args: args.clone(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        parse_status(&output.stdout).map_err(|detail| GitError::Parse { args, detail })
    }

    /// Paths that differ between two commits (`git diff --name-only`).
    pub fn changed_between(&self, from: &GitOid, to: &GitOid) -> Result<Vec<RepoPath>, GitError> {
        let out = run(
            &self.root,
            &[
                "diff",
                "--name-only",
                "-z",
                "--no-renames",
                from.as_str(),
                to.as_str(),
            ],
        )?;
        Ok(out
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(RepoPath::from_bytes)
            .collect())
    }

    /// The blob id of `path` in `commit`, `None` when the path is not there.
    pub fn blob_in(&self, commit: &GitOid, path: &RepoPath) -> Result<Option<GitOid>, GitError> {
        let spec = [commit.as_str().as_bytes(), b":", path.as_bytes()].concat();
        let spec = String::from_utf8_lossy(&spec).into_owned();
        match run_text(&self.root, &["rev-parse", "--verify", "--quiet", &spec]) {
            Ok(text) => Ok(Some(parse_oid(text.trim(), "rev-parse")?)),
            Err(GitError::Failed { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// How `path` is recorded in `commit` (`git ls-tree`): `None` when it is not a file there.
    pub fn mode_in(&self, commit: &GitOid, path: &str) -> Result<Option<FileMode>, GitError> {
        let listing = run(
            &self.root,
            &[
                "--literal-pathspecs",
                "ls-tree",
                "-z",
                commit.as_str(),
                "--",
                path,
            ],
        )?;
        Ok(listing
            .split(|&b| b == 0)
            .filter_map(|record| {
                // <mode> SP <type> SP <object> TAB <path>
                let tab = record.iter().position(|&b| b == b'\t')?;
                let mode = record[..tab].split(|&b| b == b' ').next()?;
                (&record[tab + 1..] == path.as_bytes())
                    .then(|| FileMode::from_git(mode))
                    .flatten()
            })
            .next())
    }

    /// The content of a blob.
    pub fn read_blob(&self, oid: &GitOid) -> Result<Vec<u8>, GitError> {
        run(&self.root, &["cat-file", "blob", oid.as_str()])
    }

    /// Streams many blobs through one `git cat-file --batch`, calling `each` with every blob's
    /// content in order. Cost grows with the blobs asked for, not with the repository.
    pub fn for_each_blob(
        &self,
        oids: &[GitOid],
        each: &mut dyn FnMut(&GitOid, &[u8]),
    ) -> Result<(), GitError> {
        use std::io::{BufRead, BufReader, Read};
        if oids.is_empty() {
            return Ok(());
        }
        let args = "cat-file --batch";
        let input: String = oids.iter().map(|o| format!("{o}\n")).collect();
        let (mut child, writer) =
            spawn_with_input(&self.root, &["cat-file", "--batch"], input.into_bytes())?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| GitError::Spawn(std::io::Error::other("no stdout")))?;
        let mut reader = BufReader::new(stdout);
        let parse_err = |detail: String| GitError::Parse {
            args: args.to_string(),
            detail,
        };
        for oid in oids {
            let mut header = String::new();
            reader.read_line(&mut header).map_err(GitError::Spawn)?;
            let mut parts = header.split_whitespace();
            let (Some(_), Some(kind), Some(size)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(parse_err(format!("object {oid}: {}", header.trim())));
            };
            if kind != "blob" {
                return Err(parse_err(format!("object {oid} is a {kind}, not a blob")));
            }
            let size: usize = size.parse().map_err(|_| parse_err(header.clone()))?;
            let mut content = vec![0u8; size + 1];
            reader.read_exact(&mut content).map_err(GitError::Spawn)?;
            content.pop();
            each(oid, &content);
        }
        let _ = writer.join();
        let _ = child.wait();
        Ok(())
    }
}

fn parse_oid(text: &str, what: &str) -> Result<GitOid, GitError> {
    text.parse().map_err(|_| GitError::Parse {
        args: what.to_string(),
        detail: text.to_string(),
    })
}

/// Parses `git status --porcelain=v2 -z` output.
fn parse_status(out: &[u8]) -> Result<Status, String> {
    let mut entries = Vec::new();
    let mut records = out.split(|&b| b == 0).filter(|r| !r.is_empty());
    while let Some(record) = records.next() {
        let text_err = || format!("unparseable record {:?}", String::from_utf8_lossy(record));
        match record[0] {
            b'1' => {
                // 1 XY sub mH mI mW hH hI path
                let fields: Vec<&[u8]> = record.splitn(9, |&b| b == b' ').collect();
                if fields.len() != 9 || fields[1].len() != 2 {
                    return Err(text_err());
                }
                entries.push(StatusEntry::Changed {
                    path: RepoPath::from_bytes(fields[8]),
                    xy: [fields[1][0], fields[1][1]],
                    head: oid_or_none(fields[6]).map_err(|_| text_err())?,
                    head_mode: FileMode::from_git(fields[3]),
                    index: oid_or_none(fields[7]).map_err(|_| text_err())?,
                    submodule: fields[2].first() == Some(&b'S'),
                });
            }
            b'2' => {
                // Renames are disabled with --no-renames, but parse defensively:
                // 2 XY sub mH mI mW hH hI Xscore path NUL origPath
                let fields: Vec<&[u8]> = record.splitn(10, |&b| b == b' ').collect();
                if fields.len() != 10 {
                    return Err(text_err());
                }
                let orig = records.next().ok_or_else(text_err)?;
                entries.push(StatusEntry::Changed {
                    path: RepoPath::from_bytes(fields[9]),
                    xy: [fields[1][0], fields[1][1]],
                    head: None,
                    head_mode: None,
                    index: oid_or_none(fields[7]).map_err(|_| text_err())?,
                    submodule: fields[2].first() == Some(&b'S'),
                });
                entries.push(StatusEntry::Changed {
                    path: RepoPath::from_bytes(orig),
                    xy: [b'D', b'.'],
                    head: oid_or_none(fields[6]).map_err(|_| text_err())?,
                    head_mode: FileMode::from_git(fields[3]),
                    index: None,
                    submodule: false,
                });
            }
            b'u' => {
                // u XY sub m1 m2 m3 mW h1 h2 h3 path
                let fields: Vec<&[u8]> = record.splitn(11, |&b| b == b' ').collect();
                if fields.len() != 11 {
                    return Err(text_err());
                }
                entries.push(StatusEntry::Unmerged {
                    path: RepoPath::from_bytes(fields[10]),
                });
            }
            b'?' => {
                let path = record.get(2..).ok_or_else(text_err)?;
                entries.push(StatusEntry::Untracked {
                    path: RepoPath::from_bytes(path),
                });
            }
            // Ignored entries (`!`) are not requested; headers (`#`) are not requested either.
            b'!' | b'#' => {}
            _ => return Err(text_err()),
        }
    }
    Ok(Status { entries })
}

/// All-zero object names mean "absent" in porcelain v2.
fn oid_or_none(field: &[u8]) -> Result<Option<GitOid>, ()> {
    if field.iter().all(|&b| b == b'0') {
        return Ok(None);
    }
    let text = std::str::from_utf8(field).map_err(|_| ())?;
    text.parse().map(Some).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_porcelain_v2() {
        let zero = "0".repeat(40);
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let out = format!(
            "1 .M N... 100755 100755 100755 {a} {a} src/lib.rs\0\
             1 A. N... 000000 100644 100644 {zero} {b} new file.txt\0\
             ? untracked/x y.txt\0\
             u UU N... 100644 100644 100644 100644 {a} {a} {a} conflict.rs\0"
        );
        let status = parse_status(out.as_bytes()).unwrap();
        assert_eq!(status.entries.len(), 4);
        match &status.entries[0] {
            StatusEntry::Changed {
                head, head_mode, ..
            } => {
                assert_eq!(head.as_ref().map(|o| o.as_str()), Some(a.as_str()));
                assert_eq!(*head_mode, Some(FileMode::Executable));
            }
            other => panic!("{other:?}"),
        }
        match &status.entries[1] {
            StatusEntry::Changed {
                path,
                head,
                head_mode,
                index,
                ..
            } => {
                assert_eq!(path.to_str(), Some("new file.txt"));
                assert!(head.is_none());
                assert_eq!(*head_mode, None);
                assert_eq!(index.as_ref().map(|o| o.as_str()), Some(b.as_str()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(status.entries[2].path().to_str(), Some("untracked/x y.txt"));
        assert!(matches!(status.entries[3], StatusEntry::Unmerged { .. }));
        assert!(parse_status(b"1 garbage\0").is_err());
        assert!(parse_status(b"Z what\0").is_err());
    }

    #[test]
    fn mode_in_reads_the_commits_file_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            run(
                dir.path(),
                &[&["-c", "user.name=t", "-c", "user.email=t@t"][..], args].concat(),
            )
            .unwrap()
        };
        git(&["init", "-q"]);
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/plain.txt"), "x\n").unwrap();
        std::fs::write(dir.path().join("tool*.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            dir.path().join("tool*.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(dir.path().join("toolX.sh"), "y\n").unwrap();
        std::os::unix::fs::symlink("sub/plain.txt", dir.path().join("link")).unwrap();
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "modes"]);
        let repo = Repo::discover(dir.path()).unwrap().unwrap();
        let head = repo.head().unwrap().unwrap();
        let mode = |path| repo.mode_in(&head, path).unwrap();
        assert_eq!(mode("sub/plain.txt"), Some(FileMode::Regular));
        // A name with a glob character is looked up as it is.
        assert_eq!(mode("tool*.sh"), Some(FileMode::Executable));
        assert_eq!(mode("toolX.sh"), Some(FileMode::Regular));
        assert_eq!(mode("link"), Some(FileMode::Symlink));
        assert_eq!(mode("sub"), None, "a directory is not a file");
        assert_eq!(mode("missing"), None);
    }

    #[test]
    fn non_utf8_paths_survive() {
        let out = b"? caf\xe9.txt\0";
        let status = parse_status(out).unwrap();
        let path = status.entries[0].path();
        assert_eq!(path.to_str(), None);
        assert_eq!(path.display(), "caf\\xe9.txt");
        assert_eq!(path.as_bytes(), b"caf\xe9.txt");
    }
}
