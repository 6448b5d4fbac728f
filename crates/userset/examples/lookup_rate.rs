//! Random lookup rate on a saved set: `lookup_rate SET NAMES [ROUNDS]`.
//!
//! Loads SET, samples every 10th name of NAMES (at most 10M, shuffled), and
//! prints single, batched (1 thread) and batched (all threads) lookups per
//! second, best of ROUNDS (default 3), plus the transparent huge pages the
//! process holds. With `ONLY_BATCHED` set in the environment it measures
//! only batched lookups on one thread, by wall time and per CPU second of
//! the thread (steadier on a shared machine). For example:
//!
//! ```text
//! cargo run --release -p userset --example lookup_rate -- names.uset names.txt
//! ```

// Rates are printed as floating point; names counts are far below 2^52.
#![allow(clippy::cast_precision_loss)]

use std::time::Instant;

use userset::UserSet;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(set), Some(names)) = (args.get(1), args.get(2)) else {
        return Err("usage: lookup_rate SET NAMES [ROUNDS]".into());
    };
    let rounds: usize = args.get(3).map_or(Ok(3), |r| r.parse())?;
    let set = UserSet::load(set)?;
    let text = std::fs::read(names)?;
    let mut q: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .step_by(10)
        .take(10_000_000)
        .collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..q.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        q.swap(i, (x % (i as u64 + 1)) as usize);
    }
    // Copy the queries into one buffer in query order, as `mammoth userset
    // bench` does, so reading a query is not a cache miss of its own.
    let buf: Vec<u8> = q.iter().flat_map(|n| n.iter().copied()).collect();
    let mut at = 0;
    let q: Vec<&[u8]> = q
        .iter()
        .map(|n| {
            at += n.len();
            &buf[at - n.len()..at]
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let rate = |f: &dyn Fn() -> usize| {
        let mut best = 0f64;
        for _ in 0..rounds {
            let t = Instant::now();
            let found = f();
            let r = q.len() as f64 / t.elapsed().as_secs_f64();
            assert_eq!(found, q.len(), "present names missing");
            best = best.max(r);
        }
        best / 1e6
    };
    if std::env::var_os("ONLY_BATCHED").is_some() {
        // Also per CPU second of this thread, which a busy machine's
        // preemption does not dilute.
        let mut best_cpu = 0f64;
        for _ in 0..rounds {
            let c = cpu_seconds();
            assert_eq!(set.count_present(&q), q.len(), "present names missing");
            best_cpu = best_cpu.max(q.len() as f64 / (cpu_seconds() - c));
        }
        println!(
            "batched {:.2} M/s  per cpu-s {:.2} M",
            rate(&|| set.count_present(&q)),
            best_cpu / 1e6
        );
        return Ok(());
    }
    let single = rate(&|| q.iter().filter(|n| set.contains(n)).count());
    let batched = rate(&|| set.count_present(&q));
    let all = rate(&|| {
        std::thread::scope(|sc| {
            let per = q.len().div_ceil(threads);
            let hs: Vec<_> = q.chunks(per).map(|c| sc.spawn(|| set.count_present(c))).collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        })
    });
    let thp = std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("AnonHugePages")).map(str::to_owned))
        .unwrap_or_default();
    println!(
        "heap {} B ({:.3} B/name) single {single:.2} M/s  batched {batched:.2} M/s  batched {threads} thr {all:.2} M/s  [{}]",
        set.stats().heap_bytes,
        set.stats().heap_bytes as f64 / set.len() as f64,
        thp.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    Ok(())
}

/// User plus system CPU time of the calling thread, in seconds (Linux;
/// 0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name (which ends at the last ')'): state is
    // field 3, utime 14, stime 15, in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}
