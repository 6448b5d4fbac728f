//! [`Collector`]: receiver threads (one per group) copy datagrams into
//! blocks and hand them to one encoder thread, which parses them,
//! deduplicates and encodes each batch as a ready-to-send SETQ pipeline
//! for one writer thread, which commits it.
//!
//! The receivers do as little as possible per datagram (one `recvfrom`
//! and a copy), so they empty the kernel's queue quickly even when the
//! cores are busy; parsing and encoding the next batch overlaps with the
//! server committing the last one.

mod encode;
mod receive;
mod write;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tap::Endpoint;

use crate::error::{Error, ParseError};
use crate::format::Format;
use crate::socket::{self, KernelCounters};

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
    /// Readings per pipeline at most (default 5,000; a batch ends with
    /// the datagram that reaches it).
    pub batch_max: usize,
    /// How long the first reading of a batch waits for more (default 50 ms).
    pub flush_interval: Duration,
    /// Datagrams held in memory, received but not yet parsed, before the
    /// receivers stop reading and the kernel buffer takes the strain
    /// (default 500,000). Besides these, at most three batches are in
    /// memory: one being encoded, one queued, one being committed.
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
    /// Datagrams received and not yet parsed.
    pub queued: u64,
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
    /// Work not yet done: readings received and not yet stored, refused or
    /// found duplicate, plus datagrams not yet parsed (0 when everything
    /// received so far is settled).
    pub fn pending(&self) -> u64 {
        self.readings.saturating_sub(self.stored + self.rejected + self.duplicates) + self.queued
    }
}

/// The shared counters. The receivers add to `queued` before `datagrams`,
/// the encoder to `readings` before it takes from `queued`, and
/// [`Collector::stats`] loads them in the opposite order, so a copy never
/// shows work as done before it is.
#[derive(Debug, Default)]
struct Counters {
    datagrams: AtomicU64,
    bytes: AtomicU64,
    queued: AtomicU64,
    readings: AtomicU64,
    malformed: AtomicU64,
    duplicates: AtomicU64,
    stored: AtomicU64,
    rejected: AtomicU64,
    batches: AtomicU64,
    reconnects: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    if n > 0 {
        c.fetch_add(n, Ordering::SeqCst);
    }
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
    encoder: Option<JoinHandle<()>>,
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
            sockets.push(socket::open(g, config.interface, config.recv_buffer, receive::IDLE)?);
        }
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let give_up_at = Arc::new(Mutex::new(None));
        let (events_tx, events) = mpsc::channel();
        let (blocks_tx, blocks) = mpsc::channel::<receive::Block>();
        // One batch queued while one is committed and one is encoded.
        let (batches_tx, batches) = mpsc::sync_channel::<encode::Encoded>(1);
        let (spare_tx, spare) = mpsc::channel::<encode::Encoded>();
        let pool = Arc::new(receive::Pool::default());
        let local: Vec<SocketAddr> = sockets.iter().map(|s| s.local).collect();
        let inodes: Vec<u64> = sockets.iter().filter_map(|s| s.inode).collect();
        let recv_buffer = sockets.iter().map(|s| s.recv_buffer).min().unwrap_or(0);

        let writer = write::Writer::new(
            config.server.clone(),
            counters.clone(),
            events_tx.clone(),
            give_up_at.clone(),
        );
        let writer = std::thread::Builder::new()
            .name("collect-writer".into())
            .spawn(move || writer.run(&batches, &spare_tx))
            .map_err(Error::Thread)?;
        let mut c = Collector {
            counters,
            stop,
            give_up_at,
            drain_timeout: config.drain_timeout,
            receivers: Vec::new(),
            encoder: None,
            writer: Some(writer),
            events,
            local,
            inodes,
            recv_buffer,
        };
        let encoder = encode::Encoder::new(
            &config,
            c.counters.clone(),
            events_tx.clone(),
            pool.clone(),
            batches_tx,
            spare,
        );
        c.encoder = Some(
            std::thread::Builder::new()
                .name("collect-encode".into())
                .spawn(move || encoder.run(&blocks))
                .map_err(Error::Thread)?,
        );
        for (i, (s, group)) in sockets.into_iter().zip(config.groups).enumerate() {
            let r = receive::ReceiveLoop {
                socket: s.socket,
                index: i,
                group,
                tx: blocks_tx.clone(),
                pool: pool.clone(),
                max_queued: config.max_pending as u64,
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
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        // Later stages first (see Counters).
        let stored = get(&c.stored);
        let rejected = get(&c.rejected);
        let duplicates = get(&c.duplicates);
        let batches = get(&c.batches);
        let reconnects = get(&c.reconnects);
        let datagrams = get(&c.datagrams);
        let bytes = get(&c.bytes);
        let queued = get(&c.queued);
        let readings = get(&c.readings);
        let malformed = get(&c.malformed);
        Stats {
            datagrams,
            bytes,
            queued,
            readings,
            malformed,
            duplicates,
            stored,
            rejected,
            batches,
            reconnects,
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
    /// encoder parses all they received, the writer stores everything
    /// (retrying up to [`Config::drain_timeout`] while the server is
    /// unreachable) and ends.
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
        if let Some(h) = self.encoder.take() {
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
