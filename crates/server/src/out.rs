//! The output queue of a connection: small replies are packed into one
//! buffer, large values are queued as shared `Bytes` and go out with the
//! headers in one vectored write, never copied.
//!
//! The queue also knows which of its bytes acknowledge a mutation: a
//! [`Mark`] per command that changed something, with the command's highest
//! seqno and how that protocol reports a failure. A quiet success (SETQ,
//! `noreply`, meta `q`) queues no bytes but still gets its mark. Normally
//! the marks are only counted and dropped when the queue is sent; when the
//! mutations cannot be made durable (a full disk), [`Out::rewrite`] replaces
//! the acknowledgement of each one that is not durable by an error, so the
//! connection can answer and go on instead of closing.

use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};
use extent::ExtentBuf;
use memcache::binary::{Reply as BinaryReply, Status};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Values at least this long are queued by reference instead of copied.
const ZERO_COPY_MIN: usize = 4096;
/// Slices handed to one `writev`.
const MAX_SLICES: usize = 64;
/// Marks a connection keeps before it waits for their durability even
/// though it has nothing to send (a long run of quiet writes): bounds the
/// memory a connection holds for them (about 40 bytes each).
pub(crate) const MAX_MARKS: usize = 8192;
/// Mark capacity kept across flushes; a larger one is given back.
const KEEP_MARKS: usize = 256;

/// The text of the error that replaces the acknowledgement of a mutation
/// that was applied but cannot be made durable now: unlike a refused write
/// (`try again later`), it may still reach the disk when space returns.
pub(crate) const NOT_DURABLE: &str = "cannot write to disk now; this write may or may not persist";

/// How a command's failure is reported in its protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A binary response with the request's opcode (quiet twins included:
    /// a quiet command's failure is always answered) and opaque, status
    /// `ETMPFAIL` as for a write refused while the disk is full.
    Binary(BinaryReply),
    /// `SERVER_ERROR …`: classic text commands, and meta commands, whose
    /// `q` hides only the nominal replies.
    Text,
    /// Classic `noreply`: nothing may be sent, so nothing can be reported.
    Silent,
}

impl Failure {
    /// Appends the error that replaces an acknowledgement.
    fn write(self, out: &mut BytesMut) {
        match self {
            Failure::Binary(reply) => {
                reply.with_value(out, Status::ETMPFAIL, 0, NOT_DURABLE.as_bytes());
            }
            Failure::Text => {
                memcache::text::Reply::new().server_error(out, NOT_DURABLE);
            }
            Failure::Silent => {}
        }
    }
}

/// The bytes of the queue that acknowledge one command's mutations.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mark {
    /// Offsets of the command's reply in the queued output (equal for a
    /// quiet success).
    start: usize,
    end: usize,
    /// The highest seqno the command wrote.
    pub(crate) seqno: u64,
    /// Which store the seqno belongs to: the number of buckets the
    /// connection had left (with writes pending) before the command.
    pub(crate) bucket: usize,
    failure: Failure,
}

/// What [`Out::rewrite`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rewritten {
    /// Acknowledgements replaced by an error.
    pub(crate) errors: u64,
    /// Mutations not durable that could not be reported (`noreply`).
    pub(crate) unreported: u64,
}

#[derive(Default)]
pub(crate) struct Out {
    /// Finished pieces, in order.
    queue: Vec<Bytes>,
    /// The piece being filled.
    pub(crate) buf: BytesMut,
    queued_len: usize,
    /// The acknowledgements in the queue, in order, not overlapping.
    marks: Vec<Mark>,
}

