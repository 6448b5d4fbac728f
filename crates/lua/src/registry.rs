//! The registry of libraries: an immutable snapshot swapped atomically.
//!
//! Every change (load, replace, delete, restore) builds a whole new
//! [`Snapshot`] with the next version number and swaps the `Arc` under a
//! short lock. A call takes the current snapshot once, at its start, and
//! runs entirely in a VM built from it: it sees the old set or the new
//! one, never a mix. A new library is checked first by loading the whole
//! candidate set into a scratch VM, so a library that does not compile (or
//! whose top-level code fails, or redefines another library's function)
//! never reaches a snapshot.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;

use crate::error::LoadError;
use crate::sandbox::Vm;

/// One loaded library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Library {
    /// Its source, as loaded.
    pub source: Bytes,
    /// The functions it declares, sorted.
    pub functions: Vec<String>,
}

/// A set of libraries at one version; never changes once published.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    version: u64,
    libs: BTreeMap<String, Library>,
    /// Function name → its library.
    owners: BTreeMap<String, String>,
}

impl Snapshot {
    /// The version: 0 for the empty registry, one more for each change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The library that defines `function`.
    pub fn owner(&self, function: &str) -> Option<&str> {
        self.owners.get(function).map(String::as_str)
    }

    /// The libraries, by name.
    pub fn libraries(&self) -> &BTreeMap<String, Library> {
        &self.libs
    }

    /// Builds a VM with every library of this snapshot.
    pub(crate) fn build_vm(&self, time: Duration, memory: usize) -> Result<Vm, String> {
        Vm::build(
            self.version,
            self.libs.iter().map(|(n, l)| (n.as_str(), &l.source)),
            time,
            memory,
        )
        .map(|(vm, _)| vm)
        .map_err(|f| format!("library '{}': {}", f.lib, f.message))
    }
}

/// The registry of libraries: each change publishes a new immutable
/// [`Snapshot`] (see the [crate docs](crate)). Cheap to share
/// behind an `Arc`.
#[derive(Debug)]
pub struct Libraries {
    current: RwLock<Arc<Snapshot>>,
    /// Serializes changes (readers never wait on it).
    change: Mutex<()>,
    /// Limits for a library's top-level code.
    time: Duration,
    memory: usize,
}

impl Default for Libraries {
    fn default() -> Self {
        Libraries::new(&crate::Limits::default())
    }
}

/// The longest library name.
pub const MAX_NAME_LEN: usize = 250;

fn check_name(name: &str) -> Result<(), LoadError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(LoadError::BadName { name: name.to_owned() });
    }
    Ok(())
}

