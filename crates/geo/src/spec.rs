//! The index declaration, `NAME=POINTER`, as given to
//! `mammoth serve --geo-index`.

use crate::error::SpecError;
use crate::extract::Shape;
use crate::pointer::JsonPointer;

/// A declared geo index: its name (the `<index>` of
/// `/<bucket>/_spatial/<index>`) and the JSON pointer to each value's
/// geometry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    name: String,
    pointer: JsonPointer,
}

impl IndexSpec {
    /// Parses `NAME=POINTER`, for example `places=/geometry` or `loc=/loc`.
    /// The first `=` separates the two, so the pointer may contain `=`.
    ///
    /// # Errors
    /// When there is no `=`, the name is empty or not made of ASCII
    /// letters, digits, `_`, `.` and `-`, or the pointer is not an RFC 6901
    /// pointer.
    pub fn parse(declaration: &str) -> Result<IndexSpec, SpecError> {
        let Some((name, pointer)) = declaration.split_once('=') else {
            return Err(SpecError::MissingEquals { declaration: declaration.to_owned() });
        };
        IndexSpec::new(name, pointer)
    }

    /// An index from its two parts.
    ///
    /// # Errors
    /// As for [`IndexSpec::parse`].
    pub fn new(name: &str, pointer: &str) -> Result<IndexSpec, SpecError> {
        let good_name = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !good_name {
            return Err(SpecError::BadName { name: name.to_owned() });
        }
        let pointer = JsonPointer::parse(pointer).map_err(SpecError::BadPointer)?;
        Ok(IndexSpec { name: name.to_owned(), pointer })
    }

    /// The index's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pointer to each value's geometry.
    pub fn pointer(&self) -> &JsonPointer {
        &self.pointer
    }

    /// The shape of a stored value, or `None` when the value is not JSON,
    /// lacks the field, or the field is not a valid geometry (see
    /// [`crate::extract`]).
    pub fn extract(&self, value: &[u8]) -> Option<Shape> {
        // Only an object or an array can hold a geometry: skip the parse
        // for counters, plain text and binary values.
        let first = value.iter().copied().find(|b| !b.is_ascii_whitespace())?;
        if first != b'{' && first != b'[' {
            return None;
        }
        Shape::from_json(&crate::scan::pointee(&self.pointer, value)?)
    }
}

impl std::str::FromStr for IndexSpec {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<IndexSpec, SpecError> {
        IndexSpec::parse(s)
    }
}

impl std::fmt::Display for IndexSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.name, self.pointer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_declarations() {
        let s = IndexSpec::parse("places=/geometry").unwrap();
        assert_eq!((s.name(), s.pointer().as_str()), ("places", "/geometry"));
        assert_eq!(s.to_string(), "places=/geometry");
        let s: IndexSpec = "whole=".parse().unwrap();
        assert_eq!(s.pointer().as_str(), "");
        assert_eq!(IndexSpec::parse("a=/x=y").unwrap().pointer().as_str(), "/x=y");
        assert!(matches!(IndexSpec::parse("loc"), Err(SpecError::MissingEquals { .. })));
        assert!(matches!(IndexSpec::parse("=/loc"), Err(SpecError::BadName { .. })));
        assert!(matches!(IndexSpec::parse("a b=/loc"), Err(SpecError::BadName { .. })));
        assert!(matches!(IndexSpec::parse("a/b=/loc"), Err(SpecError::BadName { .. })));
        assert!(matches!(IndexSpec::parse("a=loc"), Err(SpecError::BadPointer(_))));
        assert!(matches!(IndexSpec::parse("a=/l~2"), Err(SpecError::BadPointer(_))));
    }

    #[test]
    fn extracts_from_values() {
        let loc = IndexSpec::parse("loc=/loc").unwrap();
        let geo = IndexSpec::parse("g=/geometry").unwrap();
        let pt = |s: &IndexSpec, v: &str| s.extract(v.as_bytes()).map(|s| s.bbox().to_array());
        assert_eq!(
            pt(&loc, r#"{"loc":[2.35,48.85],"name":"Paris"}"#),
            Some([2.35, 48.85, 2.35, 48.85])
        );
        assert_eq!(
            pt(&geo, r#" {"geometry":{"type":"Point","coordinates":[-0.1,51.5]}}"#),
            Some([-0.1, 51.5, -0.1, 51.5])
        );
        assert_eq!(
            pt(
                &geo,
                r#"{"geometry":{"type":"Polygon","coordinates":[[[0,0],[3,0],[3,2],[0,0]]]}}"#
            ),
            Some([0.0, 0.0, 3.0, 2.0])
        );
        // Not JSON, truncated JSON, binary, missing field, wrong type, off the globe.
        assert_eq!(pt(&loc, "hello"), None);
        assert_eq!(pt(&loc, "12"), None);
        assert_eq!(pt(&loc, r#"{"loc":[1,2]"#), None);
        assert_eq!(pt(&loc, "\u{0}\u{1}\u{ff}"), None);
        assert_eq!(loc.extract(&[0xff, b'{', 0x80]), None);
        assert_eq!(loc.extract(b""), None);
        assert_eq!(pt(&loc, r#"{"where":[1,2]}"#), None);
        assert_eq!(pt(&loc, r#"{"loc":"1,2"}"#), None);
        assert_eq!(pt(&loc, r#"{"loc":[200,2]}"#), None);
        assert_eq!(pt(&loc, r#"{"loc":[2,-91]}"#), None);
        assert_eq!(pt(&loc, r#"{"loc":[1e999,2]}"#), None);
        // A document that is itself a position, with the empty pointer.
        let whole = IndexSpec::parse("w=").unwrap();
        assert_eq!(pt(&whole, "[1,2]"), Some([1.0, 2.0, 1.0, 2.0]));
    }
}
