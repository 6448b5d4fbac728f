//! [`GeoIndex`]: one declared index over one bucket, an R*-tree of item
//! bounding boxes plus a key → box map, behind a read/write lock.
//!
//! **Locking.** One [`RwLock`] guards the tree and the map together, so a
//! write is visible to every query that starts after the write returns
//! (read-your-writes) and a query never sees a half-applied update.
//! Writers hold the lock only to swap tree entries: the value's JSON is
//! parsed before the lock is taken. A box query holds the read lock while
//! it walks the tree, sorts references to the hits by key and copies out the
//! requested page (keys up to 22 bytes are copied, longer ones and geometry
//! text are shared); rendering, and any store reads for `value`, happen
//! after it is released. Many queries run in parallel; a write waits for the
//! queries in flight (about 0.2 ms for a 3,600-hit box) and, the standard
//! library's lock preferring writers, not for queries that arrive after
//! it. A poisoned lock is taken over: nothing in a critical section can
//! leave the pair inconsistent short of an allocation failure.
//!
//! **What is stored per item.** The key (inline up to 22 bytes, else
//! shared between the map and the tree; see `key.rs`), the bounding box, and the GeoJSON text only for geometries that
//! are not plain 2-D points (points are rebuilt from their box). The item's
//! value is not copied: a row's `value` is fetched from the store when it
//! is rendered (see [`crate::couch::render_answer`]), so the index costs
//! about 180 bytes per point whatever the documents weigh (measured by
//! [`GeoIndex::memory_bytes`] for 300k bulk-loaded points with 12-byte
//! keys: tree nodes ~90 B, key map ~90 B, nothing on the heap).

use crate::bbox::QueryBox;
use crate::error::BoxError;
use crate::extract::Shape;
use crate::key::ItemKey;
use crate::nearest;
use crate::query::{Answer, Query, Row};
use crate::spec::IndexSpec;
use crate::{bbox::Bbox, bbox::check_lat, bbox::check_lon};
use rstar::{AABB, RTree, RTreeNode, RTreeObject};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// One item in the tree. Two entries are equal when their keys are
/// (`RTree::remove` finds the candidates by envelope first). The box is
/// kept as rstar's envelope: bulk loading asks for it at every comparison.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) env: AABB<[f64; 2]>,
    pub(crate) key: ItemKey,
    pub(crate) geometry: Option<Arc<str>>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.env
    }
}

impl Entry {
    pub(crate) fn bbox(&self) -> Bbox {
        Bbox::from_aabb(&self.env)
    }

    fn row(&self, distance: Option<f64>) -> Row {
        Row { key: self.key.clone(), bbox: self.bbox(), geometry: self.geometry.clone(), distance }
    }

    /// Heap bytes owned through this entry (a long key is shared with the
    /// key map and counted once).
    fn heap_bytes(key: &ItemKey, geometry: Option<&str>) -> usize {
        let arc = |len: usize| (2 * size_of::<usize>() + len).next_multiple_of(8);
        key.heap_bytes() + geometry.map_or(0, |g| arc(g.len()))
    }
}

#[derive(Default)]
struct Inner {
    tree: RTree<Entry>,
    by_key: HashMap<ItemKey, Bbox>,
    /// Bytes of keys and geometry text, for [`GeoIndex::memory_bytes`].
    heap: usize,
}

impl Inner {
    /// Takes `key` out of the tree and the map; returns its stored key.
    fn take(&mut self, key: &[u8]) -> Option<ItemKey> {
        let (shared, bbox) = self.by_key.remove_entry(key)?;
        let probe = Entry { env: bbox.aabb(), key: shared, geometry: None };
        if let Some(old) = self.tree.remove(&probe) {
            self.heap -= Entry::heap_bytes(&old.key, old.geometry.as_deref());
        }
        Some(probe.key)
    }
}

/// A geo index over one bucket's items (see the [module docs](self) for
/// locking and memory).
pub struct GeoIndex {
    spec: IndexSpec,
    inner: RwLock<Inner>,
}

