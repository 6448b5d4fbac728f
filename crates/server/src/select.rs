//! What a filtered TAP stream sends (docs/memcached-binary.md §10.8).
//!
//! A stream with a filter sends the items the filter selects. Its consumer
//! holds a copy, and the copy must end up equal to `filter(source)`: an
//! item that stops matching (a new value, or a new filter) has to leave
//! the copy, so it goes out as a `TAP_DELETE`. The rules below decide, for
//! each change, between sending it, sending a delete, and skipping it,
//! from what the consumer's copy may hold:
//!
//! * a **fresh** consumer holds nothing the stream did not send;
//! * a consumer that **resumes** (a registered cursor, `SINCE_SEQNO`, a
//!   BACKFILL time) holds what its previous filter selected up to its
//!   position `C`. An item changed at or before `C` is there exactly when
//!   that filter matched it; of a key changed after `C` it may hold an
//!   older version whenever that filter could match the key.
//!
//! When a registered consumer comes back with another filter, its previous
//! filter is the one stored with its cursor, and the backfill looks at
//! every item (not just the changes after `C`): items that entered the
//! filter are sent, items that left it are deleted, items in both are
//! skipped. Once the backfill is complete the copy is `filter(source)` up
//! to its end, and the new filter is stored with the cursor.
//!
//! Filters over keys only (`prefix:`, `range:`) never need a delete for a
//! key outside them, and their backfill reads only their key ranges from
//! the engine's ordered key space ([`store::Subscription::scan_range`]).

use std::sync::Arc;

use bytes::Bytes;
use filter::{Filter, Functions, ItemRef, KeyRanges};
use store::{Candidate, Change, ChangeKind};

use crate::functions::BucketLua;

/// A filter; `None` selects everything.
pub(crate) type Selector = Option<Arc<Filter>>;

/// What to do with one change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send it as it is.
    Send,
    /// Send a `TAP_DELETE` of its key: the copy may hold a version the
    /// filter no longer selects.
    Delete,
    /// Nothing to send.
    Skip,
}

/// What the consumer's copy was made with.
#[derive(Clone, Debug)]
pub(crate) struct Copy {
    /// The filter it was made with.
    pub(crate) filter: Selector,
    /// It holds that filter's selection of every change up to here.
    pub(crate) upto: u64,
}

/// The filter of one stream and what its consumer holds. Cheap to clone
/// (shared filters), for scans on other threads.
#[derive(Clone)]
pub(crate) struct Selection {
    filter: Selector,
    /// `None`: the copy is empty (a fresh consumer, or one that was sent a
    /// flush).
    copy: Option<Copy>,
    lua: Option<Arc<BucketLua>>,
}

/// Lua truthiness of a function's reply: anything but nil and false.
fn truthy(value: Option<&Bytes>) -> bool {
    value.is_some_and(|v| v.as_ref() != b"false")
}

fn may_match(selector: &Selector, key: &[u8]) -> bool {
    selector.as_ref().is_none_or(|f| f.decides_by_key(key) != Some(false))
}

/// Lua results computed before a filter is evaluated (the calls are
/// asynchronous, the evaluation is not).
struct Precomputed<'a>(&'a [(String, bool)]);

impl Functions for Precomputed<'_> {
    fn call(&mut self, name: &str, _item: &ItemRef<'_>) -> Result<bool, String> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, b)| b)
            .ok_or_else(|| format!("Lua function {name} was not called"))
    }
}

/// Stands in for Lua where the item's value is not at hand: any call is
/// "unknown", so the caller keeps the candidate.
struct Unknown;

impl Functions for Unknown {
    fn call(&mut self, name: &str, _item: &ItemRef<'_>) -> Result<bool, String> {
        Err(format!("Lua function {name} is evaluated later"))
    }
}

impl Selection {
    pub(crate) fn new(filter: Selector, copy: Option<Copy>, lua: Option<Arc<BucketLua>>) -> Self {
        Selection { filter, copy, lua }
    }

