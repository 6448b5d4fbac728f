//! Structural algorithms on a non-empty tree: insert, range removal, join by
//! height, copy-on-write overwrite, bottom-up build, invariant check.
//!
//! Every mutation reaches nodes through [`Child::make_mut`] / `Arc::make_mut`:
//! a node owned only by this tree is edited in place, a shared one is copied
//! first (path copying), so other buffers sharing the node never see the edit.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::node::{
    Child, Kind, MAX, MIN, Node, balance_children, balance_children_biased, fix_underfull_from,
};

/// Size of the private blocks the small-write policy creates and fills, and
/// the granularity a copy-on-write overwrite rounds its copy to.
pub(crate) const BLOCK: usize = 4096;
/// Slice inserts shorter than this are copied into a neighbouring block.
pub(crate) const SMALL_COPY: usize = 256;
/// Adjacent extents whose combined length is at most this are merged (by
/// copying) after a removal leaves them side by side.
pub(crate) const MERGE_BELOW: u64 = 512;

/// A non-empty tree: root node and its height (0: the root is a leaf).
#[derive(Clone)]
pub(crate) struct Tree {
    pub(crate) root: Arc<Node>,
    pub(crate) height: u8,
}

/// What an insert puts into a leaf.
pub(crate) enum Ins<'a> {
    /// A shared extent, never copied.
    Bytes(Bytes),
    /// Caller bytes that must be copied (small-write policy applies).
    Slice(&'a [u8]),
}

impl Ins<'_> {
    fn len(&self) -> u64 {
        match self {
            Ins::Bytes(b) => b.len() as u64,
            Ins::Slice(s) => s.len() as u64,
        }
    }
}

impl Tree {
    /// A one-leaf tree of the given extents (1 ..= `MAX`, non-empty).
    pub(crate) fn from_leaf(exts: impl IntoIterator<Item = Bytes>) -> Tree {
        let mut root = Arc::new(Node::leaf());
        let leaf = Arc::get_mut(&mut root).expect("a fresh node is unique");
        for b in exts {
            leaf.push_ext(b);
        }
        Tree { root, height: 0 }
    }

    /// Builds a tree bottom-up from non-empty extents (at least one) in O(n).
    /// Nodes are filled in their final allocations (a `Node` is large, and
    /// moving one by value copies all its slots).
    pub(crate) fn build(exts: Vec<Bytes>) -> Tree {
        debug_assert!(!exts.is_empty());
        let mut level: Vec<Arc<Node>> = chunk_even(exts.len())
            .scan(exts.into_iter(), |it, n| {
                let mut arc = Arc::new(Node::leaf());
                let leaf = Arc::get_mut(&mut arc).expect("a fresh node is unique");
                for b in it.by_ref().take(n) {
                    leaf.push_ext(b);
                }
                Some(arc)
            })
            .collect();
        let mut height = 0u8;
        while level.len() > 1 {
            let sizes: Vec<usize> = chunk_even(level.len()).collect();
            let mut it = level.into_iter();
            level = sizes
                .into_iter()
                .map(|n| {
                    let mut arc = Arc::new(Node::inner());
                    let inner = Arc::get_mut(&mut arc).expect("a fresh node is unique");
                    for c in it.by_ref().take(n) {
                        inner.push_child(Child::from_arc(c));
                    }
                    arc
                })
                .collect();
            height += 1;
        }
        let root = level.pop().expect("build of at least one extent");
        Tree { root, height }
    }

    pub(crate) fn insert(&mut self, at: u64, item: Ins<'_>) {
        if let Some(sib) = insert_rec(Arc::make_mut(&mut self.root), at, item) {
            self.grow(sib);
        }
    }

    /// Removes bytes `start..end` (`start < end`, not the whole tree).
    pub(crate) fn remove(&mut self, start: u64, end: u64) {
        if let Some(sib) = remove_rec(Arc::make_mut(&mut self.root), start, end) {
            self.grow(sib);
        }
        self.collapse();
    }

    /// Overwrites bytes at `at` without changing the length.
    pub(crate) fn write(&mut self, at: u64, data: &[u8]) {
        if let Some(sib) = write_rec(Arc::make_mut(&mut self.root), at, data) {
            self.grow(sib);
        }
    }

