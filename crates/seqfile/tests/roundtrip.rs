//! Behaviour of the reader and writer against a simple model: a list of
//! (key, value) byte pairs.

use std::io::Cursor;

use proptest::prelude::*;
use seqfile::writable::{IntWritable, LongWritable, NullWritable, Text};
use seqfile::{Codec, Compression, ErrorKind, Reader, Writer, WriterOptions};

type Model = Vec<(Vec<u8>, Vec<u8>)>;

fn all_compressions() -> Vec<Compression> {
    let mut v = vec![Compression::None];
    for c in Codec::ALL {
        v.push(Compression::Record(c));
        v.push(Compression::Block(c));
    }
    v
}

fn write(
    records: &Model,
    compression: Compression,
    sync_interval: u64,
    block_size: usize,
) -> Vec<u8> {
    let opts = WriterOptions::with_classes("org.example.Raw", "org.example.Raw")
        .compression(compression)
        .metadata("k", "v")
        .sync_interval(sync_interval)
        .block_size(block_size);
    let mut w = Writer::new(Vec::new(), opts).unwrap();
    for (k, v) in records {
        w.append_raw(k, v).unwrap();
    }
    w.finish().unwrap()
}

fn read_all(file: &[u8]) -> seqfile::Result<Model> {
    let mut r =
        Reader::with_options(file, Some(file.len() as u64), seqfile::ReaderOptions::default())?;
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        out.push((rec.key.to_vec(), rec.value.to_vec()));
    }
    Ok(out)
}

/// Reads with `next_ref` and `next_record` alternating, so that both APIs
/// and their hand-over (the lent record is consumed by either) are covered.
fn read_all_mixed(file: &[u8]) -> seqfile::Result<Model> {
    let mut r = Reader::new(file)?;
    let mut out = Vec::new();
    loop {
        if out.len() % 2 == 0 {
            match r.next_ref()? {
                Some(rec) => out.push((rec.key.to_vec(), rec.value.to_vec())),
                None => return Ok(out),
            }
        } else {
            match r.next_record()? {
                Some(rec) => out.push((rec.key.to_vec(), rec.value.to_vec())),
                None => return Ok(out),
            }
        }
    }
}

/// Reads keys with `next_key`, fetching every third value with `value`
/// (the rest stay compressed), and checks against the model as it goes.
fn check_key_first(file: &[u8], model: &Model) -> seqfile::Result<()> {
    let mut r = Reader::new(file)?;
    let mut i = 0;
    while let Some(k) = r.next_key()? {
        assert_eq!(k, &model[i].0[..], "key {i}");
        if i % 3 == 0 {
            assert_eq!(r.value()?.as_ref(), &model[i].1[..], "value {i}");
        } else if i % 3 == 1 {
            assert_eq!(r.value_lazy()?.as_ref(), &model[i].1[..], "lazy value {i}");
        }
        i += 1;
    }
    assert_eq!(i, model.len());
    Ok(())
}

fn read_splits(file: &[u8], cuts: &[u64]) -> Model {
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&c| c < file.len() as u64));
    bounds.push(file.len() as u64);
    bounds.sort_unstable();
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let mut r = Reader::new(Cursor::new(file)).unwrap();
        r.restrict_to(w[0], w[1]).unwrap();
        while let Some(rec) = r.next_record().unwrap() {
            out.push((rec.key.to_vec(), rec.value.to_vec()));
        }
    }
    out
}

