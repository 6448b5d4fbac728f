//! The memory quota: values ejected to the engine and read back exactly,
//! warmup bounded by the quota, temporary failures while the engine is
//! stalled, and a model of random operations under constant ejection.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use store::{
    Arith, Backend, BackendKind, Batch, Budget, Config, Counter, Eviction, LoadSummary, OpError,
    Reader, Store, StoreMode, Warmup, Write,
};

/// A quota the tests' 2 MB of values pass (high watermark 1 MiB, low
/// 0.8 MiB), while writes fail only past 3 MiB. The resident floor of 2000
/// items (keys, metadata, hash tables) is about 0.6 MB.
fn small_budget() -> Arc<Budget> {
    Arc::new(Budget::with_watermarks(4 << 20, Eviction::Value, 25, 20))
}

fn config(dir: &std::path::Path, budget: &Arc<Budget>) -> Config {
    let mut c = Config::new(dir);
    c.memory = Arc::clone(budget);
    c.flush_interval = Duration::from_millis(5);
    c
}

fn stat(store: &Store, name: &str) -> u64 {
    let stats = store.stats();
    let value = stats.iter().find(|(k, _)| k == name).unwrap_or_else(|| panic!("no stat {name}"));
    value.1.parse().unwrap_or_else(|_| panic!("stat {name} = {:?}", value.1))
}

/// Polls `cond` for up to ten seconds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn value_of(n: usize, len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| b'a' + ((n * 7 + i) % 26) as u8).collect::<Vec<u8>>())
}

fn key(n: usize) -> Bytes {
    Bytes::from(format!("key:{n:05}"))
}

/// A store under [`small_budget`] holding 2000 × 1000-byte values, once
/// the pager has ejected more than 500 of them.
fn ejecting(dir: &std::path::Path) -> Store {
    let store = Store::open(config(dir, &small_budget())).unwrap();
    for n in 0..2000 {
        store.write(Write::set(key(n), value_of(n, 1000))).unwrap();
    }
    store.sync();
    eventually("ejection", || stat(&store, "ep_num_non_resident") > 500);
    store
}

#[test]
fn values_past_the_quota_are_ejected_and_read_back_exactly() {
    for backend in [BackendKind::Fjall, BackendKind::Sqlite] {
        let dir = tempfile::tempdir().unwrap();
        let budget = small_budget();
        let mut c = config(dir.path(), &budget);
        c.backend = backend;
        let store = Store::open(c).unwrap();
        for n in 0..2000 {
            store.write(Write::set(key(n), value_of(n, 1000)).flags(n as u32)).unwrap();
        }
        store.sync();
        // The pager brings memory down to the low watermark once the
        // engine holds the values.
        eventually("the pager to reach the low watermark", || {
            budget.used() <= budget.high_watermark()
        });
        let ejected = stat(&store, "ep_num_non_resident");
        assert!(ejected > 500, "{backend:?}: only {ejected} values ejected");
        assert_eq!(stat(&store, "evictions"), stat(&store, "ep_num_value_ejects"));
        assert_eq!(stat(&store, "curr_items"), 2000, "keys stay in memory");
        for n in 0..2000 {
            let hit = store.get(&key(n)).unwrap_or_else(|| panic!("{backend:?}: key {n} lost"));
            assert_eq!(hit.value.to_bytes(), value_of(n, 1000), "{backend:?}: key {n}");
            assert_eq!(hit.flags, n as u32);
        }
        assert!(stat(&store, "ep_bg_fetched") >= ejected, "every ejected value was read back");
        store.close();
        drop(store);
        assert_eq!(budget.used(), 0, "a closed store gives its memory back");

        // A restart loads values only up to the low watermark; the rest
        // stay in the engine and are read on demand.
        let budget = small_budget();
        let mut c = config(dir.path(), &budget);
        c.backend = backend;
        c.warmup = Warmup::Blocking;
        let store = Store::open(c).unwrap();
        assert_eq!(store.warmup().items, 2000);
        assert!(
            stat(&store, "ep_num_non_resident") > 1000,
            "{backend:?}: warmup loaded everything"
        );
        assert!(budget.used() < budget.high_watermark() + (256 << 10), "{}", budget.used());
        for n in (0..2000).rev() {
            assert_eq!(store.get(&key(n)).unwrap().value.to_bytes(), value_of(n, 1000));
        }
    }
}

