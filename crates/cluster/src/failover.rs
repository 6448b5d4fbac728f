//! Failing a node over to its replica: the config edit and the mirror
//! script's.
//!
//! ketama hashes a named server's **name**, so pointing the name at the
//! replica's address changes the owner of no key: [`promote`] does that,
//! and refuses an unnamed server (its address is its identity; changing it
//! would move about 1/n of all keys to a server that does not hold them).
//!
//! `mammoth cluster plan` writes one line per replica into `mirrors.sh`:
//! `mammoth tap mirror --from NODE --to REPLICA --name mirror-NAME …`.
//! [`MirrorLine`] reads such a line; [`find_mirror`] finds a node's, and
//! [`disable_mirror`] comments it out, since a promoted replica is no
//! longer a copy of anything.

use std::fmt;

use crate::config::Pool;
use crate::server::{Endpoint, Server};

/// Why a failover cannot be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailoverError {
    /// No server has this name or address.
    NoSuchNode {
        /// The node asked for.
        node: String,
        /// The servers there are (their labels).
        servers: Vec<String>,
    },
    /// The server is unnamed: its address is what ketama hashes.
    Unnamed(String),
    /// The replica's address is already one of the pool's servers.
    ReplicaInPool {
        /// The node being failed over.
        node: String,
        /// The replica's address.
        replica: String,
    },
}

impl fmt::Display for FailoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailoverError::NoSuchNode { node, servers } => {
                write!(
                    f,
                    "no server named or listening at {node:?} (servers: {})",
                    servers.join(", ")
                )
            }
            FailoverError::Unnamed(node) => write!(
                f,
                "server {node} has no name: ketama hashes its address, so moving it to the \
                 replica's would move its keys; name the servers (`cluster plan` does) first"
            ),
            FailoverError::ReplicaInPool { node, replica } => {
                write!(
                    f,
                    "cannot fail {node} over to {replica}: that address is already in the pool"
                )
            }
        }
    }
}

impl std::error::Error for FailoverError {}

/// The index of the server named `node`, or listening at `node`
/// (`host:port`).
pub fn find_server(pool: &Pool, node: &str) -> Option<usize> {
    pool.servers
        .iter()
        .position(|s| s.name.as_deref() == Some(node))
        .or_else(|| pool.servers.iter().position(|s| s.endpoint.to_string() == node))
}

/// Points the server `node` (a name or an address) at `replica`, keeping
/// its name and weight, hence every key's owner. Returns the server as it
/// was.
///
/// # Errors
///
/// [`FailoverError`]: no such server, an unnamed one, or a replica address
/// the pool already uses.
pub fn promote(pool: &mut Pool, node: &str, replica: Endpoint) -> Result<Server, FailoverError> {
    let index = find_server(pool, node).ok_or_else(|| FailoverError::NoSuchNode {
        node: node.to_owned(),
        servers: pool.servers.iter().map(Server::label).collect(),
    })?;
    let before = pool.servers[index].clone();
    if before.name.is_none() {
        return Err(FailoverError::Unnamed(before.endpoint.to_string()));
    }
    if pool.servers.iter().any(|s| s.endpoint == replica) {
        return Err(FailoverError::ReplicaInPool {
            node: before.label(),
            replica: replica.to_string(),
        });
    }
    pool.servers[index].endpoint = replica;
    Ok(before)
}

/// One `mammoth tap mirror` line of a mirror script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorLine {
    /// The line's number (from 1).
    pub line: usize,
    /// `--from`: the node copied.
    pub from: String,
    /// `--to`: the replica.
    pub to: String,
    /// `--name`: the registered TAP stream on the node, if given.
    pub name: Option<String>,
}

