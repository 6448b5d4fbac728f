//! `json:` atoms: an RFC 6901 pointer and a test on the value it names,
//! answered by walking the document's bytes.
//!
//! # How a document is read
//!
//! Nothing is built. A [`Scanner`] starts at the first byte and follows the
//! pointer: in an object it compares each member name with the pointer's
//! next token in place (unescaping as it goes, `\uXXXX` and surrogate pairs
//! included) and skips the values of the members that differ; in an array
//! it skips elements up to the index. Skipping a nested value is a loop
//! with a depth counter and a 128-bit stack of "object or array" bits, not
//! recursion, so a hostile document costs time linear in its length and no
//! stack. Strings with no escapes (the usual case) are compared as one
//! slice; string bytes are scanned eight at a time for the quote, and only
//! runs with non-ASCII bytes go through a UTF-8 check.
//!
//! The walk stops at the end of the target value. Everything read up to
//! there is checked as `serde_json` checks it (structure, escapes and
//! surrogate pairs, control characters, UTF-8, number syntax and range,
//! the 127-level nesting limit), and a document that fails a check matches
//! nothing. What comes after the target is not read,
//! so a document that is broken only after it can still match; the root
//! pointer `""` reads the whole document. Of duplicate member names, the
//! first is the one that counts.
//!
//! The tests' meaning is in the crate docs (*The language*).

use std::cmp::Ordering;
use std::fmt::{self, Write};

use crate::error::Expected;

/// The deepest nesting of arrays and objects a document may have, the same
/// limit `serde_json` applies.
const MAX_NESTING: usize = 127;

/// An RFC 6901 JSON pointer, kept as written and as decoded tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pointer {
    text: Box<[u8]>,
    tokens: Box<[Token]>,
}

/// One reference token: the member name it selects in an object, and the
/// index it selects in an array when it is one (`0` or no leading zeros).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Token {
    name: Box<[u8]>,
    index: Option<usize>,
}

impl Pointer {
    /// Checks and decodes `text`; on error, the offset in `text` of the
    /// problem.
    pub(crate) fn new(text: &[u8]) -> Result<Pointer, usize> {
        if let Err(e) = std::str::from_utf8(text) {
            return Err(e.valid_up_to());
        }
        let Some(rest) = text.strip_prefix(b"/") else {
            return if text.is_empty() {
                Ok(Pointer { text: Box::default(), tokens: Box::default() })
            } else {
                Err(0)
            };
        };
        let mut tokens = Vec::new();
        let mut at = 1;
        for raw in rest.split(|&b| b == b'/') {
            let mut name = Vec::with_capacity(raw.len());
            let mut i = 0;
            while i < raw.len() {
                if raw[i] == b'~' {
                    match raw.get(i + 1) {
                        Some(b'0') => name.push(b'~'),
                        Some(b'1') => name.push(b'/'),
                        _ => return Err(at + i),
                    }
                    i += 2;
                } else {
                    name.push(raw[i]);
                    i += 1;
                }
            }
            let index = array_index(&name);
            tokens.push(Token { name: name.into(), index });
            at += raw.len() + 1;
        }
        Ok(Pointer { text: text.into(), tokens: tokens.into() })
    }

    /// The pointer as written (RFC 6901 form, `~0`/`~1` escapes).
    pub(crate) fn text(&self) -> &[u8] {
        &self.text
    }
}

/// The array index a token names: `0`, or digits without a leading zero
/// that fit in a `usize`.
fn array_index(token: &[u8]) -> Option<usize> {
    let digits = !token.is_empty() && token.iter().all(u8::is_ascii_digit);
    if !digits || (token[0] == b'0' && token.len() > 1) {
        return None;
    }
    std::str::from_utf8(token).ok()?.parse().ok()
}

/// A JSON number: exact when written as an integer that fits in an `i64`,
/// an `f64` otherwise.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            // Never NaN, and -0.0 is stored as 0.0, so bits are equality.
            (Number::Float(a), Number::Float(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

impl Eq for Number {}

impl Number {
    /// The value of the JSON number `text` (whose syntax is checked);
    /// `integer` says it has no fraction and no exponent. `None` when it is
    /// beyond the range of an `f64`.
    fn from_token(text: &[u8], integer: bool) -> Option<Number> {
        if integer {
            let (negative, digits) = match text.split_first() {
                Some((b'-', rest)) => (true, rest),
                _ => (false, text),
            };
            // 19 digits always fit in a u64.
            if digits.len() <= 19 {
                let v = digits.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
                if let (false, Ok(v)) = (negative, i64::try_from(v)) {
                    return Some(Number::Int(v));
                }
                if negative && v <= 1 << 63 {
                    return Some(Number::Int((v as i64).wrapping_neg()));
                }
            }
        }
        let f = fast_float(text, integer)
            .or_else(|| std::str::from_utf8(text).ok()?.parse::<f64>().ok())?;
        // -0.0 becomes 0.0: they compare equal, and one spelling keeps
        // canonical text canonical.
        f.is_finite().then_some(Number::Float(if f == 0.0 { 0.0 } else { f }))
    }

    #[allow(clippy::cast_precision_loss)] // comparing as f64 is the documented meaning
    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    fn compare(self, other: Number) -> Option<Ordering> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
            _ => self.as_f64().partial_cmp(&other.as_f64()),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            // Debug is the shortest text that reads back as the same f64,
            // and always has a `.` or an exponent, so it reads back as a
            // float, not as an integer.
            Number::Float(x) => write!(f, "{x:?}"),
        }
    }
}

