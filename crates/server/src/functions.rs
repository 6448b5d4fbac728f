//! Server-side Lua functions in the server (docs/lua.md): each bucket's
//! libraries and runtime, the `lua` text commands, and `@fn:` keys for
//! clients that only know GET and SET.
//!
//! A library is kept as an item of its bucket under a reserved key
//! ([`LIB_PREFIX`] + its name, a key no text client can type). That makes
//! it data like any other: durable with the group commit, back after a
//! restart (restored once the warmup is done), and streamed over TAP, so a
//! mirror has it too. Every write to a reserved key goes through the
//! library check: a SET compiles the library (refused, and not stored,
//! when it does not compile), a DELETE removes it. FLUSH empties the
//! bucket, but the libraries are stored again after it: they are code, and
//! a cache flush is routine.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use memcache::binary::{Reply as BinaryReply, Status};
use memcache::text::{LuaRequest, Reply as TextReply};
use store::{Store, Write};
use tokio::sync::Notify;

use crate::buckets::Buckets;
use crate::conn::{Conn, Next};
use crate::out::Failure;

/// The reserved key prefix of stored libraries.
pub const LIB_PREFIX: &[u8] = b"\0lua:";

/// The Lua settings of a server.
#[derive(Clone, Debug)]
pub struct LuaConfig {
    /// Per-call limits.
    pub limits: lua::Limits,
    /// The key prefix that turns a GET or SET into a call
    /// (`@fn:<name>:<arg>`); empty: off.
    pub key_prefix: Bytes,
}

impl Default for LuaConfig {
    fn default() -> Self {
        LuaConfig { limits: lua::Limits::default(), key_prefix: Bytes::from_static(b"@fn:") }
    }
}

/// One bucket's libraries and runtime.
pub(crate) struct BucketLua {
    pub(crate) runtime: lua::Runtime,
    store: Store,
    /// Held across each change of the libraries and the store write that
    /// records it, so the two never disagree.
    admin: std::sync::Mutex<()>,
    /// Set once the stored libraries are restored.
    ready: AtomicBool,
    restored: Notify,
}

impl BucketLua {
    fn libraries(&self) -> &lua::Libraries {
        self.runtime.libraries()
    }

    /// Waits until the stored libraries are loaded (right after start-up
    /// calls wait for the warmup).
    pub(crate) async fn wait_ready(&self) {
        while !self.ready.load(Ordering::Acquire) {
            let notified = self.restored.notified();
            if self.ready.load(Ordering::Acquire) {
                break;
            }
            notified.await;
        }
    }

    /// Loads the libraries stored in the bucket (after its warmup).
    async fn restore(&self) {
        self.store.wait_warm().await;
        let found = stored_libraries(&self.store);
        let count = found.len();
        if self.libraries().restore(found.clone()).is_err() {
            // One bad library must not hide the others: load them one by one.
            for (name, source) in found {
                if let Err(e) = self.libraries().load(&name, source) {
                    tracing::error!(lib = %name, error = &e as &dyn std::error::Error, "stored Lua library does not load; skipped");
                }
            }
        }
        if count > 0 {
            tracing::info!(libraries = count, "Lua libraries restored");
        }
        self.ready.store(true, Ordering::Release);
        self.restored.notify_waiters();
    }

    fn admin(&self) -> std::sync::MutexGuard<'_, ()> {
        self.admin.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// True once the stored libraries are loaded.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Publishes `source` as library `name` and writes `write` (its item),
    /// or neither: a write that fails puts the previous library back.
    fn load_and_write(
        &self,
        name: &str,
        source: Bytes,
        write: Write,
    ) -> Result<store::Mutation, Refused> {
        let _admin = self.admin();
        let previous = self.libraries().source(name);
        self.libraries().load(name, source).map_err(|e| Refused::Compile(e.to_string()))?;
        self.store.write(write).map_err(|e| {
            match previous {
                Some(old) => {
                    let _ = self.libraries().load(name, old);
                }
                None => {
                    self.libraries().delete(name);
                }
            }
            Refused::Store(e)
        })
    }

