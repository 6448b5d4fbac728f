//! server's integration tests, one binary: each module below was a test
//! target of its own; one binary links once and shares its helpers.

mod support;

mod geo;
mod lua;
mod operators;
mod protocol;
mod rust_client;
mod tap;
mod tap_filter;
mod tap_filter_edges;
mod text;
mod tls;
