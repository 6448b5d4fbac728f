//! The crate's two errors: [`ParseError`] for filter text that is not a
//! filter, [`EvalError`] for a Lua function that failed while a filter was
//! evaluated.
//!
//! `Display` is one line that starts with `filter:` and names the problem
//! once, for example `filter: at byte 7: expected "..", found "x"`.

use std::fmt;

use crate::text::Quoted;
use crate::{MAX_ATOMS, MAX_DEPTH, MAX_LEN};

/// Filter text that does not parse, with the byte offset where it went
/// wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    offset: usize,
    kind: ErrorKind,
}

/// What went wrong in a [`ParseError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The grammar needed one thing and the text had another.
    Unexpected {
        /// What the grammar needed here.
        expected: Expected,
        /// What the text has here.
        found: Found,
    },
    /// The text is longer than [`MAX_LEN`] bytes.
    TooLong {
        /// The text's length in bytes.
        len: usize,
    },
    /// More than [`MAX_DEPTH`] `not`s and open parentheses enclose one
    /// place in the expression.
    TooDeep,
    /// The expression has more than [`MAX_ATOMS`] atoms.
    TooManyAtoms,
    /// The filter's canonical text would be longer than [`MAX_LEN`] bytes
    /// (escapes can make it longer than the text given), so it could not be
    /// parsed back.
    CanonicalTooLong {
        /// The canonical text's length in bytes.
        len: usize,
    },
}

/// What the grammar needed where a [`ParseError`] happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expected {
    /// One fixed piece of syntax, such as `..` or `)`.
    Token(&'static str),
    /// One of several fixed pieces of syntax.
    AnyOf(&'static [&'static str]),
    /// `and`, `or` or the end of the text.
    OperatorOrEnd,
    /// An expression: an atom (`prefix:`, `range:`, `flags:`, `json:`,
    /// `lua:`), `not` or `(`.
    Expression,
    /// Whitespace, `)` or the end, which must follow every atom.
    Separator,
    /// A byte string: a bare token or a quoted string.
    Bytes,
    /// One of the escapes of quoted byte strings: `\"`, `\\`, `\xHH`, `\n`,
    /// `\t`.
    Escape,
    /// A range's upper bound that is above its lower bound (an empty range
    /// would match nothing).
    UpperBound,
    /// A 32-bit number, decimal or `0x` hexadecimal.
    Number,
    /// A flags value with no bits outside the mask (it could never match).
    ValueInMask,
    /// An RFC 6901 JSON pointer: empty or starting with `/`, `~` only as
    /// `~0` or `~1`, UTF-8.
    Pointer,
    /// `exists` or a comparison: `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Comparison,
    /// A JSON literal: a number, a string, `true`, `false` or `null`.
    JsonValue,
    /// A number or a string, the only literals that `<`, `<=`, `>` and
    /// `>=` compare.
    Orderable,
    /// A JSON string escape: `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`
    /// or `\uXXXX` (surrogates only in pairs); control characters must be
    /// escaped.
    JsonEscape,
    /// A JSON string whose bytes are UTF-8.
    Utf8,
    /// A number that fits in a 64-bit float (`1e400` does not).
    FiniteNumber,
    /// A Lua function name: identifiers (`[A-Za-z_][A-Za-z0-9_]*`) joined
    /// by dots, such as `check` or `sensors.recent`.
    FunctionName,
}

/// What a [`ParseError`] found instead of what it expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// The end of the text.
    End,
    /// The bytes at the error's offset (a short excerpt).
    Bytes(Vec<u8>),
}

impl ParseError {
    pub(crate) fn new(offset: usize, kind: ErrorKind) -> ParseError {
        ParseError { offset, kind }
    }

