//! One `servers:` entry: `host:port:weight [name]` or `/path:weight [name]`.
//!
//! nutcracker reads an entry from its end: the name after the last space
//! (optional), the weight after the last colon before it, then the port
//! after the colon before that (TCP only); what remains is the host, which
//! may hold colons itself. [`Server::parse`] does the same.
//!
//! A server's **identity** is the string its ketama points are hashed
//! from: its name when it has one, else `host:port`, else (for port 11211,
//! for libmemcached compatibility) the bare host; a socket path without a
//! name is `path:`, colon included, as nutcracker takes it.

use std::fmt;
use std::str::FromStr;

use crate::error::{ServerError, ServerProblem};

/// The port nutcracker leaves out of an unnamed server's identity.
pub const KETAMA_DEFAULT_PORT: u16 = 11211;

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A TCP address; `host` is a name, an IPv4 address or a bare IPv6
    /// address.
    Tcp {
        /// Host name or address.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A unix socket path (starts with `/`).
    Unix {
        /// The socket's path.
        path: String,
    },
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Unix { path } => f.write_str(path),
        }
    }
}

/// A server of a pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Server {
    /// Where it listens.
    pub endpoint: Endpoint,
    /// Its weight (at least 1): its share of ketama points or modula slots.
    pub weight: u32,
    /// Its name, when the entry has one; it then replaces the address in
    /// the ketama identity, so the address can change without moving keys.
    pub name: Option<String>,
}

impl Server {
    /// A TCP server of weight 1 without a name.
    pub fn tcp(host: impl Into<String>, port: u16) -> Server {
        Server { endpoint: Endpoint::Tcp { host: host.into(), port }, weight: 1, name: None }
    }

    /// This server with `weight`.
    #[must_use]
    pub fn with_weight(mut self, weight: u32) -> Server {
        self.weight = weight;
        self
    }

    /// This server with a name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Server {
        self.name = Some(name.into());
        self
    }

    /// Reads an entry as nutcracker does (see the module docs). Refuses what
    /// nutcracker refuses, and also a port written with leading zeros.
    ///
    /// # Errors
    ///
    /// [`ServerError`] naming the entry and the problem.
    pub fn parse(entry: &str) -> Result<Server, ServerError> {
        let fail = |problem| ServerError { entry: entry.to_owned(), problem };
        let (address, name) = match entry.rsplit_once(' ') {
            Some((address, name)) => (address, Some(name)),
            None => (entry, None),
        };
        if let Some(name) = name
            && (name.is_empty() || name.contains(char::is_whitespace))
        {
            return Err(fail(ServerProblem::Name));
        }
        let (rest, weight) = address.rsplit_once(':').ok_or(fail(ServerProblem::Format))?;
        let weight = parse_digits(weight)
            .and_then(|w| u32::try_from(w).ok())
            .filter(|&w| w > 0 && i32::try_from(w).is_ok())
            .ok_or(fail(ServerProblem::Weight))?;
        let endpoint = if rest.starts_with('/') {
            Endpoint::Unix { path: rest.to_owned() }
        } else {
            let (host, port_text) = rest.rsplit_once(':').ok_or(fail(ServerProblem::Format))?;
            if host.is_empty() {
                return Err(fail(ServerProblem::EmptyHost));
            }
            let port = parse_digits(port_text)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|&p| p > 0)
                .ok_or(fail(ServerProblem::Port))?;
            if port_text.len() > 1 && port_text.starts_with('0') {
                return Err(fail(ServerProblem::PortNotCanonical));
            }
            Endpoint::Tcp { host: host.to_owned(), port }
        };
        Ok(Server { endpoint, weight, name: name.map(str::to_owned) })
    }

    /// The string ketama hashes this server's points from (module docs).
    pub fn identity(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match &self.endpoint {
            Endpoint::Tcp { host, port } if *port == KETAMA_DEFAULT_PORT => host.clone(),
            Endpoint::Tcp { host, port } => format!("{host}:{port}"),
            Endpoint::Unix { path } => format!("{path}:"),
        }
    }

    /// What to show for this server: its name, else its address.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.endpoint.to_string())
    }
}

/// A decimal number of digits only, as nutcracker's `nc_atoi` takes it.
fn parse_digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl fmt::Display for Server {
    /// The entry as nutcracker's config writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.endpoint, self.weight)?;
        if let Some(name) = &self.name {
            write!(f, " {name}")?;
        }
        Ok(())
    }
}

impl FromStr for Server {
    type Err = ServerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Server::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_from_the_end() {
        let s = Server::parse("127.0.0.1:11212:3 alpha").unwrap();
        assert_eq!(s, Server::tcp("127.0.0.1", 11212).with_weight(3).with_name("alpha"));
        assert_eq!(s.identity(), "alpha");
        assert_eq!(s.to_string(), "127.0.0.1:11212:3 alpha");

        let s = Server::parse("10.0.0.1:22122:1").unwrap();
        assert_eq!(s.identity(), "10.0.0.1:22122");
        assert_eq!(s.label(), "10.0.0.1:22122");

        // Bare IPv6: the host keeps its colons.
        let s = Server::parse("::1:11300:2").unwrap();
        assert_eq!(s.endpoint, Endpoint::Tcp { host: "::1".into(), port: 11300 });
    }

    #[test]
    fn port_11211_leaves_the_port_out_of_the_identity() {
        assert_eq!(Server::parse("cache1:11211:1").unwrap().identity(), "cache1");
        assert_eq!(Server::parse("cache1:11211:1 c").unwrap().identity(), "c");
    }

    #[test]
    fn unix_sockets_keep_the_colon_in_their_identity() {
        let s = Server::parse("/run/m.sock:2").unwrap();
        assert_eq!(s.endpoint, Endpoint::Unix { path: "/run/m.sock".into() });
        assert_eq!(s.identity(), "/run/m.sock:");
        assert_eq!(s.to_string(), "/run/m.sock:2");
    }

    #[test]
    fn bad_entries_say_why() {
        let problem = |e: &str| Server::parse(e).unwrap_err().problem;
        assert_eq!(problem("127.0.0.1:11211"), ServerProblem::Format);
        assert_eq!(problem("127.0.0.1"), ServerProblem::Format);
        assert_eq!(problem("127.0.0.1:11211:0"), ServerProblem::Weight);
        assert_eq!(problem("127.0.0.1:11211:-1"), ServerProblem::Weight);
        assert_eq!(problem("127.0.0.1:11211:1 "), ServerProblem::Name);
        assert_eq!(problem("127.0.0.1:70000:1"), ServerProblem::Port);
        assert_eq!(problem("127.0.0.1:0:1"), ServerProblem::Port);
        assert_eq!(problem("127.0.0.1:011211:1"), ServerProblem::PortNotCanonical);
        assert_eq!(problem(":11211:1"), ServerProblem::EmptyHost);
        let e = Server::parse("h:1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "server \"h:1\" is not \"host:port:weight [name]\" or \"/path:weight [name]\""
        );
    }
}
