//! Geo indexes end to end (issue #28): JSON documents written over the
//! memcached text protocol, queried over HTTP at
//! `/<bucket>/_spatial/<index>` with a plain HTTP/1.1 client on a
//! `TcpStream`. Every query is made right after a write's reply, without
//! `stale=ok`: it must see the write (read-your-writes).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use crate::support::TestServer;

fn geo_config() -> server::Config {
    let loc = geo_index::IndexSpec::parse("loc=/loc").unwrap();
    let shape = geo_index::IndexSpec::parse("shape=/geometry").unwrap();
    server::Config { geo_indexes: vec![loc, shape], ..server::Config::default() }
}

/// `GET path` over a fresh connection: the status and the body.
fn get(http: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(http).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a header block");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    assert!(
        head.to_ascii_lowercase().contains("content-type: application/json"),
        "not JSON: {head}"
    );
    (status, body.to_owned())
}

/// `GET path`, asserting 200 and parsing the JSON.
fn query(http: SocketAddr, path: &str) -> Value {
    let (status, body) = get(http, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// The `id`s of a rows answer, in order.
fn ids(answer: &Value) -> Vec<String> {
    answer["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {answer}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A text-protocol client that waits for each reply line.
struct Text {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Text {
    fn connect(server: &TestServer) -> Text {
        let stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.set_nodelay(true).unwrap();
        Text { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream }
    }

    fn command(&mut self, bytes: &[u8]) -> String {
        self.writer.write_all(bytes).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    fn set_ttl(&mut self, key: &str, value: &str, exptime: u32) {
        let cmd = format!("set {key} 0 {exptime} {}\r\n{value}\r\n", value.len());
        assert_eq!(self.command(cmd.as_bytes()), "STORED\r\n", "set {key}");
    }

    fn set(&mut self, key: &str, value: &str) {
        self.set_ttl(key, value, 0);
    }

    fn point(&mut self, key: &str, lon: f64, lat: f64) {
        self.set(key, &format!(r#"{{"loc":[{lon},{lat}],"name":"{key}"}}"#));
    }

    fn delete(&mut self, key: &str) {
        assert_eq!(self.command(format!("delete {key}\r\n").as_bytes()), "DELETED\r\n");
    }

    fn flush_all(&mut self) {
        assert_eq!(self.command(b"flush_all\r\n"), "OK\r\n");
    }
}

#[test]
fn a_query_right_after_a_set_sees_it_with_its_value() {
    let server = TestServer::start_with(geo_config(), None);
    let mut c = Text::connect(&server);
    for i in 0..40 {
        let key = format!("p{i:02}");
        c.point(&key, f64::from(i) * 0.1, 45.0);
        let answer = query(server.http, "/default/_spatial/loc?bbox=-1,44,5,46&count=true");
        assert_eq!(answer["count"], i + 1, "after setting {key}");
    }
    let answer = query(server.http, "/default/_spatial/loc?bbox=0.05,44,0.25,46");
    assert_eq!(ids(&answer), ["p01", "p02"]);
    let row = &answer["rows"][0];
    assert_eq!(row["value"], serde_json::json!({"loc": [0.1, 45], "name": "p01"}));
    assert_eq!(row["geometry"], serde_json::json!({"type": "Point", "coordinates": [0.1, 45.0]}));
    assert_eq!(row["bbox"], serde_json::json!([0.1, 45.0, 0.1, 45.0]));
    // Paging over key order.
    let answer = query(server.http, "/default/_spatial/loc?bbox=-1,44,5,46&skip=3&limit=2");
    assert_eq!(ids(&answer), ["p03", "p04"]);
    // A value that is not JSON, or has no `loc`, is simply not indexed;
    // overwriting an indexed item with one drops it.
    c.set("plain", "hello");
    c.set("nameless", r#"{"name":"x"}"#);
    c.set("p00", "no longer json");
    let answer = query(server.http, "/default/_spatial/loc?count=true");
    assert_eq!(answer["count"], 39);
    // A second index over GeoJSON geometries, indexed by their bounding box.
    c.set(
        "tri",
        r#"{"geometry":{"type":"Polygon","coordinates":[[[10,10],[12,10],[12,13],[10,10]]]}}"#,
    );
    let answer = query(server.http, "/default/_spatial/shape?bbox=11.5,12.5,20,20");
    assert_eq!(ids(&answer), ["tri"]);
    assert_eq!(answer["rows"][0]["bbox"], serde_json::json!([10.0, 10.0, 12.0, 13.0]));
    assert_eq!(answer["rows"][0]["geometry"]["type"], "Polygon");
}

#[test]
fn deletes_and_flushes_are_reflected_at_once() {
    let server = TestServer::start_with(geo_config(), None);
    let mut c = Text::connect(&server);
    c.point("a", 1.0, 1.0);
    c.point("b", 2.0, 2.0);
    c.delete("a");
    assert_eq!(ids(&query(server.http, "/default/_spatial/loc")), ["b"]);
    // A moved point is found only at its new place.
    c.point("b", -50.0, -20.0);
    assert!(ids(&query(server.http, "/default/_spatial/loc?bbox=0,0,5,5")).is_empty());
    assert_eq!(ids(&query(server.http, "/default/_spatial/loc?bbox=-60,-30,-40,-10")), ["b"]);
    c.flush_all();
    assert_eq!(query(server.http, "/default/_spatial/loc?count=true")["count"], 0);
    c.point("c", 3.0, 3.0);
    assert_eq!(ids(&query(server.http, "/default/_spatial/loc")), ["c"]);
}

#[test]
fn a_box_across_the_antimeridian_finds_both_sides() {
    let server = TestServer::start_with(geo_config(), None);
    let mut c = Text::connect(&server);
    c.point("fiji", 178.4, -18.1);
    c.point("samoa", -171.8, -13.8);
    c.point("tahiti", -149.4, -17.6);
    c.point("pole", 0.0, 90.0);
    let answer = query(server.http, "/default/_spatial/loc?bbox=170,-25,-170,-10");
    assert_eq!(ids(&answer), ["fiji", "samoa"]);
    // Polar caps are ordinary boxes.
    let answer = query(server.http, "/default/_spatial/loc?bbox=-180,89,180,90");
    assert_eq!(ids(&answer), ["pole"]);
}

#[test]
fn nearest_rows_come_by_great_circle_distance_in_metres() {
    let server = TestServer::start_with(geo_config(), None);
    let mut c = Text::connect(&server);
    c.point("paris", 2.3522, 48.8566);
    c.point("london", -0.1276, 51.5072);
    c.point("fiji", 178.4, -18.1);
    c.point("samoa", -171.8, -13.8);
    let answer = query(server.http, "/default/_spatial/loc?n=2&q=-179.9,-18");
    assert_eq!(ids(&answer), ["fiji", "samoa"]);
    let d = answer["rows"][0]["distance"].as_f64().unwrap();
    // 1.7° of longitude at 18° S plus a little latitude: about 180 km.
    assert!((170_000.0..200_000.0).contains(&d), "{d}");
    let answer = query(server.http, "/default/_spatial/loc?n=1&q=2.35,48.85");
    assert_eq!(ids(&answer), ["paris"]);
    let answer = query(server.http, "/default/_spatial/loc?n=2&skip=1&q=2.35,48.85");
    assert_eq!(ids(&answer), ["london", "samoa"]);
    let london = answer["rows"][0]["distance"].as_f64().unwrap();
    // Paris to London: 343.5 km.
    assert!((343_000.0..344_500.0).contains(&london), "{london}");
}

#[test]
fn errors_are_json_with_their_status() {
    let server = TestServer::start_with(geo_config(), None);
    for (path, status, error) in [
        ("/default/_spatial/loc?bbox=1,2,3", 400, "query_parse_error"),
        ("/default/_spatial/loc?bbox=0,-91,10,10", 400, "query_parse_error"),
        ("/default/_spatial/loc?bbox=a,b,c,d", 400, "query_parse_error"),
        ("/default/_spatial/loc?n=3", 400, "query_parse_error"),
        ("/default/_spatial/nope?bbox=0,0,1,1", 404, "not_found"),
        ("/nobucket/_spatial/loc?bbox=0,0,1,1", 404, "not_found"),
    ] {
        let (got, body) = get(server.http, path);
        assert_eq!(got, status, "{path}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], error, "{path}");
        assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()), "{path}");
    }
    // Without --geo-index, every index is unknown.
    let plain = TestServer::start();
    assert_eq!(get(plain.http, "/default/_spatial/loc").0, 404);
}

#[test]
fn expired_items_are_not_returned() {
    let server = TestServer::start_with(geo_config(), None);
    let mut c = Text::connect(&server);
    c.set_ttl("brief", r#"{"loc":[5,5]}"#, 1);
    c.point("lasting", 5.5, 5.5);
    assert_eq!(ids(&query(server.http, "/default/_spatial/loc")), ["brief", "lasting"]);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(ids(&query(server.http, "/default/_spatial/loc")), ["lasting"]);
    assert_eq!(ids(&query(server.http, "/default/_spatial/loc?n=5&q=5,5")), ["lasting"]);
    assert_eq!(ids(&query(server.http, "/default/_spatial/loc?limit=1")), ["lasting"]);
}

#[test]
fn a_restart_over_the_same_dir_rebuilds_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let store_config = store::Config::new(dir.path());
    {
        let server = TestServer::start_in(dir.path(), &store_config, geo_config(), None);
        let mut c = Text::connect(&server);
        for i in 0..200 {
            c.point(&format!("k{i:03}"), f64::from(i % 20), f64::from(i / 20));
        }
        c.delete("k000");
    }
    let server = TestServer::start_in(dir.path(), &store_config, geo_config(), None);
    // The first query waits for the rebuild (it does not pass stale=ok).
    let answer = query(server.http, "/default/_spatial/loc?count=true");
    assert_eq!(answer["count"], 199);
    let answer = query(server.http, "/default/_spatial/loc?bbox=0,0,1,1");
    assert_eq!(ids(&answer), ["k001", "k020", "k021"]);
    let (_, metrics) = get_text(server.http, "/metrics");
    assert!(
        metrics.contains("mammoth_geo_points{bucket=\"default\",index=\"loc\"} 199"),
        "{metrics}"
    );
    assert!(metrics.contains("mammoth_geo_ready{bucket=\"default\"} 1"), "{metrics}");
    assert!(metrics.contains("mammoth_geo_memory_bytes{bucket=\"default\",index=\"loc\"} "));
}

/// `GET path` for a non-JSON route.
fn get_text(http: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(http).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.split(' ').nth(1).unwrap().parse().unwrap(), body.to_owned())
}

#[test]
fn a_follower_lapped_by_its_ring_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut store_config = store::Config::new(dir.path());
    // A ring of one change: any two writes between the follower's reads
    // lap it.
    store_config.feed_max_changes = 1;
    let server = TestServer::start_in(dir.path(), &store_config, geo_config(), None);
    // The first build is done (a query waits for it), so the pipeline
    // below reaches a follower that is already live.
    assert_eq!(query(server.http, "/default/_spatial/loc?count=true")["count"], 0);
    // One pipeline of many SETs, far more than the ring holds.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let mut pipeline = String::new();
    for i in 0..500 {
        let v = format!(r#"{{"loc":[{},{}]}}"#, i % 100, i / 100);
        let _ = write!(pipeline, "set k{i} 0 0 {} noreply\r\n{v}\r\n", v.len());
    }
    pipeline.push_str("delete k7\r\n");
    stream.write_all(pipeline.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "DELETED\r\n");
    assert_eq!(query(server.http, "/default/_spatial/loc?count=true")["count"], 499);
    assert_eq!(ids(&query(server.http, "/default/_spatial/loc?bbox=7,0,7,1")), ["k107"]);
    let (_, metrics) = get_text(server.http, "/metrics");
    let backfills: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("mammoth_geo_backfills_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(backfills >= 2, "the first build and at least one catch-up: {backfills}");
}

#[test]
fn queries_during_writes_always_see_every_acknowledged_write() {
    let server = TestServer::start_with(geo_config(), None);
    let http = server.http;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let answer = query(http, "/default/_spatial/loc?bbox=-10,-10,10,10");
                    // Every row is a whole item with its value.
                    for row in answer["rows"].as_array().unwrap() {
                        assert!(row["value"]["loc"].is_array(), "{row}");
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let server_addr = server.addr;
            std::thread::spawn(move || {
                let stream = TcpStream::connect(server_addr).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut c =
                    Text { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream };
                for i in 0..60 {
                    let key = format!("w{w}-{i:02}");
                    c.point(&key, f64::from(w) + 0.01 * f64::from(i), 1.0);
                    let lon = f64::from(w) + 0.01 * f64::from(i);
                    let answer =
                        query(http, &format!("/default/_spatial/loc?bbox={lon},1,{lon},1"));
                    assert_eq!(ids(&answer), std::slice::from_ref(&key), "read-your-writes");
                    if i % 3 == 0 {
                        c.delete(&key);
                        let answer =
                            query(http, &format!("/default/_spatial/loc?bbox={lon},1,{lon},1"));
                        assert!(ids(&answer).is_empty(), "deleted {key}");
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    assert_eq!(query(http, "/default/_spatial/loc?count=true")["count"], 80);
}
