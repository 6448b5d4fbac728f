//! `mammoth cluster …`: several servers behind nutcracker (crate `cluster`).
//!
//! `plan` writes the proxy's config and the TAP mirror commands for the
//! replicas; `owner` says which node holds a key, computed as nutcracker
//! computes it; `rebalance` moves the keys whose owner a config change
//! changes; `failover` points a node's name at its replica; `export`
//! writes every node's items into one directory Spark reads whole. mammoth
//! does not route requests itself: nutcracker does.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ::cluster::{Config, Distribution, KeyHash, Pool, Server, UnknownName};
use anyhow::{Context, Result, bail, ensure};
use clap::{Args, Subcommand};

/// The config's file name in `plan --out DIR`.
const CONFIG_FILE: &str = "nutcracker.yml";
/// The mirror commands' file name in `plan --out DIR`.
const MIRRORS_FILE: &str = "mirrors.sh";

/// Several servers behind nutcracker (twemproxy): configs and placement.
#[derive(Subcommand, Debug)]
pub(crate) enum ClusterCommand {
    /// Write a nutcracker config for NODES, and the TAP mirrors that keep
    /// a replica of each.
    ///
    /// Writes DIR/nutcracker.yml: one pool, ketama distribution,
    /// `auto_eject_hosts: false` (an ejected node's keys would go to the
    /// others, which do not have them: right for a cache, wrong for a
    /// store). Each node is named (node1, node2, … unless --names), and
    /// ketama hashes the name rather than the address, so a replica can
    /// take over a node's address without moving a single key.
    ///
    /// With --replicas, also writes DIR/mirrors.sh: one `mammoth tap mirror
    /// --from NODE --to REPLICA --name mirror-NAME` per pair, each started
    /// in the background (run each under a supervisor in production). The
    /// name registers the stream on the node, so a restarted mirror resumes
    /// where it stopped.
    ///
    /// Start the proxy with `nutcracker -c DIR/nutcracker.yml`; clients
    /// then speak the memcached text protocol to --listen (nutcracker 0.5.0
    /// refuses binary and meta commands). TAP, `tap export` and `import`
    /// talk to the nodes directly.
    Plan(PlanArgs),
    /// Print the node that owns each KEY under a nutcracker config.
    ///
    /// One line per key: the key, the node's address and its name (`-` for
    /// an unnamed node), tab-separated. Without KEYs, reads keys from
    /// stdin, one per line. The placement is nutcracker's, bit for bit:
    /// its hash, hash tag and distribution (ketama or modula; random has no
    /// owner).
    Owner(OwnerArgs),
    /// Move exactly the keys whose owner changes from config OLD to NEW.
    ///
    /// Run it while nutcracker still uses OLD, then restart nutcracker on
    /// NEW. For each node of OLD: a TAP dump of its keys only (no values)
    /// lists what it holds; a key moves when NEW places it on another node
    /// (nodes are told apart by address). Moving keys are read from the
    /// old node (value, flags, CAS), written to the new one in a SETQ
    /// pipeline whose NOOP reply means they are durable there, and only
    /// then deleted at the old node, with the CAS they were read at: a key
    /// changed meanwhile is not deleted but moved again (up to --retries
    /// times, then reported and left in place). A key deleted at the old
    /// node while it moved is deleted at the new one too.
    ///
    /// Safe to rerun: a run stopped anywhere leaves every key at its old
    /// node, its new one or both with the same value, and the next run
    /// finishes; keys already moved are not touched. Between a key's move
    /// and nutcracker's restart, reads of it through the proxy miss and
    /// writes to it land on the old node; run rebalance once more just
    /// before the restart to move those (or pause writers).
    ///
    /// Progress goes to stderr; the summary (keys scanned and moved, per
    /// node, seconds) to stdout. Exit code 1 when keys were left behind.
    Rebalance(RebalanceArgs),
    /// Point NODE's name at its replica's address in a nutcracker config.
    ///
    /// ketama hashes a named node's name, not its address, so no key
    /// changes owner: the replica, a copy of NODE kept by `tap mirror`,
    /// answers for NODE's keys. The replica is --replica, or the `--to` of
    /// NODE's line in --mirrors (the mirrors.sh `cluster plan` wrote),
    /// whose line is then commented out: a promoted replica copies nothing.
    /// That mirror is stopped too (SIGTERM to the pid mirrors.sh wrote into
    /// mirror-NAME.pid beside itself), so a restarted NODE cannot stream
    /// into the new primary; when it does not run here, the command says
    /// to stop it where it runs. The config is rewritten atomically (a new
    /// file renamed over the old).
    ///
    /// Reports the writes that may be lost, those NODE acknowledged that
    /// the mirror had not applied: when NODE still answers, its durable
    /// sequence number minus the mirror's confirmed cursor (`stats tap`);
    /// when it does not, that cannot be known, and the command says how
    /// many items the replica holds.
    ///
    /// nutcracker 0.5.0 cannot reload its config (its signals only reopen
    /// the log, change the log level or stop it): it must be restarted.
    /// --reload-pid stops the process PID (SIGTERM) and starts it again
    /// with the same command line; --reload-cmd runs a command of yours
    /// (`systemctl restart nutcracker`); without either, the command
    /// prints what to restart.
    Failover(FailoverArgs),
    /// Export every node of a pool into one directory that Spark and Hive
    /// read as one data set.
    ///
    /// Node i of the config (counting from 0, in the config's order) is
    /// written as OUT/part-0000i/ (a MapFile, the default: `data` and
    /// `index`), or OUT/part-0000i.seq with --format seq. Each node is read
    /// by a TAP dump of what it holds when the dump reaches it (a snapshot
    /// per node, not one instant across nodes), and only the keys the
    /// config places on that node are kept: a key left on a former owner
    /// (writes between a rebalance and the proxy's restart) is counted as
    /// skipped, not exported twice. OUT/_SUCCESS is written last, when
    /// every node is in. Then point Spark at OUT: `sc.sequenceFile("OUT")`
    /// reads exactly the records, every part's `data` and no `index`
    /// (Hadoop's input format takes a directory inside OUT to be a
    /// MapFile). With --layout raw the values are the items' bytes; the
    /// item layout prefixes a 25-byte header (docs/tap-export.md).
    ///
    /// A MapFile part is sorted in memory: a job needs about its node's
    /// data size in memory, so map parts are written one node at a time
    /// by default; SequenceFile parts stream, all nodes at once. OUT must
    /// hold no data (names starting with `.` or `_`, and lost+found, are
    /// ignored): a part left by an earlier export of a larger cluster would
    /// be read as data. `mammoth import OUT` loads the whole export into
    /// one server.
    Export(ClusterExportArgs),
}

