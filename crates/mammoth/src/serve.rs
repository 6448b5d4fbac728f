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
/// `mammoth tap` is the consumer). Lua functions run next to the data
/// (`lua load`/`lua call`, binary `LUA_LOAD`/`LUA_CALL`, GETs of
/// `@fn:NAME:ARG`; docs/lua.md). --tls-cert serves TLS, --http serves
/// metrics and, with --geo-index, GeoCouch `_spatial` queries. Stops
/// cleanly on SIGINT/SIGTERM (a final commit, then exit); SIGHUP reads the
/// TLS certificates again.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Directory for the store (created if missing).
    #[arg(long, default_value = "./data")]
    dir: PathBuf,
    /// Addresses to listen on, IPv4 or IPv6, each with its own port or on
    /// --port (`127.0.0.1`, `[::1]:11300`; repeatable, or comma-separated).
    /// With --tls-cert every one speaks TLS but those written `notls:ADDR`.
    #[arg(short = 'l', long, default_value = "127.0.0.1", value_delimiter = ',', value_parser = parse_listen)]
    listen: Vec<ListenAddr>,
    /// TCP port (0 picks a free one; the address is printed).
    #[arg(short, long, default_value_t = 11211)]
    port: u16,
    /// Also listen on this unix-domain socket (an old socket file there is
    /// replaced).
    #[arg(short = 's', long, value_name = "PATH")]
    unix_socket: Option<PathBuf>,
    /// Permissions of the unix socket, in octal (as memcached's -a).
    #[arg(short = 'a', long, default_value = "700", value_parser = parse_mode)]
    unix_mask: u32,
    /// Listen on the unix socket only (no TCP).
    #[arg(long, requires = "unix_socket")]
    no_tcp: bool,
    /// Serve HTTP on this address (off by default): `/metrics` in the
    /// Prometheus text format, `/healthz` (200, or 503 while writes cannot
    /// be made durable).
    #[arg(long, value_name = "ADDR:PORT")]
    http: Option<SocketAddr>,
    /// A geo index in every bucket (repeatable): values are JSON and
    /// POINTER, a JSON pointer, names a GeoJSON geometry or a `[lon, lat]`
    /// array in each (values without one are not indexed). Queried with
    /// `--http` at `/<bucket>/_spatial/NAME?bbox=W,S,E,N` or `?n=K&q=LON,LAT`
    /// (GeoCouch's API; docs/operations.md).
    #[arg(long = "geo-index", value_name = "NAME=POINTER", value_parser = parse_geo_index)]
    geo_index: Vec<geo_index::IndexSpec>,
    #[command(flatten)]
    tls: crate::tls::TlsArgs,
    /// Storage engine.
    #[arg(long, value_enum, default_value_t = Backend::Fjall)]
    backend: Backend,
    /// When a mutation is acknowledged.
    #[arg(long, value_enum, default_value_t = DurabilityArg::PersistBeforeAck)]
    durability: DurabilityArg,
    /// Most simultaneous connections; one more is told `ERROR Too many open
    /// connections` and closed (`rejected_connections` in stats).
    #[arg(short = 'c', long, default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a reply waits for its writes to become durable before, when
    /// writes are failing (a full disk), those writes are answered with an
    /// error instead (ETMPFAIL, `SERVER_ERROR cannot write to disk now; this
    /// write may or may not persist`) and the connection goes on. New writes
    /// are refused at once while the failure lasts (ETMPFAIL, `SERVER_ERROR
    /// cannot write to disk now; try again later`); reads go on; the server
    /// resumes by itself when the disk accepts writes again.
    #[arg(long, default_value_t = 1)]
    write_timeout: u64,
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
    /// Memory the items may use, over all buckets: keys, metadata and the
    /// values kept in memory, with their hash tables (e.g. 512MiB, 2GiB).
    /// Above the high watermark the values of items already on disk that
    /// were not used recently are ejected (read back from the engine when
    /// needed); when memory is full of changes not yet on disk, writes get
    /// a temporary failure (binary ETMPFAIL, text `SERVER_ERROR out of
    /// memory storing object`) until the engine catches up. Changes on
    /// their way to the engine count towards the watermarks (values are
    /// ejected to make room for them). Not counted: the engine's cache (an
    /// eighth of the limit, 8 to 64 MiB) and memtables (up to three of a
    /// quarter of that), connection buffers and the TAP ring
    /// (--tap-ring-mib). `cache_memlimit <MiB>` (text protocol)
    /// changes it at run time. Default: half of the machine's physical
    /// memory.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, conflicts_with = "memory_mib")]
    memory_limit: Option<u64>,
    /// The same limit in MiB, as memcached spells it (-m 1024).
    #[arg(short = 'm', value_name = "MiB")]
    memory_mib: Option<u64>,
    /// What leaves memory at the limit: `value` ejects values of items on
    /// disk (read back on demand); `none` ejects nothing and refuses writes
    /// at the limit (memcached's -M: binary ENOMEM, text `SERVER_ERROR out
    /// of memory storing object`).
    #[arg(long, value_enum, default_value_t = EvictionArg::Value)]
    eviction: EvictionArg,
    /// memcached's -M: the same as `--eviction none`.
    #[arg(short = 'M', long = "disable-evictions", conflicts_with = "eviction")]
    disable_evictions: bool,
    /// Longest a Lua function call may run, in milliseconds (docs/lua.md);
    /// a call over it gets an error reply, and the server goes on.
    #[arg(long, default_value_t = 100, value_name = "MS")]
    lua_time_limit: u64,
    /// Memory a Lua call may allocate (e.g. 64MiB).
    #[arg(long, default_value = "64MiB", value_name = "SIZE", value_parser = parse_size)]
    lua_memory_limit: u64,
    /// Key prefix that turns a GET or SET into a Lua call for clients that
    /// know only those (`@fn:NAME:ARG`); empty turns it off.
    #[arg(long, default_value = "@fn:", value_name = "PREFIX")]
    lua_key_prefix: String,
    /// Percent of the memory limit above which the pager starts ejecting.
    #[arg(long, default_value_t = 85, value_parser = clap::value_parser!(u8).range(2..=100))]
    high_watermark: u8,
    /// Percent of the memory limit the pager ejects down to.
    #[arg(long, default_value_t = 75, value_parser = clap::value_parser!(u8).range(1..=99))]
    low_watermark: u8,
}