/// Powers of ten that are exact in an `f64`.
const EXACT_POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common case of a decimal without exponent and with at most 15
/// significant digits (`21.5`, `-0.125`): the digits are an exact integer
/// below 2^53 and the scale an exact power of ten, so one division is
/// correctly rounded, as the full parser would be. `None` for anything
/// else.
#[allow(clippy::cast_precision_loss)] // the mantissa is below 2^53: exact
fn fast_float(text: &[u8], integer: bool) -> Option<f64> {
    if integer {
        return None;
    }
    let (negative, body) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if body.len() > 16 {
        return None;
    }
    let mut mantissa = 0u64;
    let mut scale = None;
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'0'..=b'9' => mantissa = mantissa * 10 + u64::from(b - b'0'),
            b'.' => scale = Some(body.len() - i - 1),
            _ => return None,
        }
    }
    // Below 2^53, so the signed conversion (one instruction) is exact.
    let v = mantissa as i64 as f64 / EXACT_POWERS[scale?];
    Some(if negative { -v } else { v })
}

/// A literal a `json:` atom compares with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Number(Number),
    /// The unescaped bytes, always UTF-8.
    String(Box<[u8]>),
}

impl Literal {
    /// Parses the JSON literal at the start of `b`: the literal and its
    /// length, or the offset in `b` of the problem and what was expected.
    pub(crate) fn parse(b: &[u8]) -> Result<(Literal, usize), (usize, Expected)> {
        match b.first() {
            Some(b'"') => {
                let (bytes, len) = string_literal(b)?;
                Ok((Literal::String(bytes.into()), len))
            }
            Some(b'-' | b'0'..=b'9') => {
                let shape = number_len(b).ok_or((0, Expected::JsonValue))?;
                let n = Number::from_token(&b[..shape.len], shape.integer)
                    .ok_or((0, Expected::FiniteNumber))?;
                Ok((Literal::Number(n), shape.len))
            }
            _ => {
                let word = b.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
                let lit = match &b[..word] {
                    b"true" => Literal::Bool(true),
                    b"false" => Literal::Bool(false),
                    b"null" => Literal::Null,
                    _ => return Err((0, Expected::JsonValue)),
                };
                Ok((lit, word))
            }
        }
    }

    /// Whether `<`, `<=`, `>` and `>=` apply (numbers and strings).
    pub(crate) fn is_orderable(&self) -> bool {
        matches!(self, Literal::Number(_) | Literal::String(_))
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Number(n) => write!(f, "{n}"),
            Literal::String(s) => {
                // Checked to be UTF-8 when parsed.
                let s = String::from_utf8_lossy(s);
                f.write_char('"')?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\r' => f.write_str("\\r")?,
                        '\t' => f.write_str("\\t")?,
                        '\u{8}' => f.write_str("\\b")?,
                        '\u{c}' => f.write_str("\\f")?,
                        ' '..='~' => f.write_char(c)?,
                        _ => {
                            let mut units = [0u16; 2];
                            for u in c.encode_utf16(&mut units) {
                                write!(f, "\\u{u:04x}")?;
                            }
                        }
                    }
                }
                f.write_char('"')
            }
        }
    }
}

/// Decodes the JSON string at the start of `b` (`b[0]` is the quote):
/// its bytes and its length with both quotes.
fn string_literal(b: &[u8]) -> Result<(Vec<u8>, usize), (usize, Expected)> {
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        match b.get(i) {
            None => return Err((i, Expected::Token("\""))),
            Some(b'"') => break,
            Some(b'\\') => {
                let (c, len) = escape(&b[i..]).ok_or((i, Expected::JsonEscape))?;
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                i += len;
            }
            Some(&c) if c < 0x20 => return Err((i, Expected::JsonEscape)),
            Some(&c) => {
                out.push(c);
                i += 1;
            }
        }
    }
    // Escapes are ASCII and decode to UTF-8, so the text is UTF-8 exactly
    // when the decoded bytes are, and the error has an offset in the text.
    if let Err(e) = std::str::from_utf8(&b[1..i]) {
        return Err((1 + e.valid_up_to(), Expected::Utf8));
    }
    Ok((out, i + 1))
}

