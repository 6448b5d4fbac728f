//! Behaviour at boundaries, at every tree height, sharing and memory growth
//! of copy-on-write writes, errors and the I/O adapters (default node sizes).

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};

use bytes::{Buf, Bytes};
use extent::{ExtentBuf, ExtentError};

/// A buffer of `n` extents of `size` bytes, content `i as u8` at offset `i`.
fn blocks(n: usize, size: usize) -> (ExtentBuf, Vec<u8>) {
    let flat: Vec<u8> = (0..n * size).map(|i| (i % 251) as u8).collect();
    let whole = Bytes::from(flat.clone());
    let buf: ExtentBuf = (0..n).map(|k| whole.slice(k * size..(k + 1) * size)).collect();
    (buf, flat)
}

#[test]
fn empty_and_single_extent_need_no_tree() {
    let e = ExtentBuf::new();
    assert_eq!(e.len(), 0);
    assert_eq!(e.depth(), 0);
    assert_eq!(e.extent_count(), 0);
    assert_eq!(e.chunks().count(), 0);
    let b = Bytes::from_static(b"hello");
    let one = ExtentBuf::from(b.clone());
    assert_eq!(one.depth(), 0);
    assert_eq!(one.extent_count(), 1);
    // Free conversion back: the same memory.
    assert_eq!(one.to_bytes().as_ptr(), b.as_ptr());
    assert_eq!(one.clone().into_bytes().as_ptr(), b.as_ptr());
    let v = vec![7u8; 100];
    let p = v.as_ptr();
    assert_eq!(ExtentBuf::from(v).into_bytes().as_ptr(), p);
}

#[test]
fn boundary_offsets_at_every_height() {
    // 1, 16, 17, 256, 257, 4097 extents: heights 0..=3 with fanout 16.
    for n in [1usize, 2, 16, 17, 256, 257, 4097] {
        let (buf, flat) = blocks(n, 3);
        buf.assert_invariants();
        let len = flat.len() as u64;
        for at in [0, 1, 2, 3, 4, len / 2, len - 3, len - 1, len].into_iter().filter(|&a| a <= len)
        {
            // split at every boundary kind, then rejoin
            let mut left = buf.clone();
            let right = left.split_off(at);
            left.assert_invariants();
            right.assert_invariants();
            assert_eq!(left, flat[..at as usize]);
            assert_eq!(right, flat[at as usize..]);
            let mut joined = left.clone();
            joined.append_buf(right.clone());
            joined.assert_invariants();
            assert_eq!(joined, flat);
            // join the other way round (short + tall and tall + short)
            let mut rev = right.clone();
            rev.append_buf(left.clone());
            let mut want = flat[at as usize..].to_vec();
            want.extend_from_slice(&flat[..at as usize]);
            assert_eq!(rev, want);
            // insert a whole buffer at the boundary
            let mut ins = buf.clone();
            ins.insert_buf(at, buf.clone());
            let mut want = flat.clone();
            want.splice(at as usize..at as usize, flat.iter().copied());
            assert_eq!(ins, want);
            assert_eq!(buf.byte_at(at), flat.get(at as usize).copied());
        }
        // the original is untouched by all of the above
        assert_eq!(buf, flat);
    }
}

#[test]
fn join_trees_of_every_height_pair() {
    let sizes = [1usize, 5, 16, 40, 300, 5000];
    for &a in &sizes {
        for &b in &sizes {
            let (x, fx) = blocks(a, 2);
            let (y, fy) = blocks(b, 5);
            let mut j = x.clone();
            j.append_buf(y.clone());
            j.assert_invariants();
            let mut want = fx.clone();
            want.extend_from_slice(&fy);
            assert_eq!(j, want, "join {a} + {b}");
            assert_eq!(j.extent_count(), a + b);
        }
    }
}

#[test]
fn out_of_range_is_an_error_or_a_documented_panic() {
    let (mut buf, _) = blocks(20, 10);
    assert_eq!(
        buf.try_insert(201, Bytes::from_static(b"x")),
        Err(ExtentError::OffsetOutOfRange { offset: 201, len: 200 })
    );
    assert_eq!(
        buf.try_remove(150..201),
        Err(ExtentError::RangeOutOfRange { start: 150, end: 201, len: 200 })
    );
    let (hi, lo) = (10, 5);
    assert!(buf.try_slice(hi..lo).is_err());
    assert!(buf.try_write_at(199, b"ab").is_err());
    assert!(buf.try_split_off(201).is_err());
    assert!(buf.try_read_at(201, &mut [0; 4]).is_err());
    assert_eq!(buf.byte_at(200), None);
    assert_eq!(
        ExtentError::RangeOutOfRange { start: 1, end: 9, len: 4 }.to_string(),
        "range 1..9 is out of range for a buffer of 4 bytes"
    );
    let r = std::panic::catch_unwind(move || buf.remove(0..300));
    assert!(r.is_err());
}