    /// The byte offset in the text where the problem is.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What the problem is.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "filter: at byte {}: ", self.offset)?;
        match &self.kind {
            ErrorKind::Unexpected { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            ErrorKind::TooLong { len } => {
                write!(f, "the text is {len} bytes, more than the limit of {MAX_LEN}")
            }
            ErrorKind::TooDeep => {
                write!(f, "more than {MAX_DEPTH} nested `not`s and parentheses")
            }
            ErrorKind::TooManyAtoms => write!(f, "more than {MAX_ATOMS} atoms"),
            ErrorKind::CanonicalTooLong { len } => write!(
                f,
                "the canonical text would be {len} bytes, more than the limit of {MAX_LEN}"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Token(t) => write!(f, "{t:?}"),
            Expected::AnyOf(ts) => {
                for (i, t) in ts.iter().enumerate() {
                    let sep = match i {
                        0 => "",
                        _ if i + 1 == ts.len() => " or ",
                        _ => ", ",
                    };
                    write!(f, "{sep}{t:?}")?;
                }
                Ok(())
            }
            Expected::OperatorOrEnd => f.write_str("\"and\", \"or\" or the end"),
            Expected::Expression => {
                f.write_str("an expression (prefix:, range:, flags:, json:, lua:, not or a \"(\")")
            }
            Expected::Separator => f.write_str("whitespace, \")\" or the end after an atom"),
            Expected::Bytes => f.write_str("bytes (a bare token or a quoted string)"),
            Expected::Escape => f.write_str(r#"an escape (\" \\ \xHH \n \t)"#),
            Expected::UpperBound => f.write_str("an upper bound above the lower bound"),
            Expected::Number => f.write_str("a 32-bit number (decimal or 0x hex)"),
            Expected::ValueInMask => f.write_str("a value with no bits outside the mask"),
            Expected::Pointer => {
                f.write_str("a JSON pointer (empty or starting with \"/\", ~ only as ~0 or ~1)")
            }
            Expected::Comparison => f.write_str("exists, =, !=, <, <=, > or >="),
            Expected::JsonValue => {
                f.write_str("a JSON value (a number, a string, true, false or null)")
            }
            Expected::Orderable => f.write_str("a number or a string to order by"),
            Expected::JsonEscape => {
                f.write_str(r#"a JSON escape (\" \\ \/ \b \f \n \r \t \uXXXX)"#)
            }
            Expected::Utf8 => f.write_str("a UTF-8 string"),
            Expected::FiniteNumber => f.write_str("a number within the range of a 64-bit float"),
            Expected::FunctionName => {
                f.write_str("a Lua function name (identifiers joined by dots)")
            }
        }
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::End => f.write_str("the end"),
            Found::Bytes(b) => write!(f, "{}", Quoted(b)),
        }
    }
}

/// A Lua function named by a `lua:` atom failed, so the filter has no
/// answer for the item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError {
    function: String,
    message: String,
}

impl EvalError {
    pub(crate) fn new(function: &str, message: String) -> EvalError {
        EvalError { function: function.to_owned(), message }
    }

    /// The name of the function that failed.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// What the function reported.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "filter: lua:{}: {}", self.function, self.message)
    }
}

impl std::error::Error for EvalError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_naming_the_problem_once() {
        let e = ParseError::new(
            7,
            ErrorKind::Unexpected {
                expected: Expected::Token(".."),
                found: Found::Bytes(b"x".to_vec()),
            },
        );
        assert_eq!(e.to_string(), r#"filter: at byte 7: expected "..", found "x""#);
        let e = ParseError::new(
            3,
            ErrorKind::Unexpected {
                expected: Expected::AnyOf(&["and", "or", ")"]),
                found: Found::End,
            },
        );
        assert_eq!(
            e.to_string(),
            r#"filter: at byte 3: expected "and", "or" or ")", found the end"#
        );
        let e = ParseError::new(0, ErrorKind::TooLong { len: 5000 });
        assert_eq!(
            e.to_string(),
            "filter: at byte 0: the text is 5000 bytes, more than the limit of 4096"
        );
        let e = EvalError::new("lib.check", "attempt to index a nil value".into());
        assert_eq!(e.to_string(), "filter: lua:lib.check: attempt to index a nil value");
    }
}
