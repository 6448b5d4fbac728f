//! Typed requests: phase two of parsing (a checked packet → [`Request`],
//! key and value sharing the read buffer) and the encoder clients use.

use bytes::{Buf, Bytes, BytesMut};

use super::error::{ErrorKind, ProtocolError};
use super::frame::{Check, checked_request};
use super::header::{be32, be64, encode_raw};
use super::response::Reply;
use super::tap::TapConnect;
use super::{HEADER_LEN, Header, Limits, Opcode};
use crate::ops::{Arith, StoreMode};

/// A decoded request. The opcode is kept as sent (quiet twins included),
/// since the reply must echo it; [`Command`] is what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The opcode as sent, e.g. `GETKQ`.
    pub opcode: Opcode,
    /// Echoed in every reply.
    pub opaque: u32,
    /// Compare-and-swap value; 0 means no check.
    pub cas: u64,
    /// Header bytes 6–7 ("reserved" to memcached; the vbucket in TAP).
    pub vbucket: u16,
    /// The command and its typed arguments.
    pub command: Command,
}

/// What a request asks for, with its extras decoded. Related opcodes share
/// a variant (SET/ADD/REPLACE/APPEND/PREPEND are one [`Command::Store`],
/// in the vocabulary of [`crate::ops`]); the loud/quiet and
/// key-echo distinctions live in [`Request::opcode`]
/// ([`Opcode::quiet_kind`], [`Opcode::echoes_key`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// GET, GETQ, GETK, GETKQ.
    Get {
        /// The key.
        key: Bytes,
    },
    /// GAT, GATQ, GATK, GATKQ: touch, then behave like GET.
    GetAndTouch {
        /// The key.
        key: Bytes,
        /// New expiration (spec §6).
        expiry: u32,
    },
    /// TOUCH.
    Touch {
        /// The key.
        key: Bytes,
        /// New expiration.
        expiry: u32,
    },
    /// SET, ADD, REPLACE, APPEND, PREPEND and their quiet twins.
    Store {
        /// Which of the five.
        mode: StoreMode,
        /// The key.
        key: Bytes,
        /// Item flags, opaque to the server. APPEND and PREPEND carry none
        /// on the wire: 0 when decoded, not sent when encoded.
        flags: u32,
        /// Expiration (as `flags`, absent for APPEND and PREPEND).
        expiry: u32,
        /// The value, or the bytes to add (may be empty).
        value: Bytes,
    },
    /// DELETE, DELETEQ.
    Delete {
        /// The key.
        key: Bytes,
    },
    /// INCREMENT, DECREMENT and their quiet twins.
    Counter {
        /// Which of the two.
        mode: Arith,
        /// The key.
        key: Bytes,
        /// Amount to add or subtract.
        delta: u64,
        /// Value to create a missing counter with (the delta is not applied).
        initial: u64,
        /// Expiration of a created counter; `0xffffffff` means "do not create".
        expiry: u32,
    },
    /// QUIT, QUITQ.
    Quit,
    /// FLUSH, FLUSHQ.
    Flush {
        /// Delay (an expiration, spec §6); `None` when the extras were empty.
        delay: Option<u32>,
    },
    /// NOOP: the batch terminator.
    Noop,
    /// VERSION.
    Version,
    /// STAT.
    Stat {
        /// Group name; empty for the general stats.
        group: Bytes,
    },
    /// VERBOSITY (memcached never implemented it; answer success).
    Verbosity {
        /// Requested level.
        level: u32,
    },
    /// SASL LIST MECHS.
    SaslListMechs,
    /// SASL AUTH.
    SaslAuth {
        /// Mechanism name, e.g. `PLAIN`.
        mechanism: Bytes,
        /// Initial client data (`\0user\0password` for PLAIN).
        data: Bytes,
    },
    /// SASL STEP.
    SaslStep {
        /// Mechanism name.
        mechanism: Bytes,
        /// Client response to the server's challenge.
        data: Bytes,
    },
    /// `TAP_CONNECT`: the connection turns into a TAP stream.
    TapConnect(TapConnect),
    /// `LUA_LOAD` (mammoth): compile and publish a library.
    LuaLoad {
        /// Library name (the key).
        lib: Bytes,
        /// Lua source (the value).
        source: Bytes,
    },
    /// `LUA_CALL` (mammoth): call a function with its declared keys and
    /// its arguments (the value: each a u32 length and its bytes, the
    /// extras' u16 count of keys first).
    LuaCall {
        /// Function name (the key).
        function: Bytes,
        /// The declared keys.
        keys: Vec<Bytes>,
        /// The other arguments.
        args: Vec<Bytes>,
    },
}

