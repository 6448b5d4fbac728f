//! End-to-end tests of `webpipe relay` with real curl senders and
//! receivers.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Relay {
    child: Child,
    url: String,
}

impl Relay {
    fn start() -> Relay {
        let mut child = Command::new(env!("CARGO_BIN_EXE_webpipe"))
            .args(["relay", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start webpipe relay");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{line:?}");
        Relay { child, url }
    }
}

impl Drop for Relay {
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

async fn curl(args: Vec<String>) -> Curl {
    let out = tokio::process::Command::new("curl")
        .arg("-sS")
        .args(&args)
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

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn data_file(dir: &Path, len: usize) -> (String, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let path = dir.join("data");
    std::fs::write(&path, &data).unwrap();
    (path.to_str().unwrap().to_owned(), data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_first_then_a_slow_receiver_gets_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = data_file(dir.path(), 2 * 1024 * 1024 + 3);
    let r = Relay::start();
    let url = format!("{}/sf", r.url);
    let sender = tokio::spawn(curl(args(&["-T", &file, "-H", "Content-Type: x/y", &url])));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = curl(args(&["--limit-rate", "4M", "-D", "-", &url])).await;
    assert_eq!(received.code, 0, "{}", received.stderr);
    let split = received.stdout.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&received.stdout[..split]).to_ascii_lowercase();
    assert!(head.contains("content-type: x/y"), "{head}");
    assert!(head.contains(&format!("content-length: {}", data.len())), "{head}");
    assert!(received.stdout[split..] == data[..], "the receiver's bytes differ");
    let sent = sender.await.unwrap();
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let log = String::from_utf8_lossy(&sent.stdout);
    assert!(log.starts_with("[INFO] Waiting for 1 receiver(s)..."), "{log}");
    assert!(log.ends_with("[INFO] Sent successfully!\n"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_first_waits_for_a_post_sender() {
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = data_file(dir.path(), 300_000);
    let r = Relay::start();
    let url = format!("{}/rf?x=1", r.url);
    let pending = tokio::spawn(curl(args(&[&url])));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = curl(args(&["--data-binary", &format!("@{file}"), &url])).await;
    assert!(String::from_utf8_lossy(&sent.stdout).ends_with("Sent successfully!\n"));
    let received = pending.await.unwrap();
    assert_eq!(received.code, 0, "{}", received.stderr);
    assert!(received.stdout == data, "the receiver's bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sender_or_receiver_on_a_path_is_refused() {
    let r = Relay::start();
    let url = format!("{}/busy", r.url);
    let first = tokio::spawn(curl(args(&["--data-binary", "one", &url])));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = curl(args(&["-w", "%{http_code}", "--data-binary", "two", &url])).await;
    let text = String::from_utf8_lossy(&second.stdout).to_string();
    assert!(text.contains("Another sender") && text.ends_with("400"), "{text}");
    let got = curl(args(&[&url])).await;
    assert_eq!(got.stdout, b"one");
    first.await.unwrap();

    let url = format!("{}/busy2", r.url);
    let waiting = tokio::spawn(curl(args(&[&url])));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = curl(args(&["-w", "%{http_code}", &url])).await;
    let text = String::from_utf8_lossy(&second.stdout).to_string();
    assert!(text.contains("Another receiver") && text.ends_with("400"), "{text}");
    curl(args(&["--data-binary", "late", &url])).await;
    assert_eq!(waiting.await.unwrap().stdout, b"late");

    let reserved = curl(args(&["-w", "%{http_code}", "--data-binary", "x", &r.url])).await;
    assert!(String::from_utf8_lossy(&reserved.stdout).ends_with("400"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_dying_mid_transfer_fails_the_receiver() {
    use tokio::io::AsyncWriteExt as _;
    let r = Relay::start();
    let url = format!("{}/dies", r.url);
    let addr = r.url.trim_start_matches("http://").to_owned();
    // A chunked upload that sends a little and then drops the connection.
    let mut sender = tokio::net::TcpStream::connect(addr).await.unwrap();
    sender
        .write_all(
            b"PUT /dies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        )
        .await
        .unwrap();
    let pending = tokio::spawn(curl(args(&["--max-time", "5", &url])));
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(sender);
    let received = pending.await.unwrap();
    assert_eq!(received.stdout, b"hello");
    assert!(
        received.code == 18 || received.code == 56,
        "the receiver must not see a clean end: code {} {}",
        received.code,
        received.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expect_100_continue_sender_is_not_kept_waiting() {
    // curl sends `Expect: 100-continue` for uploads over 1 MiB and waits a
    // second for the `100 Continue` unless the server reads the body.
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = data_file(dir.path(), 1_500_000);
    let r = Relay::start();
    let url = format!("{}/quick", r.url);
    let pending = tokio::spawn(curl(args(&[&url])));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = std::time::Instant::now();
    let sent = curl(args(&["-v", "-T", &file, &url])).await;
    let elapsed = start.elapsed();
    assert!(sent.stderr.contains("Expect: 100-continue"), "{}", sent.stderr);
    assert!(elapsed < Duration::from_millis(700), "the sender waited {elapsed:?}");
    assert!(pending.await.unwrap().stdout == data);
}
