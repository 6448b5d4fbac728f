//! GeoCouch's `_spatial` HTTP API without the HTTP: request paths and query
//! strings in, a status and a JSON body out. The server (hyper) only moves
//! bytes:
//!
//! ```
//! use geo_index::{GeoIndex, IndexSpec, couch};
//!
//! let index = GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap());
//! index.upsert(b"paris", br#"{"loc":[2.35,48.85]}"#);
//!
//! let path = couch::SpatialPath::parse("/default/_spatial/loc").unwrap();
//! assert_eq!((path.bucket(), path.index()), ("default", "loc"));
//!
//! // The server looks the index up by name (404 via CouchError::not_found
//! // when missing) and reads values from its store for "value".
//! let (status, body) = couch::respond(&index, "bbox=0,40,10,50", |_key| None::<Vec<u8>>);
//! assert_eq!(status, 200);
//! assert_eq!(
//!     String::from_utf8(body).unwrap(),
//!     r#"{"rows":[{"id":"paris","bbox":[2.35,48.85,2.35,48.85],"geometry":{"type":"Point","coordinates":[2.35,48.85]},"value":null}]}"#
//! );
//! let (status, _) = couch::respond(&index, "bbox=0,40,10", |_key| None::<Vec<u8>>);
//! assert_eq!(status, 400);
//! ```

mod error;
mod live;
mod params;
mod render;

pub use error::CouchError;
pub use live::{live_rows, respond_live};
pub use params::{parse_query, stale_ok};
pub use render::{render_answer, render_rows};

use crate::GeoIndex;

/// The parts of `/<bucket>/_spatial/<index>`, percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpatialPath {
    bucket: String,
    index: String,
}

impl SpatialPath {
    /// Recognises `/<bucket>/_spatial/<index>` (no query string; one
    /// trailing `/` allowed). `None` for any other path, so the server can
    /// fall through to its other routes.
    pub fn parse(path: &str) -> Option<SpatialPath> {
        let path = path.strip_prefix('/')?;
        let path = path.strip_suffix('/').unwrap_or(path);
        let mut parts = path.split('/');
        let (bucket, spatial, index) = (parts.next()?, parts.next()?, parts.next()?);
        if spatial != "_spatial" || parts.next().is_some() || bucket.is_empty() || index.is_empty()
        {
            return None;
        }
        let decode = |s: &str| {
            let bytes = s.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while let Some(&b) = bytes.get(i) {
                if b == b'%' {
                    let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                } else {
                    out.push(b);
                    i += 1;
                }
            }
            String::from_utf8(out).ok()
        };
        Some(SpatialPath { bucket: decode(bucket)?, index: decode(index)? })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The index's name.
    pub fn index(&self) -> &str {
        &self.index
    }
}

/// Answers a `_spatial` query string against `index`: `(200, rows or
/// count)`, or an error's status and body. `value` gives each returned
/// row's `"value"` JSON from its key (see [`render_answer`]); it is called
/// after the index's lock is released.
pub fn respond<F, V>(index: &GeoIndex, query_string: &str, value: F) -> (u16, Vec<u8>)
where
    F: FnMut(&[u8]) -> Option<V>,
    V: AsRef<[u8]>,
{
    let answer = parse_query(query_string)
        .map_err(|e| CouchError::from(&e))
        .and_then(|q| index.query(&q).map_err(|e| CouchError::from(&e)));
    match answer {
        Ok(answer) => (200, render_answer(&answer, value)),
        Err(e) => (e.status(), e.body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p = SpatialPath::parse("/b%20x/_spatial/idx/").unwrap();
        assert_eq!((p.bucket(), p.index()), ("b x", "idx"));
        for bad in [
            "/metrics",
            "/b/_spatial",
            "/b/_spatial/",
            "//_spatial/i",
            "/b/_view/i",
            "/b/_spatial/i/x",
            "b/_spatial/i",
            "/b/_spatial/%zz",
        ] {
            assert_eq!(SpatialPath::parse(bad), None, "{bad}");
        }
    }
}
