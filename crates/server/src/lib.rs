//! mammoth's memcached server: the binary protocol over tokio, items kept
//! durably by the [`store`] crate.
//!
//! # Design
//!
//! One task per connection (as in mini-redis), each pinned for its life to
//! one of a few single-threaded runtimes ([`run_on`]; `mammoth serve` runs
//! one per core): memcached's thread model, in which a connection's reads,
//! replies and writes happen on one thread waiting in its own `epoll`, with
//! no hand-offs between threads (about 15% more request–response
//! throughput than a work-stealing runtime here). A connection reads into a
//! `BytesMut`, decodes every complete request in it with
//! [`memcache::binary::RequestDecoder`] (keys and values are slices of the
//! read buffer; the store copies the small ones into the item), applies each to the store and
//! appends the replies to an output queue. Then, before the replies go out,
//! it waits until the store has made every mutation of this connection
//! durable ([`store::Durability::PersistBeforeAck`]). A pipeline of quiet
//! SETQs closed by a NOOP therefore costs one group commit, shared with every
//! other connection that wrote meanwhile; the NOOP's reply is the
//! durability acknowledgement.
//!
//! Limits follow memcached: 1024 connections (more wait in the listen
//! backlog), keys up to 250 bytes, values up to 1 MiB by default (larger
//! ones get `E2BIG` and the body is skipped without buffering it), malformed
//! headers close the connection after an error reply, unknown opcodes get
//! `UNKNOWN_COMMAND` and the connection stays open.
//!
//! A binary connection that sends `TAP_CONNECT` becomes a TAP producer
//! (membase's replication stream): a backfill from the store's change feed,
//! then every durable change live, with acks, resumable named cursors and
//! a key-prefix filter (`docs/memcached-binary.md` §10.7).
//!
//! With [`Config::geo_indexes`], every bucket keeps GeoCouch-style geo
//! indexes that follow its change feed and answer
//! `/<bucket>/_spatial/<index>` on the HTTP listener, reading their own
//! writes (the private `geo` module explains how).
//!
//! With a users file, SASL PLAIN is offered and each user name selects a
//! *bucket* (membase's convention): an independent store under
//! `DIR/buckets/NAME`. Unauthenticated clients use the `default` bucket
//! unless authentication is required.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let buckets = server::Buckets::open("./data", &store::Config::new("."), None)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:11211").await?;
//! // Any future works as the shutdown signal; `mammoth serve` uses SIGINT/SIGTERM.
//! let shutdown = std::future::pending::<()>();
//! server::run(listener, server::Config::default(), buckets, shutdown).await;
//! # Ok(()) }
//! ```

mod buckets;
mod conn;
mod exec;
mod functions;
mod geo;
mod http;
mod out;
mod select;
mod shutdown;
mod socket;
mod stats;
pub mod systemd;
mod tap;
mod text;
mod tls;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

pub use crate::buckets::{Buckets, DEFAULT_BUCKET};
pub use crate::functions::{LIB_PREFIX, LuaConfig};
pub use crate::socket::Listener;
use crate::socket::{Accepted, Socket};
pub use crate::stats::{ServerStats, Traffic};
pub use crate::tls::{ClientAuth, MinVersion, Tls, TlsError, TlsSettings};
pub use memcache::sasl::{Users, UsersError, valid_bucket_name};

/// Server settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Most connections served at once; one more is told `ERROR Too many
    /// open connections` and closed, as memcached does.
    pub max_connections: usize,
    /// Close a connection idle this long (`None`: never, memcached's default).
    pub idle_timeout: Option<Duration>,
    /// Largest value a SET may carry (bytes).
    pub max_value_len: u32,
    /// Refuse every command but SASL and VERSION until a client authenticates.
    pub require_auth: bool,
    /// The version string VERSION answers (clients parse it as memcached's).
    pub protocol_version: String,
    /// Replies buffered before they are written even mid-pipeline (bytes).
    pub max_output: usize,
    /// How long shutdown waits for connections to finish.
    pub shutdown_grace: Duration,
    /// How long a reply waits for its writes to become durable before, if
    /// the store reports that writes are failing (a full disk), the
    /// acknowledgements of the writes still not durable are replaced by
    /// errors (ETMPFAIL, `SERVER_ERROR`) and the rest is sent. Slow but
    /// working disks only delay. Default 1 s.
    pub write_timeout: Duration,
    /// Called with the level of a `verbosity` command (binary VERBOSITY or
    /// text `verbosity N`): memcached's 0 to 3, for the embedder to map onto
    /// its logging. `None`: the command is answered and ignored.
    pub on_verbosity: Option<VerbosityHook>,
    /// Server-side Lua functions: limits and the `@fn:` key prefix.
    pub lua: LuaConfig,
    /// Geo indexes (`--geo-index NAME=POINTER`), each kept in every bucket
    /// and queried on the HTTP listener at `/<bucket>/_spatial/<name>`.
    pub geo_indexes: Vec<geo_index::IndexSpec>,
}

