//! Running calls: key locks, a pool of VMs, limits, and the coroutine that
//! gives the worker thread back.
//!
//! A call runs as a Lua coroutine driven by mlua's `AsyncThread` future.
//! Each VM has one coroutine, made with the VM and reset for each call
//! (Lua 5.4 resets a finished or failed thread in place), and it calls
//! through the sandbox's `dispatch`: the function's name, the number of
//! keys, then the keys and the arguments, pushed straight onto the Lua
//! stack. The keys and arguments tables are built by Lua itself, and the
//! hook and the call's state (`mc::Slot`) are the VM's, so starting a call
//! makes no Lua objects from Rust. An instruction-count hook runs every
//! [`HOOK_EVERY`](crate::sandbox::HOOK_EVERY) instructions: it
//! stops the call when its Lua time passes the limit, and once the current
//! slice has run [`Limits::slice`] it returns `VmState::Yield`. Lua 5.4
//! lets a count hook yield; mlua then returns `Pending` and wakes the task
//! at once. That wake is held back and replaced by tokio's `yield_now`,
//! which reschedules the call only after the worker has polled its sockets:
//! a task that keeps waking itself would otherwise be polled again and
//! again while the scheduler looks at the network only every few dozen
//! polls (tens of milliseconds of 500 µs slices), and the other clients
//! on that worker would wait. The time limit counts only the time the
//! coroutine runs (it is measured around each poll), not the time it
//! waits for locks, a VM, a background fetch or its turn on the worker.

use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::{Either, Value, Variadic, VmState};
use store::Store;
use tokio::sync::Semaphore;

use crate::error::{CallError, is_memory_error, lua_message};
use crate::locks::KeyLocks;
use crate::mc::Slot;
use crate::registry::Libraries;
use crate::sandbox::Vm;

/// Per-call limits and the pool's size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Lua execution time per call (default 100 ms).
    pub time: Duration,
    /// Memory a call may allocate on top of what its VM holds (default
    /// 64 MiB).
    pub memory: usize,
    /// How long a call runs before it yields its worker (default 500 µs).
    pub slice: Duration,
    /// Calls running at once, each with a VM of its own (default 64;
    /// further calls wait).
    pub vms: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: Duration::from_millis(100),
            memory: 64 << 20,
            slice: Duration::from_micros(500),
            vms: 64,
        }
    }
}

/// A function call: the function, its declared keys (the only ones it may
/// touch, and those it holds locked) and its arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Call {
    /// The function's name.
    pub function: String,
    /// The declared keys, passed as the first argument (a Lua array).
    pub keys: Vec<Bytes>,
    /// The arguments, passed as the second argument (a Lua array).
    pub args: Vec<Bytes>,
}

impl Call {
    /// A call of `function` with `keys` and `args`.
    pub fn new<K: Into<Bytes>, A: Into<Bytes>>(
        function: impl Into<String>,
        keys: impl IntoIterator<Item = K>,
        args: impl IntoIterator<Item = A>,
    ) -> Call {
        Call {
            function: function.into(),
            keys: keys.into_iter().map(Into::into).collect(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }
}

/// What a call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The return value as bytes (see the crate docs); `None` for nil.
    pub value: Option<Bytes>,
    /// The highest seqno of the call's mutations, 0 when it changed
    /// nothing: in persist-before-ack mode, reply after
    /// `Store::wait_persisted(seqno)`.
    pub seqno: u64,
}

/// Runs calls against one store (see the [crate docs](crate)). Share it
/// behind an `Arc`.
pub struct Runtime {
    store: Store,
    libraries: Arc<Libraries>,
    locks: Arc<KeyLocks>,
    limits: Limits,
    idle: Mutex<Vec<Vm>>,
    running: Semaphore,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// Time a call has run, kept by the poll wrapper and read by the hook.
pub(crate) struct Meter {
    used: Duration,
    slice_start: Instant,
    limit: Duration,
    slice: Duration,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            used: Duration::ZERO,
            slice_start: Instant::now(),
            limit: Duration::MAX,
            slice: Duration::MAX,
        }
    }
}

