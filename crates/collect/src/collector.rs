//! [`Collector`]: receiver threads (one per group) parse datagrams into
//! records and hand them, in chunks over a bounded channel, to one writer
//! thread that deduplicates, batches and commits them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use foldhash::fast::RandomState;
use tap::{Endpoint, Target};

use crate::error::{Error, ParseError};
use crate::format::{Format, Line};
use crate::reading::latest_key;
use crate::socket::{self, KernelCounters};
use crate::time::Timestamp;

/// How a collector runs. [`Config::new`] has the defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// Groups (or unicast addresses) to listen on, IPv4.
    pub groups: Vec<SocketAddr>,
    /// Interface to join the groups on, by address (`0.0.0.0`: the kernel
    /// picks by its routing table; `127.0.0.1` for loopback tests).
    pub interface: Ipv4Addr,
    /// `SO_RCVBUF` to ask for per socket (default 8 MiB; Linux grants at
    /// most `net.core.rmem_max`, doubled for its bookkeeping).
    pub recv_buffer: usize,
    /// Datagram format.
    pub format: Format,
    /// The server readings go to.
    pub server: Endpoint,
    /// Readings per pipeline at most (default 5,000).
    pub batch_max: usize,
    /// How long the first reading of a batch waits for more (default 50 ms).
    pub flush_interval: Duration,
    /// Readings held in memory, received but not yet acknowledged, before
    /// the receivers stop reading and the kernel buffer takes the strain
    /// (default 500,000).
    pub max_pending: usize,
    /// Keys remembered to spot duplicated datagrams (default 200,000).
    pub dedup_window: usize,
    /// After [`Collector::stop`], how long to keep trying to store what was
    /// received while the server is unreachable (default 10 s).
    pub drain_timeout: Duration,
}

