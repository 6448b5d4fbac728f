//! In-process timings for issue #28's benchmark shapes: 300k points
//! uniform in degrees (latitudes within Redis GEO's ±85.05°, as in the
//! Redis measurement), bulk-loaded; a large box 3000 × 2000 km around
//! (10, 47.5) (about 3,500 hits) and a small one 300 × 200 km (about 35);
//! each as rows, as rendered GeoCouch JSON, and as a count; and a nearest
//! query; and an upsert into the loaded index. Memory per point and the
//! first bulk-load time are printed first.
//!
//! `cargo bench -p mammoth-geo --bench geo_queries`

#![allow(missing_docs)]
// 53-bit integers and byte counts convert to f64 exactly enough here.
#![allow(clippy::cast_precision_loss)]

use criterion::{Criterion, criterion_group, criterion_main};
use geo_index::couch::render_rows;
use geo_index::{GeoIndex, IndexSpec, QueryBox};
use std::hint::black_box;
use std::time::Instant;

const POINTS: u32 = 300_000;

// As in `mammoth serve`: answers of a few hundred kilobytes are allocated
// and freed per query, and the allocator decides whether that faults pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// splitmix64: reproducible without a random-number crate.
fn next(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn values() -> Vec<(String, String)> {
    let mut s = 28;
    (0..POINTS)
        .map(|i| {
            let lon = next(&mut s) * 360.0 - 180.0;
            let lat = next(&mut s) * 170.1 - 85.05;
            (format!("place:{i:06}"), format!(r#"{{"loc":[{lon},{lat}],"n":{i}}}"#))
        })
        .collect()
}

/// A box `width_km` × `height_km` centred on (lon, lat), as Redis BYBOX
/// draws it (height along the meridian, width along the centre parallel).
fn box_km(lon: f64, lat: f64, width_km: f64, height_km: f64) -> QueryBox {
    let km_per_deg = geo_index::sphere::EARTH_RADIUS_M * std::f64::consts::PI / 180.0 / 1000.0;
    let dlat = height_km / 2.0 / km_per_deg;
    let dlon = width_km / 2.0 / (km_per_deg * lat.to_radians().cos());
    QueryBox::new(lon - dlon, lat - dlat, lon + dlon, lat + dlat).unwrap()
}

fn bench(c: &mut Criterion) {
    let values = values();
    let index = GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap());
    let empty = index.memory_bytes();
    let t = Instant::now();
    let n = index.bulk_load(values.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())));
    let load = t.elapsed();
    let mem = index.memory_bytes() - empty;
    let large = box_km(10.0, 47.5, 3000.0, 2000.0);
    let small = box_km(10.0, 47.5, 300.0, 200.0);
    eprintln!(
        "geo: {n} points: bulk_load (JSON parse + R*-tree) {load:.1?}, memory {:.1} MiB = {} B/point; \
         large box {} hits, small box {} hits",
        mem as f64 / f64::from(1 << 20),
        mem / n,
        index.count_within(large),
        index.count_within(small),
    );

    let mut g = c.benchmark_group("geo");
    g.sample_size(20);
    g.bench_function("bulk_load_300k", |b| {
        let scratch = GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap());
        b.iter(|| scratch.bulk_load(values.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()))));
    });
    g.sample_size(100);
    for (name, q) in [("large", large), ("small", small)] {
        g.bench_function(format!("{name}_box_rows"), |b| {
            b.iter(|| black_box(index.within(black_box(q), 0, None)));
        });
        g.bench_function(format!("{name}_box_json"), |b| {
            b.iter(|| {
                let rows = index.within(black_box(q), 0, None);
                black_box(render_rows(&rows, |_| None::<&[u8]>))
            });
        });
        g.bench_function(format!("{name}_box_count"), |b| {
            b.iter(|| black_box(index.count_within(black_box(q))));
        });
    }
    // Two threads querying at once (the machine has two cores): time per
    // query in aggregate, so queries/s = 1 / this. Shows what the read lock
    // and shared cache lines cost when HTTP tasks query in parallel.
    g.bench_function("large_box_json_2_threads", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..iters.div_ceil(2) {
                            let rows = index.within(black_box(large), 0, None);
                            black_box(render_rows(&rows, |_| None::<&[u8]>));
                        }
                    });
                }
            });
            t.elapsed()
        });
    });
    // The write path: a SET of an indexed key moves its point (parse the
    // value, take the old entry out, put the new one in).
    let mut i = 0u32;
    g.bench_function("upsert_300k", |b| {
        b.iter(|| {
            i = (i + 7919) % POINTS;
            let (lon, lat) = (f64::from(i % 360) - 179.5, f64::from(i % 170) - 84.5);
            let value = format!(r#"{{"loc":[{lon},{lat}],"n":{i}}}"#);
            index.upsert(format!("place:{i:06}").as_bytes(), value.as_bytes())
        });
    });
    g.bench_function("nearest_10", |b| {
        b.iter(|| black_box(index.nearest(black_box(10.0), black_box(47.5), 10, 0)));
    });
    g.bench_function("nearest_10_pole", |b| {
        b.iter(|| black_box(index.nearest(black_box(179.9), black_box(89.9), 10, 0)));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
