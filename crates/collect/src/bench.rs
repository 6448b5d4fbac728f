//! The collector benchmark (`mammoth collect bench`) and the read-back it
//! and the tests use.
//!
//! A round sends sequence-numbered datagrams ([`crate::send`]) at one rate
//! for a few seconds into a collector running in this process, which
//! stores them in a server; then every key sent is read back from the
//! server with GETKQ pipelines, so *stored* is what the server holds, not
//! what the collector believes. With an `InfluxDB` peer the same line
//! protocol goes to its UDP input in the next round, and its stored count
//! comes from a `count()` query. Rates alternate between the systems
//! round by round, and the caller reports medians.

// Rates and shares are printed, not stored: f64 precision is plenty.
#![allow(clippy::cast_precision_loss)]

use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use memcache::binary::{Batch, Limits, Opcode, ResponseDecoder, read_batch_replies};
use tap::{Endpoint, Stream, Transport as _};

use crate::collector::{Collector, Config};
use crate::format::Format;
use crate::influx::InfluxOptions;
use crate::send::{Sent, SeqFormat, Sequence, send};
use crate::socket::sender_socket;

/// Keys per GETKQ pipeline when reading back.
const READ_BATCH: usize = 2000;

/// Reads `keys` from a server: `Some(value)` for each key present.
///
/// # Errors
/// Connecting, authenticating, or a reply stream that does not decode.
pub fn get_many(endpoint: &Endpoint, keys: &[String]) -> tap::Result<Vec<Option<Bytes>>> {
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| tap::Error::Io { what, source }
    };
    let mut s = endpoint.connect()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).map_err(io("set read timeout"))?;
    let mut dec = ResponseDecoder::new(Limits::default());
    let mut inbuf = BytesMut::with_capacity(1 << 16);
    let mut out = BytesMut::new();
    if let Some(c) = &endpoint.auth {
        let mut data = Vec::new();
        data.push(0);
        data.extend_from_slice(c.user.as_bytes());
        data.push(0);
        data.extend_from_slice(c.password.as_bytes());
        let end = {
            let mut b = Batch::new(&mut out, 0);
            b.sasl(Opcode::SASL_AUTH, b"PLAIN", &data);
            b.noop()
        };
        s.write_all(&out).map_err(io("write"))?;
        out.clear();
        let mut status = None;
        read_until(&mut s, &mut dec, &mut inbuf, end, |r| status = Some(r.status))?;
        if let Some(st) = status.filter(|st| !st.is_success()) {
            return Err(tap::Error::Auth { user: c.user.clone(), status: st });
        }
    }
    let mut values = vec![None; keys.len()];
    for (ci, chunk) in keys.chunks(READ_BATCH).enumerate() {
        let base = ci * READ_BATCH;
        let end = {
            let mut b = Batch::new(&mut out, 0);
            for k in chunk {
                b.getkq(k.as_bytes());
            }
            b.noop()
        };
        s.write_all(&out).map_err(io("write"))?;
        out.clear();
        read_until(&mut s, &mut dec, &mut inbuf, end, |r| {
            if r.status.is_success()
                && let Some(v) = values.get_mut(base + r.opaque as usize)
            {
                *v = Some(r.value);
            }
        })?;
    }
    Ok(values)
}

fn read_until(
    s: &mut Stream,
    dec: &mut ResponseDecoder,
    inbuf: &mut BytesMut,
    end: u32,
    mut each: impl FnMut(memcache::binary::Response),
) -> tap::Result<()> {
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let done = read_batch_replies(dec, inbuf, end, &mut each).map_err(|e| {
            tap::Error::Protocol { offset: 0, opcode: Some(e.opcode), message: e.to_string() }
        })?;
        if done {
            return Ok(());
        }
        let n =
            s.read(&mut chunk).map_err(|source| tap::Error::Io { what: "read".into(), source })?;
        if n == 0 {
            return Err(tap::Error::Disconnected { offset: 0 });
        }
        inbuf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// An `InfluxDB` 1.x to compare with: its UDP input and its HTTP API.
#[derive(Clone, Debug)]
pub struct InfluxPeer {
    /// Its `[[udp]]` `bind-address`.
    pub udp: SocketAddr,
    /// Its HTTP API.
    pub http: SocketAddr,
    /// The UDP input's database.
    pub database: String,
}

impl InfluxPeer {
    /// `SELECT count(reading) FROM bench WHERE run='RUN'`.
    ///
    /// # Errors
    /// The HTTP exchange, or a reply that is not a count.
    pub fn count(&self, run: &str) -> std::io::Result<u64> {
        let q = format!("SELECT count(reading) FROM bench WHERE run='{run}'");
        let body = self.http_get(&format!("/query?db={}&q={}", self.database, url_encode(&q)))?;
        // {"results":[{"statement_id":0,"series":[{…,"values":[["1970-01-01T00:00:00Z",N]]}]}]}
        let Some(at) = body.find("\"values\":[[") else {
            return if body.contains("\"statement_id\"") && !body.contains("\"error\"") {
                Ok(0)
            } else {
                Err(std::io::Error::other(format!("influx query: {body}")))
            };
        };
        let rest = body.get(at..).unwrap_or_default();
        let n = rest
            .split([',', ']'])
            .nth(1)
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| std::io::Error::other(format!("influx count: {body}")))?;
        Ok(n)
    }

    fn http_get(&self, path: &str) -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&self.http, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\nConnection: close\r\n\r\n", self.http)?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        Ok(text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or(text))
    }
}

