//! `mammoth serve --geo-index` as a process: the flag's errors, and a
//! `kill -9` after which the restarted server rebuilds the index from the
//! store and answers the first query (which waits for the rebuild). Queries
//! go through `curl`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;

use crate::serve_support;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn curl(url: &str) -> serde_json::Value {
    let out = Command::new("curl").args(["-sS", "--max-time", "20", url]).output().unwrap();
    assert!(out.status.success(), "curl {url}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{url}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn bad_declarations_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (args, says) in [
        (vec!["--geo-index", "no-equals"], "NAME=POINTER"),
        (vec!["--geo-index", "loc=no-slash"], "pointer"),
        (vec!["--geo-index", "loc=/a", "--geo-index", "loc=/b"], "given twice"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mammoth"))
            .args(["serve", "--port", "0", "--dir", d])
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn kill_9_then_restart_rebuilds_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let http_arg = format!("127.0.0.1:{http}");
    let extra = ["--geo-index", "loc=/loc", "--http", http_arg.as_str()];
    let served = serve_support::start(dir.path(), &extra);
    let stream = TcpStream::connect(("127.0.0.1", served.port)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    for i in 0..300 {
        let v = format!(r#"{{"loc":[{},{}]}}"#, i % 30, i / 30);
        write!(writer, "set k{i} 0 0 {}\r\n{v}\r\n", v.len()).unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "STORED\r\n");
    }
    let url = format!("http://{http_arg}/default/_spatial/loc");
    assert_eq!(curl(&format!("{url}?count=true"))["count"], 300);
    drop(served); // SIGKILL
    let http = free_port();
    let http_arg = format!("127.0.0.1:{http}");
    let extra = ["--geo-index", "loc=/loc", "--http", http_arg.as_str()];
    let _served = serve_support::start(dir.path(), &extra);
    let url = format!("http://{http_arg}/default/_spatial/loc");
    // The HTTP listener may need a moment after the memcached one.
    let mut answer = serde_json::Value::Null;
    for _ in 0..100 {
        let out =
            Command::new("curl").args(["-sf", &format!("{url}?count=true")]).output().unwrap();
        if out.status.success() {
            answer = serde_json::from_slice(&out.stdout).unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(answer["count"], 300);
    let rows = curl(&format!("{url}?bbox=0,0,1,1"));
    let ids: Vec<&str> =
        rows["rows"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["k0", "k1", "k30", "k31"]);
}
