//! TLS for client connections, as memcached's `-Z`: every TCP listener
//! given a [`Tls`] speaks TLS (rustls, no OpenSSL), unix sockets stay
//! plain. Certificates are read from PEM files and can be read again while
//! the server runs ([`Tls::reload`]: the text command `refresh_certs`, or
//! SIGHUP in `mammoth serve`): connections already open keep their session,
//! new ones get the new certificate.
//!
//! Clients may be asked for a certificate of their own, signed by a CA the
//! server is given (memcached's `ssl_verify_mode` and `ssl_ca_cert`).
//!
//! ```no_run
//! # fn demo() -> Result<(), server::TlsError> {
//! let tls = server::Tls::load(server::TlsSettings::new("server.pem"))?;
//! # let _ = tls; Ok(()) }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// Whether clients must show a certificate (memcached's `ssl_verify_mode`
/// 0, 1 and 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A certificate is asked for and verified when the client sends one.
    Request,
    /// Clients without a certificate signed by the CA are refused.
    Require,
}

impl ClientAuth {
    /// memcached's number for the mode (`stats settings`, `ssl_verify_mode`).
    pub fn memcached_mode(self) -> u8 {
        match self {
            ClientAuth::None => 0,
            ClientAuth::Request => 1,
            ClientAuth::Require => 2,
        }
    }
}

/// The oldest TLS version accepted (rustls speaks only 1.2 and 1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinVersion {
    /// TLS 1.2 and 1.3 (memcached's default minimum).
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl MinVersion {
    /// memcached's spelling (`tlsv1.2`).
    pub fn name(self) -> &'static str {
        match self {
            MinVersion::Tls12 => "tlsv1.2",
            MinVersion::Tls13 => "tlsv1.3",
        }
    }
}

/// Where the certificates are and what is asked of clients.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// The server's certificate chain, PEM, leaf first.
    pub cert: PathBuf,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1). `None`: the key is in
    /// the certificate file.
    pub key: Option<PathBuf>,
    /// CA certificates that sign client certificates, PEM; needed when
    /// `client_auth` is not [`ClientAuth::None`].
    pub ca: Option<PathBuf>,
    /// Whether clients must show a certificate.
    pub client_auth: ClientAuth,
    /// The oldest version accepted.
    pub min_version: MinVersion,
}

impl TlsSettings {
    /// The certificate chain and key in one PEM file, no client
    /// certificates, TLS 1.2 and up.
    pub fn new(cert: impl Into<PathBuf>) -> TlsSettings {
        TlsSettings {
            cert: cert.into(),
            key: None,
            ca: None,
            client_auth: ClientAuth::None,
            min_version: MinVersion::Tls12,
        }
    }

    /// The file the private key is read from.
    pub fn key_path(&self) -> &Path {
        self.key.as_deref().unwrap_or(&self.cert)
    }
}

/// Why certificates could not be loaded. The file involved is named once.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file holds no PEM item of the kind needed, or a broken one.
    Pem {
        /// The file.
        path: PathBuf,
        /// What was looked for (`certificate`, `private key`).
        what: &'static str,
        /// The parser's error.
        source: rustls::pki_types::pem::Error,
    },
    /// A CA certificate was refused (not a valid X.509 certificate).
    BadCa {
        /// The CA file.
        path: PathBuf,
        /// rustls's error.
        source: rustls::Error,
    },
    /// Client certificates are asked for but no CA file is given.
    NoCa,
    /// rustls refused the combination (a key that does not match the
    /// certificate, an unsupported key type).
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's error.
        source: rustls::Error,
    },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read { path, .. } => write!(f, "cannot read {}", path.display()),
            TlsError::Pem { path, what, .. } => {
                write!(f, "no usable PEM {what} in {}", path.display())
            }
            TlsError::BadCa { path, .. } => {
                write!(f, "bad CA certificate in {}", path.display())
            }
            TlsError::NoCa => {
                f.write_str("client certificates are asked for but no CA file is given")
            }
            TlsError::Config { cert, key, .. } => write!(
                f,
                "the certificate {} and the key {} cannot be used together",
                cert.display(),
                key.display()
            ),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Read { source, .. } => Some(source),
            TlsError::Pem { source, .. } => Some(source),
            TlsError::BadCa { source, .. } | TlsError::Config { source, .. } => Some(source),
            TlsError::NoCa => None,
        }
    }
}

/// The server side of TLS: the settings and the rustls configuration built
/// from the files they name, swapped whole by [`Tls::reload`].
pub struct Tls {
    settings: TlsSettings,
    current: RwLock<Arc<ServerConfig>>,
    started: Instant,
    /// Milliseconds after `started` of the last successful load.
    loaded_ms: AtomicU64,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the certificates the settings name.
    ///
    /// # Errors
    ///
    /// When a file cannot be read or parsed, or rustls refuses what is in
    /// them (see [`TlsError`]).
    pub fn load(settings: TlsSettings) -> Result<Tls, TlsError> {
        let config = build(&settings)?;
        Ok(Tls {
            settings,
            current: RwLock::new(Arc::new(config)),
            started: Instant::now(),
            loaded_ms: AtomicU64::new(0),
        })
    }

