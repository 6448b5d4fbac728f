//! A brute-force model of a geo index and the proptest strategies that
//! feed it. The model shares no code with the index's query paths: box
//! intersection is written out again here, and nearest is a full scan.

use geo_index::sphere::distance_to_box;
use geo_index::{Bbox, QueryBox};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Key → indexed box, as the index should hold it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Model {
    pub(crate) items: BTreeMap<Vec<u8>, Bbox>,
}

/// Whether the closed intervals `[a0, a1]` and `[b0, b1]` meet.
fn meets(a0: f64, a1: f64, b0: f64, b1: f64) -> bool {
    a0 <= b1 && b0 <= a1
}

/// The query box's longitude ranges: one, or two across the antimeridian.
pub(crate) fn lon_ranges(q: &QueryBox) -> Vec<(f64, f64)> {
    if q.west() > q.east() {
        vec![(q.west(), 180.0), (-180.0, q.east())]
    } else {
        vec![(q.west(), q.east())]
    }
}

impl Model {
    /// Keys whose box meets `q`, in key order.
    pub(crate) fn within(&self, q: &QueryBox) -> Vec<Vec<u8>> {
        self.items
            .iter()
            .filter(|(_, b)| {
                meets(b.south(), b.north(), q.south(), q.north())
                    && lon_ranges(q).iter().any(|&(w, e)| meets(b.west(), b.east(), w, e))
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// All (distance, key) pairs ordered by distance then key.
    pub(crate) fn ranked(&self, lon: f64, lat: f64) -> Vec<(f64, Vec<u8>)> {
        let mut all: Vec<(f64, Vec<u8>)> = self
            .items
            .iter()
            .map(|(k, b)| {
                let d = if b.is_point() {
                    geo_index::sphere::haversine(lon, lat, b.west(), b.south())
                } else {
                    distance_to_box(lon, lat, b.west(), b.south(), b.east(), b.north())
                };
                (d, k.clone())
            })
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        all
    }
}

/// Longitudes weighted toward the antimeridian, the prime meridian and
/// whole degrees (which make ties and edge hits likely).
pub(crate) fn lon() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -180.0..=180.0f64,
        2 => 179.0..=180.0f64,
        2 => -180.0..=-179.0f64,
        1 => Just(180.0),
        1 => Just(-180.0),
        2 => (-180i32..=180).prop_map(f64::from),
        1 => (-20i32..=20).prop_map(|i| f64::from(i) / 10.0),
    ]
}

/// Latitudes weighted toward the poles and whole degrees.
pub(crate) fn lat() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -90.0..=90.0f64,
        2 => 89.0..=90.0f64,
        2 => -90.0..=-89.0f64,
        1 => Just(90.0),
        1 => Just(-90.0),
        2 => (-90i32..=90).prop_map(f64::from),
    ]
}

/// An indexed box: mostly points, some with an extent.
pub(crate) fn item_bbox() -> impl Strategy<Value = Bbox> {
    prop_oneof![
        4 => (lon(), lat()).prop_map(|(x, y)| Bbox::point(x, y).unwrap()),
        1 => (lon(), lon(), lat(), lat()).prop_map(|(a, b, c, d)| {
            Bbox::new(a.min(b), c.min(d), a.max(b), c.max(d)).unwrap()
        }),
    ]
}

/// A query box: any W and E (W > E crosses the antimeridian), polar caps,
/// thin strips and the whole globe.
pub(crate) fn query_box() -> impl Strategy<Value = QueryBox> {
    prop_oneof![
        6 => (lon(), lon(), lat(), lat()).prop_map(|(w, e, a, b)| {
            QueryBox::new(w, a.min(b), e, a.max(b)).unwrap()
        }),
        1 => (lon(), lon(), lat()).prop_map(|(w, e, s)| QueryBox::new(w, s, e, 90.0).unwrap()),
        1 => (lon(), lon(), lat()).prop_map(|(w, e, n)| QueryBox::new(w, -90.0, e, n).unwrap()),
        1 => (lon(), 0.0..2.0f64, lat(), lat()).prop_map(|(w, width, a, b)| {
            let e = if w + width > 180.0 { w + width - 360.0 } else { w + width };
            QueryBox::new(w, a.min(b), e, a.max(b)).unwrap()
        }),
        1 => Just(QueryBox::WORLD),
    ]
}

/// Keys from a small space so that writes overwrite each other; a few are
/// not UTF-8.
pub(crate) fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => (0u16..60).prop_map(|i| format!("k{i:02}").into_bytes()),
        1 => (0u8..4).prop_map(|i| vec![0xff, i, b'x']),
    ]
}

/// The JSON a value carries for a box, under `/loc`: `[lon, lat]` for a
/// point (or a GeoJSON Point), a `LineString` corner to corner for a box.
pub(crate) fn value_for(b: &Bbox, geojson_point: bool) -> String {
    if b.is_point() {
        if geojson_point {
            format!(
                r#"{{"loc":{{"type":"Point","coordinates":[{:?},{:?}]}},"n":1}}"#,
                b.west(),
                b.south()
            )
        } else {
            format!(r#"{{"name":"x","loc":[{:?},{:?}]}}"#, b.west(), b.south())
        }
    } else {
        format!(
            r#"{{"loc":{{"type":"LineString","coordinates":[[{:?},{:?}],[{:?},{:?}]]}}}}"#,
            b.west(),
            b.north(),
            b.east(),
            b.south()
        )
    }
}
