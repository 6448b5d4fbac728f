//! The upstream credentials: where they come from and the header they become.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use http::HeaderValue;

/// The environment variable read when no `--auth-file` is given.
pub const AUTH_ENV: &str = "DEAUTH_PROXY_AUTH";

/// Credentials files larger than this are refused before reading.
pub const MAX_AUTH_FILE: u64 = 64 * 1024;

/// The credentials the proxy injects into every upstream request.
///
/// The text form is one line: `user:password` for Basic, or `Bearer TOKEN`.
/// A trailing newline is ignored; anything else is taken literally.
#[derive(Clone)]
pub struct Credentials {
    header: HeaderValue,
    scheme: &'static str,
}

impl Credentials {
    /// Parses the one-line text form (see the type's documentation).
    ///
    /// # Errors
    /// Empty text, a Basic form without `:`, a multi-line value or bytes not
    /// allowed in a header.
    pub fn parse(text: &str) -> Result<Self, CredentialsError> {
        let line = text.strip_suffix('\n').unwrap_or(text);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            return Err(CredentialsError::Empty);
        }
        if line.contains(['\n', '\r']) {
            return Err(CredentialsError::MultiLine);
        }
        let (value, scheme) = if let Some(token) = strip_prefix_ignore_case(line, "bearer ") {
            let token = token.trim();
            if token.is_empty() {
                return Err(CredentialsError::Empty);
            }
            (format!("Bearer {token}"), "bearer")
        } else {
            if !line.contains(':') {
                return Err(CredentialsError::NoColon);
            }
            let encoded = base64::engine::general_purpose::STANDARD.encode(line.as_bytes());
            (format!("Basic {encoded}"), "basic")
        };
        let mut header = HeaderValue::from_str(&value).map_err(|_| CredentialsError::BadBytes)?;
        header.set_sensitive(true);
        Ok(Credentials { header, scheme })
    }

    /// Reads and parses a credentials file, refusing files over
    /// [`MAX_AUTH_FILE`] bytes.
    ///
    /// # Errors
    /// The file cannot be read, is too large, or does not parse.
    pub fn from_file(path: &Path) -> Result<Self, AuthSourceError> {
        let fail = |kind| AuthSourceError::File { path: path.to_path_buf(), kind };
        let file = std::fs::File::open(path).map_err(|e| fail(FileErrorKind::Io(e)))?;
        let len = file.metadata().map_err(|e| fail(FileErrorKind::Io(e)))?.len();
        if len > MAX_AUTH_FILE {
            return Err(fail(FileErrorKind::TooLarge(len)));
        }
        let mut text = String::with_capacity(len as usize);
        file.take(MAX_AUTH_FILE + 1)
            .read_to_string(&mut text)
            .map_err(|e| fail(FileErrorKind::Io(e)))?;
        if text.len() as u64 > MAX_AUTH_FILE {
            return Err(fail(FileErrorKind::TooLarge(text.len() as u64)));
        }
        Credentials::parse(&text).map_err(|e| fail(FileErrorKind::Parse(e)))
    }

    /// Loads from `path` when given, else from [`AUTH_ENV`].
    ///
    /// # Errors
    /// Neither source is present, or the chosen one is unusable.
    pub fn load(path: Option<&Path>) -> Result<Self, AuthSourceError> {
        if let Some(path) = path {
            return Self::from_file(path);
        }
        match std::env::var(AUTH_ENV) {
            Ok(text) => Credentials::parse(&text).map_err(AuthSourceError::Env),
            Err(std::env::VarError::NotPresent) => Err(AuthSourceError::Missing),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(AuthSourceError::Env(CredentialsError::BadBytes))
            }
        }
    }

    /// The `Authorization` value sent upstream (marked sensitive).
    pub fn header(&self) -> &HeaderValue {
        &self.header
    }

    /// `"basic"` or `"bearer"`, for the startup log.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("scheme", &self.scheme).finish_non_exhaustive()
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// Why a credentials text was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum CredentialsError {
    /// Nothing but whitespace.
    Empty,
    /// Neither `Bearer TOKEN` nor `user:password`.
    NoColon,
    /// More than one line.
    MultiLine,
    /// Bytes a header value may not carry.
    BadBytes,
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialsError::Empty => "credentials are empty",
            CredentialsError::NoColon => {
                "credentials are neither `user:password` nor `Bearer TOKEN`"
            }
            CredentialsError::MultiLine => "credentials span more than one line",
            CredentialsError::BadBytes => "credentials contain bytes not allowed in a header",
        })
    }
}

impl std::error::Error for CredentialsError {}

/// What went wrong with a credentials file.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileErrorKind {
    /// Opening or reading failed.
    Io(std::io::Error),
    /// Over [`MAX_AUTH_FILE`] bytes.
    TooLarge(u64),
    /// The text did not parse.
    Parse(CredentialsError),
}

/// Why no credentials could be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthSourceError {
    /// Neither `--auth-file` nor the environment variable was given.
    Missing,
    /// The environment variable's value was refused.
    Env(CredentialsError),
    /// The credentials file was unusable.
    File {
        /// The file named on the command line.
        path: PathBuf,
        /// What went wrong.
        kind: FileErrorKind,
    },
}

impl fmt::Display for AuthSourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthSourceError::Missing => {
                write!(f, "no credentials: give --auth-file FILE or set {AUTH_ENV}")
            }
            AuthSourceError::Env(_) => write!(f, "{AUTH_ENV} is unusable"),
            AuthSourceError::File { path, kind: FileErrorKind::TooLarge(n) } => write!(
                f,
                "credentials file {} is {n} bytes, over the {MAX_AUTH_FILE}-byte limit",
                path.display()
            ),
            AuthSourceError::File { path, kind: FileErrorKind::Io(_) } => {
                write!(f, "cannot read credentials file {}", path.display())
            }
            AuthSourceError::File { path, kind: FileErrorKind::Parse(_) } => {
                write!(f, "credentials file {} is unusable", path.display())
            }
        }
    }
}

impl std::error::Error for AuthSourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuthSourceError::Env(e)
            | AuthSourceError::File { kind: FileErrorKind::Parse(e), .. } => Some(e),
            AuthSourceError::File { kind: FileErrorKind::Io(e), .. } => Some(e),
            AuthSourceError::Missing | AuthSourceError::File { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_bearer() {
        let c = Credentials::parse("admin:s3cret\n").unwrap();
        assert_eq!(c.header(), "Basic YWRtaW46czNjcmV0");
        assert_eq!(c.scheme(), "basic");
        let c = Credentials::parse("bearer abc.def\r\n").unwrap();
        assert_eq!(c.header(), "Bearer abc.def");
        assert!(format!("{c:?}").find("abc").is_none());
    }

    #[test]
    fn refusals() {
        assert!(matches!(Credentials::parse("\n"), Err(CredentialsError::Empty)));
        assert!(matches!(Credentials::parse("Bearer  \n"), Err(CredentialsError::Empty)));
        assert!(matches!(Credentials::parse("nocolon"), Err(CredentialsError::NoColon)));
        assert!(matches!(Credentials::parse("a:b\nc:d"), Err(CredentialsError::MultiLine)));
        assert!(matches!(Credentials::parse("Bearer a\u{7f}b"), Err(CredentialsError::BadBytes)));
    }
}
