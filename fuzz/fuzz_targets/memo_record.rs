//! `git memo` record lines on arbitrary bytes. Records arrive in notes
//! fetched from other clones, so the parser must never panic; a line that
//! parses re-serializes to exactly itself-equivalent (parses back equal), a
//! pass always carries exit status 0, and `parse_all` on a whole note keeps
//! exactly the lines that parse alone.
//!
//! The module is compiled in by path (it depends only on serde_json), so the
//! fuzz build does not compile libgit2 for the rest of the crate.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/git-memo/src/record.rs"]
#[allow(dead_code, unreachable_pub)]
mod record;

use record::{ExitInfo, Record};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines().chain(std::iter::once(text.as_ref())) {
        if let Ok(r) = Record::parse(line) {
            assert_eq!(r.passed(), r.exit == ExitInfo::Code(0), "pass iff exit 0: {line:?}");
            let again = Record::parse(&r.to_string()).expect("a written record parses");
            assert_eq!(again, r);
        }
    }
    let all = Record::parse_all(&text);
    let singles = text.lines().filter(|l| Record::parse(l).is_ok()).count();
    assert_eq!(all.len(), singles);
});
