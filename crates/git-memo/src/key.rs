//! The memo key: what makes two runs "the same run".
//!
//! A key is SHA-256 over a versioned, length-prefixed encoding of
//!
//! 1. the command as an argv list (raw bytes of each argument, so
//!    `["sh", "-c", "a b"]` and `["sh", "-c", "a", "b"]` differ, and no shell
//!    quoting is involved),
//! 2. the tree id of the state being tested,
//! 3. the directory the command runs in, relative to the worktree root,
//! 4. the environment fingerprint ([`crate::env::Fingerprint`]).
//!
//! Changing the encoding means changing [`KEY_VERSION`]; old memos then
//! simply stop matching (they are never misread).

use sha2::{Digest, Sha256};
use std::ffi::OsString;

/// Version of the key encoding. Part of every key.
pub const KEY_VERSION: u32 = 1;

/// A memo key (lowercase hex SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(String);

impl Key {
    /// The hex string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parse a key from its hex form (64 lowercase hex digits).
    pub fn from_hex(s: &str) -> Option<Key> {
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Key(s.to_owned()))
    }

    /// The first 12 hex digits, for messages.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Raw bytes of an OS string (exact on Unix; elsewhere its lossless
/// WTF-8-ish debug form, which is still injective).
pub fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        s.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        format!("{s:?}").into_bytes()
    }
}

/// Feeds length-prefixed fields into a hash, so that no two different field
/// sequences can produce the same byte stream.
pub(crate) struct FieldHasher(Sha256);

impl FieldHasher {
    pub(crate) fn new(domain: &str) -> Self {
        let mut h = Sha256::new();
        h.update(domain.as_bytes());
        h.update([0]);
        FieldHasher(h)
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.0.update((b.len() as u64).to_le_bytes());
        self.0.update(b);
    }

    pub(crate) fn count(&mut self, n: usize) {
        self.0.update((n as u64).to_le_bytes());
    }

    pub(crate) fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// Compute the key for running `argv` in `cwd` (relative to the worktree
/// root, `/`-separated, empty for the root) on `tree`, under the environment
/// whose canonical fingerprint is `env`.
pub fn compute(argv: &[OsString], tree: &str, cwd: &str, env: &[u8]) -> Key {
    let mut h = FieldHasher::new("git-memo key");
    h.bytes(&KEY_VERSION.to_le_bytes());
    h.bytes(b"argv");
    h.count(argv.len());
    for a in argv {
        h.bytes(&os_bytes(a));
    }
    h.bytes(b"tree");
    h.bytes(tree.as_bytes());
    h.bytes(b"cwd");
    h.bytes(cwd.as_bytes());
    h.bytes(b"env");
    h.bytes(env);
    Key(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn argv(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    const TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

    #[test]
    fn argv_boundaries_matter() {
        let a = compute(&argv(&["sh", "-c", "a b"]), TREE, "", b"");
        let b = compute(&argv(&["sh", "-c", "a", "b"]), TREE, "", b"");
        let c = compute(&argv(&["sh", "-c a b"]), TREE, "", b"");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(b, c);
    }

    #[test]
    fn every_part_is_in_the_key() {
        let base = compute(&argv(&["make"]), TREE, "", b"e");
        assert_ne!(base, compute(&argv(&["make"]), &TREE.replace('4', "5"), "", b"e"));
        assert_ne!(base, compute(&argv(&["make"]), TREE, "sub", b"e"));
        assert_ne!(base, compute(&argv(&["make"]), TREE, "", b"f"));
        assert_eq!(base, compute(&argv(&["make"]), TREE, "", b"e"));
        assert_eq!(base.as_str().len(), 64);
        assert_eq!(base.short().len(), 12);
    }

    proptest! {
        // Model: the key is injective on (argv, cwd, env) for a fixed tree.
        #[test]
        fn distinct_inputs_distinct_keys(
            a in proptest::collection::vec("[a-c ]{0,3}", 0..4),
            b in proptest::collection::vec("[a-c ]{0,3}", 0..4),
            ca in "[a-c/]{0,3}", cb in "[a-c/]{0,3}",
        ) {
            let ka = compute(&argv(&a.iter().map(String::as_str).collect::<Vec<_>>()), TREE, &ca, b"");
            let kb = compute(&argv(&b.iter().map(String::as_str).collect::<Vec<_>>()), TREE, &cb, b"");
            prop_assert_eq!(ka == kb, a == b && ca == cb);
        }
    }
}
