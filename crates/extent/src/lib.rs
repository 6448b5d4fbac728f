//! # extent — a zero-copy byte string of shared, copy-on-write blocks
//!
//! [`ExtentBuf`] is a byte string of up to 2⁶⁴ bytes kept as a list of
//! *extents* — [`bytes::Bytes`] views into reference-counted blocks — that
//! reads as one buffer. Any offset is reached in O(log n), bytes can be
//! inserted and removed anywhere, buffers split, sliced and concatenated,
//! all without copying the bytes; a write to a block that another buffer
//! still sees copies only the part it touches. Values move from socket to
//! store to file and back as the same blocks.
//!
//! ```
//! use bytes::Bytes;
//! use extent::ExtentBuf;
//!
//! // O(1): a `Bytes` (say, a slice of a socket read buffer) becomes the value.
//! let mut v = ExtentBuf::from(Bytes::from_static(b"hello world"));
//! // APPEND / PREPEND share the old bytes; nothing is copied.
//! v.append(Bytes::from_static(b"!"));
//! v.prepend(Bytes::from_static(b">> "));
//! v.insert(8, Bytes::from_static(b",")); // splits an extent, zero copy
//! assert_eq!(v, b">> hello, world!"[..]);
//! assert_eq!(v.extent_count(), 5);
//!
//! // Snapshots are O(1); edits never show through to them.
//! let snapshot = v.clone();
//! v.write_at(3, b"HELLO");
//! v.remove(8..10);
//! assert_eq!(v, b">> HELLOworld!"[..]);
//! assert_eq!(snapshot, b">> hello, world!"[..]);
//!
//! // Split, slice and join share blocks too.
//! let mut tail = v.split_off(8);
//! assert_eq!(tail, b"world!"[..]);
//! tail.append_buf(snapshot.slice(3..8));
//! assert_eq!(tail.copy_to_vec(..), b"world!hello");
//!
//! // One vectored write for a header plus the value's extents.
//! let mut iov = [std::io::IoSlice::new(&[]); 16];
//! iov[0] = std::io::IoSlice::new(b"VALUE k 0 11\r\n");
//! let n = tail.io_slices(.., &mut iov[1..]);
//! assert_eq!(iov[..=n].iter().map(|s| s.len()).sum::<usize>(), 14 + 11);
//! ```
//!
//! ## Tree shape
//!
//! * **Extents** are `Bytes`: a pointer, a length and a shared owner, so
//!   cutting one in two or taking a sub-range never copies.
//! * **Leaves** hold up to 16 extents, **inner nodes** up to 16 children;
//!   every node other than the root holds at least 8. Each node keeps, next
//!   to its items, the byte count of every item (`u64`): a position is found
//!   by subtracting counts while descending, so an edit changes only the
//!   counts on one root-to-leaf path, never the positions of later extents.
//!   All leaves are at the same depth (a B+tree); a 1 GiB buffer of 4 KiB
//!   extents (262,144 of them) is 5 levels deep.
//! * **No tree for small values**: an empty buffer allocates nothing and a
//!   one-extent buffer stores its `Bytes` inline, so `From<Bytes>`,
//!   `From<Vec<u8>>`, [`ExtentBuf::into_bytes`] and [`ExtentBuf::to_bytes`]
//!   are O(1) and free of copies there. [`ExtentBuf::len`] is cached: O(1).
//! * A node's items sit in a fixed-capacity array (`arrayvec`): slots past
//!   the fill are never initialised or dropped, and a child is a plain
//!   `Arc<Node>`. Leaves and inner nodes have one size, so the allocator's
//!   size classes act as the node pool. Under `cfg(test)` and the `small-nodes` feature
//!   nodes hold at most 4 items, which makes a few hundred bytes build deep
//!   trees for the property tests and the fuzz target.
//! * Invariants (leaves at one depth, fill bounds, no empty extents, every
//!   count equal to the sum below it, cached length) are checked after every
//!   mutation in debug builds.
//!
//! ## Copy-on-write
//!
//! Nodes live behind `Arc`. `clone()` bumps one reference count. Every edit
//! walks its path with `Arc::make_mut`: a node owned only by this buffer is
//! changed in place, a shared one is copied first (one node copy and one
//! count bump per item, per level). Blocks are never written while shared:
//! [`ExtentBuf::write_at`] writes in place only when `Bytes::try_into_mut`
//! proves the block unique; otherwise a small extent (≤ 4 KiB), or one the
//! write covers at least half of, is replaced by a private copy, and a large
//! one is cut into *before / private copy of the touched 4 KiB-aligned span /
//! after*, the outer parts still shared. A 1-byte write into a shared 1 GiB
//! buffer therefore costs one 4 KiB block plus one path of nodes (tested).
//!
//! ## Small-write policy
//!
//! A zero-copy tree that kept every tiny insert as its own extent would grow
//! a 32-byte handle per edit. So:
//!
//! * [`ExtentBuf::insert_from_slice`] (and the `_from_slice` appends) of fewer
//!   than 256 bytes go into the extent at the insert point (or the one
//!   ending there) when the result fits a 4 KiB block: in place when that
//!   block is uniquely owned (using spare capacity), else by copying the
//!   extent into a fresh private 4 KiB block (a bounded copy). Otherwise they
//!   start a fresh 4 KiB block that later small inserts fill.
//! * After a removal, two extents left side by side that are together at
//!   most 512 bytes are merged by copying (at most 512 bytes per edit).
//! * [`ExtentBuf::defragment`] rewrites runs of small extents into larger
//!   blocks on demand.
//! * Inserting a `Bytes` ([`ExtentBuf::insert`], [`ExtentBuf::append`], …)
//!   never copies, whatever its size.
//!
//! ## Cost of each operation
//!
//! n extents in the buffer, k extents touched or visited.
//!
//! | operation | time | copies bytes? |
//! | --- | --- | --- |
//! | `clone`, `len`, `From<Bytes>`, `From<Vec<u8>>` | O(1) | no |
//! | `byte_at`, `read_at` (locate) | O(log n) | `read_at` copies what it reads |
//! | `insert`, `append`, `prepend` (`Bytes`) | O(log n) | no |
//! | `insert_from_slice` | O(log n) | the inserted bytes; ≤ 4 KiB more (policy) |
//! | `remove`, `truncate`, `replace` | O(log n) + dropping k extents | ≤ 512 B (merge) |
//! | `split_off`, `split_to` | O(log n) | no |
//! | `slice` | O(1): a window onto the shared tree (which it keeps alive, as `Bytes::slice` does); its first edit or `detach` builds its own tree in O(log n) | no |
//! | `append_buf`, `insert_buf` | O(log n + log m) | no |
//! | `write_at` | O(log n + k) | the touched 4 KiB spans of shared blocks |
//! | `chunks`, `chunks_in`, `io_slices`, `extents` | O(log n + k) | no |
//! | `from_extents`, `FromIterator<Bytes>` | O(n) (bottom-up) | no |
//! | `Eq`, `Ord`, `Hash` | O(n) chunk by chunk, never flattened | no (hash: 256 B windows) |
//!
//! Out-of-range offsets panic, as slice indexing does (each method says so
//! under *Panics*); the `try_` twins return an [`ExtentError`] instead.
//!
//! ## Reading and I/O
//!
//! [`ExtentBuf::chunks`] and [`ExtentBuf::chunks_in`] yield `&[u8]` per
//! extent; [`ExtentBuf::extents`] and [`ExtentBuf::into_extents`] yield the
//! `Bytes` handles. [`ExtentBuf::io_slices`] fills a caller's `IoSlice`
//! array (keep it at most [`IOV_MAX`] = 1024 long for `writev`) and
//! [`ExtentBuf::write_all_to`] loops over partial vectored writes. A
//! [`Cursor`] implements [`bytes::Buf`] (with `chunks_vectored`, so tokio's
//! `write_buf` sends many extents per call) and
//! `std::io::{Read, BufRead, Seek}`; [`ExtentWriter`] implements
//! `std::io::Write` and freezes what it receives into extents of a chosen
//! size. (`BufMut` is not implemented: it needs `unsafe`, which this crate
//! forbids.)
//!
//! ## Performance
//!
//! Inserting 1 KiB in the middle of a 1 GiB buffer of 4 KiB extents takes
//! p50 0.14 µs with a warm cache and 0.58 µs cold, against 6.6 ms for
//! `Vec::splice` and 4.2 µs for ropey at 256 MiB; the tree costs about 52
//! bytes per extent. Every workload of the design note, with its goal and
//! the commands that measure it (`cargo bench -p mammoth-extent --bench
//! extent`, `cargo run --release -p mammoth-extent --example latency`), is
//! in the project's `docs/performance.md`.
#![forbid(unsafe_code)]

mod buf;
mod cmp;
mod cursor;
mod error;
mod iter;
mod node;
mod tree;
mod writer;

pub use buf::{ExtentBuf, IOV_MAX};
pub use cursor::Cursor;
pub use error::ExtentError;
pub use iter::{Chunks, Extents, IntoExtents};
pub use writer::{DEFAULT_EXTENT_SIZE, ExtentWriter};

#[cfg(test)]
mod tests;
