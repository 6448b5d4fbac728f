//! A buffered reader that knows its absolute position and hands out the bytes
//! it buffered as shared [`Bytes`] slices instead of copying them.

use std::io::{self, Read, Seek, SeekFrom};

use bytes::{Bytes, BytesMut};

use crate::error::{Error, Result};

/// Bytes asked of the OS per read once reading is sequential.
const READ_CHUNK: usize = 256 * 1024;
/// First read after a seek: random lookups (MapFile `get`) need a few KiB,
/// not a quarter MiB. Each further read doubles up to `READ_CHUNK`.
const FIRST_CHUNK: usize = 16 * 1024;

pub(crate) struct Source<R> {
    inner: R,
    buf: BytesMut,
    /// Absolute offset of `buf[0]`.
    pos: u64,
    /// Total length of the input, when known (files); used to reject lengths
    /// larger than what remains before anything is allocated for them.
    len: Option<u64>,
    eof: bool,
    chunk: usize,
}

impl<R: Read> Source<R> {
    pub(crate) fn new(inner: R, start: u64, len: Option<u64>) -> Self {
        Source { inner, buf: BytesMut::new(), pos: start, len, eof: false, chunk: FIRST_CHUNK }
    }

    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    /// Bytes left in the input, if the length is known.
    pub(crate) fn remaining(&self) -> Option<u64> {
        self.len.map(|l| l.saturating_sub(self.pos))
    }

    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Reads until at least `n` bytes are buffered or the input ends; returns
    /// whether `n` bytes are available. Memory grows with the bytes actually
    /// read, never with `n` alone.
    pub(crate) fn fill(&mut self, n: usize) -> io::Result<bool> {
        while self.buf.len() < n && !self.eof {
            let want = (n - self.buf.len()).max(self.chunk);
            self.chunk = (self.chunk * 2).min(READ_CHUNK);
            self.buf.reserve(want);
            let start = self.buf.len();
            // Read into initialized spare room; `resize` zeroes only what we use.
            let end = start + want.min(self.buf.capacity() - start);
            self.buf.resize(end, 0);
            let got = loop {
                match self.inner.read(&mut self.buf[start..end]) {
                    Ok(g) => break g,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.buf.truncate(start);
                        return Err(e);
                    }
                }
            };
            self.buf.truncate(start + got);
            if got == 0 {
                self.eof = true;
            }
        }
        Ok(self.buf.len() >= n)
    }

    /// True when no byte is left.
    pub(crate) fn at_eof(&mut self) -> io::Result<bool> {
        Ok(!self.fill(1)?)
    }

    /// Ensures `n` bytes are buffered, or fails with `Truncated` naming `what`.
    pub(crate) fn need(&mut self, n: usize, what: &'static str) -> Result<()> {
        if let Some(rem) = self.remaining()
            && (n as u64) > rem
        {
            return Err(Error::truncated(what, n as u64, rem).at(self.pos));
        }
        if self.fill(n)? {
            Ok(())
        } else {
            Err(Error::truncated(what, n as u64, self.buf.len() as u64).at(self.pos))
        }
    }

    /// Takes `n` bytes as a shared slice of the read buffer.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<Bytes> {
        self.need(n, what)?;
        self.pos += n as u64;
        Ok(self.buf.split_to(n).freeze())
    }

    pub(crate) fn skip(&mut self, n: usize) {
        debug_assert!(n <= self.buf.len());
        bytes::Buf::advance(&mut self.buf, n);
        self.pos += n as u64;
    }

    pub(crate) fn read_i32(&mut self, what: &'static str) -> Result<i32> {
        self.need(4, what)?;
        let b = &self.buf[..4];
        let v = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        self.skip(4);
        Ok(v)
    }

    pub(crate) fn read_vlong(&mut self, what: &'static str) -> Result<i64> {
        self.need(1, what)?;
        let n = crate::vint::decoded_len(self.buf[0]);
        self.need(n, what)?;
        let at = self.pos;
        let (v, n) = crate::vint::read_vlong(&self.buf[..n]).map_err(|e| e.at(at))?;
        self.skip(n);
        Ok(v)
    }
}

impl<R: Read + Seek> Source<R> {
    pub(crate) fn seek(&mut self, pos: u64) -> Result<()> {
        let buffered_end = self.pos + self.buf.len() as u64;
        if pos >= self.pos && pos <= buffered_end {
            self.skip((pos - self.pos) as usize);
            return Ok(());
        }
        self.inner.seek(SeekFrom::Start(pos))?;
        self.buf.clear();
        self.pos = pos;
        self.eof = false;
        self.chunk = FIRST_CHUNK;
        Ok(())
    }
}
