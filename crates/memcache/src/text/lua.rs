//! The `lua` text commands (mammoth's server-side functions; docs/lua.md):
//!
//! ```text
//! lua load <lib> <bytes>\r\n<source>\r\n   -> OK | CLIENT_ERROR <message>
//! lua call <fn> <nkeys> [<key> …] [<arg> …]\r\n
//!                                          -> VALUE <fn> 0 <bytes>\r\n<data>\r\nEND | END
//! lua list\r\n                             -> LIB <name> <fn>… per library, END
//! lua del <lib>\r\n                        -> OK | NOT_FOUND
//! ```

use bytes::Bytes;

use super::TextLimits;
use super::error::{TextError, TextErrorKind};
use super::request::{Parsed, Slicer, TextRequest, data_block, key_ok, split_spaces, value_len};

/// Most keys plus arguments one `lua call` may carry.
pub const MAX_CALL_ARGS: usize = 1024;

/// Longest library or function name.
pub const MAX_NAME_LEN: usize = 128;

/// A `lua` command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LuaRequest {
    /// Compile and publish library `lib` (replacing one of that name).
    Load {
        /// Library name.
        lib: Bytes,
        /// Lua source.
        source: Bytes,
    },
    /// Call `function` with its declared keys and its arguments.
    Call {
        /// Function name.
        function: Bytes,
        /// The keys the call may touch (atomically).
        keys: Vec<Bytes>,
        /// The other arguments.
        args: Vec<Bytes>,
    },
    /// The libraries and their functions.
    List,
    /// Remove library `lib`.
    Delete {
        /// Library name.
        lib: Bytes,
    },
}

fn bad() -> TextError {
    TextError::new(TextErrorKind::BadFormat)
}

/// A library or function name: letters, digits, `_`, `.`, `-`.
pub fn name_ok(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Parses a line starting with `lua` (`data`: the bytes after the line).
pub(crate) fn parse(
    line: &[u8],
    data: &[u8],
    limits: &TextLimits,
    slice: Slicer<'_>,
) -> Result<Parsed, TextError> {
    let mut toks = split_spaces(line).map(|(s, e)| &line[s..e]).skip(1);
    let sub = toks.next().unwrap_or_default();
    let done = |r| Ok(Parsed::Request(TextRequest::Lua(r), 0));
    match sub {
        b"load" => {
            let (lib, len, extra) = (toks.next(), toks.next(), toks.next());
            let len = match value_len(len.unwrap_or_default(), limits).map_err(TextError::new)? {
                Ok(len) => len,
                Err(len) => {
                    return Err(TextError::new(TextErrorKind::TooLarge {
                        len,
                        max: limits.max_value_len,
                        unlink: false,
                    })
                    .swallowing(len + 2));
                }
            };
            // A refused line still owns its data block: the source is
            // skipped, never read as commands.
            let Some(lib) = lib.filter(|l| name_ok(l) && extra.is_none()) else {
                return Err(bad().swallowing(len as u64 + 2));
            };
            let Some(source) = data_block(data, len)? else {
                return Ok(Parsed::NeedData(len));
            };
            let load = LuaRequest::Load { lib: slice(lib), source: slice(source) };
            Ok(Parsed::Request(TextRequest::Lua(load), len + 2))
        }
        b"call" => {
            let function = toks.next().filter(|f| name_ok(f)).ok_or_else(bad)?;
            let nkeys: usize = toks
                .next()
                .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
                .filter(|&n| n <= MAX_CALL_ARGS)
                .ok_or_else(bad)?;
            let mut keys = Vec::with_capacity(nkeys);
            let mut args = Vec::new();
            for tok in toks {
                if keys.len() + args.len() >= MAX_CALL_ARGS {
                    return Err(bad());
                }
                if keys.len() < nkeys {
                    if !key_ok(tok, limits.max_key_len) {
                        return Err(bad());
                    }
                    keys.push(slice(tok));
                } else {
                    args.push(slice(tok));
                }
            }
            if keys.len() < nkeys {
                return Err(bad());
            }
            done(LuaRequest::Call { function: slice(function), keys, args })
        }
        b"list" if toks.next().is_none() => done(LuaRequest::List),
        b"del" => match (toks.next(), toks.next()) {
            (Some(lib), None) if name_ok(lib) => done(LuaRequest::Delete { lib: slice(lib) }),
            _ => Err(bad()),
        },
        _ => Err(TextError::new(TextErrorKind::UnknownCommand)),
    }
}
