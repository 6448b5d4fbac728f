//! Property tests: typed requests survive encode → check → parse; streams
//! split at any points decode to the same requests; byte soup never panics
//! and `check` never claims bytes it was not given.

use bytes::{Bytes, BytesMut};
use memcache::binary::tap::{TapConnect, TapFlags};
use memcache::binary::{
    Check, Command, Limits, Opcode, Request, RequestDecoder, Response, ResponseDecoder, Status,
    check_packet, check_request, check_response,
};
use memcache::ops::{Arith, StoreMode};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 1..=250).prop_map(Bytes::from)
}

fn value() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..300).prop_map(Bytes::from)
}

fn command() -> impl Strategy<Value = (Opcode, Command)> {
    prop_oneof![
        (key(), prop::sample::select(vec![Opcode::GET, Opcode::GETQ, Opcode::GETK, Opcode::GETKQ]))
            .prop_map(|(key, op)| (op, Command::Get { key })),
        (
            key(),
            any::<u32>(),
            prop::sample::select(vec![Opcode::GAT, Opcode::GATQ, Opcode::GATK, Opcode::GATKQ])
        )
            .prop_map(|(key, expiry, op)| (op, Command::GetAndTouch { key, expiry })),
        (key(), any::<u32>())
            .prop_map(|(key, expiry)| (Opcode::TOUCH, Command::Touch { key, expiry })),
        (key(), value(), any::<u32>(), any::<u32>(), 0..3usize, any::<bool>()).prop_map(
            |(key, value, flags, expiry, m, q)| {
                let (mode, op) = [
                    (StoreMode::Set, Opcode::SET),
                    (StoreMode::Add, Opcode::ADD),
                    (StoreMode::Replace, Opcode::REPLACE),
                ][m];
                let op = if q { op.quiet().unwrap() } else { op };
                (op, Command::Store { mode, key, flags, expiry, value })
            }
        ),
        (key(), value(), any::<bool>(), any::<bool>()).prop_map(|(key, value, append, q)| {
            let (mode, op) = if append {
                (StoreMode::Append, Opcode::APPEND)
            } else {
                (StoreMode::Prepend, Opcode::PREPEND)
            };
            // APPEND and PREPEND carry no flags or expiry on the wire.
            let (flags, expiry) = (0, 0);
            (
                if q { op.quiet().unwrap() } else { op },
                Command::Store { mode, key, flags, expiry, value },
            )
        }),
        (key(), any::<bool>()).prop_map(|(key, q)| {
            (if q { Opcode::DELETEQ } else { Opcode::DELETE }, Command::Delete { key })
        }),
        (key(), any::<u64>(), any::<u64>(), any::<u32>(), any::<bool>(), any::<bool>()).prop_map(
            |(key, delta, initial, expiry, incr, q)| {
                let (mode, op) = if incr {
                    (Arith::Incr, Opcode::INCREMENT)
                } else {
                    (Arith::Decr, Opcode::DECREMENT)
                };
                (
                    if q { op.quiet().unwrap() } else { op },
                    Command::Counter { mode, key, delta, initial, expiry },
                )
            }
        ),
        any::<bool>().prop_map(|q| (if q { Opcode::QUITQ } else { Opcode::QUIT }, Command::Quit)),
        (any::<Option<u32>>(), any::<bool>()).prop_map(|(delay, q)| (
            if q { Opcode::FLUSHQ } else { Opcode::FLUSH },
            Command::Flush { delay }
        )),
        Just((Opcode::NOOP, Command::Noop)),
        Just((Opcode::VERSION, Command::Version)),
        prop::collection::vec(any::<u8>(), 0..=250)
            .prop_map(|g| (Opcode::STAT, Command::Stat { group: g.into() })),
        any::<u32>().prop_map(|level| (Opcode::VERBOSITY, Command::Verbosity { level })),
        Just((Opcode::SASL_LIST_MECHS, Command::SaslListMechs)),
        (key(), value()).prop_map(|(mechanism, data)| (
            Opcode::SASL_AUTH,
            Command::SaslAuth { mechanism, data }
        )),
        (key(), value()).prop_map(|(mechanism, data)| (
            Opcode::SASL_STEP,
            Command::SaslStep { mechanism, data }
        )),
        tap_connect(),
    ]
}

/// A `TAP_CONNECT` with every argument its flags call for.
fn tap_connect() -> impl Strategy<Value = (Opcode, Command)> {
    (
        prop::collection::vec(any::<u8>(), 0..=250),
        any::<u32>(),
        any::<u64>(),
        prop::collection::vec(any::<u16>(), 0..20),
        prop::collection::vec((any::<u16>(), any::<u64>()), 0..20),
    )
        .prop_map(|(name, flags, since, vbs, cps)| {
            let flags = TapFlags(flags);
            let t = TapConnect {
                name: name.into(),
                flags,
                backfill: flags.contains(TapFlags::BACKFILL).then_some(since),
                vbuckets: if flags.contains(TapFlags::LIST_VBUCKETS) { vbs } else { Vec::new() },
                checkpoints: if flags.contains(TapFlags::CHECKPOINT) { cps } else { Vec::new() },
                since_seqno: flags.contains(TapFlags::SINCE_SEQNO).then_some(!since),
                key_prefix: flags
                    .contains(TapFlags::KEY_PREFIX)
                    .then(|| Bytes::from(since.to_le_bytes()[..(since % 9) as usize].to_vec())),
                filter: flags
                    .contains(TapFlags::FILTER)
                    .then(|| Bytes::from(format!("prefix:{since:x}"))),
            };
            (Opcode::TAP_CONNECT, Command::TapConnect(t))
        })
}

