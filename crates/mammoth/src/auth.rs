//! How a client subcommand reaches a server: SASL credentials (the user
//! as a flag, the password from a file or the environment, never from argv,
//! where `ps` shows it) and TLS for addresses written `tls://HOST:PORT`.

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
    /// CA certificates (PEM) to trust for servers addressed as
    /// tls://HOST:PORT (mammoth serve --tls-cert, memcached -Z).
    #[arg(long, value_name = "PEM")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// A client certificate chain (PEM) for TLS servers that ask for one.
    #[arg(long, value_name = "PEM", requires = "tls_ca")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The client certificate's key (PEM; default: read from --tls-cert).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
}

/// `addr` without its `tls://` scheme, and whether it had one.
pub(crate) fn split_scheme(addr: &str) -> (&str, bool) {
    match addr.strip_prefix("tls://") {
        Some(rest) => (rest, true),
        None => (addr, false),
    }
}

impl AuthArgs {
    /// `addr` (`HOST:PORT` or `tls://HOST:PORT`) without credentials.
    pub(crate) fn connection(&self, addr: &str) -> Result<Endpoint> {
        let (bare, tls) = split_scheme(addr);
        let e = Endpoint::new(bare);
        if !tls {
            return Ok(e);
        }
        let ca = self.tls_ca.as_deref().with_context(|| format!("{addr} needs --tls-ca FILE"))?;
        let client = self.tls_cert.as_deref().map(|cert| (cert, self.tls_key.as_deref()));
        Ok(e.with_tls(tap::ClientTls::new(ca, client)?))
    }

    /// `addr`, with the credentials when a bucket is named.
    pub(crate) fn endpoint(&self, addr: &str) -> Result<Endpoint> {
        if self.password.is_some() {
            bail!(
                "--password is not taken on the command line (ps shows it to every user); \
                 use --password-file FILE or {PASSWORD_ENV}"
            );
        }
        let e = self.connection(addr)?;
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
