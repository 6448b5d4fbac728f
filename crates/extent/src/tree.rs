//! Structural algorithms on a non-empty tree: insert, range removal, join by
//! height, copy-on-write overwrite, bottom-up build, invariant check.
//!
//! Every mutation reaches nodes through [`Child::make_mut`] / `Arc::make_mut`:
//! a node owned only by this tree is edited in place, a shared one is copied
//! first (path copying), so other buffers sharing the node never see the edit.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::node::{Child, Kind, MAX, MIN, Node, balance_children, fix_underfull_from};

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
        let mut leaf = Node::leaf();
        for b in exts {
            leaf.push_ext(b);
        }
        Tree { root: Arc::new(leaf), height: 0 }
    }

    /// Builds a tree bottom-up from non-empty extents (at least one) in O(n).
    pub(crate) fn build(exts: Vec<Bytes>) -> Tree {
        debug_assert!(!exts.is_empty());
        let mut level: Vec<Node> = chunk_even(exts.len())
            .scan(exts.into_iter(), |it, n| {
                let mut leaf = Node::leaf();
                for b in it.by_ref().take(n) {
                    leaf.push_ext(b);
                }
                Some(leaf)
            })
            .collect();
        let mut height = 0u8;
        while level.len() > 1 {
            let sizes: Vec<usize> = chunk_even(level.len()).collect();
            let mut it = level.into_iter();
            level = sizes
                .into_iter()
                .map(|n| {
                    let mut inner = Node::inner();
                    for c in it.by_ref().take(n) {
                        inner.push_child(Child::new(c));
                    }
                    inner
                })
                .collect();
            height += 1;
        }
        let root = level.pop().expect("build of at least one extent");
        Tree { root: Arc::new(root), height }
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
    /// edit does); every other node moves whole to one side. Each level joins
    /// its two cut halves by height, so the cost is O(depth) node edits.
    pub(crate) fn split(self, at: u64) -> (Tree, Tree) {
        match split_rec(self.root, self.height, at) {
            (Some(l), Some(r)) => (l, r),
            _ => unreachable!("a cut strictly inside the tree leaves bytes on both sides"),
        }
    }

    /// Bytes `start..end` as a new tree (`start < end <= len`): the two cuts
    /// of a split, without building the parts outside the range.
    pub(crate) fn range(&self, start: u64, end: u64) -> Tree {
        range_rec(&self.root, self.height, start, end)
    }

    /// Adds a level above the root when the root split.
    fn grow(&mut self, sib: Node) {
        let old = std::mem::replace(&mut self.root, Arc::new(Node::inner()));
        let root = Arc::get_mut(&mut self.root).expect("fresh root is unique");
        root.push_child(Child::from_arc(old));
        root.push_child(Child::new(sib));
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

fn insert_rec(node: &mut Node, at: u64, item: Ins<'_>) -> Option<Node> {
    let (i, off) = node.locate(at);
    if node.is_leaf() {
        leaf_insert(node, i, off, item);
    } else {
        node.counts[i] += item.len();
        let child = &mut node.children_mut()[i];
        if let Some(sib) = insert_rec(child.make_mut(), off, item) {
            node.counts[i] = node.children()[i].node().total();
            node.insert_child(i + 1, Child::new(sib));
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
fn remove_rec(node: &mut Node, start: u64, end: u64) -> Option<Node> {
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
                node.insert_child(i + 1, Child::new(sib));
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

fn join_right(node: &mut Node, h: u8, b: Arc<Node>, hb: u8) -> Option<Node> {
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
            node.push_child(Child::new(s));
        }
    }
    (node.len() > MAX).then(|| node.split_half())
}

fn join_left(node: &mut Node, h: u8, a: Arc<Node>, ha: u8) -> Option<Node> {
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
            node.insert_child(1, Child::new(s));
        }
    }
    (node.len() > MAX).then(|| node.split_half())
}

fn write_rec(node: &mut Node, at: u64, data: &[u8]) -> Option<Node> {
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
            node.insert_child(k + 1, Child::new(sib));
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

/// A tree of the consecutive children `ch` (with byte counts `counts`) of an
/// inner node at height `h`: `None` for none, the child itself for one, else
/// a new root over them (a root may hold fewer than `MIN` items).
fn tree_of(ch: &[Child], counts: &[u64], h: u8) -> Option<Tree> {
    match ch {
        [] => None,
        [one] => Some(Tree { root: one.arc().clone(), height: h - 1 }),
        _ => {
            let mut node = Node::inner();
            for (c, &n) in ch.iter().zip(counts) {
                node.push_child_counted(c.clone(), n);
            }
            Some(Tree { root: Arc::new(node), height: h })
        }
    }
}

/// Joins optional trees left to right.
fn join_opt(a: Option<Tree>, b: Option<Tree>) -> Option<Tree> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Tree::join(a, b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// A leaf tree of the extents of `e` from `(i, from)` to `(j, to)` (item and
/// offset inside it; `to` exclusive, `to == 0` meaning "nothing of item j").
fn leaf_range(e: &[Bytes], counts: &[u64], (i, from): (usize, u64), (j, to): (usize, u64)) -> Tree {
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
    Tree { root: Arc::new(leaf), height: 0 }
}

fn prefix_rec(node: &Arc<Node>, h: u8, at: u64) -> Tree {
    let total = node.total();
    debug_assert!(at > 0 && at <= total);
    if at == total {
        return Tree { root: node.clone(), height: h };
    }
    let (i, off) = node.locate(at);
    match &node.kind {
        Kind::Leaf(e) => leaf_range(e, &node.counts, (0, 0), (i, off)),
        Kind::Inner(c) => {
            let left = tree_of(&c[..i], &node.counts[..i], h);
            let sub = (off > 0).then(|| prefix_rec(c[i].arc(), h - 1, off));
            join_opt(left, sub).expect("a prefix of at least one byte")
        }
    }
}

fn suffix_rec(node: &Arc<Node>, h: u8, at: u64) -> Tree {
    debug_assert!(at < node.total());
    if at == 0 {
        return Tree { root: node.clone(), height: h };
    }
    let (i, off) = node.locate(at);
    match &node.kind {
        Kind::Leaf(e) => {
            leaf_range(e, &node.counts, (i, off), (e.len() - 1, node.counts[e.len() - 1]))
        }
        Kind::Inner(c) => {
            let sub = suffix_rec(c[i].arc(), h - 1, off);
            let right = tree_of(&c[i + 1..], &node.counts[i + 1..], h);
            join_opt(Some(sub), right).expect("a suffix of at least one byte")
        }
    }
}

fn range_rec(node: &Arc<Node>, h: u8, start: u64, end: u64) -> Tree {
    let total = node.total();
    debug_assert!(start < end && end <= total);
    if start == 0 {
        return prefix_rec(node, h, end);
    }
    if end == total {
        return suffix_rec(node, h, start);
    }
    let (i, so) = node.locate(start);
    // `end` lies strictly inside the node: item `j` holds byte `end - 1`.
    let (j, eo) = node.locate(end - 1);
    let eo = eo + 1;
    match &node.kind {
        Kind::Leaf(e) => leaf_range(e, &node.counts, (i, so), (j, eo)),
        Kind::Inner(c) => {
            if i == j {
                return range_rec(c[i].arc(), h - 1, so, eo);
            }
            let left = suffix_rec(c[i].arc(), h - 1, so);
            let mid = tree_of(&c[i + 1..j], &node.counts[i + 1..j], h);
            let right = prefix_rec(c[j].arc(), h - 1, eo);
            join_opt(join_opt(Some(left), mid), Some(right)).expect("a non-empty range")
        }
    }
}

/// A tree of the items left in a cut node at height `h` (0: a leaf):
/// `None` when empty, the only child when an inner node has one.
fn cut_tree(mut node: Arc<Node>, h: u8) -> Option<Tree> {
    match node.len() {
        0 => None,
        1 if h > 0 => Some(Tree { root: Arc::make_mut(&mut node).pop_child(), height: h - 1 }),
        _ => Some(Tree { root: node, height: h }),
    }
}

fn split_rec(mut arc: Arc<Node>, h: u8, at: u64) -> (Option<Tree>, Option<Tree>) {
    // Cut in place: the left part stays in this allocation (copied first
    // only when shared), the right part moves to a new node.
    let node = Arc::make_mut(&mut arc);
    let (i, off) = node.locate(at);
    if node.is_leaf() {
        let mut right = node.split_off_items(i);
        if off > 0 {
            let head = right.exts_mut()[0].split_to(off as usize);
            right.counts[0] -= off;
            node.push_ext(head);
        }
        return (cut_tree(arc, 0), cut_tree(Arc::new(right), 0));
    }
    if off == 0 {
        let right = node.split_off_items(i);
        return (cut_tree(arc, h), cut_tree(Arc::new(right), h));
    }
    let right = node.split_off_items(i + 1);
    let child = node.pop_child();
    let (l, r) = split_rec(child, h - 1, off);
    (join_opt(cut_tree(arc, h), l), join_opt(r, cut_tree(Arc::new(right), h)))
}
