//! Filtered TAP backfills (issue #26) against an unfiltered one and against
//! the engine's own full scan, in one run.
//!
//! Builds a store of N temperature readings shaped as the issue's notebook
//! had them: keys `reading/<iso-time>_<serial>` (one reading per serial per
//! minute, five serials, so key order is time order) and JSON values
//! `{"ts":"…","serial":"…","reading":21.5}` with readings from a seeded
//! generator (mulberry32, the one `interop/pouchdb/readings.js` uses, so
//! `scripts/bench-filter` gives `PouchDB` the same documents).
//! Then, in alternating rounds (the medians are reported), it measures
//! 1. the engine alone: `Backend::load` streaming every record of an
//!    identical copy of the store's files (the server holds the engine's
//!    lock on the original), what a scan straight from the engine can do;
//! 2. an unfiltered TAP DUMP over TCP from a server on the store: every item
//!    as a `TAP_MUTATION`, decoded by the consumer, until `CLOSE_TAP_STREAM`;
//! 3. a DUMP with the filter `range:FROM..TO` over the times of 1 % of the
//!    readings (bounds computed from the data): the server reads only that
//!    key range from the engine. Goal: ≥ 50× faster than 2;
//! 4. a DUMP with `json:/reading > X`, X chosen from the generated readings
//!    so that about 1 % match: the server evaluates the filter on every item
//!    in memory. Its scan rate (N / seconds) against 1. Goal: ≥ 0.7×.
//!
//! Every filtered DUMP must start with `FILTER_ACCEPTED`, and the items
//! received are checked one by one (range bounds, `reading > X`) and
//! counted against the generator's counts: a wrong filter fails the bench.
//!
//! `cargo bench -p mammoth-server --bench tap_filter`: 10,000,000 readings
//! (`TAP_FILTER_ITEMS` overrides), 3 rounds (`TAP_FILTER_ROUNDS`). Under
//! `cargo test --benches` it runs on 5,000 readings. The load and the
//! server's warmup are timed too; the consumer shares the machine's cores
//! with the server.

#![allow(clippy::cast_precision_loss, reason = "rates and shares for display")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use memcache::binary::tap::{EventKind, Incoming, TapConnect, TapFlags, opaque, parse_incoming};
use memcache::binary::{Check, Limits, check_packet};
use store::{BackendKind, Config, Store};

mod support;
use support::Server;

/// Sensors, in byte order: reading `i` comes from `SERIALS[i % 5]`, so the
/// five readings of one minute sort in generation order too.
const SERIALS: [&str; 5] =
    ["28-0000055ab2e1", "28-000005e2fdc3", "28-0000061b7e0a", "28-00000620c1e4", "28-000006bd5f13"];
/// 2024-01-01T00:00:00Z.
const START: u64 = 1_704_067_200;
/// The generator's seed (issue 26).
const SEED: u32 = 26;

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let items = env("TAP_FILTER_ITEMS").unwrap_or(if benching { 10_000_000 } else { 5_000 });
    let rounds = env("TAP_FILTER_ROUNDS").unwrap_or(3).max(1);
    assert!(items >= 500, "TAP_FILTER_ITEMS: at least 500 readings");

    let dir = tempfile::tempdir().expect("temp dir");
    let bucket = dir.path().join(server::DEFAULT_BUCKET);
    let started = Instant::now();
    let histogram = load(&bucket, items);
    let load_secs = started.elapsed().as_secs_f64();
    eprintln!("loaded {items} readings in {load_secs:.1}s");
    let copy = dir.path().join("engine-copy");
    copy_dir(&bucket, &copy);
    let filters = Filters::new(items, &histogram);
    eprintln!(
        "filters: {} ({} readings), {} ({})",
        filters.range_text, filters.range_count, filters.json_text, filters.json_count
    );

    let server = Server::start(dir.path());
    eprintln!("server warm (every item in memory) after {:.1}s", server.warmup);
    let mut times = Times::default();
    for round in 1..=rounds {
        let t = Instant::now();
        let n = dump(server.addr, None, &mut |_, _| true);
        times.full.push(t.elapsed().as_secs_f64());
        assert_eq!(n, items, "unfiltered DUMP");

        let t = Instant::now();
        let n = dump(server.addr, Some(&filters.range_text), &mut |key, _| filters.in_range(key));
        times.range.push(t.elapsed().as_secs_f64());
        assert_eq!(n, filters.range_count, "{}: items received", filters.range_text);

        let t = Instant::now();
        let n = dump(server.addr, Some(&filters.json_text), &mut |_, value| {
            reading_of(value) > filters.x_tenths
        });
        times.json.push(t.elapsed().as_secs_f64());
        assert_eq!(n, filters.json_count, "{}: items received", filters.json_text);

        let mut backend = BackendKind::Fjall.open(&copy).expect("open the engine copy");
        let t = Instant::now();
        let mut n = 0u64;
        backend.load(&mut |_, _| n += 1).expect("scan");
        times.engine.push(t.elapsed().as_secs_f64());
        drop(backend);
        assert_eq!(n, items, "engine scan");

        eprintln!(
            "round {round}: unfiltered {:.3}s, range {:.4}s, json {:.3}s, engine scan {:.3}s",
            times.full[times.full.len() - 1],
            times.range[times.range.len() - 1],
            times.json[times.json.len() - 1],
            times.engine[times.engine.len() - 1],
        );
    }
    let warmup = server.warmup;
    server.stop();
    println!(
        "{items} readings (load {load_secs:.1} s, server warmup {warmup:.1} s); medians of \
         {rounds} rounds; the consumer shares the machine's cores with the server"
    );
    report(items, &filters, &mut times);
}

