//! The TAP producer: after a `TAP_CONNECT` the connection streams the
//! store's changes out as TAP events (spec §10) until the consumer leaves.
//!
//! A stream reads the store's change feed ([`store::feed`]): a backfill
//! (a table scan bracketed by the `TAP_OPAQUE` codes
//! `INITIAL_VBUCKET_STREAM` and `CLOSE_BACKFILL`) from the consumer's starting point, then the ring of
//! live changes in seqno order. Only changes that are already durable are
//! sent, so a mirror never holds what the source could still lose in a
//! crash. A consumer that falls further behind than the ring reaches gets
//! a new backfill from its cursor instead of growing the server's memory.
//!
//! With `SUPPORT_ACK` every [`ACK_INTERVAL`]th event, and the last one before
//! the stream goes idle, asks for an ack; at most [`ACK_WINDOW`] such
//! requests are outstanding, and a consumer that does not ack within
//! [`ACK_GRACE`] is disconnected. A NACK restarts the stream from the last
//! acked point. With `REGISTERED_CLIENT` the position (the seqno of the last
//! acked event, or the last written one without acks) is stored with the
//! store's next group commit and a reconnect under the same name resumes
//! there.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use filter::{Filter, KeyRanges};
use memcache::binary::tap::{EventFlags, TapConnect, TapFlags, opaque};
use memcache::binary::{HEADER_LEN, Header, Magic, Opcode, Reply, Status};
use store::{Backfill, Change, ChangeKind, Store, Subscription};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::Shared;
use crate::functions::BucketLua;
use crate::out::Out;
use crate::select::{Action, Copy, Selection, Selector};
use crate::socket::Socket;

/// Events between two ack requests.
pub(crate) const ACK_INTERVAL: u32 = 256;
/// Ack requests that may be outstanding before the stream pauses.
pub(crate) const ACK_WINDOW: usize = 16;
/// How long a paused stream waits for an ack before it disconnects.
pub(crate) const ACK_GRACE: Duration = Duration::from_secs(60);
/// NOOP keep-alive interval on an idle stream.
const KEEPALIVE: Duration = Duration::from_secs(20);
/// Changes read from the ring at a time.
const READ_BATCH: usize = 1024;
/// How long a range backfill waits for the engine to hold its snapshot
/// before it scans the memory table instead.
const ENGINE_WAIT: Duration = Duration::from_secs(2);
/// Shard scans of a filtered backfill running ahead of the one being sent.
const SCANS_AHEAD: usize = 2;
/// Flush the output once this much is queued.
const OUT_HIGH: usize = 1024 * 1024;

/// What `stats tap` shows about one stream.
#[derive(Debug, Default)]
pub(crate) struct TapStats {
    pub(crate) name: String,
    pub(crate) peer: String,
    /// The stream's filter (canonical text; empty: none).
    pub(crate) filter: String,
    pub(crate) events_sent: AtomicU64,
    pub(crate) backfills: AtomicU64,
    /// Times the ring lapped the stream (in a backfill's catch-up or live).
    pub(crate) laps: AtomicU64,
    pub(crate) cursor: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) acks_pending: AtomicU64,
}

/// How a stream was asked for.
struct Options {
    name: Vec<u8>,
    dump: bool,
    ack: bool,
    keys_only: bool,
    seqno_meta: bool,
    registered: bool,
    /// `KEY_PREFIX` and `FILTER`, as one filter.
    filter: Selector,
    /// `FILTER` was asked: confirm it first.
    confirm_filter: bool,
}

/// Longest filter text accepted.
const MAX_FILTER: usize = 4096;

/// `KEY_PREFIX` and `FILTER` as one filter (`None`: everything). FILTER
/// is parsed on its own (its errors point into its own text); a prefix is
/// joined to it as `prefix:P and (FILTER)`.
fn filter_of(t: &TapConnect, lua: &BucketLua) -> Result<Selector, String> {
    let expr = match &t.filter {
        Some(expr) if expr.len() > MAX_FILTER => {
            return Err(format!("filter of {} bytes; at most {MAX_FILTER}", expr.len()));
        }
        Some(expr) => Some(Filter::parse(expr).map_err(|e| e.to_string())?),
        None => None,
    };
    let prefix = t.key_prefix.as_deref().filter(|p| !p.is_empty());
    let too_large = |e| format!("KEY_PREFIX and FILTER together are too large: {e}");
    let filter = match (prefix, expr) {
        (None, None) => return Ok(None),
        (None, Some(f)) => f,
        (Some(prefix), None) => Filter::prefix(prefix).map_err(too_large)?,
        (Some(prefix), Some(f)) => {
            Filter::prefix(prefix).and_then(|p| p.and(&f)).map_err(too_large)?
        }
    };
    let snapshot = lua.runtime.libraries().snapshot();
    if let Some(missing) = filter.lua_functions().into_iter().find(|f| snapshot.owner(f).is_none())
    {
        return Err(format!("filter: no Lua function {missing} (load its library first)"));
    }
    Ok(Some(Arc::new(filter)))
}