impl Libraries {
    /// An empty registry; a library's top-level code runs under `limits`'
    /// time and memory limits.
    pub fn new(limits: &crate::Limits) -> Libraries {
        Libraries {
            current: RwLock::new(Arc::new(Snapshot::default())),
            change: Mutex::new(()),
            time: limits.time,
            memory: limits.memory,
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The current version (see [`Snapshot::version`]).
    pub fn version(&self) -> u64 {
        self.snapshot().version
    }

    /// Loads `source` as library `name`, replacing a library of that name
    /// atomically.
    ///
    /// # Errors
    ///
    /// [`LoadError::Compile`] (with the Lua line number) when the source
    /// does not compile or its top-level code fails — assigning a global
    /// that is not a function, defining a function another library
    /// defines, running over the limits; [`LoadError::Empty`] when it
    /// declares no function; [`LoadError::BadName`].
    pub fn load(&self, name: &str, source: impl Into<Bytes>) -> Result<(), LoadError> {
        check_name(name)?;
        let source = source.into();
        let _change = self.change.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.snapshot();
        let others = current.libs.iter().filter(|(n, _)| n.as_str() != name);
        // The new library last, so a clash is reported against it.
        let order = others.map(|(n, l)| (n.as_str(), &l.source)).chain([(name, &source)]);
        let (_, declared) = Vm::build(0, order, self.time, self.memory)
            .map_err(|f| LoadError::Compile { lib: f.lib, message: f.message })?;
        let functions =
            declared.into_iter().find(|(n, _)| n == name).map(|(_, f)| f).unwrap_or_default();
        if functions.is_empty() {
            return Err(LoadError::Empty { lib: name.to_owned() });
        }
        let mut libs = current.libs.clone();
        libs.insert(name.to_owned(), Library { source, functions });
        self.publish(&current, libs);
        Ok(())
    }

    /// Removes library `name`; false when there is none.
    pub fn delete(&self, name: &str) -> bool {
        let _change = self.change.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.snapshot();
        if !current.libs.contains_key(name) {
            return false;
        }
        let mut libs = current.libs.clone();
        libs.remove(name);
        self.publish(&current, libs);
        true
    }

    /// Each library's name and its functions, sorted by name.
    pub fn list(&self) -> Vec<(String, Vec<String>)> {
        self.snapshot().libs.iter().map(|(n, l)| (n.clone(), l.functions.clone())).collect()
    }

    /// The source of library `name` (a share, not a copy).
    pub fn source(&self, name: &str) -> Option<Bytes> {
        self.snapshot().libs.get(name).map(|l| l.source.clone())
    }

    /// Each library's name and source, for persisting them.
    pub fn sources(&self) -> Vec<(String, Bytes)> {
        self.snapshot().libs.iter().map(|(n, l)| (n.clone(), l.source.clone())).collect()
    }

    /// Replaces the whole set with `libs` (as [`Libraries::sources`] gave
    /// them), checked together; on an error nothing changes.
    ///
    /// # Errors
    ///
    /// As [`Libraries::load`], for the first library that fails.
    pub fn restore(
        &self,
        libs: impl IntoIterator<Item = (String, Bytes)>,
    ) -> Result<(), LoadError> {
        let libs: BTreeMap<String, Bytes> = libs.into_iter().collect();
        for name in libs.keys() {
            check_name(name)?;
        }
        let _change = self.change.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.snapshot();
        let (_, declared) =
            Vm::build(0, libs.iter().map(|(n, s)| (n.as_str(), s)), self.time, self.memory)
                .map_err(|f| LoadError::Compile { lib: f.lib, message: f.message })?;
        let mut built = BTreeMap::new();
        for ((name, source), (_, functions)) in libs.into_iter().zip(declared) {
            if functions.is_empty() {
                return Err(LoadError::Empty { lib: name });
            }
            built.insert(name, Library { source, functions });
        }
        self.publish(&current, built);
        Ok(())
    }

    fn publish(&self, current: &Snapshot, libs: BTreeMap<String, Library>) {
        let owners = libs
            .iter()
            .flat_map(|(lib, l)| l.functions.iter().map(move |f| (f.clone(), lib.clone())))
            .collect();
        let next = Arc::new(Snapshot { version: current.version + 1, libs, owners });
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_list_delete() {
        let libs = Libraries::default();
        libs.load("b", "function two() end\nfunction one() end").unwrap();
        libs.load("a", "register('three', function() end)").unwrap();
        assert_eq!(
            libs.list(),
            [
                ("a".to_owned(), vec!["three".to_owned()]),
                ("b".to_owned(), vec!["one".into(), "two".into()])
            ]
        );
        assert_eq!(libs.snapshot().owner("one"), Some("b"));
        assert!(libs.delete("a"));
        assert!(!libs.delete("a"));
        assert_eq!(libs.list().len(), 1);
        assert_eq!(libs.version(), 3);
    }

    #[test]
    fn compile_error_names_the_line_and_changes_nothing() {
        let libs = Libraries::default();
        libs.load("ok", "function f() end").unwrap();
        let err = libs.load("bad", "function g()\n  return 1 +\nend").unwrap_err();
        let LoadError::Compile { lib, message } = &err else { panic!("{err:?}") };
        assert_eq!(lib, "bad");
        assert!(message.starts_with("bad:3:"), "{message}");
        assert_eq!(libs.version(), 1);
        assert_eq!(libs.list().len(), 1);
    }

    #[test]
    fn a_function_defined_twice_is_refused_but_a_replacement_is_not() {
        let libs = Libraries::default();
        libs.load("a", "function f() end").unwrap();
        let err = libs.load("b", "function g() end\nfunction f() end").unwrap_err();
        assert!(err.to_string().contains("already defined by library 'a'"), "{err}");
        assert!(err.to_string().starts_with("b:2:"), "{err}");
        // Replacing `a` itself may keep `f`.
        libs.load("a", "function f() return 2 end\nfunction h() end").unwrap();
        assert_eq!(libs.list()[0].1, ["f", "h"]);
    }

    #[test]
    fn names_and_empty_libraries() {
        let libs = Libraries::default();
        assert!(matches!(libs.load("a b", "function f() end"), Err(LoadError::BadName { .. })));
        assert!(matches!(libs.load("a", "local x = 1"), Err(LoadError::Empty { .. })));
    }

    #[test]
    fn sources_restore_round_trip() {
        let libs = Libraries::default();
        libs.load("a", "function f() end").unwrap();
        libs.load("b", "function g() end").unwrap();
        let other = Libraries::default();
        other.restore(libs.sources()).unwrap();
        assert_eq!(other.list(), libs.list());
        let bad = vec![("c".to_owned(), Bytes::from("x = 1"))];
        assert!(other.restore(bad).is_err());
        assert_eq!(other.list(), libs.list());
    }
}
