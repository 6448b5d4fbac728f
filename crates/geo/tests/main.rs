//! mammoth-geo's integration tests: one binary (one link), modules by theme.
//!
//! * `model`: a brute-force model and proptest strategies shared by the rest;
//! * `queries`: box and nearest queries against the model, including the
//!   antimeridian and the poles;
//! * `updates`: upsert/remove/clear/bulk-load sequences against the model;
//! * `sphere`: the point-to-box distance against dense sampling;
//! * `sqlite`: box queries against SQLite's R*Tree;
//! * `couch`: query-string and rendering robustness;
//! * `concurrency`: queries during writes, read-your-writes.

// Exact coordinate comparisons are the point of these tests.
#![allow(clippy::float_cmp)]

mod concurrency;
mod couch;
mod model;
mod queries;
mod sphere;
mod sqlite;
mod updates;
