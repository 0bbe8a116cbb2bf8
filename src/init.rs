//! What `codex-attest init` writes: the release policy template, and a GitHub Actions workflow in
//! which a matrix of roles runs Codex under `wrap` and keeps the recorded run and logs as
//! artifacts, a separate job signs them, and a gate job verifies them.
//!
//! The templates are text with comments for the people who review them; only the role matrix is
//! generated.

/// The workflow template; `{{MATRIX}}` is replaced by one `include` entry per role, `{{ROLES}}`
/// by the role names.
const WORKFLOW_TEMPLATE: &str = include_str!("workflow_template.yml");

/// The roles of the source report's CI recipe.
pub const DEFAULT_ROLES: [&str; 3] = ["scaffold", "fixer", "reviewer"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InitError {
    #[error(
        "role name {0:?} is not allowed: use letters, digits, `-` and `_`, starting with a letter or digit"
    )]
    BadRole(String),
    #[error("role {0:?} is listed twice")]
    DuplicateRole(String),
    #[error("no roles given")]
    NoRoles,
}

/// The sandbox a role runs with: reviewers only read (the policy template limits
/// `[roles.reviewer]` to `read-only` and no changed files); every other role may write the
/// workspace.
pub fn role_sandbox(role: &str) -> &'static str {
    if role == "reviewer" {
        "read-only"
    } else {
        "workspace-write"
    }
}

/// The GitHub Actions workflow for these roles.
pub fn workflow(roles: &[String]) -> Result<String, InitError> {
    if roles.is_empty() {
        return Err(InitError::NoRoles);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut matrix = String::new();
    for role in roles {
        let ok = role
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
            && role
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && role.len() <= 64;
        if !ok {
            return Err(InitError::BadRole(role.clone()));
        }
        if !seen.insert(role.as_str()) {
            return Err(InitError::DuplicateRole(role.clone()));
        }
        matrix.push_str(&format!(
            "          - role: {role}\n            sandbox: {}\n",
            role_sandbox(role)
        ));
    }
    Ok(WORKFLOW_TEMPLATE
        .replace("{{MATRIX}}\n", &matrix)
        .replace("{{ROLES}}", &roles.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_become_matrix_entries() {
        let roles: Vec<String> = DEFAULT_ROLES.iter().map(|r| r.to_string()).collect();
        let text = workflow(&roles).unwrap();
        assert!(text.contains("          - role: reviewer\n            sandbox: read-only\n"));
        assert!(text.contains("          - role: fixer\n            sandbox: workspace-write\n"));
        assert!(!text.contains("{{MATRIX}}") && !text.contains("{{ROLES}}"));
        assert!(text.contains("role: [scaffold, fixer, reviewer]"));
    }

    #[test]
    fn role_names_cannot_inject_yaml() {
        for bad in ["", "a b", "x\n  evil: 1", "-x", "${{ secrets.X }}"] {
            assert!(
                matches!(workflow(&[bad.to_string()]), Err(InitError::BadRole(_))),
                "{bad:?}"
            );
        }
        let twice = vec!["a".to_string(), "a".to_string()];
        assert_eq!(workflow(&twice), Err(InitError::DuplicateRole("a".into())));
    }
}
