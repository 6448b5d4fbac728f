//! The `mc` table: memcached operations on the call's store, limited to
//! the call's declared keys.
//!
//! The functions find the running call in the VM's call slot (`Slot`);
//! outside a call (a library's top-level code) they raise an error.
//! Operations that need an ejected value read it back first without
//! blocking the worker (`Store::fetch`, awaited: those are async Lua
//! functions, and the call's coroutine is suspended meanwhile).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use mlua::{BString, Lua, MultiValue, Table, Value};
use store::{Arith, Counter, Mutation, OpError, Store, StoreMode, Write};

use crate::runtime::Meter;

/// Declared keys past which a call looks them up in a hash set rather
/// than comparing each.
const LINEAR_KEYS: usize = 8;

/// One VM's call state, made with the VM and shared by its `mc`
/// functions, its instruction hook and the runtime: a call fills it in
/// and clears it, so nothing per call is allocated for it.
pub(crate) struct Slot {
    /// The store (set when a runtime first takes the VM; a scratch VM that
    /// only checks libraries has none).
    store: OnceLock<Store>,
    /// The running call's declared keys (`None`: no call is running).
    keys: Mutex<Option<Keys>>,
    /// The highest seqno of the call's mutations (0: none).
    seqno: AtomicU64,
    /// Set when the call passed its time limit: `pcall` and `xpcall`
    /// re-raise every error from then on, so the call cannot go on.
    pub(crate) stopped: AtomicBool,
    /// The call's running time, for the hook.
    pub(crate) meter: Mutex<Meter>,
}

/// A call's declared keys.
struct Keys {
    list: Vec<Bytes>,
    /// For calls with many keys.
    index: Option<HashSet<Bytes>>,
}

impl Keys {
    /// The declared key equal to `key` (a share of it, not a copy).
    fn find(&self, key: &[u8]) -> Option<Bytes> {
        match &self.index {
            Some(index) => index.get(key).cloned(),
            None => self.list.iter().find(|k| k[..] == *key).cloned(),
        }
    }
}

impl Slot {
    pub(crate) fn new() -> Slot {
        Slot {
            store: OnceLock::new(),
            keys: Mutex::new(None),
            seqno: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            meter: Mutex::new(Meter::default()),
        }
    }

    /// Binds the VM to `store` (once; a VM serves one runtime).
    pub(crate) fn bind(&self, store: &Store) {
        let _ = self.store.get_or_init(|| store.clone());
    }

    /// Starts a call on `keys`.
    pub(crate) fn begin(&self, keys: Vec<Bytes>) {
        let index = (keys.len() > LINEAR_KEYS).then(|| keys.iter().cloned().collect());
        *self.keys.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Keys { list: keys, index });
        self.seqno.store(0, Ordering::Relaxed);
        self.stopped.store(false, Ordering::Relaxed);
    }

    /// Ends the call: the highest seqno it wrote.
    pub(crate) fn end(&self) -> u64 {
        *self.keys.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.seqno.load(Ordering::Relaxed)
    }

    /// The store and the declared key equal to `key`. The lock is not held
    /// on return: nothing that may run Lua (an allocation can run a `__gc`
    /// metamethod that calls `mc` again) happens under it.
    fn open(&self, op: &str, key: &[u8]) -> mlua::Result<(&Store, Bytes)> {
        let found = {
            let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(keys) = keys.as_ref() else {
                return Err(err(format!("mc.{op}: only available inside a call")));
            };
            keys.find(key)
        };
        match (found, self.store.get()) {
            (Some(key), Some(store)) => Ok((store, key)),
            (None, _) => Err(err(format!(
                "mc.{op}: key '{}' is not among the call's declared keys",
                show(key)
            ))),
            (Some(_), None) => Err(err(format!("mc.{op}: only available inside a call"))),
        }
    }

    /// Records a mutation's seqno in the call.
    fn note(&self, m: Mutation) {
        self.seqno.fetch_max(m.seqno, Ordering::Relaxed);
    }
}

