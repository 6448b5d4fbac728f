//! The collector end to end: multicast datagrams on loopback into a
//! durable server started in this process, read back over the protocol.
//!
//! Multicast must work here (join on 127.0.0.1, send with
//! `IP_MULTICAST_IF` 127.0.0.1 and TTL 0): if it does not, these tests
//! fail with a message saying so rather than passing without traffic.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use collect::bench::get_many;
use collect::send::{SeqFormat, Sequence, send};
use collect::socket::sender_socket;
use collect::{Collector, Config, Format, IbuttonOptions, InfluxOptions, Stats};
use serde_json::{Value, json};
use tap::Endpoint;

/// A server over the stores in a directory, on a given port (0: any), as
/// `mammoth serve` runs it; stopped (gracefully) when dropped.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(dir: &Path, port: u16) -> Server {
        let buckets = server::Buckets::open(dir, &store::Config::new(dir), None).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let workers = server::WorkerPool::start(1).unwrap();
            let handles = workers.handles().to_vec();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener =
                    tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind server");
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let config = server::Config {
                    shutdown_grace: Duration::from_millis(200),
                    ..server::Config::default()
                };
                server::run_on(
                    listener,
                    config,
                    buckets,
                    async {
                        let _ = stopped.await;
                    },
                    &handles,
                )
                .await;
            });
            drop(workers);
        });
        let addr = addr_rx.recv().unwrap();
        Server { addr, stop: Some(stop), thread: Some(thread) }
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::new(self.addr.to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const GROUP: Ipv4Addr = Ipv4Addr::new(225, 0, 0, 37);

fn collector(format: Format, server: &Endpoint) -> Collector {
    let mut c = Config::new(vec![SocketAddr::from((GROUP, 0))], format, server.clone());
    c.interface = Ipv4Addr::LOCALHOST;
    c.flush_interval = Duration::from_millis(10);
    c.drain_timeout = Duration::from_secs(5);
    Collector::start(c).expect("open and join 225.0.0.37 on 127.0.0.1 (is multicast available?)")
}

fn sender(c: &Collector) -> UdpSocket {
    sender_socket(c.local_addrs()[0], Ipv4Addr::LOCALHOST, 0).unwrap()
}

/// Waits (at most 10 s) until `done` holds for the collector's counters.
fn wait_for(c: &Collector, what: &str, done: impl Fn(&Stats) -> bool) -> Stats {
    let t0 = Instant::now();
    loop {
        let s = c.stats();
        if done(&s) {
            return s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}; counters {s:?}{}",
            if s.datagrams == 0 {
                " — no datagram arrived: multicast on loopback is not working here"
            } else {
                ""
            }
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn get_json(server: &Endpoint, keys: &[&str]) -> Vec<Option<Value>> {
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    get_many(server, &keys)
        .unwrap()
        .into_iter()
        .map(|v| v.map(|b| serde_json::from_slice(&b).expect("stored value is JSON")))
        .collect()
}

#[test]
fn ibutton_readings_are_stored_once_and_malformed_counted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 0);
    let c = collector(Format::Ibutton(IbuttonOptions::default()), &server.endpoint());
    let tx = sender(&c);
    let datagrams: [&[u8]; 6] = [
        b"2011/07/17 02:01:32.953335\t10E8C214000000E4\t18.93\tl=12.00,h=23.00\n",
        // The same datagram again (a sensor stack that repeats itself).
        b"2011/07/17 02:01:32.953335\t10E8C214000000E4\t18.93\tl=12.00,h=23.00\n",
        // Two readings in one datagram, the second of another sensor.
        b"2011/07/17 02:02:32.000001\t10E8C214000000E4\t19.5\n2011/07/17 02:01:33\t28AA00000000001F\t-3.25\n",
        b"not a reading\n",
        // An older reading arriving late must not move `latest` back.
        b"2011/07/17 02:00:00\t10E8C214000000E4\t17\n",
        b"2011/07/17 02:01:32.953335\t10E8C214000000E4\t18.93\tl=12.00,h=23.00\n",
    ];
    for d in datagrams {
        tx.send(d).unwrap();
    }
    let s = wait_for(&c, "5 readings settled", |s| s.readings == 6 && s.pending() == 0);
    assert_eq!((s.datagrams, s.malformed, s.duplicates, s.stored), (6, 1, 2, 4));
    let events: Vec<String> = c.events().map(|e| format!("{e:?}")).collect();
    assert!(
        events.iter().any(|e| e.contains("Malformed") && e.contains("not a reading")),
        "{events:?}"
    );
    let summary = c.stop().unwrap();
    assert_eq!(summary.unacknowledged, 0);
    assert_eq!(summary.stats.kernel.map(|k| k.drops), None, "sockets are closed after stop");

    let got = get_json(
        &server.endpoint(),
        &[
            "reading/2011-07-17T02:01:32.953335000Z_10E8C214000000E4",
            "reading/2011-07-17T02:02:32.000001000Z_10E8C214000000E4",
            "reading/2011-07-17T02:01:33.000000000Z_28AA00000000001F",
            "reading/2011-07-17T02:00:00.000000000Z_10E8C214000000E4",
            "sensor/10E8C214000000E4/latest",
            "sensor/28AA00000000001F/latest",
        ],
    );
    assert_eq!(
        got[0],
        Some(json!({"ts": "2011-07-17T02:01:32.953335000Z", "serial": "10E8C214000000E4",
                    "reading": 18.93, "l": 12.0, "h": 23.0}))
    );
    assert_eq!(got[1].as_ref().unwrap()["reading"], json!(19.5));
    assert_eq!(
        got[2],
        Some(
            json!({"ts": "2011-07-17T02:01:33.000000000Z", "serial": "28AA00000000001F", "reading": -3.25})
        )
    );
    assert_eq!(got[3].as_ref().unwrap()["reading"], json!(17.0));
    assert_eq!(got[4], got[1], "latest is the newest reading, not the last to arrive");
    assert_eq!(got[5], got[2]);
}

#[test]
fn line_protocol_readings_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 0);
    let c = collector(Format::Influx(InfluxOptions::default()), &server.endpoint());
    let tx = sender(&c);
    tx.send(b"temp,serial=10E8C214000000E4,room=den reading=18.93,battery=87i,ok=t 1310868092953335000\n# comment\ntemp,serial=AB reading=\"high\" 1310868093000000000").unwrap();
    tx.send(b"temp,serial=10E8C214000000E4 reading=18.93 1310868092953335000").unwrap();
    tx.send(b"temp,serial=AB reading= 1").unwrap();
    let s = wait_for(&c, "readings settled", |s| {
        s.readings == 3 && s.malformed == 1 && s.pending() == 0
    });
    assert_eq!((s.stored, s.duplicates), (2, 1));
    c.stop().unwrap();
    let got = get_json(
        &server.endpoint(),
        &[
            "reading/2011-07-17T02:01:32.953335000Z_10E8C214000000E4",
            "reading/2011-07-17T02:01:33.000000000Z_AB",
            "sensor/AB/latest",
        ],
    );
    assert_eq!(
        got[0],
        Some(json!({"ts": "2011-07-17T02:01:32.953335000Z", "serial": "10E8C214000000E4",
                    "reading": 18.93, "measurement": "temp", "room": "den", "battery": 87, "ok": true}))
    );
    assert_eq!(
        got[1],
        Some(json!({"ts": "2011-07-17T02:01:33.000000000Z", "serial": "AB", "reading": "high",
                    "measurement": "temp"}))
    );
    assert_eq!(got[2], got[1]);
}

