//! What the server benches share: an in-process `mammoth serve` on a
//! store directory, on a loopback port.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use store::Config;

/// An in-process server on the store under `root`, on a loopback port.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    /// Seconds until every item was in memory.
    pub(crate) warmup: f64,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Server {
    pub(crate) fn start(root: &Path) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let root = root.to_path_buf();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let t = Instant::now();
                let buckets =
                    server::Buckets::open(&root, &Config::new(&root), None).expect("open buckets");
                let warmup = t.elapsed().as_secs_f64();
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                addr_tx.send((listener.local_addr().expect("addr"), warmup)).expect("send addr");
                server::run(listener, server::Config::default(), buckets, async {
                    let _ = stop_rx.await;
                })
                .await;
            });
        });
        let (addr, warmup) = addr_rx.recv().expect("server address");
        Server { addr, warmup, stop, thread }
    }

    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().expect("server thread");
    }
}
