//! Model-based tests with tiny nodes (4 items): random operation sequences
//! run on an `ExtentBuf` and on a `Vec<u8>`, compared after every step, with
//! clones taken along the way that must never change.

use std::hash::BuildHasher;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};

use bytes::{Buf, Bytes};
use proptest::prelude::*;

use crate::{ExtentBuf, ExtentWriter};

#[derive(Debug, Clone)]
enum Op {
    Insert(u64, Vec<u8>, bool),
    InsertSlice(u64, Vec<u8>),
    InsertBuf(u64, Vec<Vec<u8>>),
    Append(Vec<u8>),
    Prepend(Vec<u8>),
    AppendSlice(Vec<u8>),
    PrependSlice(Vec<u8>),
    AppendBuf(Vec<Vec<u8>>),
    Remove(u64, u64),
    Replace(u64, u64, Vec<u8>),
    Truncate(u64),
    SplitOff(u64),
    SplitTo(u64),
    Slice(u64, u64),
    Narrow(u64, u64),
    WriteAt(u64, Vec<u8>),
    Defragment(usize),
    Snapshot,
    Clear,
}

/// Block that shared-extent payloads are cut from (so they are not unique).
fn pool() -> Bytes {
    static POOL: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    POOL.get_or_init(|| (0..20_000u32).map(|i| (i * 7 + i / 251) as u8).collect::<Vec<u8>>().into())
        .clone()
}

fn payload(v: &[u8], shared: bool) -> Bytes {
    if shared && !v.is_empty() {
        // A slice of the shared pool with the same length; the model gets
        // the pool's bytes.
        let p = pool();
        let start = (v[0] as usize * 37) % (p.len() - v.len().min(p.len() - 1));
        p.slice(start..start + v.len())
    } else {
        Bytes::from(v.to_vec())
    }
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 1..8),
        2 => proptest::collection::vec(any::<u8>(), 0..300),
        1 => proptest::collection::vec(any::<u8>(), 4000..9000),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<u64>(), data(), any::<bool>()).prop_map(|(a, d, s)| Op::Insert(a, d, s)),
        3 => (any::<u64>(), data()).prop_map(|(a, d)| Op::InsertSlice(a, d)),
        1 => (any::<u64>(), proptest::collection::vec(data(), 0..12)).prop_map(|(a, d)| Op::InsertBuf(a, d)),
        1 => data().prop_map(Op::Append),
        1 => data().prop_map(Op::Prepend),
        1 => data().prop_map(Op::AppendSlice),
        1 => data().prop_map(Op::PrependSlice),
        1 => proptest::collection::vec(data(), 0..20).prop_map(Op::AppendBuf),
        3 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Op::Remove(a, b)),
        1 => (any::<u64>(), any::<u64>(), data()).prop_map(|(a, b, d)| Op::Replace(a, b, d)),
        1 => any::<u64>().prop_map(Op::Truncate),
        1 => any::<u64>().prop_map(Op::SplitOff),
        1 => any::<u64>().prop_map(Op::SplitTo),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Op::Slice(a, b)),
        2 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Op::Narrow(a, b)),
        3 => (any::<u64>(), data()).prop_map(|(a, d)| Op::WriteAt(a, d)),
        1 => (1usize..3000).prop_map(Op::Defragment),
        2 => Just(Op::Snapshot),
        1 => Just(Op::Clear),
    ]
}

fn range(a: u64, b: u64, len: u64) -> (u64, u64) {
    let (a, b) = (a % (len + 1), b % (len + 1));
    (a.min(b), a.max(b))
}

fn bytes_of(b: &Bytes) -> Vec<u8> {
    b.to_vec()
}