#[derive(Args, Debug)]
pub(crate) struct ClusterExportArgs {
    /// The nutcracker config that lists the nodes.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// The pool (needed when the config has several).
    #[arg(long, value_name = "NAME")]
    pool: Option<String>,
    /// The directory to write, one part per node.
    #[arg(long, value_name = "OUT")]
    out: PathBuf,
    /// File kind of each part.
    #[arg(long, value_enum, default_value = "mapfile")]
    format: crate::tap::FormatArg,
    #[command(flatten)]
    file: crate::tap::FileArgs,
    /// Only items this filter expression selects (docs/tap-filters.md).
    #[arg(long)]
    filter: Option<String>,
    /// Nodes exported at the same time (default: all of them for seq, one
    /// for mapfile and bloommap, which sort each part in memory).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    #[command(flatten)]
    auth: crate::auth::AuthArgs,
}

#[derive(Args, Debug)]
pub(crate) struct PlanArgs {
    /// The primaries, HOST:PORT, comma-separated, in order.
    #[arg(long, value_delimiter = ',', required = true, num_args = 1.., value_name = "HOST:PORT")]
    nodes: Vec<String>,
    /// One replica per node, HOST:PORT, in the same order.
    #[arg(long, value_delimiter = ',', num_args = 1.., value_name = "HOST:PORT")]
    replicas: Vec<String>,
    /// The nodes' names, in the same order (default node1, node2, …); the
    /// ketama points are hashed from them.
    #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with = "no_names", value_name = "NAME")]
    names: Vec<String>,
    /// Leave the nodes unnamed: ketama then hashes their addresses
    /// (`HOST:PORT`, or `HOST` on port 11211), as a config written without
    /// names does, and moving a node to another address moves its keys.
    #[arg(long)]
    no_names: bool,
    /// The nodes' weights, in the same order (default 1 each); a node's
    /// share of keys is about its weight over the total.
    #[arg(long, value_delimiter = ',', num_args = 1.., value_name = "WEIGHT")]
    weights: Vec<u32>,
    #[arg(
        long,
        default_value = "fnv1a_64",
        value_parser = parse_hash,
        help = "Key hash: one_at_a_time, md5, crc16, crc32a, fnv1_64, fnv1a_64, fnv1_32, \
                fnv1a_32, hsieh, murmur or jenkins (crc32, 15 bits wide, would put every key \
                on one node)"
    )]
    hash: KeyHash,
    /// Hash tag, two characters such as `{}`: keys with a tag are placed
    /// by the part inside it only (`user{42}:name` with `user{42}:mail`).
    #[arg(long, value_name = "TWO_CHARS")]
    hash_tag: Option<String>,
    /// Where nutcracker listens for clients.
    #[arg(long, default_value = "127.0.0.1:22121", value_name = "HOST:PORT")]
    listen: String,
    /// The pool's name in the config.
    #[arg(long, default_value = "mammoth", value_name = "NAME")]
    pool: String,
    /// nutcracker's timeout for a node's reply, in milliseconds (default:
    /// none, wait as long as it takes).
    #[arg(long, value_name = "MS")]
    timeout: Option<u64>,
    /// Directory to write nutcracker.yml (and mirrors.sh) into; created
    /// when missing.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Overwrite files already there.
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
pub(crate) struct OwnerArgs {
    /// Keys to place (none: read them from stdin, one per line).
    keys: Vec<std::ffi::OsString>,
    /// The nutcracker config.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// The pool to use (needed when the config has several).
    #[arg(long, value_name = "NAME")]
    pool: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct RebalanceArgs {
    /// The config nutcracker uses now (where the keys are).
    #[arg(long, value_name = "OLD.yml")]
    from: PathBuf,
    /// The config nutcracker will use (where the keys must be).
    #[arg(long, value_name = "NEW.yml")]
    to: PathBuf,
    /// The pool, in both configs (needed when a config has several).
    #[arg(long, value_name = "NAME")]
    pool: Option<String>,
    /// List and count the keys that would move, per (old node, new node);
    /// move nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keys per read / write / delete round trip.
    #[arg(long, default_value_t = 500, value_name = "N")]
    batch: usize,
    /// Attempts for a key that keeps changing at its old node while it
    /// moves; then it is left there and reported.
    #[arg(long, default_value_t = 3, value_name = "N")]
    retries: u32,
}

#[derive(Args, Debug)]
pub(crate) struct FailoverArgs {
    /// The node to replace: its name (node2) or its address (HOST:PORT).
    node: String,
    /// The nutcracker config to rewrite.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// The pool (needed when the config has several).
    #[arg(long, value_name = "NAME")]
    pool: Option<String>,
    /// The replica's address (default: the --to of NODE's line in --mirrors).
    #[arg(long, value_name = "HOST:PORT")]
    replica: Option<String>,
    /// The mirror script (`cluster plan`'s mirrors.sh): gives the replica
    /// and the mirror's name, and NODE's line is commented out.
    #[arg(long, value_name = "FILE")]
    mirrors: Option<PathBuf>,
    /// The mirror's registered TAP name on NODE (default: from --mirrors,
    /// else mirror-NAME).
    #[arg(long, value_name = "NAME")]
    mirror_name: Option<String>,
    /// Restart the nutcracker with this pid: SIGTERM, then the same
    /// command line again.
    #[arg(long, value_name = "PID", conflicts_with = "reload_cmd")]
    reload_pid: Option<u32>,
    /// Run this shell command to restart nutcracker.
    #[arg(long, value_name = "CMD")]
    reload_cmd: Option<String>,
}

fn parse_hash(s: &str) -> Result<KeyHash, String> {
    s.parse().map_err(|e: UnknownName| e.to_string())
}

pub(crate) fn run(cmd: ClusterCommand) -> Result<ExitCode> {
    match cmd {
        ClusterCommand::Plan(a) => plan(&a),
        ClusterCommand::Owner(a) => owner(&a),
        ClusterCommand::Rebalance(a) => rebalance(&a),
        ClusterCommand::Failover(a) => failover(&a),
        ClusterCommand::Export(a) => export(&a),
    }
}

/// A `HOST:PORT` argument.
fn endpoint(text: &str, what: &str) -> Result<Server> {
    Server::parse(&format!("{text}:1"))
        .ok()
        .filter(|s| matches!(s.endpoint, ::cluster::Endpoint::Tcp { .. }))
        .with_context(|| format!("{what} {text:?} is not HOST:PORT"))
}

/// The pool and the replicas (one per server) that `args` describe.
fn build_plan(args: &PlanArgs) -> Result<(Pool, Vec<Server>)> {
    let count = args.nodes.len();
    let mut servers: Vec<Server> =
        args.nodes.iter().map(|n| endpoint(n, "node")).collect::<Result<_>>()?;
    let replicas: Vec<Server> =
        args.replicas.iter().map(|r| endpoint(r, "replica")).collect::<Result<_>>()?;
    ensure!(
        replicas.is_empty() || replicas.len() == count,
        "--replicas lists {}, --nodes {count}: give one per node",
        replicas.len()
    );
    let mut seen = HashSet::new();
    for s in servers.iter().chain(&replicas) {
        ensure!(seen.insert(s.endpoint.clone()), "{} is listed twice", s.endpoint);
    }
    if !args.weights.is_empty() {
        ensure!(
            args.weights.len() == count,
            "--weights lists {}, --nodes {count}: give one per node",
            args.weights.len()
        );
        for (s, &w) in servers.iter_mut().zip(&args.weights) {
            ensure!(w > 0 && i32::try_from(w).is_ok(), "weight {w} is not in 1..2147483647");
            s.weight = w;
        }
    }
    if !args.no_names {
        let names: Vec<String> = if args.names.is_empty() {
            (1..=count).map(|i| format!("node{i}")).collect()
        } else {
            args.names.clone()
        };
        ensure!(
            names.len() == count,
            "--names lists {}, --nodes {count}: give one per node",
            names.len()
        );
        let mut seen = HashSet::new();
        for (s, name) in servers.iter_mut().zip(names) {
            ensure!(
                !name.is_empty() && !name.contains(char::is_whitespace),
                "name {name:?} is empty or holds whitespace"
            );
            ensure!(seen.insert(name.clone()), "name {name:?} is listed twice");
            s.name = Some(name);
        }
    }
    // nutcracker's crc32 is 15 bits wide (libmemcached's variant): on a
    // ketama circle of 32-bit points every key would land on one node.
    ensure!(
        args.hash != KeyHash::Crc32,
        "--hash crc32 gives 15-bit hashes, which put every key on one ketama node; use crc32a"
    );
    let mut pool = Pool::new(&args.pool, &args.listen);
    pool.hash = args.hash;
    pool.hash_tag.clone_from(&args.hash_tag);
    pool.distribution = Distribution::Ketama;
    pool.auto_eject_hosts = Some(false);
    pool.timeout = args.timeout;
    pool.servers = servers;
    // Checks the hash tag, and that the result reads back as written.
    pool.ring()?;
    let text = pool.to_yaml();
    ensure!(
        Config::parse(&text).is_ok_and(|c| c.pools == [pool.clone()]),
        "the config would not read back as written:\n{text}"
    );
    Ok((pool, replicas))
}

/// A word for `sh`: as it is when only safe characters, else single-quoted.
fn sh_word(word: &str) -> String {
    let safe = !word.is_empty()
        && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/,=@%+".contains(&b));
    if safe { word.to_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

fn mirrors_script(pool: &Pool, replicas: &[Server]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "#!/bin/sh\n\
         # TAP mirrors for nutcracker pool {pool:?}, written by `mammoth cluster plan`.\n\
         # Each line keeps a replica a continuous copy of its node. The --name\n\
         # registers the stream on the node, so a restarted mirror resumes where\n\
         # it stopped. In production run each line under a supervisor; this\n\
         # script starts them all and waits. SIGINT or SIGTERM stops them all\n\
         # (and only them: a pid is signalled only while it is this script's\n\
         # child, never after it ended and the number was reused). Each\n\
         # mirror's pid goes to NAME.pid beside this script: `mammoth cluster\n\
         # failover --mirrors` stops the failed node's.\n\
         set -u\n\
         here=$(CDPATH= cd -P -- \"$(dirname -- \"$0\")\" && pwd) || exit 1\n\
         pids=\n\
         trap 'for p in $pids; do [ \"$(cut -d\" \" -f4 \"/proc/$p/stat\" 2>/dev/null)\" = \"$$\" ] && kill \"$p\"; done; wait; exit 143' INT TERM",
        pool = pool.name,
    );
    for (node, replica) in pool.servers.iter().zip(replicas) {
        let name = format!("mirror-{}", node.label());
        let _ = writeln!(
            out,
            "mammoth tap mirror --from {} --to {} --name {} & pids=\"$pids $!\"; echo $! > \"$here\"/{}",
            sh_word(&node.endpoint.to_string()),
            sh_word(&replica.endpoint.to_string()),
            sh_word(&name),
            sh_word(&pid_file_name(&name)),
        );
    }
    out.push_str("wait\n");
    out
}

/// The pid file of mirror `name` beside mirrors.sh: the name with anything
/// but letters, digits, `.`, `_` and `-` replaced by `_` (a node's name may
/// hold a `/`).
fn pid_file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    format!("{safe}.pid")
}

fn write_new(path: &Path, text: &str, force: bool) -> Result<()> {
    ensure!(force || !path.exists(), "{} exists (--force overwrites it)", path.display());
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn plan(args: &PlanArgs) -> Result<ExitCode> {
    let (pool, replicas) = build_plan(args)?;
    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let config_path = args.out.join(CONFIG_FILE);
    let mirrors_path = args.out.join(MIRRORS_FILE);
    // Refuse before writing anything.
    if !args.force {
        for p in [Some(&config_path), (!replicas.is_empty()).then_some(&mirrors_path)]
            .into_iter()
            .flatten()
        {
            ensure!(!p.exists(), "{} exists (--force overwrites it)", p.display());
        }
    }
    let header = "# nutcracker (twemproxy) pool for mammoth, written by `mammoth cluster plan`.\n\
                  # auto_eject_hosts is false: a durable store's keys must not move to\n\
                  # nodes that do not hold them. Placement: `mammoth cluster owner KEY -c THIS`.\n";
    write_new(&config_path, &format!("{header}{}", pool.to_yaml()), args.force)?;
    let shares = pool.ring()?.shares();
    let mut out = BufWriter::new(io::stdout().lock());
    writeln!(
        out,
        "wrote {}: pool {} on {}, ketama over {}, {} nodes",
        config_path.display(),
        pool.name,
        pool.listen,
        pool.hash,
        pool.servers.len()
    )?;
    for (i, (s, share)) in pool.servers.iter().zip(&shares).enumerate() {
        let replica =
            replicas.get(i).map(|r| format!("  replica {}", r.endpoint)).unwrap_or_default();
        writeln!(
            out,
            "  {:<8} {:<21} weight {:<3} {:>5.1} % of keys{replica}",
            s.name.as_deref().unwrap_or("-"),
            s.endpoint.to_string(),
            s.weight,
            share * 100.0,
        )?;
    }
    if !replicas.is_empty() {
        write_new(&mirrors_path, &mirrors_script(&pool, &replicas), args.force)?;
        make_executable(&mirrors_path)?;
        writeln!(out, "wrote {}: {} tap mirrors", mirrors_path.display(), replicas.len())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

fn owner(args: &OwnerArgs) -> Result<ExitCode> {
    use std::os::unix::ffi::OsStrExt as _;
    let text = fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config = Config::parse(&text).with_context(|| args.config.display().to_string())?;
    let pool = config.pool(args.pool.as_deref())?;
    let ring = pool.ring().with_context(|| format!("pool {}", pool.name))?;
    let mut out = BufWriter::new(io::stdout().lock());
    let mut print = |key: &[u8]| -> Result<()> {
        let s = &pool.servers[ring.owner(key)];
        out.write_all(key)?;
        writeln!(out, "\t{}\t{}", s.endpoint, s.name.as_deref().unwrap_or("-"))?;
        Ok(())
    };
    if args.keys.is_empty() {
        for line in io::stdin().lock().split(b'\n') {
            let mut key = line.context("reading keys from stdin")?;
            if key.last() == Some(&b'\r') {
                key.pop();
            }
            if key.is_empty() {
                continue;
            }
            print(&key)?;
        }
    } else {
        for key in &args.keys {
            if key.is_empty() {
                bail!("an empty key has no owner");
            }
            print(key.as_bytes())?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a config file and picks its pool.
fn read_pool(path: &Path, pool: Option<&str>) -> Result<(Config, usize)> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let config = Config::parse(&text).with_context(|| path.display().to_string())?;
    let name = config.pool(pool).with_context(|| path.display().to_string())?.name.clone();
    let index = config.pools.iter().position(|p| p.name == name).unwrap_or(0);
    Ok((config, index))
}

/// A node's address as the TAP crate dials it.
fn tap_endpoint(endpoint: &::cluster::Endpoint, label: &str) -> Result<tap::Endpoint> {
    match endpoint {
        ::cluster::Endpoint::Tcp { host, port } if host.contains(':') => {
            Ok(tap::Endpoint::new(format!("[{host}]:{port}")))
        }
        ::cluster::Endpoint::Tcp { host, port } => Ok(tap::Endpoint::new(format!("{host}:{port}"))),
        ::cluster::Endpoint::Unix { path } => {
            bail!("node {label} listens on the unix socket {path}: only TCP nodes can be reached")
        }
    }
}

fn rebalance(args: &RebalanceArgs) -> Result<ExitCode> {
    use tap::rebalance::{self as rb, Move, RebalanceOptions, Report};
    let (old, i) = read_pool(&args.from, args.pool.as_deref())?;
    let (new, j) = read_pool(&args.to, args.pool.as_deref())?;
    let plan = ::cluster::MovePlan::new(&old.pools[i], &new.pools[j])?;
    let nodes: Vec<rb::Node> = plan
        .nodes()
        .iter()
        .map(|n| {
            let label = n.label();
            Ok(rb::Node { endpoint: tap_endpoint(&n.endpoint, &label)?, label })
        })
        .collect::<Result<_>>()?;
    let sources: Vec<usize> = plan.old_nodes().collect();
    let route = |key: &[u8]| {
        let r = plan.route(key);
        Move { from: r.from, to: r.to }
    };
    let opts = RebalanceOptions {
        batch_keys: args.batch.max(1),
        retries: args.retries,
        dry_run: args.dry_run,
        ..RebalanceOptions::default()
    };
    let stop = crate::ui::stop_flag();
    let spinner = crate::ui::spinner("keys");
    let mut report = |r: Report<'_>| match r {
        Report::Scanning { node } => {
            spinner.set_position(0);
            spinner.set_message(format!("keys listed on {}", nodes[node].label));
        }
        Report::Listed { keys, .. } => spinner.set_position(keys),
        Report::Scanned { node, keys, moving } => {
            spinner.suspend(|| {
                eprintln!("mammoth: {}: {keys} keys, {moving} to move", nodes[node].label);
            });
            spinner.set_position(0);
            spinner.set_message(format!("keys moved from {}", nodes[node].label));
        }
        Report::Moved(s) => spinner.set_position(s.moved_out.iter().sum()),
    };
    let result = rb::rebalance(&nodes, &sources, &route, &opts, &stop, &mut report);
    spinner.finish_and_clear();
    let stats = match result {
        Ok(s) => s,
        Err(rb::RebalanceError::Stopped(s)) => {
            print_rebalance(&nodes, &s, args.dry_run)?;
            bail!("stopped: run the same command again to finish");
        }
        Err(e) => return Err(e.into()),
    };
    print_rebalance(&nodes, &stats, args.dry_run)?;
    Ok(if stats.left_count > 0 { crate::ui::NOT_FOUND } else { ExitCode::SUCCESS })
}

fn export(args: &ClusterExportArgs) -> Result<ExitCode> {
    use tap::export::{ExportJob, KeepKeys};
    let (config, i) = read_pool(&args.config, args.pool.as_deref())?;
    let pool = &config.pools[i];
    ensure!(
        !pool.servers.is_empty(),
        "{}: pool {} has no servers",
        args.config.display(),
        pool.name
    );
    if let Some(f) = &args.filter {
        ::filter::Filter::parse(f.as_bytes()).with_context(|| format!("--filter {f:?}"))?;
    }
    let ring = std::sync::Arc::new(pool.ring().with_context(|| {
        format!(
            "{}: pool {}: no key has one owner to export it from",
            args.config.display(),
            pool.name
        )
    })?);
    refuse_data_in(&args.out)?;
    let mut jobs = Vec::new();
    for (part, server) in pool.servers.iter().enumerate() {
        let label = server.label();
        let addr = tap_endpoint(&server.endpoint, &label)?.addr;
        let ring = ring.clone();
        let job = ExportJob {
            source: args.auth.endpoint(&addr)?,
            dir: args.out.clone(),
            options: args.file.options(args.format, &addr, u32::try_from(part)?)?,
            key_prefix: None,
            filter: args.filter.clone(),
            follow: None,
            keep: Some(KeepKeys(std::sync::Arc::new(move |key: &[u8]| ring.owner(key) == part))),
        };
        jobs.push((label, job));
    }
    let at_once = args.jobs.unwrap_or(match args.format {
        crate::tap::FormatArg::Seq => jobs.len(),
        crate::tap::FormatArg::Mapfile | crate::tap::FormatArg::Bloommap => 1,
    });
    let results = export_parts(&jobs, at_once.max(1));
    let mut out = BufWriter::new(io::stdout().lock());
    let (mut failed, mut total, mut skipped) = (0, 0, 0);
    for ((label, job), result) in jobs.iter().zip(results) {
        match result {
            Ok(s) => {
                total += s.snapshot_records;
                skipped += s.skipped;
                writeln!(
                    out,
                    "{label}\t{}\t{} records\t{} skipped (owned by another node)",
                    s.snapshot.display(),
                    s.snapshot_records,
                    s.skipped
                )?;
            }
            Err(e) => {
                failed += 1;
                eprintln!("mammoth: {label} ({}): {}", job.source.addr, crate::ui::chain(&e));
            }
        }
    }
    if failed > 0 {
        out.flush()?;
        bail!(
            "{failed} of {} nodes were not exported; {} is incomplete (no _SUCCESS)",
            jobs.len(),
            args.out.display()
        );
    }
    let marker = args.out.join("_SUCCESS");
    fs::write(&marker, b"").with_context(|| format!("writing {}", marker.display()))?;
    writeln!(out, "total\t{}\t{total} records\t{skipped} skipped", args.out.display())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses a directory holding data Spark would read with a new export:
/// anything but hidden (`.`) and `_` names, which Hadoop skips, and
/// lost+found.
fn refuse_data_in(dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    for e in entries {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with('.') || name.starts_with('_') || name == "lost+found") {
            bail!(
                "{} holds {name}: Spark would read what an earlier export left there as data; \
                 remove it or choose another directory",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Runs the export jobs, `at_once` at a time, with one spinner for all;
/// their results in order.
fn export_parts(
    jobs: &[(String, tap::export::ExportJob)],
    at_once: usize,
) -> Vec<tap::Result<tap::export::ExportSummary>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use tap::export::ExportReport;
    let stop = crate::ui::stop_flag();
    let spinner = crate::ui::spinner("items");
    let counts: Vec<AtomicU64> = jobs.iter().map(|_| AtomicU64::new(0)).collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<tap::Result<tap::export::ExportSummary>>>> =
        Mutex::new(jobs.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..at_once.min(jobs.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((label, job)) = jobs.get(i) else { break };
                    let r = tap::export::export(job, &stop, &mut |r| match r {
                        ExportReport::Progress(n) => {
                            counts[i].store(n, Ordering::Relaxed);
                            spinner.set_position(counts.iter().map(|c| c.load(Ordering::Relaxed)).sum());
                        }
                        ExportReport::Snapshot { path, records, elapsed } => spinner.suspend(|| {
                            eprintln!(
                                "mammoth: {label}: wrote {} ({records} records) in {elapsed:.1?}",
                                path.display()
                            );
                        }),
                        ExportReport::Reconnecting(_) => {}
                    });
                    results.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(r);
                }
            });
        }
    });
    spinner.finish_and_clear();
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(tap::Error::Invalid("not run".into()))))
        .collect()
}

#[allow(clippy::cast_precision_loss, reason = "a percentage for people to read")]
fn print_rebalance(
    nodes: &[tap::rebalance::Node],
    s: &tap::rebalance::RebalanceStats,
    dry_run: bool,
) -> Result<()> {
    let mut out = BufWriter::new(io::stdout().lock());
    let scanned = s.total_scanned();
    let pct = |n: u64| if scanned == 0 { 0.0 } else { n as f64 * 100.0 / scanned as f64 };
    if dry_run {
        writeln!(out, "plan: keys to move, per (old node, new node)")?;
        for (m, n) in &s.planned {
            writeln!(out, "  {} -> {}\t{n}", nodes[m.from].label, nodes[m.to].label)?;
        }
        writeln!(
            out,
            "dry run: scanned {scanned} keys, would move {} ({:.1} %); strays {}",
            s.total_planned(),
            pct(s.total_planned()),
            s.strays
        )?;
        return Ok(out.flush()?);
    }
    let per_node: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "{} {} scanned -{} +{}",
                n.label,
                s.scanned.get(i).copied().unwrap_or(0),
                s.moved_out.get(i).copied().unwrap_or(0),
                s.moved_in.get(i).copied().unwrap_or(0)
            )
        })
        .collect();
    writeln!(
        out,
        "rebalanced: scanned {scanned} keys, moved {} ({:.1} %) in {:.1} s; {}; vanished {}, strays {}, left {}",
        s.total_moved(),
        pct(s.total_moved()),
        s.elapsed.as_secs_f64(),
        per_node.join(", "),
        s.vanished,
        s.strays,
        s.left_count
    )?;
    for why in &s.left {
        writeln!(out, "  left at its old node: {why}")?;
    }
    Ok(out.flush()?)
}

