//! [`KeyRanges`]: a set of keys written as half-open byte ranges.

use std::cmp::Ordering;
use std::fmt;

use crate::text::Quoted;

/// A set of keys as sorted, disjoint, non-adjacent half-open ranges
/// `[start, end)` in byte order, where an `end` of `None` is unbounded.
///
/// The form is unique (between two ranges there is always a key in
/// neither, so no two lists describe one set), which makes `==` set
/// equality. A [`Filter`](crate::Filter) gives the keys it can match as a
/// `KeyRanges`: a backfill or a key-ordered store can skip the rest.
///
/// ```
/// use filter::KeyRanges;
///
/// let users = KeyRanges::prefix(b"user:");
/// let late = KeyRanges::range(b"user:m", None);
/// let both = users.intersection(&late);
/// assert_eq!(both.iter().collect::<Vec<_>>(), [(&b"user:m"[..], Some(&b"user;"[..]))]);
/// assert!(both.contains(b"user:zoe") && !both.contains(b"user:al"));
/// assert!(users.union(&users.complement()).is_all());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyRanges {
    ranges: Vec<Range>,
}

/// One non-empty range `[start, end)`.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Range {
    start: Vec<u8>,
    end: Option<Vec<u8>>,
}

impl Range {
    fn is_empty(&self) -> bool {
        self.end.as_ref().is_some_and(|e| *e <= self.start)
    }
}

/// Orders range ends, `None` (unbounded) last.
fn cmp_end(a: Option<&[u8]>, b: Option<&[u8]>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The first byte string after every string that starts with `prefix`:
/// drop trailing `0xff` bytes and increment the last byte. `None` when
/// there is none (an empty or all-`0xff` prefix).
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let keep = prefix.iter().rposition(|&b| b != 0xff)?;
    let mut next = prefix[..=keep].to_vec();
    next[keep] += 1;
    Some(next)
}

impl KeyRanges {
    /// Every key.
    pub fn all() -> KeyRanges {
        KeyRanges { ranges: vec![Range { start: Vec::new(), end: None }] }
    }

    /// No key.
    pub fn empty() -> KeyRanges {
        KeyRanges { ranges: Vec::new() }
    }

    /// The keys that start with `prefix`: `[prefix, successor)`.
    pub fn prefix(prefix: &[u8]) -> KeyRanges {
        KeyRanges { ranges: vec![Range { start: prefix.to_vec(), end: successor(prefix) }] }
    }

    /// The keys in `[from, to)`; `to` of `None` is unbounded. Empty when
    /// `to <= from`.
    pub fn range(from: &[u8], to: Option<&[u8]>) -> KeyRanges {
        let r = Range { start: from.to_vec(), end: to.map(<[u8]>::to_vec) };
        KeyRanges { ranges: if r.is_empty() { Vec::new() } else { vec![r] } }
    }

    /// Whether this is every key.
    pub fn is_all(&self) -> bool {
        matches!(&self.ranges[..], [Range { start, end: None }] if start.is_empty())
    }

    /// Whether this is no key.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many ranges there are.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &[u8]) -> bool {
        let after = self.ranges.partition_point(|r| r.start.as_slice() <= key);
        after > 0 && self.ranges[after - 1].end.as_ref().is_none_or(|e| key < e.as_slice())
    }

    /// The ranges in order, as `(start, end)` with `end` `None` when
    /// unbounded.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.ranges.iter())
    }

    /// The keys in either set.
    #[must_use]
    pub fn union(&self, other: &KeyRanges) -> KeyRanges {
        let mut all: Vec<Range> = self.ranges.iter().chain(&other.ranges).cloned().collect();
        all.sort_by(|a, b| a.start.cmp(&b.start));
        let mut out: Vec<Range> = Vec::with_capacity(all.len());
        for r in all {
            if let Some(last) = out.last_mut() {
                // Overlapping or touching: extend the last range.
                if last.end.as_ref().is_none_or(|e| r.start <= *e) {
                    if cmp_end(r.end.as_deref(), last.end.as_deref()).is_gt() {
                        last.end = r.end;
                    }
                    continue;
                }
            }
            out.push(r);
        }
        KeyRanges { ranges: out }
    }

    /// The keys in both sets.
    #[must_use]
    pub fn intersection(&self, other: &KeyRanges) -> KeyRanges {
        let (a, b) = (&self.ranges, &other.ranges);
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < a.len() && j < b.len() {
            let start = a[i].start.as_slice().max(b[j].start.as_slice());
            let a_first = cmp_end(a[i].end.as_deref(), b[j].end.as_deref()).is_lt();
            let end = if a_first { &a[i].end } else { &b[j].end };
            let r = Range { start: start.to_vec(), end: end.clone() };
            if !r.is_empty() {
                out.push(r);
            }
            if a_first {
                i += 1;
            } else {
                j += 1;
            }
        }
        KeyRanges { ranges: out }
    }

    /// The keys not in the set.
    #[must_use]
    pub fn complement(&self) -> KeyRanges {
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        let mut from = Some(Vec::new());
        for r in &self.ranges {
            let Some(start) = from.take() else { break };
            if start < r.start {
                out.push(Range { start, end: Some(r.start.clone()) });
            }
            from.clone_from(&r.end);
        }
        if let Some(start) = from {
            out.push(Range { start, end: None });
        }
        KeyRanges { ranges: out }
    }
}