/// Decodes the escape at the start of `b` (`b[0]` is the backslash): the
/// character and the escape's length. A `\u` high surrogate must be
/// followed by a `\u` low surrogate; the pair is one character.
fn escape(b: &[u8]) -> Option<(char, usize)> {
    let c = match *b.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let high = hex4(b.get(2..6)?)?;
            return match high {
                0xd800..=0xdbff => {
                    if b.get(6..8)? != b"\\u" {
                        return None;
                    }
                    let low = hex4(b.get(8..12)?)?;
                    if !(0xdc00..=0xdfff).contains(&low) {
                        return None;
                    }
                    let c = 0x1_0000 + ((high - 0xd800) << 10) + (low - 0xdc00);
                    Some((char::from_u32(c)?, 12))
                }
                0xdc00..=0xdfff => None,
                _ => Some((char::from_u32(high)?, 6)),
            };
        }
        _ => return None,
    };
    Some((c, 2))
}

/// Four hex digits (either case) as a number.
fn hex4(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0, |v, &d| Some(v << 4 | char::from(d).to_digit(16)?))
}

/// The syntax of a JSON number token.
#[derive(Clone, Copy)]
struct NumberShape {
    len: usize,
    /// No fraction, no exponent.
    integer: bool,
    exponent: bool,
}

impl NumberShape {
    /// Whether the number is within the range of an `f64` (`serde_json`
    /// rejects documents with numbers beyond it, and so does the scanner).
    /// Without an exponent, 300 digits are always within it.
    fn in_range(self, token: &[u8]) -> bool {
        (!self.exponent && self.len <= 300)
            || std::str::from_utf8(token)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(f64::is_finite)
    }
}

/// The shape of the JSON number at the start of `b`; `None` when `b` does
/// not start with one.
fn number_len(b: &[u8]) -> Option<NumberShape> {
    let digits = |mut i: usize| {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > start).then_some(i)
    };
    let mut i = usize::from(b.first() == Some(&b'-'));
    i = match b.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(i)?,
        _ => return None,
    };
    let mut integer = true;
    if b.get(i) == Some(&b'.') {
        integer = false;
        i = digits(i + 1)?;
    }
    let exponent = matches!(b.get(i), Some(b'e' | b'E'));
    if exponent {
        integer = false;
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(i)?;
    }
    Some(NumberShape { len: i, integer, exponent })
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    /// The operators as written, longest first where one is a prefix of
    /// another.
    pub(crate) const ALL: [(&'static str, Cmp); 6] = [
        ("!=", Cmp::Ne),
        ("<=", Cmp::Le),
        (">=", Cmp::Ge),
        ("=", Cmp::Eq),
        ("<", Cmp::Lt),
        (">", Cmp::Gt),
    ];

    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }

    pub(crate) fn is_ordering(self) -> bool {
        !matches!(self, Cmp::Eq | Cmp::Ne)
    }

    /// Whether the operator holds between a target and the literal.
    fn holds(self, relation: Relation) -> bool {
        match (self, relation) {
            (Cmp::Ne, Relation::Unrelated) => true,
            (_, Relation::Unrelated) => false,
            (Cmp::Eq, Relation::Ordered(o)) => o.is_eq(),
            (Cmp::Ne, Relation::Ordered(o)) => o.is_ne(),
            (Cmp::Lt, Relation::Ordered(o)) => o.is_lt(),
            (Cmp::Le, Relation::Ordered(o)) => o.is_le(),
            (Cmp::Gt, Relation::Ordered(o)) => o.is_gt(),
            (Cmp::Ge, Relation::Ordered(o)) => o.is_ge(),
        }
    }
}

/// How a target stands to a literal.
#[derive(Clone, Copy)]
enum Relation {
    /// Same kind (two numbers, two strings, two booleans, two nulls).
    /// Booleans are only ever equal or not; the parser keeps them away
    /// from ordering operators.
    Ordered(Ordering),
    /// Different kinds, or a container: never equal, never ordered.
    Unrelated,
}

/// What a `json:` atom checks about its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    Exists,
    Compare(Cmp, Literal),
}

/// A `json:` atom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JsonTest {
    pub(crate) pointer: Pointer,
    pub(crate) check: Check,
}

impl JsonTest {
    /// Whether `doc` has the target and it passes the check. Invalid JSON
    /// (up to the end of the target) is `false`.
    pub(crate) fn matches(&self, doc: &[u8]) -> bool {
        self.eval(doc).unwrap_or(false)
    }

