//! What a client connects through: TCP on any number of addresses, or a
//! unix-domain socket (memcached's `-l` and `-s`). One [`Socket`] type lets
//! the connection, its replies and the TAP producer ignore the difference.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// A listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP on one address.
    Tcp(TcpListener),
    /// A unix-domain socket.
    Unix(UnixListener),
}

impl Listener {
    /// The next connection and a name for its peer.
    pub(crate) async fn accept(&self) -> io::Result<(Socket, String)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Socket::Tcp(s), peer.to_string()))
            }
            Listener::Unix(l) => {
                let (s, peer) = l.accept().await?;
                let name = peer
                    .as_pathname()
                    .map_or_else(|| "unix".to_owned(), |p| format!("unix:{}", p.display()));
                Ok((Socket::Unix(s), name))
            }
        }
    }

    /// The path of a unix socket (`None` for TCP or an unnamed socket).
    pub(crate) fn unix_path(&self) -> Option<String> {
        match self {
            Listener::Tcp(_) => None,
            Listener::Unix(l) => {
                l.local_addr().ok()?.as_pathname().map(|p| p.display().to_string())
            }
        }
    }

    /// Where it listens, for messages (`127.0.0.1:11211`, `unix:/run/m.sock`).
    pub fn local_name(&self) -> String {
        match self {
            Listener::Tcp(l) => l.local_addr().map_or_else(|_| "tcp".into(), |a| a.to_string()),
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
}

impl Socket {
    /// The socket detached from this runtime, to hand to a worker's.
    pub(crate) fn into_std(self) -> io::Result<StdSocket> {
        Ok(match self {
            Socket::Tcp(s) => StdSocket::Tcp(s.into_std()?),
            Socket::Unix(s) => StdSocket::Unix(s.into_std()?),
        })
    }

    /// Writes what fits without waiting (a refusal on a fresh socket).
    pub(crate) fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.try_write(bytes),
            Socket::Unix(s) => s.try_write(bytes),
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
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            Socket::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
