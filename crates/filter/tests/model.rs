//! A model of the filter language, written apart from the crate: its own
//! expression tree, a printer that spells every filter in many ways (bare
//! or quoted bytes, escapes, whitespace, spare parentheses, decimal or hex),
//! and an evaluator whose `json:` atoms go through `serde_json`.

use filter::ItemRef;
use proptest::prelude::*;
use serde_json::Value;
use std::cmp::Ordering;

/// A small deterministic generator for the printer's choices (the seed
/// comes from proptest, so failures shrink and replay).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn coin(&mut self) -> bool {
        self.below(2) == 0
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Expr {
    Atom(Atom),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

#[derive(Clone, Debug)]
pub(crate) enum Atom {
    Prefix(Vec<u8>),
    Range(Vec<u8>, Option<Vec<u8>>),
    Flags(u32, u32),
    Json(String, Check),
    Lua(&'static str),
}

#[derive(Clone, Debug)]
pub(crate) enum Check {
    Exists,
    Compare(&'static str, Lit),
}

/// A JSON literal: numbers keep the spelling they were generated with.
#[derive(Clone, Debug)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
}

impl Lit {
    pub(crate) fn value(&self) -> Value {
        match self {
            Lit::Null => Value::Null,
            Lit::Bool(b) => Value::Bool(*b),
            Lit::Num(t) => serde_json::from_str(t).expect("generated numbers are JSON"),
            Lit::Str(s) => Value::String(s.clone()),
        }
    }
}

impl Expr {
    pub(crate) fn atoms(&self) -> usize {
        match self {
            Expr::Atom(_) => 1,
            Expr::Not(x) => x.atoms(),
            Expr::And(xs) | Expr::Or(xs) => xs.iter().map(Expr::atoms).sum(),
        }
    }
}

// ---- strategies -----------------------------------------------------------

/// Key bytes: few symbols, so prefixes and bounds often meet the keys, and
/// among them every byte that quoting and bare tokens treat specially.
pub(crate) const KEY_BYTES: &[u8] = b"ab.\x00\xff \"\\(=";

pub(crate) fn key(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(KEY_BYTES), 0..=max)
}

pub(crate) const POINTERS: &[&str] =
    &["", "/a", "/b", "/a/b", "/a/0", "/0", "/a~1b", "/~0", "/é", "/a b", "/x=y", "/a/1"];

pub(crate) fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (-20i64..20).prop_map(|i| i.to_string()),
        prop::sample::select(vec![
            "-0",
            "0.0",
            "-0.0",
            "1.0",
            "1e2",
            "1E+2",
            "1e-2",
            "2.5",
            "-2.5",
            "0.5e1",
            "100",
            "1e0",
            "12345678901234567890",
            "9007199254740993",
            "9007199254740992",
            "-9223372036854775808",
            "9223372036854775807",
            "9223372036854775808",
            "123456789012345678901234567890",
            "1.7976931348623157e308",
            "5e-324",
            "0.1",
            "21.5",
            "20",
        ])
        .prop_map(str::to_owned),
        (any::<bool>(), 0u32..1000, prop::option::of(0u32..1000), prop::option::of(-30i32..30))
            .prop_map(|(neg, int, frac, exp)| {
                let mut s = String::new();
                if neg {
                    s.push('-');
                }
                s += &int.to_string();
                if let Some(f) = frac {
                    s.push('.');
                    s += &f.to_string();
                }
                if let Some(e) = exp {
                    s.push('e');
                    s += &e.to_string();
                }
                s
            }),
    ]
}

pub(crate) const CHARS: &[char] =
    &['a', 'b', 'é', '😀', '"', '\\', '\n', '\u{1}', '/', '~', ' ', '\u{7f}', '\u{ffff}', '0'];

pub(crate) fn string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(CHARS), 0..=max)
        .prop_map(|cs| cs.into_iter().collect())
}

pub(crate) fn literal() -> impl Strategy<Value = Lit> {
    prop_oneof![
        Just(Lit::Null),
        any::<bool>().prop_map(Lit::Bool),
        number_text().prop_map(Lit::Num),
        string(3).prop_map(Lit::Str),
    ]
}

const OPS: &[&str] = &["=", "!=", "<", "<=", ">", ">="];

