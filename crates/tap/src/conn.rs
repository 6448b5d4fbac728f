//! Blocking connections: TCP with timeouts, SASL PLAIN, and a packet reader
//! that frames memcached binary packets out of a socket without ever
//! trusting a length it has not checked.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use memcache::binary::{Batch, Check, Limits, Opcode, Response, check_packet};

use crate::error::{Error, Result};

/// A byte stream with a settable read timeout: a [`TcpStream`], or an
/// in-memory script in tests and fuzzing.
pub trait Transport: Read + Write {
    /// Sets how long one `read` may block (`None`: forever).
    ///
    /// # Errors
    /// As the socket reports.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

/// A connection to a server: plain TCP, or TLS over TCP when the
/// [`Endpoint`] has a [`ClientTls`].
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS (rustls) over TCP.
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            // A peer that closes without close_notify (memcached does) ends
            // the stream as a plain FIN would: the packet reader tells a
            // clean end between packets from a cut inside one.
            Stream::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Transport for Stream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            Stream::Tls(s) => s.sock.set_read_timeout(timeout),
        }
    }
}

/// TLS settings for connecting to a server that serves TLS (`mammoth
/// serve --tls-cert`, memcached `-Z`): the CAs to trust and, for servers
/// that ask for one, a client certificate. Built once, shared by every
/// connection.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    /// The name the server's certificate must carry; `None`: the host of
    /// the endpoint's address.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Trusts the CA certificates in the PEM file `ca`; shows the
    /// certificate chain `cert` with its key `key` (PEM; the key may be in
    /// `cert`) when given.
    ///
    /// # Errors
    /// [`Error::Tls`] naming the file that cannot be read or used.
    pub fn new(ca: &Path, client: Option<(&Path, Option<&Path>)>) -> Result<ClientTls> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let tls_err = |path: &Path, what: &str, e: &dyn std::fmt::Display| Error::Tls {
            what: format!("{what} {}: {e}", path.display()),
        };
        let read = |path: &Path| std::fs::read(path).map_err(|e| tls_err(path, "reading", &e));
        let certs = |path: &Path| -> Result<Vec<CertificateDer<'static>>> {
            let certs = CertificateDer::pem_slice_iter(&read(path)?)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| tls_err(path, "certificates in", &e))?;
            if certs.is_empty() {
                return Err(tls_err(path, "certificates in", &"none found"));
            }
            Ok(certs)
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs(ca)? {
            roots.add(cert).map_err(|e| tls_err(ca, "CA certificate in", &e))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(ca, "TLS versions for", &e))?
            .with_root_certificates(roots);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let key_path = key.unwrap_or(cert);
                let key = PrivateKeyDer::from_pem_slice(&read(key_path)?)
                    .map_err(|e| tls_err(key_path, "private key in", &e))?;
                builder
                    .with_client_auth_cert(certs(cert)?, key)
                    .map_err(|e| tls_err(cert, "client certificate", &e))?
            }
        };
        Ok(ClientTls { config: Arc::new(config), server_name: None })
    }

    /// Runs the handshake over `tcp` for `addr` (`HOST:PORT`).
    fn connect(&self, addr: &str, tcp: TcpStream, timeout: Duration) -> Result<Stream> {
        use rustls::pki_types::ServerName;
        let what = || format!("TLS handshake with {addr}");
        let host = match &self.server_name {
            Some(name) => name.as_str(),
            None => host_of(addr),
        };
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| Error::Tls { what: format!("{} (server name {host:?}: {e})", what()) })?;
        let conn = rustls::ClientConnection::new(Arc::clone(&self.config), name)
            .map_err(|e| Error::Tls { what: format!("{}: {e}", what()) })?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let previous = tls.sock.read_timeout().ok().flatten();
        tls.sock.set_read_timeout(Some(timeout)).map_err(|e| Error::io(what(), e))?;
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).map_err(|e| Error::io(what(), e))?;
        }
        tls.sock.set_read_timeout(previous).map_err(|e| Error::io(what(), e))?;
        Ok(Stream::Tls(Box::new(tls)))
    }
}

