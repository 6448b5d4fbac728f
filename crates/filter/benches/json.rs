//! `json:` atoms on a typical sensor reading: the crate's lazy scanner
//! (through `Filter::matches`) against `serde_json` parsing the value into a
//! `Value` and following the pointer, which is what a filter would cost
//! without the scanner.
//!
//! `cargo bench -p mammoth-filter --bench json`; `cargo test -p
//! mammoth-filter --benches` runs each once.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use filter::{Filter, ItemRef, NoFunctions};
use serde_json::Value;

const READING: &[u8] =
    br#"{"ts":"2024-01-05T10:00:00Z","serial":"28-0000055ab2e1","reading":21.5}"#;

/// The same reading, pretty-printed with more fields before the target.
const LONGER: &[u8] = br#"{
  "ts": "2024-01-05T10:00:00Z",
  "serial": "28-0000055ab2e1",
  "site": {"name": "greenhouse \u00e9ast", "rack": [1, 2, 3], "tags": ["a", "b"]},
  "battery": 0.87,
  "ok": true,
  "reading": 21.5
}"#;

/// Each case: a name, the filter, the value, and what `serde_json` does for it.
type Case = (&'static str, &'static str, &'static [u8], fn(&Value) -> bool);

fn cases() -> Vec<Case> {
    vec![
        ("reading > 20 (last member)", "json:/reading > 20", READING, |v| {
            v.pointer("/reading").and_then(Value::as_f64).is_some_and(|x| x > 20.0)
        }),
        ("ts < string (first member)", r#"json:/ts < "2024-02""#, READING, |v| {
            v.pointer("/ts").and_then(Value::as_str).is_some_and(|s| s < "2024-02")
        }),
        ("serial = string", r#"json:/serial = "28-0000055ab2e1""#, READING, |v| {
            v.pointer("/serial").and_then(Value::as_str) == Some("28-0000055ab2e1")
        }),
        ("missing member exists", "json:/humidity exists", READING, |v| {
            v.pointer("/humidity").is_some()
        }),
        ("reading > 20, nested fields first", "json:/reading > 20", LONGER, |v| {
            v.pointer("/reading").and_then(Value::as_f64).is_some_and(|x| x > 20.0)
        }),
    ]
}

fn json(c: &mut Criterion) {
    for (name, text, value, by_serde) in cases() {
        let f = Filter::parse(text).expect("a filter");
        let item = ItemRef { key: b"sensor:28-0000055ab2e1", flags: 0, value };
        let lazy = f.matches(&item, &mut NoFunctions).expect("no functions needed");
        let parsed: Value = serde_json::from_slice(value).expect("JSON");
        assert_eq!(lazy, by_serde(&parsed), "{name}");

        let mut g = c.benchmark_group(name);
        g.bench_function("lazy", |b| {
            b.iter(|| f.matches(black_box(&item), &mut NoFunctions).unwrap_or(false));
        });
        g.bench_function("serde_json Value + pointer", |b| {
            b.iter(|| {
                serde_json::from_slice::<Value>(black_box(value)).is_ok_and(|v| by_serde(&v))
            });
        });
        g.finish();
    }
}

criterion_group!(benches, json);
criterion_main!(benches);
