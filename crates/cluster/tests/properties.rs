//! Properties of placement and of the config format.

#![allow(clippy::cast_precision_loss, reason = "fractions of at most 20,000 keys")]

use std::collections::HashSet;

use cluster::{Config, Distribution, KeyHash, Pool, Ring, Server};
use proptest::prelude::*;

fn hash_strategy() -> impl Strategy<Value = KeyHash> {
    prop::sample::select(KeyHash::ALL.to_vec())
}

/// Servers with distinct identities: `10.0.0.X:PORT`, some named.
fn servers(range: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<Server>> {
    prop::collection::vec((1u8..=250, 1024u16.., any::<bool>()), range).prop_map(|raw| {
        let mut seen = HashSet::new();
        raw.into_iter()
            .enumerate()
            .filter(|(_, (host, port, _))| seen.insert((*host, *port)))
            .map(|(i, (host, port, named))| {
                let s = Server::tcp(format!("10.0.0.{host}"), port);
                if named { s.with_name(format!("node-{i}-{host}")) } else { s }
            })
            .collect()
    })
}

fn keys(n: usize, seed: u64) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("key:{seed}:{i}").into_bytes()).collect()
}

fn owner_labels(ring: &Ring, servers: &[Server], keys: &[Vec<u8>]) -> Vec<String> {
    keys.iter().map(|k| servers[ring.owner(k)].label()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Adding a node of the same weight leaves every old point where it
    /// was, so a key either stays or moves to the new node; the new node
    /// takes about 1/(n+1) of the hash space, and with a well-mixing hash
    /// about that fraction of the keys. (FNV-1a over keys that differ in
    /// their last digits does not mix well enough for the key count to
    /// follow the hash space; it is checked on the hash space only.)
    #[test]
    fn adding_a_node_moves_about_one_in_n_keys_all_to_it(
        mut nodes in servers(3..=8),
        hash in prop::sample::select(vec![KeyHash::Fnv1a64, KeyHash::Md5, KeyHash::Murmur, KeyHash::Jenkins]),
        seed in any::<u64>(),
    ) {
        let added = nodes.pop().unwrap();
        let before = Ring::new(&nodes, hash, None, Distribution::Ketama).unwrap();
        let mut grown = nodes.clone();
        grown.push(added.clone());
        let after = Ring::new(&grown, hash, None, Distribution::Ketama).unwrap();
        let keys = keys(20_000, seed);
        let old = owner_labels(&before, &nodes, &keys);
        let new = owner_labels(&after, &grown, &keys);
        for (o, n) in old.iter().zip(&new) {
            prop_assert!(o == n || *n == added.label(), "{o} → {n}");
        }
        // 160 points put a node's share of the hash space within a few
        // percent of its ideal share (relative spread about 1/sqrt(160)).
        let expected = 1.0 / grown.len() as f64;
        let share = after.shares()[grown.len() - 1];
        prop_assert!((share - expected).abs() < 0.4 * expected,
            "new node's share {share:.3}, expected about {expected:.3}");
        if hash != KeyHash::Fnv1a64 {
            let moved = old.iter().zip(&new).filter(|(o, n)| o != n).count();
            let fraction = moved as f64 / keys.len() as f64;
            prop_assert!((fraction - share).abs() < 0.03,
                "moved {fraction:.3} of the keys, the new node's share is {share:.3}");
        }
    }

    /// Removing a node moves exactly its own keys.
    #[test]
    fn removing_a_node_moves_only_its_keys(
        nodes in servers(3..=8),
        hash in hash_strategy(),
        pick in any::<prop::sample::Index>(),
    ) {
        let gone = pick.index(nodes.len());
        let mut shrunk = nodes.clone();
        let removed = shrunk.remove(gone);
        let before = Ring::new(&nodes, hash, None, Distribution::Ketama).unwrap();
        let after = Ring::new(&shrunk, hash, None, Distribution::Ketama).unwrap();
        let keys = keys(5_000, 7);
        let old = owner_labels(&before, &nodes, &keys);
        let new = owner_labels(&after, &shrunk, &keys);
        for (o, n) in old.iter().zip(&new) {
            prop_assert!(o == n || *o == removed.label(), "{o} → {n}");
        }
    }

    /// The owner of a key depends on the servers' identities, not on their
    /// order in the list, and not on a named server's address.
    #[test]
    fn placement_is_stable(
        nodes in servers(2..=8),
        hash in hash_strategy(),
        rotate in 0usize..8,
        seed in any::<u64>(),
    ) {
        let ring = Ring::new(&nodes, hash, None, Distribution::Ketama).unwrap();
        let keys = keys(2_000, seed);
        let labels = owner_labels(&ring, &nodes, &keys);
        // Built again: the same.
        let again = Ring::new(&nodes, hash, None, Distribution::Ketama).unwrap();
        prop_assert_eq!(&owner_labels(&again, &nodes, &keys), &labels);
        // Reordered: the same owners.
        let mut turned = nodes.clone();
        turned.rotate_left(rotate % nodes.len());
        let turned_ring = Ring::new(&turned, hash, None, Distribution::Ketama).unwrap();
        prop_assert_eq!(&owner_labels(&turned_ring, &turned, &keys), &labels);
        // A named server moved to another address: the same owners.
        let moved: Vec<Server> = nodes
            .iter()
            .map(|s| match &s.name {
                Some(_) => Server { endpoint: cluster::Endpoint::Tcp { host: "replica.example".into(), port: 1 }, ..s.clone() },
                None => s.clone(),
            })
            .collect();
        let moved_ring = Ring::new(&moved, hash, None, Distribution::Ketama).unwrap();
        prop_assert_eq!(&owner_labels(&moved_ring, &moved, &keys), &labels);
    }

    /// Keys that share a hash tag share an owner.
    #[test]
    fn a_hash_tag_keeps_keys_together(
        nodes in servers(2..=6),
        hash in hash_strategy(),
        tag in "[a-z0-9]{1,8}",
        prefixes in prop::collection::vec("[a-z:]{0,6}", 1..20),
    ) {
        let ring = Ring::new(&nodes, hash, Some("{}"), Distribution::Ketama).unwrap();
        let owner = ring.owner(tag.as_bytes());
        for p in prefixes {
            let key = format!("{p}{{{tag}}}:{p}");
            prop_assert_eq!(ring.owner(key.as_bytes()), owner);
        }
    }

    /// Any config this crate writes, it reads back equal.
    #[test]
    fn configs_round_trip(pools in prop::collection::vec(pool_strategy(), 1..4)) {
        let mut names = HashSet::new();
        let pools: Vec<Pool> = pools.into_iter().filter(|p| names.insert(p.name.clone())).collect();
        let config = Config { pools };
        let text = config.to_yaml();
        prop_assert_eq!(Config::parse(&text).unwrap(), config, "{}", text);
    }

    /// Server entries print as they parse.
    #[test]
    fn server_entries_round_trip(
        host in "[a-z0-9.-]{1,20}|::1|/run/[a-z]{1,8}\\.sock",
        port in 1u16..,
        weight in 1u32..1000,
        name in prop::option::of("[A-Za-z0-9_.:-]{1,16}"),
    ) {
        let text = match (&name, host.starts_with('/')) {
            (Some(n), true) => format!("{host}:{weight} {n}"),
            (None, true) => format!("{host}:{weight}"),
            (Some(n), false) => format!("{host}:{port}:{weight} {n}"),
            (None, false) => format!("{host}:{port}:{weight}"),
        };
        let server = Server::parse(&text).unwrap();
        prop_assert_eq!(server.to_string(), text);
        prop_assert_eq!(server.weight, weight);
        prop_assert_eq!(server.name, name);
    }
}

fn pool_strategy() -> impl Strategy<Value = Pool> {
    (
        "[a-z][a-z0-9_]{0,10}|\"odd: name\"",
        "127\\.0\\.0\\.1:[1-9][0-9]{0,4}|/tmp/[a-z]{1,6}\\.sock 0666",
        hash_strategy(),
        prop::option::of("[!-~]{2}"),
        prop::sample::select(Distribution::ALL.to_vec()),
        prop::option::of(any::<bool>()),
        prop::option::of(0u64..100_000),
        servers(1..=5),
        prop::option::of(1u32..5000),
    )
        .prop_map(
            |(name, listen, hash, hash_tag, distribution, eject, timeout, servers, retry)| {
                let mut pool = Pool::new(name, listen);
                pool.hash = hash;
                pool.hash_tag = hash_tag;
                pool.distribution = distribution;
                pool.auto_eject_hosts = eject;
                pool.timeout = timeout;
                pool.servers = servers;
                if let Some(ms) = retry {
                    pool.other.push(("server_retry_timeout".into(), ms.to_string()));
                }
                pool
            },
        )
}
