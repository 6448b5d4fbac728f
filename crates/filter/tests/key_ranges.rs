//! Key ranges hold every key that matches; key decisions agree with
//! answers; `KeyRanges` set operations agree with plain membership.

use crate::model::{self, Rng};
use filter::{Filter, ItemRef, KeyRanges};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn key_ranges_hold_every_match(
        e in model::expr(),
        seed in any::<u64>(),
        items in prop::collection::vec(model::item(), 1..16),
    ) {
        let f = Filter::parse(&model::print(&e, &mut Rng::new(seed))).unwrap();
        check_form(f.key_ranges())?;
        for (key, flags, value) in &items {
            let item = ItemRef { key, flags: *flags, value };
            let got = f.matches(&item, &mut model::lua);
            if got == Ok(true) {
                prop_assert!(f.key_ranges().contains(key), "{} matched {:?}", f, item);
            }
            if let (Some(decided), Ok(answer)) = (f.decides_by_key(key), got) {
                prop_assert_eq!(decided, answer, "{} on {:?}", f, item);
            }
        }
    }

    #[test]
    fn key_only_filters_are_exact(
        e in model::key_expr(),
        seed in any::<u64>(),
        keys in prop::collection::vec(model::key(4), 1..32),
    ) {
        let f = Filter::parse(&model::print(&e, &mut Rng::new(seed))).unwrap();
        prop_assert!(!f.needs_value());
        for key in &keys {
            let item = ItemRef { key, flags: 0, value: b"" };
            let answer = f.matches(&item, &mut filter::NoFunctions).unwrap();
            prop_assert_eq!(answer, model::eval(&e, &item).unwrap());
            prop_assert_eq!(f.decides_by_key(key), Some(answer), "{} on {:?}", f, key);
            prop_assert_eq!(f.key_ranges().contains(key), answer, "{} on {:?}", f, key);
        }
    }

    #[test]
    fn set_operations_agree_with_membership(
        s in set(),
        keys in prop::collection::vec(model::key(4), 0..32),
    ) {
        let k = s.build();
        check_form(&k)?;
        let mut probes = keys;
        s.bounds(&mut probes);
        for (start, end) in &k {
            probes.push(start.to_vec());
            probes.extend(end.map(<[u8]>::to_vec));
        }
        for key in &probes {
            prop_assert_eq!(k.contains(key), s.member(key), "{:?} on {:?}", k, key);
        }
        prop_assert_eq!(k.is_all(), probes.iter().all(|p| s.member(p)) && k.len() == 1 && k.contains(b""));
    }

    #[test]
    fn set_laws(a in set(), b in set()) {
        let (a, b) = (a.build(), b.build());
        prop_assert_eq!(a.union(&b), b.union(&a));
        prop_assert_eq!(a.intersection(&b), b.intersection(&a));
        prop_assert_eq!(a.complement().complement(), a.clone());
        // De Morgan, through the unique form.
        prop_assert_eq!(
            a.intersection(&b),
            a.complement().union(&b.complement()).complement()
        );
        prop_assert!(a.union(&a.complement()).is_all());
        prop_assert!(a.intersection(&a.complement()).is_empty());
    }
}

/// Sorted, non-empty, disjoint and non-adjacent ranges.
fn check_form(k: &KeyRanges) -> Result<(), TestCaseError> {
    let ranges: Vec<_> = k.iter().collect();
    prop_assert_eq!(ranges.len(), k.len());
    prop_assert_eq!(k.is_empty(), ranges.is_empty());
    for (start, end) in &ranges {
        prop_assert!(end.is_none_or(|e| *start < e), "{:?}", k);
    }
    for pair in ranges.windows(2) {
        let end = pair[0].1;
        prop_assert!(end.is_some_and(|e| e < pair[1].0), "{:?}", k);
    }
    Ok(())
}

/// A set of keys built from ranges and set operations.
#[derive(Clone, Debug)]
enum Set {
    All,
    Empty,
    Prefix(Vec<u8>),
    /// Any bounds, including empty ranges.
    Range(Vec<u8>, Option<Vec<u8>>),
    Union(Box<Set>, Box<Set>),
    Intersection(Box<Set>, Box<Set>),
    Complement(Box<Set>),
}

fn set() -> impl Strategy<Value = Set> {
    let leaf = prop_oneof![
        1 => Just(Set::All),
        1 => Just(Set::Empty),
        4 => model::key(2).prop_map(Set::Prefix),
        4 => (model::key(2), prop::option::of(model::key(2))).prop_map(|(a, b)| Set::Range(a, b)),
    ];
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Set::Union(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| Set::Intersection(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Set::Complement(Box::new(a))),
        ]
    })
}

impl Set {
    fn build(&self) -> KeyRanges {
        match self {
            Set::All => KeyRanges::all(),
            Set::Empty => KeyRanges::empty(),
            Set::Prefix(p) => KeyRanges::prefix(p),
            Set::Range(a, b) => KeyRanges::range(a, b.as_deref()),
            Set::Union(a, b) => a.build().union(&b.build()),
            Set::Intersection(a, b) => a.build().intersection(&b.build()),
            Set::Complement(a) => a.build().complement(),
        }
    }

    fn member(&self, key: &[u8]) -> bool {
        match self {
            Set::All => true,
            Set::Empty => false,
            Set::Prefix(p) => key.starts_with(p),
            Set::Range(a, b) => {
                key >= a.as_slice() && b.as_ref().is_none_or(|b| key < b.as_slice())
            }
            Set::Union(a, b) => a.member(key) || b.member(key),
            Set::Intersection(a, b) => a.member(key) && b.member(key),
            Set::Complement(a) => !a.member(key),
        }
    }

    /// Keys at and around every bound in the expression.
    fn bounds(&self, out: &mut Vec<Vec<u8>>) {
        let mut near = |b: &[u8]| {
            out.push(b.to_vec());
            for tail in [0x00, 0xff, b'a'] {
                let mut k = b.to_vec();
                k.push(tail);
                out.push(k);
            }
            if let Some((_, head)) = b.split_last() {
                out.push(head.to_vec());
            }
        };
        match self {
            Set::All | Set::Empty => near(b""),
            Set::Prefix(p) => near(p),
            Set::Range(a, b) => {
                near(a);
                if let Some(b) = b {
                    near(b);
                }
            }
            Set::Union(a, b) | Set::Intersection(a, b) => {
                a.bounds(out);
                b.bounds(out);
            }
            Set::Complement(a) => a.bounds(out),
        }
    }
}

#[test]
fn prefix_successors_at_the_top_of_the_byte_range() {
    let k = KeyRanges::prefix(b"a\xff\xff");
    assert_eq!(k.iter().collect::<Vec<_>>(), [(&b"a\xff\xff"[..], Some(&b"b"[..]))]);
    assert!(k.contains(b"a\xff\xff\xff") && !k.contains(b"b") && !k.contains(b"a\xff\xfe"));
    let k = KeyRanges::prefix(b"\xff");
    assert_eq!(k.iter().collect::<Vec<_>>(), [(&b"\xff"[..], None)]);
}
