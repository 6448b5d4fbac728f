//! The spool: diffs that wait for their mail.
//!
//! An item is two files, `NAME.FROM-TO.diff` and its sidecar `NAME.FROM-TO.json`.
//! Both are written to a temporary name, synced and renamed into place, the diff
//! first: a sidecar therefore only exists once its diff is complete, and the
//! sidecar is what makes an item visible. Removal goes the other way round.
//! Spooling the same range twice (a run that failed to update the working copy)
//! replaces the item instead of adding a second one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::Kind;
use crate::diff::Stats;
use crate::error::Error;
use crate::vcs::Commit;

/// The sidecar's format version.
pub const META_VERSION: u32 = 1;

/// What the sidecar records about a spooled diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// [`META_VERSION`].
    pub version: u32,
    /// Repository name from the configuration.
    pub repo: String,
    /// Its version-control system.
    pub kind: Kind,
    /// Revision before the update.
    pub from: String,
    /// Revision after the update.
    pub to: String,
    /// Commits, oldest first.
    pub commits: Vec<Commit>,
    /// Distinct author names, in order of first appearance.
    pub authors: Vec<String>,
    /// Totals over the diff.
    pub stats: Stats,
    /// Size of the diff file in bytes.
    pub diff_bytes: u64,
    /// Seconds since the Unix epoch when the item was spooled.
    pub spooled_at: u64,
}

impl Meta {
    /// The item's base name, `NAME.FROM-TO` with revisions cut to 12 characters.
    pub fn base_name(&self) -> String {
        let short =
            |s: &str| s.chars().filter(char::is_ascii_alphanumeric).take(12).collect::<String>();
        format!("{}.{}-{}", self.repo, short(&self.from), short(&self.to))
    }
}

/// One spooled item.
#[derive(Debug, Clone)]
pub struct Item {
    /// The sidecar's content.
    pub meta: Meta,
    /// The diff file.
    pub diff_path: PathBuf,
    /// The sidecar file.
    pub meta_path: PathBuf,
}

impl Item {
    /// Reads the diff.
    ///
    /// # Errors
    ///
    /// The diff file cannot be read.
    pub fn read_diff(&self) -> Result<Vec<u8>, Error> {
        fs::read(&self.diff_path).map_err(|e| Error::io("read", &self.diff_path, e))
    }

    /// The base name, for messages.
    pub fn name(&self) -> String {
        self.meta.base_name()
    }
}

/// A spool directory, locked for as long as the value lives.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    _lock: File,
}

impl Spool {
    /// Creates the directory if needed and takes an exclusive lock on `DIR/.lock`, so
    /// that two overlapping runs (a slow cron job) never mail the same item twice.
    ///
    /// # Errors
    ///
    /// The directory cannot be created, or another run holds the lock.
    pub fn open(dir: &Path) -> Result<Spool, Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let lock_path = dir.join(".lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io("open", &lock_path, e))?;
        lock.try_lock().map_err(|e| {
            let io = match e {
                fs::TryLockError::Error(io) => io,
                fs::TryLockError::WouldBlock => std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "another repo-digest run holds the spool lock",
                ),
            };
            Error::io("lock", &lock_path, io)
        })?;
        Ok(Spool { dir: dir.to_path_buf(), _lock: lock })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Saves a diff and its sidecar atomically.
    ///
    /// # Errors
    ///
    /// Any file cannot be written, synced or renamed.
    pub fn write(&self, meta: &Meta, diff: &[u8]) -> Result<Item, Error> {
        let base = meta.base_name();
        let diff_path = self.dir.join(format!("{base}.diff"));
        let meta_path = self.dir.join(format!("{base}.json"));
        let json = serde_json::to_vec_pretty(meta).map_err(|e| Error::Parse {
            what: meta_path.display().to_string(),
            message: e.to_string(),
        })?;
        write_atomic(&diff_path, diff)?;
        write_atomic(&meta_path, &json)?;
        sync_dir(&self.dir)?;
        Ok(Item { meta: meta.clone(), diff_path, meta_path })
    }

