//! `webpipe relay`: piping-server's sender/receiver API.
//!
//! A `PUT` or `POST` to `/path` (the sender) is piped to one `GET /path`
//! (the receiver); whichever arrives first waits for the other. The sender's
//! request body becomes the receiver's response body as it is, so the
//! receiver's pace is the sender's pace and nothing is stored. The sender's
//! own response is a running commentary in piping-server's words, ending
//! with `[INFO] Sent successfully!` only once the receiver has every byte.
//! A sender that fails mid-transfer aborts the receiver's response (never a
//! clean but short one), and a receiver that leaves aborts the sender's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::{BodyError, WebBody, text};

/// Paths that are pages, not pipes.
const RESERVED: [&str; 5] = ["/", "/help", "/version", "/noscript", "/favicon.ico"];

/// Longest path accepted as a pipe name.
pub const MAX_PATH: usize = 1024;

type Info = mpsc::UnboundedSender<Result<Frame<Bytes>, BodyError>>;

/// A sender waiting for (or handed to) its receiver.
struct Transfer {
    /// Read before pairing: reading is what answers `Expect: 100-continue`.
    first: Option<Frame<Bytes>>,
    body: Incoming,
    content_type: Option<HeaderValue>,
    content_length: Option<HeaderValue>,
    content_disposition: Option<HeaderValue>,
    info: Info,
}

enum Slot {
    Sender(Transfer),
    Receiver(oneshot::Sender<Transfer>),
}

impl Slot {
    fn is_live(&self) -> bool {
        match self {
            Slot::Sender(t) => !t.info.is_closed(),
            Slot::Receiver(tx) => !tx.is_closed(),
        }
    }
}

#[derive(Default)]
struct Relay {
    slots: Mutex<HashMap<String, Slot>>,
}

/// Relays on `listener` until the task is dropped.
pub async fn relay(listener: TcpListener) {
    let relay = Arc::new(Relay::default());
    crate::accept_loop(listener, move |peer, req| {
        let relay = Arc::clone(&relay);
        async move { relay.handle(peer, req).await }
    })
    .await;
}

fn say(info: &Info, line: &str) {
    let _ = info.send(Ok(Frame::data(Bytes::from(format!("[INFO] {line}\n")))));
}

impl Relay {
    async fn handle(&self, peer: SocketAddr, req: Request<Incoming>) -> Response<WebBody> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let mut response = if path.len() > MAX_PATH {
            text(StatusCode::URI_TOO_LONG, "[ERROR] The path is too long.\n")
        } else if method == Method::OPTIONS {
            preflight()
        } else if let Some(n) = receivers_wanted(&req)
            && n != 1
        {
            text(
                StatusCode::BAD_REQUEST,
                "[ERROR] Only n=1 (one receiver per sender) is supported.\n",
            )
        } else if method == Method::GET || method == Method::HEAD {
            if RESERVED.contains(&path.as_str()) { page(&path) } else { self.receive(&path).await }
        } else if method == Method::PUT || method == Method::POST {
            if RESERVED.contains(&path.as_str()) {
                text(
                    StatusCode::BAD_REQUEST,
                    format!("[ERROR] Cannot send to the reserved path '{path}'.\n"),
                )
            } else {
                self.send(&path, req).await
            }
        } else {
            text(StatusCode::METHOD_NOT_ALLOWED, format!("[ERROR] Unsupported method: {method}.\n"))
        };
        tracing::info!("{peer} {method} {path} {}", response.status().as_u16());
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        response
    }

    async fn send(&self, path: &str, req: Request<Incoming>) -> Response<WebBody> {
        let (parts, mut body) = req.into_parts();
        let headers = &parts.headers;
        // curl sends `Expect: 100-continue` and, given a final response
        // first, waits a second before uploading; reading one frame now
        // sends the `100 Continue` at once. One frame is bounded by hyper's
        // read buffer.
        let first = match body.frame().await {
            None => None,
            Some(Ok(frame)) => Some(frame),
            Some(Err(e)) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("[ERROR] Reading the body failed: {e}.\n"),
                );
            }
        };
        let (info, info_rx) = mpsc::unbounded_channel();
        let transfer = Transfer {
            content_type: headers.get(header::CONTENT_TYPE).cloned(),
            content_length: headers.get(header::CONTENT_LENGTH).cloned(),
            content_disposition: headers.get(header::CONTENT_DISPOSITION).cloned(),
            info: info.clone(),
            first,
            body,
        };
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        match slots.remove(path) {
            Some(Slot::Receiver(receiver)) if !receiver.is_closed() => {
                say(&info, "Waiting for 1 receiver(s)...");
                // The receiver is gone only if it left in the last instant;
                // then its `RelayBody` drop tells this sender.
                let _ = receiver.send(transfer);
            }
            Some(slot @ Slot::Sender(_)) if slot.is_live() => {
                slots.insert(path.to_owned(), slot);
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("[ERROR] Another sender has been connected on '{path}'.\n"),
                );
            }
            _ => {
                say(&info, "Waiting for 1 receiver(s)...");
                slots.insert(path.to_owned(), Slot::Sender(transfer));
            }
        }
        drop(slots);
        let mut response = Response::new(InfoBody { rx: info_rx }.boxed_unsync());
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        response
    }

    async fn receive(&self, path: &str) -> Response<WebBody> {
        let waiting = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            match slots.remove(path) {
                Some(Slot::Sender(transfer)) if !transfer.info.is_closed() => {
                    return deliver(transfer);
                }
                Some(slot @ Slot::Receiver(_)) if slot.is_live() => {
                    slots.insert(path.to_owned(), slot);
                    return text(
                        StatusCode::BAD_REQUEST,
                        format!("[ERROR] Another receiver has been connected on '{path}'.\n"),
                    );
                }
                _ => {
                    let (tx, rx) = oneshot::channel();
                    slots.insert(path.to_owned(), Slot::Receiver(tx));
                    rx
                }
            }
        };
        // Dropped with this future when the receiver disconnects, which
        // marks the slot dead for the next sender.
        match waiting.await {
            Ok(transfer) => deliver(transfer),
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "[ERROR] The sender vanished.\n"),
        }
    }
}

