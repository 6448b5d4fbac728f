//! Per-operation latency percentiles (p50/p99) and memory growth for the
//! headline workloads of the design note, which criterion reports only as
//! means. Run in release:
//!
//! ```text
//! cargo run --release -p mammoth-extent --example latency -- [MIB] [OPS]
//! ```
//!
//! `MIB` (default 1024) is the buffer size, `OPS` (default 100000) the
//! operations timed per workload. Each operation is timed alone with
//! `Instant` (about 20-30 ns of the figure is the clock itself).
#![allow(clippy::cast_precision_loss, clippy::too_many_lines)]

use std::time::Instant;

use bytes::Bytes;
use extent::ExtentBuf;

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Minor page faults of this process so far (field 10 of /proc/self/stat).
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after_name = &s[s.rfind(')')? + 2..];
            after_name.split_whitespace().nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

fn report(name: &str, mut ns: Vec<u64>) {
    ns.sort_unstable();
    let p = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize];
    println!("{name:<58} p50 {:>8} ns  p99 {:>8} ns  max {:>9} ns", p(0.5), p(0.99), p(1.0));
}

/// Times `ops` calls of `f` one by one; also says how many first touches of
/// fresh memory (minor page faults) they caused, the kernel's share of a tail.
fn time(ops: usize, mut f: impl FnMut()) -> Vec<u64> {
    let faults = minor_faults();
    let ns = (0..ops)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as u64
        })
        .collect();
    let faults = minor_faults() - faults;
    if faults * 1000 > ops as u64 {
        println!("  ({faults} page faults in {ops} ops)");
    }
    ns
}

/// Times `op` alone on each of `ops` rounds over the state `st`: `before`
/// runs untimed first (what it returns is handed to `op`), and the value `op`
/// returns is dropped untimed.
fn time_op<T, S, R>(
    ops: usize,
    st: &mut T,
    mut before: impl FnMut(&mut T) -> S,
    mut op: impl FnMut(&mut T, S) -> R,
) -> Vec<u64> {
    let faults = minor_faults();
    let mut ns = Vec::with_capacity(ops);
    for _ in 0..ops {
        let s = before(st);
        let t = Instant::now();
        let out = op(st, s);
        ns.push(t.elapsed().as_nanos() as u64);
        drop(std::hint::black_box(out));
    }
    let faults = minor_faults() - faults;
    if faults * 1000 > ops as u64 {
        println!("  ({faults} page faults in {ops} ops)");
    }
    ns
}

