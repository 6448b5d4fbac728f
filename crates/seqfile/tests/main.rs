//! seqfile's integration tests, one binary: each module below was a test
//! target of its own; one binary links once and shares its helpers.

mod bloom;
mod common;
mod fixtures;
mod hadoop;
mod hadoop_map;
mod map;
mod roundtrip;