/// piping-server's `?n=` query: the number of receivers wanted.
fn receivers_wanted(req: &Request<Incoming>) -> Option<u64> {
    let query = req.uri().query()?;
    let value = query.split('&').find_map(|pair| pair.strip_prefix("n="))?;
    Some(value.parse().unwrap_or(0))
}

fn deliver(transfer: Transfer) -> Response<WebBody> {
    say(&transfer.info, "A receiver was connected.");
    say(&transfer.info, "Start sending to 1 receiver(s)!");
    let mut response = Response::new(
        RelayBody {
            first: transfer.first,
            inner: transfer.body,
            info: Some(transfer.info),
            finished: false,
            hold: crate::HoldBack::default(),
        }
        .boxed_unsync(),
    );
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        transfer
            .content_type
            .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream")),
    );
    if let Some(length) = transfer.content_length {
        headers.insert(header::CONTENT_LENGTH, length);
    }
    if let Some(disposition) = transfer.content_disposition {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn preflight() -> Response<WebBody> {
    let mut response = text(StatusCode::OK, "");
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, PUT, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, Content-Disposition"),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    response
}

fn page(path: &str) -> Response<WebBody> {
    if path == "/version" {
        return text(StatusCode::OK, format!("{}\n", env!("CARGO_PKG_VERSION")));
    }
    if path == "/favicon.ico" {
        return text(StatusCode::NOT_FOUND, "");
    }
    text(
        StatusCode::OK,
        "webpipe relay: piping-server's API\n\
         \n\
         send:    curl -T FILE http://HOST/SOME/PATH   (or POST, or `-T -` for stdin)\n\
         receive: curl http://HOST/SOME/PATH > FILE\n\
         \n\
         Whichever comes first waits for the other; one receiver per sender.\n",
    )
}

/// The sender's response: commentary lines pushed by whoever pairs it.
struct InfoBody {
    rx: mpsc::UnboundedReceiver<Result<Frame<Bytes>, BodyError>>,
}

impl Body for InfoBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.rx.poll_recv(cx)
    }
}

/// The receiver's response: the sender's request body, reporting its end
/// (or the receiver's departure) to the sender.
///
/// An error right after data is held back for one `Pending`, so hyper
/// flushes that data before it aborts the connection
/// ([`HoldBack`](crate::HoldBack)).
struct RelayBody {
    first: Option<Frame<Bytes>>,
    inner: Incoming,
    info: Option<Info>,
    finished: bool,
    hold: crate::HoldBack,
}

impl Body for RelayBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if let Some(error) = this.hold.take() {
            return error;
        }
        let polled = match this.first.take() {
            Some(first) => Poll::Ready(Some(Ok(first))),
            None => match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(None) => {
                    this.finished = true;
                    if let Some(info) = this.info.take() {
                        say(&info, "Sent successfully!");
                    }
                    Poll::Ready(None)
                }
                Poll::Ready(Some(Err(e))) => {
                    this.finished = true;
                    // The sender is gone; nobody is left to tell.
                    this.info = None;
                    Poll::Ready(Some(Err(Box::new(e) as BodyError)))
                }
                other => other.map(|f| f.map(|r| r.map_err(|e| Box::new(e) as BodyError))),
            },
        };
        this.hold.pass(cx, polled)
    }

    fn is_end_stream(&self) -> bool {
        !self.hold.is_holding() && self.first.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let n = self.first.as_ref().and_then(Frame::data_ref).map_or(0, |d| d.len() as u64);
        let mut hint = SizeHint::new();
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + n);
        }
        hint.set_lower(inner.lower() + n);
        hint
    }
}

impl Drop for RelayBody {
    fn drop(&mut self) {
        let Some(info) = self.info.take() else { return };
        if self.finished || (self.first.is_none() && self.inner.is_end_stream()) {
            say(&info, "Sent successfully!");
        } else {
            let _ = info.send(Ok(Frame::data(Bytes::from_static(
                b"[ERROR] The receiver disconnected before the transfer finished.\n",
            ))));
            let _ = info.send(Err("receiver disconnected".into()));
        }
    }
}
