//! Phase two: one command line (and its data block) to a typed
//! [`TextRequest`]. Tokens are separated by single spaces, as memcached's
//! tokenizer does (tabs belong to tokens); the line ends in `\n`, with an
//! optional `\r` before it.

use crate::ops::{Arith, StoreMode};
use bytes::Bytes;

use super::TextLimits;
use super::error::{TextError, TextErrorKind};
use super::meta::{self, MetaArithmetic, MetaDelete, MetaGet, MetaSet};
use super::reply::Reply;

/// A decoded text-protocol request. Keys and values are slices of the read
/// buffer (a base64 meta key is decoded into its own buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextRequest {
    /// `get`, `gets`, `gat`, `gats`.
    Get(Get),
    /// `set`, `add`, `replace`, `append`, `prepend`, `cas`.
    Store(Store),
    /// `delete <key> [0] [noreply]`: `DELETED` or `NOT_FOUND`.
    Delete {
        /// Key.
        key: Bytes,
        /// Suppress the reply.
        noreply: bool,
    },
    /// `incr`/`decr <key> <delta> [noreply]`: the new value or `NOT_FOUND`.
    Arith {
        /// Increment or decrement.
        mode: Arith,
        /// Key.
        key: Bytes,
        /// Amount.
        delta: u64,
        /// Suppress the reply.
        noreply: bool,
    },
    /// `touch <key> <exptime> [noreply]`: `TOUCHED` or `NOT_FOUND`.
    Touch {
        /// Key.
        key: Bytes,
        /// New expiration (memcached's rules: ≤ 30 days relative, negative = expired).
        exptime: i32,
        /// Suppress the reply.
        noreply: bool,
    },
    /// `flush_all [delay] [noreply]`: `OK`.
    FlushAll {
        /// Seconds to wait (0: now).
        delay: i32,
        /// Suppress the reply.
        noreply: bool,
    },
    /// `stats [group [args]]`: `STAT name value` lines then `END`.
    Stats {
        /// The tokens after `stats` (empty for the general group).
        args: Vec<Bytes>,
    },
    /// `version`: `VERSION x`.
    Version,
    /// `verbosity <level> [noreply]`: `OK`.
    Verbosity {
        /// Level.
        level: u32,
        /// Suppress the reply.
        noreply: bool,
    },
    /// `cache_memlimit <megabytes> [noreply]`: change the memory limit;
    /// `OK`.
    CacheMemlimit {
        /// The new limit in MiB (at least 1).
        megabytes: u64,
        /// Suppress the reply.
        noreply: bool,
    },
    /// `quit`: close without a reply.
    Quit,
    /// `lua load|call|list|del …`: server-side functions.
    Lua(super::LuaRequest),
    /// `refresh_certs [noreply]`: read the TLS certificates again; `OK`.
    RefreshCerts {
        /// Suppress the reply.
        noreply: bool,
    },
    /// `mg`.
    MetaGet(MetaGet),
    /// `ms`.
    MetaSet(MetaSet),
    /// `md`.
    MetaDelete(MetaDelete),
    /// `ma`.
    MetaArithmetic(MetaArithmetic),
    /// `mn`: `MN`; ends a quiet pipeline (flush and commit here).
    MetaNoop,
    /// `me <key> [b]`: `ME key k=v…` or `EN`.
    MetaDebug {
        /// Key (decoded when `base64`).
        key: Bytes,
        /// The key was sent in base64.
        base64: bool,
    },
}

/// A retrieval: `get`/`gets` (no touch) or `gat`/`gats`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Get {
    /// Keys in order (may be empty only for `gat <exptime>`, answered `END`).
    pub keys: Vec<Bytes>,
    /// `gets`/`gats`: include the CAS in `VALUE` lines.
    pub cas: bool,
    /// `gat`/`gats`: the new expiration.
    pub touch: Option<i32>,
}

/// A storage command (classic or meta).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    /// How to store.
    pub mode: StoreMode,
    /// Key.
    pub key: Bytes,
    /// Client flags.
    pub flags: u32,
    /// Expiration.
    pub exptime: i32,
    /// The data block, without its `\r\n`.
    pub value: Bytes,
    /// Compare-and-swap: `cas` command, or `ms … C<cas>`. With `Set` or
    /// `Replace` it means memcached's CAS semantics (`EXISTS`/`NOT_FOUND`).
    pub cas: Option<u64>,
    /// Suppress the reply (classic `noreply`).
    pub noreply: bool,
}

