//! nutcracker's pool config: [`Config`] holds [`Pool`]s, read from and
//! written to its YAML.
//!
//! The directives mammoth uses are typed fields; nutcracker's others
//! (`backlog`, `preconnect`, `server_retry_timeout`, …) are kept as text in
//! [`Pool::other`] and written back unchanged, so a config survives a
//! read-modify-write. Names nutcracker does not know are refused, as
//! nutcracker refuses them.

use std::fmt;
use std::str::FromStr;

use crate::KeyHash;
use crate::error::{ConfigError, ConfigProblem, PoolError, RingError, UnknownName};
use crate::ring::Ring;
use crate::server::Server;
use crate::yaml::{self, Event};

/// How nutcracker deals keys to servers (`distribution:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Distribution {
    /// Consistent hashing on a continuum of MD5 points (the default).
    #[default]
    Ketama,
    /// The hash modulo the total weight.
    Modula,
    /// Any server, at random, per request.
    Random,
}

impl Distribution {
    /// Every distribution.
    pub const ALL: [Distribution; 3] =
        [Distribution::Ketama, Distribution::Modula, Distribution::Random];

    /// The name nutcracker's config uses.
    pub fn name(self) -> &'static str {
        match self {
            Distribution::Ketama => "ketama",
            Distribution::Modula => "modula",
            Distribution::Random => "random",
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Distribution {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Distribution::ALL.into_iter().find(|d| d.name() == s).ok_or_else(|| UnknownName {
            what: "distribution",
            name: s.to_owned(),
            expected: Distribution::ALL.iter().map(|d| d.name()).collect(),
        })
    }
}

/// nutcracker's directives that [`Pool`] keeps as text.
const OTHER_DIRECTIVES: [&str; 11] = [
    "backlog",
    "client_connections",
    "redis",
    "redis_auth",
    "redis_db",
    "tcpkeepalive",
    "reuseport",
    "preconnect",
    "server_connections",
    "server_retry_timeout",
    "server_failure_limit",
];

/// One pool: where nutcracker listens and how it places keys on servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// The pool's name (the top-level key).
    pub name: String,
    /// `listen:` — `host:port` or `/path [permissions]`.
    pub listen: String,
    /// `hash:` (nutcracker's default: `fnv1a_64`).
    pub hash: KeyHash,
    /// `hash_tag:` — two bytes, such as `{}`.
    pub hash_tag: Option<String>,
    /// `distribution:` (default: ketama).
    pub distribution: Distribution,
    /// `auto_eject_hosts:` (nutcracker's default: false). Ejecting a host
    /// moves its keys to the others: right for a cache, wrong for a store.
    pub auto_eject_hosts: Option<bool>,
    /// `timeout:` in milliseconds (nutcracker's default: wait forever).
    pub timeout: Option<u64>,
    /// `servers:`, in order: a server's index is its place here.
    pub servers: Vec<Server>,
    /// nutcracker's other directives, as written, in order.
    pub other: Vec<(String, String)>,
}

impl Pool {
    /// A pool with nutcracker's defaults and no servers.
    pub fn new(name: impl Into<String>, listen: impl Into<String>) -> Pool {
        Pool {
            name: name.into(),
            listen: listen.into(),
            hash: KeyHash::Fnv1a64,
            hash_tag: None,
            distribution: Distribution::Ketama,
            auto_eject_hosts: None,
            timeout: None,
            servers: Vec::new(),
            other: Vec::new(),
        }
    }

    /// The pool's placement.
    ///
    /// # Errors
    ///
    /// See [`Ring::new`].
    pub fn ring(&self) -> Result<Ring, RingError> {
        Ring::new(&self.servers, self.hash, self.hash_tag.as_deref(), self.distribution)
    }

    /// The pool as nutcracker YAML (its own mapping, ending in a newline).
    pub fn to_yaml(&self) -> String {
        use fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(out, "{}:", yaml::quote(&self.name));
        let mut entry = |key: &str, value: &str| {
            let _ = writeln!(out, "  {key}: {}", yaml::quote(value));
        };
        entry("listen", &self.listen);
        entry("hash", self.hash.name());
        if let Some(tag) = &self.hash_tag {
            entry("hash_tag", tag);
        }
        entry("distribution", self.distribution.name());
        if let Some(eject) = self.auto_eject_hosts {
            entry("auto_eject_hosts", if eject { "true" } else { "false" });
        }
        if let Some(ms) = self.timeout {
            entry("timeout", &ms.to_string());
        }
        for (key, value) in &self.other {
            entry(key, value);
        }
        out.push_str("  servers:\n");
        for s in &self.servers {
            let _ = writeln!(out, "   - {}", yaml::quote(&s.to_string()));
        }
        out
    }
}

