//! TAP (membase's mutation stream, opcodes 0x40–0x47; spec §10).
//!
//! A consumer sends one `TAP_CONNECT` ([`TapConnect`], a request like any
//! other, decoded by [`super::Request::parse`]). From then on the producer
//! sends *requests* — one [`Event`] per mutation, delete, flush or control
//! message, plus NOOP keep-alives — and the consumer answers events flagged
//! [`EventFlags::ACK`] with *responses* ([`write_ack`]).
//!
//! Every event's extras start with 8 bytes: engine-private length (u16),
//! TAP flags (u16), TTL (u8), 3 reserved bytes; `TAP_MUTATION` adds item flags
//! and expiry (extras 16). The engine-private bytes sit between the extras
//! and the key, counted in the body length but not in the extras length.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::ProtocolError;
pub use super::error::TapError;
use super::frame::{Check, check_packet};
use super::header::{be32, be64, encode_raw};
use super::response::{Reply, Response};
use super::{HEADER_LEN, Header, Limits, Magic, Opcode, Status};

/// `TAP_CONNECT` flags (the u32 in its extras).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TapFlags(pub u32);

impl TapFlags {
    /// 0x01: backfill from a time (argument: u64); `u64::MAX` = live only.
    pub const BACKFILL: TapFlags = TapFlags(0x01);
    /// 0x02: send what is stored, then close.
    pub const DUMP: TapFlags = TapFlags(0x02);
    /// 0x04: only these vbuckets (argument: u16 count, count × u16).
    pub const LIST_VBUCKETS: TapFlags = TapFlags(0x04);
    /// 0x08: hand the listed vbuckets over at the end.
    pub const TAKEOVER_VBUCKETS: TapFlags = TapFlags(0x08);
    /// 0x10: the consumer acks events flagged ACK.
    pub const SUPPORT_ACK: TapFlags = TapFlags(0x10);
    /// 0x20: the consumer prefers keys only.
    pub const KEYS_ONLY: TapFlags = TapFlags(0x20);
    /// 0x40: checkpoint resume (argument: u16 count, count × (u16, u64)).
    pub const CHECKPOINT: TapFlags = TapFlags(0x40);
    /// 0x80: a named cursor the server keeps.
    pub const REGISTERED_CLIENT: TapFlags = TapFlags(0x80);
    /// 0x100: item flags in network byte order.
    pub const FIX_FLAG_BYTEORDER: TapFlags = TapFlags(0x100);
    /// mammoth extension: backfill the changes after a sequence number
    /// (argument: u64 seqno; `0` = everything). Takes precedence over
    /// BACKFILL's time.
    pub const SINCE_SEQNO: TapFlags = TapFlags(0x1_0000);
    /// mammoth extension: only keys starting with a prefix (argument: u16
    /// length, then the prefix bytes).
    pub const KEY_PREFIX: TapFlags = TapFlags(0x2_0000);
    /// mammoth extension: mutation and delete events carry the change's
    /// sequence number as 8 engine-private bytes (big-endian).
    pub const SEQNO_META: TapFlags = TapFlags(0x4_0000);
    /// mammoth extension: only items a filter expression selects
    /// (argument: u16 length, then the expression as UTF-8 text). The
    /// producer confirms it with [`opaque::FILTER_ACCEPTED`] before any
    /// other event, or refuses the connect.
    pub const FILTER: TapFlags = TapFlags(0x8_0000);
    /// Every flag this codec knows (standard and mammoth's).
    pub const KNOWN: TapFlags = TapFlags(0xf_01ff);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: TapFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for TapFlags {
    type Output = TapFlags;
    fn bitor(self, rhs: TapFlags) -> TapFlags {
        TapFlags(self.0 | rhs.0)
    }
}

/// A decoded `TAP_CONNECT`. `flags` is authoritative: `backfill`,
/// `vbuckets` and `checkpoints` are present on the wire exactly when
/// BACKFILL, `LIST_VBUCKETS` and CHECKPOINT are set (`None`/empty otherwise).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TapConnect {
    /// The consumer's name (the key); may be empty.
    pub name: Bytes,
    /// Flags.
    pub flags: TapFlags,
    /// BACKFILL's time; `Some(u64::MAX)` means live only.
    pub backfill: Option<u64>,
    /// `LIST_VBUCKETS`'s list (empty = all).
    pub vbuckets: Vec<u16>,
    /// CHECKPOINT's (vbucket, last checkpoint id) pairs.
    pub checkpoints: Vec<(u16, u64)>,
    /// `SINCE_SEQNO`'s sequence number (mammoth extension).
    pub since_seqno: Option<u64>,
    /// `KEY_PREFIX`'s prefix (mammoth extension).
    pub key_prefix: Option<Bytes>,
    /// `FILTER`'s expression text (mammoth extension).
    pub filter: Option<Bytes>,
}