/// The two filters and what they select.
struct Filters {
    /// `range:FROM..TO` over the times of 1 % of the readings.
    range_text: String,
    from: Vec<u8>,
    to: Vec<u8>,
    range_count: u64,
    /// `json:/reading > X`.
    json_text: String,
    x_tenths: usize,
    json_count: u64,
}

impl Filters {
    fn new(items: u64, histogram: &[u64]) -> Filters {
        // 1 % of the readings by time: whole minutes, from 40 % in.
        let range_count = (items / 100 / 5).max(1) * 5;
        let first = items * 2 / 5 / 5 * 5;
        let from = format!("reading/{}", iso(time_of(first)));
        let to = format!("reading/{}", iso(time_of(first + range_count)));
        // About 1 % above X (readings are whole tenths).
        let (x_tenths, json_count) = threshold(histogram, items / 100);
        Filters {
            range_text: format!("range:{from}..{to}"),
            from: from.into_bytes(),
            to: to.into_bytes(),
            range_count,
            json_text: format!("json:/reading > {}", tenths(x_tenths)),
            x_tenths,
            json_count,
        }
    }

    fn in_range(&self, key: &[u8]) -> bool {
        self.from.as_slice() <= key && key < self.to.as_slice()
    }
}

/// Seconds of each measurement, one per round.
#[derive(Default)]
struct Times {
    engine: Vec<f64>,
    full: Vec<f64>,
    range: Vec<f64>,
    json: Vec<f64>,
}

/// Prints the medians, the ratios and the goals.
fn report(items: u64, filters: &Filters, times: &mut Times) {
    let engine = median(&mut times.engine);
    let full = median(&mut times.full);
    let range = median(&mut times.range);
    let json = median(&mut times.json);
    let n = items as f64;
    let share = |count: u64| 100.0 * count as f64 / n;
    println!(
        "range filter  {}  ({} readings, {:.2} %)",
        filters.range_text,
        filters.range_count,
        share(filters.range_count)
    );
    println!(
        "json filter   {}  ({} readings, {:.2} %)",
        filters.json_text,
        filters.json_count,
        share(filters.json_count)
    );
    println!("{:<44}{:>10}{:>14}{:>10}", "", "seconds", "items/s", "items");
    let row = |name: &str, secs: f64, rate: f64, count: u64| {
        println!("{name:<44}{secs:>10.4}{rate:>14.0}{count:>10}");
    };
    row("engine full scan (fjall Backend::load)", engine, n / engine, items);
    row("TAP DUMP, unfiltered", full, n / full, items);
    let (count, json_count) = (filters.range_count, filters.json_count);
    row("TAP DUMP, range filter (items/s: sent)", range, count as f64 / range, count);
    row("TAP DUMP, json filter (items/s: scanned)", json, n / json, json_count);
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    let (speedup, json_share) = (full / range, engine / json);
    println!("{:<44}{:>10}{:>14}", "ratio", "measured", "goal");
    println!(
        "{:<44}{:>9.1}×{:>14}  {}",
        "unfiltered / range-filtered time",
        speedup,
        "≥ 50×",
        met(speedup >= 50.0)
    );
    println!(
        "{:<44}{:>9.2}×{:>14}  {}",
        "json-filtered scan rate / engine scan rate",
        json_share,
        "≥ 0.7×",
        met(json_share >= 0.7)
    );
}