pub(crate) fn check() -> impl Strategy<Value = Check> {
    prop_oneof![
        1 => Just(Check::Exists),
        4 => (prop::sample::select(OPS), literal()).prop_map(|(op, lit)| match (op, &lit) {
            // Ordering needs a number or a string.
            ("=" | "!=", _) | (_, Lit::Num(_) | Lit::Str(_)) => Check::Compare(op, lit),
            _ => Check::Compare(op, Lit::Num("1".into())),
        }),
    ]
}

fn range(a: Vec<u8>, b: Vec<u8>, open: bool) -> Atom {
    match a.cmp(&b) {
        _ if open => Atom::Range(a, None),
        Ordering::Equal => Atom::Range(a, None),
        Ordering::Less => Atom::Range(a, Some(b)),
        Ordering::Greater => Atom::Range(b, Some(a)),
    }
}

pub(crate) fn key_atom() -> impl Strategy<Value = Atom> {
    prop_oneof![
        key(2).prop_map(Atom::Prefix),
        (key(2), key(2), prop::bool::weighted(0.2)).prop_map(|(a, b, open)| range(a, b, open)),
    ]
}

pub(crate) fn atom() -> impl Strategy<Value = Atom> {
    let masks = prop::sample::select(vec![0u32, 1, 3, 0xf0, 0xffff_ffff, 0x8000_0001]);
    prop_oneof![
        3 => key_atom(),
        1 => (masks, any::<u32>()).prop_map(|(m, v)| Atom::Flags(m, v & m)),
        2 => (prop::sample::select(POINTERS), check()).prop_map(|(p, c)| Atom::Json(p.into(), c)),
        1 => prop::sample::select(vec!["f", "g", "lib.h"]).prop_map(Atom::Lua),
    ]
}

fn tree(leaf: impl Strategy<Value = Atom> + 'static) -> impl Strategy<Value = Expr> {
    leaf.prop_map(Expr::Atom)
        .prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|x| Expr::Not(Box::new(x))),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
                prop::collection::vec(inner, 2..4).prop_map(Expr::Or),
            ]
        })
        .prop_filter("at most 64 atoms", |e| e.atoms() <= filter::MAX_ATOMS)
}

/// Filters with every kind of atom.
pub(crate) fn expr() -> impl Strategy<Value = Expr> {
    tree(atom())
}

/// Filters of `prefix:` and `range:` atoms only.
pub(crate) fn key_expr() -> impl Strategy<Value = Expr> {
    tree(key_atom())
}

/// Items: keys over [`KEY_BYTES`], a few flags, values that are JSON (or
/// not) with and without the pointers' targets.
pub(crate) fn item() -> impl Strategy<Value = (Vec<u8>, u32, Vec<u8>)> {
    let flags =
        prop_oneof![prop::sample::select(vec![0u32, 1, 2, 3, 0x10, 0xf1, u32::MAX]), any::<u32>()];
    let values = prop::sample::select(vec![
        r#"{"a": 1, "b": "x"}"#,
        r#"{"a": {"b": 2, "0": null, "1": 2.5}, "x=y": "é"}"#,
        r#"{"a": [true, -0, "x"], "a/b": 1e2, "~": "\u00e9", "é": 20, "a b": []}"#,
        r#"[1, "x", true]"#,
        r#""x""#,
        "21.5",
        "null",
        "",
        "not json",
        // Broken before the targets (the scanner does not read past them,
        // so JSON broken only after one is not in this model's reach).
        r#"{"b": tru, "a": 1}"#,
        r#"{"x": [1, "a": 1}"#,
        r#"{"a": "\ud800"}"#,
    ]);
    (key(3), flags, values.prop_map(|v| v.as_bytes().to_vec()))
}

// ---- printing -------------------------------------------------------------

fn ws(rng: &mut Rng, out: &mut Vec<u8>) {
    out.extend_from_slice(rng.pick(&[" ", " ", "  ", "\n", "\t", " \r\n "]).as_bytes());
}

fn maybe_ws(rng: &mut Rng, out: &mut Vec<u8>) {
    if rng.coin() {
        ws(rng, out);
    }
}

/// Writes `e` as filter text, spelled at random.
pub(crate) fn print(e: &Expr, rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    maybe_ws(rng, &mut out);
    expr_text(e, rng, &mut out);
    maybe_ws(rng, &mut out);
    out
}