    /// Concatenates two trees (join by height).
    pub(crate) fn join(a: Tree, b: Tree) -> Tree {
        use std::cmp::Ordering;
        let (mut ra, mut rb) = (a.root, b.root);
        match a.height.cmp(&b.height) {
            Ordering::Equal => {
                let merged = Arc::make_mut(&mut ra).balance(Arc::make_mut(&mut rb));
                if merged {
                    Tree { root: ra, height: a.height }
                } else {
                    let mut root = Node::inner();
                    root.push_child(Child::from_arc(ra));
                    root.push_child(Child::from_arc(rb));
                    Tree { root: Arc::new(root), height: a.height + 1 }
                }
            }
            Ordering::Greater => {
                let mut t = Tree { root: ra, height: a.height };
                if let Some(sib) = join_right(Arc::make_mut(&mut t.root), a.height, rb, b.height) {
                    t.grow(sib);
                }
                t
            }
            Ordering::Less => {
                let mut t = Tree { root: rb, height: b.height };
                if let Some(sib) = join_left(Arc::make_mut(&mut t.root), b.height, ra, a.height) {
                    // `sib` holds the right half, the root keeps the left.
                    t.grow(sib);
                }
                t
            }
        }
    }

    /// Splits into bytes `..at` and `at..` (`0 < at < len`), consuming the
    /// tree. Only the nodes on the path to `at` are cut: those this tree
    /// owns alone are reused in place (shared ones are copied first, as any
    /// edit does); every other node moves whole to one side. The cut edges
    /// are then repaired top down ([`fix_edge`]): O(depth) node edits.
    pub(crate) fn split(self, at: u64) -> (Tree, Tree) {
        let h = self.height;
        let (l, r) = split_raw(self.root, at);
        (finish(l, h, Edge::Right), finish(r, h, Edge::Left))
    }

    /// [`Tree::split`] of a one-leaf tree (`height == 0`, `0 < at < len`),
    /// in place: `self` keeps `..at`; the bytes `at..` are returned as one
    /// extent when they are one, else as a new leaf.
    pub(crate) fn split_leaf(&mut self, at: u64) -> Result<Bytes, Tree> {
        debug_assert_eq!(self.height, 0);
        let leaf = Arc::make_mut(&mut self.root);
        let (i, off) = leaf.locate(at);
        let n = leaf.len();
        if off > 0 && i + 1 == n {
            // The cut is inside the last extent.
            let tail = leaf.exts_mut()[i].split_off(off as usize);
            leaf.counts[i] = off;
            return Ok(tail);
        }
        if off == 0 && i + 1 == n {
            leaf.counts.pop();
            return Ok(leaf.exts_mut().pop());
        }
        if off == 0 {
            return Err(Tree { root: leaf.split_off_items(i), height: 0 });
        }
        let mut right = leaf.split_off_items(i + 1);
        let tail = leaf.exts_mut()[i].split_off(off as usize);
        leaf.counts[i] = off;
        Arc::get_mut(&mut right).expect("a fresh node is unique").insert_ext(0, tail);
        Err(Tree { root: right, height: 0 })
    }

