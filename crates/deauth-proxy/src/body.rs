//! A response body that writes the access-log line when it is done.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf as _;
use hyper::body::{Body, Frame, SizeHint};

use crate::access::{self, AccessLog};

/// Passes frames through unchanged, counting bytes; logs once, when the body
/// ends, fails, or is dropped because the client went away (no line when
/// `log` is `None`: the access log is off).
///
/// hyper aborts the connection as soon as a body fails, without flushing
/// what it buffered in the same write pass; so an error right after data
/// is held back for one `Pending`, letting hyper flush that data first.
pub(crate) struct Logged<B: Body + Unpin> {
    inner: B,
    log: Option<AccessLog>,
    outcome: Option<&'static str>,
    held: Option<B::Error>,
    data_since_pending: bool,
}

impl<B: Body + Unpin> Logged<B> {
    pub(crate) fn new(inner: B, log: Option<AccessLog>) -> Self {
        Logged { inner, log, outcome: None, held: None, data_since_pending: false }
    }
}

impl<B> Body for Logged<B>
where
    B: Body + Unpin,
    B::Data: bytes::Buf,
    B::Error: Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Some(error) = this.held.take() {
            return Poll::Ready(Some(Err(error)));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(log)) = (frame.data_ref(), this.log.as_mut()) {
                    log.bytes += data.remaining() as u64;
                }
                this.data_since_pending = true;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.outcome = Some("upstream-error");
                if std::mem::take(&mut this.data_since_pending) {
                    this.held = Some(error);
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => {
                this.outcome = Some("done");
                Poll::Ready(None)
            }
            Poll::Pending => {
                this.data_since_pending = false;
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Body + Unpin> Drop for Logged<B> {
    fn drop(&mut self) {
        if let Some(log) = &self.log {
            let outcome = self.outcome.unwrap_or(if self.inner.is_end_stream() {
                "done"
            } else {
                "client-gone"
            });
            access::write(log, outcome);
        }
    }
}
