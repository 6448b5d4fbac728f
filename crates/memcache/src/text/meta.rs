//! Meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`): their flags parsed
//! into [`MetaFlags`], and the typed requests.
//!
//! Flags are single letters, some with a token (`T30`, `Oabc`, `MA`). Each
//! may appear once (`CLIENT_ERROR duplicate flag`); `P` and `L` are proxy
//! hints and ignored. Flags that ask for something back (`c f h k l s t`,
//! `O`, and `b` with `k`) are answered in request order, which
//! [`MetaFlags::order`] keeps for the reply writers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;

use super::error::{MetaErrorKind, TextError, TextErrorKind};
use super::request::{
    Parsed, Slicer, Store, TextRequest, Tokens, data_block, key_ok, parse_i32, parse_u32,
    parse_u64, value_len,
};
use super::{MAX_OPAQUE_LEN, TextLimits};
use crate::ops::StoreMode;

/// memcached's `MFLAG_MAX_OPT_LENGTH`: a meta line has at most 19 tokens.
const MAX_META_TOKENS: usize = 20;

/// The flags of one meta command. Numeric tokens are parsed; letters that
/// only ask for a value back are booleans.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaFlags {
    /// `b`: the key was base64 (the request's key is decoded; replies
    /// re-encode it for `k`).
    pub base64: bool,
    /// `c`: return the CAS.
    pub return_cas: bool,
    /// `C<cas>`: compare CAS.
    pub compare_cas: Option<u64>,
    /// `E<cas>`: use this as the new CAS.
    pub new_cas: Option<u64>,
    /// `f`: return the client flags.
    pub return_flags: bool,
    /// `F<flags>`: client flags to set (ms).
    pub client_flags: Option<u32>,
    /// `h`: return whether the item was hit before.
    pub return_hit: bool,
    /// `I`: invalidate (ms with C: accept an older CAS and mark stale; md:
    /// mark stale instead of deleting).
    pub invalidate: bool,
    /// `k`: return the key.
    pub return_key: bool,
    /// `l`: return seconds since last access.
    pub return_last_access: bool,
    /// `O<token>`: opaque, echoed (the whole token, `O` included, at most 32 bytes).
    pub opaque: Option<Bytes>,
    /// `q`: quiet (noreply semantics for the nominal reply).
    pub quiet: bool,
    /// `s`: return the item size.
    pub return_size: bool,
    /// `t`: return the remaining TTL (-1 for none).
    pub return_ttl: bool,
    /// `T<ttl>`: new TTL (mg: touch; ms: expiration; md with I; ma on success).
    pub ttl: Option<i32>,
    /// `u`: do not bump the item in the LRU.
    pub no_bump: bool,
    /// `v`: return the value.
    pub return_value: bool,
    /// `N<ttl>`: vivify on miss with this TTL (mg, ma; ms in append mode).
    pub vivify: Option<i32>,
    /// `R<ttl>`: win a recache when the remaining TTL is below this (mg).
    pub recache: Option<i32>,
    /// `M<mode>`: the mode letter (ms: E A P R S; ma: I + D -).
    pub mode: Option<u8>,
    /// `D<delta>` (ma).
    pub delta: Option<u64>,
    /// `J<initial>` (ma).
    pub initial: Option<u64>,
    /// `x`: remove the value but keep the item (md).
    pub remove_value: bool,
    order: [u8; MAX_META_TOKENS],
    order_len: u8,
}

impl MetaFlags {
    /// The flag letters in request order (for replies that echo them).
    pub fn order(&self) -> &[u8] {
        &self.order[..usize::from(self.order_len)]
    }
}

/// `mg <key> <flags>*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaGet {
    /// Key (decoded if `b`).
    pub key: Bytes,
    /// Flags.
    pub flags: MetaFlags,
}

/// `ms <key> <datalen> <flags>*` and its data block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaSet {
    /// What to store: mode from `M`, CAS from `C`, flags from `F`,
    /// expiration from `T` (0 without), `noreply` from `q`.
    pub store: Store,
    /// Flags.
    pub flags: MetaFlags,
}

/// `md <key> <flags>*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaDelete {
    /// Key (decoded if `b`).
    pub key: Bytes,
    /// Flags.
    pub flags: MetaFlags,
}

/// `ma <key> <flags>*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaArithmetic {
    /// Key (decoded if `b`).
    pub key: Bytes,
    /// Increment (default, `MI`, `M+`) or decrement (`MD`, `M-`).
    pub mode: crate::ops::Arith,
    /// `D`, default 1.
    pub delta: u64,
    /// `J`, default 0: the value created by `N` on a miss.
    pub initial: u64,
    /// Flags.
    pub flags: MetaFlags,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Get,
    Set,
    Delete,
    Arithmetic,
}