impl Config {
    /// Defaults for `groups`, read as `format`, stored on `server`.
    pub fn new(groups: Vec<SocketAddr>, format: Format, server: Endpoint) -> Config {
        Config {
            groups,
            interface: Ipv4Addr::UNSPECIFIED,
            recv_buffer: 8 << 20,
            format,
            server,
            batch_max: 5000,
            flush_interval: Duration::from_millis(50),
            max_pending: 500_000,
            dedup_window: 200_000,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Counters, as one consistent-enough copy (each is read atomically).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams received.
    pub datagrams: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Lines that parsed as readings.
    pub readings: u64,
    /// Lines that did not (each logged, rate-limited).
    pub malformed: u64,
    /// Readings whose key was seen within the dedup window (not re-sent).
    pub duplicates: u64,
    /// Readings the server acknowledged (durably, on a mammoth server).
    pub stored: u64,
    /// Readings the server refused (logged; say, a value over its limit).
    pub rejected: u64,
    /// Pipelines committed.
    pub batches: u64,
    /// Times the connection was lost and made again.
    pub reconnects: u64,
    /// The kernel's counters for our sockets (`None` without `/proc`).
    pub kernel: Option<KernelCounters>,
}

impl Stats {
    /// Readings received and not yet stored, refused or found duplicate.
    pub fn pending(&self) -> u64 {
        self.readings.saturating_sub(self.stored + self.rejected + self.duplicates)
    }
}

#[derive(Debug, Default)]
struct Counters {
    datagrams: AtomicU64,
    bytes: AtomicU64,
    readings: AtomicU64,
    malformed: AtomicU64,
    duplicates: AtomicU64,
    stored: AtomicU64,
    rejected: AtomicU64,
    batches: AtomicU64,
    reconnects: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Something worth a log line.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A line that is not a reading (at most [`MALFORMED_LOG_PER_SEC`] a
    /// second per group; all are counted).
    Malformed {
        /// Sender.
        from: SocketAddr,
        /// Why.
        error: ParseError,
        /// The line (lossy UTF-8, at most 200 bytes).
        line: String,
    },
    /// Connected to the server (at start and after each loss).
    Connected {
        /// The server.
        server: String,
    },
    /// Storing a batch failed; it will be sent again after `retry_in`.
    Retrying {
        /// Why (with its causes).
        error: String,
        /// Readings in the batch.
        readings: usize,
        /// Wait before the next try.
        retry_in: Duration,
    },
    /// The server refused one request of a pipeline.
    Rejected {
        /// The refusal.
        error: String,
    },
    /// A receive socket failed (the receiver retries after a pause).
    Receive {
        /// The group.
        group: SocketAddr,
        /// Why.
        error: String,
    },
}

/// Malformed lines logged per second per group at most.
pub const MALFORMED_LOG_PER_SEC: u32 = 5;

/// What a stopped collector did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Final counters.
    pub stats: Stats,
    /// Readings received but never acknowledged because the server stayed
    /// unreachable for the whole drain timeout (0 after a clean stop).
    pub unacknowledged: u64,
}

/// One parsed reading on its way to the writer.
#[derive(Debug)]
struct Record {
    key: Bytes,
    value: Bytes,
    serial: Box<str>,
    time: Timestamp,
}

/// Records per chunk handed from a receiver to the writer.
const CHUNK: usize = 256;
/// A receiver hands over a partial chunk after this long (and whenever the
/// socket is idle for as long).
const CHUNK_AGE: Duration = Duration::from_millis(5);

/// A running collector. Dropping it without [`Collector::stop`] stops the
/// threads without waiting for the final flush.
#[derive(Debug)]
pub struct Collector {
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    /// When the writer stops retrying an unreachable server (set by stop).
    give_up_at: Arc<Mutex<Option<Instant>>>,
    drain_timeout: Duration,
    receivers: Vec<JoinHandle<()>>,
    writer: Option<JoinHandle<Result<u64, Error>>>,
    events: Receiver<Event>,
    local: Vec<SocketAddr>,
    inodes: Vec<u64>,
    recv_buffer: usize,
}

impl Collector {
    /// Opens and joins every group, starts the threads, and returns at
    /// once: the first connection to the server is made by the writer (a
    /// server that is down is retried, while readings are buffered).
    ///
    /// # Errors
    /// A bad configuration, a socket that cannot be bound or joined, or a
    /// thread that cannot be started.
    pub fn start(config: Config) -> Result<Collector, Error> {
        if config.groups.is_empty() {
            return Err(Error::Config("no group to listen on".into()));
        }
        if config.batch_max == 0 {
            return Err(Error::Config("batch size must be at least 1".into()));
        }
        let mut sockets = Vec::new();
        for &g in &config.groups {
            sockets.push(socket::open(g, config.interface, config.recv_buffer, CHUNK_AGE)?);
        }
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let give_up_at = Arc::new(Mutex::new(None));
        let (events_tx, events) = mpsc::channel();
        let (tx, rx) = mpsc::sync_channel::<Vec<Record>>((config.max_pending / CHUNK).max(2));
        let local: Vec<SocketAddr> = sockets.iter().map(|s| s.local).collect();
        let inodes: Vec<u64> = sockets.iter().filter_map(|s| s.inode).collect();
        let recv_buffer = sockets.iter().map(|s| s.recv_buffer).min().unwrap_or(0);

        let writer = Writer {
            endpoint: config.server.clone(),
            batch_max: config.batch_max,
            flush_interval: config.flush_interval,
            counters: counters.clone(),
            events: events_tx.clone(),
            give_up_at: give_up_at.clone(),
            target: None,
            recent: Recent::new(config.dedup_window),
            latest: HashMap::default(),
        };
        let writer = std::thread::Builder::new()
            .name("collect-writer".into())
            .spawn(move || writer.run(&rx))
            .map_err(Error::Thread)?;
        let mut c = Collector {
            counters,
            stop,
            give_up_at,
            drain_timeout: config.drain_timeout,
            receivers: Vec::new(),
            writer: Some(writer),
            events,
            local,
            inodes,
            recv_buffer,
        };
        for (s, group) in sockets.into_iter().zip(config.groups) {
            let r = ReceiveLoop {
                socket: s.socket,
                group,
                format: config.format.clone(),
                tx: tx.clone(),
                counters: c.counters.clone(),
                events: events_tx.clone(),
                stop: c.stop.clone(),
            };
            let h = std::thread::Builder::new()
                .name(format!("collect-{group}"))
                .spawn(move || r.run())
                .map_err(Error::Thread)?;
            c.receivers.push(h);
        }
        Ok(c)
    }

    /// The addresses listened on, in the order of [`Config::groups`] (with
    /// the port the kernel chose where 0 was asked).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// The smallest `SO_RCVBUF` the kernel granted (as it reports it).
    pub fn recv_buffer(&self) -> usize {
        self.recv_buffer
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            datagrams: get(&c.datagrams),
            bytes: get(&c.bytes),
            readings: get(&c.readings),
            malformed: get(&c.malformed),
            duplicates: get(&c.duplicates),
            stored: get(&c.stored),
            rejected: get(&c.rejected),
            batches: get(&c.batches),
            reconnects: get(&c.reconnects),
            kernel: socket::read_kernel_counters(&self.inodes),
        }
    }

    /// Events since the last call, oldest first.
    pub fn events(&self) -> impl Iterator<Item = Event> + '_ {
        self.events.try_iter()
    }

