//! [`Answer`]s as GeoCouch JSON.
//!
//! Rows: `{"rows":[{"id":KEY,"bbox":[W,S,E,N],"geometry":{…},"value":…}]}`,
//! with `"distance"` (metres) after `"value"` for nearest queries. Counts:
//! `{"count":N}`.
//!
//! **`id`.** A key that is UTF-8 is the `id` string as is. JSON strings
//! cannot carry other bytes, so for such a key `id` is the lossy UTF-8
//! reading (U+FFFD for each bad sequence), and the row also has
//! `"id_hex"`, the key's exact bytes in lowercase hex, for clients that
//! need to fetch the item. (memcached keys are usually ASCII; the extra
//! member appears only when it is needed.)
//!
//! **`value`.** Whatever the caller's `value` function returns for the key:
//! the server passes one that reads the item's current document from the
//! store, so `value` is the whole JSON document as stored when the row is
//! rendered. `None` (the item is gone, or the caller wants no values)
//! renders `null`; bytes that are not UTF-8 JSON also render `null`, so a
//! value changed under the query can never break the body. The function is
//! called only for rows that are returned (after `skip`/`limit`), never for
//! counts.

use crate::extract::push_f64;
use crate::query::{Answer, Row};
use serde::de::IgnoredAny;

/// Renders an answer; `value` gives the JSON for a row's key.
pub fn render_answer<F, V>(answer: &Answer, value: F) -> Vec<u8>
where
    F: FnMut(&[u8]) -> Option<V>,
    V: AsRef<[u8]>,
{
    match answer {
        Answer::Rows(rows) => render_rows(rows, value),
        Answer::Count(n) => format!(r#"{{"count":{n}}}"#).into_bytes(),
    }
}

/// Renders rows as `{"rows":[…]}`; `value` gives the JSON for a row's key.
pub fn render_rows<F, V>(rows: &[Row], mut value: F) -> Vec<u8>
where
    F: FnMut(&[u8]) -> Option<V>,
    V: AsRef<[u8]>,
{
    // A point row with a null value is about 150 bytes.
    let mut out = String::with_capacity(16 + rows.len() * 160);
    out.push_str(r#"{"rows":["#);
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_row(&mut out, row, value(row.key()).as_ref().map(AsRef::as_ref));
    }
    out.push_str("]}");
    out.into_bytes()
}

fn push_row(out: &mut String, row: &Row, value: Option<&[u8]>) {
    out.push_str(r#"{"id":"#);
    let key = row.key();
    if let Ok(s) = std::str::from_utf8(key) {
        push_str(out, s);
    } else {
        push_str(out, &String::from_utf8_lossy(key));
        out.push_str(r#","id_hex":""#);
        for b in key {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out.push('"');
    }
    let b = row.bbox();
    out.push_str(r#","bbox":["#);
    if b.is_point() {
        // Format each coordinate once: the box and the point share them.
        let start = out.len();
        push_f64(out, b.west());
        out.push(',');
        push_f64(out, b.south());
        let lon_lat = start..out.len();
        out.push(',');
        out.extend_from_within(lon_lat.clone());
        out.push_str(r#"],"geometry":"#);
        if row.has_stored_geometry() {
            row.write_geometry(out);
        } else {
            out.push_str(r#"{"type":"Point","coordinates":["#);
            out.extend_from_within(lon_lat);
            out.push_str("]}");
        }
    } else {
        for (i, v) in b.to_array().into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_f64(out, v);
        }
        out.push_str(r#"],"geometry":"#);
        row.write_geometry(out);
    }
    out.push_str(r#","value":"#);
    match value.and_then(json_text) {
        Some(text) => out.push_str(text.trim_ascii()),
        None => out.push_str("null"),
    }
    if let Some(d) = row.distance() {
        out.push_str(r#","distance":"#);
        push_f64(out, d);
    }
    out.push('}');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `bytes` as text if they are one complete JSON value.
fn json_text(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    serde_json::from_str::<IgnoredAny>(text).ok()?;
    Some(text)
}

/// Appends `s` as a JSON string literal: `"` and `\\` escaped, control
/// characters as `\\u00XX`, everything else as is (JSON text is UTF-8).
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        if b == b'"' || b == b'\\' || b < 0x20 {
            out.push_str(&s[plain..i]);
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                _ => {
                    out.push_str("\\u00");
                    out.push(char::from(HEX[usize::from(b >> 4)]));
                    out.push(char::from(HEX[usize::from(b & 0xf)]));
                }
            }
            plain = i + 1;
        }
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbox::Bbox;
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn row(key: &[u8], bbox: Bbox, geometry: Option<&str>, distance: Option<f64>) -> Row {
        Row {
            key: crate::key::ItemKey::new(key),
            bbox,
            geometry: geometry.map(Arc::from),
            distance,
        }
    }

    fn parse(body: &[u8]) -> Value {
        serde_json::from_slice(body).expect("valid JSON")
    }

    #[test]
    fn rows_like_geocouch() {
        let rows = vec![
            row(b"paris", Bbox::point(2.35, 48.85).unwrap(), None, None),
            row(
                b"tri\"angle",
                Bbox::new(0.0, 0.0, 3.0, 2.0).unwrap(),
                Some(r#"{"type":"Polygon","coordinates":[[[0,0],[3,0],[3,2],[0,0]]]}"#),
                None,
            ),
        ];
        let body = render_rows(&rows, |k| match k {
            b"paris" => Some(&br#" {"name": "Paris", "loc": [2.35, 48.85]} "#[..]),
            _ => None,
        });
        assert_eq!(
            parse(&body),
            json!({"rows": [
                {"id": "paris", "bbox": [2.35, 48.85, 2.35, 48.85],
                 "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
                 "value": {"name": "Paris", "loc": [2.35, 48.85]}},
                {"id": "tri\"angle", "bbox": [0.0, 0.0, 3.0, 2.0],
                 "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [3, 0], [3, 2], [0, 0]]]},
                 "value": null}
            ]})
        );
        assert_eq!(render_rows(&[], |_| None::<Vec<u8>>), br#"{"rows":[]}"#);
    }

    #[test]
    fn distance_counts_and_bad_values() {
        let rows = vec![row(b"k", Bbox::point(0.0, 0.0).unwrap(), None, Some(1234.5))];
        let body = parse(&render_rows(&rows, |_| Some(b"not json".to_vec())));
        assert_eq!(body["rows"][0]["value"], Value::Null);
        assert_eq!(body["rows"][0]["distance"], json!(1234.5));
        let body = parse(&render_rows(&rows, |_| Some(b"{\"a\":\"\xff\"}".to_vec())));
        assert_eq!(body["rows"][0]["value"], Value::Null);
        let body = parse(&render_rows(&rows, |_| Some(b"[1,2] 3".to_vec())));
        assert_eq!(body["rows"][0]["value"], Value::Null);
        assert_eq!(render_answer(&Answer::Count(42), |_| None::<Vec<u8>>), br#"{"count":42}"#);
    }

    #[test]
    fn non_utf8_keys() {
        let rows = vec![row(b"a\xffb", Bbox::point(1.0, 2.0).unwrap(), None, None)];
        let body = parse(&render_rows(&rows, |_| None::<Vec<u8>>));
        assert_eq!(body["rows"][0]["id"], json!("a\u{fffd}b"));
        assert_eq!(body["rows"][0]["id_hex"], json!("61ff62"));
        let rows = vec![row(b"ok\n", Bbox::point(1.0, 2.0).unwrap(), None, None)];
        let body = parse(&render_rows(&rows, |_| None::<Vec<u8>>));
        assert_eq!(body["rows"][0]["id"], json!("ok\n"));
        assert!(body["rows"][0].get("id_hex").is_none());
    }
}
