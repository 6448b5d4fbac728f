//! Box and nearest queries against the brute-force model.

use crate::model::{Model, item_bbox, key, lat, lon, query_box, value_for};
use geo_index::{Answer, Bbox, GeoIndex, IndexSpec, Query, QueryBox};
use proptest::prelude::*;

fn loaded(items: &[(Vec<u8>, Bbox)], bulk: bool) -> (GeoIndex, Model) {
    let index = GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap());
    let mut model = Model::default();
    let values: Vec<(Vec<u8>, String)> =
        items.iter().enumerate().map(|(i, (k, b))| (k.clone(), value_for(b, i % 2 == 0))).collect();
    for (k, b) in items {
        model.items.insert(k.clone(), *b);
    }
    if bulk {
        index.bulk_load(values);
    } else {
        for (k, v) in &values {
            assert!(index.upsert(k, v.as_bytes()));
        }
    }
    assert_eq!(index.len(), model.items.len());
    (index, model)
}

fn keys(rows: &[geo_index::Row]) -> Vec<Vec<u8>> {
    rows.iter().map(|r| r.key().to_vec()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn boxes_equal_brute_force(
        items in proptest::collection::vec((key(), item_bbox()), 0..200),
        boxes in proptest::collection::vec(query_box(), 1..20),
        bulk in any::<bool>(),
    ) {
        let (index, model) = loaded(&items, bulk);
        for q in boxes {
            let want = model.within(&q);
            let got = index.within(q, 0, None);
            prop_assert_eq!(keys(&got), want.clone(), "box {:?}", q);
            for row in &got {
                prop_assert_eq!(Some(&row.bbox()), model.items.get(row.key()));
            }
            prop_assert_eq!(index.count_within(q), want.len());
            prop_assert_eq!(index.query(&Query::Count { bbox: q }).unwrap(), Answer::Count(want.len()));
        }
    }

    #[test]
    fn paging_is_a_window_of_the_key_order(
        items in proptest::collection::vec((key(), item_bbox()), 0..120),
        q in query_box(),
        skip in 0usize..50,
        limit in proptest::option::of(0usize..50),
    ) {
        let (index, model) = loaded(&items, true);
        let all = model.within(&q);
        let want: Vec<_> = all.iter().skip(skip).take(limit.unwrap_or(usize::MAX)).cloned().collect();
        prop_assert_eq!(keys(&index.within(q, skip, limit)), want);
    }

    #[test]
    fn nearest_equals_brute_force_ranking(
        items in proptest::collection::vec((key(), item_bbox()), 0..200),
        probes in proptest::collection::vec((lon(), lat(), 0usize..25, 0usize..5), 1..10),
        bulk in any::<bool>(),
    ) {
        let (index, model) = loaded(&items, bulk);
        for (x, y, n, skip) in probes {
            let want: Vec<_> = model.ranked(x, y).into_iter().skip(skip).take(n).collect();
            let got: Vec<_> = index
                .nearest(x, y, n, skip)
                .unwrap()
                .into_iter()
                .map(|r| (r.distance().unwrap(), r.key().to_vec()))
                .collect();
            prop_assert_eq!(got, want, "q=({},{}) n={} skip={}", x, y, n, skip);
        }
    }
}

#[test]
fn antimeridian_and_poles_by_hand() {
    let index = GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap());
    for (k, v) in [
        ("east", r#"{"loc":[179.9,0]}"#),
        ("west", r#"{"loc":[-179.9,0]}"#),
        ("am+", r#"{"loc":[180,0]}"#),
        ("am-", r#"{"loc":[-180,0]}"#),
        ("north-pole", r#"{"loc":[45,90]}"#),
        ("south-pole", r#"{"loc":[-120,-90]}"#),
        ("zero", r#"{"loc":[0,0]}"#),
    ] {
        assert!(index.upsert(k.as_bytes(), v.as_bytes()));
    }
    let ids = |q: QueryBox| -> Vec<String> {
        index.within(q, 0, None).iter().map(|r| String::from_utf8_lossy(r.key()).into()).collect()
    };
    let qb = |w, s, e, n| QueryBox::new(w, s, e, n).unwrap();
    assert_eq!(ids(qb(179.0, -1.0, -179.0, 1.0)), ["am+", "am-", "east", "west"]);
    assert_eq!(ids(qb(-179.0, -1.0, 179.0, 1.0)), ["zero"]);
    assert_eq!(ids(qb(-180.0, 89.0, 180.0, 90.0)), ["north-pole"]);
    assert_eq!(ids(qb(170.0, -90.0, 50.0, -89.0)), ["south-pole"]);
    assert_eq!(ids(qb(40.0, 80.0, 50.0, 90.0)), ["north-pole"]);

    // Across the antimeridian the nearest points are on the other side.
    let near = index.nearest(-179.96, 0.0, 3, 0).unwrap();
    let mut names: Vec<_> =
        near.iter().map(|r| String::from_utf8_lossy(r.key()).into_owned()).collect();
    assert_eq!(names.pop().as_deref(), Some("west"));
    names.sort();
    assert_eq!(names, ["am+", "am-"]);
    // 180 and -180 are one meridian: the same distance up to rounding.
    let (d1, d2) = (near[0].distance().unwrap(), near[1].distance().unwrap());
    assert!((d1 - d2).abs() < 1e-6 && (d1 - 4_447.8).abs() < 1.0, "{d1} {d2}");
    // Near a pole every longitude is close: the pole itself is nearest.
    let near = index.nearest(-135.0, 89.9, 1, 0).unwrap();
    assert_eq!(near[0].key(), b"north-pole");
    assert!((near[0].distance().unwrap() - 11_119.5).abs() < 1.0);
}
