//! `mammoth serve`: the memcached-protocol server on the embedded store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

/// Serve the memcached protocol with items kept durably on disk.
///
/// Each connection speaks the binary or the text protocol (classic and meta
/// commands), chosen from its first byte as memcached does
/// ("auto-negotiate"), over the same store and port. Items live in memory and in an embedded engine under --dir (nothing else
/// to install). With the default durability, a reply is sent only after
/// the mutation it acknowledges is on disk; a pipeline of quiet SETQs closed
/// by a NOOP (or of `set … noreply` lines closed by `mn` or any command
/// that answers) costs one group commit. A binary connection that sends
/// `TAP_CONNECT` becomes a TAP stream of every change (backfill, then live;
/// `mammoth tap` is the consumer). Stops cleanly on SIGINT/SIGTERM (a final
/// commit, then exit).
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Directory for the store (created if missing).
    #[arg(long, default_value = "./data")]
    dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    listen: std::net::IpAddr,
    /// TCP port (0 picks a free one; the address is printed).
    #[arg(short, long, default_value_t = 11211)]
    port: u16,
    /// Storage engine.
    #[arg(long, value_enum, default_value_t = Backend::Fjall)]
    backend: Backend,
    /// When a mutation is acknowledged.
    #[arg(long, value_enum, default_value_t = DurabilityArg::PersistBeforeAck)]
    durability: DurabilityArg,
    /// Most simultaneous connections (more wait in the listen backlog).
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Largest value accepted, in bytes (larger SETs get E2BIG, or
    /// `SERVER_ERROR object too large for cache` in text).
    #[arg(long, default_value_t = 1024 * 1024)]
    max_value: u32,
    /// Close connections idle for this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    idle_timeout: u64,
    /// SASL PLAIN users, one `user:password` per line; each user is a bucket
    /// (an independent keyspace under DIR/buckets/USER).
    #[arg(long)]
    users: Option<PathBuf>,
    /// Refuse clients that have not authenticated (needs --users). As in
    /// memcached with SASL, only the binary protocol is then served: text
    /// connections are closed without a reply.
    #[arg(long, requires = "users")]
    require_auth: bool,
    /// Write-behind only: dirty bytes above which writers wait for the disk.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    max_dirty_bytes: u64,
    /// Worker threads, each serving its share of the connections (default:
    /// one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Hours a deleted key keeps its tombstone, so that a TAP consumer
    /// resuming from before the delete still gets it. A consumer away for
    /// longer gets a flush and a full backfill instead.
    #[arg(long, default_value_t = 24)]
    tombstone_hours: u32,
    /// MiB of recent changes kept for live TAP streams (only while one is
    /// connected); a consumer further behind is backfilled again.
    #[arg(long, default_value_t = 64)]
    tap_ring_mib: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Backend {
    /// fjall: an embedded LSM tree (pure Rust).
    Fjall,
    /// SQLite: one WITHOUT ROWID table, WAL journal.
    Sqlite,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DurabilityArg {
    /// Reply only after the mutation is on disk (group-committed).
    PersistBeforeAck,
    /// Reply from memory; persist in the background (membase's mode).
    WriteBehind,
}

pub(crate) fn run(args: &ServeArgs) -> Result<ExitCode> {
    init_logging();
    let mut template = store::Config::new(&args.dir);
    template.backend = match args.backend {
        Backend::Fjall => store::BackendKind::Fjall,
        Backend::Sqlite => store::BackendKind::Sqlite,
    };
    template.durability = match args.durability {
        DurabilityArg::PersistBeforeAck => store::Durability::PersistBeforeAck,
        DurabilityArg::WriteBehind => store::Durability::WriteBehind,
    };
    template.max_value_len = args.max_value as usize;
    template.max_dirty_bytes = args.max_dirty_bytes;
    template.warmup = store::Warmup::Background;
    template.tombstone_retention = Duration::from_secs(u64::from(args.tombstone_hours) * 3600);
    template.feed_max_bytes = args.tap_ring_mib.saturating_mul(1024 * 1024);
    let users = match &args.users {
        Some(path) => Some(server::Users::load(path)?),
        None => None,
    };
    if args.max_connections == 0 {
        bail!("--max-connections must be at least 1");
    }
    let config = server::Config {
        max_connections: args.max_connections,
        idle_timeout: (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)),
        max_value_len: args.max_value,
        require_auth: args.require_auth,
        ..server::Config::default()
    };
    let buckets = server::Buckets::open(&args.dir, &template, users)
        .with_context(|| format!("opening the store in {}", args.dir.display()))?;
    for (name, store) in buckets.iter() {
        // The warmup runs in the background: requests are served from the
        // start (keys not loaded yet are read from the engine on demand).
        let (name, store) = (name.to_string(), store.clone());
        std::thread::spawn(move || {
            let w = store.warmup();
            eprintln!(
                "mammoth: bucket {name}: {} items loaded in {} ms ({} backend, {})",
                w.items,
                w.duration.as_millis(),
                store.config().backend.name(),
                store.config().durability.name()
            );
        });
    }
    // One single-threaded runtime per worker thread, each connection on one
    // of them for its whole life (memcached's thread model); this thread
    // accepts and hands connections out.
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
        .max(1);
    let workers = server::WorkerPool::start(threads).context("starting the worker threads")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let served = runtime.block_on(async {
        let addr = SocketAddr::new(args.listen, args.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        let local = listener.local_addr()?;
        eprintln!("mammoth: {threads} worker threads");
        eprintln!("mammoth: serving memcached protocol (binary and text) on {local}");
        server::run_on(listener, config, buckets, shutdown_signal(), workers.handles()).await;
        eprintln!("mammoth: stopped; every acknowledged write is on disk");
        anyhow::Ok(ExitCode::SUCCESS)
    });
    drop(workers);
    served
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MAMMOTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
