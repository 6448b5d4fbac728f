//! Three `mammoth serve` nodes behind a real nutcracker (Debian's 0.5.0),
//! configured by `mammoth cluster plan`: every key written through the
//! proxy (text protocol, pipelined `set`s) must sit on exactly the node
//! `cluster::Ring::owner` names, with its value, and on no other node, read
//! back from each node directly. 100,000 keys for `fnv1a_64` and `md5`,
//! 10,000 for each of the other ten hashes (unequal weights) and for the
//! modula distribution.
//!
//! nutcracker comes from the Debian package `interop/nutcracker/install-deps.sh`
//! installs (scripts/test runs it); when it is missing these tests fail and
//! say so, as the memcached peer tests do.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ::cluster::{Config, Distribution, KeyHash, Pool};

use crate::serve_support::{self, Served};

/// The nutcracker binary: on PATH, or where Debian puts it.
fn nutcracker() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("nutcracker"));
    on_path
        .chain([PathBuf::from("/usr/sbin/nutcracker")])
        .find(|p| p.is_file())
        .expect("nutcracker not found (run interop/nutcracker/install-deps.sh)")
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running nutcracker, killed when dropped.
struct Proxy {
    child: Child,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts nutcracker on `config` (whose pool listens on `port`), its stats
/// on another free port, and waits until it accepts connections.
fn start_proxy(config: &Path, port: u16, dir: &Path) -> Proxy {
    let bin = nutcracker();
    let check = Command::new(&bin).arg("-t").arg("-c").arg(config).output().unwrap();
    assert!(check.status.success(), "nutcracker -t refused the config:\n{check:?}");
    let child = Command::new(&bin)
        .arg("-c")
        .arg(config)
        .args(["-a", "127.0.0.1", "-s", &free_port().to_string(), "-v", "4"])
        .arg("-o")
        .arg(dir.join("nutcracker.log"))
        .arg("-p")
        .arg(dir.join("nutcracker.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut proxy = Proxy { child };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = proxy.child.try_wait().unwrap() {
            let log = std::fs::read_to_string(dir.join("nutcracker.log")).unwrap_or_default();
            panic!("nutcracker exited ({status}):\n{log}");
        }
        assert!(Instant::now() < deadline, "nutcracker did not listen on {port} in 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    proxy
}

/// A text-protocol connection.
struct Text {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Text {
    fn connect(port: u16) -> Text {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.set_nodelay(true).unwrap();
        Text { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream }
    }

    fn line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).unwrap();
        assert!(line.ends_with(b"\r\n"), "cut reply: {:?}", String::from_utf8_lossy(&line));
        line.truncate(line.len() - 2);
        line
    }

    /// Pipelines `set` for each (key, value) and expects STORED for each.
    fn set_all(&mut self, items: &[(Vec<u8>, Vec<u8>)]) {
        let mut out = Vec::new();
        for (key, value) in items {
            out.extend_from_slice(b"set ");
            out.extend_from_slice(key);
            out.extend_from_slice(format!(" 0 0 {}\r\n", value.len()).as_bytes());
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out).unwrap();
        for (key, _) in items {
            let reply = self.line();
            assert_eq!(
                reply,
                b"STORED",
                "set {}: {}",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(&reply)
            );
        }
    }

    /// One multi-get: the keys found, with their values.
    fn get_many(&mut self, keys: &[&[u8]]) -> HashMap<Vec<u8>, Vec<u8>> {
        let mut out = b"get".to_vec();
        for key in keys {
            out.push(b' ');
            out.extend_from_slice(key);
        }
        out.extend_from_slice(b"\r\n");
        self.writer.write_all(&out).unwrap();
        let mut found = HashMap::new();
        loop {
            let line = self.line();
            if line == b"END" {
                return found;
            }
            let header = line
                .strip_prefix(b"VALUE ")
                .unwrap_or_else(|| panic!("unexpected reply {:?}", String::from_utf8_lossy(&line)));
            let mut fields = header.split(|&b| b == b' ');
            let key = fields.next().unwrap().to_vec();
            let _flags = fields.next().unwrap();
            let len: usize = std::str::from_utf8(fields.next().unwrap()).unwrap().parse().unwrap();
            let mut value = vec![0; len + 2];
            self.reader.read_exact(&mut value).unwrap();
            value.truncate(len);
            found.insert(key, value);
        }
    }

    fn flush_all(&mut self) {
        self.writer.write_all(b"flush_all\r\n").unwrap();
        assert_eq!(self.line(), b"OK");
    }
}

/// Keys of every shape placement cares about: short and long (past
/// Jenkins' and murmur's block sizes), UTF-8 (bytes ≥ 0x80, where
/// nutcracker's signed `char` reads matter) and hash-tagged.
fn keys(count: usize, round: &str) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let key = match i % 10 {
                3 => format!("clé-été:{round}:{i}"),
                5 => format!("user{{{}}}:{round}:{i}", i % 97),
                7 => format!("{round}:{i}:{}", "long".repeat(40)),
                8 => format!("{i}"),
                _ => format!("key:{round}:{i}"),
            };
            key.into_bytes()
        })
        .collect()
}

