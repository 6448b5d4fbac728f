//! Iteration over the extents of a buffer, optionally clipped to a range.

use bytes::Bytes;

use crate::node::{Kind, MAX_DEPTH, Node};
use crate::tree::Tree;

/// Walks the extents overlapping a byte range, yielding each extent with the
/// part of it inside the range. Keeps the path of inner nodes on a fixed
/// array (no allocation) and the current leaf's extents as a slice, so the
/// next extent is usually the next element of that slice; moving to the
/// next leaf is amortised O(1).
#[derive(Clone)]
pub(crate) struct Walk<'a> {
    /// Inner nodes above the current leaf, root first, and the child taken
    /// in each; `inner` of them are in use.
    nodes: [&'a Node; MAX_DEPTH],
    idx: [usize; MAX_DEPTH],
    inner: usize,
    /// The current leaf's extents and the index of the next one to yield.
    leaf: &'a [Bytes],
    pos: usize,
    /// Offset inside the next extent where the range starts.
    skip: usize,
    /// Bytes of the range not yet yielded.
    remaining: u64,
}

impl<'a> Walk<'a> {
    pub(crate) fn empty() -> Walk<'static> {
        static EMPTY: std::sync::OnceLock<Node> = std::sync::OnceLock::new();
        let node = EMPTY.get_or_init(Node::leaf);
        Walk {
            nodes: [node; MAX_DEPTH],
            idx: [0; MAX_DEPTH],
            inner: 0,
            leaf: &[],
            pos: 0,
            skip: 0,
            remaining: 0,
        }
    }

    pub(crate) fn one(b: &'a Bytes, start: u64, end: u64) -> Walk<'a> {
        let mut w = Walk::empty();
        w.leaf = std::slice::from_ref(b);
        w.skip = start as usize;
        w.remaining = end - start;
        w
    }

    /// `start < end <= tree length`, or `start == end` (yields nothing).
    pub(crate) fn tree(t: &'a Tree, start: u64, end: u64) -> Walk<'a> {
        let root: &Node = &t.root;
        let mut w = Walk {
            nodes: [root; MAX_DEPTH],
            idx: [0; MAX_DEPTH],
            inner: 0,
            leaf: &[],
            pos: 0,
            skip: 0,
            remaining: 0,
        };
        if start >= end {
            return w;
        }
        let mut node = root;
        let mut at = start;
        loop {
            let (i, off) = node.locate(at);
            match &node.kind {
                Kind::Leaf(e) => {
                    w.leaf = e;
                    w.pos = i;
                    w.skip = off as usize;
                    break;
                }
                Kind::Inner(c) => {
                    w.nodes[w.inner] = node;
                    w.idx[w.inner] = i;
                    w.inner += 1;
                    node = c[i].node();
                    at = off;
                }
            }
        }
        w.remaining = end - start;
        w
    }

    /// Moves to the first extent of the next leaf; `false` at the end of
    /// the tree.
    #[cold]
    fn next_leaf(&mut self) -> bool {
        let mut lvl = self.inner;
        loop {
            if lvl == 0 {
                return false;
            }
            lvl -= 1;
            self.idx[lvl] += 1;
            if self.idx[lvl] < self.nodes[lvl].len() {
                break;
            }
        }
        let mut node = self.nodes[lvl].children()[self.idx[lvl]].node();
        for l in lvl + 1..self.inner {
            self.nodes[l] = node;
            self.idx[l] = 0;
            node = node.children()[0].node();
        }
        self.leaf = node.exts();
        self.pos = 0;
        true
    }
}

impl<'a> Iterator for Walk<'a> {
    /// The extent and the byte range inside it that belongs to the walk.
    type Item = (&'a Bytes, usize, usize);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        if self.pos >= self.leaf.len() && !self.next_leaf() {
            self.remaining = 0;
            return None;
        }
        let ext = &self.leaf[self.pos];
        self.pos += 1;
        let from = self.skip;
        let to = (ext.len() as u64).min(from as u64 + self.remaining) as usize;
        self.remaining -= (to - from) as u64;
        self.skip = 0;
        Some((ext, from, to))
    }
}

/// Iterator over the bytes of a buffer (or a range of it) as borrowed
/// slices, one per extent, in order. Created by
/// [`ExtentBuf::chunks`](crate::ExtentBuf::chunks) and
/// [`ExtentBuf::chunks_in`](crate::ExtentBuf::chunks_in).
#[derive(Clone)]
pub struct Chunks<'a> {
    pub(crate) walk: Walk<'a>,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        self.walk.next().map(|(b, from, to)| &b[from..to])
    }
}

impl std::iter::FusedIterator for Chunks<'_> {}

/// Iterator over the extents of a buffer as shared [`Bytes`] handles, each
/// clipped to the buffer (a slice's first and last extents are parts of the
/// blocks it shares). Created by
/// [`ExtentBuf::extents`](crate::ExtentBuf::extents).
#[derive(Clone)]
pub struct Extents<'a> {
    pub(crate) walk: Walk<'a>,
}

impl Iterator for Extents<'_> {
    type Item = Bytes;

    /// The next extent: a reference-count increment, never a copy.
    #[inline]
    fn next(&mut self) -> Option<Bytes> {
        self.walk.next().map(
            |(b, from, to)| {
                if from == 0 && to == b.len() { b.clone() } else { b.slice(from..to) }
            },
        )
    }
}

impl std::iter::FusedIterator for Extents<'_> {}

/// Owning iterator over the extents of a buffer (zero copy: each item is a
/// reference-counted handle). Created by
/// [`ExtentBuf::into_extents`](crate::ExtentBuf::into_extents).
pub struct IntoExtents {
    pub(crate) inner: std::vec::IntoIter<Bytes>,
}

impl Iterator for IntoExtents {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl ExactSizeIterator for IntoExtents {}
impl std::iter::FusedIterator for IntoExtents {}
