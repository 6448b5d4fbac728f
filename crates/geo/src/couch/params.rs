//! GeoCouch `_spatial` query strings → [`Query`].
//!
//! | parameter | meaning |
//! |---|---|
//! | `bbox=W,S,E,N` | items meeting the box; `W > E` crosses the antimeridian; omitted: the whole globe |
//! | `limit=N`, `skip=N` | paging over rows ordered by key (for `n`, `limit` caps `n`) |
//! | `count=true` | `{"count":N}` instead of rows (`skip`/`limit` do not apply) |
//! | `n=K&q=LON,LAT` | the K nearest items by great-circle distance |
//! | `stale=ok`, `update_after`, `false` | `ok` and `update_after` answer without waiting for the index to catch up with the latest writes ([`stale_ok`]); `false` waits |
//!
//! Names and values are percent-decoded (`+` is a space). Unknown
//! parameters are ignored, as CouchDB does; a known one given twice is an
//! error. `bbox` with `n`, and `count=true` with `n`, are errors.

use crate::bbox::QueryBox;
use crate::error::{BoxError, QueryError};
use crate::query::Query;

/// Decodes `%XX` escapes and `+`; `None` for a bad escape or non-UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Comma-separated numbers, exactly `N` of them.
fn numbers<const N: usize>(value: &str) -> Option<[f64; N]> {
    let mut out = [0.0; N];
    let mut parts = value.split(',');
    for slot in &mut out {
        *slot = parts.next()?.trim().parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn count(param: &'static str, value: &str) -> Result<usize, QueryError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| value.parse().ok())
        .flatten()
        .ok_or_else(|| QueryError::NotACount { param, value: value.to_owned() })
}

fn set<T>(slot: &mut Option<T>, param: &'static str, v: T) -> Result<(), QueryError> {
    if slot.replace(v).is_some() {
        return Err(QueryError::Duplicate { param });
    }
    Ok(())
}

/// Parses a query string (with or without its leading `?`).
///
/// # Errors
/// A [`QueryError`] naming the first problem found.
pub fn parse_query(qs: &str) -> Result<Query, QueryError> {
    let qs = qs.strip_prefix('?').unwrap_or(qs);
    let (mut bbox, mut limit, mut skip, mut stale, mut count_only, mut n, mut q) =
        (None, None, None, None, None, None, None);
    for pair in qs.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || QueryError::Encoding { pair: pair.to_owned() };
        let name = percent_decode(raw_name).ok_or_else(bad)?;
        let value = percent_decode(raw_value).ok_or_else(bad)?;
        match name.as_str() {
            "bbox" => {
                let [w, s, e, n] = numbers::<4>(&value)
                    .ok_or_else(|| QueryError::BboxSyntax { value: value.clone() })?;
                let b = QueryBox::new(w, s, e, n).map_err(QueryError::Bbox)?;
                set(&mut bbox, "bbox", b)?;
            }
            "q" => {
                let [lon, lat] = numbers::<2>(&value)
                    .ok_or_else(|| QueryError::PointSyntax { value: value.clone() })?;
                let p = point(lon, lat).map_err(QueryError::Point)?;
                set(&mut q, "q", p)?;
            }
            "limit" => set(&mut limit, "limit", count("limit", &value)?)?,
            "skip" => set(&mut skip, "skip", count("skip", &value)?)?,
            "n" => set(&mut n, "n", count("n", &value)?)?,
            "count" => {
                let c = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(QueryError::BadValue {
                            param: "count",
                            value,
                            expected: "true, false",
                        });
                    }
                };
                set(&mut count_only, "count", c)?;
            }
            "stale" => {
                if !matches!(value.as_str(), "ok" | "update_after" | "false") {
                    return Err(QueryError::BadValue {
                        param: "stale",
                        value,
                        expected: "ok, update_after, false",
                    });
                }
                set(&mut stale, "stale", ())?;
            }
            _ => {}
        }
    }
    let skip = skip.unwrap_or(0);
    let count_only = count_only.unwrap_or(false);
    match (n, q) {
        (Some(n), Some((lon, lat))) => {
            if bbox.is_some() {
                return Err(QueryError::Conflict { first: "bbox", second: "n" });
            }
            if count_only {
                return Err(QueryError::Conflict { first: "count", second: "n" });
            }
            let n = limit.map_or(n, |l: usize| l.min(n));
            Ok(Query::Nearest { lon, lat, n, skip })
        }
        (Some(_), None) => Err(QueryError::Missing { given: "n", needs: "q" }),
        (None, Some(_)) => Err(QueryError::Missing { given: "q", needs: "n" }),
        (None, None) => {
            let bbox = bbox.unwrap_or(QueryBox::WORLD);
            Ok(if count_only { Query::Count { bbox } } else { Query::Within { bbox, skip, limit } })
        }
    }
}

