//! A closed-loop load generator for servers that speak the memcached text
//! protocol or Redis's RESP, over TCP or TLS: each of N connections sends a
//! request, waits for its reply, and sends the next (the "one request in
//! flight" pattern of memcaslap and redis-benchmark), for a fixed time.
//! It reports throughput and latency percentiles, and counts error replies
//! (`SERVER_ERROR`, `-BUSY …`) apart from the rest.
//!
//! One driver for both protocols means one client cost on both sides of a
//! comparison: mammoth against memcached, mammoth against Redis.
//!
//! ```no_run
//! use mammoth_bench::load::{Load, Protocol, run};
//!
//! let load = Load::new("127.0.0.1:11211".parse()?, Protocol::Text)
//!     .command(&["get", "key:{key}"]);
//! let report = run(&load)?;
//! println!("{report}");
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// The wire protocol of the requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// memcached's text protocol: the arguments joined by spaces, then
    /// `\r\n` (and a data block when the command is a storage command).
    Text,
    /// Redis's RESP: an array of bulk strings.
    Resp,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Load {
    /// Where.
    pub addr: SocketAddr,
    /// Speak TLS, trusting the CA certificates in this PEM file; the server
    /// name checked is `localhost` for a loopback address, else the IP.
    pub tls_ca: Option<PathBuf>,
    /// The protocol.
    pub protocol: Protocol,
    /// Connections, each with one request in flight.
    pub connections: usize,
    /// How long to measure.
    pub duration: Duration,
    /// The request, as arguments; `{key}` in one is replaced by a key
    /// number drawn uniformly from `0..keys`, `{value}` by the value. A
    /// text-protocol storage command (`set k 0 0 {len}`) gets the value as
    /// its data block.
    pub command: Vec<String>,
    /// Distinct keys.
    pub keys: u64,
    /// Bytes of `{value}`.
    pub value_len: usize,
}

impl Load {
    /// `get key:{key}` over 32 connections for 5 s, 10,000 keys, 100-byte values.
    pub fn new(addr: SocketAddr, protocol: Protocol) -> Load {
        Load {
            addr,
            tls_ca: None,
            protocol,
            connections: 32,
            duration: Duration::from_secs(5),
            command: vec!["get".into(), "key:{key}".into()],
            keys: 10_000,
            value_len: 100,
        }
    }