struct Args<'a> {
    value: &'a [u8],
    at: usize,
}

impl<'a> Args<'a> {
    fn take(&mut self, flag: &'static str, n: usize) -> Result<&'a [u8], TapError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.value.len());
        let Some(end) = end else {
            return Err(TapError::MissingArgument { flag, offset: self.at, need: n });
        };
        let s = &self.value[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u16(&mut self, flag: &'static str) -> Result<u16, TapError> {
        let b = self.take(flag, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}

impl TapConnect {
    /// A `TAP_CONNECT` for `name` with no flags: everything stored, then live.
    pub fn new(name: impl Into<Bytes>) -> TapConnect {
        TapConnect { name: name.into(), ..TapConnect::default() }
    }

    /// Sets BACKFILL from `since` (`u64::MAX`: live only).
    #[must_use]
    pub fn backfill(mut self, since: u64) -> TapConnect {
        self.flags = self.flags | TapFlags::BACKFILL;
        self.backfill = Some(since);
        self
    }

    /// Sets `LIST_VBUCKETS`.
    #[must_use]
    pub fn vbuckets(mut self, list: Vec<u16>) -> TapConnect {
        self.flags = self.flags | TapFlags::LIST_VBUCKETS;
        self.vbuckets = list;
        self
    }

    /// Sets `SINCE_SEQNO` (mammoth extension): changes after `seqno`.
    #[must_use]
    pub fn since_seqno(mut self, seqno: u64) -> TapConnect {
        self.flags = self.flags | TapFlags::SINCE_SEQNO;
        self.since_seqno = Some(seqno);
        self
    }

    /// Sets `KEY_PREFIX` (mammoth extension): only keys starting with
    /// `prefix`.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<Bytes>) -> TapConnect {
        self.flags = self.flags | TapFlags::KEY_PREFIX;
        self.key_prefix = Some(prefix.into());
        self
    }

    /// Sets `FILTER` (mammoth extension): only items the expression
    /// selects.
    #[must_use]
    pub fn filter(mut self, expression: impl Into<Bytes>) -> TapConnect {
        self.flags = self.flags | TapFlags::FILTER;
        self.filter = Some(expression.into());
        self
    }

    /// Adds flags that take no argument (DUMP, `SUPPORT_ACK`, `KEYS_ONLY`, …).
    #[must_use]
    pub fn with(mut self, flags: TapFlags) -> TapConnect {
        self.flags = self.flags | flags;
        self
    }

    /// Decodes a `TAP_CONNECT`'s key, extras and value. Extras of 0 bytes mean
    /// no flags; 4 bytes are the flags. Any other length full of zeros is
    /// old gotap's mistake (`make([]byte, flags)`) and is read as flags equal
    /// to the length. Lists are allocated only after their count is checked
    /// against the bytes present.
    ///
    /// # Errors
    /// Bad extras, arguments cut short, or bytes after them.
    pub fn parse(name: Bytes, extras: &[u8], value: &[u8]) -> Result<TapConnect, TapError> {
        let flags = match extras.len() {
            0 => TapFlags(0),
            4 => TapFlags(u32::from_be_bytes([extras[0], extras[1], extras[2], extras[3]])),
            n if extras.iter().all(|&b| b == 0) => TapFlags(n as u32),
            n => return Err(TapError::Extras { len: n as u8 }),
        };
        let mut args = Args { value, at: 0 };
        let backfill = if flags.contains(TapFlags::BACKFILL) {
            Some(be64(args.take("BACKFILL", 8)?))
        } else {
            None
        };
        let mut vbuckets = Vec::new();
        if flags.contains(TapFlags::LIST_VBUCKETS) {
            let n = usize::from(args.u16("LIST_VBUCKETS")?);
            let list = args.take("LIST_VBUCKETS", 2 * n)?;
            vbuckets = list.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        }
        let mut checkpoints = Vec::new();
        if flags.contains(TapFlags::CHECKPOINT) {
            let n = usize::from(args.u16("CHECKPOINT")?);
            let list = args.take("CHECKPOINT", 10 * n)?;
            checkpoints = list
                .chunks_exact(10)
                .map(|c| (u16::from_be_bytes([c[0], c[1]]), be64(&c[2..])))
                .collect();
        }
        let since_seqno = if flags.contains(TapFlags::SINCE_SEQNO) {
            Some(be64(args.take("SINCE_SEQNO", 8)?))
        } else {
            None
        };
        let key_prefix = if flags.contains(TapFlags::KEY_PREFIX) {
            let n = usize::from(args.u16("KEY_PREFIX")?);
            Some(Bytes::copy_from_slice(args.take("KEY_PREFIX", n)?))
        } else {
            None
        };
        let filter = if flags.contains(TapFlags::FILTER) {
            let n = usize::from(args.u16("FILTER")?);
            Some(Bytes::copy_from_slice(args.take("FILTER", n)?))
        } else {
            None
        };
        if args.at != value.len() {
            return Err(TapError::TrailingBytes { count: value.len() - args.at });
        }
        Ok(TapConnect {
            name,
            flags,
            backfill,
            vbuckets,
            checkpoints,
            since_seqno,
            key_prefix,
            filter,
        })
    }

    /// Appends the `TAP_CONNECT` request: 4 bytes of flags as extras, the
    /// name as key, the arguments in increasing bit order as value.
    ///
    /// # Panics
    /// If a list has more than 65,535 entries or the name is over 64 KiB.
    pub fn encode(&self, opaque: u32, vbucket: u16, out: &mut BytesMut) {
        encode_raw(
            out,
            Opcode::TAP_CONNECT,
            opaque,
            0,
            vbucket,
            &self.flags.0.to_be_bytes(),
            &self.name,
            &self.arguments(),
        );
    }

    /// The value: the arguments of `BACKFILL`, `LIST_VBUCKETS`, `CHECKPOINT`,
    /// `SINCE_SEQNO`, `KEY_PREFIX` and `FILTER`, in that (increasing bit)
    /// order, each present when its flag is set.
    ///
    /// # Panics
    /// If a list has more than 65,535 entries or the prefix or filter is
    /// over 64 KiB.
    pub fn arguments(&self) -> Vec<u8> {
        let mut value = Vec::new();
        if self.flags.contains(TapFlags::BACKFILL) {
            value.extend_from_slice(&self.backfill.unwrap_or(0).to_be_bytes());
        }
        if self.flags.contains(TapFlags::LIST_VBUCKETS) {
            let n = u16::try_from(self.vbuckets.len()).expect("at most 65535 vbuckets");
            value.extend_from_slice(&n.to_be_bytes());
            for v in &self.vbuckets {
                value.extend_from_slice(&v.to_be_bytes());
            }
        }
        if self.flags.contains(TapFlags::CHECKPOINT) {
            let n = u16::try_from(self.checkpoints.len()).expect("at most 65535 checkpoints");
            value.extend_from_slice(&n.to_be_bytes());
            for (vb, id) in &self.checkpoints {
                value.extend_from_slice(&vb.to_be_bytes());
                value.extend_from_slice(&id.to_be_bytes());
            }
        }
        if self.flags.contains(TapFlags::SINCE_SEQNO) {
            value.extend_from_slice(&self.since_seqno.unwrap_or(0).to_be_bytes());
        }
        if self.flags.contains(TapFlags::KEY_PREFIX) {
            let prefix = self.key_prefix.as_deref().unwrap_or_default();
            let n = u16::try_from(prefix.len()).expect("prefix fits in 65535 bytes");
            value.extend_from_slice(&n.to_be_bytes());
            value.extend_from_slice(prefix);
        }
        if self.flags.contains(TapFlags::FILTER) {
            let filter = self.filter.as_deref().unwrap_or_default();
            let n = u16::try_from(filter.len()).expect("filter fits in 65535 bytes");
            value.extend_from_slice(&n.to_be_bytes());
            value.extend_from_slice(filter);
        }
        value
    }
}

/// Flags in a TAP event's extras.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EventFlags(pub u16);

impl EventFlags {
    /// 0x01: the consumer must ack this event.
    pub const ACK: EventFlags = EventFlags(0x01);
    /// 0x02: the value was left out (`KEYS_ONLY`).
    pub const NO_VALUE: EventFlags = EventFlags(0x02);
    /// 0x04: item flags are big-endian (ours always are).
    pub const NETWORK_BYTE_ORDER: EventFlags = EventFlags(0x04);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: EventFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for EventFlags {
    type Output = EventFlags;
    fn bitor(self, rhs: EventFlags) -> EventFlags {
        EventFlags(self.0 | rhs.0)
    }
}

/// `TAP_OPAQUE` control codes (carried in the engine-private bytes).
pub mod opaque {
    /// Sent first to a `SUPPORT_ACK` consumer.
    pub const ENABLE_AUTO_NACK: u32 = 0;
    /// Backfill starts.
    pub const INITIAL_VBUCKET_STREAM: u32 = 1;
    /// Checkpoint sync on.
    pub const ENABLE_CHECKPOINT_SYNC: u32 = 2;
    /// A checkpoint opens.
    pub const OPEN_CHECKPOINT: u32 = 3;
    /// Vbucket filter change complete (older docs: `START_ONLINEUPDATE`).
    pub const COMPLETE_VB_FILTER_CHANGE: u32 = 4;
    /// `STOP_ONLINEUPDATE`.
    pub const STOP_ONLINEUPDATE: u32 = 5;
    /// `REVERT_ONLINEUPDATE`.
    pub const REVERT_ONLINEUPDATE: u32 = 6;
    /// The producer is done; the stream ends.
    pub const CLOSE_TAP_STREAM: u32 = 7;
    /// Backfill finished; the live part follows.
    pub const CLOSE_BACKFILL: u32 = 8;
    /// mammoth extension: the producer accepted the consumer's `FILTER`
    /// (sent first, before any other event; the value holds the filter's
    /// canonical text).
    pub const FILTER_ACCEPTED: u32 = 0x100;
}

/// What an event says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `TAP_MUTATION`: an item's new state.
    Mutation {
        /// Item flags, read big-endian (as gomemcached does; ours always
        /// set [`EventFlags::NETWORK_BYTE_ORDER`]).
        item_flags: u32,
        /// Item expiration.
        expiry: u32,
        /// The value (empty with [`EventFlags::NO_VALUE`]).
        value: Bytes,
    },
    /// `TAP_DELETE`.
    Delete,
    /// `TAP_FLUSH`.
    Flush,
    /// `TAP_OPAQUE` with its control code (see [`opaque`]).
    Opaque {
        /// Control code, the first 4 engine-private bytes.
        code: u32,
    },
    /// `TAP_VBUCKET_SET`.
    VbucketSet {
        /// 1 active, 2 replica, 3 pending, 4 dead.
        state: u32,
    },
    /// `TAP_CHECKPOINT_START`.
    CheckpointStart {
        /// Checkpoint id.
        id: u64,
    },
    /// `TAP_CHECKPOINT_END`.
    CheckpointEnd {
        /// Checkpoint id.
        id: u64,
    },
}

/// One TAP event (a request packet from producer to consumer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Per-stream sequence number; an ack echoes it.
    pub opaque: u32,
    /// Vbucket id (header bytes 6–7).
    pub vbucket: u16,
    /// Item CAS (mutations and deletes).
    pub cas: u64,
    /// TAP flags.
    pub flags: EventFlags,
    /// Hop count; producers send 255.
    pub ttl: u8,
    /// Engine-private bytes (for `TAP_OPAQUE`, those after the 4-byte code).
    pub engine_private: Bytes,
    /// Key (mutations and deletes; usually empty otherwise).
    pub key: Bytes,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// A mutation as our producer sends it: TTL 255, network byte order,
    /// no engine-private bytes, vbucket 0.
    pub fn mutation(
        seq: u32,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        item_flags: u32,
        expiry: u32,
        cas: u64,
    ) -> Event {
        Event {
            opaque: seq,
            vbucket: 0,
            cas,
            flags: EventFlags::NETWORK_BYTE_ORDER,
            ttl: 255,
            engine_private: Bytes::new(),
            key: key.into(),
            kind: EventKind::Mutation { item_flags, expiry, value: value.into() },
        }
    }

    /// A control event (delete, flush, opaque, …) with TTL 255, vbucket 0.
    pub fn control(seq: u32, key: impl Into<Bytes>, kind: EventKind, cas: u64) -> Event {
        Event {
            opaque: seq,
            vbucket: 0,
            cas,
            flags: EventFlags::default(),
            ttl: 255,
            engine_private: Bytes::new(),
            key: key.into(),
            kind,
        }
    }

    /// The event's opcode.
    pub fn opcode(&self) -> Opcode {
        match self.kind {
            EventKind::Mutation { .. } => Opcode::TAP_MUTATION,
            EventKind::Delete => Opcode::TAP_DELETE,
            EventKind::Flush => Opcode::TAP_FLUSH,
            EventKind::Opaque { .. } => Opcode::TAP_OPAQUE,
            EventKind::VbucketSet { .. } => Opcode::TAP_VBUCKET_SET,
            EventKind::CheckpointStart { .. } => Opcode::TAP_CHECKPOINT_START,
            EventKind::CheckpointEnd { .. } => Opcode::TAP_CHECKPOINT_END,
        }
    }

    /// Appends the event packet.
    ///
    /// # Panics
    /// If the key, engine-private bytes or body overflow their fields.
    pub fn encode(&self, out: &mut BytesMut) {
        let mut extras = [0u8; 16];
        let ep_code;
        let mut small = [0u8; 8];
        let (elen, code, value): (usize, &[u8], &[u8]) = match &self.kind {
            EventKind::Mutation { item_flags, expiry, value } => {
                extras[8..12].copy_from_slice(&item_flags.to_be_bytes());
                extras[12..16].copy_from_slice(&expiry.to_be_bytes());
                (16, &[], value)
            }
            EventKind::Delete | EventKind::Flush => (8, &[], &[]),
            EventKind::Opaque { code } => {
                ep_code = code.to_be_bytes();
                (8, &ep_code, &[])
            }
            EventKind::VbucketSet { state } => {
                small[..4].copy_from_slice(&state.to_be_bytes());
                (8, &[], &small[..4])
            }
            EventKind::CheckpointStart { id } | EventKind::CheckpointEnd { id } => {
                small = id.to_be_bytes();
                (8, &[], &small)
            }
        };
        let ep_len = u16::try_from(code.len() + self.engine_private.len())
            .expect("engine-private bytes fit in 65535");
        extras[0..2].copy_from_slice(&ep_len.to_be_bytes());
        extras[2..4].copy_from_slice(&self.flags.0.to_be_bytes());
        extras[4] = self.ttl;
        let body = elen + usize::from(ep_len) + self.key.len() + value.len();
        let mut h = Header::request(
            self.opcode(),
            elen as u8,
            u16::try_from(self.key.len()).expect("key fits in 65535 bytes"),
            u32::try_from(body).expect("body fits in 4 GiB"),
        );
        h.vbucket_or_status = self.vbucket;
        h.opaque = self.opaque;
        h.cas = self.cas;
        out.reserve(HEADER_LEN + body);
        h.put(out);
        out.put_slice(&extras[..elen]);
        out.put_slice(code);
        out.put_slice(&self.engine_private);
        out.put_slice(&self.key);
        out.put_slice(value);
    }

    /// Parses one whole event packet (a request with a TAP event opcode).
    /// Mutation extras shorter than 16, other events' shorter than 8, are
    /// refused; longer ones are accepted and the surplus ignored.
    ///
    /// # Errors
    /// See [`TapError`].
    pub fn parse(frame: Bytes, limits: &Limits) -> Result<Event, TapError> {
        let h = whole_packet(&frame, limits)?;
        if h.magic != Magic::Request {
            return Err(TapError::NotAnEvent { opcode: h.opcode });
        }
        let need = match h.opcode {
            Opcode::TAP_MUTATION => 16,
            Opcode::TAP_DELETE
            | Opcode::TAP_FLUSH
            | Opcode::TAP_OPAQUE
            | Opcode::TAP_VBUCKET_SET
            | Opcode::TAP_CHECKPOINT_START
            | Opcode::TAP_CHECKPOINT_END => 8,
            opcode => return Err(TapError::NotAnEvent { opcode }),
        };
        if h.extras_len < need {
            return Err(TapError::EventExtras { opcode: h.opcode, len: h.extras_len, need });
        }
        let mut rest = frame;
        rest.advance(HEADER_LEN);
        let extras = rest.split_to(usize::from(h.extras_len));
        let ep_len = u16::from_be_bytes([extras[0], extras[1]]);
        // Checked by the frame check: extras + key fit in the body.
        let available = h.value_len().unwrap_or(0);
        if u32::from(ep_len) > available {
            return Err(TapError::EnginePrivate { len: ep_len, available });
        }
        let mut engine_private = rest.split_to(usize::from(ep_len));
        let key = rest.split_to(usize::from(h.key_len));
        let value = rest;
        let exact = |len: usize| {
            if value.len() == len {
                Ok(())
            } else {
                Err(TapError::EventValue { opcode: h.opcode, len: value.len(), need: len })
            }
        };
        let kind = match h.opcode {
            Opcode::TAP_MUTATION => EventKind::Mutation {
                item_flags: be32(&extras[8..]),
                expiry: be32(&extras[12..]),
                value,
            },
            Opcode::TAP_DELETE => EventKind::Delete,
            Opcode::TAP_FLUSH => EventKind::Flush,
            Opcode::TAP_OPAQUE => {
                if engine_private.len() < 4 {
                    return Err(TapError::EventValue {
                        opcode: h.opcode,
                        len: engine_private.len(),
                        need: 4,
                    });
                }
                let code = be32(&engine_private);
                engine_private = engine_private.slice(4..);
                EventKind::Opaque { code }
            }
            Opcode::TAP_VBUCKET_SET => {
                exact(4)?;
                EventKind::VbucketSet { state: be32(&value) }
            }
            Opcode::TAP_CHECKPOINT_START => {
                exact(8)?;
                EventKind::CheckpointStart { id: be64(&value) }
            }
            _ => {
                exact(8)?;
                EventKind::CheckpointEnd { id: be64(&value) }
            }
        };
        Ok(Event {
            opaque: h.opaque,
            vbucket: h.vbucket(),
            cas: h.cas,
            flags: EventFlags(u16::from_be_bytes([extras[2], extras[3]])),
            ttl: extras[4],
            engine_private,
            key,
            kind,
        })
    }
}

fn whole_packet(frame: &[u8], limits: &Limits) -> Result<Header, TapError> {
    let frame_err = |e| TapError::Frame(Box::new(e));
    let expected = match check_packet(frame, limits).map_err(frame_err)? {
        Check::Complete(n) => n,
        Check::Incomplete { needed } => needed,
    };
    match Header::decode(frame) {
        Some(Ok(h)) if expected == frame.len() => Ok(h),
        _ => Err(frame_err(ProtocolError::new(
            Opcode(frame.get(1).copied().unwrap_or(0)),
            0,
            super::error::ErrorKind::FrameLength { given: frame.len(), expected },
        ))),
    }
}

/// What a TAP consumer reads from its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// An event; ack it when it has [`EventFlags::ACK`].
    Event(Event),
    /// A NOOP keep-alive (ignore it).
    Noop {
        /// Its opaque.
        opaque: u32,
    },
    /// A response: the producer refused the `TAP_CONNECT` (any response with
    /// opcode `TAP_CONNECT`), or something else the stream does not expect.
    Response(Response),
}

