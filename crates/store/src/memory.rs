//! The memory quota: what the items of every store sharing a [`Budget`]
//! may hold, the watermarks that drive the pager, and the threshold past
//! which writes get a temporary failure.
//!
//! # What is counted
//!
//! Each item is charged its block: a header of 10 to 27 bytes (see
//! `crate::table`), its key and resident value bytes, plus
//! [`ITEM_OVERHEAD`] for the allocation; and each tombstone its
//! key plus [`TOMBSTONE_OVERHEAD`]; the pager adds the hash tables' own
//! buckets (capacity × bucket size, so spare capacity counts too). That is
//! what [`Budget::used`] compares with the limit. The engine's block cache,
//! the commit log's buffers, connection buffers and the change feed's ring
//! are fixed or separately bounded costs outside the quota.
//!
//! # The thresholds
//!
//! * Above the **high watermark** the pager ejects values of clean items
//!   (already in the engine) that were not used recently, until memory is
//!   back at the **low watermark**. Keys and metadata stay in memory; an
//!   ejected value is read back from the engine when an operation needs it.
//! * Above the **temporary-failure threshold** (the pager could not keep
//!   up: what is in memory is not yet on disk) mutations that would add
//!   memory fail with [`OpError::TempFail`](crate::OpError::TempFail) and
//!   succeed again once the engine catches up. With [`Eviction::None`]
//!   they fail at the limit itself with
//!   [`OpError::OutOfMemory`](crate::OpError::OutOfMemory).

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes charged per item beyond its block (header, key and value): the
/// allocator's rounding of the block up to its size class. The block's
/// header (state, key length and seqno, then flags, expiry and CAS only
/// where they are not the common 0, 0 and seqno) is charged as it is. The
/// item's bucket in the hash table (a 16-byte pointer) is charged
/// separately, with the table's spare capacity.
pub const ITEM_OVERHEAD: u64 = 8;

/// Bytes charged, beyond the key again, for a value of 64 KiB or more: it
/// is kept as shared blocks in a side map beside the item (a copy of the
/// key and the handle to the blocks; the map's bucket is charged with the
/// tables).
pub(crate) const LARGE_OVERHEAD: u64 = 16 + 32;

/// Bytes charged per tombstone beyond its key (the key's allocations).
pub const TOMBSTONE_OVERHEAD: u64 = 16 + 32;

/// What happens when the items need more memory than the quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Eviction {
    /// Eject the values of clean items (already in the engine) that were
    /// not used recently; they are read back on demand. Keys and metadata
    /// stay in memory. Couchbase's `value_only`.
    #[default]
    Value,
    /// Eject nothing: writes that would pass the quota fail (memcached's
    /// `-M`).
    None,
}

impl Eviction {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Eviction::Value => "value",
            Eviction::None => "none",
        }
    }

    /// Parses a name as printed by [`Eviction::name`].
    pub fn from_name(name: &str) -> Option<Eviction> {
        match name {
            "value" => Some(Eviction::Value),
            "none" => Some(Eviction::None),
            _ => None,
        }
    }

    /// Couchbase's name for the policy (`ep_item_eviction_policy`).
    pub fn policy_name(self) -> &'static str {
        match self {
            Eviction::Value => "value_only",
            Eviction::None => "fail_new_data",
        }
    }
}

/// A memory quota shared by the stores opened with it (one per bucket).
/// Cheap to share: hand an `Arc<Budget>` to every store's [`Config`].
///
/// [`Config`]: crate::Config
#[derive(Debug)]
pub struct Budget {
    limit: AtomicU64,
    /// Watermarks and the temporary-failure threshold, in percent.
    high_pct: u64,
    low_pct: u64,
    tmp_fail_pct: u64,
    eviction: Eviction,
    /// Bytes charged for items and tombstones, over every store.
    items: AtomicU64,
    /// Bytes of the stores' hash tables, as the pagers last measured them.
    tables: AtomicU64,
    /// Bytes of changes on their way to the engines (dirty sets, batches
    /// queued for or merged by the appliers).
    queues: AtomicU64,
}

impl Budget {
    /// A quota of `limit` bytes with the default watermarks (85 % high,
    /// 75 % low, temporary failures from 95 %).
    pub fn new(limit: u64, eviction: Eviction) -> Budget {
        Budget::with_watermarks(limit, eviction, 85, 75)
    }

