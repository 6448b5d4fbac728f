//! Which keys move when a pool's config changes, and where to.
//!
//! A key's data sits on the server its **old** pool places it on; after
//! the change nutcracker looks for it on the server the **new** pool
//! names. Servers are told apart by where they listen ([`Endpoint`]), not
//! by name or index: a server renamed or reweighted in place holds the same
//! data, and a name moved to another address is another machine.
//!
//! [`MovePlan`] puts both pools' servers in one list of [`Node`]s and
//! answers, for a key, the node that holds it now and the node that must
//! hold it after: the key moves exactly when the two differ.
//!
//! ```
//! use cluster::{MovePlan, Pool, Server};
//!
//! let mut old = Pool::new("p", "127.0.0.1:22121");
//! old.servers = (1..=3).map(|i| Server::tcp("127.0.0.1", 11310 + i).with_name(format!("node{i}"))).collect();
//! let mut new = old.clone();
//! new.servers.push(Server::tcp("127.0.0.1", 11314).with_name("node4"));
//! let plan = MovePlan::new(&old, &new)?;
//! assert_eq!(plan.nodes().len(), 4);
//! let moved = (0..10_000).filter(|i| plan.route(format!("k{i}").as_bytes()).moves()).count();
//! // About a quarter of the keys go to the new node, and only to it.
//! assert!((2_000..3_000).contains(&moved), "{moved}");
//! # Ok::<(), cluster::MovePlanError>(())
//! ```

use std::fmt;

use crate::config::Pool;
use crate::error::RingError;
use crate::ring::Ring;
use crate::server::{Endpoint, Server};

/// A server of either pool, by where it listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Where it listens.
    pub endpoint: Endpoint,
    /// Its name in the old pool, else in the new one (`None`: unnamed in
    /// both).
    pub name: Option<String>,
    /// Its index in the old pool's server list, if it is there.
    pub old: Option<usize>,
    /// Its index in the new pool's server list, if it is there.
    pub new: Option<usize>,
}

impl Node {
    /// Its name, else its address.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.endpoint.to_string())
    }
}

/// Where a key is and where it must be (indexes into [`MovePlan::nodes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// The node the old pool places the key on.
    pub from: usize,
    /// The node the new pool places the key on.
    pub to: usize,
}

impl Route {
    /// Whether the key changes node.
    pub fn moves(self) -> bool {
        self.from != self.to
    }
}

/// Why two pools cannot be compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MovePlanError {
    /// One pool's placement cannot be computed.
    Ring {
        /// `"old"` or `"new"`.
        which: &'static str,
        /// Why.
        source: RingError,
    },
    /// A pool lists the same address twice: which of its entries holds a
    /// key would be ambiguous.
    DuplicateEndpoint {
        /// `"old"` or `"new"`.
        which: &'static str,
        /// The address.
        endpoint: String,
    },
}

impl fmt::Display for MovePlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MovePlanError::Ring { which, .. } => write!(f, "the {which} pool has no placement"),
            MovePlanError::DuplicateEndpoint { which, endpoint } => {
                write!(f, "the {which} pool lists {endpoint} twice")
            }
        }
    }
}

impl std::error::Error for MovePlanError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MovePlanError::Ring { source, .. } => Some(source),
            MovePlanError::DuplicateEndpoint { .. } => None,
        }
    }
}

/// Both placements over one list of nodes.
#[derive(Clone, Debug)]
pub struct MovePlan {
    nodes: Vec<Node>,
    old_ring: Ring,
    new_ring: Ring,
    /// Old server index → node.
    old_node: Vec<usize>,
    /// New server index → node.
    new_node: Vec<usize>,
}

impl MovePlan {
    /// The plan from `old` to `new`. The nodes are the old pool's servers
    /// in order, then the new pool's servers at other addresses.
    ///
    /// # Errors
    ///
    /// [`MovePlanError`] when a pool has no placement (random
    /// distribution, no servers, bad hash tag) or lists an address twice.
    pub fn new(old: &Pool, new: &Pool) -> Result<MovePlan, MovePlanError> {
        let old_ring = old.ring().map_err(|source| MovePlanError::Ring { which: "old", source })?;
        let new_ring = new.ring().map_err(|source| MovePlanError::Ring { which: "new", source })?;
        let mut nodes: Vec<Node> = Vec::new();
        let mut old_node = Vec::with_capacity(old.servers.len());
        let mut new_node = Vec::with_capacity(new.servers.len());
        for (which, servers, map) in
            [("old", &old.servers, &mut old_node), ("new", &new.servers, &mut new_node)]
        {
            for (i, s) in servers.iter().enumerate() {
                let at = add(&mut nodes, which, i, s)?;
                map.push(at);
            }
        }
        Ok(MovePlan { nodes, old_ring, new_ring, old_node, new_node })
    }

