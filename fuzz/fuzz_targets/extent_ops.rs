//! Random edit sequences on `extent::ExtentBuf` (built with tiny nodes)
//! against a `Vec<u8>` model, with snapshots that must never change. The
//! operation set mirrors the crate's model-based property test.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use extent::ExtentBuf;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Insert(u32, Vec<u8>, bool),
    InsertSlice(u32, Vec<u8>),
    InsertBuf(u32, Vec<Vec<u8>>),
    Append(Vec<u8>),
    Prepend(Vec<u8>),
    AppendSlice(Vec<u8>),
    AppendBuf(Vec<Vec<u8>>),
    Remove(u32, u32),
    Replace(u32, u32, Vec<u8>),
    Truncate(u32),
    SplitOff(u32),
    SplitTo(u32),
    Slice(u32, u32),
    /// The buffer becomes a slice of itself (a view onto its old tree).
    Narrow(u32, u32),
    WriteAt(u32, Vec<u8>),
    Defragment(u16),
    Snapshot,
    Clear,
}

/// A shared block: extents cut from it are never uniquely owned.
fn payload(v: &[u8], shared: bool) -> Bytes {
    static POOL: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    if shared {
        let pool = POOL.get_or_init(|| Bytes::from(vec![0x5Au8; 1 << 16]));
        let n = v.len().min(pool.len());
        let mut b = pool.slice(..n);
        // Same bytes as the model expects: write them through a private copy
        // when they differ (keeps the model simple, the sharing real when the
        // payload is all 0x5A).
        if b[..] != v[..n] {
            b = Bytes::copy_from_slice(&v[..n]);
        }
        b
    } else {
        Bytes::from(v.to_vec())
    }
}

fn range(a: u32, b: u32, len: usize) -> (usize, usize) {
    let (a, b) = (a as usize % (len + 1), b as usize % (len + 1));
    (a.min(b), a.max(b))
}

fn check(buf: &ExtentBuf, model: &[u8]) {
    buf.assert_invariants();
    assert_eq!(buf.len(), model.len() as u64);
    assert!(*buf == *model);
    let mut n = 0;
    for c in buf.chunks() {
        assert!(!c.is_empty());
        assert_eq!(c, &model[n..n + c.len()]);
        n += c.len();
    }
    assert_eq!(n, model.len());
}

fuzz_target!(|ops: Vec<Op>| {
    let mut buf = ExtentBuf::new();
    let mut model: Vec<u8> = Vec::new();
    let mut snaps: Vec<(ExtentBuf, Vec<u8>)> = Vec::new();
    for op in ops.iter().take(200) {
        let len = model.len();
        if len > 1 << 20 {
            break;
        }
        match op {
            Op::Insert(a, d, s) => {
                let at = *a as usize % (len + 1);
                let b = payload(d, *s);
                model.splice(at..at, b.iter().copied());
                buf.insert(at as u64, b);
            }
            Op::InsertSlice(a, d) => {
                let at = *a as usize % (len + 1);
                model.splice(at..at, d.iter().copied());
                buf.insert_from_slice(at as u64, d);
            }
            Op::InsertBuf(a, parts) => {
                let at = *a as usize % (len + 1);
                let other: ExtentBuf = parts.iter().map(|p| payload(p, true)).collect();
                model.splice(at..at, other.copy_to_vec(..));
                buf.insert_buf(at as u64, other);
            }
            Op::Append(d) => {
                model.extend_from_slice(d);
                buf.append(payload(d, true));
            }
            Op::Prepend(d) => {
                model.splice(0..0, d.iter().copied());
                buf.prepend(payload(d, false));
            }
            Op::AppendSlice(d) => {
                model.extend_from_slice(d);
                buf.append_from_slice(d);
            }
            Op::AppendBuf(parts) => {
                let other: ExtentBuf = parts.iter().map(|p| payload(p, false)).collect();
                model.extend_from_slice(&other.copy_to_vec(..));
                buf.append_buf(other);
            }
            Op::Remove(a, b) => {
                let (s, e) = range(*a, *b, len);
                model.drain(s..e);
                buf.remove(s as u64..e as u64);
            }
            Op::Replace(a, b, d) => {
                let (s, e) = range(*a, *b, len);
                model.splice(s..e, d.iter().copied());
                buf.replace(s as u64..e as u64, payload(d, true));
            }
            Op::Truncate(n) => {
                model.truncate(*n as usize);
                buf.truncate(u64::from(*n));
            }
            Op::SplitOff(a) => {
                let at = *a as usize % (len + 1);
                let tm = model.split_off(at);
                let t = buf.split_off(at as u64);
                check(&t, &tm);
            }
            Op::SplitTo(a) => {
                let at = *a as usize % (len + 1);
                let tail = model.split_off(at);
                let head = std::mem::replace(&mut model, tail);
                let h = buf.split_to(at as u64);
                check(&h, &head);
            }
            Op::Slice(a, b) => {
                let (s, e) = range(*a, *b, len);
                check(&buf.slice(s as u64..e as u64), &model[s..e]);
            }
            Op::Narrow(a, b) => {
                let (s, e) = range(*a, *b, len);
                model = model[s..e].to_vec();
                buf = buf.slice(s as u64..e as u64);
            }
            Op::WriteAt(a, d) => {
                let d = &d[..d.len().min(len)];
                let at = *a as usize % (len - d.len() + 1);
                model[at..at + d.len()].copy_from_slice(d);
                buf.write_at(at as u64, d);
            }
            Op::Defragment(t) => buf.defragment(usize::from(*t)),
            Op::Snapshot => {
                if snaps.len() >= 4 {
                    snaps.remove(0);
                }
                snaps.push((buf.clone(), model.clone()));
            }
            Op::Clear => {
                buf.clear();
                model.clear();
            }
        }
        check(&buf, &model);
        for (s, m) in &snaps {
            check(s, m);
        }
    }
});
