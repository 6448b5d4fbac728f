//! mammoth's geo index: GeoCouch-compatible bounding-box and nearest
//! queries over JSON values.
//!
//! An index is declared as `NAME=POINTER` ([`IndexSpec`]): the JSON pointer
//! names, in each value, either a `[lon, lat]` array or a GeoJSON geometry.
//! Points are indexed as points, other geometries by their bounding box;
//! values that are not JSON, lack the field or lie off the globe are simply
//! not indexed ([`extract`]). A [`GeoIndex`] follows the bucket's writes
//! ([`GeoIndex::upsert`], [`GeoIndex::remove`], [`GeoIndex::clear`]) and is
//! rebuilt at warmup by [`GeoIndex::bulk_load`].
//!
//! ## Design
//!
//! * **One R\*-tree (rstar) in plain longitude/latitude degrees**, with a
//!   key → box map beside it for updates, both behind one `RwLock`
//!   ([`index`] explains the locking and what is stored per item).
//! * **Box queries** ([`QueryBox`]): edges are inclusive; `W > E` crosses
//!   the antimeridian and is answered as two tree queries, `[W, 180]` and
//!   `[-180, E]`, with an item that meets both reported once. Latitudes go
//!   to ±90, so polar caps are ordinary boxes. Rows come back ordered by key
//!   (bytewise), which makes `skip`/`limit` paging stable.
//! * **Nearest** ([`nearest`]): an exact best-first search over the same
//!   tree with a great-circle metric (haversine on the mean Earth sphere,
//!   6,371,008.8 m). Each node is bounded below by the exact spherical
//!   distance to its lon/lat rectangle ([`sphere::distance_to_box`]), which
//!   handles the antimeridian and the poles without special cases. Items
//!   with an extent are ranked by the distance to the nearest point of
//!   their bounding box. Ties are broken by key.
//! * **GeoCouch JSON** ([`couch`]): query strings to typed [`Query`]s or
//!   typed errors with their HTTP status, answers to `{"rows":[…]}` or
//!   `{"count":N}`; no HTTP library is involved.
//!
//! ## Modules
//!
//! | module | job |
//! |---|---|
//! | [`IndexSpec`] (`spec`) | `NAME=POINTER` declarations |
//! | [`JsonPointer`] (`pointer`), `scan` | RFC 6901 pointers; following one through JSON text without building the document |
//! | [`extract`] | a pointed-at value → [`Shape`] (point or bounding box + GeoJSON) |
//! | [`Bbox`], [`QueryBox`] (`bbox`) | indexed boxes; query boxes that may cross the antimeridian |
//! | [`sphere`] | haversine and the exact point-to-box distance |
//! | [`index`] | [`GeoIndex`]: the locked R*-tree and key map, writes and queries |
//! | [`nearest`] | the best-first great-circle k-nearest search |
//! | [`Query`], [`Answer`], [`Row`] (`query`) | typed questions and answers |
//! | [`couch`] | GeoCouch query strings, row/count/error JSON, `/<bucket>/_spatial/<index>` paths |
//!
//! ## Measured
//!
//! `cargo bench -p mammoth-geo --bench geo_queries` (300k points uniform in
//! degrees, latitudes within ±85.05°, 12-byte keys, mimalloc; one core of a
//! shared 2-core machine): bulk load from JSON values 0.28 s (0.5–0.6 s
//! cold), 180 bytes per point; a 3000 × 2000 km box (3,590 hits) 170 µs as
//! rows, 0.55 ms rendered as GeoCouch JSON, 18 µs as a count; a 300 × 200 km
//! box (33 hits) 1.3 µs as rows, 3.8 µs as JSON; 10 nearest 7–14 µs; an
//! upsert (parse + move a point) 4.5 µs.
//!
//! ## Example
//!
//! ```
//! use geo_index::{Answer, GeoIndex, IndexSpec, Query, QueryBox};
//!
//! let index = GeoIndex::new(IndexSpec::parse("loc=/loc")?);
//! index.upsert(b"fiji", br#"{"loc":[178.4,-18.1],"name":"Suva"}"#);
//! index.upsert(b"samoa", br#"{"loc":[-171.8,-13.8],"name":"Apia"}"#);
//! index.upsert(b"note", b"not json: not indexed");
//! assert_eq!(index.len(), 2);
//!
//! // A box across the antimeridian finds both.
//! let bbox = QueryBox::new(170.0, -25.0, -170.0, -10.0)?;
//! let rows = index.within(bbox, 0, None);
//! let keys: Vec<&[u8]> = rows.iter().map(|r| r.key()).collect();
//! assert_eq!(keys, [&b"fiji"[..], b"samoa"]);
//!
//! // The nearest item to a point just east of the antimeridian is Fiji,
//! // west of it: distances are great-circle metres.
//! let near = index.nearest(-179.9, -18.0, 1, 0)?;
//! assert_eq!(near[0].key(), b"fiji");
//! assert!(near[0].distance().unwrap() < 200_000.0);
//!
//! // The same through a GeoCouch query string.
//! let q = geo_index::couch::parse_query("bbox=170,-25,-170,-10&count=true")?;
//! assert_eq!(q, Query::Count { bbox });
//! assert_eq!(index.query(&q)?, Answer::Count(2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
// Coordinates are compared exactly on purpose: answers must equal a
// brute-force scan bit for bit, and edges are inclusive.
#![allow(clippy::float_cmp)]

mod bbox;
pub mod couch;
mod error;
pub mod extract;
pub mod index;
mod key;
pub mod nearest;
mod pointer;
mod query;
mod scan;
mod spec;
pub mod sphere;

pub use bbox::{Bbox, QueryBox};
pub use error::{BoxError, PointerError, QueryError, SpecError};
pub use extract::Shape;
pub use index::GeoIndex;
pub use pointer::JsonPointer;
pub use query::{Answer, Query, Row};
pub use spec::IndexSpec;
