//! `webpipe serve`: one child process per request, as a streaming filter.

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt as _;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::{BodyError, WebBody, text};

/// Bytes read from the child's stdout at a time.
pub const CHUNK: usize = 64 * 1024;

/// Output chunks queued between the child and the connection; with
/// [`CHUNK`] this bounds the memory one request holds for output.
pub const QUEUED_CHUNKS: usize = 2;

/// The trailer carrying the child's exit status.
pub const EXIT_STATUS: HeaderName = HeaderName::from_static("x-exit-status");

/// What `webpipe serve` runs and how.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The program run for each request.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Children running at once; further requests get 503.
    pub max_concurrent: usize,
    /// How long a child has between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
}

impl ServeConfig {
    /// Runs `program args…` with a limit of 64 children and a 1 s grace.
    pub fn new(program: impl Into<OsString>, args: Vec<OsString>) -> Self {
        ServeConfig {
            program: program.into(),
            args,
            max_concurrent: 64,
            kill_grace: Duration::from_secs(1),
        }
    }
}

struct State {
    config: ServeConfig,
    slots: Arc<Semaphore>,
}

/// Serves requests on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, config: ServeConfig) {
    let slots = Arc::new(Semaphore::new(config.max_concurrent));
    let state = Arc::new(State { config, slots });
    crate::accept_loop(listener, move |peer, req| {
        let state = Arc::clone(&state);
        async move { handle(&state, peer, req).await }
    })
    .await;
}

async fn handle(state: &State, peer: SocketAddr, req: Request<Incoming>) -> Response<WebBody> {
    let Ok(permit) = Arc::clone(&state.slots).try_acquire_owned() else {
        tracing::warn!(%peer, "busy: all {} command slots in use; 503", state.config.max_concurrent);
        let mut response = text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "webpipe: busy: all {} command slots are in use; try again\n",
                state.config.max_concurrent
            ),
        );
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let program = &state.config.program;
    let mut command = Command::new(program);
    command
        .args(&state.config.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so signals reach whatever it starts too.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let program = program.to_string_lossy();
            tracing::error!(error = %e, "cannot start {program}");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("webpipe: cannot start {program}: {e}\n"),
            );
        }
    };
    let (Some(stdin), Some(stdout), Some(stderr), Some(pid)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take(), child.id())
    else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "webpipe: child has no pipes\n");
    };
    let wants_trailers = req
        .headers()
        .get_all(header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("trailers"));
    let label = format!("{peer} {} {} pid {pid}", req.method(), req.uri());
    tracing::info!("{label}: started");

    let (tx, mut rx) = mpsc::channel(QUEUED_CHUNKS);
    let (first_frame, first_frame_seen) = oneshot::channel();
    let feeder = tokio::spawn(feed(req.into_body(), stdin, first_frame));
    tokio::spawn(log_stderr(stderr, pid));
    let grace = state.config.kill_grace;
    tokio::spawn(async move {
        let start = Instant::now();
        let outcome = pump(&mut child, stdout, &tx, wants_trailers).await;
        let status = match outcome {
            Pumped::Exited(status) => Some(status),
            Pumped::ClientGone | Pumped::ReadFailed(_) => terminate(&mut child, pid, grace).await,
        };
        // Anything the child left behind in its group goes too.
        signal_group(pid, rustix::process::Signal::KILL);
        feeder.abort();
        drop(permit);
        let elapsed = start.elapsed().as_secs_f64();
        match (&outcome, status) {
            (Pumped::Exited(_), Some(s)) => {
                tracing::info!("{label}: exited {} after {elapsed:.3}s", describe(s));
            }
            (Pumped::ClientGone, s) => tracing::info!(
                "{label}: client went away after {elapsed:.3}s; child {}",
                s.map_or_else(|| "not reaped".to_owned(), describe)
            ),
            (Pumped::ReadFailed(e), _) => {
                tracing::warn!("{label}: reading stdout failed after {elapsed:.3}s: {e}");
            }
            (Pumped::Exited(_), None) => {}
        }
    });

    // The response head waits for the first request-body frame (reading it
    // is what answers `Expect: 100-continue`; a head sent earlier leaves
    // curl waiting a second for a `100 Continue` that never comes) or for
    // the first output, whichever is first.
    let mut first = None;
    tokio::select! {
        _ = first_frame_seen => {}
        item = rx.recv() => first = item,
    }
    let mut response =
        Response::new(ChannelBody { first, rx, hold: crate::HoldBack::default() }.boxed_unsync());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if wants_trailers {
        response.headers_mut().insert(header::TRAILER, HeaderValue::from_static("x-exit-status"));
    }
    response
}