    /// Whether the writer has ended on its own (a fatal server error:
    /// [`Collector::stop`] returns it).
    pub fn has_failed(&self) -> bool {
        self.writer.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops: the receivers read what the kernel still queues and end, the
    /// writer stores everything received (retrying up to
    /// [`Config::drain_timeout`] while the server is unreachable) and ends.
    ///
    /// # Errors
    /// The writer's fatal error, if it had one.
    pub fn stop(mut self) -> Result<Summary, Error> {
        if let Ok(mut at) = self.give_up_at.lock() {
            *at = Some(Instant::now() + self.drain_timeout);
        }
        self.stop.store(true, Ordering::SeqCst);
        for h in self.receivers.drain(..) {
            let _ = h.join();
        }
        let unacknowledged = match self.writer.take().map(JoinHandle::join) {
            Some(Ok(r)) => r?,
            _ => 0,
        };
        Ok(Summary { stats: self.stats(), unacknowledged })
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Ok(mut at) = self.give_up_at.lock() {
            // No drain on drop: give up at once if the server is away.
            at.get_or_insert_with(Instant::now);
        }
        self.stop.store(true, Ordering::SeqCst);
    }
}

struct ReceiveLoop {
    socket: std::net::UdpSocket,
    group: SocketAddr,
    format: Format,
    tx: SyncSender<Vec<Record>>,
    counters: Arc<Counters>,
    events: mpsc::Sender<Event>,
    stop: Arc<AtomicBool>,
}

impl ReceiveLoop {
    fn run(self) {
        let mut buf = vec![0u8; 65_536];
        let mut chunk: Vec<Record> = Vec::with_capacity(CHUNK);
        let mut chunk_since = Instant::now();
        let mut log_window = Instant::now();
        let mut logged = 0u32;
        loop {
            let got = self.socket.recv_from(&mut buf);
            let (n, from) = match got {
                Ok(x) => x,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    // Idle: hand over what we have; after a stop, an
                    // empty queue means we are done.
                    if !chunk.is_empty() && self.tx.send(std::mem::take(&mut chunk)).is_err() {
                        return;
                    }
                    if self.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = self
                        .events
                        .send(Event::Receive { group: self.group, error: e.to_string() });
                    if self.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            add(&self.counters.datagrams, 1);
            add(&self.counters.bytes, n as u64);
            let (mut readings, mut malformed) = (0, 0);
            let datagram = buf.get(..n).unwrap_or_default();
            self.format.each_line(datagram, Timestamp::now(), |line| match line {
                Line::Reading(r) => {
                    readings += 1;
                    if chunk.is_empty() {
                        chunk_since = Instant::now();
                    }
                    chunk.push(Record {
                        key: Bytes::from(r.key()),
                        value: Bytes::from(r.to_json()),
                        time: r.time,
                        serial: r.serial.into_boxed_str(),
                    });
                }
                Line::Malformed(error, text) => {
                    malformed += 1;
                    if log_window.elapsed() >= Duration::from_secs(1) {
                        log_window = Instant::now();
                        logged = 0;
                    }
                    if logged < MALFORMED_LOG_PER_SEC {
                        logged += 1;
                        let text = text.get(..200).unwrap_or(text);
                        let line = String::from_utf8_lossy(text).into_owned();
                        let _ = self.events.send(Event::Malformed { from, error, line });
                    }
                }
            });
            add(&self.counters.readings, readings);
            add(&self.counters.malformed, malformed);
            if (chunk.len() >= CHUNK || chunk_since.elapsed() >= CHUNK_AGE)
                && !chunk.is_empty()
                && self.tx.send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))).is_err()
            {
                return;
            }
        }
        if !chunk.is_empty() {
            let _ = self.tx.send(chunk);
        }
    }
}

