//! Client-side helpers: quiet pipelines written straight into a `BytesMut`
//! from borrowed keys and values (no per-request allocation), and reading
//! their replies back.
//!
//! The multi-set pattern (spec §9): N × SETQ then one NOOP. Successes send
//! nothing; each failure comes back with the quiet opcode and the opaque of
//! the request that failed; the NOOP's reply means everything before it was
//! processed (and, on a mammoth server, made durable).

use bytes::BytesMut;

use super::decoder::ResponseDecoder;
use super::error::ProtocolError;
use super::header::encode_raw;
use super::{Opcode, Response};
use crate::ops::{Arith, StoreMode};

/// Writes a pipeline of requests into a buffer, numbering their opaques
/// from a starting value so replies can be matched to requests.
///
/// ```
/// use bytes::BytesMut;
/// use memcache::binary::{Batch, Limits, Request, RequestDecoder};
///
/// let mut out = BytesMut::new();
/// let mut batch = Batch::new(&mut out, 100);
/// batch.setq(b"a", b"1", 0, 0);
/// batch.setq(b"b", b"2", 0, 0);
/// let end = batch.noop();
/// assert_eq!(end, 102);
/// let mut decoder = RequestDecoder::new(Limits::default());
/// let first = decoder.decode(&mut out).unwrap().unwrap();
/// assert_eq!(first.opaque, 100);
/// ```
#[derive(Debug)]
pub struct Batch<'a> {
    out: &'a mut BytesMut,
    next: u32,
}