impl MirrorLine {
    /// Reads a `mammoth tap mirror --from A --to B [--name N] …` line (words
    /// split on blanks, single quotes removed); `None` for any other line.
    pub fn parse(line: usize, text: &str) -> Option<MirrorLine> {
        let words: Vec<String> =
            text.split_whitespace().map(|w| w.trim_matches('\'').to_owned()).collect();
        let at = words
            .windows(3)
            .position(|w| w[0] == "mammoth" && w[1] == "tap" && w[2] == "mirror")?;
        let args = &words[at + 3..];
        let value = |flag: &str| {
            args.iter().enumerate().find_map(|(i, w)| {
                if w == flag {
                    args.get(i + 1).cloned()
                } else {
                    w.strip_prefix(flag).and_then(|r| r.strip_prefix('=')).map(str::to_owned)
                }
            })
        };
        Some(MirrorLine { line, from: value("--from")?, to: value("--to")?, name: value("--name") })
    }
}

/// The mirror line of `script` that copies `node` (its address), if any.
/// Commented lines do not count.
pub fn find_mirror(script: &str, node: &str) -> Option<MirrorLine> {
    script
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('#'))
        .filter_map(|(i, l)| MirrorLine::parse(i + 1, l))
        .find(|m| m.from == node)
}

/// `script` with line `line` (from 1) commented out, saying why.
pub fn disable_mirror(script: &str, line: usize, why: &str) -> String {
    let mut out = String::with_capacity(script.len() + why.len() + 8);
    for (i, l) in script.lines().enumerate() {
        if i + 1 == line {
            out.push_str("# ");
            out.push_str(why);
            out.push_str("\n# ");
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool {
        let mut p = Pool::new("p", "127.0.0.1:1");
        p.servers = vec![
            Server::tcp("127.0.0.1", 11311).with_name("node1"),
            Server::tcp("127.0.0.1", 11312).with_name("node2").with_weight(2),
            Server::tcp("127.0.0.1", 11313),
        ];
        p
    }

    #[test]
    fn promotion_keeps_name_weight_and_placement() {
        let mut p = pool();
        let before_ring = p.ring().unwrap();
        let replica = Endpoint::Tcp { host: "127.0.0.1".into(), port: 11412 };
        let was = promote(&mut p, "node2", replica.clone()).unwrap();
        assert_eq!(was.endpoint.to_string(), "127.0.0.1:11312");
        assert_eq!(p.servers[1].to_string(), "127.0.0.1:11412:2 node2");
        assert_eq!(p.ring().unwrap(), before_ring);
        // By address too.
        let mut q = pool();
        promote(&mut q, "127.0.0.1:11312", replica).unwrap();
        assert_eq!(q, p);
    }

    #[test]
    fn promotion_refuses_what_would_move_keys() {
        let r = |port| Endpoint::Tcp { host: "127.0.0.1".into(), port };
        assert!(matches!(
            promote(&mut pool(), "127.0.0.1:11313", r(11413)),
            Err(FailoverError::Unnamed(_))
        ));
        assert!(matches!(
            promote(&mut pool(), "node9", r(11413)),
            Err(FailoverError::NoSuchNode { .. })
        ));
        assert!(matches!(
            promote(&mut pool(), "node1", r(11312)),
            Err(FailoverError::ReplicaInPool { .. })
        ));
    }

    #[test]
    fn mirror_lines_are_found_and_disabled() {
        let script = "#!/bin/sh\n\
            # mammoth tap mirror --from 127.0.0.1:11312 --to x:1\n\
            mammoth tap mirror --from 127.0.0.1:11311 --to 127.0.0.1:11411 --name mirror-node1 & pids=\"$pids $!\"\n\
            mammoth tap mirror --from 127.0.0.1:11312 --to '127.0.0.1:11412' --name=mirror-node2 & pids=\"$pids $!\"\n\
            wait\n";
        let m = find_mirror(script, "127.0.0.1:11312").unwrap();
        assert_eq!(
            m,
            MirrorLine {
                line: 4,
                from: "127.0.0.1:11312".into(),
                to: "127.0.0.1:11412".into(),
                name: Some("mirror-node2".into()),
            }
        );
        assert_eq!(find_mirror(script, "127.0.0.1:11313"), None);
        let edited = disable_mirror(script, m.line, "failed over");
        assert_eq!(find_mirror(&edited, "127.0.0.1:11312"), None);
        assert!(find_mirror(&edited, "127.0.0.1:11311").is_some());
        assert!(edited.contains("# failed over\n# mammoth tap mirror --from 127.0.0.1:11312"));
    }
}
