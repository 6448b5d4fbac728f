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

/// What the consumer's copy holds.
#[derive(Clone, Debug)]
pub(crate) struct Copy {
    /// Filters whose selections the copy may hold (`None`: anything).
    pub(crate) filters: Vec<Selector>,
    /// The copy is exactly `filters[0]`'s selection of every change up to
    /// `upto` (one filter). Otherwise it may hold items of any of the
    /// filters (an interrupted filter change), and nothing is skipped as
    /// "already there".
    pub(crate) exact: bool,
    /// The changes up to here have reached the copy.
    pub(crate) upto: u64,
}

impl Copy {
    /// A copy made exactly with `filter` up to `upto`.
    pub(crate) fn exact(filter: Selector, upto: u64) -> Copy {
        Copy { filters: vec![filter], exact: true, upto }
    }

    /// Reads a copy's description as [`Copy::stored`] writes it: a filter's
    /// canonical text (empty: none) for an exact copy; `~` and the text of
    /// the union of its filters (empty: anything) otherwise. Text that does
    /// not parse counts as "may hold anything".
    pub(crate) fn from_stored(text: &[u8], upto: u64) -> Copy {
        let (exact, text) = match text.strip_prefix(b"~") {
            Some(rest) => (false, rest),
            None => (true, text),
        };
        if text.is_empty() {
            return Copy { filters: vec![None], exact, upto };
        }
        match Filter::parse(text) {
            Ok(f) => Copy { filters: vec![Some(Arc::new(f))], exact, upto },
            Err(e) => {
                tracing::warn!(error = %e, "a stored TAP filter does not parse; the copy may hold anything");
                Copy { filters: vec![None], exact: false, upto }
            }
        }
    }

    /// The description [`Copy::from_stored`] reads.
    pub(crate) fn stored(&self) -> String {
        let text = |f: &Selector| f.as_ref().map(|f| f.text().to_string());
        if self.exact && self.filters.len() == 1 {
            return text(&self.filters[0]).unwrap_or_default();
        }
        let Some(texts) = self.filters.iter().map(text).collect::<Option<Vec<_>>>() else {
            return "~".into();
        };
        format!("~({})", texts.join(") or ("))
    }

    fn may_match(&self, key: &[u8]) -> bool {
        self.filters.iter().any(|f| may_match(f, key))
    }

    fn is_everything(&self) -> bool {
        self.filters.iter().all(Option::is_none)
    }
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

fn same(a: &Selector, b: &Selector) -> bool {
    a.as_ref().map(|f| f.text()) == b.as_ref().map(|f| f.text())
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
        self.filter.is_none() && self.copy.as_ref().is_none_or(Copy::is_everything)
    }

    /// The filter's canonical text (empty: none).
    pub(crate) fn text(&self) -> String {
        self.filter.as_ref().map(|f| f.text().to_string()).unwrap_or_default()
    }

    /// True when the consumer may hold anything (a copy exists).
    pub(crate) fn has_copy(&self) -> bool {
        self.copy.is_some()
    }

    /// The copy is `filter(source)` up to `upto` (a backfill completed).
    pub(crate) fn copied(&mut self, upto: u64) {
        self.copy = Some(Copy::exact(self.filter.clone(), upto));
    }

    /// The copy was flushed.
    pub(crate) fn emptied(&mut self) {
        self.copy = None;
    }

    /// What the copy may hold once this stream has sent anything: the copy
    /// as it is plus the new filter's items (for storing before a filter
    /// change sends its first event).
    pub(crate) fn widened(&self) -> Copy {
        match &self.copy {
            None => Copy { filters: vec![self.filter.clone()], exact: false, upto: 0 },
            Some(c) if c.exact && c.filters.len() == 1 && same(&c.filters[0], &self.filter) => {
                c.clone()
            }
            Some(c) => {
                let mut filters = c.filters.clone();
                if !filters.iter().any(|f| same(f, &self.filter)) {
                    filters.push(self.filter.clone());
                }
                Copy { filters, exact: false, upto: c.upto }
            }
        }
    }

    /// A backfill starts over from `acked` (after a NACK): the copy may now
    /// hold anything the interrupted one sent, and only what was acked is
    /// known to be there.
    pub(crate) fn restarted(&mut self, acked: u64) {
        let mut copy = self.widened();
        copy.upto = copy.upto.min(acked);
        self.copy = Some(copy);
    }

    /// True when the backfill has to look at every item, not only the
    /// changes after the copy's position: the copy was made with another
    /// filter, or may hold items of several.
    pub(crate) fn changes_filter(&self) -> bool {
        self.copy
            .as_ref()
            .is_some_and(|c| !c.exact || c.filters.len() != 1 || !same(&c.filters[0], &self.filter))
    }

    /// The key ranges a backfill has to read: where the new filter may
    /// match, and where the copy may hold something to delete. `None` when
    /// that is (nearly) everything: the memory table is scanned instead.
    pub(crate) fn ranges(&self) -> Option<KeyRanges> {
        let mut ranges = self.filter.as_ref()?.key_ranges().clone();
        if let Some(c) = &self.copy {
            for f in &c.filters {
                ranges = ranges.union(f.as_ref()?.key_ranges());
            }
        }
        (!ranges.is_all()).then_some(ranges)
    }