/// The instruction hook of a VM's call coroutine: stops a call past its
/// time limit (and marks it stopped, so `pcall` cannot swallow that), and
/// yields once the current slice has run its time.
pub(crate) fn tick(slot: &Slot) -> mlua::Result<VmState> {
    let m = slot.meter.lock().unwrap_or_else(PoisonError::into_inner);
    let ran = m.slice_start.elapsed();
    if m.used + ran > m.limit {
        slot.stopped.store(true, Ordering::Relaxed);
        return Err(mlua::Error::RuntimeError("time limit exceeded".to_owned()));
    }
    Ok(if ran >= m.slice { VmState::Yield } else { VmState::Continue })
}

impl Runtime {
    /// A runtime for `store` running the functions of `libraries`.
    pub fn new(store: Store, libraries: Arc<Libraries>, limits: Limits) -> Runtime {
        Runtime {
            store,
            libraries,
            locks: Arc::new(KeyLocks::default()),
            running: Semaphore::new(limits.vms.max(1)),
            limits,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The key locks calls take, for the plain write path to consult.
    pub fn locks(&self) -> &Arc<KeyLocks> {
        &self.locks
    }

    /// The registry.
    pub fn libraries(&self) -> &Arc<Libraries> {
        &self.libraries
    }

    /// VMs waiting in the pool (for tests and stats).
    pub fn idle_vms(&self) -> usize {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Calls `call.function` with its keys locked and returns its result.
    ///
    /// # Errors
    ///
    /// See [`CallError`]. After any error the runtime stays usable; a VM
    /// that hit a limit is dropped rather than reused.
    pub async fn call(&self, call: Call) -> Result<Reply, CallError> {
        self.call_seqno(call).await.0
    }

    /// [`Runtime::call`], with the highest seqno of the call's writes even
    /// when it fails after writing (a runtime error or a limit past an
    /// `mc.set`): in persist-before-ack mode the error reply must wait for
    /// those writes as a success would.
    pub async fn call_seqno(&self, call: Call) -> (Result<Reply, CallError>, u64) {
        let snapshot = self.libraries.snapshot();
        if snapshot.owner(&call.function).is_none() {
            return (Err(CallError::UnknownFunction { function: call.function }), 0);
        }
        // Locks first, then a VM: a VM holder never waits for a lock.
        let _keys = self.locks.lock(&call.keys).await;
        let _permit = match self.running.acquire().await {
            Ok(permit) => permit,
            Err(e) => return (Err(CallError::Vm { message: e.to_string() }), 0),
        };
        let vm = match self.checkout(&snapshot) {
            Ok(vm) => vm,
            Err(e) => return (Err(e), 0),
        };
        let (vm, result, seqno) = self.run(vm, call).await;
        if let Some(vm) = vm {
            self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(vm);
        }
        (result, seqno)
    }

    /// An idle VM at `snapshot`'s version, else a new one.
    fn checkout(&self, snapshot: &crate::registry::Snapshot) -> Result<Vm, CallError> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = idle.iter().rposition(|vm| vm.version == snapshot.version()) {
            return Ok(idle.swap_remove(i));
        }
        // A VM of an old version is rebuilt, not kept beside the new ones.
        idle.pop();
        drop(idle);
        let vm = snapshot
            .build_vm(self.limits.time, self.limits.memory)
            .map_err(|message| CallError::Vm { message })?;
        vm.slot.bind(&self.store);
        Ok(vm)
    }

    /// Runs `call` on `vm`; gives the VM back unless it hit a limit.
    async fn run(&self, vm: Vm, call: Call) -> (Option<Vm>, Result<Reply, CallError>, u64) {
        let ran = self.execute(&vm, call).await;
        let seqno = vm.slot.end();
        let _ = vm.lua.set_memory_limit(0);
        let over_time = vm.slot.stopped.load(Ordering::Relaxed);
        let (vm, result) = match ran {
            _ if over_time => {
                (None, Err(CallError::TimeLimit { limit_ms: self.limits.time.as_millis() as u64 }))
            }
            Err(e) if is_memory_error(&e) => {
                (None, Err(CallError::MemoryLimit { limit: self.limits.memory }))
            }
            Err(e) => {
                // `execute` reset the failed coroutine; one that would not
                // reset is not reused.
                let clean = vm.thread.status() == mlua::prelude::LuaThreadStatus::Resumable;
                (clean.then_some(vm), Err(CallError::Runtime { message: lua_message(&e) }))
            }
            Ok(value) => {
                let reply = to_bytes(&vm.lua, value).map(|value| Reply { value, seqno });
                (Some(vm), reply)
            }
        };
        (vm, result, seqno)
    }

    /// Runs the call in the VM's coroutine: `dispatch(name, nkeys, key…,
    /// arg…)`, the values pushed as they are (no Lua tables or string
    /// objects made on this side), under the time and memory limits.
    async fn execute(&self, vm: &Vm, call: Call) -> mlua::Result<Value> {
        let lua = &vm.lua;
        // Resetting a thread that failed reports that failure once (Lua
        // 5.4's `lua_closethread`), and the thread is clean after it.
        if vm.thread.reset(vm.dispatch.clone()).is_err() {
            vm.thread.reset(vm.dispatch.clone())?;
        }
        // Valid UTF-8 (nearly every key) is pushed straight onto the stack;
        // other bytes become a Lua string first.
        let values = call
            .keys
            .iter()
            .chain(&call.args)
            .map(|b| match std::str::from_utf8(b) {
                Ok(s) => Ok(Either::Left(s)),
                Err(_) => lua.create_string(b).map(Either::Right),
            })
            .collect::<mlua::Result<Variadic<_>>>()?;
        let mut fut = std::pin::pin!(vm.thread.clone().into_async::<Value>((
            call.function.as_str(),
            call.keys.len(),
            values
        ))?);
        vm.slot.begin(call.keys);
        {
            let mut m = vm.slot.meter.lock().unwrap_or_else(PoisonError::into_inner);
            *m = Meter {
                used: Duration::ZERO,
                slice_start: Instant::now(),
                limit: self.limits.time,
                slice: self.limits.slice,
            };
        }
        let base = lua.used_memory();
        lua.set_memory_limit(base.saturating_add(self.limits.memory))?;
        let meter = &vm.slot.meter;
        loop {
            let mut yielded = false;
            let polled = poll_fn(|cx| {
                let start = Instant::now();
                meter.lock().unwrap_or_else(PoisonError::into_inner).slice_start = start;
                let waker = SelfWake::waker(cx.waker());
                let polled = fut.as_mut().poll(&mut std::task::Context::from_waker(&waker.0));
                meter.lock().unwrap_or_else(PoisonError::into_inner).used += start.elapsed();
                match polled {
                    std::task::Poll::Pending if waker.1.woke_during_poll() => {
                        // The hook's yield: come back after the sockets.
                        yielded = true;
                        std::task::Poll::Ready(None)
                    }
                    std::task::Poll::Pending => std::task::Poll::Pending,
                    std::task::Poll::Ready(r) => std::task::Poll::Ready(Some(r)),
                }
            })
            .await;
            match polled {
                Some(Err(e)) => {
                    // Close the failed coroutine now, while this call's
                    // limits, meter and keys are in force: Lua 5.4 runs
                    // its pending to-be-closed variables at this reset,
                    // not when the error is raised. The first reset
                    // reports the call's error again (or a closing
                    // method's); a memory error there is the call's. A
                    // thread that still does not reset is left in a state
                    // `run` sees, and its VM is dropped.
                    if let Err(closing) = vm.thread.reset(vm.dispatch.clone())
                        && is_memory_error(&closing)
                    {
                        return Err(closing);
                    }
                    let _ = vm.thread.reset(vm.dispatch.clone());
                    return Err(e);
                }
                Some(result) => return result,
                None if yielded => tokio::task::yield_now().await,
                None => {}
            }
        }
    }
}

/// A waker that forwards every wake except one made while the future it
/// was lent to is being polled (a coroutine waking itself as it yields).
struct SelfWake {
    inner: std::task::Waker,
    polling: AtomicBool,
    woke: AtomicBool,
}

impl SelfWake {
    /// A waker around `inner` for one poll, and the record of that poll.
    fn waker(inner: &std::task::Waker) -> (std::task::Waker, Arc<SelfWake>) {
        let me = Arc::new(SelfWake {
            inner: inner.clone(),
            polling: AtomicBool::new(true),
            woke: AtomicBool::new(false),
        });
        (std::task::Waker::from(Arc::clone(&me)), me)
    }

    /// Ends the poll; true when the future woke itself during it.
    fn woke_during_poll(&self) -> bool {
        self.polling.store(false, Ordering::SeqCst);
        self.woke.load(Ordering::SeqCst)
    }
}

impl std::task::Wake for SelfWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.polling.load(Ordering::SeqCst) {
            self.woke.store(true, Ordering::SeqCst);
        } else {
            self.inner.wake_by_ref();
        }
    }
}