fn url_encode(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~()".contains(&b) {
            o.push(b as char);
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

/// Benchmark settings.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The server the collector stores into.
    pub server: Endpoint,
    /// The multicast group the collector listens on.
    pub group: SocketAddr,
    /// Interface for joining and sending.
    pub interface: Ipv4Addr,
    /// Rates in datagrams a second; `None` is "as fast as possible".
    pub rates: Vec<Option<u64>>,
    /// Seconds of sending per round.
    pub seconds: f64,
    /// Rounds per rate and system.
    pub rounds: u32,
    /// Format (line protocol when comparing with `InfluxDB`).
    pub format: SeqFormat,
    /// Sensors the readings rotate over.
    pub sensors: u32,
    /// Collector batch size.
    pub batch_max: usize,
    /// Collector `SO_RCVBUF` request.
    pub recv_buffer: usize,
    /// The `InfluxDB` to compare with.
    pub influx: Option<InfluxPeer>,
    /// How long to wait for the last reading to be stored.
    pub settle_timeout: Duration,
}

/// One round's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Round {
    /// `"mammoth"` or `"influxdb"`.
    pub system: &'static str,
    /// Target rate (`None`: max).
    pub rate: Option<u64>,
    /// Round number (0-based).
    pub round: u32,
    /// Datagrams sent.
    pub sent: u64,
    /// Seconds the sending took.
    pub send_secs: f64,
    /// Readings the store holds afterwards.
    pub stored: u64,
    /// Seconds from the first send until the store held its last reading.
    pub store_secs: f64,
    /// Kernel drops on the collector's socket (mammoth only).
    pub kernel_drops: Option<u64>,
}

impl Round {
    /// Readings stored per second.
    pub fn stored_rate(&self) -> f64 {
        self.stored as f64 / self.store_secs.max(1e-9)
    }

    /// Fraction of datagrams sent that were not stored.
    pub fn loss(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            self.sent.saturating_sub(self.stored) as f64 / self.sent as f64
        }
    }
}

/// Why a benchmark failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BenchError {
    /// The collector failed.
    Collector(crate::Error),
    /// Sending, or talking to `InfluxDB`.
    Io(&'static str, std::io::Error),
    /// Reading the keys back from the server.
    ReadBack(tap::Error),
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Collector(_) => f.write_str("collector"),
            BenchError::Io(what, _) => f.write_str(what),
            BenchError::ReadBack(_) => f.write_str("read the stored keys back"),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Collector(e) => Some(e),
            BenchError::Io(_, e) => Some(e),
            BenchError::ReadBack(e) => Some(e),
        }
    }
}

/// Sends one round's datagrams at `rate` (as fast as possible with
/// `None`) for the configured time; returns what went out.
fn send_round(
    sock: &UdpSocket,
    seq: &Sequence,
    rate: Option<u64>,
    opts: &BenchOptions,
) -> Result<Sent, BenchError> {
    let stop = AtomicBool::new(false);
    let secs = opts.seconds;
    send(sock, seq, 0, count_for(rate, secs), rate, Duration::from_secs_f64(secs), &stop)
        .map_err(|e| BenchError::Io("send", e))
}

fn run_tag(system: &str, rate: Option<u64>, round: u32) -> String {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() % 0x10_0000);
    let r = rate.map_or_else(|| "MAX".to_owned(), |r| format!("{r}"));
    format!("{}{r}R{round}T{stamp:05X}S", if system == "mammoth" { "M" } else { "I" })
}

/// Runs every round, calling `each` after each, and returns them all.
///
/// # Errors
/// A collector, socket, read-back or `InfluxDB` failure.
pub fn run(opts: &BenchOptions, each: &mut dyn FnMut(&Round)) -> Result<Vec<Round>, BenchError> {
    let mut all = Vec::new();
    for &rate in &opts.rates {
        for round in 0..opts.rounds {
            let r = mammoth_round(opts, rate, round)?;
            each(&r);
            all.push(r);
            if let Some(peer) = &opts.influx {
                let r = influx_round(opts, peer, rate, round)?;
                each(&r);
                all.push(r);
            }
        }
    }
    Ok(all)
}