/// Checks a `TAP_CONNECT`; the error text goes back with `EINVAL`.
fn validate(t: &TapConnect, lua: &BucketLua) -> Result<Options, String> {
    let unknown = t.flags.0 & !TapFlags::KNOWN.0;
    if unknown != 0 {
        return Err(format!("unsupported TAP flags 0x{unknown:x}"));
    }
    if t.flags.contains(TapFlags::TAKEOVER_VBUCKETS) {
        return Err("TAKEOVER_VBUCKETS is not supported (one vbucket, no rebalance)".into());
    }
    if t.flags.contains(TapFlags::CHECKPOINT) {
        return Err("CHECKPOINT is not supported; use REGISTERED_CLIENT to resume".into());
    }
    if let Some(vb) = t.vbuckets.iter().find(|&&vb| vb != 0) {
        return Err(format!("no vbucket {vb}: this server has vbucket 0 only"));
    }
    let registered = t.flags.contains(TapFlags::REGISTERED_CLIENT);
    if registered && t.name.is_empty() {
        return Err("REGISTERED_CLIENT needs a name".into());
    }
    Ok(Options {
        name: t.name.to_vec(),
        dump: t.flags.contains(TapFlags::DUMP),
        ack: t.flags.contains(TapFlags::SUPPORT_ACK),
        keys_only: t.flags.contains(TapFlags::KEYS_ONLY),
        seqno_meta: t.flags.contains(TapFlags::SEQNO_META),
        registered,
        filter: filter_of(t, lua)?,
        confirm_filter: t.flags.contains(TapFlags::FILTER),
    })
}

/// Where the stream starts (`None` for live only, else "after this
/// seqno") and what the consumer's copy holds then (see [`crate::select`]).
fn start(t: &TapConnect, o: &Options, store: &Store) -> (Option<u64>, Option<Copy>) {
    let same = |upto: u64| (upto > 0).then(|| Copy::exact(o.filter.clone(), upto));
    if o.dump {
        return (Some(0), None);
    }
    if o.registered
        && let Some(cursor) = store.cursor(&o.name)
    {
        // The copy is what the stream that moved the cursor recorded; a
        // cursor with no record (from before filters) was made with the
        // filter asked for now. Even at 0 the copy may hold something (a
        // first backfill that did not finish).
        let copy = match store.cursor_filter(&o.name) {
            Some(text) => Copy::from_stored(&text, cursor),
            None => Copy::exact(o.filter.clone(), cursor),
        };
        return (Some(cursor), Some(copy));
    }
    if let Some(seqno) = t.since_seqno {
        return (Some(seqno), same(seqno));
    }
    match t.backfill {
        Some(u64::MAX) => (None, same(store.high_seqno())),
        Some(time) => {
            let since = store.seqno_since_time(time);
            (Some(since), same(since))
        }
        None => (Some(0), None),
    }
}

