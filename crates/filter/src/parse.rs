//! Filter text to an [`Expr`]: a recursive descent over bytes.
//!
//! ```text
//! expr  := or
//! or    := and ("or" and)*
//! and   := unary ("and" unary)*
//! unary := "not" unary | "(" expr ")" | atom
//! ```
//!
//! The text may come from a hostile client, so every limit is checked
//! before the work it bounds: the length first, the nesting depth before
//! each `not` or `(` recurses (the recursion is at most a few frames per
//! level), the atom count before each atom is read.

use crate::error::{ErrorKind, Expected, Found, ParseError};
use crate::expr::{Atom, Expr};
use crate::json::{Check, Cmp, JsonTest, Literal, Pointer};
use crate::{MAX_ATOMS, MAX_DEPTH, MAX_LEN};

/// Parses a whole filter.
pub(crate) fn parse(text: &[u8]) -> Result<Expr> {
    if text.len() > MAX_LEN {
        return Err(ParseError::new(MAX_LEN, ErrorKind::TooLong { len: text.len() }));
    }
    let mut p = Parser { s: text, i: 0, depth: 0, atoms: 0 };
    let e = p.or()?;
    p.skip_ws();
    if p.i < text.len() {
        return Err(p.unexpected(p.i, Expected::OperatorOrEnd));
    }
    Ok(e)
}

/// Filter whitespace: ASCII space, tab, newline, form feed, carriage return.
fn is_ws(b: u8) -> bool {
    b.is_ascii_whitespace()
}

/// Whether a bare byte token (or a bare pointer) goes on past `b`.
fn is_bare(b: u8) -> bool {
    !is_ws(b) && !matches!(b, b'(' | b')' | b'"')
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    /// `not`s and open parentheses around the current position.
    depth: usize,
    atoms: usize,
}