/// Writes `text` to `path` atomically: a temporary file beside it, synced,
/// renamed over it, and the directory synced.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        if let Ok(meta) = fs::metadata(path) {
            f.set_permissions(fs::Permissions::from_mode(meta.permissions().mode()))?;
        }
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// A stat's value as a number.
fn stat_u64(stats: &[(String, String)], name: &str) -> Option<u64> {
    stats.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.parse().ok())
}

/// What the primary's stats say about the writes the replica may lack.
fn lost_window(primary: &tap::Endpoint, mirror: &str) -> Result<String, tap::Error> {
    let mut d = tap::Direct::connect(primary)?;
    d.set_reply_timeout(std::time::Duration::from_secs(5));
    let engine = d.stats(b"engine")?;
    let taps = d.stats(b"tap")?;
    let persisted = stat_u64(&engine, "persisted_seqno").unwrap_or(0);
    let high = stat_u64(&engine, "high_seqno").unwrap_or(persisted);
    Ok(match stat_u64(&taps, &format!("tap_cursor:{mirror}")) {
        Some(cursor) => format!(
            "lost window: {} changes (the primary made changes durable up to seqno {persisted}, \
             {high} written; mirror {mirror} confirmed applying up to {cursor}): writes the \
             primary acknowledged after that are not at the replica",
            persisted.saturating_sub(cursor)
        ),
        None => format!(
            "lost window: unknown: the primary answers but has no cursor for {mirror:?} \
             (is that the mirror's --name?); its durable seqno is {persisted}"
        ),
    })
}

