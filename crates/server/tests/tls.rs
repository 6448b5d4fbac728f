//! TLS listeners, with rustls's own client on the other side: verified
//! server certificates, client certificates, certificates read again while
//! connections stay open.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::support::TestServer;

/// A test CA that signs server and client certificates.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM and DER.
struct Leaf {
    cert: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
    key_der: Vec<u8>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn sign(&self, purpose: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A rustls client trusting `ca`, showing `cert` when given.
fn client_config(ca: &Ca, cert: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.issuer.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match cert {
        Some(leaf) => {
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone()));
            builder.with_client_auth_cert(vec![leaf.cert.clone()], key).unwrap()
        }
        None => builder.with_no_client_auth(),
    })
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Connects and finishes the handshake (an error when the server refuses).
fn connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> std::io::Result<BufReader<Tls>> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap())
        .map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(BufReader::new(tls))
}

/// Sends `request` and reads lines up to the one `last` accepts.
fn call(c: &mut BufReader<Tls>, request: &str) -> std::io::Result<Vec<String>> {
    c.get_mut().write_all(request.as_bytes())?;
    c.get_mut().flush()?;
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if c.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end().to_owned();
        let end = ["END", "STORED", "OK"].contains(&line.as_str())
            || line.starts_with("ERROR")
            || line.starts_with("SERVER_ERROR")
            || line.starts_with("CLIENT_ERROR");
        lines.push(line);
        if end {
            return Ok(lines);
        }
    }
}

fn stat(c: &mut BufReader<Tls>, group: &str, name: &str) -> String {
    let want = format!("STAT {name} ");
    call(c, &format!("stats {group}\r\n"))
        .unwrap()
        .into_iter()
        .find_map(|l| l.strip_prefix(&want).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {name} in stats {group}"))
}

fn peer_cert(c: &BufReader<Tls>) -> CertificateDer<'static> {
    c.get_ref().conn.peer_certificates().unwrap()[0].clone().into_owned()
}

fn server_with(
    dir: &Path,
    ca: &Ca,
    settings: impl FnOnce(server::TlsSettings) -> server::TlsSettings,
) -> (TestServer, Leaf) {
    let leaf = ca.sign(ExtendedKeyUsagePurpose::ServerAuth);
    let cert = write(dir, "server.pem", &leaf.cert_pem);
    let key = write(dir, "server-key.pem", &leaf.key_pem);
    let settings =
        settings(server::TlsSettings { key: Some(key), ..server::TlsSettings::new(cert) });
    let tls = Arc::new(server::Tls::load(settings).unwrap());
    (TestServer::start_tls(server::Config::default(), tls), leaf)
}

#[test]
fn both_protocols_speak_over_a_verified_tls_connection() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (server, leaf) = server_with(dir.path(), &ca, |s| s);
    let mut c = connect(server.addr, client_config(&ca, None)).unwrap();
    assert_eq!(peer_cert(&c), leaf.cert);
    assert_eq!(call(&mut c, "set k 3 0 5\r\nhello\r\n").unwrap(), ["STORED"]);
    assert_eq!(call(&mut c, "get k\r\n").unwrap(), ["VALUE k 3 5", "hello", "END"]);
    assert_eq!(stat(&mut c, "settings", "ssl_enabled"), "yes");
    assert_eq!(stat(&mut c, "settings", "ssl_verify_mode"), "0");
    assert_eq!(stat(&mut c, "settings", "ssl_min_version"), "tlsv1.2");
    assert_eq!(stat(&mut c, "", "ssl_handshake_errors"), "0");

    // A binary connection: the first byte after the handshake decides, as on TCP.
    let mut b = connect(server.addr, client_config(&ca, None)).unwrap();
    let mut get = vec![0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x01];
    get.extend_from_slice(&[0, 0, 0, 0x2a, 0, 0, 0, 0, 0, 0, 0, 0]);
    get.push(b'k');
    b.get_mut().write_all(&get).unwrap();
    b.get_mut().flush().unwrap();
    let mut header = [0u8; 24];
    b.read_exact(&mut header).unwrap();
    assert_eq!((header[0], header[1], header[7]), (0x81, 0x00, 0x00), "a GET hit");
    assert_eq!(&header[12..16], &[0, 0, 0, 0x2a], "opaque echoed");
    let body_len = u32::from_be_bytes(header[8..12].try_into().unwrap()) as usize;
    let mut body = vec![0u8; body_len];
    b.read_exact(&mut body).unwrap();
    assert_eq!(&body[..4], &[0, 0, 0, 3], "flags");
    assert_eq!(&body[4..], b"hello");

    // `quit` ends the session with a close_notify, not a bare FIN.
    c.get_mut().write_all(b"quit\r\n").unwrap();
    c.get_mut().flush().unwrap();
    let mut rest = Vec::new();
    assert_eq!(c.read_to_end(&mut rest).unwrap(), 0, "a clean TLS end");
}

