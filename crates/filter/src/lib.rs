//! Filter expressions: which items a filtered TAP stream carries.
//!
//! A consumer names the items it wants with one line of text, sent as UTF-8
//! in `TAP_CONNECT`, given to `mammoth tap mirror --filter`, and written the
//! same way in the docs. The producer parses it once into a [`Filter`] and
//! asks it about every item (key, 32-bit flags, value) it would send.
//!
//! # The language
//!
//! ```text
//! expr  := or
//! or    := and ("or" and)*
//! and   := unary ("and" unary)*
//! unary := "not" unary | "(" expr ")" | atom
//! atom  := "prefix:" BYTES
//!        | "range:" [BYTES] ".." [BYTES]
//!        | "flags:" NUM "=" NUM
//!        | "json:" POINTER OP JSONVALUE | "json:" POINTER "exists"
//!        | "lua:" NAME
//! ```
//!
//! `not` binds tightest, then `and`, then `or`. Keywords are lowercase.
//! Whitespace separates tokens where they would otherwise run together and
//! is optional elsewhere: `(prefix:a or prefix:b)and json:/n>=3` is fine.
//! Every atom is followed by whitespace, `)` or the end.
//!
//! | atom | an item passes when |
//! |---|---|
//! | `prefix:user:` | its key starts with `user:` |
//! | `range:a..m` | `a <= key < m` in byte order; either bound may be left out (`range:m..`, `range:..m`) |
//! | `flags:0xf0=0x10` | `flags & 0xf0 == 0x10` (numbers decimal or `0x` hex) |
//! | `json:/reading > 20` | its value is JSON and the number at `/reading` is above 20 |
//! | `json:/tags/0 exists` | its value is JSON with something at `/tags/0` |
//! | `lua:recent` | the Lua function `recent` says so |
//!
//! **Bytes** (prefixes and range bounds) are a bare token, any bytes up to
//! whitespace, a parenthesis or a `"` (a range's lower bound also stops at
//! the first `..`), or a double-quoted string with the escapes `\"`, `\\`,
//! `\n`, `\t` and `\xHH`, which can spell any key.
//!
//! **JSON pointers** follow RFC 6901 (`/a/0/b`, `~1` for `/`, `~0` for `~`,
//! `""` for the whole value), bare up to whitespace, a parenthesis, a `"`
//! or one of `=!<>`, or quoted like bytes. The literal after a comparison
//! is a JSON number, string (JSON escapes), `true`, `false` or `null`:
//!
//! * `exists`: the target is there, whatever its type (`null` too).
//! * `=`: JSON equality. Numbers compare by value (`1 = 1.0`, `100 = 1e2`,
//!   `-0 = 0`), strings after unescaping; an object or array never equals
//!   a literal.
//! * `!=`: the target exists and is not `=` the literal, so a string is
//!   `!=` every number and a missing target is neither `=` nor `!=`.
//! * `<`, `<=`, `>`, `>=`: numbers by value, strings by their unescaped
//!   bytes; only a number or string literal may follow, and a target of the
//!   other type fails all four.
//! * Numbers compare exactly as integers when both are written without
//!   fraction or exponent and fit in an `i64`, as `f64` otherwise.
//! * A value that is not JSON, or lacks the target, fails every test.
//!   The value is read only up to the end of the target, so JSON that is
//!   broken after it can still pass; among duplicate member names the
//!   first counts.
//!
//! **Lua functions** are named by identifiers joined by dots (`check`,
//! `lib.check`); the caller runs them through [`Functions`].
//!
//! **Limits**: at most [`MAX_LEN`] bytes of text, [`MAX_DEPTH`] nested
//! `not`s and parentheses, [`MAX_ATOMS`] atoms. Past them, and for
//! anything else that is not a filter, [`Filter::parse`] returns a
//! [`ParseError`] with the byte offset and what was expected there.
//!
//! # Canonical text
//!
//! [`Filter::text`] (also `Display`) writes a filter in one spelling:
//! single spaces, parentheses only where needed, `and`/`or` chains
//! flattened, flags in hex, bytes bare when that reads back the same and
//! quoted (ASCII only) otherwise. Parsing it gives the same filter back,
//! and two filters are the same filter exactly when their canonical texts
//! are equal (that is what `==` and `Hash` compare).
//!
//! # Key ranges
//!
//! [`Filter::key_ranges`] is a [`KeyRanges`] that holds every key the
//! filter can match for some flags and value, so a backfill can walk just
//! those keys; [`Filter::decides_by_key`] answers from the key alone when
//! the key settles it.
//!
//! Both come from two bounds computed once per filter: every expression
//! *may* match the keys in `may` and *must* match the keys in `must`.
//! `prefix:` and `range:` atoms give their exact range for both, other
//! atoms all keys and no key; `and` intersects both bounds, `or` unites
//! them, and `not a` may match what `a` need not (the complement of
//! `must(a)`) and must match what `a` cannot (the complement of `may(a)`).
//! For filters of key atoms only, the two bounds are equal and exact.
//!
//! # Design
//!
//! | module | job |
//! |---|---|
//! | `parse` | bytes to an expression tree: recursive descent, limits checked before the work they bound |
//! | `expr` | the tree and its canonical text |
//! | `text` | bare and quoted byte strings |
//! | `json` | pointers, literals and the lazy scanner that answers `json:` atoms |
//! | `eval` | one item's answer; the `may`/`must` key bounds |
//! | `ranges` | [`KeyRanges`] and its set operations |
//! | `error` | [`ParseError`], [`EvalError`] |
//!
//! Evaluating is a walk over the tree with short-circuit `and`/`or`, left
//! to right. `json:` atoms build no document: the scanner follows the
//! pointer through the value's bytes, skips what is off the path without
//! recursion and stops at the target, so a `json:/reading > 20` on a small
//! sensor reading takes tens of nanoseconds and allocates nothing
//! (see *Measured*).
//!
//! # Measured
//!
//! `cargo bench -p mammoth-filter --bench json`, one evaluation through
//! [`Filter::matches`] on the reading in the example below (one core of a
//! shared 2-core machine), against `serde_json` parsing the value into a
//! `Value` (with the workspace's `preserve_order` and `float_roundtrip`)
//! and following the pointer:
//!
//! | filter | lazy | `serde_json` |
//! |---|---|---|
//! | `json:/reading > 20` (the last member) | 50 ns | 440 ns |
//! | `json:/ts < "2024-02"` (the first member) | 23 ns | 470 ns |
//! | `json:/serial = "28-0000055ab2e1"` | 32 ns | 450 ns |
//! | `json:/humidity exists` (missing: the whole value is read) | 46 ns | 480 ns |
//! | `json:/reading > 20`, pretty-printed, nested members before it | 196 ns | 1.4 µs |
//!
//! # Example
//!
//! ```
//! use filter::{Filter, ItemRef, NoFunctions};
//!
//! let f = Filter::parse("prefix:sensor: and (json:/reading>20 or flags:0x1=1)")?;
//! assert_eq!(f.text(), "prefix:sensor: and (json:/reading > 20 or flags:0x1=0x1)");
//! assert_eq!(Filter::parse(f.text())?, f);
//!
//! let reading = br#"{"ts":"2024-01-05T10:00:00Z","serial":"28-0000055ab2e1","reading":21.5}"#;
//! let item = ItemRef { key: b"sensor:28-0000055ab2e1", flags: 0, value: reading };
//! assert!(f.matches(&item, &mut NoFunctions)?);
//! let cold = ItemRef { value: br#"{"reading":-3}"#, ..item };
//! assert!(!f.matches(&cold, &mut NoFunctions)?);
//!
//! // Only keys under "sensor:" can match; other keys are decided unread.
//! assert_eq!(f.key_ranges().iter().collect::<Vec<_>>(), [(&b"sensor:"[..], Some(&b"sensor;"[..]))]);
//! assert_eq!(f.decides_by_key(b"user:1"), Some(false));
//! assert_eq!(f.decides_by_key(b"sensor:1"), None);
//! assert!(f.needs_value());
//!
//! let err = Filter::parse("prefix:a prefix:b").unwrap_err();
//! assert_eq!(err.offset(), 9);
//! assert_eq!(err.to_string(), r#"filter: at byte 9: expected "and", "or" or the end, found "prefix:b""#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod error;
mod eval;
mod expr;
mod json;
mod parse;
mod ranges;
mod text;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