    /// True when a scan sends every item it finds (no filter now, none
    /// for the copy).
    pub(crate) fn takes_everything(&self) -> bool {
        self.filter.is_none() && self.copy.as_ref().is_none_or(|c| c.filter.is_none())
    }

    /// The filter's canonical text (empty: none).
    pub(crate) fn text(&self) -> String {
        self.filter.as_ref().map(|f| f.text().to_string()).unwrap_or_default()
    }

    /// The copy is `filter(source)` up to `upto` (a backfill completed).
    pub(crate) fn copied(&mut self, upto: u64) {
        self.copy = Some(Copy { filter: self.filter.clone(), upto });
    }

    /// The copy was flushed.
    pub(crate) fn emptied(&mut self) {
        self.copy = None;
    }

    /// A backfill starts over (after a NACK): the copy may now hold
    /// anything the interrupted one sent.
    pub(crate) fn restarted(&mut self) {
        if self.copy.is_none() {
            self.copy = Some(Copy { filter: self.filter.clone(), upto: 0 });
        }
    }

    /// True when the copy was made with another filter: the backfill has
    /// to look at every item, not only the changes after the copy's
    /// position.
    pub(crate) fn changes_filter(&self) -> bool {
        self.copy.as_ref().is_some_and(|c| {
            c.filter.as_ref().map(|f| f.text()) != self.filter.as_ref().map(|f| f.text())
        })
    }

    /// The key ranges a backfill has to read: where the new filter may
    /// match, and where the copy may hold something to delete. `None` when
    /// that is (nearly) everything: the memory table is scanned instead.
    pub(crate) fn ranges(&self) -> Option<KeyRanges> {
        let new = self.filter.as_ref()?.key_ranges();
        let ranges = match &self.copy {
            None => new.clone(),
            Some(c) => new.union(c.filter.as_ref()?.key_ranges()),
        };
        (!ranges.is_all()).then_some(ranges)
    }

    /// True when the copy may hold some version of `key` made after its
    /// position (or the stream sent one).
    fn may_hold(&self, key: &[u8]) -> bool {
        may_match(&self.filter, key)
            || self.copy.as_ref().is_some_and(|c| may_match(&c.filter, key))
    }

    /// A backfill scan's first look at a candidate, under the shard lock:
    /// false only when the change is certainly skipped.
    ///
    /// `scanned` as for [`Selection::action`]: the first pass of a backfill
    /// compares with the copy; later passes only see changes newer than
    /// what the first one sent, which may replace a version it sent.
    pub(crate) fn keep(&self, c: &Candidate<'_>, scanned: bool) -> bool {
        if self.takes_everything() {
            return true;
        }
        if c.deleted {
            return if scanned {
                self.copy.as_ref().is_some_and(|copy| may_match(&copy.filter, c.key))
            } else {
                self.may_hold(c.key)
            };
        }
        let Some(value) = c.value else { return self.may_hold(c.key) };
        let item = ItemRef { key: c.key, flags: c.flags, value };
        let mut unknown = Unknown;
        let new = match &self.filter {
            None => Ok(true),
            Some(f) => f.matches(&item, &mut unknown),
        };
        let Ok(new) = new else { return true };
        if !scanned {
            return new || self.may_hold(c.key);
        }
        let old = self.copy.as_ref().map(|copy| match &copy.filter {
            None => Ok(true),
            Some(f) => f.matches(&item, &mut unknown),
        });
        match old {
            None => new,
            Some(Ok(old)) => self.scan_action(c.seqno, c.key, new, old) != Action::Skip,
            Some(Err(_)) => true,
        }
    }

    /// The action for a backfill scan's item (a version at or before the
    /// plan's end), given whether the new filter (`new`) and the copy's
    /// filter (`old`) match it.
    fn scan_action(&self, seqno: u64, key: &[u8], new: bool, old: bool) -> Action {
        let Some(copy) = &self.copy else {
            return if new { Action::Send } else { Action::Skip };
        };
        // The copy holds exactly this version when its filter matched it;
        // of a key changed since, it may hold an older version (from its
        // filter, or from an interrupted backfill with the new one).
        let held = seqno <= copy.upto && old;
        let may_hold = if seqno <= copy.upto { old } else { self.may_hold(key) };
        if new && !held {
            Action::Send
        } else if !new && may_hold {
            Action::Delete
        } else {
            Action::Skip
        }
    }

