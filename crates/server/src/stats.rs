//! Server-level counters and the STAT groups memcached answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use store::{Store, Striped};

use crate::Config;

/// Connection and traffic counters.
#[derive(Debug)]
pub struct ServerStats {
    started: Instant,
    max_connections: usize,
    /// Connections open now.
    pub curr_connections: AtomicU64,
    /// Connections accepted since start-up.
    pub total_connections: AtomicU64,
    /// Bytes read from and written to clients, counted per thread stripe
    /// (every request adds to both).
    pub traffic: Striped<Traffic>,
    /// Requests answered with `UNKNOWN_COMMAND`, `EINVAL` and friends.
    pub protocol_errors: AtomicU64,
    /// Successful SASL authentications.
    pub auth_cmds: AtomicU64,
    /// Failed SASL authentications.
    pub auth_errors: AtomicU64,
    /// Replies held back waiting for a group commit.
    pub durable_waits: AtomicU64,
    /// Connections refused because `max_connections` were open.
    pub rejected_connections: AtomicU64,
    /// Worker threads serving connections.
    pub threads: AtomicU64,
    /// Mutations applied in memory whose acknowledgement was replaced by an
    /// error (or, under `noreply`, could not be sent) because they could not
    /// be made durable in time (a full disk): their outcome is ambiguous.
    pub writes_not_durable: AtomicU64,
    /// The open connections (`stats conns`).
    pub(crate) conns: Conns,
    /// TLS connections whose handshake failed or timed out.
    pub ssl_handshake_errors: AtomicU64,
    /// Lua function calls answered with a value or nil.
    pub lua_calls: AtomicU64,
    /// Lua function calls answered with an error (runtime error, unknown
    /// function, a limit).
    pub lua_errors: AtomicU64,
    /// Lua libraries loaded (`lua load`, `LUA_LOAD`, or a stored library
    /// arriving by TAP).
    pub lua_loads: AtomicU64,
    /// The unix socket served, for `stats settings` (`domain_socket`).
    pub(crate) domain_socket: std::sync::OnceLock<String>,
    /// The TLS settings served, for `stats settings` and `refresh_certs`.
    pub(crate) tls: std::sync::OnceLock<Arc<crate::Tls>>,
}

/// The open connections, for `stats conns`.
#[derive(Debug, Default)]
pub(crate) struct Conns {
    next: AtomicU64,
    open: std::sync::Mutex<std::collections::BTreeMap<u64, Arc<ConnInfo>>>,
}

/// One open connection as `stats conns` shows it.
#[derive(Debug)]
pub(crate) struct ConnInfo {
    peer: String,
    /// Milliseconds since the server started, at the last request read.
    last_cmd_ms: AtomicU64,
}

impl ConnInfo {
    /// A request was read now.
    pub(crate) fn touch(&self, stats: &ServerStats) {
        let now = stats.started.elapsed().as_millis() as u64;
        self.last_cmd_ms.store(now, Ordering::Relaxed);
    }
}

/// Removes its connection from [`Conns`] when dropped.
pub(crate) struct ConnGuard<'a> {
    conns: &'a Conns,
    id: u64,
    pub(crate) info: Arc<ConnInfo>,
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.conns.lock().remove(&self.id);
    }
}

impl Conns {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u64, Arc<ConnInfo>>> {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection until the guard drops.
    pub(crate) fn open(&self, peer: &str, stats: &ServerStats) -> ConnGuard<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let info = Arc::new(ConnInfo { peer: peer.to_owned(), last_cmd_ms: AtomicU64::new(0) });
        info.touch(stats);
        self.lock().insert(id, Arc::clone(&info));
        ConnGuard { conns: self, id, info }
    }

    /// memcached's `stats conns` lines: per connection its address and the
    /// seconds since its last request.
    pub(crate) fn render(&self, stats: &ServerStats) -> Vec<(String, String)> {
        let now = stats.started.elapsed().as_millis() as u64;
        let mut out = Vec::new();
        for (id, c) in self.lock().iter() {
            let addr =
                if c.peer.starts_with("unix") { c.peer.clone() } else { format!("tcp:{}", c.peer) };
            out.push((format!("{id}:addr"), addr));
            let idle = now.saturating_sub(c.last_cmd_ms.load(Ordering::Relaxed)) / 1000;
            out.push((format!("{id}:secs_since_last_cmd"), idle.to_string()));
        }
        out
    }
}

