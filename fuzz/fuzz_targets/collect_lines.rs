//! The input is a datagram a sensor (or anyone on the LAN) might send to
//! the collector. The first byte picks the format and options; the rest
//! is the datagram. Parsing must never panic; every reading must be one
//! the store can take (a key within memcached's 250 bytes, a serial without
//! `/` or whitespace) and its JSON must be well-formed; a malformed line's
//! column must lie within the line (one past its end at most).
#![no_main]

use collect::{Format, IbuttonOptions, InfluxOptions, Line, Precision, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, datagram)) = data.split_first() else { return };
    let format = if pick & 1 == 0 {
        Format::Ibutton(IbuttonOptions { utc_offset_secs: i32::from(pick >> 1) * 900 - 12 * 3600 })
    } else {
        let precision = match (pick >> 1) & 3 {
            0 => Precision::Nanoseconds,
            1 => Precision::Microseconds,
            2 => Precision::Milliseconds,
            _ => Precision::Seconds,
        };
        Format::Influx(InfluxOptions { precision, ..InfluxOptions::default() })
    };
    format.each_line(datagram, Timestamp::from_unix_nanos(1), |line| match line {
        Line::Reading(r) => {
            let key = r.key();
            assert!(key.len() <= 250, "{key}");
            assert!(!r.serial.contains('/') && !r.serial.chars().any(char::is_whitespace));
            let json = r.to_json();
            let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
            assert_eq!(v["serial"].as_str(), Some(r.serial.as_str()));
            assert!(r.latest_key().len() <= 250);
        }
        Line::Malformed(e, text) => {
            assert!(e.column >= 1 && e.column <= text.len() + 1, "{e} in {} bytes", text.len());
        }
    });
});