    /// Decides a change. `scanned`: it comes from a backfill scan (a
    /// version at or before the plan's end, compared with the copy);
    /// otherwise from the ring (a change after everything the consumer
    /// was sent). Lua filters are called here, asynchronously.
    pub(crate) async fn action(&self, change: &Change, scanned: bool) -> Action {
        if self.takes_everything() {
            return Action::Send;
        }
        match &change.kind {
            ChangeKind::Flush => Action::Send,
            ChangeKind::Delete => {
                let held = if scanned {
                    self.copy.as_ref().is_some_and(|c| may_match(&c.filter, &change.key))
                } else {
                    self.may_hold(&change.key)
                };
                if held { Action::Send } else { Action::Skip }
            }
            ChangeKind::Mutation(item) => {
                let value = item.value.to_bytes();
                let view = ItemRef { key: &change.key, flags: item.flags, value: &value };
                let new = self.evaluate(&self.filter, &view).await;
                if !scanned {
                    return if new {
                        Action::Send
                    } else if self.may_hold(&change.key) {
                        Action::Delete
                    } else {
                        Action::Skip
                    };
                }
                let old = match &self.copy {
                    Some(copy) if change.seqno <= copy.upto => {
                        self.evaluate(&copy.filter, &view).await
                    }
                    _ => false,
                };
                self.scan_action(change.seqno, &change.key, new, old)
            }
        }
    }

