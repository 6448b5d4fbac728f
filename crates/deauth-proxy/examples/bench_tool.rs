//! The load pieces `scripts/bench-deauth` drives: an upstream that requires
//! Basic credentials, a continuous-feed latency client, and a long-poll
//! holder.
//!
//! ```text
//! bench_tool serve ADDR AUTHORIZATION-VALUE
//!     /big/N       N bytes (Content-Length), 256 KiB frames
//!     /small       100 bytes
//!     /feed/N/MS   N lines, one every MS ms, each the send time in ns
//!     /hold/MS     answers after MS ms (a long-poll)
//! bench_tool feed-latency URL [AUTH]   prints p50/p99/max line delay (µs)
//! bench_tool longpolls URL CONNS SECS  CONNS loops of GET URL for SECS
//! ```

use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Empty, Full, combinators::UnsyncBoxBody};
use hyper::body::{Body, Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::mpsc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Out = UnsyncBoxBody<Bytes, BoxError>;

struct Chan(mpsc::Receiver<Bytes>);

impl Body for Chan {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn full(status: StatusCode, b: impl Into<Bytes>) -> Response<Out> {
    let mut r = Response::new(Full::new(b.into()).map_err(|n| match n {}).boxed_unsync());
    *r.status_mut() = status;
    r
}

async fn route(auth: &str, req: Request<Incoming>) -> Response<Out> {
    if req.headers().get("authorization").and_then(|v| v.to_str().ok()) != Some(auth) {
        return full(StatusCode::UNAUTHORIZED, "unauthorized\n");
    }
    let parts: Vec<&str> = req.uri().path().split('/').skip(1).collect();
    let num = |i: usize| parts.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    match parts.first().copied() {
        Some("big") => {
            let total = num(1);
            let (tx, rx) = mpsc::channel(2);
            tokio::spawn(async move {
                let block = Bytes::from(vec![b'x'; 256 * 1024]);
                let mut left = total;
                while left > 0 {
                    let n = left.min(block.len() as u64) as usize;
                    if tx.send(block.slice(..n)).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
            });
            let mut r = Response::new(Chan(rx).boxed_unsync());
            r.headers_mut().insert("content-length", HeaderValue::from(total));
            r
        }
        Some("small") => full(StatusCode::OK, vec![b's'; 100]),
        Some("feed") => {
            let (lines, ms) = (num(1), num(2));
            let (tx, rx) = mpsc::channel(1);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(ms.max(1)));
                for _ in 0..lines {
                    tick.tick().await;
                    if tx.send(Bytes::from(format!("{}\n", now_ns()))).await.is_err() {
                        return;
                    }
                }
            });
            Response::new(Chan(rx).boxed_unsync())
        }
        Some("hold") => {
            tokio::time::sleep(Duration::from_millis(num(1))).await;
            full(StatusCode::OK, "{\"results\":[]}\n")
        }
        _ => full(StatusCode::NOT_FOUND, "no\n"),
    }
}

async fn serve(addr: &str, auth: String) {
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    println!("bench_tool listening on http://{}", listener.local_addr().expect("addr"));
    let auth: &'static str = Box::leak(auth.into_boxed_str());
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| async move {
                Ok::<_, Infallible>(route(auth, req).await)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn feed_latency(url: &str, auth: &str) {
    let mut request = Request::get(url).body(Empty::new()).expect("url");
    if !auth.is_empty() {
        request.headers_mut().insert("authorization", HeaderValue::from_str(auth).expect("auth"));
    }
    let response = client().request(request).await.expect("request");
    let mut body = response.into_body();
    let mut pending = Vec::new();
    let mut delays = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.expect("frame").into_data() else { continue };
        let arrived = now_ns();
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if let Ok(sent) = String::from_utf8_lossy(&line[..end]).parse::<u128>() {
                delays.push(arrived.saturating_sub(sent) / 1000);
            }
        }
    }
    delays.sort_unstable();
    let pick = |percent: usize| delays[(delays.len() - 1) * percent / 100];
    println!(
        "lines {} p50_us {} p99_us {} max_us {}",
        delays.len(),
        pick(50),
        pick(99),
        delays[delays.len() - 1]
    );
}

async fn longpolls(url: &str, conns: usize, secs: u64) {
    let client = client();
    let uri: http::Uri = url.parse().expect("url");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let (client, uri) = (client.clone(), uri.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u64, 0u64);
                while Instant::now() < deadline {
                    match client.get(uri.clone()).await {
                        Ok(r) if r.status() == StatusCode::OK => {
                            if r.into_body().collect().await.is_ok() {
                                ok += 1;
                            } else {
                                failed += 1;
                            }
                        }
                        _ => {
                            failed += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (o, f) = t.await.expect("task");
        ok += o;
        failed += f;
    }
    println!("longpolls conns {conns} completed {ok} failed {failed}");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match arg(0).as_str() {
        "serve" => serve(&arg(1), arg(2)).await,
        "feed-latency" => feed_latency(&arg(1), &arg(2)).await,
        "longpolls" => {
            longpolls(&arg(1), arg(2).parse().unwrap_or(1000), arg(3).parse().unwrap_or(10)).await;
        }
        _ => eprintln!("usage: see the comment at the top of bench_tool.rs"),
    }
}
