//! The HTTP listener (`mammoth serve --http ADDR`): `/metrics` in the
//! Prometheus text format, `/healthz`, and GeoCouch's
//! `/<bucket>/_spatial/<index>` queries over the geo indexes
//! ([`crate::geo`]). Off by default.
//!
//! Metric names follow `memcached_exporter`'s for what memcached also has
//! (`memcached_commands_total{command,status}`, `memcached_current_items`,
//! …), each with a `bucket` label; mammoth's own figures (the flusher,
//! persistence lag, write failures, ejection, TAP) are `mammoth_*`.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use geo_index::couch::{CouchError, SpatialPath};

use crate::Shared;

/// Serves HTTP on `listener` until the server shuts down.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let stop = shared.shutdown.listen();
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = &e as &dyn std::error::Error, "HTTP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => return,
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(route(&req, &shared).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service)
                .await
            {
                tracing::debug!(%peer, error = &e as &dyn std::error::Error, "HTTP connection ended with an error");
            }
        });
    }
}

async fn route(req: &Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    let get = req.method() == hyper::Method::GET || req.method() == hyper::Method::HEAD;
    if let Some(path) = SpatialPath::parse(req.uri().path()) {
        let (status, body) = if get {
            let query = req.uri().query().unwrap_or("");
            shared.geo.query(path.bucket(), path.index(), query).await
        } else {
            let e = CouchError::new(405, "method_not_allowed", "only GET and HEAD");
            (e.status(), e.body())
        };
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return reply(status, "application/json", body);
    }
    match (get, req.uri().path()) {
        (true, "/metrics") => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics(shared).into(),
        ),
        (true, "/healthz") => match unwritable(shared) {
            None => reply(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".as_bytes().into()),
            Some(why) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                format!("writes cannot be made durable: {why}\n").into(),
            ),
        },
        (false, "/metrics" | "/healthz") => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "GET only\n".as_bytes().into(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found; try /metrics, /healthz or /<bucket>/_spatial/<index>\n".as_bytes().into(),
        ),
    }
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// The first bucket whose writes are failing, and why.
fn unwritable(shared: &Shared) -> Option<String> {
    shared
        .buckets
        .iter()
        .find_map(|(name, store)| store.unwritable().map(|why| format!("bucket {name}: {why}")))
}

/// `memcached_exporter`'s commands: (command, stat prefix) with hit/miss
/// pairs, and the cas statuses.
const COMMANDS: [(&str, &str); 5] =
    [("get", "get"), ("delete", "delete"), ("incr", "incr"), ("decr", "decr"), ("touch", "touch")];

/// Gauges and counters of one bucket's `stats engine`, as mammoth_* metrics:
/// (stat, metric, help, type).
const ENGINE: [(&str, &str, &str, &str); 12] = [
    (
        "persistence_lag_ms",
        "mammoth_persistence_lag_milliseconds",
        "Age of the oldest change not yet durable.",
        "gauge",
    ),
    (
        "flusher_queue_items",
        "mammoth_flusher_queue_items",
        "Changes waiting for a group commit.",
        "gauge",
    ),
    ("flusher_batches", "mammoth_group_commits_total", "Group commits written.", "counter"),
    (
        "engine_writes",
        "mammoth_engine_writes_total",
        "Writes in group commits, after coalescing.",
        "counter",
    ),
    (
        "engine_errors",
        "mammoth_engine_errors_total",
        "Failed commit-log appends and engine writes (each retried).",
        "counter",
    ),
    (
        "write_failing",
        "mammoth_write_failing",
        "1 while writes cannot be made durable (a full disk).",
        "gauge",
    ),
    (
        "writes_refused_unwritable",
        "mammoth_writes_refused_unwritable_total",
        "Writes refused because they could not be made durable.",
        "counter",
    ),
    (
        "ep_num_non_resident",
        "mammoth_items_non_resident",
        "Items whose value was ejected to the engine.",
        "gauge",
    ),
    (
        "ep_num_value_ejects",
        "mammoth_value_ejects_total",
        "Values ejected by the pager.",
        "counter",
    ),
    (
        "ep_bg_fetched",
        "mammoth_background_fetches_total",
        "Ejected values read back from the engine.",
        "counter",
    ),
    ("mem_used", "mammoth_memory_used_bytes", "Memory charged to the quota.", "gauge"),
    (
        "ep_tmp_oom_errors",
        "mammoth_temporary_oom_errors_total",
        "Writes refused while memory was full of changes not yet in the engine.",
        "counter",
    ),
];