fn model() -> impl Strategy<Value = Model> {
    prop::collection::vec(
        (prop::collection::vec(any::<u8>(), 0..40), prop::collection::vec(any::<u8>(), 0..300)),
        0..120,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn every_layout_and_codec_round_trips(records in model(), sync in 1u64..3000, block in 1usize..4000) {
        for c in all_compressions() {
            let file = write(&records, c, sync, block);
            prop_assert_eq!(&read_all(&file).unwrap(), &records, "{:?}", c);
            prop_assert_eq!(&read_all_mixed(&file).unwrap(), &records, "{:?}", c);
            check_key_first(&file, &records).unwrap();
        }
    }

    #[test]
    fn splits_return_every_record_once(records in model(), sync in 1u64..2000, cuts in prop::collection::vec(0u64..40_000, 0..8)) {
        for c in [Compression::None, Compression::Record(Codec::Snappy), Compression::Block(Codec::Lz4)] {
            let file = write(&records, c, sync, 700);
            prop_assert_eq!(&read_splits(&file, &cuts), &records, "{:?}", c);
        }
    }

    #[test]
    fn corrupt_files_give_errors_not_panics(records in model(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        for c in [Compression::None, Compression::Record(Codec::Default), Compression::Block(Codec::Snappy), Compression::Block(Codec::Lz4)] {
            let mut file = write(&records, c, 500, 900);
            for (i, b) in &flips {
                let i = i.index(file.len());
                file[i] ^= b | 1;
            }
            let _ = read_all(&file);
            let _ = read_all_mixed(&file);
        }
    }
}

#[test]
fn every_truncation_is_an_error() {
    let records: Model =
        (0..200u32).map(|i| (i.to_be_bytes().to_vec(), vec![b'x'; (i % 50) as usize])).collect();
    for c in
        [Compression::None, Compression::Record(Codec::Gzip), Compression::Block(Codec::Default)]
    {
        let file = write(&records, c, 1000, 2000);
        let full = read_all(&file).unwrap();
        assert_eq!(full, records);
        for cut in 0..file.len() {
            match read_all(&file[..cut]) {
                Err(e) => {
                    assert!(e.offset().is_some(), "{c:?} cut {cut}: {e} has no offset");
                }
                // A cut exactly between records (or blocks) is a shorter valid file.
                Ok(part) => assert!(
                    part.len() < records.len() && records.starts_with(&part),
                    "{c:?} cut {cut}"
                ),
            }
        }
    }
}

#[test]
fn sync_entries_follow_hadoops_rule() {
    // 100-byte records, interval 1000: Hadoop writes a sync before the first
    // record at or past lastSync + 1000, counting from offset 0.
    let records: Model = (0..100).map(|i: u8| (vec![i], vec![7; 91])).collect();
    let file = write(&records, Compression::None, 1000, 0);
    let mut r = Reader::new(Cursor::new(&file[..])).unwrap();
    let header_len = r.header_len();
    let marker = r.header().sync;
    let mut positions = Vec::new();
    let mut pos = header_len as usize;
    while pos < file.len() {
        if file[pos..pos + 4] == [0xff; 4] {
            assert_eq!(file[pos + 4..pos + 20], marker);
            positions.push(pos as u64);
            pos += 20;
        } else {
            pos += 8 + 1 + 91;
        }
    }
    let mut last = 0;
    let mut expect = Vec::new();
    let mut p = header_len;
    for _ in 0..100 {
        if p >= last + 1000 {
            expect.push(p);
            p += 20;
            last = p;
        }
        p += 100;
    }
    assert_eq!(positions, expect);
    assert!(r.next_record().unwrap().is_some());
}

#[test]
fn block_files_have_a_sync_before_every_block_and_none_when_empty() {
    let records: Model = (0..50u8).map(|i| (vec![i; 10], vec![i; 10])).collect();
    let file = write(&records, Compression::Block(Codec::Default), 0, 100);
    let r = Reader::new(&file[..]).unwrap();
    let marker = r.header().sync;
    let entries = file.windows(16).filter(|w| *w == marker).count();
    // 20 raw bytes per record, block closes at >= 100: 5 records per block.
    assert_eq!(entries, 1 + 10);
    let empty = write(&Vec::new(), Compression::Block(Codec::Default), 0, 100);
    assert_eq!(empty.len() as u64, Reader::new(&empty[..]).unwrap().header_len());
}

#[test]
fn typed_append_and_read() {
    let opts =
        WriterOptions::new::<LongWritable, Text>().compression(Compression::Record(Codec::BZip2));
    let mut w = Writer::new(Vec::new(), opts).unwrap();
    for i in -3..3i64 {
        w.append(&LongWritable(i), &Text::from(format!("v{i}"))).unwrap();
    }
    assert!(w.append(&IntWritable(1), &NullWritable).is_err(), "wrong classes are refused");
    let file = w.finish().unwrap();
    let mut r = Reader::new(&file[..]).unwrap();
    let mut got = Vec::new();
    while let Some((k, v)) = r.next_typed::<LongWritable, Text>().unwrap() {
        got.push(format!("{}={v}", k.0));
    }
    assert_eq!(got, ["-3=v-3", "-2=v-2", "-1=v-1", "0=v0", "1=v1", "2=v2"]);
    let mut r = Reader::new(&file[..]).unwrap();
    assert!(r.next_typed::<IntWritable, Text>().is_err());
}

#[test]
fn seek_to_writer_positions() {
    for c in [Compression::None, Compression::Block(Codec::Default)] {
        let opts = WriterOptions::with_classes("a", "b").compression(c).block_size(30);
        let mut w = Writer::new(Vec::new(), opts).unwrap();
        let mut marks = Vec::new();
        for i in 0..40u8 {
            if i % 10 == 0 {
                w.sync().unwrap();
                marks.push((w.position(), i));
            }
            w.append_raw(&[i], &[i; 9]).unwrap();
        }
        let file = w.finish().unwrap();
        let mut r = Reader::new(Cursor::new(&file[..])).unwrap();
        for &(pos, first) in marks.iter().rev() {
            r.seek(pos).unwrap();
            assert_eq!(r.next_record().unwrap().unwrap().key.as_ref(), [first], "{c:?} at {pos}");
        }
    }
}

#[test]
fn seeking_back_into_the_current_block_rewinds_it() {
    let opts = WriterOptions::with_classes("a", "b")
        .compression(Compression::Block(Codec::Snappy))
        .block_size(200);
    let mut w = Writer::new(Vec::new(), opts).unwrap();
    let mut starts = Vec::new();
    for i in 0..100u8 {
        if i % 10 == 0 {
            w.sync().unwrap();
            starts.push(w.position());
        }
        w.append_raw(&[i], &[i; 19]).unwrap();
    }
    let file = w.finish().unwrap();
    let mut r = Reader::new(Cursor::new(&file[..])).unwrap();
    for (b, &start) in starts.iter().enumerate() {
        for take in [3, 1, 10] {
            r.seek(start).unwrap();
            for j in 0..take {
                let rec = r.next_record().unwrap().unwrap();
                assert_eq!(rec.key.as_ref(), [(b * 10 + j) as u8]);
            }
        }
    }
    assert_eq!(r.blocks_read(), 10, "each block decoded once");
}

#[test]
fn hostile_lengths_are_rejected_before_allocation() {
    let mut file = write(&vec![(b"k".to_vec(), b"v".to_vec())], Compression::None, 100_000, 0);
    let at = Reader::new(&file[..]).unwrap().header_len() as usize;
    file[at..at + 4].copy_from_slice(&0x7fff_fff0i32.to_be_bytes());
    let err = read_all(&file).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::LengthExceedsInput { .. }), "{err}");
    assert_eq!(err.offset(), Some(at as u64));
    file[at..at + 4].copy_from_slice(&(-5i32).to_be_bytes());
    assert!(matches!(read_all(&file).unwrap_err().kind(), ErrorKind::BadLength { .. }));
}

