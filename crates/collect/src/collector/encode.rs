//! The encoder: parses the receivers' blocks, drops duplicated readings,
//! and encodes each batch as the SETQ pipeline the writer sends as it is
//! (and sends again, unchanged, after a reconnect).
//!
//! Per reading it allocates one thing, the key the duplicate window
//! remembers: lines are parsed in place ([`Format::parse_into`]), and the
//! key and JSON value are written into reused buffers, then into the
//! batch's frames.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use foldhash::fast::RandomState;
use memcache::binary::{Batch, HEADER_LEN};

use super::receive::{Block, Pool};
use super::{Config, Counters, Event, MALFORMED_LOG_PER_SEC, add};
use crate::error::ParseError;
use crate::format::{Format, lines};
use crate::reading::{ExtraRef, ReadingRef, write_json, write_key, write_latest_key};
use crate::time::Timestamp;

/// Serials whose `latest` time we remember at most; past it the map starts
/// afresh (a `latest` may then be written from an older reading once).
const LATEST_CAP: usize = 100_000;

/// A batch, encoded: SETQs with opaques 1, 2, … — the readings first, then
/// the `latest` keys they move forward.
#[derive(Debug, Default)]
pub(crate) struct Encoded {
    pub(crate) frames: BytesMut,
    /// Where each request starts in `frames`.
    offsets: Vec<usize>,
    /// Requests that store readings (the first ones).
    pub(crate) readings: u32,
}

impl Encoded {
    /// Requests in the pipeline.
    pub(crate) fn requests(&self) -> u32 {
        self.offsets.len() as u32
    }

    /// The key of request `i` (0-based), read back from its frame.
    pub(crate) fn key(&self, i: u32) -> Option<Bytes> {
        let at = *self.offsets.get(i as usize)?;
        let h = self.frames.get(at..at + HEADER_LEN)?;
        let key_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let start = at + HEADER_LEN + usize::from(h[4]);
        self.frames.get(start..start + key_len).map(Bytes::copy_from_slice)
    }

    /// Appends a SETQ; returns where its value is in `frames`.
    fn setq(&mut self, key: &[u8], value: &[u8]) -> Range<usize> {
        self.offsets.push(self.frames.len());
        let opaque = self.requests();
        Batch::new(&mut self.frames, opaque).setq(key, value, 0, 0);
        self.frames.len() - value.len()..self.frames.len()
    }

    /// Appends a reading's SETQ (the encoder's own path, for tests of the
    /// stages after it).
    #[cfg(test)]
    pub(crate) fn push_reading(&mut self, key: &[u8], value: &[u8]) {
        self.setq(key, value);
        self.readings += 1;
    }

    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.offsets.clear();
        self.readings = 0;
    }
}

/// The last N keys seen, for spotting duplicated datagrams exactly (no
/// hash-only comparison: a collision would lose a reading).
struct Recent {
    set: HashSet<Arc<[u8]>, RandomState>,
    order: VecDeque<Arc<[u8]>>,
    cap: usize,
}

impl Recent {
    fn new(cap: usize) -> Recent {
        Recent { set: HashSet::default(), order: VecDeque::new(), cap }
    }