fn expr_text(e: &Expr, rng: &mut Rng, out: &mut Vec<u8>) {
    match e {
        Expr::Atom(a) => atom_text(a, rng, out),
        Expr::Not(x) => {
            out.extend_from_slice(b"not");
            let compound = matches!(**x, Expr::And(_) | Expr::Or(_));
            if compound || rng.below(4) == 0 {
                maybe_ws(rng, out);
                paren(x, rng, out);
            } else {
                ws(rng, out);
                expr_text(x, rng, out);
            }
        }
        Expr::And(xs) | Expr::Or(xs) => {
            let (word, needs_parens): (&[u8], fn(&Expr) -> bool) = match e {
                Expr::And(_) => (b"and", |x| matches!(x, Expr::Or(_))),
                _ => (b"or", |_| false),
            };
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    if !(out.ends_with(b")") && rng.coin()) {
                        ws(rng, out);
                    }
                    out.extend_from_slice(word);
                    ws(rng, out);
                }
                // Nested and/or of the same kind read the same without
                // parentheses; of the other kind, `or` in `and` needs them.
                if needs_parens(x) || rng.below(6) == 0 {
                    paren(x, rng, out);
                } else {
                    expr_text(x, rng, out);
                }
            }
        }
    }
}

fn paren(e: &Expr, rng: &mut Rng, out: &mut Vec<u8>) {
    out.push(b'(');
    maybe_ws(rng, out);
    expr_text(e, rng, out);
    maybe_ws(rng, out);
    out.push(b')');
}

fn bare_byte(b: u8) -> bool {
    !b.is_ascii_whitespace() && !matches!(b, b'(' | b')' | b'"')
}

/// Writes bytes bare (when `bare_ok` and a coin say so) or quoted with
/// random escapes.
pub(crate) fn bytes_text(b: &[u8], bare_ok: bool, rng: &mut Rng, out: &mut Vec<u8>) {
    if bare_ok && !b.is_empty() && b.iter().all(|&c| bare_byte(c)) && rng.coin() {
        out.extend_from_slice(b);
        return;
    }
    out.push(b'"');
    for &c in b {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ if rng.below(4) == 0 => {
                let hex = if rng.coin() { format!("\\x{c:02x}") } else { format!("\\x{c:02X}") };
                out.extend_from_slice(hex.as_bytes());
            }
            b'\n' if rng.coin() => out.extend_from_slice(b"\\n"),
            b'\t' if rng.coin() => out.extend_from_slice(b"\\t"),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// Writes a JSON string with random (valid) escapes.
pub(crate) fn json_string(s: &str, rng: &mut Rng, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '/' if rng.coin() => Some("\\/"),
            _ => None,
        };
        match short {
            Some(e) if rng.below(3) != 0 || matches!(c, '"' | '\\') => {
                out.extend_from_slice(e.as_bytes());
            }
            _ if (c as u32) < 0x20 || rng.below(4) == 0 => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let hex =
                        if rng.coin() { format!("\\u{u:04x}") } else { format!("\\u{u:04X}") };
                    out.extend_from_slice(hex.as_bytes());
                }
            }
            _ => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out.push(b'"');
}

fn number(n: u32, rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => n.to_string(),
        1 => format!("{n:#x}"),
        _ => format!("0x{n:X}"),
    }
}