/// What [`Config::on_verbosity`] calls.
#[derive(Clone)]
pub struct VerbosityHook(pub Arc<dyn Fn(u32) + Send + Sync>);

impl std::fmt::Debug for VerbosityHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerbosityHook")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_connections: 1024,
            idle_timeout: None,
            max_value_len: memcache::binary::DEFAULT_MAX_VALUE_LEN,
            require_auth: false,
            protocol_version: "1.6.18".to_string(),
            max_output: 4 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
            write_timeout: Duration::from_secs(1),
            on_verbosity: None,
            lua: LuaConfig::default(),
            geo_indexes: Vec::new(),
        }
    }
}

/// Single-threaded runtimes for [`run_on`], one thread each: memcached's
/// worker threads. Dropping the pool stops the runtimes and joins their
/// threads (after `run_on` has returned, nothing is left on them).
pub struct WorkerPool {
    handles: Vec<tokio::runtime::Handle>,
    threads: Vec<std::thread::JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl WorkerPool {
    /// Starts `n` (at least one) worker threads named `mammoth-worker-N`.
    ///
    /// # Errors
    ///
    /// When a runtime or a thread cannot be created.
    pub fn start(n: usize) -> std::io::Result<WorkerPool> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut pool = WorkerPool { handles: Vec::new(), threads: Vec::new(), stop };
        for i in 0..n.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            pool.handles.push(runtime.handle().clone());
            let mut stopped = stopped.clone();
            let thread = std::thread::Builder::new().name(format!("mammoth-worker-{i}")).spawn(
                move || {
                    runtime.block_on(async move {
                        let _ = stopped.wait_for(|stop| *stop).await;
                    });
                },
            )?;
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// The runtimes, to pass to [`run_on`].
    pub fn handles(&self) -> &[tokio::runtime::Handle] {
        &self.handles
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Tells a connection past the limit so, as memcached does, and closes it
/// (the socket is new: its send buffer takes the line without blocking). A
/// TLS client is closed without a word: a plain-text line would only break
/// its handshake, and a handshake per refusal is what a flood should not
/// cost.
fn reject(accepted: &Accepted, stats: &ServerStats) {
    stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(peer = %accepted.peer, "too many open connections; refused");
    if accepted.tls.is_none() {
        let _ = accepted.socket.try_write(b"ERROR Too many open connections\r\n");
    }
}

/// Serves one accepted connection on the current runtime: the TLS
/// handshake first when its listener asks for one.
async fn serve_accepted(socket: Socket, peer: String, tls: Option<Arc<Tls>>, shared: &Arc<Shared>) {
    let socket = match tls {
        None => socket,
        Some(tls) => match socket.handshake(&tls).await {
            Ok(socket) => socket,
            Err(e) => {
                shared.stats.ssl_handshake_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, error = &e as &dyn std::error::Error, "TLS handshake failed");
                return;
            }
        },
    };
    conn::serve(socket, peer, shared).await;
}

/// State shared by every connection.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) buckets: Buckets,
    pub(crate) stats: ServerStats,
    pub(crate) shutdown: shutdown::Shutdown,
    pub(crate) taps: tap::Registry,
    /// Each bucket's Lua libraries and runtime.
    pub(crate) lua: std::collections::BTreeMap<String, Arc<functions::BucketLua>>,
    /// Each bucket's geo indexes.
    pub(crate) geo: geo::Geo,
}

impl Shared {
    /// The shared state, with the geo indexes' followers started on the
    /// current runtime.
    fn start(config: Config, buckets: Buckets) -> Arc<Shared> {
        let shared = Arc::new(Shared {
            stats: ServerStats::new(config.max_connections),
            lua: functions::start(&buckets, &config.lua),
            geo: geo::Geo::new(&buckets, &config.geo_indexes),
            config,
            buckets,
            shutdown: shutdown::Shutdown::default(),
            taps: tap::Registry::default(),
        });
        geo::start(&shared);
        shared
    }
}

/// Serves `listener` until `shutdown` completes, then stops accepting, lets
/// connections finish what they have read (up to
/// [`Config::shutdown_grace`]), and closes every bucket's store with a final
/// commit.
pub async fn run(
    listener: TcpListener,
    config: Config,
    buckets: Buckets,
    shutdown: impl Future<Output = ()>,
) {
    run_on(listener, config, buckets, shutdown, &[]).await;
}

/// Like [`run`], but each accepted connection lives on one of `workers`
/// (round robin) for its whole life: with one single-threaded runtime per
/// core this is memcached's model — a connection's requests are read,
/// answered and written by one thread that waits in its own `epoll`, with
/// no hand-offs between threads. An empty `workers` spawns connections on
/// the current runtime.
pub async fn run_on(
    listener: TcpListener,
    config: Config,
    buckets: Buckets,
    shutdown: impl Future<Output = ()>,
    workers: &[tokio::runtime::Handle],
) {
    serve_listeners(vec![Listener::Tcp(listener)], None, config, buckets, shutdown, workers).await;
}

/// Like [`run_on`] on several listeners at once (TCP addresses, TLS over
/// TCP and unix sockets), all under one connection limit, and with `http`,
/// the HTTP listener (`/metrics` in the Prometheus format, `/healthz`, and
/// geo queries at `/<bucket>/_spatial/<index>`).
pub async fn serve_listeners(
    listeners: Vec<Listener>,
    http: Option<TcpListener>,
    config: Config,
    buckets: Buckets,
    shutdown: impl Future<Output = ()>,
    workers: &[tokio::runtime::Handle],
) {
    let shared = Shared::start(config, buckets);
    shared.stats.threads.store(workers.len().max(1) as u64, Ordering::Relaxed);
    if let Some(http) = http {
        tokio::spawn(http::serve(http, Arc::clone(&shared)));
    }
    let limit = Arc::new(Semaphore::new(shared.config.max_connections));
    // Every connection task holds a clone; `recv` returns once all are gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    // One accepting task per listener, all feeding this loop.
    let (accepted_tx, mut accepted) = mpsc::channel::<Accepted>(64);
    if let Some(path) = listeners.iter().find_map(Listener::unix_path) {
        let _ = shared.stats.domain_socket.set(path);
    }
    if let Some(tls) = listeners.iter().find_map(Listener::tls) {
        let _ = shared.stats.tls.set(Arc::clone(tls));
    }
    let acceptors: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            let tx = accepted_tx.clone();
            tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok(pair) => {
                            if tx.send(pair).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!(listener = %listener.local_name(), error = &e as &dyn std::error::Error, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            })
        })
        .collect();
    drop(accepted_tx);
    tokio::pin!(shutdown);
    let mut next_worker = 0;
    loop {
        let next = tokio::select! {
            next = accepted.recv() => match next {
                Some(next) => next,
                None => break,
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            reject(&next, &shared.stats);
            continue;
        };
        let Accepted { socket, peer, tls } = next;
        let shared = Arc::clone(&shared);
        let done = done_tx.clone();
        if workers.is_empty() {
            tokio::spawn(async move {
                serve_accepted(socket, peer, tls, &shared).await;
                drop(permit);
                drop(done);
            });
            continue;
        }
        // Moved to the worker's own reactor: deregistered here, registered
        // there from inside the worker.
        let socket = match socket.into_std() {
            Ok(socket) => socket,
            Err(e) => {
                tracing::warn!(%peer, error = &e as &dyn std::error::Error, "could not hand the connection to a worker");
                continue;
            }
        };
        next_worker = (next_worker + 1) % workers.len();
        workers[next_worker].spawn(async move {
            match socket.into_tokio() {
                Ok(socket) => serve_accepted(socket, peer, tls, &shared).await,
                Err(e) => tracing::warn!(%peer, error = &e as &dyn std::error::Error, "worker could not take the connection"),
            }
            drop(permit);
            drop(done);
        });
    }
    for a in acceptors {
        a.abort();
    }
    tracing::info!("shutting down: no new connections");
    shared.shutdown.trigger();
    drop(done_tx);
    if tokio::time::timeout(shared.config.shutdown_grace, done_rx.recv()).await.is_err() {
        tracing::warn!("connections still open after the grace period; closing anyway");
    }
    let buckets = shared.buckets.clone();
    // Closing joins the flusher threads: keep that off the runtime.
    let _ = tokio::task::spawn_blocking(move || buckets.close()).await;
    tracing::info!("stores closed");
}