    /// No quota: nothing is ever ejected and writes never fail for memory.
    pub fn unlimited() -> Budget {
        Budget::new(u64::MAX, Eviction::Value)
    }

    /// A quota with the given watermarks in percent of `limit` (`low` is
    /// clamped below `high`, both to at most 100).
    pub fn with_watermarks(limit: u64, eviction: Eviction, high: u8, low: u8) -> Budget {
        let high = u64::from(high.clamp(1, 100));
        let low = u64::from(low).min(high.saturating_sub(1)).max(1);
        Budget {
            limit: AtomicU64::new(limit),
            high_pct: high,
            low_pct: low,
            tmp_fail_pct: (high + (100 - high) * 2 / 3).max(high),
            eviction,
            items: AtomicU64::new(0),
            tables: AtomicU64::new(0),
            queues: AtomicU64::new(0),
        }
    }

    /// The quota in bytes (`u64::MAX`: none).
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// True when a quota is set.
    pub fn is_limited(&self) -> bool {
        self.limit() != u64::MAX
    }

    /// Changes the quota (memcached's `cache_memlimit`); the pagers see it
    /// on their next tick.
    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// What happens at the quota.
    pub fn eviction(&self) -> Eviction {
        self.eviction
    }

    fn pct(&self, pct: u64) -> u64 {
        let limit = self.limit();
        if limit == u64::MAX {
            u64::MAX
        } else {
            (u128::from(limit) * u128::from(pct) / 100) as u64
        }
    }

    /// The high watermark in bytes: the pager starts above it.
    pub fn high_watermark(&self) -> u64 {
        self.pct(self.high_pct)
    }

    /// The low watermark in bytes: the pager stops at it.
    pub fn low_watermark(&self) -> u64 {
        self.pct(self.low_pct)
    }

    /// Bytes above which writes fail for lack of memory.
    pub fn tmp_fail_threshold(&self) -> u64 {
        match self.eviction {
            Eviction::None => self.limit(),
            Eviction::Value => self.pct(self.tmp_fail_pct),
        }
    }

    /// Bytes charged now for items and hash tables, over every store
    /// sharing the budget: what the quota limits (`mem_used`).
    pub fn used(&self) -> u64 {
        self.items.load(Ordering::Relaxed).saturating_add(self.tables.load(Ordering::Relaxed))
    }

    /// Bytes of changes on their way to the engines (dirty sets, batches
    /// queued for or merged by the appliers), over every store.
    pub fn queued(&self) -> u64 {
        self.queues.load(Ordering::Relaxed)
    }

    /// What the pager compares with the watermarks: [`Budget::used`] plus
    /// [`Budget::queued`]. Until the engine has a change its value is in
    /// memory twice, and only the table's copy can be ejected, so the
    /// pager ejects clean values to make room for the copies in flight.
    pub fn pressure(&self) -> u64 {
        self.used().saturating_add(self.queued())
    }

    /// True when memory (with the changes in flight) is above the high
    /// watermark.
    pub fn over_high(&self) -> bool {
        self.pressure() > self.high_watermark()
    }

    /// True when a write that adds memory must fail. Only the items and
    /// the hash tables count here: changes on their way to the engine
    /// count towards the watermarks (see [`Budget::pressure`]), but a burst
    /// of writes is not refused for the copies it holds in flight, which
    /// the engine's back-pressure bounds.
    pub fn full(&self) -> bool {
        self.used() > self.tmp_fail_threshold()
    }

