//! [`Target`]: applies items to a memcached server with quiet pipelines
//! (SETQ / DELETEQ / FLUSHQ … NOOP, spec §9). Successes send nothing; the
//! NOOP's reply means every request before it was processed — on a mammoth
//! server, made durable. Only then may a mirror ack its source.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use memcache::binary::{Batch, Limits, Opcode, Response, Status};

use crate::conn::{Endpoint, PacketReader, Read1, Stream, Transport, write_all};
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
pub struct Target<T = Stream> {
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

impl Target<Stream> {
    /// Connects and authenticates.
    ///
    /// # Errors
    /// Connecting or authentication.
    pub fn connect(endpoint: &Endpoint) -> Result<Target<Stream>> {
        let s = endpoint.connect_authenticated()?;
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
        let done = std::mem::take(&mut self.pending);
        let first = self.first_opaque;
        let keys = std::mem::take(&mut self.keys);
        let result = self.await_noop(end, done, |opaque| {
            opaque.checked_sub(first).and_then(|i| keys.get(i as usize)).cloned()
        });
        self.keys = keys;
        if result.is_ok() {
            self.keys.clear();
            // Opaques restart per pipeline so the key table stays small.
            self.next_opaque = 1;
            self.first_opaque = 1;
        }
        result
    }

    /// Sends a pipeline encoded elsewhere and waits for it like
    /// [`Target::commit`]: `frames` holds `requests` quiet SETQs whose
    /// opaques run from 1 to `requests`; a NOOP with opaque `requests + 1`
    /// follows them. `key_of(i)` gives the key of request `i` (0-based) for
    /// a refusal. The caller keeps `frames`, so a pipeline that failed can
    /// be sent again on a new connection without encoding it again.
    ///
    /// Nothing may be queued with [`Target::set`] and the like before it
    /// (what is would be sent first, with clashing opaques).
    ///
    /// # Errors
    /// As [`Target::commit`]; also [`Error::Unexpected`] if requests were
    /// queued.
    pub fn commit_encoded(
        &mut self,
        frames: &[u8],
        requests: u32,
        key_of: impl Fn(u32) -> Option<Bytes>,
    ) -> Result<Committed> {
        self.send_encoded(frames, requests)?;
        self.await_encoded(requests, key_of)
    }

    /// The first half of [`Target::commit_encoded`]: sends the pipeline and
    /// its NOOP without waiting. Several may be sent before their replies
    /// are awaited, oldest first, with [`Target::await_encoded`] — the
    /// server answers in order, so replies before a pipeline's NOOP are
    /// that pipeline's.
    ///
    /// # Errors
    /// I/O; [`Error::Unexpected`] if requests were queued with `set` and
    /// the like.
    pub fn send_encoded(&mut self, frames: &[u8], requests: u32) -> Result<()> {
        if !self.keys.is_empty() || !self.out.is_empty() {
            return Err(Error::Unexpected {
                offset: self.reader.offset(),
                what: "an encoded pipeline with requests already queued".into(),
            });
        }
        let mut noop = BytesMut::with_capacity(24);
        Batch::new(&mut noop, requests.wrapping_add(1)).noop();
        write_all(&mut self.transport, frames)?;
        write_all(&mut self.transport, &noop)
    }

    /// The second half of [`Target::commit_encoded`]: waits for the oldest
    /// pipeline sent with [`Target::send_encoded`] and not yet awaited,
    /// which had `requests` requests.
    ///
    /// # Errors
    /// As [`Target::commit`].
    pub fn await_encoded(
        &mut self,
        requests: u32,
        key_of: impl Fn(u32) -> Option<Bytes>,
    ) -> Result<Committed> {
        let done = Committed { sets: u64::from(requests), ..Committed::default() };
        self.await_noop(requests.wrapping_add(1), done, |opaque| {
            opaque.checked_sub(1).filter(|i| *i < requests).and_then(&key_of)
        })
    }

    /// Reads replies until the NOOP with opaque `end`, counting refusals
    /// into `done`; `key_of(opaque)` names the request a reply is about.
    fn await_noop(
        &mut self,
        end: u32,
        mut done: Committed,
        key_of: impl Fn(u32) -> Option<Bytes>,
    ) -> Result<Committed> {
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
                return Ok(done);
            }
            let Some(key) = key_of(r.opaque).map(|k| String::from_utf8_lossy(&k).into_owned())
            else {
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
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Cursor, Read, Write};