    /// Lists items, oldest first. A sidecar that cannot be read is reported as an error
    /// in its slot and left alone.
    ///
    /// # Errors
    ///
    /// The directory cannot be read.
    pub fn list(&self) -> Result<Vec<Result<Item, Error>>, Error> {
        let entries = fs::read_dir(&self.dir).map_err(|e| Error::io("list", &self.dir, e))?;
        let mut items = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list", &self.dir, e))?;
            let path = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_sidecar = Path::new(name).extension().is_some_and(|e| e == "json");
            if name.starts_with('.') || !is_sidecar {
                continue;
            }
            items.push(read_item(&path));
        }
        items.sort_by_key(|r| match r {
            Ok(i) => (i.meta.spooled_at, i.meta_path.clone()),
            Err(_) => (0, PathBuf::new()),
        });
        Ok(items)
    }

    /// Deletes an item (sidecar first, so a crash leaves at most an orphan diff).
    ///
    /// # Errors
    ///
    /// A file cannot be deleted.
    pub fn remove(&self, item: &Item) -> Result<(), Error> {
        fs::remove_file(&item.meta_path).map_err(|e| Error::io("remove", &item.meta_path, e))?;
        match fs::remove_file(&item.diff_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io("remove", &item.diff_path, e));
            }
            _ => {}
        }
        sync_dir(&self.dir)
    }
}

fn read_item(meta_path: &Path) -> Result<Item, Error> {
    let text = fs::read(meta_path).map_err(|e| Error::io("read", meta_path, e))?;
    let meta: Meta = serde_json::from_slice(&text).map_err(|e| Error::Parse {
        what: meta_path.display().to_string(),
        message: e.to_string(),
    })?;
    if meta.version != META_VERSION {
        return Err(Error::Parse {
            what: meta_path.display().to_string(),
            message: format!("sidecar version {} (this build reads {META_VERSION})", meta.version),
        });
    }
    let diff_path = meta_path.with_extension("diff");
    Ok(Item { meta, diff_path, meta_path: meta_path.to_path_buf() })
}

/// Writes `bytes` to a hidden temporary file next to `path`, syncs it and renames it
/// over `path`.
///
/// # Errors
///
/// The temporary file cannot be written or renamed (it is removed again).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io("write", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("sync", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io("rename into place", path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io("sync", dir, e))
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(from: &str, at: u64) -> Meta {
        Meta {
            version: META_VERSION,
            repo: "r".into(),
            kind: Kind::Git,
            from: from.into(),
            to: "bbbb".into(),
            commits: vec![],
            authors: vec![],
            stats: Stats::default(),
            diff_bytes: 3,
            spooled_at: at,
        }
    }

    #[test]
    fn write_list_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path()).expect("open");
        spool.write(&meta("aaaa", 2), b"two").expect("write");
        spool.write(&meta("0000", 1), b"one").expect("write");
        // Same range again replaces the item.
        spool.write(&meta("aaaa", 2), b"two").expect("write");
        let items: Vec<Item> =
            spool.list().expect("list").into_iter().map(|r| r.expect("item")).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].read_diff().expect("read"), b"one");
        spool.remove(&items[0]).expect("remove");
        assert_eq!(spool.list().expect("list").len(), 1);
        let names: Vec<_> =
            fs::read_dir(dir.path()).expect("ls").map(|e| e.expect("e").file_name()).collect();
        assert_eq!(names.len(), 3, "lock + one item, no temporaries: {names:?}");
    }

    #[test]
    fn second_open_is_refused_while_locked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = Spool::open(dir.path()).expect("open");
        let e = Spool::open(dir.path()).expect_err("locked").to_string();
        assert!(e.contains(".lock"), "{e}");
    }

    #[test]
    fn broken_sidecar_is_an_error_in_its_slot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path()).expect("open");
        fs::write(dir.path().join("x.a-b.json"), b"{not json").expect("write");
        let items = spool.list().expect("list");
        assert_eq!(items.len(), 1);
        assert!(items[0].as_ref().is_err_and(|e| e.to_string().contains("x.a-b.json")));
    }
}
