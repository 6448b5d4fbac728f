//! A reader for unified diffs as git, Mercurial and Subversion print them.
//!
//! It splits the text into files and hunks and classifies each line, which is
//! all the statistics and the HTML rendering need. Hunk bodies are delimited by
//! the line counts in their `@@ -a,b +c,d @@` headers, so a removed line that
//! itself starts with `--` is not mistaken for a file header. Anything that does
//! not fit is kept as a header line of the current file: the reader never fails
//! and never panics, whatever the input.

/// What a line inside a hunk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// Unchanged context (` `).
    Context,
    /// Added (`+`).
    Added,
    /// Removed (`-`).
    Removed,
    /// `\ No newline at end of file`.
    Marker,
}

/// One line of a hunk, without its prefix character and line end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    /// Its kind.
    pub kind: LineKind,
    /// The text after the prefix.
    pub text: &'a str,
}

/// One `@@` hunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk<'a> {
    /// The `@@ ... @@` line.
    pub header: &'a str,
    /// The body.
    pub lines: Vec<Line<'a>>,
}

/// Everything about one file in the diff.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileDiff<'a> {
    /// Lines before the first hunk (`diff --git`, `index`, `---`, `+++`, ...).
    pub header: Vec<&'a str>,
    /// The old path, without `a/`, or `None` for `/dev/null` or when absent.
    pub old_path: Option<String>,
    /// The new path, without `b/`, or `None` for `/dev/null` or when absent.
    pub new_path: Option<String>,
    /// The hunks.
    pub hunks: Vec<Hunk<'a>>,
    /// Whether the tool reported a binary change.
    pub binary: bool,
    /// Added lines.
    pub added: u64,
    /// Removed lines.
    pub removed: u64,
}

impl FileDiff<'_> {
    /// The path to show: the new one, else the old one, else what the header says.
    pub fn path(&self) -> String {
        if let Some(p) = self.new_path.as_ref().or(self.old_path.as_ref()) {
            return p.clone();
        }
        for h in &self.header {
            if let Some(rest) = h.strip_prefix("diff --git ") {
                // "a/X b/X": take the second half when both halves match.
                let half = rest.len() / 2;
                // `get` rather than indexing: the halves may split a character.
                if rest.len() % 2 == 1
                    && let (Some(a), Some(b)) = (rest.get(..half), rest.get(half + 1..))
                    && let (Some(a), Some(b)) = (a.strip_prefix("a/"), b.strip_prefix("b/"))
                    && !a.is_empty()
                    && a == b
                {
                    return b.to_string();
                }
                if !rest.trim().is_empty() {
                    return rest.to_string();
                }
            }
            if let Some(rest) = h.strip_prefix("Index: ").filter(|r| !r.trim().is_empty()) {
                return rest.to_string();
            }
        }
        String::from("(unknown)")
    }
}

/// Totals over a whole diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Files touched.
    pub files: u64,
    /// Added lines.
    pub insertions: u64,
    /// Removed lines.
    pub deletions: u64,
}