/// Serves a TAP stream on `socket` until the consumer goes, the stream ends
/// (DUMP) or the server shuts down. `input` holds bytes that followed the
/// `TAP_CONNECT`.
pub(crate) async fn produce(
    shared: &Shared,
    store: Store,
    socket: Socket,
    peer: &str,
    input: BytesMut,
    (connect, connect_opaque): (TapConnect, u32),
    lua: Arc<BucketLua>,
) -> std::io::Result<()> {
    let (reader, mut writer) = socket.split();
    // Filters may name Lua functions: the stored libraries must be back.
    if connect.filter.is_some() {
        lua.wait_ready().await;
    }
    let options = match validate(&connect, &lua) {
        Ok(o) => o,
        Err(text) => {
            tracing::debug!(%peer, %text, "TAP_CONNECT refused");
            let mut out = BytesMut::new();
            Reply::new(Opcode::TAP_CONNECT, connect_opaque).with_value(
                &mut out,
                Status::EINVAL,
                0,
                text.as_bytes(),
            );
            let mut queued = Out::default();
            queued.buf = out;
            queued.flush(&mut writer).await?;
            let grace = shared.config.write_timeout;
            let _ = tokio::time::timeout(grace, writer.shutdown()).await;
            return Ok(());
        }
    };
    let stats = Arc::new(TapStats {
        name: String::from_utf8_lossy(&options.name).into_owned(),
        peer: peer.to_owned(),
        filter: options.filter.as_ref().map(|f| f.text().to_string()).unwrap_or_default(),
        ..TapStats::default()
    });
    let id = shared.taps.register(Arc::clone(&stats));
    // A backfill scans the memory table: it needs every item loaded.
    store.wait_warm().await;
    let (start, copy) = start(&connect, &options, &store);
    let selection = Selection::new(options.filter.clone(), copy, Some(lua));
    tracing::info!(
        %peer,
        name = %stats.name,
        dump = options.dump,
        ack = options.ack,
        start = ?start,
        filter = %selection.text(),
        "TAP stream started"
    );
    let mut stream = Stream {
        sub: Arc::new(store.subscribe()),
        store,
        options,
        selection,
        close_mark: None,
        out: Out::default(),
        next_opaque: 1,
        since_ack: 0,
        pending: VecDeque::new(),
        acked: start.unwrap_or(0),
        written: 0,
        unpublished: 0,
        stats: Arc::clone(&stats),
        reader,
        input,
    };
    let shutdown = shared.shutdown.listen();
    let result = tokio::select! {
        r = stream.run(start, &mut writer) => r,
        () = shutdown.notified() => Ok(()),
    };
    shared.taps.unregister(id);
    if result.is_ok() {
        // TLS: close_notify, so the consumer sees the end, not a cut (not
        // waiting for a consumer that stopped reading).
        let grace = shared.config.write_timeout;
        let _ = tokio::time::timeout(grace, writer.shutdown()).await;
    }
    tracing::info!(
        %peer,
        name = %stats.name,
        events = stats.events_sent.load(Ordering::Relaxed),
        cursor = stats.cursor.load(Ordering::Relaxed),
        "TAP stream ended"
    );
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(()),
        other => other,
    }
}

struct Stream {
    store: Store,
    sub: Arc<Subscription>,
    options: Options,
    selection: Selection,
    /// The opaque of the last `CLOSE_BACKFILL` sent (0 for a live-only
    /// start): once the consumer has it (acked, or written without acks),
    /// a registered cursor records the copy as exactly this stream's
    /// filter.
    close_mark: Option<u32>,
    out: Out,
    next_opaque: u32,
    since_ack: u32,
    /// Ack requests sent and not answered: (opaque, cursor it confirms).
    pending: VecDeque<(u32, u64)>,
    /// The cursor confirmed by the last ack.
    acked: u64,
    /// The cursor of the last event written.
    written: u64,
    /// Events queued since the last update of `stats.events_sent`.
    unpublished: u64,
    stats: Arc<TapStats>,
    reader: Box<dyn AsyncRead + Unpin + Send>,
    input: BytesMut,
}

/// Why the stream has to start over.
enum Restart {
    /// The consumer sent a NACK: resend from the last acked point.
    Nack,
}