/// Byte counters, one set per thread stripe (see [`Striped`]).
#[derive(Debug, Default)]
pub struct Traffic {
    /// Bytes read from clients.
    pub bytes_read: AtomicU64,
    /// Bytes written to clients.
    pub bytes_written: AtomicU64,
}

impl ServerStats {
    pub(crate) fn new(max_connections: usize) -> Self {
        ServerStats {
            started: Instant::now(),
            max_connections,
            curr_connections: AtomicU64::new(0),
            total_connections: AtomicU64::new(0),
            traffic: Striped::default(),
            protocol_errors: AtomicU64::new(0),
            auth_cmds: AtomicU64::new(0),
            auth_errors: AtomicU64::new(0),
            durable_waits: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            threads: AtomicU64::new(1),
            writes_not_durable: AtomicU64::new(0),
            conns: Conns::default(),
            ssl_handshake_errors: AtomicU64::new(0),
            lua_calls: AtomicU64::new(0),
            lua_errors: AtomicU64::new(0),
            lua_loads: AtomicU64::new(0),
            domain_socket: std::sync::OnceLock::new(),
            tls: std::sync::OnceLock::new(),
        }
    }
}

/// CPU time of the process as memcached prints it (`seconds.micros`), from
/// `/proc/self/stat` (fields 14 and 15, in the kernel's fixed 100 Hz
/// `USER_HZ`); zeros where there is no procfs.
fn rusage() -> (String, String) {
    let ticks = std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| {
        // The command name (field 2) may hold spaces; count after its ')'.
        let rest = &s[s.rfind(')')? + 2..];
        let mut f = rest.split(' ').skip(11);
        Some((f.next()?.parse::<u64>().ok()?, f.next()?.parse::<u64>().ok()?))
    });
    let (user, system) = ticks.unwrap_or((0, 0));
    let show = |t: u64| format!("{}.{:06}", t / 100, (t % 100) * 10_000);
    (show(user), show(system))
}

impl ServerStats {
    /// Time since the server started.
    pub(crate) fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// `stats reset`: zeroes the connection and traffic counters (the
    /// gauges, such as `curr_connections`, stay).
    pub(crate) fn reset(&self) {
        for c in [
            &self.total_connections,
            &self.rejected_connections,
            &self.protocol_errors,
            &self.auth_cmds,
            &self.auth_errors,
            &self.durable_waits,
            &self.writes_not_durable,
            &self.ssl_handshake_errors,
            &self.lua_calls,
            &self.lua_errors,
            &self.lua_loads,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.traffic.reset(|t| [&t.bytes_read, &t.bytes_written]);
    }
}

fn load(c: &AtomicU64) -> String {
    c.load(Ordering::Relaxed).to_string()
}

/// The stats of `group` for `store`, or `None` for a group memcached does
/// not know (the caller answers `KEY_ENOENT`).
pub(crate) fn group(
    group: &[u8],
    stats: &ServerStats,
    config: &Config,
    store: &Store,
) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| out.push((k.to_string(), v));
    match group {
        b"" => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            put("pid", std::process::id().to_string());
            put("uptime", stats.started.elapsed().as_secs().to_string());
            put("time", now.to_string());
            put("version", config.protocol_version.clone());
            put("mammoth_version", env!("CARGO_PKG_VERSION").to_string());
            put("pointer_size", (usize::BITS).to_string());
            put("curr_connections", load(&stats.curr_connections));
            put("total_connections", load(&stats.total_connections));
            put("max_connections", stats.max_connections.to_string());
            put("rejected_connections", load(&stats.rejected_connections));
            put("threads", load(&stats.threads));
            let (user, system) = rusage();
            put("rusage_user", user);
            put("rusage_system", system);
            put("bytes_read", stats.traffic.sum(|t| &t.bytes_read).to_string());
            put("bytes_written", stats.traffic.sum(|t| &t.bytes_written).to_string());
            put("protocol_errors", load(&stats.protocol_errors));
            put("auth_cmds", load(&stats.auth_cmds));
            put("auth_errors", load(&stats.auth_errors));
            put("durable_waits", load(&stats.durable_waits));
            put("writes_not_durable", load(&stats.writes_not_durable));
            put("lua_calls", load(&stats.lua_calls));
            put("lua_errors", load(&stats.lua_errors));
            put("lua_loads", load(&stats.lua_loads));
            if let Some(tls) = stats.tls.get() {
                put("ssl_handshake_errors", load(&stats.ssl_handshake_errors));
                put("time_since_server_cert_refresh", tls.since_refresh().as_secs().to_string());
            }
            let store_stats = store.stats();
            let wanted = [
                "limit_maxbytes",
                "evictions",
                "curr_items",
                "total_items",
                "bytes",
                "cmd_get",
                "cmd_set",
                "cmd_flush",
                "cmd_touch",
                "get_hits",
                "get_misses",
                "get_expired",
                "delete_hits",
                "delete_misses",
                "incr_hits",
                "incr_misses",
                "decr_hits",
                "decr_misses",
                "cas_hits",
                "cas_misses",
                "cas_badval",
                "touch_hits",
                "touch_misses",
                "expired_unfetched",
                "persistence_lag_ms",
                "write_failing",
                "write_failure",
                "write_failure_secs",
                "writes_refused_unwritable",
                "flusher_queue_items",
            ];
            for (k, v) in store_stats {
                if wanted.contains(&k.as_str()) {
                    put(&k, v);
                }
            }
        }
        b"settings" => out = settings(stats, config, store),
        b"engine" => out = store.stats(),
        b"conns" => out = stats.conns.render(stats),
        b"reset" | b"detail on" | b"detail off" | b"sizes" => {}
        b"detail dump" => put("detailed", String::new()),
        b"items" => put("items:1:number", store.len().to_string()),
        b"slabs" => put("active_slabs", "0".to_string()),
        _ => return None,
    }
    Some(out)
}

