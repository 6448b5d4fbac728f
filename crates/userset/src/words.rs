//! Read-only arrays that live in transparent huge pages where Linux allows.
//!
//! A lookup touches a handful of random places in arrays of hundreds of
//! megabytes. With 4 KiB pages nearly every one is also a TLB miss and a
//! page walk, and a CPU runs only a few walks at once, which caps batched
//! lookups; with 2 MiB pages the whole set fits the TLB. Large arrays are
//! therefore copied into an anonymous mapping advised `MADV_HUGEPAGE`
//! (through `memmap2`'s safe API; no `unsafe` here) and sealed read-only.
//! Small arrays, and systems where the mapping or the advice fails, keep a
//! plain `Vec`; so does everything when the environment variable
//! `USERSET_HUGE_PAGES` is `0` (to measure the difference).

use std::fmt;
use std::ops::Deref;

use bytemuck::Pod;

/// Arrays at least this large go to huge pages.
const HUGE_MIN_BYTES: usize = 4 << 20;

/// An immutable array of `T`.
pub(crate) struct Words<T: Pod> {
    inner: Inner<T>,
}

enum Inner<T> {
    Vec(Vec<T>),
    Map { map: memmap2::Mmap, len: usize },
}

impl<T: Pod> Words<T> {
    pub(crate) fn new(v: Vec<T>) -> Self {
        let bytes = std::mem::size_of_val(v.as_slice());
        if bytes >= HUGE_MIN_BYTES
            && huge_pages_allowed()
            && let Some(map) = huge_copy(bytemuck::cast_slice(&v))
        {
            return Words { inner: Inner::Map { map, len: v.len() } };
        }
        Words { inner: Inner::Vec(v) }
    }

    /// Whether the array is in an advised mapping.
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self.inner, Inner::Map { .. })
    }
}

fn huge_pages_allowed() -> bool {
    static ALLOWED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ALLOWED.get_or_init(|| std::env::var_os("USERSET_HUGE_PAGES").is_none_or(|v| v != "0"))
}

fn huge_copy(bytes: &[u8]) -> Option<memmap2::Mmap> {
    let mut map = memmap2::MmapMut::map_anon(bytes.len()).ok()?;
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
    map.copy_from_slice(bytes);
    map.make_read_only().ok()
}

impl<T: Pod> Deref for Words<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        match &self.inner {
            Inner::Vec(v) => v,
            // An anonymous mapping is page aligned, so the cast cannot fail;
            // an empty slice would only make lookups answer "absent".
            Inner::Map { map, len } => {
                bytemuck::try_cast_slice(&map[..len * size_of::<T>()]).unwrap_or(&[])
            }
        }
    }
}

impl<T: Pod> From<Vec<T>> for Words<T> {
    fn from(v: Vec<T>) -> Self {
        Words::new(v)
    }
}

impl<T: Pod> Default for Words<T> {
    fn default() -> Self {
        Words { inner: Inner::Vec(Vec::new()) }
    }
}

impl<T: Pod> Clone for Words<T> {
    fn clone(&self) -> Self {
        Words::new(self.to_vec())
    }
}

impl<T: Pod + PartialEq> PartialEq for Words<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Pod + Eq> Eq for Words<T> {}

impl<T: Pod + fmt::Debug> fmt::Debug for Words<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Words(len {}{})",
            self.len(),
            if matches!(self.inner, Inner::Map { .. }) { ", mapped" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Words;

    #[test]
    fn large_arrays_are_mapped_and_read_back() {
        let v: Vec<u64> = (0..1_000_000u64).map(|i| i * 3).collect();
        let w = Words::new(v.clone());
        assert!(w.is_mapped());
        assert_eq!(&*w, v.as_slice());
        let small = Words::new(vec![1u32, 2, 3]);
        assert!(!small.is_mapped());
        assert_eq!(&*small, &[1, 2, 3]);
        assert_eq!(w.clone(), w);
    }
}
