//! Hadoop SequenceFiles and MapFiles in Rust: read and write all three
//! layouts (NONE, RECORD, BLOCK) with every common codec, and the MapFile
//! family on top, byte-compatible with Hadoop.
//!
//! # Layout of the crate
//!
//! * [`vint`] and [`writable`]: Hadoop's variable-length integers and the
//!   serialized forms of the standard `Writable` classes.
//! * [`codec`]: one complete codec stream per value or block buffer, with
//!   Hadoop's own block framing for Snappy and LZ4.
//! * [`header`]: the file header.
//! * [`Reader`] and [`Writer`]: records as raw serialized bytes (zero-copy
//!   [`bytes::Bytes`] slices of the read buffer or the decompressed block) or
//!   typed through [`Writable`](writable::Writable).
//! * [`split`]: Hadoop-style input splits, read in parallel.
//! * [`map`]: MapFile, SetFile, ArrayFile and BloomMapFile on top of the
//!   reader and writer, ordered by [`order`] (Hadoop's raw comparators), with
//!   [`bloom`] filters hashed by [`hash`] (Hadoop's Murmur and Jenkins),
//!   bit-identical to Hadoop's.
//! * [`sort`]: an external, stable sort of records by a key [`order`]
//!   (Hadoop's `SequenceFile.Sorter`), e.g. before building a MapFile.
//! * [`dump`]: the canonical text dump shared with the real-Hadoop test peer.
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), seqfile::Error> {
//! use seqfile::{Codec, Compression, Reader, Writer, WriterOptions};
//! use seqfile::writable::Text;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("words.seq");
//! let opts = WriterOptions::new::<Text, Text>()
//!     .compression(Compression::Block(Codec::Snappy))
//!     .metadata("source", "example");
//! let mut w = Writer::create(&path, opts)?;
//! for word in ["apple", "banana", "cherry"] {
//!     w.append(&Text::from(word), &Text::from(word.to_uppercase()))?;
//! }
//! w.finish()?;
//!
//! let mut r = Reader::open(&path)?;
//! assert_eq!(r.header().metadata.get(b"source").unwrap(), "example");
//! let mut n = 0;
//! while let Some((k, v)) = r.next_typed::<Text, Text>()? {
//!     assert_eq!(k.to_string().to_uppercase(), v.to_string());
//!     n += 1;
//! }
//! assert_eq!(n, 3);
//! # Ok(()) }
//! ```
//!
//! # Bad input
//!
//! Every length read from a file is checked against what remains before
//! anything is allocated for it, decompression is capped
//! ([`ReaderOptions::max_buffer_len`]), and every failure is an [`Error`]
//! naming the file and byte offset. The reader never panics on input.
#![deny(missing_docs)]

pub mod bloom;
pub mod codec;
pub mod dump;
mod error;
pub mod hash;
pub mod header;
pub mod map;
pub mod order;
mod reader;
pub mod sort;
mod source;
pub mod split;
pub mod vint;
pub mod writable;
mod writer;

pub use codec::Codec;
pub use error::{Error, ErrorKind, Result};
pub use header::{Compression, Header, Metadata};
pub use reader::{Reader, ReaderOptions, Record, RecordRef, Records};
pub use writer::{DEFAULT_BLOCK_SIZE, DEFAULT_SYNC_INTERVAL, Writer, WriterOptions};
