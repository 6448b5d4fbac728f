//! [`Consumer`]: one TAP stream, read as typed [`Item`]s.
//!
//! The consumer never acks on its own. An event the producer flagged ACK
//! comes out with an [`Ack`] token; the caller hands the token back with
//! [`Consumer::ack`] once the event is applied (for a mirror: once the
//! target's NOOP reply covers it). Acks must go back in stream order, since
//! the producer's cursor moves to the newest acked event.

use std::fmt;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use memcache::binary::tap::{
    Event, EventFlags, EventKind, Incoming, TapConnect, TapFlags, opaque, parse_incoming, write_ack,
};
use memcache::binary::{Limits, Opcode, Status};

use crate::conn::{Endpoint, PacketReader, Read1, Stream, Transport, write_all};
use crate::error::{Error, Result};

/// One item of a TAP stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// An item's new state.
    Mutation(Mutation),
    /// A key was deleted (or expired).
    Delete {
        /// The key.
        key: Bytes,
        /// The delete's CAS.
        cas: u64,
        /// The change's sequence number (with `SEQNO_META`).
        seqno: Option<u64>,
    },
    /// Everything was flushed: drop the copy.
    Flush,
    /// The backfill starts (`TAP_OPAQUE` `INITIAL_VBUCKET_STREAM`).
    BackfillStart,
    /// The backfill is complete; live changes follow (`CLOSE_BACKFILL`).
    BackfillEnd,
    /// The producer ended the stream (`CLOSE_TAP_STREAM`, after a DUMP).
    StreamEnd,
    /// A control event with nothing to apply (other `TAP_OPAQUE` codes,
    /// vbucket states, checkpoints). It may still carry an ack.
    Control {
        /// The event opcode.
        opcode: Opcode,
        /// The `TAP_OPAQUE` code, if it was one.
        code: Option<u32>,
    },
}

/// A `TAP_MUTATION`.
#[derive(Clone, PartialEq, Eq)]
pub struct Mutation {
    /// Key.
    pub key: Bytes,
    /// Value (empty when `keys_only`).
    pub value: Bytes,
    /// Item flags (converted from host order when the producer did not set
    /// `NETWORK_BYTE_ORDER`, as spymemcached does).
    pub flags: u32,
    /// Expiration as the producer sent it (0 = never; mammoth sends an
    /// absolute Unix time).
    pub expiry: u32,
    /// The item's CAS.
    pub cas: u64,
    /// The change's sequence number (with `SEQNO_META`).
    pub seqno: Option<u64>,
    /// The producer left the value out (`NO_VALUE`, after `KEYS_ONLY`).
    pub keys_only: bool,
}

impl fmt::Debug for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutation")
            .field("key", &self.key)
            .field("value_len", &self.value.len())
            .field("flags", &self.flags)
            .field("expiry", &self.expiry)
            .field("cas", &self.cas)
            .field("seqno", &self.seqno)
            .field("keys_only", &self.keys_only)
            .finish()
    }
}

/// An ack the producer asked for: give it back to [`Consumer::ack`] when
/// the event (and everything before it) is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The event's opcode.
    pub opcode: Opcode,
    /// The event's opaque.
    pub opaque: u32,
}

/// An item and, if the producer asked for one, its ack token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// What happened.
    pub item: Item,
    /// Present when the event was flagged ACK.
    pub ack: Option<Ack>,
}

/// What [`Consumer::poll`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Poll {
    /// The next item.
    Item(Delivery),
    /// Nothing within the wait (the stream is alive; poll again).
    Idle,
    /// The stream ended (`CLOSE_TAP_STREAM` then the producer closed).
    End,
}

/// Options of a [`Consumer`].
#[derive(Clone, Debug)]
pub struct ConsumerOptions {
    /// The `TAP_CONNECT` to send (name, flags, arguments).
    pub connect: TapConnect,
    /// Longest packet accepted (the body length limit); anything longer is
    /// a protocol error before a byte of it is buffered.
    pub max_body_len: u32,
    /// With no byte at all for this long the stream is presumed dead
    /// ([`Error::Idle`]); producers send NOOPs every ~20 s when idle.
    pub idle_timeout: Duration,
}

