//! Paths that come from records and attestations are data, not trusted: before one is used to
//! read or write a file it must be a plain relative path (no absolute path, no `..` or `.`, no
//! NUL) and, when joined to a root on disk, must not pass through a symlinked directory.

use std::path::{Component, Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path:?} is not a safe relative path: {reason}")]
pub struct UnsafePath {
    pub path: String,
    pub reason: &'static str,
}

/// Checks the shape of a recorded relative path.
pub fn check_relative(rel: &str) -> Result<(), UnsafePath> {
    let unsafe_path = |reason| {
        Err(UnsafePath {
            path: rel.to_string(),
            reason,
        })
    };
    if rel.is_empty() {
        return unsafe_path("empty");
    }
    if rel.contains('\0') {
        return unsafe_path("contains NUL");
    }
    let path = Path::new(rel);
    if path.is_absolute() {
        return unsafe_path("absolute path");
    }
    // `Path::components` quietly drops interior `.` and empty segments, so check the raw
    // segments too: git never writes `a/./b`, `a//b` or `a/`, and neither do we.
    if path
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
        || rel
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return unsafe_path("has an empty, `..` or `.` component");
    }
    Ok(())
}

/// Joins a recorded relative path to `root`, refusing unsafe shapes and symlinked parents
/// (which could lead anywhere). The final component may itself be a symlink: callers that read
/// or write it use `symlink_metadata` and never follow it.
pub fn safe_join(root: &Path, rel: &str) -> Result<PathBuf, UnsafePath> {
    check_relative(rel)?;
    let rel_path = Path::new(rel);
    let mut cursor = root.to_path_buf();
    if let Some(parent) = rel_path.parent() {
        for component in parent.components() {
            cursor.push(component);
            if cursor
                .symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink())
            {
                return Err(UnsafePath {
                    path: rel.to_string(),
                    reason: "a parent directory is a symlink",
                });
            }
        }
    }
    Ok(root.join(rel_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_shapes_are_refused() {
        for bad in [
            "",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "./x",
            "a\0b",
            "a/./b",
            "a//b",
            "a/",
        ] {
            assert!(check_relative(bad).is_err(), "{bad:?}");
        }
        for good in [
            "a",
            "a/b.txt",
            ".github/workflows/ci.yml",
            "..x",
            "x..",
            "a b/c",
        ] {
            assert!(check_relative(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn symlinked_parents_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        assert!(safe_join(dir.path(), "link/file").is_err());
        // The last component may be a symlink (callers do not follow it).
        assert!(safe_join(dir.path(), "link").is_ok());
        std::fs::create_dir(dir.path().join("real")).unwrap();
        assert_eq!(
            safe_join(dir.path(), "real/file").unwrap(),
            dir.path().join("real/file")
        );
    }
}