impl Cmd {
    fn allowed(self) -> &'static [u8] {
        match self {
            Cmd::Get => b"bcCfhklOqstuvENRTPL",
            Cmd::Set => b"bcCEFIkOqsTMNPL",
            Cmd::Delete => b"bCEIkOqTxPL",
            Cmd::Arithmetic => b"bCENJDTMOqtcvkPL",
        }
    }

    /// md and ma report every flag problem with one message.
    fn flag_error(self, specific: MetaErrorKind) -> TextErrorKind {
        match self {
            Cmd::Get | Cmd::Set => TextErrorKind::Meta(specific),
            Cmd::Delete | Cmd::Arithmetic => {
                TextErrorKind::Meta(MetaErrorKind::InvalidOrDuplicateFlag)
            }
        }
    }
}

fn meta_err(kind: MetaErrorKind) -> TextError {
    TextError::new(TextErrorKind::Meta(kind))
}

/// Common checks on the key and token count; returns the key token.
fn head<'a>(t: &Tokens<'a>, cmd: Cmd, limits: &TextLimits) -> Result<&'a [u8], TextError> {
    if t.ntokens < 3 {
        return Err(TextError::new(TextErrorKind::UnknownCommand));
    }
    let key = t.get(1);
    if !key_ok(key, limits.max_key_len) {
        return Err(TextError::new(TextErrorKind::BadFormat));
    }
    if cmd == Cmd::Set && t.ntokens == 3 {
        return Err(TextError::new(TextErrorKind::BadFormat));
    }
    if t.ntokens > MAX_META_TOKENS {
        return Err(meta_err(MetaErrorKind::TooManyFlags { get: cmd == Cmd::Get }));
    }
    Ok(key)
}

/// Parses the flag tokens from index `first`, and decodes the key if `b`.
fn flags(
    t: &Tokens<'_>,
    first: usize,
    cmd: Cmd,
    key: &[u8],
    slice: Slicer<'_>,
) -> Result<(Bytes, MetaFlags), TextError> {
    let mut f = MetaFlags::default();
    let mut seen = [false; 128];
    let bad_token = || TextError::new(cmd.flag_error(MetaErrorKind::BadToken));
    for i in first..t.len() {
        let tok = t.get(i);
        let letter = tok[0];
        let arg = &tok[1..];
        if letter >= 128 || seen[usize::from(letter)] {
            return Err(TextError::new(cmd.flag_error(MetaErrorKind::DuplicateFlag)));
        }
        seen[usize::from(letter)] = true;
        if !cmd.allowed().contains(&letter) {
            return Err(TextError::new(cmd.flag_error(MetaErrorKind::InvalidFlag)));
        }
        f.order[usize::from(f.order_len)] = letter;
        f.order_len += 1;
        match letter {
            b'b' => f.base64 = true,
            b'c' => f.return_cas = true,
            b'C' => f.compare_cas = Some(parse_u64(arg).ok_or_else(bad_token)?),
            b'E' => f.new_cas = Some(parse_u64(arg).ok_or_else(bad_token)?),
            b'f' => f.return_flags = true,
            b'F' => {
                f.client_flags = Some(parse_u32(arg).ok_or_else(|| {
                    TextError::new(match cmd {
                        Cmd::Set => TextErrorKind::BadFormat,
                        _ => cmd.flag_error(MetaErrorKind::BadToken),
                    })
                })?);
            }
            b'h' => f.return_hit = true,
            b'I' => f.invalidate = true,
            b'k' => f.return_key = true,
            b'l' => f.return_last_access = true,
            b'O' => {
                if tok.len() > MAX_OPAQUE_LEN {
                    return Err(meta_err(MetaErrorKind::OpaqueTooLong));
                }
                f.opaque = Some(slice(tok));
            }
            b'q' => f.quiet = true,
            b's' => f.return_size = true,
            b't' => f.return_ttl = true,
            b'T' => f.ttl = Some(parse_i32(arg).ok_or_else(bad_token)?),
            b'u' => f.no_bump = true,
            b'v' => f.return_value = true,
            b'N' => f.vivify = Some(parse_i32(arg).ok_or_else(bad_token)?),
            b'R' => f.recache = Some(parse_i32(arg).ok_or_else(bad_token)?),
            b'M' => {
                if arg.len() != 1 {
                    return Err(TextError::new(cmd.flag_error(MetaErrorKind::ModeLength)));
                }
                f.mode = Some(arg[0]);
            }
            b'D' => {
                f.delta =
                    Some(parse_u64(arg).ok_or_else(|| {
                        TextError::new(cmd.flag_error(MetaErrorKind::DeltaValue))
                    })?);
            }
            b'J' => {
                f.initial =
                    Some(parse_u64(arg).ok_or_else(|| {
                        TextError::new(cmd.flag_error(MetaErrorKind::InitialValue))
                    })?);
            }
            b'x' => f.remove_value = true,
            _ => {} // P and L: proxy hints, ignored.
        }
    }
    let key = if f.base64 {
        let decoded = STANDARD
            .decode(key)
            .ok()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| TextError::new(cmd.flag_error(MetaErrorKind::KeyDecode)))?;
        Bytes::from(decoded)
    } else {
        slice(key)
    };
    Ok((key, f))
}

