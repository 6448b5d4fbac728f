//! `webpipe`: a command as a streaming HTTP filter, and a piping-server
//! compatible relay.
//!
//! - [`serve`] runs one child per request: the request body is the child's
//!   stdin, its stdout is the response, both streaming at once (full
//!   duplex). A non-zero exit aborts the response so the client sees a
//!   failed transfer; clients that send `TE: trailers` get the status in an
//!   `x-exit-status` trailer instead. A client that goes away gets its child
//!   (and the child's process group) SIGTERM, then SIGKILL a second later.
//! - [`relay`] pipes one sender's `PUT`/`POST /path` to one receiver's
//!   `GET /path`, whichever comes first waiting for the other, with the
//!   sender's body handed straight to the receiver so a slow receiver slows
//!   the sender instead of growing a buffer.

pub mod relay;
pub mod serve;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// The error a response body may end with; hyper then aborts the response.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response.
pub type WebBody = UnsyncBoxBody<Bytes, BodyError>;

/// What a streaming body's `poll_frame` gives hyper.
pub(crate) type Polled = std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BodyError>>>;

/// Holds an error that follows data directly back for one `Pending`.
///
/// hyper aborts the connection as soon as a body yields an error, without
/// flushing what it buffered in the same write pass; one `Pending` in
/// between (with an immediate wake) lets it flush that data first.
#[derive(Default)]
pub(crate) struct HoldBack {
    held: Option<BodyError>,
    data_since_pending: bool,
}

impl HoldBack {
    /// The error held at the last poll, to yield now.
    pub(crate) fn take(&mut self) -> Option<Polled> {
        self.held.take().map(|e| std::task::Poll::Ready(Some(Err(e))))
    }

    /// Whether an error is waiting.
    pub(crate) fn is_holding(&self) -> bool {
        self.held.is_some()
    }

    /// What to give hyper for `polled`, the body's own next frame.
    pub(crate) fn pass(&mut self, cx: &mut std::task::Context<'_>, polled: Polled) -> Polled {
        use std::task::Poll;
        match polled {
            Poll::Ready(Some(Err(error))) if self.data_since_pending => {
                self.data_since_pending = false;
                self.held = Some(error);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(Some(Ok(frame))) => {
                self.data_since_pending = true;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                self.data_since_pending = false;
                Poll::Pending
            }
            other @ Poll::Ready(_) => other,
        }
    }
}

/// Accepts connections forever, answering each request with `handle`.
/// Accept errors (such as running out of descriptors) are logged and
/// retried after a pause.
pub(crate) async fn accept_loop<H, F>(listener: TcpListener, handle: H)
where
    H: Fn(SocketAddr, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<WebBody>> + Send + 'static,
{
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
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let response = handle(peer, req);
                async move { Ok::<_, std::convert::Infallible>(response.await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(30));
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// A short plain-text response.
pub(crate) fn text(status: StatusCode, message: impl Into<String>) -> Response<WebBody> {
    let body =
        Full::new(Bytes::from(message.into())).map_err(|never| match never {}).boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