fn count_for(rate: Option<u64>, seconds: f64) -> u64 {
    rate.map_or(u64::MAX, |r| (r as f64 * seconds).ceil() as u64)
}

fn mammoth_round(opts: &BenchOptions, rate: Option<u64>, round: u32) -> Result<Round, BenchError> {
    let run = run_tag("mammoth", rate, round);
    let seq = Sequence { format: opts.format, run: run.clone(), sensors: opts.sensors };
    let format = match opts.format {
        SeqFormat::Ibutton => Format::Ibutton(crate::IbuttonOptions::default()),
        SeqFormat::Influx => Format::Influx(InfluxOptions::default()),
    };
    let mut config = Config::new(vec![opts.group], format, opts.server.clone());
    config.interface = opts.interface;
    config.batch_max = opts.batch_max;
    config.recv_buffer = opts.recv_buffer;
    let collector = Collector::start(config).map_err(BenchError::Collector)?;
    let dest = *collector.local_addrs().first().unwrap_or(&opts.group);
    let sock =
        sender_socket(dest, opts.interface, 0).map_err(|e| BenchError::Io("sender socket", e))?;
    let start = Instant::now();
    let sent = send_round(&sock, &seq, rate, opts)?;
    // Wait until the collector has stored everything it received and no
    // datagram has arrived for a while.
    let mut last = collector.stats();
    let mut last_change = Instant::now();
    let mut stored_at = start.elapsed();
    while last_change.elapsed() < Duration::from_millis(500)
        && start.elapsed() < opts.settle_timeout
    {
        std::thread::sleep(Duration::from_millis(2));
        let s = collector.stats();
        if s.stored != last.stored {
            stored_at = start.elapsed();
        }
        if (s.datagrams, s.stored) != (last.datagrams, last.stored) || s.pending() > 0 {
            last_change = Instant::now();
        }
        last = s;
    }
    let _ = collector.events().count();
    collector.stop().map_err(BenchError::Collector)?;
    let keys: Vec<String> = (0..sent.sent).map(|n| seq.key(n)).collect();
    let stored = get_many(&opts.server, &keys)
        .map_err(BenchError::ReadBack)?
        .iter()
        .filter(|v| v.is_some())
        .count() as u64;
    Ok(Round {
        system: "mammoth",
        rate,
        round,
        sent: sent.sent,
        send_secs: sent.elapsed.as_secs_f64(),
        stored,
        store_secs: stored_at.as_secs_f64(),
        kernel_drops: last.kernel.map(|k| k.drops),
    })
}

fn influx_round(
    opts: &BenchOptions,
    peer: &InfluxPeer,
    rate: Option<u64>,
    round: u32,
) -> Result<Round, BenchError> {
    let run = run_tag("influxdb", rate, round);
    let seq = Sequence { format: SeqFormat::Influx, run: run.clone(), sensors: opts.sensors };
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| BenchError::Io("sender socket", e))?;
    sock.connect(peer.udp).map_err(|e| BenchError::Io("connect to influxdb udp", e))?;
    let start = Instant::now();
    let sent = send_round(&sock, &seq, rate, opts)?;
    // InfluxDB writes a UDP batch when it is full or 1 s old: wait until
    // the count has not moved for 3 s.
    let mut count = 0;
    let mut stored_at = start.elapsed();
    let mut last_change = Instant::now();
    while last_change.elapsed() < Duration::from_secs(3) && start.elapsed() < opts.settle_timeout {
        std::thread::sleep(Duration::from_millis(100));
        let c = peer.count(&run).map_err(|e| BenchError::Io("influxdb count", e))?;
        if c != count {
            count = c;
            stored_at = start.elapsed();
            last_change = Instant::now();
        }
        if count >= sent.sent {
            break;
        }
    }
    Ok(Round {
        system: "influxdb",
        rate,
        round,
        sent: sent.sent,
        send_secs: sent.elapsed.as_secs_f64(),
        stored: count,
        store_secs: stored_at.as_secs_f64(),
        kernel_drops: None,
    })
}

/// The median of `xs` (the mean of the middle two for an even count).
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => 0.0,
        n if n % 2 == 1 => xs[n / 2],
        n => f64::midpoint(xs[n / 2 - 1], xs[n / 2]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert!((median(&mut [3.0, 1.0, 2.0]) - 2.0).abs() < 1e-12);
        assert!((median(&mut [4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-12);
        assert!(median(&mut []).abs() < 1e-12);
    }

    #[test]
    fn url_encoding() {
        assert_eq!(
            url_encode("SELECT count(x) WHERE a='b'"),
            "SELECT%20count(x)%20WHERE%20a%3D%27b%27"
        );
    }
}