/// One `-l` address: an IP with its own port or none (then --port's);
/// `notls:` keeps it plain when TLS is on.
#[derive(Clone, Copy, Debug)]
struct ListenAddr {
    ip: std::net::IpAddr,
    port: Option<u16>,
    plain: bool,
}

fn parse_listen(text: &str) -> Result<ListenAddr, String> {
    let (plain, addr) = match text.strip_prefix("notls:") {
        Some(addr) => (true, addr),
        None => (false, text),
    };
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(ListenAddr { ip: a.ip(), port: Some(a.port()), plain });
    }
    let ip = addr.parse().map_err(|_| {
        format!(
            "{addr:?} is not an IPv4 or IPv6 address (with a port: 127.0.0.1:11211, [::1]:11211)"
        )
    })?;
    Ok(ListenAddr { ip, port: None, plain })
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum EvictionArg {
    /// Eject values of items already on disk; read them back on demand.
    Value,
    /// Eject nothing; refuse writes at the limit.
    None,
}

fn parse_geo_index(text: &str) -> Result<geo_index::IndexSpec, String> {
    geo_index::IndexSpec::parse(text).map_err(|e| crate::ui::chain(&e))
}

/// The --geo-index declarations, each name once.
fn geo_indexes(args: &ServeArgs) -> Result<Vec<geo_index::IndexSpec>> {
    let specs = &args.geo_index;
    for (i, spec) in specs.iter().enumerate() {
        if specs[..i].iter().any(|s| s.name() == spec.name()) {
            bail!("--geo-index {} is given twice", spec.name());
        }
    }
    Ok(specs.clone())
}

fn parse_size(text: &str) -> Result<u64, String> {
    store::parse_size(text)
}

/// The per-call limits the --lua-* flags ask for.
fn lua_limits(args: &ServeArgs) -> Result<lua::Limits> {
    if args.lua_time_limit == 0 {
        bail!("--lua-time-limit must be at least 1 ms");
    }
    Ok(lua::Limits {
        time: Duration::from_millis(args.lua_time_limit),
        memory: usize::try_from(args.lua_memory_limit)
            .context("--lua-memory-limit is too large")?,
        ..lua::Limits::default()
    })
}

