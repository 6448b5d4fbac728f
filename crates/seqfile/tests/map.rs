//! MapFile behaviour against a model: a sorted list of (key, value) pairs.

use proptest::prelude::*;
use seqfile::map::{
    ArrayWriter, MapReader, MapReaderOptions, MapWriter, MapWriterOptions, SetWriter, array_get,
};
use seqfile::writable::{IntWritable, LongWritable, Text, Writable};
use seqfile::{Codec, Compression, ErrorKind, Reader};

fn text(s: &str) -> Vec<u8> {
    let mut v = Vec::new();
    Text::from(s).write_to(&mut v);
    v
}

fn int(i: i32) -> Vec<u8> {
    i.to_be_bytes().to_vec()
}

fn write_map(dir: &std::path::Path, keys: &[i32], c: Compression, interval: u64, bloom: bool) {
    let mut opts = MapWriterOptions::new::<IntWritable, Text>()
        .compression(c)
        .index_interval(interval)
        .block_size(300);
    if bloom {
        opts = opts.bloom_default();
    }
    let mut w = MapWriter::create(dir, opts).unwrap();
    for (i, k) in keys.iter().enumerate() {
        w.append(&IntWritable(*k), &Text::from(format!("v{i}"))).unwrap();
    }
    w.finish().unwrap();
}

fn layouts() -> [Compression; 3] {
    [Compression::None, Compression::Record(Codec::Default), Compression::Block(Codec::Snappy)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn lookups_agree_with_the_model(mut keys in prop::collection::vec(-500i32..500, 0..400), interval in 1u64..40, probes in prop::collection::vec(-600i32..600, 20)) {
        keys.sort_unstable();
        for c in layouts() {
            for bloom in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                write_map(dir.path(), &keys, c, interval, bloom);
                let mut r = MapReader::open(dir.path()).unwrap();
                for &p in &probes {
                    // get: some record with this key (duplicates: any of them).
                    let got = r.get(&int(p)).unwrap().map(|v| Text::read_from(&v).unwrap().to_string());
                    let want: Vec<String> = keys.iter().enumerate().filter(|(_, k)| **k == p).map(|(i, _)| format!("v{i}")).collect();
                    match &got {
                        None => prop_assert!(want.is_empty(), "{:?} {} missing", c, p),
                        Some(v) => prop_assert!(want.contains(v), "{:?} {} gave {}", c, p, v),
                    }
                    // get_closest after: first key >= p.
                    let after = r.get_closest(&int(p), false).unwrap().map(|rec| IntWritable::read_from(&rec.key).unwrap().0);
                    prop_assert_eq!(after, keys.iter().copied().find(|k| *k >= p), "{:?} after {}", c, p);
                    // get_closest before: last key <= p.
                    let before = r.get_closest(&int(p), true).unwrap().map(|rec| IntWritable::read_from(&rec.key).unwrap().0);
                    prop_assert_eq!(before, keys.iter().copied().rev().find(|k| *k <= p), "{:?} before {}", c, p);
                }
                let fk = r.final_key().unwrap().map(|k| IntWritable::read_from(&k).unwrap().0);
                prop_assert_eq!(fk, keys.last().copied());
                // Iteration after a seek continues in key order. (Seek below
                // the first key: seeking to a duplicated key may land on a
                // later duplicate, as in Hadoop, when an index entry does.)
                if let Some(&first) = keys.first() {
                    prop_assert!(!r.seek(&int(first - 1)).unwrap());
                    let mut n = 0;
                    while let Some(rec) = r.next_record().unwrap() {
                        prop_assert_eq!(IntWritable::read_from(&rec.key).unwrap().0, keys[n]);
                        n += 1;
                    }
                    prop_assert_eq!(n, keys.len());
                }
            }
        }
    }
}

