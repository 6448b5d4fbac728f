//! One connection: read, decode, apply, reply. The protocol (binary or
//! text) is chosen from the first byte, as memcached does; both share this
//! read/flush/durability loop and differ only in [`Conn::step`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use memcache::binary::{Command, Limits, NO_AUTO_CREATE, Reply, Request, RequestDecoder, Status};
use memcache::text::{Protocol, TextDecoder, TextLimits};
use store::{Counter, OpError, Store, Write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Shared;
use crate::out::{Failure, Mark, Out};
use crate::socket::Socket;
use crate::stats;

/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;

/// What the connection does after a request.
pub(crate) enum Next {
    Continue,
    /// Flush what is queued, then close.
    Close,
    /// Flush what is queued, then turn into a TAP producer.
    Tap(memcache::binary::tap::TapConnect, u32),
    /// Flush what is queued, then run a Lua call and queue its answer.
    Lua(Box<crate::functions::Pending>),
}

pub(crate) struct Conn<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) store: Store,
    authenticated: bool,
    /// Highest seqno of a mutation made on this connection: replies wait
    /// until it is durable.
    last_seqno: u64,
    /// Highest seqno written by the command being applied (0: none yet):
    /// its reply is marked as acknowledging it.
    cmd_seqno: u64,
    /// `last_seqno` as of the last reply sent: replies after it need no
    /// durability check until the connection mutates again (a read-only
    /// connection never touches the shared persistence state).
    acked_seqno: u64,
    /// `last_seqno` as of the last back-pressure check (write-behind).
    throttled_seqno: u64,
    /// Mutations made in the bucket this connection left by authenticating:
    /// the replies queued for them still wait for that store's commit.
    left_buckets: Vec<(Store, u64)>,
    pub(crate) out: Out,
    /// The Lua libraries and runtime of the connection's bucket.
    pub(crate) lua: &'a Arc<crate::functions::BucketLua>,
    /// This connection in `stats conns`.
    info: Arc<crate::stats::ConnInfo>,
    pub(crate) peer: String,
}

/// A decoded request, before it is applied.
pub(crate) enum Decoded {
    Binary(Request),
    Text(memcache::text::TextRequest),
}

/// What one decoding step produced.
pub(crate) enum Step {
    /// The request was applied.
    Done(Next),
    /// The request needs values that are being read back from the engine:
    /// apply it once these fetches are done (replies keep their order: the
    /// connection applies nothing else meanwhile).
    Fetch(Vec<store::Fetch>, Decoded),
    /// The request writes a key a Lua call holds: apply it once the call
    /// is done.
    Locked(Decoded),
}

/// The decoder of a connection, chosen when its first byte arrives.
enum Decoder {
    Undecided,
    Binary(RequestDecoder),
    Text(TextDecoder),
}

pub(crate) async fn serve(socket: Socket, peer: String, shared: &Arc<Shared>) {
    let stats = &shared.stats;
    let registered = stats.conns.open(&peer, stats);
    stats.curr_connections.fetch_add(1, Ordering::Relaxed);
    stats.total_connections.fetch_add(1, Ordering::Relaxed);
    let mut conn = Conn {
        shared,
        store: shared.buckets.default_store().clone(),
        lua: &shared.lua[crate::DEFAULT_BUCKET],
        authenticated: false,
        last_seqno: 0,
        cmd_seqno: 0,
        acked_seqno: 0,
        throttled_seqno: 0,
        left_buckets: Vec::new(),
        out: Out::default(),
        peer,
        info: Arc::clone(&registered.info),
    };
    if let Err(e) = conn.run(socket).await {
        tracing::debug!(peer = %conn.peer, error = &e as &dyn std::error::Error, "connection ended with an error");
    }
    stats.curr_connections.fetch_sub(1, Ordering::Relaxed);
}

