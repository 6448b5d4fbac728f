//! Equality, ordering, hashing and `Debug`, all chunk by chunk: a buffer is
//! never flattened to compare it.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

use crate::ExtentBuf;

/// Lexicographic comparison of two chunked byte strings.
fn cmp_chunks<'a, 'b>(
    mut a: impl Iterator<Item = &'a [u8]>,
    mut b: impl Iterator<Item = &'b [u8]>,
) -> Ordering {
    let (mut x, mut y): (&[u8], &[u8]) = (&[], &[]);
    loop {
        if x.is_empty() {
            if let Some(c) = a.next() {
                x = c;
                continue;
            }
            // `a` is done: equal only if `b` is done too.
            while y.is_empty() {
                match b.next() {
                    Some(c) => y = c,
                    None => return Ordering::Equal,
                }
            }
            return Ordering::Less;
        }
        if y.is_empty() {
            match b.next() {
                Some(c) => {
                    y = c;
                    continue;
                }
                None => return Ordering::Greater,
            }
        }
        let n = x.len().min(y.len());
        match x[..n].cmp(&y[..n]) {
            Ordering::Equal => {
                x = &x[n..];
                y = &y[n..];
            }
            o => return o,
        }
    }
}

impl PartialEq for ExtentBuf {
    fn eq(&self, other: &ExtentBuf) -> bool {
        self.len() == other.len() && cmp_chunks(self.chunks(), other.chunks()) == Ordering::Equal
    }
}

impl Eq for ExtentBuf {}

impl Ord for ExtentBuf {
    fn cmp(&self, other: &ExtentBuf) -> Ordering {
        cmp_chunks(self.chunks(), other.chunks())
    }
}

impl PartialOrd for ExtentBuf {
    fn partial_cmp(&self, other: &ExtentBuf) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq<[u8]> for ExtentBuf {
    fn eq(&self, other: &[u8]) -> bool {
        self.len() == other.len() as u64
            && cmp_chunks(self.chunks(), std::iter::once(other)) == Ordering::Equal
    }
}

impl PartialOrd<[u8]> for ExtentBuf {
    fn partial_cmp(&self, other: &[u8]) -> Option<Ordering> {
        Some(cmp_chunks(self.chunks(), std::iter::once(other)))
    }
}

macro_rules! cmp_via_slice {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for ExtentBuf {
            fn eq(&self, other: &$t) -> bool {
                *self == other[..]
            }
        }
        impl PartialEq<ExtentBuf> for $t {
            fn eq(&self, other: &ExtentBuf) -> bool {
                *other == self[..]
            }
        }
        impl PartialOrd<$t> for ExtentBuf {
            fn partial_cmp(&self, other: &$t) -> Option<Ordering> {
                self.partial_cmp(&other[..])
            }
        }
        impl PartialOrd<ExtentBuf> for $t {
            fn partial_cmp(&self, other: &ExtentBuf) -> Option<Ordering> {
                other.partial_cmp(&self[..]).map(Ordering::reverse)
            }
        }
    )*};
}

cmp_via_slice!(Bytes, Vec<u8>, &[u8]);

impl PartialEq<ExtentBuf> for [u8] {
    fn eq(&self, other: &ExtentBuf) -> bool {
        *other == *self
    }
}

impl PartialOrd<ExtentBuf> for [u8] {
    fn partial_cmp(&self, other: &ExtentBuf) -> Option<Ordering> {
        other.partial_cmp(self).map(Ordering::reverse)
    }
}

/// Size of the windows the hash is fed in. Feeding fixed windows aligned to
/// the logical offset (not the extents) makes equal buffers hash equal
/// whatever their chunking, with any `Hasher`.
const HASH_WINDOW: usize = 256;

impl Hash for ExtentBuf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut win = [0u8; HASH_WINDOW];
        let mut fill = 0;
        for mut c in self.chunks() {
            if fill == 0 {
                // Whole windows straight from the extent, no copy.
                let whole = c.len() / HASH_WINDOW * HASH_WINDOW;
                for w in c[..whole].chunks_exact(HASH_WINDOW) {
                    state.write(w);
                }
                c = &c[whole..];
            }
            while !c.is_empty() {
                let k = (HASH_WINDOW - fill).min(c.len());
                win[fill..fill + k].copy_from_slice(&c[..k]);
                fill += k;
                c = &c[k..];
                if fill == HASH_WINDOW {
                    state.write(&win);
                    fill = 0;
                }
            }
        }
        state.write(&win[..fill]);
        state.write_u64(self.len());
    }
}

impl fmt::Debug for ExtentBuf {
    /// Length, extent count and the first 32 bytes (escaped).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEAD: usize = 32;
        let mut head = [0u8; HEAD];
        let n = self.read_at(0, &mut head);
        let more = if self.len() > HEAD as u64 { "..." } else { "" };
        write!(
            f,
            "ExtentBuf {{ len: {}, extents: {}, depth: {}, head: b\"{}\"{more} }}",
            self.len(),
            self.extent_count(),
            self.depth(),
            head[..n].escape_ascii()
        )
    }
}
