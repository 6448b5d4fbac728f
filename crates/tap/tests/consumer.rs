//! The consumer against a scripted producer: a `TcpListener` in the test
//! that sends codec-encoded events (and garbage) and checks what comes back.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use memcache::binary::tap::{Event, EventFlags, EventKind, TapConnect, TapFlags, opaque};
use memcache::binary::{Command, HEADER_LEN, Limits, Opcode, Request, Response, Status};
use tap::{Consumer, ConsumerOptions, Endpoint, Error, Item, Mutation, Poll};

/// Starts a producer thread running `script` on the first connection, after
/// reading (and returning) the consumer's `TAP_CONNECT`.
fn producer<R: Send + 'static>(
    script: impl FnOnce(TcpStream) -> R + Send + 'static,
) -> (Endpoint, JoinHandle<(TapConnect, R)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let connect = read_connect(&mut s);
        let r = script(s);
        (connect, r)
    });
    (Endpoint::new(addr), h)
}

fn read_packet(s: &mut TcpStream) -> Bytes {
    let mut h = [0u8; HEADER_LEN];
    s.read_exact(&mut h).unwrap();
    let body = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
    let mut p = h.to_vec();
    p.resize(HEADER_LEN + body, 0);
    s.read_exact(&mut p[HEADER_LEN..]).unwrap();
    Bytes::from(p)
}

fn read_connect(s: &mut TcpStream) -> TapConnect {
    let r = Request::parse(read_packet(s), &Limits::default()).unwrap();
    match r.command {
        Command::TapConnect(t) => t,
        other => panic!("expected TAP_CONNECT, got {other:?}"),
    }
}

fn encode(events: &[Event]) -> BytesMut {
    let mut out = BytesMut::new();
    for e in events {
        e.encode(&mut out);
    }
    out
}

fn opaque_event(seq: u32, code: u32) -> Event {
    Event::control(seq, Bytes::new(), EventKind::Opaque { code }, 0)
}

fn with_seqno(mut e: Event, seqno: u64) -> Event {
    e.engine_private = Bytes::copy_from_slice(&seqno.to_be_bytes());
    e
}

fn opts(flags: TapFlags) -> ConsumerOptions {
    ConsumerOptions::new(TapConnect::new(&b"t"[..]).with(flags))
}

#[test]
fn events_split_byte_by_byte_decode_in_order_and_noops_are_skipped() {
    let (ep, h) = producer(|mut s| {
        let mut out = encode(&[
            opaque_event(1, opaque::ENABLE_AUTO_NACK),
            opaque_event(2, opaque::INITIAL_VBUCKET_STREAM),
            with_seqno(
                Event::mutation(3, &b"alpha"[..], &b"one"[..], 0xdead_beef, 1_900_000_000, 77),
                41,
            ),
        ]);
        Request::noop().with_opaque(9).encode(&mut out);
        out.extend_from_slice(&encode(&[
            with_seqno(Event::control(4, &b"beta"[..], EventKind::Delete, 78), 42),
            Event::control(5, Bytes::new(), EventKind::Flush, 0),
            opaque_event(6, opaque::CLOSE_BACKFILL),
            opaque_event(7, opaque::CLOSE_TAP_STREAM),
        ]));
        for b in &out {
            s.write_all(&[*b]).unwrap();
        }
    });
    let mut c = Consumer::connect(&ep, &opts(TapFlags::DUMP | TapFlags::SEQNO_META)).unwrap();
    let mut items = Vec::new();
    while let Some(d) = c.next_item().unwrap() {
        assert_eq!(d.ack, None);
        items.push(d.item);
    }
    let (connect, ()) = h.join().unwrap();
    assert_eq!(connect.flags, TapFlags::DUMP | TapFlags::SEQNO_META);
    assert_eq!(connect.name, &b"t"[..]);
    assert_eq!(
        items,
        vec![
            Item::Control { opcode: Opcode::TAP_OPAQUE, code: Some(0) },
            Item::BackfillStart,
            Item::Mutation(Mutation {
                key: Bytes::from_static(b"alpha"),
                value: Bytes::from_static(b"one"),
                flags: 0xdead_beef,
                expiry: 1_900_000_000,
                cas: 77,
                seqno: Some(41),
                keys_only: false,
            }),
            Item::Delete { key: Bytes::from_static(b"beta"), cas: 78, seqno: Some(42) },
            Item::Flush,
            Item::BackfillEnd,
            Item::StreamEnd,
        ]
    );
    assert_eq!(c.events(), 7);
}