impl Conn<'_> {
    async fn run(&mut self, mut socket: Socket) -> std::io::Result<()> {
        let mut decoder = Decoder::Undecided;
        let mut input = BytesMut::with_capacity(READ_CHUNK);
        let shared = self.shared;
        let shutdown = shared.shutdown.listen();
        let stop = shutdown.notified();
        tokio::pin!(stop);
        loop {
            // Apply every complete request in the buffer.
            let mut next = Next::Continue;
            while let Some(step) = self.step(&mut decoder, &mut input) {
                next = match step {
                    Step::Done(after) => after,
                    Step::Fetch(fetches, request) => {
                        // What is queued does not depend on these values.
                        self.flush(&mut socket).await?;
                        for fetch in fetches {
                            fetch.wait().await;
                        }
                        self.apply_waiting(request).await
                    }
                    Step::Locked(request) => {
                        self.flush(&mut socket).await?;
                        self.apply_waiting(request).await
                    }
                };
                if let Next::Lua(pending) = next {
                    // Replies before it go out first; the call may take a while.
                    self.flush(&mut socket).await?;
                    self.lua_run(*pending).await;
                    next = Next::Continue;
                }
                if matches!(next, Next::Close | Next::Tap(..)) {
                    break;
                }
                if self.out.len() >= self.shared.config.max_output || self.out.marks_full() {
                    self.flush(&mut socket).await?;
                }
            }
            self.flush(&mut socket).await?;
            match next {
                Next::Close => {
                    // TLS: close_notify, so the client sees a clean end
                    // (not waiting for a client that stopped reading).
                    let grace = self.shared.config.write_timeout;
                    let _ = tokio::time::timeout(grace, socket.shutdown()).await;
                    return Ok(());
                }
                Next::Tap(connect, opaque) => {
                    let store = self.store.clone();
                    let rest = std::mem::take(&mut input);
                    let peer = self.peer.clone();
                    return crate::tap::produce(
                        self.shared,
                        store,
                        socket,
                        &peer,
                        rest,
                        (connect, opaque),
                        Arc::clone(self.lua),
                    )
                    .await;
                }
                Next::Continue | Next::Lua(_) => {}
            }
            if self.last_seqno > self.throttled_seqno {
                self.throttled_seqno = self.last_seqno;
                if self.store.over_dirty_limit() {
                    // Write-behind back-pressure: let the flusher catch up,
                    // but not forever while the disk is failing (writes are
                    // refused then, and reads must go on).
                    let _ = self.await_durable(&self.store, self.last_seqno).await;
                }
            }
            if input.capacity() - input.len() < READ_CHUNK / 4 {
                input.reserve(READ_CHUNK);
            }
            let read = async {
                match self.shared.config.idle_timeout {
                    Some(idle) => tokio::time::timeout(idle, socket.read_buf(&mut input))
                        .await
                        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
                    None => socket.read_buf(&mut input).await,
                }
            };
            let n = tokio::select! {
                biased;
                n = read => n?,
                () = &mut stop => return Ok(()),
            };
            if n == 0 {
                return Ok(());
            }
            self.info.touch(&self.shared.stats);
            self.shared.stats.traffic.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Decodes and applies the next request in `input`; `None` when a whole
    /// request has not arrived yet.
    fn step(&mut self, decoder: &mut Decoder, input: &mut BytesMut) -> Option<Step> {
        if let Decoder::Undecided = decoder {
            let max_value_len = self.shared.config.max_value_len;
            *decoder = match Protocol::detect(*input.first()?) {
                Protocol::Binary => Decoder::Binary(RequestDecoder::new(Limits {
                    max_value_len,
                    ..Limits::default()
                })),
                // memcached with SASL binds the binary protocol only: a text
                // client's first byte is a bad magic, and the connection is
                // closed without a reply.
                Protocol::Text if self.shared.config.require_auth => {
                    self.shared.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(peer = %self.peer, "text client refused: authentication required");
                    return Some(Step::Done(Next::Close));
                }
                Protocol::Text => Decoder::Text(TextDecoder::new(TextLimits {
                    max_value_len,
                    ..TextLimits::default()
                })),
            };
        }
        let request = match decoder {
            Decoder::Undecided => return None,
            Decoder::Text(text) => match text.decode(input) {
                Ok(Some(request)) => Decoded::Text(request),
                Ok(None) => return None,
                Err(e) => return Some(Step::Done(self.text_error(&e))),
            },
            Decoder::Binary(binary) => match binary.decode(input) {
                Ok(Some(request)) => Decoded::Binary(request),
                Ok(None) => return None,
                Err(e) => {
                    self.protocol_error(&e);
                    if let Some(key) = &e.unlink {
                        // Gone or not, the refusal is answered the same.
                        let _ = self.exec_delete(key, 0);
                    }
                    e.write_reply(&mut self.out.buf);
                    return Some(Step::Done(if e.closes() { Next::Close } else { Next::Continue }));
                }
            },
        };
        let fetches = self.fetches(&request);
        if !fetches.is_empty() {
            return Some(Step::Fetch(fetches, request));
        }
        let lua = self.lua;
        if !lua.is_ready() && needs_libraries(&request) {
            // Until the stored libraries are loaded, changing them (or
            // flushing, which stores them again) would act on an empty set.
            return Some(Step::Locked(request));
        }
        let Some(key) = written_key(&request) else {
            return Some(Step::Done(self.apply_decoded(request)));
        };
        // Plain writes do not interleave with a Lua call on the same key.
        match lua.runtime.locks().try_enter(key) {
            Some(ticket) => {
                let next = self.apply_decoded(request);
                drop(ticket);
                Some(Step::Done(next))
            }
            None => Some(Step::Locked(request)),
        }
    }

    /// Applies `request` once no Lua call holds the key it writes (and,
    /// for what touches the libraries, once they are loaded).
    async fn apply_waiting(&mut self, request: Decoded) -> Next {
        let lua = self.lua;
        if needs_libraries(&request) {
            lua.wait_ready().await;
        }
        let ticket = match written_key(&request) {
            Some(key) => Some(lua.runtime.locks().enter(key).await),
            None => None,
        };
        let next = self.apply_decoded(request);
        drop(ticket);
        next
    }

    pub(crate) fn apply_decoded(&mut self, request: Decoded) -> Next {
        let failure = match &request {
            Decoded::Binary(request) => Failure::Binary(request.reply()),
            Decoded::Text(request) if request.reply().noreply => Failure::Silent,
            Decoded::Text(_) => Failure::Text,
        };
        let start = self.begin_command();
        let next = match request {
            Decoded::Binary(request) => self.apply(request),
            Decoded::Text(request) => self.apply_text(request),
        };
        self.end_command(start, failure);
        next
    }

    /// Starts tracking what the next command writes; returns where its
    /// reply will start in the output.
    pub(crate) fn begin_command(&mut self) -> usize {
        self.cmd_seqno = 0;
        self.out.len()
    }

    /// Marks the reply queued since `start` as acknowledging what the
    /// command wrote, if anything.
    pub(crate) fn end_command(&mut self, start: usize, failure: Failure) {
        if self.cmd_seqno != 0 {
            self.out.mark(start, self.cmd_seqno, self.left_buckets.len(), failure);
        }
    }

    /// Background fetches of the ejected values `request` needs (reads,
    /// APPEND/PREPEND, INCR/DECR, TOUCH: each writes the whole item); empty
    /// when every value is in memory.
    fn fetches(&self, request: &Decoded) -> Vec<store::Fetch> {
        use memcache::text::TextRequest as T;
        if self.shared.config.require_auth && !self.authenticated {
            return Vec::new();
        }
        let one = |key: &[u8]| self.store.fetch(key).into_iter().collect();
        match request {
            Decoded::Binary(req) => match &req.command {
                Command::Get { key }
                | Command::GetAndTouch { key, .. }
                | Command::Touch { key, .. }
                | Command::Counter { key, .. } => one(key),
                Command::Store { mode, key, .. } if mode.is_concat() => one(key),
                _ => Vec::new(),
            },
            Decoded::Text(req) => match req {
                T::Get(get) => get.keys.iter().filter_map(|k| self.store.fetch(k)).collect(),
                T::Store(s) if s.mode.is_concat() => one(&s.key),
                T::Arith { key, .. } | T::Touch { key, .. } | T::MetaDebug { key, .. } => one(key),
                T::MetaGet(m) => one(&m.key),
                T::MetaArithmetic(m) => one(&m.key),
                T::MetaDelete(m) if m.flags.remove_value => one(&m.key),
                T::MetaSet(m) if m.store.mode.is_concat() => one(&m.store.key),
                _ => Vec::new(),
            },
        }
    }

    pub(crate) fn protocol_error(&self, e: &dyn std::fmt::Display) {
        self.shared.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(peer = %self.peer, error = %e, "protocol error");
    }

    /// Sends what is queued, after the mutations it acknowledges are
    /// durable; those that cannot be made durable are answered with errors
    /// instead (see [`Conn::await_durable`]).
    async fn flush(&mut self, socket: &mut Socket) -> std::io::Result<()> {
        if self.out.is_empty() && !self.out.marks_full() {
            // Quiet successes keep their marks until a reply goes out.
            return Ok(());
        }
        // Once one wait has given up on a failing disk, the others are not
        // waited for either: each mark is checked against what its store
        // has made durable, so the reply goes out within one timeout.
        let mut failing = None;
        for (store, seqno) in &self.left_buckets {
            let durable = store.config().durability == store::Durability::PersistBeforeAck;
            // Write-behind back-pressure applies to the bucket left too.
            if failing.is_none()
                && ((durable && store.persisted().seqno < *seqno) || store.over_dirty_limit())
            {
                self.shared.stats.durable_waits.fetch_add(1, Ordering::Relaxed);
                if let Err(why) = self.await_durable(store, *seqno).await {
                    failing = Some(why);
                }
            }
        }
        if self.last_seqno > self.acked_seqno {
            if failing.is_none()
                && self.store.config().durability == store::Durability::PersistBeforeAck
                && self.store.persisted().seqno < self.last_seqno
            {
                self.shared.stats.durable_waits.fetch_add(1, Ordering::Relaxed);
                if let Err(why) = self.await_durable(&self.store, self.last_seqno).await {
                    failing = Some(why);
                }
            }
            self.acked_seqno = self.last_seqno;
        }
        if let Some(why) = failing {
            self.answer_not_durable(&why);
        }
        self.left_buckets.clear();
        let len = self.out.len();
        self.out.flush(socket).await?;
        self.shared.stats.traffic.bytes_written.fetch_add(len as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Waits until `seqno` is durable. When that takes longer than
    /// [`Config::write_timeout`](crate::Config) and the store reports that
    /// writes are failing (a full disk), the wait gives up with the reason,
    /// and [`Conn::answer_not_durable`] turns the acknowledgement of every
    /// queued mutation that is still not durable into an error: nothing is
    /// acknowledged that is not durable, and the connection goes on. Such a
    /// write stays applied in memory (readers see it) and its commit is
    /// retried, so it may still become durable when space returns: its
    /// outcome is ambiguous, as after any timeout. (Writes that arrive while
    /// the failure lasts are refused at once and never applied.)
    async fn await_durable(&self, store: &Store, seqno: u64) -> Result<(), String> {
        loop {
            let timeout = self.shared.config.write_timeout;
            if tokio::time::timeout(timeout, store.wait_persisted(seqno)).await.is_ok() {
                return Ok(());
            }
            if let Some(why) = store.unwritable() {
                return Err(why);
            }
        }
    }

    /// Replaces the queued acknowledgements of mutations that are not
    /// durable (persist-before-ack stores only: write-behind acknowledges
    /// from memory) by their protocol's error.
    fn answer_not_durable(&mut self, why: &str) {
        let (left, current) = (&self.left_buckets, &self.store);
        let durable = |mark: &Mark| {
            let store = left.get(mark.bucket).map_or(current, |(store, _)| store);
            store.config().durability != store::Durability::PersistBeforeAck
                || mark.seqno <= store.persisted().seqno
        };
        let done = self.out.rewrite(durable);
        let stats = &self.shared.stats;
        stats.writes_not_durable.fetch_add(done.errors + done.unreported, Ordering::Relaxed);
        if done.errors + done.unreported == 0 {
            return;
        }
        tracing::warn!(
            peer = %self.peer,
            %why,
            answered = done.errors,
            noreply = done.unreported,
            "writes cannot be made durable; their acknowledgements are replaced by errors"
        );
    }

    /// `verbosity N`: hands the level to the embedder's hook.
    pub(crate) fn verbosity(&self, level: u32) {
        if let Some(hook) = &self.shared.config.on_verbosity {
            (hook.0)(level);
        }
        tracing::info!(peer = %self.peer, level, "verbosity changed");
    }

    /// `stats reset`: the server's counters and every bucket's.
    pub(crate) fn reset_stats(&self) {
        self.shared.stats.reset();
        for (_, store) in self.shared.buckets.iter() {
            store.reset_stats();
        }
    }

    pub(crate) fn mutated(&mut self, seqno: u64) {
        self.last_seqno = self.last_seqno.max(seqno);
        self.cmd_seqno = self.cmd_seqno.max(seqno);
    }

    fn apply(&mut self, req: Request) -> Next {
        let reply = req.reply();
        let out = &mut self.out;
        if self.shared.config.require_auth && !self.authenticated {
            match req.command {
                Command::SaslListMechs
                | Command::SaslAuth { .. }
                | Command::SaslStep { .. }
                | Command::Version => {}
                _ => {
                    reply.error(&mut out.buf, Status::AUTH_ERROR);
                    return Next::Close;
                }
            }
        }
        match req.command {
            Command::Get { key } => {
                if let Some(next) = self.lua_get(&key, Some(reply)) {
                    return next;
                }
                self.get(reply, &key, None);
            }
            Command::GetAndTouch { key, expiry } => self.get(reply, &key, Some(expiry)),
            command @ (Command::LuaLoad { .. } | Command::LuaCall { .. }) => {
                return self.lua_binary(reply, command);
            }
            Command::Touch { key, expiry } => self.touch(reply, &key, expiry),
            Command::Store { mode, key, flags, expiry, value } => {
                if mode == memcache::ops::StoreMode::Set
                    && let Some(next) = self.lua_set(&key, &value, None, Some(reply))
                {
                    return next;
                }
                let write = Write { mode, key, value, flags, exptime: expiry, cas: req.cas };
                let result = self.exec_write(write);
                self.stored(reply, result);
            }
            Command::Delete { key } => match self.exec_delete(&key, req.cas) {
                Ok(_) => {
                    reply.ok(&mut self.out.buf, 0);
                }
                Err(e) => {
                    reply.error(&mut self.out.buf, status(e));
                }
            },
            Command::Counter { mode, key, delta, initial, expiry } => {
                let mut counter = Counter::new(mode, key, delta).cas(req.cas);
                if expiry != NO_AUTO_CREATE {
                    counter = counter.create(initial, expiry);
                }
                match self.exec_arith(counter) {
                    Ok((value, m)) => {
                        reply.counter(&mut self.out.buf, value, m.cas);
                    }
                    Err(e) => {
                        reply.error(&mut self.out.buf, status(e));
                    }
                }
            }
            Command::Quit => {
                reply.ok(&mut out.buf, 0);
                return Next::Close;
            }
            Command::Flush { delay } => {
                self.exec_flush(delay.unwrap_or(0));
                reply.ok(&mut self.out.buf, 0);
            }
            Command::Noop => {
                reply.ok(&mut out.buf, 0);
            }
            Command::Verbosity { level } => {
                self.verbosity(level);
                reply.ok(&mut self.out.buf, 0);
            }
            Command::Version => {
                reply.with_value(
                    &mut out.buf,
                    Status::SUCCESS,
                    0,
                    self.shared.config.protocol_version.as_bytes(),
                );
            }
            Command::Stat { group } => self.stat(reply, &group),
            Command::SaslListMechs => {
                if self.shared.buckets.users().is_some() {
                    reply.with_value(&mut out.buf, Status::SUCCESS, 0, b"PLAIN");
                } else {
                    reply.error(&mut out.buf, Status::UNKNOWN_COMMAND);
                }
            }
            Command::SaslAuth { mechanism, data } | Command::SaslStep { mechanism, data } => {
                return self.sasl(reply, &mechanism, &data);
            }
            Command::TapConnect(connect) => return Next::Tap(connect, req.opaque),
        }
        Next::Continue
    }

    fn get(&mut self, reply: Reply, key: &Bytes, touch: Option<u32>) {
        let found = self.exec_get(key, touch);
        let out = &mut self.out;
        match found {
            Some(hit) => {
                reply.hit(&mut out.buf, hit.flags, hit.cas, key, hit.value.len() as usize);
                out.value(&hit.value);
            }
            None => {
                reply.miss(&mut out.buf, key);
            }
        }
    }

    fn touch(&mut self, reply: Reply, key: &[u8], expiry: u32) {
        match self.exec_touch(key, expiry) {
            Ok(hit) => {
                reply.touched(&mut self.out.buf, hit.flags, hit.cas);
            }
            Err(e) => {
                reply.error(&mut self.out.buf, status(e));
            }
        }
    }

    fn stat(&mut self, reply: Reply, group: &[u8]) {
        if group == b"reset" {
            self.reset_stats();
        }
        let out = &mut self.out;
        if group == b"tap" {
            let mut pairs = Vec::new();
            self.shared.taps.stats(&self.store, &mut pairs);
            for (k, v) in pairs {
                reply.stat(&mut out.buf, k.as_bytes(), v.as_bytes());
            }
            reply.stat_end(&mut out.buf);
            return;
        }
        match stats::group(group, &self.shared.stats, &self.shared.config, &self.store) {
            Some(pairs) => {
                for (k, v) in pairs {
                    reply.stat(&mut out.buf, k.as_bytes(), v.as_bytes());
                }
                reply.stat_end(&mut out.buf);
            }
            None => {
                reply.error(&mut out.buf, Status::KEY_ENOENT);
            }
        }
    }

    fn stored(&mut self, reply: Reply, result: Result<store::Mutation, OpError>) {
        match result {
            Ok(m) => {
                reply.ok(&mut self.out.buf, m.cas);
            }
            Err(e) => {
                reply.error(&mut self.out.buf, status(e));
            }
        }
    }

    fn sasl(&mut self, reply: Reply, mechanism: &[u8], data: &Bytes) -> Next {
        let Some(users) = self.shared.buckets.users() else {
            reply.error(&mut self.out.buf, Status::UNKNOWN_COMMAND);
            return Next::Continue;
        };
        let user = (mechanism == b"PLAIN").then(|| users.check_plain(data)).flatten();
        if let Some((user, store)) =
            user.and_then(|u| self.shared.buckets.get(u).map(|s| (u, s.clone())))
        {
            self.shared.stats.auth_cmds.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(peer = %self.peer, user, "authenticated");
            // Seqnos are per store: what this connection changed in the
            // bucket it leaves is waited for there, and counting starts
            // afresh in the new one.
            if let Some(lua) = self.shared.lua.get(user) {
                self.lua = lua;
            }
            if self.last_seqno > self.acked_seqno {
                let previous = std::mem::replace(&mut self.store, store);
                self.left_buckets.push((previous, self.last_seqno));
            } else {
                self.store = store;
            }
            self.last_seqno = 0;
            self.acked_seqno = 0;
            self.throttled_seqno = 0;
            self.authenticated = true;
            reply.with_value(&mut self.out.buf, Status::SUCCESS, 0, b"Authenticated");
            Next::Continue
        } else {
            self.shared.stats.auth_errors.fetch_add(1, Ordering::Relaxed);
            reply.error(&mut self.out.buf, Status::AUTH_ERROR);
            if self.shared.config.require_auth { Next::Close } else { Next::Continue }
        }
    }
}

/// The status memcached answers for a store outcome.
fn status(e: OpError) -> Status {
    match e {
        OpError::NotFound => Status::KEY_ENOENT,
        OpError::Exists => Status::KEY_EEXISTS,
        OpError::NotStored => Status::NOT_STORED,
        OpError::BadDelta => Status::DELTA_BADVAL,
        OpError::TooLarge => Status::E2BIG,
        OpError::TempFail | OpError::Unwritable => Status::ETMPFAIL,
        OpError::OutOfMemory => Status::ENOMEM,
    }
}

/// The one key a plain write request changes (`None` for reads, for
/// commands without a key, and for a multi-key GAT, which is not held back
/// by Lua calls).
fn written_key(request: &Decoded) -> Option<&[u8]> {
    use memcache::text::TextRequest as T;
    match request {
        Decoded::Binary(req) => match &req.command {
            Command::GetAndTouch { key, .. }
            | Command::Touch { key, .. }
            | Command::Counter { key, .. }
            | Command::Store { key, .. }
            | Command::Delete { key } => Some(key),
            _ => None,
        },
        Decoded::Text(req) => match req {
            T::Get(get) if get.touch.is_some() && get.keys.len() == 1 => Some(&get.keys[0]),
            T::Store(s) => Some(&s.key),
            T::Delete { key, .. } | T::Arith { key, .. } | T::Touch { key, .. } => Some(key),
            T::MetaSet(m) => Some(&m.store.key),
            T::MetaDelete(m) => Some(&m.key),
            T::MetaArithmetic(m) => Some(&m.key),
            _ => None,
        },
    }
}

/// Whether `request` reads or changes the bucket's Lua libraries (or
/// flushes, which stores them again): it waits until they are restored.
fn needs_libraries(request: &Decoded) -> bool {
    use memcache::text::{LuaRequest, TextRequest as T};
    let reserved = |key: &[u8]| key.starts_with(crate::functions::LIB_PREFIX);
    match request {
        Decoded::Binary(req) => match &req.command {
            Command::Flush { .. } | Command::LuaLoad { .. } => true,
            Command::Store { key, .. } | Command::Delete { key } => reserved(key),
            _ => false,
        },
        Decoded::Text(req) => match req {
            T::FlushAll { .. }
            | T::Lua(LuaRequest::Load { .. } | LuaRequest::Delete { .. } | LuaRequest::List) => {
                true
            }
            T::Store(s) => reserved(&s.key),
            T::Delete { key, .. } => reserved(key),
            T::MetaSet(m) => reserved(&m.store.key),
            T::MetaDelete(m) => reserved(&m.key),
            _ => false,
        },
    }
}
