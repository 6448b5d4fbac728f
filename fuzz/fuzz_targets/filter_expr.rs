//! The input is filter text as a hostile client might send it in
//! `TAP_CONNECT`, and also a value that fixed `json:` filters read.
//!
//! As filter text: parsing never panics; a filter that parses has ASCII
//! canonical text within the length limit that parses back to the same
//! filter with the same answers; on a few items (keys from the input and
//! from the filter's own range bounds, a few values and flags) a match
//! lies within the key ranges and a key decision agrees with the answer.
//!
//! As a JSON value: the scanner never panics, and its answers for one
//! pointer hang together: `!=` is `exists` and not `=`, `<=` is `<` or `=`,
//! no comparison holds on a missing target, `<` and `>` never both hold.
#![no_main]

use std::sync::OnceLock;

use filter::{Filter, ItemRef, KeyRanges, MAX_LEN};
use libfuzzer_sys::fuzz_target;

/// Functions for `lua:` atoms: names starting with `a` answer by the key's
/// length, the rest fail.
fn lua(name: &str, item: &ItemRef<'_>) -> Result<bool, String> {
    if name.starts_with('a') { Ok(item.key.len() % 2 == 1) } else { Err("no such function".into()) }
}

const VALUES: &[&[u8]] = &[
    br#"{"ts":"2024-01-05T10:00:00Z","serial":"28-0000055ab2e1","reading":21.5}"#,
    br#"{"a":[1,{"b":"x"}],"\u00e9":null,"0":true}"#,
    b"[-0, 1e2, \"x\"]",
    b"",
];

/// Sorted, non-empty, disjoint, non-adjacent.
fn check_form(k: &KeyRanges) {
    let ranges: Vec<_> = k.iter().collect();
    for (start, end) in &ranges {
        assert!(end.is_none_or(|e| *start < e), "{k:?}");
    }
    for pair in ranges.windows(2) {
        assert!(pair[0].1.is_some_and(|e| e < pair[1].0), "{k:?}");
    }
}

fn as_filter(data: &[u8]) {
    let Ok(f) = Filter::parse(data) else { return };
    let text = f.text();
    assert!(text.is_ascii() && text.len() <= MAX_LEN);
    let again = Filter::parse(text).expect("canonical text parses");
    assert_eq!(again, f);
    assert_eq!(again.text(), text);
    check_form(f.key_ranges());

    let mut keys: Vec<Vec<u8>> = vec![Vec::new(), data[..data.len().min(6)].to_vec()];
    for (start, end) in f.key_ranges().iter().take(8) {
        keys.push(start.to_vec());
        keys.push([start, b"\x00"].concat());
        if let Some(end) = end {
            keys.push(end.to_vec());
            if let Some((_, head)) = end.split_last() {
                keys.push([head, b"\xff"].concat());
            }
        }
    }
    let flags = [0, u32::MAX, u32::from(data.first().copied().unwrap_or(0))];
    for key in &keys {
        for (i, value) in VALUES.iter().enumerate() {
            let item = ItemRef { key, flags: flags[i % flags.len()], value };
            let answer = f.matches(&item, &mut lua);
            assert_eq!(answer, again.matches(&item, &mut lua));
            if answer == Ok(true) {
                assert!(f.key_ranges().contains(key), "{f} matched {key:?}");
            }
            if let (Some(decided), Ok(answer)) = (f.decides_by_key(key), &answer) {
                assert_eq!(decided, *answer, "{f} on {key:?}");
            }
        }
    }
}

const POINTERS: &[&str] = &["", "/a", "/a/0", "/a/1/b", "/0", "/reading", "/\u{e9}"];
const LITERALS: &[&str] = &["1", "-2.5e1", "\"x\"", "null", "true"];
const OPS: &[&str] = &["exists", "=", "!=", "<", "<=", ">", ">="];

/// For each pointer and literal, the filters for every operator (`None`
/// where the operator does not take the literal).
fn json_filters() -> &'static Vec<Vec<Option<Filter>>> {
    static FILTERS: OnceLock<Vec<Vec<Option<Filter>>>> = OnceLock::new();
    FILTERS.get_or_init(|| {
        let mut all = Vec::new();
        for p in POINTERS {
            for l in LITERALS {
                all.push(
                    OPS.iter()
                        .map(|op| {
                            let text = match *op {
                                "exists" => format!("json:\"{p}\" exists"),
                                _ => format!("json:\"{p}\" {op} {l}"),
                            };
                            Filter::parse(&text).ok()
                        })
                        .collect(),
                );
            }
        }
        all
    })
}

fn as_value(data: &[u8]) {
    let item = ItemRef { key: b"k", flags: 0, value: data };
    for set in json_filters() {
        let got: Vec<Option<bool>> = set
            .iter()
            .map(|f| f.as_ref().map(|f| f.matches(&item, &mut lua).expect("no functions")))
            .collect();
        let [Some(exists), Some(eq), Some(ne), lt, le, gt, ge] = got[..] else {
            panic!("the exists, = and != filters parse");
        };
        assert_eq!(ne, exists && !eq, "!= is exists and not =");
        assert!(exists || !eq);
        if let (Some(lt), Some(le), Some(gt), Some(ge)) = (lt, le, gt, ge) {
            assert_eq!(le, lt || eq);
            assert_eq!(ge, gt || eq);
            assert!(!(lt && gt) && !(lt && eq) && !(gt && eq));
            assert!(exists || !(lt || gt));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    as_filter(data);
    as_value(data);
});