    /// True when the copy may hold some version of `key` made after its
    /// position (or the stream sent one).
    fn may_hold(&self, key: &[u8]) -> bool {
        may_match(&self.filter, key) || self.copy.as_ref().is_some_and(|c| c.may_match(key))
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
        if c.deleted || !self.may_hold(c.key) {
            return self.may_hold(c.key);
        }
        let Some(value) = c.value else { return true };
        let item = ItemRef { key: c.key, flags: c.flags, value };
        let mut unknown = Unknown;
        let matches = |f: &Selector, unknown: &mut Unknown| match f {
            None => Ok(true),
            Some(f) => f.matches(&item, unknown),
        };
        let Ok(new) = matches(&self.filter, &mut unknown) else { return true };
        if !scanned {
            return true;
        }
        let Some(copy) = &self.copy else { return new };
        if c.seqno > copy.upto {
            return true;
        }
        let mut old = false;
        for f in &copy.filters {
            match matches(f, &mut unknown) {
                Ok(m) => old |= m,
                Err(_) => return true,
            }
        }
        self.scan_action(c.seqno, c.key, new, old) != Action::Skip
    }

    /// The action for a backfill scan's item (a version at or before the
    /// plan's end), given whether the new filter (`new`) and any of the
    /// copy's filters (`old`) match it.
    fn scan_action(&self, seqno: u64, key: &[u8], new: bool, old: bool) -> Action {
        let Some(copy) = &self.copy else {
            return if new { Action::Send } else { Action::Skip };
        };
        // An exact copy holds this very version when its filter matched
        // it; of a key changed since, any copy may hold an older version
        // (from its filters, or from an interrupted backfill).
        let held = copy.exact && seqno <= copy.upto && old;
        let may_hold = if seqno <= copy.upto { old } else { self.may_hold(key) };
        if new && !held {
            Action::Send
        } else if !new && may_hold {
            Action::Delete
        } else {
            Action::Skip
        }
    }

    /// Decides a change. `scanned`: it comes from a backfill's first pass
    /// (a version at or before the plan's end, compared with the copy);
    /// otherwise from the ring or a later pass (a change after what the
    /// first pass sent). Lua filters are called here, asynchronously.
    pub(crate) async fn action(&self, change: &Change, scanned: bool) -> Action {
        if self.takes_everything() {
            return Action::Send;
        }
        match &change.kind {
            ChangeKind::Flush => Action::Send,
            ChangeKind::Delete => {
                if self.may_hold(&change.key) {
                    Action::Send
                } else {
                    Action::Skip
                }
            }
            ChangeKind::Mutation(_) if !self.may_hold(&change.key) => Action::Skip,
            ChangeKind::Mutation(item) => {
                let value = item.value.to_bytes();
                let view = ItemRef { key: &change.key, flags: item.flags, value: &value };
                let new = self.evaluate(&self.filter, &view, &change.key, &value).await;
                if !scanned {
                    return if new { Action::Send } else { Action::Delete };
                }
                let mut old = false;
                if let Some(copy) = &self.copy
                    && change.seqno <= copy.upto
                {
                    for f in &copy.filters {
                        if self.evaluate(f, &view, &change.key, &value).await {
                            old = true;
                            break;
                        }
                    }
                }
                self.scan_action(change.seqno, &change.key, new, old)
            }
        }
    }

    /// Whether `selector` selects `item` (whose key and value are also
    /// `key` and `value`, shared with Lua calls rather than copied),
    /// calling its Lua functions first. A function that fails counts as
    /// "no" (and is logged once per call).
    async fn evaluate(
        &self,
        selector: &Selector,
        item: &ItemRef<'_>,
        key: &Bytes,
        value: &Bytes,
    ) -> bool {
        let Some(filter) = selector else { return true };
        let names = filter.lua_functions();
        let mut results = Vec::with_capacity(names.len());
        if !names.is_empty() {
            // The rest of the filter may decide without Lua (`prefix:a
            // and lua:f` on another key): then no function is called.
            if let Ok(decided) = filter.matches(item, &mut Unknown) {
                return decided;
            }
            for name in names {
                let ok = match &self.lua {
                    Some(lua) => {
                        let call = lua::Call::new(
                            name,
                            [key.clone()],
                            [value.clone(), Bytes::from(item.flags.to_string())],
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
            Some(Copy::exact(Some(parse("prefix:r/")), 4)),
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
            Some(Copy::exact(Some(parse("prefix:a")), 10)),
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
            Some(Copy::exact(Some(parse("json:/t > 0")), 10)),
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
        assert!(s.keep(&tomb, false));
        // A key filter never keeps keys outside it.
        let s = Selection::new(Some(parse("prefix:a")), None, None);
        assert!(!s.keep(&Candidate { key: b"b", ..tomb }, false));
    }
}
