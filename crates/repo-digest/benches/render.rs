//! Parsing and rendering cost of a digest: a synthetic 1 MiB Rust diff through the
//! diff reader, the plain body, the highlighted HTML body and the whole MIME message.
#![allow(missing_docs)]

use std::fmt::Write as _;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use repo_digest::config::{Kind, Limits, Mail, Transport};
use repo_digest::diff::{self, Stats};
use repo_digest::render::{self, Highlighter};
use repo_digest::spool::Meta;

fn synthetic_diff(target: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    while out.len() < target {
        let _ = write!(
            out,
            "diff --git a/src/m{n}.rs b/src/m{n}.rs\n--- a/src/m{n}.rs\n+++ b/src/m{n}.rs\n@@ -1,6 +1,7 @@\n fn f{n}(x: u32) -> u32 {{\n-    let y = x * 2; // old\n+    let y = x.wrapping_mul(3); // new \"text\"\n+    let z = y << 1;\n     if y > 10 {{\n         return y;\n     }}\n     x\n"
        );
        n += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    let text = synthetic_diff(1 << 20);
    let files = diff::parse(&text);
    let meta = Meta {
        version: 1,
        repo: "bench".into(),
        kind: Kind::Git,
        from: "a".repeat(40),
        to: "b".repeat(40),
        commits: vec![],
        authors: vec![],
        stats: diff::stats(&files),
        diff_bytes: text.len() as u64,
        spooled_at: 0,
    };
    assert_ne!(meta.stats, Stats::default());
    let limits = Limits::default();
    let hl = Highlighter::new();
    let mail = Mail {
        from: "a@example.org".into(),
        to: vec!["b@example.org".into()],
        transport: Transport::File { dir: ".".into() },
    };
    let mut g = c.benchmark_group("digest_1MiB");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(10);
    g.bench_function("parse", |b| b.iter(|| diff::parse(&text).len()));
    g.bench_function("plain", |b| b.iter(|| render::plain(&meta, &text, "x.diff", &limits).len()));
    g.bench_function("html_highlighted", |b| {
        b.iter(|| render::html(&meta, &text, "x.diff", &limits, &hl).len());
    });
    g.bench_function("whole_message", |b| {
        b.iter(|| {
            let d = repo_digest::mail::build(&meta, text.as_bytes(), &mail, &limits, &hl)
                .expect("builds");
            d.message.formatted().len()
        });
    });
    g.finish();
    c.bench_function("highlighter_load", |b| b.iter(Highlighter::new));
}

criterion_group!(benches, bench);
criterion_main!(benches);