impl TextRequest {
    /// The reply writer for this request: classic `noreply` suppresses
    /// every line (errors included), as in memcached. Meta commands use
    /// [`MetaReply`](super::MetaReply) instead (`q` is finer-grained).
    pub fn reply(&self) -> Reply {
        let noreply = match self {
            TextRequest::Store(s) => s.noreply,
            TextRequest::Delete { noreply, .. }
            | TextRequest::Arith { noreply, .. }
            | TextRequest::Touch { noreply, .. }
            | TextRequest::FlushAll { noreply, .. }
            | TextRequest::Verbosity { noreply, .. }
            | TextRequest::CacheMemlimit { noreply, .. }
            | TextRequest::RefreshCerts { noreply } => *noreply,
            _ => false,
        };
        Reply { noreply }
    }

    /// The key a single-key request names (the first key of a multi-get).
    pub fn key(&self) -> Option<&Bytes> {
        match self {
            TextRequest::Get(g) => g.keys.first(),
            TextRequest::Store(s) => Some(&s.key),
            TextRequest::Delete { key, .. }
            | TextRequest::Arith { key, .. }
            | TextRequest::Touch { key, .. }
            | TextRequest::MetaDebug { key, .. } => Some(key),
            TextRequest::MetaGet(m) => Some(&m.key),
            TextRequest::MetaSet(m) => Some(&m.store.key),
            TextRequest::MetaDelete(m) => Some(&m.key),
            TextRequest::MetaArithmetic(m) => Some(&m.key),
            _ => None,
        }
    }
}

/// memcached's tokenizer keeps at most 23 tokens (`MAX_TOKENS` 24 with the
/// terminal one); more count as 24 for the token-count checks.
pub(crate) const MAX_TOKENS: usize = 24;

/// The tokens of one line (without `\r\n`), as ranges.
pub(crate) struct Tokens<'a> {
    pub(crate) line: &'a [u8],
    pub(crate) ranges: [(usize, usize); MAX_TOKENS],
    /// Number of tokens, plus one for memcached's terminal token, capped at
    /// [`MAX_TOKENS`] (so the counts match memcached's `ntokens`).
    pub(crate) ntokens: usize,
}

impl<'a> Tokens<'a> {
    pub(crate) fn new(line: &'a [u8]) -> Tokens<'a> {
        let mut ranges = [(0, 0); MAX_TOKENS];
        let mut n = 0;
        for (start, end) in split_spaces(line) {
            if n == MAX_TOKENS - 1 {
                // More tokens than memcached keeps: counts as one more.
                n += 1;
                break;
            }
            ranges[n] = (start, end);
            n += 1;
        }
        Tokens { line, ranges, ntokens: n.min(MAX_TOKENS - 1) + 1 }
    }

    /// Token `i` (empty past the end).
    pub(crate) fn get(&self, i: usize) -> &'a [u8] {
        if i + 1 < self.ntokens {
            let (s, e) = self.ranges[i];
            &self.line[s..e]
        } else {
            &[]
        }
    }

    /// Number of real tokens (without the terminal one).
    pub(crate) fn len(&self) -> usize {
        self.ntokens - 1
    }

    /// Whether the last real token is `noreply` (memcached's `set_noreply_maybe`).
    pub(crate) fn noreply(&self) -> bool {
        self.len() > 0 && self.get(self.len() - 1) == b"noreply"
    }
}

/// Ranges of the space-separated tokens of `line`.
pub(crate) fn split_spaces(line: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < line.len() && line[pos] == b' ' {
            pos += 1;
        }
        if pos >= line.len() {
            return None;
        }
        let start = pos;
        pos += line[pos..].iter().position(|&b| b == b' ').unwrap_or(line.len() - pos);
        Some((start, pos))
    })
}