/// The sandbox's `pcall` asks this before returning a caught error.
pub(crate) fn stopped_fn(lua: &Lua, slot: &Arc<Slot>) -> mlua::Result<mlua::Function> {
    let slot = Arc::clone(slot);
    lua.create_function(move |_, ()| Ok(slot.stopped.load(Ordering::Relaxed)))
}

fn err(msg: String) -> mlua::Error {
    mlua::Error::RuntimeError(msg)
}

/// A printable form of a key for error messages.
fn show(key: &[u8]) -> String {
    String::from_utf8_lossy(key).chars().take(64).collect()
}

/// A value to store: a string's bytes, or a number as Lua prints it (an
/// integer formatted here, as `%lld` does, without making a Lua string).
fn value_bytes(lua: &Lua, op: &str, value: Value) -> mlua::Result<Bytes> {
    match value {
        Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(i) => Ok(Bytes::from(i.to_string())),
        Value::Number(_) => match lua.coerce_string(value)? {
            Some(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
            None => Err(err(format!("mc.{op}: the value is not a string"))),
        },
        other => Err(err(format!(
            "mc.{op}: the value must be a string or a number, not a {}",
            other.type_name()
        ))),
    }
}

/// A failure that is not a memcached outcome: raised as a Lua error.
fn failure(op: &str, e: OpError) -> mlua::Error {
    let what = match e {
        OpError::TooLarge => "too large",
        OpError::TempFail => "temporary failure (memory full of unpersisted changes)",
        OpError::OutOfMemory => "out of memory",
        OpError::Unwritable => "writes cannot be made durable now",
        OpError::BadDelta => "value is not a decimal number",
        OpError::NotFound => "not found",
        OpError::Exists => "exists",
        OpError::NotStored => "not stored",
    };
    err(format!("mc.{op}: {what}"))
}

/// Waits for an ejected value to come back into memory.
async fn resident(store: &Store, key: &[u8]) {
    if let Some(fetch) = store.fetch(key) {
        fetch.wait().await;
    }
}

fn cas_value(op: &str, cas: u64) -> mlua::Result<i64> {
    i64::try_from(cas).map_err(|_| err(format!("mc.{op}: cas {cas} does not fit a Lua integer")))
}

/// A counter as a Lua integer, or as its decimal text past `i64::MAX`.
fn counter_value(lua: &Lua, n: u64) -> mlua::Result<Value> {
    Ok(match i64::try_from(n) {
        Ok(i) => Value::Integer(i),
        Err(_) => Value::String(lua.create_string(n.to_string())?),
    })
}

/// A SET-family write: `true` when stored, `false` for the outcome that
/// `mode` names as "not done".
fn store_op(
    lua: &Lua,
    slot: &Slot,
    op: &'static str,
    mode: StoreMode,
    (key, value, flags, exptime): (BString, Value, Option<u32>, Option<u32>),
) -> mlua::Result<bool> {
    let (store, key) = slot.open(op, &key)?;
    let w = Write::new(mode, key, value_bytes(lua, op, value)?)
        .flags(flags.unwrap_or(0))
        .exptime(exptime.unwrap_or(0));
    match store.write(w) {
        Ok(m) => {
            slot.note(m);
            Ok(true)
        }
        Err(OpError::Exists | OpError::NotFound | OpError::NotStored) => Ok(false),
        Err(e) => Err(failure(op, e)),
    }
}

async fn concat(
    lua: Lua,
    slot: Arc<Slot>,
    op: &'static str,
    mode: StoreMode,
    (key, value): (BString, Value),
) -> mlua::Result<bool> {
    let (store, key) = slot.open(op, &key)?;
    let value = value_bytes(&lua, op, value)?;
    resident(store, &key).await;
    match store.write(Write::new(mode, key, value)) {
        Ok(m) => {
            slot.note(m);
            Ok(true)
        }
        Err(OpError::NotStored | OpError::NotFound) => Ok(false),
        Err(e) => Err(failure(op, e)),
    }
}

async fn arith(
    lua: Lua,
    slot: Arc<Slot>,
    op: &'static str,
    mode: Arith,
    (key, delta): (BString, Option<i64>),
) -> mlua::Result<Value> {
    let (store, key) = slot.open(op, &key)?;
    let delta = u64::try_from(delta.unwrap_or(1))
        .map_err(|_| err(format!("mc.{op}: the delta must not be negative")))?;
    resident(store, &key).await;
    match store.arith(Counter::new(mode, key, delta)) {
        Ok((n, m)) => {
            slot.note(m);
            counter_value(&lua, n)
        }
        Err(OpError::NotFound) => Ok(Value::Nil),
        Err(e) => Err(failure(op, e)),
    }
}

/// Builds the `mc` table for `lua`, its functions working on `slot`'s call.
pub(crate) fn table(lua: &Lua, slot: &Arc<Slot>) -> mlua::Result<Table> {
    let mc = lua.create_table()?;
    add_reads(lua, &mc, slot)?;
    add_writes(lua, &mc, slot)?;
    Ok(mc)
}

/// `get` and `gets`. Each is a Lua wrapper over a plain Rust function that
/// answers at once when the value is in memory (nearly always), and an
/// async one that first waits for an ejected value to be read back: an
/// async call costs the coroutine a suspension, a plain one does not.
fn add_reads(lua: &Lua, mc: &Table, slot: &Arc<Slot>) -> mlua::Result<()> {
    let s = Arc::clone(slot);
    let get_now = lua.create_function(move |lua, key: BString| {
        let (store, key) = s.open("get", &key)?;
        if store.fetch(&key).is_some() {
            return Ok((Value::Nil, true));
        }
        match store.get(&key) {
            Some(hit) => Ok((Value::String(lua.create_string(hit.value.to_bytes())?), false)),
            None => Ok((Value::Nil, false)),
        }
    })?;
    let s = Arc::clone(slot);
    let get_wait = lua.create_async_function(move |lua, key: BString| {
        let slot = Arc::clone(&s);
        async move {
            let (store, key) = slot.open("get", &key)?;
            resident(store, &key).await;
            match store.get(&key) {
                Some(hit) => Ok(Value::String(lua.create_string(hit.value.to_bytes())?)),
                None => Ok(Value::Nil),
            }
        }
    })?;
    let s = Arc::clone(slot);
    let gets_now = lua.create_function(move |lua, key: BString| {
        let (store, key) = s.open("gets", &key)?;
        if store.fetch(&key).is_some() {
            return Ok(MultiValue::from_iter([Value::Boolean(true)]));
        }
        gets_values(lua, store, &key, false)
    })?;
    let s = Arc::clone(slot);
    let gets_wait = lua.create_async_function(move |lua, key: BString| {
        let slot = Arc::clone(&s);
        async move {
            let (store, key) = slot.open("gets", &key)?;
            resident(store, &key).await;
            gets_values(&lua, store, &key, true)
        }
    })?;
    let wrap: mlua::Function = lua
        .load(
            "local get_now, get_wait, gets_now, gets_wait = ...\n\
             return function(key)\n\
               local value, fetch = get_now(key)\n\
               if fetch then return get_wait(key) end\n\
               return value\n\
             end, function(key)\n\
               local fetch, value, flags, cas = gets_now(key)\n\
               if fetch then return gets_wait(key) end\n\
               return value, flags, cas\n\
             end",
        )
        .set_name("=mc")
        .into_function()?;
    let (get, gets): (mlua::Function, mlua::Function) =
        wrap.call((get_now, get_wait, gets_now, gets_wait))?;
    mc.set("get", get)?;
    mc.set("gets", gets)?;
    Ok(())
}

/// `gets`'s results: `value, flags, cas`, or `nil`; after `fetch_flag`
/// (false) when it comes from the plain function, which the wrapper reads
/// first.
fn gets_values(lua: &Lua, store: &Store, key: &[u8], waited: bool) -> mlua::Result<MultiValue> {
    let mut out = Vec::with_capacity(4);
    if !waited {
        out.push(Value::Boolean(false));
    }
    match store.get(key) {
        Some(hit) => {
            out.push(Value::String(lua.create_string(hit.value.to_bytes())?));
            out.push(Value::Integer(i64::from(hit.flags)));
            out.push(Value::Integer(cas_value("gets", hit.cas)?));
        }
        None => out.push(Value::Nil),
    }
    Ok(MultiValue::from_iter(out))
}

/// `cas(key, value, cas [, flags [, exptime]])`.
type CasArgs = (BString, Value, i64, Option<u32>, Option<u32>);

/// Everything that changes an item.
fn add_writes(lua: &Lua, mc: &Table, slot: &Arc<Slot>) -> mlua::Result<()> {
    for (name, mode) in
        [("set", StoreMode::Set), ("add", StoreMode::Add), ("replace", StoreMode::Replace)]
    {
        let s = Arc::clone(slot);
        mc.set(name, lua.create_function(move |lua, args| store_op(lua, &s, name, mode, args))?)?;
    }
    let s = Arc::clone(slot);
    mc.set(
        "cas",
        lua.create_function(move |lua, (key, value, cas, flags, exptime): CasArgs| {
            let (store, key) = s.open("cas", &key)?;
            let cas = u64::try_from(cas)
                .ok()
                .filter(|&c| c != 0)
                .ok_or_else(|| err("mc.cas: the cas must be positive".to_owned()))?;
            let w = Write::set(key, value_bytes(lua, "cas", value)?)
                .flags(flags.unwrap_or(0))
                .exptime(exptime.unwrap_or(0))
                .cas(cas);
            match store.write(w) {
                Ok(m) => {
                    s.note(m);
                    Ok(Value::Boolean(true))
                }
                Err(OpError::Exists) => Ok(Value::Boolean(false)),
                Err(OpError::NotFound) => Ok(Value::Nil),
                Err(e) => Err(failure("cas", e)),
            }
        })?,
    )?;
    let s = Arc::clone(slot);
    mc.set(
        "delete",
        lua.create_function(move |_, key: BString| {
            let (store, key) = s.open("delete", &key)?;
            match store.delete(&key, 0) {
                Ok(m) => {
                    s.note(m);
                    Ok(true)
                }
                Err(OpError::NotFound) => Ok(false),
                Err(e) => Err(failure("delete", e)),
            }
        })?,
    )?;
    for (name, mode) in [("incr", Arith::Incr), ("decr", Arith::Decr)] {
        let s = Arc::clone(slot);
        mc.set(
            name,
            lua.create_async_function(move |lua, args: (BString, Option<i64>)| {
                arith(lua, Arc::clone(&s), name, mode, args)
            })?,
        )?;
    }
    for (name, mode) in [("append", StoreMode::Append), ("prepend", StoreMode::Prepend)] {
        let s = Arc::clone(slot);
        mc.set(
            name,
            lua.create_async_function(move |lua, args: (BString, Value)| {
                concat(lua, Arc::clone(&s), name, mode, args)
            })?,
        )?;
    }
    let s = Arc::clone(slot);
    mc.set(
        "touch",
        lua.create_async_function(move |_, (key, exptime): (BString, u32)| {
            let slot = Arc::clone(&s);
            async move {
                let (store, key) = slot.open("touch", &key)?;
                resident(store, &key).await;
                match store.touch(&key, exptime) {
                    Ok((_, m)) => {
                        slot.note(m);
                        Ok(true)
                    }
                    Err(OpError::NotFound) => Ok(false),
                    Err(e) => Err(failure("touch", e)),
                }
            }
        })?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use store::Write;

    use crate::testutil::runtime;
    use crate::{Call, CallError, Limits};

    /// Runs `body` as the function `t(keys, args)` with keys `k`, `n`.
    async fn run(
        store_setup: &[(&str, &str)],
        body: &str,
    ) -> (Result<Option<String>, CallError>, store::Store, u64, tempfile::TempDir) {
        let src = format!("function t(keys, args)\n{body}\nend");
        let (rt, store, dir) = runtime(&[("lib", &src)], Limits::default());
        for (k, v) in store_setup {
            store
                .write(Write::set(Bytes::from(k.to_string()), Bytes::from(v.to_string())))
                .unwrap();
        }
        let reply = rt.call(Call::new("t", ["k", "n"], ["a1"])).await;
        let seqno = reply.as_ref().map_or(0, |r| r.seqno);
        (reply.map(|r| r.value.map(|v| String::from_utf8(v.to_vec()).unwrap())), store, seqno, dir)
    }

    async fn value(setup: &[(&str, &str)], body: &str) -> String {
        run(setup, body).await.0.unwrap().unwrap_or_else(|| "<nil>".into())
    }

    fn get(store: &store::Store, key: &str) -> Option<String> {
        store.get(key.as_bytes()).map(|h| String::from_utf8(h.value.to_bytes().to_vec()).unwrap())
    }

    #[tokio::test]
    async fn get_and_gets() {
        assert_eq!(value(&[("k", "v")], "return mc.get('k')").await, "v");
        assert_eq!(value(&[], "return mc.get('k')").await, "<nil>");
        assert_eq!(
            value(
                &[("k", "v")],
                "local v, f, c = mc.gets('k') return v .. ':' .. f .. ':' .. tostring(c > 0)"
            )
            .await,
            "v:0:true"
        );
        assert_eq!(value(&[], "return mc.gets('k') == nil").await, "true");
    }

    #[tokio::test]
    async fn set_add_replace() {
        let (r, store, seqno, _dir) = run(&[], "return tostring(mc.set('k', 'x', 5)) .. tostring(mc.add('k', 'y')) .. tostring(mc.add('n', 'z'))").await;
        assert_eq!(r.unwrap().unwrap(), "truefalsetrue");
        assert_eq!(get(&store, "k").unwrap(), "x");
        assert_eq!(store.get(b"k").unwrap().flags, 5);
        assert_eq!(get(&store, "n").unwrap(), "z");
        assert!(seqno > 0 && seqno == store.high_seqno(), "{seqno}");
        let (r, store, _, _dir) = run(
            &[("k", "old")],
            "return tostring(mc.replace('k', 'new')) .. tostring(mc.replace('n', 'x'))",
        )
        .await;
        assert_eq!(r.unwrap().unwrap(), "truefalse");
        assert_eq!(get(&store, "k").unwrap(), "new");
        assert_eq!(get(&store, "n"), None);
    }

    #[tokio::test]
    async fn numbers_are_stored_as_lua_prints_them() {
        let body = "local out = {}\n\
                    for _, x in ipairs({0, -7, 42, math.maxinteger, math.mininteger, 0.5, 2^53, -1e300, 1/3}) do\n\
                      mc.set('k', x)\n\
                      out[#out + 1] = tostring(mc.get('k') == tostring(x))\n\
                    end\n\
                    mc.append('k', 12) mc.prepend('n', 1)\n\
                    return table.concat(out, ',') .. ' ' .. mc.get('k')";
        assert_eq!(
            value(&[], body).await,
            "true,true,true,true,true,true,true,true,true 0.3333333333333312"
        );
        let (r, _store, _, _dir) = run(&[], "return mc.set('k', true)").await;
        let Err(CallError::Runtime { message }) = &r else { panic!("{r:?}") };
        assert!(message.contains("mc.set: the value must be a string or a number, not a boolean"));
        assert_eq!(value(&[], "return pcall(mc.set, 'k', {})").await, "false");
    }

    #[tokio::test]
    async fn cas() {
        let body = "local _, _, c = mc.gets('k')\n\
                    return tostring(mc.cas('k', 'b', c + 1000)) .. tostring(mc.cas('k', 'c', c)) .. tostring(mc.cas('n', 'x', 1))";
        let (r, store, _, _dir) = run(&[("k", "a")], body).await;
        assert_eq!(r.unwrap().unwrap(), "falsetruenil");
        assert_eq!(get(&store, "k").unwrap(), "c");
    }

    #[tokio::test]
    async fn delete_touch_append_prepend() {
        let (r, store, _, _dir) = run(&[("k", "mid")], "return tostring(mc.append('k', '>')) .. tostring(mc.prepend('k', '<')) .. tostring(mc.append('n', 'x')) .. tostring(mc.touch('k', 100)) .. tostring(mc.touch('n', 1))").await;
        assert_eq!(r.unwrap().unwrap(), "truetruefalsetruefalse");
        assert_eq!(get(&store, "k").unwrap(), "<mid>");
        assert_ne!(store.get(b"k").unwrap().exptime, 0);
        let (r, store, _, _dir) =
            run(&[("k", "v")], "return tostring(mc.delete('k')) .. tostring(mc.delete('n'))").await;
        assert_eq!(r.unwrap().unwrap(), "truefalse");
        assert_eq!(get(&store, "k"), None);
    }

    #[tokio::test]
    async fn incr_decr() {
        assert_eq!(value(&[("k", "10")], "return mc.incr('k', 5) + mc.decr('k')").await, "29");
        assert_eq!(value(&[], "return mc.incr('k') == nil").await, "true");
        let (r, _store, _, _dir) = run(&[("k", "abc")], "return mc.incr('k', 1)").await;
        assert!(
            matches!(&r, Err(CallError::Runtime { message }) if message.contains("not a decimal")),
            "{r:?}"
        );
        let (r, _store, _, _dir) = run(&[("k", "1")], "return mc.incr('k', -1)").await;
        assert!(r.is_err());
    }

    #[tokio::test]
    async fn undeclared_keys_are_refused() {
        for op in ["get('x')", "set('x', 'v')", "delete('x')", "incr('x')", "touch('x', 0)"] {
            let (r, store, _, _dir) = run(&[("x", "1")], &format!("return mc.{op}")).await;
            let Err(CallError::Runtime { message }) = &r else { panic!("{op}: {r:?}") };
            assert!(message.contains("not among the call's declared keys"), "{message}");
            assert_eq!(get(&store, "x").unwrap(), "1");
        }
    }

    #[tokio::test]
    async fn pcall_catches_a_refusal() {
        assert_eq!(value(&[], "local ok = pcall(mc.get, 'x') return ok").await, "false");
    }

    fn stat(store: &store::Store, name: &str) -> u64 {
        store.stats().into_iter().find(|(k, _)| k == name).unwrap().1.parse().unwrap()
    }

    /// Ejected values come back through background fetches (awaited by
    /// the coroutine), not reads on the worker's thread.
    #[tokio::test]
    async fn ejected_values_are_fetched_without_blocking() {
        use std::sync::Arc;
        use std::time::{Duration, Instant};

        let dir = tempfile::tempdir().unwrap();
        let mut config = store::Config::new(dir.path());
        config.memory =
            Arc::new(store::Budget::with_watermarks(4 << 20, store::Eviction::Value, 25, 20));
        config.flush_interval = Duration::from_millis(5);
        let store = store::Store::open(config).unwrap();
        let value = |n: usize| format!("{n:05}").repeat(200);
        for n in 0..2000 {
            store
                .write(Write::set(Bytes::from(format!("key:{n}")), Bytes::from(value(n))))
                .unwrap();
        }
        store.sync();
        let deadline = Instant::now() + Duration::from_secs(10);
        while stat(&store, "ep_num_non_resident") <= 500 {
            assert!(Instant::now() < deadline, "nothing was ejected");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let src = "function get1(keys) return mc.get(keys[1]) end\nfunction bump(keys) return mc.append(keys[1], '+') end";
        let rt = crate::testutil::runtime_on(&store, &[("lib", src)], Limits::default());
        let (inline, fetched) =
            (stat(&store, "ep_bg_fetched_inline"), stat(&store, "ep_bg_fetched"));
        for n in 0..2000 {
            let key = format!("key:{n}");
            let got = rt.call(Call::new("get1", [key.clone()], Vec::<Bytes>::new())).await.unwrap();
            assert_eq!(got.value.unwrap(), value(n), "{key}");
            if n % 2 == 0 {
                rt.call(Call::new("bump", [key.clone()], Vec::<Bytes>::new())).await.unwrap();
            }
        }
        assert!(stat(&store, "ep_bg_fetched") > fetched + 300, "no background fetch");
        let inline = stat(&store, "ep_bg_fetched_inline") - inline;
        assert!(inline < 50, "{inline} values read on the caller's thread");
        assert_eq!(get(&store, "key:10").unwrap(), value(10) + "+");
    }
}