impl Request {
    /// A request with opaque, CAS and vbucket 0. The opcode must suit the
    /// command (e.g. `SETQ` for a [`Command::Store`] with [`StoreMode::Set`]);
    /// [`Request::encode`] writes what it is given. The constructors below
    /// pick the opcode for you.
    pub fn new(opcode: Opcode, command: Command) -> Request {
        Request { opcode, opaque: 0, cas: 0, vbucket: 0, command }
    }

    /// GET `key`.
    pub fn get(key: impl Into<Bytes>) -> Request {
        Request::new(Opcode::GET, Command::Get { key: key.into() })
    }

    /// SET `key` = `value`.
    pub fn set(key: impl Into<Bytes>, value: impl Into<Bytes>, flags: u32, expiry: u32) -> Request {
        Request::store(StoreMode::Set, key, value, flags, expiry)
    }

    /// SET, ADD, REPLACE, APPEND or PREPEND (the last two send no flags or
    /// expiry).
    pub fn store(
        mode: StoreMode,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        flags: u32,
        expiry: u32,
    ) -> Request {
        let opcode = match mode {
            StoreMode::Set => Opcode::SET,
            StoreMode::Add => Opcode::ADD,
            StoreMode::Replace => Opcode::REPLACE,
            StoreMode::Append => Opcode::APPEND,
            StoreMode::Prepend => Opcode::PREPEND,
        };
        let (flags, expiry) = if mode.is_concat() { (0, 0) } else { (flags, expiry) };
        Request::new(
            opcode,
            Command::Store { mode, key: key.into(), flags, expiry, value: value.into() },
        )
    }

    /// DELETE `key`.
    pub fn delete(key: impl Into<Bytes>) -> Request {
        Request::new(Opcode::DELETE, Command::Delete { key: key.into() })
    }

    /// NOOP.
    pub fn noop() -> Request {
        Request::new(Opcode::NOOP, Command::Noop)
    }

    /// GETK `key` (the hit, and memcached's miss, carry the key).
    pub fn getk(key: impl Into<Bytes>) -> Request {
        Request::new(Opcode::GETK, Command::Get { key: key.into() })
    }

    /// GAT `key`: set its expiration and return it.
    pub fn gat(key: impl Into<Bytes>, expiry: u32) -> Request {
        Request::new(Opcode::GAT, Command::GetAndTouch { key: key.into(), expiry })
    }

    /// GATK `key`.
    pub fn gatk(key: impl Into<Bytes>, expiry: u32) -> Request {
        Request { opcode: Opcode::GATK, ..Request::gat(key, expiry) }
    }

    /// TOUCH `key`.
    pub fn touch(key: impl Into<Bytes>, expiry: u32) -> Request {
        Request::new(Opcode::TOUCH, Command::Touch { key: key.into(), expiry })
    }

    /// ADD `key` = `value`.
    pub fn add(key: impl Into<Bytes>, value: impl Into<Bytes>, flags: u32, expiry: u32) -> Request {
        Request::store(StoreMode::Add, key, value, flags, expiry)
    }

    /// REPLACE `key` = `value`.
    pub fn replace(
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        flags: u32,
        expiry: u32,
    ) -> Request {
        Request::store(StoreMode::Replace, key, value, flags, expiry)
    }