impl Out {
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.buf.is_empty()
    }

    /// Bytes waiting to be written.
    pub(crate) fn len(&self) -> usize {
        self.queued_len + self.buf.len()
    }

    /// Appends a value after the header just written to `buf`: small values
    /// are copied, large ones queued as their shared extents.
    pub(crate) fn value(&mut self, value: &ExtentBuf) {
        if value.len() < ZERO_COPY_MIN as u64 {
            for chunk in value.chunks() {
                self.buf.extend_from_slice(chunk);
            }
        } else {
            self.seal();
            for extent in value.extents() {
                self.queued_len += extent.len();
                self.queue.push(extent);
            }
        }
    }

    /// Records that the bytes queued since offset `start` (see
    /// [`Out::len`]) acknowledge mutations up to `seqno` of store `bucket`,
    /// and how to report their failure instead.
    pub(crate) fn mark(&mut self, start: usize, seqno: u64, bucket: usize, failure: Failure) {
        let end = self.len();
        debug_assert!(start <= end && self.marks.last().is_none_or(|m| m.end <= start));
        self.marks.push(Mark { start: start.min(end), end, seqno, bucket, failure });
    }

    /// Whether so many acknowledgements are queued that they should be
    /// settled even though nothing else needs sending.
    pub(crate) fn marks_full(&self) -> bool {
        self.marks.len() >= MAX_MARKS
    }

    /// Replaces the acknowledgement of every marked command that is not
    /// `durable` by its protocol's error; every other byte stays as it is,
    /// in order (values still by reference). The marks are consumed.
    pub(crate) fn rewrite(&mut self, mut durable: impl FnMut(&Mark) -> bool) -> Rewritten {
        let mut done = Rewritten::default();
        let marks = std::mem::take(&mut self.marks);
        if marks.iter().all(&mut durable) {
            self.marks = marks;
            self.marks.clear();
            return done;
        }
        self.seal();
        let total = self.queued_len;
        let mut old =
            Cursor { pieces: std::mem::take(&mut self.queue).into_iter(), piece: Bytes::new() };
        self.queued_len = 0;
        let mut at = 0;
        for mark in &marks {
            if durable(mark) {
                continue;
            }
            old.take(mark.start.saturating_sub(at), |piece| self.push(piece));
            old.take(mark.end.saturating_sub(mark.start.max(at)), drop);
            at = at.max(mark.end);
            // Silent: whatever acknowledged it goes too (normally nothing).
            mark.failure.write(&mut self.buf);
            self.seal();
            if mark.failure == Failure::Silent {
                done.unreported += 1;
            } else {
                done.errors += 1;
            }
        }
        old.take(total.saturating_sub(at), |piece| self.push(piece));
        self.marks = marks;
        self.marks.clear();
        done
    }

    fn push(&mut self, piece: Bytes) {
        self.queued_len += piece.len();
        self.queue.push(piece);
    }

    fn seal(&mut self) {
        if !self.buf.is_empty() {
            let piece = self.buf.split().freeze();
            self.queued_len += piece.len();
            self.queue.push(piece);
        }
    }

    /// Writes everything queued, and flushes `w` (a no-op for a socket; TLS
    /// sends the records it still holds).
    pub(crate) async fn flush<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.marks.clear();
        if self.marks.capacity() > KEEP_MARKS {
            self.marks.shrink_to(KEEP_MARKS);
        }
        if self.queue.is_empty() {
            if !self.buf.is_empty() {
                w.write_all(&self.buf).await?;
                self.buf.clear();
            }
            return w.flush().await;
        }
        self.seal();
        let mut first = 0;
        while first < self.queue.len() {
            let end = (first + MAX_SLICES).min(self.queue.len());
            let slices: Vec<IoSlice<'_>> =
                self.queue[first..end].iter().map(|b| IoSlice::new(b)).collect();
            let mut written = w.write_vectored(&slices).await?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            while written > 0 {
                let piece = &mut self.queue[first];
                let n = written.min(piece.len());
                piece.advance(n);
                written -= n;
                if piece.is_empty() {
                    first += 1;
                }
            }
        }
        self.queue.clear();
        self.queued_len = 0;
        // Reuse the buffer's allocation when nothing else holds it.
        self.buf.reserve(4096);
        w.flush().await
    }
}

/// Reads queued pieces front to back, by length.
struct Cursor {
    pieces: std::vec::IntoIter<Bytes>,
    /// The rest of the piece being read.
    piece: Bytes,
}