/// `stats settings`: the configuration, in memcached's names where it has
/// them.
fn settings(stats: &ServerStats, config: &Config, store: &Store) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| out.push((k.to_string(), v));
    put("maxconns", config.max_connections.to_string());
    put("domain_socket", stats.domain_socket.get().cloned().unwrap_or_else(|| "NULL".into()));
    let budget = &store.config().memory;
    let maxbytes = if budget.is_limited() { budget.limit() } else { 0 };
    put("maxbytes", maxbytes.to_string());
    // memcached's meaning: "on" when memory can be freed at the
    // limit (here by ejecting values), "off" under -M.
    let evicts = budget.eviction() != store::Eviction::None;
    put("evictions", if evicts { "on" } else { "off" }.to_string());
    put("item_eviction_policy", budget.eviction().policy_name().to_string());
    put("cas_enabled", "yes".to_string());
    put("flush_enabled", "yes".to_string());
    put("item_size_max", config.max_value_len.to_string());
    // memcached's names: with SASL required it binds binary only.
    let protocol = if config.require_auth { "binary" } else { "auto-negotiate" };
    put("binding_protocol", protocol.to_string());
    put("idle_timeout", config.idle_timeout.map_or(0, |d| d.as_secs()).to_string());
    put("sasl_enabled", if config.require_auth { "yes" } else { "no" }.to_string());
    put("ssl_enabled", if stats.tls.get().is_some() { "yes" } else { "no" }.to_string());
    if let Some(tls) = stats.tls.get() {
        let s = tls.settings();
        put("ssl_chain_cert", s.cert.display().to_string());
        put("ssl_key", s.key_path().display().to_string());
        put("ssl_verify_mode", s.client_auth.memcached_mode().to_string());
        put("ssl_ca_cert", s.ca.as_ref().map_or("NULL".into(), |p| p.display().to_string()));
        put("ssl_min_version", s.min_version.name().to_string());
    }
    let lua = &config.lua;
    put("lua_time_limit_ms", lua.limits.time.as_millis().to_string());
    put("lua_memory_limit", lua.limits.memory.to_string());
    put("lua_key_prefix", String::from_utf8_lossy(&lua.key_prefix).into_owned());
    put("backend", store.config().backend.name().to_string());
    put("durability", store.config().durability.name().to_string());
    out
}
