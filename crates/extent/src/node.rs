//! Tree nodes: fixed-capacity slot arrays, leaves of extents, inner nodes of
//! children, and the per-slot byte counts both kinds carry.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use bytes::Bytes;

/// Most items (extents or children) a node holds between operations.
#[cfg(not(any(test, feature = "small-nodes")))]
pub(crate) const MAX: usize = 16;
/// Most items (extents or children) a node holds between operations.
/// Tiny under tests so that a few hundred bytes already build deep trees.
#[cfg(any(test, feature = "small-nodes"))]
pub(crate) const MAX: usize = 4;
/// Fewest items a node other than the root holds.
pub(crate) const MIN: usize = MAX / 2;
/// Slot capacity: an edit may overfill a node by two before it is split.
const CAP: usize = MAX + 2;
/// Deepest tree the iterators can walk. With at least `MIN` (≥ 2) items per
/// node this is more extents than any machine can hold.
pub(crate) const MAX_DEPTH: usize = 32;

/// A checked fixed-capacity vector (no `unsafe`: unused slots hold `T::default()`).
/// `repr(C)` keeps the length in front of the items, in the cache line of
/// the first items, rather than behind the last slot: every access reads it.
#[repr(C)]
pub(crate) struct Slots<T> {
    len: u8,
    items: [T; CAP],
}

impl<T: Clone + Default> Clone for Slots<T> {
    /// Clones the used slots only.
    fn clone(&self) -> Self {
        let n = self.len as usize;
        Self {
            len: self.len,
            items: std::array::from_fn(
                |i| if i < n { self.items[i].clone() } else { T::default() },
            ),
        }
    }
}

impl<T: Default> Slots<T> {
    pub(crate) fn new() -> Self {
        Self { len: 0, items: std::array::from_fn(|_| T::default()) }
    }

    pub(crate) fn push(&mut self, x: T) {
        let n = self.len as usize;
        assert!(n < CAP, "node slot overflow");
        self.items[n] = x;
        self.len += 1;
    }

    pub(crate) fn insert(&mut self, i: usize, x: T) {
        let n = self.len as usize;
        assert!(i <= n && n < CAP, "node slot overflow");
        self.items[n] = x;
        self.items[i..=n].rotate_right(1);
        self.len += 1;
    }

    pub(crate) fn pop(&mut self) -> T {
        let n = self.len as usize;
        assert!(n > 0, "pop from empty node");
        self.len -= 1;
        std::mem::take(&mut self.items[n - 1])
    }

    /// Moves items `at..` of `other` to the end of `self`.
    pub(crate) fn take_tail(&mut self, other: &mut Self, at: usize) {
        let (n, m) = (self.len as usize, other.len as usize);
        assert!(at <= m && n + m - at <= CAP, "node slot overflow");
        for (dst, src) in self.items[n..n + m - at].iter_mut().zip(&mut other.items[at..m]) {
            *dst = std::mem::take(src);
        }
        self.len += (m - at) as u8;
        other.len = at as u8;
    }

    /// Moves the first `k` items of `other` to the end of `self`.
    pub(crate) fn take_front(&mut self, other: &mut Self, k: usize) {
        let (n, m) = (self.len as usize, other.len as usize);
        assert!(k <= m && n + k <= CAP, "node slot overflow");
        for (dst, src) in self.items[n..n + k].iter_mut().zip(&mut other.items[..k]) {
            *dst = std::mem::take(src);
        }
        other.items[..m].rotate_left(k);
        self.len += k as u8;
        other.len -= k as u8;
    }

    /// Moves the last `k` items of `self` to the front of `other`.
    pub(crate) fn give_back(&mut self, other: &mut Self, k: usize) {
        let (n, m) = (self.len as usize, other.len as usize);
        assert!(k <= n && m + k <= CAP, "node slot overflow");
        other.items[..m + k].rotate_right(k);
        for (dst, src) in other.items[..k].iter_mut().zip(&mut self.items[n - k..n]) {
            *dst = std::mem::take(src);
        }
        self.len -= k as u8;
        other.len += k as u8;
    }

    /// Removes items `start..end`, dropping them.
    pub(crate) fn drain(&mut self, start: usize, end: usize) {
        let n = self.len as usize;
        assert!(start <= end && end <= n, "node drain out of range");
        for x in &mut self.items[start..end] {
            *x = T::default();
        }
        self.items[start..n].rotate_left(end - start);
        self.len -= (end - start) as u8;
    }
}

impl<T> Deref for Slots<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items[..self.len as usize]
    }
}

impl<T> DerefMut for Slots<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.items[..self.len as usize]
    }
}

/// A child pointer. `None` only in unused slots.
#[derive(Clone, Default)]
pub(crate) struct Child(Option<Arc<Node>>);

