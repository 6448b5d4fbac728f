//! Helpers shared by the test files that drive the real-Hadoop peer.

use std::path::{Path, PathBuf};

/// `peer.sh` from `MAMMOTH_HADOOP_PEER`, or `None` after a loud notice when
/// it is unset. In CI (`CI` set) an unset variable fails the test instead:
/// there the interop tests are required. `what` names the tests and `test`
/// the `cargo test --test` target, for the notice.
pub(crate) fn find_peer(what: &str, test: &str) -> Option<PathBuf> {
    let Some(raw) = std::env::var_os("MAMMOTH_HADOOP_PEER").filter(|v| !v.is_empty()) else {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "CI is set but MAMMOTH_HADOOP_PEER is not: the real-Hadoop {what} are \
             required in CI. Run scripts/test (it installs the peer and sets the variable) or \
             set MAMMOTH_HADOOP_PEER=interop/hadoop/peer.sh"
        );
        eprintln!(
            "\n************************************************************************\n\
             ** SKIPPED: real-Hadoop {what} (crates/seqfile/tests/{test}.rs)\n\
             ** MAMMOTH_HADOOP_PEER is not set. To run them, use scripts/test, or\n\
             **   interop/hadoop/setup.sh &&\n\
             **   MAMMOTH_HADOOP_PEER=$PWD/interop/hadoop/peer.sh cargo test -p seqfile --test tests {test}\n\
             ************************************************************************\n"
        );
        return None;
    };
    let given = PathBuf::from(raw);
    // A relative path may be meant from the workspace root (tests run in the crate directory).
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let found = [given.clone(), workspace.join(&given)].into_iter().find(|p| p.is_file());
    let Some(found) = found else {
        panic!("MAMMOTH_HADOOP_PEER={} does not name a file", given.display());
    };
    Some(found)
}
