//! repo-digest's unified-diff reader on arbitrary bytes. Diffs come from
//! upstream repositories nobody here controls, so the reader must never panic
//! or hang; its per-file counts must equal the lines it classified, and every
//! file must name a path.
//!
//! The module is compiled in by path (it depends only on serde), so the fuzz
//! build does not compile lettre and syntect for the rest of the crate.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/repo-digest/src/diff.rs"]
#[allow(dead_code, unreachable_pub)]
mod diff;

use diff::LineKind;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let files = diff::parse(&text);
    for f in &files {
        let count = |k: LineKind| f.hunks.iter().flat_map(|h| &h.lines).filter(|l| l.kind == k).count() as u64;
        assert_eq!(f.added, count(LineKind::Added));
        assert_eq!(f.removed, count(LineKind::Removed));
        assert!(!f.path().is_empty());
    }
    let s = diff::stats(&files);
    assert_eq!(s.files, files.len() as u64);
});
