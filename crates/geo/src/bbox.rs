//! Longitude/latitude rectangles: [`Bbox`] for what is indexed (west ≤ east
//! always) and [`QueryBox`] for what is asked (west > east crosses the
//! antimeridian).
//!
//! Coordinates are compared as numbers, as SQLite's R*Tree and GeoCouch do:
//! longitude −180 and 180 are two values (an item stored at 180 is found by
//! a box whose east edge is 180, or by one crossing the antimeridian, not by
//! a box `[-180, -170]`), and a point stored at a pole keeps its longitude.

use crate::error::BoxError;

/// Checks one longitude.
pub(crate) fn check_lon(lon: f64) -> Result<f64, BoxError> {
    if !lon.is_finite() {
        return Err(BoxError::NotFinite);
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(BoxError::Longitude(lon));
    }
    // -0.0 and 0.0 are one coordinate; keep one spelling of it.
    Ok(lon + 0.0)
}

/// Checks one latitude.
pub(crate) fn check_lat(lat: f64) -> Result<f64, BoxError> {
    if !lat.is_finite() {
        return Err(BoxError::NotFinite);
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(BoxError::Latitude(lat));
    }
    Ok(lat + 0.0)
}

/// A closed rectangle in degrees with `west ≤ east` and `south ≤ north`,
/// inside [-180, 180] × [-90, 90]: the bounding box of an indexed geometry
/// (a point is a box of zero size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    west: f64,
    south: f64,
    east: f64,
    north: f64,
}

impl Bbox {
    /// The box of one point.
    ///
    /// # Errors
    /// When the point is not on the globe.
    pub fn point(lon: f64, lat: f64) -> Result<Bbox, BoxError> {
        let (lon, lat) = (check_lon(lon)?, check_lat(lat)?);
        Ok(Bbox { west: lon, south: lat, east: lon, north: lat })
    }

    /// A box from its edges.
    ///
    /// # Errors
    /// When an edge is off the globe, `south > north`, or `west > east`
    /// (geometries are indexed by their plain min/max box, which never
    /// wraps).
    pub fn new(west: f64, south: f64, east: f64, north: f64) -> Result<Bbox, BoxError> {
        let (west, east) = (check_lon(west)?, check_lon(east)?);
        let (south, north) = (check_lat(south)?, check_lat(north)?);
        if south > north {
            return Err(BoxError::SouthAboveNorth { south, north });
        }
        if west > east {
            return Err(BoxError::WestAboveEast { west, east });
        }
        Ok(Bbox { west, south, east, north })
    }

    /// West edge, degrees.
    pub fn west(&self) -> f64 {
        self.west
    }
    /// South edge, degrees.
    pub fn south(&self) -> f64 {
        self.south
    }
    /// East edge, degrees.
    pub fn east(&self) -> f64 {
        self.east
    }
    /// North edge, degrees.
    pub fn north(&self) -> f64 {
        self.north
    }

    /// Whether the box is a single point.
    pub fn is_point(&self) -> bool {
        self.west == self.east && self.south == self.north
    }

    /// `[W, S, E, N]`, GeoCouch's order.
    pub fn to_array(&self) -> [f64; 4] {
        [self.west, self.south, self.east, self.north]
    }

    /// The smallest box holding both.
    pub(crate) fn union(&self, other: &Bbox) -> Bbox {
        Bbox {
            west: self.west.min(other.west),
            south: self.south.min(other.south),
            east: self.east.max(other.east),
            north: self.north.max(other.north),
        }
    }

    /// Whether the two closed boxes share a point (edges included).
    pub fn intersects(&self, other: &Bbox) -> bool {
        self.west <= other.east
            && other.west <= self.east
            && self.south <= other.north
            && other.south <= self.north
    }

    pub(crate) fn aabb(&self) -> rstar::AABB<[f64; 2]> {
        rstar::AABB::from_corners([self.west, self.south], [self.east, self.north])
    }

    /// The box an envelope made by [`Bbox::aabb`] came from.
    pub(crate) fn from_aabb(env: &rstar::AABB<[f64; 2]>) -> Bbox {
        let ([west, south], [east, north]) = (env.lower(), env.upper());
        Bbox { west, south, east, north }
    }
}

/// A query rectangle, `W,S,E,N` in degrees. `W > E` means the box crosses
/// the antimeridian: it is `[W, 180] ∪ [-180, E]` in longitude. `W == E` is a
/// box of zero width (one meridian), not the whole globe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryBox {
    west: f64,
    south: f64,
    east: f64,
    north: f64,
}

