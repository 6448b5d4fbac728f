//! Where results live.
//!
//! * **Pass markers** (always written on a pass): an unreferenced blob whose
//!   content is a fixed text naming the key. Its id can be computed without
//!   reading anything, so "did this pass?" is one object-existence check.
//!   Nothing points at it, so `git gc` prunes it after `gc.pruneExpire` (two
//!   weeks by default; a cache hit freshens it) and `git gc --prune=now`
//!   drops all of them. The text includes a *generation* number kept in
//!   `$GIT_COMMON_DIR/memo/generation`; `git memo clear` bumps it, which
//!   forgets every marker at once even when gc has packed them.
//! * **Journal** (always): `$GIT_COMMON_DIR/memo/journal`, one
//!   [`Record`] line per run, pass or fail, with exit status and duration.
//!   It is what `status` shows, and a failure newer than a marker overrides
//!   it. Trimmed to its newest half when it passes 1 MiB.
//! * **Shared notes** (with `--share` or `memo.share = true`): a note on the
//!   tested *tree* object in `refs/notes/memo` (`memo.notesRef`), one record
//!   line per key. Notes are ordinary refs: they survive gc and can be pushed
//!   and fetched, and two clones' notes merge line by line with
//!   `git notes merge -s cat_sort_uniq`.
//!
//! Reading: a key counts as passed when either the notes or the local
//! marker say so; within one store the newest record for a key decides, so a
//! failure never counts as a pass.

use crate::error::{Error, Result};
use crate::key::Key;
use crate::record::{Outcome, Record};
use git2::{ObjectType, Oid, Repository, Signature};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Default notes ref for shared results.
pub const DEFAULT_NOTES_REF: &str = "refs/notes/memo";

/// The journal is trimmed when it grows past this many bytes.
const JOURNAL_LIMIT: u64 = 1024 * 1024;

/// Where a pass was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A note in the notes ref.
    Notes,
    /// A pass marker blob in the object store.
    ObjectStore,
}

/// The answer to "has this key passed?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// Where a pass was found, if anywhere.
    pub pass: Option<Source>,
    /// The newest record for the key (journal or notes), for display.
    pub latest: Option<Record>,
}

/// Access to all three stores of one repository.
pub struct Store<'r> {
    repo: &'r Repository,
    memo_dir: PathBuf,
    notes_ref: String,
    generation: u64,
}

