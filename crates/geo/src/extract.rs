//! From a JSON value to the [`Shape`] that is indexed.
//!
//! What the pointer names decides:
//!
//! | at the pointer | indexed as |
//! |---|---|
//! | `[lon, lat]` (or `[lon, lat, alt]`: a GeoJSON position) | that point |
//! | GeoJSON `Point` | that point |
//! | `MultiPoint`, `LineString`, `MultiLineString`, `Polygon`, `MultiPolygon`, `GeometryCollection` | the min/max bounding box of all its positions |
//! | anything else, or nothing | not indexed |
//!
//! A geometry with any position off the globe (longitude outside
//! [-180, 180], latitude outside [-90, 90]) or with no positions at all is
//! not indexed; neither is a value that is not JSON. None of these is an
//! error: an item simply has no place.
//!
//! The bounding box of a geometry is the plain min/max of its coordinates.
//! A line drawn across the antimeridian (from 179° to −179°) therefore gets
//! a box from −179° to 179°, as GeoCouch and SQLite's R*Tree would store it.

use crate::bbox::{Bbox, check_lat, check_lon};
use serde_json::{Map, Value};
use std::sync::Arc;

/// What an item contributes to a geo index: its bounding box and, unless it
/// is a plain 2-D point, its GeoJSON geometry as compact JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    bbox: Bbox,
    /// `None` for a plain point `{"type":"Point","coordinates":[lon,lat]}`,
    /// which is rebuilt from the box when asked for: most indexed items are
    /// points, and this keeps them free of a heap allocation.
    geometry: Option<Arc<str>>,
}

impl Shape {
    /// A plain 2-D point.
    ///
    /// # Errors
    /// When the point is off the globe.
    pub fn point(lon: f64, lat: f64) -> Result<Shape, crate::BoxError> {
        Ok(Shape { bbox: Bbox::point(lon, lat)?, geometry: None })
    }

    /// The shape of a GeoJSON geometry or `[lon, lat]` position, if it has
    /// one (see the [module docs](self)).
    pub fn from_json(v: &Value) -> Option<Shape> {
        match v {
            Value::Array(items) => {
                let (lon, lat) = position(items)?;
                let bbox = Bbox::point(lon, lat).ok()?;
                let geometry = (items.len() > 2).then(|| {
                    let mut obj = Map::new();
                    obj.insert("type".into(), Value::from("Point"));
                    obj.insert("coordinates".into(), v.clone());
                    Arc::from(Value::Object(obj).to_string())
                });
                Some(Shape { bbox, geometry })
            }
            Value::Object(obj) => {
                let bbox = geometry_bbox(obj)?;
                let plain_point = obj.len() == 2
                    && obj.get("type").and_then(Value::as_str) == Some("Point")
                    && obj
                        .get("coordinates")
                        .and_then(Value::as_array)
                        .is_some_and(|c| c.len() == 2);
                let geometry = (!plain_point).then(|| Arc::from(v.to_string()));
                Some(Shape { bbox, geometry })
            }
            _ => None,
        }
    }

    /// The bounding box (a point's is zero-sized).
    pub fn bbox(&self) -> Bbox {
        self.bbox
    }

    /// The geometry as GeoJSON text.
    pub fn geometry_json(&self) -> String {
        let mut out = String::new();
        self.write_geometry(&mut out);
        out
    }

    /// Appends the geometry as GeoJSON text.
    pub(crate) fn write_geometry(&self, out: &mut String) {
        write_geometry(self.bbox, self.geometry.as_deref(), out);
    }

    pub(crate) fn into_parts(self) -> (Bbox, Option<Arc<str>>) {
        (self.bbox, self.geometry)
    }
}

