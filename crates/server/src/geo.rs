//! Geo indexes (`mammoth serve --geo-index NAME=POINTER`, issue #28): each
//! declared index exists in every bucket and answers GeoCouch `_spatial`
//! queries on the HTTP listener.
//!
//! # Keeping an index current
//!
//! An index follows its bucket's **change feed** ([`store::feed`]), not the
//! protocol's write path, so it sees every change whatever made it: text,
//! binary and meta writes, Lua `mc.*` calls, TAP mirror writes, deletes,
//! FLUSH and the deletes the store records when it finds an item expired.
//! One task per bucket serves all of the bucket's indexes:
//!
//! 1. it waits for the store's warmup, subscribes to the feed and
//!    bulk-loads every index from a backfill scan of the whole table
//!    (values ejected to disk are read back from the engine by the scan);
//! 2. it then reads the feed's ring of recent changes in seqno order:
//!    a mutation is an `upsert` of the new value (which also drops an item
//!    whose new value has no geometry), a delete a `remove`, a flush a
//!    `clear`; a reader the ring lapped ([`store::Lagged`]) backfills the
//!    changes it missed and goes on;
//! 3. after each pass it publishes the seqno it has applied, and sleeps
//!    until a query asks it to catch up, a group commit happens, or
//!    [`TICK`] passes.
//!
//! The feed's ring is filled as each change gets its seqno, before the
//! change is durable, so the index shows what a GET shows (a write-behind
//! write included); no query waits for the disk.
//!
//! # Read-your-writes
//!
//! A query (without `stale=ok`) takes the store's high seqno, wakes the
//! task and waits until the task has applied at least that seqno. A write
//! whose reply a client has seen has a seqno no higher, so the query sees
//! it. The wait is bounded by [`CATCH_UP`]: past it (during a rebuild of a
//! large index, say) the query gets `503` with a JSON error.
//!
//! # Expiry
//!
//! An expired item stays indexed until the store notices (its purge pass,
//! or a read of the key) and records the delete. Rows are therefore looked
//! up in the store as they are rendered ([`Store::peek`], which counts no
//! GET and removes an item it finds expired): a key with no live item is
//! left out and the page is filled from further rows
//! ([`geo_index::couch::respond_live`]). The row's `value` is the item's
//! current value. `count=true` comes from the index alone and may include
//! expired items not yet purged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use geo_index::couch::{self, CouchError};
use geo_index::{GeoIndex, IndexSpec};
use store::feed::{Change, ChangeKind};
use store::{Store, Subscription};
use tokio::sync::{Notify, watch};

use crate::Shared;

/// Longest a query waits for its bucket's indexes to catch up.
pub(crate) const CATCH_UP: Duration = Duration::from_secs(5);

/// How often an idle follower looks at the feed without being asked (keeps
/// it near the head, so the ring rarely laps it).
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// Changes read from the ring at a time; the task yields between batches.
const READ_BATCH: usize = 512;

/// One bucket's indexes and how far they have followed the feed.
pub(crate) struct BucketIndexes {
    store: Store,
    indexes: BTreeMap<String, Arc<GeoIndex>>,
    /// The highest seqno applied to every index; `None` until the first
    /// bulk load is done.
    applied: watch::Sender<Option<u64>>,
    /// Wakes the follower: a query wants it to catch up.
    kick: Notify,
    /// Set once the first bulk load is done.
    ready: AtomicBool,
    /// How long the last full build took (backfill scan and bulk load).
    build_micros: AtomicU64,
    /// Full builds done (the first one, and any after a FLUSH the follower
    /// missed).
    builds: AtomicU64,
    /// Delta backfills after the ring lapped the follower.
    catch_ups: AtomicU64,
}

/// Every bucket's geo indexes.
#[derive(Default)]
pub(crate) struct Geo {
    buckets: BTreeMap<String, Arc<BucketIndexes>>,
}

/// A query could not be answered; the JSON error and its status.
type Reply = (u16, Vec<u8>);