#[test]
fn one_byte_write_on_a_shared_gib_copies_one_block_and_one_path() {
    const GIB: usize = 1 << 30;
    let whole = Bytes::from(vec![0u8; GIB]);
    let range = whole.as_ptr() as usize..whole.as_ptr() as usize + GIB;
    let original: ExtentBuf =
        (0..GIB / 4096).map(|k| whole.slice(k * 4096..(k + 1) * 4096)).collect();
    drop(whole);
    let mut copy = original.clone();
    copy.write_at(GIB as u64 / 2 + 123, b"!");
    // Exactly one extent points outside the original block, and it is one
    // 4 KiB block.
    let private: Vec<Bytes> =
        copy.extents().filter(|e| !range.contains(&(e.as_ptr() as usize))).collect();
    assert_eq!(private.len(), 1);
    assert!(private[0].len() <= 4096);
    assert_eq!(copy.extent_count(), original.extent_count());
    // Exactly one root-to-leaf path of nodes is new.
    let old: HashSet<usize> = original.node_addresses().into_iter().collect();
    let new_nodes = copy.node_addresses().into_iter().filter(|a| !old.contains(a)).count();
    assert_eq!(new_nodes, copy.depth());
    // The original still reads zero there.
    assert_eq!(original.byte_at(GIB as u64 / 2 + 123), Some(0));
    assert_eq!(copy.byte_at(GIB as u64 / 2 + 123), Some(b'!'));
}

#[test]
fn write_into_a_large_shared_extent_copies_only_the_touched_blocks() {
    let big = Bytes::from(vec![1u8; 1 << 20]);
    let mut buf = ExtentBuf::from(big.clone());
    buf.write_at(500_000, b"abc");
    // before / private 4 KiB copy / after, sharing `big`
    let exts: Vec<Bytes> = buf.extents().collect();
    assert_eq!(exts.len(), 3);
    assert_eq!(exts[1].len(), 4096);
    assert_eq!(exts[0].as_ptr(), big.as_ptr());
    assert!(big.iter().all(|&b| b == 1), "shared block was written");
    // A uniquely owned extent is written in place.
    let mut own = ExtentBuf::from(vec![0u8; 10_000]);
    let p = own.extents().next().unwrap().as_ptr();
    own.write_at(5, b"xy");
    assert_eq!(own.extents().next().unwrap().as_ptr(), p);
    assert_eq!(own.copy_to_vec(4..8), b"\0xy\0");
}

#[test]
fn appends_and_prepends_do_not_copy_the_old_value() {
    let old = Bytes::from(vec![5u8; 1000]);
    let mut v = ExtentBuf::from(old.clone());
    v.append(Bytes::from_static(b"tail"));
    v.prepend(Bytes::from_static(b"head"));
    let exts: Vec<Bytes> = v.extents().collect();
    assert_eq!(exts.len(), 3);
    assert_eq!(exts[1].as_ptr(), old.as_ptr());
    assert_eq!(v.len(), 1008);
}

#[test]
fn small_writes_coalesce() {
    let (mut buf, mut model) = blocks(64, 4096);
    let mut x = 12345u64;
    for _ in 0..20_000 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let at = (x >> 20) % (buf.len() + 1);
        let d = [(x >> 8) as u8; 3];
        buf.insert_from_slice(at, &d);
        model.splice(at as usize..at as usize, d);
    }
    assert_eq!(buf, model);
    let avg = buf.len() / buf.extent_count() as u64;
    assert!(avg >= 256, "average extent {avg} bytes");
    buf.defragment(64 * 1024);
    assert_eq!(buf, model);
}