/// The last N keys seen, for spotting duplicated datagrams exactly (no
/// hash-only comparison: a collision would lose a reading).
struct Recent {
    set: HashSet<Bytes, RandomState>,
    order: VecDeque<Bytes>,
    cap: usize,
}

impl Recent {
    fn new(cap: usize) -> Recent {
        Recent { set: HashSet::default(), order: VecDeque::new(), cap }
    }

    /// Remembers `key`; false when it was already remembered.
    fn insert(&mut self, key: &Bytes) -> bool {
        if self.cap == 0 {
            return true;
        }
        if !self.set.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key.clone());
        if self.order.len() > self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

/// Serials whose `latest` time we remember at most; past it the map starts
/// afresh (a `latest` may then be written from an older reading once).
const LATEST_CAP: usize = 100_000;

struct Writer {
    endpoint: Endpoint,
    batch_max: usize,
    flush_interval: Duration,
    counters: Arc<Counters>,
    events: mpsc::Sender<Event>,
    give_up_at: Arc<Mutex<Option<Instant>>>,
    target: Option<Target>,
    recent: Recent,
    latest: HashMap<Box<str>, Timestamp, RandomState>,
}

enum Fill {
    Open,
    Closed,
}

impl Writer {
    /// Runs until every receiver is gone and all is stored; returns the
    /// readings given up on (server unreachable past the drain timeout).
    fn run(mut self, rx: &Receiver<Vec<Record>>) -> Result<u64, Error> {
        let mut batch: Vec<Record> = Vec::with_capacity(self.batch_max + CHUNK);
        loop {
            let state = self.fill(rx, &mut batch);
            if !batch.is_empty() && !self.commit(&batch)? {
                // Gave up: count this batch and whatever still arrives.
                let mut lost = batch.len() as u64;
                drop(batch);
                while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
                    lost += chunk.len() as u64;
                }
                return Ok(lost);
            }
            batch.clear();
            if matches!(state, Fill::Closed) {
                return Ok(0);
            }
        }
    }

    /// Adds chunks to `batch` until it is full, its first reading has
    /// waited `flush_interval`, or the channel closes.
    fn fill(&mut self, rx: &Receiver<Vec<Record>>, batch: &mut Vec<Record>) -> Fill {
        let mut deadline: Option<Instant> = None;
        while batch.len() < self.batch_max {
            let chunk = match deadline {
                None => match rx.recv() {
                    Ok(c) => c,
                    Err(_) => return Fill::Closed,
                },
                Some(d) => match rx.try_recv() {
                    Ok(c) => c,
                    Err(TryRecvError::Disconnected) => return Fill::Closed,
                    Err(TryRecvError::Empty) => {
                        match rx.recv_timeout(d.saturating_duration_since(Instant::now())) {
                            Ok(c) => c,
                            Err(RecvTimeoutError::Timeout) => return Fill::Open,
                            Err(RecvTimeoutError::Disconnected) => return Fill::Closed,
                        }
                    }
                },
            };
            let mut dups = 0;
            for r in chunk {
                if self.recent.insert(&r.key) {
                    batch.push(r);
                } else {
                    dups += 1;
                }
            }
            add(&self.counters.duplicates, dups);
            if deadline.is_none() && !batch.is_empty() {
                deadline = Some(Instant::now() + self.flush_interval);
            }
        }
        Fill::Open
    }

    fn giving_up(&self) -> bool {
        self.give_up_at.lock().ok().and_then(|at| *at).is_some_and(|at| Instant::now() >= at)
    }

