//! Helpers shared by the unit tests that build git repositories.

use std::path::Path;

use crate::git::Repo;

/// Runs git in `dir` with a fixed identity; panics with git's message when it fails.
pub(crate) fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    crate::git::run(
        dir,
        &[&["-c", "user.name=t", "-c", "user.email=t@t"][..], args].concat(),
    )
    .unwrap_or_else(|err| panic!("git {args:?}: {err}"))
}

/// Writes `text` to `path` under `root`, creating its directories.
pub(crate) fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A new repository holding `files` (path, text) in one commit.
pub(crate) fn committed(files: &[(&str, &str)]) -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    for (path, text) in files {
        write(root, path, text);
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "base"]);
    let repo = Repo::discover(root).unwrap().unwrap();
    (dir, repo)
}
