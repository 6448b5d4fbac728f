//! [`ExtentBuf`]: the value type and its editing and reading methods.

use std::io::{self, IoSlice, Write};
use std::ops::{Bound, RangeBounds};

use bytes::{Bytes, BytesMut};

use crate::cursor::Cursor;
use crate::error::ExtentError;
use crate::iter::{Chunks, Extents, IntoExtents, Walk};
use crate::tree::{Ins, Tree};

/// Most [`IoSlice`]s [`ExtentBuf::write_all_to`] hands to one
/// `write_vectored` call (Linux's `IOV_MAX`).
pub const IOV_MAX: usize = 1024;

/// A byte string stored as a persistent B+tree of shared [`Bytes`] extents.
///
/// See the [crate documentation](crate) for the design, the cost of each
/// operation and an example. Offsets and lengths are `u64`; every extent is
/// a [`Bytes`] and is never copied by structural edits.
#[derive(Clone, Default)]
pub struct ExtentBuf {
    len: u64,
    repr: Repr,
}

#[derive(Clone, Default)]
enum Repr {
    #[default]
    Empty,
    /// One extent, stored inline (no tree).
    One(Bytes),
    /// Two or more extents.
    Tree(Tree),
    /// What [`ExtentBuf::slice`] returns: `len` bytes from offset `start`
    /// of a tree shared with the buffer it was sliced from (never the whole
    /// tree, never empty). Reads add `start`; the first edit builds a tree
    /// of only these bytes ([`Tree::range`]).
    View(Tree, u64),
}

fn resolve(range: impl RangeBounds<u64>, len: u64) -> Result<(u64, u64), ExtentError> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => {
            s.checked_add(1).ok_or(ExtentError::RangeOutOfRange { start: s, end: s, len })?
        }
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => {
            e.checked_add(1).ok_or(ExtentError::RangeOutOfRange { start, end: e, len })?
        }
        Bound::Excluded(&e) => e,
        Bound::Unbounded => len,
    };
    if start > end || end > len {
        return Err(ExtentError::RangeOutOfRange { start, end, len });
    }
    Ok((start, end))
}

fn check_offset(offset: u64, len: u64) -> Result<(), ExtentError> {
    if offset > len { Err(ExtentError::OffsetOutOfRange { offset, len }) } else { Ok(()) }
}

