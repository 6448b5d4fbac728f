//! `mammoth`: the command line of the mammoth storage toolkit.
//!
//! The binary is thin: it parses arguments with clap and calls the library
//! crates. Each subcommand group lives in its own module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod auth;
mod bench;
mod cluster;
mod collect;
mod map;
mod records;
mod seq;
mod serve;
mod tap;
mod tls;
mod ui;
mod userset;

/// mammoth: a durable memcached server and Hadoop-native storage tools.
///
/// `mammoth serve` speaks the memcached protocol (binary and text) and keeps
/// items on disk, group-committed. The other commands read and write Hadoop
/// SequenceFiles and MapFiles (all three layouts, zlib, gzip, bzip2, Snappy,
/// LZ4 and zstd) without a JVM, byte-compatible with Hadoop.
#[derive(Parser, Debug)]
#[command(
    name = "mammoth",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "Exit status: 0 on success, 1 when a lookup (map get, userset check/verify) \
                  finds a name missing, 2 on an error."
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[arg(
        short,
        long,
        global = true,
        action = clap::ArgAction::Count,
        help = "Less log output on stderr (-q errors only, -qq none); MAMMOTH_LOG or RUST_LOG \
                (a tracing filter such as info,store=debug) overrides -v and -q"
    )]
    quiet: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    // The about text is ServeArgs's doc comment.
    Serve(serve::ServeArgs),
    /// Inspect, dump, write and convert Hadoop SequenceFiles.
    #[command(subcommand)]
    Seq(seq::SeqCommand),
    /// Build, query and inspect MapFiles, SetFiles, ArrayFiles and BloomMapFiles.
    #[command(subcommand)]
    Map(map::MapCommand),
    /// Benchmarks that run mammoth and its reference peer side by side.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Exact username sets: generate, build, check, verify, benchmark.
    #[command(subcommand)]
    Userset(userset::UsersetCommand),
    /// TAP consumers: mirror a server into another, export it as Hadoop files.
    #[command(subcommand)]
    Tap(tap::TapCommand),
    /// Load a SequenceFile or MapFile (or a directory of them) into a server.
    Import(tap::ImportArgs),
    /// Several servers behind nutcracker: its config, the replicas' mirrors,
    /// and which node owns a key.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Store sensor readings from multicast (or unicast) UDP in a server.
    ///
    /// Each reading is stored under `reading/<iso-time>_<serial>` as JSON
    /// (`{"ts","serial","reading", extra fields…}`) and
    /// `sensor/<serial>/latest` holds the newest one; writes go in
    /// SETQ…NOOP pipelines, acknowledged once durable, and are re-sent
    /// after a reconnect when the server goes away. A status line goes to
    /// stderr every --status-every seconds and a summary on exit; Ctrl-C or
    /// SIGTERM stops after a final flush. Export the history with `mammoth
    /// tap export --key-prefix reading/`.
    Collect(Box<collect::CollectArgs>),
}

/// jemalloc with background threads. The server frees memory on other
/// threads than the ones that allocated it (the applier frees the copies
/// the workers made, the pager ejects values), and a worker may then sit
/// idle: glibc keeps such memory in per-thread arenas, mimalloc until the
/// thread that allocated it allocates again (up to 50 MiB of a 1M-item
/// load stayed resident). jemalloc's background threads return freed pages
/// by themselves, after [`DIRTY_DECAY_MS`].
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// How long freed pages stay with the process before jemalloc gives them
/// back (its default is 10 s). Pages freed and soon needed again are
/// reused within this window; after a load the resident memory settles at
/// what the items hold within two to three seconds.
const DIRTY_DECAY_MS: isize = 1000;

/// Sets [`DIRTY_DECAY_MS`] on the arenas created from now on
/// (`arenas.dirty_decay_ms`) and on each one that exists already
/// (`arena.<i>.dirty_decay_ms`, arena 0 at least: the main thread's, and
/// the only one on a single CPU). jemalloc has no "all arenas" name for
/// this setting. Arenas not created yet refuse the write and take the new
/// default when they are. A failure leaves jemalloc's 10 s, which is only
/// slower to give memory back.
fn tune_allocator() {
    use tikv_jemalloc_ctl::{Access as _, AsName as _};
    if let Err(e) = b"arenas.dirty_decay_ms\0".name().write(DIRTY_DECAY_MS) {
        tracing::warn!(error = %e, "jemalloc's decay time for new arenas left at its default");
    }
    let arenas = tikv_jemalloc_ctl::arenas::narenas::read().unwrap_or(1);
    for i in 0..arenas {
        let key = format!("arena.{i}.dirty_decay_ms\0");
        if let Err(e) = key.as_bytes().name().write(DIRTY_DECAY_MS)
            && i == 0
        {
            tracing::warn!(error = %e, "jemalloc's decay time for arena 0 left at its default");
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ui::init_logging(cli.verbose, cli.quiet);
    tune_allocator();
    let result = match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::Seq(cmd) => seq::run(cmd),
        Command::Map(cmd) => map::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Userset(cmd) => userset::run(cmd),
        Command::Tap(cmd) => tap::run(cmd),
        Command::Import(args) => tap::run_import(&args),
        Command::Cluster(cmd) => cluster::run(cmd),
        Command::Collect(args) => collect::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`mammoth seq cat f | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            // Each layer names only itself, so the chain repeats nothing.
            eprintln!("mammoth: {e:#}");
            ui::error_exit()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    /// The decay time reads back from arena 0 and as the default for new
    /// arenas.
    #[test]
    fn every_arena_gets_the_decay_time() {
        use tikv_jemalloc_ctl::{Access as _, AsName as _};
        super::tune_allocator();
        let arena0: isize = b"arena.0.dirty_decay_ms\0".name().read().unwrap();
        let new: isize = b"arenas.dirty_decay_ms\0".name().read().unwrap();
        assert_eq!((arena0, new), (super::DIRTY_DECAY_MS, super::DIRTY_DECAY_MS));
    }
}