    /// Reads the files again; new connections get what they hold now, open
    /// ones keep their sessions. On an error the old certificates stay.
    ///
    /// # Errors
    ///
    /// As [`Tls::load`].
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = Arc::new(build(&self.settings)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.loaded_ms.store(ms, Ordering::Relaxed);
        Ok(())
    }

    /// The settings it was loaded with.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// Time since the certificates were last read (memcached's
    /// `time_since_server_cert_refresh`).
    pub fn since_refresh(&self) -> Duration {
        let loaded = Duration::from_millis(self.loaded_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(loaded)
    }

    /// An acceptor with the current certificates.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner));
        tokio_rustls::TlsAcceptor::from(config)
    }
}

/// `e` and its causes, for a protocol error reply (which keeps it to one
/// line).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |source| TlsError::Pem { path: path.to_owned(), what: "certificate", source };
    let certs = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err(pem_error(rustls::pki_types::pem::Error::NoItemsFound));
    }
    Ok(certs)
}

/// The rustls configuration the files of `settings` make.
fn build(settings: &TlsSettings) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = certificates(&settings.cert)?;
    let key_path = settings.key_path();
    let key = PrivateKeyDer::from_pem_slice(&read(key_path)?).map_err(|source| TlsError::Pem {
        path: key_path.to_owned(),
        what: "private key",
        source,
    })?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = match settings.min_version {
        MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        MinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let config_error =
        |source| TlsError::Config { cert: settings.cert.clone(), key: key_path.to_owned(), source };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(config_error)?;
    let builder = if settings.client_auth == ClientAuth::None {
        builder.with_no_client_auth()
    } else {
        let ca = settings.ca.as_deref().ok_or(TlsError::NoCa)?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in certificates(ca)? {
            roots.add(cert).map_err(|source| TlsError::BadCa { path: ca.to_owned(), source })?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if settings.client_auth == ClientAuth::Request {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        let verifier = verifier.build().map_err(|e| TlsError::BadCa {
            path: ca.to_owned(),
            source: rustls::Error::General(e.to_string()),
        })?;
        builder.with_client_cert_verifier(verifier)
    };
    builder.with_single_cert(certs, key).map_err(config_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn self_signed() -> rcgen::CertifiedKey<rcgen::KeyPair> {
        rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap()
    }

    #[test]
    fn loads_a_chain_and_key_from_one_file_or_two() {
        let dir = tempfile::tempdir().unwrap();
        let ck = self_signed();
        let both = format!("{}{}", ck.cert.pem(), ck.signing_key.serialize_pem());
        let one = write(dir.path(), "both.pem", &both);
        Tls::load(TlsSettings::new(&one)).unwrap();
        let cert = write(dir.path(), "cert.pem", &ck.cert.pem());
        let key = write(dir.path(), "key.pem", &ck.signing_key.serialize_pem());
        let settings = TlsSettings { key: Some(key), ..TlsSettings::new(&cert) };
        let tls = Tls::load(settings).unwrap();
        assert!(tls.since_refresh() < Duration::from_secs(5));
    }

    #[test]
    fn errors_name_the_file_and_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let ck = self_signed();
        let missing = dir.path().join("nope.pem");
        let e = Tls::load(TlsSettings::new(&missing)).unwrap_err();
        assert!(matches!(e, TlsError::Read { .. }));
        assert_eq!(e.to_string(), format!("cannot read {}", missing.display()));

        let cert_only = write(dir.path(), "cert.pem", &ck.cert.pem());
        let e = Tls::load(TlsSettings::new(&cert_only)).unwrap_err();
        assert!(matches!(e, TlsError::Pem { what: "private key", .. }), "{e:?}");
        assert!(e.to_string().contains("cert.pem"), "{e}");

        let junk = write(dir.path(), "junk.pem", "hello\n");
        let e = Tls::load(TlsSettings::new(&junk)).unwrap_err();
        assert!(matches!(e, TlsError::Pem { what: "certificate", .. }), "{e:?}");

        // A key that is not the certificate's.
        let other = self_signed();
        let key = write(dir.path(), "other-key.pem", &other.signing_key.serialize_pem());
        let settings = TlsSettings { key: Some(key), ..TlsSettings::new(&cert_only) };
        let e = Tls::load(settings).unwrap_err();
        assert!(matches!(e, TlsError::Config { .. }), "{e:?}");

        let both = format!("{}{}", ck.cert.pem(), ck.signing_key.serialize_pem());
        let both = write(dir.path(), "both.pem", &both);
        let settings = TlsSettings { client_auth: ClientAuth::Require, ..TlsSettings::new(&both) };
        assert!(matches!(Tls::load(settings).unwrap_err(), TlsError::NoCa));
    }

    #[test]
    fn a_failed_reload_keeps_the_old_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let ck = self_signed();
        let both = format!("{}{}", ck.cert.pem(), ck.signing_key.serialize_pem());
        let path = write(dir.path(), "both.pem", &both);
        let tls = Tls::load(TlsSettings::new(&path)).unwrap();
        let before = Arc::as_ptr(&tls.current.read().unwrap());
        std::fs::write(&path, "broken").unwrap();
        assert!(tls.reload().is_err());
        assert_eq!(Arc::as_ptr(&tls.current.read().unwrap()), before);
        std::fs::write(&path, &both).unwrap();
        tls.reload().unwrap();
        assert_ne!(Arc::as_ptr(&tls.current.read().unwrap()), before);
    }
}
