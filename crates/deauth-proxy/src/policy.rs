//! Which requests the proxy lets through.

use http::{Method, StatusCode};

/// The request policy: read-only unless writes are allowed, and an optional
/// list of path prefixes.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Let methods other than GET and HEAD through (never TRACE or CONNECT).
    pub allow_write: bool,
    /// When non-empty, only paths under one of these prefixes pass. A prefix
    /// matches at a segment boundary: `/maps` allows `/maps` and `/maps/x`,
    /// not `/maps-private`.
    pub allow_paths: Vec<String>,
}

/// The outcome of [`Policy::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it.
    Allow,
    /// A write on a read-only proxy (403).
    ReadOnly,
    /// A method never forwarded: TRACE would echo the injected credentials,
    /// CONNECT would open a tunnel (405).
    NeverForwarded,
    /// Outside the path allow-list (403).
    PathNotAllowed,
    /// A `.` or `..` segment, plain or percent-encoded (also behind an
    /// encoded `/` or `\`), which could climb out of an allowed prefix
    /// upstream (400).
    DotSegment,
}

impl Verdict {
    /// The status a refusal is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Verdict::Allow => StatusCode::OK,
            Verdict::ReadOnly | Verdict::PathNotAllowed => StatusCode::FORBIDDEN,
            Verdict::NeverForwarded => StatusCode::METHOD_NOT_ALLOWED,
            Verdict::DotSegment => StatusCode::BAD_REQUEST,
        }
    }

    /// The plain-text body a refusal is answered with.
    pub fn message(self, method: &Method, path: &str) -> String {
        match self {
            Verdict::Allow => String::new(),
            Verdict::ReadOnly => format!(
                "deauth-proxy: {method} refused: this proxy is read-only (GET and HEAD only; \
                 start it with --allow-write to forward writes)\n"
            ),
            Verdict::NeverForwarded => {
                format!("deauth-proxy: {method} is never forwarded\n")
            }
            Verdict::PathNotAllowed => {
                format!("deauth-proxy: {path} is outside the allowed paths\n")
            }
            Verdict::DotSegment => {
                format!("deauth-proxy: {path} contains a `.` or `..` segment\n")
            }
        }
    }
}

impl Policy {
    /// Judges a request by its method and path.
    pub fn check(&self, method: &Method, path: &str) -> Verdict {
        if *method == Method::TRACE || *method == Method::CONNECT {
            return Verdict::NeverForwarded;
        }
        if !self.allow_write && *method != Method::GET && *method != Method::HEAD {
            return Verdict::ReadOnly;
        }
        if path.split('/').any(is_dot_segment) {
            return Verdict::DotSegment;
        }
        if !self.allow_paths.is_empty() && !self.allow_paths.iter().any(|p| under(path, p)) {
            return Verdict::PathNotAllowed;
        }
        Verdict::Allow
    }
}

fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// Whether a raw path segment is, or after decoding hides, a `.` or `..`
/// segment: `%2e` is a dot, and `%2f` and `%5c` are separators to servers
/// that decode before normalizing.
fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    let decoded = lower.replace("%2e", ".").replace("%2f", "/").replace("%5c", "/");
    decoded.split(['/', '\\']).any(|part| part == "." || part == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_by_default() {
        let p = Policy::default();
        assert_eq!(p.check(&Method::GET, "/db"), Verdict::Allow);
        assert_eq!(p.check(&Method::HEAD, "/db"), Verdict::Allow);
        assert_eq!(p.check(&Method::PUT, "/db"), Verdict::ReadOnly);
        assert_eq!(p.check(&Method::POST, "/db"), Verdict::ReadOnly);
        assert_eq!(p.check(&Method::DELETE, "/db"), Verdict::ReadOnly);
        let w = Policy { allow_write: true, ..Policy::default() };
        assert_eq!(w.check(&Method::PUT, "/db"), Verdict::Allow);
        assert_eq!(w.check(&Method::TRACE, "/db"), Verdict::NeverForwarded);
        assert_eq!(w.check(&Method::CONNECT, "/db"), Verdict::NeverForwarded);
    }

    #[test]
    fn prefixes_match_at_segment_boundaries() {
        let p = Policy { allow_write: false, allow_paths: vec!["/maps".into(), "/tiles/".into()] };
        assert_eq!(p.check(&Method::GET, "/maps"), Verdict::Allow);
        assert_eq!(p.check(&Method::GET, "/maps/_changes"), Verdict::Allow);
        assert_eq!(p.check(&Method::GET, "/tiles/1"), Verdict::Allow);
        assert_eq!(p.check(&Method::GET, "/maps-private"), Verdict::PathNotAllowed);
        assert_eq!(p.check(&Method::GET, "/_users"), Verdict::PathNotAllowed);
        assert_eq!(p.check(&Method::GET, "/maps/../_users"), Verdict::DotSegment);
        assert_eq!(p.check(&Method::GET, "/maps/%2E%2e/_users"), Verdict::DotSegment);
        assert_eq!(p.check(&Method::GET, "/maps/./x"), Verdict::DotSegment);
        assert_eq!(p.check(&Method::GET, "/maps/x%2F..%2f_users"), Verdict::DotSegment);
        assert_eq!(p.check(&Method::GET, "/maps/x%5c..%5C_users"), Verdict::DotSegment);
        assert_eq!(p.check(&Method::GET, "/maps/a..b/c.d"), Verdict::Allow);
    }
}
