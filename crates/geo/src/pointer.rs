//! RFC 6901 JSON pointers, parsed once and resolved against many values.

use crate::error::PointerError;
use serde_json::Value;

/// A parsed JSON pointer such as `/loc` or `/properties/a~1b`. The empty
/// pointer names the whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPointer {
    text: String,
    tokens: Vec<String>,
}

impl JsonPointer {
    /// Parses a pointer, unescaping `~1` to `/` and `~0` to `~`.
    ///
    /// # Errors
    /// When a non-empty pointer does not start with `/` or a `~` is not
    /// followed by `0` or `1`.
    pub fn parse(text: &str) -> Result<JsonPointer, PointerError> {
        if text.is_empty() {
            return Ok(JsonPointer { text: String::new(), tokens: Vec::new() });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(PointerError::NoLeadingSlash { pointer: text.to_owned() });
        };
        let mut tokens = Vec::new();
        let mut offset = 1;
        for raw in rest.split('/') {
            let mut token = String::with_capacity(raw.len());
            let mut chars = raw.char_indices();
            while let Some((i, c)) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some((_, '0')) => token.push('~'),
                        Some((_, '1')) => token.push('/'),
                        _ => {
                            return Err(PointerError::BadEscape {
                                pointer: text.to_owned(),
                                offset: offset + i,
                            });
                        }
                    }
                } else {
                    token.push(c);
                }
            }
            offset += raw.len() + 1;
            tokens.push(token);
        }
        Ok(JsonPointer { text: text.to_owned(), tokens })
    }

    /// The unescaped reference tokens.
    pub(crate) fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value the pointer names, if there is one. Array indexes are
    /// decimal without leading zeros; `-` (one past the end) names nothing.
    pub fn resolve<'v>(&self, doc: &'v Value) -> Option<&'v Value> {
        let mut at = doc;
        for token in &self.tokens {
            at = match at {
                Value::Object(map) => map.get(token)?,
                Value::Array(items) => items.get(array_index(token)?)?,
                _ => return None,
            };
        }
        Some(at)
    }
}

/// A token as an array index: decimal digits without leading zeros (`-`,
/// one past the end, names nothing).
pub(crate) fn array_index(token: &str) -> Option<usize> {
    let well_formed = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    if well_formed { token.parse().ok() } else { None }
}

impl std::fmt::Display for JsonPointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc6901_examples() {
        let doc = json!({
            "foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3,
            "g|h": 4, "i\\j": 5, "k\"l": 6, " ": 7, "m~n": 8
        });
        let get = |p: &str| JsonPointer::parse(p).unwrap().resolve(&doc).cloned();
        assert_eq!(get(""), Some(doc.clone()));
        assert_eq!(get("/foo"), Some(json!(["bar", "baz"])));
        assert_eq!(get("/foo/0"), Some(json!("bar")));
        assert_eq!(get("/"), Some(json!(0)));
        assert_eq!(get("/a~1b"), Some(json!(1)));
        assert_eq!(get("/c%d"), Some(json!(2)));
        assert_eq!(get("/ "), Some(json!(7)));
        assert_eq!(get("/m~0n"), Some(json!(8)));
        assert_eq!(get("/foo/01"), None);
        assert_eq!(get("/foo/-"), None);
        assert_eq!(get("/foo/2"), None);
        assert_eq!(get("/foo/0/x"), None);
        assert_eq!(get("/nope"), None);
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(JsonPointer::parse("loc"), Err(PointerError::NoLeadingSlash { .. })));
        assert_eq!(
            JsonPointer::parse("/a/b~2"),
            Err(PointerError::BadEscape { pointer: "/a/b~2".into(), offset: 4 })
        );
        assert!(JsonPointer::parse("/a~").is_err());
    }
}
