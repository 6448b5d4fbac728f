//! Writing replies. Lines are appended to a `BytesMut`; a value is sent by
//! the caller right after its head line (appended, or as the next slice of
//! a vectored write), followed by [`DATA_END`].
//!
//! [`Reply`] serves the classic commands and applies `noreply`; every
//! writer returns whether it wrote anything. [`MetaReply`] serves the meta
//! commands: it echoes the flags the request asked for, in request order,
//! and applies `q`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{BufMut, BytesMut};

use super::meta::MetaFlags;

/// What follows a value's bytes: `\r\n`.
pub const DATA_END: &[u8] = b"\r\n";

/// The classic reply lines without arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// `STORED`.
    Stored,
    /// `NOT_STORED`.
    NotStored,
    /// `EXISTS`.
    Exists,
    /// `NOT_FOUND`.
    NotFound,
    /// `DELETED`.
    Deleted,
    /// `TOUCHED`.
    Touched,
    /// `OK`.
    Ok,
    /// `END`.
    End,
    /// `ERROR`.
    Error,
}

impl Line {
    /// The line's text.
    pub fn text(self) -> &'static str {
        match self {
            Line::Stored => "STORED",
            Line::NotStored => "NOT_STORED",
            Line::Exists => "EXISTS",
            Line::NotFound => "NOT_FOUND",
            Line::Deleted => "DELETED",
            Line::Touched => "TOUCHED",
            Line::Ok => "OK",
            Line::End => "END",
            Line::Error => "ERROR",
        }
    }
}

/// memcached's reply to `incr`/`decr` on a value that is not a number.
pub const NON_NUMERIC: &str = "CLIENT_ERROR cannot increment or decrement non-numeric value";

fn put_line(out: &mut BytesMut, parts: &[&[u8]]) {
    out.reserve(parts.iter().map(|p| p.len()).sum::<usize>() + 2);
    for p in parts {
        out.put_slice(p);
    }
    out.put_slice(b"\r\n");
}

fn put_u64(out: &mut BytesMut, v: u64) {
    out.put_slice(v.to_string().as_bytes());
}

/// Reply writer for a classic request; from [`TextRequest::reply`](super::TextRequest::reply).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// The request ended in `noreply`: nothing is written.
    pub noreply: bool,
}

impl Reply {
    /// A reply that is never suppressed.
    pub const fn new() -> Reply {
        Reply { noreply: false }
    }

    /// One of the fixed lines. Suppressed by `noreply`.
    pub fn line(self, out: &mut BytesMut, line: Line) -> bool {
        if self.noreply {
            return false;
        }
        put_line(out, &[line.text().as_bytes()]);
        true
    }

    /// An `incr`/`decr` result: the number alone. Suppressed by `noreply`.
    pub fn number(self, out: &mut BytesMut, value: u64) -> bool {
        if self.noreply {
            return false;
        }
        put_u64(out, value);
        out.put_slice(b"\r\n");
        true
    }

    /// `CLIENT_ERROR <message>`. Suppressed by `noreply` (as memcached).
    pub fn client_error(self, out: &mut BytesMut, message: &str) -> bool {
        self.error_line(out, b"CLIENT_ERROR ", message)
    }

    /// `SERVER_ERROR <message>`. Suppressed by `noreply` (as memcached).
    pub fn server_error(self, out: &mut BytesMut, message: &str) -> bool {
        self.error_line(out, b"SERVER_ERROR ", message)
    }

    fn error_line(self, out: &mut BytesMut, prefix: &[u8], message: &str) -> bool {
        if self.noreply {
            return false;
        }
        // One line, whatever the message holds (a Lua error is user text).
        if message.contains(['\r', '\n']) {
            let flat = message.replace(['\r', '\n'], " ");
            put_line(out, &[prefix, flat.as_bytes()]);
        } else {
            put_line(out, &[prefix, message.as_bytes()]);
        }
        true
    }

    /// The head of one `get`/`gets` hit: `VALUE <key> <flags> <bytes>[ <cas>]\r\n`.
    /// Send the `value_len` value bytes and [`DATA_END`] after it, and
    /// [`Line::End`] after the last key.
    pub fn value_head(
        out: &mut BytesMut,
        key: &[u8],
        flags: u32,
        value_len: usize,
        cas: Option<u64>,
    ) {
        out.reserve(key.len() + 48);
        out.put_slice(b"VALUE ");
        out.put_slice(key);
        out.put_slice(b" ");
        put_u64(out, u64::from(flags));
        out.put_slice(b" ");
        put_u64(out, value_len as u64);
        if let Some(cas) = cas {
            out.put_slice(b" ");
            put_u64(out, cas);
        }
        out.put_slice(b"\r\n");
    }

    /// A whole `VALUE` block with the value copied in.
    pub fn value(out: &mut BytesMut, key: &[u8], flags: u32, value: &[u8], cas: Option<u64>) {
        Reply::value_head(out, key, flags, value.len(), cas);
        out.put_slice(value);
        out.put_slice(DATA_END);
    }

    /// `END` (ends a retrieval or a stats listing; never suppressed).
    pub fn end(out: &mut BytesMut) {
        out.put_slice(b"END\r\n");
    }

    /// `STAT <name> <value>`.
    pub fn stat(out: &mut BytesMut, name: &[u8], value: &[u8]) {
        put_line(out, &[b"STAT ", name, b" ", value]);
    }

    /// `VERSION <version>`.
    pub fn version(out: &mut BytesMut, version: &str) {
        put_line(out, &[b"VERSION ", version.as_bytes()]);
    }
}

