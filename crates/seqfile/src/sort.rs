//! Sorting records by a key order in bounded memory: runs of at most
//! `budget` bytes are sorted in memory; when the input is larger, each run is
//! spilled to a temporary uncompressed SequenceFile and the runs are merged.
//!
//! The sort is stable: records with equal keys come out in input order (runs
//! are merged by key, then by run number, and each run is sorted stably).
//! This is the job of Hadoop's `SequenceFile.Sorter`, and what a MapFile
//! needs before its writer (keys in order) can take unsorted input.
//!
//! ```
//! use seqfile::order::KeyOrder;
//! use seqfile::sort::Sorter;
//!
//! let tmp = tempfile::tempdir().unwrap().path().join("runs");
//! let mut s = Sorter::new(KeyOrder::Bytes, 64 << 20, tmp);
//! for (k, v) in [("b", "2"), ("a", "1"), ("b", "3")] {
//!     s.push(k.as_bytes(), v.as_bytes())?;
//! }
//! let mut out = Vec::new();
//! s.finish(|k, v| {
//!     out.push((k.to_vec(), v.to_vec()));
//!     Ok::<_, seqfile::Error>(())
//! })?;
//! assert_eq!(out, [(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), b"2".to_vec()), (b"b".to_vec(), b"3".to_vec())]);
//! # Ok::<(), seqfile::Error>(())
//! ```

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::order::KeyOrder;
use crate::{Error, Reader, Result, Writer, WriterOptions};

/// Records gathered for sorting; see the module docs.
#[derive(Debug)]
pub struct Sorter {
    order: KeyOrder,
    budget: usize,
    arena: Vec<u8>,
    spans: Vec<(usize, u32, u32)>,
    tmp: PathBuf,
    runs: Vec<PathBuf>,
    records: u64,
}

impl Sorter {
    /// A sorter that spills runs of `budget` bytes into `tmp` (created on first spill).
    pub fn new(order: KeyOrder, budget: usize, tmp: PathBuf) -> Self {
        Sorter {
            order,
            budget: budget.max(1 << 20),
            arena: Vec::new(),
            spans: Vec::new(),
            tmp,
            runs: Vec::new(),
            records: 0,
        }
    }

    /// Adds one record.
    ///
    /// # Errors
    /// A key or value of 4 GiB or more; writing a spilled run.
    pub fn push(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let len = |what, n: usize| {
            u32::try_from(n).map_err(|_| {
                Error::new(crate::ErrorKind::TooLarge {
                    what,
                    len: n as u64,
                    limit: u32::MAX.into(),
                })
            })
        };
        let (kl, vl) = (len("sort key", key.len())?, len("sort value", value.len())?);
        self.spans.push((self.arena.len(), kl, vl));
        self.arena.extend_from_slice(key);
        self.arena.extend_from_slice(value);
        self.records += 1;
        if self.arena.len() + self.spans.len() * 16 >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Records added so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Runs spilled to disk so far.
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    fn sort_run(&mut self) {
        let (arena, order) = (&self.arena, self.order);
        let key_of = |&(at, kl, _): &(usize, u32, u32)| &arena[at..at + kl as usize];
        if !self.spans.windows(2).all(|w| order.compare(key_of(&w[0]), key_of(&w[1])).is_le()) {
            self.spans.sort_by(|x, y| order.compare(key_of(x), key_of(y)));
        }
    }

    fn spill(&mut self) -> Result<()> {
        self.sort_run();
        std::fs::create_dir_all(&self.tmp).map_err(|e| Error::from(e).with_path(&self.tmp))?;
        let path = self.tmp.join(format!("run-{:05}.seq", self.runs.len()));
        let mut w = Writer::create(&path, WriterOptions::with_classes("run", "run"))?;
        for &(at, kl, vl) in &self.spans {
            let (kl, vl) = (kl as usize, vl as usize);
            w.append_raw(&self.arena[at..at + kl], &self.arena[at + kl..at + kl + vl])?;
        }
        w.finish()?;
        self.runs.push(path);
        self.arena.clear();
        self.spans.clear();
        Ok(())
    }

    /// Calls `f` with every record in key order, then removes the spill files.
    ///
    /// # Errors
    /// Reading the spilled runs back, or the first error of `f`.
    pub fn finish<E: From<Error>>(
        mut self,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.runs.is_empty() {
            self.sort_run();
            for &(at, kl, vl) in &self.spans {
                let (kl, vl) = (kl as usize, vl as usize);
                f(&self.arena[at..at + kl], &self.arena[at + kl..at + kl + vl])?;
            }
            return Ok(());
        }
        if !self.spans.is_empty() {
            self.spill()?;
        }
        let result = merge(&self.runs, self.order, &mut f);
        let _ = std::fs::remove_dir_all(&self.tmp);
        result
    }
}

/// The head record of one run in the merge heap (a min-heap by key, then run).
struct Head {
    key: Bytes,
    value: Bytes,
    run: usize,
    order: KeyOrder,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap.
        self.order.compare(&other.key, &self.key).then(other.run.cmp(&self.run))
    }
}