impl ConsumerOptions {
    /// Options for `connect`: 64 MiB packets, 90 s idle timeout.
    pub fn new(connect: TapConnect) -> ConsumerOptions {
        ConsumerOptions { connect, max_body_len: 64 << 20, idle_timeout: Duration::from_secs(90) }
    }
}

/// A TAP consumer over a transport (normally a [`Stream`]: TCP or TLS).
#[derive(Debug)]
pub struct Consumer<T = Stream> {
    transport: T,
    reader: PacketReader,
    /// A packet [`Consumer::has_buffered`] framed but `poll` has not parsed.
    pending: Option<(Bytes, u64)>,
    limits: Limits,
    idle_timeout: Duration,
    seqno_meta: bool,
    /// `FILTER` was asked and the producer has not confirmed it yet.
    unconfirmed_filter: bool,
    ended: bool,
    acks: BytesMut,
    events: u64,
}

impl Consumer<Stream> {
    /// Connects to `endpoint`, authenticates if it has credentials, and
    /// sends the `TAP_CONNECT`.
    ///
    /// # Errors
    /// Connecting, authentication, or writing the request.
    pub fn connect(endpoint: &Endpoint, opts: &ConsumerOptions) -> Result<Consumer<Stream>> {
        let s = endpoint.connect_authenticated()?;
        Consumer::start(s, opts)
    }
}

impl<T: Transport> Consumer<T> {
    /// Sends the `TAP_CONNECT` on an open (and, if needed, authenticated)
    /// transport.
    ///
    /// # Errors
    /// Writing the request.
    pub fn start(mut transport: T, opts: &ConsumerOptions) -> Result<Consumer<T>> {
        let mut out = BytesMut::new();
        opts.connect.encode(0, 0, &mut out);
        write_all(&mut transport, &out)?;
        let limits = Limits { max_body_len: opts.max_body_len, ..Limits::default() };
        Ok(Consumer {
            transport,
            reader: PacketReader::new(limits),
            pending: None,
            limits,
            idle_timeout: opts.idle_timeout,
            seqno_meta: opts.connect.flags.contains(TapFlags::SEQNO_META),
            unconfirmed_filter: opts.connect.flags.contains(TapFlags::FILTER),
            ended: false,
            acks: BytesMut::new(),
            events: 0,
        })
    }

    /// Bytes read from the stream so far.
    pub fn offset(&self) -> u64 {
        self.reader.offset()
    }

    /// Events received so far (NOOPs not counted).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Whether a whole packet is already buffered (so [`Consumer::poll`]
    /// will not block). A mirror closes its pipeline when this is false.
    ///
    /// # Errors
    /// A packet whose header does not check.
    pub fn has_buffered(&mut self) -> Result<bool> {
        if self.pending.is_some() {
            return Ok(true);
        }
        match self.reader.buffered()? {
            None => Ok(false),
            Some((p, at)) => {
                self.pending = Some((p, at));
                Ok(true)
            }
        }
    }

    /// The next item, blocking until one arrives.
    ///
    /// # Errors
    /// See [`Consumer::poll`].
    pub fn next_item(&mut self) -> Result<Option<Delivery>> {
        loop {
            match self.poll(Duration::from_secs(1))? {
                Poll::Item(d) => return Ok(Some(d)),
                Poll::Idle => {}
                Poll::End => return Ok(None),
            }
        }
    }