#[track_caller]
fn ok<T>(r: Result<T, ExtentError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

impl ExtentBuf {
    /// An empty buffer. Allocates nothing.
    pub const fn new() -> Self {
        ExtentBuf { len: 0, repr: Repr::Empty }
    }

    /// Builds a buffer from extents in O(n) (bottom-up, no rebalancing).
    /// Empty extents are skipped; no bytes are copied.
    pub fn from_extents(exts: impl IntoIterator<Item = Bytes>) -> Self {
        let mut v: Vec<Bytes> = exts.into_iter().filter(|b| !b.is_empty()).collect();
        match v.len() {
            0 => Self::new(),
            1 => v.pop().map_or_else(Self::new, Self::from),
            _ => Self::from_tree(Tree::build(v)),
        }
    }

    /// Length in bytes. O(1).
    #[inline]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the buffer holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of extents. O(1) for zero or one extent, otherwise it visits
    /// every leaf (O(n / fanout)).
    pub fn extent_count(&self) -> usize {
        match &self.repr {
            Repr::Empty => 0,
            Repr::One(_) => 1,
            Repr::Tree(t) => t.extent_count(),
            Repr::View(..) => self.extents().count(),
        }
    }

    /// Levels of tree nodes: 0 for zero or one extent (no tree is built).
    pub fn depth(&self) -> usize {
        match &self.repr {
            Repr::Tree(t) | Repr::View(t, _) => t.height as usize + 1,
            _ => 0,
        }
    }

    fn from_tree(t: Tree) -> Self {
        let mut b = ExtentBuf::new();
        b.set_tree(t);
        b
    }

    /// Takes the content out as a tree (a one-extent leaf for `One`, the
    /// bytes of the window alone for a view).
    fn take_tree(&mut self) -> Option<Tree> {
        let len = std::mem::take(&mut self.len);
        match std::mem::take(&mut self.repr) {
            Repr::Empty => None,
            Repr::One(b) => Some(Tree::from_leaf([b])),
            Repr::Tree(t) => Some(t),
            Repr::View(t, start) => Some(t.range(start, start + len)),
        }
    }

    /// Stores a tree, normalising a single extent to the inline form.
    fn set_tree(&mut self, t: Tree) {
        self.len = t.len();
        self.repr = match t.single() {
            Some(b) if self.len > 0 => Repr::One(b.clone()),
            _ if self.len == 0 => Repr::Empty,
            _ => Repr::Tree(t),
        };
        self.debug_check();
    }

    #[inline]
    fn debug_check(&self) {
        #[cfg(debug_assertions)]
        self.assert_invariants();
    }

    /// Checks the tree invariants (all leaves at one depth, node fill
    /// bounds, no empty extents, every count equal to the sum below it, the
    /// cached length). Runs after every mutation in debug builds.
    ///
    /// # Panics
    ///
    /// When an invariant does not hold (a bug in this crate).
    #[doc(hidden)]
    pub fn assert_invariants(&self) {
        match &self.repr {
            Repr::Empty => assert_eq!(self.len, 0, "empty buffer with a length"),
            Repr::One(b) => {
                assert!(!b.is_empty(), "empty inline extent");
                assert_eq!(b.len() as u64, self.len, "inline extent length");
            }
            Repr::Tree(t) => {
                t.check();
                assert!(t.single().is_none(), "one-extent tree not inlined");
                assert!((t.height as usize) < crate::node::MAX_DEPTH, "tree too deep");
                assert_eq!(t.len(), self.len, "cached length differs from the tree's");
            }
            Repr::View(t, start) => {
                t.check();
                assert!(self.len > 0, "empty view");
                assert!(self.len < t.len(), "a view of the whole tree");
                assert!(start + self.len <= t.len(), "view past the end of its tree");
            }
        }
    }

    /// Addresses of this buffer's tree nodes (for tests that check which
    /// nodes two buffers share).
    #[doc(hidden)]
    pub fn node_addresses(&self) -> Vec<usize> {
        match &self.repr {
            Repr::Tree(t) | Repr::View(t, _) => t.node_addresses(),
            _ => Vec::new(),
        }
    }

    // ---------------------------------------------------------------- edits

    fn insert_item(&mut self, at: u64, item: Ins<'_>) {
        match (&mut self.repr, item) {
            (Repr::Empty, Ins::Bytes(b)) => {
                *self = ExtentBuf::from(b);
            }
            (Repr::Empty, Ins::Slice(s)) => {
                *self = ExtentBuf::from(Bytes::copy_from_slice(s));
            }
            (_, item) => {
                let mut t = self.take_tree().expect("non-empty buffer has a tree");
                t.insert(at, item);
                self.set_tree(t);
            }
        }
    }

    /// Inserts `bytes` at `at` without copying them (an extent in the middle
    /// is split in two, sharing its block). O(log n).
    ///
    /// # Panics
    ///
    /// If `at > len()`; see [`try_insert`](Self::try_insert).
    #[track_caller]
    pub fn insert(&mut self, at: u64, bytes: Bytes) {
        ok(self.try_insert(at, bytes));
    }

    /// [`insert`](Self::insert) that reports an out-of-range offset.
    ///
    /// # Errors
    ///
    /// [`ExtentError::OffsetOutOfRange`] if `at > len()`.
    pub fn try_insert(&mut self, at: u64, bytes: Bytes) -> Result<(), ExtentError> {
        check_offset(at, self.len)?;
        if !bytes.is_empty() {
            self.insert_item(at, Ins::Bytes(bytes));
        }
        Ok(())
    }

    /// Inserts a copy of `data` at `at`. Short inserts (under 256 bytes)
    /// follow the small-write policy: they go into the neighbouring extent
    /// when that stays within a 4 KiB block (in place when its block is
    /// uniquely owned), otherwise into a fresh 4 KiB block that later small
    /// inserts fill.
    ///
    /// # Panics
    ///
    /// If `at > len()`; see [`try_insert_from_slice`](Self::try_insert_from_slice).
    #[track_caller]
    pub fn insert_from_slice(&mut self, at: u64, data: &[u8]) {
        ok(self.try_insert_from_slice(at, data));
    }

    /// [`insert_from_slice`](Self::insert_from_slice) that reports an
    /// out-of-range offset.
    ///
    /// # Errors
    ///
    /// [`ExtentError::OffsetOutOfRange`] if `at > len()`.
    pub fn try_insert_from_slice(&mut self, at: u64, data: &[u8]) -> Result<(), ExtentError> {
        check_offset(at, self.len)?;
        if !data.is_empty() {
            self.insert_item(at, Ins::Slice(data));
        }
        Ok(())
    }

    /// Splices all of `other` in at `at` (its nodes are shared, not copied).
    /// O(log n + log m).
    ///
    /// # Panics
    ///
    /// If `at > len()`; see [`try_insert_buf`](Self::try_insert_buf).
    #[track_caller]
    pub fn insert_buf(&mut self, at: u64, other: ExtentBuf) {
        ok(self.try_insert_buf(at, other));
    }

    /// [`insert_buf`](Self::insert_buf) that reports an out-of-range offset.
    ///
    /// # Errors
    ///
    /// [`ExtentError::OffsetOutOfRange`] if `at > len()`.
    pub fn try_insert_buf(&mut self, at: u64, other: ExtentBuf) -> Result<(), ExtentError> {
        check_offset(at, self.len)?;
        match other.repr {
            Repr::Empty => {}
            Repr::One(b) => self.insert_item(at, Ins::Bytes(b)),
            Repr::Tree(_) | Repr::View(..) => {
                let tail = self.split_off(at);
                self.append_buf(other);
                self.append_buf(tail);
            }
        }
        Ok(())
    }

    /// Appends `bytes` without copying them. O(log n).
    pub fn append(&mut self, bytes: Bytes) {
        let at = self.len;
        if !bytes.is_empty() {
            self.insert_item(at, Ins::Bytes(bytes));
        }
    }

    /// Prepends `bytes` without copying them. O(log n).
    pub fn prepend(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.insert_item(0, Ins::Bytes(bytes));
        }
    }

    /// Appends a copy of `data` (small-write policy as in
    /// [`insert_from_slice`](Self::insert_from_slice)).
    pub fn append_from_slice(&mut self, data: &[u8]) {
        let at = self.len;
        if !data.is_empty() {
            self.insert_item(at, Ins::Slice(data));
        }
    }

    /// Prepends a copy of `data` (small-write policy as in
    /// [`insert_from_slice`](Self::insert_from_slice)).
    pub fn prepend_from_slice(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.insert_item(0, Ins::Slice(data));
        }
    }

    /// Appends all of `other`, sharing its nodes: the two trees are joined
    /// by height in O(|height difference| + 1).
    pub fn append_buf(&mut self, mut other: ExtentBuf) {
        match (&self.repr, &mut other.repr) {
            (_, Repr::Empty) => {}
            (Repr::Empty, _) => *self = other,
            (_, Repr::One(b)) => {
                let b = std::mem::take(b);
                self.append(b);
            }
            (_, Repr::Tree(_) | Repr::View(..)) => {
                let Some(t) = other.take_tree() else { return };
                let joined = match self.take_tree() {
                    Some(mine) => Tree::join(mine, t),
                    None => t,
                };
                self.set_tree(joined);
            }
        }
    }

    /// Removes the bytes in `range`. O(log n) plus dropping the extents it
    /// covers. When the removal leaves two small extents side by side
    /// (together at most 512 bytes) they are merged by copying.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds; see [`try_remove`](Self::try_remove).
    #[track_caller]
    pub fn remove(&mut self, range: impl RangeBounds<u64>) {
        ok(self.try_remove(range));
    }

    /// [`remove`](Self::remove) that reports an out-of-range range.
    ///
    /// # Errors
    ///
    /// [`ExtentError::RangeOutOfRange`] if the range starts after it ends or
    /// ends past `len()`.
    pub fn try_remove(&mut self, range: impl RangeBounds<u64>) -> Result<(), ExtentError> {
        let (start, end) = resolve(range, self.len)?;
        self.remove_resolved(start, end);
        Ok(())
    }

    fn remove_resolved(&mut self, start: u64, end: u64) {
        if start == end {
            return;
        }
        if start == 0 && end == self.len {
            self.clear();
            return;
        }
        match &mut self.repr {
            Repr::Empty => {}
            Repr::One(b) => {
                if start == 0 {
                    let _ = b.split_to(end as usize);
                } else if end == self.len {
                    b.truncate(start as usize);
                } else {
                    let tail = b.slice(end as usize..);
                    b.truncate(start as usize);
                    let head = std::mem::take(b);
                    self.repr = Repr::Tree(Tree::from_leaf([head, tail]));
                }
                self.len -= end - start;
                self.debug_check();
            }
            Repr::Tree(_) | Repr::View(..) => {
                let mut t = self.take_tree().expect("non-empty buffer has a tree");
                t.remove(start, end);
                self.set_tree(t);
            }
        }
    }

    /// Replaces the bytes in `range` with `bytes` (not copied).
    ///
    /// # Panics
    ///
    /// If the range is out of bounds; see [`try_replace`](Self::try_replace).
    #[track_caller]
    pub fn replace(&mut self, range: impl RangeBounds<u64>, bytes: Bytes) {
        ok(self.try_replace(range, bytes));
    }

    /// [`replace`](Self::replace) that reports an out-of-range range.
    ///
    /// # Errors
    ///
    /// [`ExtentError::RangeOutOfRange`] as for [`try_remove`](Self::try_remove).
    pub fn try_replace(
        &mut self,
        range: impl RangeBounds<u64>,
        bytes: Bytes,
    ) -> Result<(), ExtentError> {
        let (start, end) = resolve(range, self.len)?;
        self.remove_resolved(start, end);
        self.try_insert(start, bytes)
    }

    /// Shortens the buffer to `len` bytes; does nothing if it is not longer.
    pub fn truncate(&mut self, len: u64) {
        if len < self.len {
            self.remove_resolved(len, self.len);
        }
    }

    /// Removes everything (dropping this buffer's references to its blocks).
    pub fn clear(&mut self) {
        *self = ExtentBuf::new();
    }

    /// Splits the buffer in two: `self` keeps `..at`, the returned buffer
    /// holds `at..`. Shares nodes and blocks; O(log n).
    ///
    /// # Panics
    ///
    /// If `at > len()`; see [`try_split_off`](Self::try_split_off).
    #[track_caller]
    #[must_use = "use `truncate` to drop the tail"]
    pub fn split_off(&mut self, at: u64) -> ExtentBuf {
        ok(self.try_split_off(at))
    }

    /// [`split_off`](Self::split_off) that reports an out-of-range offset.
    ///
    /// # Errors
    ///
    /// [`ExtentError::OffsetOutOfRange`] if `at > len()`.
    pub fn try_split_off(&mut self, at: u64) -> Result<ExtentBuf, ExtentError> {
        check_offset(at, self.len)?;
        if at == self.len {
            return Ok(ExtentBuf::new());
        }
        if at == 0 {
            return Ok(std::mem::take(self));
        }
        if let Repr::One(b) = &mut self.repr {
            let tail = b.split_off(at as usize);
            self.len = at;
            return Ok(ExtentBuf::from(tail));
        }
        if let Repr::View(t, start) = &self.repr {
            // Both halves stay windows onto the shared tree.
            let tail = ExtentBuf { len: self.len - at, repr: Repr::View(t.clone(), start + at) };
            self.len = at;
            return Ok(tail);
        }
        if let Repr::Tree(t) = &mut self.repr
            && t.height == 0
        {
            // One leaf (small buffers, protocol framing): cut it in place,
            // without the general split's edge repair, and keep a side of
            // one extent inline rather than in a node of its own.
            let tail = t.split_leaf(at);
            self.len = at;
            if let Some(b) = t.single() {
                self.repr = Repr::One(b.clone());
            }
            self.debug_check();
            return Ok(tail.map_or_else(ExtentBuf::from_tree, ExtentBuf::from));
        }
        match self.take_tree() {
            Some(t) => {
                let (head, tail) = t.split(at);
                self.set_tree(head);
                Ok(ExtentBuf::from_tree(tail))
            }
            None => Ok(ExtentBuf::new()),
        }
    }

    /// Splits the buffer in two: the returned buffer holds `..at`, `self`
    /// keeps `at..`. Shares nodes and blocks; O(log n).
    ///
    /// # Panics
    ///
    /// If `at > len()`; see [`try_split_to`](Self::try_split_to).
    #[track_caller]
    #[must_use = "use `remove(..at)` to drop the head"]
    pub fn split_to(&mut self, at: u64) -> ExtentBuf {
        ok(self.try_split_to(at))
    }

    /// [`split_to`](Self::split_to) that reports an out-of-range offset.
    ///
    /// # Errors
    ///
    /// [`ExtentError::OffsetOutOfRange`] if `at > len()`.
    pub fn try_split_to(&mut self, at: u64) -> Result<ExtentBuf, ExtentError> {
        let tail = self.try_split_off(at)?;
        Ok(std::mem::replace(self, tail))
    }

    /// A buffer holding the bytes in `range`. O(1): the slice is a window
    /// onto this buffer's tree (one reference-count increment), so reading
    /// it costs what reading this buffer costs, and like
    /// [`Bytes::slice`] it keeps the whole tree alive, blocks outside the
    /// range included. Its first edit builds a tree of its own holding only
    /// the range, sharing every node that lies wholly inside it (O(log n),
    /// two root-to-leaf cuts); [`detach`](Self::detach) does that without
    /// an edit, to let go of the rest. Slicing a slice makes a narrower
    /// window onto the same tree; so do [`split_off`](Self::split_off) and
    /// [`split_to`](Self::split_to) of a slice.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds; see [`try_slice`](Self::try_slice).
    #[track_caller]
    #[must_use]
    pub fn slice(&self, range: impl RangeBounds<u64>) -> ExtentBuf {
        ok(self.try_slice(range))
    }

    /// [`slice`](Self::slice) that reports an out-of-range range.
    ///
    /// # Errors
    ///
    /// [`ExtentError::RangeOutOfRange`] as for [`try_remove`](Self::try_remove).
    pub fn try_slice(&self, range: impl RangeBounds<u64>) -> Result<ExtentBuf, ExtentError> {
        let (start, end) = resolve(range, self.len)?;
        if start == end {
            return Ok(ExtentBuf::new());
        }
        if let Repr::One(b) = &self.repr {
            return Ok(ExtentBuf::from(b.slice(start as usize..end as usize)));
        }
        if start == 0 && end == self.len {
            return Ok(self.clone());
        }
        let len = end - start;
        match &self.repr {
            Repr::Tree(t) => Ok(ExtentBuf { len, repr: Repr::View(t.clone(), start) }),
            Repr::View(t, s) => Ok(ExtentBuf { len, repr: Repr::View(t.clone(), s + start) }),
            _ => Ok(ExtentBuf::new()),
        }
    }

    /// Gives a [`slice`](Self::slice) a tree of its own that holds only its
    /// bytes, so the blocks and nodes of the buffer it was sliced from that
    /// lie outside its range can be freed. O(log n); nothing is copied.
    /// Does nothing for a buffer that is not a slice. (Any edit of a slice
    /// does the same first.)
    pub fn detach(&mut self) {
        if let Repr::View(..) = self.repr
            && let Some(t) = self.take_tree()
        {
            self.set_tree(t);
        }
    }

    /// Overwrites `data.len()` bytes at `offset` (the length does not
    /// change). Blocks owned only by this buffer are written in place. A
    /// shared block is never written: an extent of at most 4 KiB, or one the
    /// write covers at least half of, is replaced by a private copy;
    /// otherwise only the touched span rounded out to 4 KiB is copied and the
    /// rest of the extent stays shared. Tree nodes on the path are copied
    /// only if shared. O(log n + touched extents).
    ///
    /// # Panics
    ///
    /// If `offset + data.len() > len()`; see [`try_write_at`](Self::try_write_at).
    #[track_caller]
    pub fn write_at(&mut self, offset: u64, data: &[u8]) {
        ok(self.try_write_at(offset, data));
    }

    /// [`write_at`](Self::write_at) that reports an out-of-range write.
    ///
    /// # Errors
    ///
    /// [`ExtentError::RangeOutOfRange`] if `offset + data.len() > len()`.
    pub fn try_write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), ExtentError> {
        let end = offset.saturating_add(data.len() as u64);
        resolve(offset..end, self.len)?;
        if data.is_empty() {
            return Ok(());
        }
        if let Some(mut t) = self.take_tree() {
            t.write(offset, data);
            self.set_tree(t);
        }
        Ok(())
    }

    /// Rewrites runs of extents shorter than `target` bytes into blocks of
    /// about `target` bytes (copying only those), then rebuilds the tree
    /// bottom-up. Extents of at least `target` bytes are kept as they are.
    /// Useful before storing a buffer that saw many small edits.
    pub fn defragment(&mut self, target: usize) {
        let target = target.max(1);
        let mut out: Vec<Bytes> = Vec::new();
        let mut run = BytesMut::new();
        for ext in self.extents() {
            if ext.len() >= target {
                if !run.is_empty() {
                    out.push(std::mem::take(&mut run).freeze());
                }
                out.push(ext);
                continue;
            }
            if run.len() + ext.len() > target && !run.is_empty() {
                out.push(std::mem::take(&mut run).freeze());
            }
            if run.capacity() == 0 {
                run.reserve(target);
            }
            run.extend_from_slice(&ext);
        }
        if !run.is_empty() {
            out.push(run.freeze());
        }
        *self = ExtentBuf::from_extents(out);
    }

    // -------------------------------------------------------------- reading

    /// The byte at `offset`, or `None` past the end. O(log n).
    pub fn byte_at(&self, offset: u64) -> Option<u8> {
        if offset >= self.len {
            return None;
        }
        match &self.repr {
            Repr::Empty => None,
            Repr::One(b) => Some(b[offset as usize]),
            Repr::Tree(t) => {
                let (ext, off) = t.extent_at(offset);
                Some(ext[off])
            }
            Repr::View(t, start) => {
                let (ext, off) = t.extent_at(start + offset);
                Some(ext[off])
            }
        }
    }

    /// Copies bytes starting at `offset` into `out`; returns how many were
    /// copied (fewer than `out.len()` only at the end of the buffer).
    ///
    /// # Panics
    ///
    /// If `offset > len()`; see [`try_read_at`](Self::try_read_at).
    #[track_caller]
    pub fn read_at(&self, offset: u64, out: &mut [u8]) -> usize {
        ok(self.try_read_at(offset, out))
    }

    /// [`read_at`](Self::read_at) that reports an out-of-range offset.
    ///
    /// # Errors
    ///
    /// [`ExtentError::OffsetOutOfRange`] if `offset > len()`.
    pub fn try_read_at(&self, offset: u64, out: &mut [u8]) -> Result<usize, ExtentError> {
        check_offset(offset, self.len)?;
        let end = (offset + out.len() as u64).min(self.len);
        let mut n = 0;
        for c in self.walk(offset, end) {
            out[n..n + c.len()].copy_from_slice(c);
            n += c.len();
        }
        Ok(n)
    }

    /// Copies the bytes in `range` into a new `Vec`.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds (see [`try_slice`](Self::try_slice) for
    /// the checked form of the range).
    #[track_caller]
    pub fn copy_to_vec(&self, range: impl RangeBounds<u64>) -> Vec<u8> {
        let (start, end) = ok(resolve(range, self.len));
        let mut v = Vec::with_capacity((end - start) as usize);
        for c in self.walk(start, end) {
            v.extend_from_slice(c);
        }
        v
    }

    /// The content as one `Bytes`: free for zero or one extent, otherwise
    /// one copy.
    pub fn to_bytes(&self) -> Bytes {
        match &self.repr {
            Repr::Empty => Bytes::new(),
            Repr::One(b) => b.clone(),
            Repr::Tree(_) | Repr::View(..) => Bytes::from(self.copy_to_vec(..)),
        }
    }

    /// The content as one `Bytes`: free for zero or one extent, otherwise
    /// one copy.
    pub fn into_bytes(self) -> Bytes {
        match self.repr {
            Repr::Empty => Bytes::new(),
            Repr::One(b) => b,
            Repr::Tree(_) | Repr::View(..) => self.to_bytes(),
        }
    }

    /// Makes the buffer one extent (copying when it has several) and returns
    /// its bytes.
    pub fn make_contiguous(&mut self) -> &[u8] {
        if let Repr::Tree(_) | Repr::View(..) = self.repr {
            let b = self.to_bytes();
            *self = ExtentBuf::from(b);
        }
        match &self.repr {
            Repr::One(b) => b,
            _ => &[],
        }
    }

    fn walk(&self, start: u64, end: u64) -> Chunks<'_> {
        let walk = match &self.repr {
            Repr::Empty => Walk::empty(),
            Repr::One(b) => Walk::one(b, start, end),
            Repr::Tree(t) => Walk::tree(t, start, end),
            Repr::View(t, s) => Walk::tree(t, s + start, s + end),
        };
        Chunks { walk }
    }

    /// The bytes as borrowed slices, one per extent, in order.
    pub fn chunks(&self) -> Chunks<'_> {
        self.walk(0, self.len)
    }

    /// The bytes in `range` as borrowed slices (the first and last clipped
    /// to the range). O(log n) to start, then amortised O(1) per extent.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    #[track_caller]
    pub fn chunks_in(&self, range: impl RangeBounds<u64>) -> Chunks<'_> {
        let (start, end) = ok(resolve(range, self.len));
        self.walk(start, end)
    }

    /// The extents as shared handles, in order, clipped to this buffer (a
    /// [`slice`](Self::slice) shares the blocks at its ends in part). Each is
    /// a reference-count increment; [`chunks`](Self::chunks) borrows instead.
    pub fn extents(&self) -> Extents<'_> {
        Extents { walk: self.walk(0, self.len).walk }
    }

    /// Consumes the buffer, yielding its extents (zero copy).
    pub fn into_extents(self) -> IntoExtents {
        let v: Vec<Bytes> = match self.repr {
            Repr::Empty => Vec::new(),
            Repr::One(b) => vec![b],
            Repr::Tree(_) | Repr::View(..) => self.extents().collect(),
        };
        IntoExtents { inner: v.into_iter() }
    }

    /// Fills `out` with [`IoSlice`]s for the bytes in `range`, in order, and
    /// returns how many it filled: at most `out.len()`, fewer when the range
    /// ends first. For `writev` keep `out` at most [`IOV_MAX`] (1024) long;
    /// continue from the offset after the bytes returned.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds.
    #[track_caller]
    pub fn io_slices<'a>(&'a self, range: impl RangeBounds<u64>, out: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, c) in out.iter_mut().zip(self.chunks_in(range)) {
            *slot = IoSlice::new(c);
            n += 1;
        }
        n
    }

    /// Writes the whole buffer to `w` with vectored writes of up to
    /// [`IOV_MAX`] slices, continuing after partial writes and retrying on
    /// [`io::ErrorKind::Interrupted`].
    ///
    /// The kernel copies and checks every slice handed to `writev`, also the
    /// ones it then does not write; a pipe or a socket takes about 64 KiB
    /// per call. So after a partial write the next call offers about twice
    /// as many slices as were taken (at least 4), and after a complete write
    /// of a full window twice as many as before, up to [`IOV_MAX`]: a file
    /// or `/dev/null` gets 1024 slices per call, a pipe a few dozen.
    ///
    /// # Errors
    ///
    /// The first error of `w` other than `Interrupted`, or
    /// [`io::ErrorKind::WriteZero`] when `w` accepts no bytes.
    pub fn write_all_to<W: Write + ?Sized>(&self, w: &mut W) -> io::Result<()> {
        let mut slices = [IoSlice::new(&[]); IOV_MAX];
        let mut pos = 0u64;
        let mut window = IOV_MAX;
        while pos < self.len {
            let n = self.io_slices(pos.., &mut slices);
            let mut bufs = &mut slices[..n];
            while !bufs.is_empty() {
                let offered = bufs.len().min(window);
                match w.write_vectored(&bufs[..offered]) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            format!("writer accepted no bytes at offset {pos} of {}", self.len),
                        ));
                    }
                    Ok(k) => {
                        pos += k as u64;
                        let before = bufs.len();
                        IoSlice::advance_slices(&mut bufs, k);
                        let taken = before - bufs.len();
                        if taken < offered {
                            window = ((taken + 1) * 2).clamp(4, IOV_MAX);
                        } else if offered == window {
                            window = (window * 2).min(IOV_MAX);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// A reader over a clone of this buffer (O(1)), implementing
    /// [`bytes::Buf`] and `std::io::{Read, BufRead, Seek}`.
    pub fn cursor(&self) -> Cursor {
        Cursor::new(self.clone())
    }

    /// A reader that owns this buffer.
    pub fn into_cursor(self) -> Cursor {
        Cursor::new(self)
    }

    /// The extent holding byte `at` (`at < len()`), sliced to start at `at`.
    pub(crate) fn extent_from(&self, at: u64) -> Bytes {
        match &self.repr {
            Repr::Empty => Bytes::new(),
            Repr::One(b) => b.slice(at as usize..),
            Repr::Tree(t) => {
                let (ext, off) = t.extent_at(at);
                ext.slice(off..)
            }
            Repr::View(t, start) => {
                let (ext, off) = t.extent_at(start + at);
                // Clipped to the window: the extent may run past its end.
                let end = (off as u64 + (self.len - at)).min(ext.len() as u64) as usize;
                ext.slice(off..end)
            }
        }
    }
}

impl From<Bytes> for ExtentBuf {
    /// O(1): the bytes become the single inline extent.
    fn from(b: Bytes) -> Self {
        if b.is_empty() {
            return ExtentBuf::new();
        }
        ExtentBuf { len: b.len() as u64, repr: Repr::One(b) }
    }
}

impl From<BytesMut> for ExtentBuf {
    fn from(b: BytesMut) -> Self {
        ExtentBuf::from(b.freeze())
    }
}

impl From<Vec<u8>> for ExtentBuf {
    /// O(1): the vector becomes the single extent (no copy).
    fn from(v: Vec<u8>) -> Self {
        ExtentBuf::from(Bytes::from(v))
    }
}

impl From<String> for ExtentBuf {
    fn from(s: String) -> Self {
        ExtentBuf::from(Bytes::from(s))
    }
}

impl From<&'static [u8]> for ExtentBuf {
    fn from(s: &'static [u8]) -> Self {
        ExtentBuf::from(Bytes::from_static(s))
    }
}

impl From<&'static str> for ExtentBuf {
    fn from(s: &'static str) -> Self {
        ExtentBuf::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<ExtentBuf> for Bytes {
    fn from(b: ExtentBuf) -> Bytes {
        b.into_bytes()
    }
}

impl FromIterator<Bytes> for ExtentBuf {
    fn from_iter<I: IntoIterator<Item = Bytes>>(iter: I) -> Self {
        ExtentBuf::from_extents(iter)
    }
}

impl Extend<Bytes> for ExtentBuf {
    fn extend<I: IntoIterator<Item = Bytes>>(&mut self, iter: I) {
        self.append_buf(ExtentBuf::from_extents(iter));
    }
}

impl IntoIterator for ExtentBuf {
    type Item = Bytes;
    type IntoIter = IntoExtents;
    fn into_iter(self) -> IntoExtents {
        self.into_extents()
    }
}