/// The host of `HOST:PORT` or `[V6]:PORT`.
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

/// Credentials for SASL PLAIN (on a mammoth server: the bucket's user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// User name (the bucket).
    pub user: String,
    /// Password.
    pub password: String,
}

/// How to reach a server.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `HOST:PORT`.
    pub addr: String,
    /// SASL PLAIN credentials, if any.
    pub auth: Option<Credentials>,
    /// Timeout for connecting and for each write.
    pub connect_timeout: Duration,
    /// Speak TLS.
    pub tls: Option<ClientTls>,
}

impl Endpoint {
    /// `addr` without credentials, 5 s connect timeout.
    pub fn new(addr: impl Into<String>) -> Endpoint {
        Endpoint {
            addr: addr.into(),
            auth: None,
            connect_timeout: Duration::from_secs(5),
            tls: None,
        }
    }

    /// Over TLS.
    #[must_use]
    pub fn with_tls(mut self, tls: ClientTls) -> Endpoint {
        self.tls = Some(tls);
        self
    }

    /// With SASL PLAIN credentials.
    #[must_use]
    pub fn with_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Endpoint {
        self.auth = Some(Credentials { user: user.into(), password: password.into() });
        self
    }

    /// Opens a TCP connection (every resolved address in turn), sets
    /// `TCP_NODELAY` and the write timeout, and runs the TLS handshake when
    /// the endpoint has TLS settings.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Tls`] naming the address.
    pub fn connect(&self) -> Result<Stream> {
        let tcp = self.connect_tcp()?;
        match &self.tls {
            None => Ok(Stream::Tcp(tcp)),
            Some(tls) => {
                tls.connect(&self.addr, tcp, self.connect_timeout.max(Duration::from_secs(5)))
            }
        }
    }

    /// [`Endpoint::connect`], then SASL PLAIN with the endpoint's
    /// credentials when it has some: the start of every client here.
    ///
    /// # Errors
    /// Connecting or authentication.
    pub fn connect_authenticated(&self) -> Result<Stream> {
        let mut s = self.connect()?;
        if let Some(creds) = &self.auth {
            sasl_plain(&mut s, creds, self.connect_timeout.max(Duration::from_secs(5)))?;
        }
        Ok(s)
    }

    fn connect_tcp(&self) -> Result<TcpStream> {
        let what = || format!("connect to {}", self.addr);
        let addrs = self.addr.to_socket_addrs().map_err(|e| Error::io(what(), e))?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address resolved");
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.connect_timeout) {
                Ok(s) => {
                    s.set_nodelay(true).map_err(|e| Error::io(what(), e))?;
                    s.set_write_timeout(Some(self.connect_timeout.max(Duration::from_secs(30))))
                        .map_err(|e| Error::io(what(), e))?;
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(Error::io(what(), last))
    }
}

/// What a packet read produced.
#[derive(Debug)]
pub(crate) enum Read1 {
    /// One whole, framed packet (header checked, body complete) and the
    /// stream offset of its first byte.
    Packet(Bytes, u64),
    /// Nothing complete within the wait.
    Idle,
    /// The peer closed the connection cleanly between packets.
    Eof,
}

/// Frames packets off a transport. The buffer grows only to the length a
/// checked header announced, capped by `limits.max_body_len`.
#[derive(Debug)]
pub(crate) struct PacketReader {
    buf: BytesMut,
    limits: Limits,
    /// Stream offset of `buf[0]`.
    offset: u64,
    last_byte: Instant,
}

const READ_CHUNK: usize = 64 * 1024;

impl PacketReader {
    pub(crate) fn new(limits: Limits) -> PacketReader {
        PacketReader { buf: BytesMut::new(), limits, offset: 0, last_byte: Instant::now() }
    }

    /// Bytes consumed so far (the offset of the next packet).
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// When a byte last arrived.
    pub(crate) fn last_byte(&self) -> Instant {
        self.last_byte
    }

