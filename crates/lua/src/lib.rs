//! Server-side Lua functions for mammoth: logic next to the data, without
//! blocking the server (issue #25, phase 1: the library; the protocol
//! commands come next).
//!
//! # Design
//!
//! * **A registry of libraries** ([`Libraries`]). A library is Lua source
//!   that declares functions, either as globals (`function name(keys,
//!   args) … end`) or with `register(name, fn)`. Loading compiles and runs
//!   it in a scratch VM first (a failure carries Lua's line number and
//!   changes nothing), then publishes a new immutable [`Snapshot`] with the
//!   next version number: every call sees the old set or the new one, never
//!   a mix. A function name belongs to one library only.
//! * **A sandbox** (`sandbox` module). Only `string`, `table`, `math`,
//!   `utf8` and the safe base functions; no `io`, `os`, `load`, `require`,
//!   `debug`, `string.dump`. After a library's top-level code has run, the
//!   global environment is frozen: assigning a global, or reading one no
//!   library declared, is an error (at load time, a top-level assignment of
//!   anything but a function is one). `local`s are fine. The standard
//!   tables are read-only. A library's top-level `local`s live once per VM,
//!   so they are no place for shared state: use the store.
//! * **Calls that do not block the server** ([`Runtime::call`]). A call
//!   checks out a VM from a pool (rebuilt lazily when the registry version
//!   changed) and runs the function in the VM's coroutine (one per VM,
//!   reset for each call; the keys and arguments are pushed as plain
//!   values and made into tables by Lua). An instruction-count hook (the
//!   VM's, installed once) makes it yield its tokio worker every [`Limits::slice`] of
//!   running time (Lua 5.4 lets a count hook yield, and mlua turns that
//!   yield into `Pending` plus a wake), so other tasks on the same worker
//!   keep running while a long call computes. The same hook enforces the
//!   time limit; the VM's allocator enforces the memory limit. A VM that
//!   hit a limit is dropped, not reused.
//! * **Atomic over declared keys** ([`KeyLocks`]). A call names its keys up
//!   front; `mc.*` on any other key is an error. The call holds those keys'
//!   locks (striped, taken in ascending order: no deadlock) while it runs,
//!   so calls sharing a key serialize and calls on disjoint keys overlap.
//!   Plain protocol writes take a ticket on the same stripes
//!   ([`KeyLocks::try_enter`], [`KeyLocks::enter`]): one atomic add and
//!   load while no call is around, a wait while one holds the key.
//!
//! # Inside Lua: the `mc` table
//!
//! | function | returns |
//! | --- | --- |
//! | `mc.get(key)` | the value (a string) or `nil` |
//! | `mc.gets(key)` | `value, flags, cas` or `nil` |
//! | `mc.set(key, value [, flags [, exptime]])` | `true` |
//! | `mc.add(…)` (same arguments) | `true`, or `false` when the key exists |
//! | `mc.replace(…)` | `true`, or `false` when the key is missing |
//! | `mc.cas(key, value, cas [, flags [, exptime]])` | `true`; `false` when the item changed since; `nil` when it is missing |
//! | `mc.delete(key)` | `true`, or `false` when missing |
//! | `mc.incr(key [, delta])`, `mc.decr(…)` | the new value (an integer; a string past 2^63−1), or `nil` when missing |
//! | `mc.append(key, value)`, `mc.prepend(…)` | `true`, or `false` when missing |
//! | `mc.touch(key, exptime)` | `true`, or `false` when missing |
//!
//! Anything else the store refuses (a non-numeric value for `incr`, a value
//! too large, a full memory quota, writes that cannot be made durable) is
//! raised as a Lua error, which `pcall` may catch. Ejected values are read
//! back without blocking the worker. [`Reply::seqno`] is the highest seqno
//! the call's writes got, for persist-before-ack replies.
//!
//! A function's return value becomes bytes: a string as is, a number as
//! Lua prints it (`tostring`), a boolean as `true` / `false`, `nil` as no
//! value; anything else (a table, a function) is
//! [`CallError::BadReturn`] — return `table.concat(list, sep)` instead.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use lua::{Call, Libraries, Limits, Runtime};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let dir = tempfile::tempdir()?;
//! let store = store::Store::open(store::Config::new(dir.path()))?;
//! let libs = Arc::new(Libraries::default());
//! libs.load("counters", r#"
//!     function bump(keys, args)
//!         local n = tonumber(mc.get(keys[1]) or "0") + tonumber(args[1])
//!         mc.set(keys[1], n)
//!         return n
//!     end
//! "#)?;
//! let rt = Runtime::new(store.clone(), libs, Limits::default());
//! let reply = rt.call(Call::new("bump", ["hits"], ["5"])).await?;
//! assert_eq!(reply.value.as_deref(), Some(&b"5"[..]));
//! store.wait_persisted(reply.seqno).await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod locks;
mod mc;
mod registry;
mod runtime;
mod sandbox;

pub use crate::error::{CallError, LoadError};
pub use crate::locks::{CallGuard, DEFAULT_STRIPES, KeyLocks, Stripe, Ticket};
pub use crate::registry::{Libraries, Library, MAX_NAME_LEN, Snapshot};
pub use crate::runtime::{Call, Limits, Reply, Runtime};

#[cfg(test)]
mod testutil {
    use std::sync::Arc;

    use crate::{Libraries, Limits, Runtime};

    /// A runtime over a real store in a temporary directory, with `libs`
    /// loaded (name, source).
    pub(crate) fn runtime(
        libs: &[(&str, &str)],
        limits: Limits,
    ) -> (Runtime, store::Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = store::Store::open(store::Config::new(dir.path())).unwrap();
        (runtime_on(&store, libs, limits), store, dir)
    }

    /// A runtime over `store` with `libs` loaded.
    pub(crate) fn runtime_on(
        store: &store::Store,
        libs: &[(&str, &str)],
        limits: Limits,
    ) -> Runtime {
        let registry = Arc::new(Libraries::new(&limits));
        for (name, source) in libs {
            registry.load(name, source.to_string()).unwrap();
        }
        Runtime::new(store.clone(), registry, limits)
    }
}
