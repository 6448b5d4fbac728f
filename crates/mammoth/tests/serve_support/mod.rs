//! Starting `mammoth serve` as a child process for tests.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::BytesMut;
use memcache::binary::{Limits, Response, ResponseDecoder};

/// A running server; killed (SIGKILL) when dropped unless already gone.
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mammoth serve --port 0 --dir DIR EXTRA…` and waits for the line
/// that names the port.
#[allow(dead_code, reason = "not every test binary uses both starters")]
pub(crate) fn start(dir: &Path, extra: &[&str]) -> Served {
    start_on(dir, 0, extra)
}

/// Like [`start`] on a given port (0: any), so a test can restart a server
/// where its clients expect it.
pub(crate) fn start_on(dir: &Path, port: u16, extra: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["serve", "--listen", "127.0.0.1", "--port", &port.to_string(), "--dir"])
        .arg(dir)
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start mammoth serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        if let Some(addr) =
            line.strip_prefix("mammoth: serving memcached protocol (binary and text) on ")
        {
            break addr.rsplit(':').next().unwrap().parse().unwrap();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served { child, port }
}

/// A binary-protocol connection: requests are written to `stream` as
/// encoded bytes, responses decoded one at a time.
pub(crate) struct BinaryConn {
    pub(crate) stream: TcpStream,
    decoder: ResponseDecoder,
    input: BytesMut,
}

impl BinaryConn {
    /// Connects to the server on `port` (reads time out after 30 s).
    pub(crate) fn connect(port: u16) -> BinaryConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        BinaryConn {
            stream,
            decoder: ResponseDecoder::new(Limits::default()),
            input: BytesMut::new(),
        }
    }

    /// The next response; panics if the server closes the connection.
    pub(crate) fn reply(&mut self) -> Response {
        loop {
            if let Some(r) = self.decoder.decode(&mut self.input).unwrap() {
                return r;
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the server closed the connection");
            self.input.extend_from_slice(&chunk[..n]);
        }
    }
}