    /// Remembers `key`; false when it was already remembered.
    fn insert(&mut self, key: &[u8]) -> bool {
        if self.cap == 0 {
            return true;
        }
        if self.set.contains(key) {
            return false;
        }
        let key: Arc<[u8]> = Arc::from(key);
        self.set.insert(key.clone());
        self.order.push_back(key);
        if self.order.len() > self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

/// The encoder thread's state.
pub(crate) struct Encoder {
    format: Format,
    batch_max: usize,
    flush_interval: Duration,
    counters: Arc<Counters>,
    events: mpsc::Sender<Event>,
    /// Per group: when the current second of malformed-line logging began,
    /// and how many were logged in it.
    logged: Vec<(Instant, u32)>,
    pool: Arc<Pool>,
    tx: SyncSender<Encoded>,
    /// Batches the writer is done with, for reuse.
    spare: Receiver<Encoded>,
    recent: Recent,
    /// The newest time each serial's `latest` was written with.
    latest: HashMap<Box<str>, Timestamp, RandomState>,
    /// This batch's newest reading per serial: its time and where its
    /// value is in the frames.
    newest: HashMap<Box<str>, (Timestamp, Range<usize>), RandomState>,
    /// A block the last batch filled up in the middle of, and where.
    paused: Option<(Block, usize)>,
    key: Vec<u8>,
    value: Vec<u8>,
    cols: Vec<usize>,
}

impl Encoder {
    pub(crate) fn new(
        config: &Config,
        counters: Arc<Counters>,
        events: mpsc::Sender<Event>,
        pool: Arc<Pool>,
        tx: SyncSender<Encoded>,
        spare: Receiver<Encoded>,
    ) -> Encoder {
        Encoder {
            format: config.format.clone(),
            batch_max: config.batch_max,
            flush_interval: config.flush_interval,
            counters,
            events,
            logged: vec![(Instant::now(), 0); config.groups.len()],
            pool,
            tx,
            spare,
            recent: Recent::new(config.dedup_window),
            latest: HashMap::default(),
            newest: HashMap::default(),
            paused: None,
            key: Vec::with_capacity(256),
            value: Vec::with_capacity(1024),
            cols: Vec::new(),
        }
    }

    /// Runs until the receivers are gone and everything they sent is
    /// handed to the writer (or the writer is gone).
    pub(crate) fn run(mut self, rx: &Receiver<Block>) {
        loop {
            let mut batch = self.spare.try_recv().unwrap_or_default();
            batch.clear();
            let open = self.fill(rx, &mut batch);
            if batch.readings > 0 {
                self.finish(&mut batch);
                if self.tx.send(batch).is_err() {
                    return;
                }
            }
            if !open {
                return;
            }
        }
    }

    /// Parses blocks into `batch` until it holds `batch_max` readings, its
    /// first reading has waited `flush_interval` and nothing more is
    /// queued, or the receivers are gone (false).
    fn fill(&mut self, rx: &Receiver<Block>, batch: &mut Encoded) -> bool {
        let mut deadline: Option<Instant> = None;
        loop {
            let (block, start) = if let Some(p) = self.paused.take() {
                p
            } else {
                let got = match deadline {
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    Some(d) => match rx.try_recv() {
                        Ok(b) => Ok(b),
                        Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
                        Err(TryRecvError::Empty) => {
                            rx.recv_timeout(d.saturating_duration_since(Instant::now()))
                        }
                    },
                };
                match got {
                    Ok(b) => (b, 0),
                    Err(RecvTimeoutError::Timeout) => return true,
                    Err(RecvTimeoutError::Disconnected) => return false,
                }
            };
            let next = self.parse_block(&block, start, batch);
            if next < block.len() {
                self.paused = Some((block, next));
                return true;
            }
            self.pool.give(block);
            if batch.readings as usize >= self.batch_max {
                return true;
            }
            if deadline.is_none() && batch.readings > 0 {
                deadline = Some(Instant::now() + self.flush_interval);
            }
        }
    }

    /// Parses datagrams `start..` of `block` into `batch`, stopping after
    /// the one that fills it; returns the index of the next datagram.
    fn parse_block(&mut self, block: &Block, start: usize, batch: &mut Encoded) -> usize {
        let (mut readings, mut malformed, mut duplicates) = (0u64, 0u64, 0u64);
        // Reused from line to line: it borrows from this block.
        let mut extra: Vec<ExtraRef<'_>> = Vec::new();
        let mut i = start;
        while let Some((d, bytes)) = block.get(i) {
            i += 1;
            for line in lines(bytes) {
                match self.format.parse_into(line, d.received, &mut extra, &mut self.cols) {
                    Ok(r) => {
                        readings += 1;
                        if !self.encode(&r, &extra, batch) {
                            duplicates += 1;
                        }
                    }
                    Err(error) => {
                        malformed += 1;
                        self.log_malformed(block.group, d.from, error, line);
                    }
                }
            }
            if batch.readings as usize >= self.batch_max {
                break;
            }
        }
        // Readings before the queue shrinks (see Counters).
        add(&self.counters.readings, readings);
        add(&self.counters.malformed, malformed);
        add(&self.counters.duplicates, duplicates);
        self.counters.queued.fetch_sub((i - start) as u64, Ordering::SeqCst);
        i
    }

    /// Adds a reading's SETQ to `batch`; false when its key is a duplicate.
    fn encode(&mut self, r: &ReadingRef<'_>, extra: &[ExtraRef<'_>], batch: &mut Encoded) -> bool {
        let iso = r.time.iso();
        self.key.clear();
        write_key(&mut self.key, &iso, &r.serial);
        if !self.recent.insert(&self.key) {
            return false;
        }
        self.value.clear();
        write_json(
            &mut self.value,
            &iso,
            &r.serial,
            &r.value,
            extra.iter().map(|(n, v)| (n.as_ref(), v.reborrow())),
        );
        let value = batch.setq(&self.key, &self.value);
        batch.readings += 1;
        // The first of equal times wins, as it is stored first.
        match self.newest.get_mut(r.serial.as_ref()) {
            Some(e) if e.0 < r.time => *e = (r.time, value),
            Some(_) => {}
            None => {
                self.newest.insert(Box::from(r.serial.as_ref()), (r.time, value));
            }
        }
        true
    }

    /// Appends the `latest` keys this batch moves forward.
    fn finish(&mut self, batch: &mut Encoded) {
        for (serial, (time, value)) in self.newest.drain() {
            if self.latest.get(&serial).is_some_and(|t| *t >= time) {
                continue;
            }
            self.value.clear();
            self.value.extend_from_slice(batch.frames.get(value).unwrap_or_default());
            self.key.clear();
            write_latest_key(&mut self.key, &serial);
            batch.setq(&self.key, &self.value);
            if self.latest.len() >= LATEST_CAP && !self.latest.contains_key(&serial) {
                self.latest.clear();
            }
            self.latest.insert(serial, time);
        }
    }

    fn log_malformed(&mut self, group: usize, from: SocketAddr, error: ParseError, line: &[u8]) {
        let Some((window, logged)) = self.logged.get_mut(group) else { return };
        if window.elapsed() >= Duration::from_secs(1) {
            *window = Instant::now();
            *logged = 0;
        }
        if *logged < MALFORMED_LOG_PER_SEC {
            *logged += 1;
            let text = line.get(..200).unwrap_or(line);
            let line = String::from_utf8_lossy(text).into_owned();
            let _ = self.events.send(Event::Malformed { from, error, line });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IbuttonOptions;
    use crate::collector::receive::Pool;
    use memcache::binary::{Command, Limits, RequestDecoder};

    #[test]
    fn recent_keys_window() {
        let mut r = Recent::new(2);
        assert!(r.insert(b"a"));
        assert!(!r.insert(b"a"));
        assert!(r.insert(b"b"));
        assert!(r.insert(b"c")); // a falls out of the window
        assert!(r.insert(b"a"));
        assert!(!r.insert(b"c"));
        let mut off = Recent::new(0);
        assert!(off.insert(b"a") && off.insert(b"a"));
    }

    fn encoder(batch_max: usize) -> (Encoder, Receiver<Event>) {
        let mut config = Config::new(
            vec!["127.0.0.1:9".parse().unwrap()],
            Format::Ibutton(IbuttonOptions::default()),
            tap::Endpoint::new("127.0.0.1:1"),
        );
        config.batch_max = batch_max;
        let (events_tx, events) = mpsc::channel();
        let (tx, _rx) = mpsc::sync_channel(1);
        let (_spare_tx, spare) = mpsc::channel();
        let e = Encoder::new(
            &config,
            Arc::new(Counters::default()),
            events_tx,
            Arc::new(Pool::default()),
            tx,
            spare,
        );
        (e, events)
    }

    /// The requests of an encoded batch: (opaque, key, value).
    fn requests(b: &Encoded) -> Vec<(u32, String, String)> {
        let mut buf = b.frames.clone();
        let mut dec = RequestDecoder::new(Limits::default());
        let mut out = Vec::new();
        while let Some(r) = dec.decode(&mut buf).unwrap() {
            let Command::Store { key, value, .. } = r.command else { panic!("{r:?}") };
            out.push((
                r.opaque,
                String::from_utf8(key.to_vec()).unwrap(),
                String::from_utf8(value.to_vec()).unwrap(),
            ));
        }
        assert!(buf.is_empty());
        out
    }

    fn block(datagrams: &[&[u8]]) -> Block {
        let mut b = Block::default();
        for d in datagrams {
            b.push(d, "127.0.0.1:5".parse().unwrap(), Timestamp::EPOCH);
        }
        b
    }

    #[test]
    fn batch_frames_latest_and_duplicates() {
        let (mut e, events) = encoder(100);
        e.counters.queued.store(5, Ordering::SeqCst);
        let b = block(&[
            b"2011/07/17 02:01:32\tAA\t1\n2011/07/17 02:01:34\tAA\t3",
            b"2011/07/17 02:01:33\tAA\t2",
            b"2011/07/17 02:01:32\tAA\t1",
            b"garbage",
            b"2011/07/17 02:01:30\tBB\t5\tnote=x",
        ]);
        let mut batch = Encoded::default();
        assert_eq!(e.parse_block(&b, 0, &mut batch), 5);
        e.finish(&mut batch);
        let got = requests(&batch);
        let keys: Vec<&str> = got.iter().map(|(_, k, _)| k.as_str()).collect();
        assert_eq!(
            keys[..4],
            [
                "reading/2011-07-17T02:01:32.000000000Z_AA",
                "reading/2011-07-17T02:01:34.000000000Z_AA",
                "reading/2011-07-17T02:01:33.000000000Z_AA",
                "reading/2011-07-17T02:01:30.000000000Z_BB",
            ]
        );
        let mut latest: Vec<&(u32, String, String)> = got[4..].iter().collect();
        latest.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(latest.len(), 2);
        assert_eq!(latest[0].1, "sensor/AA/latest");
        assert_eq!(latest[0].2, got[1].2, "the newest reading, not the last to arrive");
        assert_eq!(latest[1].1, "sensor/BB/latest");
        assert_eq!(
            latest[1].2,
            r#"{"ts":"2011-07-17T02:01:30.000000000Z","serial":"BB","reading":5.0,"note":"x"}"#
        );
        let opaques: Vec<u32> = got.iter().map(|r| r.0).collect();
        assert_eq!(opaques, [1, 2, 3, 4, 5, 6]);
        assert_eq!((batch.readings, batch.requests()), (4, 6));
        for (i, (_, k, _)) in got.iter().enumerate() {
            assert_eq!(batch.key(i as u32).unwrap(), k.as_bytes());
        }
        assert_eq!(batch.key(6), None);
        let c = &e.counters;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::SeqCst);
        assert_eq!(
            (load(&c.readings), load(&c.malformed), load(&c.duplicates), load(&c.queued)),
            (5, 1, 1, 0)
        );
        assert!(matches!(events.try_recv(), Ok(Event::Malformed { .. })));

        // The next batch: `latest` moves only for a newer reading.
        let b = block(&[b"2011/07/17 02:01:31\tAA\t0", b"2011/07/17 02:01:31\tBB\t6"]);
        let mut batch = Encoded::default();
        e.parse_block(&b, 0, &mut batch);
        e.finish(&mut batch);
        let keys: Vec<String> = requests(&batch).into_iter().map(|r| r.1).collect();
        assert_eq!(
            keys,
            [
                "reading/2011-07-17T02:01:31.000000000Z_AA",
                "reading/2011-07-17T02:01:31.000000000Z_BB",
                "sensor/BB/latest",
            ]
        );
    }

    #[test]
    fn a_full_batch_pauses_the_block() {
        let (mut e, _events) = encoder(2);
        let b = block(&[
            b"2011/07/17 02:01:01\tAA\t1",
            b"2011/07/17 02:01:02\tAA\t1\n2011/07/17 02:01:03\tAA\t1",
            b"2011/07/17 02:01:04\tAA\t1",
        ]);
        let mut batch = Encoded::default();
        // The datagram that reaches the limit is parsed whole.
        assert_eq!(e.parse_block(&b, 0, &mut batch), 2);
        assert_eq!(batch.readings, 3);
        let mut next = Encoded::default();
        assert_eq!(e.parse_block(&b, 2, &mut next), 3);
        assert_eq!(next.readings, 1);
    }

    #[test]
    fn fill_ends_on_size_deadline_and_close() {
        let (mut e, _events) = encoder(3);
        e.flush_interval = Duration::from_millis(20);
        let (tx, rx) = mpsc::channel();
        tx.send(block(&[b"2011/07/17 02:01:01\tAA\t1", b"2011/07/17 02:01:02\tAA\t1"])).unwrap();
        tx.send(block(&[b"2011/07/17 02:01:03\tAA\t1", b"2011/07/17 02:01:04\tAA\t1"])).unwrap();
        let mut batch = Encoded::default();
        assert!(e.fill(&rx, &mut batch));
        assert_eq!(batch.readings, 3, "full");
        let mut batch = Encoded::default();
        let t = Instant::now();
        assert!(e.fill(&rx, &mut batch));
        assert_eq!(batch.readings, 1, "the paused block's rest, after the deadline");
        assert!(t.elapsed() >= Duration::from_millis(20));
        drop(tx);
        let mut batch = Encoded::default();
        assert!(!e.fill(&rx, &mut batch));
        assert_eq!(batch.readings, 0);
    }
}
