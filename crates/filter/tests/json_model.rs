//! `json:` atoms, answered by the crate's lazy scanner, against `serde_json`
//! parsing the whole value (`model::json`).

use std::collections::HashSet;

use crate::model::{self, Check, Lit, Rng};
use filter::{Filter, ItemRef, NoFunctions};
use proptest::prelude::*;

/// A JSON document; numbers keep their generated spelling.
#[derive(Clone, Debug)]
enum Doc {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Doc>),
    /// Member names are distinct (`serde_json` keeps the last of duplicates,
    /// the scanner the first).
    Obj(Vec<(String, Doc)>),
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["a", "b", "0", "1", "a/b", "~", "~1", "é", "😀", "", "x y"])
            .prop_map(str::to_owned),
        model::string(3),
    ]
}

fn doc() -> impl Strategy<Value = Doc> {
    let leaf = prop_oneof![
        Just(Doc::Null),
        any::<bool>().prop_map(Doc::Bool),
        model::number_text().prop_map(Doc::Num),
        model::string(4).prop_map(Doc::Str),
    ];
    leaf.prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Doc::Arr),
            prop::collection::vec((name(), inner), 0..5).prop_map(|members| {
                let mut seen = HashSet::new();
                Doc::Obj(members.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect())
            }),
        ]
    })
}

fn ws(rng: &mut Rng, out: &mut Vec<u8>) {
    out.extend_from_slice(rng.pick(&["", "", "", " ", "\n", "\t", "\r\n  "]).as_bytes());
}

/// JSON text for `d`, with random whitespace and string escapes.
fn render(d: &Doc, rng: &mut Rng, out: &mut Vec<u8>) {
    ws(rng, out);
    match d {
        Doc::Null => out.extend_from_slice(b"null"),
        Doc::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Doc::Num(t) => out.extend_from_slice(t.as_bytes()),
        Doc::Str(s) => model::json_string(s, rng, out),
        Doc::Arr(xs) => {
            out.push(b'[');
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                render(x, rng, out);
            }
            ws(rng, out);
            out.push(b']');
        }
        Doc::Obj(members) => {
            out.push(b'{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                ws(rng, out);
                model::json_string(k, rng, out);
                ws(rng, out);
                out.push(b':');
                render(v, rng, out);
            }
            ws(rng, out);
            out.push(b'}');
        }
    }
    ws(rng, out);
}

/// A pointer chosen by walking `doc`: each step picks a member or element,
/// or (past the end) a name or index that is not there; the target, if
/// there is one.
fn pointer<'a>(doc: &'a Doc, steps: &[u8]) -> (String, Option<&'a Doc>) {
    let mut p = String::new();
    let mut at = Some(doc);
    for &step in steps {
        let token = match at {
            Some(Doc::Obj(members)) => {
                let i = usize::from(step) % (members.len() + 1);
                at = members.get(i).map(|(_, v)| v);
                members.get(i).map_or_else(|| "zz".to_owned(), |(k, _)| k.clone())
            }
            Some(Doc::Arr(xs)) => {
                let i = usize::from(step) % (xs.len() + 3);
                at = xs.get(i);
                match i.checked_sub(xs.len()) {
                    None | Some(0) => i.to_string(),
                    Some(1) => "-".to_owned(),
                    Some(_) => format!("0{}", xs.len()),
                }
            }
            _ => {
                at = None;
                "a".to_owned()
            }
        };
        p.push('/');
        p.push_str(&token.replace('~', "~0").replace('/', "~1"));
        if at.is_none() {
            break;
        }
    }
    (p, at)
}

/// The target's own value as a literal, when it is a scalar.
fn own_literal(d: &Doc) -> Option<Lit> {
    Some(match d {
        Doc::Null => Lit::Null,
        Doc::Bool(b) => Lit::Bool(*b),
        Doc::Num(t) => Lit::Num(t.clone()),
        Doc::Str(s) => Lit::Str(s.clone()),
        Doc::Arr(_) | Doc::Obj(_) => return None,
    })
}

const OPS: [&str; 6] = ["=", "!=", "<", "<=", ">", ">="];