    /// Every node of either pool.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The nodes that hold data under the old pool (the ones to scan).
    pub fn old_nodes(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes.iter().enumerate().filter(|(_, n)| n.old.is_some()).map(|(i, _)| i)
    }

    /// Where `key` is under the old pool and must be under the new one.
    pub fn route(&self, key: &[u8]) -> Route {
        Route {
            from: self.old_node[self.old_ring.owner(key)],
            to: self.new_node[self.new_ring.owner(key)],
        }
    }
}

fn add(
    nodes: &mut Vec<Node>,
    which: &'static str,
    index: usize,
    server: &Server,
) -> Result<usize, MovePlanError> {
    if let Some(at) = nodes.iter().position(|n| n.endpoint == server.endpoint) {
        let node = &mut nodes[at];
        let slot = if which == "old" { &mut node.old } else { &mut node.new };
        if slot.is_some() {
            return Err(MovePlanError::DuplicateEndpoint {
                which,
                endpoint: server.endpoint.to_string(),
            });
        }
        *slot = Some(index);
        if node.name.is_none() {
            node.name.clone_from(&server.name);
        }
        return Ok(at);
    }
    let (old, new) = if which == "old" { (Some(index), None) } else { (None, Some(index)) };
    nodes.push(Node { endpoint: server.endpoint.clone(), name: server.name.clone(), old, new });
    Ok(nodes.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyHash;

    fn pool(ports: &[u16], named: bool) -> Pool {
        let mut p = Pool::new("p", "127.0.0.1:1");
        p.servers = ports
            .iter()
            .enumerate()
            .map(|(i, &port)| {
                let s = Server::tcp("127.0.0.1", port);
                if named { s.with_name(format!("node{}", i + 1)) } else { s }
            })
            .collect();
        p
    }

    #[test]
    fn same_pool_moves_nothing() {
        let p = pool(&[1, 2, 3], true);
        let plan = MovePlan::new(&p, &p).unwrap();
        assert_eq!(plan.nodes().len(), 3);
        assert!((0..5000).all(|i| !plan.route(format!("k{i}").as_bytes()).moves()));
    }

    #[test]
    fn a_fourth_node_takes_keys_only_to_itself() {
        let old = pool(&[1, 2, 3], true);
        let new = pool(&[1, 2, 3, 4], true);
        let plan = MovePlan::new(&old, &new).unwrap();
        let mut moved = 0;
        for i in 0..20_000 {
            let r = plan.route(format!("key:{i}").as_bytes());
            if r.moves() {
                assert_eq!(r.to, 3);
                moved += 1;
            }
        }
        assert!((4_000..6_000).contains(&moved), "{moved} of 20,000");
        assert_eq!(plan.old_nodes().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(plan.nodes()[3].old, None);
        assert_eq!(plan.nodes()[3].new, Some(3));
    }

    #[test]
    fn removing_a_node_moves_only_its_keys() {
        let old = pool(&[1, 2, 3], true);
        let mut new = old.clone();
        new.servers.remove(1);
        let plan = MovePlan::new(&old, &new).unwrap();
        for i in 0..5000 {
            let r = plan.route(format!("key:{i}").as_bytes());
            assert_eq!(r.moves(), r.from == 1, "key:{i}");
        }
    }

    #[test]
    fn a_renamed_address_keeps_its_data_in_place() {
        let old = pool(&[1, 2], false);
        let mut new = old.clone();
        new.hash = KeyHash::Md5;
        let plan = MovePlan::new(&old, &new).unwrap();
        assert_eq!(plan.nodes().len(), 2);
        assert!((0..1000).any(|i| plan.route(format!("k{i}").as_bytes()).moves()));
    }

    #[test]
    fn duplicate_addresses_are_refused() {
        let old = pool(&[1, 1], true);
        let err = MovePlan::new(&old, &pool(&[1], true)).unwrap_err();
        assert_eq!(err.to_string(), "the old pool lists 127.0.0.1:1 twice");
    }
}
