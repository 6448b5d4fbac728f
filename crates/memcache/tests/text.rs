//! Text-protocol behaviour, case by case. Inputs and expected replies come
//! from memcached's `doc/protocol.txt`, its `t/*.t` tests (getset, noreply,
//! incrdecr, metaget, line-lengths) and from runs against memcached 1.6.18
//! (noted where so), never from our own encoder.

use bytes::{Bytes, BytesMut};
use memcache::ops::{Arith, StoreMode};
use memcache::text::reply::{DATA_END, Line};
use memcache::text::{
    MetaItem, MetaReply, MetaStatus, Reply, TextDecoder, TextError, TextErrorKind, TextLimits,
    TextRequest,
};

fn decode_all(input: &[u8]) -> (Vec<Result<TextRequest, TextError>>, BytesMut) {
    let mut buf = BytesMut::from(input);
    let mut dec = TextDecoder::new(TextLimits::default());
    let mut got = Vec::new();
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(r)) => got.push(Ok(r)),
            Ok(None) => break,
            Err(e) => {
                let closes = e.closes();
                got.push(Err(e));
                if closes {
                    break;
                }
            }
        }
    }
    (got, buf)
}

fn one(input: &[u8]) -> TextRequest {
    let (mut got, rest) = decode_all(input);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(rest.is_empty());
    got.remove(0).expect("accepted")
}