    /// Stores `batch` (and the `latest` keys it moves forward) in one
    /// pipeline, reconnecting and resending until the server acknowledges
    /// it. Returns false when it gave up (stopping, server unreachable).
    fn commit(&mut self, batch: &[Record]) -> Result<bool, Error> {
        // The newest reading of each serial, when newer than the one
        // `latest` already holds.
        let mut newest: HashMap<&str, usize, RandomState> = HashMap::default();
        for (i, r) in batch.iter().enumerate() {
            let e = newest.entry(&*r.serial).or_insert(i);
            if batch[*e].time < r.time {
                *e = i;
            }
        }
        newest.retain(|s, i| self.latest.get(*s).is_none_or(|t| *t < batch[*i].time));
        let latest: Vec<(Bytes, usize)> =
            newest.into_iter().map(|(s, i)| (Bytes::from(latest_key(s)), i)).collect();

        let mut backoff = Duration::from_millis(50);
        loop {
            let result = self.try_commit(batch, &latest);
            match result {
                Ok(rejected) => {
                    add(&self.counters.stored, batch.len() as u64 - rejected);
                    add(&self.counters.rejected, rejected);
                    add(&self.counters.batches, 1);
                    if self.latest.len() + latest.len() > LATEST_CAP {
                        self.latest.clear();
                    }
                    for (_, i) in latest {
                        let r = &batch[i];
                        self.latest.insert(r.serial.clone(), r.time);
                    }
                    return Ok(true);
                }
                Err(e) if e.is_transient() => {
                    if self.target.take().is_some() {
                        add(&self.counters.reconnects, 1);
                    }
                    if self.giving_up() {
                        return Ok(false);
                    }
                    let _ = self.events.send(Event::Retrying {
                        error: chain(&e),
                        readings: batch.len(),
                        retry_in: backoff,
                    });
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(Error::Server(e)),
            }
        }
    }

    /// One attempt; returns how many readings the server refused.
    fn try_commit(&mut self, batch: &[Record], latest: &[(Bytes, usize)]) -> tap::Result<u64> {
        let t = if let Some(t) = self.target.take() {
            t
        } else {
            let mut t = Target::connect(&self.endpoint)?;
            t.set_reply_timeout(Duration::from_secs(30));
            let _ = self.events.send(Event::Connected { server: self.endpoint.addr.clone() });
            t
        };
        let t = self.target.insert(t);
        for r in batch {
            t.set(&r.key, &r.value, 0, 0);
        }
        for (key, i) in latest {
            t.set(key, &batch[*i].value, 0, 0);
        }
        let done = t.commit()?;
        let mut rejected_readings = 0u64;
        let rejections = t.take_rejections();
        let kept = rejections.len() as u64;
        for e in rejections {
            if matches!(&e, tap::Error::Rejected { key, .. } if key.starts_with(crate::reading::READING_PREFIX))
            {
                rejected_readings += 1;
            }
            let _ = self.events.send(Event::Rejected { error: e.to_string() });
        }
        // Refusals beyond the ones kept are counted against readings.
        rejected_readings += done.rejected.saturating_sub(kept);
        Ok(rejected_readings.min(batch.len() as u64))
    }
}

/// An error and its causes on one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_keys_window() {
        let mut r = Recent::new(2);
        let (a, b, c) = (Bytes::from("a"), Bytes::from("b"), Bytes::from("c"));
        assert!(r.insert(&a));
        assert!(!r.insert(&a));
        assert!(r.insert(&b));
        assert!(r.insert(&c)); // a falls out of the window
        assert!(r.insert(&a));
        assert!(!r.insert(&c));
        let mut off = Recent::new(0);
        assert!(off.insert(&a) && off.insert(&a));
    }

    #[test]
    fn config_errors() {
        let fmt = Format::Ibutton(crate::IbuttonOptions::default());
        let e = Collector::start(Config::new(vec![], fmt.clone(), Endpoint::new("127.0.0.1:1")))
            .unwrap_err();
        assert_eq!(e.to_string(), "configuration: no group to listen on");
        let e = Collector::start(Config::new(
            vec!["[ff02::1]:6789".parse().unwrap()],
            fmt,
            Endpoint::new("127.0.0.1:1"),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("IPv6"), "{e}");
    }
}
