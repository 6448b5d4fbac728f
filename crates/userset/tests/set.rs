//! Behaviour of built, saved and loaded sets against a `HashSet` model.

use std::collections::HashSet;
use std::io::Write;

use proptest::prelude::*;
use userset::generate::{Kind, generate};
use userset::{Error, UserSet, build_file};

fn model_check(names: &[Vec<u8>], probes: &[Vec<u8>]) {
    let model: HashSet<&[u8]> = names.iter().map(Vec::as_slice).collect();
    let set = UserSet::from_names(names.iter().map(Vec::as_slice)).unwrap();
    assert_eq!(set.len(), model.len() as u64);
    let mut bytes = Vec::new();
    set.write_to(&mut bytes).unwrap();
    let loaded = UserSet::from_bytes(&bytes).unwrap();
    assert_eq!(loaded, set);
    let all: Vec<&[u8]> = names.iter().chain(probes).map(Vec::as_slice).collect();
    let mut batch = vec![false; all.len()];
    loaded.contains_batch(&all, &mut batch);
    for (q, &b) in all.iter().zip(&batch) {
        let want = model.contains(q);
        assert_eq!(set.contains(q), want, "{q:?}");
        assert_eq!(b, want, "batched {q:?}");
    }
}

/// Probes near each name: one byte changed, one added, one removed.
fn near(names: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for n in names.iter().take(200) {
        let mut a = n.clone();
        a.push(b'a');
        out.push(a);
        if let Some((last, init)) = n.split_last() {
            out.push(init.to_vec());
            let mut c = n.clone();
            *c.last_mut().unwrap() = last.wrapping_add(1);
            out.push(c);
        }
    }
    out
}

fn name_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(proptest::sample::select(b"abc0".to_vec()), 0..14),
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(proptest::sample::select(b"xy".to_vec()), 60..300),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_names_match_a_hashset(names in proptest::collection::vec(name_strategy(), 0..400),
                                    probes in proptest::collection::vec(name_strategy(), 0..100)) {
        let mut p = probes;
        p.extend(near(&names));
        model_check(&names, &p);
    }

    #[test]
    fn all_one_length(len in 1usize..20, names in proptest::collection::vec(any::<u64>(), 0..2000)) {
        let names: Vec<Vec<u8>> = names.iter().map(|x| x.to_le_bytes().iter().cycle().take(len).map(|b| b'a' + b % 7).collect()).collect();
        let p = near(&names);
        model_check(&names, &p);
    }

    #[test]
    fn long_shared_prefixes(prefix_len in 0usize..300, suffixes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..6), 0..500)) {
        let prefix: Vec<u8> = (0..prefix_len).map(|i| b'p' + (i % 3) as u8).collect();
        let names: Vec<Vec<u8>> = suffixes.iter().map(|s| [prefix.as_slice(), s].concat()).collect();
        let p = near(&names);
        model_check(&names, &p);
    }
}

#[test]
fn every_byte_value() {
    let mut names: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    names.extend((0..=255u8).map(|b| vec![b, 255 - b, b]));
    names.extend((0..=255u8).map(|b| vec![b; 20]));
    names.push(Vec::new());
    let probes: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b, b]).collect();
    model_check(&names, &probes);
}

#[test]
fn the_three_data_kinds_are_exact() {
    for kind in [Kind::Gist, Kind::Iid, Kind::Realistic] {
        let mut names = Vec::new();
        generate(kind, 50_000, |n| {
            names.push(n.to_vec());
            Ok::<(), ()>(())
        })
        .unwrap();
        // Absent probes: another generator's names and near misses.
        let mut probes = near(&names);
        generate(if kind == Kind::Gist { Kind::Iid } else { Kind::Gist }, 5_000, |n| {
            probes.push(n.to_vec());
            Ok::<(), ()>(())
        })
        .unwrap();
        model_check(&names, &probes);
    }
}

fn write_file(content: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content).unwrap();
    f.flush().unwrap();
    f
}

#[test]
fn build_file_accepts_crlf_duplicates_unsorted_and_long_names() {
    let long: Vec<u8> = (0..300).map(|i| b'a' + (i % 26) as u8).collect();
    let mut content = b"zed\r\nalice\nbob\r\n\nalice\nb\xffx\n".to_vec();
    content.extend_from_slice(&long);
    content.extend_from_slice(b"\nlast-without-newline");
    let f = write_file(&content);
    for threads in [1, 3] {
        let (set, stats) = build_file(f.path(), threads, &()).unwrap();
        assert_eq!(stats.lines, 7);
        assert_eq!(stats.empty_lines, 1);
        assert_eq!(stats.names, 6);
        for n in [&b"zed"[..], b"alice", b"bob", b"b\xffx", &long, b"last-without-newline"] {
            assert!(set.contains(n), "{n:?}");
        }
        for n in [&b"zed\r"[..], b"", b"bo", b"alice\n", &long[..299]] {
            assert!(!set.contains(n), "{n:?}");
        }
    }
}