#[test]
fn a_plain_client_on_a_tls_port_gets_no_service() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (server, _) = server_with(dir.path(), &ca, |s| s);
    let mut plain = TcpStream::connect(server.addr).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    plain.write_all(b"get k\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"END"), "no plain-text reply: {answer:?}");
    if let Some(&first) = answer.first() {
        assert_eq!(first, 0x15, "a TLS alert record, if anything");
    }
    let mut c = connect(server.addr, client_config(&ca, None)).unwrap();
    assert_eq!(stat(&mut c, "", "ssl_handshake_errors"), "1");
}

#[test]
fn client_certificates_from_the_ca_are_required_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let ca_path = write(dir.path(), "ca.pem", &ca.pem());
    let (server, _) = server_with(dir.path(), &ca, |s| server::TlsSettings {
        ca: Some(ca_path),
        client_auth: server::ClientAuth::Require,
        ..s
    });
    // Without a certificate: refused (TLS 1.3 reports it on the first read).
    let refused = connect(server.addr, client_config(&ca, None))
        .and_then(|mut c| call(&mut c, "version\r\n"));
    assert!(refused.is_err(), "{refused:?}");
    // With one from another CA: refused too.
    let stranger = Ca::new().sign(ExtendedKeyUsagePurpose::ClientAuth);
    let refused = connect(server.addr, client_config(&ca, Some(&stranger)))
        .and_then(|mut c| call(&mut c, "version\r\n"));
    assert!(refused.is_err(), "{refused:?}");
    // With one the CA signed: served.
    let client = ca.sign(ExtendedKeyUsagePurpose::ClientAuth);
    let mut c = connect(server.addr, client_config(&ca, Some(&client))).unwrap();
    assert_eq!(call(&mut c, "set k 0 0 1\r\nx\r\n").unwrap(), ["STORED"]);
    assert_eq!(stat(&mut c, "settings", "ssl_verify_mode"), "2");
    assert_eq!(stat(&mut c, "", "ssl_handshake_errors"), "2");
}

#[test]
fn refresh_certs_serves_new_connections_the_new_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (server, first) = server_with(dir.path(), &ca, |s| s);
    let mut old = connect(server.addr, client_config(&ca, None)).unwrap();
    assert_eq!(peer_cert(&old), first.cert);

    // A broken file: an error naming it, and the old certificate stays.
    write(dir.path(), "server.pem", "not a certificate\n");
    let reply = call(&mut old, "refresh_certs\r\n").unwrap();
    assert_eq!(reply.len(), 1);
    assert!(reply[0].starts_with("SERVER_ERROR no usable PEM certificate in "), "{reply:?}");
    assert!(reply[0].contains("server.pem"), "{reply:?}");
    let c = connect(server.addr, client_config(&ca, None)).unwrap();
    assert_eq!(peer_cert(&c), first.cert);

    let second = ca.sign(ExtendedKeyUsagePurpose::ServerAuth);
    write(dir.path(), "server.pem", &second.cert_pem);
    write(dir.path(), "server-key.pem", &second.key_pem);
    assert_eq!(call(&mut old, "refresh_certs\r\n").unwrap(), ["OK"]);
    // The open connection goes on in its session; new ones get the new one.
    assert_eq!(call(&mut old, "get nothing\r\n").unwrap(), ["END"]);
    let new = connect(server.addr, client_config(&ca, None)).unwrap();
    assert_eq!(peer_cert(&new), second.cert);
    assert_ne!(first.cert, second.cert);
}

#[test]
fn refresh_certs_without_tls_is_an_error() {
    let server = TestServer::start();
    let mut c = BufReader::new(TcpStream::connect(server.addr).unwrap());
    c.get_mut().write_all(b"refresh_certs\r\nstats settings\r\n").unwrap();
    let mut line = String::new();
    c.read_line(&mut line).unwrap();
    assert_eq!(line, "SERVER_ERROR TLS is not enabled\r\n");
    let mut settings = String::new();
    while !settings.ends_with("END\r\n") {
        assert!(c.read_line(&mut settings).unwrap() > 0);
    }
    assert!(settings.contains("STAT ssl_enabled no\r\n"), "{settings}");
}
