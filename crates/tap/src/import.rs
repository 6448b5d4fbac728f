//! Loading SequenceFiles and MapFiles into a server ([`import`]).
//!
//! Keys and values become memcached keys and values as follows:
//!
//! * `BytesWritable`: the bytes (without the 4-byte length);
//! * `Text`: the bytes (without the VInt length), not re-encoded;
//! * any other class: its serialized bytes as they are in the file
//!   (`IntWritable` 7 → `00 00 00 07`, `LongWritable` → 8 bytes, …;
//!   `NullWritable` → empty).
//!
//! A file whose metadata says `mammoth.layout = item-v1` is in the item
//! layout of `mammoth tap export`: its values carry flags, expiry and the
//! record kind; deletes and flushes are replayed, items already expired are
//! skipped. Keys memcached cannot take (empty, or over 250 bytes) are
//! skipped and counted, never sent (a server closes the connection on them).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use seqfile::Reader;
use seqfile::writable::{BytesWritable, Text, Writable};

use crate::conn::Transport;
use crate::error::{Error, Result};
use crate::layout::{self, Kind};
use crate::target::{Committed, Target};

/// One input: a SequenceFile, or a MapFile directory (its `data` file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The file or directory as named.
    pub path: PathBuf,
    /// The SequenceFile to read.
    pub data: PathBuf,
    /// Its size in bytes (for progress).
    pub len: u64,
}

fn fs_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Fs { path: path.to_path_buf(), source }
}

fn is_map_dir(p: &Path) -> bool {
    p.join("data").is_file() && p.join("index").is_file()
}

/// The inputs under `path`: a SequenceFile; a MapFile/BloomMapFile
/// directory; or a directory of those (Hadoop job output, a `tap export`
/// directory), in name order, skipping names that start with `.` or `_`
/// (`_SUCCESS`, `.crc` files, unfinished segments).
///
/// # Errors
/// Listing or stat-ing.
pub fn sources(path: &Path) -> Result<Vec<Source>> {
    let one = |p: &Path, data: PathBuf| -> Result<Source> {
        let len = std::fs::metadata(&data).map_err(fs_err(&data))?.len();
        Ok(Source { path: p.to_path_buf(), data, len })
    };
    if !path.is_dir() {
        return Ok(vec![one(path, path.to_path_buf())?]);
    }
    if is_map_dir(path) {
        return Ok(vec![one(path, path.join("data"))?]);
    }
    let mut names = Vec::new();
    for e in std::fs::read_dir(path).map_err(fs_err(path))? {
        let e = e.map_err(fs_err(path))?;
        let name = e.file_name();
        let s = name.to_string_lossy();
        if s.starts_with('.') || s.starts_with('_') || s.ends_with(".crc") {
            continue;
        }
        names.push(e.path());
    }
    names.sort();
    let mut out = Vec::new();
    for p in names {
        if p.is_dir() {
            if is_map_dir(&p) {
                out.push(one(&p, p.join("data"))?);
            }
        } else {
            out.push(one(&p, p.clone())?);
        }
    }
    Ok(out)
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Files read.
    pub files: u64,
    /// Records read.
    pub records: u64,
    /// Keys that were empty or over 250 bytes (not sent).
    pub bad_keys: u64,
    /// Items whose expiry had passed (not sent).
    pub expired: u64,
    /// What the target was sent.
    pub applied: Committed,
}

/// Pipeline size of an import.
#[derive(Clone, Copy, Debug)]
pub struct ImportOptions {
    /// Requests per pipeline.
    pub batch_records: usize,
    /// Bytes per pipeline.
    pub batch_bytes: usize,
}

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions { batch_records: 2000, batch_bytes: 4 << 20 }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Bytes,
    Text,
    Other,
}

fn class_of(name: &str) -> Class {
    if name == BytesWritable::CLASS_NAME {
        Class::Bytes
    } else if name == Text::CLASS_NAME {
        Class::Text
    } else {
        Class::Other
    }
}

fn payload(class: Class, b: &Bytes) -> seqfile::Result<Bytes> {
    match class {
        Class::Bytes => BytesWritable::read_from(b).map(|w| w.0),
        Class::Text => Text::read_from(b).map(|t| t.0),
        Class::Other => Ok(b.clone()),
    }
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Loads `src` into `target`. `progress` gets the bytes of the file read so
/// far after each pipeline.
///
/// # Errors
/// Reading the file, a record that does not decode, or the connection.
pub fn import<T: Transport>(
    src: &Source,
    target: &mut Target<T>,
    opts: ImportOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<ImportStats> {
    let file_err = |source| Error::File { path: src.data.clone(), source };
    let mut r = Reader::open(&src.data).map_err(file_err)?;
    let h = r.header().clone();
    let kc = class_of(&h.key_class);
    let vc = class_of(&h.value_class);
    let item_layout = h
        .metadata
        .get(layout::LAYOUT_KEY.as_bytes())
        .is_some_and(|v| v == layout::ITEM_V1.as_bytes());
    let now = now_unix();
    let mut st = ImportStats { files: 1, ..ImportStats::default() };
    while let Some(rec) = r.next_record().map_err(file_err)? {
        let n = st.records;
        st.records += 1;
        let key = payload(kc, &rec.key).map_err(file_err)?;
        let value = payload(vc, &rec.value).map_err(file_err)?;
        if item_layout {
            let d = layout::decode(&value).map_err(|source| Error::Layout {
                path: src.data.clone(),
                record: n,
                source,
            })?;
            match d.kind {
                Kind::Flush => target.flush(),
                _ if key.is_empty() || key.len() > usize::from(memcache::binary::MAX_KEY_LEN) => {
                    st.bad_keys += 1;
                }
                Kind::Delete => target.delete(&key),
                Kind::Item
                    if d.meta.expiry != 0
                        && u64::from(d.meta.expiry) <= now
                        && d.meta.expiry > memcache::binary::RELATIVE_EXPIRY_MAX =>
                {
                    // Already expired: whatever the target held under the
                    // key is stale too.
                    st.expired += 1;
                    target.delete(&key);
                }
                Kind::Item => target.set(&key, d.value, d.meta.flags, d.meta.expiry),
            }
        } else if key.is_empty() || key.len() > usize::from(memcache::binary::MAX_KEY_LEN) {
            st.bad_keys += 1;
        } else {
            target.set(&key, &value, 0, 0);
        }
        if target.queued() >= opts.batch_records || target.queued_bytes() >= opts.batch_bytes {
            st.applied += target.commit()?;
            progress(r.position());
        }
    }
    if target.queued() > 0 {
        st.applied += target.commit()?;
    }
    progress(src.len);
    Ok(st)
}