fn failover(args: &FailoverArgs) -> Result<ExitCode> {
    let (mut config, p) = read_pool(&args.config, args.pool.as_deref())?;
    let pool = &config.pools[p];
    let index = ::cluster::failover::find_server(pool, &args.node).with_context(|| {
        format!("{}: no server named or listening at {:?}", args.config.display(), args.node)
    })?;
    let server = pool.servers[index].clone();
    let label = server.label();
    let primary_addr = server.endpoint.to_string();
    let script = match &args.mirrors {
        Some(path) => Some((
            path,
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        )),
        None => None,
    };
    let line =
        script.as_ref().and_then(|(_, s)| ::cluster::failover::find_mirror(s, &primary_addr));
    let replica = match (&args.replica, &line) {
        (Some(r), _) => r.clone(),
        (None, Some(l)) => l.to.clone(),
        (None, None) => match &args.mirrors {
            Some(path) => {
                bail!("{} has no mirror from {primary_addr}: give --replica", path.display())
            }
            None => bail!("give --replica HOST:PORT or --mirrors FILE to name {label}'s replica"),
        },
    };
    let replica_server = endpoint(&replica, "replica")?;
    let mirror = args
        .mirror_name
        .clone()
        .or_else(|| line.as_ref().and_then(|l| l.name.clone()))
        .unwrap_or_else(|| format!("mirror-{label}"));

    // The replica must answer: promoting a dead one helps nobody.
    let replica_ep = tap_endpoint(&replica_server.endpoint, "replica")?;
    let replica_items = tap::Direct::connect(&replica_ep)
        .and_then(|mut d| d.stats(b""))
        .map(|s| stat_u64(&s, "curr_items").unwrap_or(0))
        .with_context(|| format!("replica {replica} does not answer; not failing over to it"))?;
    let primary_ep = tap_endpoint(&server.endpoint, &label)?;
    let mut fast = primary_ep.clone();
    fast.connect_timeout = std::time::Duration::from_secs(2);
    let window = match lost_window(&fast, &mirror) {
        Ok(w) => w,
        Err(e) => format!(
            "lost window: unknown: the primary {primary_addr} does not answer ({}), so the writes \
             it acknowledged that mirror {mirror} had not applied cannot be counted; the replica \
             holds {replica_items} items",
            crate::ui::chain(&e)
        ),
    };

    let was =
        ::cluster::failover::promote(&mut config.pools[p], &args.node, replica_server.endpoint)?;
    let header = format!(
        "# nutcracker config for mammoth. `mammoth cluster failover` moved {label} from {} to {replica}.\n",
        was.endpoint
    );
    write_atomic(&args.config, &format!("{header}{}", config.to_yaml()))?;
    let mut out = BufWriter::new(io::stdout().lock());
    writeln!(
        out,
        "failover: {label} now at {replica} (was {primary_addr}) in {}; no key changes owner",
        args.config.display()
    )?;
    writeln!(out, "{window}")?;
    let mut mirror_left = false;
    if let (Some((path, text)), Some(l)) = (&script, &line) {
        let why = format!("{label} failed over to {replica}: this mirror is stopped for good");
        write_atomic(path, &::cluster::failover::disable_mirror(text, l.line, &why))?;
        writeln!(out, "mirror: line {} of {} commented out", l.line, path.display())?;
        let pid_file = path.with_file_name(pid_file_name(&mirror));
        match stop_mirror(&pid_file, &mirror, &primary_addr) {
            Ok(Some(pid)) => writeln!(out, "mirror: stopped {mirror} (pid {pid})")?,
            Ok(None) => writeln!(
                out,
                "mirror: no {mirror} runs here ({} names none); make sure its process is \
                 stopped wherever it runs, so that a restarted {primary_addr} cannot overwrite \
                 the new primary",
                pid_file.display()
            )?,
            Err(e) => {
                mirror_left = true;
                eprintln!(
                    "mammoth: mirror: could not stop {mirror} ({}); stop it yourself, so that a \
                     restarted {primary_addr} cannot overwrite the new primary",
                    crate::ui::chain(e.as_ref())
                );
            }
        }
    } else {
        writeln!(
            out,
            "mirror: stop the process running `mammoth tap mirror --from {primary_addr} --to {replica}`"
        )?;
    }
    out.flush()?;
    drop(out);
    reload(args)?;
    ensure!(!mirror_left, "failed over, but {mirror} may still run");
    Ok(ExitCode::SUCCESS)
}