/// An unsigned decimal (`strtoul` accepts a leading `+`).
pub(crate) fn parse_u64(tok: &[u8]) -> Option<u64> {
    let digits = tok.strip_prefix(b"+").unwrap_or(tok);
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// An unsigned 32-bit decimal.
pub(crate) fn parse_u32(tok: &[u8]) -> Option<u32> {
    parse_u64(tok).and_then(|v| u32::try_from(v).ok())
}

/// A signed 32-bit decimal.
pub(crate) fn parse_i32(tok: &[u8]) -> Option<i32> {
    match tok.strip_prefix(b"-") {
        Some(rest) if !rest.starts_with(b"+") => {
            parse_u64(rest).and_then(|v| i64::try_from(v).ok()).and_then(|v| i32::try_from(-v).ok())
        }
        Some(_) => None,
        None => parse_u32(tok).and_then(|v| i32::try_from(v).ok()),
    }
}

/// Whether `key` is a valid classic key: 1 to `max` bytes. Like memcached
/// (and the binary protocol), any other byte is accepted: spaces and `\n`
/// cannot occur in a token, and real clients (memcaslap, for one) do send
/// control bytes in keys.
pub(crate) fn key_ok(key: &[u8], max: usize) -> bool {
    !key.is_empty() && key.len() <= max
}

fn err(kind: TextErrorKind) -> TextError {
    TextError::new(kind)
}

/// What parsing one line gave.
#[allow(clippy::large_enum_variant)] // transient, never stored
pub(crate) enum Parsed {
    /// A complete request; `data` bytes after the line belong to it.
    Request(TextRequest, usize),
    /// A storage command whose data block (`len` bytes plus `\r\n`) has not
    /// all arrived.
    NeedData(usize),
}

/// Makes a `Bytes` of a sub-slice of the line or data.
pub(crate) type Slicer<'s> = &'s dyn Fn(&[u8]) -> Bytes;

/// Parses `line` (without its `\n`; a trailing `\r` is stripped here) with
/// `data` the bytes that follow it in the buffer. Errors have
/// `consumed` set to the bytes after the line they own.
pub(crate) fn parse(
    line: &[u8],
    data: &[u8],
    limits: &TextLimits,
    slice: Slicer<'_>,
) -> Result<Parsed, TextError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let t = Tokens::new(line);
    let cmd = t.get(0);
    // memcached: fewer than 1 token, or a command under 2 bytes, is ERROR.
    if t.len() < 1 || cmd.len() < 2 {
        return Err(err(TextErrorKind::UnknownCommand));
    }
    let done = |r| Ok(Parsed::Request(r, 0));
    if cmd.len() == 2 && cmd[0] == b'm' {
        return match cmd[1] {
            b'g' => done(TextRequest::MetaGet(meta::parse_get(&t, limits, slice)?)),
            b'd' => done(TextRequest::MetaDelete(meta::parse_delete(&t, limits, slice)?)),
            b'a' => done(TextRequest::MetaArithmetic(meta::parse_arithmetic(&t, limits, slice)?)),
            b'n' => done(TextRequest::MetaNoop),
            b'e' => meta::parse_debug(&t, limits, slice).map(|r| Parsed::Request(r, 0)),
            b's' => meta::parse_set(&t, data, limits, slice),
            _ => Err(err(TextErrorKind::UnknownCommand)),
        };
    }
    parse_classic(line, &t, data, limits, slice)
}