/// The Prometheus text exposition of the server and every bucket.
#[allow(clippy::too_many_lines, reason = "a flat list of metric families")]
pub(crate) fn metrics(shared: &Shared) -> String {
    let s = &shared.stats;
    let mut out = String::with_capacity(8 * 1024);
    let mut one = |name: &str, help: &str, kind: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    one("memcached_up", "Whether the server answers.", "gauge", "1".into());
    one(
        "memcached_uptime_seconds",
        "Seconds since the server started.",
        "counter",
        s.uptime().as_secs().to_string(),
    );
    one(
        "memcached_current_connections",
        "Connections open now.",
        "gauge",
        s.curr_connections.load(Ordering::Relaxed).to_string(),
    );
    one(
        "memcached_connections_total",
        "Connections accepted.",
        "counter",
        s.total_connections.load(Ordering::Relaxed).to_string(),
    );
    one(
        "memcached_connections_rejected_total",
        "Connections refused at the limit.",
        "counter",
        s.rejected_connections.load(Ordering::Relaxed).to_string(),
    );
    one(
        "memcached_max_connections",
        "Most connections served at once.",
        "gauge",
        shared.config.max_connections.to_string(),
    );
    one(
        "memcached_read_bytes_total",
        "Bytes read from clients.",
        "counter",
        s.traffic.sum(|t| &t.bytes_read).to_string(),
    );
    one(
        "memcached_written_bytes_total",
        "Bytes written to clients.",
        "counter",
        s.traffic.sum(|t| &t.bytes_written).to_string(),
    );
    one(
        "mammoth_writes_not_durable_total",
        "Writes applied in memory but answered with an error because they could not be made durable (ambiguous outcome).",
        "counter",
        s.writes_not_durable.load(Ordering::Relaxed).to_string(),
    );
    one(
        "mammoth_lua_calls_total",
        "Lua function calls answered with a value or nil.",
        "counter",
        s.lua_calls.load(Ordering::Relaxed).to_string(),
    );
    one(
        "mammoth_lua_errors_total",
        "Lua function calls answered with an error (runtime error, unknown function, limit).",
        "counter",
        s.lua_errors.load(Ordering::Relaxed).to_string(),
    );
    if s.tls.get().is_some() {
        one(
            "mammoth_tls_handshake_errors_total",
            "TLS connections whose handshake failed or timed out.",
            "counter",
            s.ssl_handshake_errors.load(Ordering::Relaxed).to_string(),
        );
    }
    let buckets: Vec<(String, std::collections::HashMap<String, String>)> = shared
        .buckets
        .iter()
        .map(|(name, store)| (name.to_owned(), store.stats().into_iter().collect()))
        .collect();
    let mut family = |name: &str, help: &str, kind: &str, rows: &mut dyn FnMut(&mut String)| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        rows(&mut out);
    };
    let stat = |m: &std::collections::HashMap<String, String>, k: &str| {
        m.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
    };
    family("memcached_commands_total", "Commands by command and outcome.", "counter", &mut |o| {
        for (bucket, m) in &buckets {
            for (command, prefix) in COMMANDS {
                for (status, suffix) in [("hit", "hits"), ("miss", "misses")] {
                    let v = stat(m, &format!("{prefix}_{suffix}"));
                    let _ = writeln!(
                        o,
                        "memcached_commands_total{{bucket=\"{bucket}\",command=\"{command}\",status=\"{status}\"}} {v}"
                    );
                }
            }
            for (status, key) in
                [("hit", "cas_hits"), ("miss", "cas_misses"), ("badval", "cas_badval")]
            {
                let v = stat(m, key);
                let _ = writeln!(
                    o,
                    "memcached_commands_total{{bucket=\"{bucket}\",command=\"cas\",status=\"{status}\"}} {v}"
                );
            }
            for (command, key) in [("set", "cmd_set"), ("flush", "cmd_flush")] {
                let v = stat(m, key);
                let _ = writeln!(
                    o,
                    "memcached_commands_total{{bucket=\"{bucket}\",command=\"{command}\",status=\"hit\"}} {v}"
                );
            }
        }
    });
    for (stat_name, metric, help, kind) in [
        ("curr_items", "memcached_current_items", "Items stored now.", "gauge"),
        ("total_items", "memcached_items_total", "Items stored since start-up.", "counter"),
        ("bytes", "memcached_current_bytes", "Bytes the items take.", "gauge"),
        ("limit_maxbytes", "memcached_limit_bytes", "The memory quota.", "gauge"),
    ]
    .into_iter()
    .chain(ENGINE)
    {
        family(metric, help, kind, &mut |o| {
            for (bucket, m) in &buckets {
                let _ = writeln!(o, "{metric}{{bucket=\"{bucket}\"}} {}", stat(m, stat_name));
            }
        });
    }
    family("mammoth_tap_streams", "TAP streams being served.", "gauge", &mut |o| {
        let _ = writeln!(o, "mammoth_tap_streams {}", shared.taps.streams());
    });
    geo_metrics(shared, &mut family);
    out
}

