//! The input is a byte stream a memcached binary-protocol peer might send.
//! Decoding it as requests (server side), as responses (client side) and as
//! a TAP stream must never panic nor buffer more than the limits allow;
//! `check` never claims bytes it was not given; every request that parses
//! encodes back to the same bytes (bar the ignored data-type byte and a
//! TAP_CONNECT's lenient extras), and so does every response.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use memcache::binary::tap::parse_incoming;
use memcache::binary::{
    Check, Limits, Opcode, Request, RequestDecoder, Response, ResponseDecoder, check_packet,
};

fuzz_target!(|data: &[u8]| {
    // Small limits so that oversize paths are reached with short inputs.
    let limits = Limits {
        max_key_len: 250,
        max_value_len: 512,
        max_body_len: 4096,
    };

    // Server side, fed in two pieces to exercise incomplete frames and skips.
    let mut dec = RequestDecoder::new(limits);
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut buf = BytesMut::from(&data[..split]);
    let mut rest = &data[split..];
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(r)) => {
                let mut out = BytesMut::new();
                r.encode(&mut out);
                let again = Request::parse(out.freeze(), &limits).expect("an encoded request parses");
                assert_eq!(again, r);
                let _ = r.reply().ok(&mut BytesMut::new(), 1);
            }
            Ok(None) if !rest.is_empty() => {
                buf.extend_from_slice(rest);
                rest = &[];
            }
            Ok(None) => break,
            Err(e) => {
                let mut out = BytesMut::new();
                e.write_reply(&mut out);
                let _ = e.to_string();
                if e.closes() {
                    break;
                }
            }
        }
        assert!(buf.len() <= data.len());
    }

    // Single packet: parse must agree with check and re-encode faithfully.
    if let Ok(Check::Complete(n)) = check_packet(data, &limits) {
        assert!(n <= data.len());
        let frame = Bytes::copy_from_slice(&data[..n]);
        if let Ok(r) = Request::parse(frame.clone(), &limits) {
            if r.opcode != Opcode::TAP_CONNECT {
                let mut out = BytesMut::new();
                r.encode(&mut out);
                let mut want = frame.to_vec();
                want[5] = 0;
                assert_eq!(&out[..], &want[..]);
            }
        }
        if let Ok(resp) = Response::parse(frame.clone(), &limits) {
            let mut out = BytesMut::new();
            resp.encode(&mut out);
            assert_eq!(&out[..], &frame[..]);
        }
        if let Ok(memcache::binary::tap::Incoming::Event(ev)) = parse_incoming(frame, &limits) {
            let mut out = BytesMut::new();
            ev.encode(&mut out);
            let back = memcache::binary::tap::Event::parse(out.freeze(), &limits)
                .expect("an encoded event parses");
            assert_eq!(back, ev);
        }
    }

    // Client side.
    let mut buf = BytesMut::from(data);
    let mut rd = ResponseDecoder::new(limits);
    while let Ok(Some(r)) = rd.decode(&mut buf) {
        let _ = (r.flags(), r.counter(), r.is_stat_end());
    }
});