#[test]
fn host_order_flags_without_network_byte_order_are_swapped() {
    let (ep, h) = producer(|mut s| {
        let mut m = Event::mutation(1, &b"k"[..], &b"v"[..], 0x0100_0000, 0, 1);
        m.flags = EventFlags(0);
        let mut out = encode(&[m]);
        opaque_event(2, opaque::CLOSE_TAP_STREAM).encode(&mut out);
        s.write_all(&out).unwrap();
    });
    let mut c = Consumer::connect(&ep, &opts(TapFlags::DUMP)).unwrap();
    let Item::Mutation(m) = c.next_item().unwrap().unwrap().item else { panic!() };
    assert_eq!(m.flags, 1);
    assert_eq!(m.seqno, None);
    h.join().unwrap();
}

#[test]
fn acks_go_back_only_when_the_caller_says_the_event_is_applied() {
    let (ep, h) = producer(|mut s| {
        let mut m = Event::mutation(500, &b"k"[..], &b"v"[..], 0, 0, 1);
        m.flags = m.flags | EventFlags::ACK;
        s.write_all(&encode(&[m])).unwrap();
        // Nothing may come back before the consumer applied it.
        s.set_read_timeout(Some(Duration::from_millis(400))).unwrap();
        let mut b = [0u8; 1];
        let early = s.read(&mut b);
        assert!(
            matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut),
            "an ack arrived before the event was applied: {early:?}"
        );
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let ack = Response::parse(read_packet(&mut s), &Limits::default()).unwrap();
        let mut out = encode(&[opaque_event(501, opaque::CLOSE_TAP_STREAM)]);
        s.write_all(&out.split()).unwrap();
        ack
    });
    let mut c = Consumer::connect(&ep, &opts(TapFlags::SUPPORT_ACK)).unwrap();
    let d = c.next_item().unwrap().unwrap();
    let ack = d.ack.expect("the event asked for an ack");
    assert_eq!((ack.opcode, ack.opaque), (Opcode::TAP_MUTATION, 500));
    std::thread::sleep(Duration::from_millis(600)); // "applying"
    c.ack(ack).unwrap();
    assert_eq!(c.next_item().unwrap().unwrap().item, Item::StreamEnd);
    let (_, r) = h.join().unwrap();
    assert_eq!((r.opcode, r.opaque, r.status), (Opcode::TAP_MUTATION, 500, Status::SUCCESS));
    assert!(r.value.is_empty() && r.key.is_empty() && r.extras.is_empty());
}

#[test]
fn a_refusal_is_a_typed_error_with_the_servers_text() {
    let (ep, h) = producer(|mut s| {
        let r = Response {
            opcode: Opcode::TAP_CONNECT,
            status: Status::EINVAL,
            opaque: 0,
            cas: 0,
            data_type: 0,
            extras: Bytes::new(),
            key: Bytes::new(),
            value: Bytes::from_static(b"TAKEOVER_VBUCKETS is not supported"),
        };
        let mut out = BytesMut::new();
        r.encode(&mut out);
        s.write_all(&out).unwrap();
    });
    let mut c = Consumer::connect(&ep, &opts(TapFlags::TAKEOVER_VBUCKETS)).unwrap();
    let e = c.next_item().unwrap_err();
    h.join().unwrap();
    match &e {
        Error::Refused { status, message } => {
            assert_eq!(*status, Status::EINVAL);
            assert_eq!(message, "TAKEOVER_VBUCKETS is not supported");
        }
        other => panic!("{other:?}"),
    }
    assert!(!e.is_transient());
}