/// Request body → child stdin, one frame at a time (the write finishing is
/// what lets the next frame be read, so nothing piles up).
async fn feed(mut body: Incoming, mut stdin: ChildStdin, first_frame: oneshot::Sender<()>) {
    let mut first_frame = Some(first_frame);
    while let Some(frame) = body.frame().await {
        if let Some(seen) = first_frame.take() {
            let _ = seen.send(());
        }
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data()
                    && stdin.write_all(&data).await.is_err()
                {
                    // The child closed its stdin; the rest is not wanted.
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "request body ended with an error");
                return;
            }
        }
    }
}

/// Child stderr → the log, a line at a time, lines cut at 4 KiB.
async fn log_stderr(mut stderr: tokio::process::ChildStderr, pid: u32) {
    const MAX_LINE: usize = 4096;
    let mut buf = BytesMut::with_capacity(MAX_LINE);
    loop {
        match stderr.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line = buf.split_to(end + 1);
            tracing::warn!(target: "child", "pid {pid}: {}", String::from_utf8_lossy(&line[..end]));
        }
        if buf.len() >= MAX_LINE {
            let line = buf.split();
            tracing::warn!(target: "child", "pid {pid}: {}", String::from_utf8_lossy(&line));
        }
        buf.reserve(MAX_LINE);
    }
    if !buf.is_empty() {
        tracing::warn!(target: "child", "pid {pid}: {}", String::from_utf8_lossy(&buf));
    }
}

enum Pumped {
    Exited(ExitStatus),
    ClientGone,
    ReadFailed(std::io::Error),
}

type Chunk = Result<Frame<Bytes>, BodyError>;

/// Child stdout → the response channel, then the exit status.
async fn pump(
    child: &mut Child,
    mut stdout: ChildStdout,
    tx: &mpsc::Sender<Chunk>,
    wants_trailers: bool,
) -> Pumped {
    let mut buf = BytesMut::with_capacity(CHUNK);
    loop {
        let read = tokio::select! {
            () = tx.closed() => return Pumped::ClientGone,
            read = stdout.read_buf(&mut buf) => read,
        };
        match read {
            Ok(0) => break,
            Ok(_) => {
                let chunk = buf.split().freeze();
                buf.reserve(CHUNK);
                if tx.send(Ok(Frame::data(chunk))).await.is_err() {
                    return Pumped::ClientGone;
                }
            }
            Err(e) => return Pumped::ReadFailed(e),
        }
    }
    let status = tokio::select! {
        () = tx.closed() => return Pumped::ClientGone,
        status = child.wait() => status,
    };
    let Ok(status) = status else {
        return Pumped::ClientGone;
    };
    let code = exit_code(status);
    if wants_trailers {
        let mut trailers = HeaderMap::new();
        trailers.insert(EXIT_STATUS, HeaderValue::from(code));
        let _ = tx.send(Ok(Frame::trailers(trailers))).await;
    } else if code != 0 {
        let _ = tx.send(Err(Box::new(ExitError(describe(status))))).await;
    }
    Pumped::Exited(status)
}

/// SIGTERM to the child's group, SIGKILL after `grace`; the reaped status.
async fn terminate(child: &mut Child, pid: u32, grace: Duration) -> Option<ExitStatus> {
    signal_group(pid, rustix::process::Signal::TERM);
    if let Ok(Ok(status)) = tokio::time::timeout(grace, child.wait()).await {
        return Some(status);
    }
    signal_group(pid, rustix::process::Signal::KILL);
    child.wait().await.ok()
}

fn signal_group(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        // ESRCH (the group is already empty) is the expected outcome.
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// The shell's convention: the exit code, or 128 + the signal number.
pub fn exit_code(status: ExitStatus) -> i32 {
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("with status {code}"),
        (None, Some(signal)) => format!("on signal {signal}"),
        (None, None) => "somehow".to_owned(),
    }
}

#[derive(Debug)]
struct ExitError(String);

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "command exited {}", self.0)
    }
}

impl std::error::Error for ExitError {}

/// A response body fed by a bounded channel. An error right after data
/// is held back for one `Pending` ([`HoldBack`](crate::HoldBack)).
struct ChannelBody {
    first: Option<Chunk>,
    rx: mpsc::Receiver<Chunk>,
    hold: crate::HoldBack,
}

impl Body for ChannelBody {
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
            Some(first) => Poll::Ready(Some(first)),
            None => this.rx.poll_recv(cx),
        };
        this.hold.pass(cx, polled)
    }
}