#[test]
fn two_groups_on_one_port_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 0);
    // Find a free port, then listen on two groups with it.
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let g1 = SocketAddr::from((Ipv4Addr::new(225, 0, 0, 38), port));
    let g2 = SocketAddr::from((Ipv4Addr::new(225, 0, 0, 39), port));
    let mut cfg =
        Config::new(vec![g1], Format::Ibutton(IbuttonOptions::default()), server.endpoint());
    cfg.interface = Ipv4Addr::LOCALHOST;
    cfg.flush_interval = Duration::from_millis(10);
    let only_g1 = Collector::start(cfg.clone()).unwrap();
    cfg.groups = vec![g1, g2];
    let both = Collector::start(cfg).unwrap();
    let s1 = sender_socket(g1, Ipv4Addr::LOCALHOST, 0).unwrap();
    let s2 = sender_socket(g2, Ipv4Addr::LOCALHOST, 0).unwrap();
    s1.send(b"2011/07/17 02:01:32\tAA\t1").unwrap();
    s2.send(b"2011/07/17 02:01:32\tBB\t2").unwrap();
    wait_for(&both, "both datagrams", |s| s.datagrams == 2 && s.pending() == 0);
    wait_for(&only_g1, "the first group's datagram", |s| s.datagrams >= 1 && s.pending() == 0);
    // Give a stray datagram time to arrive before counting.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(only_g1.stats().datagrams, 1, "a socket bound to one group saw the other's traffic");
    only_g1.stop().unwrap();
    both.stop().unwrap();
}