#[test]
fn empty_file_is_an_empty_set() {
    let f = write_file(b"");
    let (set, stats) = build_file(f.path(), 2, &()).unwrap();
    assert!(set.is_empty());
    assert_eq!(stats.names, 0);
    assert!(!set.contains(b"x"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.set");
    set.save(&path).unwrap();
    assert!(UserSet::load(&path).unwrap().is_empty());
}

#[test]
fn too_long_name_names_its_offset() {
    let mut content = b"ok\nfine\n".to_vec();
    content.extend(std::iter::repeat_n(b'x', userset::MAX_NAME_LEN + 1));
    let f = write_file(&content);
    match build_file(f.path(), 2, &()) {
        Err(Error::NameTooLong { offset: 8, len }) => assert_eq!(len, userset::MAX_NAME_LEN + 1),
        other => panic!("{other:?}"),
    }
}

fn saved() -> Vec<u8> {
    let mut names = Vec::new();
    generate(Kind::Realistic, 3_000, |n| {
        names.push(n.to_vec());
        Ok::<(), ()>(())
    })
    .unwrap();
    let set = UserSet::from_names(names.iter().map(Vec::as_slice)).unwrap();
    let mut bytes = Vec::new();
    set.write_to(&mut bytes).unwrap();
    bytes
}

#[test]
fn truncated_files_are_errors() {
    let bytes = saved();
    for cut in [0, 5, 8, 63, 64, 65, 200, bytes.len() / 2, bytes.len() - 1] {
        let err = UserSet::from_bytes(&bytes[..cut]).unwrap_err();
        assert!(matches!(err, Error::NotASet | Error::Length { .. }), "cut {cut}: {err}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(UserSet::from_bytes(&longer), Err(Error::Length { .. })));
}

#[test]
fn corrupt_files_are_errors() {
    let bytes = saved();
    // Every header byte, and a spread of body bytes.
    let body_positions = (64..bytes.len()).step_by(bytes.len() / 97 + 1);
    for pos in (0..64).chain(body_positions) {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x10;
        let err = UserSet::from_bytes(&bad).unwrap_err();
        let ok = match pos {
            0..8 => matches!(err, Error::NotASet),
            8..64 => matches!(err, Error::HeaderChecksum),
            _ => matches!(err, Error::BodyChecksum | Error::Corrupt { .. }),
        };
        assert!(ok, "flip at {pos}: {err}");
    }
    // A well-formed header of another version: an old format this build
    // refuses (1, separate chunk head and offset arrays) and a future one.
    assert_eq!(userset::file::VERSION, 3);
    for version in [1u8, 4] {
        let mut other = bytes.clone();
        other[8] = version;
        let crc = crc_of(&other[..60]);
        other[60..64].copy_from_slice(&crc.to_le_bytes());
        let err = UserSet::from_bytes(&other).unwrap_err();
        assert!(matches!(err, Error::Version { found } if found == u32::from(version)), "{err}");
        assert!(err.to_string().contains("offset 8"), "{err}");
    }
}

/// A version 2 file (written before the anagram code existed, by the
/// previous build of `mammoth userset build`) loads, answers, and saves as
/// the current version.
#[test]
fn version_2_files_still_load() {
    let old =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/v2-small.uset")).unwrap();
    assert_eq!(old[8], 2);
    let set = UserSet::from_bytes(&old).unwrap();
    let long = b"abcdefghijklmnopqrstuvwxyz0123456789-long-name";
    for n in [&b"alice"[..], b"bob", b"carol", "zo\u{eb}".as_bytes(), long] {
        assert!(set.contains(n), "{n:?}");
    }
    for n in [&b""[..], b"alic", b"bobb", b"zo", &long[1..]] {
        assert!(!set.contains(n), "{n:?}");
    }
    assert_eq!(set.len(), 5);
    let mut new = Vec::new();
    set.write_to(&mut new).unwrap();
    assert_eq!(u32::from_le_bytes(new[8..12].try_into().unwrap()), userset::file::VERSION);
    assert_eq!(UserSet::from_bytes(&new).unwrap(), set);
    // A version 2 body with a version 3 header is not a valid set.
    let mut relabelled = old.clone();
    relabelled[8] = 3;
    let crc = crc_of(&relabelled[..60]);
    relabelled[60..64].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(UserSet::from_bytes(&relabelled), Err(Error::Corrupt { .. })));
}

/// CRC-32 (IEEE), bit by bit: independent of the implementation under test.
fn crc_of(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn check_reader_answers_in_order_and_refuses_an_endless_line_early() {
    let names: Vec<&[u8]> = vec![b"alice", b"bob"];
    let set = UserSet::from_names(names.iter().copied()).unwrap();
    let mut seen = Vec::new();
    let input = &b"bob\r\nnobody\n\nalice"[..];
    let (n, present) = userset::check_reader(&set, input, &mut |name, found| {
        seen.push((name.to_vec(), found));
        Ok(())
    })
    .unwrap();
    assert_eq!((n, present), (3, 2));
    assert_eq!(
        seen,
        [(b"bob".to_vec(), true), (b"nobody".to_vec(), false), (b"alice".to_vec(), true)]
    );
    // A 1 GiB line without an end: refused after MAX_NAME_LEN + 3 bytes
    // (the reader is endless, so anything else would never return).
    let endless = std::io::BufReader::new(std::io::repeat(b'x'));
    let prefix = std::io::Cursor::new(b"alice\n".to_vec());
    let input = std::io::Read::chain(prefix, endless);
    match userset::check_reader(&set, input, &mut |_, _| Ok(())) {
        Err(userset::Error::NameTooLong { offset, len }) => {
            assert_eq!(offset, 6, "the endless line starts after alice");
            assert!(len > userset::MAX_NAME_LEN, "{len}");
        }
        other => panic!("{other:?}"),
    }
}