/// A whole config file: its pools, in order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Config {
    /// The pools.
    pub pools: Vec<Pool>,
}

impl Config {
    /// Reads nutcracker YAML, refusing what nutcracker would refuse in the
    /// directives it knows (unknown directives, duplicates, bad hash and
    /// distribution names, booleans other than `true`/`false`, a hash tag
    /// not two bytes long, bad server entries, a pool without `listen` or
    /// `servers`).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] with the line of the problem.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut pools: Vec<(Pool, PoolSeen)> = Vec::new();
        let mut in_servers = false;
        for event in yaml::events(text)? {
            match event {
                Event::Pool { line, name } => {
                    if pools.iter().any(|(p, _)| p.name == name) {
                        return Err(ConfigError::at(line, ConfigProblem::Duplicate(name)));
                    }
                    pools.push((Pool::new(name, ""), PoolSeen::default()));
                    in_servers = false;
                }
                Event::Entry { line, key, value } => {
                    let (pool, seen) = pools.last_mut().ok_or_else(|| outside(line))?;
                    if seen.keys.contains(&key) {
                        return Err(ConfigError::at(line, ConfigProblem::Duplicate(key)));
                    }
                    in_servers = key == "servers";
                    seen.keys.push(key.clone());
                    match value {
                        None if in_servers => seen.servers = true,
                        None => return Err(invalid(line, &key, "has no value")),
                        Some(_) if in_servers => {
                            return Err(invalid(line, &key, "must be a list of servers"));
                        }
                        Some(value) => set_directive(pool, line, key, value)?,
                    }
                }
                Event::Item { line, value } => {
                    let (pool, _) = pools.last_mut().ok_or_else(|| outside(line))?;
                    if !in_servers {
                        return Err(ConfigError::syntax(line, "only servers is a list"));
                    }
                    let server = Server::parse(&value)
                        .map_err(|e| ConfigError::at(line, ConfigProblem::Server(e)))?;
                    pool.servers.push(server);
                }
            }
        }
        if pools.is_empty() {
            return Err(ConfigError::at(0, ConfigProblem::Empty));
        }
        let mut out = Vec::with_capacity(pools.len());
        for (pool, seen) in pools {
            let missing = if !seen.keys.iter().any(|k| k == "listen") {
                Some("listen")
            } else if !seen.servers || pool.servers.is_empty() {
                Some("servers")
            } else {
                None
            };
            if let Some(directive) = missing {
                return Err(ConfigError::at(
                    0,
                    ConfigProblem::Missing { pool: pool.name, directive },
                ));
            }
            out.push(pool);
        }
        Ok(Config { pools: out })
    }

    /// The config as nutcracker YAML; [`Config::parse`] reads it back equal.
    pub fn to_yaml(&self) -> String {
        let pools: Vec<String> = self.pools.iter().map(Pool::to_yaml).collect();
        pools.join("\n")
    }

    /// The pool named `name`, or the only pool when `name` is `None`.
    ///
    /// # Errors
    ///
    /// [`PoolError`] when there is no such pool, or several and no name.
    pub fn pool(&self, name: Option<&str>) -> Result<&Pool, PoolError> {
        let names = || self.pools.iter().map(|p| p.name.clone()).collect();
        match name {
            Some(name) => self
                .pools
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| PoolError::NotFound { name: name.to_owned(), pools: names() }),
            None => match self.pools.as_slice() {
                [only] => Ok(only),
                _ => Err(PoolError::Ambiguous(names())),
            },
        }
    }
}

/// What a pool's text has said so far.
#[derive(Default)]
struct PoolSeen {
    keys: Vec<String>,
    servers: bool,
}

/// The YAML reader only gives directives inside a pool; kept as an error
/// rather than a panic all the same.
fn outside(line: usize) -> ConfigError {
    ConfigError::syntax(line, "a directive outside a pool")
}

fn invalid(line: usize, directive: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::at(
        line,
        ConfigProblem::Invalid { directive: directive.to_owned(), reason: reason.into() },
    )
}

