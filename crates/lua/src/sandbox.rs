//! One sandboxed Lua VM with a set of libraries loaded into it.
//!
//! A VM opens only the `string`, `table`, `math` and `utf8` libraries
//! (plus the safe part of the base library: no `load`, `dofile`,
//! `require`, `print`, `collectgarbage`; no `io`, `os`, `package`,
//! `debug`; `string.dump` removed). Libraries run in environments built
//! by `sandbox.lua`: while a library's top-level code runs, assigning a
//! function to a global (or `register(name, fn)`) declares it and
//! assigning anything else is an error; afterwards every global
//! assignment, and every read of a name nobody declared, is an error. The
//! standard library tables are read-only proxies, so one call cannot
//! change what the next one sees.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::chunk::ChunkMode;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Thread, VmState};

use crate::mc::{self, Slot};

/// The Lua side of the sandbox.
const PRELUDE: &str = include_str!("sandbox.lua");

/// Instructions between two runs of the instruction hook (time checks,
/// yields). Small enough that a check comes every few microseconds, large
/// enough that the hook costs well under 1% of a loop.
pub(crate) const HOOK_EVERY: u32 = 1000;

/// A Lua VM with libraries loaded: checked out by one call at a time.
pub(crate) struct Vm {
    /// The registry version the libraries came from.
    pub(crate) version: u64,
    new_env: Function,
    /// `dispatch(name, nkeys, key..., arg...)`: runs a call (sandbox.lua).
    pub(crate) dispatch: Function,
    /// The coroutine calls run in: made once with its instruction hook,
    /// reset for each call (a finished or failed Lua 5.4 thread can be).
    pub(crate) thread: Thread,
    /// The running call's state, shared with the `mc` functions and the
    /// hook.
    pub(crate) slot: Arc<Slot>,
    /// The VM itself, declared last so that it is dropped last: the
    /// handles above (the coroutine above all, which may hold a suspended
    /// `mc` call's future with a clone of this `Lua`) go first, and the
    /// state's final collection then frees everything.
    pub(crate) lua: Lua,
}

/// Each library's name and the functions it declared, in load order.
pub(crate) type Declared = Vec<(String, Vec<String>)>;

/// A library's source failed to load into a VM.
#[derive(Debug)]
pub(crate) struct LibFailure {
    pub(crate) lib: String,
    pub(crate) message: String,
}

impl Vm {
    /// A fresh VM with the sandbox and no library.
    pub(crate) fn empty(version: u64) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::STRING | StdLib::TABLE | StdLib::MATH | StdLib::UTF8,
            LuaOptions::default(),
        )?;
        let slot = Arc::new(Slot::new());
        lua.globals().set("mc", mc::table(&lua, &slot)?)?;
        lua.globals().set("stopped", mc::stopped_fn(&lua, &slot)?)?;
        let (new_env, dispatch): (Function, Function) =
            lua.load(PRELUDE).set_name("=sandbox").set_mode(ChunkMode::Text).eval()?;
        let thread = lua.create_thread(dispatch.clone())?;
        let hook_slot = Arc::clone(&slot);
        thread.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_, _| {
            crate::runtime::tick(&hook_slot)
        })?;
        Ok(Vm { version, new_env, dispatch, thread, slot, lua })
    }

    /// A VM with `libs` loaded in order. Each library's top-level code runs
    /// under `time` and `memory` limits.
    pub(crate) fn build<'a>(
        version: u64,
        libs: impl IntoIterator<Item = (&'a str, &'a Bytes)>,
        time: Duration,
        memory: usize,
    ) -> Result<(Vm, Declared), LibFailure> {
        let internal = |e: mlua::Error| LibFailure { lib: String::new(), message: e.to_string() };
        let vm = Vm::empty(version).map_err(internal)?;
        let mut declared = Vec::new();
        for (name, source) in libs {
            let functions = vm.load_library(name, source, time, memory).map_err(|e| {
                LibFailure { lib: name.to_owned(), message: crate::error::lua_message(&e) }
            })?;
            declared.push((name.to_owned(), functions));
        }
        Ok((vm, declared))
    }

    /// Runs one library's top-level code; returns the functions it
    /// declared, sorted.
    fn load_library(
        &self,
        name: &str,
        source: &[u8],
        time: Duration,
        memory: usize,
    ) -> mlua::Result<Vec<String>> {
        let (env, finish): (Table, Function) = self.new_env.call(name)?;
        let chunk = self
            .lua
            .load(source)
            .set_name(format!("={name}"))
            .set_mode(ChunkMode::Text)
            .set_environment(env)
            .into_function()?;
        let start = Instant::now();
        self.lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_, _| {
            if start.elapsed() > time {
                return Err(mlua::Error::RuntimeError(format!(
                    "top-level code ran over the {} ms time limit",
                    time.as_millis()
                )));
            }
            Ok(VmState::Continue)
        })?;
        let base = self.lua.used_memory();
        self.lua.set_memory_limit(base.saturating_add(memory))?;
        let ran = chunk.call::<()>(());
        self.lua.remove_hook();
        self.lua.set_memory_limit(0)?;
        ran?;
        let mut functions: Vec<String> = finish.call(())?;
        functions.sort();
        Ok(functions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(src: &str) -> Result<Vec<String>, String> {
        let src = Bytes::from(src.to_owned());
        Vm::build(1, [("lib", &src)], Duration::from_secs(1), 1 << 20)
            .map(|(_, d)| d.into_iter().next().unwrap().1)
            .map_err(|f| f.message)
    }

    #[test]
    fn declares_functions_both_ways() {
        let names = build("function b(k, a) return 1 end\nregister('a', function() end)").unwrap();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn refuses_data_globals_with_the_line() {
        let err = build("local ok = 1\n\ncounter = 0\nfunction f() end").unwrap_err();
        assert!(err.starts_with("lib:3:"), "{err}");
        assert!(err.contains("undeclared global 'counter'"), "{err}");
    }

    #[test]
    fn unsafe_libraries_are_absent() {
        for code in [
            "return os.time()",
            "return io.open('x')",
            "return load('return 1')",
            "return require('x')",
            "return debug.traceback()",
            "return string.dump(print)",
            "return dofile('x')",
        ] {
            let src = format!("local function probe() {code} end\nprobe()\nfunction f() end");
            let err = build(&src).unwrap_err();
            assert!(
                err.contains("undeclared global") || err.contains("nil value"),
                "{code}: {err}"
            );
        }
    }

    #[test]
    fn standard_tables_and_the_environment_are_read_only() {
        for code in [
            "string.upper = nil",
            "rawset(_G, 'x', 1)",
            "setmetatable(_G, nil)",
            "getmetatable('').__index = {}",
            "mc.get = nil",
        ] {
            let src = format!("function f() end\n{code}");
            assert!(build(&src).is_err(), "{code} was allowed");
        }
    }

    #[test]
    fn runaway_top_level_code_is_stopped() {
        let err = build("while true do end").unwrap_err();
        assert!(err.contains("time limit"), "{err}");
    }
}
