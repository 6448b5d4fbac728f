//! SASL credentials on the command line: the user as a flag, the password
//! from a file or the environment, never from argv (where `ps` shows it).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use tap::Endpoint;

/// The environment variable a password may come from.
pub(crate) const PASSWORD_ENV: &str = "MAMMOTH_PASSWORD";

/// SASL PLAIN user and where its password is.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct AuthArgs {
    #[arg(
        long,
        help = "SASL PLAIN user (on mammoth: the bucket); the password comes from \
                --password-file or the MAMMOTH_PASSWORD environment variable"
    )]
    pub(crate) bucket: Option<String>,
    /// File whose first line is the password for --bucket.
    #[arg(long, requires = "bucket")]
    pub(crate) password_file: Option<PathBuf>,
    /// Refused: a password on the command line shows in `ps`.
    #[arg(long, hide = true)]
    pub(crate) password: Option<String>,
}

impl AuthArgs {
    /// `addr`, with the credentials when a bucket is named.
    pub(crate) fn endpoint(&self, addr: &str) -> Result<Endpoint> {
        if self.password.is_some() {
            bail!(
                "--password is not taken on the command line (ps shows it to every user); \
                 use --password-file FILE or {PASSWORD_ENV}"
            );
        }
        let e = Endpoint::new(addr);
        let Some(user) = &self.bucket else { return Ok(e) };
        let password = match &self.password_file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading the password file {}", p.display()))?;
                text.lines().next().unwrap_or_default().to_owned()
            }
            None => std::env::var(PASSWORD_ENV).with_context(|| {
                format!("--bucket needs --password-file FILE or {PASSWORD_ENV}")
            })?,
        };
        Ok(e.with_auth(user, password))
    }
}
