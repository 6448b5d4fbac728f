//! Exact k-nearest-neighbour search by great-circle distance over the
//! R-tree's lon/lat nodes.
//!
//! rstar's own nearest-neighbour iterator measures planar distance in
//! degrees, which ranks wrongly near the poles and across the antimeridian.
//! This is a best-first search (Hjaltason and Samet) with a spherical
//! metric: a min-heap holds nodes keyed by a lower bound of the distance to
//! anything inside them ([`distance_to_box`] of the node's envelope, which
//! is exact, minus a rounding allowance) and items keyed by their exact
//! distance. An item popped from the heap is therefore no farther than
//! anything still queued, and the search stops once it has `want` items and
//! the heap's head is strictly farther than all of them, so ties at the
//! cut-off are all present before the final sort by (distance, key).

use crate::index::Entry;
use crate::sphere::distance_to_box;
use rstar::{ParentNode, RTree, RTreeNode};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Metres taken off a node's bound so that rounding in its computation
/// can never put it above a distance computed for an item inside it.
/// (Both are haversines of nearby arguments; their rounding error is far
/// below a micrometre.)
const SLACK_M: f64 = 1e-6;

/// The distance of an indexed entry: to its point, or to the nearest point
/// of its bounding box.
pub(crate) fn entry_distance(lon: f64, lat: f64, e: &Entry) -> f64 {
    let b = e.bbox();
    distance_to_box(lon, lat, b.west(), b.south(), b.east(), b.north())
}

enum Item<'t> {
    Node(&'t ParentNode<Entry>),
    Leaf(&'t Entry),
}

struct Queued<'t> {
    dist: f64,
    item: Item<'t>,
}

impl PartialEq for Queued<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Queued<'_> {}
impl PartialOrd for Queued<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: the nearest must compare greatest.
        other.dist.total_cmp(&self.dist)
    }
}

fn node_bound(lon: f64, lat: f64, node: &ParentNode<Entry>) -> f64 {
    let env = node.envelope();
    let (lo, hi) = (env.lower(), env.upper());
    let d = distance_to_box(lon, lat, lo[0], lo[1], hi[0], hi[1]);
    (d * (1.0 - 1e-12) - SLACK_M).max(0.0)
}

/// The `want` entries nearest to `(lon, lat)`, ordered by distance then
/// key, with their distances in metres.
pub(crate) fn nearest(tree: &RTree<Entry>, lon: f64, lat: f64, want: usize) -> Vec<(f64, &Entry)> {
    let mut found: Vec<(f64, &Entry)> = Vec::new();
    if want == 0 || tree.size() == 0 {
        return found;
    }
    let mut heap = BinaryHeap::new();
    heap.push(Queued { dist: 0.0, item: Item::Node(tree.root()) });
    let mut farthest = f64::NEG_INFINITY;
    while let Some(Queued { dist, item }) = heap.pop() {
        if found.len() >= want && dist > farthest {
            break;
        }
        match item {
            Item::Leaf(e) => {
                farthest = farthest.max(dist);
                found.push((dist, e));
            }
            Item::Node(node) => {
                for child in node.children() {
                    heap.push(match child {
                        RTreeNode::Leaf(e) => {
                            Queued { dist: entry_distance(lon, lat, e), item: Item::Leaf(e) }
                        }
                        RTreeNode::Parent(p) => {
                            Queued { dist: node_bound(lon, lat, p), item: Item::Node(p) }
                        }
                    });
                }
            }
        }
    }
    found.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.key.cmp(&b.1.key)));
    found.truncate(want);
    found
}