impl<'r> Store<'r> {
    /// Open the stores of `repo`; `notes_ref` overrides the default.
    ///
    /// # Errors
    ///
    /// An unreadable generation file.
    pub fn open(repo: &'r Repository, notes_ref: Option<String>) -> Result<Self> {
        let memo_dir = repo.commondir().join("memo");
        let gen_path = memo_dir.join("generation");
        let generation = match std::fs::read_to_string(&gen_path) {
            Ok(s) => s.trim().parse().unwrap_or(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(Error::io(format!("reading {}", gen_path.display()))(e)),
        };
        let notes_ref = notes_ref.unwrap_or_else(|| DEFAULT_NOTES_REF.to_owned());
        Ok(Store { repo, memo_dir, notes_ref, generation })
    }

    /// The notes ref in use.
    pub fn notes_ref(&self) -> &str {
        &self.notes_ref
    }

    /// The path of the journal file.
    pub fn journal_path(&self) -> PathBuf {
        self.memo_dir.join("journal")
    }

    fn marker_content(&self, key: &Key) -> String {
        format!("git-memo/1 pass\nkey {key}\ngeneration {}\n", self.generation)
    }

    /// The id of the pass marker blob for `key` (whether or not it exists).
    ///
    /// # Errors
    ///
    /// Never in practice (hashing cannot fail); libgit2 reports it as one.
    pub fn marker_id(&self, key: &Key) -> Result<Oid> {
        Oid::hash_object(ObjectType::Blob, self.marker_content(key).as_bytes())
            .map_err(Error::git("hashing a pass marker"))
    }

    fn marker_exists(&self, key: &Key) -> Result<bool> {
        let id = self.marker_id(key)?;
        let odb = self.repo.odb().map_err(Error::git("opening the object store"))?;
        Ok(odb.exists(id))
    }

    /// Records of the note on `tree`, if any.
    ///
    /// # Errors
    ///
    /// A libgit2 failure other than "no note".
    pub fn note_records(&self, tree: Oid) -> Result<Vec<Record>> {
        Ok(self.note_text(tree)?.map(|t| Record::parse_all(&t)).unwrap_or_default())
    }

    fn note_text(&self, tree: Oid) -> Result<Option<String>> {
        match self.repo.find_note(Some(&self.notes_ref), tree) {
            Ok(n) => Ok(Some(n.message().unwrap_or("").to_owned())),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => {
                Err(Error::git(format!("reading the note on {tree} in {}", self.notes_ref))(e))
            }
        }
    }

    /// Every record in the journal, oldest first.
    ///
    /// # Errors
    ///
    /// An unreadable journal (a missing one is empty).
    pub fn journal(&self) -> Result<Vec<Record>> {
        let path = self.journal_path();
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Record::parse_all(&String::from_utf8_lossy(&bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::io(format!("reading {}", path.display()))(e)),
        }
    }

    /// Look `key` up for `tree`.
    ///
    /// # Errors
    ///
    /// Store read failures.
    pub fn lookup(&self, key: &Key, tree: Oid, journal: &[Record]) -> Result<Lookup> {
        let notes = self.note_records(tree)?;
        let from_notes = Record::latest(&notes, key.as_str());
        let from_journal = Record::latest(journal, key.as_str());
        let local_pass =
            self.marker_exists(key)? && from_journal.is_none_or(|r| r.outcome == Outcome::Pass);
        let pass = if from_notes.is_some_and(Record::passed) {
            Some(Source::Notes)
        } else if local_pass {
            Some(Source::ObjectStore)
        } else {
            None
        };
        let latest = match (from_notes, from_journal) {
            (Some(n), Some(j)) => Some(if j.at >= n.at { j } else { n }),
            (n, j) => n.or(j),
        }
        .cloned();
        Ok(Lookup { pass, latest })
    }

    /// Store a record: journal always, pass marker on a pass, the note when
    /// `share` is set. A failure also removes a loose pass marker for the key.
    ///
    /// # Errors
    ///
    /// Store write failures.
    pub fn record(&self, key: &Key, tree: Oid, record: &Record, share: bool) -> Result<()> {
        if record.passed() {
            // Writing an existing object freshens it, postponing its expiry.
            self.repo
                .blob(self.marker_content(key).as_bytes())
                .map_err(Error::git("writing the pass marker blob"))?;
        } else {
            self.remove_loose_marker(key)?;
        }
        self.append_journal(record)?;
        if share {
            self.write_note(tree, record)?;
        }
        Ok(())
    }

    fn loose_path(&self, id: Oid) -> PathBuf {
        let hex = id.to_string();
        self.repo.commondir().join("objects").join(&hex[..2]).join(&hex[2..])
    }

    fn remove_loose_marker(&self, key: &Key) -> Result<bool> {
        let path = self.loose_path(self.marker_id(key)?);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(format!("removing the pass marker {}", path.display()))(e)),
        }
    }

    fn append_journal(&self, record: &Record) -> Result<()> {
        std::fs::create_dir_all(&self.memo_dir)
            .map_err(Error::io(format!("creating {}", self.memo_dir.display())))?;
        let path = self.journal_path();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(Error::io(format!("opening {}", path.display())))?;
        // One write per line keeps concurrent appenders from interleaving.
        f.write_all(format!("{record}\n").as_bytes())
            .map_err(Error::io(format!("appending to {}", path.display())))?;
        let len = f.metadata().map_or(0, |m| m.len());
        drop(f);
        if len > JOURNAL_LIMIT {
            trim_journal(&path)?;
        }
        Ok(())
    }

    fn write_note(&self, tree: Oid, record: &Record) -> Result<()> {
        let mut text = String::new();
        for line in self.note_text(tree)?.unwrap_or_default().lines() {
            let same_key = Record::parse(line).is_ok_and(|r| r.key == record.key);
            if !same_key && !line.trim().is_empty() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text.push_str(&record.to_string());
        text.push('\n');
        let sig = self
            .repo
            .signature()
            .or_else(|_| Signature::now("git-memo", "git-memo@localhost"))
            .map_err(Error::git("making a signature for the notes commit"))?;
        self.repo
            .note(&sig, &sig, Some(&self.notes_ref), tree, &text, true)
            .map_err(Error::git(format!("writing the note on {tree} in {}", self.notes_ref)))?;
        Ok(())
    }

    /// Number of trees annotated in the notes ref (0 when it does not exist).
    pub fn note_count(&self) -> usize {
        self.repo.notes(Some(&self.notes_ref)).map_or(0, Iterator::count)
    }

    /// Forget every local memo: remove loose pass markers named in the
    /// journal, bump the generation (which orphans packed ones too), delete
    /// the journal and, unless `keep_notes`, the local notes ref.
    ///
    /// # Errors
    ///
    /// File or ref failures.
    pub fn clear(&mut self, keep_notes: bool) -> Result<ClearSummary> {
        let mut summary = ClearSummary::default();
        for r in self.journal()? {
            if r.passed() {
                let key = crate::key::Key::from_hex(&r.key);
                if let Some(key) = key
                    && self.remove_loose_marker(&key)?
                {
                    summary.markers_removed += 1;
                }
            }
            summary.journal_records += 1;
        }
        std::fs::create_dir_all(&self.memo_dir)
            .map_err(Error::io(format!("creating {}", self.memo_dir.display())))?;
        let gen_path = self.memo_dir.join("generation");
        self.generation += 1;
        std::fs::write(&gen_path, format!("{}\n", self.generation))
            .map_err(Error::io(format!("writing {}", gen_path.display())))?;
        let journal = self.journal_path();
        match std::fs::remove_file(&journal) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("removing {}", journal.display()))(e)),
        }
        if !keep_notes {
            summary.notes_removed = self.note_count();
            match self.repo.find_reference(&self.notes_ref) {
                Ok(mut r) => {
                    r.delete().map_err(Error::git(format!("deleting {}", self.notes_ref)))?;
                    summary.notes_ref_deleted = true;
                }
                Err(e) if e.code() == git2::ErrorCode::NotFound => {}
                Err(e) => return Err(Error::git(format!("reading {}", self.notes_ref))(e)),
            }
        }
        Ok(summary)
    }
}

/// What `clear` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClearSummary {
    /// Journal lines dropped.
    pub journal_records: usize,
    /// Loose marker blobs deleted.
    pub markers_removed: usize,
    /// Trees whose notes went away with the ref.
    pub notes_removed: usize,
    /// Whether the notes ref existed and was deleted.
    pub notes_ref_deleted: bool,
}

fn trim_journal(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(Error::io(format!("reading {}", path.display())))?;
    let half = bytes.len() / 2;
    let start =
        bytes[half..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| half + p + 1);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &bytes[start..])
        .map_err(Error::io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(Error::io(format!("replacing {}", path.display())))
}
