//! [`rebalance`]: move the keys whose owner changes from the node that
//! holds them to the node that must, and nothing else.
//!
//! The cost follows what moves, not what is stored:
//!
//! 1. **List.** Per source node, a TAP `DUMP` with `KEYS_ONLY`: keys and
//!    metadata, no values. The caller's `route` says, for each key, the
//!    node that holds it now and the node that must hold it after. A key
//!    found on a node that is not its current owner (a stray) is left
//!    alone and counted: copying it could overwrite the owner's newer
//!    version.
//! 2. **Read.** The moving keys, in batches, in one GETKQ pipeline at the
//!    source: value, flags and CAS (expiry from the listing).
//! 3. **Write.** SETQ pipelines to each destination ([`Target`]), closed by
//!    a NOOP; its reply means the writes are processed and, on a mammoth
//!    node in its default mode, durable.
//! 4. **Delete.** Only then, at the source, each key with the CAS it was
//!    read at. A key that changed meanwhile is not deleted: it is read,
//!    written and deleted again, up to `retries` times, then reported. A
//!    key deleted meanwhile is deleted at the destination too, so a move
//!    does not bring it back.
//!
//! A run that stops anywhere leaves every key at its source, at its
//! destination, or at both with the same value; running again finishes the
//! job, and keys already moved are not touched (they are no longer at the
//! source).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use memcache::binary::tap::{TapConnect, TapFlags};

use crate::conn::Endpoint;
use crate::consumer::{Consumer, ConsumerOptions, Item};
use crate::direct::{Deleted, Direct};
use crate::error::Error;
use crate::target::Target;

/// A node taking part: where it is and what to call it in messages.
#[derive(Clone, Debug)]
pub struct Node {
    /// Where it listens.
    pub endpoint: Endpoint,
    /// Its name in reports (`node2`, or its address).
    pub label: String,
}

/// Where a key is and where it must be, as indexes into the node list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Move {
    /// The node that holds it now.
    pub from: usize,
    /// The node that must hold it.
    pub to: usize,
}

/// How a rebalance runs.
#[derive(Clone, Debug)]
pub struct RebalanceOptions {
    /// Keys per read / write / delete round.
    pub batch_keys: usize,
    /// Attempts for a key that changes at its source while it moves (at
    /// least one).
    pub retries: u32,
    /// List and count only; move nothing.
    pub dry_run: bool,
    /// The TAP stream's name on the sources (not registered: no cursor is
    /// kept).
    pub stream_name: String,
}

impl Default for RebalanceOptions {
    fn default() -> RebalanceOptions {
        RebalanceOptions {
            batch_keys: 500,
            retries: 3,
            dry_run: false,
            stream_name: "mammoth-rebalance".into(),
        }
    }
}

/// What a rebalance did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RebalanceStats {
    /// Keys listed, per node (index of the node list).
    pub scanned: Vec<u64>,
    /// Keys whose owner changes, per (from, to): found to move (all of
    /// them, dry run or not).
    pub planned: BTreeMap<Move, u64>,
    /// Keys moved out of each node.
    pub moved_out: Vec<u64>,
    /// Keys moved into each node.
    pub moved_in: Vec<u64>,
    /// Keys found on a node that does not own them under the old
    /// placement; left alone.
    pub strays: u64,
    /// Keys gone from their source (deleted, expired) before they could be
    /// moved.
    pub vanished: u64,
    /// Keys that kept changing at their source, or that a destination
    /// refused: left at the source (first few named).
    pub left: Vec<String>,
    /// How many keys were left.
    pub left_count: u64,
    /// Time taken.
    pub elapsed: Duration,
}

impl RebalanceStats {
    /// Keys scanned on every node.
    pub fn total_scanned(&self) -> u64 {
        self.scanned.iter().sum()
    }

    /// Keys moved.
    pub fn total_moved(&self) -> u64 {
        self.moved_out.iter().sum()
    }

    /// Keys found to move.
    pub fn total_planned(&self) -> u64 {
        self.planned.values().sum()
    }
}

/// What the caller hears while the rebalance runs.
#[derive(Debug)]
pub enum Report<'a> {
    /// Listing a node's keys starts.
    Scanning {
        /// The node's index.
        node: usize,
    },
    /// Keys listed so far on the node being scanned (every 10,000).
    Listed {
        /// The node's index.
        node: usize,
        /// Keys so far.
        keys: u64,
    },
    /// A node's listing is done.
    Scanned {
        /// The node's index.
        node: usize,
        /// Keys on it.
        keys: u64,
        /// Of which must move.
        moving: u64,
    },
    /// A batch moved; the counters so far.
    Moved(&'a RebalanceStats),
}

