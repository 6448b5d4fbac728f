//! The first byte picks a codec from `Codec::ALL`, the rest is one compressed
//! stream. Decompression must never panic, never produce more than its limit,
//! and give the same answer again with the reused decompressor state and,
//! when the output fits, under a smaller limit. Whatever the stream is, its
//! bytes must also survive compress-then-decompress unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqfile::Codec;
use seqfile::codec::{Compressor, Decompressor};

/// The reader's decompression cap in this fuzzer.
const LIMIT: usize = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else { return };
    let codec = Codec::ALL[usize::from(selector) % Codec::ALL.len()];

    let mut d = Decompressor::new(codec, LIMIT);
    let mut out = Vec::new();
    let first = d.decompress(stream, &mut out).map(|()| out);
    if let Ok(out) = &first {
        assert!(out.len() <= LIMIT, "{codec}: {} bytes out, limit {LIMIT}", out.len());
    }

    // The same decompressor again (state carried over from the first call,
    // which may have failed half-way) must give the same answer, appended
    // after what is already in `out`.
    let mut again = vec![0xA5];
    let second = d.decompress(stream, &mut again).map(|()| again);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert!(b[0] == 0xA5 && b[1..] == a[..], "{codec}: reuse changed output"),
        (Err(_), Err(_)) => {}
        _ => panic!("{codec}: reuse changed result: {first:?} vs {second:?}"),
    }

    // A small limit chosen by the selector's upper bits: output that fits must
    // still decode identically, output that does not must be refused.
    let small = 1usize << ((selector >> 3) % 16 + 4); // 16 B .. 512 KiB
    let mut out_small = Vec::new();
    let limited = Decompressor::new(codec, small).decompress(stream, &mut out_small);
    match (&first, &limited) {
        (Ok(full), Ok(())) => {
            assert!(
                out_small.len() <= small,
                "{codec}: {} bytes out, limit {small}",
                out_small.len()
            );
            assert_eq!(&out_small, full, "{codec}: limit {small} changed output");
        }
        (Ok(full), Err(e)) => {
            assert!(full.len() > small, "{codec}: {} bytes fit limit {small} but: {e}", full.len());
        }
        (Err(_), Ok(())) => {
            assert!(
                out_small.len() <= small,
                "{codec}: {} bytes out, limit {small}",
                out_small.len()
            );
        }
        (Err(_), Err(_)) => {}
    }

    // Round trip of the stream bytes themselves as plain data.
    let mut packed = Vec::new();
    Compressor::new(codec).compress(stream, &mut packed).expect("compression cannot fail");
    let mut unpacked = Vec::new();
    Decompressor::new(codec, LIMIT)
        .decompress(&packed, &mut unpacked)
        .unwrap_or_else(|e| panic!("{codec}: own output does not decode: {e}"));
    assert!(unpacked == stream, "{codec}: round trip changed {} bytes", stream.len());
});