/// A return value's bytes: see the crate docs for the rule.
fn to_bytes(lua: &mlua::Lua, value: Value) -> Result<Option<Bytes>, CallError> {
    match value {
        Value::Nil => Ok(None),
        Value::String(s) => Ok(Some(Bytes::copy_from_slice(&s.as_bytes()))),
        Value::Boolean(b) => Ok(Some(Bytes::from_static(if b { b"true" } else { b"false" }))),
        // Lua prints an integer as `%lld` does: Rust's form.
        Value::Integer(i) => Ok(Some(Bytes::from(i.to_string()))),
        Value::Number(_) => {
            let s = lua
                .coerce_string(value)
                .map_err(|e| CallError::Runtime { message: lua_message(&e) })?
                .ok_or(CallError::BadReturn { type_name: "number" })?;
            Ok(Some(Bytes::copy_from_slice(&s.as_bytes())))
        }
        other => Err(CallError::BadReturn { type_name: other.type_name() }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::testutil::runtime;

    /// Spins for about `ms` milliseconds of Lua time (a deadline is not
    /// available inside the sandbox, so it counts iterations measured once).
    const SPIN: &str = "function spin(n) local x = 0 for i = 1, n do x = x + i end return x end\nfunction calib(k, a) return spin(tonumber(a[1])) end";

    fn text(reply: &Reply) -> &str {
        std::str::from_utf8(reply.value.as_deref().unwrap_or(b"<nil>")).unwrap()
    }

    /// Iterations of `spin` that take about `ms` on this machine.
    async fn spins_for(rt: &Runtime, ms: u64) -> u64 {
        let n = 2_000_000u64;
        let start = Instant::now();
        rt.call(Call::new("calib", Vec::<Bytes>::new(), [n.to_string()])).await.unwrap();
        let took_us = start.elapsed().as_micros().max(1) as u64;
        n * ms * 1000 / took_us
    }

    fn limits(time_ms: u64) -> Limits {
        Limits { time: Duration::from_millis(time_ms), ..Limits::default() }
    }

    #[tokio::test]
    async fn return_values_become_bytes() {
        let src = "function r(keys, args)\n\
                   local k = args[1]\n\
                   if k == 's' then return 'str' elseif k == 'i' then return 42\n\
                   elseif k == 'f' then return 0.5 elseif k == 'b' then return false\n\
                   elseif k == 't' then return {} elseif k == 'k' then return keys[1] .. keys[2] end\n\
                   end";
        let (rt, _store, _dir) = runtime(&[("lib", src)], Limits::default());
        for (arg, want) in
            [("s", "str"), ("i", "42"), ("f", "0.5"), ("b", "false"), ("n", "<nil>"), ("k", "xy")]
        {
            let reply = rt.call(Call::new("r", ["x", "y"], [arg])).await.unwrap();
            assert_eq!(text(&reply), want, "{arg}");
            assert_eq!(reply.seqno, 0);
        }
        let err = rt.call(Call::new("r", Vec::<Bytes>::new(), ["t"])).await.unwrap_err();
        assert_eq!(err, CallError::BadReturn { type_name: "table" });
        let err =
            rt.call(Call::new("nope", Vec::<Bytes>::new(), Vec::<Bytes>::new())).await.unwrap_err();
        assert!(matches!(err, CallError::UnknownFunction { .. }));
    }

    /// The coroutine is reused: a call after a failed one starts clean.
    #[tokio::test]
    async fn calls_after_failures_run_normally() {
        let src = "function e(k, a) error(a[1], tonumber(a[2])) end\nfunction ok(k, a) return k[1] .. a[1] end";
        let (rt, _store, _dir) = runtime(&[("lib", src)], Limits::default());
        for _ in 0..3 {
            let err = rt.call(Call::new("e", ["k"], ["boom", "1"])).await.unwrap_err();
            assert_eq!(err.to_string(), "lib:1: boom");
            let reply = rt.call(Call::new("ok", ["k"], ["v"])).await.unwrap();
            assert_eq!(text(&reply), "kv");
            // Level 2: no caller to name.
            let err = rt.call(Call::new("e", ["k"], ["boom", "2"])).await.unwrap_err();
            assert_eq!(err.to_string(), "boom");
            let err = rt.call(Call::new("e", ["k"], ["again", "1"])).await.unwrap_err();
            assert_eq!(err.to_string(), "lib:1: again");
        }
        assert_eq!(rt.idle_vms(), 1);
    }

    /// A failed call's to-be-closed variables run before its reply, under
    /// its own memory limit, and not in the next call on the same VM.
    #[tokio::test]
    async fn a_failed_calls_closing_handlers_run_under_its_limits() {
        let src = "function f(k, a)\n  local x <close> = setmetatable({}, {__close = function()\n    local t = {} for i = 1, 200 do t[i] = string.rep(a[1], 1048576) end\n  end})\n  error('boom')\nend\nfunction ok(k, a) return 'fine' end";
        let limits = Limits { memory: 8 << 20, ..Limits::default() };
        let (rt, _store, _dir) = runtime(&[("lib", src)], limits);
        let err = rt.call(Call::new("f", ["k"], ["x"])).await.unwrap_err();
        assert!(matches!(err, CallError::MemoryLimit { .. }), "{err}");
        let reply = rt.call(Call::new("ok", ["k"], ["v"])).await.unwrap();
        assert_eq!(text(&reply), "fine");
        // A closing handler that does little leaves the call's own error.
        let src = "function g(k, a)\n  local x <close> = setmetatable({}, {__close = function() end})\n  error('boom')\nend";
        let (rt, _store, _dir) = runtime(&[("lib", src)], Limits::default());
        for _ in 0..2 {
            let err = rt.call(Call::new("g", ["k"], ["v"])).await.unwrap_err();
            assert_eq!(err.to_string(), "lib:3: boom");
        }
        assert_eq!(rt.idle_vms(), 1);
    }

    #[tokio::test]
    async fn keys_and_arguments_arrive_as_two_arrays_byte_for_byte() {
        let src = "function f(k, a) return #k .. '/' .. #a .. '/' .. table.concat(k, ',') .. '/' .. table.concat(a, ',') end";
        let (rt, _store, _dir) = runtime(&[("lib", src)], Limits::default());
        let bytes = |b: &[u8]| Bytes::copy_from_slice(b);
        for (keys, args, want) in [
            (vec![bytes(b"a"), bytes(b"b")], vec![bytes(b"1")], &b"2/1/a,b/1"[..]),
            (vec![], vec![bytes(b"1"), bytes(b"2")], b"0/2//1,2"),
            (vec![bytes(b"a")], vec![], b"1/0/a/"),
            (vec![], vec![], b"0/0//"),
            (vec![bytes(b"\xffk"), bytes(b"n")], vec![bytes(b"\0a\xfe")], b"2/1/\xffk,n/\0a\xfe"),
        ] {
            let reply = rt.call(Call { function: "f".into(), keys, args }).await.unwrap();
            assert_eq!(reply.value.as_deref(), Some(want));
        }
    }

    #[tokio::test]
    async fn globals_are_frozen_at_run_time() {
        let src = "function w() counter = 1 end\nfunction r() return undefined_thing end\nfunction l() local x = 1 x = x + 1 return x end\nfunction reg() register('late', function() end) end";
        let (rt, _store, _dir) = runtime(&[("lib", src)], Limits::default());
        let none = Vec::<Bytes>::new;
        let err = rt.call(Call::new("w", none(), none())).await.unwrap_err().to_string();
        assert!(
            err.starts_with("lib:1:") && err.contains("assignment to undeclared global 'counter'"),
            "{err}"
        );
        let err = rt.call(Call::new("r", none(), none())).await.unwrap_err().to_string();
        assert!(
            err.starts_with("lib:2:") && err.contains("undeclared global 'undefined_thing'"),
            "{err}"
        );
        assert!(rt.call(Call::new("reg", none(), none())).await.is_err());
        assert_eq!(text(&rt.call(Call::new("l", none(), none())).await.unwrap()), "2");
        // The failed calls left the VM usable and nothing declared.
        assert_eq!(rt.libraries().list()[0].1, ["l", "r", "reg", "w"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_running_call_keeps_its_version_while_a_new_one_lands() {
        let v1 = format!(
            "{SPIN}\nfunction helper() return 'old' end\nfunction slow(k, a) spin(tonumber(a[1])) return helper() end"
        );
        let (rt, _store, _dir) = runtime(&[("a", &v1)], limits(5000));
        let rt = Arc::new(rt);
        let n = spins_for(&rt, 300).await;
        let rt2 = Arc::clone(&rt);
        let slow = tokio::spawn(async move {
            rt2.call(Call::new("slow", Vec::<Bytes>::new(), [n.to_string()])).await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!slow.is_finished());
        let v2 = v1.replace("'old'", "'new'");
        rt.libraries().load("a", v2).unwrap();
        let fresh = rt.call(Call::new("slow", Vec::<Bytes>::new(), ["1"])).await.unwrap();
        assert_eq!(text(&fresh), "new");
        assert!(!slow.is_finished(), "the slow call ended before the new version was used");
        assert_eq!(text(&slow.await.unwrap().unwrap()), "old");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_on_one_key_serialize() {
        // Read, spin past a slice (so the coroutine yields in between), write.
        let src = format!(
            "{SPIN}\nfunction bump(keys, args)\nlocal n = tonumber(mc.get(keys[1]) or '0')\nspin(20000)\nmc.set(keys[1], n + 1)\nreturn n + 1\nend"
        );
        let slice = Limits { slice: Duration::from_micros(20), ..Limits::default() };
        let (rt, store, _dir) = runtime(&[("lib", &src)], slice);
        let rt = Arc::new(rt);
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let rt = Arc::clone(&rt);
            tasks.push(tokio::spawn(async move {
                for _ in 0..25 {
                    rt.call(Call::new("bump", ["counter"], Vec::<Bytes>::new())).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(store.get(b"counter").unwrap().value.to_bytes(), "400");
        assert!(rt.locks().is_idle());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn calls_on_other_keys_overlap_even_on_one_thread() {
        let src = format!(
            "{SPIN}\nfunction slow(keys, args) spin(tonumber(args[1])) mc.set(keys[1], 'slow') end\nfunction fast(keys) mc.set(keys[1], 'fast') end"
        );
        let (rt, store, _dir) = runtime(&[("lib", &src)], limits(5000));
        let rt = Arc::new(rt);
        let n = spins_for(&rt, 400).await;
        assert!(!rt.locks().same_stripe(b"a", b"b"));
        let rt2 = Arc::clone(&rt);
        let slow =
            tokio::spawn(async move { rt2.call(Call::new("slow", ["a"], [n.to_string()])).await });
        tokio::task::yield_now().await; // let the slow call start
        let start = Instant::now();
        rt.call(Call::new("fast", ["b"], Vec::<Bytes>::new())).await.unwrap();
        let fast = start.elapsed();
        assert!(!slow.is_finished(), "the slow call finished first");
        assert!(fast < Duration::from_millis(100), "a call on another key waited {fast:?}");
        slow.await.unwrap().unwrap();
        assert_eq!(store.get(b"a").unwrap().value.to_bytes(), "slow");
        assert_eq!(store.get(b"b").unwrap().value.to_bytes(), "fast");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_runaway_loop_stops_at_its_limit_while_the_worker_keeps_serving() {
        let src = "function loop() while true do end end\nfunction ok() return 'ok' end";
        let (rt, _store, _dir) = runtime(&[("lib", src)], limits(300));
        let ticks = Arc::new(AtomicUsize::new(0));
        let t2 = Arc::clone(&ticks);
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                t2.fetch_add(1, Ordering::Relaxed);
            }
        });
        tokio::task::yield_now().await;
        let start = Instant::now();
        let err =
            rt.call(Call::new("loop", Vec::<Bytes>::new(), Vec::<Bytes>::new())).await.unwrap_err();
        let took = start.elapsed();
        ticker.abort();
        assert_eq!(err, CallError::TimeLimit { limit_ms: 300 });
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(2), "{took:?}");
        let ticks = ticks.load(Ordering::Relaxed);
        // 300 ms at one tick per 5 ms: 60 if never delayed; a blocked
        // worker would give 0 or 1.
        assert!(ticks >= 20, "the timer ticked only {ticks} times during the loop");
        let reply =
            rt.call(Call::new("ok", Vec::<Bytes>::new(), Vec::<Bytes>::new())).await.unwrap();
        assert_eq!(text(&reply), "ok");
    }

    #[tokio::test]
    async fn default_time_limit_stops_a_loop_caught_by_pcall() {
        let src = "function loop() while true do pcall(function() while true do end end) end end";
        let (rt, _store, _dir) = runtime(&[("lib", src)], Limits::default());
        let start = Instant::now();
        let err =
            rt.call(Call::new("loop", Vec::<Bytes>::new(), Vec::<Bytes>::new())).await.unwrap_err();
        assert_eq!(err, CallError::TimeLimit { limit_ms: 100 });
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn an_allocation_bomb_stops_at_the_memory_limit() {
        let src = "function bomb() local t = {} while true do t[#t + 1] = string.rep('x', 4096) .. #t end end\nfunction ok(keys) mc.set(keys[1], 'fine') return mc.get(keys[1]) end";
        let small = Limits { memory: 8 << 20, time: Duration::from_secs(10), ..Limits::default() };
        let (rt, _store, _dir) = runtime(&[("lib", src)], small);
        for _ in 0..3 {
            let err = rt
                .call(Call::new("bomb", Vec::<Bytes>::new(), Vec::<Bytes>::new()))
                .await
                .unwrap_err();
            assert_eq!(err, CallError::MemoryLimit { limit: 8 << 20 });
            let reply = rt.call(Call::new("ok", ["k"], Vec::<Bytes>::new())).await.unwrap();
            assert_eq!(text(&reply), "fine");
        }
    }

    #[tokio::test]
    async fn vms_are_reused_and_rebuilt_after_a_load() {
        let (rt, _store, _dir) =
            runtime(&[("lib", "function f() return 1 end")], Limits::default());
        let none = Vec::<Bytes>::new;
        rt.call(Call::new("f", none(), none())).await.unwrap();
        rt.call(Call::new("f", none(), none())).await.unwrap();
        assert_eq!(rt.idle_vms(), 1);
        rt.libraries().load("lib", "function f() return 2 end").unwrap();
        assert_eq!(text(&rt.call(Call::new("f", none(), none())).await.unwrap()), "2");
        assert_eq!(rt.idle_vms(), 1);
        assert!(rt.libraries().delete("lib"));
        assert!(matches!(
            rt.call(Call::new("f", none(), none())).await,
            Err(CallError::UnknownFunction { .. })
        ));
    }
}
