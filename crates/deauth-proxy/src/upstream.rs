//! The upstream base URL and how request targets join it.

use std::fmt;
use std::str::FromStr;

use http::HeaderValue;
use http::uri::{Authority, PathAndQuery, Scheme, Uri};

/// An `http://host[:port][/base]` upstream. Request paths are appended to
/// the base path.
#[derive(Debug, Clone)]
pub struct Upstream {
    authority: Authority,
    base: String,
    host: HeaderValue,
    text: String,
}

impl Upstream {
    /// The `Host` value sent upstream.
    pub fn host_header(&self) -> &HeaderValue {
        &self.host
    }

    /// The upstream URI for a request target (`None` means `/`).
    ///
    /// # Errors
    /// The joined target is not a valid URI (cannot happen for targets
    /// hyper parsed, but is reported rather than assumed).
    pub fn join(&self, target: Option<&PathAndQuery>) -> Result<Uri, UpstreamError> {
        let path_and_query = match target {
            // No base path: the client's target is reused as it is (a
            // reference-counted copy, not parsed again).
            Some(target) if self.base.is_empty() => target.clone(),
            _ => {
                let target = target.map_or("/", PathAndQuery::as_str);
                PathAndQuery::try_from(format!("{}{}", self.base, target))
                    .map_err(|_| UpstreamError::Join(target.to_owned()))?
            }
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).map_err(|_| UpstreamError::Join(self.base.clone()))
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Upstream {
    type Err = UpstreamError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why| UpstreamError::Bad { url: text.to_owned(), why };
        let uri: Uri = text.parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad("https upstreams are not supported (plain http only)"));
            }
            Some(_) => return Err(bad("the scheme must be http")),
            None => return Err(bad("the URL needs http:// and a host")),
        }
        let authority = uri.authority().cloned().ok_or_else(|| bad("the URL has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials belong in --auth-file, not in the URL"));
        }
        if uri.query().is_some() {
            return Err(bad("the URL may not carry a query"));
        }
        let base = uri.path().trim_end_matches('/').to_owned();
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| bad("bad host"))?;
        Ok(Upstream { authority, base, host, text: text.to_owned() })
    }
}

/// An unusable upstream URL.
#[derive(Debug)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The `--upstream` value was refused.
    Bad {
        /// The value given.
        url: String,
        /// Why.
        why: &'static str,
    },
    /// A request target could not be joined to the base.
    Join(String),
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::Bad { url, why } => write!(f, "upstream {url}: {why}"),
            UpstreamError::Join(target) => write!(f, "cannot forward request target {target}"),
        }
    }
}

impl std::error::Error for UpstreamError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_under_the_base() {
        let u: Upstream = "http://127.0.0.1:5984/couch/".parse().unwrap();
        let t: PathAndQuery = "/db/_changes?feed=continuous".parse().unwrap();
        assert_eq!(
            u.join(Some(&t)).unwrap().to_string(),
            "http://127.0.0.1:5984/couch/db/_changes?feed=continuous"
        );
        let u: Upstream = "http://h:1".parse().unwrap();
        assert_eq!(u.join(None).unwrap().to_string(), "http://h:1/");
        let t: PathAndQuery = "/a/b?c=%20d".parse().unwrap();
        assert_eq!(u.join(Some(&t)).unwrap().to_string(), "http://h:1/a/b?c=%20d");
        let u: Upstream = "http://h:1/".parse().unwrap();
        assert_eq!(u.join(Some(&t)).unwrap().to_string(), "http://h:1/a/b?c=%20d");
        assert_eq!(u.host_header(), "h:1");
    }

    #[test]
    fn refusals_name_the_url() {
        for bad in ["https://h/", "ftp://h/", "h:80", "http://u:p@h/", "http://h/?q", "::"] {
            let e = bad.parse::<Upstream>().unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
