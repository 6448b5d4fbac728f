//! `deauth-proxy`: a reverse proxy that takes credentials away from its
//! clients and gives the upstream its own.
//!
//! A kiosk browser needs no password for a private database: the proxy strips
//! the client's `Authorization` and `Cookie` headers, injects the upstream's
//! Basic or Bearer credentials, and refuses writes unless told otherwise.
//! Bodies stream frame by frame in both directions, so continuous feeds,
//! long-polls and server-sent events pass as they are produced, and the
//! upstream client pool opens a new connection whenever none is idle, so a
//! thousand held long-polls never queue the next request.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use deauth_proxy::{Config, Credentials, Upstream};
//! let config = Config::new(
//!     "http://127.0.0.1:5984/".parse::<Upstream>().unwrap(),
//!     Credentials::parse("admin:secret").unwrap(),
//! );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! deauth_proxy::serve(listener, config).await
//! # }
//! ```

mod access;
mod auth;
mod body;
mod policy;
mod upstream;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;

pub use access::{FLUSH_AT as ACCESS_LOG_FLUSH_AT, flush as flush_access_log};
pub use auth::{
    AUTH_ENV, AuthSourceError, Credentials, CredentialsError, FileErrorKind, MAX_AUTH_FILE,
};
pub use policy::{Policy, Verdict};
pub use upstream::{Upstream, UpstreamError};

/// Everything the proxy needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where requests go.
    pub upstream: Upstream,
    /// What the upstream is told.
    pub credentials: Credentials,
    /// Which requests pass.
    pub policy: Policy,
    /// How long a client may take to send its request head.
    pub header_timeout: Duration,
    /// How long connecting to the upstream may take.
    pub connect_timeout: Duration,
}

impl Config {
    /// A read-only proxy for every path, with default timeouts.
    pub fn new(upstream: Upstream, credentials: Credentials) -> Self {
        Config {
            upstream,
            credentials,
            policy: Policy::default(),
            header_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Idle upstream connections kept for reuse by each [`serve`], that is by
/// each worker thread of the binary (connections in use are not limited).
pub const MAX_IDLE_UPSTREAM: usize = 128;

/// The most a connection's read buffer, or its queue of body bytes waiting
/// to be written, grows to, on both sides of the proxy (hyper's default,
/// about 400 KiB, costs 20 MB for 50 parallel downloads on each side).
pub const READ_BUFFER: usize = 64 * 1024;

/// The body of every response the proxy sends.
pub type ProxyBody = UnsyncBoxBody<Bytes, hyper::Error>;

struct State {
    config: Config,
    client: Client<HttpConnector, Incoming>,
    via: HeaderValue,
}

/// Accepts connections on `listener` and proxies them until the task is
/// dropped. Each call has its own upstream connection pool: the binary runs
/// one `serve` per worker thread, each on a single-threaded runtime. Accept errors (such as running out of descriptors) are logged
/// and retried after a short pause, never fatal.
///
/// # Errors
/// None today; the signature leaves room for fatal listener errors.
pub async fn serve(listener: TcpListener, config: Config) -> std::io::Result<()> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(config.connect_timeout));
    // Notice a vanished upstream host on otherwise silent long-polls.
    connector.set_keepalive(Some(Duration::from_secs(15)));
    // No per-host limit exists on connections in use: a request that finds
    // no idle connection opens a new one instead of queueing. Only idle
    // connections are capped, so a burst of a thousand finished long-polls
    // does not keep a thousand descriptors open for the idle timeout.
    let client = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(MAX_IDLE_UPSTREAM)
        .http1_max_buf_size(READ_BUFFER)
        .build(connector);
    let state =
        Arc::new(State { config, client, via: HeaderValue::from_static("1.1 deauth-proxy") });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; retrying in 100 ms");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        let header_timeout = state.config.header_timeout;
        let client_ip = client_ip_header(peer);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                let client_ip = client_ip.clone();
                async move { Ok::<_, Infallible>(handle(&state, peer, &client_ip, req).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(READ_BUFFER);
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, error = %e, "client connection ended with an error");
            }
        });
    }
}

