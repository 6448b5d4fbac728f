//! mammoth's benchmark harnesses: each library measured beside its
//! reference peer in one run, on one machine, so that the ratio means
//! something (absolute figures from different hosts do not compare).
//!
//! | module | measures | peer |
//! |---|---|---|
//! | [`hadoop`] | SequenceFile write/read throughput, MapFile and BloomMapFile lookups | real Hadoop through `interop/hadoop` |
//! | [`load`] | a server's throughput and latency, one request in flight per connection, memcached text or RESP, TCP or TLS | the same driver against memcached or Redis |
//! | [`userset`] | the 2011 username challenge: size, build, verify, lookups | `fst::Set` and a 2011-style sorted array |
//!
//! The crate is not published: it depends on peers (the `sequencefile`
//! crate in its criterion bench, a JVM at run time) that the libraries must
//! not pull in. `mammoth bench …` is its command line.
//!
//! # Example
//!
//! ```
//! use mammoth_bench::hadoop::{SeqBench, seq};
//!
//! let opts = SeqBench { records: 200, rounds: 1, formats: vec!["none".into()], ..SeqBench::default() };
//! let table = seq(&opts, &mut |_| {})?;
//! assert_eq!(table.rows.len(), 3); // write, read, read in 2 splits
//! assert!(table.to_string().contains("none"));
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod hadoop;
pub mod load;
pub mod userset;