impl Stream {
    async fn run<W: AsyncWrite + Unpin>(
        &mut self,
        start: Option<u64>,
        w: &mut W,
    ) -> std::io::Result<()> {
        if self.options.confirm_filter {
            let text = self.selection.text();
            self.control_with(opaque::FILTER_ACCEPTED, false, text.as_bytes());
        }
        if self.options.ack {
            self.control(opaque::ENABLE_AUTO_NACK, false);
        }
        let mut cursor = if let Some(since) = start {
            self.backfill(since, w).await?
        } else {
            let at = self.sub.snapshot();
            self.close_mark = Some(0);
            at
        };
        if self.options.dump {
            self.control(opaque::CLOSE_TAP_STREAM, self.options.ack);
            self.flush(w).await?;
            if self.options.ack {
                // Let the consumer confirm the end before the close.
                let _ = tokio::time::timeout(ACK_GRACE, self.wait_acks(0)).await;
            }
            return Ok(());
        }
        let mut persisted = self.store.persisted_watch();
        let mut batch = Vec::with_capacity(READ_BATCH);
        loop {
            let durable = persisted.borrow_and_update().seqno;
            batch.clear();
            match self.sub.read(cursor, durable, READ_BATCH, &mut batch) {
                Ok(()) => {}
                Err(lag) => {
                    self.stats.laps.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(name = %self.stats.name, %lag, "TAP consumer lapped; backfilling");
                    cursor = self.backfill(cursor, w).await?;
                    continue;
                }
            }
            let idle = batch.len() < READ_BATCH;
            let count = batch.len();
            for (i, change) in batch.drain(..).enumerate() {
                cursor = change.seqno;
                self.select(&change, change.seqno, false, idle && i + 1 == count).await;
                if self.out.len() >= OUT_HIGH {
                    self.flush(w).await?;
                }
                if self.pending.len() >= ACK_WINDOW {
                    self.flush(w).await?;
                    match self.wait_acks(ACK_WINDOW - 1).await? {
                        Some(Restart::Nack) => {
                            self.selection.restarted(self.acked);
                            cursor = self.backfill(self.acked, w).await?;
                            break;
                        }
                        None => {}
                    }
                }
            }
            self.flush(w).await?;
            if !idle {
                continue;
            }
            // Idle: wait for a commit, an ack, or the keep-alive.
            tokio::select! {
                changed = persisted.changed() => {
                    if changed.is_err() {
                        return Ok(()); // the store closed
                    }
                }
                read = self.reader.read_buf(&mut self.input) => {
                    if read? == 0 {
                        return Ok(());
                    }
                    if let Some(Restart::Nack) = self.take_acks()? {
                        self.selection.restarted(self.acked);
                        cursor = self.backfill(self.acked, w).await?;
                    }
                }
                () = tokio::time::sleep(KEEPALIVE) => {
                    Header::request(Opcode::NOOP, 0, 0, 0).put(&mut self.out.buf);
                    self.flush(w).await?;
                }
            }
        }
    }

