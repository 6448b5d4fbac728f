//! What an operator meets: connection floods and the stats that show them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::TestServer;

fn text(server: &TestServer) -> BufReader<TcpStream> {
    let s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(s)
}

fn call(c: &mut BufReader<TcpStream>, request: &str) -> Vec<String> {
    c.get_mut().write_all(request.as_bytes()).unwrap();
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(c.read_line(&mut line).unwrap() > 0, "closed after {lines:?}");
        let line = line.trim_end().to_owned();
        let end = line == "END" || line == "VERSION 1.6.18" || line.starts_with("ERROR");
        lines.push(line);
        if end {
            return lines;
        }
    }
}

fn stat(c: &mut BufReader<TcpStream>, name: &str) -> String {
    let want = format!("STAT {name} ");
    call(c, "stats\r\n")
        .into_iter()
        .find_map(|l| l.strip_prefix(&want).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {name} in stats"))
}

#[test]
fn connections_past_the_limit_are_told_and_closed() {
    let config = server::Config { max_connections: 2, ..server::Config::default() };
    let server = TestServer::start_with(config, None);
    let mut a = text(&server);
    let mut b = text(&server);
    // Both are being served (answered), so both hold a slot.
    assert_eq!(call(&mut a, "version\r\n"), ["VERSION 1.6.18"]);
    assert_eq!(call(&mut b, "version\r\n"), ["VERSION 1.6.18"]);
    let mut c = text(&server);
    let mut refused = String::new();
    c.read_to_string(&mut refused).unwrap();
    assert_eq!(refused, "ERROR Too many open connections\r\n", "then closed");
    assert_eq!(stat(&mut a, "rejected_connections"), "1");
    assert_eq!(stat(&mut a, "curr_connections"), "2");
    // A slot freed is a slot taken again.
    drop(b);
    let mut d = None;
    for _ in 0..50 {
        let mut t = text(&server);
        t.get_mut().write_all(b"version\r\n").unwrap();
        let mut line = String::new();
        t.read_line(&mut line).unwrap();
        if line == "VERSION 1.6.18\r\n" {
            d = Some(t);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(d.is_some(), "a freed slot is served again");
}

#[test]
fn stats_show_threads_and_cpu_time() {
    let server = TestServer::start();
    let mut c = text(&server);
    assert_eq!(stat(&mut c, "threads"), "2", "the test server runs two workers");
    for name in ["rusage_user", "rusage_system"] {
        let v = stat(&mut c, name);
        let (secs, micros) = v.split_once('.').unwrap_or_else(|| panic!("{name} {v}"));
        assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{name} {v}");
    }
}
