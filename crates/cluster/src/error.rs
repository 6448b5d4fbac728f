//! The crate's error types: each names what was wrong and where.

use std::fmt;

/// A hash or distribution name nutcracker does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What was being named: `"hash"` or `"distribution"`.
    pub what: &'static str,
    /// The name given.
    pub name: String,
    /// The names nutcracker accepts.
    pub expected: Vec<&'static str>,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?} (one of {})", self.what, self.name, self.expected.join(", "))
    }
}

impl std::error::Error for UnknownName {}

/// Why a `host:port:weight [name]` server entry was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerProblem {
    /// Not `host:port:weight [name]` (or `/path:weight [name]`).
    Format,
    /// The weight is not a positive decimal number.
    Weight,
    /// The port is not a decimal number in 1..=65535.
    Port,
    /// The port has leading zeros: nutcracker would hash the digits as
    /// written, mammoth only places canonical ports.
    PortNotCanonical,
    /// The host (or socket path) is empty.
    EmptyHost,
    /// The name is empty or holds whitespace.
    Name,
}

/// A server entry that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerError {
    /// The entry as given.
    pub entry: String,
    /// What is wrong with it.
    pub problem: ServerProblem,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.problem {
            ServerProblem::Format => {
                "is not \"host:port:weight [name]\" or \"/path:weight [name]\""
            }
            ServerProblem::Weight => "has a weight that is not a positive number",
            ServerProblem::Port => "has a port outside 1..65535",
            ServerProblem::PortNotCanonical => "has a port with leading zeros",
            ServerProblem::EmptyHost => "has an empty host",
            ServerProblem::Name => "has an empty name or one with whitespace",
        };
        write!(f, "server {:?} {why}", self.entry)
    }
}

impl std::error::Error for ServerError {}

/// What is wrong in a config file; [`ConfigError`] adds the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigProblem {
    /// YAML this reader does not take: a construct outside nutcracker's
    /// subset (flow collections, block scalars, anchors, tags, multi-line
    /// strings) or a malformed line.
    Syntax(String),
    /// A directive nutcracker does not know.
    UnknownDirective(String),
    /// A directive given twice in one pool, or a pool name used twice.
    Duplicate(String),
    /// A directive's value nutcracker would refuse.
    Invalid {
        /// The directive.
        directive: String,
        /// Why its value is refused.
        reason: String,
    },
    /// A server entry nutcracker would refuse.
    Server(ServerError),
    /// A pool without a required directive (`listen` or `servers`).
    Missing {
        /// The pool.
        pool: String,
        /// The directive it lacks.
        directive: &'static str,
    },
    /// A file with no pool at all.
    Empty,
}

/// A config file that could not be read: the problem and its line (1-based;
/// 0 when it concerns the whole file or pool).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The line the problem was found on, from 1; 0 for the whole file.
    pub line: usize,
    /// What is wrong.
    pub problem: ConfigProblem,
}

impl ConfigError {
    pub(crate) fn at(line: usize, problem: ConfigProblem) -> ConfigError {
        ConfigError { line, problem }
    }

    pub(crate) fn syntax(line: usize, message: impl Into<String>) -> ConfigError {
        ConfigError::at(line, ConfigProblem::Syntax(message.into()))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        match &self.problem {
            ConfigProblem::Syntax(m) => f.write_str(m),
            ConfigProblem::UnknownDirective(d) => write!(f, "unknown directive {d:?}"),
            ConfigProblem::Duplicate(d) => write!(f, "{d:?} given twice"),
            ConfigProblem::Invalid { directive, reason } => write!(f, "{directive}: {reason}"),
            ConfigProblem::Server(e) => e.fmt(f),
            ConfigProblem::Missing { pool, directive } => {
                write!(f, "pool {pool:?} has no {directive:?}")
            }
            ConfigProblem::Empty => f.write_str("no pool defined"),
        }
    }
}

// The server entry's own text is part of the message, so no `source`:
// an error chain would print it twice.
impl std::error::Error for ConfigError {}

/// Why a pool's placement cannot be computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The pool has no servers.
    NoServers,
    /// `distribution: random` sends each request to any server: no key has
    /// an owner.
    Random,
    /// A hash tag must be exactly two bytes, the opening and closing
    /// delimiters.
    HashTag(String),
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::NoServers => f.write_str("the pool has no servers"),
            RingError::Random => {
                f.write_str("distribution random places keys at random: no key has an owner")
            }
            RingError::HashTag(t) => {
                write!(f, "hash tag {t:?} is not two bytes (an opening and a closing one)")
            }
        }
    }
}

impl std::error::Error for RingError {}

/// A pool asked of a [`crate::Config`] that it cannot give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// No pool has this name.
    NotFound {
        /// The name asked for.
        name: String,
        /// The pools there are.
        pools: Vec<String>,
    },
    /// No name was given and there are several pools.
    Ambiguous(Vec<String>),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::NotFound { name, pools } => {
                write!(f, "no pool {name:?} (pools: {})", pools.join(", "))
            }
            PoolError::Ambiguous(pools) => {
                write!(f, "several pools ({}): name one", pools.join(", "))
            }
        }
    }
}

impl std::error::Error for PoolError {}