    pub(crate) fn charge(&self, bytes: u64) {
        self.items.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn release(&self, bytes: u64) {
        self.items.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// A store's hash tables went from `old` to `new` bytes.
    pub(crate) fn tables_resized(&self, old: u64, new: u64) {
        if new >= old {
            self.tables.fetch_add(new - old, Ordering::Relaxed);
        } else {
            self.tables.fetch_sub(old - new, Ordering::Relaxed);
        }
    }
}

/// The bytes one store's changes hold on their way to the engine (its
/// dirty set, the batches queued for its applier and the applier's merge),
/// charged to the shared [`Budget`]: until the engine has a change, its
/// value is in memory twice (in the table and in the change), and only the
/// table's copy can be ejected. What is still charged when the last handle
/// goes (the store closed) is given back.
#[derive(Debug, Default)]
pub(crate) struct QueueCharge {
    budget: std::sync::Arc<Budget>,
    bytes: AtomicU64,
}

impl QueueCharge {
    pub(crate) fn new(budget: std::sync::Arc<Budget>) -> QueueCharge {
        QueueCharge { budget, bytes: AtomicU64::new(0) }
    }

    pub(crate) fn charge(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.budget.queues.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn release(&self, bytes: u64) {
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.budget.queues.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Bytes this store's changes hold now.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The budget charged.
    pub(crate) fn budget(&self) -> &Budget {
        &self.budget
    }
}

impl Drop for QueueCharge {
    fn drop(&mut self) {
        let left = *self.bytes.get_mut();
        self.budget.queues.fetch_sub(left, Ordering::Relaxed);
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::unlimited()
    }
}

/// Parses a memory size: a number of bytes with an optional unit (`K`,
/// `KB`, `KiB`, `M`, `MB`, `MiB`, `G`, `GB`, `GiB`, `T`…; all binary,
/// case-insensitive), e.g. `512MiB`, `2GiB`, `1073741824`.
///
/// # Errors
///
/// A message naming what is wrong with `text`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let shift = match unit.as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in size {text:?} (use KiB, MiB, GiB or TiB)"
            ));
        }
    };
    let bad = || format!("{text:?} is not a size (try 512MiB or 2GiB)");
    if number.is_empty() {
        return Err(bad());
    }
    let bytes = if let Some((whole, frac)) = number.split_once('.') {
        let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
        let digits = frac.len().min(9) as u32;
        let frac: u64 =
            if digits == 0 { 0 } else { frac[..digits as usize].parse().map_err(|_| bad())? };
        let scale = 10u64.pow(digits);
        let whole = whole.checked_shl(shift).filter(|w| w >> shift == whole).ok_or_else(bad)?;
        whole
            .checked_add(((u128::from(frac) << shift) / u128::from(scale)) as u64)
            .ok_or_else(bad)?
    } else {
        let n: u64 = number.parse().map_err(|_| bad())?;
        n.checked_shl(shift).filter(|w| w >> shift == n).ok_or_else(bad)?
    };
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("64 MB"), Ok(64 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("").is_err());
        assert!(parse_size("12 parsecs").unwrap_err().contains("parsecs"));
        assert!(parse_size("99999999999999TiB").is_err(), "overflow is an error");
    }

    #[test]
    fn watermarks_are_fractions_of_the_limit() {
        let b = Budget::new(1000, Eviction::Value);
        assert_eq!(
            (b.low_watermark(), b.high_watermark(), b.tmp_fail_threshold()),
            (750, 850, 950)
        );
        let none = Budget::new(1000, Eviction::None);
        assert_eq!(none.tmp_fail_threshold(), 1000);
        let odd = Budget::with_watermarks(1000, Eviction::Value, 50, 90);
        assert!(odd.low_watermark() < odd.high_watermark());
        let unlimited = Budget::unlimited();
        unlimited.charge(1 << 40);
        assert!(!unlimited.full() && !unlimited.over_high());
    }

    #[test]
    fn used_counts_items_and_tables() {
        let b = Budget::new(1000, Eviction::Value);
        b.charge(600);
        b.tables_resized(0, 300);
        assert_eq!(b.used(), 900);
        assert!(b.over_high() && !b.full());
        b.tables_resized(300, 100);
        b.release(100);
        assert_eq!(b.used(), 600);
    }

    #[test]
    fn queued_changes_count_until_released_or_their_store_closes() {
        let b = std::sync::Arc::new(Budget::new(1000, Eviction::Value));
        let q = std::sync::Arc::new(QueueCharge::new(std::sync::Arc::clone(&b)));
        q.charge(300);
        let other = QueueCharge::new(std::sync::Arc::clone(&b));
        other.charge(50);
        assert_eq!((b.pressure(), b.queued(), q.bytes(), b.used()), (350, 350, 300, 0));
        q.release(100);
        assert_eq!(b.pressure(), 250);
        b.charge(800);
        assert!(b.over_high() && !b.full(), "queued bytes page, items refuse writes");
        b.release(800);
        drop(q);
        assert_eq!(b.pressure(), 50, "a closed store's charge is given back");
        drop(other);
        assert_eq!(b.pressure(), 0);
    }
}