fn request() -> impl Strategy<Value = Request> {
    (command(), any::<u32>(), any::<u64>(), any::<u16>()).prop_map(
        |((opcode, command), opaque, cas, vbucket)| Request {
            opcode,
            opaque,
            cas,
            vbucket,
            command,
        },
    )
}

fn encode(r: &Request) -> BytesMut {
    let mut out = BytesMut::new();
    r.encode(&mut out);
    out
}

proptest! {
    #[test]
    fn encode_check_parse_roundtrip(r in request()) {
        let limits = Limits::default();
        let wire = encode(&r);
        prop_assert_eq!(check_request(&wire, &limits), Ok(Check::Complete(wire.len())));
        for cut in [0, 1, 23, 24, wire.len() - 1] {
            if cut < wire.len() {
                match check_request(&wire[..cut], &limits) {
                    Ok(Check::Incomplete { needed }) => prop_assert!(needed > cut && needed <= wire.len()),
                    other => prop_assert!(false, "prefix {} of {}: {:?}", cut, wire.len(), other),
                }
            }
        }
        let parsed = Request::parse(wire.freeze(), &limits);
        prop_assert_eq!(parsed, Ok(r));
    }

    #[test]
    fn split_streams_decode_the_same(rs in prop::collection::vec(request(), 1..8), cuts in prop::collection::vec(0usize..400, 0..10)) {
        let mut wire = BytesMut::new();
        for r in &rs {
            r.encode(&mut wire);
        }
        let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c < wire.len()).collect();
        cuts.sort_unstable();
        cuts.push(wire.len());
        let mut dec = RequestDecoder::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut at = 0;
        for c in cuts {
            buf.extend_from_slice(&wire[at..c]);
            at = c;
            while let Some(r) = dec.decode(&mut buf).unwrap() {
                got.push(r);
            }
        }
        prop_assert_eq!(got, rs);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn byte_soup_never_panics(mut soup in prop::collection::vec(any::<u8>(), 0..400), magic in prop::sample::select(vec![0x80u8, 0x81, 0x00])) {
        if !soup.is_empty() && magic != 0 {
            soup[0] = magic;
        }
        // Keep lengths plausible half of the time so deep paths get reached.
        if soup.len() >= 24 && soup[2] & 1 == 0 {
            soup[2] = 0;
            soup[8] = 0;
            soup[9] = 0;
        }
        let limits = Limits::default();
        for check in [check_request, check_response, check_packet] {
            match check(&soup, &limits) {
                Ok(Check::Complete(n)) => {
                    prop_assert!(n <= soup.len() && n >= 24);
                    let frame = Bytes::copy_from_slice(&soup[..n]);
                    if let Ok(r) = Request::parse(frame.clone(), &limits) {
                        // Parse is faithful (bar the ignored data type and
                        // TAP_CONNECT's lenient extras).
                        if r.opcode != Opcode::TAP_CONNECT {
                            let mut want = frame.to_vec();
                            want[5] = 0;
                            prop_assert_eq!(&encode(&r)[..], &want[..]);
                        }
                    }
                    if let Ok(resp) = Response::parse(frame.clone(), &limits) {
                        let mut out = BytesMut::new();
                        resp.encode(&mut out);
                        prop_assert_eq!(&out[..], &frame[..]);
                    }
                    let _ = memcache::binary::tap::parse_incoming(frame, &limits);
                }
                Ok(Check::Incomplete { needed }) => prop_assert!(needed > soup.len()),
                Err(e) => {
                    let _ = e.to_string();
                    let mut out = BytesMut::new();
                    e.write_reply(&mut out);
                }
            }
        }
        let mut buf = BytesMut::from(&soup[..]);
        let mut dec = RequestDecoder::new(limits);
        while let Ok(Some(_)) = dec.decode(&mut buf) {}
        let mut buf = BytesMut::from(&soup[..]);
        while let Ok(Some(_)) = ResponseDecoder::new(limits).decode(&mut buf) {}
    }

    #[test]
    fn responses_roundtrip(opcode in any::<u8>(), status in any::<u16>(), opaque in any::<u32>(), cas in any::<u64>(),
                           extras in prop::collection::vec(any::<u8>(), 0..20), key in prop::collection::vec(any::<u8>(), 0..300), value in value()) {
        let r = Response {
            opcode: Opcode(opcode),
            status: Status(status),
            opaque,
            cas,
            data_type: 0,
            extras: extras.into(),
            key: key.into(),
            value,
        };
        let mut out = BytesMut::new();
        r.encode(&mut out);
        let mut dec = ResponseDecoder::default();
        prop_assert_eq!(dec.decode(&mut out), Ok(Some(r)));
        prop_assert!(out.is_empty());
    }
}
