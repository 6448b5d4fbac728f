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
//!   data). A name of length `L` over `Σ` becomes a number, in one of two
//!   codes chosen per length:
//!   - the *plain code*, the base-`|Σ|` number of its bytes' ranks: below
//!     `|Σ|^L`, sorts like the names, so names sharing a prefix are close;
//!   - the *anagram code*, `M · L! + A`, where `M` ranks the name's
//!     multiset of symbols (combinatorial number system) and `A` is the
//!     Lehmer code of its arrangement: injective, below
//!     `C(|Σ| + L - 1, L) · L!`, and it puts rearrangements of the same
//!     symbols side by side, successive permutations (in lexicographic
//!     order, of distinct symbols) on *consecutive* numbers.
//!
//!   Each length with a code below `2^63` gets one sorted sequence of codes
//!   stored as *partitioned Elias–Fano*: chunks of up to 256 codes, each
//!   chunk's first code kept plainly and the rest as an Elias–Fano sequence
//!   over the chunk's own span, chunk ends chosen where the cost per code is
//!   lowest. That is about `2 + log2(span / n)` bits per name: near the
//!   information floor `log2 C(U, n_L)` on scattered names, much less where
//!   names cluster — and a run of consecutive codes costs about 2 bits per
//!   name. A radix directory over each sequence's top bits finds the chunk.
//!
//!   **Which code.** The builder encodes the first 65,536 names of each
//!   length (in input order) both ways, builds both sequences and keeps the
//!   code whose sequence is smaller (the plain one on ties); the choice is
//!   stored per length in the file. On scattered names the plain code wins
//!   (its universe is smaller: for `L = 11` over 36 symbols, `36^11` against
//!   `C(46, 11) · 11!`, 2.0 bits per name more for the anagram code). On the
//!   challenge's names the anagram code wins by far: the 2011 generator
//!   emits runs of successive `next_permutation`s of a random set of
//!   distinct characters (~455 names per run), and under the anagram code
//!   every run is one range of consecutive numbers, so a chunk of 256 names
//!   costs ~670 bits instead of ~5,000 (100M names: 2.45 → 0.38 bytes per
//!   name). That is the generator's structure, not a property of real
//!   usernames: real and i.i.d. names keep the plain code and their sizes.
//!   The choice changes only the size, never an answer.
//! * **Front-coded names.** Everything else (longer names, bytes outside
//!   `Σ`: Unicode, punctuation) is sorted and stored in blocks of 32 with
//!   front coding; lengths are Elias gamma codes and characters use
//!   `ceil(log2 σ)` bits for the `σ` bytes those names use.
//!
//! Lookups are `O(1)` memory accesses for coded names: the code is computed
//! from the name's bytes in registers (for the anagram code, one bit mask
//! gives both the Lehmer digits and the sorted symbols), then the lookup
//! reads the directory, the chunk head with its offset, the chunk's unary
//! part and the bucket's low parts. The other names take a binary search
//! over block heads plus one block.
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
//! versioned header (see [`mod@file`]) and loaded with [`UserSet::load`], which
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

pub use build::{
    BuildStats, CheckStats, Progress, build_file, check_file, check_reader, for_each_line,
};
pub use error::Error;
pub use set::{MAX_NAME_LEN, SetStats, UserSet};