/// Writes one metric family: (name, help, type, rows).
type Family<'a> = dyn FnMut(&str, &str, &str, &mut dyn FnMut(&mut String)) + 'a;

/// The geo indexes' families (none without `--geo-index`).
fn geo_metrics(shared: &Shared, family: &mut Family<'_>) {
    if shared.geo.buckets().next().is_none() {
        return;
    }
    let per_index = |metric: &str, measure: fn(&geo_index::GeoIndex) -> usize, o: &mut String| {
        for (bucket, b) in shared.geo.buckets() {
            for (index, i) in b.indexes() {
                let _ =
                    writeln!(o, "{metric}{{bucket=\"{bucket}\",index=\"{index}\"}} {}", measure(i));
            }
        }
    };
    family("mammoth_geo_points", "Items indexed by each geo index.", "gauge", &mut |o| {
        per_index("mammoth_geo_points", geo_index::GeoIndex::len, o);
    });
    family(
        "mammoth_geo_memory_bytes",
        "Approximate bytes held by each geo index.",
        "gauge",
        &mut |o| per_index("mammoth_geo_memory_bytes", geo_index::GeoIndex::memory_bytes, o),
    );
    family(
        "mammoth_geo_ready",
        "1 once a bucket's geo indexes are built and follow its writes.",
        "gauge",
        &mut |o| {
            for (bucket, b) in shared.geo.buckets() {
                let _ = writeln!(
                    o,
                    "mammoth_geo_ready{{bucket=\"{bucket}\"}} {}",
                    u8::from(b.is_ready())
                );
            }
        },
    );
    family(
        "mammoth_geo_build_seconds",
        "How long the last full build of a bucket's geo indexes took (backfill scan and bulk load).",
        "gauge",
        &mut |o| {
            for (bucket, b) in shared.geo.buckets() {
                let _ = writeln!(
                    o,
                    "mammoth_geo_build_seconds{{bucket=\"{bucket}\"}} {}",
                    b.build_seconds()
                );
            }
        },
    );
    family(
        "mammoth_geo_backfills_total",
        "Backfills of a bucket's geo indexes: full builds, and catch-ups after the change feed's ring lapped them.",
        "counter",
        &mut |o| {
            for (bucket, b) in shared.geo.buckets() {
                let (builds, catch_ups) = b.rebuilds();
                let _ = writeln!(
                    o,
                    "mammoth_geo_backfills_total{{bucket=\"{bucket}\",kind=\"build\"}} {builds}"
                );
                let _ = writeln!(
                    o,
                    "mammoth_geo_backfills_total{{bucket=\"{bucket}\",kind=\"catch_up\"}} {catch_ups}"
                );
            }
        },
    );
}