#[allow(clippy::too_many_lines)] // one arm per operation
/// Applies `op` to both; returns a side buffer/model pair to check when the
/// op produced one.
fn apply(
    buf: &mut ExtentBuf,
    model: &mut Vec<u8>,
    op: &Op,
    snaps: &mut Vec<(ExtentBuf, Vec<u8>)>,
) -> Option<(ExtentBuf, Vec<u8>)> {
    let len = model.len() as u64;
    match op {
        Op::Insert(a, d, shared) => {
            let at = a % (len + 1);
            let b = payload(d, *shared);
            let i = at as usize;
            model.splice(i..i, bytes_of(&b));
            buf.insert(at, b);
        }
        Op::InsertSlice(a, d) => {
            let at = a % (len + 1);
            model.splice(at as usize..at as usize, d.iter().copied());
            buf.insert_from_slice(at, d);
        }
        Op::InsertBuf(a, parts) => {
            let at = a % (len + 1);
            let other: ExtentBuf = parts.iter().map(|p| payload(p, p.len() % 2 == 0)).collect();
            let flat = other.copy_to_vec(..);
            model.splice(at as usize..at as usize, flat);
            buf.insert_buf(at, other);
        }
        Op::Append(d) => {
            let b = payload(d, true);
            model.extend_from_slice(&b);
            buf.append(b);
        }
        Op::Prepend(d) => {
            let b = payload(d, false);
            model.splice(0..0, bytes_of(&b));
            buf.prepend(b);
        }
        Op::AppendSlice(d) => {
            model.extend_from_slice(d);
            buf.append_from_slice(d);
        }
        Op::PrependSlice(d) => {
            model.splice(0..0, d.iter().copied());
            buf.prepend_from_slice(d);
        }
        Op::AppendBuf(parts) => {
            let other: ExtentBuf = parts.iter().map(|p| payload(p, p.len() % 3 == 0)).collect();
            model.extend_from_slice(&other.copy_to_vec(..));
            buf.append_buf(other);
        }
        Op::Remove(a, b) => {
            let (s, e) = range(*a, *b, len);
            model.drain(s as usize..e as usize);
            buf.remove(s..e);
        }
        Op::Replace(a, b, d) => {
            let (s, e) = range(*a, *b, len);
            let bytes = payload(d, d.len() % 2 == 1);
            model.splice(s as usize..e as usize, bytes_of(&bytes));
            buf.replace(s..e, bytes);
        }
        Op::Truncate(n) => {
            let n = n % (len + 2);
            model.truncate(n as usize);
            buf.truncate(n);
        }
        Op::SplitOff(a) => {
            let at = a % (len + 1);
            let tail_m = model.split_off(at as usize);
            let tail = buf.split_off(at);
            return Some((tail, tail_m));
        }
        Op::SplitTo(a) => {
            let at = a % (len + 1);
            let tail_m = model.split_off(at as usize);
            let head_m = std::mem::replace(model, tail_m);
            let head = buf.split_to(at);
            return Some((head, head_m));
        }
        Op::Slice(a, b) => {
            let (s, e) = range(*a, *b, len);
            let sm = model[s as usize..e as usize].to_vec();
            let sl = buf.slice(s..e);
            return Some((sl, sm));
        }
        Op::Narrow(a, b) => {
            // The buffer becomes a slice of itself (a view onto its old
            // tree), so later operations run on views too.
            let (s, e) = range(*a, *b, len);
            *model = model[s as usize..e as usize].to_vec();
            *buf = buf.slice(s..e);
        }
        Op::WriteAt(a, d) => {
            let d = &d[..d.len().min(model.len())];
            let at = a % (len - d.len() as u64 + 1);
            model[at as usize..at as usize + d.len()].copy_from_slice(d);
            buf.write_at(at, d);
        }
        Op::Defragment(t) => buf.defragment(*t),
        Op::Snapshot => {
            if snaps.len() >= 6 {
                snaps.remove(0);
            }
            snaps.push((buf.clone(), model.clone()));
        }
        Op::Clear => {
            model.clear();
            buf.clear();
        }
    }
    None
}

