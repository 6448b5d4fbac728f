//! A response body that writes the access-log line when it is done.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Buf as _;
use hyper::body::{Body, Frame, SizeHint};

/// What the access-log line reports.
pub(crate) struct AccessLog {
    pub(crate) peer: SocketAddr,
    pub(crate) method: http::Method,
    pub(crate) target: String,
    pub(crate) status: u16,
    pub(crate) start: Instant,
    pub(crate) bytes: u64,
}

/// Passes frames through unchanged, counting bytes; logs once, when the body
/// ends, fails, or is dropped because the client went away.
pub(crate) struct Logged<B: Body + Unpin> {
    inner: B,
    log: AccessLog,
    outcome: Option<&'static str>,
}

impl<B: Body + Unpin> Logged<B> {
    pub(crate) fn new(inner: B, log: AccessLog) -> Self {
        Logged { inner, log, outcome: None }
    }
}

impl<B> Body for Logged<B>
where
    B: Body + Unpin,
    B::Data: bytes::Buf,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.log.bytes += data.remaining() as u64;
                }
            }
            Poll::Ready(Some(Err(_))) => this.outcome = Some("upstream-error"),
            Poll::Ready(None) => this.outcome = Some("done"),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Body + Unpin> Drop for Logged<B> {
    fn drop(&mut self) {
        let log = &self.log;
        let outcome =
            self.outcome.unwrap_or(if self.inner.is_end_stream() { "done" } else { "client-gone" });
        tracing::info!(
            target: "access",
            "{} {} {} {} {} bytes {:.3}s {}",
            log.peer,
            log.method,
            log.target,
            log.status,
            log.bytes,
            log.start.elapsed().as_secs_f64(),
            outcome
        );
    }
}
