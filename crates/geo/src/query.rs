//! Typed queries and their answers, independent of any wire syntax
//! ([`crate::couch`] parses GeoCouch's query strings into these).

use crate::bbox::{Bbox, QueryBox};
use crate::extract::write_geometry;
use crate::key::ItemKey;
use std::sync::Arc;

/// A question for a [`crate::GeoIndex`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Query {
    /// Items whose bounding box shares a point with `bbox`, ordered by key
    /// (bytewise); the first `skip` are dropped, then at most `limit` are
    /// returned.
    Within {
        /// The box asked for.
        bbox: QueryBox,
        /// Rows to drop from the front.
        skip: usize,
        /// Most rows to return; `None` for all.
        limit: Option<usize>,
    },
    /// How many items [`Query::Within`] would find with no skip or limit.
    Count {
        /// The box asked for.
        bbox: QueryBox,
    },
    /// The `n` items nearest to a point by great-circle distance, ordered
    /// by distance then key, after dropping the first `skip`.
    Nearest {
        /// The point's longitude, degrees, in [-180, 180].
        lon: f64,
        /// The point's latitude, degrees, in [-90, 90].
        lat: f64,
        /// Most rows to return.
        n: usize,
        /// Rows to drop from the front.
        skip: usize,
    },
}

/// What a [`Query`] returns.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Answer {
    /// Rows, in the order the query defines.
    Rows(Vec<Row>),
    /// A count.
    Count(usize),
}

/// One indexed item in an answer: a snapshot taken under the index's read
/// lock (cheap: the key and any geometry text are shared, not copied).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub(crate) key: ItemKey,
    pub(crate) bbox: Bbox,
    pub(crate) geometry: Option<Arc<str>>,
    pub(crate) distance: Option<f64>,
}

impl Row {
    /// The item's key.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The bounding box the item is indexed by.
    pub fn bbox(&self) -> Bbox {
        self.bbox
    }

    /// Great-circle distance in metres from the query point to the item
    /// (to the nearest point of its bounding box), for nearest queries.
    pub fn distance(&self) -> Option<f64> {
        self.distance
    }

    /// The item's geometry as GeoJSON text.
    pub fn geometry_json(&self) -> String {
        let mut out = String::new();
        self.write_geometry(&mut out);
        out
    }

    /// Whether the geometry is stored text (anything but a plain 2-D point).
    pub(crate) fn has_stored_geometry(&self) -> bool {
        self.geometry.is_some()
    }

    /// Appends the item's geometry as GeoJSON text.
    pub fn write_geometry(&self, out: &mut String) {
        write_geometry(self.bbox, self.geometry.as_deref(), out);
    }
}
