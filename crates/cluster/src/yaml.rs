//! The YAML subset nutcracker configs are written in, read line by line
//! into events, and the scalar quoting the writer uses.
//!
//! A config is a mapping of pool names to mappings of directives, whose
//! values are scalars except `servers`, a block sequence of scalars:
//!
//! ```yaml
//! # comment
//! pool:
//!   listen: 127.0.0.1:22121
//!   hash_tag: "{}"
//!   servers:
//!    - 127.0.0.1:11211:1 one   # comment
//! ```
//!
//! Scalars are plain, `'single'` or `"double"` quoted (escapes `\\ \" \n
//! \t \r \0`), on one line. Flow collections, block scalars, anchors,
//! aliases and tags are refused with the line number; so are tabs in
//! indentation, as YAML itself refuses them.

use crate::error::ConfigError;

/// One meaningful line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// `name:` at indent 0: a pool starts.
    Pool { line: usize, name: String },
    /// `key: value` inside a pool (`value` is `None` for `key:` alone).
    Entry { line: usize, key: String, value: Option<String> },
    /// `- value` inside a pool.
    Item { line: usize, value: String },
}

/// Reads `text` into events, checking indentation: pool names at column
/// 0, a pool's directives all at one deeper column, sequence items at that
/// column or deeper, right after a directive without a value.
pub(crate) fn events(text: &str) -> Result<Vec<Event>, ConfigError> {
    let mut out = Vec::new();
    let mut body_indent: Option<usize> = None;
    let mut in_pool = false;
    let mut list_open = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.trim_start_matches(' ');
        let indent = raw.len() - content.len();
        if content.starts_with('\t') {
            return Err(ConfigError::syntax(line, "tab in indentation"));
        }
        let content = content.trim_end();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if indent == 0 && (content == "---" || content == "...") {
            continue;
        }
        if indent == 0 {
            let (name, value) = split_entry(content, line)?;
            if value.is_some() {
                return Err(ConfigError::syntax(line, "a pool name must end its line"));
            }
            out.push(Event::Pool { line, name });
            in_pool = true;
            body_indent = None;
            list_open = false;
            continue;
        }
        if !in_pool {
            return Err(ConfigError::syntax(line, "indented line outside a pool"));
        }
        let body = *body_indent.get_or_insert(indent);
        if let Some(item) = content.strip_prefix('-').filter(|r| r.is_empty() || r.starts_with(' '))
        {
            if !list_open || indent < body {
                return Err(ConfigError::syntax(line, "list item outside a list"));
            }
            let item = item.trim_start();
            if item.is_empty() {
                return Err(ConfigError::syntax(line, "empty list item"));
            }
            let (value, rest) = scalar(item, line)?;
            expect_end(rest, line)?;
            out.push(Event::Item { line, value });
            continue;
        }
        if indent != body {
            return Err(ConfigError::syntax(
                line,
                format!("indented {indent} spaces where this pool's directives have {body}"),
            ));
        }
        let (key, value) = split_entry(content, line)?;
        list_open = value.is_none();
        out.push(Event::Entry { line, key, value });
    }
    Ok(out)
}

/// `key:` or `key: value` (the key plain or quoted).
fn split_entry(content: &str, line: usize) -> Result<(String, Option<String>), ConfigError> {
    let (key, rest) = if content.starts_with(['"', '\'']) {
        scalar(content, line)?
    } else {
        let end = find_colon(content)
            .ok_or_else(|| ConfigError::syntax(line, "expected \"key: value\" or \"key:\""))?;
        (content[..end].trim_end().to_owned(), &content[end..])
    };
    let Some(rest) = rest.strip_prefix(':') else {
        return Err(ConfigError::syntax(line, "expected ':' after the key"));
    };
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err(ConfigError::syntax(line, "expected a space after ':'"));
    }
    if key.is_empty() {
        return Err(ConfigError::syntax(line, "empty key"));
    }
    let rest = rest.trim_start();
    if rest.is_empty() || rest.starts_with('#') {
        return Ok((key, None));
    }
    let (value, after) = scalar(rest, line)?;
    expect_end(after, line)?;
    Ok((key, Some(value)))
}

/// The first `:` that ends a plain key (followed by a space or the end).
fn find_colon(content: &str) -> Option<usize> {
    let bytes = content.as_bytes();
    (0..bytes.len()).find(|&i| bytes[i] == b':' && bytes.get(i + 1).is_none_or(|&b| b == b' '))
}

/// Only spaces and a comment may follow a value.
fn expect_end(rest: &str, line: usize) -> Result<(), ConfigError> {
    let rest = rest.trim_start();
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        Err(ConfigError::syntax(line, format!("unexpected {rest:?} after the value")))
    }
}