#[test]
fn operations_that_need_the_value_read_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let budget = small_budget();
    let store = Store::open(config(dir.path(), &budget)).unwrap();
    for n in 0..1500 {
        store.write(Write::set(key(n), value_of(n, 1000))).unwrap();
    }
    store.write(Write::set(Bytes::from("counter"), Bytes::from("41"))).unwrap();
    store.sync();
    eventually("ejection", || stat(&store, "ep_num_non_resident") > 500);
    // Whatever is ejected now, every operation sees the whole value.
    for n in 0..1500 {
        let k = key(n);
        match n % 5 {
            0 => {
                store.write(Write::new(StoreMode::Append, k.clone(), Bytes::from("+"))).unwrap();
            }
            1 => {
                store.write(Write::new(StoreMode::Prepend, k.clone(), Bytes::from("-"))).unwrap();
            }
            2 => {
                let (hit, _) = store.touch(&k, 3600).unwrap();
                assert_eq!(hit.value.to_bytes(), value_of(n, 1000));
            }
            3 => {
                // A CAS needs only the metadata.
                let cas = store.peek(&k).unwrap().cas;
                store.write(Write::set(k.clone(), Bytes::from("cas")).cas(cas)).unwrap();
            }
            _ => {
                store.delete(&k, 0).unwrap();
            }
        }
    }
    let (v, _) =
        store.arith(Counter::new(Arith::Incr, Bytes::from("counter"), 1).create(0, 0)).unwrap();
    assert_eq!(v, 42);
    store.sync();
    for n in 0..1500 {
        let got = store.get(&key(n)).map(|h| h.value.to_bytes());
        let mut want = value_of(n, 1000).to_vec();
        let want = match n % 5 {
            0 => Some({
                want.push(b'+');
                want
            }),
            1 => Some([b"-".as_slice(), &want].concat()),
            2 => Some(want),
            3 => Some(b"cas".to_vec()),
            _ => None,
        };
        assert_eq!(got.as_deref(), want.as_deref(), "key {n}");
    }
}

#[test]
fn background_fetches_share_one_read_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let store = ejecting(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let inline_before = stat(&store, "ep_bg_fetched_inline");
    let (mut requested, mut both) = (0u64, 0u64);
    for n in 0..2000 {
        let k = key(n);
        // Two concurrent misses of one key.
        let (a, b) = (store.fetch(&k), store.fetch(&k));
        requested += u64::from(a.is_some() || b.is_some());
        both += u64::from(a.is_some() && b.is_some());
        runtime.block_on(async {
            for f in [a, b].into_iter().flatten() {
                f.wait().await;
            }
        });
    }
    assert!(both > 300, "only {both} keys had two fetches in flight");
    let reads = stat(&store, "ep_bg_num_samples");
    // Unshared, the keys with two fetches in flight would cost two reads
    // each. (A key the pager ejects again between the two requests may
    // cost two honestly.)
    assert!(
        reads < requested + both / 4,
        "{reads} engine reads for {requested} keys, {both} with two fetches: not shared"
    );
    // Fetched values are in memory: GETs right after need no inline read.
    for n in 0..2000 {
        let _ = store.fetch(&key(n)).map(|f| runtime.block_on(f.wait()));
        assert_eq!(store.get(&key(n)).unwrap().value.to_bytes(), value_of(n, 1000));
    }
    let inline = stat(&store, "ep_bg_fetched_inline") - inline_before;
    assert!(inline < 50, "{inline} values read on the caller's thread after a fetch");
}