/// The error line a server would write for the first (refused) request.
fn error_reply(input: &[u8]) -> String {
    let (got, _) = decode_all(input);
    let e = got.into_iter().find_map(Result::err).expect("an error");
    let mut out = BytesMut::new();
    e.write_reply(&mut out);
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn getset_t_storage_and_retrieval() {
    let TextRequest::Store(s) = one(b"set foo 0 0 6\r\nfooval\r\n") else { panic!() };
    assert_eq!(
        (s.mode, &s.key[..], &s.value[..], s.flags, s.exptime),
        (StoreMode::Set, &b"foo"[..], &b"fooval"[..], 0, 0)
    );
    assert!(!s.noreply && s.cas.is_none());
    // Server reply, byte-exact as getset.t expects.
    let mut out = BytesMut::new();
    assert!(Reply::new().line(&mut out, Line::Stored));
    Reply::value(&mut out, b"foo", 0, b"fooval", None);
    Reply::end(&mut out);
    assert_eq!(&out[..], b"STORED\r\nVALUE foo 0 6\r\nfooval\r\nEND\r\n");
    let TextRequest::Store(c) = one(b"cas foo 0 0 6 12345\r\nbarval\r\n") else { panic!() };
    assert_eq!(c.cas, Some(12345));
    let mut out = BytesMut::new();
    Reply::value_head(&mut out, b"foo", 0, 6, Some(12345));
    assert_eq!(&out[..], b"VALUE foo 0 6 12345\r\n");
    for (cmd, mode) in [
        ("add", StoreMode::Add),
        ("replace", StoreMode::Replace),
        ("append", StoreMode::Append),
        ("prepend", StoreMode::Prepend),
    ] {
        let TextRequest::Store(s) = one(format!("{cmd} foo 7 0 1\r\nx\r\n").as_bytes()) else {
            panic!()
        };
        assert_eq!((s.mode, s.flags), (mode, 7));
    }
}

#[test]
fn multi_get_keys_are_zero_copy_slices() {
    let input = Bytes::from_static(b"gets a bb  ccc\r\n");
    let mut buf = BytesMut::from(&input[..]);
    let base = buf.as_ptr() as usize;
    let Some(TextRequest::Get(g)) =
        TextDecoder::new(TextLimits::default()).decode(&mut buf).unwrap()
    else {
        panic!()
    };
    assert!(g.cas && g.touch.is_none());
    assert_eq!(g.keys, vec![&b"a"[..], &b"bb"[..], &b"ccc"[..]]);
    assert_eq!(g.keys[1].as_ptr() as usize - base, 7, "a slice of the read buffer");
    let TextRequest::Get(g) = one(b"gat 10 k1 k2\r\n") else { panic!() };
    assert_eq!((g.touch, g.cas, g.keys.len()), (Some(10), false, 2));
    let TextRequest::Get(g) = one(b"gats -1 k\r\n") else { panic!() };
    assert_eq!((g.touch, g.cas), (Some(-1), true));
    // memcached 1.6.18: "gat 10" with no key answers END.
    let TextRequest::Get(g) = one(b"gat 10\r\n") else { panic!() };
    assert!(g.keys.is_empty());
    // Bare "\n" line ends are accepted.
    let TextRequest::Get(g) = one(b"get k\n") else { panic!() };
    assert_eq!(g.keys, vec![&b"k"[..]]);
}

#[test]
fn errors_with_memcached_wording() {
    assert_eq!(error_reply(b"get\r\n"), "ERROR\r\n");
    assert_eq!(error_reply(b"\r\n"), "ERROR\r\n");
    assert_eq!(error_reply(b"bogus command\r\n"), "ERROR\r\n");
    assert_eq!(error_reply(b"set k 0 0\r\n"), "ERROR\r\n");
    // getset.t: a negative length and a 251-byte key.
    assert_eq!(error_reply(b"set foo 0 0 -1\r\n"), "CLIENT_ERROR bad command line format\r\n");
    let long = format!("set {} 0 0 1\r\nx\r\n", "a".repeat(251));
    assert_eq!(error_reply(long.as_bytes()), "CLIENT_ERROR bad command line format\r\n");
    let long = format!("get a {}\r\n", "b".repeat(251));
    assert_eq!(error_reply(long.as_bytes()), "CLIENT_ERROR bad command line format\r\n");
    // incrdecr.t.
    assert_eq!(error_reply(b"incr num a\r\n"), "CLIENT_ERROR invalid numeric delta argument\r\n");
    assert_eq!(error_reply(b"touch k x\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
    assert_eq!(error_reply(b"flush_all x\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
    assert_eq!(
        error_reply(b"delete k 1\r\n"),
        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
    );
    // Control bytes in keys are accepted, as memcached accepts them
    // (memcaslap's keys start with such bytes).
    let mut input = BytesMut::from(&b"get \x10a\x01b\x7f\r\n"[..]);
    let Some(TextRequest::Get(get)) =
        TextDecoder::new(TextLimits::default()).decode(&mut input).unwrap()
    else {
        panic!("not a get")
    };
    assert_eq!(get.keys, vec![&b"\x10a\x01b\x7f"[..]]);
}

#[test]
fn bad_data_chunk_consumes_the_block_then_reads_on() {
    // memcached 1.6.18: "set k 0 0 1\r\nabc\r\nget k\r\n" answers
    // "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n": the 3 bytes "abc"
    // are the block and its (bad) terminator, "\r\n" is an empty line.
    let (got, rest) = decode_all(b"set k 0 0 1\r\nabc\r\nget k\r\n");
    assert!(rest.is_empty());
    assert_eq!(got.len(), 3);
    let e = got[0].clone().unwrap_err();
    assert_eq!(e.kind, TextErrorKind::BadDataChunk { len: 1 });
    assert!(!e.closes());
    assert_eq!(got[1].clone().unwrap_err().kind, TextErrorKind::UnknownCommand);
    assert!(matches!(got[2], Ok(TextRequest::Get(_))));
    // With noreply the CLIENT_ERROR is suppressed, the ERROR is not.
    assert_eq!(error_reply(b"set k 0 0 1 noreply\r\nabc\r\n"), "");
}

#[test]
fn negative_length_leaves_the_data_to_be_read_as_a_command() {
    // memcached does not swallow after a bad command line.
    let (got, _) = decode_all(b"set k 0 0 -1\r\nget k\r\n");
    assert_eq!(got[0].clone().unwrap_err().kind, TextErrorKind::BadFormat);
    assert!(matches!(got[1], Ok(TextRequest::Get(_))));
}

#[test]
fn too_large_values_are_swallowed() {
    let limits = TextLimits { max_value_len: 4, ..TextLimits::default() };
    let mut dec = TextDecoder::new(limits);
    let mut buf = BytesMut::from(&b"set big 0 0 10\r\n0123"[..]);
    let e = dec.decode(&mut buf).unwrap_err();
    let mut out = BytesMut::new();
    e.write_reply(&mut out);
    assert_eq!(&out[..], b"SERVER_ERROR object too large for cache\r\n");
    assert_eq!(e.key.as_deref(), Some(&b"big"[..]));
    assert!(matches!(e.kind, TextErrorKind::TooLarge { unlink: true, .. }));
    assert!(buf.is_empty(), "partial data discarded, not buffered");
    assert_eq!(dec.skipping(), 8);
    buf.extend_from_slice(b"456789\r\nversion\r\n");
    assert_eq!(dec.decode(&mut buf).unwrap(), Some(TextRequest::Version));
}

#[test]
fn line_limits() {
    // line-lengths.t / memcached 1.6.18: 2048 bytes without a newline close
    // the connection without a reply.
    let mut dec = TextDecoder::new(TextLimits::default());
    let mut buf = BytesMut::from(&[b'x'; 3000][..]);
    let e = dec.decode(&mut buf).unwrap_err();
    assert!(e.closes());
    assert_eq!(e.message(), None);
    assert_eq!(buf.len(), 3000, "buffer left alone");
    // Just under the limit: keep reading.
    let mut buf = BytesMut::from(&[b'x'; 2047][..]);
    assert_eq!(dec.decode(&mut buf), Ok(None));
    // A complete long line (memcached 1.6.18 closed "set" + 2030 spaces too).
    let mut line = b"set ".to_vec();
    line.extend_from_slice(&[b' '; 2100]);
    line.extend_from_slice(b"\r\n");
    assert!(dec.decode(&mut BytesMut::from(&line[..])).unwrap_err().closes());
    // A multi-get may be longer.
    let mut get = b"get".to_vec();
    for i in 0..1000 {
        get.extend_from_slice(format!(" key{i}").as_bytes());
    }
    get.extend_from_slice(b"\r\n");
    assert!(get.len() > 2048);
    let TextRequest::Get(g) = one(&get) else { panic!() };
    assert_eq!(g.keys.len(), 1000);
    // ... but not without bound.
    let limits = TextLimits { max_get_line_len: 4096, ..TextLimits::default() };
    let mut buf = BytesMut::from(&b"get "[..]);
    buf.extend_from_slice(&[b'k'; 5000]);
    assert!(TextDecoder::new(limits).decode(&mut buf).unwrap_err().closes());
    // gat is not a multi-get for this rule.
    let mut gat = b"gat 1 ".to_vec();
    gat.extend_from_slice(&b"a ".repeat(1500));
    assert!(
        TextDecoder::new(TextLimits::default())
            .decode(&mut BytesMut::from(&gat[..]))
            .unwrap_err()
            .closes()
    );
}

#[test]
fn noreply_t_commands() {
    // From noreply.t: each accepted with noreply set.
    let cases: &[&[u8]] = &[
        b"flush_all noreply\r\n",
        b"verbosity 1 noreply\r\n",
        b"add noreply:foo 0 0 1 noreply\r\n1\r\n",
        b"set noreply:foo 0 0 1 noreply\r\n2\r\n",
        b"replace noreply:foo 0 0 1 noreply\r\n3\r\n",
        b"append noreply:foo 0 0 1 noreply\r\n4\r\n",
        b"prepend noreply:foo 0 0 1 noreply\r\n5\r\n",
        b"cas noreply:foo 0 0 1 7 noreply\r\n6\r\n",
        b"incr noreply:foo 3 noreply\r\n",
        b"decr noreply:foo 2 noreply\r\n",
        b"delete noreply:foo noreply\r\n",
        b"delete noreply:foo 0 noreply\r\n",
        b"touch noreply:foo 10 noreply\r\n",
    ];
    for c in cases {
        let r = one(c);
        assert!(r.reply().noreply, "{}", String::from_utf8_lossy(c));
        let mut out = BytesMut::new();
        assert!(!r.reply().line(&mut out, Line::Stored));
        assert!(!r.reply().number(&mut out, 5));
        assert!(out.is_empty());
    }
    assert_eq!(
        one(b"flush_all 10 noreply\r\n"),
        TextRequest::FlushAll { delay: 10, noreply: true }
    );
    assert_eq!(one(b"flush_all\r\n"), TextRequest::FlushAll { delay: 0, noreply: false });
    assert_eq!(
        one(b"delete k 0\r\n"),
        TextRequest::Delete { key: Bytes::from_static(b"k"), noreply: false }
    );
    assert_eq!(
        one(b"decr k 18446744073709551615\r\n"),
        TextRequest::Arith {
            mode: Arith::Decr,
            key: Bytes::from_static(b"k"),
            delta: u64::MAX,
            noreply: false
        }
    );
    // memcached sets noreply before checking the delete usage: suppressed.
    assert_eq!(error_reply(b"delete k 5 noreply\r\n"), "");
}

#[test]
fn misc_commands_and_replies() {
    assert_eq!(one(b"version\r\n"), TextRequest::Version);
    assert_eq!(one(b"quit\r\n"), TextRequest::Quit);
    assert_eq!(one(b"verbosity 1\r\n"), TextRequest::Verbosity { level: 1, noreply: false });
    assert_eq!(one(b"stats\r\n"), TextRequest::Stats { args: vec![] });
    assert_eq!(
        one(b"stats slabs\r\n"),
        TextRequest::Stats { args: vec![Bytes::from_static(b"slabs")] }
    );
    assert_eq!(one(b"mn\r\n"), TextRequest::MetaNoop);
    let mut out = BytesMut::new();
    Reply::stat(&mut out, b"pid", b"42");
    Reply::end(&mut out);
    Reply::version(&mut out, "1.6.18");
    Reply::new().number(&mut out, 18_446_744_073_709_551_615);
    Reply::new().line(&mut out, Line::Deleted);
    Reply::new().line(&mut out, Line::Touched);
    Reply::new().line(&mut out, Line::NotFound);
    Reply::new().client_error(&mut out, "cannot increment or decrement non-numeric value");
    MetaReply::noop(&mut out);
    assert_eq!(
        &out[..],
        &b"STAT pid 42\r\nEND\r\nVERSION 1.6.18\r\n18446744073709551615\r\nDELETED\r\nTOUCHED\r\nNOT_FOUND\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nMN\r\n"[..]
    );
    assert_eq!(DATA_END, b"\r\n");
}

#[test]
fn meta_set_and_get_replies_as_memcached() {
    // memcached 1.6.18: "ms k 2 T0 F5 c k O123\r\nhi\r\n" -> "HD c2 kk O123".
    let TextRequest::MetaSet(ms) = one(b"ms k 2 T0 F5 c k O123\r\nhi\r\n") else { panic!() };
    assert_eq!((&ms.store.value[..], ms.store.flags, ms.store.exptime), (&b"hi"[..], 5, 0));
    assert_eq!(ms.store.mode, StoreMode::Set);
    let mut out = BytesMut::new();
    let item = MetaItem { cas: 2, flags: 5, ttl: -1, size: 2, ..MetaItem::default() };
    MetaReply::new(&ms.flags, &ms.store.key).status(&mut out, MetaStatus::Hd, Some(&item));
    assert_eq!(&out[..], b"HD c2 kk O123\r\n");

    // "mg k v f c k O9 s t" -> "VA 2 f5 c2 kk O9 s2 t-1\r\nhi\r\n".
    let TextRequest::MetaGet(mg) = one(b"mg k v f c k O9 s t\r\n") else { panic!() };
    assert!(mg.flags.return_value);
    let mut out = BytesMut::new();
    MetaReply::new(&mg.flags, &mg.key).hit(&mut out, &item, true);
    out.extend_from_slice(b"hi");
    out.extend_from_slice(DATA_END);
    assert_eq!(&out[..], b"VA 2 f5 c2 kk O9 s2 t-1\r\nhi\r\n");

    // "mg missing v q O1" -> nothing; "mg missing v O2 k" -> "EN O2 kmissing".
    let TextRequest::MetaGet(q) = one(b"mg missing v q O1\r\n") else { panic!() };
    let mut out = BytesMut::new();
    assert!(!MetaReply::new(&q.flags, &q.key).miss(&mut out));
    let TextRequest::MetaGet(m) = one(b"mg missing v O2 k\r\n") else { panic!() };
    assert!(MetaReply::new(&m.flags, &m.key).miss(&mut out));
    assert_eq!(&out[..], b"EN O2 kmissing\r\n");
}

#[test]
fn meta_delete_and_arithmetic_replies_as_memcached() {
    // "md k q" (deleted) -> nothing; "md k O5" (missing) -> "NF O5".
    let TextRequest::MetaDelete(md) = one(b"md k q\r\n") else { panic!() };
    let mut out = BytesMut::new();
    assert!(!MetaReply::new(&md.flags, &md.key).status(&mut out, MetaStatus::Hd, None));
    let TextRequest::MetaDelete(md) = one(b"md k O5\r\n") else { panic!() };
    MetaReply::new(&md.flags, &md.key).status(&mut out, MetaStatus::Nf, None);
    assert_eq!(&out[..], b"NF O5\r\n");
    // "ma n N0 J10 v" -> "VA 2\r\n10\r\n"; "ma n MD D3 v t c O1 k" -> "VA 1 t-1 c4 O1 kn\r\n7\r\n".
    let TextRequest::MetaArithmetic(ma) = one(b"ma n N0 J10 v\r\n") else { panic!() };
    assert_eq!((ma.mode, ma.delta, ma.initial, ma.flags.vivify), (Arith::Incr, 1, 10, Some(0)));
    let mut out = BytesMut::new();
    MetaReply::new(&ma.flags, &ma.key).number(&mut out, 10, None);
    let TextRequest::MetaArithmetic(ma) = one(b"ma n MD D3 v t c O1 k\r\n") else { panic!() };
    assert_eq!((ma.mode, ma.delta), (Arith::Decr, 3));
    let item = MetaItem { cas: 4, ttl: -1, ..MetaItem::default() };
    MetaReply::new(&ma.flags, &ma.key).number(&mut out, 7, Some(&item));
    assert_eq!(&out[..], b"VA 2\r\n10\r\nVA 1 t-1 c4 O1 kn\r\n7\r\n");
}

#[test]
fn meta_errors_as_memcached() {
    // memcached 1.6.18, one connection: "mg k v v", "mg k Zx", "ms k 2 MX\r\nhi",
    // "ms k 2 Fx\r\nhi", "mn" -> four errors then MN: the ms data blocks
    // are swallowed.
    let (got, rest) =
        decode_all(b"mg k v v\r\nmg k Zx\r\nms k 2 MX\r\nhi\r\nms k 2 Fx\r\nhi\r\nmn\r\n");
    assert!(rest.is_empty());
    let mut out = BytesMut::new();
    for r in &got[..4] {
        r.clone().unwrap_err().write_reply(&mut out);
    }
    assert_eq!(
        String::from_utf8(out.to_vec()).unwrap(),
        "CLIENT_ERROR duplicate flag\r\nCLIENT_ERROR invalid flag\r\nCLIENT_ERROR invalid mode for ms M token\r\nCLIENT_ERROR bad command line format\r\n"
    );
    assert_eq!(got[4], Ok(TextRequest::MetaNoop));
    assert_eq!(got.len(), 5);
    assert_eq!(error_reply(b"md k v\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
    assert_eq!(error_reply(b"ma k MX\r\n"), "CLIENT_ERROR invalid mode for ma M token\r\n");
    let opaque = format!("mg k O{}\r\n", "1".repeat(40));
    assert_eq!(error_reply(opaque.as_bytes()), "CLIENT_ERROR opaque token too long\r\n");
    // q does not hide errors.
    assert_eq!(error_reply(b"mg k q q\r\n"), "CLIENT_ERROR duplicate flag\r\n");
}

#[test]
fn meta_base64_keys() {
    // "Zm9v" is base64 for "foo"; k echoes the key re-encoded, then " b".
    let TextRequest::MetaGet(mg) = one(b"mg Zm9v b k v\r\n") else { panic!() };
    assert_eq!(&mg.key[..], b"foo");
    let mut out = BytesMut::new();
    MetaReply::new(&mg.flags, &mg.key).hit(
        &mut out,
        &MetaItem { size: 1, ..MetaItem::default() },
        false,
    );
    assert_eq!(&out[..], b"HD kZm9v b\r\n");
    assert_eq!(error_reply(b"mg !!!! b\r\n"), "CLIENT_ERROR error decoding key\r\n");
    let TextRequest::MetaSet(ms) = one(b"ms Zm9v 1 b MA C7 q\r\nx\r\n") else { panic!() };
    assert_eq!(
        (&ms.store.key[..], ms.store.mode, ms.store.cas, ms.store.noreply),
        (&b"foo"[..], StoreMode::Append, Some(7), true)
    );
}

#[test]
fn client_reads_replies_and_survives_short_lines() {
    use memcache::text::{Response, ResponseLine};
    let mut buf = BytesMut::from(&b"VALUE foo 5 6 9\r\nfooval\r\nEND\r\n42\r\nVA 2 t-1\r\nhi\r\nHD O1\r\nSTAT pid 1 2\r\nVA \n"[..]);
    let r = Response::decode(&mut buf).unwrap();
    assert_eq!(
        r.line,
        ResponseLine::Value { key: Bytes::from_static(b"foo"), flags: 5, cas: Some(9) }
    );
    assert_eq!(r.data.as_deref(), Some(&b"fooval"[..]));
    assert_eq!(
        Response::decode(&mut buf).unwrap().line,
        ResponseLine::Other(Bytes::from_static(b"END"))
    );
    assert_eq!(Response::decode(&mut buf).unwrap().line, ResponseLine::Number(42));
    let va = Response::decode(&mut buf).unwrap();
    assert_eq!(
        (va.line, va.data.as_deref()),
        (ResponseLine::Va { flags: vec![Bytes::from_static(b"t-1")] }, Some(&b"hi"[..]))
    );
    assert_eq!(
        Response::decode(&mut buf).unwrap().line,
        ResponseLine::Meta { code: *b"HD", flags: vec![Bytes::from_static(b"O1")] }
    );
    assert_eq!(
        Response::decode(&mut buf).unwrap().line,
        ResponseLine::Stat { name: Bytes::from_static(b"pid"), value: Bytes::from_static(b"1 2") }
    );
    // Found by the fuzzer: a "VA" line with no length.
    assert!(Response::decode(&mut buf).is_some());
    assert!(buf.is_empty());
}
