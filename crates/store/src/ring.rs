//! The ring of recent changes that change-feed readers read from.
//!
//! It is filled under the dirty-set lock that hands out seqnos (so it is in
//! seqno order) and only while a reader is subscribed; it is bounded in
//! changes and bytes, and a reader it laps gets [`Lagged`].

use std::collections::VecDeque;

use crate::feed::{Change, ChangeKind, Lagged};

/// Recent changes, kept only while someone is subscribed.
#[derive(Default)]
pub(crate) struct Ring {
    subscribers: usize,
    /// Every change with a seqno above this one is in `entries`.
    start: u64,
    entries: VecDeque<Change>,
    bytes: u64,
    max_entries: usize,
    max_bytes: u64,
}

impl Ring {
    pub(crate) fn new(max_entries: usize, max_bytes: u64) -> Ring {
        Ring { max_entries: max_entries.max(1), max_bytes, ..Ring::default() }
    }

    pub(crate) fn active(&self) -> bool {
        self.subscribers > 0
    }

    pub(crate) fn push(&mut self, change: Change) {
        self.bytes += change.kind.cost(&change.key);
        self.entries.push_back(change);
        while self.entries.len() > self.max_entries
            || (self.bytes > self.max_bytes && self.entries.len() > 1)
        {
            let Some(old) = self.entries.pop_front() else { break };
            self.bytes = self.bytes.saturating_sub(old.kind.cost(&old.key));
            self.start = old.seqno;
        }
    }

    pub(crate) fn subscribe(&mut self, high_seqno: u64) {
        if self.subscribers == 0 {
            self.entries.clear();
            self.bytes = 0;
            self.start = high_seqno;
        }
        self.subscribers += 1;
    }

    pub(crate) fn unsubscribe(&mut self) {
        self.subscribers = self.subscribers.saturating_sub(1);
        if self.subscribers == 0 {
            self.entries = VecDeque::new();
            self.bytes = 0;
        }
    }

    pub(crate) fn read(
        &self,
        after: u64,
        upto: u64,
        max: usize,
        out: &mut Vec<Change>,
    ) -> Result<(), Lagged> {
        if after < self.start {
            return Err(Lagged { after, ring_start: self.start });
        }
        let first = self.entries.partition_point(|c| c.seqno <= after);
        out.extend(self.entries.range(first..).take_while(|c| c.seqno <= upto).take(max).cloned());
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl ChangeKind {
    /// Bytes a change is charged in the ring: key, value and bookkeeping.
    fn cost(&self, key: &[u8]) -> u64 {
        let value = match self {
            ChangeKind::Mutation(item) => item.value.len(),
            ChangeKind::Delete | ChangeKind::Flush => 0,
        };
        key.len() as u64 + value + 96
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn change(seqno: u64) -> Change {
        Change { seqno, key: Bytes::from(format!("k{seqno}")), kind: ChangeKind::Delete }
    }

    #[test]
    fn ring_reads_in_order_and_reports_lag() {
        let mut ring = Ring::new(3, u64::MAX);
        ring.subscribe(10);
        for s in 11..=14 {
            ring.push(change(s));
        }
        // 11 was dropped: a reader at 10 lags, one at 11 does not.
        assert_eq!(
            ring.read(10, 99, 10, &mut Vec::new()),
            Err(Lagged { after: 10, ring_start: 11 })
        );
        let mut out = Vec::new();
        ring.read(11, 13, 10, &mut out).unwrap();
        assert_eq!(out.iter().map(|c| c.seqno).collect::<Vec<_>>(), [12, 13]);
        out.clear();
        ring.read(12, 99, 1, &mut out).unwrap();
        assert_eq!(out.iter().map(|c| c.seqno).collect::<Vec<_>>(), [13]);
        ring.unsubscribe();
        assert_eq!(ring.len(), 0);
    }

    #[test]
    fn ring_is_bounded_by_bytes() {
        let mut ring = Ring::new(1000, 1000);
        ring.subscribe(0);
        for s in 1..=100 {
            ring.push(change(s));
        }
        assert!(ring.bytes() <= 1000, "{}", ring.bytes());
        assert!(ring.len() < 100);
    }
}
