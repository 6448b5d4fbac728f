//! The text protocol (classic and meta commands) over the same store as the
//! binary one: each decoded [`TextRequest`] is applied and answered as
//! memcached 1.6 answers it.
//!
//! Durability works as for binary quiet commands: a `noreply` (or `q`)
//! mutation queues nothing, so nothing is written and nobody waits; the next
//! command that does answer (`mn`, a `get`, any replying command) is held
//! until every earlier mutation of the connection is committed. A run of
//! `set … noreply` lines closed by `mn` therefore costs one group commit,
//! like SETQ…NOOP.
//!
//! When that commit cannot happen (a full disk, past `--write-timeout`), a
//! command's reply is replaced by `SERVER_ERROR` (meta `q` included); a
//! `noreply` mutation has no reply to replace, so its failure goes
//! unreported (counted in `writes_not_durable`).
//!
//! Not (yet) modelled: meta `h`/`l` (items do not record fetches: `h0`,
//! `l0`), `R` recache wins and `I` stale items (an `md … I` deletes), and
//! `E` (an explicit new CAS is ignored: CAS values always come from the
//! store's sequence).

use bytes::Bytes;
use memcache::text::reply::{DATA_END, Line, NON_NUMERIC};
use memcache::text::{
    Get, MetaArithmetic, MetaDelete, MetaGet, MetaItem, MetaReply, MetaSet, MetaStatus, Reply,
    TextError, TextErrorKind, TextRequest,
};
use store::{Counter, Hit, Mutation, OpError, RELATIVE_EXPIRY_LIMIT, StoreMode, Write};

use crate::conn::{Conn, Next};
use crate::stats;

/// A protocol expiration as the store takes it. memcached treats a
/// negative expiration as "already expired": an absolute time in 1970 does
/// that for the store.
fn exptime(e: i32) -> u32 {
    u32::try_from(e).unwrap_or(RELATIVE_EXPIRY_LIMIT + 1)
}

