//! `mammoth bench …`: mammoth and its reference peer measured in one run
//! (library: the `mammoth-bench` crate). Numbers are only comparable within
//! one run on one machine.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use mammoth_bench::hadoop::{self, MapBench, SeqBench};

/// Benchmarks.
#[derive(Subcommand, Debug)]
pub(crate) enum BenchCommand {
    /// SequenceFile write and read throughput, mammoth vs real Hadoop.
    ///
    /// Writes N Text/Text records (14-byte keys, 100-byte values) in each
    /// format, reads them back (sequentially, and as 2 parallel splits), and
    /// runs Hadoop's own writer and reader on the same data through the peer
    /// in interop/hadoop. Throughput counts serialized key+value bytes.
    Seq(SeqBenchArgs),
    /// MapFile and BloomMapFile random lookups, mammoth vs real Hadoop.
    ///
    /// Builds maps of the `bench seq` data set (plain and with a bloom filter,
    /// uncompressed and BLOCK/deflate data), then times random `get`s of
    /// present keys and of absent keys (each a present key plus "x", so a
    /// plain map must search). The lookup keys come from a fixed generator
    /// shared with the Java side.
    Map(MapBenchArgs),
    /// A server's throughput and latency under a closed-loop load.
    ///
    /// N connections each send a request, wait for its reply and send the
    /// next, for --secs seconds; prints ops/s, error replies and the
    /// p50/p99/p99.9/max latency on one line. Speaks memcached's text
    /// protocol or Redis's RESP, over TCP or TLS, so that mammoth, memcached
    /// and Redis are measured by the same client. `{key}` in the command is
    /// a random key number below --keys, `{value}` a --value-len value,
    /// `{len}` its length; a text storage command (`set k 0 0 {len}`) sends
    /// the value as its data block. Examples: `get k{key}`; `set k{key} 0 0
    /// {len}`; with --resp, `SET k{key} {value}`, `EVALSHA SHA 1 k{key}`.
    Load(LoadArgs),
}

#[derive(Args, Debug)]
pub(crate) struct LoadArgs {
    /// The server.
    #[arg(long, default_value = "127.0.0.1:11211")]
    addr: std::net::SocketAddr,
    /// Speak RESP (Redis) instead of memcached's text protocol.
    #[arg(long)]
    resp: bool,
    /// Speak TLS, trusting the CA certificates in this PEM file (the name
    /// checked is `localhost` on loopback, else the address).
    #[arg(long, value_name = "PEM")]
    tls_ca: Option<PathBuf>,
    /// Connections, one request in flight each.
    #[arg(short = 'c', long, default_value_t = 32)]
    connections: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Distinct keys.
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Bytes of `{value}`.
    #[arg(long, default_value_t = 100)]
    value_len: usize,
    /// The request and its arguments (default: `get k{key}`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct MapBenchArgs {
    /// Records in the map.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Lookups per measurement (present and absent each).
    #[arg(long, default_value_t = 100_000)]
    lookups: u64,
    /// Rounds per measurement; the best round counts.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Formats: map-none, map-block-deflate, bloom-none, bloom-block-deflate.
    #[arg(
        long,
        default_value = "map-none,map-block-deflate,bloom-none,bloom-block-deflate",
        value_delimiter = ','
    )]
    formats: Vec<String>,
    /// Directory for the maps (default: a temporary directory, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Raw bytes per block of mammoth's BLOCK map data (Hadoop's side always
    /// uses its 1,000,000 default); pass 1000000 to compare identical layouts.
    #[arg(long, default_value_t = seqfile::map::DEFAULT_MAP_BLOCK_SIZE)]
    block_size: usize,
    /// Skip the Hadoop side.
    #[arg(long)]
    no_hadoop: bool,
    /// The Hadoop peer harness.
    #[arg(long, default_value = "interop/hadoop")]
    peer: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct SeqBenchArgs {
    /// Records in the data set.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Rounds per measurement; the best round counts.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Formats: none, block-snappy, block-deflate, record-deflate (comma-separated).
    #[arg(
        long,
        default_value = "none,block-snappy,block-deflate,record-deflate",
        value_delimiter = ','
    )]
    formats: Vec<String>,
    /// Directory for the files (default: a temporary directory, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Skip the Hadoop side (mammoth figures only).
    #[arg(long)]
    no_hadoop: bool,
    /// The Hadoop peer harness (setup.sh, HadoopPeer.java).
    #[arg(long, default_value = "interop/hadoop")]
    peer: PathBuf,
}

pub(crate) fn run(cmd: BenchCommand) -> Result<ExitCode> {
    let mut log = |s: &str| eprintln!("{s}");
    let table = match cmd {
        BenchCommand::Load(a) => return load(a),
        BenchCommand::Seq(a) => hadoop::seq(
            &SeqBench {
                records: a.records,
                rounds: a.rounds,
                formats: a.formats,
                dir: a.dir,
                hadoop_peer: (!a.no_hadoop).then_some(a.peer),
            },
            &mut log,
        )?,
        BenchCommand::Map(a) => hadoop::map(
            &MapBench {
                records: a.records,
                lookups: a.lookups,
                rounds: a.rounds,
                formats: a.formats,
                dir: a.dir,
                block_size: a.block_size,
                hadoop_peer: (!a.no_hadoop).then_some(a.peer),
            },
            &mut log,
        )?,
    };
    print!("{table}");
    Ok(ExitCode::SUCCESS)
}

fn load(a: LoadArgs) -> Result<ExitCode> {
    use mammoth_bench::load::{self, Load, Protocol};
    if !(a.secs > 0.0 && a.secs < 1e6) {
        anyhow::bail!("--secs must be a positive number of seconds");
    }
    let protocol = if a.resp { Protocol::Resp } else { Protocol::Text };
    let mut spec = Load::new(a.addr, protocol);
    spec.tls_ca = a.tls_ca;
    spec.connections = a.connections;
    spec.duration = std::time::Duration::from_secs_f64(a.secs);
    spec.keys = a.keys;
    spec.value_len = a.value_len;
    if !a.command.is_empty() {
        spec.command = a.command;
    } else if a.resp {
        spec.command = vec!["GET".into(), "k{key}".into()];
    } else {
        spec.command = vec!["get".into(), "k{key}".into()];
    }
    let report = load::run(&spec)?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}
