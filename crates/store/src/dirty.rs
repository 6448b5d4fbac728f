//! The dirty set: every key changed since the last group commit, each with
//! only its latest version (per-key write coalescing), plus the sequence
//! number allocator.
//!
//! Sequence numbers are handed out under the same lock that records the
//! change, so when the flusher cuts a batch every seqno up to the cut is in
//! that batch or an earlier one: "persisted up to N" is exact.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;

use crate::backend::Batch;
use crate::item::Item;

/// Bookkeeping bytes counted per dirty entry.
const ENTRY_OVERHEAD: u64 = 64;

#[derive(Default)]
pub(crate) struct Dirty {
    /// The last seqno handed out.
    pub(crate) high_seqno: u64,
    /// Latest version per key; `None` is a delete.
    entries: HashMap<Bytes, Option<Item>>,
    /// A FLUSH happened before every entry now in `entries`.
    clear: bool,
    /// Approximate bytes held by `entries`.
    pub(crate) bytes: u64,
    /// When the oldest change in this set was made.
    pub(crate) oldest: Option<Instant>,
    /// Client mutations recorded since the store opened.
    pub(crate) mutations: u64,
}

impl Dirty {
    pub(crate) fn new(high_seqno: u64) -> Self {
        Dirty { high_seqno, ..Dirty::default() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty() && !self.clear
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Hands out the next seqno without recording a change.
    pub(crate) fn next_seqno(&mut self) -> u64 {
        self.high_seqno += 1;
        self.high_seqno
    }

    /// Records the latest version of `key` (`None` = deleted).
    pub(crate) fn record(&mut self, key: Bytes, version: Option<Item>) {
        let value_len = |v: &Option<Item>| v.as_ref().map_or(0, |i| i.value.len());
        let key_len = key.len() as u64;
        let add = key_len + value_len(&version) + ENTRY_OVERHEAD;
        let replaced = self.entries.insert(key, version);
        let sub = replaced.map_or(0, |old| key_len + value_len(&old) + ENTRY_OVERHEAD);
        self.bytes = (self.bytes + add).saturating_sub(sub);
        self.mutations += 1;
        self.oldest.get_or_insert_with(Instant::now);
    }

    /// Records a FLUSH: everything pending is superseded by the clear.
    pub(crate) fn record_clear(&mut self) {
        self.entries.clear();
        self.clear = true;
        self.bytes = 0;
        self.mutations += 1;
        self.oldest.get_or_insert_with(Instant::now);
    }

    /// Cuts a batch of everything recorded so far.
    pub(crate) fn take_batch(&mut self) -> Batch {
        let mut batch = Batch {
            clear: std::mem::take(&mut self.clear),
            high_seqno: self.high_seqno,
            ..Batch::default()
        };
        for (key, version) in self.entries.drain() {
            match version {
                Some(item) => batch.puts.push((key, item)),
                None => batch.deletes.push(key),
            }
        }
        self.bytes = 0;
        self.oldest = None;
        batch
    }
}