/// The design note's condition for its goals: a warm cache. Every workload
/// works at random offsets inside one 1 MiB window (a third into the
/// buffer), so the root-to-leaf paths it walks stay cached, and memory freed
/// by one round is reused by the next.
fn warm(base: &ExtentBuf, kib: &Bytes, ops: usize) {
    println!("warm: one neighbourhood of the buffer (paths cached, memory reused)");
    let at0 = base.len() / 3;
    // The window's offsets, drawn up front so the closures below can share them.
    let mut r = Rng(7);
    let offsets: Vec<u64> = (0..ops).map(|_| at0 + r.below(1 << 20)).collect();
    let near = |i: usize| offsets[i % ops];
    // Lookups first, while the window still has its 256 extents: every
    // edit below leaves a cut behind (an insert undone by a remove rejoins
    // the bytes, not the two halves of the extent it split), and after the
    // rounds the window holds tens of thousands of small extents.
    let mut st = (base.clone(), 0usize);
    let next = |st: &mut (ExtentBuf, usize)| st.1 += 1;
    report(
        "W4 byte_at (before the edits)",
        time_op(ops, &mut st, next, |(b, i), ()| b.byte_at(near(*i) + 5)),
    );
    let window = |b: &ExtentBuf| b.chunks_in(at0..at0 + (1 << 20)).count();
    let mut buf = st.0;
    buf.append(Bytes::from_static(b"x")); // make the root path unique
    // Each insert is undone (untimed) before the next, and each removal
    // redone, so the neighbourhood keeps its shape and its memory.
    let (mut ins, mut rem) = (Vec::with_capacity(ops), Vec::with_capacity(ops));
    let faults = minor_faults();
    for k in 0..ops {
        let t = Instant::now();
        buf.insert(near(k), kib.clone());
        ins.push(t.elapsed().as_nanos() as u64);
        let t = Instant::now();
        buf.remove(near(k)..near(k) + 1024);
        rem.push(t.elapsed().as_nanos() as u64);
    }
    println!("  ({} page faults in {ops} ops)", minor_faults() - faults);
    report("W1 insert 1 KiB Bytes, unique tree", ins);
    report("W3 remove 1 KiB, unique tree", rem);
    println!("  (the window now holds {} extents)", window(&buf));
    let mut st = (buf, 0usize);
    // W2: the tree is shared with a clone taken just before (dropped after
    // the round); the insert is undone untimed, as for W1.
    let buf = &mut st.0;
    let (mut shared_ins, mut shared_write) = (Vec::with_capacity(ops), Vec::with_capacity(ops));
    let faults = minor_faults();
    for k in 0..ops {
        let snap = buf.clone();
        let t = Instant::now();
        buf.insert(near(k), kib.clone());
        shared_ins.push(t.elapsed().as_nanos() as u64);
        drop(snap);
        buf.remove(near(k)..near(k) + 1024);
        let snap = buf.clone();
        let t = Instant::now();
        buf.write_at(near(k) + 77, b"!");
        shared_write.push(t.elapsed().as_nanos() as u64);
        drop(snap);
    }
    println!("  ({} page faults in {ops} ops)", minor_faults() - faults);
    report("W2 insert 1 KiB into a just-cloned tree (clone dropped)", shared_ins);
    report("W7 write_at 1 byte into a just-cloned tree (clone dropped)", shared_write);
    report("clone", time_op(ops, &mut st, next, |(b, _), ()| b.clone()));
    let (mut split, mut join, mut split_to) = (Vec::new(), Vec::new(), Vec::new());
    let buf = &mut st.0;
    for k in 0..ops {
        let t = Instant::now();
        let tail = buf.split_off(near(k));
        split.push(t.elapsed().as_nanos() as u64);
        let t = Instant::now();
        buf.append_buf(tail);
        join.push(t.elapsed().as_nanos() as u64);
        let t = Instant::now();
        let head = buf.split_to(near(k + ops / 2));
        split_to.push(t.elapsed().as_nanos() as u64);
        let tail = std::mem::replace(buf, head);
        buf.append_buf(tail);
    }
    report("W6 split_off alone", split);
    report("W6 append_buf alone (rejoin the halves)", join);
    report("W6 split_to alone", split_to);
    report(
        "W6 slice of 100 MB (the slice dropped untimed)",
        time_op(ops, &mut st, next, |(b, i), ()| b.slice(near(*i)..near(*i) + 100_000_000)),
    );
    println!("  (the window now holds {} extents)", window(&st.0));
    report(
        "W4 byte_at (after the edits)",
        time_op(ops, &mut st, next, |(b, i), ()| b.byte_at(near(*i) + 5)),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mib: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let ops: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let n = mib << 20;
    println!("buffer {mib} MiB of 4 KiB extents ({} extents), {ops} ops per workload", n / 4096);
    let whole: Bytes = vec![b'a'; n].into();
    let rss0 = rss_kib();
    let t = Instant::now();
    let base: ExtentBuf = (0..n / 4096).map(|k| whole.slice(k * 4096..(k + 1) * 4096)).collect();
    let built = t.elapsed();
    // What the tree costs beyond the data: nodes, with the `Bytes` handles
    // and counts they hold (the build's temporary list is freed by now).
    let overhead = (rss_kib().saturating_sub(rss0) << 10) as f64 / (n / 4096) as f64;
    println!(
        "W11 from_extents of {} blocks: {:.2} ms, depth {}; tree memory {overhead:.0} B per extent ({:.2} % of a 4 KiB extent)",
        n / 4096,
        built.as_secs_f64() * 1e3,
        base.depth(),
        overhead / 40.96
    );
    let kib = Bytes::from(vec![b'k'; 1024]);
    warm(&base, &kib, ops);
    println!("cold: random offsets over the whole buffer (most levels miss the cache)");
    let mut r = Rng(42);

    let mut buf = base.clone();
    buf.append(Bytes::from_static(b"x")); // make the root path unique
    let mut buf2 = ExtentBuf::new();
    std::mem::swap(&mut buf, &mut buf2);
    let mut buf = buf2;
    report(
        "W1 insert 1 KiB Bytes, unique tree",
        time(ops, || {
            let at = r.below(buf.len());
            buf.insert(at, kib.clone());
        }),
    );
    report(
        "W1 insert_from_slice 1 KiB, unique tree",
        time(ops, || {
            let at = r.below(buf.len());
            buf.insert_from_slice(at, &kib);
        }),
    );
    report(
        "W3 remove 1 KiB, unique tree",
        time(ops, || {
            let at = r.below(buf.len() - 1024);
            buf.remove(at..at + 1024);
        }),
    );
    let mut snaps = Vec::with_capacity(ops);
    report(
        "W2 insert 1 KiB into a just-cloned tree (clone kept)",
        time(ops, || {
            snaps.push(buf.clone());
            let at = r.below(buf.len());
            buf.insert(at, kib.clone());
        }),
    );
    drop(snaps);
    report(
        "clone",
        time(ops, || {
            std::hint::black_box(buf.clone());
        }),
    );
    let mut x = buf.clone();
    report(
        "W6 split_off + append_buf at random offset",
        time(ops, || {
            let tail = x.split_off(r.below(x.len()));
            x.append_buf(tail);
        }),
    );
    {
        let (mut split, mut join) = (Vec::with_capacity(ops), Vec::with_capacity(ops));
        for _ in 0..ops {
            let at = r.below(x.len());
            let t = Instant::now();
            let tail = x.split_off(at);
            split.push(t.elapsed().as_nanos() as u64);
            let t = Instant::now();
            x.append_buf(tail);
            join.push(t.elapsed().as_nanos() as u64);
        }
        report("W6 split_off alone (unique tree)", split);
        report("W6 append_buf alone (rejoin the halves)", join);
    }
    {
        let mut to = Vec::with_capacity(ops);
        for _ in 0..ops {
            let at = r.below(x.len());
            let t = Instant::now();
            let head = x.split_to(at);
            to.push(t.elapsed().as_nanos() as u64);
            let tail = std::mem::replace(&mut x, head);
            x.append_buf(tail);
        }
        report("W6 split_to alone (unique tree)", to);
    }
    report(
        "W6 slice random range",
        time(ops, || {
            let (a, b) = (r.below(x.len()), r.below(x.len()));
            std::hint::black_box(x.slice(a.min(b)..a.max(b)));
        }),
    );
    report(
        "W4 byte_at random",
        time(ops, || {
            std::hint::black_box(x.byte_at(r.below(x.len())));
        }),
    );
    report(
        "W4 read_at 4 KiB random",
        time(ops, || {
            let mut out = [0u8; 4096];
            std::hint::black_box(x.read_at(r.below(x.len() - 4096), &mut out));
        }),
    );
    {
        // Reference for W4: one random byte of a contiguous 1 GiB block (the
        // cache and TLB misses any lookup pays for the data itself).
        report(
            "W4 reference: random byte of the contiguous block",
            time(ops, || {
                std::hint::black_box(whole[r.below(n as u64) as usize]);
            }),
        );
    }
    drop(x);
    drop(buf);

    // W5: full scans, ratio to the contiguous equivalents (best of 5 runs).
    {
        let best = |f: &mut dyn FnMut()| {
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_nanos() as u64
                })
                .min()
                .unwrap_or(0)
        };
        let exts = base.extent_count() as f64;
        let chunks = best(&mut || {
            std::hint::black_box(base.chunks().map(<[u8]>::len).sum::<usize>());
        });
        println!("W5 chunks() over {exts} extents: {:.2} ns per extent", chunks as f64 / exts);
        let mut sink: Vec<u8> = Vec::with_capacity(n);
        sink.extend_from_slice(&whole);
        let tree = best(&mut || {
            sink.clear();
            base.write_all_to(&mut sink).expect("Vec write");
        });
        let flat = best(&mut || {
            sink.clear();
            sink.extend_from_slice(&whole);
        });
        println!(
            "W5 write_all_to Vec {:.1} ms vs extend_from_slice {:.1} ms: {:.0} % of contiguous",
            tree as f64 / 1e6,
            flat as f64 / 1e6,
            100.0 * flat as f64 / tree as f64
        );
        drop(sink);
        let mut devnull =
            std::fs::OpenOptions::new().write(true).open("/dev/null").expect("/dev/null");
        let tree = best(&mut || base.write_all_to(&mut devnull).expect("write"));
        let flat = best(&mut || {
            use std::io::Write;
            devnull.write_all(&whole).expect("write");
        });
        println!(
            "W5 write_all_to /dev/null {:.2} ms vs one write_all {:.3} ms",
            tree as f64 / 1e6,
            flat as f64 / 1e6
        );
    }

    // W7: 1-byte writes on a shared buffer; private memory counted by extent.
    let mut copy = base.clone();
    let w7 = time(1000, || {
        let at = r.below(n as u64);
        copy.write_at(at, b"!");
    });
    report("W7 write_at 1 byte on a shared tree (1000 places)", w7);
    let range = whole.as_ptr() as usize..whole.as_ptr() as usize + n;
    let private: Vec<usize> = copy
        .extents()
        .filter(|e| !range.contains(&(e.as_ptr() as usize)))
        .map(|e| e.len())
        .collect();
    let old: std::collections::HashSet<usize> = base.node_addresses().into_iter().collect();
    let new_nodes = copy.node_addresses().into_iter().filter(|a| !old.contains(a)).count();
    println!(
        "W7 after 1000 writes: {} private extents, {} KiB copied, {} new tree nodes (depth {})",
        private.len(),
        private.iter().sum::<usize>() >> 10,
        new_nodes,
        copy.depth()
    );
    drop(copy);

    // W8: 1M tiny inserts (1-64 B) into 16 MiB.
    let small = 16 << 20;
    let sw: Bytes = vec![b'a'; small].into();
    let mut w8: ExtentBuf = (0..small / 4096).map(|k| sw.slice(k * 4096..(k + 1) * 4096)).collect();
    drop(sw);
    let rss0 = rss_kib();
    let payload = [b'z'; 64];
    let m = 1_000_000;
    let t = Instant::now();
    for i in 0..m {
        let at = r.below(w8.len() + 1);
        w8.insert_from_slice(at, &payload[..=(i % 64)]);
    }
    let el = t.elapsed();
    let rss1 = rss_kib();
    println!(
        "W8 {m} inserts of 1-64 B into 16 MiB: {:.0} ns/op, {} extents, average extent {} B, logical {} MiB, RSS growth {} MiB",
        el.as_nanos() as f64 / m as f64,
        w8.extent_count(),
        w8.len() / w8.extent_count() as u64,
        w8.len() >> 20,
        rss1.saturating_sub(rss0) >> 10
    );

    // Vec baseline for W1 (a few samples: each moves half the buffer).
    let mut v = vec![b'a'; n];
    report(
        "Vec<u8> insert 1 KiB (splice), 20 samples",
        time(20, || {
            let at = r.below(v.len() as u64) as usize;
            v.splice(at..at, kib.iter().copied());
        }),
    );
}
