//! Canonical text reads back as the same filter, and filters answer as the
//! model does, whichever way they were spelled.

use crate::model::{self, Rng};
use filter::{Filter, ItemRef};
use proptest::prelude::*;

fn parse(text: &[u8]) -> Result<Filter, TestCaseError> {
    Filter::parse(text)
        .map_err(|e| TestCaseError::fail(format!("{e} in {:?}", String::from_utf8_lossy(text))))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn canonical_text_reads_back(e in model::expr(), seed in any::<u64>()) {
        let f = parse(&model::print(&e, &mut Rng::new(seed)))?;
        prop_assert!(f.text().is_ascii());
        prop_assert!(f.text().len() <= filter::MAX_LEN);
        let again = parse(f.text().as_bytes())?;
        prop_assert_eq!(&again, &f);
        prop_assert_eq!(again.text(), f.text());
        prop_assert_eq!(again.to_string(), f.text());
        // Another spelling of the same tree is the same filter.
        let other = parse(&model::print(&e, &mut Rng::new(seed.rotate_left(17) ^ 0x5555)))?;
        prop_assert_eq!(other, f);
    }

    #[test]
    fn answers_agree_with_the_model(
        e in model::expr(),
        seed in any::<u64>(),
        items in prop::collection::vec(model::item(), 1..12),
    ) {
        let f = parse(&model::print(&e, &mut Rng::new(seed)))?;
        // The canonical text must mean the same, not just read back the same.
        let canonical = parse(f.text().as_bytes())?;
        for (key, flags, value) in &items {
            let item = ItemRef { key, flags: *flags, value };
            let want = model::eval(&e, &item);
            for g in [&f, &canonical] {
                let got = g.matches(&item, &mut model::lua).map_err(|e| e.function().to_owned());
                prop_assert_eq!(&got, &want, "{} on {:?}", g, item);
            }
        }
    }

    #[test]
    fn lua_functions_and_needs_value(e in model::expr(), seed in any::<u64>()) {
        let f = parse(&model::print(&e, &mut Rng::new(seed)))?;
        let mut names = Vec::new();
        let mut needs_value = false;
        walk(&e, &mut |a| match a {
            model::Atom::Lua(n) => {
                needs_value = true;
                if !names.contains(n) {
                    names.push(*n);
                }
            }
            model::Atom::Json(..) => needs_value = true,
            _ => {}
        });
        prop_assert_eq!(f.lua_functions(), names);
        prop_assert_eq!(f.needs_value(), needs_value);
    }
}

fn walk<'a>(e: &'a model::Expr, f: &mut impl FnMut(&'a model::Atom)) {
    match e {
        model::Expr::Atom(a) => f(a),
        model::Expr::Not(x) => walk(x, f),
        model::Expr::And(xs) | model::Expr::Or(xs) => xs.iter().for_each(|x| walk(x, f)),
    }
}

#[test]
fn spellings_of_one_filter() {
    let canonical =
        r#"prefix:"a b" and (flags:0xf=0x1 or not json:/x~1y >= "\u00e9\u00e9") or lua:lib.f"#;
    for text in [
        canonical,
        "prefix:\"a\\x20b\" and(flags:15=1 or not(json:\"/x~1y\">=\"\u{e9}\\u00E9\"))or lua:lib.f",
        "((prefix:\"a b\")\n\tand (flags:0xF = 0x1 or not json:/x~1y>=\"éé\"))  or  lua:lib.f",
    ] {
        assert_eq!(Filter::parse(text).unwrap().text(), canonical, "{text}");
    }
}

#[test]
fn built_filters_read_back_and_keep_the_parsers_limits() {
    use filter::{ErrorKind, Filter, MAX_ATOMS};
    // Any bytes as a prefix, written out so the text reads back the same.
    let p = Filter::prefix(b"a b\"\xff(").unwrap();
    assert_eq!(Filter::parse(p.text()).unwrap(), p);
    assert_eq!(p.decides_by_key(b"a b\"\xff(x"), Some(true));
    assert_eq!(p.decides_by_key(b"a b"), Some(false));
    // `and` joins as `prefix:P and (F)` would.
    let f = Filter::parse("json:/t > 1 or prefix:z").unwrap();
    let both = p.and(&f).unwrap();
    let by_hand = Filter::parse(&format!("{} and ({})", p.text(), f.text())).unwrap();
    assert_eq!(both, by_hand);
    // Over a limit together, as the text would be.
    let many = (0..MAX_ATOMS).map(|i| format!("prefix:k{i}")).collect::<Vec<_>>().join(" or ");
    let many = Filter::parse(&many).unwrap();
    let e = p.and(&many).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::TooManyAtoms), "{e}");
    let long = vec![b'x'; filter::MAX_LEN];
    assert!(matches!(
        Filter::prefix(&long).unwrap_err().kind(),
        ErrorKind::CanonicalTooLong { .. }
    ));
}
