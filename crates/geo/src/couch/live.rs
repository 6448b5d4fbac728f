//! Answers over items that may be gone: a row is returned only if the
//! caller still finds a value for its key.
//!
//! The index follows its store through a change feed, so an item whose
//! time has run out stays indexed until the store notices the expiry and
//! the feed delivers the delete. The server therefore looks every row's key
//! up in the store as it renders it; [`respond_live`] drops the rows whose
//! lookup finds nothing and pages (`skip`, `limit`, `n`) over the rows that
//! remain, fetching more from the index when rows were dropped, so a page
//! is as long as it would be had the dead items already been removed.
//!
//! Counts (`count=true`) come from the index alone and may include items
//! that expired but are not yet purged.

use super::{CouchError, render_answer, render_rows};
use crate::GeoIndex;
use crate::error::BoxError;
use crate::query::{Query, Row};

/// Answers `query` against `index`: `(200, rows or count)` or an error's
/// status and body. `value` gives a row's `"value"` JSON from its key, or
/// `None` when the item is gone: such rows are left out and do not count
/// towards `skip`, `limit` or `n`. `value` is called for every row up to
/// the end of the page (skipped rows included), after the index's lock is
/// released, and not at all for counts.
pub fn respond_live<F, V>(index: &GeoIndex, query: &Query, value: F) -> (u16, Vec<u8>)
where
    F: FnMut(&[u8]) -> Option<V>,
    V: AsRef<[u8]>,
{
    let answer = match live_rows(index, query, value) {
        Ok(Some((rows, values))) => {
            let mut values = values.into_iter();
            return (200, render_rows(&rows, |_| values.next()));
        }
        Ok(None) => index.query(query),
        Err(e) => Err(e),
    };
    match answer {
        Ok(answer) => (200, render_answer(&answer, |_| None::<V>)),
        Err(e) => {
            let e = CouchError::from(&e);
            (e.status(), e.body())
        }
    }
}

/// The live rows of a rows query and their values, in order; `None` for a
/// count query.
///
/// # Errors
/// When a nearest query's point is off the globe.
#[allow(clippy::type_complexity, reason = "rows and their values, side by side")]
pub fn live_rows<F, V>(
    index: &GeoIndex,
    query: &Query,
    mut value: F,
) -> Result<Option<(Vec<Row>, Vec<V>)>, BoxError>
where
    F: FnMut(&[u8]) -> Option<V>,
{
    let (skip, take) = match *query {
        Query::Within { skip, limit, .. } => (skip, limit),
        Query::Nearest { skip, n, .. } => (skip, Some(n)),
        Query::Count { .. } => return Ok(None),
    };
    // Rows wanted from the front of the live order.
    let want = take.map(|t| skip.saturating_add(t));
    let mut fetch = want;
    loop {
        let raw = match *query {
            Query::Within { bbox, .. } => index.within(bbox, 0, fetch),
            Query::Nearest { lon, lat, .. } => {
                index.nearest(lon, lat, fetch.unwrap_or(usize::MAX), 0)?
            }
            Query::Count { .. } => return Ok(None),
        };
        let exhausted = fetch.is_none_or(|f| raw.len() < f);
        let mut rows = Vec::with_capacity(raw.len());
        let mut values = Vec::with_capacity(raw.len());
        for row in raw {
            if let Some(v) = value(row.key()) {
                rows.push(row);
                values.push(v);
            }
        }
        let short = want.map_or(0, |w| w.saturating_sub(rows.len()));
        if short == 0 || exhausted {
            let end = want.unwrap_or(usize::MAX).min(rows.len());
            let start = skip.min(end);
            rows.truncate(end);
            values.truncate(end);
            return Ok(Some((rows.split_off(start), values.split_off(start))));
        }
        // Some rows were dead: ask for at least twice as many.
        fetch = fetch.map(|f| f.saturating_add(short.max(f)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IndexSpec;
    use crate::couch::{parse_query, stale_ok};
    use serde_json::Value;

    fn index() -> GeoIndex {
        let index = GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap());
        for i in 0..10u8 {
            let key = format!("k{i}");
            let value = format!(r#"{{"loc":[{i}.0,0.0]}}"#);
            index.upsert(key.as_bytes(), value.as_bytes());
        }
        index
    }

    fn ids(body: &[u8]) -> Vec<String> {
        let body: Value = serde_json::from_slice(body).unwrap();
        body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Items k1, k2, k3 and k7 are "gone" in the store.
    fn lookup(key: &[u8]) -> Option<&'static [u8]> {
        (!matches!(key, b"k1" | b"k2" | b"k3" | b"k7")).then_some(&b"{}"[..])
    }

    #[test]
    fn dead_rows_are_dropped_and_pages_stay_full() {
        let index = index();
        let q = parse_query("bbox=-1,-1,20,1&skip=1&limit=3").unwrap();
        let (status, body) = respond_live(&index, &q, lookup);
        assert_eq!(status, 200);
        assert_eq!(ids(&body), ["k4", "k5", "k6"]);
        let q = parse_query("bbox=-1,-1,20,1&skip=4&limit=10").unwrap();
        assert_eq!(ids(&respond_live(&index, &q, lookup).1), ["k8", "k9"]);
        let q = parse_query("bbox=-1,-1,20,1").unwrap();
        assert_eq!(ids(&respond_live(&index, &q, lookup).1), ["k0", "k4", "k5", "k6", "k8", "k9"]);
        let q = parse_query("n=3&q=0.9,0").unwrap();
        assert_eq!(ids(&respond_live(&index, &q, lookup).1), ["k0", "k4", "k5"]);
        let q = parse_query("n=2&skip=2&q=0.9,0").unwrap();
        assert_eq!(ids(&respond_live(&index, &q, lookup).1), ["k5", "k6"]);
        // Counts come from the index alone.
        let q = parse_query("count=true").unwrap();
        assert_eq!(respond_live(&index, &q, lookup).1, br#"{"count":10}"#);
    }

    #[test]
    fn stale_flag() {
        assert!(stale_ok("bbox=1,2,3,4&stale=ok"));
        assert!(stale_ok("?stale=update_after"));
        assert!(stale_ok("st%61le=ok"));
        assert!(!stale_ok("stale=false"));
        assert!(!stale_ok("bbox=1,2,3,4"));
        assert!(!stale_ok("stale"));
    }
}