    /// Waits up to `wait` for the next item. NOOP keep-alives are skipped.
    ///
    /// # Errors
    /// A refusal ([`Error::Refused`]), a packet that does not frame or
    /// decode, a connection that drops mid-packet or without ending the
    /// stream, or silence past the idle timeout.
    pub fn poll(&mut self, wait: Duration) -> Result<Poll> {
        loop {
            let (packet, at) = match self.pending.take() {
                Some(p) => p,
                None => match self.reader.read(&mut self.transport, Some(wait))? {
                    Read1::Packet(p, at) => (p, at),
                    Read1::Idle => {
                        let quiet = self.reader.last_byte().elapsed();
                        if quiet >= self.idle_timeout {
                            return Err(Error::Idle { secs: quiet.as_secs() });
                        }
                        return Ok(Poll::Idle);
                    }
                    Read1::Eof if self.ended => return Ok(Poll::End),
                    Read1::Eof => return Err(Error::Disconnected { offset: self.reader.offset() }),
                },
            };
            let opcode = packet.get(1).map(|&b| Opcode(b));
            let incoming =
                parse_incoming(packet, &self.limits).map_err(|e| Error::tap(at, opcode, &e))?;
            match incoming {
                Incoming::Noop { .. } => {}
                Incoming::Response(r) if r.opcode == Opcode::TAP_CONNECT => {
                    return Err(Error::Refused {
                        status: r.status,
                        message: String::from_utf8_lossy(&r.value).into_owned(),
                    });
                }
                Incoming::Response(r) => {
                    return Err(Error::Unexpected {
                        offset: at,
                        what: format!("{} response with status {}", r.opcode, r.status),
                    });
                }
                Incoming::Event(e) if self.unconfirmed_filter => {
                    // A producer that knows FILTER confirms it first; one
                    // that does not would send everything.
                    if e.kind != (EventKind::Opaque { code: opaque::FILTER_ACCEPTED }) {
                        return Err(Error::Unexpected {
                            offset: at,
                            what: format!(
                                "{} instead of the filter's confirmation (does the server support FILTER?)",
                                e.opcode()
                            ),
                        });
                    }
                    self.unconfirmed_filter = false;
                }
                Incoming::Event(e) => {
                    self.events += 1;
                    let d = self.deliver(e);
                    if d.item == Item::StreamEnd {
                        self.ended = true;
                    }
                    return Ok(Poll::Item(d));
                }
            }
        }
    }

    fn deliver(&self, e: Event) -> Delivery {
        let ack =
            e.flags.contains(EventFlags::ACK).then(|| Ack { opcode: e.opcode(), opaque: e.opaque });
        let seqno = (self.seqno_meta && e.engine_private.len() == 8).then(|| {
            let b = &e.engine_private;
            u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        });
        let opcode = e.opcode();
        let item = match e.kind {
            EventKind::Mutation { item_flags, expiry, value } => Item::Mutation(Mutation {
                key: e.key,
                value,
                flags: if e.flags.contains(EventFlags::NETWORK_BYTE_ORDER) {
                    item_flags
                } else {
                    item_flags.swap_bytes()
                },
                expiry,
                cas: e.cas,
                seqno,
                keys_only: e.flags.contains(EventFlags::NO_VALUE),
            }),
            EventKind::Delete => Item::Delete { key: e.key, cas: e.cas, seqno },
            EventKind::Flush => Item::Flush,
            EventKind::Opaque { code: opaque::INITIAL_VBUCKET_STREAM } => Item::BackfillStart,
            EventKind::Opaque { code: opaque::CLOSE_BACKFILL } => Item::BackfillEnd,
            EventKind::Opaque { code: opaque::CLOSE_TAP_STREAM } => Item::StreamEnd,
            EventKind::Opaque { code } => Item::Control { opcode, code: Some(code) },
            EventKind::VbucketSet { .. }
            | EventKind::CheckpointStart { .. }
            | EventKind::CheckpointEnd { .. } => Item::Control { opcode, code: None },
        };
        Delivery { item, ack }
    }

    /// Queues the ack of `ack` (status 0) and sends every queued ack.
    ///
    /// # Errors
    /// Writing to the producer.
    pub fn ack(&mut self, ack: Ack) -> Result<()> {
        self.queue_ack(ack);
        self.send_acks()
    }

    /// Queues an ack without sending it (see [`Consumer::send_acks`]).
    pub fn queue_ack(&mut self, ack: Ack) {
        write_ack(&mut self.acks, ack.opcode, ack.opaque, Status::SUCCESS);
    }

    /// Sends the queued acks in one write.
    ///
    /// # Errors
    /// Writing to the producer.
    pub fn send_acks(&mut self) -> Result<()> {
        if self.acks.is_empty() {
            return Ok(());
        }
        let bytes = self.acks.split().freeze();
        write_all(&mut self.transport, &bytes)
    }

    /// The transport (to shut a socket down from another handle, say).
    pub fn transport(&self) -> &T {
        &self.transport
    }
}