    /// Removes library `name` and its item; `Ok(None)` when there is none.
    fn delete_both(&self, name: &str) -> Result<Option<store::Mutation>, store::OpError> {
        let _admin = self.admin();
        let Some(old) = self.libraries().source(name) else {
            return Ok(None);
        };
        self.libraries().delete(name);
        match self.store.delete(&lib_key(name), 0) {
            Ok(m) => Ok(Some(m)),
            Err(store::OpError::NotFound) => Ok(None),
            Err(e) => {
                let _ = self.libraries().load(name, old);
                Err(e)
            }
        }
    }

    /// Stores every library again (after a FLUSH); the highest seqno.
    fn store_all(&self) -> u64 {
        let _admin = self.admin();
        let mut seqno = 0;
        for (name, source) in self.libraries().sources() {
            match self.store.write(Write::set(lib_key(&name), source)) {
                Ok(m) => seqno = seqno.max(m.seqno),
                Err(e) => {
                    tracing::error!(lib = %name, error = ?e, "could not store the Lua library again after a flush");
                }
            }
        }
        seqno
    }
}

/// The libraries stored in `store`: (name, source).
fn stored_libraries(store: &Store) -> Vec<(String, Bytes)> {
    let sub = store.subscribe();
    let backfill = sub.backfill(0);
    let mut changes = Vec::new();
    for shard in 0..sub.shards() {
        sub.scan(shard, &backfill, LIB_PREFIX, &mut changes);
    }
    changes
        .into_iter()
        .filter_map(|c| {
            let store::ChangeKind::Mutation(item) = c.kind else { return None };
            let name = std::str::from_utf8(&c.key[LIB_PREFIX.len()..]).ok()?.to_owned();
            Some((name, item.value.to_bytes()))
        })
        .collect()
}

/// The reserved key of library `name`.
pub(crate) fn lib_key(name: &str) -> Bytes {
    let mut key = LIB_PREFIX.to_vec();
    key.extend_from_slice(name.as_bytes());
    Bytes::from(key)
}

/// The Lua state of every bucket; restoring runs in the background.
pub(crate) fn start(buckets: &Buckets, config: &LuaConfig) -> BTreeMap<String, Arc<BucketLua>> {
    buckets
        .iter()
        .map(|(name, store)| {
            let libraries = Arc::new(lua::Libraries::new(&config.limits));
            let bucket = Arc::new(BucketLua {
                runtime: lua::Runtime::new(store.clone(), libraries, config.limits.clone()),
                store: store.clone(),
                admin: std::sync::Mutex::new(()),
                ready: AtomicBool::new(false),
                restored: Notify::new(),
            });
            let restoring = Arc::clone(&bucket);
            tokio::spawn(async move { restoring.restore().await });
            (name.to_owned(), bucket)
        })
        .collect()
}

/// How a pending call's outcome is answered.
pub(crate) enum Answer {
    /// `lua call` (`name`: the function) or a text GET of an `@fn:` key
    /// (`name`: the key): `VALUE <name> 0 <len>` … `END`, `END` for nil.
    TextValue { name: Bytes },
    /// A text SET of an `@fn:` key: `STORED`.
    TextSet { reply: TextReply },
    /// A binary GET of an `@fn:` key.
    BinaryGet { reply: BinaryReply, key: Bytes },
    /// A binary SET of an `@fn:` key.
    BinarySet { reply: BinaryReply },
    /// `LUA_CALL`: the value, or `KEY_ENOENT` for nil.
    BinaryCall { reply: BinaryReply },
}

/// A call to run once what is queued before it has been sent.
pub(crate) struct Pending {
    pub(crate) call: lua::Call,
    pub(crate) answer: Answer,
}

/// `@fn:<name>:<arg>` split into the function and its argument.
fn split_fn_key<'k>(prefix: &[u8], key: &'k [u8]) -> Option<(&'k str, &'k [u8])> {
    let rest = key.strip_prefix(prefix)?;
    let colon = rest.iter().position(|&b| b == b':')?;
    let name = std::str::from_utf8(&rest[..colon]).ok()?;
    Some((name, &rest[colon + 1..]))
}