    /// A whole packet already buffered, if any.
    pub(crate) fn buffered(&mut self) -> Result<Option<(Bytes, u64)>> {
        match check_packet(&self.buf, &self.limits) {
            Err(e) => Err(Error::protocol(self.offset, &e)),
            Ok(Check::Incomplete { .. }) => Ok(None),
            Ok(Check::Complete(n)) => {
                let at = self.offset;
                self.offset += n as u64;
                Ok(Some((self.buf.split_to(n).freeze(), at)))
            }
        }
    }

    /// Reads until one packet is complete, `wait` passes (`None`: block), or
    /// the peer closes.
    pub(crate) fn read<T: Transport + ?Sized>(
        &mut self,
        t: &mut T,
        wait: Option<Duration>,
    ) -> Result<Read1> {
        let deadline = wait.map(|w| Instant::now() + w);
        loop {
            if let Some((p, at)) = self.buffered()? {
                return Ok(Read1::Packet(p, at));
            }
            let need = match check_packet(&self.buf, &self.limits) {
                Ok(Check::Incomplete { needed }) => needed,
                _ => memcache::binary::HEADER_LEN,
            };
            let timeout = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(Read1::Idle),
                },
            };
            t.set_read_timeout(timeout).map_err(|e| Error::io("set read timeout", e))?;
            // Grow by a fixed chunk per read: how much is buffered never
            // depends on an unchecked length (the check above bounds `need`).
            let start = self.buf.len();
            self.buf.resize(start + READ_CHUNK, 0);
            let r = t.read(&mut self.buf[start..]);
            match r {
                Ok(0) => {
                    self.buf.truncate(start);
                    if self.buf.is_empty() {
                        return Ok(Read1::Eof);
                    }
                    return Err(Error::Truncated {
                        offset: self.offset,
                        have: self.buf.len(),
                        need,
                    });
                }
                Ok(n) => {
                    self.buf.truncate(start + n);
                    self.last_byte = Instant::now();
                }
                Err(e) => {
                    self.buf.truncate(start);
                    match e.kind() {
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                            if deadline.is_some() {
                                return Ok(Read1::Idle);
                            }
                        }
                        io::ErrorKind::Interrupted => {}
                        _ => return Err(Error::io("read", e)),
                    }
                }
            }
        }
    }
}

/// Writes all of `bytes`.
pub(crate) fn write_all<T: Transport + ?Sized>(t: &mut T, bytes: &[u8]) -> Result<()> {
    t.write_all(bytes).map_err(|e| Error::io("write", e))?;
    t.flush().map_err(|e| Error::io("write", e))
}

/// SASL PLAIN on a fresh connection; waits up to `wait` for the reply.
pub(crate) fn sasl_plain<T: Transport + ?Sized>(
    t: &mut T,
    creds: &Credentials,
    wait: Duration,
) -> Result<()> {
    let mut out = BytesMut::new();
    let mut data = Vec::with_capacity(creds.user.len() + creds.password.len() + 2);
    data.push(0);
    data.extend_from_slice(creds.user.as_bytes());
    data.push(0);
    data.extend_from_slice(creds.password.as_bytes());
    Batch::new(&mut out, 0x5a51).sasl(Opcode::SASL_AUTH, b"PLAIN", &data);
    write_all(t, &out)?;
    let mut reader = PacketReader::new(Limits::default());
    let (packet, at) = match reader.read(t, Some(wait))? {
        Read1::Packet(p, at) => (p, at),
        Read1::Idle => return Err(Error::Idle { secs: wait.as_secs() }),
        Read1::Eof => return Err(Error::Disconnected { offset: reader.offset() }),
    };
    let r = Response::parse(packet, &Limits::default()).map_err(|e| Error::protocol(at, &e))?;
    if r.opcode != Opcode::SASL_AUTH {
        return Err(Error::Unexpected { offset: at, what: format!("{} reply", r.opcode) });
    }
    if !r.status.is_success() {
        return Err(Error::Auth { user: creds.user.clone(), status: r.status });
    }
    Ok(())
}