/// Status codes of meta replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaStatus {
    /// `HD`: success without a value.
    Hd,
    /// `NS`: not stored.
    Ns,
    /// `EX`: CAS mismatch.
    Ex,
    /// `NF`: not found.
    Nf,
    /// `EN`: miss (mg, me).
    En,
}

impl MetaStatus {
    fn code(self) -> &'static [u8] {
        match self {
            MetaStatus::Hd => b"HD",
            MetaStatus::Ns => b"NS",
            MetaStatus::Ex => b"EX",
            MetaStatus::Nf => b"NF",
            MetaStatus::En => b"EN",
        }
    }
}

/// What the store knows of an item, for the flags a meta reply returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetaItem {
    /// CAS (`c`).
    pub cas: u64,
    /// Client flags (`f`).
    pub flags: u32,
    /// Remaining TTL in seconds, -1 for none (`t`).
    pub ttl: i64,
    /// Value size (`s`).
    pub size: usize,
    /// Fetched before this request (`h`).
    pub hit_before: bool,
    /// Seconds since last access (`l`).
    pub last_access: u64,
    /// This client won the recache (`W`).
    pub won: bool,
    /// The item is stale (`X`).
    pub stale: bool,
    /// Another client already got the win (`Z`).
    pub win_sent: bool,
}

/// Reply writer for a meta request.
#[derive(Clone, Copy, Debug)]
pub struct MetaReply<'a> {
    flags: &'a MetaFlags,
    key: &'a [u8],
}

impl<'a> MetaReply<'a> {
    /// A reply to a request with these flags and (decoded) key.
    pub fn new(flags: &'a MetaFlags, key: &'a [u8]) -> MetaReply<'a> {
        MetaReply { flags, key }
    }

    fn key_flag(&self, out: &mut BytesMut) {
        out.put_slice(b" k");
        if self.flags.base64 {
            out.put_slice(STANDARD.encode(self.key).as_bytes());
            out.put_slice(b" b");
        } else {
            out.put_slice(self.key);
        }
    }

    /// Appends the returned flags; `item` fills the item-derived ones.
    fn put_flags(&self, out: &mut BytesMut, item: Option<&MetaItem>, value: Option<u64>) {
        for &letter in self.flags.order() {
            match (letter, item) {
                (b'O', _) => {
                    if let Some(o) = &self.flags.opaque {
                        out.put_slice(b" ");
                        out.put_slice(o);
                    }
                }
                (b'k', _) => self.key_flag(out),
                (b'c', Some(i)) => {
                    out.put_slice(b" c");
                    put_u64(out, i.cas);
                }
                (b'f', Some(i)) if value.is_none() => {
                    out.put_slice(b" f");
                    put_u64(out, u64::from(i.flags));
                }
                (b's', Some(i)) if value.is_none() => {
                    out.put_slice(b" s");
                    put_u64(out, i.size as u64);
                }
                (b't', Some(i)) => {
                    out.put_slice(b" t");
                    out.put_slice(i.ttl.to_string().as_bytes());
                }
                (b'l', Some(i)) if value.is_none() => {
                    out.put_slice(b" l");
                    put_u64(out, i.last_access);
                }
                (b'h', Some(i)) if value.is_none() => {
                    out.put_slice(if i.hit_before { b" h1" } else { b" h0" });
                }
                _ => {}
            }
        }
        if let Some(i) = item {
            if i.win_sent {
                out.put_slice(b" Z");
            }
            if i.stale {
                out.put_slice(b" X");
            }
            if i.won {
                out.put_slice(b" W");
            }
        }
    }

    /// An `mg` hit: `VA <size> <flags>*\r\n` when `with_value` (send the
    /// `item.size` value bytes and [`DATA_END`] next), else `HD <flags>*\r\n`.
    /// Never suppressed.
    pub fn hit(&self, out: &mut BytesMut, item: &MetaItem, with_value: bool) {
        out.reserve(64 + self.key.len() * 2);
        if with_value {
            out.put_slice(b"VA ");
            put_u64(out, item.size as u64);
        } else {
            out.put_slice(b"HD");
        }
        self.put_flags(out, Some(item), None);
        out.put_slice(b"\r\n");
    }

    /// An `mg` miss: `EN` with the opaque and key echoed (memcached 1.6.18).
    /// Suppressed by `q`.
    pub fn miss(&self, out: &mut BytesMut) -> bool {
        if self.flags.quiet {
            return false;
        }
        out.put_slice(b"EN");
        self.put_flags(out, None, None);
        out.put_slice(b"\r\n");
        true
    }

    /// An `ms`/`md`/`ma` status line with the requested flags (`item` for
    /// `c`/`t` on success). `HD` is suppressed by `q`; other codes never are.
    pub fn status(&self, out: &mut BytesMut, status: MetaStatus, item: Option<&MetaItem>) -> bool {
        if self.flags.quiet && status == MetaStatus::Hd {
            return false;
        }
        out.put_slice(status.code());
        self.put_flags(out, item, None);
        out.put_slice(b"\r\n");
        true
    }

    /// An `ma` success with `v`: `VA <len> <flags>*\r\n<number>\r\n`.
    /// Suppressed by `q` (memcached skips the whole success reply).
    pub fn number(&self, out: &mut BytesMut, value: u64, item: Option<&MetaItem>) -> bool {
        if self.flags.quiet {
            return false;
        }
        let digits = value.to_string();
        out.put_slice(b"VA ");
        put_u64(out, digits.len() as u64);
        self.put_flags(out, item, Some(value));
        out.put_slice(b"\r\n");
        out.put_slice(digits.as_bytes());
        out.put_slice(DATA_END);
        true
    }

    /// `MN` (the reply to `mn`).
    pub fn noop(out: &mut BytesMut) {
        out.put_slice(b"MN\r\n");
    }
}
