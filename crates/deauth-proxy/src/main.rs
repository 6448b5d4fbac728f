//! The `deauth-proxy` command: see `deauth-proxy --help`.

// The doc comments below are the --help text, written for a terminal.
#![allow(clippy::doc_markdown)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use deauth_proxy::{Config, Credentials, Policy, Upstream};

/// jemalloc, built with background threads on: they return freed pages to
/// the system after 10 s (its `dirty_decay_ms`), so memory taken by a burst
/// of connections does not stay with the process once the burst is over.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A reverse proxy that strips the client's credentials and injects the
/// upstream's.
///
/// Every request loses its Authorization and Cookie headers and gains the
/// upstream credentials; responses lose Set-Cookie and WWW-Authenticate.
/// Only GET and HEAD pass unless --allow-write is given (TRACE and CONNECT
/// never pass). Bodies stream unbuffered both ways, so continuous feeds,
/// long-polls, server-sent events and large downloads work as they would
/// directly. One access-log line per request goes to stderr (RUST_LOG
/// filters it, e.g. RUST_LOG=warn silences it).
///
/// The credentials are one line, `user:password` (sent as Basic) or
/// `Bearer TOKEN`, read from --auth-file or from the DEAUTH_PROXY_AUTH
/// environment variable; never from the command line, where `ps` shows them.
#[derive(Parser, Debug)]
#[command(
    name = "deauth-proxy",
    version,
    about,
    long_about,
    verbatim_doc_comment,
    after_long_help = AFTER_HELP
)]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port;
    /// the chosen address is printed on stdout).
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,

    /// The upstream base URL, plain http, e.g. http://127.0.0.1:5984/.
    /// Request paths are appended to its path.
    #[arg(long, value_name = "URL")]
    upstream: Upstream,

    /// File holding the upstream credentials (`user:password` or
    /// `Bearer TOKEN`, one line, at most 64 KiB). Without it the
    /// DEAUTH_PROXY_AUTH environment variable is read.
    #[arg(long, value_name = "FILE")]
    auth_file: Option<PathBuf>,

    /// Forward methods other than GET and HEAD. Without it writes get 403:
    /// injecting admin credentials would otherwise publish the database.
    #[arg(long)]
    allow_write: bool,

    /// Only forward paths under PREFIX (matched at a `/` boundary);
    /// repeatable. Others get 403. Paths with `.` or `..` segments always
    /// get 400.
    #[arg(long = "allow-path", value_name = "PREFIX")]
    allow_paths: Vec<String>,

    /// Worker threads, each with its own accept loop and upstream
    /// connection pool (default: one per CPU).
    #[arg(long, value_name = "N")]
    threads: Option<std::num::NonZeroUsize>,

    /// Seconds a client may take to send its request head.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    header_timeout: u64,

    /// Seconds connecting to the upstream may take before the client gets
    /// 502.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    connect_timeout: u64,
}

const AFTER_HELP: &str = "\
Refusals (plain-text bodies saying why; never forwarded):
  403  a write on a read-only proxy, or a path outside every --allow-path
  405  TRACE or CONNECT, even with --allow-write
  400  a path with a `.` or `..` segment (also as %2e)
  502  the upstream cannot be reached (the body names it)

Examples:
  printf 'admin:s3cret\\n' > couch.auth && chmod 600 couch.auth
  deauth-proxy --listen 0.0.0.0:8080 --upstream http://127.0.0.1:5984/ \\
      --auth-file couch.auth --allow-path /maps
  DEAUTH_PROXY_AUTH='Bearer TOKEN' deauth-proxy --listen 127.0.0.1:8080 \\
      --upstream http://10.0.0.5:9200/";

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("deauth-proxy: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let credentials = Credentials::load(args.auth_file.as_deref()).map_err(|e| chain(&e))?;
    for prefix in &args.allow_paths {
        if !prefix.starts_with('/') {
            return Err(format!("--allow-path {prefix}: a prefix must start with `/`"));
        }
    }
    let mut config = Config::new(args.upstream, credentials);
    config.policy = Policy { allow_write: args.allow_write, allow_paths: args.allow_paths };
    config.header_timeout = std::time::Duration::from_secs(args.header_timeout.max(1));
    config.connect_timeout = std::time::Duration::from_secs(args.connect_timeout.max(1));
    let fds = deauth_proxy::raise_fd_limit();
    let std_listener = std::net::TcpListener::bind(args.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = std_listener.local_addr().map_err(|e| format!("{}: {e}", args.listen))?;
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        std::num::NonZero::get,
    );
    // nginx's worker model: each thread runs its own single-threaded runtime
    // with its own accept loop on the shared listener and its own upstream
    // pool, so a request, its upstream connection and its access-log line
    // stay on one thread (a work-stealing runtime moved them between
    // threads and cost about a fifth more CPU per small request). One per
    // CPU by default: on the 2-core test host two workers were faster than
    // one for downloads, and for small requests in most runs (not all).
    let mut runtimes = Vec::with_capacity(threads);
    for _ in 0..threads {
        runtimes.push(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                // Access-log lines wait in a per-thread buffer while the
                // worker is busy and are written when it runs out of work.
                .on_thread_park(deauth_proxy::flush_access_log)
                .build()
                .map_err(|e| format!("cannot start a runtime: {e}"))?,
        );
    }
    let runtime = runtimes.remove(0);
    for (i, worker) in runtimes.into_iter().enumerate() {
        let listener = std_listener.try_clone().map_err(|e| format!("{local}: {e}"))?;
        let config = config.clone();
        std::thread::Builder::new()
            .name(format!("deauth-worker-{}", i + 1))
            .spawn(move || {
                worker.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            if let Err(e) = deauth_proxy::serve(listener, config).await {
                                tracing::error!("worker {}: {local}: {e}", i + 1);
                            }
                        }
                        Err(e) => tracing::error!("worker {}: {local}: {e}", i + 1),
                    }
                });
            })
            .map_err(|e| format!("cannot start worker thread {}: {e}", i + 1))?;
    }
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        tracing::info!(
            "listening on {local}, upstream {}, {} credentials{}, {}, {threads} worker thread{}, \
             open-files limit {}",
            config.upstream,
            config.credentials.scheme(),
            if args.auth_file.is_some() { " from file" } else { " from environment" },
            if config.policy.allow_write { "writes allowed" } else { "read-only" },
            if threads == 1 { "" } else { "s" },
            fds.map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
        );
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "deauth-proxy listening on http://{local}");
        let _ = out.flush();
        drop(out);
        tokio::select! {
            r = deauth_proxy::serve(listener, config) => r.map_err(|e| format!("{local}: {e}")),
            () = shutdown_signal() => {
                tracing::info!("shutting down");
                Ok(())
            }
        }
    });
    deauth_proxy::flush_access_log();
    result
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