    /// The same with another request.
    #[must_use]
    pub fn command(mut self, args: &[&str]) -> Load {
        self.command = args.iter().map(|&a| a.to_owned()).collect();
        self
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Replies that were not errors.
    pub ok: u64,
    /// Error replies (`ERROR`, `SERVER_ERROR`, `CLIENT_ERROR`, RESP `-`).
    pub errors: u64,
    /// The first error reply seen, for the message.
    pub first_error: Option<String>,
    /// The measured time.
    pub elapsed: Duration,
    /// Latency percentiles of every reply: 50, 99, 99.9 and the maximum.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Slowest reply.
    pub max: Duration,
}

impl Report {
    /// Replies (errors included) per second.
    #[allow(clippy::cast_precision_loss, reason = "a rate, not a count")]
    pub fn per_second(&self) -> f64 {
        (self.ok + self.errors) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = |d: Duration| d.as_micros();
        write!(
            f,
            "{:.0} ops/s, {} errors, p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
            self.per_second(),
            self.errors,
            us(self.p50),
            us(self.p99),
            us(self.p999),
            us(self.max)
        )?;
        if let Some(e) = &self.first_error {
            write!(f, " (first error: {e})")?;
        }
        Ok(())
    }
}

/// Runs `load` and reports. Connection failures end the run with an error
/// naming the address.
///
/// # Errors
///
/// When a connection cannot be made, the TLS setup fails, or a server
/// closes a connection or sends a reply that cannot be parsed.
pub fn run(load: &Load) -> Result<Report> {
    if load.connections == 0 || load.keys == 0 {
        bail!("connections and keys must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the load runtime")?;
    runtime.block_on(run_async(load))
}

type Stream = Box<dyn Io>;
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

fn tls_connector(ca: &std::path::Path) -> Result<tokio_rustls::TlsConnector> {
    let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.with_context(|| format!("parsing {}", ca.display()))?;
        roots.add(cert).with_context(|| format!("adding a CA from {}", ca.display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn connect(load: &Load, tls: Option<&tokio_rustls::TlsConnector>) -> Result<Stream> {
    let tcp = tokio::net::TcpStream::connect(load.addr)
        .await
        .with_context(|| format!("connecting to {}", load.addr))?;
    tcp.set_nodelay(true)?;
    let Some(tls) = tls else { return Ok(Box::new(tcp)) };
    let name = if load.addr.ip().is_loopback() {
        ServerName::try_from("localhost")?
    } else {
        ServerName::IpAddress(load.addr.ip().into())
    };
    let stream = tls
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS handshake with {}", load.addr))?;
    Ok(Box::new(stream))
}

async fn run_async(load: &Load) -> Result<Report> {
    let tls = load.tls_ca.as_deref().map(tls_connector).transpose()?;
    let mut streams = Vec::with_capacity(load.connections);
    for _ in 0..load.connections {
        streams.push(connect(load, tls.as_ref()).await?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, stream)| {
            let load = load.clone();
            let stop = Arc::clone(&stop);
            tokio::spawn(async move { drive(stream, &load, &stop, i as u64).await })
        })
        .collect();
    tokio::time::sleep(load.duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut report = Report::default();
    let mut latencies: Vec<u32> = Vec::new();
    for task in tasks {
        let part = task.await.context("a load connection panicked")??;
        report.ok += part.ok;
        report.errors += part.errors;
        if report.first_error.is_none() {
            report.first_error = part.first_error;
        }
        latencies.extend(part.latencies_us);
    }
    report.elapsed = start.elapsed();
    latencies.sort_unstable();
    // Nearest rank: the entry below which `per_mille`/1000 of them lie.
    let at = |per_mille: usize| {
        let i = (latencies.len().saturating_sub(1) * per_mille).div_ceil(1000);
        Duration::from_micros(latencies.get(i).copied().unwrap_or(0).into())
    };
    report.p50 = at(500);
    report.p99 = at(990);
    report.p999 = at(999);
    report.max = at(1000);
    Ok(report)
}

/// One connection's results.
struct Part {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latencies_us: Vec<u32>,
}

/// A small xorshift generator: uniform enough for key choice, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The bytes of one request with `key` and `value` in place.
fn encode(load: &Load, key: u64, value: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let key = key.to_string();
    let args: Vec<Vec<u8>> = load
        .command
        .iter()
        .map(|a| {
            if a == "{value}" {
                value.to_vec()
            } else {
                a.replace("{key}", &key).replace("{len}", &value.len().to_string()).into_bytes()
            }
        })
        .collect();
    match load.protocol {
        Protocol::Text => {
            let storage = ["set", "add", "replace", "append", "prepend", "cas"]
                .contains(&load.command.first().map_or("", String::as_str));
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(a);
            }
            out.extend_from_slice(b"\r\n");
            if storage {
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
        }
        Protocol::Resp => {
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in &args {
                out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                out.extend_from_slice(a);
                out.extend_from_slice(b"\r\n");
            }
        }
    }
}

async fn drive(stream: Stream, load: &Load, stop: &AtomicBool, seed: u64) -> Result<Part> {
    let mut stream = BufReader::new(stream);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (seed + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    let value = vec![b'v'; load.value_len];
    let mut request = Vec::new();
    let mut line = Vec::new();
    let mut part = Part { ok: 0, errors: 0, first_error: None, latencies_us: Vec::new() };
    while !stop.load(Ordering::Relaxed) {
        encode(load, rng.below(load.keys), &value, &mut request);
        let sent = Instant::now();
        stream.get_mut().write_all(&request).await?;
        // TLS may hold records back until flushed.
        stream.get_mut().flush().await?;
        let error = match load.protocol {
            Protocol::Text => text_reply(&mut stream, &mut line).await?,
            Protocol::Resp => resp_reply(&mut stream, &mut line).await?,
        };
        let took = sent.elapsed();
        part.latencies_us.push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
        match error {
            None => part.ok += 1,
            Some(e) => {
                part.errors += 1;
                part.first_error.get_or_insert(e);
            }
        }
    }
    Ok(part)
}

async fn read_line<R: AsyncBufReadExt + Unpin>(r: &mut R, line: &mut Vec<u8>) -> Result<()> {
    line.clear();
    if r.read_until(b'\n', line).await? == 0 {
        bail!("the server closed the connection");
    }
    Ok(())
}

/// Longest value a reply may announce before the driver refuses it (and
/// allocates nothing for it).
const MAX_REPLY_VALUE: usize = 64 << 20;

/// Reads `len` bytes and the `\r\n` after them, refusing an announced
/// length past [`MAX_REPLY_VALUE`].
async fn skip_block<R: AsyncReadExt + Unpin>(r: &mut R, len: usize, line: &str) -> Result<()> {
    if len > MAX_REPLY_VALUE {
        bail!("reply {line:?} announces {len} bytes, over the {MAX_REPLY_VALUE}-byte limit");
    }
    let mut data = vec![0u8; len + 2];
    r.read_exact(&mut data).await?;
    Ok(())
}

/// Reads one text-protocol reply; `Some(line)` when it is an error.
async fn text_reply<R>(r: &mut R, line: &mut Vec<u8>) -> Result<Option<String>>
where
    R: AsyncBufReadExt + Unpin,
{
    loop {
        read_line(r, line).await?;
        let text = String::from_utf8_lossy(line).trim_end().to_owned();
        if text.starts_with("ERROR")
            || text.starts_with("SERVER_ERROR")
            || text.starts_with("CLIENT_ERROR")
        {
            return Ok(Some(text));
        }
        if let Some(head) = text.strip_prefix("VALUE ") {
            let len: usize = head
                .split(' ')
                .nth(2)
                .and_then(|n| n.parse().ok())
                .with_context(|| format!("bad VALUE line {text:?}"))?;
            skip_block(r, len, &text).await?;
            continue;
        }
        // END, STORED, DELETED, NOT_FOUND, a number…: one line ends it.
        return Ok(None);
    }
}

/// Reads one RESP reply; `Some(message)` for an error reply.
async fn resp_reply<R>(r: &mut R, line: &mut Vec<u8>) -> Result<Option<String>>
where
    R: AsyncBufReadExt + Unpin,
{
    let mut pending = 1u64;
    let mut error = None;
    while pending > 0 {
        pending -= 1;
        read_line(r, line).await?;
        let text = String::from_utf8_lossy(line).trim_end().to_owned();
        let (kind, rest) = text.split_at(text.len().min(1));
        match kind {
            "+" | ":" => {}
            "-" => {
                error.get_or_insert_with(|| rest.to_owned());
            }
            "$" => {
                let len: i64 = rest.parse().with_context(|| format!("bad bulk {text:?}"))?;
                if len >= 0 {
                    skip_block(r, usize::try_from(len)?, &text).await?;
                }
            }
            "*" => {
                let n: i64 = rest.parse().with_context(|| format!("bad array {text:?}"))?;
                pending += u64::try_from(n.max(0))?;
            }
            _ => bail!("not a RESP reply: {text:?}"),
        }
    }
    Ok(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_encoded_for_each_protocol() {
        let mut out = Vec::new();
        let load = Load::new("127.0.0.1:1".parse().unwrap(), Protocol::Text)
            .command(&["set", "k{key}", "0", "0", "{len}"]);
        encode(&load, 7, b"abc", &mut out);
        assert_eq!(out, b"set k7 0 0 3\r\nabc\r\n");
        let load = Load::new("127.0.0.1:1".parse().unwrap(), Protocol::Resp)
            .command(&["SET", "k{key}", "{value}"]);
        encode(&load, 7, b"abc", &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$2\r\nk7\r\n$3\r\nabc\r\n");
    }

    #[tokio::test]
    async fn replies_are_read_whole_and_errors_told_apart() {
        let mut line = Vec::new();
        let mut r: &[u8] = b"VALUE k 0 5\r\nEND\r\n\r\nEND\r\nSERVER_ERROR busy\r\n";
        assert_eq!(text_reply(&mut r, &mut line).await.unwrap(), None);
        assert_eq!(r, b"SERVER_ERROR busy\r\n", "the data block (which holds END) was skipped");
        assert_eq!(text_reply(&mut r, &mut line).await.unwrap().unwrap(), "SERVER_ERROR busy");
        let mut r: &[u8] = b"*2\r\n$3\r\nabc\r\n:5\r\n-BUSY Redis is busy\r\n$-1\r\n";
        assert_eq!(resp_reply(&mut r, &mut line).await.unwrap(), None);
        let busy = resp_reply(&mut r, &mut line).await.unwrap().unwrap();
        assert_eq!(busy, "BUSY Redis is busy");
        assert_eq!(resp_reply(&mut r, &mut line).await.unwrap(), None, "nil");
        assert!(resp_reply(&mut r, &mut line).await.is_err(), "closed");
        // A hostile length is refused before anything is allocated for it.
        let mut r: &[u8] = b"VALUE k 0 99999999999\r\n";
        let e = text_reply(&mut r, &mut line).await.unwrap_err();
        assert!(e.to_string().contains("over the"), "{e}");
        let mut r: &[u8] = b"$99999999999\r\n";
        assert!(resp_reply(&mut r, &mut line).await.is_err());
    }
}