    fn eval(&self, doc: &[u8]) -> Option<bool> {
        let mut s = Scanner { b: doc, i: 0 };
        let depth = s.find(&self.pointer.tokens)?;
        let pass = match &self.check {
            Check::Exists => {
                s.skip_value(depth)?;
                true
            }
            Check::Compare(cmp, literal) => cmp.holds(s.relate(depth, literal)?),
        };
        if self.pointer.tokens.is_empty() {
            s.skip_ws();
            if s.i != doc.len() {
                return None;
            }
        } else if !matches!(
            s.peek(),
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}')
        ) {
            return None;
        }
        Some(pass)
    }
}

impl fmt::Display for JsonTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("json:")?;
        crate::text::write_token(f, self.pointer.text(), |t| {
            !t.iter().any(|b| matches!(b, b'=' | b'!' | b'<' | b'>'))
        })?;
        match &self.check {
            Check::Exists => f.write_str(" exists"),
            Check::Compare(cmp, literal) => write!(f, " {} {literal}", cmp.symbol()),
        }
    }
}

/// A cursor over a JSON document. Every method returns `None` when the
/// document is not valid JSON where it looked (or ends early).
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// Follows `tokens` from the document's root to the start of the target
    /// value; returns how many containers enclose it.
    fn find(&mut self, tokens: &[Token]) -> Option<usize> {
        self.skip_ws();
        let mut depth = 0;
        for token in tokens {
            let open = self.peek()?;
            if !matches!(open, b'{' | b'[') {
                return None;
            }
            depth += 1;
            if depth > MAX_NESTING {
                return None;
            }
            self.i += 1;
            self.skip_ws();
            if open == b'{' {
                loop {
                    // An empty object or the end of one: the name is not here.
                    self.eat(b'"')?;
                    let hit = self.name_is(&token.name)?;
                    self.skip_ws();
                    self.eat(b':')?;
                    self.skip_ws();
                    if hit {
                        break;
                    }
                    self.skip_value(depth)?;
                    self.skip_ws();
                    self.eat(b',')?;
                    self.skip_ws();
                }
            } else {
                for _ in 0..token.index? {
                    self.skip_value(depth)?;
                    self.skip_ws();
                    self.eat(b',')?;
                    self.skip_ws();
                }
            }
        }
        Some(depth)
    }

    /// Reads the value at the cursor and relates it to `literal`.
    fn relate(&mut self, depth: usize, literal: &Literal) -> Option<Relation> {
        let ordered = |o| Some(Relation::Ordered(o));
        match (self.peek()?, literal) {
            (b'"', Literal::String(want)) => {
                self.i += 1;
                ordered(self.compare_string(want)?)
            }
            (b'-' | b'0'..=b'9', Literal::Number(want)) => {
                let shape = number_len(&self.b[self.i..])?;
                let n = Number::from_token(&self.b[self.i..self.i + shape.len], shape.integer)?;
                self.i += shape.len;
                n.compare(*want).map(Relation::Ordered)
            }
            (b't' | b'f', Literal::Bool(want)) => {
                let got = self.peek() == Some(b't');
                self.skip_value(depth)?;
                ordered(if got == *want { Ordering::Equal } else { Ordering::Less })
            }
            (b'n', Literal::Null) => {
                self.skip_value(depth)?;
                ordered(Ordering::Equal)
            }
            _ => {
                self.skip_value(depth)?;
                Some(Relation::Unrelated)
            }
        }
    }

    /// Reads the string whose opening quote is just behind the cursor, up
    /// to and including its closing quote, and compares its unescaped bytes
    /// with `want`.
    fn compare_string(&mut self, want: &[u8]) -> Option<Ordering> {
        let b = self.b;
        let first_end = plain_run(b, self.i)?;
        if *b.get(first_end)? == b'"' {
            // No escapes: the bytes are the string.
            let run = &b[self.i..first_end];
            self.i = first_end + 1;
            return Some(run.cmp(want));
        }
        let mut i = self.i;
        let mut matched = 0;
        let mut decided = None;
        loop {
            let run_start = i;
            i = plain_run(b, i)?;
            let run = &b[run_start..i];
            if decided.is_none() {
                decided = feed(run, want, &mut matched);
            }
            match *b.get(i)? {
                b'"' => break,
                b'\\' => {
                    let (c, len) = escape(&b[i..])?;
                    i += len;
                    if decided.is_none() {
                        decided = feed(c.encode_utf8(&mut [0; 4]).as_bytes(), want, &mut matched);
                    }
                }
                _ => return None, // a control character
            }
        }
        self.i = i + 1;
        Some(decided.unwrap_or_else(|| matched.cmp(&want.len())))
    }

    /// Reads the member name whose opening quote is just behind the
    /// cursor, up to and including its closing quote: whether it is `want`.
    #[inline]
    fn name_is(&mut self, want: &[u8]) -> Option<bool> {
        let end = plain_run(self.b, self.i)?;
        if *self.b.get(end)? == b'"' {
            // No escapes (the usual case): lengths first, then bytes.
            let name = &self.b[self.i..end];
            self.i = end + 1;
            return Some(name.len() == want.len() && name == want);
        }
        Some(self.compare_string(want)?.is_eq())
    }

    /// Skips the string whose opening quote is just behind the cursor.
    fn skip_string(&mut self) -> Option<()> {
        let b = self.b;
        let mut i = self.i;
        loop {
            i = plain_run(b, i)?;
            match *b.get(i)? {
                b'"' => break,
                b'\\' => i += escape(&b[i..])?.1,
                _ => return None,
            }
        }
        self.i = i + 1;
        Some(())
    }

    /// Skips a number, `true`, `false`, `null` or a string.
    fn skip_scalar(&mut self) -> Option<()> {
        let rest = &self.b[self.i..];
        let len = match *rest.first()? {
            b'"' => {
                self.i += 1;
                return self.skip_string();
            }
            b't' if rest.starts_with(b"true") => 4,
            b'f' if rest.starts_with(b"false") => 5,
            b'n' if rest.starts_with(b"null") => 4,
            _ => {
                let shape = number_len(rest)?;
                if !shape.in_range(&rest[..shape.len]) {
                    return None;
                }
                shape.len
            }
        };
        self.i += len;
        Some(())
    }

    /// Skips the value at the cursor, checking its syntax. `depth`
    /// containers enclose it already.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if !matches!(self.peek()?, b'{' | b'[') {
            return self.skip_scalar();
        }
        // Bit 0 of `objects` is the innermost open container (1: object);
        // `open` counts the containers this call opened.
        let mut objects: u128 = 0;
        let mut open = 0;
        'value: loop {
            match self.peek()? {
                c @ (b'{' | b'[') => {
                    if depth + open >= MAX_NESTING {
                        return None;
                    }
                    self.i += 1;
                    open += 1;
                    objects = objects << 1 | u128::from(c == b'{');
                    self.skip_ws();
                    let close = if c == b'{' { b'}' } else { b']' };
                    if self.peek()? == close {
                        self.i += 1;
                        objects >>= 1;
                        open -= 1;
                    } else {
                        if c == b'{' {
                            self.member_name()?;
                        }
                        continue 'value;
                    }
                }
                _ => self.skip_scalar()?,
            }
            // After a value: a comma and the next one, or closing brackets.
            loop {
                if open == 0 {
                    return Some(());
                }
                self.skip_ws();
                let in_object = objects & 1 == 1;
                match (self.peek()?, in_object) {
                    (b',', _) => {
                        self.i += 1;
                        self.skip_ws();
                        if in_object {
                            self.member_name()?;
                        }
                        continue 'value;
                    }
                    (b'}', true) | (b']', false) => {
                        self.i += 1;
                        objects >>= 1;
                        open -= 1;
                    }
                    _ => return None,
                }
            }
        }
    }

    /// Skips `"name"` and the colon after it, and the whitespace after both.
    fn member_name(&mut self) -> Option<()> {
        self.eat(b'"')?;
        self.skip_string()?;
        self.skip_ws();
        self.eat(b':')?;
        self.skip_ws();
        Some(())
    }
}