/// Whether a query string lets the answer come from an index that may lag
/// behind the latest writes: `stale=ok` or `stale=update_after`, as in
/// CouchDB. The server then answers at once instead of waiting for the
/// index to catch up. Malformed pairs count as not stale ([`parse_query`]
/// reports them).
pub fn stale_ok(qs: &str) -> bool {
    let qs = qs.strip_prefix('?').unwrap_or(qs);
    qs.split('&').any(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        percent_decode(name).as_deref() == Some("stale")
            && matches!(percent_decode(value).as_deref(), Some("ok" | "update_after"))
    })
}

fn point(lon: f64, lat: f64) -> Result<(f64, f64), BoxError> {
    let b = crate::Bbox::point(lon, lat)?;
    Ok((b.west(), b.south()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qb(w: f64, s: f64, e: f64, n: f64) -> QueryBox {
        QueryBox::new(w, s, e, n).unwrap()
    }

    #[test]
    fn bbox_queries() {
        assert_eq!(
            parse_query("bbox=-10,20.5,30,40"),
            Ok(Query::Within { bbox: qb(-10.0, 20.5, 30.0, 40.0), skip: 0, limit: None })
        );
        assert_eq!(
            parse_query("?bbox=170%2C-10%2C-170%2C10&limit=5&skip=2&stale=ok&foo=bar"),
            Ok(Query::Within { bbox: qb(170.0, -10.0, -170.0, 10.0), skip: 2, limit: Some(5) })
        );
        assert_eq!(
            parse_query("bbox=-180,-90,180,90&count=true"),
            Ok(Query::Count { bbox: QueryBox::WORLD })
        );
        assert_eq!(
            parse_query(""),
            Ok(Query::Within { bbox: QueryBox::WORLD, skip: 0, limit: None })
        );
        assert_eq!(
            parse_query("bbox= 1 , 2 , 3 , 4&&count=false"),
            Ok(Query::Within { bbox: qb(1.0, 2.0, 3.0, 4.0), skip: 0, limit: None })
        );
    }

    #[test]
    fn nearest_queries() {
        assert_eq!(
            parse_query("n=3&q=179.5,-89"),
            Ok(Query::Nearest { lon: 179.5, lat: -89.0, n: 3, skip: 0 })
        );
        assert_eq!(
            parse_query("q=1,2&n=10&limit=4&skip=1"),
            Ok(Query::Nearest { lon: 1.0, lat: 2.0, n: 4, skip: 1 })
        );
    }

    #[test]
    fn errors() {
        use QueryError as E;
        let err = |s: &str| parse_query(s).unwrap_err();
        assert!(matches!(err("bbox=1,2,3"), E::BboxSyntax { .. }));
        assert!(matches!(err("bbox=1,2,3,4,5"), E::BboxSyntax { .. }));
        assert!(matches!(err("bbox=a,2,3,4"), E::BboxSyntax { .. }));
        assert!(matches!(err("bbox="), E::BboxSyntax { .. }));
        assert_eq!(err("bbox=181,0,10,10"), E::Bbox(BoxError::Longitude(181.0)));
        assert_eq!(err("bbox=0,-91,10,10"), E::Bbox(BoxError::Latitude(-91.0)));
        assert_eq!(err("bbox=0,NaN,10,10"), E::Bbox(BoxError::NotFinite));
        assert_eq!(err("bbox=0,inf,10,10"), E::Bbox(BoxError::NotFinite));
        assert!(matches!(err("bbox=0,10,10,0"), E::Bbox(BoxError::SouthAboveNorth { .. })));
        assert!(matches!(err("limit=-1"), E::NotACount { param: "limit", .. }));
        assert!(matches!(err("skip=1.5"), E::NotACount { param: "skip", .. }));
        assert!(matches!(err("limit=99999999999999999999999"), E::NotACount { .. }));
        assert!(matches!(err("n=+3&q=0,0"), E::NotACount { param: "n", .. }));
        assert!(matches!(err("count=yes"), E::BadValue { param: "count", .. }));
        assert!(matches!(err("stale=maybe"), E::BadValue { param: "stale", .. }));
        assert_eq!(err("limit=1&limit=2"), E::Duplicate { param: "limit" });
        assert_eq!(err("n=3"), E::Missing { given: "n", needs: "q" });
        assert_eq!(err("q=1,2"), E::Missing { given: "q", needs: "n" });
        assert!(matches!(err("q=1&n=2"), E::PointSyntax { .. }));
        assert_eq!(err("q=1,95&n=2"), E::Point(BoxError::Latitude(95.0)));
        assert_eq!(err("n=1&q=1,2&bbox=0,0,1,1"), E::Conflict { first: "bbox", second: "n" });
        assert_eq!(err("n=1&q=1,2&count=true"), E::Conflict { first: "count", second: "n" });
        assert!(matches!(err("bbox=%zz"), E::Encoding { .. }));
        assert!(matches!(err("bbox=%4"), E::Encoding { .. }));
        assert!(matches!(err("bbox=%ff"), E::Encoding { .. }));
    }
}