fn atom_text(a: &Atom, rng: &mut Rng, out: &mut Vec<u8>) {
    match a {
        Atom::Prefix(p) => {
            out.extend_from_slice(b"prefix:");
            bytes_text(p, true, rng, out);
        }
        Atom::Range(from, to) => {
            out.extend_from_slice(b"range:");
            // A bare lower bound ends at the first `..`.
            let from_bare = !from.windows(2).any(|w| w == b"..") && !from.ends_with(b".");
            if !(from.is_empty() && rng.coin()) {
                bytes_text(from, from_bare, rng, out);
            }
            out.extend_from_slice(b"..");
            if let Some(to) = to {
                bytes_text(to, true, rng, out);
            } else if rng.below(4) == 0 {
                out.extend_from_slice(b"\"\"");
            }
        }
        Atom::Flags(mask, value) => {
            out.extend_from_slice(b"flags:");
            out.extend_from_slice(number(*mask, rng).as_bytes());
            maybe_ws(rng, out);
            out.push(b'=');
            maybe_ws(rng, out);
            out.extend_from_slice(number(*value, rng).as_bytes());
        }
        Atom::Json(pointer, check) => {
            out.extend_from_slice(b"json:");
            let p = pointer.as_bytes();
            let bare_ok = !p.iter().any(|b| b"=!<>".contains(b));
            let quoted = !(bare_ok && p.iter().all(|&c| bare_byte(c)) && rng.coin());
            if quoted {
                bytes_text(p, false, rng, out);
            } else {
                out.extend_from_slice(p);
            }
            match check {
                Check::Exists => {
                    if quoted {
                        maybe_ws(rng, out);
                    } else {
                        ws(rng, out);
                    }
                    out.extend_from_slice(b"exists");
                }
                Check::Compare(op, lit) => {
                    maybe_ws(rng, out);
                    out.extend_from_slice(op.as_bytes());
                    maybe_ws(rng, out);
                    lit_text(lit, rng, out);
                }
            }
        }
        Atom::Lua(name) => {
            out.extend_from_slice(b"lua:");
            out.extend_from_slice(name.as_bytes());
        }
    }
}

pub(crate) fn lit_text(lit: &Lit, rng: &mut Rng, out: &mut Vec<u8>) {
    match lit {
        Lit::Null => out.extend_from_slice(b"null"),
        Lit::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Lit::Num(t) => out.extend_from_slice(t.as_bytes()),
        Lit::Str(s) => json_string(s, rng, out),
    }
}

// ---- evaluation -----------------------------------------------------------

/// The Lua functions the tests use.
pub(crate) fn lua(name: &str, item: &ItemRef<'_>) -> Result<bool, String> {
    match name {
        "f" => Ok(item.key.len().is_multiple_of(2)),
        "g" => Ok(item.flags & 1 == 1),
        "lib.h" if item.value.is_empty() => Err("empty value".into()),
        "lib.h" => Ok(item.value.first() == Some(&b'{')),
        _ => Err(format!("no function {name}")),
    }
}

/// The model's answer, or the name of the function that failed.
pub(crate) fn eval(e: &Expr, item: &ItemRef<'_>) -> Result<bool, String> {
    Ok(match e {
        Expr::Atom(a) => match a {
            Atom::Prefix(p) => item.key.starts_with(p),
            Atom::Range(from, to) => {
                item.key >= from.as_slice() && to.as_ref().is_none_or(|t| item.key < t.as_slice())
            }
            Atom::Flags(mask, value) => item.flags & mask == *value,
            Atom::Json(pointer, check) => json(item.value, pointer, check),
            Atom::Lua(name) => lua(name, item).map_err(|_| (*name).to_owned())?,
        },
        Expr::Not(x) => !eval(x, item)?,
        Expr::And(xs) => {
            for x in xs {
                if !eval(x, item)? {
                    return Ok(false);
                }
            }
            true
        }
        Expr::Or(xs) => {
            for x in xs {
                if eval(x, item)? {
                    return Ok(true);
                }
            }
            false
        }
    })
}

/// A `json:` atom on `serde_json`'s reading of the whole value.
pub(crate) fn json(doc: &[u8], pointer: &str, check: &Check) -> bool {
    let Ok(doc) = serde_json::from_slice::<Value>(doc) else { return false };
    let Some(target) = doc.pointer(pointer) else { return false };
    match check {
        Check::Exists => true,
        Check::Compare(op, lit) => {
            let rel = relate(target, &lit.value());
            match *op {
                "=" => rel == Some(Ordering::Equal),
                "!=" => rel != Some(Ordering::Equal),
                "<" => rel == Some(Ordering::Less),
                "<=" => matches!(rel, Some(Ordering::Less | Ordering::Equal)),
                ">" => rel == Some(Ordering::Greater),
                ">=" => matches!(rel, Some(Ordering::Greater | Ordering::Equal)),
                _ => unreachable!(),
            }
        }
    }
}

/// How a target stands to a literal; `None` when they are not comparable
/// (different types, containers, unequal booleans).
fn relate(target: &Value, lit: &Value) -> Option<Ordering> {
    match (target, lit) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) if a.is_i64() && b.is_i64() => Some(x.cmp(&y)),
            _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
        },
        (Value::String(a), Value::String(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Value::Bool(a), Value::Bool(b)) if a == b => Some(Ordering::Equal),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    }
}