impl QueryBox {
    /// The whole globe.
    pub const WORLD: QueryBox = QueryBox { west: -180.0, south: -90.0, east: 180.0, north: 90.0 };

    /// A query box from its edges.
    ///
    /// # Errors
    /// When an edge is not finite or off the globe, or `south > north`.
    pub fn new(west: f64, south: f64, east: f64, north: f64) -> Result<QueryBox, BoxError> {
        let (west, east) = (check_lon(west)?, check_lon(east)?);
        let (south, north) = (check_lat(south)?, check_lat(north)?);
        if south > north {
            return Err(BoxError::SouthAboveNorth { south, north });
        }
        Ok(QueryBox { west, south, east, north })
    }

    /// West edge, degrees.
    pub fn west(&self) -> f64 {
        self.west
    }
    /// South edge, degrees.
    pub fn south(&self) -> f64 {
        self.south
    }
    /// East edge, degrees.
    pub fn east(&self) -> f64 {
        self.east
    }
    /// North edge, degrees.
    pub fn north(&self) -> f64 {
        self.north
    }

    /// Whether the box crosses the antimeridian (`W > E`).
    pub fn crosses_antimeridian(&self) -> bool {
        self.west > self.east
    }

    /// The one or two plain boxes this query covers: `[W, E]`, or
    /// `[W, 180]` and `[-180, E]` when it crosses the antimeridian.
    pub fn parts(&self) -> (Bbox, Option<Bbox>) {
        let (s, n) = (self.south, self.north);
        if self.crosses_antimeridian() {
            (
                Bbox { west: self.west, south: s, east: 180.0, north: n },
                Some(Bbox { west: -180.0, south: s, east: self.east, north: n }),
            )
        } else {
            (Bbox { west: self.west, south: s, east: self.east, north: n }, None)
        }
    }

    /// Whether an indexed box shares a point with this query box.
    pub fn intersects(&self, b: &Bbox) -> bool {
        let (first, second) = self.parts();
        first.intersects(b) || second.is_some_and(|p| p.intersects(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_ranges() {
        assert!(Bbox::point(180.0, 90.0).is_ok());
        assert!(Bbox::point(-180.0, -90.0).is_ok());
        assert_eq!(Bbox::point(180.5, 0.0), Err(BoxError::Longitude(180.5)));
        assert_eq!(Bbox::point(0.0, -90.1), Err(BoxError::Latitude(-90.1)));
        assert_eq!(Bbox::point(f64::NAN, 0.0), Err(BoxError::NotFinite));
        assert_eq!(Bbox::point(0.0, f64::INFINITY), Err(BoxError::NotFinite));
        assert!(matches!(
            QueryBox::new(0.0, 10.0, 1.0, 5.0),
            Err(BoxError::SouthAboveNorth { .. })
        ));
        assert_eq!(
            Bbox::new(10.0, 0.0, 5.0, 1.0),
            Err(BoxError::WestAboveEast { west: 10.0, east: 5.0 })
        );
    }

    #[test]
    fn negative_zero_is_zero() {
        let b = Bbox::point(-0.0, -0.0).unwrap();
        assert!(b.west().is_sign_positive() && b.south().is_sign_positive());
    }

    #[test]
    fn antimeridian_parts() {
        let q = QueryBox::new(170.0, -10.0, -170.0, 10.0).unwrap();
        assert!(q.crosses_antimeridian());
        let (a, b) = q.parts();
        assert_eq!(a.to_array(), [170.0, -10.0, 180.0, 10.0]);
        assert_eq!(b.unwrap().to_array(), [-180.0, -10.0, -170.0, 10.0]);
        assert!(q.intersects(&Bbox::point(179.9, 0.0).unwrap()));
        assert!(q.intersects(&Bbox::point(-180.0, 0.0).unwrap()));
        assert!(!q.intersects(&Bbox::point(0.0, 0.0).unwrap()));
        // Zero width is one meridian, not the globe.
        let m = QueryBox::new(5.0, -90.0, 5.0, 90.0).unwrap();
        assert!(!m.crosses_antimeridian());
        assert!(m.intersects(&Bbox::point(5.0, 1.0).unwrap()));
        assert!(!m.intersects(&Bbox::point(5.1, 1.0).unwrap()));
    }
}
