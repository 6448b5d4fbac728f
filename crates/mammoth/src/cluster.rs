//! `mammoth cluster …`: several servers behind nutcracker (crate `cluster`).
//!
//! `plan` writes the proxy's config and the TAP mirror commands for the
//! replicas; `owner` says which node holds a key, computed as nutcracker
//! computes it. mammoth does not route requests itself: nutcracker does.

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

fn parse_hash(s: &str) -> Result<KeyHash, String> {
    s.parse().map_err(|e: UnknownName| e.to_string())
}

pub(crate) fn run(cmd: ClusterCommand) -> Result<ExitCode> {
    match cmd {
        ClusterCommand::Plan(a) => plan(&a),
        ClusterCommand::Owner(a) => owner(&a),
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
         # (and only them).\n\
         set -u\n\
         pids=\n\
         trap 'kill $pids 2>/dev/null; wait; exit 143' INT TERM",
        pool = pool.name,
    );
    for (node, replica) in pool.servers.iter().zip(replicas) {
        let _ = writeln!(
            out,
            "mammoth tap mirror --from {} --to {} --name {} & pids=\"$pids $!\"",
            sh_word(&node.endpoint.to_string()),
            sh_word(&replica.endpoint.to_string()),
            sh_word(&format!("mirror-{}", node.label())),
        );
    }
    out.push_str("wait\n");
    out
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
            ClusterCommand::Owner(_) => unreachable!(),
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
                 pids=\"$pids $!\"\n"
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
