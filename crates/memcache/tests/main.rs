//! memcache's integration tests, one binary: each module below was a test
//! target of its own; one binary links once and shares its helpers.

mod close_rules;
mod roundtrip;
mod text;
mod text_props;
