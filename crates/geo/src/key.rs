//! Item keys as the index holds them: short keys inline, long ones shared.
//!
//! A box query copies every hit's key out from under the read lock. With
//! keys on the heap behind an `Arc`, each copy is an atomic increment on a
//! cache line of its own (a miss per hit for a large box, and contention
//! when two queries share hits); inline, the key sits in the tree node the
//! query is already reading and a copy is a `memcpy`. Most memcached keys
//! fit in [`INLINE`] bytes; longer ones (up to memcached's 250) share one
//! allocation between the tree and the key map.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Keys up to this many bytes are stored inline (the size of the enum is
/// then 24 bytes, no larger than a fat `Arc` plus its tag would need).
pub(crate) const INLINE: usize = 22;

#[derive(Clone)]
pub(crate) enum ItemKey {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<[u8]>),
}

impl ItemKey {
    pub(crate) fn new(key: &[u8]) -> ItemKey {
        if key.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..key.len()].copy_from_slice(key);
            ItemKey::Inline { len: key.len() as u8, bytes }
        } else {
            ItemKey::Shared(Arc::from(key))
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            ItemKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            ItemKey::Shared(b) => b,
        }
    }

    /// Heap bytes behind this key (the `Arc`'s two counters and the bytes).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            ItemKey::Inline { .. } => 0,
            ItemKey::Shared(b) => (2 * size_of::<usize>() + b.len()).next_multiple_of(8),
        }
    }
}

impl std::ops::Deref for ItemKey {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for ItemKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

// Hash, Eq and Ord are those of the bytes, as `Borrow<[u8]>` requires.
impl Hash for ItemKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}
impl PartialEq for ItemKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}
impl Eq for ItemKey {}
impl PartialOrd for ItemKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ItemKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::fmt::Debug for ItemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.as_bytes().escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn inline_and_shared_behave_as_bytes() {
        assert_eq!(size_of::<ItemKey>(), 24);
        let short = ItemKey::new(b"abc");
        let edge = ItemKey::new(&[7; INLINE]);
        let long = ItemKey::new(&[7; INLINE + 1]);
        assert!(matches!(edge, ItemKey::Inline { .. }));
        assert!(matches!(long, ItemKey::Shared(_)));
        assert_eq!(&*short, b"abc");
        assert_eq!(&*ItemKey::new(b""), b"");
        assert!(edge < long && edge < short);
        assert_eq!((short.heap_bytes(), long.heap_bytes()), (0, 40));
        let mut m = HashMap::new();
        m.insert(long.clone(), 1);
        m.insert(short, 2);
        assert_eq!(m.get(&[7u8; INLINE + 1][..]), Some(&1));
        assert_eq!(m.get(&b"abc"[..]), Some(&2));
    }
}
