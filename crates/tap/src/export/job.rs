//! [`export`]: the whole `tap export` run — connect, write the snapshot,
//! then (with `follow`) append live changes to rolled segments until told
//! to stop, reconnecting after the last change written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use memcache::binary::tap::{TapConnect, TapFlags};

use super::{ExportOptions, Layout, Roll, Segments, Snapshot};
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
    /// Output directory (`base.seq` or `base/`, then `seg-NNNNNN.seq`).
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
}

/// What the caller hears while an export runs.
#[derive(Debug)]
pub enum ExportReport<'a> {
    /// Records written so far (snapshot and segments), every few thousand
    /// records and when the stream is idle.
    Progress(u64),
    /// The snapshot is complete and in place.
    Snapshot {
        /// `base.seq` or `base/`.
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
    /// The snapshot (`base.seq` or `base/`).
    pub snapshot: PathBuf,
    /// Records in the snapshot.
    pub snapshot_records: u64,
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
    if job.follow.is_some() && job.options.layout == Layout::Raw {
        return Err(Error::Invalid(
            "following live changes needs the item layout: the raw layout cannot record deletes"
                .into(),
        ));
    }
    refuse_old_segments(&job.dir)?;
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
        // Dropping the snapshot removes its temporary file.
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

/// Old segments after a new snapshot would replay stale changes over it.
fn refuse_old_segments(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for e in entries.flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with("seg-") {
            return Err(Error::Invalid(format!(
                "{} holds segments of an earlier follow export ({}); export into an empty directory",
                dir.display(),
                name.to_string_lossy()
            )));
        }
    }
    Ok(())
}