#[test]
fn index_follows_hadoops_rule() {
    // NONE data: record positions are known, so the index can be predicted.
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<i32> = (0..1000).collect();
    write_map(dir.path(), &keys, Compression::None, 7, false);
    let mut data = Reader::open(dir.path().join("data")).unwrap();
    let mut positions = Vec::new();
    loop {
        let p = data.position();
        if data.next_record().unwrap().is_none() {
            break;
        }
        positions.push(p);
    }
    let r = MapReader::open(dir.path()).unwrap();
    let index: Vec<(i32, u64)> =
        r.index().map(|(k, p)| (IntWritable::read_from(k).unwrap().0, p)).collect();
    let want: Vec<(i32, u64)> = (0..1000).step_by(7).map(|i| (i, positions[i as usize])).collect();
    // A sync entry before a record makes its "position" the sync's, which
    // the model above already reflects through Reader::position.
    assert_eq!(index.len(), want.len());
    for ((k, p), (wk, wp)) in index.iter().zip(&want) {
        assert_eq!(k, wk);
        assert!(*p <= *wp && wp - p <= 20, "key {k}: index {p}, record at {wp}");
    }
    assert_eq!(
        r.mid_key().map(|k| IntWritable::read_from(k).unwrap().0),
        Some(want[(want.len() - 1) / 2].0)
    );
}

#[test]
fn block_data_has_at_most_one_index_entry_per_block() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<i32> = (0..20_001).collect();
    let opts = MapWriterOptions::new::<IntWritable, seqfile::writable::NullWritable>()
        .compression(Compression::Block(Codec::Default))
        .block_size(65_536)
        .index_interval(7);
    let mut w = MapWriter::create(dir.path(), opts).unwrap();
    for k in &keys {
        w.append(&IntWritable(*k), &seqfile::writable::NullWritable).unwrap();
    }
    w.finish().unwrap();
    // Hadoop: 20,001 IntWritable keys, BLOCK of 65,536 raw bytes (16,384
    // records), interval 7 -> exactly 2 entries (spec §4.1).
    assert_eq!(MapReader::open(dir.path()).unwrap().index().count(), 2);
}

#[test]
fn out_of_order_keys_are_refused_with_hadoops_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = MapWriter::create(dir.path(), MapWriterOptions::new::<Text, Text>()).unwrap();
    w.append(&Text::from("b"), &Text::from("1")).unwrap();
    w.append(&Text::from("b"), &Text::from("2")).unwrap();
    let err = w.append(&Text::from("a"), &Text::from("3")).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::KeyOutOfOrder { .. }));
    assert!(err.to_string().contains("key out of order: a after b"), "{err}");
    // Text order is byte order after the length: "ab" sorts before "b".
    w.append(&Text::from("c"), &Text::from("4")).unwrap();
    assert!(w.append(&Text::from("ab"), &Text::from("5")).is_err());
    w.finish().unwrap();
    let mut r = MapReader::open(dir.path()).unwrap();
    assert_eq!(r.get(&text("c")).unwrap().unwrap(), text("4"));
}

#[test]
fn index_skip_keeps_every_nth_entry() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<i32> = (0..500).collect();
    write_map(dir.path(), &keys, Compression::None, 10, false);
    let all: Vec<u64> = MapReader::open(dir.path()).unwrap().index().map(|(_, p)| p).collect();
    let opts = MapReaderOptions { index_skip: 2, ..MapReaderOptions::default() };
    let mut r = MapReader::open_with(dir.path(), &opts).unwrap();
    let kept: Vec<u64> = r.index().map(|(_, p)| p).collect();
    let want: Vec<u64> = all.iter().copied().skip(2).step_by(3).collect();
    assert_eq!(kept, want);
    for k in [0, 1, 250, 499] {
        assert!(r.get(&int(k)).unwrap().is_some(), "{k}");
    }
}