fn set_directive(
    pool: &mut Pool,
    line: usize,
    key: String,
    value: String,
) -> Result<(), ConfigError> {
    match key.as_str() {
        "listen" => {
            if value.is_empty() {
                return Err(invalid(line, &key, "is empty"));
            }
            pool.listen = value;
        }
        "hash" => {
            pool.hash =
                value.parse().map_err(|e: UnknownName| invalid(line, &key, e.to_string()))?;
        }
        "hash_tag" => {
            if value.len() != 2 {
                return Err(invalid(line, &key, "must be two characters, such as \"{}\""));
            }
            pool.hash_tag = Some(value);
        }
        "distribution" => {
            pool.distribution =
                value.parse().map_err(|e: UnknownName| invalid(line, &key, e.to_string()))?;
        }
        "auto_eject_hosts" => {
            pool.auto_eject_hosts = Some(match value.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(invalid(line, &key, "is not \"true\" or \"false\"")),
            });
        }
        "timeout" => {
            let ms = value
                .parse::<u64>()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| invalid(line, &key, "is not a number of milliseconds"))?;
            pool.timeout = Some(ms);
        }
        other if OTHER_DIRECTIVES.contains(&other) => pool.other.push((key, value)),
        _ => return Err(ConfigError::at(line, ConfigProblem::UnknownDirective(key))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
alpha:
  listen: 127.0.0.1:22121
  hash: md5
  hash_tag: \"{}\"
  distribution: ketama
  auto_eject_hosts: false
  timeout: 400
  server_retry_timeout: 2000
  servers:
   - 127.0.0.1:11212:1 one
   - 127.0.0.1:11213:2

beta:
  listen: /tmp/beta.sock 0666
  servers:
  - 127.0.0.1:11211:1
";

    #[test]
    fn reads_pools_and_writes_them_back() {
        let config = Config::parse(SAMPLE).unwrap();
        let alpha = config.pool(Some("alpha")).unwrap();
        assert_eq!(alpha.hash, KeyHash::Md5);
        assert_eq!(alpha.hash_tag.as_deref(), Some("{}"));
        assert_eq!(alpha.auto_eject_hosts, Some(false));
        assert_eq!(alpha.timeout, Some(400));
        assert_eq!(alpha.other, vec![("server_retry_timeout".to_owned(), "2000".to_owned())]);
        assert_eq!(alpha.servers[1], Server::tcp("127.0.0.1", 11213).with_weight(2));
        let beta = config.pool(Some("beta")).unwrap();
        assert_eq!(beta.hash, KeyHash::Fnv1a64, "nutcracker's default");
        assert_eq!(beta.distribution, Distribution::Ketama);
        assert_eq!(Config::parse(&config.to_yaml()).unwrap(), config);
        assert!(matches!(config.pool(None), Err(PoolError::Ambiguous(_))));
        assert!(matches!(config.pool(Some("gamma")), Err(PoolError::NotFound { .. })));
    }

    #[test]
    fn refuses_what_nutcracker_refuses() {
        let err = |t: &str| Config::parse(t).unwrap_err();
        let base = "p:\n  listen: 127.0.0.1:1\n";
        let servers = "  servers:\n   - h:2:1\n";
        assert!(matches!(
            err(&format!("{base}  hash: sha1\n{servers}")).problem,
            ConfigProblem::Invalid { .. }
        ));
        assert!(matches!(
            err(&format!("{base}  distribution: ring\n{servers}")).problem,
            ConfigProblem::Invalid { .. }
        ));
        assert!(matches!(
            err(&format!("{base}  auto_eject_hosts: no\n{servers}")).problem,
            ConfigProblem::Invalid { .. }
        ));
        assert!(matches!(
            err(&format!("{base}  hash_tag: \"{{\"\n{servers}")).problem,
            ConfigProblem::Invalid { .. }
        ));
        assert!(matches!(
            err(&format!("{base}  timeout: -1\n{servers}")).problem,
            ConfigProblem::Invalid { .. }
        ));
        assert_eq!(
            err(&format!("{base}  colour: red\n{servers}")).problem,
            ConfigProblem::UnknownDirective("colour".into())
        );
        assert_eq!(
            err(&format!("{base}  listen: x\n{servers}")),
            ConfigError::at(3, ConfigProblem::Duplicate("listen".into()))
        );
        assert!(matches!(
            err(&format!("{base}  servers:\n   - h:1\n")).problem,
            ConfigProblem::Server(_)
        ));
        assert_eq!(
            err(base).problem,
            ConfigProblem::Missing { pool: "p".into(), directive: "servers" }
        );
        assert_eq!(
            err(&format!("p:\n{servers}")).problem,
            ConfigProblem::Missing { pool: "p".into(), directive: "listen" }
        );
        assert_eq!(err("# nothing\n").problem, ConfigProblem::Empty);
        assert_eq!(
            err(&format!("{base}{servers}p:\n  listen: y\n")).problem,
            ConfigProblem::Duplicate("p".into())
        );
    }
}