pub use error::{ErrorKind, EvalError, Expected, Found, ParseError};
pub use ranges::{Iter, KeyRanges};

use expr::{Atom, Expr};

/// The longest filter text, in bytes.
pub const MAX_LEN: usize = 4096;
/// The most `not`s and open parentheses that may enclose any point of a
/// filter.
pub const MAX_DEPTH: usize = 32;
/// The most atoms in a filter.
pub const MAX_ATOMS: usize = 64;

/// A parsed filter expression.
///
/// Equality and hashing compare the canonical text, so they mean "the
/// same filter".
#[derive(Clone)]
pub struct Filter {
    expr: Expr,
    text: Box<str>,
    may: KeyRanges,
    must: KeyRanges,
    needs_value: bool,
}

impl Filter {
    /// Parses filter text: bytes (as they come off the wire) or a `&str`.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] when the text is not a filter or is over a limit.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(text: &T) -> Result<Filter, ParseError> {
        Filter::from_expr(parse::parse(text.as_ref())?)
    }

    /// The filter `prefix:P`, for any bytes `P`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CanonicalTooLong`] when the prefix, written out, is
    /// longer than [`MAX_LEN`].
    pub fn prefix(prefix: &[u8]) -> Result<Filter, ParseError> {
        Filter::from_expr(Expr::Atom(Atom::Prefix(prefix.to_vec())))
    }

    /// The filter selecting what both `self` and `other` select.
    ///
    /// # Errors
    ///
    /// When the two together are over a limit ([`MAX_LEN`], [`MAX_DEPTH`],
    /// [`MAX_ATOMS`]), as the same text written by hand would be.
    pub fn and(&self, other: &Filter) -> Result<Filter, ParseError> {
        let operands = |e: &Expr| match e {
            Expr::And(xs) => xs.clone(),
            other => vec![other.clone()],
        };
        let mut both = operands(&self.expr);
        both.extend(operands(&other.expr));
        let joined = Filter::from_expr(Expr::And(both))?;
        // The limits are the parser's: reading the canonical text back
        // checks them, and keeps `parse(text(f)) == f`.
        Filter::parse(joined.text())
    }

    fn from_expr(expr: Expr) -> Result<Filter, ParseError> {
        let canonical = expr::canonical(&expr);
        if canonical.len() > MAX_LEN {
            return Err(ParseError::new(0, ErrorKind::CanonicalTooLong { len: canonical.len() }));
        }
        let eval::Bounds { may, must } = eval::bounds(&expr);
        let mut needs_value = false;
        expr.for_each_atom(&mut |a| needs_value |= matches!(a, Atom::Json(_) | Atom::Lua(_)));
        Ok(Filter { expr, text: canonical.into(), may, must, needs_value })
    }

    /// The canonical text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every key that can match for some flags and value (a superset; the
    /// exact set when the filter has only `prefix:` and `range:` atoms).
    pub fn key_ranges(&self) -> &KeyRanges {
        &self.may
    }

    /// The answer for every item with this key, when the key alone settles
    /// it: `Some(true)` when the key matches whatever the flags and value,
    /// `Some(false)` when it matches for none, `None` when they matter.
    /// Always `Some` for filters with only `prefix:` and `range:` atoms.
    pub fn decides_by_key(&self, key: &[u8]) -> Option<bool> {
        if self.must.contains(key) {
            Some(true)
        } else if !self.may.contains(key) {
            Some(false)
        } else {
            None
        }
    }

    /// Whether the filter looks at values (it has a `json:` or `lua:` atom).
    pub fn needs_value(&self) -> bool {
        self.needs_value
    }

    /// The Lua functions the filter calls, each once, in order of first
    /// use, so a server can check they exist before it accepts the filter.
    pub fn lua_functions(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        self.expr.for_each_atom(&mut |a| {
            if let Atom::Lua(name) = a
                && !names.contains(&name.as_str())
            {
                names.push(name);
            }
        });
        names
    }

    /// Whether `item` passes. `lua` runs the `lua:` atoms; pass
    /// [`NoFunctions`] for filters without them.
    ///
    /// Operands are evaluated left to right and stop once the answer is
    /// known, so write cheap atoms first.
    ///
    /// # Errors
    ///
    /// An [`EvalError`] when a Lua function that had to run failed.
    pub fn matches(&self, item: &ItemRef<'_>, lua: &mut dyn Functions) -> Result<bool, EvalError> {
        eval::matches(&self.expr, item, lua)
    }
}

