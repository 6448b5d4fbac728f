//! Errors as GeoCouch (CouchDB) reports them: an HTTP status and a JSON body
//! `{"error":"…","reason":"…"}`.

use crate::error::{BoxError, QueryError};
use std::fmt::Write as _;

/// An error to send back over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouchError {
    status: u16,
    error: &'static str,
    reason: String,
}

impl CouchError {
    /// An error from its parts.
    pub fn new(status: u16, error: &'static str, reason: impl Into<String>) -> CouchError {
        CouchError { status, error, reason: reason.into() }
    }

    /// 404 `not_found`: no such bucket or index. `reason` names what is
    /// missing, for example `no geo index "places" in bucket "default"`.
    pub fn not_found(reason: impl Into<String>) -> CouchError {
        CouchError::new(404, "not_found", reason)
    }

    /// 400 `query_parse_error` for an error whose chain is the reason.
    pub fn bad_request(err: &(dyn std::error::Error + 'static)) -> CouchError {
        CouchError::new(400, "query_parse_error", chain(err))
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The short error word (`query_parse_error`, `not_found`).
    pub fn error(&self) -> &str {
        self.error
    }

    /// The human-readable reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        let body = serde_json::json!({ "error": self.error, "reason": self.reason });
        body.to_string().into_bytes()
    }
}

/// An error and its sources, joined by `": "`.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let _ = write!(out, ": {e}");
        next = e.source();
    }
    out
}

impl From<&QueryError> for CouchError {
    fn from(err: &QueryError) -> CouchError {
        CouchError::bad_request(err)
    }
}

impl From<&BoxError> for CouchError {
    fn from(err: &BoxError) -> CouchError {
        CouchError::bad_request(err)
    }
}

impl std::fmt::Display for CouchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.error, self.reason)
    }
}

impl std::error::Error for CouchError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let e = CouchError::from(&QueryError::Bbox(BoxError::Latitude(91.0)));
        assert_eq!(e.status(), 400);
        let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "error": "query_parse_error",
                "reason": "invalid bbox: latitude 91 is outside [-90, 90]"
            })
        );
        let e = CouchError::not_found("no geo index \"x\"");
        assert_eq!((e.status(), e.error()), (404, "not_found"));
        assert_eq!(e.body(), br#"{"error":"not_found","reason":"no geo index \"x\""}"#);
    }
}
