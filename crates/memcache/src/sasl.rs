//! SASL PLAIN with users from a file. As in membase, the user name names a
//! *bucket*: an independent keyspace with its own store.
//!
//! The server checks logins against [`Users`]; TAP consumers read the same
//! file to connect to every bucket.

use std::collections::HashMap;
use std::path::Path;

/// Users and their passwords, read from a file of `user:password` lines
/// (`#` comments and blank lines ignored).
#[derive(Clone, Debug, Default)]
pub struct Users {
    passwords: HashMap<String, String>,
}

/// Why a users file was refused.
#[derive(Debug)]
pub struct UsersError {
    /// File and line (1-based) of the problem, when there is one.
    pub at: String,
    /// What is wrong.
    pub detail: String,
}

impl std::fmt::Display for UsersError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.detail)
    }
}

impl std::error::Error for UsersError {}

/// True when `name` can be a bucket (and directory) name.
pub fn valid_bucket_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl Users {
    /// Reads a users file.
    ///
    /// # Errors
    ///
    /// An unreadable file, a line without `:`, a user name that is not a
    /// valid bucket name (letters, digits, `.`, `_`, `-`), or a duplicate.
    pub fn load(path: &Path) -> Result<Users, UsersError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsersError { at: path.display().to_string(), detail: e.to_string() })?;
        Users::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a users file; `origin` names it in errors.
    ///
    /// # Errors
    ///
    /// As [`Users::load`].
    pub fn parse(text: &str, origin: &str) -> Result<Users, UsersError> {
        let mut passwords = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let at = || format!("{origin}:{}", n + 1);
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let Some((user, password)) = line.split_once(':') else {
                return Err(UsersError { at: at(), detail: "expected user:password".into() });
            };
            if !valid_bucket_name(user) {
                return Err(UsersError {
                    at: at(),
                    detail: format!(
                        "user {user:?} is not a valid bucket name (letters, digits, '.', '_', '-')"
                    ),
                });
            }
            if passwords.insert(user.to_string(), password.to_string()).is_some() {
                return Err(UsersError { at: at(), detail: format!("user {user:?} listed twice") });
            }
        }
        Ok(Users { passwords })
    }

    /// The user names (= bucket names).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.passwords.keys().map(String::as_str)
    }

    /// Every user with its password, sorted by user name.
    pub fn credentials(&self) -> Vec<(&str, &str)> {
        let mut v: Vec<_> = self.passwords.iter().map(|(u, p)| (u.as_str(), p.as_str())).collect();
        v.sort_unstable();
        v
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.passwords.len()
    }

    /// True when the file listed no user.
    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }

    /// Checks a SASL PLAIN message (`authzid NUL user NUL password`) and
    /// returns the authenticated user.
    pub fn check_plain(&self, message: &[u8]) -> Option<&str> {
        let mut parts = message.splitn(3, |&b| b == 0);
        let _authzid = parts.next()?;
        let user = std::str::from_utf8(parts.next()?).ok()?;
        let password = parts.next()?;
        let (name, expected) = self.passwords.get_key_value(user)?;
        constant_time_eq(expected.as_bytes(), password).then_some(name.as_str())
    }
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let users = Users::parse("# buckets\nalice:s3cret\n\nbob:pw:with:colons\r\n", "f").unwrap();
        assert_eq!(users.check_plain(b"\0alice\0s3cret"), Some("alice"));
        assert_eq!(users.check_plain(b"authz\0bob\0pw:with:colons"), Some("bob"));
        assert_eq!(users.check_plain(b"\0alice\0wrong"), None);
        assert_eq!(users.check_plain(b"\0carol\0x"), None);
        assert_eq!(users.check_plain(b"alice"), None);
    }

    #[test]
    fn refuses_bad_files_naming_the_line() {
        let err = Users::parse("ok:1\nnocolon\n", "users.txt").unwrap_err();
        assert_eq!(err.to_string(), "users.txt:2: expected user:password");
        assert!(Users::parse("../etc:1\n", "f").is_err());
        assert!(Users::parse("a:1\na:2\n", "f").unwrap_err().to_string().contains("twice"));
    }
}
