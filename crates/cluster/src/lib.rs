//! Cluster placement as nutcracker (twemproxy 0.5.0) does it, bit for bit.
//!
//! mammoth scales past one server the way memcached users already do: a
//! [nutcracker] proxy in front of several `mammoth serve` nodes, each key
//! on the node nutcracker's consistent hashing picks. The tools around it
//! — `mammoth cluster plan` writing the proxy's config, `mammoth cluster
//! owner`, `rebalance` and `failover` — must agree with the proxy
//! about every key, so this crate computes placement the way nutcracker's
//! C code does, down to its quirks:
//!
//! * [`KeyHash`]: all twelve of nutcracker's `hash:` functions, with its
//!   signed-`char` byte widening and its truncations ([`hash`] module docs).
//! * [`Ring`]: the hash tag, then ketama (160 points per server at equal
//!   weight, four per MD5 digest of `"{identity}-{i}"`, weights scaled in
//!   single precision, a stable sort, lower-bound lookup wrapping past the
//!   last point) or modula ([`ring`] module docs).
//! * [`Server`]: `host:port:weight [name]` entries read from the end as
//!   nutcracker reads them, and the identity string ketama hashes (the
//!   name, else `host:port`, else the bare host on port 11211).
//! * [`Config`] and [`Pool`]: the YAML, read and written (the
//!   YAML subset nutcracker configs are written in).
//! * [`MovePlan`]: where each key is under one pool and must be under
//!   another (`mammoth cluster rebalance`); [`failover`]: pointing a named
//!   server at its replica without moving a key (`mammoth cluster failover`).
//!
//! The integration test `crates/mammoth/tests/cluster.rs` writes keys
//! through a real nutcracker and finds each one on exactly the node
//! [`Ring::owner`] names, for every hash.
//!
//! # Example
//!
//! ```
//! use cluster::{Config, KeyHash};
//!
//! let config = Config::parse(
//!     "mammoth:
//!   listen: 127.0.0.1:22121
//!   hash: fnv1a_64
//!   distribution: ketama
//!   auto_eject_hosts: false
//!   servers:
//!    - 127.0.0.1:11311:1 node1
//!    - 127.0.0.1:11312:1 node2
//!    - 127.0.0.1:11313:1 node3
//! ",
//! )?;
//! let pool = config.pool(None)?;
//! assert_eq!(pool.hash, KeyHash::Fnv1a64);
//! let ring = pool.ring()?;
//! let owner = &pool.servers[ring.owner(b"user:42")];
//! assert!(owner.label().starts_with("node"));
//! // Written back, the config reads the same.
//! assert_eq!(Config::parse(&config.to_yaml())?, config);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [nutcracker]: https://github.com/twitter/twemproxy

pub mod config;
pub mod error;
pub mod failover;
pub mod hash;
pub mod moves;
pub mod ring;
pub mod server;
mod yaml;

pub use config::{Config, Distribution, Pool};
pub use error::{
    ConfigError, ConfigProblem, PoolError, RingError, ServerError, ServerProblem, UnknownName,
};
pub use failover::{FailoverError, MirrorLine};
pub use hash::KeyHash;
pub use moves::{MovePlan, MovePlanError, Node, Route};
pub use ring::{Point, Ring};
pub use server::{Endpoint, Server};
