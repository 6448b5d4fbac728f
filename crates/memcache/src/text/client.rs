//! A small client side, for tests and benchmarks: request encoders and a
//! reader of reply lines (with their data blocks).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::request::{parse_u32, parse_u64, split_spaces};
use crate::ops::StoreMode;

/// Appends `set <key> <flags> <exptime> <len>[ noreply]\r\n<value>\r\n`.
pub fn encode_set(
    out: &mut BytesMut,
    key: &[u8],
    value: &[u8],
    flags: u32,
    exptime: i32,
    noreply: bool,
) {
    encode_store(out, StoreMode::Set, key, value, flags, exptime, None, noreply);
}

/// Appends any storage command; `cas` makes it a `cas` command.
#[allow(clippy::too_many_arguments)]
pub fn encode_store(
    out: &mut BytesMut,
    mode: StoreMode,
    key: &[u8],
    value: &[u8],
    flags: u32,
    exptime: i32,
    cas: Option<u64>,
    noreply: bool,
) {
    let cmd = if cas.is_some() { "cas" } else { mode.command() };
    let mut head = format!("{cmd} ");
    out.reserve(head.len() + key.len() + value.len() + 48);
    out.put_slice(head.as_bytes());
    out.put_slice(key);
    head = format!(" {flags} {exptime} {}", value.len());
    if let Some(c) = cas {
        head.push(' ');
        head.push_str(&c.to_string());
    }
    if noreply {
        head.push_str(" noreply");
    }
    out.put_slice(head.as_bytes());
    out.put_slice(b"\r\n");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

/// Appends `get <key> <key>…\r\n`.
pub fn encode_get<K: AsRef<[u8]>>(out: &mut BytesMut, keys: &[K]) {
    encode_retrieval(out, b"get", keys);
}

/// Appends `gets <key> <key>…\r\n`.
pub fn encode_gets<K: AsRef<[u8]>>(out: &mut BytesMut, keys: &[K]) {
    encode_retrieval(out, b"gets", keys);
}

fn encode_retrieval<K: AsRef<[u8]>>(out: &mut BytesMut, cmd: &[u8], keys: &[K]) {
    out.put_slice(cmd);
    for k in keys {
        out.put_slice(b" ");
        out.put_slice(k.as_ref());
    }
    out.put_slice(b"\r\n");
}

/// One reply line as a client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseLine {
    /// `VALUE <key> <flags> <bytes> [<cas>]` (its data is in [`Response::data`]).
    Value {
        /// Key.
        key: Bytes,
        /// Client flags.
        flags: u32,
        /// CAS, for `gets`.
        cas: Option<u64>,
    },
    /// `VA <size> <flags>*` (meta; data in [`Response::data`]).
    Va {
        /// The returned flags.
        flags: Vec<Bytes>,
    },
    /// A two-letter meta code (`HD`, `EN`, `NF`, `NS`, `EX`, `MN`) and its flags.
    Meta {
        /// The code.
        code: [u8; 2],
        /// The returned flags.
        flags: Vec<Bytes>,
    },
    /// A number (incr/decr).
    Number(u64),
    /// `STAT <name> <value>`.
    Stat {
        /// Name.
        name: Bytes,
        /// Value (the rest of the line).
        value: Bytes,
    },
    /// Any other line (`STORED`, `END`, `ERROR`, `CLIENT_ERROR …`, `VERSION …`).
    Other(Bytes),
}

/// A reply line and, for `VALUE`/`VA`, its data block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The line.
    pub line: ResponseLine,
    /// The data block without `\r\n`.
    pub data: Option<Bytes>,
}

impl Response {
    /// The next reply in `buf` (advanced past it), or `None` until a whole
    /// line and data block have arrived. A `VALUE`/`VA` line whose length
    /// does not parse, or data not followed by `\r\n`, comes back as
    /// [`ResponseLine::Other`] with the line only.
    pub fn decode(buf: &mut BytesMut) -> Option<Response> {
        let nl = buf.iter().position(|&b| b == b'\n')?;
        let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
        let toks: Vec<&[u8]> = split_spaces(line).map(|(s, e)| &line[s..e]).collect();
        let data_len = match toks.first() {
            Some(&b"VALUE") if toks.len() >= 4 => toks.get(3).and_then(|t| parse_u64(t)),
            Some(&b"VA") if toks.len() >= 2 => parse_u64(toks[1]),
            _ => None,
        };
        let data_len = data_len.and_then(|n| usize::try_from(n).ok());
        if let Some(n) = data_len {
            let block = buf.get(nl + 1..)?;
            if block.len() < n.checked_add(2)? {
                return None;
            }
            if &block[n..n + 2] == b"\r\n" {
                let mut frame = buf.split_to(nl + 1 + n + 2).freeze();
                let line_bytes = frame.split_to(nl + 1);
                let data = frame.slice(..n);
                return Some(Response { line: parse_line(&line_bytes), data: Some(data) });
            }
        }
        let frame = buf.split_to(nl + 1).freeze();
        let mut line = parse_line(&frame);
        if data_len.is_some()
            || matches!(line, ResponseLine::Va { .. } | ResponseLine::Value { .. })
        {
            line = ResponseLine::Other(trim(&frame));
        }
        Some(Response { line, data: None })
    }
}

fn trim(frame: &Bytes) -> Bytes {
    let mut b = frame.clone();
    b.truncate(b.len() - 1);
    if b.ends_with(b"\r") {
        b.truncate(b.len() - 1);
    }
    b
}

fn parse_line(frame: &Bytes) -> ResponseLine {
    let line = trim(frame);
    let toks: Vec<Bytes> = split_spaces(&line).map(|(s, e)| line.slice(s..e)).collect();
    let first = toks.first().map_or(&[][..], |t| &t[..]);
    match first {
        b"VALUE" if toks.len() == 4 || toks.len() == 5 => {
            let flags = parse_u32(&toks[2]);
            let cas = toks.get(4).map(|c| parse_u64(c));
            match (flags, cas) {
                (Some(flags), None) => {
                    ResponseLine::Value { key: toks[1].clone(), flags, cas: None }
                }
                (Some(flags), Some(Some(c))) => {
                    ResponseLine::Value { key: toks[1].clone(), flags, cas: Some(c) }
                }
                _ => ResponseLine::Other(line),
            }
        }
        b"VA" => ResponseLine::Va { flags: toks.iter().skip(2).cloned().collect() },
        b"HD" | b"EN" | b"NF" | b"NS" | b"EX" | b"MN" => {
            ResponseLine::Meta { code: [first[0], first[1]], flags: toks[1..].to_vec() }
        }
        b"STAT" if toks.len() >= 2 => {
            let mut value = line.clone();
            let skip = toks[1].as_ptr() as usize - line.as_ptr() as usize + toks[1].len();
            value.advance(skip.min(value.len()));
            if value.starts_with(b" ") {
                value.advance(1);
            }
            ResponseLine::Stat { name: toks[1].clone(), value }
        }
        _ => match parse_u64(first) {
            Some(n) if toks.len() == 1 => ResponseLine::Number(n),
            _ => ResponseLine::Other(line),
        },
    }
}