/// Half of the machine's physical memory (1 GiB when it cannot be read).
fn default_memory_limit() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|info| {
        let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    total.map_or(1 << 30, |bytes| bytes / 2)
}

/// The quota the flags ask for.
fn budget(args: &ServeArgs) -> Result<store::Budget> {
    let limit = match (args.memory_limit, args.memory_mib) {
        (Some(bytes), _) => bytes,
        (None, Some(mib)) => mib.checked_mul(1 << 20).context("-m is too large")?,
        (None, None) => default_memory_limit(),
    };
    if limit < 1 << 20 {
        bail!("--memory-limit must be at least 1MiB (got {limit} bytes)");
    }
    if args.low_watermark >= args.high_watermark {
        bail!(
            "--low-watermark ({}) must be below --high-watermark ({})",
            args.low_watermark,
            args.high_watermark
        );
    }
    let eviction = match (args.disable_evictions, args.eviction) {
        (true, _) | (false, EvictionArg::None) => store::Eviction::None,
        (false, EvictionArg::Value) => store::Eviction::Value,
    };
    Ok(store::Budget::with_watermarks(limit, eviction, args.high_watermark, args.low_watermark))
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

/// The store settings every bucket is opened with.
fn store_template(args: &ServeArgs) -> Result<store::Config> {
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
    let memory = budget(args)?;
    // A small quota means a small machine: the engine's cache shrinks with
    // it (an eighth of the quota, 8 to 64 MiB); reads it misses come from
    // the OS page cache.
    template.engine_cache_bytes = (memory.limit() / 8).clamp(8 << 20, store::DEFAULT_ENGINE_CACHE);
    template.memory = std::sync::Arc::new(memory);
    Ok(template)
}

pub(crate) fn run(args: &ServeArgs) -> Result<ExitCode> {
    let template = store_template(args)?;
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
        write_timeout: Duration::from_secs(args.write_timeout.max(1)),
        on_verbosity: Some(server::VerbosityHook(std::sync::Arc::new(crate::ui::set_verbosity))),
        max_value_len: args.max_value,
        require_auth: args.require_auth,
        lua: server::LuaConfig {
            limits: lua_limits(args)?,
            key_prefix: args.lua_key_prefix.clone().into_bytes().into(),
        },
        geo_indexes: geo_indexes(args)?,
        ..server::Config::default()
    };
    let buckets = server::Buckets::open(&args.dir, &template, users)
        .with_context(|| format!("opening the store in {}", args.dir.display()))?;
    let (restart_tx, restart_rx) = tokio::sync::oneshot::channel::<String>();
    watch_engines(&buckets, restart_tx);
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
    let tls = args.tls.load()?;
    if tls.is_none() && args.listen.iter().any(|l| l.plain) {
        bail!("`-l notls:ADDR` is for use with --tls-cert");
    }
    let served = runtime.block_on(async {
        let listeners = listeners(args, tls.as_ref()).await?;
        if let Some(tls) = &tls {
            crate::tls::reload_on_sighup(std::sync::Arc::clone(tls))?;
        }
        let http = http_listener(args).await?;
        let local =
            listeners.iter().map(server::Listener::local_name).collect::<Vec<_>>().join(", ");
        eprintln!("mammoth: {threads} worker threads");
        let memory = &template.memory;
        eprintln!(
            "mammoth: memory limit {} MiB for items ({} eviction above {} MiB), engine cache {} MiB",
            memory.limit() >> 20,
            memory.eviction().name(),
            memory.high_watermark() >> 20,
            template.engine_cache_bytes >> 20
        );
        for l in &listeners {
            eprintln!("mammoth: serving memcached protocol (binary and text) on {}", l.local_name());
        }
        let signalled = crate::ui::shutdown_signal();
        if let Err(e) = server::systemd::notify(&format!(
            "READY=1\nSTATUS=serving on {local}\nMAINPID={}",
            std::process::id()
        )) {
            tracing::warn!(error = %e, "could not tell systemd the server is ready");
        }
        let mut restart = None;
        let stop = async {
            tokio::select! {
                () = signalled => {}
                why = restart_rx => restart = why.ok(),
            }
            let _ = server::systemd::notify("STOPPING=1");
        };
        server::serve_listeners(listeners, http, config, buckets, stop, workers.handles()).await;
        eprintln!("mammoth: stopped; every acknowledged write is on disk");
        anyhow::Ok(restart)
    });
    drop(workers);
    match served? {
        None => Ok(ExitCode::SUCCESS),
        Some(why) => restart_self(&why),
    }
}

