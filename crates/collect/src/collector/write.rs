//! The writer: commits each encoded batch, reconnecting and sending it
//! again until the server acknowledges it.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tap::{Endpoint, Target};

use super::encode::Encoded;
use super::{Counters, Event, add, chain};
use crate::error::Error;
use crate::reading::READING_PREFIX;

/// Batches sent and not yet acknowledged, at most.
const IN_FLIGHT: usize = 2;

pub(crate) struct Writer {
    endpoint: Endpoint,
    counters: Arc<Counters>,
    events: mpsc::Sender<Event>,
    give_up_at: Arc<Mutex<Option<Instant>>>,
    target: Option<Target>,
}

impl Writer {
    pub(crate) fn new(
        endpoint: Endpoint,
        counters: Arc<Counters>,
        events: mpsc::Sender<Event>,
        give_up_at: Arc<Mutex<Option<Instant>>>,
    ) -> Writer {
        Writer { endpoint, counters, events, give_up_at, target: None }
    }

    /// Runs until the encoder is gone and all is stored; returns the
    /// readings given up on (server unreachable past the drain timeout).
    /// Committed batches go back to the encoder through `spare`.
    ///
    /// Up to [`IN_FLIGHT`] batches are sent before the oldest one's
    /// acknowledgement is awaited, so the server applies the next batch
    /// while it makes the last one durable. After a failure every batch in
    /// flight is sent again, in order, on the new connection.
    pub(crate) fn run(
        mut self,
        rx: &Receiver<Encoded>,
        spare: &Sender<Encoded>,
    ) -> Result<u64, Error> {
        let mut flight: VecDeque<(Encoded, bool)> = VecDeque::new();
        let mut open = true;
        let mut backoff = Duration::from_millis(50);
        loop {
            // Take what is ready; wait only when nothing is in flight.
            while open && flight.len() < IN_FLIGHT {
                let next = if flight.is_empty() {
                    rx.recv().ok()
                } else {
                    match rx.try_recv() {
                        Ok(b) => Some(b),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => None,
                    }
                };
                match next {
                    Some(b) => flight.push_back((b, false)),
                    None => open = false,
                }
            }
            if flight.is_empty() {
                return Ok(0);
            }
            match self.advance(&mut flight) {
                Ok(mut batch) => {
                    backoff = Duration::from_millis(50);
                    batch.clear();
                    let _ = spare.send(batch);
                }
                Err(e) if e.is_transient() => {
                    if self.target.take().is_some() {
                        add(&self.counters.reconnects, 1);
                    }
                    let readings: u64 = flight.iter().map(|(b, _)| u64::from(b.readings)).sum();
                    if self.giving_up() {
                        // Stopping: count what is in flight and what follows.
                        let rest: u64 = rx.iter().map(|b| u64::from(b.readings)).sum();
                        return Ok(readings + rest);
                    }
                    for (_, sent) in &mut flight {
                        *sent = false;
                    }
                    let _ = self.events.send(Event::Retrying {
                        error: chain(&e),
                        readings: readings as usize,
                        retry_in: backoff,
                    });
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(Error::Server(e)),
            }
        }
    }

    fn giving_up(&self) -> bool {
        self.give_up_at.lock().ok().and_then(|at| *at).is_some_and(|at| Instant::now() >= at)
    }

    /// Sends the batches in flight that are not yet sent on this
    /// connection (connecting first if need be), waits for the oldest's
    /// acknowledgement, counts it, and returns it.
    fn advance(&mut self, flight: &mut VecDeque<(Encoded, bool)>) -> tap::Result<Encoded> {
        let t = if let Some(t) = self.target.take() {
            t
        } else {
            let mut t = Target::connect(&self.endpoint)?;
            t.set_reply_timeout(Duration::from_secs(30));
            let _ = self.events.send(Event::Connected { server: self.endpoint.addr.clone() });
            t
        };
        let t = self.target.insert(t);
        for (batch, sent) in flight.iter_mut().filter(|(_, sent)| !*sent) {
            t.send_encoded(&batch.frames, batch.requests())?;
            *sent = true;
        }
        let Some((batch, _)) = flight.front() else {
            return Err(tap::Error::Unexpected { offset: 0, what: "nothing in flight".into() });
        };
        let rejected = self.acknowledged(batch)?;
        add(&self.counters.stored, u64::from(batch.readings) - rejected);
        add(&self.counters.rejected, rejected);
        self.counters.batches.fetch_add(1, Ordering::SeqCst);
        flight
            .pop_front()
            .map(|(b, _)| b)
            .ok_or(tap::Error::Unexpected { offset: 0, what: "nothing in flight".into() })
    }

    /// Waits for `batch`'s acknowledgement; returns how many of its
    /// readings the server refused.
    fn acknowledged(&mut self, batch: &Encoded) -> tap::Result<u64> {
        let Some(t) = self.target.as_mut() else {
            return Err(tap::Error::Unexpected { offset: 0, what: "not connected".into() });
        };
        let done = t.await_encoded(batch.requests(), |i| batch.key(i))?;
        let mut rejected_readings = 0u64;
        let rejections = t.take_rejections();
        let kept = rejections.len() as u64;
        for e in rejections {
            if matches!(&e, tap::Error::Rejected { key, .. } if key.starts_with(READING_PREFIX)) {
                rejected_readings += 1;
            }
            let _ = self.events.send(Event::Rejected { error: e.to_string() });
        }
        // Refusals beyond the ones kept are counted against readings.
        rejected_readings += done.rejected.saturating_sub(kept);
        Ok(rejected_readings.min(u64::from(batch.readings)))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use bytes::BytesMut;
    use memcache::binary::{Limits, Opcode, RequestDecoder, Response, Status};

    use super::*;

    fn batch(keys: &[&str]) -> Encoded {
        let mut b = Encoded::default();
        for k in keys {
            b.push_reading(k.as_bytes(), b"{}");
        }
        b
    }

    /// Reads requests until `noops` NOOPs have come; returns the keys of
    /// the SETQs and the opaques of the NOOPs, in order.
    fn read_requests(s: &mut std::net::TcpStream, noops: usize) -> (Vec<String>, Vec<u32>) {
        let mut dec = RequestDecoder::new(Limits::default());
        let mut buf = BytesMut::new();
        let (mut keys, mut ends) = (Vec::new(), Vec::new());
        let mut chunk = [0u8; 4096];
        while ends.len() < noops {
            while let Some(r) = dec.decode(&mut buf).unwrap() {
                if r.opcode == Opcode::NOOP {
                    ends.push(r.opaque);
                } else if let memcache::binary::Command::Store { key, .. } = r.command {
                    keys.push(String::from_utf8(key.to_vec()).unwrap());
                }
            }
            if ends.len() >= noops {
                break;
            }
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "client closed early");
            buf.extend_from_slice(&chunk[..n]);
        }
        (keys, ends)
    }

    fn noop_reply(opaque: u32) -> BytesMut {
        let mut out = BytesMut::new();
        Response {
            opcode: Opcode::NOOP,
            status: Status::SUCCESS,
            opaque,
            cas: 0,
            data_type: 0,
            extras: bytes::Bytes::new(),
            key: bytes::Bytes::new(),
            value: bytes::Bytes::new(),
        }
        .encode(&mut out);
        out
    }

    /// The connection drops with two batches in flight: both are sent
    /// again, in order, on the next connection, and counted once.
    #[test]
    fn batches_in_flight_are_resent_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut first, _) = listener.accept().unwrap();
            let (keys, _) = read_requests(&mut first, 2);
            assert_eq!(keys, ["reading/a", "reading/b", "reading/c"]);
            drop(first); // no acknowledgement
            let (mut second, _) = listener.accept().unwrap();
            let (keys, ends) = read_requests(&mut second, 2);
            assert_eq!(keys, ["reading/a", "reading/b", "reading/c"]);
            assert_eq!(ends, [3, 2]);
            second.write_all(&noop_reply(3)).unwrap();
            second.write_all(&noop_reply(2)).unwrap();
            // Wait for the client to go.
            let _ = second.read(&mut [0u8; 1]);
        });
        let counters = Arc::new(Counters::default());
        let (events_tx, events) = mpsc::channel();
        let writer = Writer::new(
            Endpoint::new(addr.to_string()),
            counters.clone(),
            events_tx,
            Arc::new(Mutex::new(None)),
        );
        let (tx, rx) = mpsc::sync_channel(2);
        tx.send(batch(&["reading/a", "reading/b"])).unwrap();
        tx.send(batch(&["reading/c"])).unwrap();
        drop(tx);
        let (spare_tx, spare) = mpsc::channel();
        assert_eq!(writer.run(&rx, &spare_tx).unwrap(), 0);
        server.join().unwrap();
        assert_eq!(counters.stored.load(Ordering::SeqCst), 3);
        assert_eq!(counters.batches.load(Ordering::SeqCst), 2);
        assert_eq!(counters.reconnects.load(Ordering::SeqCst), 1);
        assert_eq!(spare.try_iter().count(), 2, "committed batches go back for reuse");
        let events: Vec<Event> = events.try_iter().collect();
        assert!(
            events.iter().any(|e| matches!(e, Event::Retrying { readings: 3, .. })),
            "{events:?}"
        );
    }

    /// Stopping with the server gone: what was in flight is given up and
    /// counted.
    #[test]
    fn unreachable_server_gives_up_when_stopping() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let counters = Arc::new(Counters::default());
        let (events_tx, _events) = mpsc::channel();
        let give_up = Arc::new(Mutex::new(Some(Instant::now())));
        let writer =
            Writer::new(Endpoint::new(format!("127.0.0.1:{port}")), counters, events_tx, give_up);
        let (tx, rx) = mpsc::sync_channel(3);
        tx.send(batch(&["reading/a", "reading/b"])).unwrap();
        tx.send(batch(&["reading/c"])).unwrap();
        tx.send(batch(&["reading/d"])).unwrap();
        drop(tx);
        let (spare_tx, _spare) = mpsc::channel();
        assert_eq!(writer.run(&rx, &spare_tx).unwrap(), 4);
    }
}