/// A writer that takes at most `limit` bytes per call (a pipe takes 64 KiB)
/// and records how many slices each vectored call was offered.
struct Dribble {
    data: Vec<u8>,
    offered: Vec<usize>,
    limit: usize,
}
impl Dribble {
    fn new(limit: usize) -> Self {
        Dribble { data: Vec::new(), offered: Vec::new(), limit }
    }
}
impl Write for Dribble {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = b.len().min(self.limit);
        self.data.extend_from_slice(&b[..n]);
        Ok(n)
    }
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        self.offered.push(bufs.len());
        let mut n = 0;
        for b in bufs {
            let k = b.len().min(self.limit - n);
            self.data.extend_from_slice(&b[..k]);
            n += k;
            if n == self.limit {
                break;
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn io_adapters() {
    let (buf, flat) = blocks(3000, 7);
    // io_slices fills at most the array
    let mut sl = [std::io::IoSlice::new(&[]); 1024];
    assert_eq!(buf.io_slices(.., &mut sl), 1024);
    assert_eq!(buf.io_slices(5..20, &mut sl), 3);
    // write_all_to through a writer that takes 1000 bytes at a time
    let mut d = Dribble::new(1000);
    buf.write_all_to(&mut d).unwrap();
    assert_eq!(d.data, flat);
    // The first call is offered the whole window; once the writer has shown
    // it takes ~143 slices of 7 bytes, later calls are offered about twice
    // that, not the 1024 it cannot take.
    assert_eq!(d.offered[0], 1024);
    assert!(d.offered[1..].iter().all(|&n| (4..=300).contains(&n)), "{:?}", d.offered);
    // A writer that takes everything is offered full windows throughout.
    let (big, big_flat) = blocks(5000, 3);
    let mut all = Dribble::new(usize::MAX);
    big.write_all_to(&mut all).unwrap();
    assert_eq!(all.data, big_flat);
    assert_eq!(all.offered, [1024, 1024, 1024, 1024, 5000 - 4 * 1024]);
    // cursor: Buf + Seek + Read
    let mut c = buf.cursor();
    c.seek(SeekFrom::End(-10)).unwrap();
    let mut tail = Vec::new();
    c.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, &flat[flat.len() - 10..]);
    assert!(c.seek(SeekFrom::Current(-100_000)).is_err());
    c.set_position(3);
    let mut iov = [std::io::IoSlice::new(&[]); 4];
    assert_eq!(c.chunks_vectored(&mut iov), 4);
    assert_eq!(&iov[0][..], &flat[3..7]);
    assert_eq!(c.copy_to_bytes(2), &flat[3..5]);
}

#[test]
fn send_sync_and_debug() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ExtentBuf>();
    assert_send_sync::<extent::Cursor>();
    let (buf, _) = blocks(40, 2);
    let s = format!("{buf:?}");
    // The depth depends on the node size (the `small-nodes` feature).
    let expected =
        format!("ExtentBuf {{ len: 80, extents: 40, depth: {}, head: b\"\\x00\\x01", buf.depth());
    assert!(s.starts_with(&expected), "{s}");
}

#[test]
fn split_and_slice_cut_one_path_and_share_the_rest() {
    let (buf, model) = blocks(20_000, 64);
    let old: std::collections::HashSet<usize> = buf.node_addresses().into_iter().collect();
    let depth = buf.depth();
    for at in [1u64, 64, 65, 4_096 * 64 + 3, 777_777, buf.len() - 1] {
        // Split a clone (so every node on the cut path is shared and must be
        // copied, never edited in place).
        let mut head = buf.clone();
        let tail = head.split_off(at);
        assert_eq!(head.copy_to_vec(..), model[..at as usize]);
        assert_eq!(tail.copy_to_vec(..), model[at as usize..]);
        let fresh = |b: &ExtentBuf| b.node_addresses().iter().filter(|a| !old.contains(a)).count();
        // One cut path per side, plus the nodes joins rebalance (one
        // neighbour per level at most).
        assert!(fresh(&head) + fresh(&tail) <= 4 * depth, "split at {at}: too many new nodes");
        let end = (at + 300_000).min(buf.len());
        // A slice is a window onto the whole tree until it is detached (or
        // edited); then it holds a tree of its own range, built from two cut
        // paths with every node inside the range shared.
        let mut s = buf.slice(at..end);
        assert_eq!(s.node_addresses(), buf.node_addresses(), "slice at {at}: not a window");
        assert_eq!(s.copy_to_vec(..), model[at as usize..end as usize]);
        s.detach();
        s.assert_invariants();
        assert_eq!(s.copy_to_vec(..), model[at as usize..end as usize]);
        assert!(fresh(&s) <= 4 * depth, "slice at {at}: too many new nodes");
        let kept = s.node_addresses().len();
        assert!(
            kept < buf.node_addresses().len(),
            "slice at {at}: detached tree holds {kept} nodes"
        );
        assert_eq!(buf.copy_to_vec(..), model, "the original is untouched");
    }
}