#[test]
fn set_and_array_files() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    let mut w = SetWriter::create(&set, Text::CLASS_NAME, Compression::None).unwrap();
    for k in ["a", "b", "d"] {
        w.append(&text(k)).unwrap();
    }
    w.finish().unwrap();
    let mut r = MapReader::open(&set).unwrap();
    assert_eq!(r.header().value_class, "org.apache.hadoop.io.NullWritable");
    assert!(r.get(&text("b")).unwrap().is_some());
    assert!(r.get(&text("c")).unwrap().is_none());

    let arr = dir.path().join("array");
    let mut w =
        ArrayWriter::create(&arr, Text::CLASS_NAME, Compression::Record(Codec::Default)).unwrap();
    for i in 0..300 {
        w.append(&text(&format!("element {i}"))).unwrap();
    }
    w.finish().unwrap();
    let mut r = MapReader::open(&arr).unwrap();
    assert_eq!(r.header().key_class, LongWritable::CLASS_NAME);
    assert_eq!(array_get(&mut r, 217).unwrap().unwrap(), text("element 217"));
    assert!(array_get(&mut r, 300).unwrap().is_none());
}

#[test]
fn bloom_answers_without_touching_data() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<i32> = (0..2000).map(|i| i * 2).collect();
    write_map(dir.path(), &keys, Compression::Block(Codec::Default), 128, true);
    let mut r = MapReader::open(dir.path()).unwrap();
    assert!(r.bloom().is_some());
    for k in &keys {
        assert!(r.probably_has_key(&int(*k)));
    }
    let false_positives = (0..2000).filter(|i| r.probably_has_key(&int(i * 2 + 1))).count();
    assert!(false_positives < 40, "{false_positives} false positives at error rate 0.005");
    // Replace the data file with garbage: absent keys the filter rules out still answer.
    std::fs::write(dir.path().join("data"), b"SEQ\x06garbage").ok();
    let absent = (0..2000).map(|i| i * 2 + 1).find(|k| !r.probably_has_key(&int(*k))).unwrap();
    assert!(r.get(&int(absent)).unwrap().is_none());
}

#[test]
fn broken_directories_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<i32> = (0..300).collect();
    write_map(dir.path(), &keys, Compression::None, 16, true);

    let err = MapReader::open(dir.path().join("nope")).unwrap_err();
    assert!(err.to_string().contains("nope/data"), "{err}");

    // An index that points past the data.
    let idx = dir.path().join("index");
    let original = std::fs::read(&idx).unwrap();
    let mut w = seqfile::Writer::create(
        &idx,
        seqfile::WriterOptions::new::<IntWritable, LongWritable>()
            .compression(Compression::Block(Codec::Default)),
    )
    .unwrap();
    w.append(&IntWritable(0), &LongWritable(1 << 40)).unwrap();
    w.finish().unwrap();
    let err = MapReader::open(dir.path()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::BadIndex(_)), "{err}");
    assert!(err.to_string().contains("index: offset"), "{err}");

    // An index out of order.
    let mut w = seqfile::Writer::create(
        &idx,
        seqfile::WriterOptions::new::<IntWritable, LongWritable>()
            .compression(Compression::Block(Codec::Default)),
    )
    .unwrap();
    let first = Reader::open(dir.path().join("data")).unwrap().header_len() as i64;
    w.append(&IntWritable(5), &LongWritable(first)).unwrap();
    w.append(&IntWritable(1), &LongWritable(first)).unwrap();
    w.finish().unwrap();
    let err = MapReader::open(dir.path()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::KeyOutOfOrder { .. }), "{err}");
    std::fs::write(&idx, original).unwrap();

    // A truncated bloom file.
    let bloom = dir.path().join("bloom");
    let b = std::fs::read(&bloom).unwrap();
    std::fs::write(&bloom, &b[..b.len() / 2]).unwrap();
    let err = MapReader::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("bloom"), "{err}");
    // Without the filter the map still works.
    let opts = MapReaderOptions { ignore_bloom: true, ..MapReaderOptions::default() };
    assert!(MapReader::open_with(dir.path(), &opts).unwrap().get(&int(7)).unwrap().is_some());

    // Missing index.
    std::fs::remove_file(&idx).unwrap();
    let err = MapReader::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("index"), "{err}");
}