impl Conn<'_> {
    pub(crate) fn text_error(&mut self, e: &TextError) -> Next {
        self.protocol_error(e);
        // A refused overwrite must not leave the old value readable.
        if let (TextErrorKind::TooLarge { unlink: true, .. }, Some(key)) = (e.kind, &e.key) {
            // Gone or not, the refusal is answered the same.
            let _ = self.exec_delete(key, 0);
        }
        e.write_reply(&mut self.out.buf);
        if e.closes() { Next::Close } else { Next::Continue }
    }

    pub(crate) fn apply_text(&mut self, request: TextRequest) -> Next {
        let reply = request.reply();
        match request {
            TextRequest::Get(get) => {
                if let [key] = get.keys.as_slice()
                    && get.touch.is_none()
                    && !get.cas
                    && let Some(next) = self.lua_get(key, None)
                {
                    return next;
                }
                self.text_get(&get);
            }
            TextRequest::Store(s) => return self.text_store(&s, reply),
            TextRequest::Delete { key, .. } => {
                match self.exec_delete(&key, 0) {
                    Ok(_) => reply.line(&mut self.out.buf, Line::Deleted),
                    Err(OpError::Unwritable) => reply.server_error(&mut self.out.buf, UNWRITABLE),
                    Err(_) => reply.line(&mut self.out.buf, Line::NotFound),
                };
            }
            TextRequest::Arith { mode, key, delta, .. } => {
                match self.exec_arith(Counter::new(mode, key, delta)) {
                    Ok((value, _)) => {
                        reply.number(&mut self.out.buf, value);
                    }
                    Err(OpError::BadDelta) => {
                        reply.client_error(&mut self.out.buf, non_numeric());
                    }
                    Err(e @ (OpError::TempFail | OpError::OutOfMemory | OpError::Unwritable)) => {
                        reply.server_error(&mut self.out.buf, server_error(e));
                    }
                    Err(_) => {
                        reply.line(&mut self.out.buf, Line::NotFound);
                    }
                }
            }
            TextRequest::Touch { key, exptime: e, .. } => {
                match self.exec_touch(&key, exptime(e)) {
                    Ok(_) => reply.line(&mut self.out.buf, Line::Touched),
                    Err(OpError::Unwritable) => reply.server_error(&mut self.out.buf, UNWRITABLE),
                    Err(_) => reply.line(&mut self.out.buf, Line::NotFound),
                };
            }
            TextRequest::FlushAll { delay, .. } => {
                self.exec_flush(u32::try_from(delay).unwrap_or(0));
                reply.line(&mut self.out.buf, Line::Ok);
            }
            TextRequest::Stats { args } => self.text_stats(&args),
            TextRequest::Version => {
                Reply::version(&mut self.out.buf, &self.shared.config.protocol_version);
            }
            TextRequest::Verbosity { level, .. } => {
                self.verbosity(level);
                reply.line(&mut self.out.buf, Line::Ok);
            }
            TextRequest::CacheMemlimit { megabytes, .. } => {
                // The quota is shared by every bucket; the pagers see the
                // new limit on their next tick.
                self.store.config().memory.set_limit(megabytes << 20);
                tracing::info!(peer = %self.peer, megabytes, "memory limit changed");
                reply.line(&mut self.out.buf, Line::Ok);
            }
            TextRequest::Quit => return Next::Close,
            TextRequest::Lua(request) => return self.lua_text(request),
            TextRequest::RefreshCerts { .. } => match self.shared.stats.tls.get() {
                None => {
                    reply.server_error(&mut self.out.buf, "TLS is not enabled");
                }
                Some(tls) => match tls.reload() {
                    Ok(()) => {
                        tracing::info!(peer = %self.peer, "TLS certificates read again");
                        reply.line(&mut self.out.buf, Line::Ok);
                    }
                    Err(e) => {
                        tracing::warn!(peer = %self.peer, error = &e as &dyn std::error::Error, "refresh_certs failed; the old certificates stay");
                        reply.server_error(&mut self.out.buf, &crate::tls::chain(&e));
                    }
                },
            },
            TextRequest::MetaGet(m) => self.meta_get(&m),
            TextRequest::MetaSet(m) => self.meta_set(&m),
            TextRequest::MetaDelete(m) => self.meta_delete(&m),
            TextRequest::MetaArithmetic(m) => self.meta_arithmetic(&m),
            TextRequest::MetaNoop => MetaReply::noop(&mut self.out.buf),
            TextRequest::MetaDebug { key, base64 } => self.meta_debug(&key, base64),
        }
        Next::Continue
    }

    /// A storage command (`set`, `add`, …, `cas`); a SET of an `@fn:` key
    /// is a Lua call.
    fn text_store(&mut self, s: &memcache::text::Store, reply: Reply) -> Next {
        if s.mode == memcache::ops::StoreMode::Set
            && s.cas.is_none()
            && let Some(next) = self.lua_set(&s.key, &s.value, Some(reply), None)
        {
            return next;
        }
        let cas = s.cas.is_some();
        let line = match self.store_item(s) {
            Ok(_) => Line::Stored,
            Err(OpError::Exists) if cas => Line::Exists,
            Err(OpError::NotFound) if cas => Line::NotFound,
            Err(e @ (OpError::TempFail | OpError::OutOfMemory | OpError::Unwritable)) => {
                reply.server_error(&mut self.out.buf, server_error(e));
                return Next::Continue;
            }
            Err(_) => Line::NotStored,
        };
        reply.line(&mut self.out.buf, line);
        Next::Continue
    }

    /// `get`/`gets`/`gat`/`gats`: a `VALUE` block per hit, then `END`.
    fn text_get(&mut self, get: &Get) {
        for key in &get.keys {
            let hit = self.exec_get(key, get.touch.map(exptime));
            if let Some(hit) = hit {
                let len = usize::try_from(hit.value.len()).unwrap_or(usize::MAX);
                let cas = get.cas.then_some(hit.cas);
                Reply::value_head(&mut self.out.buf, key, hit.flags, len, cas);
                self.value(&hit);
            }
        }
        Reply::end(&mut self.out.buf);
    }

    /// A value's bytes and the `\r\n` after them.
    fn value(&mut self, hit: &Hit) {
        self.out.value(&hit.value);
        self.out.buf.extend_from_slice(DATA_END);
    }

    /// The store half of `set`…`cas` and `ms`.
    fn store_item(&mut self, s: &memcache::text::Store) -> Result<Mutation, OpError> {
        // The store reads CAS 0 as "no check"; memcached compares it (and
        // no item has CAS 0).
        if s.cas == Some(0) {
            return Err(if self.store.peek(&s.key).is_some() {
                OpError::Exists
            } else {
                OpError::NotFound
            });
        }
        self.exec_write(
            Write::new(s.mode, s.key.clone(), s.value.clone())
                .flags(s.flags)
                .exptime(exptime(s.exptime))
                .cas(s.cas.unwrap_or(0)),
        )
    }

    /// `stats [group]`: the binary protocol's groups, `STAT` lines, `END`.
    fn text_stats(&mut self, args: &[Bytes]) {
        let group = args.join(&b' ');
        let out = &mut self.out.buf;
        match group.as_slice() {
            b"reset" => {
                self.reset_stats();
                return self.out.buf.extend_from_slice(b"RESET\r\n");
            }
            b"detail on" | b"detail off" => {
                Reply::new().line(out, Line::Ok);
                return;
            }
            _ => {}
        }
        match stats::group(&group, &self.shared.stats, &self.shared.config, &self.store) {
            Some(pairs) => {
                for (k, v) in pairs {
                    Reply::stat(out, k.as_bytes(), v.as_bytes());
                }
                Reply::end(out);
            }
            None => {
                Reply::new().line(out, Line::Error);
            }
        }
    }

    fn meta_item(&self, hit: &Hit) -> MetaItem {
        MetaItem {
            cas: hit.cas,
            flags: hit.flags,
            ttl: self.store.ttl(hit),
            size: usize::try_from(hit.value.len()).unwrap_or(usize::MAX),
            ..MetaItem::default()
        }
    }

    /// `mg`: `VA`/`HD` with the requested flags, or `EN`.
    fn meta_get(&mut self, m: &MetaGet) {
        let f = &m.flags;
        let mut hit = self.exec_get(&m.key, f.ttl.map(exptime));
        let mut won = false;
        if hit.is_none()
            && let Some(n) = f.vivify
        {
            // Vivify on miss: create an empty placeholder; the creator wins.
            won = self
                .exec_write(
                    Write::new(StoreMode::Add, m.key.clone(), Bytes::new()).exptime(exptime(n)),
                )
                .is_ok();
            hit = self.store.peek(&m.key);
        }
        let reply = MetaReply::new(f, &m.key);
        match hit {
            None => {
                reply.miss(&mut self.out.buf);
            }
            Some(hit) => {
                let item = MetaItem { won, ..self.meta_item(&hit) };
                reply.hit(&mut self.out.buf, &item, f.return_value);
                if f.return_value {
                    self.value(&hit);
                }
            }
        }
    }

    /// `ms`: `HD`, `NS`, `EX` or `NF`.
    fn meta_set(&mut self, m: &MetaSet) {
        let s = &m.store;
        let result = self.store_item(s);
        let reply = MetaReply::new(&m.flags, &s.key);
        let out = &mut self.out.buf;
        match result {
            Ok(mu) => {
                let item = MetaItem {
                    cas: mu.cas,
                    flags: s.flags,
                    ttl: if s.exptime == 0 { -1 } else { i64::from(s.exptime.max(0)) },
                    size: s.value.len(),
                    ..MetaItem::default()
                };
                reply.status(out, MetaStatus::Hd, Some(&item));
            }
            Err(OpError::Exists) if s.cas.is_some() => {
                reply.status(out, MetaStatus::Ex, None);
            }
            Err(OpError::NotFound) if s.cas.is_some() => {
                reply.status(out, MetaStatus::Nf, None);
            }
            Err(e @ (OpError::TempFail | OpError::OutOfMemory | OpError::Unwritable)) => {
                Reply::new().server_error(out, server_error(e));
            }
            Err(_) => {
                reply.status(out, MetaStatus::Ns, None);
            }
        }
    }

    /// `md`: `HD`, `NF` or `EX`. With `x` the value is emptied and the item
    /// (flags, expiry) kept.
    fn meta_delete(&mut self, m: &MetaDelete) {
        let f = &m.flags;
        let cas = f.compare_cas.unwrap_or(0);
        let result = if f.remove_value {
            match self.store.peek(&m.key) {
                None => Err(OpError::NotFound),
                Some(hit) if cas != 0 && hit.cas != cas => Err(OpError::Exists),
                Some(hit) => self.exec_write(
                    Write::set(m.key.clone(), Bytes::new())
                        .flags(hit.flags)
                        .exptime(hit.exptime)
                        .cas(hit.cas),
                ),
            }
        } else {
            self.exec_delete(&m.key, cas)
        };
        let status = match result {
            Ok(_) => MetaStatus::Hd,
            Err(OpError::Exists) => MetaStatus::Ex,
            Err(OpError::Unwritable) => {
                Reply::new().server_error(&mut self.out.buf, UNWRITABLE);
                return;
            }
            Err(_) => MetaStatus::Nf,
        };
        MetaReply::new(f, &m.key).status(&mut self.out.buf, status, None);
    }

    /// `ma`: `HD` (or `VA` with `v`), `NF`, `EX`, or the non-numeric error.
    fn meta_arithmetic(&mut self, m: &MetaArithmetic) {
        let f = &m.flags;
        let mut counter =
            Counter::new(m.mode, m.key.clone(), m.delta).cas(f.compare_cas.unwrap_or(0));
        if let Some(t) = f.vivify {
            counter = counter.create(m.initial, exptime(t));
        }
        let result = self.exec_arith(counter);
        let reply = MetaReply::new(f, &m.key);
        match result {
            Ok((value, mu)) => {
                let mut item = MetaItem { cas: mu.cas, ttl: -1, ..MetaItem::default() };
                if let Some(t) = f.ttl {
                    // The counter is answered whether or not the touch finds it.
                    let _ = self.exec_touch(&m.key, exptime(t));
                }
                if f.return_ttl
                    && let Some(hit) = self.store.peek(&m.key)
                {
                    item.ttl = self.store.ttl(&hit);
                }
                if f.return_value {
                    reply.number(&mut self.out.buf, value, Some(&item));
                } else {
                    reply.status(&mut self.out.buf, MetaStatus::Hd, Some(&item));
                }
            }
            Err(OpError::BadDelta) => {
                Reply::new().client_error(&mut self.out.buf, non_numeric());
            }
            Err(e @ (OpError::TempFail | OpError::OutOfMemory | OpError::Unwritable)) => {
                Reply::new().server_error(&mut self.out.buf, server_error(e));
            }
            Err(OpError::Exists) => {
                reply.status(&mut self.out.buf, MetaStatus::Ex, None);
            }
            Err(_) => {
                reply.status(&mut self.out.buf, MetaStatus::Nf, None);
            }
        }
    }

    /// `me`: memcached's debug line for an item, or `EN`.
    fn meta_debug(&mut self, key: &Bytes, base64: bool) {
        let out = &mut self.out.buf;
        let Some(hit) = self.store.peek(key) else {
            out.extend_from_slice(b"EN\r\n");
            return;
        };
        let shown = if base64 {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(key).into_bytes()
        } else {
            key.to_vec()
        };
        out.extend_from_slice(b"ME ");
        out.extend_from_slice(&shown);
        let line = format!(
            " exp={} la=0 cas={} fetch=no cls=1 size={}\r\n",
            self.store.ttl(&hit),
            hit.cas,
            hit.value.len()
        );
        out.extend_from_slice(line.as_bytes());
    }
}

/// memcached's reply to a write refused for lack of memory.
const OUT_OF_MEMORY: &str = "out of memory storing object";

/// The reply to a write refused because it cannot be made durable now.
const UNWRITABLE: &str = "cannot write to disk now; try again later";

/// The `SERVER_ERROR` text for a refusal the client may retry.
pub(crate) fn server_error(e: OpError) -> &'static str {
    if e == OpError::Unwritable { UNWRITABLE } else { OUT_OF_MEMORY }
}

/// [`NON_NUMERIC`] without its `CLIENT_ERROR ` prefix.
fn non_numeric() -> &'static str {
    NON_NUMERIC.strip_prefix("CLIENT_ERROR ").unwrap_or(NON_NUMERIC)
}
