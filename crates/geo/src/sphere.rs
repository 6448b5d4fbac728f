//! Great-circle distances on a sphere of the Earth's mean radius.
//!
//! [`haversine`] is the distance between two points. [`distance_to_box`] is
//! the exact distance from a point to the nearest point of a
//! longitude/latitude rectangle (0 inside it); the nearest-neighbour search
//! uses it both as the distance of an indexed bounding box and as the lower
//! bound of an R-tree node.
//!
//! Why the box distance is exact: for a fixed latitude φ′ the spherical law
//! of cosines, `cos d = sin φ sin φ′ + cos φ cos φ′ cos Δλ`, only grows as
//! the longitude gap `|Δλ|` shrinks (`cos φ cos φ′ ≥ 0`), so the nearest
//! point of the box lies on the query's own meridian when that crosses the
//! box, and otherwise on the west or the east edge. Along one meridian,
//! `cos d = A sin φ′ + B cos φ′` peaks at `φ* = atan2(A, B)` and falls away
//! on both sides of it around the circle, so the nearest latitude in
//! `[S, N]` is `φ*` if it lies inside, or else one of `S`, `N`. Taking the
//! minimum over those few candidates needs no case analysis for the
//! antimeridian (an edge at −180 is the query's meridian at 180: `Δλ` of 360°
//! gives the same haversine) or the poles (at φ′ = ±90° every longitude
//! gives the same distance).

/// The Earth's mean radius, metres (IUGG: 6,371,008.8 m).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two points in degrees
/// (haversine formula; well conditioned for small distances).
pub fn haversine(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// Great-circle distance in metres from the point `(lon, lat)` to the
/// nearest point of the closed box `[west, east] × [south, north]` (degrees,
/// `west ≤ east`, `south ≤ north`); 0 when the point is inside.
pub fn distance_to_box(lon: f64, lat: f64, west: f64, south: f64, east: f64, north: f64) -> f64 {
    if (west..=east).contains(&lon) {
        // The query's own meridian crosses the box: straight north or south.
        let nearest = lat.clamp(south, north);
        return haversine(lon, lat, lon, nearest);
    }
    let (sin_p, cos_p) = lat.to_radians().sin_cos();
    let mut best = f64::INFINITY;
    for edge in [west, east] {
        // Along the edge meridian: cos d = A sin φ′ + B cos φ′.
        let b = cos_p * (edge - lon).to_radians().cos();
        let peak = sin_p.atan2(b).to_degrees();
        for cand in [south, north, peak] {
            if (south..=north).contains(&cand) {
                best = best.min(haversine(lon, lat, edge, cand));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_distances() {
        // A degree of arc on the mean sphere.
        let deg = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        assert!((haversine(0.0, 0.0, 1.0, 0.0) - deg).abs() < 1e-6);
        assert!((haversine(179.5, 0.0, -179.5, 0.0) - deg).abs() < 1e-6);
        // Pole to pole across any meridians.
        let half = EARTH_RADIUS_M * std::f64::consts::PI;
        assert!((haversine(10.0, 90.0, -120.0, -90.0) - half).abs() < 1e-6);
        // At a pole longitude does not matter.
        assert!(haversine(10.0, 90.0, -170.0, 90.0) < 1e-6);
        assert_eq!(haversine(3.0, 4.0, 3.0, 4.0), 0.0);
    }

    #[test]
    fn box_distance_cases() {
        let deg = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        // Inside.
        assert_eq!(distance_to_box(5.0, 5.0, 0.0, 0.0, 10.0, 10.0), 0.0);
        // Due south of the box.
        assert!((distance_to_box(5.0, -1.0, 0.0, 0.0, 10.0, 10.0) - deg).abs() < 1e-6);
        // Across the antimeridian: the box's west edge at -180 is the
        // query's meridian.
        let d = distance_to_box(180.0, 0.0, -180.0, -1.0, -170.0, 1.0);
        assert!(d < 1e-6);
        let d = distance_to_box(179.0, 0.0, -180.0, -1.0, -170.0, 1.0);
        assert!((d - deg).abs() < 1e-6);
        // A polar cap is reached through the pole.
        let d = distance_to_box(0.0, 80.0, 170.0, 85.0, 175.0, 90.0);
        assert!((d - 10.0 * deg).abs() < 1e-6, "{d}");
        // East of a tall box at high latitude the great circle meets the
        // east edge poleward of the query's latitude (at about 63.4°).
        let d = distance_to_box(40.0, 60.0, 0.0, 0.0, 10.0, 70.0);
        assert!(d < haversine(40.0, 60.0, 10.0, 60.0));
        assert!((d - haversine(40.0, 60.0, 10.0, 63.434_948_822_922)).abs() < 1e-3);
        // When the box stops short of that latitude, the corner is nearest.
        let d = distance_to_box(40.0, 60.0, 0.0, 0.0, 10.0, 60.0);
        assert!((d - haversine(40.0, 60.0, 10.0, 60.0)).abs() < 1e-6);
    }
}