type Result<T> = std::result::Result<T, ParseError>;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.i += 1;
        }
    }

    /// An error at `at`, showing a short excerpt of what is there.
    fn unexpected(&self, at: usize, expected: Expected) -> ParseError {
        let rest = self.s.get(at..).unwrap_or_default();
        let found = if rest.is_empty() {
            Found::End
        } else {
            let word = rest.iter().take(16).take_while(|&&b| is_bare(b)).count();
            Found::Bytes(rest[..word.max(1)].to_vec())
        };
        ParseError::new(at, ErrorKind::Unexpected { expected, found })
    }

    /// Consumes the keyword `word` when it is next and is followed by
    /// whitespace, `(` or the end.
    fn keyword(&mut self, word: &[u8]) -> bool {
        let rest = &self.s[self.i..];
        let ends = |b: &u8| is_ws(*b) || *b == b'(';
        if rest.starts_with(word) && rest.get(word.len()).is_none_or(ends) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr> {
        let first = self.and()?;
        let mut operands = Vec::new();
        loop {
            self.skip_ws();
            if !self.keyword(b"or") {
                break;
            }
            operands.push(self.and()?);
        }
        Ok(join(first, operands, Expr::Or, |e| match e {
            Expr::Or(xs) => Ok(xs),
            other => Err(other),
        }))
    }

    fn and(&mut self) -> Result<Expr> {
        let first = self.unary()?;
        let mut operands = Vec::new();
        loop {
            self.skip_ws();
            if !self.keyword(b"and") {
                break;
            }
            operands.push(self.unary()?);
        }
        Ok(join(first, operands, Expr::And, |e| match e {
            Expr::And(xs) => Ok(xs),
            other => Err(other),
        }))
    }

    fn unary(&mut self) -> Result<Expr> {
        self.skip_ws();
        let at = self.i;
        if self.keyword(b"not") {
            self.enter(at)?;
            let operand = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(operand)));
        }
        if self.peek() == Some(b'(') {
            self.i += 1;
            self.enter(at)?;
            let inner = self.or()?;
            self.skip_ws();
            if self.peek() != Some(b')') {
                return Err(self.unexpected(self.i, Expected::AnyOf(&["and", "or", ")"])));
            }
            self.i += 1;
            self.depth -= 1;
            return Ok(inner);
        }
        let atom = self.atom()?;
        match self.peek() {
            None | Some(b')') => {}
            Some(b) if is_ws(b) => {}
            Some(_) => return Err(self.unexpected(self.i, Expected::Separator)),
        }
        Ok(Expr::Atom(atom))
    }

    /// One more level of nesting, for the `not` or `(` at `at`.
    fn enter(&mut self, at: usize) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(at, ErrorKind::TooDeep));
        }
        Ok(())
    }

    fn atom(&mut self) -> Result<Atom> {
        let at = self.i;
        let name_len = self.s[at..].iter().take_while(|b| b.is_ascii_lowercase()).count();
        let kind = &self.s[at..at + name_len];
        let known = matches!(kind, b"prefix" | b"range" | b"flags" | b"json" | b"lua");
        if !known || self.s.get(at + name_len) != Some(&b':') {
            return Err(self.unexpected(at, Expected::Expression));
        }
        self.atoms += 1;
        if self.atoms > MAX_ATOMS {
            return Err(ParseError::new(at, ErrorKind::TooManyAtoms));
        }
        self.i = at + name_len + 1;
        match kind {
            b"prefix" => self.prefix(),
            b"range" => self.range(),
            b"flags" => self.flags(),
            b"json" => self.json(),
            _ => self.lua(),
        }
    }

    fn prefix(&mut self) -> Result<Atom> {
        let at = self.i;
        let bytes = match self.peek() {
            Some(b'"') => self.quoted()?,
            _ => self.bare(|_| false),
        };
        if bytes.is_empty() && self.i == at {
            // A bare prefix is never empty; `prefix:""` says so on purpose.
            return Err(self.unexpected(at, Expected::Bytes));
        }
        Ok(Atom::Prefix(bytes))
    }

    fn range(&mut self) -> Result<Atom> {
        let from = match self.peek() {
            Some(b'"') => self.quoted()?,
            _ => self.bare(|rest| rest.starts_with(b"..")),
        };
        if !self.s[self.i..].starts_with(b"..") {
            return Err(self.unexpected(self.i, Expected::Token("..")));
        }
        self.i += 2;
        let at = self.i;
        let to = match self.peek() {
            Some(b'"') => self.quoted()?,
            _ => self.bare(|_| false),
        };
        // An empty upper bound, bare or quoted, is no bound.
        let to = Some(to).filter(|t| !t.is_empty());
        if to.as_ref().is_some_and(|to| *to <= from) {
            return Err(self.unexpected(at, Expected::UpperBound));
        }
        Ok(Atom::Range { from, to })
    }

    fn flags(&mut self) -> Result<Atom> {
        let mask = self.number()?;
        self.skip_ws();
        if self.peek() != Some(b'=') {
            return Err(self.unexpected(self.i, Expected::Token("=")));
        }
        self.i += 1;
        self.skip_ws();
        let at = self.i;
        let value = self.number()?;
        if value & !mask != 0 {
            return Err(self.unexpected(at, Expected::ValueInMask));
        }
        Ok(Atom::Flags { mask, value })
    }

    /// A u32, decimal or `0x` hexadecimal.
    fn number(&mut self) -> Result<u32> {
        let at = self.i;
        let len = self.s[at..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
        let word = &self.s[at..at + len];
        let parsed = match word.strip_prefix(b"0x") {
            Some(hex) if !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit) => {
                std::str::from_utf8(hex).ok().and_then(|h| u32::from_str_radix(h, 16).ok())
            }
            None if !word.is_empty() && word.iter().all(u8::is_ascii_digit) => {
                std::str::from_utf8(word).ok().and_then(|d| d.parse().ok())
            }
            _ => None,
        };
        let n = parsed.ok_or_else(|| self.unexpected(at, Expected::Number))?;
        self.i += len;
        Ok(n)
    }

    fn json(&mut self) -> Result<Atom> {
        let at = self.i;
        let text = match self.peek() {
            Some(b'"') => self.quoted()?,
            _ => self.bare(|rest| matches!(rest[0], b'=' | b'!' | b'<' | b'>')),
        };
        let pointer = Pointer::new(&text).map_err(|bad| {
            // Inside a quoted pointer, point at its opening quote.
            let quoted = self.s.get(at) == Some(&b'"');
            self.unexpected(if quoted { at } else { at + bad }, Expected::Pointer)
        })?;
        self.skip_ws();
        let check = if self.keyword_then_separator(b"exists") {
            Check::Exists
        } else {
            let rest = &self.s[self.i..];
            let Some(&(symbol, cmp)) =
                Cmp::ALL.iter().find(|(sym, _)| rest.starts_with(sym.as_bytes()))
            else {
                return Err(self.unexpected(self.i, Expected::Comparison));
            };
            self.i += symbol.len();
            self.skip_ws();
            let at = self.i;
            let (literal, len) = Literal::parse(&self.s[at..])
                .map_err(|(bad, what)| self.unexpected(at + bad, what))?;
            if cmp.is_ordering() && !literal.is_orderable() {
                return Err(self.unexpected(at, Expected::Orderable));
            }
            self.i += len;
            Check::Compare(cmp, literal)
        };
        Ok(Atom::Json(JsonTest { pointer, check }))
    }

    /// Consumes `word` when it is next and followed by whitespace, `)` or
    /// the end.
    fn keyword_then_separator(&mut self, word: &[u8]) -> bool {
        let rest = &self.s[self.i..];
        if rest.starts_with(word) && rest.get(word.len()).is_none_or(|&b| is_ws(b) || b == b')') {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn lua(&mut self) -> Result<Atom> {
        let at = self.i;
        let len = self.s[at..]
            .iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            .count();
        let name = &self.s[at..at + len];
        let ident = |part: &[u8]| part.first().is_some_and(|b| !b.is_ascii_digit());
        if !name.split(|&b| b == b'.').all(ident) {
            return Err(self.unexpected(at, Expected::FunctionName));
        }
        self.i += len;
        // Letters, digits, '_' and '.': ASCII.
        Ok(Atom::Lua(String::from_utf8_lossy(name).into_owned()))
    }

    /// A bare token: bytes up to whitespace, a parenthesis, a quote, the
    /// end, or a place where `stop` says the rest begins.
    fn bare(&mut self, stop: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let start = self.i;
        while self.peek().is_some_and(is_bare) && !stop(&self.s[self.i..]) {
            self.i += 1;
        }
        self.s[start..self.i].to_vec()
    }

    /// A quoted string (the cursor is on its opening quote), unescaped.
    fn quoted(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.i += 1;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.unexpected(self.i, Expected::Token("\"")));
            };
            match b {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let at = self.i;
                    let byte = match self.s.get(at + 1) {
                        Some(b'"') => b'"',
                        Some(b'\\') => b'\\',
                        Some(b'n') => b'\n',
                        Some(b't') => b'\t',
                        Some(b'x') => {
                            let hex = self
                                .s
                                .get(at + 2..at + 4)
                                .and_then(|h| std::str::from_utf8(h).ok());
                            let hex = hex.filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
                            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                                Some(byte) => {
                                    self.i += 2;
                                    byte
                                }
                                None => return Err(self.unexpected(at, Expected::Escape)),
                            }
                        }
                        _ => return Err(self.unexpected(at, Expected::Escape)),
                    };
                    self.i += 2;
                    out.push(byte);
                }
                _ => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
    }
}

