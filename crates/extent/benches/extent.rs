//! Criterion benchmarks for `ExtentBuf`: workloads W1–W11 of the design
//! note, with `Vec<u8>`, `BytesMut`, `VecDeque<Bytes>` and `ropey` as peers
//! where the comparison means something.
//!
//! Buffer size: `EXTENT_BENCH_MIB` (default 1 MiB, so `cargo test --benches`
//! stays fast). The documented numbers use `EXTENT_BENCH_MIB=1024`. Peers that
//! copy the whole buffer per operation (`Vec` middle inserts) and the text
//! rope are capped at `EXTENT_BENCH_PEER_MIB` (default: the same size).

use std::collections::VecDeque;
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use extent::ExtentBuf;

fn mib(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn size() -> usize {
    mib("EXTENT_BENCH_MIB", 1) << 20
}

fn peer_size() -> usize {
    (mib("EXTENT_BENCH_PEER_MIB", size() >> 20) << 20).min(size())
}

/// Deterministic xorshift offsets.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One big ASCII block cut into extents of `block` bytes.
fn build(len: usize, block: usize) -> (ExtentBuf, Bytes) {
    let whole: Bytes = (0..len).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>().into();
    let buf = (0..len / block).map(|k| whole.slice(k * block..(k + 1) * block)).collect();
    (buf, whole)
}

fn kib() -> Bytes {
    Bytes::from(vec![b'k'; 1024])
}

fn w1_w2_insert(c: &mut Criterion) {
    let n = size();
    let mut g = c.benchmark_group(format!("W1-W2 insert 1KiB @{}MiB", n >> 20));
    let (base, _) = build(n, 4096);
    let k = kib();
    {
        let mut buf = base.clone();
        let mut r = Rng(1);
        g.bench_function("ExtentBuf insert Bytes (unique)", |b| {
            b.iter(|| {
                let at = r.below(buf.len());
                buf.insert(at, k.clone());
            });
        });
    }
    {
        let mut buf = base.clone();
        let mut r = Rng(2);
        g.bench_function("ExtentBuf insert_from_slice (unique)", |b| {
            b.iter(|| {
                let at = r.below(buf.len());
                buf.insert_from_slice(at, &k);
            });
        });
    }
    {
        let mut buf = base.clone();
        let mut r = Rng(3);
        g.bench_function("ExtentBuf insert Bytes into a clone (W2, clone+insert+drop)", |b| {
            b.iter(|| {
                let snap = buf.clone();
                let at = r.below(buf.len());
                buf.insert(at, k.clone());
                drop(snap);
            });
        });
    }
    drop(base);
    let p = peer_size();
    g.sample_size(10);
    {
        let mut v: Vec<u8> = vec![b'a'; p];
        let mut r = Rng(4);
        g.bench_function(format!("Vec<u8> splice @{}MiB", p >> 20), |b| {
            b.iter(|| {
                let at = r.below(v.len() as u64) as usize;
                v.splice(at..at, k.iter().copied());
                v.truncate(p);
            });
        });
    }
    {
        let mut d: VecDeque<Bytes> = build(p, 4096).0.into_extents().collect();
        let mut r = Rng(5);
        g.bench_function(format!("VecDeque<Bytes> insert at index @{}MiB", p >> 20), |b| {
            b.iter(|| {
                let at = r.below(d.len() as u64) as usize;
                d.insert(at, k.clone());
            });
        });
    }
    {
        let text: String = (0..p).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let mut rope = ropey::Rope::from_str(&text);
        drop(text);
        let ks = "k".repeat(1024);
        let mut r = Rng(6);
        g.bench_function(format!("ropey insert 1KiB @{}MiB", p >> 20), |b| {
            b.iter(|| {
                let at = r.below(rope.len_chars() as u64) as usize;
                rope.insert(at, &ks);
            });
        });
    }
    g.finish();
}

fn w3_remove(c: &mut Criterion) {
    let n = size();
    let mut g = c.benchmark_group(format!("W3 remove @{}MiB", n >> 20));
    let (base, _) = build(n, 4096);
    g.bench_function("ExtentBuf remove 1KiB (unique)", |b| {
        let mut r = Rng(7);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut buf = base.clone();
            let mut done = 0;
            while done < iters {
                // Refresh (untimed) before the buffer shrinks below half.
                if buf.len() < n as u64 / 2 {
                    buf = build(n, 4096).0;
                }
                let batch = (iters - done).min(100_000);
                let t = Instant::now();
                for _ in 0..batch {
                    let at = r.below(buf.len() - 1024);
                    buf.remove(at..at + 1024);
                }
                total += t.elapsed();
                done += batch;
            }
            total
        });
    });
    let hundred = (100u64 << 20).min(n as u64 / 2);
    g.sample_size(10);
    g.bench_function(format!("ExtentBuf remove {}MiB range incl. drop", hundred >> 20), |b| {
        b.iter_batched(
            || build(n, 4096).0,
            |mut buf| {
                buf.remove(n as u64 / 4..n as u64 / 4 + hundred);
                buf
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn w4_lookup_clone(c: &mut Criterion) {
    let n = size();
    let mut g = c.benchmark_group(format!("W4 lookup, clone @{}MiB", n >> 20));
    let (buf, whole) = build(n, 4096);
    let mut r = Rng(8);
    g.bench_function("clone+drop", |b| b.iter(|| black_box(buf.clone())));
    // The clone alone: criterion drops the clones after the timed loop.
    g.bench_function("clone", |b| b.iter_with_large_drop(|| buf.clone()));
    g.bench_function("byte_at random", |b| b.iter(|| buf.byte_at(r.below(buf.len()))));
    // Warm: random offsets inside one 1 MiB window, so the paths stay cached
    // (the design's condition for its 60 ns goal).
    let window = (buf.len() / 3, (1u64 << 20).min(buf.len() / 3));
    g.bench_function("byte_at random in a 1 MiB window (warm)", |b| {
        b.iter(|| buf.byte_at(window.0 + r.below(window.1)));
    });
    let mut last = 0u8;
    g.bench_function("byte_at random in a 1 MiB window (warm), dependent chain", |b| {
        b.iter(|| {
            let at = window.0 + (r.next() ^ u64::from(last)) % window.1;
            last = buf.byte_at(at).unwrap_or(0);
            last
        });
    });
    // Latency rather than throughput: each offset depends on the byte read
    // before it, so the CPU cannot overlap the misses of successive lookups.
    // The reference is the floor of any lookup: a random byte of the same
    // bytes held as one contiguous block (its cache and TLB misses), in the
    // same run so that the ratio holds on a noisy machine.
    g.bench_function("byte_at random, dependent chain", |b| {
        b.iter(|| {
            let at = (r.next() ^ u64::from(last)) % buf.len();
            last = buf.byte_at(at).unwrap_or(0);
            last
        });
    });
    g.bench_function("reference: contiguous block, random byte, dependent chain", |b| {
        b.iter(|| {
            let at = (r.next() ^ u64::from(last)) % whole.len() as u64;
            last = whole[at as usize];
            last
        });
    });
    let mut out = vec![0u8; 4096];
    g.bench_function("read_at 4KiB random", |b| {
        b.iter(|| buf.read_at(r.below(buf.len() - 4096), &mut out));
    });
    g.finish();
}

fn w5_scan(c: &mut Criterion) {
    let n = size();
    let mut g = c.benchmark_group(format!("W5 scan @{}MiB", n >> 20));
    g.sample_size(10);
    let (buf, whole) = build(n, 4096);
    g.bench_function("chunks() sum of lengths", |b| {
        b.iter(|| buf.chunks().map(<[u8]>::len).sum::<usize>());
    });
    let mut sl = [std::io::IoSlice::new(&[]); 1024];
    g.bench_function("io_slices fill 1024", |b| b.iter(|| buf.io_slices(n as u64 / 3.., &mut sl)));
    let mut devnull = std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap();
    g.bench_function("write_all_to /dev/null", |b| {
        b.iter(|| buf.write_all_to(&mut devnull).unwrap());
    });
    g.bench_function("contiguous write_all /dev/null", |b| {
        b.iter(|| devnull.write_all(&whole).unwrap());
    });
    w5_pipe_and_file(&mut g, &buf, &whole);
    let mut sink: Vec<u8> = Vec::with_capacity(n);
    g.bench_function("write_all_to Vec (memcpy bound)", |b| {
        b.iter(|| {
            sink.clear();
            buf.write_all_to(&mut sink).unwrap();
        });
    });
    g.bench_function("contiguous extend_from_slice Vec", |b| {
        b.iter(|| {
            sink.clear();
            sink.extend_from_slice(&whole);
        });
    });
    // The same copy done as `write_all_to` does it, one `memcpy` per 4 KiB
    // extent, but from a contiguous source: the floor for copying in extents
    // (a single large copy can use non-temporal stores; 4 KiB copies do not).
    g.bench_function("contiguous extend_from_slice Vec in 4KiB pieces", |b| {
        b.iter(|| {
            sink.clear();
            for piece in whole.chunks(4096) {
                sink.extend_from_slice(piece);
            }
        });
    });
    g.bench_function("cursor Buf::copy_to_slice", |b| {
        b.iter(|| {
            let mut cur = buf.cursor();
            sink.clear();
            sink.resize(n, 0);
            cur.copy_to_slice(&mut sink);
        });
    });
    let deque: VecDeque<Bytes> = buf.clone().into_extents().collect();
    g.bench_function("VecDeque<Bytes> iterate sum of lengths", |b| {
        b.iter(|| deque.iter().map(Bytes::len).sum::<usize>());
    });
    g.finish();
}

/// W5 into the sinks the design names: a pipe drained by another thread,
/// and a file on tmpfs; each beside one contiguous `write_all`.
fn w5_pipe_and_file(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    buf: &ExtentBuf,
    whole: &Bytes,
) {
    use std::io::Seek;
    let n = whole.len();
    // The design's W5 sink: a pipe whose other end a thread drains, so the
    // kernel copies every byte out of our extents (unlike /dev/null).
    let (reader, mut pipe) = std::io::pipe().unwrap();
    let drain = std::thread::spawn(move || {
        let mut reader = reader;
        let mut chunk = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            match std::io::Read::read(&mut reader, &mut chunk) {
                Ok(0) => return total,
                Ok(k) => total += k as u64,
                Err(e) => panic!("pipe read: {e}"),
            }
        }
    });
    let mut written = 0u64;
    g.bench_function("write_all_to pipe", |b| {
        b.iter(|| {
            buf.write_all_to(&mut pipe).unwrap();
            written += n as u64;
        });
    });
    g.bench_function("contiguous write_all pipe", |b| {
        b.iter(|| {
            pipe.write_all(whole).unwrap();
            written += n as u64;
        });
    });
    drop(pipe);
    assert_eq!(drain.join().unwrap(), written, "the pipe delivered every byte written");
    // A file on tmpfs (page-cache copies, no device), rewritten from offset 0.
    let path = std::env::temp_dir().join(format!("extent-bench-{}", std::process::id()));
    let shm = std::path::Path::new("/dev/shm").join(path.file_name().unwrap());
    let path = if std::path::Path::new("/dev/shm").is_dir() { shm } else { path };
    let mut file = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    g.bench_function("write_all_to file (tmpfs, rewritten)", |b| {
        b.iter(|| {
            file.rewind().unwrap();
            buf.write_all_to(&mut file).unwrap();
        });
    });
    g.bench_function("contiguous write_all file (tmpfs, rewritten)", |b| {
        b.iter(|| {
            file.rewind().unwrap();
            file.write_all(whole).unwrap();
        });
    });
    let written = file.metadata().unwrap().len();
    assert!(written == 0 || written == n as u64, "file holds {written} bytes"); // 0: filtered out
    drop(file);
    let _ = std::fs::remove_file(&path);
}

fn w6_split_join(c: &mut Criterion) {
    let n = size();
    let mut g = c.benchmark_group(format!("W6 split/join/slice @{}MiB", n >> 20));
    let (base, _) = build(n, 4096);
    let mut buf = base.clone();
    let mut r = Rng(9);
    g.bench_function("split_off + append_buf (unique)", |b| {
        b.iter(|| {
            let tail = buf.split_off(r.below(buf.len()));
            buf.append_buf(tail);
        });
    });
    g.bench_function("slice random range", |b| {
        b.iter(|| {
            let (x, y) = (r.below(base.len()), r.below(base.len()));
            black_box(base.slice(x.min(y)..x.max(y)))
        });
    });
    // A slice is a window; its first edit (or `detach`) pays for the two
    // cuts. This is the cost a slice that is then edited sees.
    g.bench_function("slice random range + detach", |b| {
        b.iter(|| {
            let (x, y) = (r.below(base.len()), r.below(base.len()));
            let mut s = base.slice(x.min(y)..x.max(y));
            s.detach();
            black_box(s)
        });
    });
    let (other, _) = build(n / 2, 4096);
    g.bench_function("append_buf of a clone (concat)", |b| {
        b.iter_batched(
            || base.clone(),
            |mut x| {
                x.append_buf(other.clone());
                x
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

fn w7_cow(c: &mut Criterion) {
    let n = size();
    let mut g = c.benchmark_group(format!("W7 COW write_at @{}MiB", n >> 20));
    let (base, _) = build(n, 4096);
    let mut r = Rng(10);
    g.bench_function("clone + write_at 1 byte + drop", |b| {
        b.iter(|| {
            let mut x = base.clone();
            x.write_at(r.below(n as u64), b"!");
            x
        });
    });
    g.finish();
}

fn w9_protocol(c: &mut Criterion) {
    let mut g = c.benchmark_group("W9 frames: header + 4x16KiB, split_to 16KiB");
    let body = Bytes::from(vec![b'b'; 16 * 1024]);
    let header = Bytes::from(vec![b'h'; 200]);
    g.bench_function("ExtentBuf", |b| {
        b.iter(|| {
            let mut m = ExtentBuf::new();
            for _ in 0..4 {
                m.append(body.clone());
            }
            m.prepend(header.clone());
            let mut frames = 0;
            while !m.is_empty() {
                let f = m.split_to(m.len().min(16 * 1024));
                frames += f.extent_count();
            }
            frames
        });
    });
    g.bench_function("VecDeque<Bytes>", |b| {
        b.iter(|| {
            let mut m: VecDeque<Bytes> = VecDeque::new();
            for _ in 0..4 {
                m.push_back(body.clone());
            }
            m.push_front(header.clone());
            let mut frames = 0;
            while !m.is_empty() {
                let mut need = 16 * 1024;
                let mut frame: Vec<Bytes> = Vec::new();
                while need > 0 {
                    let Some(mut front) = m.pop_front() else { break };
                    if front.len() > need {
                        m.push_front(front.split_off(need));
                    }
                    need -= front.len();
                    frame.push(front);
                }
                frames += frame.len();
            }
            frames
        });
    });
    g.bench_function("BytesMut (copying)", |b| {
        b.iter(|| {
            let mut m = BytesMut::new();
            m.extend_from_slice(&header);
            for _ in 0..4 {
                m.extend_from_slice(&body);
            }
            let mut frames = 0;
            while !m.is_empty() {
                let f = m.split_to(m.len().min(16 * 1024));
                frames += usize::from(!f.is_empty());
            }
            frames
        });
    });
    g.finish();
}

fn w10_file_edits(c: &mut Criterion) {
    let n = size();
    let mut g = c.benchmark_group(format!("W10 file edits @{}MiB", n >> 20));
    let (base, _) = build(n, 4096);
    let page = Bytes::from(vec![b'p'; 4096]);
    let mut buf = base.clone();
    let mut r = Rng(11);
    g.bench_function("80% append 4KiB / 10% overwrite 512B / 10% remove 4KiB", |b| {
        b.iter(|| match r.below(10) {
            0 => {
                let at = r.below(buf.len() - 512);
                buf.write_at(at, &page[..512]);
            }
            1 => {
                let at = r.below(buf.len() - 4096);
                buf.remove(at..at + 4096);
            }
            _ => buf.append(page.clone()),
        });
    });
    g.finish();
}

fn w11_build(c: &mut Criterion) {
    let n = size();
    let mut g = c.benchmark_group(format!("W11 build @{}MiB", n >> 20));
    g.sample_size(10);
    let whole = build(n, 4096).1;
    let exts: Vec<Bytes> = (0..n / 4096).map(|k| whole.slice(k * 4096..(k + 1) * 4096)).collect();
    g.bench_function(format!("from_extents of {} blocks", n / 4096), |b| {
        b.iter_batched(|| exts.clone(), ExtentBuf::from_extents, BatchSize::PerIteration);
    });
    g.bench_function("From<Vec<u8>>", |b| {
        b.iter_batched(|| vec![1u8; 1 << 20], ExtentBuf::from, BatchSize::SmallInput);
    });
    let p = peer_size();
    let text: String = (0..p).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    g.bench_function(format!("ropey Rope::from_str @{}MiB", p >> 20), |b| {
        b.iter(|| ropey::Rope::from_str(&text));
    });
    g.finish();
}

criterion_group!(
    benches,
    w1_w2_insert,
    w3_remove,
    w4_lookup_clone,
    w5_scan,
    w6_split_join,
    w7_cow,
    w9_protocol,
    w10_file_edits,
    w11_build
);
criterion_main!(benches);