impl Cursor {
    /// Hands the next `n` bytes to `f`, as shares of the pieces (fewer if
    /// the pieces end first).
    fn take(&mut self, mut n: usize, mut f: impl FnMut(Bytes)) {
        while n > 0 {
            if self.piece.is_empty() {
                match self.pieces.next() {
                    Some(piece) => self.piece = piece,
                    None => return,
                }
                continue;
            }
            let k = n.min(self.piece.len());
            f(self.piece.split_to(k));
            n -= k;
        }
    }
}

#[cfg(test)]
mod tests {
    use memcache::binary::{HEADER_LEN, Limits, Opcode, Response};
    use proptest::prelude::*;

    use super::*;

    /// One command's output, as the model sees it.
    #[derive(Clone, Debug)]
    enum Event {
        /// A reply that acknowledges nothing (a read, a NOOP).
        Read(Vec<u8>),
        /// A reply followed by a value long enough to be queued by
        /// reference.
        ReadLarge(Vec<u8>, usize),
        /// A mutation's reply (empty: a quiet success), its seqno and how
        /// its failure is reported.
        Write { reply: Vec<u8>, large: Option<usize>, seqno: u64, failure: Failure },
    }

    fn large(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// Queues `events` the way a connection does.
    fn queue(events: &[Event]) -> Out {
        let mut out = Out::default();
        for event in events {
            let start = out.len();
            match event {
                Event::Read(reply) => out.buf.extend_from_slice(reply),
                Event::ReadLarge(reply, n) => {
                    out.buf.extend_from_slice(reply);
                    out.value(&ExtentBuf::from(large(*n)));
                }
                Event::Write { reply, large: value, seqno, failure } => {
                    out.buf.extend_from_slice(reply);
                    if let Some(n) = value {
                        out.value(&ExtentBuf::from(large(*n)));
                    }
                    out.mark(start, *seqno, 0, *failure);
                }
            }
        }
        out
    }

    /// What the client must receive when mutations above `persisted` are
    /// not durable: built from the events alone, not from offsets.
    fn model(events: &[Event], persisted: u64) -> (Vec<u8>, Rewritten) {
        let mut bytes = Vec::new();
        let mut done = Rewritten::default();
        for event in events {
            match event {
                Event::Read(reply) => bytes.extend_from_slice(reply),
                Event::ReadLarge(reply, n) => {
                    bytes.extend_from_slice(reply);
                    bytes.extend_from_slice(&large(*n));
                }
                Event::Write { failure: Failure::Silent, seqno, .. } if *seqno > persisted => {
                    done.unreported += 1;
                }
                Event::Write { seqno, failure, .. } if *seqno > persisted => {
                    let mut error = BytesMut::new();
                    failure.write(&mut error);
                    bytes.extend_from_slice(&error);
                    done.errors += 1;
                }
                Event::Write { reply, large: value, .. } => {
                    bytes.extend_from_slice(reply);
                    if let Some(n) = value {
                        bytes.extend_from_slice(&large(*n));
                    }
                }
            }
        }
        (bytes, done)
    }

    /// Everything `out` sends.
    fn sent(out: &mut Out) -> Vec<u8> {
        let mut socket = Vec::new();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(out.flush(&mut socket)).unwrap();
        socket
    }

    fn binary(opcode: Opcode, opaque: u32) -> Failure {
        Failure::Binary(BinaryReply::new(opcode, opaque))
    }

    #[test]
    fn a_quiet_batch_gets_one_error_per_write_not_durable_then_the_noop() {
        // SETQ ×4 (seqnos 10..13, opaques 1..4), NOOP; durable up to 11.
        let mut events: Vec<Event> = (0..4u32)
            .map(|i| Event::Write {
                reply: Vec::new(),
                large: None,
                seqno: 10 + u64::from(i),
                failure: binary(Opcode::SETQ, 1 + i),
            })
            .collect();
        let mut noop = BytesMut::new();
        BinaryReply::new(Opcode::NOOP, 99).ok(&mut noop, 0);
        events.push(Event::Read(noop.to_vec()));
        let mut out = queue(&events);
        let done = out.rewrite(|m| m.seqno <= 11);
        assert_eq!(done, Rewritten { errors: 2, unreported: 0 });
        let mut got = Bytes::from(sent(&mut out));
        let mut responses = Vec::new();
        while !got.is_empty() {
            let body = u32::from_be_bytes(got[8..12].try_into().unwrap());
            let len = HEADER_LEN + usize::try_from(body).unwrap();
            responses.push(Response::parse(got.split_to(len), &Limits::default()).unwrap());
        }
        let seen: Vec<_> = responses.iter().map(|r| (r.opcode, r.opaque, r.status)).collect();
        assert_eq!(
            seen,
            [
                (Opcode::SETQ, 3, Status::ETMPFAIL),
                (Opcode::SETQ, 4, Status::ETMPFAIL),
                (Opcode::NOOP, 99, Status::SUCCESS)
            ]
        );
        assert_eq!(&responses[0].value[..], NOT_DURABLE.as_bytes());
        assert!(out.marks.is_empty());
    }

    #[test]
    fn text_errors_replace_replies_and_noreply_is_counted_not_sent() {
        let events = [
            Event::Write {
                reply: b"STORED\r\n".to_vec(),
                large: None,
                seqno: 5,
                failure: Failure::Text,
            },
            Event::Write { reply: Vec::new(), large: None, seqno: 6, failure: Failure::Silent },
            Event::ReadLarge(b"VALUE k 0 5000\r\n".to_vec(), 5000),
            Event::Read(b"\r\nEND\r\n".to_vec()),
            Event::Write {
                reply: b"STORED\r\n".to_vec(),
                large: None,
                seqno: 7,
                failure: Failure::Text,
            },
        ];
        let mut out = queue(&events);
        assert_eq!(out.rewrite(|m| m.seqno <= 5), Rewritten { errors: 1, unreported: 1 });
        let got = sent(&mut out);
        let mut want = b"STORED\r\nVALUE k 0 5000\r\n".to_vec();
        want.extend_from_slice(&large(5000));
        want.extend_from_slice(b"\r\nEND\r\nSERVER_ERROR cannot write to disk now; this write may or may not persist\r\n");
        assert_eq!(got, want);
    }

    #[test]
    fn all_durable_leaves_the_queue_as_it_was() {
        let events = [
            Event::Write {
                reply: b"HD\r\n".to_vec(),
                large: None,
                seqno: 3,
                failure: Failure::Text,
            },
            Event::ReadLarge(b"VA 5000\r\n".to_vec(), 5000),
        ];
        let mut out = queue(&events);
        assert_eq!(out.rewrite(|_| true), Rewritten::default());
        assert_eq!(sent(&mut out), model(&events, 3).0);
    }

    fn failure() -> impl Strategy<Value = Failure> {
        prop_oneof![
            (0u8..=0x40, any::<u32>()).prop_map(|(op, opaque)| binary(Opcode(op), opaque)),
            Just(Failure::Text),
            Just(Failure::Silent),
        ]
    }

    fn event() -> impl Strategy<Value = Event> {
        let reply = proptest::collection::vec(any::<u8>(), 0..40);
        let value = proptest::option::weighted(0.2, 4096usize..9000);
        prop_oneof![
            reply.clone().prop_map(Event::Read),
            (reply.clone(), 4096usize..9000).prop_map(|(r, n)| Event::ReadLarge(r, n)),
            (reply, value, 1u64..20, failure()).prop_map(|(reply, large, seqno, failure)| {
                Event::Write { reply, large, seqno, failure }
            }),
        ]
    }

    proptest! {
        #[test]
        fn rewrite_matches_the_model(
            events in proptest::collection::vec(event(), 0..40),
            persisted in 0u64..21,
        ) {
            let mut out = queue(&events);
            let done = out.rewrite(|m| m.seqno <= persisted);
            let (want, counted) = model(&events, persisted);
            prop_assert_eq!(done, counted);
            prop_assert_eq!(out.len(), want.len());
            prop_assert_eq!(sent(&mut out), want);
        }
    }
}
