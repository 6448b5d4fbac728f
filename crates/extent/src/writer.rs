//! [`ExtentWriter`]: an `io::Write` sink that freezes what it is given into
//! extents of a chosen size.

use std::io;

use bytes::BytesMut;

use crate::ExtentBuf;

/// Default extent size of [`ExtentWriter::new`]: 64 KiB.
pub const DEFAULT_EXTENT_SIZE: usize = 64 * 1024;

/// Collects written bytes into blocks of `extent_size` bytes and appends
/// each full block to an [`ExtentBuf`] as one extent (one copy: from the
/// caller's slices into the block). [`finish`](Self::finish) appends the
/// last, partial block and returns the buffer.
///
/// ```
/// use std::io::Write;
/// let mut w = extent::ExtentWriter::with_extent_size(4);
/// w.write_all(b"hello, world").unwrap();
/// let buf = w.finish();
/// assert_eq!(buf, b"hello, world"[..]);
/// assert_eq!(buf.extent_count(), 3);
/// ```
pub struct ExtentWriter {
    done: ExtentBuf,
    cur: BytesMut,
    extent_size: usize,
}

impl Default for ExtentWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ExtentWriter {
    /// A writer producing 64 KiB extents.
    pub fn new() -> Self {
        Self::with_extent_size(DEFAULT_EXTENT_SIZE)
    }

    /// A writer producing extents of `extent_size` bytes (at least 1).
    pub fn with_extent_size(extent_size: usize) -> Self {
        ExtentWriter {
            done: ExtentBuf::new(),
            cur: BytesMut::new(),
            extent_size: extent_size.max(1),
        }
    }

    /// A writer that appends to `buf`.
    pub fn append_to(buf: ExtentBuf, extent_size: usize) -> Self {
        ExtentWriter { done: buf, ..Self::with_extent_size(extent_size) }
    }

    /// Bytes written so far (including the existing buffer of
    /// [`append_to`](Self::append_to)).
    pub fn len(&self) -> u64 {
        self.done.len() + self.cur.len() as u64
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the partial block and returns the buffer.
    pub fn finish(mut self) -> ExtentBuf {
        if !self.cur.is_empty() {
            self.done.append(self.cur.split().freeze());
        }
        self.done
    }
}

impl io::Write for ExtentWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            if self.cur.capacity() == 0 {
                self.cur = BytesMut::with_capacity(self.extent_size);
            }
            let k = (self.extent_size - self.cur.len()).min(rest.len());
            self.cur.extend_from_slice(&rest[..k]);
            rest = &rest[k..];
            if self.cur.len() == self.extent_size {
                let full = std::mem::take(&mut self.cur).freeze();
                self.done.append(full);
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
