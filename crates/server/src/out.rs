//! The output queue of a connection: small replies are packed into one
//! buffer, large values are queued as shared `Bytes` and go out with the
//! headers in one vectored write, never copied.

use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};
use extent::ExtentBuf;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Values at least this long are queued by reference instead of copied.
const ZERO_COPY_MIN: usize = 4096;
/// Slices handed to one `writev`.
const MAX_SLICES: usize = 64;

#[derive(Default)]
pub(crate) struct Out {
    /// Finished pieces, in order.
    queue: Vec<Bytes>,
    /// The piece being filled.
    pub(crate) buf: BytesMut,
    queued_len: usize,
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