pub(crate) fn parse_get(
    t: &Tokens<'_>,
    limits: &TextLimits,
    slice: Slicer<'_>,
) -> Result<MetaGet, TextError> {
    let key = head(t, Cmd::Get, limits)?;
    let (key, flags) = flags(t, 2, Cmd::Get, key, slice)?;
    Ok(MetaGet { key, flags })
}

pub(crate) fn parse_delete(
    t: &Tokens<'_>,
    limits: &TextLimits,
    slice: Slicer<'_>,
) -> Result<MetaDelete, TextError> {
    let key = head(t, Cmd::Delete, limits)?;
    let (key, flags) = flags(t, 2, Cmd::Delete, key, slice)?;
    Ok(MetaDelete { key, flags })
}

pub(crate) fn parse_arithmetic(
    t: &Tokens<'_>,
    limits: &TextLimits,
    slice: Slicer<'_>,
) -> Result<MetaArithmetic, TextError> {
    let key = head(t, Cmd::Arithmetic, limits)?;
    let (key, flags) = flags(t, 2, Cmd::Arithmetic, key, slice)?;
    let mode = match flags.mode {
        None | Some(b'I' | b'i' | b'+') => crate::ops::Arith::Incr,
        Some(b'D' | b'd' | b'-') => crate::ops::Arith::Decr,
        Some(_) => return Err(meta_err(MetaErrorKind::ArithmeticMode)),
    };
    Ok(MetaArithmetic {
        key,
        mode,
        delta: flags.delta.unwrap_or(1),
        initial: flags.initial.unwrap_or(0),
        flags,
    })
}

pub(crate) fn parse_debug(
    t: &Tokens<'_>,
    limits: &TextLimits,
    slice: Slicer<'_>,
) -> Result<TextRequest, TextError> {
    if t.ntokens < 3 || !key_ok(t.get(1), limits.max_key_len) {
        return Err(TextError::new(TextErrorKind::BadFormat));
    }
    let base64 = t.get(2) == b"b";
    let key = if base64 {
        Bytes::from(
            STANDARD
                .decode(t.get(1))
                .ok()
                .filter(|k| !k.is_empty())
                .ok_or_else(|| TextError::new(TextErrorKind::BadFormat))?,
        )
    } else {
        slice(t.get(1))
    };
    Ok(TextRequest::MetaDebug { key, base64 })
}

/// `ms`: errors before the length is known leave the data block to be read
/// as commands (as memcached does); errors after it swallow the block.
pub(crate) fn parse_set(
    t: &Tokens<'_>,
    data: &[u8],
    limits: &TextLimits,
    slice: Slicer<'_>,
) -> Result<Parsed, TextError> {
    let key_tok = head(t, Cmd::Set, limits)?;
    let len = value_len(t.get(2), limits).map_err(TextError::new)?;
    let swallow = match len {
        Ok(n) => n as u64 + 2,
        Err(n) => n + 2,
    };
    let (key, flags) = flags(t, 3, Cmd::Set, key_tok, slice).map_err(|e| e.swallowing(swallow))?;
    let mode = match flags.mode {
        None | Some(b'S' | b's') => StoreMode::Set,
        Some(b'E' | b'e') => StoreMode::Add,
        Some(b'A' | b'a') => StoreMode::Append,
        Some(b'P' | b'p') => StoreMode::Prepend,
        Some(b'R' | b'r') => StoreMode::Replace,
        Some(_) => return Err(meta_err(MetaErrorKind::SetMode).swallowing(swallow)),
    };
    let len = match len {
        Ok(n) => n,
        Err(n) => {
            let mut e = TextError::new(TextErrorKind::TooLarge {
                len: n,
                max: limits.max_value_len,
                unlink: true,
            })
            .swallowing(swallow);
            // An error path: copy (the first pass has no buffer to slice).
            e.key = Some(if flags.base64 { key } else { Bytes::copy_from_slice(key_tok) });
            return Err(e);
        }
    };
    let Some(value) = data_block(data, len)? else {
        return Ok(Parsed::NeedData(len));
    };
    let store = Store {
        mode,
        key,
        flags: flags.client_flags.unwrap_or(0),
        exptime: flags.ttl.unwrap_or(0),
        value: slice(value),
        cas: flags.compare_cas,
        noreply: flags.quiet,
    };
    Ok(Parsed::Request(TextRequest::MetaSet(MetaSet { store, flags }), len + 2))
}