/// Sums the per-file counts.
pub fn stats(files: &[FileDiff<'_>]) -> Stats {
    files.iter().fold(Stats::default(), |s, f| Stats {
        files: s.files + 1,
        insertions: s.insertions + f.added,
        deletions: s.deletions + f.removed,
    })
}

/// Parses `@@ -a[,b] +c[,d] @@` into the old and new line counts.
fn hunk_counts(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("@@ -")?;
    let (old, rest) = rest.split_once(" +")?;
    let (new, _) = rest.split_once(" @@")?;
    let count = |range: &str| -> Option<u64> {
        match range.split_once(',') {
            Some((start, n)) => {
                start.parse::<u64>().ok()?;
                n.parse().ok()
            }
            None => range.parse::<u64>().ok().map(|_| 1),
        }
    };
    Some((count(old)?, count(new)?))
}

/// Undoes git's C-style quoting of unusual paths (`"a/t\303\244b"`).
fn unquote(path: &str) -> String {
    let Some(inner) = path.strip_prefix('"').and_then(|p| p.strip_suffix('"')) else {
        return path.to_string();
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.bytes().peekable();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(d @ b'0'..=b'3') => {
                let mut v = u32::from(d - b'0');
                for _ in 0..2 {
                    match bytes.peek() {
                        Some(&o @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(o - b'0');
                            bytes.next();
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            Some(other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path from a `--- ` / `+++ ` line: drops a tab-separated suffix (svn's
/// `(revision 3)`), git's `a/` or `b/`, and `/dev/null`.
fn header_path(rest: &str, prefix: &str) -> Option<String> {
    let raw = if rest.starts_with('"') {
        rest.to_string()
    } else {
        rest.split('\t').next().unwrap_or(rest).to_string()
    };
    let path = unquote(raw.trim_end());
    if path == "/dev/null" {
        return None;
    }
    let path = path.strip_prefix(prefix).unwrap_or(&path);
    // "--- " with nothing after it names no file (found by fuzzing).
    (!path.is_empty()).then(|| path.to_string())
}

/// Splits a diff into files and hunks. Never fails: unexpected lines become header lines.
pub fn parse(text: &str) -> Vec<FileDiff<'_>> {
    let mut files: Vec<FileDiff<'_>> = Vec::new();
    // Remaining old/new lines of the open hunk.
    let mut remaining = (0u64, 0u64);
    for raw in text.split_inclusive('\n') {
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if remaining != (0, 0) {
            let kind = match line.as_bytes().first() {
                Some(b' ') | None if remaining.0 > 0 && remaining.1 > 0 => Some(LineKind::Context),
                Some(b'-') if remaining.0 > 0 => Some(LineKind::Removed),
                Some(b'+') if remaining.1 > 0 => Some(LineKind::Added),
                Some(b'\\') => Some(LineKind::Marker),
                _ => None,
            };
            if let (Some(kind), Some(file)) = (kind, files.last_mut()) {
                match kind {
                    LineKind::Context => remaining = (remaining.0 - 1, remaining.1 - 1),
                    LineKind::Removed => {
                        remaining.0 -= 1;
                        file.removed += 1;
                    }
                    LineKind::Added => {
                        remaining.1 -= 1;
                        file.added += 1;
                    }
                    LineKind::Marker => {}
                }
                let text = line.get(1..).unwrap_or("");
                if let Some(h) = file.hunks.last_mut() {
                    h.lines.push(Line { kind, text });
                }
                continue;
            }
            // The hunk was shorter than announced: treat the line as a header.
            remaining = (0, 0);
        }
        if line.starts_with('\\')
            && let Some(h) = files.last_mut().and_then(|f| f.hunks.last_mut())
        {
            h.lines.push(Line { kind: LineKind::Marker, text: line.get(1..).unwrap_or("") });
            continue;
        }
        if line.starts_with("@@ ")
            && let (Some((old, new)), Some(file)) = (hunk_counts(line), files.last_mut())
        {
            file.hunks.push(Hunk { header: line, lines: Vec::new() });
            remaining = (old, new);
            continue;
        }
        let starts_file = line.starts_with("diff ")
            || line.starts_with("Index: ")
            || (line.starts_with("--- ")
                && files.last().is_none_or(|f| {
                    !f.hunks.is_empty() || f.old_path.is_some() || f.new_path.is_some()
                }));
        if starts_file || files.is_empty() {
            files.push(FileDiff::default());
        }
        let Some(file) = files.last_mut() else { continue };
        let git_style = file.header.first().is_some_and(|h| h.starts_with("diff --git "));
        if let Some(rest) = line.strip_prefix("--- ") {
            file.old_path = header_path(rest, if git_style { "a/" } else { "" });
        } else if let Some(rest) = line.strip_prefix("+++ ") {
            file.new_path = header_path(rest, if git_style { "b/" } else { "" });
        } else if line.starts_with("Binary files ")
            || line == "GIT binary patch"
            || line.starts_with("Cannot display: file marked as a binary type")
        {
            file.binary = true;
        }
        file.header.push(line);
    }
    // Drop leading non-diff text (e.g. a preamble) that never became a file.
    files.retain(|f| !(f.hunks.is_empty() && f.header.iter().all(|h| h.trim().is_empty())));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIT: &str = "diff --git a/src/a.rs b/src/a.rs\nindex 1..2 100644\n--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1,3 +1,3 @@\n fn a() {}\n--- not a header\n+++ not a header either\n fn c() {}\n\\ No newline at end of file\ndiff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hello\n";

    #[test]
    fn git_diff_with_lookalike_lines() {
        let files = parse(GIT);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path(), "src/a.rs");
        assert_eq!((files[0].added, files[0].removed), (1, 1));
        assert_eq!(
            files[0].hunks[0].lines[1],
            Line { kind: LineKind::Removed, text: "-- not a header" }
        );
        assert_eq!(files[0].hunks[0].lines[3].kind, LineKind::Context);
        assert_eq!(files[0].hunks[0].lines[4].kind, LineKind::Marker);
        assert_eq!(files[1].old_path, None);
        assert_eq!(files[1].path(), "new.txt");
        assert_eq!(stats(&files), Stats { files: 2, insertions: 2, deletions: 1 });
    }

    #[test]
    fn svn_diff() {
        let svn = "Index: trunk/x.c\n===================================================================\n--- trunk/x.c\t(revision 1)\n+++ trunk/x.c\t(revision 2)\n@@ -1 +1,2 @@\n-a\n+b\n+c\nIndex: y\n===================================================================\nCannot display: file marked as a binary type.\n";
        let files = parse(svn);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path(), "trunk/x.c");
        assert_eq!((files[0].added, files[0].removed), (2, 1));
        assert!(files[1].binary);
        assert_eq!(files[1].path(), "y");
    }

    #[test]
    fn quoted_and_header_only_paths() {
        let d = "diff --git \"a/t\\303\\244b\" \"b/t\\303\\244b\"\n--- \"a/t\\303\\244b\"\n+++ \"b/t\\303\\244b\"\n@@ -1 +1 @@\n-x\n+y\ndiff --git a/bin.png b/bin.png\nBinary files a/bin.png and b/bin.png differ\n";
        let files = parse(d);
        assert_eq!(files[0].path(), "t\u{e4}b");
        assert_eq!(files[1].path(), "bin.png");
        assert!(files[1].binary);
    }

    #[test]
    fn short_hunk_ends_at_the_next_header() {
        let d = "--- a\n+++ b\n@@ -1,5 +1,5 @@\n-x\n--- c\n+++ d\n@@ -1 +1 @@\n-y\n+z\n";
        let files = parse(d);
        assert_eq!(files.len(), 1, "`--- c` inside the announced hunk is a removed line");
        let d2 = "--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n--- c\n+++ d\n@@ -1 +1 @@\n-y\n+z\n";
        assert_eq!(parse(d2).len(), 2);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_counts_match(s in "(diff --git a/x b/x\n|--- a/x\n|\\+\\+\\+ b/x\n|@@ -1,2 \\+1,2 @@\n|[ +\\-\\\\]?[a-z-]{0,3}\n){0,40}") {
            let files = parse(&s);
            let added: u64 = files.iter().flat_map(|f| &f.hunks).flat_map(|h| &h.lines).filter(|l| l.kind == LineKind::Added).count() as u64;
            let st = stats(&files);
            proptest::prop_assert_eq!(st.insertions, added);
        }
    }

    #[test]
    fn a_header_naming_no_file_still_gets_a_path() {
        // Found by fuzzing: "--- " with nothing after it, "Index: " empty.
        for text in [
            "Index: t/x.c\n====\n--- \n====",
            "--- \n+++ \n@@ -1 +1 @@\n-a\n+b\n",
            "Index: \n--- \n",
            "diff --git a/ b/\n",
        ] {
            for f in parse(text) {
                assert!(!f.path().is_empty(), "{text:?}");
            }
        }
    }
}
