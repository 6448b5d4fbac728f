//! [`Target`]: applies items to a memcached server with quiet pipelines
//! (SETQ / DELETEQ / FLUSHQ … NOOP, spec §9). Successes send nothing; the
//! NOOP's reply means every request before it was processed — on a mammoth
//! server, made durable. Only then may a mirror ack its source.

use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use memcache::binary::{Batch, Limits, Opcode, Response, Status};

use crate::conn::{Endpoint, PacketReader, Read1, Transport, sasl_plain, write_all};
use crate::error::{Error, Result};

/// What one committed pipeline did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// SETQs sent.
    pub sets: u64,
    /// DELETEQs sent.
    pub deletes: u64,
    /// DELETEQs of keys the target did not have (benign).
    pub deletes_missing: u64,
    /// FLUSHQs sent.
    pub flushes: u64,
    /// Requests the target refused for another reason (`E2BIG`, `ENOMEM`,
    /// …); the first few are kept, see [`Target::take_rejections`].
    pub rejected: u64,
}

impl std::ops::AddAssign for Committed {
    fn add_assign(&mut self, o: Committed) {
        self.sets += o.sets;
        self.deletes += o.deletes;
        self.deletes_missing += o.deletes_missing;
        self.flushes += o.flushes;
        self.rejected += o.rejected;
    }
}

/// A connection to the server that receives items.
#[derive(Debug)]
pub struct Target<T = TcpStream> {
    transport: T,
    reader: PacketReader,
    out: BytesMut,
    next_opaque: u32,
    first_opaque: u32,
    /// Keys of the open pipeline, by opaque − `first_opaque` (for errors).
    keys: Vec<Bytes>,
    pending: Committed,
    reply_timeout: Duration,
    rejections: Vec<Error>,
}

/// How many refused requests [`Target`] keeps for the caller to report.
const KEEP_REJECTIONS: usize = 16;

impl Target<TcpStream> {
    /// Connects and authenticates.
    ///
    /// # Errors
    /// Connecting or authentication.
    pub fn connect(endpoint: &Endpoint) -> Result<Target<TcpStream>> {
        let mut s = endpoint.connect()?;
        if let Some(creds) = &endpoint.auth {
            sasl_plain(&mut s, creds, endpoint.connect_timeout.max(Duration::from_secs(5)))?;
        }
        Ok(Target::new(s))
    }
}

impl<T: Transport> Target<T> {
    /// Wraps an open, authenticated transport.
    pub fn new(transport: T) -> Target<T> {
        Target {
            transport,
            reader: PacketReader::new(Limits::default()),
            out: BytesMut::with_capacity(1 << 16),
            next_opaque: 1,
            first_opaque: 1,
            keys: Vec::new(),
            pending: Committed::default(),
            reply_timeout: Duration::from_secs(120),
            rejections: Vec::new(),
        }
    }

    /// How long [`Target::commit`] waits for the NOOP's reply (default 120 s).
    pub fn set_reply_timeout(&mut self, t: Duration) {
        self.reply_timeout = t;
    }

    /// Requests queued since the last commit.
    pub fn queued(&self) -> usize {
        self.keys.len()
    }

    /// Bytes queued since the last commit.
    pub fn queued_bytes(&self) -> usize {
        self.out.len()
    }

    fn batch(&mut self) -> Batch<'_> {
        Batch::new(&mut self.out, self.next_opaque)
    }

    /// Queues a SETQ.
    pub fn set(&mut self, key: &Bytes, value: &[u8], flags: u32, expiry: u32) {
        let mut b = self.batch();
        b.setq(key, value, flags, expiry);
        self.next_opaque = b.next_opaque();
        self.keys.push(key.clone());
        self.pending.sets += 1;
    }

    /// Queues a DELETEQ.
    pub fn delete(&mut self, key: &Bytes) {
        let mut b = self.batch();
        b.deleteq(key);
        self.next_opaque = b.next_opaque();
        self.keys.push(key.clone());
        self.pending.deletes += 1;
    }

    /// Queues a FLUSHQ (no delay).
    pub fn flush(&mut self) {
        let mut b = self.batch();
        b.flush(true, None);
        self.next_opaque = b.next_opaque();
        self.keys.push(Bytes::new());
        self.pending.flushes += 1;
    }

    /// The first refused requests since the last call ([`Error::Rejected`]).
    pub fn take_rejections(&mut self) -> Vec<Error> {
        std::mem::take(&mut self.rejections)
    }

    /// Ends the pipeline with a NOOP, sends it, and waits for the NOOP's
    /// reply. DELETEQ misses and other refusals are counted in the result
    /// (the first few refusals are kept for [`Target::take_rejections`]).
    ///
    /// # Errors
    /// I/O, a garbled reply, a reply that matches no request, or no reply
    /// within the timeout.
    pub fn commit(&mut self) -> Result<Committed> {
        let end = {
            let mut b = self.batch();
            let end = b.noop();
            self.next_opaque = b.next_opaque();
            end
        };
        let bytes = self.out.split().freeze();
        write_all(&mut self.transport, &bytes)?;
        let mut done = std::mem::take(&mut self.pending);
        loop {
            let (packet, at) =
                match self.reader.read(&mut self.transport, Some(self.reply_timeout))? {
                    Read1::Packet(p, at) => (p, at),
                    Read1::Idle => return Err(Error::Idle { secs: self.reply_timeout.as_secs() }),
                    Read1::Eof => return Err(Error::Disconnected { offset: self.reader.offset() }),
                };
            let r =
                Response::parse(packet, &Limits::default()).map_err(|e| Error::protocol(at, &e))?;
            if r.opcode == Opcode::NOOP && r.opaque == end {
                break;
            }
            let key = r
                .opaque
                .checked_sub(self.first_opaque)
                .and_then(|i| self.keys.get(i as usize))
                .map(|k| String::from_utf8_lossy(k).into_owned());
            let Some(key) = key else {
                return Err(Error::Unexpected {
                    offset: at,
                    what: format!("{} reply with opaque {} matches no request", r.opcode, r.opaque),
                });
            };
            if r.opcode == Opcode::DELETEQ && r.status == Status::KEY_ENOENT {
                done.deletes_missing += 1;
            } else {
                done.rejected += 1;
                if self.rejections.len() < KEEP_REJECTIONS {
                    self.rejections.push(Error::Rejected {
                        opcode: r.opcode,
                        key,
                        status: r.status,
                    });
                }
            }
        }
        self.keys.clear();
        // Opaques restart per pipeline so the key table stays small.
        self.next_opaque = 1;
        self.first_opaque = 1;
        Ok(done)
    }
}