fn parse_classic(
    line: &[u8],
    t: &Tokens<'_>,
    data: &[u8],
    limits: &TextLimits,
    slice: Slicer<'_>,
) -> Result<Parsed, TextError> {
    let cmd = t.get(0);
    let done = |r| Ok(Parsed::Request(r, 0));
    let n = t.ntokens;
    let want = |ok: bool| if ok { Ok(()) } else { Err(err(TextErrorKind::UnknownCommand)) };
    match cmd {
        b"lua" => super::lua::parse(line, data, limits, slice),
        b"get" | b"gets" | b"gat" | b"gats" | b"bget" => {
            want(n >= 3)?;
            parse_get(line, cmd, limits, slice).map(|g| Parsed::Request(TextRequest::Get(g), 0))
        }
        b"set" | b"add" | b"replace" | b"append" | b"prepend" => {
            want(n == 6 || n == 7)?;
            let mode = match cmd {
                b"set" => StoreMode::Set,
                b"add" => StoreMode::Add,
                b"replace" => StoreMode::Replace,
                b"append" => StoreMode::Append,
                _ => StoreMode::Prepend,
            };
            parse_store(t, mode, false, data, limits, slice)
        }
        b"cas" => {
            want(n == 7 || n == 8)?;
            parse_store(t, StoreMode::Set, true, data, limits, slice)
        }
        b"incr" | b"decr" => {
            want(n == 4 || n == 5)?;
            let noreply = t.noreply();
            let key = t.get(1);
            if !key_ok(key, limits.max_key_len) {
                return Err(err(TextErrorKind::BadFormat).noreply(noreply));
            }
            let delta = parse_u64(t.get(2))
                .ok_or_else(|| err(TextErrorKind::InvalidDelta).noreply(noreply))?;
            let mode = if cmd == b"incr" { Arith::Incr } else { Arith::Decr };
            done(TextRequest::Arith { mode, key: slice(key), delta, noreply })
        }
        b"delete" => {
            want((3..=5).contains(&n))?;
            let mut noreply = false;
            if n > 3 {
                let hold_zero = t.get(2) == b"0";
                noreply = t.noreply();
                let valid = (n == 4 && (hold_zero || noreply)) || (n == 5 && hold_zero && noreply);
                if !valid {
                    return Err(err(TextErrorKind::DeleteUsage).noreply(noreply));
                }
            }
            let key = t.get(1);
            if !key_ok(key, limits.max_key_len) {
                return Err(err(TextErrorKind::BadFormat).noreply(noreply));
            }
            done(TextRequest::Delete { key: slice(key), noreply })
        }
        b"touch" => {
            want(n == 4 || n == 5)?;
            let noreply = t.noreply();
            let key = t.get(1);
            if !key_ok(key, limits.max_key_len) {
                return Err(err(TextErrorKind::BadFormat).noreply(noreply));
            }
            let exptime = parse_i32(t.get(2))
                .ok_or_else(|| err(TextErrorKind::InvalidExptime).noreply(noreply))?;
            done(TextRequest::Touch { key: slice(key), exptime, noreply })
        }
        b"flush_all" => {
            want((2..=4).contains(&n))?;
            let noreply = t.noreply();
            let mut delay = 0;
            if n != if noreply { 3 } else { 2 } {
                delay = parse_i32(t.get(1))
                    .ok_or_else(|| err(TextErrorKind::InvalidExptime).noreply(noreply))?;
            }
            done(TextRequest::FlushAll { delay, noreply })
        }
        _ => parse_admin(line, t, slice),
    }
}

/// The commands that administer the server rather than items: `stats`,
/// `verbosity`, `cache_memlimit`, `refresh_certs`, `version`, `quit`.
fn parse_admin(line: &[u8], t: &Tokens<'_>, slice: Slicer<'_>) -> Result<Parsed, TextError> {
    let done = |r| Ok(Parsed::Request(r, 0));
    let n = t.ntokens;
    let want = |ok: bool| if ok { Ok(()) } else { Err(err(TextErrorKind::UnknownCommand)) };
    match t.get(0) {
        b"verbosity" => {
            want(n == 3 || n == 4)?;
            let noreply = t.noreply();
            let level = parse_u32(t.get(1))
                .ok_or_else(|| err(TextErrorKind::BadFormat).noreply(noreply))?;
            done(TextRequest::Verbosity { level, noreply })
        }
        b"cache_memlimit" => {
            want(n == 3 || n == 4)?;
            let noreply = t.noreply();
            let megabytes = parse_u64(t.get(1))
                .filter(|&m| m > 0 && m < (1 << 44))
                .ok_or_else(|| err(TextErrorKind::BadFormat).noreply(noreply))?;
            done(TextRequest::CacheMemlimit { megabytes, noreply })
        }
        b"stats" => {
            let args = split_spaces(line).skip(1).map(|(s, e)| slice(&line[s..e])).collect();
            done(TextRequest::Stats { args })
        }
        b"version" => done(TextRequest::Version),
        b"quit" => done(TextRequest::Quit),
        b"refresh_certs" => {
            want(n == 2 || n == 3)?;
            let noreply = t.noreply();
            if n == 3 && !noreply {
                return Err(err(TextErrorKind::BadFormat));
            }
            done(TextRequest::RefreshCerts { noreply })
        }
        _ => Err(err(TextErrorKind::UnknownCommand)),
    }
}

/// All keys of a retrieval line (no token limit: multi-gets are long).
fn parse_get(
    line: &[u8],
    cmd: &[u8],
    limits: &TextLimits,
    slice: Slicer<'_>,
) -> Result<Get, TextError> {
    let mut toks = split_spaces(line).skip(1);
    let touch = if cmd.starts_with(b"gat") {
        let (s, e) = toks.next().unwrap_or((0, 0));
        Some(parse_i32(&line[s..e]).ok_or_else(|| err(TextErrorKind::InvalidExptime))?)
    } else {
        None
    };
    let mut keys = Vec::new();
    for (s, e) in toks {
        let key = &line[s..e];
        if !key_ok(key, limits.max_key_len) {
            return Err(err(TextErrorKind::BadFormat));
        }
        keys.push(slice(key));
    }
    Ok(Get { keys, cas: cmd == b"gets" || cmd == b"gats", touch })
}