impl Child {
    pub(crate) fn new(node: Node) -> Self {
        Child(Some(Arc::new(node)))
    }
    pub(crate) fn from_arc(node: Arc<Node>) -> Self {
        Child(Some(node))
    }
    pub(crate) fn node(&self) -> &Node {
        self.0.as_deref().expect("used child slot holds a node")
    }
    pub(crate) fn arc(&self) -> &Arc<Node> {
        self.0.as_ref().expect("used child slot holds a node")
    }
    /// Path copying: a shared node is cloned (its children's counts bumped).
    pub(crate) fn make_mut(&mut self) -> &mut Node {
        Arc::make_mut(self.0.as_mut().expect("used child slot holds a node"))
    }
}

/// Items of a node. Leaves and inner nodes share one `Node` type (and size)
/// on purpose: the allocator's size-class free list then acts as the node
/// pool (design note §3.6).
#[derive(Clone)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Kind {
    Leaf(Slots<Bytes>),
    Inner(Slots<Child>),
}

/// One tree node. `counts[i]` is the byte length of item `i` (an extent's
/// length in a leaf, a subtree's total in an inner node).
#[derive(Clone)]
pub(crate) struct Node {
    pub(crate) counts: Slots<u64>,
    pub(crate) kind: Kind,
}

impl Node {
    pub(crate) fn leaf() -> Self {
        Node { counts: Slots::new(), kind: Kind::Leaf(Slots::new()) }
    }

    pub(crate) fn inner() -> Self {
        Node { counts: Slots::new(), kind: Kind::Inner(Slots::new()) }
    }

    pub(crate) fn len(&self) -> usize {
        self.counts.len()
    }

    pub(crate) fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub(crate) fn exts(&self) -> &Slots<Bytes> {
        match &self.kind {
            Kind::Leaf(e) => e,
            Kind::Inner(_) => unreachable!("leaf expected"),
        }
    }

    pub(crate) fn children(&self) -> &Slots<Child> {
        match &self.kind {
            Kind::Inner(c) => c,
            Kind::Leaf(_) => unreachable!("inner node expected"),
        }
    }

    pub(crate) fn is_leaf(&self) -> bool {
        matches!(self.kind, Kind::Leaf(_))
    }

    pub(crate) fn exts_mut(&mut self) -> &mut Slots<Bytes> {
        match &mut self.kind {
            Kind::Leaf(e) => e,
            Kind::Inner(_) => unreachable!("leaf expected"),
        }
    }

    pub(crate) fn children_mut(&mut self) -> &mut Slots<Child> {
        match &mut self.kind {
            Kind::Inner(c) => c,
            Kind::Leaf(_) => unreachable!("inner node expected"),
        }
    }

    pub(crate) fn push_ext(&mut self, b: Bytes) {
        debug_assert!(!b.is_empty());
        self.counts.push(b.len() as u64);
        match &mut self.kind {
            Kind::Leaf(e) => e.push(b),
            Kind::Inner(_) => unreachable!("leaf expected"),
        }
    }

    pub(crate) fn insert_ext(&mut self, i: usize, b: Bytes) {
        debug_assert!(!b.is_empty());
        self.counts.insert(i, b.len() as u64);
        match &mut self.kind {
            Kind::Leaf(e) => e.insert(i, b),
            Kind::Inner(_) => unreachable!("leaf expected"),
        }
    }

    pub(crate) fn push_child(&mut self, c: Child) {
        self.counts.push(c.node().total());
        match &mut self.kind {
            Kind::Inner(ch) => ch.push(c),
            Kind::Leaf(_) => unreachable!("inner node expected"),
        }
    }

    /// Pushes a child whose byte count the caller already knows.
    pub(crate) fn push_child_counted(&mut self, c: Child, count: u64) {
        debug_assert_eq!(c.node().total(), count);
        self.counts.push(count);
        match &mut self.kind {
            Kind::Inner(ch) => ch.push(c),
            Kind::Leaf(_) => unreachable!("inner node expected"),
        }
    }

    pub(crate) fn insert_child(&mut self, i: usize, c: Child) {
        self.counts.insert(i, c.node().total());
        match &mut self.kind {
            Kind::Inner(ch) => ch.insert(i, c),
            Kind::Leaf(_) => unreachable!("inner node expected"),
        }
    }

    /// Removes items `start..end`.
    pub(crate) fn drain(&mut self, start: usize, end: usize) {
        self.counts.drain(start, end);
        match &mut self.kind {
            Kind::Leaf(e) => e.drain(start, end),
            Kind::Inner(c) => c.drain(start, end),
        }
    }

    /// Finds the item holding byte `at`: `(index, offset inside it)`. An
    /// `at` equal to the node's total maps to the end of the last item.
    pub(crate) fn locate(&self, at: u64) -> (usize, u64) {
        let mut rest = at;
        let n = self.counts.len();
        for (i, &c) in self.counts.iter().enumerate() {
            if rest < c {
                return (i, rest);
            }
            if i + 1 == n {
                return (i, rest);
            }
            rest -= c;
        }
        (0, rest)
    }