/// Restarts nutcracker as asked, or says how.
fn reload(args: &FailoverArgs) -> Result<()> {
    if let Some(cmd) = &args.reload_cmd {
        let status = std::process::Command::new("sh")
            .args(["-c", cmd])
            .status()
            .with_context(|| format!("running {cmd:?}"))?;
        ensure!(
            status.success(),
            "{cmd:?} failed ({status}): nutcracker still runs the old config"
        );
        println!("reload: ran {cmd:?}");
        return Ok(());
    }
    let Some(pid) = args.reload_pid else {
        println!(
            "reload: nutcracker 0.5.0 cannot reload its config; restart it (stop the running \
             nutcracker, then start `nutcracker -c {}` with its other options again), or pass \
             --reload-pid PID or --reload-cmd CMD",
            args.config.display()
        );
        return Ok(());
    };
    restart_pid(pid)
}

/// Stops the `tap mirror --from FROM --name MIRROR` whose pid `mirrors.sh`
/// wrote into `pid_file` (SIGTERM; the mirror finishes the change in hand
/// and exits). `None` when the file is missing or its process is not that
/// mirror (it ended, and the pid may be another process's now).
fn stop_mirror(pid_file: &Path, mirror: &str, from: &str) -> Result<Option<u32>> {
    let Ok(text) = fs::read_to_string(pid_file) else { return Ok(None) };
    let pid: u32 = text
        .trim()
        .parse()
        .with_context(|| format!("{}: not a pid: {:?}", pid_file.display(), text.trim()))?;
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(cmdline) = fs::read(proc_dir.join("cmdline")) else { return Ok(None) };
    let argv: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    // `--flag value` or `--flag=value`.
    let has = |flag: &str, value: &str| {
        let joined = format!("{flag}={value}");
        argv.windows(2).any(|w| w == [flag.as_bytes(), value.as_bytes()])
            || argv.contains(&joined.as_bytes())
    };
    let is_it = argv.windows(2).any(|w| w == [b"tap".as_slice(), b"mirror"])
        && has("--name", mirror)
        && has("--from", from);
    if !is_it || !running(&proc_dir) {
        return Ok(None);
    }
    terminate(pid, "mirror")?;
    Ok(Some(pid))
}