/// Every check on `pointer` in `value`: the lazy answer against the model.
fn agree(value: &[u8], pointer: &str, lit: &Lit, rng: &mut Rng) -> Result<(), TestCaseError> {
    let mut checks = vec![Check::Exists];
    for op in OPS {
        if matches!(op, "=" | "!=") || matches!(lit, Lit::Num(_) | Lit::Str(_)) {
            checks.push(Check::Compare(op, lit.clone()));
        }
    }
    for check in checks {
        let mut text = b"json:".to_vec();
        model::bytes_text(pointer.as_bytes(), false, rng, &mut text);
        match &check {
            Check::Exists => text.extend_from_slice(b" exists"),
            Check::Compare(op, lit) => {
                text.extend_from_slice(format!(" {op} ").as_bytes());
                model::lit_text(lit, rng, &mut text);
            }
        }
        let f = Filter::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let item = ItemRef { key: b"k", flags: 0, value };
        let lazy = f.matches(&item, &mut NoFunctions).unwrap();
        let model = model::json(value, pointer, &check);
        prop_assert_eq!(lazy, model, "{} on {:?}", f, String::from_utf8_lossy(value));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn lazy_agrees_with_serde_json(
        d in doc(),
        steps in prop::collection::vec(any::<u8>(), 0..6),
        lit in model::literal(),
        own in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let mut value = Vec::new();
        render(&d, &mut rng, &mut value);
        let (p, target) = pointer(&d, &steps);
        let lit = if own { target.and_then(own_literal).unwrap_or(lit) } else { lit };
        agree(&value, &p, &lit, &mut rng)?;
    }

    /// The root pointer reads the whole value, so even broken JSON must get
    /// `serde_json`'s verdict.
    #[test]
    fn root_pointer_agrees_on_broken_json(
        d in doc(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..6u8), 1..4),
        lit in model::literal(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let mut value = Vec::new();
        render(&d, &mut rng, &mut value);
        for (at, byte, kind) in edits {
            let i = at.index(value.len() + 1);
            let structural = *rng.pick(b"{}[],:\"\\ -0123456789.eEtrufalsn");
            match kind {
                0 if i < value.len() => value[i] = byte,
                1 if i < value.len() => value[i] = structural,
                2 if i < value.len() => { value.remove(i); }
                3 => value.insert(i, structural),
                4 => {
                    // Swap a bracket for the other kind.
                    let brackets: Vec<usize> =
                        (0..value.len()).filter(|&j| b"[]{}".contains(&value[j])).collect();
                    if let Some(&j) = brackets.get(i % brackets.len().max(1)) {
                        value[j] = match value[j] {
                            b'[' => b'{',
                            b'{' => b'[',
                            b']' => b'}',
                            _ => b']',
                        };
                    }
                }
                _ => value.truncate(i),
            }
        }
        agree(&value, "", &lit, &mut rng)?;
    }

    #[test]
    fn arbitrary_values_never_panic(
        value in prop::collection::vec(any::<u8>(), 0..64),
        p in prop::sample::select(model::POINTERS),
        lit in model::literal(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        if p.is_empty() {
            agree(&value, p, &lit, &mut rng)?;
        } else {
            let f = Filter::parse(&format!("json:\"{}\" exists", p.replace('\\', "\\\\"))).unwrap();
            let _ = f.matches(&ItemRef { key: b"", flags: 0, value: &value }, &mut NoFunctions);
        }
    }
}

#[test]
fn the_typical_reading() {
    let value = br#"{"ts":"2024-01-05T10:00:00Z","serial":"28-0000055ab2e1","reading":21.5}"#;
    let item = ItemRef { key: b"sensor:1", flags: 0, value };
    for (text, want) in [
        ("json:/reading > 20", true),
        ("json:/reading > 21.5", false),
        ("json:/reading >= 21.5", true),
        ("json:/reading = 43e-1", false),
        ("json:/serial = \"28-0000055ab2e1\"", true),
        ("json:/ts < \"2024-01-06\"", true),
        ("json:/ts exists and not json:/humidity exists", true),
    ] {
        let f = Filter::parse(text).unwrap();
        assert_eq!(f.matches(&item, &mut NoFunctions), Ok(want), "{text}");
    }
}
