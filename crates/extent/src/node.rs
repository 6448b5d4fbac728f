//! Tree nodes: fixed-capacity slot arrays, leaves of extents, inner nodes of
//! children, and the per-slot byte counts both kinds carry.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use arrayvec::ArrayVec;
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

/// A fixed-capacity vector of node items. Unused slots stay uninitialised
/// (`arrayvec`): a new node writes only its length, and dropping one drops
/// only the items it holds, which matters for the many small, short-lived
/// trees of protocol framing (a `Bytes` drop is an indirect call).
#[derive(Clone)]
pub(crate) struct Slots<T>(ArrayVec<T, CAP>);

impl<T> Slots<T> {
    pub(crate) fn new() -> Self {
        Self(ArrayVec::new())
    }

    pub(crate) fn push(&mut self, x: T) {
        assert!(self.0.len() < CAP, "node slot overflow");
        self.0.push(x);
    }

    pub(crate) fn insert(&mut self, i: usize, x: T) {
        assert!(i <= self.0.len() && self.0.len() < CAP, "node slot overflow");
        self.0.insert(i, x);
    }

    pub(crate) fn pop(&mut self) -> T {
        self.0.pop().expect("pop from empty node")
    }

    /// Moves items `at..` of `other` to the end of `self`.
    pub(crate) fn take_tail(&mut self, other: &mut Self, at: usize) {
        let (n, m) = (self.0.len(), other.0.len());
        assert!(at <= m && n + m - at <= CAP, "node slot overflow");
        self.0.extend(other.0.drain(at..));
    }

    /// Moves the first `k` items of `other` to the end of `self`.
    pub(crate) fn take_front(&mut self, other: &mut Self, k: usize) {
        let (n, m) = (self.0.len(), other.0.len());
        assert!(k <= m && n + k <= CAP, "node slot overflow");
        self.0.extend(other.0.drain(..k));
    }

    /// Moves the last `k` items of `self` to the front of `other`.
    pub(crate) fn give_back(&mut self, other: &mut Self, k: usize) {
        let (n, m) = (self.0.len(), other.0.len());
        assert!(k <= n && m + k <= CAP, "node slot overflow");
        let mut front: ArrayVec<T, CAP> = self.0.drain(n - k..).collect();
        front.extend(other.0.drain(..));
        other.0 = front;
    }

    /// Removes items `start..end`, dropping them.
    pub(crate) fn drain(&mut self, start: usize, end: usize) {
        assert!(start <= end && end <= self.0.len(), "node drain out of range");
        self.0.drain(start..end);
    }
}

impl<T> Deref for Slots<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> DerefMut for Slots<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

/// A child pointer.
#[derive(Clone)]
pub(crate) struct Child(Arc<Node>);

impl Child {
    pub(crate) fn from_arc(node: Arc<Node>) -> Self {
        Child(node)
    }
    pub(crate) fn node(&self) -> &Node {
        &self.0
    }
    pub(crate) fn arc(&self) -> &Arc<Node> {
        &self.0
    }
    /// Path copying: a shared node is cloned (its children's counts bumped).
    pub(crate) fn make_mut(&mut self) -> &mut Node {
        Arc::make_mut(&mut self.0)
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
            Kind::Inner(c) => c.pop().0,
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
