//! Small parsers on arbitrary bytes: `Header::parse` (plus its contracts: a
//! cut-short header is `Ok(None)`, never an error, and a parsed header
//! re-serializes to one that parses the same), `vint::read_vlong`/`read_vint`,
//! `dump::parse_record_line` on the lossy UTF-8 of the input (each line too),
//! and the `Writable` decoders and text parsers of every known class.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use seqfile::Header;
use seqfile::dump::parse_record_line;
use seqfile::vint;
use seqfile::writable::{Class, Datum};

fn header(data: &[u8]) {
    let Ok(Some((h, n))) = Header::parse(data) else { return };
    assert!(n <= data.len(), "header length {n} past the input ({})", data.len());
    // The reader parses ever longer prefixes until one is complete: shorter
    // prefixes must ask for more bytes rather than fail.
    for cut in [0, n / 2, n.saturating_sub(1)] {
        if cut < n {
            assert!(
                matches!(Header::parse(&data[..cut]), Ok(None)),
                "prefix of {cut} of a {n}-byte header: {:?}",
                Header::parse(&data[..cut])
            );
        }
    }
    assert_eq!(Header::parse(&data[..n]).ok().flatten(), Some((h.clone(), n)));
    // `write_to` always writes version 6; everything else survives.
    let mut out = Vec::new();
    h.write_to(&mut out);
    let want = Header { version: seqfile::header::CURRENT_VERSION, ..h };
    assert_eq!(Header::parse(&out).ok().flatten(), Some((want, out.len())), "re-serialized header");
}

fn vints(data: &[u8]) {
    let long = vint::read_vlong(data);
    if let Ok((v, n)) = long {
        assert_eq!(n, vint::decoded_len(data[0]));
        assert!(n <= data.len() && n <= vint::MAX_VLONG_LEN);
        let mut w = Vec::new();
        vint::write_vlong(&mut w, v);
        assert!(w.len() <= n, "shortest form of {v} is {} bytes, read {n}", w.len());
        assert_eq!(vint::read_vlong(&w).ok(), Some((v, w.len())));
    }
    match (long, vint::read_vint(data)) {
        (Ok((l, n)), Ok((i, m))) => assert_eq!((l, n), (i64::from(i), m)),
        (Ok((l, _)), Err(_)) => assert!(i32::try_from(l).is_err(), "{l} fits in i32"),
        (Err(_), Ok(_)) => panic!("read_vint accepted what read_vlong refused"),
        (Err(_), Err(_)) => {}
    }
}

fn line(s: &str) {
    if let Ok(Some((k, v))) = parse_record_line(s) {
        let again = format!("{}\t{}\n", hex::encode(&k), hex::encode(&v));
        assert_eq!(parse_record_line(&again).ok().flatten(), Some((k, v)));
    }
}

fn writables(data: &[u8], s: &str) {
    let bytes = Bytes::copy_from_slice(data);
    for class in Class::ALL {
        if let Ok(d) = Datum::decode(class, &bytes) {
            let mut enc = Vec::new();
            d.encode(&mut enc);
            let d2 = Datum::decode(class, &Bytes::from(enc.clone()))
                .unwrap_or_else(|e| panic!("{class:?}: re-encoded value does not decode: {e}"));
            let mut enc2 = Vec::new();
            d2.encode(&mut enc2);
            assert_eq!(enc, enc2, "{class:?}");
            let _ = d.to_string();
        }
        let _ = Datum::parse(class, s);
        let _ = Class::from_short_name(s);
    }
}

fuzz_target!(|data: &[u8]| {
    header(data);
    vints(data);
    let text = String::from_utf8_lossy(data);
    line(&text);
    for l in text.split('\n').take(64) {
        line(l);
    }
    writables(data, &text);
});