    /// APPEND `value` to `key`.
    pub fn append(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Request {
        Request::store(StoreMode::Append, key, value, 0, 0)
    }

    /// PREPEND `value` to `key`.
    pub fn prepend(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Request {
        Request::store(StoreMode::Prepend, key, value, 0, 0)
    }

    /// INCREMENT or DECREMENT `key` by `delta`; a missing counter is created
    /// with `initial` unless `expiry` is [`super::NO_AUTO_CREATE`].
    pub fn counter(
        mode: Arith,
        key: impl Into<Bytes>,
        delta: u64,
        initial: u64,
        expiry: u32,
    ) -> Request {
        let opcode = match mode {
            Arith::Incr => Opcode::INCREMENT,
            Arith::Decr => Opcode::DECREMENT,
        };
        Request::new(opcode, Command::Counter { mode, key: key.into(), delta, initial, expiry })
    }

    /// QUIT.
    pub fn quit() -> Request {
        Request::new(Opcode::QUIT, Command::Quit)
    }

    /// FLUSH, with an optional delay.
    pub fn flush(delay: Option<u32>) -> Request {
        Request::new(Opcode::FLUSH, Command::Flush { delay })
    }

    /// VERSION.
    pub fn version() -> Request {
        Request::new(Opcode::VERSION, Command::Version)
    }

    /// STAT for `group` (empty: the general stats).
    pub fn stat(group: impl Into<Bytes>) -> Request {
        Request::new(Opcode::STAT, Command::Stat { group: group.into() })
    }

    /// VERBOSITY.
    pub fn verbosity(level: u32) -> Request {
        Request::new(Opcode::VERBOSITY, Command::Verbosity { level })
    }

    /// SASL LIST MECHS.
    pub fn sasl_list_mechs() -> Request {
        Request::new(Opcode::SASL_LIST_MECHS, Command::SaslListMechs)
    }

    /// SASL AUTH with `mechanism` and its initial data.
    pub fn sasl_auth(mechanism: impl Into<Bytes>, data: impl Into<Bytes>) -> Request {
        Request::new(
            Opcode::SASL_AUTH,
            Command::SaslAuth { mechanism: mechanism.into(), data: data.into() },
        )
    }

    /// SASL STEP with `mechanism` and the client's response.
    pub fn sasl_step(mechanism: impl Into<Bytes>, data: impl Into<Bytes>) -> Request {
        Request::new(
            Opcode::SASL_STEP,
            Command::SaslStep { mechanism: mechanism.into(), data: data.into() },
        )
    }

    /// `TAP_CONNECT`.
    pub fn tap_connect(connect: TapConnect) -> Request {
        Request::new(Opcode::TAP_CONNECT, Command::TapConnect(connect))
    }

    /// The same request with this opaque.
    #[must_use]
    pub fn with_opaque(mut self, opaque: u32) -> Request {
        self.opaque = opaque;
        self
    }

    /// The same request with this CAS.
    #[must_use]
    pub fn with_cas(mut self, cas: u64) -> Request {
        self.cas = cas;
        self
    }

    /// The same request with its quiet twin opcode, when it has one.
    #[must_use]
    pub fn quiet(mut self) -> Request {
        self.opcode = self.opcode.quiet().unwrap_or(self.opcode);
        self
    }

    /// Where replies to this request go: its opcode and opaque.
    pub fn reply(&self) -> Reply {
        Reply::new(self.opcode, self.opaque)
    }

    /// The key the command names, if it has one (the group name for STAT,
    /// the mechanism for SASL, the stream name for `TAP_CONNECT`).
    pub fn key(&self) -> Option<&Bytes> {
        match &self.command {
            Command::Get { key }
            | Command::GetAndTouch { key, .. }
            | Command::Touch { key, .. }
            | Command::Store { key, .. }
            | Command::Delete { key }
            | Command::Counter { key, .. }
            | Command::Stat { group: key }
            | Command::SaslAuth { mechanism: key, .. }
            | Command::SaslStep { mechanism: key, .. }
            | Command::LuaLoad { lib: key, .. }
            | Command::LuaCall { function: key, .. } => Some(key),
            Command::TapConnect(t) => Some(&t.name),
            Command::Quit
            | Command::Flush { .. }
            | Command::Noop
            | Command::Version
            | Command::Verbosity { .. }
            | Command::SaslListMechs => None,
        }
    }

    /// Parses one whole request packet: `frame` must be exactly the bytes
    /// [`check_request`](super::check_request) reported as [`Check::Complete`] (typically
    /// `buf.split_to(n).freeze()`). Key and value are slices of `frame`; the
    /// only allocations are a `TAP_CONNECT`'s vbucket and checkpoint lists.
    ///
    /// The header is checked again, so any byte string is safe to pass.
    ///
    /// # Errors
    /// Every error [`check_request`](super::check_request) gives, [`ErrorKind::FrameLength`] when
    /// `frame` is not exactly one packet, and [`ErrorKind::TapConnect`] for
    /// `TAP_CONNECT` arguments that do not match its flags.
    pub fn parse(frame: Bytes, limits: &Limits) -> Result<Request, ProtocolError> {
        let header = match checked_request(&frame, limits)? {
            (Check::Complete(n), Some(h)) if n == frame.len() => h,
            (check, _) => {
                let expected = match check {
                    Check::Complete(n) => n,
                    Check::Incomplete { needed } => needed,
                };
                let opcode = Opcode(frame.get(1).copied().unwrap_or(0));
                return Err(ProtocolError::new(
                    opcode,
                    0,
                    ErrorKind::FrameLength { given: frame.len(), expected },
                ));
            }
        };
        Request::from_checked(&header, frame)
    }

    /// Phase two after [`checked_request`] has vouched for `header` and
    /// `frame` is exactly its packet.
    pub(crate) fn from_checked(header: &Header, frame: Bytes) -> Result<Request, ProtocolError> {
        let mut value = frame;
        value.advance(HEADER_LEN);
        let extras = value.split_to(usize::from(header.extras_len));
        let key = value.split_to(usize::from(header.key_len));
        let command = build(header, &extras, key, value)?;
        Ok(Request {
            opcode: header.opcode,
            opaque: header.opaque,
            cas: header.cas,
            vbucket: header.vbucket(),
            command,
        })
    }

    /// Appends the encoded request to `out`. Never fails: lengths that do
    /// not fit the header (a key over 64 KiB, a body over 4 GiB) are a
    /// caller bug and panic; keep keys within [`super::MAX_KEY_LEN`].
    pub fn encode(&self, out: &mut BytesMut) {
        let mut extras = [0u8; 20];
        let tap_value;
        let lua_value;
        let (elen, key, value): (usize, &[u8], &[u8]) = match &self.command {
            Command::Get { key } | Command::Delete { key } => (0, key, &[]),
            Command::GetAndTouch { key, expiry } | Command::Touch { key, expiry } => {
                extras[..4].copy_from_slice(&expiry.to_be_bytes());
                (4, key, &[])
            }
            Command::Store { mode, key, value, .. } if mode.is_concat() => (0, key, value),
            Command::Store { key, flags, expiry, value, .. } => {
                extras[..4].copy_from_slice(&flags.to_be_bytes());
                extras[4..8].copy_from_slice(&expiry.to_be_bytes());
                (8, key, value)
            }
            Command::Counter { key, delta, initial, expiry, .. } => {
                extras[..8].copy_from_slice(&delta.to_be_bytes());
                extras[8..16].copy_from_slice(&initial.to_be_bytes());
                extras[16..20].copy_from_slice(&expiry.to_be_bytes());
                (20, key, &[])
            }
            Command::Quit | Command::Noop | Command::Version | Command::SaslListMechs => {
                (0, &[], &[])
            }
            Command::Flush { delay } => match delay {
                Some(d) => {
                    extras[..4].copy_from_slice(&d.to_be_bytes());
                    (4, &[], &[])
                }
                None => (0, &[], &[]),
            },
            Command::Stat { group } => (0, group, &[]),
            Command::Verbosity { level } => {
                extras[..4].copy_from_slice(&level.to_be_bytes());
                (4, &[], &[])
            }
            Command::SaslAuth { mechanism, data } | Command::SaslStep { mechanism, data } => {
                (0, mechanism, data)
            }
            Command::TapConnect(t) => {
                extras[..4].copy_from_slice(&t.flags.0.to_be_bytes());
                tap_value = t.arguments();
                (4, &t.name, &tap_value)
            }
            Command::LuaLoad { lib, source } => (0, lib, source),
            Command::LuaCall { function, keys, args } => {
                let nkeys = u16::try_from(keys.len()).unwrap_or(u16::MAX);
                extras[..2].copy_from_slice(&nkeys.to_be_bytes());
                let parts: Vec<&[u8]> = keys.iter().chain(args).map(|b| &b[..]).collect();
                lua_value = encode_lua_args(&parts);
                (2, function, &lua_value)
            }
        };
        encode_raw(
            out,
            self.opcode,
            self.opaque,
            self.cas,
            self.vbucket,
            &extras[..elen],
            key,
            value,
        );
    }
}

/// The length-prefixed parts of a `LUA_CALL` value (each a big-endian u32
/// length, then that many bytes), or the offset where they stop adding up.
/// Lengths are checked against what is left before anything is sliced.
fn lua_args(value: &Bytes) -> Result<Vec<Bytes>, usize> {
    let mut parts = Vec::new();
    let mut at = 0;
    while at < value.len() {
        if parts.len() == crate::text::lua::MAX_CALL_ARGS {
            return Err(at);
        }
        let len = value.get(at..at + 4).ok_or(at)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let start = at + 4;
        if len > value.len() - start {
            return Err(at);
        }
        parts.push(value.slice(start..start + len));
        at = start + len;
    }
    Ok(parts)
}

/// Encodes `parts` as a `LUA_CALL` value: each a big-endian u32 length and
/// its bytes (what the server parses into keys and arguments).
pub fn encode_lua_args(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// The typed command; shapes were checked by `check_request`, so the
/// extras have the lengths indexed here.
fn build(h: &Header, extras: &[u8], key: Bytes, value: Bytes) -> Result<Command, ProtocolError> {
    let op = h.opcode.loud();
    Ok(match op {
        Opcode::GET | Opcode::GETK => Command::Get { key },
        Opcode::GAT | Opcode::GATK => Command::GetAndTouch { key, expiry: be32(extras) },
        Opcode::TOUCH => Command::Touch { key, expiry: be32(extras) },
        Opcode::SET | Opcode::ADD | Opcode::REPLACE => Command::Store {
            mode: match op {
                Opcode::SET => StoreMode::Set,
                Opcode::ADD => StoreMode::Add,
                _ => StoreMode::Replace,
            },
            key,
            flags: be32(extras),
            expiry: be32(&extras[4..]),
            value,
        },
        Opcode::APPEND | Opcode::PREPEND => Command::Store {
            mode: if op == Opcode::APPEND { StoreMode::Append } else { StoreMode::Prepend },
            key,
            flags: 0,
            expiry: 0,
            value,
        },
        Opcode::DELETE => Command::Delete { key },
        Opcode::INCREMENT | Opcode::DECREMENT => Command::Counter {
            mode: if op == Opcode::INCREMENT { Arith::Incr } else { Arith::Decr },
            key,
            delta: be64(extras),
            initial: be64(&extras[8..]),
            expiry: be32(&extras[16..]),
        },
        Opcode::QUIT => Command::Quit,
        Opcode::FLUSH => Command::Flush { delay: (extras.len() == 4).then(|| be32(extras)) },
        Opcode::NOOP => Command::Noop,
        Opcode::VERSION => Command::Version,
        Opcode::STAT => Command::Stat { group: key },
        Opcode::VERBOSITY => Command::Verbosity { level: be32(extras) },
        Opcode::SASL_LIST_MECHS => Command::SaslListMechs,
        Opcode::SASL_AUTH => Command::SaslAuth { mechanism: key, data: value },
        Opcode::SASL_STEP => Command::SaslStep { mechanism: key, data: value },
        Opcode::TAP_CONNECT => Command::TapConnect(
            TapConnect::parse(key, extras, &value)
                .map_err(|e| ProtocolError::new(h.opcode, h.opaque, ErrorKind::TapConnect(e)))?,
        ),
        Opcode::LUA_LOAD => Command::LuaLoad { lib: key, source: value },
        Opcode::LUA_CALL => {
            let nkeys = usize::from(u16::from_be_bytes([extras[0], extras[1]]));
            let mut parts = lua_args(&value).map_err(|offset| {
                ProtocolError::new(h.opcode, h.opaque, ErrorKind::LuaArgs { offset })
            })?;
            if parts.len() < nkeys {
                let kind = ErrorKind::LuaArgs { offset: value.len() };
                return Err(ProtocolError::new(h.opcode, h.opaque, kind));
            }
            let args = parts.split_off(nkeys);
            Command::LuaCall { function: key, keys: parts, args }
        }
        // `check_request` refused every other opcode.
        _ => {
            return Err(ProtocolError::new(
                h.opcode,
                h.opaque,
                ErrorKind::UnknownCommand { body_len: h.body_len },
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_hex(s: &str) -> Request {
        Request::parse(Bytes::from(hex::decode(s).unwrap()), &Limits::default()).unwrap()
    }

    // Packets from doc/protocol-binary.txt (the 2008 draft), §4.2.1–4.11.1.
    const GET_HELLO: &str = "80000005000000000000000500000000000000000000000048656c6c6f";
    const ADD_HELLO: &str =
        "800200050800000000000012000000000000000000000000deadbeef00001c2048656c6c6f576f726c64";
    const DELETE_HELLO: &str = "80040005000000000000000500000000000000000000000048656c6c6f";
    const INCR_COUNTER: &str = "80050007140000000000001b0000000000000000000000000000000000000001000000000000000000001c20636f756e746572";
    const QUIT: &str = "800700000000000000000000000000000000000000000000";
    const FLUSH_7200: &str = "80080000040000000000000400000000000000000000000000001c20";
    const NOOP: &str = "800a00000000000000000000000000000000000000000000";
    const VERSION: &str = "800b00000000000000000000000000000000000000000000";
    const APPEND_BANG: &str = "800e0005000000000000000600000000000000000000000048656c6c6f21";
    const STAT: &str = "801000000000000000000000000000000000000000000000";

    #[test]
    fn draft_vectors_parse() {
        assert_eq!(parse_hex(GET_HELLO), Request::get(&b"Hello"[..]));
        assert_eq!(
            parse_hex(ADD_HELLO),
            Request::store(StoreMode::Add, &b"Hello"[..], &b"World"[..], 0xdead_beef, 7200)
        );
        assert_eq!(parse_hex(DELETE_HELLO), Request::delete(&b"Hello"[..]));
        assert_eq!(
            parse_hex(INCR_COUNTER).command,
            Command::Counter {
                mode: Arith::Incr,
                key: Bytes::from_static(b"counter"),
                delta: 1,
                initial: 0,
                expiry: 7200
            }
        );
        assert_eq!(parse_hex(QUIT).command, Command::Quit);
        assert_eq!(parse_hex(FLUSH_7200).command, Command::Flush { delay: Some(7200) });
        assert_eq!(parse_hex(NOOP), Request::noop());
        assert_eq!(parse_hex(VERSION).command, Command::Version);
        assert_eq!(
            parse_hex(APPEND_BANG).command,
            Command::Store {
                mode: StoreMode::Append,
                key: Bytes::from_static(b"Hello"),
                flags: 0,
                expiry: 0,
                value: Bytes::from_static(b"!")
            }
        );
        assert_eq!(parse_hex(STAT).command, Command::Stat { group: Bytes::new() });
    }

    #[test]
    fn draft_vectors_encode() {
        for v in [
            GET_HELLO,
            ADD_HELLO,
            DELETE_HELLO,
            INCR_COUNTER,
            QUIT,
            FLUSH_7200,
            NOOP,
            VERSION,
            APPEND_BANG,
            STAT,
        ] {
            let mut out = BytesMut::new();
            parse_hex(v).encode(&mut out);
            assert_eq!(hex::encode(&out), v);
        }
    }

    #[test]
    fn key_and_value_share_the_frame() {
        let frame = Bytes::from(hex::decode(ADD_HELLO).unwrap());
        let r = Request::parse(frame.clone(), &Limits::default()).unwrap();
        let Command::Store { key, value, .. } = &r.command else { panic!("{r:?}") };
        assert_eq!(key.as_ptr(), frame[32..].as_ptr());
        assert_eq!(value.as_ptr(), frame[37..].as_ptr());
    }

    #[test]
    fn quiet_opcode_and_opaque_are_kept() {
        let mut out = BytesMut::new();
        Request::set(&b"k"[..], &b"v"[..], 1, 2)
            .quiet()
            .with_opaque(0x0102_0304)
            .with_cas(9)
            .encode(&mut out);
        let r = Request::parse(out.freeze(), &Limits::default()).unwrap();
        assert_eq!((r.opcode, r.opaque, r.cas), (Opcode::SETQ, 0x0102_0304, 9));
        assert_eq!(r.reply().opcode, Opcode::SETQ);
    }

    #[test]
    fn wrong_frame_length_is_refused() {
        let mut b = hex::decode(GET_HELLO).unwrap();
        b.push(0);
        let e = Request::parse(Bytes::from(b), &Limits::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::FrameLength { given: 30, expected: 29 });
        let e = Request::parse(Bytes::from_static(&[0x80, 0]), &Limits::default()).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::FrameLength { .. }));
    }

    #[test]
    fn empty_append_value_is_accepted_like_memcached() {
        let mut out = BytesMut::new();
        encode_raw(&mut out, Opcode::APPENDQ, 0, 0, 0, &[], b"k", &[]);
        let r = Request::parse(out.freeze(), &Limits::default()).unwrap();
        assert!(matches!(r.command, Command::Store { ref value, .. } if value.is_empty()));
    }
}