impl fmt::Debug for KeyRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyRanges[")?;
        for (i, (start, end)) in self.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{}..", Quoted(start))?;
            if let Some(end) = end {
                write!(f, "{}", Quoted(end))?;
            }
        }
        f.write_str("]")
    }
}

/// The ranges of a [`KeyRanges`], from [`KeyRanges::iter`].
#[derive(Clone, Debug)]
pub struct Iter<'a>(std::slice::Iter<'a, Range>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|r| (r.start.as_slice(), r.end.as_deref()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a KeyRanges {
    type Item = (&'a [u8], Option<&'a [u8]>);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..", Quoted(&self.start))?;
        match &self.end {
            Some(end) => write!(f, "{}", Quoted(end)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(k: &KeyRanges) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        k.iter().map(|(s, e)| (s.to_vec(), e.map(<[u8]>::to_vec))).collect()
    }

    #[test]
    fn successors() {
        assert_eq!(successor(b"a"), Some(b"b".to_vec()));
        assert_eq!(successor(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"a\x00"), Some(b"a\x01".to_vec()));
        assert_eq!(successor(b"\xff"), None);
        assert_eq!(successor(b""), None);
    }

    #[test]
    fn prefixes() {
        let p = KeyRanges::prefix(b"a\xff");
        assert!(p.contains(b"a\xff") && p.contains(b"a\xff\xff\x00"));
        assert!(!p.contains(b"a\xfe\xff") && !p.contains(b"b"));
        assert!(KeyRanges::prefix(b"").is_all());
        let top = KeyRanges::prefix(b"\xff\xff");
        assert_eq!(list(&top), [(b"\xff\xff".to_vec(), None)]);
    }

    #[test]
    fn set_operations() {
        let a = KeyRanges::range(b"b", Some(b"d"));
        let b = KeyRanges::range(b"c", Some(b"f"));
        let c = KeyRanges::range(b"f", Some(b"g"));
        assert_eq!(list(&a.union(&b)), [(b"b".to_vec(), Some(b"f".to_vec()))]);
        assert_eq!(list(&a.intersection(&b)), [(b"c".to_vec(), Some(b"d".to_vec()))]);
        // Touching ranges merge.
        assert_eq!(list(&b.union(&c)), [(b"c".to_vec(), Some(b"g".to_vec()))]);
        assert!(b.intersection(&c).is_empty());
        assert_eq!(
            list(&a.complement()),
            [(Vec::new(), Some(b"b".to_vec())), (b"d".to_vec(), None)]
        );
        assert!(KeyRanges::all().complement().is_empty());
        assert!(KeyRanges::empty().complement().is_all());
        assert_eq!(a.complement().complement(), a);
        assert!(KeyRanges::range(b"b", Some(b"b")).is_empty());
        assert!(KeyRanges::range(b"", None).is_all());
    }

    #[test]
    fn debug_shows_ranges() {
        let k = KeyRanges::prefix(b"a").union(&KeyRanges::range(b"x\x00", None));
        assert_eq!(format!("{k:?}"), r#"KeyRanges["a".."b", "x\x00"..]"#);
    }
}