    /// Bytes `start..end` as a new tree (`start < end <= len`): the two cuts
    /// of a split, without building the parts outside the range. Shares every
    /// node that lies wholly inside the range; builds O(depth) new ones.
    pub(crate) fn range(&self, start: u64, end: u64) -> Tree {
        // Descend while one child holds the whole range.
        let (mut node, mut h, mut s, mut e) = (&self.root, self.height, start, end);
        while h > 0 && s > 0 && e < node.total() {
            let (i, so) = node.locate(s);
            let (j, eo) = node.locate(e - 1);
            if i != j {
                break;
            }
            (node, h, s, e) = (node.children()[i].arc(), h - 1, so, eo + 1);
        }
        if s == 0 {
            return finish(prefix_raw(node, e), h, Edge::Right);
        }
        if e >= node.total() {
            return finish(suffix_raw(node, s), h, Edge::Left);
        }
        if h == 0 {
            let (i, so) = node.locate(s);
            let (j, eo) = node.locate(e - 1);
            let leaf = leaf_range(node.exts(), &node.counts, (i, so), (j, eo + 1));
            return Tree { root: Arc::new(leaf), height: 0 };
        }
        // `node` is where the two cuts part: child `i` holds the start, a
        // later child `j` the end. Both cut paths are built in one pass, the
        // children between them shared, then each edge is repaired. The
        // edges meet only here, in children `i` and `j`: when the left
        // repair merges an underfull left child with the right one, the two
        // were this node's only children, so the merged node becomes the
        // root (collapsed) and the right repair walks on from it.
        let (i, so) = node.locate(s);
        let (j, eo) = node.locate(e - 1);
        debug_assert!(i < j);
        let c = node.children();
        let mut raw = Node::inner();
        raw.push_child_counted(Child::from_arc(suffix_raw(c[i].arc(), so)), node.counts[i] - so);
        for (ch, &n) in c[i + 1..j].iter().zip(&node.counts[i + 1..j]) {
            raw.push_child_counted(ch.clone(), n);
        }
        raw.push_child_counted(Child::from_arc(prefix_raw(c[j].arc(), eo + 1)), eo + 1);
        let mut t = Tree { root: Arc::new(raw), height: h };
        fix_edge(&mut t, Edge::Left);
        fix_edge(&mut t, Edge::Right);
        t
    }

    /// Adds a level above the root when the root split.
    fn grow(&mut self, sib: Arc<Node>) {
        let old = std::mem::replace(&mut self.root, Arc::new(Node::inner()));
        let root = Arc::get_mut(&mut self.root).expect("fresh root is unique");
        root.push_child(Child::from_arc(old));
        root.push_child(Child::from_arc(sib));
        self.height += 1;
    }

    /// Drops inner roots with a single child.
    fn collapse(&mut self) {
        while !self.root.is_leaf() && self.root.len() == 1 {
            let child = self.root.children()[0].arc().clone();
            self.root = child;
            self.height -= 1;
        }
    }

    /// Total bytes.
    pub(crate) fn len(&self) -> u64 {
        self.root.total()
    }

    /// The single extent of a one-extent tree.
    pub(crate) fn single(&self) -> Option<&Bytes> {
        (self.root.is_leaf() && self.root.len() == 1).then(|| &self.root.exts()[0])
    }

    /// The extent holding byte `at` (`at < len`) and the offset inside it.
    pub(crate) fn extent_at(&self, at: u64) -> (&Bytes, usize) {
        let mut node: &Node = &self.root;
        let mut at = at;
        loop {
            let (i, off) = node.locate(at);
            match &node.kind {
                Kind::Leaf(e) => return (&e[i], off as usize),
                Kind::Inner(c) => {
                    node = c[i].node();
                    at = off;
                }
            }
        }
    }