impl<'a> Batch<'a> {
    /// A batch appending to `out`, its first request getting `first_opaque`.
    pub fn new(out: &'a mut BytesMut, first_opaque: u32) -> Batch<'a> {
        Batch { out, next: first_opaque }
    }

    /// The opaque the next request will get.
    pub fn next_opaque(&self) -> u32 {
        self.next
    }

    fn push(&mut self, opcode: Opcode, cas: u64, extras: &[u8], key: &[u8], value: &[u8]) -> u32 {
        let opaque = self.next;
        encode_raw(self.out, opcode, opaque, cas, 0, extras, key, value);
        self.next = self.next.wrapping_add(1);
        opaque
    }

    /// SETQ; returns its opaque.
    pub fn setq(&mut self, key: &[u8], value: &[u8], flags: u32, expiry: u32) -> u32 {
        self.store(StoreMode::Set, true, 0, key, value, flags, expiry)
    }

    /// SET/ADD/REPLACE/APPEND/PREPEND, quiet or not, with a CAS (0 = none);
    /// APPEND and PREPEND send no flags or expiry.
    #[allow(clippy::too_many_arguments)]
    pub fn store(
        &mut self,
        mode: StoreMode,
        quiet: bool,
        cas: u64,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expiry: u32,
    ) -> u32 {
        let op = match mode {
            StoreMode::Set => Opcode::SET,
            StoreMode::Add => Opcode::ADD,
            StoreMode::Replace => Opcode::REPLACE,
            StoreMode::Append => Opcode::APPEND,
            StoreMode::Prepend => Opcode::PREPEND,
        };
        if mode.is_concat() {
            return self.push(quietly(op, quiet), cas, &[], key, value);
        }
        let mut extras = [0u8; 8];
        extras[..4].copy_from_slice(&flags.to_be_bytes());
        extras[4..].copy_from_slice(&expiry.to_be_bytes());
        self.push(quietly(op, quiet), cas, &extras, key, value)
    }

    /// DELETEQ.
    pub fn deleteq(&mut self, key: &[u8]) -> u32 {
        self.push(Opcode::DELETEQ, 0, &[], key, &[])
    }

    /// DELETE, quiet or not, with a CAS (0 = none).
    pub fn delete(&mut self, quiet: bool, cas: u64, key: &[u8]) -> u32 {
        self.push(quietly(Opcode::DELETE, quiet), cas, &[], key, &[])
    }

    /// INCREMENT/DECREMENT, quiet or not.
    #[allow(clippy::too_many_arguments)]
    pub fn counter(
        &mut self,
        mode: Arith,
        quiet: bool,
        cas: u64,
        key: &[u8],
        delta: u64,
        initial: u64,
        expiry: u32,
    ) -> u32 {
        let op = match mode {
            Arith::Incr => Opcode::INCREMENT,
            Arith::Decr => Opcode::DECREMENT,
        };
        let mut extras = [0u8; 20];
        extras[..8].copy_from_slice(&delta.to_be_bytes());
        extras[8..16].copy_from_slice(&initial.to_be_bytes());
        extras[16..].copy_from_slice(&expiry.to_be_bytes());
        self.push(quietly(op, quiet), cas, &extras, key, &[])
    }

    /// GETKQ (a multi-get member: hits come back with their key).
    pub fn getkq(&mut self, key: &[u8]) -> u32 {
        self.push(Opcode::GETKQ, 0, &[], key, &[])
    }

    /// Any of GET, GETQ, GETK, GETKQ.
    pub fn get(&mut self, opcode: Opcode, key: &[u8]) -> u32 {
        self.push(opcode, 0, &[], key, &[])
    }

    /// Any of GAT, GATQ, GATK, GATKQ, or TOUCH.
    pub fn touch(&mut self, opcode: Opcode, key: &[u8], expiry: u32) -> u32 {
        self.push(opcode, 0, &expiry.to_be_bytes(), key, &[])
    }

    /// FLUSH or FLUSHQ with an optional delay.
    pub fn flush(&mut self, quiet: bool, delay: Option<u32>) -> u32 {
        let op = quietly(Opcode::FLUSH, quiet);
        match delay {
            Some(d) => self.push(op, 0, &d.to_be_bytes(), &[], &[]),
            None => self.push(op, 0, &[], &[], &[]),
        }
    }

    /// A request with no body: NOOP, VERSION, QUIT, QUITQ, SASL LIST MECHS.
    pub fn bare(&mut self, opcode: Opcode) -> u32 {
        self.push(opcode, 0, &[], &[], &[])
    }

    /// STAT with a group name (empty: general stats).
    pub fn stat(&mut self, group: &[u8]) -> u32 {
        self.push(Opcode::STAT, 0, &[], group, &[])
    }

    /// VERBOSITY.
    pub fn verbosity(&mut self, level: u32) -> u32 {
        self.push(Opcode::VERBOSITY, 0, &level.to_be_bytes(), &[], &[])
    }

    /// SASL AUTH or SASL STEP.
    pub fn sasl(&mut self, opcode: Opcode, mechanism: &[u8], data: &[u8]) -> u32 {
        self.push(opcode, 0, &[], mechanism, data)
    }

    /// NOOP, the batch terminator; returns its opaque.
    pub fn noop(&mut self) -> u32 {
        self.bare(Opcode::NOOP)
    }
}

fn quietly(op: Opcode, quiet: bool) -> Opcode {
    if quiet { op.quiet().unwrap_or(op) } else { op }
}

/// Reads the replies of a batch ended by a NOOP with opaque `end`: every
/// complete response in `buf` before that NOOP's goes to `each` (for a SETQ
/// batch, only failures arrive; for GETKQ, only hits). Returns `true` once
/// the NOOP's reply was consumed, `false` when more input is needed.
///
/// # Errors
/// An unframeable response stream (close the connection).
pub fn read_batch_replies(
    decoder: &mut ResponseDecoder,
    buf: &mut BytesMut,
    end: u32,
    mut each: impl FnMut(Response),
) -> Result<bool, ProtocolError> {
    while let Some(r) = decoder.decode(buf)? {
        if r.opcode == Opcode::NOOP && r.opaque == end {
            return Ok(true);
        }
        each(r);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary::{Command, Limits, Reply, Request, RequestDecoder, Status};

    #[test]
    fn setq_batch_roundtrip_with_one_failure() {
        let mut wire = BytesMut::new();
        let mut b = Batch::new(&mut wire, 0);
        for i in 0..5u32 {
            b.setq(format!("key{i}").as_bytes(), b"value", i, 0);
        }
        let end = b.noop();
        // A pretend server: SETQ 3 fails with ENOMEM, everything else succeeds.
        let mut dec = RequestDecoder::new(Limits::default());
        let mut replies = BytesMut::new();
        while let Some(req) = dec.decode(&mut wire).unwrap() {
            let status = if req.opaque == 3 { Status::ENOMEM } else { Status::SUCCESS };
            match req.command {
                Command::Store { flags, .. } => {
                    assert_eq!(flags, req.opaque);
                    if status.is_success() {
                        assert!(!req.reply().ok(&mut replies, 1));
                    } else {
                        assert!(req.reply().error(&mut replies, status));
                    }
                }
                Command::Noop => assert!(req.reply().ok(&mut replies, 0)),
                other => panic!("{other:?}"),
            }
        }
        // Read back in two pieces.
        let mut rd = ResponseDecoder::default();
        let mut part = replies.split_to(10);
        let mut failed = Vec::new();
        assert!(!read_batch_replies(&mut rd, &mut part, end, |r| failed.push(r)).unwrap());
        part.unsplit(replies);
        assert!(read_batch_replies(&mut rd, &mut part, end, |r| failed.push(r)).unwrap());
        assert_eq!(failed.len(), 1);
        assert_eq!(
            (failed[0].opcode, failed[0].opaque, failed[0].status),
            (Opcode::SETQ, 3, Status::ENOMEM)
        );
        let _ = Reply::new(Opcode::NOOP, 0);
    }

    #[test]
    fn batch_builders_match_typed_requests() {
        let mut a = BytesMut::new();
        let mut b = Batch::new(&mut a, 7);
        b.counter(Arith::Decr, true, 5, b"c", 1, 2, 3);
        b.flush(false, Some(10));
        b.touch(Opcode::GATKQ, b"t", 9);
        let mut want = BytesMut::new();
        Request::new(
            Opcode::DECREMENTQ,
            Command::Counter {
                mode: Arith::Decr,
                key: "c".into(),
                delta: 1,
                initial: 2,
                expiry: 3,
            },
        )
        .with_opaque(7)
        .with_cas(5)
        .encode(&mut want);
        Request::new(Opcode::FLUSH, Command::Flush { delay: Some(10) })
            .with_opaque(8)
            .encode(&mut want);
        Request::new(Opcode::GATKQ, Command::GetAndTouch { key: "t".into(), expiry: 9 })
            .with_opaque(9)
            .encode(&mut want);
        assert_eq!(a, want);
    }
}
