//! The point-to-box distance against dense sampling of the box.

use crate::model::{item_bbox, lat, lon};
use geo_index::sphere::{EARTH_RADIUS_M, distance_to_box, haversine};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// The distance is a lower bound for every point of the box (what the
    /// nearest search relies on) and is reached to within the sampling
    /// resolution (so it is the nearest point, not just any bound).
    #[test]
    fn box_distance_is_the_minimum(x in lon(), y in lat(), b in item_bbox()) {
        let d = distance_to_box(x, y, b.west(), b.south(), b.east(), b.north());
        let steps = 60;
        let mut best = f64::INFINITY;
        for i in 0..=steps {
            for j in 0..=steps {
                let px = b.west() + (b.east() - b.west()) * f64::from(i) / f64::from(steps);
                let py = b.south() + (b.north() - b.south()) * f64::from(j) / f64::from(steps);
                let h = haversine(x, y, px, py);
                prop_assert!(d <= h + 1e-6, "bound {} above sample {} at ({}, {})", d, h, px, py);
                best = best.min(h);
            }
        }
        // Grid cells are at most this far across on the sphere.
        let deg = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        let cell = ((b.east() - b.west()) + (b.north() - b.south())) / f64::from(steps) * deg;
        prop_assert!(best - d <= cell + 1e-6, "bound {} but best sample {}", d, best);
    }
}
