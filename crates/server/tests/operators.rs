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
        let end = line == "END"
            || line == "RESET"
            || line == "VERSION 1.6.18"
            || line.starts_with("ERROR");
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

#[test]
fn stats_reset_zeroes_the_counters_not_the_gauges() {
    let server = TestServer::start();
    let mut c = text(&server);
    c.get_mut().write_all(b"set k 0 0 1\r\nv\r\n").unwrap();
    let mut line = String::new();
    c.read_line(&mut line).unwrap();
    assert_eq!(line, "STORED\r\n");
    assert_eq!(call(&mut c, "get k\r\n").len(), 3);
    assert_eq!(call(&mut c, "get nope\r\n"), ["END"]);
    assert_eq!(stat(&mut c, "get_hits"), "1");
    assert_eq!(stat(&mut c, "cmd_set"), "1");
    assert_eq!(call(&mut c, "stats reset\r\n"), ["RESET"]);
    for name in ["get_hits", "get_misses", "cmd_get", "cmd_set", "total_items"] {
        assert_eq!(stat(&mut c, name), "0", "{name} after reset");
    }
    assert_eq!(stat(&mut c, "curr_items"), "1", "a gauge stays");
    assert_eq!(stat(&mut c, "curr_connections"), "1", "a gauge stays");
}

#[test]
fn verbosity_reaches_the_embedders_hook() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook = {
        let seen = std::sync::Arc::clone(&seen);
        server::VerbosityHook(std::sync::Arc::new(move |level| seen.lock().unwrap().push(level)))
    };
    let config = server::Config { on_verbosity: Some(hook), ..server::Config::default() };
    let server = TestServer::start_with(config, None);
    let mut c = text(&server);
    c.get_mut().write_all(b"verbosity 2\r\nverbosity 0 noreply\r\n").unwrap();
    let mut line = String::new();
    c.read_line(&mut line).unwrap();
    assert_eq!(line, "OK\r\n");
    assert_eq!(call(&mut c, "version\r\n"), ["VERSION 1.6.18"]);
    assert_eq!(*seen.lock().unwrap(), [2, 0]);
}

#[test]
fn stats_conns_lists_every_open_connection() {
    let server = TestServer::start();
    let mut a = text(&server);
    let mut b = text(&server);
    // Answered, so both are registered.
    assert_eq!(call(&mut a, "version\r\n"), ["VERSION 1.6.18"]);
    assert_eq!(call(&mut b, "version\r\n"), ["VERSION 1.6.18"]);
    let b_addr = b.get_ref().local_addr().unwrap().to_string();
    let lines = call(&mut a, "stats conns\r\n");
    let addrs: Vec<&str> = lines.iter().filter_map(|l| l.split(":addr ").nth(1)).collect();
    assert_eq!(addrs.len(), 2, "{lines:?}");
    let a_addr = a.get_ref().local_addr().unwrap().to_string();
    for want in [&a_addr, &b_addr] {
        assert!(addrs.contains(&format!("tcp:{want}").as_str()), "{want} in {lines:?}");
    }
    assert!(lines.iter().any(|l| l.contains(":secs_since_last_cmd ")), "{lines:?}");
    drop(b);
    let mut open = 2;
    for _ in 0..250 {
        let lines = call(&mut a, "stats conns\r\n");
        open = lines.iter().filter(|l| l.contains(":addr ")).count();
        if open == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(open, 1, "a closed connection leaves the list");
}