/// SIGTERM to `pid` (a `what`), then waits up to 10 s until it is gone.
fn terminate(pid: u32, what: &str) -> Result<()> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .context("running kill")?;
    ensure!(status.success(), "kill -TERM {pid} failed");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running(&proc_dir) {
        ensure!(
            std::time::Instant::now() < deadline,
            "SIGTERM sent to {what} {pid}, which still runs 10 s later"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}

/// Whether the process of `/proc/PID` still runs (exists and is not a
/// zombie waiting for its parent).
fn running(proc_dir: &Path) -> bool {
    fs::read_to_string(proc_dir.join("stat")).is_ok_and(|stat| {
        stat.rfind(')').and_then(|at| stat[at + 1..].split_whitespace().next()) != Some("Z")
    })
}

/// SIGTERM to `pid` (a nutcracker), then its command line again, in its
/// working directory, detached.
fn restart_pid(pid: u32) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let cmdline = fs::read(proc_dir.join("cmdline"))
        .with_context(|| format!("no process {pid} (reading /proc/{pid}/cmdline)"))?;
    let argv: Vec<std::ffi::OsString> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(a).to_os_string())
        .collect();
    let program =
        argv.first().with_context(|| format!("process {pid} has an empty command line"))?;
    ensure!(
        Path::new(program).file_name().is_some_and(|n| n.to_string_lossy().contains("nutcracker")),
        "process {pid} is {}, not nutcracker",
        program.to_string_lossy()
    );
    let cwd = fs::read_link(proc_dir.join("cwd")).unwrap_or_else(|_| PathBuf::from("/"));
    terminate(pid, "nutcracker")?;
    let mut child = std::process::Command::new(program)
        .args(&argv[1..])
        .current_dir(cwd)
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {} again", program.to_string_lossy()))?;
    std::thread::sleep(std::time::Duration::from_millis(300));
    if let Some(status) = child.try_wait()? {
        // `-d` daemonizes: the first process exits 0.
        ensure!(status.success(), "nutcracker exited at once ({status}): check its config and log");
    }
    println!("reload: nutcracker {pid} stopped and started again (pid {})", child.id());
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: ClusterCommand,
    }

    fn plan_args(args: &[&str]) -> PlanArgs {
        let all = ["x", "plan", "--out", "/nonexistent"].iter().chain(args);
        match Cli::parse_from(all).cmd {
            ClusterCommand::Plan(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn plans_name_the_nodes_and_pair_the_replicas() {
        let a = plan_args(&[
            "--nodes",
            "127.0.0.1:11311,127.0.0.1:11312",
            "--replicas",
            "127.0.0.1:11411,127.0.0.1:11412",
            "--hash",
            "md5",
            "--hash-tag",
            "{}",
        ]);
        let (pool, replicas) = build_plan(&a).unwrap();
        assert_eq!(pool.servers[1].to_string(), "127.0.0.1:11312:1 node2");
        assert_eq!(pool.hash, KeyHash::Md5);
        assert_eq!(pool.auto_eject_hosts, Some(false));
        let script = mirrors_script(&pool, &replicas);
        assert!(
            script.contains(
                "mammoth tap mirror --from 127.0.0.1:11312 --to 127.0.0.1:11412 --name mirror-node2 & \
                 pids=\"$pids $!\"; echo $! > \"$here\"/mirror-node2.pid\n"
            ),
            "{script}"
        );
    }

    #[test]
    fn plans_refuse_inconsistent_lists() {
        let err = |args: &[&str]| build_plan(&plan_args(args)).unwrap_err().to_string();
        assert!(
            err(&["--nodes", "a:1,b:2", "--replicas", "c:3"])
                .contains("--replicas lists 1, --nodes 2")
        );
        assert!(err(&["--nodes", "a:1,a:1"]).contains("listed twice"));
        assert!(err(&["--nodes", "a:1,b:2", "--replicas", "c:3,a:1"]).contains("listed twice"));
        assert!(err(&["--nodes", "a:1,b:2", "--weights", "1"]).contains("--weights lists 1"));
        assert!(err(&["--nodes", "a:1,b:2", "--names", "x,x"]).contains("twice"));
        assert!(err(&["--nodes", "a"]).contains("HOST:PORT"));
        assert!(err(&["--nodes", "a:1", "--hash-tag", "{"]).contains("two bytes"));
        assert!(err(&["--nodes", "a:1", "--hash", "crc32"]).contains("one ketama node"));
    }

    #[test]
    fn unnamed_plans_hash_addresses() {
        let (pool, _) = build_plan(&plan_args(&["--nodes", "a:1,b:11211", "--no-names"])).unwrap();
        assert_eq!(pool.servers[1].identity(), "b");
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(sh_word("127.0.0.1:11211"), "127.0.0.1:11211");
        assert_eq!(sh_word("a b"), "'a b'");
        assert_eq!(sh_word("it's"), r"'it'\''s'");
    }
}