    /// Sends the changes after `since` as a backfill and returns the cursor
    /// it reaches (every change up to it is then sent).
    async fn backfill<W: AsyncWrite + Unpin>(
        &mut self,
        since: u64,
        w: &mut W,
    ) -> std::io::Result<u64> {
        self.stats.backfills.fetch_add(1, Ordering::Relaxed);
        'again: loop {
            self.control(opaque::INITIAL_VBUCKET_STREAM, false);
            // Pass after pass: a full scan from `since`, then, whenever the
            // ring lapped us meanwhile, a delta scan from where we got to
            // (shorter each time), until the ring covers the rest.
            let mut from = since;
            let mut first = true;
            let end = loop {
                let mut plan = if self.selection.has_copy() {
                    self.sub.backfill_held(from)
                } else {
                    self.sub.backfill(from)
                };
                // Only durable state goes out.
                self.store.wait_persisted(plan.upto).await;
                if plan.flush_first {
                    self.event(Opcode::TAP_FLUSH, 8, &[], None, since, EventFlags::default(), 0);
                    self.selection.emptied();
                } else if first && self.selection.changes_filter() {
                    // Another filter made the copy: every item is looked at.
                    plan.since = 0;
                }
                if first && self.options.registered {
                    // Before anything is sent (durably, so a crash of this
                    // server cannot lose it): the copy may now hold this
                    // stream's items too, so a connection that does not see
                    // this backfill through converges again. A resume with
                    // the filter already recorded has nothing to add.
                    let record = self.selection.widened().stored();
                    let stored = self.store.cursor_filter(&self.options.name);
                    if stored.as_deref() != Some(record.as_bytes()) {
                        let at = self.record_copy(since, &record);
                        self.store.wait_persisted(at).await;
                    }
                }
                let passed = if let Some(ranges) = self.selection.ranges() {
                    self.scan_ranges(&plan, &ranges, since, first, w).await?
                } else {
                    self.scan_table(&plan, since, first, w).await?
                };
                if passed.is_some() {
                    self.selection.restarted(self.acked);
                    continue 'again;
                }
                first = false;
                // Catch up through the ring to a durable point, so the
                // backfill ends on a consistent snapshot (what DUMP
                // promises).
                let end = self.store.high_seqno();
                self.store.wait_persisted(end).await;
                let mut cursor = plan.upto;
                let mut batch = Vec::new();
                let lapped = loop {
                    batch.clear();
                    if self.sub.read(cursor, end, READ_BATCH, &mut batch).is_err() {
                        break true;
                    }
                    let Some(last) = batch.last() else { break false };
                    cursor = last.seqno;
                    for change in &batch {
                        if let Some(Restart::Nack) = self.send(change, since, false, w).await? {
                            self.selection.restarted(self.acked);
                            continue 'again;
                        }
                    }
                };
                if !lapped {
                    break end;
                }
                self.stats.laps.fetch_add(1, Ordering::Relaxed);
                from = cursor;
            };
            // CLOSE_BACKFILL confirms the whole snapshot.
            self.written = self.written.max(end);
            self.selection.copied(end);
            self.close_mark = Some(self.control(opaque::CLOSE_BACKFILL, self.options.ack));
            self.flush(w).await?;
            return Ok(end);
        }
    }

    /// A backfill pass over the memory table, shard by shard, scanned on
    /// blocking threads while the previous shard is sent. With a filter two
    /// shards are scanned ahead, so a selective filter uses the machine's
    /// cores; without one a shard's copy is large, and one scan runs ahead.
    async fn scan_table<W: AsyncWrite + Unpin>(
        &mut self,
        plan: &Backfill,
        since: u64,
        first: bool,
        w: &mut W,
    ) -> std::io::Result<Option<Restart>> {
        let shards = self.sub.shards();
        let ahead = if self.selection.takes_everything() { 1 } else { SCANS_AHEAD };
        let (sub, selection, plan) = (Arc::clone(&self.sub), self.selection.clone(), *plan);
        let scan = |shard: usize| {
            let (sub, selection) = (Arc::clone(&sub), selection.clone());
            tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                sub.scan_selected(shard, &plan, &mut |c| selection.keep(c, first), &mut out);
                out
            })
        };
        let mut running = VecDeque::new();
        let mut next = 0;
        while next < shards.min(ahead) {
            running.push_back(scan(next));
            next += 1;
        }
        while let Some(handle) = running.pop_front() {
            let scanned = handle.await.map_err(std::io::Error::other)?;
            if next < shards {
                running.push_back(scan(next));
                next += 1;
            }
            for change in &scanned {
                // Backfill order is not seqno order: the cursor moves only
                // when the backfill is complete.
                if let Some(restart) = self.send(change, since, first, w).await? {
                    return Ok(Some(restart));
                }
            }
        }
        Ok(None)
    }

    /// A backfill pass over the filter's key ranges, read from the engine in
    /// key order: it costs what the ranges hold.
    async fn scan_ranges<W: AsyncWrite + Unpin>(
        &mut self,
        plan: &Backfill,
        ranges: &KeyRanges,
        since: u64,
        first: bool,
        w: &mut W,
    ) -> std::io::Result<Option<Restart>> {
        let waited = std::time::Instant::now();
        while !self.sub.engine_holds(plan.upto) {
            if waited.elapsed() > ENGINE_WAIT {
                // The engine lags (a slow disk): the memory table has it all.
                tracing::debug!(name = %self.stats.name, "engine behind; scanning the table instead");
                return self.scan_table(plan, since, first, w).await;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for (start, end) in ranges {
            let end = end.map(Bytes::copy_from_slice);
            let mut from = Bytes::copy_from_slice(start);
            loop {
                // The engine is read on a blocking thread, not the worker.
                let (sub, plan, end) = (Arc::clone(&self.sub), *plan, end.clone());
                let (scanned, next) = tokio::task::spawn_blocking(move || {
                    let mut scanned = Vec::new();
                    let next =
                        sub.scan_range(&plan, &from, end.as_deref(), READ_BATCH, &mut scanned);
                    next.map(|next| (scanned, next))
                })
                .await
                .map_err(std::io::Error::other)?
                .map_err(std::io::Error::other)?;
                for change in &scanned {
                    if let Some(restart) = self.send(change, since, first, w).await? {
                        return Ok(Some(restart));
                    }
                }
                match next {
                    Some(key) => from = key,
                    None => break,
                }
            }
        }
        Ok(None)
    }

    /// Queues a backfill change, flushing and waiting for acks as needed.
    /// `scanned`: it comes from the first pass of a scan.
    async fn send<W: AsyncWrite + Unpin>(
        &mut self,
        change: &Change,
        cursor: u64,
        scanned: bool,
        w: &mut W,
    ) -> std::io::Result<Option<Restart>> {
        self.select(change, cursor, scanned, false).await;
        if self.out.len() >= OUT_HIGH {
            self.flush(w).await?;
        }
        if self.pending.len() >= ACK_WINDOW {
            self.flush(w).await?;
            return self.wait_acks(ACK_WINDOW - 1).await;
        }
        Ok(None)
    }

    /// Queues what the filter makes of `change`: the change, a delete of
    /// its key, or nothing (the cursor still moves past it).
    async fn select(&mut self, change: &Change, cursor: u64, scanned: bool, ask_ack: bool) {
        match self.selection.action(change, scanned).await {
            Action::Send => self.change(change, cursor, ask_ack),
            Action::Delete => {
                let delete = Change {
                    seqno: change.seqno,
                    key: change.key.clone(),
                    kind: ChangeKind::Delete,
                };
                self.change(&delete, cursor, ask_ack);
            }
            Action::Skip => self.written = self.written.max(cursor),
        }
    }

    /// Queues one change as an event; `cursor` is what an ack of it
    /// confirms.
    fn change(&mut self, change: &Change, cursor: u64, ask_ack: bool) {
        let meta = self.options.seqno_meta.then_some(change.seqno);
        match &change.kind {
            ChangeKind::Mutation(item) => {
                let mut flags = EventFlags::NETWORK_BYTE_ORDER;
                if self.options.keys_only {
                    flags = flags | EventFlags::NO_VALUE;
                }
                let ask = self.ask_ack(ask_ack);
                if ask {
                    flags = flags | EventFlags::ACK;
                }
                let value_len = if self.options.keys_only { 0 } else { item.value.len() as usize };
                let mut extras = [0u8; 8];
                extras[..4].copy_from_slice(&item.flags.to_be_bytes());
                extras[4..].copy_from_slice(&item.exptime.to_be_bytes());
                let opaque = self.header(
                    Opcode::TAP_MUTATION,
                    16,
                    &change.key,
                    meta,
                    value_len,
                    flags,
                    item.cas,
                );
                self.out.buf.extend_from_slice(&extras);
                self.key_after_meta(&change.key, meta);
                if !self.options.keys_only {
                    self.out.value(&item.value);
                }
                self.sent(opaque, cursor, ask);
            }
            ChangeKind::Delete => {
                let ask = self.ask_ack(ask_ack);
                let flags = if ask { EventFlags::ACK } else { EventFlags::default() };
                self.event(Opcode::TAP_DELETE, 8, &change.key, meta, cursor, flags, 0);
            }
            ChangeKind::Flush => {
                let ask = self.ask_ack(ask_ack);
                let flags = if ask { EventFlags::ACK } else { EventFlags::default() };
                self.event(Opcode::TAP_FLUSH, 8, &[], None, cursor, flags, 0);
            }
        }
    }

    /// Whether the next event asks for an ack.
    fn ask_ack(&mut self, last_before_idle: bool) -> bool {
        if !self.options.ack {
            return false;
        }
        self.since_ack += 1;
        if self.since_ack >= ACK_INTERVAL || last_before_idle {
            self.since_ack = 0;
            true
        } else {
            false
        }
    }

    /// Queues an event without a value (extras 8, or 16 zeroed for none).
    #[expect(clippy::too_many_arguments, reason = "one call per event kind, all fields differ")]
    fn event(
        &mut self,
        op: Opcode,
        extras_len: u8,
        key: &[u8],
        meta: Option<u64>,
        cursor: u64,
        flags: EventFlags,
        cas: u64,
    ) {
        let ask = flags.contains(EventFlags::ACK);
        let opaque = self.header(op, extras_len, key, meta, 0, flags, cas);
        self.key_after_meta(key, meta);
        self.sent(opaque, cursor, ask);
    }

    /// A `TAP_OPAQUE` control event (engine-private = the code); returns
    /// its opaque.
    fn control(&mut self, code: u32, ask: bool) -> u32 {
        self.control_with(code, ask, &[])
    }

    /// A `TAP_OPAQUE` control event with a value; returns its opaque.
    fn control_with(&mut self, code: u32, ask: bool, value: &[u8]) -> u32 {
        let flags = if ask { EventFlags::ACK } else { EventFlags::default() };
        let opaque = self.next_opaque();
        let body = u32::try_from(8 + 4 + value.len()).unwrap_or(u32::MAX);
        let mut h = Header::request(Opcode::TAP_OPAQUE, 8, 0, body);
        h.opaque = opaque;
        h.put(&mut self.out.buf);
        self.out.buf.extend_from_slice(&4u16.to_be_bytes());
        self.out.buf.extend_from_slice(&flags.0.to_be_bytes());
        self.out.buf.extend_from_slice(&[255, 0, 0, 0]);
        self.out.buf.extend_from_slice(&code.to_be_bytes());
        self.out.buf.extend_from_slice(value);
        let cursor = self.written;
        self.sent(opaque, cursor, ask);
        opaque
    }

    fn next_opaque(&mut self) -> u32 {
        let o = self.next_opaque;
        self.next_opaque = self.next_opaque.wrapping_add(1).max(1);
        o
    }

    /// Writes the header and the common 8 bytes of extras; returns the
    /// event's opaque. The caller adds the rest of the extras (mutations),
    /// then [`Stream::key_after_meta`], then the value.
    #[expect(clippy::too_many_arguments, reason = "the header's fields")]
    fn header(
        &mut self,
        op: Opcode,
        extras_len: u8,
        key: &[u8],
        meta: Option<u64>,
        value_len: usize,
        flags: EventFlags,
        cas: u64,
    ) -> u32 {
        let opaque = self.next_opaque();
        let private = if meta.is_some() { 8u16 } else { 0 };
        let body = usize::from(extras_len) + usize::from(private) + key.len() + value_len;
        let mut h = Header::request(
            op,
            extras_len,
            u16::try_from(key.len()).unwrap_or(u16::MAX),
            u32::try_from(body).unwrap_or(u32::MAX),
        );
        h.opaque = opaque;
        h.cas = cas;
        h.put(&mut self.out.buf);
        self.out.buf.extend_from_slice(&private.to_be_bytes());
        self.out.buf.extend_from_slice(&flags.0.to_be_bytes());
        self.out.buf.extend_from_slice(&[255, 0, 0, 0]);
        opaque
    }

    fn key_after_meta(&mut self, key: &[u8], meta: Option<u64>) {
        if let Some(seqno) = meta {
            self.out.buf.extend_from_slice(&seqno.to_be_bytes());
        }
        self.out.buf.extend_from_slice(key);
    }

    fn sent(&mut self, opaque: u32, cursor: u64, asked: bool) {
        self.written = self.written.max(cursor);
        self.unpublished += 1;
        if asked {
            self.pending.push_back((opaque, cursor));
            self.stats.acks_pending.store(self.pending.len() as u64, Ordering::Relaxed);
        }
    }

    async fn flush<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.out.flush(w).await?;
        self.stats.events_sent.fetch_add(std::mem::take(&mut self.unpublished), Ordering::Relaxed);
        self.stats.cursor.store(self.written, Ordering::Relaxed);
        if self.options.registered && !self.options.ack {
            // Without acks, "written to the socket" is the best we know.
            self.store_cursor(self.written, true);
        }
        Ok(())
    }

    /// Moves the registered cursor; once the consumer has the last
    /// `CLOSE_BACKFILL` (`confirmed`), the copy is recorded as exactly this
    /// stream's filter.
    fn store_cursor(&mut self, seqno: u64, confirmed: bool) {
        if confirmed && self.close_mark.take().is_some() {
            let text = self.selection.text();
            let _ = self.record_copy(seqno, &text);
        } else {
            self.store.set_cursor(&self.options.name, seqno);
        }
    }

    /// Records the registered cursor with what the copy holds; returns the
    /// seqno after which the record is durable.
    fn record_copy(&self, seqno: u64, text: &str) -> u64 {
        self.store.set_cursor_with_filter(&self.options.name, seqno, text.as_bytes())
    }

    /// Reads acks until at most `left` ack requests are pending. Gives up
    /// after [`ACK_GRACE`] without progress.
    async fn wait_acks(&mut self, left: usize) -> std::io::Result<Option<Restart>> {
        while self.pending.len() > left {
            if let Some(restart) = self.take_acks()? {
                return Ok(Some(restart));
            }
            if self.pending.len() <= left {
                break;
            }
            let read = tokio::time::timeout(ACK_GRACE, self.reader.read_buf(&mut self.input)).await;
            match read {
                Err(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("TAP consumer sent no ack for {}s", ACK_GRACE.as_secs()),
                    ));
                }
                Ok(Ok(0)) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(r) => {
                    r?;
                }
            }
        }
        Ok(None)
    }

    /// Applies every complete packet in the input: acks move the cursor,
    /// NACKs ask for a restart; anything else from the consumer is ignored.
    fn take_acks(&mut self) -> std::io::Result<Option<Restart>> {
        let mut restart = None;
        loop {
            if self.input.len() < HEADER_LEN {
                return Ok(restart);
            }
            let Some(Ok(header)) = Header::decode(&self.input[..HEADER_LEN]) else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "TAP consumer sent a packet with a bad magic byte",
                ));
            };
            // Acks have empty bodies; refuse to buffer anything large.
            if header.body_len > 64 * 1024 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("TAP consumer sent a {}-byte body", header.body_len),
                ));
            }
            let total = HEADER_LEN + header.body_len as usize;
            if self.input.len() < total {
                return Ok(restart);
            }
            self.input.advance(total);
            if header.magic != Magic::Response {
                continue;
            }
            let Some(i) = self.pending.iter().position(|&(o, _)| o == header.opaque) else {
                continue;
            };
            if header.vbucket_or_status == Status::SUCCESS.0 {
                let (_, cursor) = self.pending[i];
                // An ack confirms every event before it.
                let confirmed = self.close_mark.is_some_and(|mark| {
                    mark == 0 || self.pending.iter().take(i + 1).any(|&(o, _)| o == mark)
                });
                self.pending.drain(..=i);
                self.acked = self.acked.max(cursor);
                self.stats.acked.store(self.acked, Ordering::Relaxed);
                if self.options.registered {
                    self.store_cursor(self.acked, confirmed);
                }
            } else {
                tracing::debug!(name = %self.stats.name, status = header.vbucket_or_status, "TAP NACK");
                self.pending.clear();
                restart = Some(Restart::Nack);
            }
            self.stats.acks_pending.store(self.pending.len() as u64, Ordering::Relaxed);
        }
    }
}