    pub(crate) fn node_addresses(&self) -> Vec<usize> {
        fn walk(n: &Arc<Node>, out: &mut Vec<usize>) {
            out.push(Arc::as_ptr(n) as usize);
            if let Kind::Inner(c) = &n.kind {
                for c in c.iter() {
                    walk(c.arc(), out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }

    /// Number of extents (visits every leaf).
    pub(crate) fn extent_count(&self) -> usize {
        fn count(n: &Node) -> usize {
            match &n.kind {
                Kind::Leaf(e) => e.len(),
                Kind::Inner(c) => c.iter().map(|c| count(c.node())).sum(),
            }
        }
        count(&self.root)
    }

    /// Checks the structural invariants; panics with a description if one
    /// does not hold.
    pub(crate) fn check(&self) {
        fn walk(n: &Node, depth: u8, height: u8, is_root: bool) -> u64 {
            assert!(n.len() <= MAX, "node over capacity: {} items", n.len());
            if !is_root {
                assert!(n.len() >= MIN, "underfull node: {} items at depth {depth}", n.len());
            }
            assert!(n.len() >= 1, "empty node");
            match &n.kind {
                Kind::Leaf(e) => {
                    assert_eq!(depth, height, "leaf at depth {depth}, tree height {height}");
                    assert_eq!(e.len(), n.counts.len());
                    for (b, &c) in e.iter().zip(n.counts.iter()) {
                        assert!(!b.is_empty(), "empty extent");
                        assert_eq!(b.len() as u64, c, "leaf count differs from extent length");
                    }
                }
                Kind::Inner(ch) => {
                    assert!(depth < height, "inner node at leaf depth");
                    assert!(!is_root || n.len() >= 2, "inner root with one child");
                    assert_eq!(ch.len(), n.counts.len());
                    for (c, &cnt) in ch.iter().zip(n.counts.iter()) {
                        let sub = walk(c.node(), depth + 1, height, false);
                        assert_eq!(sub, cnt, "inner count differs from subtree total");
                    }
                }
            }
            n.total()
        }
        walk(&self.root, 0, self.height, true);
    }
}

/// Splits `n` items into the fewest groups of at most `MAX`, sizes as even
/// as possible (so every group has at least `MIN` when there are several).
fn chunk_even(n: usize) -> impl Iterator<Item = usize> {
    let groups = n.div_ceil(MAX).max(1);
    let base = n / groups;
    let extra = n % groups;
    (0..groups).map(move |g| base + usize::from(g < extra))
}

fn insert_rec(node: &mut Node, at: u64, item: Ins<'_>) -> Option<Arc<Node>> {
    let (i, off) = node.locate(at);
    if node.is_leaf() {
        leaf_insert(node, i, off, item);
    } else {
        node.counts[i] += item.len();
        let child = &mut node.children_mut()[i];
        if let Some(sib) = insert_rec(child.make_mut(), off, item) {
            node.counts[i] = node.children()[i].node().total();
            node.insert_child(i + 1, Child::from_arc(sib));
        }
    }
    (node.len() > MAX).then(|| node.split_half())
}

fn leaf_insert(node: &mut Node, i: usize, off: u64, item: Ins<'_>) {
    let b = match item {
        Ins::Bytes(b) => b,
        Ins::Slice(data) => {
            if data.len() < SMALL_COPY && coalesce(node, i, off, data) {
                return;
            }
            let mut m =
                BytesMut::with_capacity(if data.len() < SMALL_COPY { BLOCK } else { data.len() });
            m.extend_from_slice(data);
            m.freeze()
        }
    };
    let len_i = node.counts[i];
    if off == 0 {
        node.insert_ext(i, b);
    } else if off == len_i {
        node.insert_ext(i + 1, b);
    } else {
        let tail = node.exts_mut()[i].split_off(off as usize);
        node.counts[i] = off;
        node.insert_ext(i + 1, tail);
        node.insert_ext(i + 1, b);
    }
}

/// Small-write policy: puts `data` into the extent holding the insert point
/// (or the one ending there) when the result stays within one block. A
/// uniquely owned block is edited in place (using spare capacity when there
/// is some); a shared one is copied into a fresh private block, so the copy
/// is bounded by [`BLOCK`] bytes and shared memory is never written.
fn coalesce(node: &mut Node, i: usize, off: u64, data: &[u8]) -> bool {
    let mut candidates = [(i, off), (usize::MAX, 0)];
    if off == 0 && i > 0 {
        candidates = [(i - 1, node.counts[i - 1]), (i, 0)];
    }
    for (t, p) in candidates {
        if t == usize::MAX || node.counts[t] as usize + data.len() > BLOCK {
            continue;
        }
        let p = p as usize;
        let old = std::mem::take(&mut node.exts_mut()[t]);
        let new = match old.try_into_mut() {
            Ok(mut m) => {
                m.extend_from_slice(data);
                m[p..].rotate_right(data.len());
                m.freeze()
            }
            Err(old) => {
                let mut m = BytesMut::with_capacity(BLOCK);
                m.extend_from_slice(&old[..p]);
                m.extend_from_slice(data);
                m.extend_from_slice(&old[p..]);
                m.freeze()
            }
        };
        node.counts[t] = new.len() as u64;
        node.exts_mut()[t] = new;
        return true;
    }
    false
}

/// Returns the new right sibling when removing from inside one extent
/// overfilled a node.
fn remove_rec(node: &mut Node, start: u64, end: u64) -> Option<Arc<Node>> {
    let leaf = node.is_leaf();
    let mut i = 0;
    let mut acc = 0u64;
    let mut junction = None;
    let mut first = None;
    while i < node.len() && acc < end {
        let c = node.counts[i];
        let (s, e) = (start.max(acc), end.min(acc + c));
        if s >= e {
            acc += c;
            i += 1;
            continue;
        }
        first.get_or_insert(i);
        let (ls, le) = (s - acc, e - acc);
        acc += c;
        if ls == 0 && le == c {
            node.drain(i, i + 1);
            junction = Some(i);
            continue;
        }
        if leaf {
            let ext = &mut node.exts_mut()[i];
            if ls == 0 {
                let _ = ext.split_to(le as usize);
                node.counts[i] = c - le;
                junction = Some(i);
            } else if le == c {
                ext.truncate(ls as usize);
                node.counts[i] = ls;
                junction = Some(i + 1);
            } else {
                let tail = ext.slice(le as usize..);
                ext.truncate(ls as usize);
                node.counts[i] = ls;
                node.insert_ext(i + 1, tail);
                junction = Some(i + 1);
                break;
            }
        } else {
            node.counts[i] = c - (le - ls);
            if let Some(sib) = remove_rec(node.children_mut()[i].make_mut(), ls, le) {
                node.counts[i] = node.children()[i].node().total();
                node.insert_child(i + 1, Child::from_arc(sib));
                break;
            }
        }
        i += 1;
    }
    if leaf {
        if let Some(j) = junction {
            merge_small(node, j);
        }
    } else {
        // Children the removal dropped whole are gone; the partly cut ones
        // (at most two) now sit side by side at `first`.
        fix_underfull_from(node, first.unwrap_or(0), 2);
    }
    (node.len() > MAX).then(|| node.split_half())
}

/// After a removal: if the extents on either side of the junction before
/// item `j` are small together, copy them into one extent (at most
/// [`MERGE_BELOW`] bytes copied).
fn merge_small(node: &mut Node, j: usize) {
    if j == 0 || j >= node.len() {
        return;
    }
    if node.counts[j - 1] + node.counts[j] > MERGE_BELOW {
        return;
    }
    let exts = node.exts_mut();
    let mut m = BytesMut::with_capacity((exts[j - 1].len() + exts[j].len()).max(64));
    m.extend_from_slice(&exts[j - 1]);
    m.extend_from_slice(&exts[j]);
    let merged = m.freeze();
    node.counts[j - 1] = merged.len() as u64;
    node.exts_mut()[j - 1] = merged;
    node.drain(j, j + 1);
}

fn join_right(node: &mut Node, h: u8, b: Arc<Node>, hb: u8) -> Option<Arc<Node>> {
    debug_assert!(h > hb);
    if h == hb + 1 {
        node.push_child(Child::from_arc(b));
        let n = node.len();
        if node.children()[n - 1].node().len() < MIN {
            balance_children(node, n - 2);
        }
    } else {
        let last = node.len() - 1;
        let sib = join_right(node.children_mut()[last].make_mut(), h - 1, b, hb);
        node.counts[last] = node.children()[last].node().total();
        if let Some(s) = sib {
            node.push_child(Child::from_arc(s));
        }
    }
    (node.len() > MAX).then(|| node.split_half())
}

fn join_left(node: &mut Node, h: u8, a: Arc<Node>, ha: u8) -> Option<Arc<Node>> {
    debug_assert!(h > ha);
    if h == ha + 1 {
        node.insert_child(0, Child::from_arc(a));
        if node.children()[0].node().len() < MIN {
            balance_children(node, 0);
        }
    } else {
        let sib = join_left(node.children_mut()[0].make_mut(), h - 1, a, ha);
        node.counts[0] = node.children()[0].node().total();
        if let Some(s) = sib {
            node.insert_child(1, Child::from_arc(s));
        }
    }
    (node.len() > MAX).then(|| node.split_half())
}

fn write_rec(node: &mut Node, at: u64, data: &[u8]) -> Option<Arc<Node>> {
    let end = at + data.len() as u64;
    // Item starts, then walk the touched items right to left so that items
    // inserted after item `i` do not shift the ones still to visit.
    let mut starts = [0u64; MAX + 2];
    let mut acc = 0;
    for (k, &c) in node.counts.iter().enumerate() {
        starts[k] = acc;
        acc += c;
    }
    let n = node.len();
    let first = (0..n).find(|&k| starts[k] + node.counts[k] > at).unwrap_or(n);
    let last = (first..n).take_while(|&k| starts[k] < end).last().unwrap_or(first);
    for k in (first..=last).rev() {
        let (s0, c) = (starts[k], node.counts[k]);
        let (s, e) = (at.max(s0) - s0, end.min(s0 + c) - s0);
        let part = &data[(s0 + s - at) as usize..(s0 + e - at) as usize];
        if node.is_leaf() {
            let old = std::mem::take(&mut node.exts_mut()[k]);
            let (a, more) = cow_write(old, s as usize, e as usize, part);
            node.counts[k] = a.len() as u64;
            node.exts_mut()[k] = a;
            for (off, p) in more.into_iter().flatten().enumerate() {
                node.insert_ext(k + 1 + off, p);
            }
        } else if let Some(sib) = write_rec(node.children_mut()[k].make_mut(), s, part) {
            node.counts[k] = node.children()[k].node().total();
            node.insert_child(k + 1, Child::from_arc(sib));
        }
    }
    (node.len() > MAX).then(|| node.split_half())
}

/// Overwrites `old[s..e]` with `part`. A uniquely owned block is written in
/// place. A shared one is never written: a small extent, or a write covering
/// at least half of it, becomes one private copy; otherwise only the touched
/// span, rounded out to [`BLOCK`], is copied and the rest stays shared.
fn cow_write(old: Bytes, s: usize, e: usize, part: &[u8]) -> (Bytes, [Option<Bytes>; 2]) {
    let old = match old.try_into_mut() {
        Ok(mut m) => {
            m[s..e].copy_from_slice(part);
            return (m.freeze(), [None, None]);
        }
        Err(old) => old,
    };
    let len = old.len();
    let (rs, re) = if len <= BLOCK || (e - s) * 2 >= len {
        (0, len)
    } else {
        (s / BLOCK * BLOCK, (e.div_ceil(BLOCK) * BLOCK).min(len))
    };
    let mut v = Vec::with_capacity(re - rs);
    v.extend_from_slice(&old[rs..s]);
    v.extend_from_slice(part);
    v.extend_from_slice(&old[e..re]);
    let private = Bytes::from(v);
    let before = (rs > 0).then(|| old.slice(..rs));
    let after = (re < len).then(|| old.slice(re..));
    match before {
        Some(b) => (b, [Some(private), after]),
        None => (private, [after, None]),
    }
}

/// A leaf of the extents of `e` from `(i, from)` to `(j, to)` (item and
/// offset inside it; `to` exclusive, `to == 0` meaning "nothing of item j").
fn leaf_range(e: &[Bytes], counts: &[u64], (i, from): (usize, u64), (j, to): (usize, u64)) -> Node {
    let mut leaf = Node::leaf();
    if i == j {
        leaf.push_ext(e[i].slice(from as usize..to as usize));
    } else {
        if from == 0 {
            leaf.push_ext(e[i].clone());
        } else {
            leaf.push_ext(e[i].slice(from as usize..));
        }
        for (b, &n) in e[i + 1..j].iter().zip(&counts[i + 1..j]) {
            debug_assert_eq!(b.len() as u64, n);
            leaf.push_ext(b.clone());
        }
        if to > 0 {
            leaf.push_ext(e[j].slice(..to as usize));
        }
    }
    leaf
}

// Split and slice cut along one root-to-leaf path (two for a slice) and
// build each cut level as one node of the same height, so the raw result is
// a tree whose only flaws are on its cut edge: nodes there may be underfull
// (even hold a single item) and the root may have one child. The spine fix
// then walks that edge once from the top, collapsing one-child roots and
// rebalancing each underfull spine node with its neighbour: O(depth) node
// edits in all, with no join and no rebuilding of the parts beside the path.

/// Bytes `..at` of the subtree `node` (`0 < at`) as a node of the same
/// height whose right edge may be underfull.
fn prefix_raw(node: &Arc<Node>, at: u64) -> Arc<Node> {
    if at >= node.total() {
        return node.clone();
    }
    let (i, off) = node.locate(at);
    match &node.kind {
        Kind::Leaf(e) => Arc::new(leaf_range(e, &node.counts, (0, 0), (i, off))),
        Kind::Inner(c) => {
            let mut out = Node::inner();
            for (ch, &n) in c[..i].iter().zip(&node.counts[..i]) {
                out.push_child_counted(ch.clone(), n);
            }
            if off > 0 {
                out.push_child_counted(Child::from_arc(prefix_raw(c[i].arc(), off)), off);
            }
            Arc::new(out)
        }
    }
}

/// Bytes `at..` of the subtree `node` (`at < total`) as a node of the same
/// height whose left edge may be underfull.
fn suffix_raw(node: &Arc<Node>, at: u64) -> Arc<Node> {
    if at == 0 {
        return node.clone();
    }
    let (i, off) = node.locate(at);
    match &node.kind {
        Kind::Leaf(e) => {
            let last = e.len() - 1;
            Arc::new(leaf_range(e, &node.counts, (i, off), (last, node.counts[last])))
        }
        Kind::Inner(c) => {
            let mut out = Node::inner();
            let rest = node.counts[i] - off;
            out.push_child_counted(Child::from_arc(suffix_raw(c[i].arc(), off)), rest);
            for (ch, &n) in c[i + 1..].iter().zip(&node.counts[i + 1..]) {
                out.push_child_counted(ch.clone(), n);
            }
            Arc::new(out)
        }
    }
}

/// Cuts the subtree `arc` at `at` (`0 < at < total`) into two nodes of its
/// height, reusing its allocation for the left part when it is unique.
fn split_raw(mut arc: Arc<Node>, at: u64) -> (Arc<Node>, Arc<Node>) {
    let node = Arc::make_mut(&mut arc);
    let (i, off) = node.locate(at);
    if node.is_leaf() {
        let mut right = node.split_off_items(i);
        if off > 0 {
            let r = Arc::get_mut(&mut right).expect("a fresh node is unique");
            let head = r.exts_mut()[0].split_to(off as usize);
            r.counts[0] -= off;
            node.push_ext(head);
        }
        return (arc, right);
    }
    if off == 0 {
        let right = node.split_off_items(i);
        return (arc, right);
    }
    let mut right = node.split_off_items(i + 1);
    let total = node.counts[i];
    let child = node.pop_child();
    let (l, r) = split_raw(child, off);
    node.push_child_counted(Child::from_arc(l), off);
    let rn = Arc::get_mut(&mut right).expect("a fresh node is unique");
    rn.counts.insert(0, total - off);
    rn.children_mut().insert(0, Child::from_arc(r));
    (arc, right)
}

/// Which edge of a raw cut tree may be underfull.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edge {
    Left,
    Right,
}

/// Drops inner roots with a single child.
fn collapse_root(t: &mut Tree) {
    while t.height > 0 && t.root.len() == 1 {
        let child = t.root.children()[0].arc().clone();
        t.root = child;
        t.height -= 1;
    }
}

/// Repairs the fill of the nodes on one edge of a raw cut tree, top down.
/// Before descending into an edge child that holds `MIN` items or fewer, it
/// is balanced with its neighbour so that it holds more than `MIN` (merged
/// when both fit one node: the neighbour alone holds `MIN`). The repair one
/// level further down merges at most one pair of its children, so every
/// edge node still holds at least `MIN` when the walk is done. The root may
/// end with one child (after a merge below it) and is then collapsed.
fn fix_edge(t: &mut Tree, edge: Edge) {
    collapse_root(t);
    let mut node = Arc::make_mut(&mut t.root);
    let mut h = t.height;
    let right = edge == Edge::Right;
    while h > 0 {
        let n = node.len();
        let k = if right { n - 1 } else { 0 };
        if n >= 2 && node.children()[k].node().len() <= MIN {
            balance_children_biased(node, if right { n - 2 } else { 0 }, !right);
        }
        let k = if right { node.len() - 1 } else { 0 };
        node = node.children_mut()[k].make_mut();
        h -= 1;
    }
    collapse_root(t);
}

/// Builds a cut tree from a raw node of height `height` and repairs `edge`.
fn finish(root: Arc<Node>, height: u8, edge: Edge) -> Tree {
    let mut t = Tree { root, height };
    fix_edge(&mut t, edge);
    t
}
