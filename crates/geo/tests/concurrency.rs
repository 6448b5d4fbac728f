//! Queries running while writers update the index.

use geo_index::{GeoIndex, IndexSpec, QueryBox};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[test]
fn queries_during_writes_and_read_your_writes() {
    let index = Arc::new(GeoIndex::new(IndexSpec::parse("loc=/loc").unwrap()));
    index.bulk_load((0..5_000u32).map(|i| {
        let (x, y) = (f64::from(i % 360) - 180.0, f64::from(i % 181) - 90.0);
        (format!("base{i}"), format!(r#"{{"loc":[{x},{y}]}}"#))
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (index, stop) = (Arc::clone(&index), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut queries = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let rows =
                        index.within(QueryBox::new(170.0, -90.0, -170.0, 90.0).unwrap(), 0, None);
                    assert!(rows.windows(2).all(|w| w[0].key() < w[1].key()));
                    let near = index.nearest(0.0, 0.0, 5, 0).unwrap();
                    assert_eq!(near.len(), 5);
                    queries += 1;
                }
                queries
            })
        })
        .collect();
    let writers: Vec<_> = (0..2u32)
        .map(|w| {
            let index = Arc::clone(&index);
            std::thread::spawn(move || {
                for i in 0..2_000u32 {
                    let key = format!("w{w}-{i}");
                    let x = f64::from(i % 20) - 10.0;
                    index.upsert(key.as_bytes(), format!(r#"{{"loc":[{x},45.5]}}"#).as_bytes());
                    // Read-your-writes: the write is visible to the next query.
                    let q = QueryBox::new(x, 45.5, x, 45.5).unwrap();
                    assert!(index.within(q, 0, None).iter().any(|r| r.key() == key.as_bytes()));
                    if i % 3 == 0 {
                        assert!(index.remove(key.as_bytes()));
                        assert!(
                            !index.within(q, 0, None).iter().any(|r| r.key() == key.as_bytes())
                        );
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    assert_eq!(index.len(), 5_000 + 2 * (2_000 - 667));
}
