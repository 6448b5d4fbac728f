//! Text from a hostile client: whatever the bytes, parsing returns a
//! filter or an error, never panics, and stays within its limits.

use crate::model::{self, Rng};
use filter::{ErrorKind, Filter, MAX_ATOMS, MAX_DEPTH, MAX_LEN};
use proptest::prelude::*;

/// A filter that parsed reads back from its canonical text; an error names
/// an offset inside the text.
fn check(text: &[u8]) -> Result<(), TestCaseError> {
    match Filter::parse(text) {
        Ok(f) => {
            let again = Filter::parse(f.text());
            prop_assert_eq!(again.as_ref(), Ok(&f), "{:?}", String::from_utf8_lossy(text));
        }
        Err(e) => {
            prop_assert!(e.offset() <= text.len().max(MAX_LEN));
            let shown = e.to_string();
            prop_assert!(shown.starts_with("filter: at byte "), "{}", shown);
            prop_assert!(!shown.contains('\n'), "{}", shown);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes(text in prop::collection::vec(any::<u8>(), 0..200)) {
        check(&text)?;
    }

    #[test]
    fn filter_like_bytes(text in prop::collection::vec(prop::sample::select(
        b"prefix:range:flags:json:lua:andornotexists ()\"\\x0..=!<>/~01aeEf-+.{}[]".to_vec()), 0..120)) {
        check(&text)?;
    }

    #[test]
    fn mutated_filters(
        e in model::expr(),
        seed in any::<u64>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
    ) {
        let mut text = model::print(&e, &mut Rng::new(seed));
        for (at, byte, kind) in edits {
            let i = at.index(text.len() + 1);
            match kind {
                0 if i < text.len() => text[i] = byte,
                1 if i < text.len() => { text.remove(i); }
                _ => text.insert(i, byte),
            }
        }
        check(&text)?;
    }
}

#[test]
fn limits_are_errors() {
    let kind = |text: &[u8]| Filter::parse(text).map(|_| ()).unwrap_err().kind().clone();
    assert_eq!(kind(&[b' '; MAX_LEN + 1]), ErrorKind::TooLong { len: MAX_LEN + 1 });
    assert_eq!(kind(&[b'('; MAX_LEN]), ErrorKind::TooDeep);
    assert_eq!(kind("not ".repeat(MAX_LEN / 4).as_bytes()), ErrorKind::TooDeep);
    assert_eq!(kind("not(".repeat(MAX_LEN / 4).as_bytes()), ErrorKind::TooDeep);
    let many = vec!["lua:f"; MAX_ATOMS + 1].join(" or ");
    assert_eq!(kind(many.as_bytes()), ErrorKind::TooManyAtoms);
    let deep = format!("{}prefix:a{}", "not (".repeat(MAX_DEPTH / 2), ")".repeat(MAX_DEPTH / 2));
    assert!(Filter::parse(&deep).is_ok());
    // Whitespace-padded text at the length limit is fine.
    let mut padded = vec![b' '; MAX_LEN];
    padded[..8].copy_from_slice(b"prefix:a");
    assert!(Filter::parse(&padded).is_ok());
}
