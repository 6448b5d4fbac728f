//! Sequences of writes against the model.

use crate::model::{Model, item_bbox, key, query_box, value_for};
use geo_index::{Bbox, GeoIndex, IndexSpec, QueryBox};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// SET with a value that has a geometry.
    Set(Vec<u8>, Bbox, bool),
    /// SET with a value that has none (not JSON, no field, off the globe).
    SetPlain(Vec<u8>, u8),
    Delete(Vec<u8>),
    Flush,
    Warmup(Vec<(Vec<u8>, Bbox)>),
    Query(QueryBox),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (key(), item_bbox(), any::<bool>()).prop_map(|(k, b, g)| Op::Set(k, b, g)),
        3 => (key(), 0u8..4).prop_map(|(k, v)| Op::SetPlain(k, v)),
        4 => key().prop_map(Op::Delete),
        1 => Just(Op::Flush),
        1 => proptest::collection::vec((key(), item_bbox()), 0..40).prop_map(Op::Warmup),
        4 => query_box().prop_map(Op::Query),
    ]
}

fn plain_value(which: u8) -> &'static [u8] {
    match which {
        0 => b"not json at all",
        1 => br#"{"other":[1,2]}"#,
        2 => br#"{"loc":[200,0]}"#,
        _ => b"\xff\xfe{",
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn writes_follow_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        let index = GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap());
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Set(k, b, g) => {
                    prop_assert!(index.upsert(&k, value_for(&b, g).as_bytes()));
                    model.items.insert(k, b);
                }
                Op::SetPlain(k, v) => {
                    prop_assert!(!index.upsert(&k, plain_value(v)));
                    model.items.remove(&k);
                }
                Op::Delete(k) => {
                    prop_assert_eq!(index.remove(&k), model.items.remove(&k).is_some());
                }
                Op::Flush => {
                    index.clear();
                    model.items.clear();
                }
                Op::Warmup(items) => {
                    let values: Vec<_> =
                        items.iter().map(|(k, b)| (k.clone(), value_for(b, false))).collect();
                    model.items = items.into_iter().collect();
                    prop_assert_eq!(index.bulk_load(values), model.items.len());
                }
                Op::Query(q) => {
                    let got: Vec<_> =
                        index.within(q, 0, None).iter().map(|r| r.key().to_vec()).collect();
                    prop_assert_eq!(got, model.within(&q));
                }
            }
            prop_assert_eq!(index.len(), model.items.len());
        }
        let everything: Vec<_> =
            index.within(QueryBox::WORLD, 0, None).iter().map(|r| r.key().to_vec()).collect();
        prop_assert_eq!(everything, model.items.keys().cloned().collect::<Vec<_>>());
    }
}

#[test]
fn memory_is_reported_per_item() {
    let index = GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap());
    let empty = index.memory_bytes();
    let n = 10_000u32;
    index.bulk_load((0..n).map(|i| {
        let (x, y) = (f64::from(i % 360) - 180.0, f64::from(i % 180) - 90.0);
        (format!("key{i:06}"), format!(r#"{{"loc":[{x},{y}]}}"#))
    }));
    let per = (index.memory_bytes() - empty) / n as usize;
    assert!((80..400).contains(&per), "{per} bytes per point");
    index.clear();
    assert_eq!(index.memory_bytes(), empty);
}

#[test]
fn geometry_and_bbox_survive_updates() {
    let index = GeoIndex::new(IndexSpec::parse("g=/geometry").unwrap());
    let poly = r#"{"type":"Polygon","coordinates":[[[0,0],[3,0],[3,2],[0,0]]]}"#;
    index.upsert(b"a", format!(r#"{{"geometry":{poly}}}"#).as_bytes());
    let rows = index.within(QueryBox::WORLD, 0, None);
    assert_eq!(rows[0].geometry_json(), poly);
    assert_eq!(rows[0].bbox().to_array(), [0.0, 0.0, 3.0, 2.0]);
    // Re-indexed as a point: the old box no longer matches.
    index.upsert(b"a", br#"{"geometry":{"type":"Point","coordinates":[10,10]}}"#);
    assert!(index.within(QueryBox::new(0.0, 0.0, 3.0, 2.0).unwrap(), 0, None).is_empty());
    let rows = index.within(QueryBox::WORLD, 0, None);
    assert_eq!(rows[0].geometry_json(), r#"{"type":"Point","coordinates":[10.0,10.0]}"#);
    // A value without geometry removes it.
    assert!(!index.upsert(b"a", br#"{"geometry":null}"#));
    assert!(index.is_empty());
}
