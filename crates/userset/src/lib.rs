//! An exact, immutable, compact set of byte-string names, built for the
//! 2011 "100 million usernames" challenge: load the names, answer "is this
//! user in it?" exactly, in as little memory and time as possible.
//!
//! # Design
//!
//! Names are split by what they look like, because short names over a small
//! alphabet can be stored as numbers, and numbers compress well:
//!
//! * **Coded names.** The *code alphabet* `Σ` is the set of bytes of the
//!   names of at most 12 bytes (`[a-z0-9]`, 36 symbols, for the challenge's
//!   data). A name of length `L` over `Σ` is the base-`|Σ|` number of its
//!   bytes' ranks, a code below `|Σ|^L` that sorts like the name. Each length
//!   with `|Σ|^L < 2^63` gets one sorted sequence of codes stored as
//!   *partitioned Elias–Fano*: chunks of 128 codes, each chunk's first code
//!   kept plainly and the rest as an Elias–Fano sequence over the chunk's own
//!   span. That is about `2 + log2(|Σ|^L / n_L)` bits per name on scattered
//!   names (the information floor of a random set is `log2 C(|Σ|^L, n_L)`),
//!   less where names cluster (runs of similar names share a chunk's span).
//!   A radix directory over each sequence's top bits finds the chunk.
//! * **Front-coded names.** Everything else (longer names, bytes outside
//!   `Σ`: Unicode, punctuation) is sorted and stored in blocks of 32 with
//!   front coding; lengths are Elias gamma codes and characters use
//!   `ceil(log2 σ)` bits for the `σ` bytes those names use.
//!
//! Lookups are `O(1)` memory accesses for coded names (directory, chunk
//! head with its offset, the chunk's unary part, the bucket's low parts)
//! and a binary search over block heads plus one block for the rest.
//! [`UserSet::contains_batch`] walks 32 lookups through the structure stage
//! by stage: each stage first works out every lookup's next addresses from
//! lines the previous stage fetched, then reads them all in one tight loop,
//! so the group's cache misses are in flight together (a lookup's own work
//! between two misses would otherwise fill the CPU's instruction window and
//! leave only a few misses overlapping). The bit-level steps are branch-free
//! where their outcome is unpredictable (field reads, select in a word, the
//! search inside a bucket).
//!
//! Sets are saved with [`UserSet::save`] into a file with a checksummed,
//! versioned header (see [`file`]) and loaded with [`UserSet::load`], which
//! streams the arrays into memory without rebuilding anything: no `unsafe`,
//! so no memory map (reading ~290 MB takes a fraction of a second from the
//! page cache). [`build_file`] builds from a file of lines on several
//! threads; [`generate`] reproduces the challenge's data.
//!
//! # Example
//!
//! ```
//! use userset::UserSet;
//!
//! let names: [&[u8]; 5] = [b"alice", b"bob", b"carol", b"bob", "zoë".as_bytes()];
//! let set = UserSet::from_names(names)?;
//! assert_eq!(set.len(), 4);
//! assert!(set.contains(b"alice") && set.contains("zoë".as_bytes()));
//! assert!(!set.contains(b"mallory"));
//!
//! let queries: [&[u8]; 3] = [b"bob", b"eve", b"carol"];
//! let mut answers = [false; 3];
//! set.contains_batch(&queries, &mut answers);
//! assert_eq!(answers, [true, false, true]);
//!
//! // Save and load: the same set, no rebuild.
//! let mut bytes = Vec::new();
//! set.write_to(&mut bytes)?;
//! assert_eq!(UserSet::from_bytes(&bytes)?, set);
//! # Ok::<(), userset::Error>(())
//! ```

mod anagram;
mod bits;
mod build;
mod error;
mod fc;
pub mod file;
pub mod generate;
mod glibc_rand;
mod pef;
mod set;
mod words;

pub use build::{BuildStats, CheckStats, Progress, build_file, check_file, for_each_line};
pub use error::Error;
pub use set::{MAX_NAME_LEN, SetStats, UserSet};