/// Compares `piece`, the next bytes of a string, with `want` after the
/// `matched` bytes that agreed so far: the answer once they differ (or the
/// string has outgrown `want`), `None` while they agree.
fn feed(piece: &[u8], want: &[u8], matched: &mut usize) -> Option<Ordering> {
    let rest = &want[*matched..];
    let n = piece.len().min(rest.len());
    match piece[..n].cmp(&rest[..n]) {
        Ordering::Equal if piece.len() > rest.len() => Some(Ordering::Greater),
        Ordering::Equal => {
            *matched += n;
            None
        }
        unequal => Some(unequal),
    }
}

/// The end of the run of plain string bytes that starts at `i`: the index of
/// the first quote, backslash or control character (or `b.len()`). `None`
/// when the run is not UTF-8.
#[inline]
fn plain_run(b: &[u8], start: usize) -> Option<usize> {
    let (end, maybe_non_ascii) = plain_run_end(b, start);
    if maybe_non_ascii && std::str::from_utf8(&b[start..end]).is_err() {
        return None;
    }
    Some(end)
}

/// The end of the run of plain string bytes from `i` on, and whether the
/// run may hold non-ASCII bytes (`false` means it holds none).
#[inline]
fn plain_run_end(b: &[u8], mut i: usize) -> (usize, bool) {
    // Eight bytes at a time: a byte is special when it equals 0x22 or 0x5c
    // or is below 0x20 (high-bit bytes are never special).
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut high = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
        // Bytes below 0x20: subtracting 0x20 borrows into the high bit for
        // them (and for high-bit bytes, which `!w` masks out).
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
        let hits = zero_in(quote) | zero_in(backslash) | control;
        // High bytes after the run's end count too: only a false alarm.
        high |= w & HIGHS;
        if hits != 0 {
            // The lowest flagged byte is exact; higher ones may be false
            // positives after a borrow, which does not matter.
            return (i + (hits.trailing_zeros() / 8) as usize, high != 0);
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        high |= u64::from(c & 0x80);
        i += 1;
    }
    (i, high != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(pointer: &str, check: Check) -> JsonTest {
        JsonTest { pointer: Pointer::new(pointer.as_bytes()).unwrap(), check }
    }

    fn lit(text: &str) -> Literal {
        let (l, len) = Literal::parse(text.as_bytes()).unwrap();
        assert_eq!(len, text.len());
        l
    }

    fn cmp(pointer: &str, op: Cmp, literal: &str, doc: &str) -> bool {
        test(pointer, Check::Compare(op, lit(literal))).matches(doc.as_bytes())
    }

    fn exists(pointer: &str, doc: &str) -> bool {
        test(pointer, Check::Exists).matches(doc.as_bytes())
    }

    const READING: &str =
        r#"{"ts":"2024-01-05T10:00:00Z","serial":"28-0000055ab2e1","reading":21.5}"#;

    #[test]
    fn typical_document() {
        assert!(cmp("/reading", Cmp::Gt, "20", READING));
        assert!(!cmp("/reading", Cmp::Gt, "21.5", READING));
        assert!(cmp("/reading", Cmp::Ge, "21.5", READING));
        assert!(cmp("/serial", Cmp::Eq, r#""28-0000055ab2e1""#, READING));
        assert!(cmp("/ts", Cmp::Lt, r#""2024-02""#, READING));
        assert!(!cmp("/missing", Cmp::Ne, "1", READING));
        assert!(exists("/ts", READING));
        assert!(exists("", READING));
        assert!(!exists("/ts/0", READING));
    }

    #[test]
    fn pointers() {
        assert_eq!(Pointer::new(b"a"), Err(0));
        assert_eq!(Pointer::new(b"/a~2"), Err(2));
        assert_eq!(Pointer::new(b"/a/~"), Err(3));
        assert_eq!(Pointer::new(b"/\xff"), Err(1));
        let p = Pointer::new(b"/a~1b/~0/0/01/").unwrap();
        let names: Vec<&[u8]> = p.tokens.iter().map(|t| &t.name[..]).collect();
        assert_eq!(names, [&b"a/b"[..], b"~", b"0", b"01", b""]);
        let indexes: Vec<_> = p.tokens.iter().map(|t| t.index).collect();
        assert_eq!(indexes, [None, None, Some(0), None, None]);
    }

    #[test]
    fn escaped_member_names() {
        let doc = r#"{"a\/b": 1, "\u00e9t\u00E9": 2, "\ud83d\ude00": 3, "~": 4, "x\"y": 5}"#;
        assert!(cmp("/a~1b", Cmp::Eq, "1", doc));
        assert!(cmp("/été", Cmp::Eq, "2", doc));
        assert!(cmp("/😀", Cmp::Eq, "3", doc));
        assert!(cmp("/~0", Cmp::Eq, "4", doc));
        assert!(cmp("/x\"y", Cmp::Eq, "5", doc));
        // A lone surrogate in a name on the way is invalid JSON.
        assert!(!exists("/b", r#"{"\ud800": 1, "b": 2}"#));
    }

    #[test]
    fn arrays() {
        let doc = r#"[10, [20, {"a": [30, 31]}], "x"]"#;
        assert!(cmp("/0", Cmp::Eq, "10", doc));
        assert!(cmp("/1/1/a/1", Cmp::Eq, "31", doc));
        assert!(cmp("/2", Cmp::Eq, r#""x""#, doc));
        assert!(!exists("/3", doc));
        assert!(!exists("/-", doc));
        assert!(!exists("/01", doc));
        assert!(!exists("/1/1/a/2", doc));
        assert!(!exists("/0", "[]"));
        assert!(!exists("/a", "[]"));
        assert!(!exists("/0", "{}"));
        assert!(exists("/0", r#"{"0": null}"#));
    }

    #[test]
    fn numbers_compare_by_value() {
        let doc = r#"{"i": 100, "f": 1e2, "z": -0, "n": 1.0, "big": 12345678901234567890}"#;
        assert!(cmp("/i", Cmp::Eq, "1e2", doc));
        assert!(cmp("/f", Cmp::Eq, "100", doc));
        assert!(cmp("/z", Cmp::Eq, "0", doc));
        assert!(cmp("/z", Cmp::Eq, "-0.0", doc));
        assert!(!cmp("/z", Cmp::Lt, "0", doc));
        assert!(cmp("/n", Cmp::Eq, "1", doc));
        assert!(cmp("/big", Cmp::Gt, "9223372036854775807", doc));
        // Integers that fit in an i64 compare exactly, past f64 precision.
        let doc = r#"{"a": 9007199254740993}"#;
        assert!(cmp("/a", Cmp::Gt, "9007199254740992", doc));
        assert!(!cmp("/a", Cmp::Gt, "9007199254740992.0", doc));
        assert!(cmp("/a", Cmp::Eq, "-9223372036854775808", r#"{"a": -9223372036854775808}"#));
        // Out of f64 range is not a number.
        assert!(!cmp("/a", Cmp::Ne, "1", r#"{"a": 1e400}"#));
    }

    #[test]
    fn equality_and_types() {
        let doc = r#"{"s": "1", "n": null, "t": true, "o": {"a": 1}, "l": [1]}"#;
        assert!(!cmp("/s", Cmp::Eq, "1", doc));
        assert!(cmp("/s", Cmp::Ne, "1", doc));
        assert!(!cmp("/s", Cmp::Lt, "2", doc));
        assert!(!cmp("/s", Cmp::Ge, "0", doc));
        assert!(cmp("/n", Cmp::Eq, "null", doc));
        assert!(cmp("/n", Cmp::Ne, "false", doc));
        assert!(cmp("/t", Cmp::Eq, "true", doc));
        assert!(cmp("/t", Cmp::Ne, "false", doc));
        assert!(!cmp("/o", Cmp::Eq, "1", doc));
        assert!(cmp("/o", Cmp::Ne, "1", doc));
        assert!(cmp("/l", Cmp::Ne, "null", doc));
        assert!(exists("/n", doc));
    }

    #[test]
    fn strings_compare_unescaped() {
        let doc = r#"{"a": "caf\u00e9", "b": "tab\there", "c": "ab", "d": ""}"#;
        assert!(cmp("/a", Cmp::Eq, r#""café""#, doc));
        assert!(cmp("/a", Cmp::Eq, r#""caf\u00E9""#, doc));
        assert!(cmp("/b", Cmp::Eq, r#""tab\u0009here""#, doc));
        assert!(cmp("/c", Cmp::Gt, r#""a""#, doc));
        assert!(cmp("/c", Cmp::Lt, r#""abc""#, doc));
        assert!(cmp("/c", Cmp::Lt, r#""b""#, doc));
        assert!(cmp("/d", Cmp::Lt, r#""a""#, doc));
        assert!(cmp("/d", Cmp::Eq, r#""""#, doc));
    }

    #[test]
    fn invalid_json_matches_nothing() {
        for doc in [
            "",
            "not json",
            r#"{"a" 1}"#,
            r#"{"x": [1, 2}, "a": 1}"#,
            r#"{"x": {"y"}, "a": 1}"#,
            r#"{"x": 01, "a": 1}"#,
            r#"{"x": "\q", "a": 1}"#,
            "{\"x\": \"\n\", \"a\": 1}",
            r#"{"x": tru, "a": 1}"#,
            r#"{"x": 1., "a": 1}"#,
            r#"{"a": 1x}"#,
            r#"{"a": "\ud800"}"#,
        ] {
            assert!(!exists("/a", doc), "{doc}");
            assert!(!cmp("/a", Cmp::Ne, "2", doc), "{doc}");
        }
        // The root pointer reads the whole document.
        assert!(!exists("", "1 2"));
        assert!(exists("", " [1, {}] \n"));
        assert!(!exists("", "[1, {}"));
        assert!(cmp("", Cmp::Eq, "1.5", " 1.5 "));
        // After the target, nothing is read.
        assert!(exists("/a", r#"{"a": 1, garbage"#));
        assert!(cmp("/a", Cmp::Eq, "1", r#"{"a": 1"#));
        // Strings must be UTF-8, compared or skipped.
        assert!(!cmp("/a", Cmp::Ne, r#""x""#, "{\"a\": \"\u{0}\"}"));
        assert!(!cmp("/a", Cmp::Eq, r#""x""#, "{\"a\": \"\u{1}\"}"));
        let t = test("/a", Check::Compare(Cmp::Ne, lit(r#""x""#)));
        assert!(!t.matches(b"{\"a\": \"\xff\"}"));
        assert!(!t.matches(b"{\"b\": \"\xff\", \"a\": \"y\"}"));
        assert!(t.matches("{\"b\": \"\u{e9}\", \"a\": \"y\"}".as_bytes()));
        // Numbers beyond f64 are invalid, skipped or not.
        assert!(!exists("/a", r#"{"b": 1e309, "a": 1}"#));
        assert!(!exists("/a", &format!(r#"{{"b": 1{}, "a": 1}}"#, "0".repeat(400))));
        assert!(exists("/a", &format!(r#"{{"b": 1{}, "a": 1}}"#, "0".repeat(300))));
        assert!(exists("/a", r#"{"b": 1e-400, "a": 1}"#));
    }

    #[test]
    fn duplicate_names_first_wins() {
        assert!(cmp("/a", Cmp::Eq, "1", r#"{"a": 1, "a": 2}"#));
    }

    #[test]
    fn nesting_limit_is_serde_jsons() {
        for depth in [126, 127, 128, 129] {
            let doc = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let serde_ok = serde_json::from_str::<serde_json::Value>(&doc).is_ok();
            assert_eq!(exists("", &doc), serde_ok, "depth {depth}");
            let wrapped = format!(r#"{{"a": {doc}}}"#);
            let serde_ok = serde_json::from_str::<serde_json::Value>(&wrapped).is_ok();
            assert_eq!(exists("/a", &wrapped), serde_ok, "depth {depth} under a member");
            let pointer = "/0".repeat(depth - 1);
            assert_eq!(exists(&pointer, &doc), depth <= 127, "walking {depth}");
        }
        // A deep document costs no stack.
        let deep = "[".repeat(1_000_000);
        assert!(!exists("", &deep));
        assert!(!exists("/a", &format!(r#"{{"x": {deep}"#)));
    }

    #[test]
    fn literals() {
        assert_eq!(lit("12"), Literal::Number(Number::Int(12)));
        assert_eq!(lit("-0"), Literal::Number(Number::Int(0)));
        assert_eq!(lit("-0.0"), Literal::Number(Number::Float(0.0)));
        assert_eq!(lit("1e2"), Literal::Number(Number::Float(100.0)));
        assert_eq!(lit("true"), Literal::Bool(true));
        assert_eq!(lit(r#""\ud83d\ude00""#), Literal::String("😀".as_bytes().into()));
        assert_eq!(Literal::parse(b"1e400"), Err((0, Expected::FiniteNumber)));
        assert_eq!(Literal::parse(b"01"), Ok((Literal::Number(Number::Int(0)), 1)));
        assert_eq!(Literal::parse(b"truex"), Err((0, Expected::JsonValue)));
        assert_eq!(Literal::parse(b"\"a\\qb\""), Err((2, Expected::JsonEscape)));
        assert_eq!(Literal::parse(b"\"\\ud800\""), Err((1, Expected::JsonEscape)));
        assert_eq!(Literal::parse(b"\"a\xff\""), Err((2, Expected::Utf8)));
        assert_eq!(Literal::parse(b"\"ab"), Err((3, Expected::Token("\""))));
    }

    #[test]
    fn literal_text_reads_back() {
        for text in [
            "0",
            "-12",
            "1.0",
            "1e300",
            "1.5e-7",
            "0.1",
            "12345678901234567890",
            "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u007f é 😀\"",
            "true",
            "null",
        ] {
            let l = lit(text);
            let shown = l.to_string();
            assert!(shown.is_ascii(), "{shown}");
            assert_eq!(lit(&shown), l, "{text} -> {shown}");
            // The canonical form is valid JSON with the same meaning.
            let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
            let _ = v;
        }
    }

    #[test]
    fn fast_float_agrees_with_the_full_parser() {
        for text in ["21.5", "-0.125", "0.1", "12345678901234.5", "9.99999999999999", "-1.0"] {
            let full: f64 = text.parse().unwrap();
            assert_eq!(fast_float(text.as_bytes(), false), Some(full), "{text}");
        }
        assert_eq!(fast_float(b"12345678901234567.5", false), None);
        assert_eq!(fast_float(b"1e5", false), None);
    }

    #[test]
    fn plain_runs() {
        let s = b"abcdefghijklmnop\"";
        assert_eq!(plain_run_end(s, 0), (16, false));
        assert_eq!(plain_run_end(b"abc\\defghijkl", 0), (3, false));
        assert_eq!(plain_run_end(b"abcdefgh\x1fjkl", 0), (8, false));
        assert_eq!(plain_run_end("ééééééééé\"".as_bytes(), 0), (18, true));
        assert_eq!(plain_run_end(b"\x7f\x80\xff\x20!#[]", 0), (8, true));
        for i in 0..s.len() {
            assert_eq!(plain_run_end(s, i), (16, false));
        }
        assert_eq!(plain_run("é\"".as_bytes(), 0), Some(2));
        assert_eq!(plain_run(b"\xc3\"", 0), None);
        assert_eq!(plain_run(b"abcdefgh\xc3", 0), None);
    }
}
