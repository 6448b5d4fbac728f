//! End-to-end tests of `webpipe serve`: the real binary, real curl, real
//! children.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The server binary, killed on drop; its stderr (the log) is kept.
struct Server {
    child: Child,
    url: String,
    addr: String,
}

impl Server {
    fn start(extra: &[&str], command: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_webpipe"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .arg("--")
            .args(command)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start webpipe");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_owned();
        let addr = url.trim_start_matches("http://").to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{line:?}");
        Server { child, url, addr }
    }

    /// Stops the server and returns its log.
    fn log(mut self) -> String {
        let _ = self.child.kill();
        let mut log = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
        log
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

fn random_file(dir: &Path, len: usize) -> (String, Vec<u8>) {
    // A cheap deterministic pseudo-random fill (xorshift).
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let path = dir.join("input");
    std::fs::write(&path, &data).unwrap();
    (path.to_str().unwrap().to_owned(), data)
}

/// Whether a process is still running (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

async fn wait_gone(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    !alive(pid)
}

fn read_pids(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

async fn wait_pids(path: &Path, n: usize) -> Vec<u32> {
    for _ in 0..200 {
        let pids = read_pids(path);
        if pids.len() >= n {
            return pids;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the child never wrote its pids to {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_in_stdout_out_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (input, data) = random_file(dir.path(), 3 * 1024 * 1024 + 17);
    let s = Server::start(&[], &["cat"]);
    let out = curl(&["--data-binary", &format!("@{input}"), &s.url]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout == data, "output differs: {} bytes", out.stdout.len());

    let t = Server::start(&[], &["tr", "a-z", "A-Z"]);
    let out = curl(&["--data-binary", "hello, pipe", &t.url]).await;
    assert_eq!(out.stdout, b"HELLO, PIPE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_zero_exit_aborts_and_trailer_reports_status() {
    let s = Server::start(&[], &["sh", "-c", "cat; exit ${CODE:-3}"]);
    // Repeated: output written just before the abort used to be lost now
    // and then (hyper aborts without flushing what it buffered).
    for _ in 0..50 {
        let out = curl(&["--data-binary", "partial", &s.url]).await;
        assert_eq!(out.code, 18, "curl must fail on a non-zero exit: {}", out.stderr);
        assert_eq!(out.stdout, b"partial", "the output before the failure must arrive");
    }

    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("headers");
    let h = headers.to_str().unwrap();
    let out = curl(&["-H", "TE: trailers", "-D", h, "--data-binary", "x", &s.url]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dump = std::fs::read_to_string(&headers).unwrap().to_ascii_lowercase();
    assert!(dump.contains("trailer: x-exit-status"), "{dump}");
    assert!(dump.contains("x-exit-status: 3"), "{dump}");

    let ok = Server::start(&[], &["cat"]);
    let out = curl(&["-H", "TE: trailers", "-D", h, "--data-binary", "y", &ok.url]).await;
    assert_eq!((out.code, out.stdout.as_slice()), (0, &b"y"[..]));
    let dump = std::fs::read_to_string(&headers).unwrap().to_ascii_lowercase();
    assert!(dump.contains("x-exit-status: 0"), "{dump}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_duplex_output_flows_while_input_is_open() {
    let s = Server::start(&[], &["cat"]);
    let mut conn = TcpStream::connect(&s.addr).await.unwrap();
    conn.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    for round in 0..5 {
        let line = format!("round {round}\n");
        conn.write_all(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes()).await.unwrap();
        // The echo must come back before any more input is sent.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !String::from_utf8_lossy(&seen).contains(&line) {
            assert!(Instant::now() < deadline, "no echo of {line:?}; got {seen:?}");
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
                .await
                .expect("output while input is open")
                .unwrap();
            assert!(n > 0, "connection closed early");
            seen.extend_from_slice(&buf[..n]);
        }
    }
    conn.write_all(b"0\r\n\r\n").await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut rest)).await.ok();
    seen.extend_from_slice(&rest);
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.ends_with("0\r\n\r\n"), "the response must end cleanly: {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_terms_the_group_then_kills_it() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // A child that ignores SIGTERM, with a grandchild in its group.
    let script =
        format!("trap '' TERM; sleep 60 & echo $$ $! > {}; wait; sleep 60", pids.display());
    let s = Server::start(&[], &["sh", "-c", &script]);
    let url = s.url.clone();
    let request = tokio::spawn(async move { curl(&["--max-time", "30", &url]).await });
    let found = wait_pids(&pids, 2).await;
    assert!(found.iter().all(|&p| alive(p)), "children should be running: {found:?}");
    request.abort(); // kill_on_drop: curl dies, the connection closes
    let start = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(alive(found[0]), "SIGKILL must wait for the 1 s grace");
    for &pid in &found {
        assert!(wait_gone(pid, Duration::from_secs(3)).await, "pid {pid} outlived its request");
    }
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_millis(2500), "took {elapsed:?}");
    let log = s.log();
    assert!(log.contains("client went away") && log.contains("on signal 9"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_terms_a_cooperative_child_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!("echo $$ > {}; exec sleep 60", pids.display());
    let s = Server::start(&[], &["sh", "-c", &script]);
    let url = s.url.clone();
    let request = tokio::spawn(async move { curl(&["--max-time", "30", &url]).await });
    let pid = wait_pids(&pids, 1).await[0];
    request.abort();
    assert!(wait_gone(pid, Duration::from_millis(700)).await, "SIGTERM should end it at once");
    let log = s.log();
    assert!(log.contains("on signal 15"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_answers_503() {
    let s = Server::start(&["--max-concurrent", "1"], &["cat"]);
    // Hold the one slot: a chunked upload left open.
    let mut holder = TcpStream::connect(&s.addr).await.unwrap();
    holder
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = holder.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&buf[..n]));
    let out = curl(&["-i", "--data-binary", "x", &s.url]).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.to_ascii_lowercase().contains("retry-after: 1"), "{text}");
    holder.write_all(b"0\r\n\r\n").await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), holder.read_to_end(&mut rest)).await;
    // The slot is free again once the child has been reaped.
    let mut ok = false;
    for _ in 0..50 {
        let out = curl(&["--data-binary", "again", &s.url]).await;
        if out.stdout == b"again" {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "the slot was never released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stderr_goes_to_the_log_and_spawn_failure_names_the_program() {
    let s = Server::start(&[], &["sh", "-c", "echo marker-7f3a >&2; echo out"]);
    let out = curl(&[&s.url]).await;
    assert_eq!(out.stdout, b"out\n");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = s.log();
    assert!(log.contains("marker-7f3a"), "{log}");

    let bad = Server::start(&[], &["/nonexistent/prog-b2"]);
    let out = curl(&["-w", "%{http_code}", &bad.url]).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.ends_with("500") && text.contains("/nonexistent/prog-b2"), "{text}");
}

#[test]
fn serve_without_a_command_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_webpipe"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_webpipe"))
        .args(["serve", "--listen", "127.0.0.1:0", "--max-concurrent", "0", "--", "cat"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expect_100_continue_upload_starts_at_once() {
    // curl sends `Expect: 100-continue` for uploads over 1 MiB; a response
    // head sent before the body is read would leave it waiting a second.
    let dir = tempfile::tempdir().unwrap();
    let (input, data) = random_file(dir.path(), 1_500_000);
    let s = Server::start(&[], &["cat"]);
    let start = Instant::now();
    let out = curl(&["-v", "-T", &input, &s.url]).await;
    let elapsed = start.elapsed();
    assert!(out.stderr.contains("Expect: 100-continue"), "{}", out.stderr);
    assert!(out.stdout == data);
    assert!(elapsed < Duration::from_millis(700), "the upload waited {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_input_through_curl_and_the_child_ends_with_the_client() {
    let s = Server::start(&[], &["cat"]);
    // `seq inf | curl -T -`: an upload that never ends, read as it comes;
    // `head` takes 1 MB and closes, which ends curl and the request.
    let pipeline = format!("seq 1000000000 | curl -sS -T - {} | head -c 1000000 | wc -c", s.url);
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new("sh").args(["-c", &pipeline]).output(),
    )
    .await
    .expect("the pipeline must finish once head has its bytes")
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1000000");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = s.log();
    assert!(log.contains("started"), "{log}");
    assert!(
        log.contains("client went away") || log.contains("exited"),
        "the child must end with the request: {log}"
    );
}