/// One scalar at the start of `text`: the value and what follows it.
fn scalar(text: &str, line: usize) -> Result<(String, &str), ConfigError> {
    match text.as_bytes()[0] {
        b'\'' => single_quoted(text, line),
        b'"' => double_quoted(text, line),
        b'[' | b'{' => Err(ConfigError::syntax(line, "flow collections are not supported")),
        b'|' | b'>' => Err(ConfigError::syntax(line, "block scalars are not supported")),
        b'&' | b'*' | b'!' => {
            Err(ConfigError::syntax(line, "anchors, aliases and tags are not supported"))
        }
        _ => {
            // A plain scalar runs to a comment (" #") or the end.
            let end = text.find(" #").unwrap_or(text.len());
            let value = text[..end].trim_end();
            if find_colon(value).is_some() {
                return Err(ConfigError::syntax(line, "a plain value may not hold \": \""));
            }
            Ok((value.to_owned(), &text[end..]))
        }
    }
}

fn single_quoted(text: &str, line: usize) -> Result<(String, &str), ConfigError> {
    let mut value = String::new();
    let mut rest = &text[1..];
    loop {
        let Some(at) = rest.find('\'') else {
            return Err(ConfigError::syntax(line, "unterminated '…' string"));
        };
        value.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        match rest.strip_prefix('\'') {
            Some(after) => {
                value.push('\'');
                rest = after;
            }
            None => return Ok((value, rest)),
        }
    }
}

fn double_quoted(text: &str, line: usize) -> Result<(String, &str), ConfigError> {
    let mut value = String::new();
    let mut chars = text[1..].char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[1 + at + 1..])),
            '\\' => {
                let escaped = match chars.next().map(|(_, e)| e) {
                    Some('\\') => '\\',
                    Some('"') => '"',
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    Some('0') => '\0',
                    Some(other) => {
                        return Err(ConfigError::syntax(
                            line,
                            format!("unsupported escape \\{other} in a \"…\" string"),
                        ));
                    }
                    None => break,
                };
                value.push(escaped);
            }
            _ => value.push(c),
        }
    }
    Err(ConfigError::syntax(line, "unterminated \"…\" string"))
}

/// `value` as a scalar the reader gives back unchanged: plain when that is
/// safe, double-quoted otherwise.
pub(crate) fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && !value.starts_with([
            ' ', '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"',
            '%', '@', '`',
        ])
        && !value.ends_with([' ', ':'])
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.chars().any(char::is_control)
        && value != "---"
        && value != "...";
    if plain {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nutcrackers_sample_shape() {
        let text = "# pools\n---\nbeta:\n  listen: 127.0.0.1:22122  # proxy\n  hash_tag: \"{}\"\n  \
                    servers:\n   - 127.0.0.1:6380:1 server1\n  - '127.0.0.1:6381:1 it''s'\n  \
                    timeout: 400\n";
        let ev = events(text).unwrap();
        assert_eq!(
            ev,
            vec![
                Event::Pool { line: 3, name: "beta".into() },
                Event::Entry {
                    line: 4,
                    key: "listen".into(),
                    value: Some("127.0.0.1:22122".into())
                },
                Event::Entry { line: 5, key: "hash_tag".into(), value: Some("{}".into()) },
                Event::Entry { line: 6, key: "servers".into(), value: None },
                Event::Item { line: 7, value: "127.0.0.1:6380:1 server1".into() },
                Event::Item { line: 8, value: "127.0.0.1:6381:1 it's".into() },
                Event::Entry { line: 9, key: "timeout".into(), value: Some("400".into()) },
            ]
        );
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        let line_of = |t: &str| events(t).unwrap_err().line;
        assert_eq!(line_of("p:\n  servers: [a, b]\n"), 2);
        assert_eq!(line_of("p:\n  hash: |\n"), 2);
        assert_eq!(line_of("p:\n  a: 1\n    b: 2\n"), 3);
        assert_eq!(line_of("p:\n\tlisten: x\n"), 2);
        assert_eq!(line_of("p:\n  listen: x\n  - item\n"), 3);
        assert_eq!(line_of("  listen: x\n"), 1);
        assert_eq!(line_of("p:\n  hash_tag: \"{}\n"), 2);
        assert_eq!(line_of("p: 3\n"), 1);
        assert_eq!(line_of("p:\n  a: b: c\n"), 2);
    }

    #[test]
    fn quoting_round_trips() {
        for v in [
            "plain",
            "{}",
            "a: b",
            "-x",
            "x #y",
            "it's",
            "\"q\"",
            "tab\there",
            "",
            " lead",
            "1:2:3 n",
        ] {
            let text = format!("p:\n  k: {}\n", quote(v));
            let ev = events(&text).unwrap();
            assert_eq!(
                ev[1],
                Event::Entry { line: 2, key: "k".into(), value: Some(v.into()) },
                "{v:?}"
            );
        }
        assert_eq!(quote("127.0.0.1:11211:1 node1"), "127.0.0.1:11211:1 node1");
        assert_eq!(quote("{}"), "\"{}\"");
    }
}
