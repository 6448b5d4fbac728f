//! The input is a bloom filter file. Reading it must never panic nor
//! allocate more than the input justifies; a filter that reads must answer
//! membership, and writing it out and reading that back must give the same
//! filter (the same bytes on a second write).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqfile::bloom::DynamicBloomFilter;

fuzz_target!(|data: &[u8]| {
    let Ok(f) = DynamicBloomFilter::read_from(data) else { return };
    for key in [&b"\x00"[..], b"\x03abc", &data[..data.len().min(9)]] {
        let _ = f.membership_test(key);
    }
    let mut once = Vec::new();
    f.write_to(&mut once);
    let g = DynamicBloomFilter::read_from(&once).expect("a written filter reads back");
    let mut twice = Vec::new();
    g.write_to(&mut twice);
    assert_eq!(once, twice, "write(read(write(f))) differs from write(f)");
});