/// Appends the GeoJSON of an indexed item: the stored text, or a point
/// rebuilt from its zero-sized box.
pub(crate) fn write_geometry(bbox: Bbox, geometry: Option<&str>, out: &mut String) {
    if let Some(text) = geometry {
        out.push_str(text);
    } else {
        out.push_str(r#"{"type":"Point","coordinates":["#);
        push_f64(out, bbox.west());
        out.push(',');
        push_f64(out, bbox.south());
        out.push_str("]}");
    }
}

/// Appends a number as JSON (shortest round-trip form, as `serde_json`
/// writes it); `null` for NaN or an infinity, which JSON cannot carry.
pub(crate) fn push_f64(out: &mut String, v: f64) {
    if v.is_finite() {
        out.push_str(zmij::Buffer::new().format_finite(v));
    } else {
        out.push_str("null");
    }
}

/// A GeoJSON position: two or more numbers, longitude and latitude first
/// (an altitude is allowed and ignored).
fn position(items: &[Value]) -> Option<(f64, f64)> {
    if items.len() < 2 || items.iter().any(|v| !v.is_number()) {
        return None;
    }
    let lon = check_lon(items[0].as_f64()?).ok()?;
    let lat = check_lat(items[1].as_f64()?).ok()?;
    Some((lon, lat))
}

/// Folds the bounding box of `depth`-nested arrays of positions
/// (depth 0: one position). `None` when any position is invalid; an empty
/// array adds nothing.
fn positions_bbox(v: &Value, depth: u8, acc: &mut Option<Bbox>) -> Option<()> {
    let items = v.as_array()?;
    if depth == 0 {
        let (lon, lat) = position(items)?;
        let p = Bbox::point(lon, lat).ok()?;
        *acc = Some(acc.map_or(p, |b| b.union(&p)));
        return Some(());
    }
    for item in items {
        positions_bbox(item, depth - 1, acc)?;
    }
    Some(())
}

/// The bounding box of a GeoJSON geometry object; `None` if it is not a
/// geometry, has an invalid position, or has no positions.
fn geometry_bbox(obj: &Map<String, Value>) -> Option<Bbox> {
    let depth = match obj.get("type")?.as_str()? {
        "Point" => 0,
        "MultiPoint" | "LineString" => 1,
        "MultiLineString" | "Polygon" => 2,
        "MultiPolygon" => 3,
        "GeometryCollection" => {
            let mut acc: Option<Bbox> = None;
            for g in obj.get("geometries")?.as_array()? {
                // serde_json's recursion limit (128) bounds this recursion.
                let b = geometry_bbox(g.as_object()?)?;
                acc = Some(acc.map_or(b, |a| a.union(&b)));
            }
            return acc;
        }
        _ => return None,
    };
    let mut acc = None;
    positions_bbox(obj.get("coordinates")?, depth, &mut acc)?;
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(v: &Value) -> Option<([f64; 4], String)> {
        Shape::from_json(v).map(|s| (s.bbox().to_array(), s.geometry_json()))
    }

    #[test]
    fn lon_lat_array() {
        let (b, g) = shape(&json!([10.5, -20])).unwrap();
        assert_eq!(b, [10.5, -20.0, 10.5, -20.0]);
        assert_eq!(g, r#"{"type":"Point","coordinates":[10.5,-20.0]}"#);
        let (_, g) = shape(&json!([1, 2, 300])).unwrap();
        assert_eq!(g, r#"{"type":"Point","coordinates":[1,2,300]}"#);
        assert_eq!(shape(&json!([1])), None);
        assert_eq!(shape(&json!([1, "2"])), None);
        assert_eq!(shape(&json!([])), None);
    }

    #[test]
    fn geojson_point() {
        let p = json!({"type": "Point", "coordinates": [-180, 90]});
        let s = Shape::from_json(&p).unwrap();
        assert!(s.bbox().is_point());
        assert!(s.geometry.is_none(), "plain points are not stored as text");
        assert_eq!(s.geometry_json(), r#"{"type":"Point","coordinates":[-180.0,90.0]}"#);
        // Extra members are kept verbatim.
        let p = json!({"type": "Point", "coordinates": [1.25, 2], "bbox": [1.25, 2, 1.25, 2]});
        assert_eq!(shape(&p).unwrap().1, p.to_string());
    }

    #[test]
    fn polygon_and_collections_by_bbox() {
        let poly = json!({"type": "Polygon", "coordinates": [
            [[100.0, 0.0], [101.0, 0.0], [101.0, 1.0], [100.0, 1.0], [100.0, 0.0]],
            [[100.8, 0.8], [100.8, 0.2], [100.2, 0.2], [100.2, 0.8], [100.8, 0.8]]
        ]});
        let (b, g) = shape(&poly).unwrap();
        assert_eq!(b, [100.0, 0.0, 101.0, 1.0]);
        assert_eq!(g, poly.to_string());
        let line = json!({"type": "LineString", "coordinates": [[179, -5], [-179, 5]]});
        assert_eq!(shape(&line).unwrap().0, [-179.0, -5.0, 179.0, 5.0]);
        let mp = json!({"type": "MultiPolygon", "coordinates": [
            [[[1, 1], [2, 1], [2, 2], [1, 1]]], [[[-3, -4], [0, 0], [-3, -4]]]
        ]});
        assert_eq!(shape(&mp).unwrap().0, [-3.0, -4.0, 2.0, 2.0]);
        let gc = json!({"type": "GeometryCollection", "geometries": [
            {"type": "Point", "coordinates": [5, 6]},
            {"type": "MultiPoint", "coordinates": [[-5, 60], [7, -1]]}
        ]});
        assert_eq!(shape(&gc).unwrap().0, [-5.0, -1.0, 7.0, 60.0]);
    }

    #[test]
    fn not_indexed() {
        for v in [
            json!({"type": "Point", "coordinates": [181, 0]}),
            json!({"type": "Point", "coordinates": [0, 90.5]}),
            json!({"type": "Point", "coordinates": [0]}),
            json!({"type": "Point"}),
            json!({"type": "LineString", "coordinates": []}),
            json!({"type": "LineString", "coordinates": [[0, 0], [0, -91]]}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], "x"]]}),
            json!({"type": "GeometryCollection", "geometries": []}),
            json!({"type": "GeometryCollection", "geometries": [1]}),
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}}),
            json!({"type": "Circle", "coordinates": [0, 0]}),
            json!([-180.000_001, 0]),
            json!("10,20"),
            json!(null),
            json!(12),
        ] {
            assert_eq!(shape(&v), None, "{v}");
        }
    }
}