impl Geo {
    /// Empty indexes for every bucket and spec (followers start with
    /// [`start`]).
    pub(crate) fn new(buckets: &crate::Buckets, specs: &[IndexSpec]) -> Geo {
        if specs.is_empty() {
            return Geo::default();
        }
        let buckets = buckets
            .iter()
            .map(|(name, store)| {
                let indexes = specs
                    .iter()
                    .map(|spec| (spec.name().to_owned(), Arc::new(GeoIndex::new(spec.clone()))))
                    .collect();
                let bucket = BucketIndexes {
                    store: store.clone(),
                    indexes,
                    applied: watch::channel(None).0,
                    kick: Notify::new(),
                    ready: AtomicBool::new(false),
                    build_micros: AtomicU64::new(0),
                    builds: AtomicU64::new(0),
                    catch_ups: AtomicU64::new(0),
                };
                (name.to_owned(), Arc::new(bucket))
            })
            .collect();
        Geo { buckets }
    }

    /// Every bucket's indexes, by bucket name.
    pub(crate) fn buckets(&self) -> impl Iterator<Item = (&str, &BucketIndexes)> {
        self.buckets.iter().map(|(k, v)| (k.as_str(), v.as_ref()))
    }

    /// Answers `GET /<bucket>/_spatial/<index>?<query>`: a status and a
    /// JSON body.
    pub(crate) async fn query(&self, bucket: &str, index: &str, query: &str) -> Reply {
        let Some(b) = self.buckets.get(bucket) else {
            let e = CouchError::not_found(format!("no bucket {bucket:?} with geo indexes"));
            return (e.status(), e.body());
        };
        let Some(idx) = b.indexes.get(index) else {
            let e = CouchError::not_found(format!("no geo index {index:?} in bucket {bucket:?}"));
            return (e.status(), e.body());
        };
        let parsed = match couch::parse_query(query) {
            Ok(q) => q,
            Err(e) => {
                let e = CouchError::from(&e);
                return (e.status(), e.body());
            }
        };
        if !couch::stale_ok(query) && !b.catch_up(CATCH_UP).await {
            let e = CouchError::new(
                503,
                "timeout",
                format!(
                    "geo indexes of bucket {bucket:?} did not catch up with the latest writes within {} s; retry, or pass stale=ok",
                    CATCH_UP.as_secs()
                ),
            );
            return (e.status(), e.body());
        }
        let store = &b.store;
        couch::respond_live(idx, &parsed, |key| store.peek(key).map(|hit| hit.value.to_bytes()))
    }
}

impl BucketIndexes {
    /// The bucket's indexes, by name.
    pub(crate) fn indexes(&self) -> impl Iterator<Item = (&str, &GeoIndex)> {
        self.indexes.iter().map(|(k, v)| (k.as_str(), v.as_ref()))
    }

    /// Whether the first bulk load is done.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Seconds the last full build took.
    pub(crate) fn build_seconds(&self) -> f64 {
        // Exact enough for a gauge: micros fit f64's mantissa for 285 years.
        #[allow(clippy::cast_precision_loss)]
        let micros = self.build_micros.load(Ordering::Relaxed) as f64;
        micros / 1e6
    }

    /// Full builds and delta catch-ups done so far.
    pub(crate) fn rebuilds(&self) -> (u64, u64) {
        (self.builds.load(Ordering::Relaxed), self.catch_ups.load(Ordering::Relaxed))
    }

    /// Waits until every change made before the call is applied to the
    /// bucket's indexes; `false` when `timeout` passes first.
    async fn catch_up(&self, timeout: Duration) -> bool {
        let target = self.store.high_seqno();
        let mut rx = self.applied.subscribe();
        let done = |applied: &Option<u64>| applied.is_some_and(|a| a >= target);
        if done(&rx.borrow_and_update()) {
            return true;
        }
        self.kick.notify_one();
        matches!(tokio::time::timeout(timeout, rx.wait_for(done)).await, Ok(Ok(_)))
    }
}

/// Starts one follower task per bucket on the current runtime; each ends
/// when the server shuts down.
pub(crate) fn start(shared: &Arc<Shared>) {
    for (name, bucket) in &shared.geo.buckets {
        let (name, bucket, shared) = (name.clone(), Arc::clone(bucket), Arc::clone(shared));
        tokio::spawn(async move {
            let stop = shared.shutdown.listen();
            tokio::select! {
                () = follow(&name, &bucket) => {}
                () = stop.notified() => {}
            }
        });
    }
}

