//! A reader over an [`ExtentBuf`]: `bytes::Buf` and `std::io::{Read, BufRead, Seek}`.

use std::io::{self, BufRead, IoSlice, Read, Seek, SeekFrom};

use bytes::{Buf, Bytes};

use crate::ExtentBuf;

/// A reading position in an [`ExtentBuf`] it owns (cloning a buffer is
/// O(1), so [`ExtentBuf::cursor`] is cheap and the cursor is `'static`).
///
/// [`Buf::chunk`] is the rest of the current extent; [`Buf::chunks_vectored`]
/// fills [`IoSlice`]s with the following extents, so `tokio`'s `write_buf`
/// and other vectored writers send many extents per system call.
/// [`Buf::copy_to_bytes`] is zero copy when the bytes lie in one extent.
#[derive(Clone)]
pub struct Cursor {
    buf: ExtentBuf,
    pos: u64,
    /// The current extent from `pos` on (empty at or past the end).
    cur: Bytes,
}

impl Cursor {
    pub(crate) fn new(buf: ExtentBuf) -> Self {
        let cur = if buf.is_empty() { Bytes::new() } else { buf.extent_from(0) };
        Cursor { buf, pos: 0, cur }
    }

    /// The reading position (may be past the end after a seek).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Moves the reading position (past the end is allowed: reads then
    /// return nothing).
    pub fn set_position(&mut self, pos: u64) {
        self.pos = pos;
        self.refresh();
    }

    /// The buffer being read.
    pub fn get_ref(&self) -> &ExtentBuf {
        &self.buf
    }

    /// The buffer being read.
    pub fn into_inner(self) -> ExtentBuf {
        self.buf
    }

    fn refresh(&mut self) {
        self.cur =
            if self.pos < self.buf.len() { self.buf.extent_from(self.pos) } else { Bytes::new() };
    }
}

impl Buf for Cursor {
    fn remaining(&self) -> usize {
        usize::try_from(self.buf.len().saturating_sub(self.pos)).unwrap_or(usize::MAX)
    }

    fn chunk(&self) -> &[u8] {
        &self.cur
    }

    fn advance(&mut self, cnt: usize) {
        assert!(
            cnt <= self.remaining(),
            "advance by {cnt} past the end ({} remaining)",
            self.remaining()
        );
        self.pos += cnt as u64;
        if cnt < self.cur.len() {
            self.cur.advance(cnt);
        } else {
            self.refresh();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        if self.pos >= self.buf.len() {
            return 0;
        }
        self.buf.io_slices(self.pos.., dst)
    }

    /// Copies extent by extent with one descent of the tree (the default
    /// would locate every extent from the root).
    fn copy_to_slice(&mut self, dst: &mut [u8]) {
        assert!(
            dst.len() <= self.remaining(),
            "copy_to_slice of {} past the end ({} remaining)",
            dst.len(),
            self.remaining()
        );
        self.read_span(dst);
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        assert!(
            len <= self.remaining(),
            "copy_to_bytes of {len} past the end ({} remaining)",
            self.remaining()
        );
        if len <= self.cur.len() {
            let b = self.cur.split_to(len);
            self.pos += len as u64;
            if self.cur.is_empty() {
                self.refresh();
            }
            return b;
        }
        let b = self.buf.slice(self.pos..self.pos + len as u64).into_bytes();
        self.advance(len);
        b
    }
}

impl Cursor {
    /// Copies up to `out.len()` bytes from the position on and moves past
    /// them; returns how many. Reads within the current extent copy from
    /// it; longer ones walk the extents once ([`ExtentBuf::read_at`]).
    fn read_span(&mut self, out: &mut [u8]) -> usize {
        if out.len() <= self.cur.len() {
            out.copy_from_slice(&self.cur[..out.len()]);
            self.advance(out.len());
            return out.len();
        }
        if self.pos >= self.buf.len() {
            return 0;
        }
        let n = self.buf.read_at(self.pos, out);
        self.pos += n as u64;
        self.refresh();
        n
    }
}

impl Read for Cursor {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        Ok(self.read_span(out))
    }
}

impl BufRead for Cursor {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        Ok(&self.cur)
    }

    fn consume(&mut self, amt: usize) {
        self.advance(amt.min(self.remaining()));
    }
}

impl Seek for Cursor {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let (base, delta) = match pos {
            SeekFrom::Start(p) => {
                self.set_position(p);
                return Ok(p);
            }
            SeekFrom::End(d) => (self.buf.len(), d),
            SeekFrom::Current(d) => (self.pos, d),
        };
        match base.checked_add_signed(delta) {
            Some(p) => {
                self.set_position(p);
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("seek to {base} + {delta} is before the start or overflows"),
            )),
        }
    }
}
