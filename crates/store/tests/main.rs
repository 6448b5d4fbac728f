//! store's integration tests, one binary: each module below was a test
//! target of its own; one binary links once and shares its helpers.

mod durability;
mod feed;
mod memory;
mod semantics;