async fn handle(
    state: &State,
    peer: SocketAddr,
    client_ip: &HeaderValue,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let mut log = access::enabled().then(|| access::AccessLog {
        peer,
        method: req.method().clone(),
        target: req.uri().path_and_query().map_or("/", http::uri::PathAndQuery::as_str).to_owned(),
        status: 0,
        start: Instant::now(),
        bytes: 0,
    });

    let response = match state.config.policy.check(req.method(), req.uri().path()) {
        Verdict::Allow => forward(state, client_ip, req).await,
        refused => local(refused.status(), refused.message(req.method(), req.uri().path())),
    };
    if let Some(log) = log.as_mut() {
        log.status = response.status().as_u16();
    }
    let (parts, inner) = response.into_parts();
    Response::from_parts(parts, body::Logged::new(inner, log).boxed_unsync())
}

fn local(status: StatusCode, message: String) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(message)).map_err(|never| match never {}).boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

async fn forward(
    state: &State,
    client_ip: &HeaderValue,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let (mut parts, body) = req.into_parts();
    let upstream = &state.config.upstream;
    parts.uri = match upstream.join(parts.uri.path_and_query()) {
        Ok(uri) => uri,
        Err(e) => return local(StatusCode::BAD_REQUEST, format!("deauth-proxy: {e}\n")),
    };
    parts.version = http::Version::HTTP_11;
    let headers = &mut parts.headers;
    let original_host = headers.remove(header::HOST);
    strip_hop_by_hop(headers);
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::COOKIE);
    // This side already answered any `Expect: 100-continue`.
    headers.remove(header::EXPECT);
    headers.insert(header::AUTHORIZATION, state.config.credentials.header().clone());
    headers.insert(header::HOST, upstream.host_header().clone());
    if let Some(host) = original_host {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host);
    }
    append_forwarded_for(headers, client_ip);
    headers.append(header::VIA, state.via.clone());
    let request = Request::from_parts(parts, body);

    match state.client.request(request).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            // Nothing the upstream grants the injected credentials may reach
            // the client, and a challenge would only make a browser prompt.
            parts.headers.remove(header::SET_COOKIE);
            parts.headers.remove(header::WWW_AUTHENTICATE);
            parts.headers.append(header::VIA, state.via.clone());
            if parts.status == StatusCode::UNAUTHORIZED {
                tracing::warn!("upstream {} refused the injected credentials (401)", upstream);
            }
            Response::from_parts(parts, body.boxed_unsync())
        }
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "upstream {} failed", upstream);
            local(
                StatusCode::BAD_GATEWAY,
                format!("deauth-proxy: upstream {upstream} failed: {}\n", error_chain(&e)),
            )
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// Removes the connection-specific fields RFC 9110 §7.6.1 names, and every
/// field the `Connection` header lists.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("proxy-connection"),
        HeaderName::from_static("keep-alive"),
        header::TE,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
}

/// The `X-Forwarded-For` value for a client address, made once per client
/// connection (an IP address is always a valid header value).
fn client_ip_header(peer: SocketAddr) -> HeaderValue {
    HeaderValue::from_str(&peer.ip().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

fn append_forwarded_for(headers: &mut HeaderMap, client_ip: &HeaderValue) {
    let name = HeaderName::from_static("x-forwarded-for");
    // A prior value that is not text cannot be extended: it is replaced.
    let extended = headers.get(&name).and_then(|prior| {
        let (prior, ip) = (prior.to_str().ok()?, client_ip.to_str().ok()?);
        HeaderValue::from_str(&format!("{prior}, {ip}")).ok()
    });
    headers.insert(name, extended.unwrap_or_else(|| client_ip.clone()));
}

/// Raises the soft open-files limit to the hard one, so many held
/// long-polls (two descriptors each) do not exhaust a default 1024.
/// Returns the new soft limit, or `None` when it could not be read.
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if setrlimit(Resource::Nofile, limit).is_err() {
            return getrlimit(Resource::Nofile).current;
        }
    }
    limit.current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_fields_and_listed_ones_go() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key(header::ACCEPT));
    }

    #[test]
    fn forwarded_for_appends() {
        let mut h = HeaderMap::new();
        let ip = client_ip_header("10.0.0.2:5000".parse().unwrap());
        append_forwarded_for(&mut h, &ip);
        append_forwarded_for(&mut h, &ip);
        assert_eq!(h["x-forwarded-for"], "10.0.0.2, 10.0.0.2");
    }
}