impl Conn<'_> {
    fn lua(&self) -> &Arc<BucketLua> {
        self.lua
    }

    /// `@fn:<name>:<arg>` as the function and its argument (a share of the
    /// key); `None` for other keys, or when the prefix is off.
    fn fn_parts<'k>(&self, key: &'k Bytes) -> Option<(&'k str, Bytes)> {
        let prefix = &self.shared.config.lua.key_prefix;
        if prefix.is_empty() {
            return None;
        }
        let (name, arg) = split_fn_key(prefix, key)?;
        Some((name, key.slice_ref(arg)))
    }

    /// A GET of an `@fn:` key, or `None` for any other key.
    pub(crate) fn lua_get(&self, key: &Bytes, binary: Option<BinaryReply>) -> Option<Next> {
        let (name, arg) = self.fn_parts(key)?;
        let call =
            lua::Call { function: name.to_owned(), keys: vec![arg.clone()], args: vec![arg] };
        let answer = match binary {
            Some(reply) => Answer::BinaryGet { reply, key: key.clone() },
            None => Answer::TextValue { name: key.clone() },
        };
        Some(Next::Lua(Box::new(Pending { call, answer })))
    }

    /// A SET of an `@fn:` key, or `None` for any other key.
    pub(crate) fn lua_set(
        &self,
        key: &Bytes,
        value: &Bytes,
        text: Option<TextReply>,
        binary: Option<BinaryReply>,
    ) -> Option<Next> {
        let (name, arg) = self.fn_parts(key)?;
        let call = lua::Call {
            function: name.to_owned(),
            keys: vec![arg.clone()],
            args: vec![arg, value.clone()],
        };
        let answer = match (text, binary) {
            (_, Some(reply)) => Answer::BinarySet { reply },
            (reply, None) => {
                Answer::TextSet { reply: reply.unwrap_or(TextReply { noreply: false }) }
            }
        };
        Some(Next::Lua(Box::new(Pending { call, answer })))
    }

    /// A `lua …` text command.
    pub(crate) fn lua_text(&mut self, request: LuaRequest) -> Next {
        let reply = TextReply { noreply: false };
        match request {
            LuaRequest::Load { lib, source } => {
                let name = String::from_utf8_lossy(&lib).into_owned();
                match self.lua_load(&name, source) {
                    Ok(()) => reply.line(&mut self.out.buf, memcache::text::reply::Line::Ok),
                    Err(Refused::Compile(message)) => {
                        reply.client_error(&mut self.out.buf, &message)
                    }
                    Err(Refused::Store(e)) => reply.server_error(&mut self.out.buf, &not_stored(e)),
                };
            }
            LuaRequest::Call { function, keys, args } => {
                let call = lua::Call {
                    function: String::from_utf8_lossy(&function).into_owned(),
                    keys,
                    args,
                };
                return Next::Lua(Box::new(Pending {
                    call,
                    answer: Answer::TextValue { name: function },
                }));
            }
            LuaRequest::List => {
                for (name, functions) in self.lua().libraries().list() {
                    let line = format!("LIB {name} {}\r\n", functions.join(" "));
                    self.out.buf.extend_from_slice(line.as_bytes());
                }
                TextReply::end(&mut self.out.buf);
            }
            LuaRequest::Delete { lib } => {
                let name = String::from_utf8_lossy(&lib).into_owned();
                match self.lua_delete(&name) {
                    Ok(true) => reply.line(&mut self.out.buf, memcache::text::reply::Line::Ok),
                    Ok(false) => {
                        reply.line(&mut self.out.buf, memcache::text::reply::Line::NotFound)
                    }
                    Err(e) => reply.server_error(&mut self.out.buf, crate::text::server_error(e)),
                };
            }
        }
        Next::Continue
    }

    /// `LUA_LOAD` and `LUA_CALL` (binary protocol).
    pub(crate) fn lua_binary(
        &mut self,
        reply: BinaryReply,
        command: memcache::binary::Command,
    ) -> Next {
        use memcache::binary::Command;
        match command {
            Command::LuaLoad { lib, source } => {
                if !memcache::text::lua::name_ok(&lib) {
                    let text = "library names are letters, digits, '_', '.' and '-'";
                    reply.with_value(&mut self.out.buf, Status::EINVAL, 0, text.as_bytes());
                    return Next::Continue;
                }
                let name = String::from_utf8_lossy(&lib).into_owned();
                match self.lua_load(&name, source) {
                    Ok(()) => reply.ok(&mut self.out.buf, 0),
                    Err(Refused::Compile(text)) => {
                        reply.with_value(&mut self.out.buf, Status::EINVAL, 0, text.as_bytes())
                    }
                    Err(Refused::Store(e)) => reply.with_value(
                        &mut self.out.buf,
                        Status::ETMPFAIL,
                        0,
                        not_stored(e).as_bytes(),
                    ),
                };
                Next::Continue
            }
            Command::LuaCall { function, keys, args } => {
                let call = lua::Call {
                    function: String::from_utf8_lossy(&function).into_owned(),
                    keys,
                    args,
                };
                Next::Lua(Box::new(Pending { call, answer: Answer::BinaryCall { reply } }))
            }
            _ => Next::Continue,
        }
    }

    /// Compiles and publishes library `name`, and stores it.
    fn lua_load(&mut self, name: &str, source: Bytes) -> Result<(), Refused> {
        let lua = Arc::clone(self.lua());
        let m = lua.load_and_write(name, source.clone(), Write::set(lib_key(name), source))?;
        self.mutated(m.seqno);
        self.shared.stats.lua_loads.fetch_add(1, Ordering::Relaxed);
        tracing::info!(peer = %self.peer, lib = %name, "Lua library loaded");
        Ok(())
    }

    /// Removes library `name` and its stored item: `Ok(false)` when there
    /// is no such library.
    fn lua_delete(&mut self, name: &str) -> Result<bool, store::OpError> {
        let lua = Arc::clone(self.lua());
        let deleted = lua.delete_both(name)?;
        if let Some(m) = deleted {
            self.mutated(m.seqno);
        }
        Ok(deleted.is_some())
    }

    /// A write to a reserved key (any protocol, a TAP mirror's too): a
    /// plain SET with no expiration of a library that loads. The library
    /// is published only if the write succeeds.
    pub(crate) fn lua_write(&mut self, write: Write) -> Result<store::Mutation, store::OpError> {
        let name = std::str::from_utf8(&write.key[LIB_PREFIX.len()..])
            .ok()
            .filter(|n| memcache::text::lua::name_ok(n.as_bytes()))
            .map(str::to_owned)
            .ok_or(store::OpError::NotStored)?;
        if write.mode != memcache::ops::StoreMode::Set || write.exptime != 0 {
            return Err(store::OpError::NotStored);
        }
        let lua = Arc::clone(self.lua());
        match lua.load_and_write(&name, write.value.clone(), write) {
            Ok(m) => {
                self.mutated(m.seqno);
                self.shared.stats.lua_loads.fetch_add(1, Ordering::Relaxed);
                Ok(m)
            }
            Err(Refused::Compile(message)) => {
                tracing::warn!(peer = %self.peer, lib = %name, %message, "a write of a Lua library that does not load was refused");
                Err(store::OpError::NotStored)
            }
            Err(Refused::Store(e)) => Err(e),
        }
    }

    /// A delete of a reserved key (any protocol, a TAP mirror's too)
    /// removes the library with its item.
    pub(crate) fn lua_delete_key(
        &mut self,
        key: &[u8],
        cas: u64,
    ) -> Result<store::Mutation, store::OpError> {
        let Ok(name) = std::str::from_utf8(&key[LIB_PREFIX.len()..]) else {
            return self.store.delete(key, cas);
        };
        if cas != 0 {
            return Err(store::OpError::Exists);
        }
        let lua = Arc::clone(self.lua());
        match lua.delete_both(name)? {
            Some(m) => Ok(m),
            // No library: a stray item under the prefix, or nothing.
            None => self.store.delete(key, 0),
        }
    }

    /// After a FLUSH: the libraries are stored again, now or when a delayed
    /// flush takes effect.
    pub(crate) fn lua_flushed(&mut self, delay: u32) {
        let lua = Arc::clone(self.lua());
        if delay == 0 {
            // The flush's reply waits for these too.
            let seqno = lua.store_all();
            self.mutated(seqno);
            return;
        }
        let clock = &self.store.config().clock;
        let at = clock.absolute(delay);
        let wait = u64::from(at.saturating_sub(clock.now())) + 1;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(wait)).await;
            let _ = lua.store_all();
        });
    }

    /// Runs a pending call and queues its answer.
    pub(crate) async fn lua_run(&mut self, pending: Pending) {
        let failure = match &pending.answer {
            Answer::TextSet { reply } if reply.noreply => Failure::Silent,
            Answer::TextValue { .. } | Answer::TextSet { .. } => Failure::Text,
            Answer::BinaryGet { reply, .. }
            | Answer::BinarySet { reply }
            | Answer::BinaryCall { reply } => Failure::Binary(*reply),
        };
        let start = self.begin_command();
        self.lua_answer(pending).await;
        self.end_command(start, failure);
    }

    /// Runs a pending call and queues its answer (see [`Conn::lua_run`]).
    async fn lua_answer(&mut self, pending: Pending) {
        let lua = Arc::clone(self.lua());
        lua.wait_ready().await;
        let (result, seqno) = lua.runtime.call_seqno(pending.call).await;
        // Success or not, the reply waits for what the call wrote.
        self.mutated(seqno);
        let stats = &self.shared.stats;
        match &result {
            Ok(_) => {
                stats.lua_calls.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                stats.lua_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(peer = %self.peer, error = %e, "Lua call failed");
            }
        }
        let out = &mut self.out.buf;
        match (pending.answer, result) {
            (Answer::TextValue { name }, Ok(r)) => {
                if let Some(value) = r.value {
                    TextReply::value_head(out, &name, 0, value.len(), None);
                    out.extend_from_slice(&value);
                    out.extend_from_slice(b"\r\n");
                }
                TextReply::end(out);
            }
            (Answer::TextSet { reply }, Ok(_)) => {
                reply.line(out, memcache::text::reply::Line::Stored);
            }
            (Answer::TextValue { .. }, Err(e)) => {
                TextReply { noreply: false }.server_error(out, &e.to_string());
            }
            (Answer::TextSet { reply }, Err(e)) => {
                reply.server_error(out, &e.to_string());
            }
            (Answer::BinaryGet { reply, key }, Ok(r)) => match r.value {
                Some(value) => {
                    reply.hit(out, 0, 0, &key, value.len());
                    out.extend_from_slice(&value);
                }
                None => {
                    reply.miss(out, &key);
                }
            },
            (Answer::BinarySet { reply }, Ok(_)) => {
                reply.ok(out, 0);
            }
            (Answer::BinaryCall { reply }, Ok(r)) => match r.value {
                Some(value) => {
                    reply.with_value(out, Status::SUCCESS, 0, &value);
                }
                None => {
                    reply.error(out, Status::KEY_ENOENT);
                }
            },
            (
                Answer::BinaryGet { reply, .. }
                | Answer::BinarySet { reply }
                | Answer::BinaryCall { reply },
                Err(e),
            ) => {
                reply.with_value(out, Status::EINVAL, 0, e.to_string().as_bytes());
            }
        }
    }
}

/// Why a library change did not happen.
enum Refused {
    /// It does not load (`CLIENT_ERROR`, `EINVAL`).
    Compile(String),
    /// The store refused the write (`SERVER_ERROR`, `ETMPFAIL`).
    Store(store::OpError),
}

/// The reply text for a library the store would not take.
fn not_stored(e: store::OpError) -> String {
    format!("library not stored: {}", crate::text::server_error(e))
}