fn merge<E: From<Error>>(
    runs: &[PathBuf],
    order: KeyOrder,
    f: &mut impl FnMut(&[u8], &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut readers = runs.iter().map(Reader::open).collect::<Result<Vec<_>, _>>()?;
    let mut heap = BinaryHeap::with_capacity(readers.len());
    for (run, r) in readers.iter_mut().enumerate() {
        if let Some(rec) = r.next_record()? {
            heap.push(Head { key: rec.key, value: rec.value, run, order });
        }
    }
    while let Some(head) = heap.pop() {
        f(&head.key, &head.value)?;
        if let Some(rec) = readers[head.run].next_record()? {
            heap.push(Head { key: rec.key, value: rec.value, run: head.run, order });
        }
    }
    Ok(())
}

/// A name for the spill directory next to `target` (hidden, with the
/// process id), so runs land on the output's file system.
pub fn tmp_dir_for(target: &Path) -> PathBuf {
    let name =
        target.file_name().map_or_else(|| "map".into(), |n| n.to_string_lossy().into_owned());
    target.with_file_name(format!(".{name}.sort-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sort(keys: &[u32], budget: usize) -> (Vec<(u32, u32)>, usize) {
        let dir =
            std::env::temp_dir().join(format!("mammoth-sort-test-{}-{budget}", std::process::id()));
        let mut s = Sorter::new(KeyOrder::Signed, budget, dir);
        s.budget = budget; // allow tiny budgets in tests
        for (i, k) in keys.iter().enumerate() {
            s.push(&k.to_be_bytes(), &(i as u32).to_be_bytes()).unwrap();
        }
        let runs = s.spilled_runs();
        let mut out = Vec::new();
        s.finish(|k, v| {
            out.push((
                u32::from_be_bytes(k.try_into().unwrap()),
                u32::from_be_bytes(v.try_into().unwrap()),
            ));
            Ok::<_, Error>(())
        })
        .unwrap();
        (out, runs)
    }

    #[test]
    fn spilled_and_in_memory_sorts_agree_and_are_stable() {
        let keys: Vec<u32> = (0..5000u32).map(|i| i.wrapping_mul(2_654_435_761) % 700).collect();
        let mut want: Vec<(u32, u32)> =
            keys.iter().enumerate().map(|(i, k)| (*k, i as u32)).collect();
        want.sort_by_key(|&(k, _)| k);
        let (in_memory, runs) = sort(&keys, 1 << 30);
        assert_eq!(runs, 0);
        assert_eq!(in_memory, want);
        let (spilled, runs) = sort(&keys, 4096);
        assert!(runs > 10, "{runs} runs");
        assert_eq!(spilled, want);
    }
}
