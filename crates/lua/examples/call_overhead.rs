//! What one call costs: `cargo run --release -p mammoth-lua --example
//! call_overhead [calls]`. Runs a no-op function, a function that only
//! reads its key, one that only writes it, a read-modify-write function
//! and the same read-modify-write as plain store calls, one after another
//! on one thread, and prints the time per call.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use lua::{Call, Libraries, Limits, Runtime};
use store::{Config, Store, Write};

const LIB: &str = r"
function noop(keys, args) return nil end
function get(keys, args) return mc.get(keys[1]) end
function set(keys, args) mc.set(keys[1], '1') end
function rmw(keys, args)
    local n = tonumber(mc.get(keys[1]) or '0') + 1
    mc.set(keys[1], n)
    return n
end
";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls: u32 = std::env::args().nth(1).map_or(Ok(200_000), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(Config::new(dir.path()))?;
    let libs = Arc::new(Libraries::default());
    libs.load("bench", LIB)?;
    let rt = Runtime::new(store.clone(), libs, Limits::default());
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    tokio.block_on(async {
        let key = || vec![Bytes::from("counter")];
        for (name, keys) in [("noop", vec![]), ("get", key()), ("set", key()), ("rmw", key())] {
            let start = Instant::now();
            for _ in 0..calls {
                rt.call(Call { function: name.into(), keys: keys.clone(), args: vec![] }).await?;
            }
            let ns = start.elapsed().as_nanos() / u128::from(calls);
            println!("{name:>10}: {ns} ns/call");
        }
        let start = Instant::now();
        for _ in 0..calls {
            let n: u64 = store
                .get(b"plain")
                .map_or(0, |h| String::from_utf8_lossy(&h.value.to_bytes()).parse().unwrap_or(0));
            store.write(Write::set("plain", (n + 1).to_string())).map_err(|e| format!("{e:?}"))?;
        }
        let ns = start.elapsed().as_nanos() / u128::from(calls);
        println!("{:>10}: {ns} ns/op", "plain rmw");
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    store.close();
    Ok(())
}