/// An engine with a fault switched from the test: while `stalled` is set
/// its writes block (a slow or hung disk under the engine; the commit log
/// is elsewhere and keeps working), while `failing` is set they fail with
/// ENOSPC (a full disk under the engine).
struct Faulty {
    inner: Box<dyn Backend>,
    stalled: Arc<AtomicBool>,
    failing: Arc<AtomicBool>,
}

impl Faulty {
    /// `dir`'s fjall engine behind the two switches.
    fn open(
        dir: &std::path::Path,
        stalled: &Arc<AtomicBool>,
        failing: &Arc<AtomicBool>,
    ) -> Box<dyn Backend> {
        Box::new(Faulty {
            inner: BackendKind::Fjall.open(dir).unwrap(),
            stalled: Arc::clone(stalled),
            failing: Arc::clone(failing),
        })
    }
}

impl Backend for Faulty {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn write_batch(&mut self, batch: &Batch, sync: bool) -> Result<(), store::Error> {
        while self.stalled.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(2));
        }
        if self.failing.load(Ordering::Acquire) {
            return Err(store::Error::Io {
                path: "engine".into(),
                source: std::io::Error::from_raw_os_error(28), // ENOSPC
            });
        }
        self.inner.write_batch(batch, sync)
    }
    fn sync(&mut self) -> Result<(), store::Error> {
        self.inner.sync()
    }
    fn read_meta(&mut self) -> Result<LoadSummary, store::Error> {
        self.inner.read_meta()
    }
    fn reader(&self) -> Result<Box<dyn Reader>, store::Error> {
        self.inner.reader()
    }
    fn stats(&self) -> Vec<(String, String)> {
        self.inner.stats()
    }
}

#[test]
fn writes_fail_for_a_while_when_memory_is_full_of_changes_not_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Arc::new(Budget::new(2 << 20, Eviction::Value));
    let stalled = Arc::new(AtomicBool::new(true));
    let backend = Faulty::open(dir.path(), &stalled, &Arc::default());
    let store = Store::open_with_backend(config(dir.path(), &budget), backend).unwrap();
    let mut stored = 0;
    let refused = loop {
        match store.write(Write::set(key(stored), value_of(stored, 1000))) {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 10_000, "the quota never filled");
    };
    assert_eq!(refused, OpError::TempFail);
    assert!(stat(&store, "ep_tmp_oom_errors") >= 1);
    assert!(budget.used() <= budget.limit(), "{} over {}", budget.used(), budget.limit());
    // Reads and deletes still work.
    assert_eq!(store.get(&key(0)).unwrap().value.to_bytes(), value_of(0, 1000));
    // The engine comes back: the pager frees memory and writes succeed.
    stalled.store(false, Ordering::Release);
    let mut more = stored;
    eventually("writes to succeed again", || {
        let ok = store.write(Write::set(key(more), value_of(more, 1000))).is_ok();
        more += usize::from(ok);
        ok
    });
    store.sync();
    for n in 0..more {
        assert_eq!(store.get(&key(n)).unwrap().value.to_bytes(), value_of(n, 1000), "key {n}");
    }
}

#[test]
fn without_eviction_writes_fail_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Arc::new(Budget::new(1 << 20, Eviction::None));
    let store = Store::open(config(dir.path(), &budget)).unwrap();
    let mut n = 0;
    let refused = loop {
        match store.write(Write::set(key(n), value_of(n, 1000))) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 10_000, "the quota never filled");
    };
    assert_eq!(refused, OpError::OutOfMemory);
    store.sync();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(stat(&store, "ep_num_non_resident"), 0, "nothing is ejected");
    // Deleting frees memory for new writes.
    for k in 0..n / 2 {
        store.delete(&key(k), 0).unwrap();
    }
    store.write(Write::set(key(n), value_of(n, 1000))).unwrap();
}

