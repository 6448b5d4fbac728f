//! Input splits: a file cut into byte ranges, each read on its own thread,
//! every record read exactly once (the rule Hadoop's `SequenceFileInputFormat`
//! follows; see [`Reader::open_split`]).

use std::ops::Range;
use std::path::Path;

use crate::error::Result;
use crate::reader::{Reader, RecordRef};

/// Cuts `0..len` into `n` contiguous ranges of nearly equal size.
pub fn ranges(len: u64, n: usize) -> Vec<Range<u64>> {
    let n = n.max(1) as u64;
    (0..n).map(|i| (len * i / n)..(len * (i + 1) / n)).collect()
}

/// Reads `path` as `splits` splits on as many threads. Each split folds its
/// records, in file order, into its own state made by `init`; the states come
/// back in split order. Records are lent as [`RecordRef`]s (see
/// [`Reader::next_ref`]): copy what must outlive the call.
///
/// # Errors
///
/// The first error of any split.
///
/// ```
/// # fn main() -> Result<(), seqfile::Error> {
/// # use seqfile::{Writer, WriterOptions, writable::{IntWritable, NullWritable}};
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("n.seq");
/// # let mut w = Writer::create(&path, WriterOptions::new::<IntWritable, NullWritable>().sync_interval(100))?;
/// # for i in 0..1000 { w.append(&IntWritable(i), &NullWritable)?; }
/// # w.finish()?;
/// let counts = seqfile::split::read_parallel(&path, 4, || 0u64, |n, _rec| { *n += 1; Ok(()) })?;
/// assert_eq!(counts.iter().sum::<u64>(), 1000);
/// # Ok(()) }
/// ```
pub fn read_parallel<T, I, F>(path: &Path, splits: usize, init: I, fold: F) -> Result<Vec<T>>
where
    T: Send,
    I: Fn() -> T + Sync,
    F: Fn(&mut T, RecordRef<'_>) -> Result<()> + Sync,
{
    let len = std::fs::metadata(path).map_err(|e| crate::Error::from(e).with_path(path))?.len();
    let parts = ranges(len, splits);
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|range| {
                let (init, fold) = (&init, &fold);
                s.spawn(move || -> Result<T> {
                    let mut state = init();
                    let mut r = Reader::open_split(path, range.start, range.end)?;
                    while let Some(rec) = r.next_ref()? {
                        fold(&mut state, rec)?;
                    }
                    Ok(state)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}