#[test]
fn sync_mismatch_is_reported() {
    let records: Model = (0..30u8).map(|i| (vec![i], vec![0; 50])).collect();
    let mut file = write(&records, Compression::None, 200, 0);
    let marker = Reader::new(&file[..]).unwrap().header().sync;
    let at = file.windows(16).skip(100).position(|w| w == marker).unwrap() + 100;
    file[at] ^= 1;
    let err = read_all(&file).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::SyncMismatch), "{err}");
    assert_eq!(err.offset(), Some(at as u64 - 4));
}

#[test]
fn open_reports_path() {
    let err = Reader::open("/nonexistent/x.seq").unwrap_err();
    assert!(err.to_string().starts_with("/nonexistent/x.seq: "), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.seq");
    std::fs::write(&p, b"PAR1xxxx").unwrap();
    let err = Reader::open(&p).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::BadMagic(_)));
    assert!(err.to_string().contains("bad.seq: offset 0: not a SequenceFile"), "{err}");
}

/// Found by the `seq_reader` fuzz target: a block whose value lengths do not
/// match its values. Failing to decode the values must leave the reader able
/// to fail again (or move on), never half-decoded.
#[test]
fn regression_bad_value_lengths_fail_cleanly_every_time() {
    let file = hex::decode(concat!(
        "53455106016b01760101296f72672e6170616368652e6861646f6f702e696f2e636f6d70726573732e53",
        "6e61707079436f6465630000000030313233343536373839616263646566ffffffff3031323334353637",
        "3839616263646566020c0000000200000004020401010c0000000200000004020478790c000000020000",
        "0004020405000400000000"
    ))
    .unwrap();
    let mut r = Reader::new(Cursor::new(&file[..])).unwrap();
    assert_eq!(r.next_key().unwrap(), Some(&b"x"[..]));
    assert!(r.value().is_err());
    assert!(r.value().is_err());
    let _ = r.next_record();
    let mut r = Reader::new(Cursor::new(&file[..])).unwrap();
    assert!(r.next_record().is_err());
    r.seek(r.header_len()).unwrap();
    assert!(r.next_record().is_err());
}