/// One step of the model test.
#[derive(Clone, Debug)]
enum Op {
    Set(u8, u16, u8),
    Append(u8, u8),
    Incr(u8),
    Delete(u8),
    Get(u8),
    Touch(u8),
    Pause,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..60u8, 1..3000u16, any::<u8>()).prop_map(|(k, len, b)| Op::Set(k, len, b)),
        2 => (0..60u8, any::<u8>()).prop_map(|(k, b)| Op::Append(k, b)),
        1 => (0..60u8).prop_map(Op::Incr),
        1 => (0..60u8).prop_map(Op::Delete),
        4 => (0..60u8).prop_map(Op::Get),
        1 => (0..60u8).prop_map(Op::Touch),
        1 => Just(Op::Pause),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Random operations against a map while the pager ejects in the
    /// background (the quota is far below the data): every answer is the
    /// model's, and so is the store after a restart.
    #[test]
    fn operations_under_ejection_match_a_model(ops in proptest::collection::vec(op(), 50..300)) {
        let dir = tempfile::tempdir().unwrap();
        let budget = Arc::new(Budget::with_watermarks(1 << 20, Eviction::Value, 4, 2));
        let store = Store::open(config(dir.path(), &budget)).unwrap();
        let mut model: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        let k = |k: u8| Bytes::from(format!("k{k}"));
        for op in &ops {
            match *op {
                Op::Set(key, len, b) => {
                    let v = vec![b; usize::from(len)];
                    store.write(Write::set(k(key), Bytes::from(v.clone()))).unwrap();
                    model.insert(key, v);
                }
                Op::Append(key, b) => {
                    let got = store.write(Write::new(StoreMode::Append, k(key), Bytes::from(vec![b])));
                    if let Some(v) = model.get_mut(&key) {
                        prop_assert!(got.is_ok());
                        v.push(b);
                    } else {
                        prop_assert_eq!(got, Err(OpError::NotStored));
                    }
                }
                Op::Incr(key) => {
                    let got = store.arith(Counter::new(Arith::Incr, k(key), 1).create(7, 0)).map(|g| g.0);
                    // memcached's counters: at most 20 digits.
                    let counter = |v: &Vec<u8>| {
                        std::str::from_utf8(v).ok().filter(|s| s.len() <= 20)?.parse::<u64>().ok()
                    };
                    let (want, next) = match model.get(&key) {
                        None => (Ok(7), Some(7)),
                        Some(v) => counter(v)
                            .map_or((Err(OpError::BadDelta), None), |n| {
                                (Ok(n.wrapping_add(1)), Some(n.wrapping_add(1)))
                            }),
                    };
                    prop_assert_eq!(got, want);
                    if let Some(next) = next {
                        model.insert(key, next.to_string().into_bytes());
                    }
                }
                Op::Delete(key) => {
                    let got = store.delete(&k(key), 0).is_ok();
                    prop_assert_eq!(got, model.remove(&key).is_some());
                }
                Op::Get(key) => {
                    let got = store.get(&k(key)).map(|h| h.value.to_bytes().to_vec());
                    prop_assert_eq!(got.as_ref(), model.get(&key));
                }
                Op::Touch(key) => {
                    let got = store.touch(&k(key), 0).ok().map(|(h, _)| h.value.to_bytes().to_vec());
                    prop_assert_eq!(got.as_ref(), model.get(&key));
                }
                Op::Pause => {
                    store.sync();
                    std::thread::sleep(Duration::from_millis(15));
                }
            }
        }
        store.sync();
        std::thread::sleep(Duration::from_millis(30));
        for key in 0..60u8 {
            let got = store.get(&k(key)).map(|h| h.value.to_bytes().to_vec());
            prop_assert_eq!(got.as_ref(), model.get(&key), "key {}", key);
        }
        store.close();
        drop(store);
        let store = Store::open(config(dir.path(), &budget)).unwrap();
        for key in 0..60u8 {
            let got = store.get(&k(key)).map(|h| h.value.to_bytes().to_vec());
            prop_assert_eq!(got.as_ref(), model.get(&key), "key {} after reopening", key);
        }
    }
}

