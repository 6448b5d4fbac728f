//! Receivers: one thread per group copies datagrams, as they are, into
//! blocks for the encoder. Nothing is parsed here, so a receiver spends a
//! `recvfrom` and a copy on each datagram and keeps the kernel's queue
//! short even when the cores are busy.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Counters, Event, add};
use crate::time::Timestamp;

/// The socket's read timeout: a partly filled block is handed over when
/// the socket has been idle this long, or its first datagram is this old.
pub(crate) const IDLE: Duration = Duration::from_millis(5);
/// Datagrams within one [`IDLE`] that switch a receiver from blocking on
/// each datagram to napping and reading bursts.
const BUSY_AFTER: u32 = 16;
/// How long a busy receiver lets datagrams gather between bursts.
const NAP: Duration = Duration::from_millis(1);
/// Datagrams per block at most.
const BLOCK_DATAGRAMS: usize = 1024;
/// A block is handed over once it holds this many bytes.
const BLOCK_BYTES: usize = 256 << 10;
/// Empty blocks kept for reuse.
const POOL_MAX: usize = 16;
/// After a stop, how long a receiver keeps reading a socket that never
/// goes idle (senders that do not pause).
const STOP_DRAIN: Duration = Duration::from_secs(1);

/// One datagram's place in a block.
#[derive(Debug)]
pub(crate) struct Datagram {
    /// Where it ends in [`Block::data`] (it starts where the previous ends).
    end: usize,
    /// Its sender.
    pub(crate) from: SocketAddr,
    /// When it was read.
    pub(crate) received: Timestamp,
}

/// Datagrams of one group, back to back.
#[derive(Debug, Default)]
pub(crate) struct Block {
    /// The group's index in the configuration.
    pub(crate) group: usize,
    data: Vec<u8>,
    datagrams: Vec<Datagram>,
}

impl Block {
    /// Datagrams in the block.
    pub(crate) fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Datagram `i` and its bytes.
    pub(crate) fn get(&self, i: usize) -> Option<(&Datagram, &[u8])> {
        let d = self.datagrams.get(i)?;
        let start = i.checked_sub(1).and_then(|p| self.datagrams.get(p)).map_or(0, |p| p.end);
        Some((d, self.data.get(start..d.end)?))
    }

    /// Appends a datagram.
    pub(crate) fn push(&mut self, bytes: &[u8], from: SocketAddr, received: Timestamp) {
        self.data.extend_from_slice(bytes);
        self.datagrams.push(Datagram { end: self.data.len(), from, received });
    }

    fn full(&self) -> bool {
        self.datagrams.len() >= BLOCK_DATAGRAMS || self.data.len() >= BLOCK_BYTES
    }
}

/// Emptied blocks, for the receivers to fill again (saves allocating and
/// faulting in a fresh block every few milliseconds).
#[derive(Debug, Default)]
pub(crate) struct Pool(Mutex<Vec<Block>>);

impl Pool {
    /// An empty block for `group`.
    pub(crate) fn take(&self, group: usize) -> Block {
        let mut b = self.0.lock().ok().and_then(|mut p| p.pop()).unwrap_or_default();
        b.group = group;
        b
    }

    /// Returns a block for reuse.
    pub(crate) fn give(&self, mut b: Block) {
        b.data.clear();
        b.datagrams.clear();
        if let Ok(mut p) = self.0.lock()
            && p.len() < POOL_MAX
        {
            p.push(b);
        }
    }
}

/// One group's receive loop.
pub(crate) struct ReceiveLoop {
    pub(crate) socket: UdpSocket,
    pub(crate) index: usize,
    pub(crate) group: SocketAddr,
    pub(crate) tx: Sender<Block>,
    pub(crate) pool: Arc<Pool>,
    /// Datagrams waiting for the encoder at most before this loop pauses.
    pub(crate) max_queued: u64,
    pub(crate) counters: Arc<Counters>,
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) stop: Arc<AtomicBool>,
}