/// Checks a data block of `len` bytes at the start of `data`: `Ok(None)`
/// when it has not all arrived, `Ok(Some(value))` when it is whole and
/// followed by `\r\n`.
pub(crate) fn data_block(data: &[u8], len: usize) -> Result<Option<&[u8]>, TextError> {
    let Some(block) = data.get(..len + 2) else {
        return Ok(None);
    };
    if &block[len..] == b"\r\n" {
        Ok(Some(&block[..len]))
    } else {
        let mut e = err(TextErrorKind::BadDataChunk { len: len as u64 });
        e.consumed = len + 2;
        Err(e)
    }
}

/// Validates a declared value length: negative or unparseable is a bad
/// format (memcached then reads the data block as commands); over the
/// limit is `TooLarge`, swallowing it.
pub(crate) fn value_len(
    tok: &[u8],
    limits: &TextLimits,
) -> Result<Result<usize, u64>, TextErrorKind> {
    let len = parse_i32(tok).ok_or(TextErrorKind::BadFormat)?;
    let len = u32::try_from(len).map_err(|_| TextErrorKind::BadFormat)?;
    if len > i32::MAX as u32 - 2 {
        return Err(TextErrorKind::BadFormat);
    }
    if len > limits.max_value_len {
        return Ok(Err(u64::from(len)));
    }
    Ok(Ok(len as usize))
}

fn parse_store(
    t: &Tokens<'_>,
    mode: StoreMode,
    with_cas: bool,
    data: &[u8],
    limits: &TextLimits,
    slice: Slicer<'_>,
) -> Result<Parsed, TextError> {
    let noreply = t.noreply();
    let bad = || err(TextErrorKind::BadFormat).noreply(noreply);
    let key = t.get(1);
    if !key_ok(key, limits.max_key_len) {
        return Err(bad());
    }
    let flags = parse_u32(t.get(2)).ok_or_else(bad)?;
    let exptime = parse_i32(t.get(3)).ok_or_else(bad)?;
    // memcached parses the length with the other numbers, before the CAS.
    parse_i32(t.get(4)).ok_or_else(bad)?;
    let cas = if with_cas { Some(parse_u64(t.get(5)).ok_or_else(bad)?) } else { None };
    let len = match value_len(t.get(4), limits).map_err(|k| err(k).noreply(noreply))? {
        Ok(len) => len,
        Err(len) => {
            let mut e = err(TextErrorKind::TooLarge {
                len,
                max: limits.max_value_len,
                unlink: mode == StoreMode::Set && !with_cas,
            })
            .noreply(noreply)
            .swallowing(len + 2);
            // An error path: copy (the first pass has no buffer to slice).
            e.key = Some(Bytes::copy_from_slice(key));
            return Err(e);
        }
    };
    let Some(value) = data_block(data, len).map_err(|e| e.noreply(noreply))? else {
        return Ok(Parsed::NeedData(len));
    };
    let store = Store { mode, key: slice(key), flags, exptime, value: slice(value), cas, noreply };
    Ok(Parsed::Request(TextRequest::Store(store), len + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_strtol() {
        assert_eq!(parse_i32(b"-1"), Some(-1));
        assert_eq!(parse_i32(b"+7"), Some(7));
        assert_eq!(parse_i32(b"2147483647"), Some(i32::MAX));
        assert_eq!(parse_i32(b"-2147483648"), Some(i32::MIN));
        assert_eq!(parse_i32(b"2147483648"), None);
        assert_eq!(parse_i32(b"-+1"), None);
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u32(b"-1"), None);
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"1x"), None);
        assert_eq!(parse_u64(b""), None);
    }

    #[test]
    fn tokens_count_like_memcached() {
        let t = Tokens::new(b"  set  k 0 0 1 ");
        assert_eq!((t.len(), t.ntokens), (5, 6));
        assert_eq!(t.get(1), b"k");
        assert_eq!(t.get(9), b"");
        let long = b"a ".repeat(40);
        assert_eq!(Tokens::new(&long).ntokens, MAX_TOKENS);
    }
}