/// The follower: build, then apply the ring's changes forever.
async fn follow(name: &str, bucket: &Arc<BucketIndexes>) {
    let store = bucket.store.clone();
    store.wait_warm().await;
    let started = Instant::now();
    let sub = Arc::new(store.subscribe());
    let Some(mut cursor) = backfill(bucket, &sub, 0).await else { return };
    bucket.ready.store(true, Ordering::Release);
    bucket.applied.send_replace(Some(cursor));
    let points: usize = bucket.indexes.values().map(|i| i.len()).sum();
    tracing::info!(
        bucket = name,
        indexes = bucket.indexes.len(),
        points,
        millis = started.elapsed().as_millis(),
        "geo indexes ready"
    );
    let mut persisted = store.persisted_watch();
    let mut batch = Vec::with_capacity(READ_BATCH);
    loop {
        // Every change up to `upto` is in the ring (seqnos are handed out
        // and pushed under one lock), so once the reads below come back
        // short, everything up to `upto` is applied.
        let upto = store.high_seqno();
        loop {
            batch.clear();
            if let Err(lag) = sub.read(cursor, upto, READ_BATCH, &mut batch) {
                tracing::debug!(bucket = name, %lag, "geo index follower lapped; backfilling");
                bucket.catch_ups.fetch_add(1, Ordering::Relaxed);
                match backfill(bucket, &sub, cursor).await {
                    Some(c) => cursor = c,
                    None => return,
                }
                continue;
            }
            for change in &batch {
                apply(bucket, change);
            }
            if let Some(last) = batch.last() {
                cursor = last.seqno;
            }
            if batch.len() < READ_BATCH {
                break;
            }
            tokio::task::yield_now().await;
        }
        cursor = cursor.max(upto);
        bucket.applied.send_replace(Some(cursor));
        tokio::select! {
            () = bucket.kick.notified() => {}
            changed = persisted.changed() => {
                if changed.is_err() {
                    return; // the store closed
                }
            }
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Applies one live change to every index of the bucket.
fn apply(bucket: &BucketIndexes, change: &Change) {
    match &change.kind {
        ChangeKind::Mutation(item) => {
            let value = item.value.to_bytes();
            for index in bucket.indexes.values() {
                index.upsert(&change.key, &value);
            }
        }
        ChangeKind::Delete => {
            for index in bucket.indexes.values() {
                index.remove(&change.key);
            }
        }
        ChangeKind::Flush => {
            for index in bucket.indexes.values() {
                index.clear();
            }
        }
    }
}

/// Brings the indexes up to date with the changes after `since` by a
/// backfill scan, off the runtime (the scan reads ejected values from the
/// engine, and bulk loads take a while): a full build (bulk load) when
/// `since` is 0 or the store cannot give a delta (a FLUSH or a purge of
/// tombstones since), else the delta applied change by change. Returns
/// the seqno every index has reached; `None` if the blocking task died.
async fn backfill(bucket: &Arc<BucketIndexes>, sub: &Arc<Subscription>, since: u64) -> Option<u64> {
    let (bucket, sub) = (Arc::clone(bucket), Arc::clone(sub));
    let task = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let plan = sub.backfill(since);
        let mut changes = Vec::new();
        for shard in 0..sub.shards() {
            sub.scan(shard, &plan, b"", &mut changes);
        }
        if plan.since == 0 {
            let items: Vec<(Bytes, Bytes)> = changes
                .into_iter()
                .filter_map(|c| match c.kind {
                    ChangeKind::Mutation(item) => Some((c.key, item.value.to_bytes())),
                    ChangeKind::Delete | ChangeKind::Flush => None,
                })
                .collect();
            for index in bucket.indexes.values() {
                index.bulk_load(items.iter().map(|(k, v)| (k, v)));
            }
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            bucket.build_micros.store(micros, Ordering::Relaxed);
            bucket.builds.fetch_add(1, Ordering::Relaxed);
        } else {
            // One version per key, each at most `plan.upto`: order does
            // not matter.
            for change in &changes {
                apply(&bucket, change);
            }
        }
        plan.upto
    });
    match task.await {
        Ok(upto) => Some(upto),
        Err(e) => {
            tracing::error!(error = &e as &dyn std::error::Error, "geo index backfill failed");
            None
        }
    }
}