impl ReceiveLoop {
    /// Reads until stopped and idle (or the encoder is gone).
    ///
    /// While datagrams are rare the socket blocks and each one wakes the
    /// thread. Once they come faster than [`BUSY_AFTER`] per [`IDLE`], the
    /// thread naps for [`NAP`] and then reads everything queued without
    /// blocking: a wakeup costs more than the `recvfrom` it leads to (far
    /// more in a virtual machine), so at 200k datagrams a second one
    /// wakeup per datagram would take a good part of a core. The kernel
    /// buffer holds far more than a nap's worth. It goes back to blocking
    /// once a nap brings nothing.
    pub(crate) fn run(self) {
        let mut buf = vec![0u8; 65_536];
        let mut block = self.pool.take(self.index);
        let mut since = Instant::now();
        let mut stopping: Option<Instant> = None;
        let mut busy = false;
        // Datagrams since `window` began (while blocking).
        let (mut window, mut in_window) = (Instant::now(), 0u32);
        loop {
            if busy {
                std::thread::sleep(NAP);
            }
            // In a busy burst every datagram gets the burst's time.
            let burst_time = Timestamp::now();
            let mut got = 0u32;
            let idle = loop {
                match self.socket.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        if block.len() == 0 {
                            since = Instant::now();
                        }
                        let at = if busy { burst_time } else { Timestamp::now() };
                        block.push(buf.get(..n).unwrap_or_default(), from, at);
                        got += 1;
                        if block.full() && !self.hand_over(&mut block) {
                            return;
                        }
                        if !busy {
                            break false;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        break true;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = self
                            .events
                            .send(Event::Receive { group: self.group, error: e.to_string() });
                        if !self.stop.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        break true;
                    }
                }
            };
            // Nothing came: a blocking read timed out, or a nap brought nothing.
            let socket_idle = got == 0 || (idle && !busy);
            if busy && got == 0 {
                busy = false;
                let _ = self.socket.set_nonblocking(false);
            } else if !busy && got > 0 {
                if window.elapsed() >= IDLE {
                    (window, in_window) = (Instant::now(), 0);
                }
                in_window += got;
                if in_window >= BUSY_AFTER && self.socket.set_nonblocking(true).is_ok() {
                    busy = true;
                }
            }
            // Hand over a block when the socket is idle or the block is
            // old enough; after a stop, an idle socket means we are done.
            if block.len() > 0
                && (socket_idle || since.elapsed() >= IDLE)
                && !self.hand_over(&mut block)
            {
                return;
            }
            if self.stop.load(Ordering::SeqCst)
                && (socket_idle
                    || stopping.get_or_insert_with(Instant::now).elapsed() >= STOP_DRAIN)
            {
                if block.len() > 0 {
                    self.hand_over(&mut block);
                }
                return;
            }
        }
    }

    /// Sends `block` to the encoder (first waiting while too much is
    /// queued, so memory stays bounded and the kernel buffer takes the
    /// strain) and puts an empty one in its place. False when the encoder
    /// is gone.
    fn hand_over(&self, block: &mut Block) -> bool {
        while self.counters.queued.load(Ordering::Relaxed) >= self.max_queued
            && !self.stop.load(Ordering::Relaxed)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let full = std::mem::replace(block, self.pool.take(self.index));
        add(&self.counters.queued, full.len() as u64);
        add(&self.counters.bytes, full.data.len() as u64);
        add(&self.counters.datagrams, full.len() as u64);
        self.tx.send(full).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_datagrams_apart() {
        let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut b = Block::default();
        assert!(b.get(0).is_none());
        b.push(b"one", from, Timestamp::EPOCH);
        b.push(b"", from, Timestamp::EPOCH);
        b.push(b"three", from, Timestamp::from_unix_nanos(3));
        assert_eq!(b.len(), 3);
        let got: Vec<&[u8]> = (0..3).map(|i| b.get(i).unwrap().1).collect();
        assert_eq!(got, [&b"one"[..], b"", b"three"]);
        assert_eq!(b.get(2).unwrap().0.received, Timestamp::from_unix_nanos(3));
        assert!(b.get(3).is_none());
        assert!(!b.full());
        for _ in 3..BLOCK_DATAGRAMS {
            b.push(b"x", from, Timestamp::EPOCH);
        }
        assert!(b.full());
    }

    #[test]
    fn pool_reuses_emptied_blocks() {
        let pool = Pool::default();
        let mut b = pool.take(2);
        assert_eq!(b.group, 2);
        b.push(&[7; 1000], "127.0.0.1:9".parse().unwrap(), Timestamp::EPOCH);
        let cap = b.data.capacity();
        pool.give(b);
        let again = pool.take(0);
        assert_eq!((again.len(), again.group, again.data.capacity()), (0, 0, cap));
    }
}