/// Why a rebalance stopped.
#[derive(Debug)]
pub enum RebalanceError {
    /// Talking to a node failed.
    Node {
        /// The node's label and address.
        node: String,
        /// What was being done (`listing keys`, `reading 500 keys`, …).
        doing: String,
        /// The cause.
        source: Box<Error>,
    },
    /// `route` named a node the list does not have.
    BadRoute {
        /// The key (lossy UTF-8).
        key: String,
        /// The index given.
        index: usize,
    },
    /// The stop flag was set; what was done so far is consistent.
    Stopped(Box<RebalanceStats>),
}

impl std::fmt::Display for RebalanceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RebalanceError::Node { node, doing, .. } => write!(f, "{node}: {doing}"),
            RebalanceError::BadRoute { key, index } => {
                write!(f, "key {key:?} routed to node {index}, which does not exist")
            }
            RebalanceError::Stopped(s) => write!(
                f,
                "stopped after moving {} of {} keys found so far (run again to finish)",
                s.total_moved(),
                s.total_planned()
            ),
        }
    }
}

impl std::error::Error for RebalanceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RebalanceError::Node { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

/// A key to move and the expiry the listing gave it.
struct Candidate {
    key: Bytes,
    expiry: u32,
    to: usize,
}

/// Moves every key of the `sources` nodes whose `route` changes node (see
/// the module docs). `route(key)` gives where the key is and where it must
/// be, as indexes into `nodes`.
///
/// # Errors
///
/// [`RebalanceError`]: a node that cannot be reached or fails mid-way
/// (named, with what was being done), a route outside `nodes`, or the stop
/// flag.
pub fn rebalance(
    nodes: &[Node],
    sources: &[usize],
    route: &dyn Fn(&[u8]) -> Move,
    opts: &RebalanceOptions,
    stop: &AtomicBool,
    report: &mut dyn FnMut(Report<'_>),
) -> Result<RebalanceStats, RebalanceError> {
    let started = Instant::now();
    let mut stats = RebalanceStats {
        scanned: vec![0; nodes.len()],
        moved_out: vec![0; nodes.len()],
        moved_in: vec![0; nodes.len()],
        ..RebalanceStats::default()
    };
    let mut targets: HashMap<usize, Target> = HashMap::new();
    for &source in sources {
        let node = nodes
            .get(source)
            .ok_or(RebalanceError::BadRoute { key: String::new(), index: source })?;
        report(Report::Scanning { node: source });
        let candidates = list(nodes, source, route, opts, &mut stats, stop, report)?;
        report(Report::Scanned {
            node: source,
            keys: stats.scanned[source],
            moving: candidates.len() as u64,
        });
        if opts.dry_run || candidates.is_empty() {
            continue;
        }
        let mut direct = Direct::connect(&node.endpoint)
            .map_err(|e| node_error(node, "connecting to read and delete keys", e))?;
        for batch in candidates.chunks(opts.batch_keys.max(1)) {
            if stop.load(Ordering::Relaxed) {
                stats.elapsed = started.elapsed();
                return Err(RebalanceError::Stopped(Box::new(stats)));
            }
            move_batch(nodes, source, batch, opts, &mut direct, &mut targets, &mut stats)?;
            report(Report::Moved(&stats));
        }
    }
    stats.elapsed = started.elapsed();
    Ok(stats)
}

fn node_error(node: &Node, doing: impl Into<String>, source: Error) -> RebalanceError {
    RebalanceError::Node {
        node: format!("{} ({})", node.label, node.endpoint.addr),
        doing: doing.into(),
        source: Box::new(source),
    }
}

/// Lists `source`'s keys (keys only) and keeps those that must move.
fn list(
    nodes: &[Node],
    source: usize,
    route: &dyn Fn(&[u8]) -> Move,
    opts: &RebalanceOptions,
    stats: &mut RebalanceStats,
    stop: &AtomicBool,
    report: &mut dyn FnMut(Report<'_>),
) -> Result<Vec<Candidate>, RebalanceError> {
    let node = &nodes[source];
    let listing = |e| node_error(node, "listing keys (TAP DUMP, keys only)", e);
    let connect = TapConnect::new(opts.stream_name.clone().into_bytes())
        .with(TapFlags::DUMP | TapFlags::KEYS_ONLY);
    let mut consumer =
        Consumer::connect(&node.endpoint, &ConsumerOptions::new(connect)).map_err(listing)?;
    let mut out = Vec::new();
    let mut keys = 0u64;
    while let Some(d) = consumer.next_item().map_err(listing)? {
        match d.item {
            Item::Mutation(m) => {
                keys += 1;
                if keys.is_multiple_of(10_000) {
                    report(Report::Listed { node: source, keys });
                    if stop.load(Ordering::Relaxed) {
                        return Err(RebalanceError::Stopped(Box::new(stats.clone())));
                    }
                }
                let r = route(&m.key);
                if r.from >= nodes.len() || r.to >= nodes.len() {
                    return Err(RebalanceError::BadRoute {
                        key: String::from_utf8_lossy(&m.key).into_owned(),
                        index: r.from.max(r.to),
                    });
                }
                if r.from != source {
                    stats.strays += 1;
                } else if r.to != source {
                    *stats.planned.entry(r).or_default() += 1;
                    out.push(Candidate { key: m.key, expiry: m.expiry, to: r.to });
                }
            }
            Item::StreamEnd => break,
            _ => {}
        }
    }
    stats.scanned[source] += keys;
    Ok(out)
}

/// Reads, writes, commits and CAS-deletes one batch, retrying keys that
/// changed at the source.
fn move_batch(
    nodes: &[Node],
    source: usize,
    batch: &[Candidate],
    opts: &RebalanceOptions,
    direct: &mut Direct,
    targets: &mut HashMap<usize, Target>,
    stats: &mut RebalanceStats,
) -> Result<(), RebalanceError> {
    let node = &nodes[source];
    let mut pending: Vec<&Candidate> = batch.iter().collect();
    let mut attempt = 0;
    while !pending.is_empty() {
        attempt += 1;
        let keys: Vec<Bytes> = pending.iter().map(|c| c.key.clone()).collect();
        let found = direct
            .get_many(&keys)
            .map_err(|e| node_error(node, format!("reading {} keys to move", keys.len()), e))?;
        // Write each destination's share and wait for its NOOP.
        let mut written: Vec<(&Candidate, u64)> = Vec::with_capacity(found.len());
        let mut by_target: BTreeMap<usize, Vec<&Candidate>> = BTreeMap::new();
        for c in &pending {
            match found.get(&c.key) {
                Some(_) => by_target.entry(c.to).or_default().push(c),
                None => stats.vanished += 1,
            }
        }
        for (to, group) in by_target {
            let dest = &nodes[to];
            let target = target_for(targets, nodes, to)?;
            for c in &group {
                let f = &found[&c.key];
                target.set(&c.key, &f.value, f.flags, c.expiry);
            }
            let done = target
                .commit()
                .map_err(|e| node_error(dest, format!("writing {} moved keys", group.len()), e))?;
            if done.rejected > 0 {
                // Which keys were refused is known for the first few only:
                // keep the whole group at the source, where it is whole.
                let why: Vec<String> =
                    target.take_rejections().iter().map(ToString::to_string).collect();
                stats.left_count += group.len() as u64;
                push_left(stats, format!("{} → {}: {}", node.label, dest.label, why.join("; ")));
                continue;
            }
            written.extend(group.iter().map(|c| (*c, found[&c.key].cas)));
        }
        // Durable at the destination: delete at the source, if unchanged.
        let items: Vec<(Bytes, u64)> =
            written.iter().map(|(c, cas)| (c.key.clone(), *cas)).collect();
        let outcome = direct
            .delete_many_cas(&items)
            .map_err(|e| node_error(node, format!("deleting {} moved keys", items.len()), e))?;
        let mut retry = Vec::new();
        let mut undo: BTreeMap<usize, Vec<&Candidate>> = BTreeMap::new();
        for ((c, _), result) in written.iter().zip(outcome) {
            match result {
                Deleted::Done => {
                    stats.moved_out[source] += 1;
                    stats.moved_in[c.to] += 1;
                }
                Deleted::Changed if attempt < opts.retries.max(1) => retry.push(*c),
                Deleted::Changed => {
                    stats.left_count += 1;
                    push_left(
                        stats,
                        format!(
                            "{} kept changing at {} ({} tries)",
                            String::from_utf8_lossy(&c.key),
                            node.label,
                            attempt
                        ),
                    );
                }
                Deleted::Missing => {
                    stats.vanished += 1;
                    undo.entry(c.to).or_default().push(c);
                }
            }
        }
        // Deleted at the source while it moved: it must not come back.
        for (to, group) in undo {
            let target = target_for(targets, nodes, to)?;
            for c in &group {
                target.delete(&c.key);
            }
            target.commit().map_err(|e| {
                node_error(
                    &nodes[to],
                    format!("deleting {} keys gone at the source", group.len()),
                    e,
                )
            })?;
        }
        pending = retry;
    }
    Ok(())
}

fn target_for<'t>(
    targets: &'t mut HashMap<usize, Target>,
    nodes: &[Node],
    to: usize,
) -> Result<&'t mut Target, RebalanceError> {
    match targets.entry(to) {
        std::collections::hash_map::Entry::Occupied(t) => Ok(t.into_mut()),
        std::collections::hash_map::Entry::Vacant(slot) => {
            let dest = &nodes[to];
            let t = Target::connect(&dest.endpoint)
                .map_err(|e| node_error(dest, "connecting to write moved keys", e))?;
            Ok(slot.insert(t))
        }
    }
}

/// How many left-behind keys are named in the stats.
const NAME_LEFT: usize = 20;

fn push_left(stats: &mut RebalanceStats, what: String) {
    if stats.left.len() < NAME_LEFT {
        stats.left.push(what);
    }
}
