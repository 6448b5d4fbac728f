//! The input is a saved userset file (either code per length: plain or
//! anagram). Loading it must never panic, hang or allocate more than the
//! input justifies; a set that loads must answer lookups (single and batched
//! alike) and save back to the same bytes, or, for a file of an older
//! version, to a current file that loads as the same set.
//!
//! Random bytes rarely carry valid checksums, so each input is also tried
//! with both checksums recomputed: that copy reaches the structural checks
//! behind them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use userset::UserSet;

fn exercise(data: &[u8]) {
    let Ok(set) = UserSet::from_bytes(data) else { return };
    let probes: Vec<&[u8]> = vec![
        b"",
        b"a",
        b"abc",
        b"cba",
        b"p48dxvm3ay",
        &data[..data.len().min(9)],
        &data[data.len().min(64)..data.len().min(80)],
        &data[data.len().min(80)..data.len().min(91)],
    ];
    let mut batch = vec![false; probes.len()];
    set.contains_batch(&probes, &mut batch);
    for (p, &b) in probes.iter().zip(&batch) {
        assert_eq!(set.contains(p), b, "batched and single lookups differ");
    }
    let mut again = Vec::new();
    set.write_to(&mut again).expect("writing to memory");
    if data[8..12] == userset::file::VERSION.to_le_bytes() {
        assert_eq!(again, data, "a loaded set saves back to different bytes");
    } else {
        let reloaded = UserSet::from_bytes(&again).expect("an upgraded set loads");
        assert_eq!(reloaded, set, "an upgraded set loads as a different set");
    }
}

fuzz_target!(|data: &[u8]| {
    exercise(data);
    if data.len() >= 64 {
        let mut fixed = data.to_vec();
        let body = crc32fast::hash(&fixed[64..]);
        fixed[32..36].copy_from_slice(&body.to_le_bytes());
        let header = crc32fast::hash(&fixed[..60]);
        fixed[60..64].copy_from_slice(&header.to_le_bytes());
        exercise(&fixed);
    }
});
