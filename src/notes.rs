//! Attestations as git notes (`refs/notes/codex-attest`), so they travel with `git push` and
//! `git fetch` and need no server.
//!
//! A run's signed envelopes are attached, one JSON line each, to the commit the run started from.
//! Notes from several machines merge with git's `cat_sort_uniq` strategy: lines are united and
//! de-duplicated, so pushing the same envelope twice or from two clones is harmless.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::digest::GitOid;
use crate::git::{GitError, Repo};

pub const NOTES_REF: &str = "refs/notes/codex-attest";
const INCOMING_REF: &str = "refs/notes/codex-attest-incoming";

/// Identity for the commits git makes on the notes ref (they carry no meaning of their own).
const IDENTITY: [&str; 4] = [
    "-c",
    "user.name=codex-attest",
    "-c",
    "user.email=codex-attest@localhost",
];

fn git(repo: &Repo, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, GitError> {
    let mut cmd = Command::new("git");
    cmd.args(IDENTITY).args(args).current_dir(&repo.root);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(GitError::Spawn)?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(bytes).map_err(GitError::Spawn)?;
    }
    let out = child.wait_with_output().map_err(GitError::Spawn)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}

/// The note content attached to each of `commits` that has one.
pub fn read(repo: &Repo, commits: &[GitOid]) -> Result<Vec<(GitOid, Vec<u8>)>, GitError> {
    let listing = match git(repo, &["notes", "--ref", NOTES_REF, "list"], None) {
        Ok(out) => out,
        // No notes ref yet: no notes.
        Err(GitError::Failed { .. }) => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let wanted: std::collections::BTreeSet<&str> = commits.iter().map(|c| c.as_str()).collect();
    let mut pairs: Vec<(GitOid, GitOid)> = Vec::new();
    for line in String::from_utf8_lossy(&listing).lines() {
        let mut parts = line.split_whitespace();
        let (Some(note), Some(commit)) = (parts.next(), parts.next()) else {
            continue;
        };
        if wanted.is_empty() || wanted.contains(commit) {
            if let (Ok(note), Ok(commit)) = (note.parse(), commit.parse()) {
                pairs.push((note, commit));
            }
        }
    }
    let notes: Vec<GitOid> = pairs.iter().map(|(n, _)| n.clone()).collect();
    let mut contents = std::collections::BTreeMap::new();
    repo.for_each_blob(&notes, &mut |oid, bytes| {
        contents.insert(oid.clone(), bytes.to_vec());
    })?;
    Ok(pairs
        .into_iter()
        .filter_map(|(n, c)| contents.remove(&n).map(|b| (c, b)))
        .collect())
}

/// Adds envelope lines to the note on `commit`, keeping existing lines; returns how many were new.
pub fn add(repo: &Repo, commit: &GitOid, lines: &[String]) -> Result<usize, GitError> {
    let existing = match git(
        repo,
        &["notes", "--ref", NOTES_REF, "show", commit.as_str()],
        None,
    ) {
        Ok(out) => String::from_utf8_lossy(&out).into_owned(),
        Err(GitError::Failed { .. }) => String::new(),
        Err(err) => return Err(err),
    };
    let mut all: Vec<String> = existing
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let mut added = 0;
    for line in lines {
        let line = line.trim();
        if !line.is_empty() && !all.iter().any(|l| l == line) {
            all.push(line.to_string());
            added += 1;
        }
    }
    if added == 0 {
        return Ok(0);
    }
    let content = all.join("\n") + "\n";
    git(
        repo,
        &[
            "notes",
            "--ref",
            NOTES_REF,
            "add",
            "-f",
            "-F",
            "-",
            commit.as_str(),
        ],
        Some(content.as_bytes()),
    )?;
    Ok(added)
}

/// Fetches the remote's notes and merges them into ours (union of lines). Returns false when the
/// remote has none.
pub fn fetch(repo: &Repo, remote: &str) -> Result<bool, GitError> {
    let refspec = format!("+{NOTES_REF}:{INCOMING_REF}");
    match git(repo, &["fetch", "--quiet", remote, &refspec], None) {
        Ok(_) => {}
        Err(GitError::Failed { stderr, .. }) if stderr.contains("couldn't find remote ref") => {
            return Ok(false);
        }
        Err(err) => return Err(err),
    }
    let have_local = git(repo, &["rev-parse", "--verify", "--quiet", NOTES_REF], None).is_ok();
    let result = if have_local {
        git(
            repo,
            &[
                "notes",
                "--ref",
                NOTES_REF,
                "merge",
                "--quiet",
                "-s",
                "cat_sort_uniq",
                INCOMING_REF,
            ],
            None,
        )
        .map(|_| ())
    } else {
        git(repo, &["update-ref", NOTES_REF, INCOMING_REF], None).map(|_| ())
    };
    let _ = git(repo, &["update-ref", "-d", INCOMING_REF], None);
    result.map(|()| true)
}

/// Merges the remote's notes into ours, then pushes ours.
pub fn push(repo: &Repo, remote: &str) -> Result<(), GitError> {
    fetch(repo, remote)?;
    let refspec = format!("{NOTES_REF}:{NOTES_REF}");
    git(repo, &["push", "--quiet", remote, &refspec], None).map(|_| ())
}
