//! One test result as a single text line.
//!
//! The same line format is used in the local journal and in shared notes, so
//! that notes from several clones can be merged with git's line-based
//! `cat_sort_uniq` strategy without breaking a record apart:
//!
//! ```text
//! git-memo/1 <key: 64 hex> pass|fail exit=<n|sig<n>> ms=<n> at=<unix secs> tree=<hex> argv=<JSON array>
//! ```
//!
//! Notes arrive from other clones, so [`Record::parse`] treats every line as
//! hostile: it checks the length first, never panics, and rejects anything
//! that is not exactly this shape.

use std::fmt;

/// The prefix (and format version) of every record line.
pub const RECORD_TAG: &str = "git-memo/1";

/// Longest record line accepted, in bytes. Longer lines are rejected before
/// any parsing (a shared note could otherwise ask us to parse megabytes).
pub const MAX_RECORD_LEN: usize = 64 * 1024;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit status 0.
    Pass,
    /// Anything else.
    Fail,
}

/// How the command's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitInfo {
    /// Normal exit with this status.
    Code(i32),
    /// Killed by this signal (Unix).
    Signal(i32),
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitInfo::Code(c) => write!(f, "{c}"),
            ExitInfo::Signal(s) => write!(f, "sig{s}"),
        }
    }
}

/// One recorded run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The memo key (lowercase hex SHA-256), see [`crate::key`].
    pub key: String,
    /// Pass or fail.
    pub outcome: Outcome,
    /// Exit status or signal.
    pub exit: ExitInfo,
    /// Wall-clock duration of the run in milliseconds.
    pub millis: u64,
    /// When the run ended, seconds since the Unix epoch.
    pub at: u64,
    /// The tree the run was keyed on (hex object id).
    pub tree: String,
    /// The command, for display (lossy UTF-8; the key uses the raw bytes).
    pub argv: Vec<String>,
}

/// Why a line is not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The line is longer than [`MAX_RECORD_LEN`].
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The line does not start with [`RECORD_TAG`] (other version or not ours).
    NotARecord,
    /// A field is missing or malformed.
    BadField {
        /// Field name (`key`, `outcome`, `exit`, …).
        field: &'static str,
    },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::TooLong { len } => {
                write!(f, "record line is {len} bytes, longer than the limit of {MAX_RECORD_LEN}")
            }
            RecordError::NotARecord => write!(f, "line does not start with {RECORD_TAG:?}"),
            RecordError::BadField { field } => write!(f, "record field {field:?} is malformed"),
        }
    }
}

impl std::error::Error for RecordError {}

fn is_hex(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn field<'a>(
    parts: &mut impl Iterator<Item = &'a str>,
    name: &'static str,
) -> Result<&'a str, RecordError> {
    let part = parts.next().ok_or(RecordError::BadField { field: name })?;
    match part.split_once('=') {
        Some((k, v)) if k == name => Ok(v),
        _ => Err(RecordError::BadField { field: name }),
    }
}

fn number<T: std::str::FromStr>(s: &str, name: &'static str) -> Result<T, RecordError> {
    // `parse` accepts a leading '+'; a canonical line never has one.
    if s.is_empty() || s.starts_with('+') {
        return Err(RecordError::BadField { field: name });
    }
    s.parse().map_err(|_| RecordError::BadField { field: name })
}

