//! A server on 127.0.0.1:0 with a fresh store, for tests.

use std::net::SocketAddr;

pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    /// The HTTP listener (`/metrics`, `/healthz`, geo queries).
    #[allow(dead_code, reason = "only some test modules speak HTTP")]
    pub(crate) http: SocketAddr,
    /// The default bucket's store, for checks behind the protocol's back.
    #[allow(dead_code, reason = "only some test binaries look at it")]
    pub(crate) check: store::Store,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: Option<tempfile::TempDir>,
}

impl TestServer {
    pub(crate) fn start() -> TestServer {
        Self::start_with(server::Config::default(), None)
    }

    pub(crate) fn start_with(config: server::Config, users: Option<server::Users>) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self::start_in(dir.path(), &store::Config::new(dir.path()), config, users);
        server.dir = Some(dir);
        server
    }

    /// A server whose one listener speaks TLS.
    #[allow(dead_code, reason = "only some test binaries use TLS")]
    pub(crate) fn start_tls(
        config: server::Config,
        tls: std::sync::Arc<server::Tls>,
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store_config = store::Config::new(dir.path());
        let mut server = Self::spawn(dir.path(), &store_config, config, None, Some(tls));
        server.dir = Some(dir);
        server
    }

    /// A server over the stores in `dir` (which outlives it: restart tests).
    pub(crate) fn start_in(
        dir: &std::path::Path,
        store_config: &store::Config,
        config: server::Config,
        users: Option<server::Users>,
    ) -> TestServer {
        Self::spawn(dir, store_config, config, users, None)
    }

    fn spawn(
        dir: &std::path::Path,
        store_config: &store::Config,
        config: server::Config,
        users: Option<server::Users>,
        tls: Option<std::sync::Arc<server::Tls>>,
    ) -> TestServer {
        let buckets = server::Buckets::open(dir, store_config, users).unwrap();
        let check = buckets.default_store().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        // As `mammoth serve` runs it: an accepting runtime and two
        // single-threaded worker runtimes that own the connections.
        let thread = std::thread::spawn(move || {
            let workers = server::WorkerPool::start(2).unwrap();
            let handles = workers.handles().to_vec();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addrs = (listener.local_addr().unwrap(), http.local_addr().unwrap());
                addr_tx.send(addrs).unwrap();
                let listener = match tls {
                    Some(tls) => server::Listener::Tls(listener, tls),
                    None => server::Listener::Tcp(listener),
                };
                server::serve_listeners(
                    vec![listener],
                    Some(http),
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
        let (addr, http) = addr_rx.recv().unwrap();
        TestServer { addr, http, check, stop: Some(stop), thread: Some(thread), dir: None }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