fn check(buf: &ExtentBuf, model: &[u8]) {
    buf.assert_invariants();
    assert_eq!(buf.len(), model.len() as u64);
    assert_eq!(buf.copy_to_vec(..), model);
    let chunked: Vec<u8> = buf.chunks().flatten().copied().collect();
    assert_eq!(chunked, model);
    assert!(buf.chunks().all(|c| !c.is_empty()));
    assert_eq!(buf.extents().count(), buf.extent_count());
    assert!(*buf == *model);
}

/// Spot checks of the reading API at a few offsets.
fn check_reads(buf: &ExtentBuf, model: &[u8], seed: u64) {
    let len = model.len() as u64;
    let at = seed % (len + 1);
    assert_eq!(buf.byte_at(at), model.get(at as usize).copied());
    let mut out = vec![0u8; (seed % 97) as usize];
    let n = buf.read_at(at, &mut out);
    let want = &model[at as usize..(at as usize + out.len()).min(model.len())];
    assert_eq!(&out[..n], want);
    let (s, e) = range(seed, seed.rotate_left(17), len);
    let got: Vec<u8> = buf.chunks_in(s..e).flatten().copied().collect();
    assert_eq!(got, &model[s as usize..e as usize]);
    let mut slices = [std::io::IoSlice::new(&[]); 3];
    let k = buf.io_slices(s..e, &mut slices);
    let got: Vec<u8> = slices[..k].iter().flat_map(|s| s.iter().copied()).collect();
    assert!(model[s as usize..e as usize].starts_with(&got));
    assert!(k < 3 || got.len() as u64 <= e - s);
    // Cursor: seek, read a bit through Buf and Read.
    let mut c = buf.cursor();
    c.seek(SeekFrom::Start(at)).unwrap();
    assert_eq!(c.remaining() as u64, len - at);
    let mut v = Vec::new();
    c.read_to_end(&mut v).unwrap();
    assert_eq!(v, &model[at as usize..]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ops_match_vec_model(ops in proptest::collection::vec((op(), any::<u64>()), 1..60)) {
        let mut buf = ExtentBuf::new();
        let mut model = Vec::new();
        let mut snaps: Vec<(ExtentBuf, Vec<u8>)> = Vec::new();
        for (op, seed) in &ops {
            if let Some((side, side_m)) = apply(&mut buf, &mut model, op, &mut snaps) {
                check(&side, &side_m);
                check_reads(&side, &side_m, seed.rotate_left(29));
                // Edit the side buffer too: it shares nodes with `buf`.
                let mut side = side;
                let mut side_m = side_m;
                let d = [0xAAu8; 3];
                if side_m.len() >= 3 {
                    side.write_at(0, &d);
                    side_m[..3].copy_from_slice(&d);
                }
                side.insert_from_slice(side_m.len() as u64 / 2, b"xyz");
                let mid = side_m.len() / 2;
                side_m.splice(mid..mid, *b"xyz");
                check(&side, &side_m);
            }
            check(&buf, &model);
            check_reads(&buf, &model, *seed);
            for (s, m) in &snaps {
                check(s, m);
            }
        }
    }

    #[test]
    fn equal_content_compares_and_hashes_equal(parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..12), cut in any::<u64>()) {
        let flat: Vec<u8> = parts.concat();
        let a: ExtentBuf = parts.iter().map(|p| Bytes::from(p.clone())).collect();
        let b = ExtentBuf::from(flat.clone());
        // Re-chunk differently: split at `cut` and rejoin.
        let mut c = a.clone();
        let tail = c.split_off(cut % (flat.len() as u64 + 1));
        c.append_buf(tail);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&a, &c);
        let st = std::hash::RandomState::new();
        prop_assert_eq!(st.hash_one(&a), st.hash_one(&b));
        prop_assert_eq!(st.hash_one(&a), st.hash_one(&c));
        prop_assert!(a == flat[..]);
        prop_assert!(a == flat);
        let fb = Bytes::from(flat.clone());
        prop_assert!(a == fb);
    }

    #[test]
    fn ordering_matches_slices(x in proptest::collection::vec(proptest::collection::vec(0u8..3, 0..5), 0..6),
                               y in proptest::collection::vec(proptest::collection::vec(0u8..3, 0..5), 0..6)) {
        let (fx, fy) = (x.concat(), y.concat());
        let bx: ExtentBuf = x.into_iter().map(Bytes::from).collect();
        let by: ExtentBuf = y.into_iter().map(Bytes::from).collect();
        prop_assert_eq!(bx.cmp(&by), fx.cmp(&fy));
        prop_assert_eq!(bx.partial_cmp(&fy[..]), Some(fx.as_slice().cmp(&fy[..])));
        prop_assert_eq!(bx == by, fx == fy);
    }

    #[test]
    fn writer_and_cursor_roundtrip(data in proptest::collection::vec(any::<u8>(), 0..3000), size in 1usize..700, step in 1usize..500) {
        let mut w = ExtentWriter::with_extent_size(size);
        for piece in data.chunks(step) {
            w.write_all(piece).unwrap();
        }
        let buf = w.finish();
        prop_assert_eq!(buf.copy_to_vec(..), data.clone());
        prop_assert!(buf.extents().all(|e| e.len() <= size));
        prop_assert_eq!(buf.extent_count(), data.len().div_ceil(size));
        // Buf::copy_to_bytes / chunks_vectored / BufRead.
        let mut c = buf.cursor();
        let mut got = Vec::new();
        while c.has_remaining() {
            let n = step.min(c.remaining());
            got.extend_from_slice(&c.copy_to_bytes(n));
        }
        prop_assert_eq!(&got, &data);
        // Read and Buf::copy_to_slice in pieces of `step` (crossing extents).
        let mut c = buf.cursor();
        let mut got = vec![0u8; data.len()];
        let mut at = 0;
        while at < data.len() {
            let n = std::io::Read::read(&mut c, &mut got[at..(at + step).min(data.len())]).unwrap();
            prop_assert!(n > 0);
            at += n;
        }
        prop_assert_eq!(std::io::Read::read(&mut c, &mut [0u8; 4]).unwrap(), 0);
        prop_assert_eq!(&got, &data);
        let mut c = buf.cursor();
        let mut got = vec![0u8; data.len()];
        for piece in got.chunks_mut(step) {
            c.copy_to_slice(piece);
        }
        prop_assert_eq!(&got, &data);
        prop_assert_eq!(c.remaining(), 0);
        let mut c = buf.cursor();
        let mut lines = Vec::new();
        c.read_until(0, &mut lines).unwrap();
        let want_len = data.iter().position(|&b| b == 0).map_or(data.len(), |p| p + 1);
        prop_assert_eq!(&lines[..], &data[..want_len]);
        let mut out = Vec::new();
        buf.write_all_to(&mut out).unwrap();
        prop_assert_eq!(out, data);
    }
}

#[test]
fn slice_and_split_every_range_keep_invariants() {
    for n in 1..60u64 {
        let buf: ExtentBuf = (0..n).map(|i| Bytes::from(vec![i as u8; 1])).collect();
        let model: Vec<u8> = (0..n).map(|i| i as u8).collect();
        for a in 0..=n {
            for b in a..=n {
                let s = buf.slice(a..b);
                s.assert_invariants();
                assert_eq!(
                    s.copy_to_vec(..),
                    &model[a as usize..b as usize],
                    "slice {a}..{b} of {n}"
                );
            }
            let mut x = buf.clone();
            let tail = x.split_off(a);
            x.assert_invariants();
            tail.assert_invariants();
            assert_eq!(x.copy_to_vec(..), &model[..a as usize]);
            assert_eq!(tail.copy_to_vec(..), &model[a as usize..]);
        }
    }
}