    /// Whether `selector` selects `item`, calling its Lua functions first.
    /// A function that fails counts as "no" (and is logged once per call).
    async fn evaluate(&self, selector: &Selector, item: &ItemRef<'_>) -> bool {
        let Some(filter) = selector else { return true };
        let names = filter.lua_functions();
        let mut results = Vec::with_capacity(names.len());
        if !names.is_empty() {
            if filter.decides_by_key(item.key) == Some(false) {
                return false;
            }
            for name in names {
                let ok = match &self.lua {
                    Some(lua) => {
                        let call = lua::Call::new(
                            name,
                            [Bytes::copy_from_slice(item.key)],
                            [
                                Bytes::copy_from_slice(item.value),
                                Bytes::from(item.flags.to_string()),
                            ],
                        );
                        match lua.runtime.call(call).await {
                            Ok(reply) => truthy(reply.value.as_ref()),
                            Err(e) => {
                                tracing::debug!(function = %name, key = %String::from_utf8_lossy(item.key), error = %e, "TAP filter function failed; item not selected");
                                false
                            }
                        }
                    }
                    None => false,
                };
                results.push((name.to_string(), ok));
            }
        }
        filter.matches(item, &mut Precomputed(&results)).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::Item;

    fn parse(text: &str) -> Arc<Filter> {
        Arc::new(Filter::parse(text.as_bytes()).unwrap())
    }

    fn mutation(key: &str, value: &str, seqno: u64) -> Change {
        Change {
            seqno,
            key: Bytes::from(key.to_string()),
            kind: ChangeKind::Mutation(Item {
                value: extent::ExtentBuf::from(Bytes::from(value.to_string())),
                flags: 0,
                exptime: 0,
                cas: seqno,
                seqno,
            }),
        }
    }

    fn delete(key: &str, seqno: u64) -> Change {
        Change { seqno, key: Bytes::from(key.to_string()), kind: ChangeKind::Delete }
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn a_fresh_consumer_gets_what_matches_and_later_leavers_as_deletes() {
        let s = Selection::new(Some(parse("json:/t > 20")), None, None);
        run(async {
            assert_eq!(s.action(&mutation("a", r#"{"t":25}"#, 5), true).await, Action::Send);
            assert_eq!(s.action(&mutation("b", r#"{"t":15}"#, 5), true).await, Action::Skip);
            // After the scan, a change that leaves the filter may replace a
            // version the consumer holds.
            assert_eq!(s.action(&mutation("a", r#"{"t":10}"#, 9), false).await, Action::Delete);
            assert_eq!(s.action(&delete("a", 10), false).await, Action::Send);
        });
    }

    #[test]
    fn key_filters_never_delete_outside_their_keys() {
        let s = Selection::new(
            Some(parse("prefix:r/")),
            Some(Copy { filter: Some(parse("prefix:r/")), upto: 4 }),
            None,
        );
        run(async {
            assert_eq!(s.action(&mutation("x", "1", 9), false).await, Action::Skip);
            assert_eq!(s.action(&delete("x", 9), false).await, Action::Skip);
            assert_eq!(s.action(&delete("r/1", 9), false).await, Action::Send);
            assert_eq!(s.action(&mutation("r/1", "1", 9), true).await, Action::Send);
        });
        assert_eq!(s.ranges().unwrap().iter().count(), 1);
        assert!(!s.changes_filter());
    }

    #[test]
    fn a_changed_filter_sends_entrants_deletes_leavers_and_skips_the_rest() {
        // The copy was made with prefix:a up to seqno 10; the new filter
        // is prefix:b.
        let s = Selection::new(
            Some(parse("prefix:b")),
            Some(Copy { filter: Some(parse("prefix:a")), upto: 10 }),
            None,
        );
        assert!(s.changes_filter());
        run(async {
            // Unchanged since the copy: a-keys leave, b-keys enter.
            assert_eq!(s.action(&mutation("a1", "v", 3), true).await, Action::Delete);
            assert_eq!(s.action(&mutation("b1", "v", 3), true).await, Action::Send);
            assert_eq!(s.action(&mutation("c1", "v", 3), true).await, Action::Skip);
            // A tombstone after the copy's position of a key the copy held.
            assert_eq!(s.action(&delete("a2", 12), true).await, Action::Send);
            assert_eq!(s.action(&delete("c2", 12), true).await, Action::Skip);
        });
        let ranges = s.ranges().unwrap();
        assert!(ranges.contains(b"a1") && ranges.contains(b"b1") && !ranges.contains(b"c1"));
    }

    #[test]
    fn an_item_already_held_is_not_sent_again() {
        let s = Selection::new(
            Some(parse("json:/t > 1")),
            Some(Copy { filter: Some(parse("json:/t > 0")), upto: 10 }),
            None,
        );
        run(async {
            assert_eq!(s.action(&mutation("k", r#"{"t":2}"#, 3), true).await, Action::Skip);
            assert_eq!(s.action(&mutation("k", r#"{"t":0.5}"#, 3), true).await, Action::Delete);
            assert_eq!(s.action(&mutation("k", r#"{"t":2}"#, 11), true).await, Action::Send);
            assert_eq!(s.action(&mutation("k", r#"{"t":0}"#, 3), true).await, Action::Skip);
        });
    }

    #[test]
    fn a_later_pass_keeps_what_may_replace_a_version_the_first_pass_sent() {
        // A fresh consumer: its first pass skips what does not match, but a
        // later pass (the ring lapped it) must delete a key whose newer
        // version leaves the filter, and pass on deletes of keys it sent.
        let s = Selection::new(Some(parse("json:/t > 1")), None, None);
        let item = |value: &'static [u8]| Candidate {
            key: b"k",
            seqno: 9,
            flags: 0,
            value: Some(value),
            deleted: false,
        };
        let tomb = Candidate { key: b"k", seqno: 9, flags: 0, value: None, deleted: true };
        assert!(!s.keep(&item(br#"{"t":0}"#), true));
        assert!(s.keep(&item(br#"{"t":0}"#), false));
        assert!(s.keep(&item(br#"{"t":5}"#), true));
        assert!(!s.keep(&tomb, true));
        assert!(s.keep(&tomb, false));
        // A key filter never keeps keys outside it.
        let s = Selection::new(Some(parse("prefix:a")), None, None);
        assert!(!s.keep(&Candidate { key: b"b", ..tomb }, false));
    }
}
