//! Spec §8, row by row: what a server built on `RequestDecoder` answers to
//! malformed input, and whether the connection survives. Each case feeds a
//! bad packet followed by a NOOP; a surviving connection must then decode
//! the NOOP, a closing one must not get that far.

use bytes::{Buf, BytesMut};
use memcache::binary::{
    Limits, Opcode, Request, RequestDecoder, Response, ResponseDecoder, Status,
};

/// Raw request bytes: header fields given explicitly so lengths can lie.
fn raw(op: u8, keylen: u16, extlen: u8, bodylen: u32, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, op];
    v.extend_from_slice(&keylen.to_be_bytes());
    v.extend_from_slice(&[extlen, 0, 0, 0]);
    v.extend_from_slice(&bodylen.to_be_bytes());
    v.extend_from_slice(&0x0abc_def0_u32.to_be_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(body);
    v
}

enum Outcome {
    /// Closed after answering with this status (None: no answer).
    Closed(Option<Status>),
    /// Answered with this status, then decoded the NOOP.
    Open(Status),
}

fn run(packet: &[u8], limits: Limits) -> Outcome {
    let mut buf = BytesMut::from(packet);
    Request::noop().with_opaque(1).encode(&mut buf);
    let mut dec = RequestDecoder::new(limits);
    let mut out = BytesMut::new();
    let err = match dec.decode(&mut buf) {
        Err(e) => e,
        Ok(r) => panic!("accepted: {r:?}"),
    };
    err.write_reply(&mut out);
    let status = if out.is_empty() {
        None
    } else {
        let r: Response = ResponseDecoder::default().decode(&mut out).unwrap().unwrap();
        assert_eq!(r.opaque, err.opaque);
        assert_eq!(r.opcode, err.opcode, "reply echoes the request's opcode");
        Some(r.status)
    };
    if err.closes() {
        return Outcome::Closed(status);
    }
    let next = dec.decode(&mut buf).expect("the NOOP after a skipped packet");
    assert_eq!(next, Some(Request::noop().with_opaque(1)));
    assert_eq!(buf.remaining(), 0);
    Outcome::Open(status.expect("a skipped packet is answered"))
}

fn closed(packet: &[u8], want: Option<Status>) {
    match run(packet, Limits::default()) {
        Outcome::Closed(s) => assert_eq!(s, want),
        Outcome::Open(s) => panic!("stayed open with {s:?}"),
    }
}

fn open(packet: &[u8], limits: Limits, want: Status) {
    match run(packet, limits) {
        Outcome::Open(s) => assert_eq!(s, want),
        Outcome::Closed(s) => panic!("closed with {s:?}"),
    }
}

#[test]
fn bad_magic_closes_silently() {
    let mut p = raw(0x00, 0, 0, 0, &[]);
    p[0] = 0x81;
    closed(&p, None);
    closed(b"get k\r\n", None);
}

#[test]
fn lengths_that_do_not_add_up_close_with_unknown_command() {
    closed(&raw(0x00, 5, 0, 4, b"abcd"), Some(Status::UNKNOWN_COMMAND));
    closed(&raw(0x01, 3, 8, 10, &[0; 10]), Some(Status::UNKNOWN_COMMAND));
}

#[test]
fn absurd_bodies_and_long_keys_close_with_einval() {
    closed(&raw(0x01, 1, 8, (1 << 30) + 1, &[]), Some(Status::EINVAL));
    closed(&raw(0x00, 251, 0, 251, &[b'k'; 251]), Some(Status::EINVAL));
    closed(&raw(0x0d, 251, 0, 251, &[b'k'; 251]), Some(Status::EINVAL));
}

#[test]
fn wrong_shapes_close_with_einval_even_when_quiet() {
    let cases: &[(u8, u16, u8, &[u8])] = &[
        (0x00, 1, 4, b"xxxxk"),     // GET with extras
        (0x09, 1, 0, b"kv"),        // GETQ with a value
        (0x01, 1, 0, b"kv"),        // SET without extras
        (0x11, 1, 4, b"xxxxk"),     // SETQ with 4 extras
        (0x05, 1, 8, b"xxxxxxxxk"), // INCR with 8 extras
        (0x04, 1, 0, b"kv"),        // DELETE with a value
        (0x14, 1, 4, b"xxxxk"),     // DELETEQ with extras
        (0x0a, 0, 0, b"v"),         // NOOP with a body
        (0x0b, 1, 0, b"k"),         // VERSION with a key
        (0x07, 0, 4, b"xxxx"),      // QUIT with extras
        (0x08, 0, 8, b"xxxxxxxx"),  // FLUSH with 8 extras
        (0x0e, 1, 4, b"xxxxkv"),    // APPEND with extras
        (0x1c, 1, 0, b"k"),         // TOUCH without extras
        (0x1d, 0, 4, b"xxxx"),      // GAT without a key
        (0x00, 0, 0, b""),          // GET without a key
    ];
    for &(op, k, e, body) in cases {
        closed(&raw(op, k, e, body.len() as u32, body), Some(Status::EINVAL));
    }
}

#[test]
fn unknown_opcodes_are_answered_and_skipped_exactly() {
    open(&raw(0x30, 0, 0, 0, &[]), Limits::default(), Status::UNKNOWN_COMMAND);
    // memcached over-skips here (spec §8); we do not.
    open(&raw(0x25, 3, 4, 10, b"eeeekkkvvv"), Limits::default(), Status::UNKNOWN_COMMAND);
    open(&raw(0x41, 1, 16, 17, &[0; 17]), Limits::default(), Status::UNKNOWN_COMMAND);
}

#[test]
fn oversized_values_are_answered_with_e2big_and_skipped() {
    let mut body = vec![0u8; 8];
    body.extend_from_slice(b"k");
    body.extend_from_slice(&vec![b'x'; (1 << 20) + 1]);
    open(&raw(0x11, 1, 8, body.len() as u32, &body), Limits::default(), Status::E2BIG);
    let small = Limits { max_value_len: 4, ..Limits::default() };
    open(&raw(0x0e, 1, 0, 6, b"kvvvvv"), small, Status::E2BIG);
    open(&raw(0x21, 5, 0, 10, b"PLAINxxxxx"), small, Status::E2BIG);
}

#[test]
fn what_memcached_accepts_we_accept() {
    let mut dec = RequestDecoder::new(Limits::default());
    let mut buf = BytesMut::new();
    for p in [
        raw(0x1b, 0, 4, 4, &[0, 0, 0, 1]),                   // VERBOSITY
        raw(0x08, 0, 0, 0, &[]),                             // FLUSH without delay
        raw(0x18, 0, 4, 4, &[0, 0, 0, 9]),                   // FLUSHQ with a delay
        raw(0x10, 8, 0, 8, b"settings"),                     // STAT group
        raw(0x10, 0, 0, 0, &[]),                             // STAT
        raw(0x01, 1, 8, 9, &[0, 0, 0, 0, 0, 0, 0, 0, b'k']), // SET, empty value
        raw(0x0e, 1, 0, 1, b"k"), // APPEND, empty value (memcached accepts)
        raw(0x00, 250, 0, 250, &[b'k'; 250]), // a 250-byte key
        raw(0x40, 0, 0, 0, &[]),  // bare TAP_CONNECT
    ] {
        buf.extend_from_slice(&p);
    }
    let mut n = 0;
    while let Some(r) = dec.decode(&mut buf).unwrap() {
        assert_eq!(r.opaque, 0x0abc_def0);
        n += 1;
    }
    assert_eq!(n, 9);
    assert!(Opcode::VERBOSITY.is_known());
}
