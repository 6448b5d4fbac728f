//! `~` expansion for paths in the configuration and on the command line.

use std::path::{Path, PathBuf};

/// Expands a leading `~` or `~/` to `home`; other paths (including `~user`) stay as they are.
pub fn expand_tilde_with(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix('~'), home) {
        (Some(""), Some(home)) => home.to_path_buf(),
        (Some(rest), Some(home)) if rest.starts_with('/') => {
            home.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(path),
    }
}

/// Expands a leading `~` using `$HOME`.
pub fn expand_tilde(path: &str) -> PathBuf {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    expand_tilde_with(path, home.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_only_a_leading_tilde() {
        let home = Path::new("/home/ann");
        assert_eq!(expand_tilde_with("~", Some(home)), PathBuf::from("/home/ann"));
        assert_eq!(
            expand_tilde_with("~/.repo-diffs", Some(home)),
            PathBuf::from("/home/ann/.repo-diffs")
        );
        assert_eq!(expand_tilde_with("~bob/x", Some(home)), PathBuf::from("~bob/x"));
        assert_eq!(expand_tilde_with("/a/~/b", Some(home)), PathBuf::from("/a/~/b"));
        assert_eq!(expand_tilde_with("~/x", None), PathBuf::from("~/x"));
    }
}
