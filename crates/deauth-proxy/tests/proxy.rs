//! End-to-end tests: the real `deauth-proxy` binary between real `curl` and
//! a small hyper upstream that requires the credentials.

use std::convert::Infallible;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type UpBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// "admin:s3cret" in Basic form.
const BASIC: &str = "Basic YWRtaW46czNjcmV0";
const BIG: usize = 24 * 1024 * 1024;

struct ChanBody(mpsc::Receiver<Result<Frame<Bytes>, BoxError>>);

impl Body for ChanBody {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0.poll_recv(cx)
    }
}

fn full(status: StatusCode, text: impl Into<Bytes>) -> Response<UpBody> {
    let mut r = Response::new(Full::new(text.into()).map_err(|n| match n {}).boxed_unsync());
    *r.status_mut() = status;
    r
}

fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// The test upstream. Every request without `expected` credentials gets
/// 401; `hits` counts the requests that reached it.
struct Upstream {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

async fn upstream(expected: &'static str) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async move { Ok::<_, Infallible>(route(expected, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Upstream { addr, hits }
}

async fn route(expected: &str, req: Request<Incoming>) -> Response<UpBody> {
    if req.headers().get("authorization").and_then(|v| v.to_str().ok()) != Some(expected) {
        return full(StatusCode::UNAUTHORIZED, "unauthorized\n");
    }
    let path = req.uri().path().to_owned();
    let mut response = match path.as_str() {
        "/echo" | "/db/echo" => {
            let h = req.headers();
            let get = |n: &str| h.get(n).map_or("-", |v| v.to_str().unwrap_or("?")).to_owned();
            let head = format!(
                "method={} target={} authorization={} cookie={} host={} via={} xff={} connection-listed={}\n",
                req.method(),
                req.uri(),
                get("authorization"),
                get("cookie"),
                get("host"),
                get("via"),
                get("x-forwarded-for"),
                get("x-listed"),
            );
            let body = req.into_body().collect().await.map_or(0, |b| b.to_bytes().len());
            full(StatusCode::OK, format!("{head}body={body}\n"))
        }
        "/feed" => {
            // A continuous feed: a line every 20 ms, forever.
            let (tx, rx) = mpsc::channel(1);
            tokio::spawn(async move {
                for seq in 0u64.. {
                    let line = format!("{{\"seq\":{seq}}}\n");
                    if tx.send(Ok(Frame::data(Bytes::from(line)))).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
            Response::new(ChanBody(rx).boxed_unsync())
        }
        "/die" => {
            // Three lines, then the upstream "dies": the body fails and hyper
            // drops the connection mid-stream.
            let (tx, rx) = mpsc::channel(1);
            tokio::spawn(async move {
                for seq in 0..3 {
                    let _ = tx.send(Ok(Frame::data(Bytes::from(format!("line {seq}\n"))))).await;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = tx.send(Err("upstream crashed".into())).await;
            });
            Response::new(ChanBody(rx).boxed_unsync())
        }
        "/hold" => {
            // A long-poll that answers after two seconds.
            tokio::time::sleep(Duration::from_secs(2)).await;
            full(StatusCode::OK, "held\n")
        }
        "/big" => {
            let (tx, rx) = mpsc::channel(2);
            tokio::spawn(async move {
                let mut sent = 0;
                while sent < BIG {
                    let n = (BIG - sent).min(256 * 1024);
                    let chunk: Vec<u8> = (sent..sent + n).map(pattern_byte).collect();
                    if tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() {
                        return;
                    }
                    sent += n;
                }
            });
            let mut r = Response::new(ChanBody(rx).boxed_unsync());
            r.headers_mut().insert("content-length", HeaderValue::from(BIG));
            r
        }
        _ => full(StatusCode::NOT_FOUND, "no such path\n"),
    };
    response.headers_mut().insert("set-cookie", HeaderValue::from_static("AuthSession=admin"));
    response
}

/// The proxy binary, killed on drop.
struct Proxy {
    child: Child,
    url: String,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proxy_with(upstream: SocketAddr, extra: &[&str], env: Option<&str>) -> Proxy {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deauth-proxy"));
    cmd.args(["--listen", "127.0.0.1:0", "--upstream", &format!("http://{upstream}/")])
        .args(extra)
        .env_remove("DEAUTH_PROXY_AUTH")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(value) = env {
        cmd.env("DEAUTH_PROXY_AUTH", value);
    }
    let mut child = cmd.spawn().expect("start deauth-proxy");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line:?}");
    Proxy { child, url }
}

fn auth_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("auth");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn proxy(upstream: SocketAddr, dir: &tempfile::TempDir, extra: &[&str]) -> Proxy {
    let file = auth_file(dir, "admin:s3cret\n");
    let mut args = vec!["--auth-file", &file];
    args.extend_from_slice(extra);
    proxy_with(upstream, &args, None)
}

struct Curl {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

async fn curl(args: &[&str]) -> Curl {
    let out = tokio::process::Command::new("curl")
        .arg("-sS")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("curl is installed (scripts/install-test-deps)");
    Curl {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn text(c: &Curl) -> String {
    String::from_utf8_lossy(&c.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strips_client_credentials_and_injects_the_upstreams() {
    let up = upstream(BASIC).await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(up.addr, &dir, &[]);
    let out = curl(&[
        "-i",
        "-u",
        "mallory:guess",
        "-b",
        "sid=stolen",
        "-H",
        "Connection: x-listed",
        "-H",
        "X-Listed: drop-me",
        &format!("{}/echo?q=1", p.url),
    ])
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let body = text(&out);
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains(&format!("authorization={BASIC} ")), "{body}");
    assert!(body.contains("cookie=- "), "{body}");
    assert!(body.contains(&format!("host={} ", up.addr)), "{body}");
    assert!(body.contains("via=1.1 deauth-proxy "), "{body}");
    assert!(body.contains("xff=127.0.0.1 "), "{body}");
    assert!(body.contains("connection-listed=-"), "{body}");
    assert!(body.contains("target=/echo?q=1 "), "{body}");
    let lower = body.to_ascii_lowercase();
    assert!(!lower.contains("set-cookie"), "{body}");
    assert!(lower.contains("via: 1.1 deauth-proxy"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_credentials_from_the_environment() {
    let up = upstream("Bearer t0ken").await;
    let p = proxy_with(up.addr, &[], Some("Bearer t0ken\n"));
    let out = curl(&[&format!("{}/echo", p.url)]).await;
    assert!(text(&out).contains("authorization=Bearer t0ken "), "{}", text(&out));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", p.child.id())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("t0ken"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_by_default_and_writes_on_request() {
    let up = upstream(BASIC).await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(up.addr, &dir, &[]);
    for method in ["PUT", "POST", "DELETE", "PATCH"] {
        let out =
            curl(&["-X", method, "-d", "x", "-w", "%{http_code}", &format!("{}/echo", p.url)])
                .await;
        let body = text(&out);
        assert!(body.ends_with("403"), "{method}: {body}");
        assert!(body.contains("read-only"), "{method}: {body}");
    }
    let out = curl(&["-X", "TRACE", "-w", "%{http_code}", &format!("{}/echo", p.url)]).await;
    assert!(text(&out).ends_with("405"), "{}", text(&out));
    assert_eq!(up.hits.load(Ordering::SeqCst), 0, "a refused request reached the upstream");

    let head = curl(&["-I", &format!("{}/echo", p.url)]).await;
    assert!(text(&head).starts_with("HTTP/1.1 200"), "{}", text(&head));

    let w = proxy(up.addr, &dir, &["--allow-write"]);
    let out = curl(&["-X", "PUT", "--data-binary", "12345", &format!("{}/echo", w.url)]).await;
    let body = text(&out);
    assert!(body.contains("method=PUT ") && body.contains("body=5"), "{body}");
    let out = curl(&["-X", "TRACE", "-w", "%{http_code}", &format!("{}/echo", w.url)]).await;
    assert!(text(&out).ends_with("405"), "TRACE must never pass: {}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_allow_list() {
    let up = upstream(BASIC).await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(up.addr, &dir, &["--allow-path", "/db", "--allow-path", "/feed"]);
    let code = |path: &'static str| {
        let url = format!("{}{path}", p.url);
        async move {
            let out = curl(&["--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", &url]).await;
            text(&out)
        }
    };
    assert_eq!(code("/db/echo").await, "200");
    assert_eq!(code("/echo").await, "403");
    assert_eq!(code("/dbx/echo").await, "403");
    assert_eq!(code("/db/../echo").await, "400");
    assert_eq!(code("/db/%2e%2E/echo").await, "400");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_feed_streams_unbuffered() {
    let up = upstream(BASIC).await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(up.addr, &dir, &[]);
    // The feed never ends: every line seen within the time limit proves
    // the proxy passes lines as they come.
    let out = curl(&["-N", "--max-time", "1", &format!("{}/feed", p.url)]).await;
    assert_eq!(out.code, 28, "curl should time out on an endless feed: {}", out.stderr);
    let body = text(&out);
    let lines: Vec<&str> = body.lines().collect();
    assert!(lines.len() >= 10, "only {} lines in 1 s: {body}", lines.len());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(*line, format!("{{\"seq\":{i}}}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_download_arrives_intact() {
    let up = upstream(BASIC).await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(up.addr, &dir, &[]);
    let out = curl(&["-D", "-", &format!("{}/big", p.url)]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let split = out.stdout.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&out.stdout[..split]).to_ascii_lowercase();
    assert!(head.contains(&format!("content-length: {BIG}")), "{head}");
    let body = &out.stdout[split..];
    assert_eq!(body.len(), BIG);
    assert!(body.iter().enumerate().all(|(i, &b)| b == pattern_byte(i)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_dying_mid_stream_closes_the_client_quickly() {
    let up = upstream(BASIC).await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(up.addr, &dir, &[]);
    let start = Instant::now();
    let out = curl(&["-N", "--max-time", "10", &format!("{}/die", p.url)]).await;
    let elapsed = start.elapsed();
    assert_eq!(text(&out), "line 0\nline 1\nline 2\n");
    assert!(out.code == 18 || out.code == 56, "curl must see a failed transfer: {}", out.code);
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    // The next request gets a fresh upstream connection and succeeds.
    let out = curl(&[&format!("{}/echo", p.url)]).await;
    assert!(text(&out).contains(&format!("authorization={BASIC} ")), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_long_polls_do_not_queue_other_requests() {
    held_long_polls_leave_room(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_thread_still_serves_requests_concurrently() {
    held_long_polls_leave_room(&["--threads", "1"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_worker_threads_than_cores() {
    held_long_polls_leave_room(&["--threads", "5"]).await;
}

async fn held_long_polls_leave_room(extra: &[&str]) {
    let up = upstream(BASIC).await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(up.addr, &dir, extra);
    let held: Vec<_> =
        (0..40).map(|_| tokio::spawn(curl_owned(format!("{}/hold", p.url)))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    let out = curl(&[&format!("{}/echo", p.url)]).await;
    assert!(text(&out).contains("authorization="), "{}", text(&out));
    assert!(start.elapsed() < Duration::from_millis(800), "queued: {:?}", start.elapsed());
    for h in held {
        assert_eq!(h.await.unwrap(), "held\n");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_has_one_line_per_request() {
    let up = upstream(BASIC).await;
    let dir = tempfile::tempdir().unwrap();
    let file = auth_file(&dir, "admin:s3cret\n");
    let log_path = dir.path().join("stderr");
    let p = proxy_logging(up.addr, &["--auth-file", &file], None, &log_path);
    assert_eq!(curl(&["-o", "/dev/null", &format!("{}/echo?x=%0a1", p.url)]).await.code, 0);
    assert_eq!(curl(&["-o", "/dev/null", "-X", "DELETE", &format!("{}/db", p.url)]).await.code, 0);
    // Lines are written when a response body ends; give the proxy a moment.
    let mut lines = Vec::new();
    for _ in 0..50 {
        let log = std::fs::read_to_string(&log_path).unwrap();
        lines = log.lines().filter(|l| l.contains(" access: ")).map(str::to_owned).collect();
        if lines.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(lines.len(), 2, "{lines:?}");
    // `2026-12-07T22:50:01.123456Z  INFO access: 127.0.0.1:PORT GET ...`
    let (time, rest) = lines[0].split_once("  ").unwrap();
    assert_eq!(time.len(), 27, "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
    let fields: Vec<&str> = rest.split(' ').collect();
    assert_eq!(&fields[..3], ["INFO", "access:", fields[2]]);
    assert!(fields[2].starts_with("127.0.0.1:"), "{rest}");
    assert_eq!(fields[3..5], ["GET", "/echo?x=%0a1"], "{rest}");
    assert_eq!(fields[5], "200", "{rest}");
    let echo_len = fields[6].parse::<u64>().unwrap();
    assert!(echo_len > 100, "{rest}");
    assert_eq!(fields[7], "bytes", "{rest}");
    assert!(fields[8].ends_with('s') && fields[8].contains('.'), "{rest}");
    assert_eq!(fields[9], "done", "{rest}");
    assert_eq!(fields.len(), 10, "{rest}");
    assert!(lines[1].contains(" DELETE /db 403 "), "{}", lines[1]);
    assert!(lines[1].ends_with(" done"), "{}", lines[1]);

    // RUST_LOG=warn silences the access log.
    let quiet_path = dir.path().join("quiet");
    let q = proxy_logging(up.addr, &["--auth-file", &file], Some("warn"), &quiet_path);
    assert_eq!(curl(&["-o", "/dev/null", &format!("{}/echo", q.url)]).await.code, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let quiet = std::fs::read_to_string(&quiet_path).unwrap();
    assert!(!quiet.contains("access"), "{quiet}");
}

/// The proxy with `RUST_LOG` as given (unset: the default, info) and
/// stderr going to `log`.
fn proxy_logging(
    upstream: SocketAddr,
    extra: &[&str],
    rust_log: Option<&str>,
    log: &std::path::Path,
) -> Proxy {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deauth-proxy"));
    cmd.args(["--listen", "127.0.0.1:0", "--upstream", &format!("http://{upstream}/")])
        .args(extra)
        .env_remove("DEAUTH_PROXY_AUTH")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap());
    if let Some(filter) = rust_log {
        cmd.env("RUST_LOG", filter);
    }
    let mut child = cmd.spawn().expect("start deauth-proxy");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    Proxy { child, url }
}

async fn curl_owned(url: String) -> String {
    text(&curl(&[&url]).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_is_a_502_naming_it() {
    // A port with nothing listening: bind, note it, close.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = proxy(addr, &dir, &[]);
    let out = curl(&["-w", "%{http_code}", &format!("{}/echo", p.url)]).await;
    let body = text(&out);
    assert!(body.ends_with("502"), "{body}");
    assert!(body.contains(&addr.to_string()), "{body}");
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_deauth-proxy"));
        cmd.args(["--listen", "127.0.0.1:0"]).args(args).env_remove("DEAUTH_PROXY_AUTH");
        if let Some(v) = env {
            cmd.env("DEAUTH_PROXY_AUTH", v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let up = ["--upstream", "http://127.0.0.1:9/"];
    assert!(run(&up, None).contains("DEAUTH_PROXY_AUTH"));
    let missing = dir.path().join("nope");
    let e = run(&[&up[..], &["--auth-file", missing.to_str().unwrap()]].concat(), None);
    assert_eq!(e.matches(missing.to_str().unwrap()).count(), 1, "{e}");
    let e = run(&up, Some("no-colon"));
    assert!(e.contains("user:password"), "{e}");
    let e = run(&[&up[..], &["--threads", "0"]].concat(), Some("a:b"));
    assert!(e.contains("--threads"), "{e}");
    let e = run(&["--upstream", "https://h/"], Some("a:b"));
    assert!(e.contains("https"), "{e}");
    let big = auth_file(&dir, &"x".repeat(70_000));
    let e = run(&[&up[..], &["--auth-file", &big]].concat(), None);
    assert!(e.contains("limit"), "{e}");
}