    /// Moves items `at..` into a new node of the same kind. The node is
    /// built in its final allocation: a `Node` is large, and every move of
    /// one by value is a copy of all its slots.
    pub(crate) fn split_off_items(&mut self, at: usize) -> Arc<Node> {
        let mut arc = Arc::new(if self.is_leaf() { Node::leaf() } else { Node::inner() });
        let right = Arc::get_mut(&mut arc).expect("a fresh node is unique");
        right.counts.take_tail(&mut self.counts, at);
        match (&mut right.kind, &mut self.kind) {
            (Kind::Leaf(a), Kind::Leaf(b)) => a.take_tail(b, at),
            (Kind::Inner(a), Kind::Inner(b)) => a.take_tail(b, at),
            _ => unreachable!("a new node of the same kind"),
        }
        arc
    }

    /// Removes the last child.
    pub(crate) fn pop_child(&mut self) -> Arc<Node> {
        self.counts.pop();
        match &mut self.kind {
            Kind::Inner(c) => c.pop().0.expect("used child slot holds a node"),
            Kind::Leaf(_) => unreachable!("inner node expected"),
        }
    }

    /// Moves the upper half of the items into a new sibling.
    pub(crate) fn split_half(&mut self) -> Arc<Node> {
        self.split_off_items(self.len().div_ceil(2))
    }

    /// Rebalances two adjacent siblings: when their items fit one node all
    /// move into `self` and `true` is returned (`right` is then empty);
    /// otherwise both end up with at least `MIN` items.
    pub(crate) fn balance(&mut self, right: &mut Node) -> bool {
        self.balance_biased(right, false)
    }

    /// [`Node::balance`], giving the odd item to `self` when `favour_left`.
    pub(crate) fn balance_biased(&mut self, right: &mut Node, favour_left: bool) -> bool {
        let total = self.len() + right.len();
        let target = match total {
            t if t <= MAX => t,
            t if favour_left => t.div_ceil(2),
            t => t / 2,
        };
        let n = self.len();
        if n < target {
            let k = target - n;
            self.counts.take_front(&mut right.counts, k);
            match (&mut self.kind, &mut right.kind) {
                (Kind::Leaf(a), Kind::Leaf(b)) => a.take_front(b, k),
                (Kind::Inner(a), Kind::Inner(b)) => a.take_front(b, k),
                _ => unreachable!("siblings of different kinds"),
            }
        } else if n > target {
            let k = n - target;
            self.counts.give_back(&mut right.counts, k);
            match (&mut self.kind, &mut right.kind) {
                (Kind::Leaf(a), Kind::Leaf(b)) => a.give_back(b, k),
                (Kind::Inner(a), Kind::Inner(b)) => a.give_back(b, k),
                _ => unreachable!("siblings of different kinds"),
            }
        }
        right.len() == 0
    }
}

/// Rebalances children `a` and `a + 1` of `node`, removing `a + 1` when it
/// was emptied. Counts of both are refreshed.
pub(crate) fn balance_children(node: &mut Node, a: usize) {
    balance_children_biased(node, a, false);
}

/// [`balance_children`], giving the odd item to the left child when
/// `favour_left`.
pub(crate) fn balance_children_biased(node: &mut Node, a: usize, favour_left: bool) {
    let Kind::Inner(ch) = &mut node.kind else { unreachable!("inner node expected") };
    let (l, r) = ch.split_at_mut(a + 1);
    let left = l[a].make_mut();
    let right = r[0].make_mut();
    let emptied = left.balance_biased(right, favour_left);
    node.counts[a] = left.total();
    if emptied {
        node.drain(a + 1, a + 2);
    } else {
        node.counts[a + 1] = right.total();
    }
}

/// Merges every underfull child of `node` with a neighbour until none is
/// left (or only one child remains).
pub(crate) fn fix_underfull(node: &mut Node) {
    fix_underfull_from(node, 0, usize::MAX);
}

/// [`fix_underfull`] when only children `lo..lo + width` can be underfull
/// (an edit touched only those): the other children are not visited, which
/// saves a cache miss per child.
pub(crate) fn fix_underfull_from(node: &mut Node, lo: usize, width: usize) {
    loop {
        if node.len() < 2 {
            return;
        }
        let ch = node.children();
        let lo = lo.min(ch.len());
        let hi = lo.saturating_add(width).min(ch.len());
        let Some(j) = (lo..hi).find(|&j| ch[j].node().len() < MIN) else { return };
        let a = if j + 1 < ch.len() { j } else { j - 1 };
        balance_children(node, a);
        // A child that was underfull may have had a single, itself underfull,
        // child (nothing to merge it with at that level); now that it has
        // siblings, fix the level below as well.
        let Kind::Inner(ch) = &mut node.kind else { unreachable!("inner node expected") };
        for c in ch.iter_mut().skip(a).take(2) {
            if !c.node().is_leaf() {
                fix_underfull(c.make_mut());
            }
        }
    }
}