impl Record {
    /// Whether this record is a pass.
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Pass
    }

    /// Parse one line (without its newline).
    ///
    /// # Errors
    ///
    /// [`RecordError`] when the line is too long, not ours, or malformed.
    pub fn parse(line: &str) -> Result<Record, RecordError> {
        if line.len() > MAX_RECORD_LEN {
            return Err(RecordError::TooLong { len: line.len() });
        }
        let (head, argv_json) = line.split_once(" argv=").ok_or(RecordError::NotARecord)?;
        let mut parts = head.split(' ');
        if parts.next() != Some(RECORD_TAG) {
            return Err(RecordError::NotARecord);
        }
        let key = parts.next().ok_or(RecordError::BadField { field: "key" })?;
        if !is_hex(key, 64, 64) {
            return Err(RecordError::BadField { field: "key" });
        }
        let outcome = match parts.next() {
            Some("pass") => Outcome::Pass,
            Some("fail") => Outcome::Fail,
            _ => return Err(RecordError::BadField { field: "outcome" }),
        };
        let exit_s = field(&mut parts, "exit")?;
        let exit = match exit_s.strip_prefix("sig") {
            Some(sig) => ExitInfo::Signal(number(sig, "exit")?),
            None => ExitInfo::Code(number(exit_s, "exit")?),
        };
        // A pass is exit status 0 and nothing else; a line claiming otherwise
        // is corrupt, and must never be read as a pass.
        if (outcome == Outcome::Pass) != (exit == ExitInfo::Code(0)) {
            return Err(RecordError::BadField { field: "exit" });
        }
        let millis = number(field(&mut parts, "ms")?, "ms")?;
        let at = number(field(&mut parts, "at")?, "at")?;
        let tree = field(&mut parts, "tree")?;
        if !is_hex(tree, 40, 64) {
            return Err(RecordError::BadField { field: "tree" });
        }
        if parts.next().is_some() {
            return Err(RecordError::BadField { field: "argv" });
        }
        let argv: Vec<String> =
            serde_json::from_str(argv_json).map_err(|_| RecordError::BadField { field: "argv" })?;
        Ok(Record { key: key.to_owned(), outcome, exit, millis, at, tree: tree.to_owned(), argv })
    }

    /// Parse every record in a multi-line text, skipping lines that are not
    /// records (a shared note may hold lines from a newer version).
    pub fn parse_all(text: &str) -> Vec<Record> {
        text.lines().filter_map(|l| Record::parse(l).ok()).collect()
    }

    /// The most recent record for `key` in `records` (ties: the later line).
    pub fn latest<'a>(
        records: impl IntoIterator<Item = &'a Record>,
        key: &str,
    ) -> Option<&'a Record> {
        records.into_iter().filter(|r| r.key == key).fold(None, |best: Option<&Record>, r| {
            match best {
                Some(b) if b.at > r.at => Some(b),
                _ => Some(r),
            }
        })
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match self.outcome {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
        };
        // Serializing a Vec<String> cannot fail.
        let argv = serde_json::to_string(&self.argv).unwrap_or_else(|_| "[]".to_owned());
        write!(
            f,
            "{RECORD_TAG} {} {outcome} exit={} ms={} at={} tree={} argv={argv}",
            self.key, self.exit, self.millis, self.at, self.tree
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Record {
        Record {
            key: "ab".repeat(32),
            outcome: Outcome::Fail,
            exit: ExitInfo::Code(101),
            millis: 1234,
            at: 1_700_000_000,
            tree: "4b825dc642cb6eb9a060e54bf8d69288fbee4904".to_owned(),
            argv: vec!["cargo".into(), "test".into(), "a b \"c\"\n".into()],
        }
    }

    #[test]
    fn line_is_exactly_this() {
        let mut r = sample();
        r.argv = vec!["make".into(), "check".into()];
        assert_eq!(
            r.to_string(),
            "git-memo/1 abababababababababababababababababababababababababababababababab fail \
             exit=101 ms=1234 at=1700000000 tree=4b825dc642cb6eb9a060e54bf8d69288fbee4904 \
             argv=[\"make\",\"check\"]"
        );
    }

    #[test]
    fn round_trip_with_awkward_argv() {
        let r = sample();
        let line = r.to_string();
        assert!(!line.contains('\n'), "a record must stay on one line: {line}");
        assert_eq!(Record::parse(&line), Ok(r));
    }

    #[test]
    fn pass_with_nonzero_exit_is_rejected() {
        let line = sample().to_string().replace(" fail ", " pass ");
        assert_eq!(Record::parse(&line), Err(RecordError::BadField { field: "exit" }));
        let mut r = sample();
        r.outcome = Outcome::Fail;
        r.exit = ExitInfo::Code(0);
        assert_eq!(Record::parse(&r.to_string()), Err(RecordError::BadField { field: "exit" }));
    }

    #[test]
    fn foreign_and_broken_lines() {
        assert_eq!(Record::parse("hello"), Err(RecordError::NotARecord));
        assert_eq!(
            Record::parse(&sample().to_string().replace("git-memo/1", "git-memo/2")),
            Err(RecordError::NotARecord)
        );
        assert!(Record::parse(&sample().to_string().replace("ms=1234", "ms=+1234")).is_err());
        assert!(Record::parse(&sample().to_string().replace("ms=1234", "ms=1234 x=1")).is_err());
        let long = format!("{} argv=[\"{}\"]", RECORD_TAG, "x".repeat(MAX_RECORD_LEN));
        assert!(matches!(Record::parse(&long), Err(RecordError::TooLong { .. })));
    }

    #[test]
    fn latest_picks_newest_and_later_line_on_ties() {
        let mut a = sample();
        a.at = 10;
        let mut b = sample();
        b.at = 20;
        b.outcome = Outcome::Pass;
        b.exit = ExitInfo::Code(0);
        let mut other = sample();
        other.key = "cd".repeat(32);
        other.at = 99;
        let v = vec![b.clone(), a.clone(), other];
        assert_eq!(Record::latest(&v, &a.key), Some(&b));
        let mut c = a.clone();
        c.millis = 1;
        let v = vec![a, c.clone()];
        assert_eq!(Record::latest(&v, &c.key), Some(&c));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,300}") {
            let _ = Record::parse(&s);
        }

        #[test]
        fn round_trips(argv in proptest::collection::vec(".{0,20}", 0..5),
                       code in -300i32..300, millis: u64, at: u64, pass: bool) {
            let (outcome, exit) = if pass { (Outcome::Pass, ExitInfo::Code(0)) }
                else if code == 0 { (Outcome::Fail, ExitInfo::Signal(9)) }
                else { (Outcome::Fail, ExitInfo::Code(code)) };
            let r = Record { key: "0f".repeat(32), outcome, exit, millis, at,
                             tree: "1".repeat(40), argv };
            prop_assert_eq!(Record::parse(&r.to_string()), Ok(r));
        }
    }
}