/// `first` alone, or `first` and `rest` under `node`, with operands that
/// are already `node`s (from parentheses) spliced in.
fn join(
    first: Expr,
    rest: Vec<Expr>,
    node: fn(Vec<Expr>) -> Expr,
    same: fn(Expr) -> std::result::Result<Vec<Expr>, Expr>,
) -> Expr {
    if rest.is_empty() {
        return first;
    }
    let mut operands = Vec::with_capacity(rest.len() + 1);
    for e in std::iter::once(first).chain(rest) {
        match same(e) {
            Ok(inner) => operands.extend(inner),
            Err(e) => operands.push(e),
        }
    }
    node(operands)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::canonical;

    fn ok(text: &str) -> String {
        match parse(text.as_bytes()) {
            Ok(e) => canonical(&e),
            Err(e) => panic!("{text:?}: {e}"),
        }
    }

    fn err(text: &[u8]) -> String {
        match parse(text) {
            Ok(e) => panic!("{text:?} parsed as {}", canonical(&e)),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn atoms() {
        assert_eq!(ok("prefix:user:"), "prefix:user:");
        assert_eq!(ok(r#"prefix:"a b\x00\"""#), r#"prefix:"a b\x00\"""#);
        assert_eq!(ok(r#"prefix:"""#), r#"prefix:"""#);
        assert_eq!(ok("prefix:caf\u{e9}"), r#"prefix:"caf\xc3\xa9""#);
        assert_eq!(ok("range:a..b"), "range:a..b");
        assert_eq!(ok("range:..b"), "range:..b");
        assert_eq!(ok("range:a.."), "range:a..");
        assert_eq!(ok("range:.."), "range:..");
        assert_eq!(ok(r#"range:"".."""#), "range:..");
        assert_eq!(ok(r#"range:"a."..b"#), r#"range:"a."..b"#);
        assert_eq!(ok("range:-...b"), "range:-...b");
        assert!(parse(b"range:a...b").is_err()); // ".b" is below "a"
        assert_eq!(ok("range:a..b..c"), r#"range:a.."b..c""#);
        assert_eq!(ok(r#"range:"".."\xff""#), r#"range:.."\xff""#);
        assert_eq!(ok("flags:3=1"), "flags:0x3=0x1");
        assert_eq!(ok("flags:0xFF = 0x10"), "flags:0xff=0x10");
        assert_eq!(ok("flags:4294967295=0"), "flags:0xffffffff=0x0");
        assert_eq!(ok("json:/reading>20"), "json:/reading > 20");
        assert_eq!(ok("json:/a>=-1.5e1"), "json:/a >= -15.0");
        assert_eq!(ok("json:/a!=null"), "json:/a != null");
        assert_eq!(ok(r#"json:/a="x\u00e9""#), r#"json:/a = "x\u00e9""#);
        assert_eq!(ok("json:/a exists"), "json:/a exists");
        assert_eq!(ok(r#"json:"" exists"#), r#"json:"" exists"#);
        assert_eq!(ok("json: exists"), r#"json:"" exists"#);
        assert_eq!(ok("json:=1"), r#"json:"" = 1"#);
        assert_eq!(ok(r#"json:"/a b" = true"#), r#"json:"/a b" = true"#);
        assert_eq!(ok(r#"json:"/a=b" = true"#), r#"json:"/a=b" = true"#);
        assert_eq!(ok("lua:check"), "lua:check");
        assert_eq!(ok("lua:sensors.recent_2"), "lua:sensors.recent_2");
    }

    #[test]
    fn operators() {
        assert_eq!(ok("prefix:a or prefix:b and prefix:c"), "prefix:a or prefix:b and prefix:c");
        assert_eq!(
            ok("(prefix:a or prefix:b) and prefix:c"),
            "(prefix:a or prefix:b) and prefix:c"
        );
        assert_eq!(ok("(prefix:a or prefix:b)"), "prefix:a or prefix:b");
        assert_eq!(
            ok("prefix:a and (prefix:b and prefix:c)"),
            "prefix:a and prefix:b and prefix:c"
        );
        assert_eq!(ok("((prefix:a))or(prefix:b)"), "prefix:a or prefix:b");
        assert_eq!(ok("not not prefix:a"), "not not prefix:a");
        assert_eq!(ok("not(prefix:a)"), "not prefix:a");
        assert_eq!(ok("not (prefix:a and flags:1=1)"), "not (prefix:a and flags:0x1=0x1)");
        assert_eq!(ok(" \t\nprefix:a\n"), "prefix:a");
        assert_eq!(ok("prefix:a and not(json:/x exists)"), "prefix:a and not json:/x exists");
    }

    /// Texts that are not filters, and the error each gets.
    const ERRORS: &[(&[u8], &str)] = &[
        (b"range:ax", r#"filter: at byte 8: expected "..", found the end"#),
        (b"range:a x", r#"filter: at byte 7: expected "..", found " ""#),
        (
            b"",
            "filter: at byte 0: expected an expression (prefix:, range:, flags:, json:, lua:, not or a \"(\"), found the end",
        ),
        (
            b"suffix:a",
            "filter: at byte 0: expected an expression (prefix:, range:, flags:, json:, lua:, not or a \"(\"), found \"suffix:a\"",
        ),
        (
            b"prefix:a prefix:b",
            r#"filter: at byte 9: expected "and", "or" or the end, found "prefix:b""#,
        ),
        (
            b"prefix:a AND prefix:b",
            r#"filter: at byte 9: expected "and", "or" or the end, found "AND""#,
        ),
        (b"(prefix:a", r#"filter: at byte 9: expected "and", "or" or ")", found the end"#),
        (b"prefix:a)", r#"filter: at byte 8: expected "and", "or" or the end, found ")""#),
        (
            b"prefix:a\"b\"",
            r#"filter: at byte 8: expected whitespace, ")" or the end after an atom, found "\"""#,
        ),
        (
            b"prefix: x",
            "filter: at byte 7: expected bytes (a bare token or a quoted string), found \" \"",
        ),
        (b"prefix:\"ab", r#"filter: at byte 10: expected "\"", found the end"#),
        (
            b"prefix:\"a\\qb\"",
            r#"filter: at byte 9: expected an escape (\" \\ \xHH \n \t), found "\\qb""#,
        ),
        (
            b"prefix:\"\\x4\"",
            r#"filter: at byte 8: expected an escape (\" \\ \xHH \n \t), found "\\x4""#,
        ),
        (
            b"range:b..a",
            "filter: at byte 9: expected an upper bound above the lower bound, found \"a\"",
        ),
        (
            b"range:b..b",
            "filter: at byte 9: expected an upper bound above the lower bound, found \"b\"",
        ),
        (
            b"flags:4294967296=0",
            "filter: at byte 6: expected a 32-bit number (decimal or 0x hex), found \"4294967296=0\"",
        ),
        (
            b"flags:1=2",
            "filter: at byte 8: expected a value with no bits outside the mask, found \"2\"",
        ),
        (
            b"flags:0x=0",
            "filter: at byte 6: expected a 32-bit number (decimal or 0x hex), found \"0x=0\"",
        ),
        (b"flags:1", r#"filter: at byte 7: expected "=", found the end"#),
        (
            b"flags:1=1and prefix:a",
            "filter: at byte 8: expected a 32-bit number (decimal or 0x hex), found \"1and\"",
        ),
        (
            b"json:a=1",
            "filter: at byte 5: expected a JSON pointer (empty or starting with \"/\", ~ only as ~0 or ~1), found \"a=1\"",
        ),
        (
            b"json:/a~2=1",
            "filter: at byte 7: expected a JSON pointer (empty or starting with \"/\", ~ only as ~0 or ~1), found \"~2=1\"",
        ),
        (b"json:/a", "filter: at byte 7: expected exists, =, !=, <, <=, > or >=, found the end"),
        (b"json:/a ~ 1", "filter: at byte 8: expected exists, =, !=, <, <=, > or >=, found \"~\""),
        (
            b"json:/a existsx",
            "filter: at byte 8: expected exists, =, !=, <, <=, > or >=, found \"existsx\"",
        ),
        (
            b"json:/a < true",
            "filter: at byte 10: expected a number or a string to order by, found \"true\"",
        ),
        (
            b"json:/a = 01",
            "filter: at byte 11: expected whitespace, \")\" or the end after an atom, found \"1\"",
        ),
        (
            b"json:/a = 1e999",
            "filter: at byte 10: expected a number within the range of a 64-bit float, found \"1e999\"",
        ),
        (
            b"json:/a = 'x'",
            "filter: at byte 10: expected a JSON value (a number, a string, true, false or null), found \"'x'\"",
        ),
        (
            b"json:/a = \"\\x41\"",
            r#"filter: at byte 11: expected a JSON escape (\" \\ \/ \b \f \n \r \t \uXXXX), found "\\x41""#,
        ),
        (b"json:/a = \"\xff\"", "filter: at byte 11: expected a UTF-8 string, found \"\\xff\""),
        (
            b"lua:9lives",
            "filter: at byte 4: expected a Lua function name (identifiers joined by dots), found \"9lives\"",
        ),
        (
            b"lua:a..b",
            "filter: at byte 4: expected a Lua function name (identifiers joined by dots), found \"a..b\"",
        ),
        (
            b"lua:",
            "filter: at byte 4: expected a Lua function name (identifiers joined by dots), found the end",
        ),
        (
            b"lua:f(x)",
            "filter: at byte 5: expected whitespace, \")\" or the end after an atom, found \"(\"",
        ),
        (
            b"not",
            "filter: at byte 3: expected an expression (prefix:, range:, flags:, json:, lua:, not or a \"(\"), found the end",
        ),
        (
            b"notprefix:a",
            "filter: at byte 0: expected an expression (prefix:, range:, flags:, json:, lua:, not or a \"(\"), found \"notprefix:a\"",
        ),
        (
            b"prefix:a and",
            "filter: at byte 12: expected an expression (prefix:, range:, flags:, json:, lua:, not or a \"(\"), found the end",
        ),
    ];

    #[test]
    fn errors() {
        let wrong: Vec<String> = ERRORS
            .iter()
            .filter(|(text, want)| err(text) != *want)
            .map(|(text, _)| format!("{:?} => {}", String::from_utf8_lossy(text), err(text)))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn limits() {
        let long = format!("prefix:{}", "a".repeat(MAX_LEN));
        assert_eq!(
            err(long.as_bytes()),
            "filter: at byte 4096: the text is 4103 bytes, more than the limit of 4096"
        );
        let deep = format!("{}prefix:a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        ok(&deep);
        let deeper = format!("({deep})");
        assert_eq!(
            err(deeper.as_bytes()),
            "filter: at byte 32: more than 32 nested `not`s and parentheses"
        );
        let nots = format!("{}prefix:a", "not ".repeat(MAX_DEPTH));
        ok(&nots);
        assert_eq!(
            err(format!("not {nots}").as_bytes()),
            "filter: at byte 128: more than 32 nested `not`s and parentheses"
        );
        let mixed = format!("{}prefix:a{}", "not (".repeat(16), ")".repeat(16));
        ok(&mixed);
        let atoms = vec!["prefix:a"; MAX_ATOMS].join(" or ");
        ok(&atoms);
        let more = format!("{atoms} or prefix:b");
        assert_eq!(
            err(more.as_bytes()),
            format!("filter: at byte {}: more than 64 atoms", atoms.len() + 4)
        );
        // Thousands of parentheses or nots fail at the limit, not the stack.
        assert!(err("(".repeat(4000).as_bytes()).contains("more than 32"));
        assert!(err("not ".repeat(1000).as_bytes()).contains("more than 32"));
    }
}