/// The live TAP streams, for `stats tap`.
#[derive(Default)]
pub(crate) struct Registry {
    /// The last id handed out, and the streams by id.
    streams: std::sync::Mutex<(u64, Streams)>,
}

type Streams = Vec<(u64, Arc<TapStats>)>;

impl Registry {
    fn register(&self, stats: Arc<TapStats>) -> u64 {
        let mut s = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.0 += 1;
        let id = s.0;
        s.1.push((id, stats));
        id
    }

    fn unregister(&self, id: u64) {
        let mut s = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.1.retain(|(i, _)| *i != id);
    }

    /// TAP streams being served now.
    pub(crate) fn streams(&self) -> usize {
        self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1.len()
    }

    /// `stats tap`: one group of lines per stream plus the named cursors.
    pub(crate) fn stats(&self, store: &Store, out: &mut Vec<(String, String)>) {
        let streams = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let high = store.persisted().seqno;
        out.push(("tap_streams".into(), streams.1.len().to_string()));
        for (id, s) in &streams.1 {
            let p = format!("tap_{id}");
            let cursor = s.cursor.load(Ordering::Relaxed);
            out.push((format!("{p}:name"), s.name.clone()));
            out.push((format!("{p}:peer"), s.peer.clone()));
            if !s.filter.is_empty() {
                out.push((format!("{p}:filter"), s.filter.clone()));
            }
            out.push((
                format!("{p}:events_sent"),
                s.events_sent.load(Ordering::Relaxed).to_string(),
            ));
            out.push((format!("{p}:backfills"), s.backfills.load(Ordering::Relaxed).to_string()));
            out.push((format!("{p}:laps"), s.laps.load(Ordering::Relaxed).to_string()));
            out.push((format!("{p}:cursor"), cursor.to_string()));
            out.push((format!("{p}:backlog"), high.saturating_sub(cursor).to_string()));
            out.push((format!("{p}:acked"), s.acked.load(Ordering::Relaxed).to_string()));
            out.push((
                format!("{p}:acks_pending"),
                s.acks_pending.load(Ordering::Relaxed).to_string(),
            ));
        }
        for (name, seqno) in store.cursors() {
            out.push((format!("tap_cursor:{}", String::from_utf8_lossy(&name)), seqno.to_string()));
        }
    }
}
