//! The environment fingerprint: the part of a run's input that is not in the
//! tree.
//!
//! It holds the platform (OS and CPU architecture), the values of an
//! allow-list of environment variables, and the output of *probes*: small
//! commands such as `rustc -vV` whose output names the toolchain.
//!
//! Both lists come from git config, git-style multi-valued keys where an
//! empty value resets the list built so far:
//!
//! * `memo.env` — variable names to add to [`DEFAULT_VARS`]; a name ending in
//!   `*` matches every variable with that prefix.
//! * `memo.probe` — a command line (split on whitespace, no shell) to add to
//!   the built-in probes for well-known tools ([`default_probes`]).
//!
//! Machine-specific things (host name, user, absolute paths) are left out on
//! purpose, so that results shared through notes match on other machines
//! that have the same toolchain.

use crate::key::{FieldHasher, os_bytes};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

/// Variables in the fingerprint unless `memo.env` resets the list.
pub const DEFAULT_VARS: &[&str] = &[
    "CC",
    "CXX",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUSTUP_TOOLCHAIN",
    "CARGO_BUILD_TARGET",
    "GOFLAGS",
    "GOOS",
    "GOARCH",
    "CGO_ENABLED",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "JAVA_HOME",
    "NODE_ENV",
    "NODE_OPTIONS",
];

/// Most probe output kept (bytes); toolchain banners are tiny.
const PROBE_OUTPUT_LIMIT: usize = 64 * 1024;

/// Built-in probes for the command's program name (`argv[0]` without its
/// directory).
pub fn default_probes(argv0: &str) -> Vec<Vec<String>> {
    let name = Path::new(argv0).file_name().and_then(|n| n.to_str()).unwrap_or(argv0);
    let v = |p: &[&str]| vec![p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()];
    match name {
        "cargo" | "cargo-nextest" | "rustc" => v(&["rustc", "-vV"]),
        "go" => v(&["go", "version"]),
        "python" | "python3" | "node" | "gcc" | "g++" | "cc" | "c++" | "clang" | "clang++" => {
            v(&[argv0, "--version"])
        }
        "pytest" | "tox" | "nox" => v(&["python3", "--version"]),
        "npm" | "npx" | "yarn" | "pnpm" => v(&["node", "--version"]),
        "mvn" | "gradle" | "java" => v(&["java", "-version"]),
        _ => Vec::new(),
    }
}

/// The configured lists, after applying git-config reset semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvConfig {
    /// Variable names or `PREFIX*` patterns.
    pub vars: Vec<String>,
    /// Probe command lines, already split.
    pub probes: Vec<Vec<String>>,
}

/// Apply git's multi-valued list rule: start from `defaults`, append each
/// value, and let an empty value clear everything before it.
pub fn apply_list(defaults: Vec<String>, values: &[String]) -> Vec<String> {
    let mut out = defaults;
    for v in values {
        if v.trim().is_empty() {
            out.clear();
        } else {
            out.push(v.trim().to_owned());
        }
    }
    out
}

impl EnvConfig {
    /// Build from the raw `memo.env` and `memo.probe` values (in config
    /// order) for a command whose `argv[0]` is `argv0`.
    pub fn from_values(env_values: &[String], probe_values: &[String], argv0: &str) -> Self {
        let vars = apply_list(DEFAULT_VARS.iter().map(|s| (*s).to_owned()).collect(), env_values);
        let default_probes: Vec<String> =
            default_probes(argv0).into_iter().map(|p| p.join(" ")).collect();
        let probes = apply_list(default_probes, probe_values)
            .into_iter()
            .map(|p| p.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter(|p| !p.is_empty())
            .collect();
        EnvConfig { vars, probes }
    }
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// The probe command.
    pub argv: Vec<String>,
    /// Exit status, `None` when it could not be started or was killed.
    pub status: Option<i32>,
    /// Its stdout followed by its stderr (truncated to 64 KiB each).
    pub output: Vec<u8>,
}

/// The collected fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `std::env::consts::OS`/`ARCH`.
    pub platform: String,
    /// Allow-listed variables: name → value (absent variables are listed as
    /// `None` when named exactly, so setting one changes the key).
    pub vars: BTreeMap<String, Option<OsString>>,
    /// Probe results in configuration order.
    pub probes: Vec<ProbeResult>,
}

impl Fingerprint {
    /// Collect from the real process environment, running probes in `dir`.
    pub fn collect(config: &EnvConfig, dir: &Path) -> Self {
        Self::collect_from(config, std::env::vars_os(), |argv| run_probe(argv, dir))
    }

    /// Collect from given variables and a probe runner (for tests).
    pub fn collect_from(
        config: &EnvConfig,
        environ: impl IntoIterator<Item = (OsString, OsString)>,
        mut probe: impl FnMut(&[String]) -> ProbeResult,
    ) -> Self {
        let environ: BTreeMap<OsString, OsString> = environ.into_iter().collect();
        let mut vars = BTreeMap::new();
        for pattern in &config.vars {
            if let Some(prefix) = pattern.strip_suffix('*') {
                for (k, v) in &environ {
                    if let Some(k) = k.to_str().filter(|k| k.starts_with(prefix)) {
                        vars.insert(k.to_owned(), Some(v.clone()));
                    }
                }
            } else {
                vars.insert(pattern.clone(), environ.get(&OsString::from(pattern)).cloned());
            }
        }
        let probes = config.probes.iter().map(|p| probe(p)).collect();
        Fingerprint {
            platform: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
            vars,
            probes,
        }
    }

