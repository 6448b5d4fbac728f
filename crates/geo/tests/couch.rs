//! GeoCouch layer robustness: no input string panics the parser, and every
//! rendered body is valid JSON.

use geo_index::couch::{CouchError, parse_query, render_rows, respond};
use geo_index::{GeoIndex, IndexSpec, QueryBox};
use proptest::prelude::*;

/// Query strings built from the parser's own vocabulary, so that most
/// reach deep into it.
fn query_string() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("bbox"),
        Just("limit"),
        Just("skip"),
        Just("count"),
        Just("stale"),
        Just("n"),
        Just("q"),
        Just("x"),
        Just(""),
    ];
    let value = prop_oneof![
        "[-0-9.,eE+%a-fNnIi ]{0,30}",
        Just("true".to_owned()),
        Just("ok".to_owned()),
        "(-?[0-9]{1,3}(\\.[0-9]{1,4})?,){1,4}-?[0-9]{1,3}",
        ".{0,10}",
    ];
    proptest::collection::vec((name, value), 0..6).prop_map(|pairs| {
        pairs.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_any_string(s in ".{0,80}") {
        let _ = parse_query(&s);
    }

    #[test]
    fn parser_never_panics_on_near_misses(s in query_string()) {
        if let Err(e) = parse_query(&s) {
            let c = CouchError::from(&e);
            prop_assert_eq!(c.status(), 400);
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&c.body()).is_ok());
        }
    }

    #[test]
    fn respond_always_returns_json(s in query_string()) {
        let index = GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap());
        index.upsert(b"a", br#"{"loc":[1,2]}"#);
        let (status, body) = respond(&index, &s, |k| Some(k.to_vec()));
        prop_assert!(status == 200 || status == 400);
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());
    }

    #[test]
    fn rows_render_as_json(
        items in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..12), proptest::collection::vec(any::<u8>(), 0..12)),
            0..8,
        ),
    ) {
        let index = GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap());
        for (k, _) in &items {
            index.upsert(k, br#"{"loc":[1,2]}"#);
        }
        let rows = index.within(QueryBox::WORLD, 0, None);
        let body = render_rows(&rows, |k| items.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()));
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        prop_assert_eq!(parsed["rows"].as_array().map(Vec::len), Some(rows.len()));
    }
}

#[test]
fn respond_statuses() {
    let index = GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap());
    index.upsert(b"a", br#"{"loc":[1,2]}"#);
    index.upsert(b"b", br#"{"loc":[-179,2]}"#);
    let (status, body) = respond(&index, "bbox=170,0,-170,5&count=true", |_| None::<Vec<u8>>);
    assert_eq!((status, body.as_slice()), (200, &br#"{"count":1}"#[..]));
    let (status, body) = respond(&index, "n=1&q=0,0", |_| Some(br#"{"loc":[1,2]}"#));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["rows"][0]["id"], "a");
    assert_eq!(v["rows"][0]["value"], serde_json::json!({"loc": [1, 2]}));
    assert!(v["rows"][0]["distance"].as_f64().unwrap() > 248_000.0);
    let (status, body) = respond(&index, "bbox=1,2,3", |_| None::<Vec<u8>>);
    assert_eq!(status, 400);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "query_parse_error");
}
