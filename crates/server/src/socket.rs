//! What a client connects through: TCP on any number of addresses, TLS
//! over TCP, or a unix-domain socket (memcached's `-l`, `-Z` and `-s`). One
//! [`Socket`] type lets the connection, its replies and the TAP producer
//! ignore the difference.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::tls::Tls;

/// How long a new TLS connection may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP on one address.
    Tcp(TcpListener),
    /// A unix-domain socket.
    Unix(UnixListener),
    /// TCP on one address whose clients speak TLS.
    Tls(TcpListener, Arc<Tls>),
}

/// A connection just accepted: its TLS handshake, if any, is still to come
/// (on the worker that will serve it, so that a slow client delays no one).
pub(crate) struct Accepted {
    pub(crate) socket: Socket,
    pub(crate) peer: String,
    pub(crate) tls: Option<Arc<Tls>>,
}

impl Listener {
    /// The next connection.
    pub(crate) async fn accept(&self) -> io::Result<Accepted> {
        let tcp = |(s, peer): (TcpStream, std::net::SocketAddr), tls: Option<&Arc<Tls>>| {
            let _ = s.set_nodelay(true);
            Accepted { socket: Socket::Tcp(s), peer: peer.to_string(), tls: tls.cloned() }
        };
        match self {
            Listener::Tcp(l) => Ok(tcp(l.accept().await?, None)),
            Listener::Tls(l, tls) => Ok(tcp(l.accept().await?, Some(tls))),
            Listener::Unix(l) => {
                let (s, peer) = l.accept().await?;
                let peer = peer
                    .as_pathname()
                    .map_or_else(|| "unix".to_owned(), |p| format!("unix:{}", p.display()));
                Ok(Accepted { socket: Socket::Unix(s), peer, tls: None })
            }
        }
    }

    /// The TLS settings of a TLS listener.
    pub(crate) fn tls(&self) -> Option<&Arc<Tls>> {
        match self {
            Listener::Tls(_, tls) => Some(tls),
            Listener::Tcp(_) | Listener::Unix(_) => None,
        }
    }

    /// The path of a unix socket (`None` for TCP or an unnamed socket).
    pub(crate) fn unix_path(&self) -> Option<String> {
        match self {
            Listener::Tcp(_) | Listener::Tls(..) => None,
            Listener::Unix(l) => {
                l.local_addr().ok()?.as_pathname().map(|p| p.display().to_string())
            }
        }
    }

    /// Where it listens, for messages (`127.0.0.1:11211`, `unix:/run/m.sock`).
    pub fn local_name(&self) -> String {
        match self {
            Listener::Tcp(l) => l.local_addr().map_or_else(|_| "tcp".into(), |a| a.to_string()),
            Listener::Tls(l, _) => {
                l.local_addr().map_or_else(|_| "tls".into(), |a| format!("{a} (TLS)"))
            }
            Listener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix".into()),
        }
    }
}

/// A client connection.
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

fn not_after_handshake() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "not possible once TLS is set up")
}

impl Socket {
    /// The socket detached from this runtime, to hand to a worker's (before
    /// any TLS handshake).
    pub(crate) fn into_std(self) -> io::Result<StdSocket> {
        Ok(match self {
            Socket::Tcp(s) => StdSocket::Tcp(s.into_std()?),
            Socket::Unix(s) => StdSocket::Unix(s.into_std()?),
            Socket::Tls(_) => return Err(not_after_handshake()),
        })
    }

    /// Writes what fits without waiting (a refusal on a fresh socket).
    pub(crate) fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.try_write(bytes),
            Socket::Unix(s) => s.try_write(bytes),
            Socket::Tls(_) => Err(not_after_handshake()),
        }
    }

    /// Runs the server side of the TLS handshake on a fresh TCP socket,
    /// within [`HANDSHAKE_TIMEOUT`].
    pub(crate) async fn handshake(self, tls: &Tls) -> io::Result<Socket> {
        let Socket::Tcp(tcp) = self else { return Err(not_after_handshake()) };
        let accept = tls.acceptor().accept(tcp);
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
            Ok(stream) => Ok(Socket::Tls(Box::new(stream?))),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
        }
    }

    /// The read and write halves (TCP's are owned and lock-free).
    pub(crate) fn split(
        self,
    ) -> (Box<dyn AsyncRead + Unpin + Send>, Box<dyn AsyncWrite + Unpin + Send>) {
        match self {
            Socket::Tcp(s) => {
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
            Socket::Unix(s) => {
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
            Socket::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (Box::new(r), Box::new(w))
            }
        }
    }
}

/// A [`Socket`] between runtimes.
pub(crate) enum StdSocket {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl StdSocket {
    /// Registers the socket with the current runtime.
    pub(crate) fn into_tokio(self) -> io::Result<Socket> {
        Ok(match self {
            StdSocket::Tcp(s) => Socket::Tcp(TcpStream::from_std(s)?),
            StdSocket::Unix(s) => Socket::Unix(UnixStream::from_std(s)?),
        })
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Socket::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            Socket::Unix(s) => Pin::new(s).poll_flush(cx),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