/// The server stops and comes back on the same port and directory while
/// datagrams keep coming: every datagram sent is in the store at the end.
#[test]
fn server_restart_mid_stream_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 0);
    let addr = server.addr;
    let endpoint = server.endpoint();
    let c = collector(Format::Ibutton(IbuttonOptions::default()), &endpoint);
    let tx = sender(&c);
    let seq = Sequence { format: SeqFormat::Ibutton, run: "RS".into(), sensors: 8 };
    let stop = AtomicBool::new(false);
    let total = 30_000u64;
    let (sent, server) = std::thread::scope(|s| {
        let sending = s.spawn(|| {
            send(&tx, &seq, 0, total, Some(20_000), Duration::from_secs(20), &stop).unwrap()
        });
        wait_for(&c, "some readings stored", |s| s.stored > 3000);
        drop(server);
        std::thread::sleep(Duration::from_millis(300));
        let server = Server::start(dir.path(), addr.port());
        (sending.join().unwrap(), server)
    });
    assert_eq!(sent.sent, total);
    let s = wait_for(&c, "everything stored after the restart", |s| {
        s.datagrams == total && s.pending() == 0
    });
    assert!(s.reconnects >= 1, "the restart was not noticed: {s:?}");
    assert_eq!(s.kernel.map(|k| k.drops), Some(0));
    let summary = c.stop().unwrap();
    assert_eq!(summary.stats.stored, total);
    let keys: Vec<String> = (0..total).map(|n| seq.key(n)).collect();
    let present = get_many(&server.endpoint(), &keys).unwrap();
    let missing: Vec<&String> =
        keys.iter().zip(&present).filter(|(_, v)| v.is_none()).map(|(k, _)| k).collect();
    assert!(
        missing.is_empty(),
        "{} of {total} missing, first {:?}",
        missing.len(),
        missing.first()
    );
}

/// With the server gone for good, stop gives up after the drain timeout
/// and says how many readings were never acknowledged.
#[test]
fn unreachable_server_is_reported_on_stop() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cfg = Config::new(
        vec![SocketAddr::from((GROUP, 0))],
        Format::Ibutton(IbuttonOptions::default()),
        Endpoint::new(format!("127.0.0.1:{port}")),
    );
    cfg.interface = Ipv4Addr::LOCALHOST;
    cfg.flush_interval = Duration::from_millis(10);
    cfg.drain_timeout = Duration::from_millis(300);
    let c = Collector::start(cfg).unwrap();
    let tx = sender(&c);
    tx.send(b"2011/07/17 02:01:32\tAA\t1\n2011/07/17 02:01:33\tAA\t2").unwrap();
    wait_for(&c, "two readings", |s| s.readings == 2);
    let summary = c.stop().unwrap();
    assert_eq!((summary.stats.stored, summary.unacknowledged), (0, 2));
}

/// A burst fast enough to switch the receiver to napping and reading
/// bursts, then single datagrams again: every one is stored, the
/// stragglers promptly (the receiver goes back to blocking reads).
#[test]
fn burst_then_trickle() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 0);
    let c = collector(Format::Influx(InfluxOptions::default()), &server.endpoint());
    let tx = sender(&c);
    let seq = Sequence { format: SeqFormat::Influx, run: "BT".into(), sensors: 4 };
    let stop = AtomicBool::new(false);
    let burst = 5000u64;
    let sent = send(&tx, &seq, 0, burst, Some(50_000), Duration::from_secs(10), &stop).unwrap();
    assert_eq!(sent.sent, burst);
    wait_for(&c, "the burst stored", |s| s.stored == burst && s.pending() == 0);
    for n in burst..burst + 3 {
        std::thread::sleep(Duration::from_millis(30));
        let t0 = Instant::now();
        send(&tx, &seq, n, 1, None, Duration::from_secs(1), &stop).unwrap();
        wait_for(&c, "a single datagram stored", |s| s.stored == n + 1);
        assert!(t0.elapsed() < Duration::from_secs(2), "a straggler took {:?}", t0.elapsed());
    }
    let summary = c.stop().unwrap();
    assert_eq!((summary.stats.stored, summary.unacknowledged), (burst + 3, 0));
    let keys: Vec<String> = (0..burst + 3).map(|n| seq.key(n)).collect();
    let present = get_many(&server.endpoint(), &keys).unwrap();
    assert!(present.iter().all(Option::is_some));
}
