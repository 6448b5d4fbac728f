//! TLS flags of `mammoth serve` (memcached's `-Z` and its `ssl_*` options).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

/// The server's TLS settings.
#[derive(Args, Debug, Clone, Default)]
#[allow(clippy::struct_field_names, reason = "the fields are the --tls-* flags")]
pub(crate) struct TlsArgs {
    /// Serve TLS on every TCP address (memcached's -Z; `-l notls:ADDR`
    /// keeps one plain): the certificate chain, PEM, leaf first. SIGHUP or
    /// the text command `refresh_certs` reads the files again.
    #[arg(long, value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key, PEM (default: read from --tls-cert).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA certificates, PEM, that sign the clients' certificates; with it,
    /// clients must show one (see --tls-verify).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_ca: Option<PathBuf>,
    /// Client certificates: `none`, `request` (verified when sent) or
    /// `require` (default: `require` with --tls-ca, else `none`).
    #[arg(long, value_enum, requires = "tls_cert")]
    tls_verify: Option<VerifyArg>,
    /// Oldest TLS version accepted.
    #[arg(long, value_enum, default_value_t = MinVersionArg::V1_2)]
    tls_min_version: MinVersionArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum VerifyArg {
    /// Ask for no client certificate.
    None,
    /// Ask for one; verify it when the client sends one.
    Request,
    /// Refuse clients without a certificate signed by --tls-ca.
    Require,
}

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
enum MinVersionArg {
    /// TLS 1.2 and 1.3.
    #[default]
    #[value(name = "1.2")]
    V1_2,
    /// TLS 1.3 only.
    #[value(name = "1.3")]
    V1_3,
}

impl TlsArgs {
    /// The loaded certificates, when TLS is asked for.
    pub(crate) fn load(&self) -> Result<Option<Arc<server::Tls>>> {
        let Some(cert) = &self.tls_cert else { return Ok(None) };
        let client_auth = match (self.tls_verify, &self.tls_ca) {
            (Some(VerifyArg::None), _) | (None, None) => server::ClientAuth::None,
            (Some(VerifyArg::Request), _) => server::ClientAuth::Request,
            (Some(VerifyArg::Require), _) | (None, Some(_)) => server::ClientAuth::Require,
        };
        if client_auth != server::ClientAuth::None && self.tls_ca.is_none() {
            bail!("--tls-verify request or require needs --tls-ca");
        }
        let settings = server::TlsSettings {
            cert: cert.clone(),
            key: self.tls_key.clone(),
            ca: self.tls_ca.clone(),
            client_auth,
            min_version: match self.tls_min_version {
                MinVersionArg::V1_2 => server::MinVersion::Tls12,
                MinVersionArg::V1_3 => server::MinVersion::Tls13,
            },
        };
        let tls = server::Tls::load(settings).context("setting up TLS")?;
        Ok(Some(Arc::new(tls)))
    }
}

/// Reads the certificates again on every SIGHUP (memcached does the same).
pub(crate) fn reload_on_sighup(tls: Arc<server::Tls>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificates read again"),
                Err(e) => tracing::error!(
                    error = &e as &dyn std::error::Error,
                    "SIGHUP: could not read the TLS certificates; the old ones stay"
                ),
            }
        }
    });
    Ok(())
}
