//! The TOML configuration: repositories to follow, where to spool, how to mail.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::paths::expand_tilde;

/// The commented example that `repo-digest init` writes.
pub const EXAMPLE: &str = include_str!("example.toml");

/// Which version-control system a working copy belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// git: `fetch`, then the range `HEAD..@{upstream}`, then a fast-forward.
    Git,
    /// Mercurial: `pull`, then `.` to the newest descendant on the same branch, then `update`.
    Hg,
    /// Subversion: the working revision to `HEAD`, then `update`.
    Svn,
}

impl Kind {
    /// The lowercase name used in the configuration and in mails.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Git => "git",
            Kind::Hg => "hg",
            Kind::Svn => "svn",
        }
    }
}

/// One followed working copy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repo {
    /// Short name used in subjects and spool file names (`[A-Za-z0-9._-]`).
    pub name: String,
    /// The working copy (a leading `~` is expanded).
    pub path: PathBuf,
    /// The version-control system.
    pub kind: Kind,
    /// git only: the upstream to follow instead of `@{upstream}` (e.g. `origin/main`).
    #[serde(default)]
    pub branch: Option<String>,
}

/// TLS mode for SMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (port 587); refuses servers without it.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption at all: only for a relay on localhost.
    None,
}

/// How mails leave the machine.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Transport {
    /// Pipe to a sendmail-compatible program.
    Sendmail {
        /// The program (default: `sendmail` from `PATH`).
        #[serde(default)]
        command: Option<String>,
    },
    /// Speak SMTP to a relay.
    Smtp {
        /// Relay host name.
        host: String,
        /// Port (default 587 for STARTTLS, 465 for TLS, 25 for none).
        #[serde(default)]
        port: Option<u16>,
        /// TLS mode.
        #[serde(default)]
        security: Security,
        /// Login name, if the relay wants authentication.
        #[serde(default)]
        username: Option<String>,
        /// File holding the password (first line; `~` expanded).
        #[serde(default)]
        password_file: Option<PathBuf>,
        /// Environment variable holding the password.
        #[serde(default)]
        password_env: Option<String>,
        /// Seconds to wait for the relay (default 60).
        #[serde(default)]
        timeout_secs: Option<u64>,
    },
    /// Write each mail as an `.eml` file into a directory.
    File {
        /// The directory (`~` expanded).
        dir: PathBuf,
    },
}

/// Sender, recipients and transport.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mail {
    /// The `From` address (`Name <addr>` or `addr`).
    pub from: String,
    /// One or more recipients.
    pub to: Vec<String>,
    /// How to send.
    pub transport: Transport,
}

/// Size limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Bytes of diff rendered inline (plain and HTML); the attachment is always complete.
    pub inline_bytes: usize,
    /// Attach the diff gzip-compressed when it is larger than this many bytes.
    pub compress_above: usize,
    /// Lines longer than this are shown without syntax highlighting.
    pub highlight_line_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { inline_bytes: 1 << 20, compress_above: 256 << 10, highlight_line_max: 2000 }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where diffs wait until their mail went out (`~` expanded).
    pub spool: PathBuf,
    /// Mail settings.
    pub mail: Mail,
    /// Size limits.
    #[serde(default)]
    pub limits: Limits,
    /// The repositories, in the order they are processed.
    #[serde(default, rename = "repo")]
    pub repos: Vec<Repo>,
}

impl Config {
    /// Parses `text` (read from `path`, which only names the file in errors), expands `~`
    /// and checks names.
    ///
    /// # Errors
    ///
    /// Invalid TOML, unknown keys, bad repository names or an empty `to` list, naming `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Config, Error> {
        let err = |message: String| Error::Config { path: path.to_path_buf(), message };
        let mut cfg: Config = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        cfg.spool = expand(&cfg.spool);
        for repo in &mut cfg.repos {
            repo.path = expand(&repo.path);
            if !valid_name(&repo.name) {
                return Err(err(format!(
                    "repository name {:?} must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with '.'",
                    repo.name
                )));
            }
            if repo.branch.is_some() && repo.kind != Kind::Git {
                return Err(err(format!("{}: `branch` is only used for git", repo.name)));
            }
        }
        for (i, repo) in cfg.repos.iter().enumerate() {
            if cfg.repos[..i].iter().any(|r| r.name == repo.name) {
                return Err(err(format!("repository name {:?} is used twice", repo.name)));
            }
        }
        if cfg.mail.to.is_empty() {
            return Err(err("mail.to lists no recipient".into()));
        }
        match &mut cfg.mail.transport {
            Transport::File { dir } => *dir = expand(dir),
            Transport::Smtp { password_file, .. } => {
                if let Some(p) = password_file {
                    *p = expand(p);
                }
            }
            Transport::Sendmail { .. } => {}
        }
        Ok(cfg)
    }

    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or [`Config::parse`] fails.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        Config::parse(&text, path)
    }
}

fn expand(p: &Path) -> PathBuf {
    match p.to_str() {
        Some(s) => expand_tilde(s),
        None => p.to_path_buf(),
    }
}

/// Names become file names in the spool, so they are kept to a safe alphabet.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses() {
        let cfg = Config::parse(EXAMPLE, Path::new("example.toml")).expect("example parses");
        assert_eq!(cfg.repos.len(), 3);
        assert_eq!(cfg.repos[1].kind, Kind::Hg);
        assert!(matches!(cfg.mail.transport, Transport::Smtp { security: Security::Starttls, .. }));
        assert!(!cfg.spool.starts_with("~"), "spool path keeps its ~: {}", cfg.spool.display());
    }

    #[test]
    fn bad_names_and_unknown_keys_are_rejected() {
        let base = "spool = \"/s\"\n[mail]\nfrom = \"a@b\"\nto = [\"c@d\"]\n[mail.transport]\nkind = \"file\"\ndir = \"/x\"\n";
        let bad = format!("{base}[[repo]]\nname = \"../x\"\npath = \"/r\"\nkind = \"git\"\n");
        let e = Config::parse(&bad, Path::new("c.toml")).unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("../x"), "{e}");
        let unknown =
            format!("{base}[[repo]]\nname = \"x\"\npath = \"/r\"\nkind = \"git\"\nbrnch = \"y\"\n");
        let e = Config::parse(&unknown, Path::new("c.toml")).unwrap_err().to_string();
        assert!(e.contains("brnch"), "{e}");
        let twice = format!(
            "{base}[[repo]]\nname = \"x\"\npath = \"/r\"\nkind = \"git\"\n[[repo]]\nname = \"x\"\npath = \"/q\"\nkind = \"hg\"\n"
        );
        assert!(Config::parse(&twice, Path::new("c.toml")).is_err());
    }
}