impl std::fmt::Debug for GeoIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIndex")
            .field("spec", &self.spec)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl GeoIndex {
    /// An empty index.
    pub fn new(spec: IndexSpec) -> GeoIndex {
        GeoIndex { spec, inner: RwLock::new(Inner::default()) }
    }

    /// The declaration this index follows.
    pub fn spec(&self) -> &IndexSpec {
        &self.spec
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Follows a SET: indexes `key` by the geometry in `value`, replacing
    /// what it had, or drops it when the new value has no geometry. Returns
    /// whether the item is now indexed.
    pub fn upsert(&self, key: &[u8], value: &[u8]) -> bool {
        let shape = self.spec.extract(value);
        self.put(key, shape)
    }

    /// As [`GeoIndex::upsert`] with the shape already extracted (`None`
    /// removes the item).
    pub fn put(&self, key: &[u8], shape: Option<Shape>) -> bool {
        let mut inner = self.write();
        let old_key = inner.take(key);
        let Some(shape) = shape else { return false };
        let (bbox, geometry) = shape.into_parts();
        let key = old_key.unwrap_or_else(|| ItemKey::new(key));
        inner.heap += Entry::heap_bytes(&key, geometry.as_deref());
        inner.by_key.insert(key.clone(), bbox);
        inner.tree.insert(Entry { env: bbox.aabb(), key, geometry });
        true
    }

    /// Follows a DELETE or an expiry. Returns whether the key was indexed.
    pub fn remove(&self, key: &[u8]) -> bool {
        self.write().take(key).is_some()
    }

    /// Follows a FLUSH: forgets every item.
    pub fn clear(&self) {
        *self.write() = Inner::default();
    }

    /// Replaces the whole index with `items` (key, value) in one R*-tree
    /// bulk load: the warmup path, much faster than one upsert per item and
    /// giving a better-packed tree. A key given twice keeps its last value.
    /// Values are parsed before the lock is taken; writes that must not be
    /// lost should wait for this to return (or be applied again after).
    /// Returns how many items were indexed.
    pub fn bulk_load<I, K, V>(&self, items: I) -> usize
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let items = items.into_iter();
        let mut by_key: HashMap<ItemKey, Bbox> = HashMap::with_capacity(items.size_hint().0);
        let mut entries = Vec::with_capacity(items.size_hint().0);
        // Keys are normally unique (they come from a store); a repeat is
        // noticed here and sorted out after the loop.
        let mut repeats = false;
        for (k, v) in items {
            let k = k.as_ref();
            if let Some(shape) = self.spec.extract(v.as_ref()) {
                let (bbox, geometry) = shape.into_parts();
                let key = ItemKey::new(k);
                repeats |= by_key.insert(key.clone(), bbox).is_some();
                entries.push(Entry { env: bbox.aabb(), key, geometry });
            } else if by_key.remove(k).is_some() {
                repeats = true;
            }
        }
        if repeats {
            // The last entry for each key still in the map wins.
            let mut seen = std::collections::HashSet::new();
            entries.reverse();
            entries.retain(|e| by_key.contains_key(&e.key) && seen.insert(e.key.clone()));
        }
        let heap = entries.iter().map(|e| Entry::heap_bytes(&e.key, e.geometry.as_deref())).sum();
        let n = entries.len();
        let fresh = Inner { tree: RTree::bulk_load(entries), by_key, heap };
        *self.write() = fresh;
        n
    }

    /// Number of indexed items.
    pub fn len(&self) -> usize {
        self.read().by_key.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate bytes held by the index: tree nodes (walked: a pass over
    /// the inner nodes, about a fifth as many as items, under the read lock), the
    /// key map's table at its capacity, keys and geometry text. Allocator
    /// overhead and spare `Vec` capacity in tree nodes are not counted.
    pub fn memory_bytes(&self) -> usize {
        let inner = self.read();
        // Every node but the root sits in its parent's child vector.
        let mut tree = size_of::<RTree<Entry>>();
        let mut stack = vec![inner.tree.root()];
        while let Some(node) = stack.pop() {
            let children = node.children();
            tree += std::mem::size_of_val(children);
            // rstar keeps all leaves at one depth: a node holds either only
            // leaves or only parents, so leaf-level nodes are not walked.
            if matches!(children.first(), Some(RTreeNode::Parent(_))) {
                stack.extend(children.iter().filter_map(|c| match c {
                    RTreeNode::Parent(p) => Some(p),
                    RTreeNode::Leaf(_) => None,
                }));
            }
        }
        let map = inner.by_key.capacity() * (size_of::<(ItemKey, Bbox)>() + 1);
        size_of::<GeoIndex>() + tree + map + inner.heap
    }

    /// Answers a typed query.
    ///
    /// # Errors
    /// When a nearest query's point is off the globe.
    pub fn query(&self, q: &Query) -> Result<Answer, BoxError> {
        Ok(match *q {
            Query::Within { bbox, skip, limit } => Answer::Rows(self.within(bbox, skip, limit)),
            Query::Count { bbox } => Answer::Count(self.count_within(bbox)),
            Query::Nearest { lon, lat, n, skip } => Answer::Rows(self.nearest(lon, lat, n, skip)?),
        })
    }

    /// Items whose bounding box shares a point with `bbox` (edges count),
    /// ordered by key bytewise; the first `skip` are dropped, then at most
    /// `limit` are returned.
    pub fn within(&self, bbox: QueryBox, skip: usize, limit: Option<usize>) -> Vec<Row> {
        let inner = self.read();
        let mut hits = Vec::new();
        visit_within(&inner.tree, bbox, |e| hits.push((key_prefix(&e.key), e)));
        let end = skip.saturating_add(limit.unwrap_or(usize::MAX)).min(hits.len());
        if skip >= end {
            return Vec::new();
        }
        let cmp = |a: &(u128, &Entry), b: &(u128, &Entry)| {
            a.0.cmp(&b.0).then_with(|| a.1.key.cmp(&b.1.key))
        };
        if end < hits.len() {
            // Only the first `end` in key order matter.
            hits.select_nth_unstable_by(end, cmp);
            hits.truncate(end);
        }
        hits.sort_unstable_by(cmp);
        hits[skip..].iter().map(|(_, e)| e.row(None)).collect()
    }

    /// How many items [`GeoIndex::within`] would return with no skip or
    /// limit.
    pub fn count_within(&self, bbox: QueryBox) -> usize {
        let inner = self.read();
        let mut n = 0;
        visit_within(&inner.tree, bbox, |_| n += 1);
        n
    }

    /// The `n` items nearest to `(lon, lat)` by great-circle distance
    /// (haversine on the mean Earth sphere; for an item with an extent,
    /// the distance to the nearest point of its bounding box), ordered by
    /// distance then key, after dropping the first `skip`. Exact: see
    /// [`crate::nearest`].
    ///
    /// # Errors
    /// When the point is off the globe.
    pub fn nearest(&self, lon: f64, lat: f64, n: usize, skip: usize) -> Result<Vec<Row>, BoxError> {
        let (lon, lat) = (check_lon(lon)?, check_lat(lat)?);
        let inner = self.read();
        let found = nearest::nearest(&inner.tree, lon, lat, skip.saturating_add(n));
        Ok(found.into_iter().skip(skip).map(|(d, e)| e.row(Some(d))).collect())
    }
}

/// Calls `f` once for each entry meeting `bbox`. A box across the
/// antimeridian is two tree queries; an entry meeting both halves is
/// reported from the first only.
fn visit_within<'t>(tree: &'t RTree<Entry>, bbox: QueryBox, mut f: impl FnMut(&'t Entry)) {
    let (first, second) = bbox.parts();
    tree.locate_in_envelope_intersecting(first.aabb()).for_each(&mut f);
    if let Some(second) = second {
        tree.locate_in_envelope_intersecting(second.aabb())
            .filter(|e| !first.intersects(&e.bbox()))
            .for_each(f);
    }
}

/// A key's first 16 bytes as a big-endian integer, zero-padded. Comparing
/// prefixes, then whole keys on a tie, orders exactly as comparing whole
/// keys, and most comparisons end at the integer, in the hit itself.
fn key_prefix(key: &[u8]) -> u128 {
    let mut b = [0; 16];
    let n = key.len().min(16);
    b[..n].copy_from_slice(&key[..n]);
    u128::from_be_bytes(b)
}