/// Binds every TCP address on its port or --port (with --port 0, the
/// port the first got), with TLS when `tls` is given, and the unix socket
/// (always plain, as in memcached).
async fn listeners(
    args: &ServeArgs,
    tls: Option<&std::sync::Arc<server::Tls>>,
) -> Result<Vec<server::Listener>> {
    let mut out = Vec::new();
    let mut port = args.port;
    if !args.no_tcp {
        for listen in &args.listen {
            let addr = SocketAddr::new(listen.ip, listen.port.unwrap_or(port));
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr}"))?;
            if listen.port.is_none() {
                port = l.local_addr()?.port();
            }
            out.push(match tls.filter(|_| !listen.plain) {
                Some(tls) => server::Listener::Tls(l, std::sync::Arc::clone(tls)),
                None => server::Listener::Tcp(l),
            });
        }
    }
    if let Some(path) = &args.unix_socket {
        use std::os::unix::fs::PermissionsExt;
        // A socket file left by an earlier run would make bind fail.
        if std::fs::symlink_metadata(path).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_socket()
        }) {
            std::fs::remove_file(path)
                .with_context(|| format!("removing the old socket {}", path.display()))?;
        }
        let l = tokio::net::UnixListener::bind(path)
            .with_context(|| format!("listening on {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(args.unix_mask))
            .with_context(|| format!("setting the permissions of {}", path.display()))?;
        out.push(server::Listener::Unix(l));
    }
    Ok(out)
}

/// The HTTP listener of `--http`, if asked for.
async fn http_listener(args: &ServeArgs) -> Result<Option<tokio::net::TcpListener>> {
    let Some(addr) = args.http else { return Ok(None) };
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening for HTTP on {addr}"))?;
    eprintln!("mammoth: HTTP (/metrics, /healthz) on {}", l.local_addr()?);
    Ok(Some(l))
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not an octal mode such as 700 or 660"))
}

/// How long an engine may fail, with the disk taking writes again, before
/// the server restarts itself to reopen it.
const ENGINE_RESTART_AFTER: Duration = Duration::from_secs(10);

/// Watches every bucket's store: an engine that keeps failing although the
/// disk takes writes again (fjall refuses every write after a failed
/// journal write until it is reopened) is recovered by a restart, which
/// replays the commit log. The reason goes to `restart`.
fn watch_engines(buckets: &server::Buckets, restart: tokio::sync::oneshot::Sender<String>) {
    let stores: Vec<(String, store::Store)> =
        buckets.iter().map(|(name, s)| (name.to_owned(), s.clone())).collect();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            for (name, store) in &stores {
                if store.unwritable_for().is_none_or(|d| d < ENGINE_RESTART_AFTER) {
                    continue;
                }
                if !disk_takes_writes(&store.config().dir) {
                    continue;
                }
                let why = store.unwritable().unwrap_or_default();
                let _ = restart.send(format!("bucket {name}: {why}"));
                return;
            }
        }
    });
}

/// Whether a 1 MiB file can be written and synced in `dir` (then removed).
fn disk_takes_writes(dir: &std::path::Path) -> bool {
    use std::io::Write;
    let probe = dir.join(".mammoth-space-probe");
    let ok = std::fs::File::create(&probe)
        .and_then(|mut f| {
            f.write_all(&vec![0u8; 1 << 20])?;
            f.sync_all()
        })
        .is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

/// Replaces this process with a fresh `mammoth serve` with the same
/// arguments (same pid, so systemd and scripts see no change): the stores
/// are closed, and opening them again replays the commit log into the
/// engines.
fn restart_self(why: &str) -> Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    eprintln!("mammoth: restarting to recover the engine ({why})");
    let exe = std::env::current_exe().context("finding the mammoth executable")?;
    let err = std::process::Command::new(&exe).args(std::env::args_os().skip(1)).exec();
    Err(err).with_context(|| format!("restarting {}", exe.display()))
}
