//! [`export`]: the whole `tap export` run — connect, write the snapshot,
//! then (with `follow`) append live changes to rolled segments until told
//! to stop, reconnecting after the last change written.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use memcache::binary::tap::{TapConnect, TapFlags};

use super::{ExportOptions, Format, Layout, Roll, Segments, Snapshot, snapshot_name};
use crate::conn::Endpoint;
use crate::consumer::{Consumer, ConsumerOptions, Item, Poll};
use crate::error::{Error, Result};
use crate::layout::{Kind, Meta};
use crate::mirror::sleep_unless;

/// What to export, from where, into where.
#[derive(Clone, Debug)]
pub struct ExportJob {
    /// The server to read.
    pub source: Endpoint,
    /// Output directory (`part-NNNNN.seq` or `part-NNNNN/`, then `seg-NNNNNN.seq`).
    pub dir: PathBuf,
    /// File kind, layout, compression and metadata.
    pub options: ExportOptions,
    /// Only keys with this prefix.
    pub key_prefix: Option<Bytes>,
    /// Only items this filter expression selects (`FILTER`).
    pub filter: Option<String>,
    /// After the snapshot, keep appending live changes to segments rolled
    /// this way (item layout only). `None`: stop after the snapshot.
    pub follow: Option<Roll>,
    /// Only keys this predicate keeps go into the snapshot (a cluster
    /// export keeps the keys a node owns); the others are counted in
    /// [`ExportSummary::skipped`]. Checked here, after the stream: the
    /// server still sends them.
    pub keep: Option<KeepKeys>,
}

/// A predicate on keys, shareable across threads.
pub type KeyPredicate = dyn Fn(&[u8]) -> bool + Send + Sync;

/// A predicate on keys for [`ExportJob::keep`].
#[derive(Clone)]
pub struct KeepKeys(pub Arc<KeyPredicate>);

impl std::fmt::Debug for KeepKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeepKeys(..)")
    }
}

