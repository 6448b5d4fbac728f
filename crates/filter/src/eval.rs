//! What a filter says about items: the answer for one item, and the key
//! ranges it can and must match.
//!
//! # Key ranges
//!
//! Each expression gets two sets of keys: `may`, every key for which some
//! flags and value could match, and `must`, every key that matches
//! whatever the flags and value. Key atoms are exact (`may = must`); the
//! other atoms know nothing about keys (`may` = all, `must` = none). Then
//! `and` intersects both sets, `or` unites them, and `not` swaps them and
//! takes complements (`may(not a)` is what `a` need not match). By
//! induction `must ⊆ matching keys ⊆ may` for every flags and value, and
//! for filters of key atoms only, `may = must`, the exact set.

use crate::error::EvalError;
use crate::expr::{Atom, Expr};
use crate::ranges::KeyRanges;
use crate::{Functions, ItemRef};

/// Whether `item` passes `e`. Operands are tried left to right and stop
/// as soon as the answer is known, so a function after a failed `and`
/// operand is not called.
pub(crate) fn matches(
    e: &Expr,
    item: &ItemRef<'_>,
    lua: &mut dyn Functions,
) -> Result<bool, EvalError> {
    match e {
        Expr::Atom(a) => atom(a, item, lua),
        Expr::Not(x) => Ok(!matches(x, item, lua)?),
        Expr::And(xs) => {
            for x in xs {
                if !matches(x, item, lua)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Expr::Or(xs) => {
            for x in xs {
                if matches(x, item, lua)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

fn atom(a: &Atom, item: &ItemRef<'_>, lua: &mut dyn Functions) -> Result<bool, EvalError> {
    Ok(match a {
        Atom::Prefix(p) => item.key.starts_with(p),
        Atom::Range { from, to } => {
            item.key >= from.as_slice() && to.as_ref().is_none_or(|to| item.key < to.as_slice())
        }
        Atom::Flags { mask, value } => item.flags & mask == *value,
        Atom::Json(test) => test.matches(item.value),
        Atom::Lua(name) => lua.call(name, item).map_err(|message| EvalError::new(name, message))?,
    })
}

/// The keys an expression may match (for some flags and value) and must
/// match (for all of them).
pub(crate) struct Bounds {
    pub(crate) may: KeyRanges,
    pub(crate) must: KeyRanges,
}

pub(crate) fn bounds(e: &Expr) -> Bounds {
    match e {
        Expr::Atom(Atom::Prefix(p)) => exact(KeyRanges::prefix(p)),
        Expr::Atom(Atom::Range { from, to }) => exact(KeyRanges::range(from, to.as_deref())),
        Expr::Atom(_) => Bounds { may: KeyRanges::all(), must: KeyRanges::empty() },
        Expr::Not(x) => {
            let b = bounds(x);
            Bounds { may: b.must.complement(), must: b.may.complement() }
        }
        Expr::And(xs) => combine(xs, KeyRanges::intersection),
        Expr::Or(xs) => combine(xs, KeyRanges::union),
    }
}

fn exact(k: KeyRanges) -> Bounds {
    Bounds { may: k.clone(), must: k }
}

/// Folds the operands' bounds with `op` (the parser gives two or more).
fn combine(xs: &[Expr], op: fn(&KeyRanges, &KeyRanges) -> KeyRanges) -> Bounds {
    let mut parts = xs.iter().map(bounds);
    let first = parts.next().unwrap_or_else(|| exact(KeyRanges::all()));
    parts.fold(first, |acc, b| Bounds { may: op(&acc.may, &b.may), must: op(&acc.must, &b.must) })
}