/// Parses one whole packet a TAP consumer received (check it with
/// [`check_packet`] first).
///
/// # Errors
/// See [`TapError`].
pub fn parse_incoming(frame: Bytes, limits: &Limits) -> Result<Incoming, TapError> {
    let h = whole_packet(&frame, limits)?;
    match (h.magic, h.opcode) {
        (Magic::Response, _) => Response::parse(frame, limits)
            .map(Incoming::Response)
            .map_err(|e| TapError::Frame(Box::new(e))),
        (Magic::Request, Opcode::NOOP) => Ok(Incoming::Noop { opaque: h.opaque }),
        (Magic::Request, _) => Event::parse(frame, limits).map(Incoming::Event),
    }
}

/// Appends a consumer's ack of `event`: a response with the same opcode and
/// opaque and an empty body. `Status::SUCCESS` acks; anything else is a NACK
/// (`ETMPFAIL`: resend from there).
pub fn write_ack(out: &mut BytesMut, event_opcode: Opcode, event_opaque: u32, status: Status) {
    Reply::new(event_opcode, event_opaque).head(out, status, 0, &[], &[], 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary::{Command, Request};

    #[test]
    fn connect_arguments_in_bit_order() {
        let t = TapConnect::new(&b"probe"[..])
            .backfill(u64::MAX)
            .vbuckets(vec![0, 7])
            .with(TapFlags::SUPPORT_ACK);
        let mut out = BytesMut::new();
        t.encode(0x7a7, 0, &mut out);
        // Written out by hand from spec §10.1: extras = flags 0x15; value =
        // u64 backfill, then u16 count 2, vbuckets 0 and 7.
        assert_eq!(
            hex::encode(&out),
            concat!(
                "80400005",
                "04000000",
                "00000017",
                "000007a7",
                "0000000000000000",
                "00000015",
                "70726f6265",
                "ffffffffffffffff",
                "0002",
                "0000",
                "0007"
            )
        );
        let r = Request::parse(out.freeze(), &Limits::default()).unwrap();
        assert_eq!(r.command, Command::TapConnect(t));
    }

    #[test]
    fn connect_leniency_and_errors() {
        let name = Bytes::from_static(b"");
        assert_eq!(TapConnect::parse(name.clone(), &[], &[]).unwrap().flags, TapFlags(0));
        // Old gotap: make([]byte, flags) with DUMP (2) → two zero bytes.
        assert_eq!(TapConnect::parse(name.clone(), &[0, 0], &[]).unwrap().flags, TapFlags::DUMP);
        assert_eq!(TapConnect::parse(name.clone(), &[0, 1], &[]), Err(TapError::Extras { len: 2 }));
        assert_eq!(
            TapConnect::parse(name.clone(), &[0, 0, 0, 1], &[0; 7]),
            Err(TapError::MissingArgument { flag: "BACKFILL", offset: 0, need: 8 })
        );
        assert_eq!(
            TapConnect::parse(name.clone(), &[0, 0, 0, 4], &[0xff, 0xff]),
            Err(TapError::MissingArgument { flag: "LIST_VBUCKETS", offset: 2, need: 131_070 })
        );
        assert_eq!(
            TapConnect::parse(name, &[0, 0, 0, 2], &[1]),
            Err(TapError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn mammoth_extension_arguments_follow_the_standard_ones() {
        let t = TapConnect::new(&b"m"[..])
            .backfill(5)
            .key_prefix(&b"user:"[..])
            .since_seqno(0x0102)
            .with(TapFlags::SEQNO_META);
        let args = t.arguments();
        // BACKFILL's u64, then SINCE_SEQNO's u64 (bit 16), then KEY_PREFIX
        // (bit 17): u16 length 5 and the bytes.
        assert_eq!(
            hex::encode(&args),
            concat!("0000000000000005", "0000000000000102", "0005", "757365723a")
        );
        assert_eq!(t.flags, TapFlags(0x7_0001));
        let parsed = TapConnect::parse(t.name.clone(), &t.flags.0.to_be_bytes(), &args).unwrap();
        assert_eq!(parsed, t);
        assert_eq!(
            TapConnect::parse(t.name.clone(), &0x2_0000u32.to_be_bytes(), &[0, 9, b'a']),
            Err(TapError::MissingArgument { flag: "KEY_PREFIX", offset: 2, need: 9 })
        );
        // FILTER (bit 19) comes after KEY_PREFIX: u16 length, then the text.
        let f = TapConnect::new(&b"f"[..]).key_prefix(&b"a"[..]).filter(&b"prefix:b"[..]);
        assert_eq!(hex::encode(f.arguments()), concat!("0001", "61", "0008", "7072656669783a62"));
        assert_eq!(f.flags, TapFlags(0xa_0000));
        let parsed = TapConnect::parse(f.name.clone(), &f.flags.0.to_be_bytes(), &f.arguments());
        assert_eq!(parsed.unwrap(), f);
        assert_eq!(
            TapConnect::parse(f.name.clone(), &0x8_0000u32.to_be_bytes(), &[0, 3, b'p']),
            Err(TapError::MissingArgument { flag: "FILTER", offset: 2, need: 3 })
        );
    }

    #[test]
    fn events_roundtrip_and_place_engine_private_before_the_key() {
        let m = Event::mutation(3, &b"k"[..], &b"v"[..], 0x0102_0304, 60, 99);
        let mut out = BytesMut::new();
        m.encode(&mut out);
        assert_eq!(
            hex::encode(&out),
            concat!(
                "80410001",
                "10000000",
                "00000012",
                "00000003",
                "0000000000000063",
                "0000",
                "0004",
                "ff000000",
                "01020304",
                "0000003c",
                "6b",
                "76"
            )
        );
        assert_eq!(Event::parse(out.freeze(), &Limits::default()).unwrap(), m);

        let o = Event::control(
            4,
            Bytes::new(),
            EventKind::Opaque { code: opaque::CLOSE_TAP_STREAM },
            0,
        );
        let mut out = BytesMut::new();
        o.encode(&mut out);
        // extlen 8, body 12: the 4 engine-private bytes are outside extlen.
        assert_eq!(&out[4..12], &[8, 0, 0, 0, 0, 0, 0, 12]);
        assert_eq!(&out[24..26], &[0, 4]);
        assert_eq!(&out[32..36], &[0, 0, 0, 7]);
        assert_eq!(parse_incoming(out.freeze(), &Limits::default()).unwrap(), Incoming::Event(o));

        // Checkpoint events: body 16 = 8 extras + 8 id (spec §10.2).
        let c = Event::control(5, Bytes::new(), EventKind::CheckpointStart { id: 42 }, 0);
        let mut out = BytesMut::new();
        c.encode(&mut out);
        assert_eq!(&out[8..12], &[0, 0, 0, 16]);
        assert_eq!(Event::parse(out.freeze(), &Limits::default()).unwrap(), c);
    }

    #[test]
    fn lying_engine_private_length_is_an_error() {
        let mut out = BytesMut::new();
        Event::control(1, &b"key"[..], EventKind::Delete, 0).encode(&mut out);
        out[24] = 0;
        out[25] = 4;
        assert_eq!(
            Event::parse(out.freeze(), &Limits::default()),
            Err(TapError::EnginePrivate { len: 4, available: 0 })
        );
    }

    #[test]
    fn acks_and_refusals() {
        let mut out = BytesMut::new();
        write_ack(&mut out, Opcode::TAP_MUTATION, 77, Status::SUCCESS);
        assert_eq!(hex::encode(&out), "8141000000000000000000000000004d0000000000000000");
        let r = parse_incoming(out.freeze(), &Limits::default()).unwrap();
        assert!(matches!(r, Incoming::Response(ref r) if r.opaque == 77));
        let mut out = BytesMut::new();
        Request::noop().with_opaque(5).encode(&mut out);
        assert_eq!(
            parse_incoming(out.freeze(), &Limits::default()).unwrap(),
            Incoming::Noop { opaque: 5 }
        );
    }
}