/// What the caller hears while an export runs.
#[derive(Debug)]
pub enum ExportReport<'a> {
    /// Records written so far (snapshot and segments), every few thousand
    /// records and when the stream is idle.
    Progress(u64),
    /// The snapshot is complete and in place.
    Snapshot {
        /// `part-NNNNN.seq` or `part-NNNNN/`.
        path: &'a Path,
        /// Records in it.
        records: u64,
        /// Time since the export started.
        elapsed: Duration,
    },
    /// The live stream dropped; reconnecting after the last change written.
    Reconnecting(&'a Error),
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportSummary {
    /// The snapshot (`part-NNNNN.seq` or `part-NNNNN/`).
    pub snapshot: PathBuf,
    /// Records in the snapshot.
    pub snapshot_records: u64,
    /// Items of the snapshot that [`ExportJob::keep`] left out.
    pub skipped: u64,
    /// Live changes appended to segments after it.
    pub live_changes: u64,
    /// Segments closed.
    pub segments: u64,
}

/// Runs an export until the snapshot is written (without `follow`) or until
/// `stop` is set (with it). Nothing of an incomplete snapshot is kept.
///
/// # Errors
/// [`Error::Invalid`] for `follow` with the raw layout, or a directory
/// holding segments of an earlier `follow` export (they would replay stale
/// changes over the new snapshot); [`Error::Incomplete`] when stopped before
/// the snapshot was complete; connection, stream and file errors.
pub fn export(
    job: &ExportJob,
    stop: &AtomicBool,
    report: &mut dyn FnMut(ExportReport<'_>),
) -> Result<ExportSummary> {
    if job.follow.is_some() && job.options.part != 0 {
        return Err(Error::Invalid(
            "following live changes needs part 0: segments are not numbered per part, so two \
             follow exports cannot share a directory"
                .into(),
        ));
    }
    if job.follow.is_some() && job.options.layout == Layout::Raw {
        return Err(Error::Invalid(
            "following live changes needs the item layout: the raw layout cannot record deletes"
                .into(),
        ));
    }
    refuse_stale(&job.dir, &job.options)?;
    let started = Instant::now();
    let mut consumer = connect(job, None)?;
    let mut snapshot = Some(Snapshot::create(&job.dir, job.options.clone())?);
    let mut segments = match job.follow {
        Some(roll) => Some(Segments::new(&job.dir, job.options.clone(), roll)?),
        None => None,
    };
    let mut summary = ExportSummary::default();
    let mut last_seqno = None;
    let mut written = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let d = match consumer.poll(Duration::from_millis(200)) {
            Ok(Poll::Item(d)) => d,
            Ok(Poll::Idle) => {
                report(ExportReport::Progress(written));
                if let Some(s) = &mut segments {
                    s.tick()?;
                }
                continue;
            }
            Ok(Poll::End) => break,
            Err(e) if e.is_transient() && snapshot.is_none() && last_seqno.is_some() => {
                tracing::info!(source = %job.source.addr, error = &e as &dyn std::error::Error, ?last_seqno, "reconnecting");
                report(ExportReport::Reconnecting(&e));
                if let Some(s) = &mut segments {
                    s.close()?;
                }
                sleep_unless(stop, Duration::from_secs(1));
                if let Ok(c) = connect(job, last_seqno) {
                    consumer = c;
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let before = written;
        match (d.item, &mut snapshot) {
            (Item::Mutation(m), Some(_)) if job.keep.as_ref().is_some_and(|k| !(k.0)(&m.key)) => {
                summary.skipped += 1;
            }
            (Item::Mutation(m), Some(s)) => {
                s.put(&m)?;
                last_seqno = m.seqno.or(last_seqno);
                written += 1;
            }
            (Item::Delete { key, .. }, Some(s)) => s.delete(&key),
            (Item::Flush, Some(s)) => s.flush()?,
            (Item::BackfillEnd | Item::StreamEnd, Some(_)) => {
                if let Some(s) = snapshot.take() {
                    let (path, n) = s.finish()?;
                    tracing::debug!(path = %path.display(), records = n, "snapshot written");
                    report(ExportReport::Snapshot {
                        path: &path,
                        records: n,
                        elapsed: started.elapsed(),
                    });
                    summary.snapshot = path;
                    summary.snapshot_records = n;
                }
            }
            (item, None) => {
                let Some(seg) = &mut segments else { continue };
                if append_live(seg, item, &mut last_seqno)? {
                    summary.live_changes += 1;
                    written += 1;
                }
            }
            _ => {}
        }
        if written != before && written.is_multiple_of(4096) {
            report(ExportReport::Progress(written));
        }
    }
    if snapshot.is_some() {
        // Dropping the snapshot removes its temporary file or directory.
        return Err(Error::Incomplete { source_addr: job.source.addr.clone() });
    }
    if let Some(mut s) = segments {
        s.close()?;
        summary.segments = s.closed();
    }
    Ok(summary)
}

/// Appends a live change to the segments; false for events that are not
/// changes (backfill markers, controls).
fn append_live(seg: &mut Segments, item: Item, last_seqno: &mut Option<u64>) -> Result<bool> {
    match item {
        Item::Mutation(m) => {
            let meta =
                Meta { flags: m.flags, expiry: m.expiry, cas: m.cas, seqno: m.seqno.unwrap_or(0) };
            seg.append(Kind::Item, &m.key, &meta, &m.value)?;
            *last_seqno = m.seqno.or(*last_seqno);
        }
        Item::Delete { key, cas, seqno } => {
            let meta = Meta { cas, seqno: seqno.unwrap_or(0), ..Meta::default() };
            seg.append(Kind::Delete, &key, &meta, &[])?;
            *last_seqno = seqno.or(*last_seqno);
        }
        Item::Flush => seg.append(Kind::Flush, &[], &Meta::default(), &[])?,
        _ => return Ok(false),
    }
    Ok(true)
}

fn connect(job: &ExportJob, since: Option<u64>) -> Result<Consumer> {
    let mut c = TapConnect::new(&b""[..]).with(TapFlags::SEQNO_META);
    if job.follow.is_none() {
        c = c.with(TapFlags::DUMP);
    }
    if let Some(s) = since {
        c = c.since_seqno(s);
    }
    if let Some(p) = &job.key_prefix {
        c = c.key_prefix(p.clone());
    }
    if let Some(f) = &job.filter {
        c = c.filter(f.clone().into_bytes());
    }
    Consumer::connect(&job.source, &ConsumerOptions::new(c))
}

/// Files that a replay of `dir` would read with the new snapshot: old
/// segments (stale changes replayed over it), a snapshot of the same part
/// in the other kind, or one from before snapshots were numbered
/// (`base.seq`, `base/`).
fn refuse_stale(dir: &Path, opts: &ExportOptions) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    let own = snapshot_name(opts.format, opts.part);
    let other = match opts.format {
        Format::Seq => snapshot_name(Format::MapFile, opts.part),
        Format::MapFile | Format::BloomMap => snapshot_name(Format::Seq, opts.part),
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let what = if name.starts_with("seg-") {
            "segments of an earlier follow export"
        } else if name == other || name == "base" || name == "base.seq" {
            "another snapshot"
        } else {
            continue;
        };
        return Err(Error::Invalid(format!(
            "{} holds {what} ({name}), which a replay would read with the new {own}; remove it or export into another directory",
            dir.display(),
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::opts;
    use super::*;

    #[test]
    fn a_directory_a_replay_would_mix_up_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(refuse_stale(&d.join("absent"), &opts(Format::Seq, 0)).is_ok());
        // Other parts and hidden files are another export's business.
        std::fs::create_dir(d.join("part-00001")).unwrap();
        std::fs::write(d.join(".part-00000.tmp"), b"").unwrap();
        assert!(refuse_stale(d, &opts(Format::MapFile, 0)).is_ok());
        // The same part is replaced in place.
        std::fs::write(d.join("part-00002.seq"), b"").unwrap();
        assert!(refuse_stale(d, &opts(Format::Seq, 2)).is_ok());
        // The same part in the other kind, an old base, segments: refused,
        // naming the file.
        for (name, format, part) in [
            ("part-00002.seq", Format::MapFile, 2),
            ("part-00001", Format::Seq, 1),
            ("base.seq", Format::MapFile, 5),
            ("base", Format::Seq, 5),
            ("seg-000001.seq", Format::Seq, 5),
        ] {
            let path = d.join(name);
            let made = !path.exists();
            if made {
                std::fs::write(&path, b"").unwrap();
            }
            let e = refuse_stale(d, &opts(format, part)).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
            if made {
                std::fs::remove_file(&path).unwrap();
            }
        }
    }
}
