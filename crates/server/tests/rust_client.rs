//! The Rust `memcache` client (crates.io, binary protocol) against the server.

use crate::support;
use support::TestServer;

#[test]
fn rust_memcache_client_roundtrips() {
    let server = TestServer::start();
    let url = format!("memcache://{}?protocol=binary&timeout=10", server.addr);
    let c = memcache_client::Client::connect(url.as_str()).expect("connect");
    c.flush().unwrap();
    c.set("greeting", "hello", 0).unwrap();
    assert_eq!(c.get::<String>("greeting").unwrap().as_deref(), Some("hello"));
    c.set("bytes", &b"\x00\xffbinary"[..], 0).unwrap();
    assert_eq!(c.get::<Vec<u8>>("bytes").unwrap(), Some(b"\x00\xffbinary".to_vec()));
    assert!(c.add("greeting", "again", 0).is_err(), "ADD of an existing key fails");
    c.replace("greeting", "hi", 0).unwrap();
    c.append("greeting", "!").unwrap();
    c.prepend("greeting", ">").unwrap();
    assert_eq!(c.get::<String>("greeting").unwrap().as_deref(), Some(">hi!"));
    c.set("n", 41u64, 0).unwrap();
    assert_eq!(c.increment("n", 1).unwrap(), 42);
    assert_eq!(c.decrement("n", 50).unwrap(), 0);
    assert!(c.touch("n", 100).unwrap());
    assert!(!c.touch("missing", 100).unwrap());
    for i in 0..50 {
        c.set(&format!("multi{i}"), i, 0).unwrap();
    }
    let keys: Vec<String> = (0..50).map(|i| format!("multi{i}")).chain(["nope".into()]).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let got: std::collections::HashMap<String, u32> = c.gets(&refs).unwrap();
    assert_eq!(got.len(), 50);
    assert_eq!(got["multi7"], 7);
    assert!(c.delete("greeting").unwrap());
    assert!(!c.delete("greeting").unwrap());
    assert_eq!(c.get::<String>("greeting").unwrap(), None);
    let versions = c.version().unwrap();
    assert_eq!(versions.len(), 1);
}