/// Writes `items` readings into a new store at `dir` and returns how many
/// readings there are of each value, in tenths.
fn load(dir: &Path, items: u64) -> Vec<u64> {
    let store = Store::open(Config::new(dir)).expect("open store");
    let mut rng = Mulberry32(SEED);
    let mut histogram = Vec::new();
    let mut time = String::new();
    for i in 0..items {
        let serial = SERIALS[(i % 5) as usize];
        if i % 5 == 0 {
            time = iso(time_of(i));
        }
        let r = rng.reading();
        if histogram.len() <= r {
            histogram.resize(r + 1, 0);
        }
        histogram[r] += 1;
        let key = format!("reading/{time}_{serial}");
        let value = format!(r#"{{"ts":"{time}","serial":"{serial}","reading":{}}}"#, tenths(r));
        store.write(store::Write::set(key, value)).expect("set");
        if i % 50_000 == 49_999 {
            store.sync();
        }
    }
    store.sync();
    store.close();
    histogram
}

/// mulberry32: a small seeded generator that JavaScript computes alike.
struct Mulberry32(u32);

impl Mulberry32 {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x6D2B_79F5);
        let mut t = self.0;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 0x3d));
        t ^ (t >> 14)
    }

    /// A temperature in tenths of a degree, 12.0 to 26.7, bell-shaped.
    fn reading(&mut self) -> usize {
        120 + (0..3).map(|_| (self.next() % 50) as usize).sum::<usize>()
    }
}

/// The time of reading `i`, in seconds since the epoch.
fn time_of(i: u64) -> u64 {
    START + i / 5 * 60
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
fn iso(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm), from 1970 on.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Tenths as JSON's decimal number, `215` → `21.5`.
fn tenths(t: usize) -> String {
    format!("{}.{}", t / 10, t % 10)
}

/// The threshold (in tenths) whose count of readings above it is nearest
/// `want`, and that count.
fn threshold(histogram: &[u64], want: u64) -> (usize, u64) {
    let mut above = 0u64;
    let mut best = (histogram.len(), 0u64);
    for t in (0..histogram.len()).rev() {
        // `above`: readings greater than t.
        if above.abs_diff(want) < best.1.abs_diff(want) {
            best = (t, above);
        }
        above += histogram[t];
    }
    best
}

/// The `"reading"` of one of our values, in tenths.
fn reading_of(value: &[u8]) -> usize {
    let text = std::str::from_utf8(value).expect("UTF-8 value");
    let number = text
        .split_once(r#""reading":"#)
        .and_then(|(_, rest)| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("not a reading: {text}"));
    let (whole, tenth) = number.split_once('.').expect("one decimal");
    whole.parse::<usize>().expect("number") * 10 + tenth.parse::<usize>().expect("digit")
}

fn show(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 { xs[mid] } else { f64::midpoint(xs[mid - 1], xs[mid]) }
}

/// Copies the directory tree `from` to `to` (the store is closed).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Runs one TAP DUMP, with `filter` when given, and returns the number of
/// mutations received; `check(key, value)` must hold for each.
fn dump(
    addr: SocketAddr,
    filter: Option<&str>,
    check: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) -> u64 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(120))).expect("timeout");
    let mut connect = TapConnect::new(&b"bench"[..]).with(TapFlags::DUMP);
    if let Some(text) = filter {
        connect = connect.filter(Bytes::copy_from_slice(text.as_bytes()));
    }
    let mut out = BytesMut::new();
    connect.encode(1, 0, &mut out);
    stream.write_all(&out).expect("send TAP_CONNECT");
    let limits = Limits::default();
    let mut input = BytesMut::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 1 << 20];
    let mut accepted = filter.is_none();
    let mut mutations = 0;
    loop {
        match check_packet(&input, &limits).expect("well-formed stream") {
            Check::Complete(len) => {
                let frame = input.split_to(len).freeze();
                match parse_incoming(frame, &limits).expect("event") {
                    Incoming::Event(e) => match e.kind {
                        EventKind::Opaque { code: opaque::FILTER_ACCEPTED } => accepted = true,
                        _ if !accepted => {
                            panic!("{filter:?}: the stream did not start with FILTER_ACCEPTED")
                        }
                        EventKind::Mutation { value, .. } => {
                            assert!(
                                check(&e.key, &value),
                                "{filter:?} sent {} = {}",
                                show(&e.key),
                                show(&value)
                            );
                            mutations += 1;
                        }
                        EventKind::Opaque { code: opaque::CLOSE_TAP_STREAM } => return mutations,
                        _ => {}
                    },
                    Incoming::Response(r) => {
                        panic!("{filter:?} refused: {:?} {}", r.status, show(&r.value))
                    }
                    Incoming::Noop { .. } => {}
                }
            }
            Check::Incomplete { .. } => {
                let n = stream.read(&mut chunk).expect("read");
                assert!(n > 0, "stream closed before CLOSE_TAP_STREAM");
                input.extend_from_slice(&chunk[..n]);
            }
        }
    }
}