    use memcache::binary::{HEADER_LEN, RequestDecoder, Response};

    use super::*;

    /// Replies from a script; what is written is kept.
    struct Script {
        replies: Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.replies.read(buf)
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for Script {
        fn set_read_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
            Ok(())
        }
    }

    fn reply(out: &mut BytesMut, opcode: Opcode, status: Status, opaque: u32) {
        Response {
            opcode,
            status,
            opaque,
            cas: 0,
            data_type: 0,
            extras: Bytes::new(),
            key: Bytes::new(),
            value: Bytes::new(),
        }
        .encode(out);
    }

    #[test]
    fn encoded_pipeline_and_its_refusals() {
        let keys = [Bytes::from("a"), Bytes::from("bb"), Bytes::from("ccc")];
        let mut frames = BytesMut::new();
        let mut b = Batch::new(&mut frames, 1);
        for k in &keys {
            b.setq(k, b"v", 0, 0);
        }
        let mut replies = BytesMut::new();
        reply(&mut replies, Opcode::SETQ, Status::E2BIG, 2);
        reply(&mut replies, Opcode::NOOP, Status::SUCCESS, 4);
        let script = Script { replies: Cursor::new(replies.to_vec()), written: Vec::new() };
        let mut t = Target::new(script);
        let done = t.commit_encoded(&frames, 3, |i| keys.get(i as usize).cloned()).unwrap();
        assert_eq!(done, Committed { sets: 3, rejected: 1, ..Committed::default() });
        let rejections = t.take_rejections();
        assert!(
            matches!(&rejections[..], [Error::Rejected { key, status: Status::E2BIG, .. }] if key == "bb"),
            "{rejections:?}"
        );
        // The frames as given, then a NOOP with the next opaque.
        let written = BytesMut::from(&t.transport.written[..]);
        assert_eq!(&written[..frames.len()], &frames[..]);
        let mut dec = RequestDecoder::new(Limits::default());
        let mut rest = written.clone();
        let mut seen = Vec::new();
        while let Some(r) = dec.decode(&mut rest).unwrap() {
            seen.push((r.opcode, r.opaque));
        }
        assert_eq!(seen.last(), Some(&(Opcode::NOOP, 4)));
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn two_encoded_pipelines_in_flight() {
        let mut frames = BytesMut::new();
        Batch::new(&mut frames, 1).setq(b"a", b"v", 0, 0);
        let mut replies = BytesMut::new();
        reply(&mut replies, Opcode::NOOP, Status::SUCCESS, 2);
        reply(&mut replies, Opcode::SETQ, Status::E2BIG, 1);
        reply(&mut replies, Opcode::NOOP, Status::SUCCESS, 2);
        let script = Script { replies: Cursor::new(replies.to_vec()), written: Vec::new() };
        let mut t = Target::new(script);
        t.send_encoded(&frames, 1).unwrap();
        t.send_encoded(&frames, 1).unwrap();
        let first = t.await_encoded(1, |_| Some(Bytes::from("first"))).unwrap();
        assert_eq!(first.rejected, 0);
        let second = t.await_encoded(1, |_| Some(Bytes::from("second"))).unwrap();
        assert_eq!(second.rejected, 1);
        assert!(
            matches!(&t.take_rejections()[..], [Error::Rejected { key, .. }] if key == "second")
        );
        assert_eq!(t.transport.written.len(), 2 * (frames.len() + HEADER_LEN));
    }

    #[test]
    fn encoded_pipeline_refuses_after_queued_requests() {
        let script = Script { replies: Cursor::new(Vec::new()), written: Vec::new() };
        let mut t = Target::new(script);
        t.set(&Bytes::from("k"), b"v", 0, 0);
        assert!(matches!(t.commit_encoded(&[], 0, |_| None), Err(Error::Unexpected { .. })));
        assert!(t.transport.written.is_empty());
    }

    #[test]
    fn reply_for_no_request_is_an_error() {
        let mut replies = BytesMut::new();
        reply(&mut replies, Opcode::SETQ, Status::E2BIG, 9);
        let script = Script { replies: Cursor::new(replies.to_vec()), written: Vec::new() };
        let mut t = Target::new(script);
        let e = t.commit_encoded(&[], 0, |_| None).unwrap_err();
        assert!(matches!(e, Error::Unexpected { .. }), "{e}");
    }
}