    /// Canonical digest (hex SHA-256) that goes into the key.
    pub fn digest(&self) -> String {
        let mut h = FieldHasher::new("git-memo env v1");
        h.bytes(self.platform.as_bytes());
        h.count(self.vars.len());
        for (k, v) in &self.vars {
            h.bytes(k.as_bytes());
            match v {
                None => h.count(0),
                Some(v) => {
                    h.count(1);
                    h.bytes(&os_bytes(v));
                }
            }
        }
        h.count(self.probes.len());
        for p in &self.probes {
            h.count(p.argv.len());
            for a in &p.argv {
                h.bytes(a.as_bytes());
            }
            h.bytes(p.status.map_or_else(|| "none".to_owned(), |s| s.to_string()).as_bytes());
            h.bytes(&p.output);
        }
        h.finish()
    }

    /// Human-readable lines, for `git memo status --explain`.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![format!("platform {}", self.platform)];
        for (k, v) in &self.vars {
            match v {
                Some(v) => out.push(format!("env {k}={}", v.to_string_lossy())),
                None => out.push(format!("env {k} (unset)")),
            }
        }
        for p in &self.probes {
            let first = String::from_utf8_lossy(&p.output);
            let first = first.lines().next().unwrap_or("").trim().to_owned();
            let status = p.status.map_or_else(|| "not run".to_owned(), |s| format!("exit {s}"));
            out.push(format!("probe `{}` ({status}): {first}", p.argv.join(" ")));
        }
        out
    }
}

fn run_probe(argv: &[String], dir: &Path) -> ProbeResult {
    let mut result = ProbeResult { argv: argv.to_vec(), status: None, output: Vec::new() };
    let Some((prog, prog_args)) = argv.split_first() else { return result };
    if let Ok(out) =
        Command::new(prog).args(prog_args).current_dir(dir).stdin(Stdio::null()).output()
    {
        result.status = out.status.code();
        result.output.extend_from_slice(&out.stdout[..out.stdout.len().min(PROBE_OUTPUT_LIMIT)]);
        result.output.extend_from_slice(&out.stderr[..out.stderr.len().min(PROBE_OUTPUT_LIMIT)]);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(env: &[&str], probes: &[&str], argv0: &str) -> EnvConfig {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        EnvConfig::from_values(&s(env), &s(probes), argv0)
    }

    fn fp(c: &EnvConfig, env: &[(&str, &str)]) -> Fingerprint {
        Fingerprint::collect_from(
            c,
            env.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))),
            |argv| ProbeResult { argv: argv.to_vec(), status: Some(0), output: b"v1".to_vec() },
        )
    }

    #[test]
    fn list_reset_semantics() {
        let d = vec!["A".to_owned()];
        assert_eq!(apply_list(d.clone(), &[]), vec!["A"]);
        assert_eq!(apply_list(d.clone(), &["B".into()]), vec!["A", "B"]);
        assert_eq!(apply_list(d.clone(), &["B".into(), String::new(), "C".into()]), vec!["C"]);
        assert!(apply_list(d, &[String::new()]).is_empty());
    }

    #[test]
    fn allow_listed_variables_change_the_digest_others_do_not() {
        let c = cfg(&["MY_FLAG"], &[], "make");
        let base = fp(&c, &[("HOME", "/a")]).digest();
        assert_eq!(base, fp(&c, &[("HOME", "/b"), ("UNLISTED", "x")]).digest());
        assert_ne!(base, fp(&c, &[("MY_FLAG", "1")]).digest());
        assert_ne!(base, fp(&c, &[("RUSTFLAGS", "-Copt-level=3")]).digest());
        // Set to empty is not the same as unset.
        assert_ne!(base, fp(&c, &[("MY_FLAG", "")]).digest());
    }

    #[test]
    fn prefix_patterns() {
        let c = cfg(&["", "APP_*"], &[], "make");
        assert_eq!(c.vars, vec!["APP_*"]);
        let base = fp(&c, &[("CC", "gcc")]).digest();
        assert_eq!(base, fp(&c, &[("CC", "clang")]).digest());
        assert_ne!(base, fp(&c, &[("APP_MODE", "x")]).digest());
    }

    #[test]
    fn probes_by_program_and_config() {
        assert_eq!(cfg(&[], &[], "/usr/bin/cargo").probes, vec![vec!["rustc", "-vV"]]);
        assert!(cfg(&[], &[], "./run-tests.sh").probes.is_empty());
        assert_eq!(
            cfg(&[], &["", "mytool  --version"], "cargo").probes,
            vec![vec!["mytool", "--version"]]
        );
        let c = cfg(&[], &["tool"], "x");
        let a = Fingerprint::collect_from(&c, [], |argv| ProbeResult {
            argv: argv.to_vec(),
            status: Some(0),
            output: b"tool 1.0".to_vec(),
        });
        let b = Fingerprint::collect_from(&c, [], |argv| ProbeResult {
            argv: argv.to_vec(),
            status: Some(0),
            output: b"tool 1.1".to_vec(),
        });
        assert_ne!(a.digest(), b.digest());
        assert!(a.describe().iter().any(|l| l.contains("tool 1.0")));
    }
}