#[test]
fn a_backfill_sends_ejected_values_from_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let store = ejecting(dir.path());
    let feed = store.subscribe();
    let plan = feed.backfill(0);
    let mut changes = Vec::new();
    for shard in 0..feed.shards() {
        feed.scan(shard, &plan, b"", &mut changes);
    }
    assert_eq!(changes.len(), 2000);
    for change in changes {
        let store::ChangeKind::Mutation(item) = change.kind else { panic!("{change:?}") };
        let n: usize = std::str::from_utf8(&change.key[4..]).unwrap().parse().unwrap();
        assert_eq!(item.value.to_bytes(), value_of(n, 1000), "key {n}");
        assert_eq!(item.seqno, change.seqno);
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "{what}: not within 20 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn writes_are_refused_at_once_while_the_engine_fails_and_resume_after() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Arc::new(Budget::new(64 << 20, Eviction::Value));
    let failing = Arc::new(AtomicBool::new(false));
    let backend = Faulty::open(dir.path(), &Arc::default(), &failing);
    let store = Store::open_with_backend(config(dir.path(), &budget), backend).unwrap();
    for n in 0..100 {
        store.write(Write::set(key(n), value_of(n, 100))).unwrap();
    }
    store.sync();
    assert_eq!(store.unwritable(), None);
    failing.store(true, Ordering::Release);
    // The next commit reaches the engine and fails there.
    store.write(Write::set(key(100), value_of(100, 100))).unwrap();
    store.sync();
    wait_until("the failure is noticed", || store.unwritable().is_some());
    let why = store.unwritable().unwrap();
    assert!(why.contains("engine") && why.contains("No space left"), "{why}");
    // Every kind of mutation is refused at once; reads go on.
    assert_eq!(store.write(Write::set(key(101), value_of(101, 100))), Err(OpError::Unwritable));
    assert_eq!(store.delete(&key(1), 0), Err(OpError::Unwritable));
    assert!(matches!(store.touch(&key(1), 60), Err(OpError::Unwritable)));
    assert_eq!(store.get(&key(2)).unwrap().value.to_bytes(), value_of(2, 100));
    assert_eq!(store.get(&key(100)).unwrap().value.to_bytes(), value_of(100, 100));
    assert_eq!(stat(&store, "write_failing"), 1);
    assert!(stat(&store, "writes_refused_unwritable") >= 3);
    // Space comes back: the store resumes by itself.
    failing.store(false, Ordering::Release);
    wait_until("writes resume", || store.unwritable().is_none());
    store.write(Write::set(key(101), value_of(101, 100))).unwrap();
    assert_eq!(stat(&store, "write_failing"), 0);
    store.close();
    drop(store);
    // Everything acknowledged is there after a restart.
    let store = Store::open(config(dir.path(), &budget)).unwrap();
    store.warmup();
    for n in 0..=101 {
        assert_eq!(store.get(&key(n)).unwrap().value.to_bytes(), value_of(n, 100), "key {n}");
    }
}

#[test]
fn closing_while_the_engine_fails_does_not_hang_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Arc::new(Budget::new(64 << 20, Eviction::Value));
    let failing = Arc::new(AtomicBool::new(true));
    let backend = Faulty::open(dir.path(), &Arc::default(), &failing);
    let store = Store::open_with_backend(config(dir.path(), &budget), backend).unwrap();
    store.write(Write::set(key(1), value_of(1, 100))).unwrap();
    store.sync(); // in the commit log: acknowledged
    wait_until("the engine failure is noticed", || store.unwritable().is_some());
    let closing = std::time::Instant::now();
    store.close();
    drop(store);
    assert!(closing.elapsed() < Duration::from_secs(10), "close took {:?}", closing.elapsed());
    // The commit log replays what the engine never got.
    let store = Store::open(config(dir.path(), &budget)).unwrap();
    store.warmup();
    assert_eq!(store.get(&key(1)).unwrap().value.to_bytes(), value_of(1, 100));
}