#[test]
fn a_stream_cut_inside_a_packet_is_truncated_at_its_offset() {
    let (ep, h) = producer(|mut s| {
        let out = encode(&[
            opaque_event(1, opaque::INITIAL_VBUCKET_STREAM),
            Event::mutation(2, &b"key"[..], vec![7u8; 1000], 0, 0, 1),
        ]);
        let first = out.len() - 1000 - 3 - 16 - 24;
        s.write_all(&out[..first + 30]).unwrap();
    });
    let mut c = Consumer::connect(&ep, &opts(TapFlags(0))).unwrap();
    assert_eq!(c.next_item().unwrap().unwrap().item, Item::BackfillStart);
    let e = c.next_item().unwrap_err();
    h.join().unwrap();
    match e {
        Error::Truncated { offset, have, need } => {
            assert_eq!(offset, 36); // the 36-byte opaque event came first
            assert_eq!(have, 30);
            assert_eq!(need, 24 + 16 + 3 + 1000);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_hostile_length_is_refused_from_the_header_without_waiting_for_the_body() {
    let (ep, h) = producer(|mut s| {
        let mut m = encode(&[Event::mutation(1, &b"k"[..], &b"v"[..], 0, 0, 1)]);
        // Body length 0x7fff_ffff: 2 GiB announced, 20 bytes sent.
        m[8..12].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
        s.write_all(&m).unwrap();
        // Keep the connection open: the consumer must not wait for the body.
        std::thread::sleep(Duration::from_secs(2));
    });
    let mut c = Consumer::connect(&ep, &opts(TapFlags(0))).unwrap();
    let t = Instant::now();
    let e = c.next_item().unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(1), "took {:?}", t.elapsed());
    match &e {
        Error::Protocol { offset: 0, opcode: Some(Opcode::TAP_MUTATION), .. } => {}
        other => panic!("{other:?}"),
    }
    h.join().unwrap();
}

#[test]
fn garbage_magic_and_lying_engine_private_lengths_are_errors() {
    for bad in [0usize, 1] {
        let (ep, h) = producer(move |mut s| {
            let mut m = encode(&[Event::control(1, &b"key"[..], EventKind::Delete, 0)]);
            if bad == 0 {
                m[0] = 0x42;
            } else {
                m[24..26].copy_from_slice(&9u16.to_be_bytes());
            }
            s.write_all(&m).unwrap();
            std::thread::sleep(Duration::from_millis(500));
        });
        let mut c = Consumer::connect(&ep, &opts(TapFlags(0))).unwrap();
        let e = c.next_item().unwrap_err();
        assert!(matches!(e, Error::Protocol { offset: 0, .. }), "{e:?}");
        assert!(e.to_string().contains("offset 0"), "{e}");
        h.join().unwrap();
    }
}

#[test]
fn a_close_without_close_tap_stream_is_a_disconnect_and_silence_is_idle() {
    let (ep, h) = producer(|mut s| {
        s.write_all(&encode(&[opaque_event(1, opaque::INITIAL_VBUCKET_STREAM)])).unwrap();
    });
    let mut c = Consumer::connect(&ep, &opts(TapFlags(0))).unwrap();
    c.next_item().unwrap();
    let e = c.next_item().unwrap_err();
    assert!(matches!(e, Error::Disconnected { offset: 36 }), "{e:?}");
    assert!(e.is_transient());
    h.join().unwrap();

    let (ep, h) = producer(|_s| std::thread::sleep(Duration::from_millis(1500)));
    let mut o = opts(TapFlags(0));
    o.idle_timeout = Duration::from_millis(300);
    let mut c = Consumer::connect(&ep, &o).unwrap();
    assert_eq!(c.poll(Duration::from_millis(50)).unwrap(), Poll::Idle);
    let e = c.next_item().unwrap_err();
    assert!(matches!(e, Error::Idle { .. }), "{e:?}");
    h.join().unwrap();
}
