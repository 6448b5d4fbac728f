//! Box queries against SQLite's R*Tree (the bundled SQLite), an
//! independent implementation: the same items, the same boxes, the same
//! keys back.
//!
//! SQLite's R*Tree keeps 32-bit float bounds, rounded outward, so its
//! candidates are a superset; the exact double coordinates ride along as
//! auxiliary columns and the query filters on them. A box crossing the
//! antimeridian (W > E) is two queries, as SQLite knows no
//! wrap-around.

use std::collections::BTreeSet;

use crate::model::{item_bbox, query_box};
use geo_index::{Bbox, GeoIndex, IndexSpec, QueryBox};
use proptest::prelude::*;
use rusqlite::Connection;

fn sqlite(items: &[(Vec<u8>, Bbox)]) -> Connection {
    let db = Connection::open_in_memory().unwrap();
    db.execute_batch(
        "CREATE VIRTUAL TABLE rt USING rtree(id, minx, maxx, miny, maxy, +k BLOB, +w REAL, +e REAL, +s REAL, +n REAL)",
    )
    .unwrap();
    // The last write of a key wins, as in the index.
    let mut last = std::collections::BTreeMap::new();
    for (k, b) in items {
        last.insert(k.clone(), *b);
    }
    let mut insert = db
        .prepare("INSERT INTO rt (minx, maxx, miny, maxy, k, w, e, s, n) VALUES (?1, ?2, ?3, ?4, ?5, ?1, ?2, ?3, ?4)")
        .unwrap();
    for (k, b) in &last {
        insert.execute(rusqlite::params![b.west(), b.east(), b.south(), b.north(), k]).unwrap();
    }
    drop(insert);
    db
}

fn sqlite_within(db: &Connection, q: &QueryBox) -> Vec<Vec<u8>> {
    let ranges = if q.west() > q.east() {
        vec![(q.west(), 180.0), (-180.0, q.east())]
    } else {
        vec![(q.west(), q.east())]
    };
    let mut stmt = db
        .prepare_cached(
            "SELECT k FROM rt WHERE minx <= ?2 AND maxx >= ?1 AND miny <= ?4 AND maxy >= ?3 \
             AND w <= ?2 AND e >= ?1 AND s <= ?4 AND n >= ?3",
        )
        .unwrap();
    let mut keys = BTreeSet::new();
    for (w, e) in ranges {
        let rows = stmt
            .query_map(rusqlite::params![w, e, q.south(), q.north()], |r| r.get::<_, Vec<u8>>(0))
            .unwrap();
        for k in rows {
            keys.insert(k.unwrap());
        }
    }
    keys.into_iter().collect()
}

proptest! {
    // 5 item sets × 200 boxes: 1,000 boxes, as the issue asks.
    #![proptest_config(ProptestConfig { cases: 5, ..ProptestConfig::default() })]

    #[test]
    fn boxes_equal_sqlite_rtree(
        // Keys from a space larger than the items, so most are distinct
        // and the R*Tree holds hundreds of entries.
        items in proptest::collection::vec(
            ((0u32..5000).prop_map(|i| format!("k{i:04}").into_bytes()), item_bbox()),
            0..600,
        ),
        boxes in proptest::collection::vec(query_box(), 200),
    ) {
        let index = GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap());
        for (k, b) in &items {
            let value = crate::model::value_for(b, true);
            prop_assert!(index.upsert(k, value.as_bytes()));
        }
        let db = sqlite(&items);
        for q in &boxes {
            let got: Vec<Vec<u8>> = index.within(*q, 0, None).iter().map(|r| r.key().to_vec()).collect();
            prop_assert_eq!(got, sqlite_within(&db, q), "box {:?}", q);
        }
    }
}

/// Points a hair outside a box's edges (closer than SQLite's 32-bit bounds
/// can tell) and exactly on them: SQLite's candidates include the outside
/// ones, its exact filter drops them, and the index agrees.
#[test]
fn edges_closer_than_float32_agree() {
    let tiny = 1e-9;
    let mut items = Vec::new();
    for (i, &(x, y)) in [
        (10.0 + tiny, 5.0),
        (10.0, 5.0),
        (-20.0 - tiny, 5.0),
        (-20.0, 5.0),
        (0.0, 30.0 + tiny),
        (0.0, 30.0),
        (0.0, -40.0 - tiny),
        (0.0, -40.0),
        (179.999_999_999, 89.999_999_999),
        (-180.0, -90.0),
    ]
    .iter()
    .enumerate()
    {
        items.push((format!("p{i}").into_bytes(), Bbox::point(x, y).unwrap()));
    }
    let index = GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap());
    for (k, b) in &items {
        assert!(index.upsert(k, crate::model::value_for(b, true).as_bytes()));
    }
    let db = sqlite(&items);
    let q = QueryBox::new(-20.0, -40.0, 10.0, 30.0).unwrap();
    let got: Vec<Vec<u8>> = index.within(q, 0, None).iter().map(|r| r.key().to_vec()).collect();
    let want: Vec<Vec<u8>> =
        ["p1", "p3", "p5", "p7"].iter().map(|k| k.as_bytes().to_vec()).collect();
    assert_eq!(got, want);
    assert_eq!(sqlite_within(&db, &q), want);
    // The 32-bit bounds alone would have let the outside points in.
    let loose: i64 = db
        .query_row(
            "SELECT count(*) FROM rt WHERE minx <= 10.0 AND maxx >= -20.0 AND miny <= 30.0 AND maxy >= -40.0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(loose > 4, "SQLite's float32 bounds told the points apart ({loose})");
    // Across the antimeridian and up to the poles.
    let q = QueryBox::new(179.0, -90.0, -179.0, 90.0).unwrap();
    let got: Vec<Vec<u8>> = index.within(q, 0, None).iter().map(|r| r.key().to_vec()).collect();
    assert_eq!(got, vec![b"p8".to_vec(), b"p9".to_vec()]);
    assert_eq!(sqlite_within(&db, &q), got);
}