fn value_of(key: &[u8]) -> Vec<u8> {
    let mut v = b"v=".to_vec();
    v.extend_from_slice(key);
    v
}

/// Runs `mammoth cluster plan` for the nodes with `extra` arguments; returns
/// the config's path and the proxy's port.
fn plan(nodes: &[Served], dir: &Path, extra: &[&str]) -> (PathBuf, u16) {
    let port = free_port();
    let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["cluster", "plan", "--nodes", &addrs.join(",")])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--out"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "cluster plan failed: {out:?}");
    (dir.join("nutcracker.yml"), port)
}

/// Writes `count` keys through nutcracker on `config`, then reads every
/// node directly: each key must be on the node the pool's ring names, with
/// its value, and on no other node. Returns the keys per node.
fn check_round(
    nodes: &[Served],
    config: &Path,
    port: u16,
    count: usize,
    round: &str,
) -> Vec<usize> {
    for node in nodes {
        Text::connect(node.port).flush_all();
    }
    let dir = config.parent().unwrap();
    let pool = Config::parse(&std::fs::read_to_string(config).unwrap()).unwrap().pools.remove(0);
    let ring = pool.ring().unwrap();
    let node_of = node_order(&pool, nodes);

    let keys = keys(count, round);
    {
        let _proxy = start_proxy(config, port, dir);
        let mut client = Text::connect(port);
        let items: Vec<(Vec<u8>, Vec<u8>)> =
            keys.iter().map(|k| (k.clone(), value_of(k))).collect();
        for batch in items.chunks(500) {
            client.set_all(batch);
        }
    }

    let mut found_on: HashMap<&[u8], Vec<usize>> = HashMap::new();
    let mut per_node = vec![0; nodes.len()];
    for (n, node) in nodes.iter().enumerate() {
        let mut client = Text::connect(node.port);
        for batch in keys.chunks(100) {
            let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            for (key, value) in client.get_many(&refs) {
                assert_eq!(value, value_of(&key), "{round}: wrong value");
                let key = batch.iter().find(|k| **k == key).unwrap().as_slice();
                found_on.entry(key).or_default().push(n);
                per_node[n] += 1;
            }
        }
    }
    let mut wrong = Vec::new();
    for key in &keys {
        let expected = node_of[ring.owner(key)];
        let got = found_on.get(key.as_slice()).cloned().unwrap_or_default();
        if got != [expected] {
            wrong.push(format!(
                "{} on {got:?}, expected [{expected}]",
                String::from_utf8_lossy(key)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{round}: {} of {count} keys misplaced, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    eprintln!("{round}: {count} keys, all on the predicted node; per node {per_node:?}");
    per_node
}

/// For each server of `pool`, in order, the index in `nodes` of the node
/// listening at its address.
fn node_order(pool: &Pool, nodes: &[Served]) -> Vec<usize> {
    pool.servers
        .iter()
        .map(|s| {
            let addr = s.endpoint.to_string();
            nodes.iter().position(|n| addr == format!("127.0.0.1:{}", n.port)).unwrap()
        })
        .collect()
}

/// `interop/nutcracker/clients.py`: pylibmc and pymemcache (text mode)
/// write `count` keys through nutcracker on `config` and read them back
/// through it; then each key must be on exactly the node the ring names,
/// read directly.
fn clients_through_proxy(nodes: &[Served], config: &Path, port: u16, count: usize) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/nutcracker/clients.py");
    let pool = Config::parse(&std::fs::read_to_string(config).unwrap()).unwrap().pools.remove(0);
    let ring = pool.ring().unwrap();
    let _proxy = start_proxy(config, port, config.parent().unwrap());
    let out = Command::new("/usr/bin/python3")
        .arg(&script)
        .args(["127.0.0.1", &port.to_string(), &count.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} failed (needs Debian's python3-pylibmc and python3-pymemcache, which \
         interop/memcached/install-deps.sh installs): {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: Vec<Vec<u8>> =
        out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    assert_eq!(keys.len(), count);
    let node_of = node_order(&pool, nodes);
    let found_on = where_are(&nodes.iter().collect::<Vec<_>>(), &keys);
    let wrong: Vec<String> = keys
        .iter()
        .filter(|k| found_on.get(*k).map(Vec::as_slice) != Some(&[node_of[ring.owner(k)]][..]))
        .map(|k| format!("{} on {:?}", String::from_utf8_lossy(k), found_on.get(k)))
        .take(5)
        .collect();
    assert!(wrong.is_empty(), "keys real clients wrote are misplaced: {wrong:?}");
    eprintln!("pylibmc and pymemcache: {count} keys through the proxy, all on the predicted node");
}

/// `mirrors.sh` running in a process group of its own; stopped with
/// SIGTERM (the script's trap passes it to every mirror) when dropped.
struct Mirrors(Child);

impl Mirrors {
    fn start(script: &Path) -> Mirrors {
        use std::os::unix::process::CommandExt as _;
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_mammoth")).parent().unwrap();
        let path = std::env::join_paths(
            std::iter::once(bin_dir.to_path_buf())
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .unwrap();
        let child = Command::new("sh")
            .arg(script)
            .env("PATH", path)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Mirrors(child)
    }
}

impl Drop for Mirrors {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.0.wait();
    }
}

/// Waits (up to 60 s) until the server on `port` holds `count` items.
fn wait_for_items(port: u16, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut client = Text::connect(port);
    loop {
        client.writer.write_all(b"stats\r\n").unwrap();
        let mut items = None;
        loop {
            let line = client.line();
            if line == b"END" {
                break;
            }
            if let Some(n) = line.strip_prefix(b"STAT curr_items ") {
                items = std::str::from_utf8(n).ok().and_then(|n| n.parse::<usize>().ok());
            }
        }
        if items == Some(count) {
            return;
        }
        assert!(Instant::now() < deadline, "replica on {port} holds {items:?} items, not {count}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn three_nodes(dir: &Path) -> Vec<Served> {
    (0..3)
        .map(|i| {
            let data = dir.join(format!("node{i}"));
            std::fs::create_dir_all(&data).unwrap();
            serve_support::start(&data, &[])
        })
        .collect()
}

/// The two hashes the issue names, 100,000 keys each: `fnv1a_64`
/// (nutcracker's default) over named nodes, `md5` over unnamed ones (the
/// address is the ketama identity) with a hash tag. Also runs the plan's
/// `mirrors.sh` until each replica holds its node's keys, checks that the
/// check tells placements apart, and `mammoth cluster owner` against the
/// library.
#[test]
fn keys_land_where_ketama_says_fnv1a_64_and_md5() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = three_nodes(dir.path());

    let replicas = three_nodes(&dir.path().join("replicas"));
    let replica_addrs: Vec<String> =
        replicas.iter().map(|r| format!("127.0.0.1:{}", r.port)).collect();

    let fnv_dir = dir.path().join("fnv");
    let (config, port) =
        plan(&nodes, &fnv_dir, &["--hash", "fnv1a_64", "--replicas", &replica_addrs.join(",")]);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("auto_eject_hosts: false"), "{text}");
    assert!(text.contains("distribution: ketama"), "{text}");
    let mirrors = Mirrors::start(&fnv_dir.join("mirrors.sh"));
    let per_node = check_round(&nodes, &config, port, 100_000, "fnv1a_64");
    assert!(per_node.iter().all(|&n| n > 25_000), "uneven split {per_node:?}");
    // The mirrors the plan wrote copy each node to its replica: once each
    // replica holds as many items as its node, every key is on the same
    // node index in both, with the same value (`where_are` checks values).
    for (replica, &count) in replicas.iter().zip(&per_node) {
        wait_for_items(replica.port, count);
    }
    drop(mirrors);
    let written = keys(100_000, "fnv1a_64");
    let on_primaries = where_are(&nodes.iter().collect::<Vec<_>>(), &written);
    let on_replicas = where_are(&replicas.iter().collect::<Vec<_>>(), &written);
    assert_eq!(on_primaries.len(), written.len());
    assert!(on_replicas == on_primaries, "a replica differs from its primary");

    // Real clients through the proxy land where the ring says too.
    clients_through_proxy(&nodes, &config, port, 20_000);

    // The check tells placements apart: the same nodes unnamed (ketama
    // then hashes addresses) would put most keys elsewhere.
    let named = Config::parse(&text).unwrap().pools.remove(0);
    let mut unnamed = named.clone();
    for s in &mut unnamed.servers {
        s.name = None;
    }
    let (a, b) = (named.ring().unwrap(), unnamed.ring().unwrap());
    let keys = keys(10_000, "fnv1a_64");
    let differ = keys.iter().filter(|k| a.owner(k) != b.owner(k)).count();
    assert!(differ > 3_000, "only {differ} of 10,000 keys move when names are dropped");

    // `cluster owner` prints what the library computes.
    let keys = &keys[..200];
    let input: Vec<u8> = keys.iter().flat_map(|k| [k.as_slice(), b"\n"].concat()).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["cluster", "owner", "--config"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let printed: Vec<&[u8]> = out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(printed.len(), keys.len());
    for (key, line) in keys.iter().zip(printed) {
        let s = &named.servers[a.owner(key)];
        let want =
            [key.as_slice(), format!("\t{}\t{}", s.endpoint, s.name.as_ref().unwrap()).as_bytes()]
                .concat();
        assert_eq!(line, want.as_slice());
    }

    let md5_dir = dir.path().join("md5");
    let (config, port) =
        plan(&nodes, &md5_dir, &["--hash", "md5", "--no-names", "--hash-tag", "{}"]);
    let per_node = check_round(&nodes, &config, port, 100_000, "md5");
    assert!(per_node.iter().all(|&n| n > 25_000), "uneven split {per_node:?}");
}

/// Every other hash nutcracker offers, with unequal weights (nutcracker
/// scales points in single precision), plus the modula distribution.
#[test]
fn keys_land_where_the_ring_says_for_every_hash_weights_and_modula() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = three_nodes(dir.path());
    let others = [
        "one_at_a_time",
        "crc16",
        "crc32a",
        "fnv1_64",
        "fnv1_32",
        "fnv1a_32",
        "hsieh",
        "murmur",
        "jenkins",
    ];
    for (i, hash) in others.iter().enumerate() {
        let round_dir = dir.path().join(hash);
        let weights = ["1,2,3", "5,3,1", "1,1,1", "7,2,4"][i % 4];
        let (config, port) = plan(&nodes, &round_dir, &["--hash", hash, "--weights", weights]);
        check_round(&nodes, &config, port, 10_000, hash);
    }

    // crc32 (15 bits) under ketama: `plan` refuses it, since every key
    // lands on the node owning the circle's first point; nutcracker does
    // exactly that, and so does the ring.
    let round_dir = dir.path().join("crc32");
    let (config, port) = plan(&nodes, &round_dir, &["--hash", "crc32a"]);
    let mut parsed = Config::parse(&std::fs::read_to_string(&config).unwrap()).unwrap();
    parsed.pools[0].hash = KeyHash::Crc32;
    std::fs::write(&config, parsed.to_yaml()).unwrap();
    let per_node = check_round(&nodes, &config, port, 10_000, "crc32");
    assert_eq!(per_node.iter().filter(|&&n| n > 0).count(), 1, "{per_node:?}");

    // Modula: the same plan with the distribution changed, written back
    // through the library.
    let round_dir = dir.path().join("modula");
    let (config, port) = plan(&nodes, &round_dir, &["--hash", "crc32a", "--weights", "2,1,3"]);
    let mut parsed = Config::parse(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let pool: &mut Pool = &mut parsed.pools[0];
    pool.distribution = Distribution::Modula;
    std::fs::write(&config, parsed.to_yaml()).unwrap();
    check_round(&nodes, &config, port, 10_000, "modula");
}

/// Runs `mammoth cluster ARGS…`; returns its stdout, failing with both
/// outputs when it fails.
fn mammoth_cluster(args: &[&std::ffi::OsStr]) -> String {
    let all: Vec<&std::ffi::OsStr> =
        std::iter::once("cluster".as_ref()).chain(args.iter().copied()).collect();
    String::from_utf8_lossy(&crate::tap_e2e::mammoth(&all).stdout).into_owned()
}

/// The number after `word ` in `text`.
fn number_after(text: &str, word: &str) -> u64 {
    let at = text.find(word).unwrap_or_else(|| panic!("no {word:?} in {text}")) + word.len();
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .unwrap()
        .parse()
        .unwrap()
}

/// Reads `keys` from each node directly: the nodes (indexes) holding each.
fn where_are(nodes: &[&Served], keys: &[Vec<u8>]) -> HashMap<Vec<u8>, Vec<usize>> {
    let mut found_on: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
    for (n, node) in nodes.iter().enumerate() {
        let mut client = Text::connect(node.port);
        for batch in keys.chunks(100) {
            let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            for (key, value) in client.get_many(&refs) {
                assert_eq!(value, value_of(&key), "wrong value on node {n}");
                found_on.entry(key).or_default().push(n);
            }
        }
    }
    found_on
}

/// Three nodes hold 100,000 keys written through nutcracker; a fourth node
/// joins (`plan` again with four nodes) and `rebalance` moves the keys
/// whose owner changes. Through nutcracker on the new config every key is
/// found; each is on exactly its new owner; 25 % ± 3 moved; a second run
/// moves nothing. Then `cluster export` writes the four nodes into one
/// directory, and Spark, pointed at it, reads exactly the records the
/// proxy returned.
#[test]
fn rebalance_onto_a_fourth_node() {
    const COUNT: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = three_nodes(dir.path());
    let data = dir.path().join("node3");
    std::fs::create_dir_all(&data).unwrap();
    let fourth = serve_support::start(&data, &[]);

    let old_dir = dir.path().join("old");
    let (old_config, old_port) = plan(&nodes, &old_dir, &[]);
    let keys = keys(COUNT, "rebalance");
    {
        let _proxy = start_proxy(&old_config, old_port, &old_dir);
        let mut client = Text::connect(old_port);
        let items: Vec<(Vec<u8>, Vec<u8>)> =
            keys.iter().map(|k| (k.clone(), value_of(k))).collect();
        for batch in items.chunks(500) {
            client.set_all(batch);
        }
    }
    nodes.push(fourth);
    let new_dir = dir.path().join("new");
    let (new_config, new_port) = plan(&nodes, &new_dir, &[]);

    let dry = mammoth_cluster(&[
        "rebalance".as_ref(),
        "--dry-run".as_ref(),
        "--from".as_ref(),
        old_config.as_os_str(),
        "--to".as_ref(),
        new_config.as_os_str(),
    ]);
    eprintln!("{dry}");
    let planned = number_after(&dry, "would move");
    let started = Instant::now();
    let run = || {
        mammoth_cluster(&[
            "rebalance".as_ref(),
            "--from".as_ref(),
            old_config.as_os_str(),
            "--to".as_ref(),
            new_config.as_os_str(),
        ])
    };
    let first = run();
    eprintln!("{first}(took {:?})", started.elapsed());
    assert_eq!(number_after(&first, "scanned"), COUNT as u64, "{first}");
    let moved = number_after(&first, "moved");
    assert_eq!(moved, planned, "the dry run's plan and the move differ");
    #[allow(clippy::cast_precision_loss)]
    let fraction = moved as f64 / COUNT as f64;
    assert!((0.22..=0.28).contains(&fraction), "moved {moved} of {COUNT}: {fraction:.3}");

    // Each key on exactly the node the new ring names.
    let pool =
        Config::parse(&std::fs::read_to_string(&new_config).unwrap()).unwrap().pools.remove(0);
    let ring = pool.ring().unwrap();
    let node_refs: Vec<&Served> = nodes.iter().collect();
    let found_on = where_are(&node_refs, &keys);
    let misplaced: Vec<String> = keys
        .iter()
        .filter(|k| found_on.get(*k).map(Vec::as_slice) != Some(&[ring.owner(k)][..]))
        .map(|k| format!("{} on {:?}", String::from_utf8_lossy(k), found_on.get(k)))
        .take(5)
        .collect();
    assert!(misplaced.is_empty(), "keys not on exactly their new owner: {misplaced:?}");

    // Through nutcracker on the new config: no misses.
    let mut read_back = Digest::default();
    {
        let _proxy = start_proxy(&new_config, new_port, &new_dir);
        let mut client = Text::connect(new_port);
        let mut misses = 0;
        for batch in keys.chunks(100) {
            let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            let got = client.get_many(&refs);
            misses += batch.len() - got.len();
            for (k, v) in got {
                assert_eq!(v, value_of(&k));
                read_back.add(&k, &v);
            }
        }
        assert_eq!(misses, 0, "misses through the proxy after the rebalance");
    }
    assert_eq!(read_back.records, COUNT as u64);
    // Rerunning moves nothing.
    let second = run();
    eprintln!("{second}");
    assert_eq!(number_after(&second, "moved"), 0, "{second}");

    // A key left on a node that does not own it (as a write between a
    // rebalance and the proxy's restart leaves one) is not exported.
    let stale = b"stale-after-rebalance".to_vec();
    let not_owner = (ring.owner(&stale) + 1) % nodes.len();
    Text::connect(nodes[not_owner].port).set_all(&[(stale.clone(), value_of(&stale))]);
    export_for_spark(&new_config, &dir.path().join("export"), &read_back, 1);
    eprintln!(
        "rebalance: {COUNT} keys, {moved} moved ({:.1} %), 0 misses through the proxy, rerun moved 0",
        fraction * 100.0
    );
}

/// What `interop/hadoop/spark_digest.py` prints for a set of records:
/// their count, key and value bytes, and the sum (mod 2^64) of
/// crc32(key length, key, value) * 2^32 + crc32(value): the same whatever
/// their order, and changed by a value moved to another key.
#[derive(Debug, Default, PartialEq, Eq)]
struct Digest {
    records: u64,
    key_bytes: u64,
    value_bytes: u64,
    crc_sum: u64,
}

impl Digest {
    fn add(&mut self, key: &[u8], value: &[u8]) {
        self.records += 1;
        self.key_bytes += key.len() as u64;
        self.value_bytes += value.len() as u64;
        let mut pair = crc32fast::Hasher::new();
        pair.update(&u32::try_from(key.len()).unwrap().to_be_bytes());
        pair.update(key);
        pair.update(value);
        let crc = (u64::from(pair.finalize()) << 32) + u64::from(crc32fast::hash(value));
        self.crc_sum = self.crc_sum.wrapping_add(crc);
    }

    /// The digest's JSON line, as Spark prints it.
    fn parse(line: &str) -> Digest {
        let field = |name: &str| -> u64 {
            let at =
                line.find(&format!("\"{name}\": ")).unwrap_or_else(|| panic!("{name} in {line}"));
            let rest = &line[at + name.len() + 4..];
            rest[..rest.find([',', '}']).unwrap()].trim().parse().unwrap()
        };
        Digest {
            records: field("records"),
            key_bytes: field("key_bytes"),
            value_bytes: field("value_bytes"),
            crc_sum: field("crc_sum"),
        }
    }
}

/// `cluster export` of every node in `config` into `out`: one MapFile part
/// per node, the records summing to `want`, `skipped` keys left out for
/// being on a node that does not own them; then, when the Hadoop peer is
/// installed, Spark pointed at `out` must read exactly `want`.
fn export_for_spark(config: &Path, out: &Path, want: &Digest, skipped: u64) {
    let nodes =
        Config::parse(&std::fs::read_to_string(config).unwrap()).unwrap().pools[0].servers.len();
    let started = Instant::now();
    let printed = mammoth_cluster(&[
        "export".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--layout".as_ref(),
        "raw".as_ref(),
    ]);
    eprintln!("{printed}(cluster export took {:?})", started.elapsed());
    let total = printed
        .lines()
        .find_map(|l| l.strip_prefix("total\t"))
        .unwrap_or_else(|| panic!("{printed}"));
    assert_eq!(
        total,
        format!("{}\t{} records\t{skipped} skipped", out.display(), want.records),
        "{printed}"
    );
    let mut parts: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    parts.sort();
    let mut expected: Vec<String> = (0..nodes).map(|i| format!("part-{i:05}")).collect();
    expected.push("_SUCCESS".into());
    expected.sort();
    assert_eq!(parts, expected);
    parts.retain(|p| p.starts_with("part-"));
    // Our own reading of the parts first: the same records.
    let mut ours = Digest::default();
    for part in &parts {
        let mut r = seqfile::Reader::open(out.join(part).join("data")).unwrap();
        while let Some(rec) = r.next_record().unwrap() {
            ours.add(&rec.key[4..], &rec.value[4..]);
        }
    }
    assert_eq!(&ours, want, "the parts hold other records than the proxy returned");
    // A second export into the same directory is refused (a stale part
    // would be read as data).
    let again = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["cluster", "export", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("holds part-"), "{again:?}");

    let Some(peer) = crate::tap_e2e::hadoop_peer() else { return };
    let spark = peer.with_file_name("spark.sh");
    let started = Instant::now();
    let run = Command::new("bash").arg(&spark).arg(out).arg("raw").output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{} failed:\n{stdout}\n{}",
        spark.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    let line = stdout.lines().rfind(|l| l.starts_with('{')).unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(&Digest::parse(line), want, "Spark read other records than the proxy returned");
    eprintln!("Spark read {} records from {nodes} parts in {:?}", want.records, started.elapsed());
}

/// `failover` of node2 on a copy of `config` while node2 runs: the lost
/// window is counted from its mirror's cursor, and `--reload-cmd` runs.
fn live_primary_window(dir: &Path, config: &Path, replica: &str) {
    let copy = dir.join("copy.yml");
    std::fs::copy(config, &copy).unwrap();
    let marker = dir.join("reloaded");
    let reload = format!("echo reloaded > '{}'", marker.display());
    let live = mammoth_cluster(&[
        "failover".as_ref(),
        "node2".as_ref(),
        "--config".as_ref(),
        copy.as_os_str(),
        "--replica".as_ref(),
        replica.as_ref(),
        "--reload-cmd".as_ref(),
        reload.as_ref(),
    ]);
    eprintln!("{live}");
    assert!(live.contains("lost window: ") && live.contains(" changes ("), "{live}");
    assert!(live.contains("reload: ran"), "{live}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "reloaded\n");
}

/// Reads `keys` through the proxy on `port`: the ones missing (values
/// checked).
fn misses_through(port: u16, keys: &[&Vec<u8>]) -> Vec<String> {
    let mut client = Text::connect(port);
    let mut missing = Vec::new();
    for batch in keys.chunks(100) {
        let refs: Vec<&[u8]> = batch.iter().map(|k| k.as_slice()).collect();
        let got = client.get_many(&refs);
        for k in batch {
            match got.get(*k) {
                Some(v) => assert_eq!(v, &value_of(k)),
                None => missing.push(String::from_utf8_lossy(k).into_owned()),
            }
        }
    }
    missing
}

/// A nutcracker `failover --reload-pid` started (by pid), stopped when
/// dropped.
struct Restarted(String);

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0]).status();
    }
}

/// Answers to pipelined `set`s through the proxy while a node dies: the
/// keys the proxy said STORED.
fn write_tolerating_errors(
    port: u16,
    keys: &[Vec<u8>],
    acked: &std::sync::atomic::AtomicUsize,
) -> Vec<Vec<u8>> {
    use std::sync::atomic::Ordering;
    let mut stored = Vec::new();
    let mut client = Text::connect(port);
    for batch in keys.chunks(100) {
        let mut out = Vec::new();
        for key in batch {
            let value = value_of(key);
            out.extend_from_slice(b"set ");
            out.extend_from_slice(key);
            out.extend_from_slice(format!(" 0 0 {}\r\n", value.len()).as_bytes());
            out.extend_from_slice(&value);
            out.extend_from_slice(b"\r\n");
        }
        if client.writer.write_all(&out).is_err() {
            client = Text::connect(port);
            continue;
        }
        for key in batch {
            let mut line = Vec::new();
            match client.reader.read_until(b'\n', &mut line) {
                Ok(n) if n > 0 => {}
                _ => {
                    client = Text::connect(port);
                    break;
                }
            }
            if line == b"STORED\r\n" {
                stored.push(key.clone());
                acked.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    stored
}

/// Three primaries with their replicas and mirrors behind nutcracker; a
/// primary is killed (SIGKILL) while keys are written through the proxy;
/// `failover` points its name at its replica; after nutcracker restarts on
/// the rewritten config, every write the replica holds reads through the
/// proxy, and the others' writes too. The lost window is reported (unknown
/// for the dead primary; counted for a live one).
#[test]
fn failover_to_the_replica_after_kill_9() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const COUNT: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = three_nodes(dir.path());
    let replicas = three_nodes(&dir.path().join("replicas"));
    let replica_addrs: Vec<String> =
        replicas.iter().map(|r| format!("127.0.0.1:{}", r.port)).collect();
    let fo_dir = dir.path().join("failover");
    let (config, port) = plan(&nodes, &fo_dir, &["--replicas", &replica_addrs.join(",")]);
    let mirrors_sh = fo_dir.join("mirrors.sh");
    let mirrors = Mirrors::start(&mirrors_sh);
    let pool = Config::parse(&std::fs::read_to_string(&config).unwrap()).unwrap().pools.remove(0);
    let ring = pool.ring().unwrap();

    let keys = keys(COUNT, "failover");
    let mut proxy = start_proxy(&config, port, &fo_dir);
    let acked = AtomicUsize::new(0);
    let stored = std::thread::scope(|s| {
        let writer = s.spawn(|| write_tolerating_errors(port, &keys, &acked));
        while acked.load(Ordering::Relaxed) < COUNT / 3 && !writer.is_finished() {
            std::thread::sleep(Duration::from_millis(2));
        }
        nodes[0].child.kill().unwrap();
        nodes[0].child.wait().unwrap();
        writer.join().unwrap()
    });
    let on_dead: Vec<Vec<u8>> = stored.iter().filter(|k| ring.owner(k) == 0).cloned().collect();
    assert!(on_dead.len() > 1000, "only {} writes to node1 were acknowledged", on_dead.len());

    live_primary_window(&fo_dir, &config, &replica_addrs[1]);

    // What the replica of the dead node holds: everything it acknowledged
    // applying, since the mirror acks only after the replica's NOOP. Give
    // the mirror a moment to apply what it had already received.
    std::thread::sleep(Duration::from_millis(500));
    let at_replica = where_are(&[&replicas[0]], &on_dead);
    let held: Vec<&Vec<u8>> = on_dead.iter().filter(|k| at_replica.contains_key(*k)).collect();
    // The mirror kept up with most of what node1 acknowledged (it follows
    // within milliseconds; node1 took over a thousand writes).
    assert!(held.len() * 2 > on_dead.len(), "the replica held {} of {}", held.len(), on_dead.len());

    // mirrors.sh wrote each mirror's pid beside itself; failover stops
    // node1's mirror (a restarted node1 must not overwrite its replica).
    let mirror_pid: u32 =
        std::fs::read_to_string(fo_dir.join("mirror-node1.pid")).unwrap().trim().parse().unwrap();
    let mirror_proc = PathBuf::from(format!("/proc/{mirror_pid}"));
    assert!(mirror_proc.exists(), "mirror-node1 is not running before the failover");

    // `--reload-pid` restarts the running nutcracker on the new config.
    let pid = proxy.child.id().to_string();
    let out = mammoth_cluster(&[
        "failover".as_ref(),
        "node1".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--mirrors".as_ref(),
        mirrors_sh.as_os_str(),
        "--reload-pid".as_ref(),
        pid.as_ref(),
    ]);
    eprintln!("{out}");
    assert!(out.contains("lost window: unknown"), "{out}");
    assert!(out.contains(&format!("now at {}", replica_addrs[0])), "{out}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(&format!("{}:1 node1", replica_addrs[0])), "{text}");
    let script = std::fs::read_to_string(&mirrors_sh).unwrap();
    assert!(
        ::cluster::failover::find_mirror(&script, &format!("127.0.0.1:{}", nodes[0].port))
            .is_none()
    );
    assert!(out.contains(&format!("mirror: stopped mirror-node1 (pid {mirror_pid})")), "{out}");
    // Gone, or a zombie until mirrors.sh reaps it.
    let state = std::fs::read_to_string(mirror_proc.join("stat")).unwrap_or_default();
    assert!(state.is_empty() || state.contains(") Z"), "mirror-node1 still runs: {state}");
    drop(mirrors);
    assert!(out.contains("reload: nutcracker"), "{out}");
    // The old one is gone (reaped here); the new one's pid is printed.
    proxy.child.wait().unwrap();
    drop(proxy);
    let restarted = Restarted(number_after(&out, "started again (pid").to_string());
    assert_ne!(restarted.0, pid);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the restarted nutcracker does not listen");
        std::thread::sleep(Duration::from_millis(20));
    }

    // nutcracker on the new config: every held write reads, and every
    // acknowledged write of the live nodes.
    let must: Vec<&Vec<u8>> =
        stored.iter().filter(|k| ring.owner(k) != 0).chain(held.iter().copied()).collect();
    let missing = misses_through(port, &must);
    assert!(
        missing.is_empty(),
        "{} writes missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    eprintln!(
        "failover: {} writes acknowledged, {} of them to node1; the replica held {} ({} lost); \
         all {} held or on live nodes read through the proxy",
        stored.len(),
        on_dead.len(),
        held.len(),
        on_dead.len() - held.len(),
        must.len()
    );
}
