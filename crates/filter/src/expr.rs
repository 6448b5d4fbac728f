//! The expression tree a filter parses into, and its canonical text.
//!
//! The tree keeps what was written, with two normalizations the parser
//! makes: `and` and `or` are n-ary (`a and (b and c)` is one `And` of three),
//! and parentheses are not nodes. Canonical text ([`fmt::Display`]) puts
//! single spaces between tokens, parentheses only where precedence needs
//! them, numbers in one spelling and bytes bare where that reads back the
//! same, so it never nests deeper or has more atoms than the text it came
//! from.

use std::fmt::{self, Write};

use crate::json::JsonTest;
use crate::text::write_token;

/// A filter expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Expr {
    Atom(Atom),
    Not(Box<Expr>),
    /// Two or more operands, none of them an `And`.
    And(Vec<Expr>),
    /// Two or more operands, none of them an `Or`.
    Or(Vec<Expr>),
}

/// A test on one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Atom {
    /// The key starts with these bytes.
    Prefix(Vec<u8>),
    /// The key is in `[from, to)`; `to` of `None` is unbounded. Never empty.
    Range { from: Vec<u8>, to: Option<Vec<u8>> },
    /// `flags & mask == value`; `value` has no bits outside `mask`.
    Flags { mask: u32, value: u32 },
    /// A test on the JSON value.
    Json(JsonTest),
    /// A named Lua function.
    Lua(String),
}

impl Expr {
    /// Calls `f` on every atom, left to right.
    pub(crate) fn for_each_atom<'a>(&'a self, f: &mut impl FnMut(&'a Atom)) {
        match self {
            Expr::Atom(a) => f(a),
            Expr::Not(x) => x.for_each_atom(f),
            Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| x.for_each_atom(f)),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Atom(a) => write!(f, "{a}"),
            Expr::Not(x) => match **x {
                Expr::And(_) | Expr::Or(_) => write!(f, "not ({x})"),
                _ => write!(f, "not {x}"),
            },
            Expr::And(xs) => {
                for (i, x) in xs.iter().enumerate() {
                    f.write_str(if i == 0 { "" } else { " and " })?;
                    match x {
                        Expr::Or(_) => write!(f, "({x})")?,
                        _ => write!(f, "{x}")?,
                    }
                }
                Ok(())
            }
            Expr::Or(xs) => {
                for (i, x) in xs.iter().enumerate() {
                    write!(f, "{}{x}", if i == 0 { "" } else { " or " })?;
                }
                Ok(())
            }
        }
    }
}

/// Whether a bare range bound could be misread: the lower bound ends at
/// the first `..`, so it may neither contain `..` nor end with `.`; the
/// upper bound is kept free of `..` too, for the reader's sake.
fn bound_needs_quotes(bound: &[u8]) -> bool {
    bound.windows(2).any(|w| w == b"..") || bound.ends_with(b".")
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Prefix(p) => {
                f.write_str("prefix:")?;
                write_token(f, p, |_| true)
            }
            Atom::Range { from, to } => {
                f.write_str("range:")?;
                if !from.is_empty() {
                    write_token(f, from, |t| !bound_needs_quotes(t))?;
                }
                f.write_str("..")?;
                match to {
                    Some(to) => write_token(f, to, |t| !t.windows(2).any(|w| w == b"..")),
                    None => Ok(()),
                }
            }
            Atom::Flags { mask, value } => write!(f, "flags:{mask:#x}={value:#x}"),
            Atom::Json(test) => write!(f, "{test}"),
            Atom::Lua(name) => {
                f.write_str("lua:")?;
                f.write_str(name)
            }
        }
    }
}

/// Writes `e`'s canonical text into a new string.
pub(crate) fn canonical(e: &Expr) -> String {
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = write!(s, "{e}");
    s
}