impl PartialEq for Filter {
    fn eq(&self, other: &Filter) -> bool {
        self.text == other.text
    }
}

impl Eq for Filter {}

impl Hash for Filter {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Filter").field(&self.text).finish()
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Filter {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Filter, ParseError> {
        Filter::parse(s)
    }
}

/// An item as a filter sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemRef<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The item's 32-bit client flags.
    pub flags: u32,
    /// The value.
    pub value: &'a [u8],
}

/// Runs the Lua functions `lua:` atoms name.
///
/// Closures `FnMut(&str, &ItemRef) -> Result<bool, String>` implement it.
pub trait Functions {
    /// Calls the function `name` on `item`.
    ///
    /// # Errors
    ///
    /// A message when the function does not exist or failed; the filter
    /// returns it as an [`EvalError`].
    fn call(&mut self, name: &str, item: &ItemRef<'_>) -> Result<bool, String>;
}

impl<F> Functions for F
where
    F: FnMut(&str, &ItemRef<'_>) -> Result<bool, String>,
{
    fn call(&mut self, name: &str, item: &ItemRef<'_>) -> Result<bool, String> {
        self(name, item)
    }
}

/// [`Functions`] for filters without `lua:` atoms: every call fails.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFunctions;

impl Functions for NoFunctions {
    fn call(&mut self, _name: &str, _item: &ItemRef<'_>) -> Result<bool, String> {
        Err("no Lua functions are available here".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item<'a>(key: &'a [u8], flags: u32, value: &'a [u8]) -> ItemRef<'a> {
        ItemRef { key, flags, value }
    }

    #[test]
    fn same_filter_same_text() {
        let a = Filter::parse("prefix:a and (prefix:b and prefix:c)").unwrap();
        let b: Filter = "(prefix:a  and prefix:b)and prefix:c".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(format!("{a:?}"), r#"Filter("prefix:a and prefix:b and prefix:c")"#);
        assert_ne!(a, Filter::parse("prefix:a and prefix:c and prefix:b").unwrap());
    }

    #[test]
    fn key_decisions() {
        let f =
            Filter::parse("prefix:a and not range:ab..ac or prefix:z and json:/x exists").unwrap();
        assert_eq!(f.decides_by_key(b"aa"), Some(true));
        assert_eq!(f.decides_by_key(b"abz"), Some(false));
        assert_eq!(f.decides_by_key(b"b"), Some(false));
        assert_eq!(f.decides_by_key(b"z1"), None);
        let k: Vec<_> = f.key_ranges().iter().collect();
        assert_eq!(
            k,
            [
                (&b"a"[..], Some(&b"ab"[..])),
                (&b"ac"[..], Some(&b"b"[..])),
                (&b"z"[..], Some(&b"{"[..]))
            ]
        );
        let none = Filter::parse("not flags:0=0").unwrap();
        assert!(none.key_ranges().is_all());
        assert_eq!(none.decides_by_key(b"x"), None);
        let all = Filter::parse("prefix:a or not prefix:a").unwrap();
        assert_eq!(all.decides_by_key(b"q"), Some(true));
    }

    #[test]
    fn lua_functions_in_order_once() {
        let f = Filter::parse("lua:b or (lua:a and not lua:b) or lua:x.y").unwrap();
        assert_eq!(f.lua_functions(), ["b", "a", "x.y"]);
        assert!(f.needs_value());
        assert!(!Filter::parse("prefix:a or flags:1=1").unwrap().needs_value());
        let mut calls = Vec::new();
        let mut lua = |name: &str, it: &ItemRef<'_>| {
            calls.push(name.to_owned());
            Ok(it.key == b"yes")
        };
        assert!(f.matches(&item(b"yes", 0, b""), &mut lua).unwrap());
        assert!(!f.matches(&item(b"no", 0, b""), &mut lua).unwrap());
        assert_eq!(calls, ["b", "b", "a", "x.y"]);
        let e = f.matches(&item(b"k", 0, b""), &mut NoFunctions).unwrap_err();
        assert_eq!(e.to_string(), "filter: lua:b: no Lua functions are available here");
        assert_eq!(e.function(), "b");
    }

    #[test]
    fn short_circuit_skips_functions() {
        let f = Filter::parse("prefix:k and lua:f").unwrap();
        assert!(!f.matches(&item(b"x", 0, b""), &mut NoFunctions).unwrap());
        assert!(f.matches(&item(b"k", 0, b""), &mut NoFunctions).is_err());
    }

    #[test]
    fn flags_and_ranges() {
        let f = Filter::parse("flags:0xf0=0x10 and range:b..d").unwrap();
        assert!(f.matches(&item(b"c", 0x1f, b""), &mut NoFunctions).unwrap());
        assert!(!f.matches(&item(b"c", 0x2f, b""), &mut NoFunctions).unwrap());
        assert!(!f.matches(&item(b"d", 0x1f, b""), &mut NoFunctions).unwrap());
        assert!(f.matches(&item(b"b", 0x10, b""), &mut NoFunctions).unwrap());
    }

    #[test]
    fn canonical_length_limit() {
        // Raw high bytes are one byte each here and four in canonical text.
        let mut text = b"prefix:".to_vec();
        text.extend(std::iter::repeat_n(0xe9, 1500));
        let e = Filter::parse(&text).unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::CanonicalTooLong { len: 7 + 2 + 6000 });
        text.truncate(7 + 1000);
        let f = Filter::parse(&text).unwrap();
        assert_eq!(Filter::parse(f.text()).unwrap(), f);
    }
}
