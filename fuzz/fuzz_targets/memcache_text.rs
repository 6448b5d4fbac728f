//! The input is a byte stream a memcached text-protocol client might send.
//! Decoding it (fed in two pieces) must never panic, never consume more
//! than it was given, and never hold more than one line plus one data block;
//! every error must have a reply or close; reply writers must accept what
//! the decoder produced. The client-side response reader must not panic.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use memcache::text::{MetaItem, MetaReply, Response, TextDecoder, TextLimits, TextRequest};

fuzz_target!(|data: &[u8]| {
    let limits = TextLimits {
        max_line_len: 2048,
        max_get_line_len: 4096,
        max_key_len: 250,
        max_value_len: 512,
    };
    let mut dec = TextDecoder::new(limits);
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut buf = BytesMut::from(&data[..split]);
    let mut rest = &data[split..];
    let mut out = BytesMut::new();
    loop {
        let before = buf.len();
        match dec.decode(&mut buf) {
            Ok(Some(r)) => {
                assert!(buf.len() < before);
                let item = MetaItem { size: 3, ttl: -1, ..MetaItem::default() };
                match &r {
                    TextRequest::MetaGet(m) => {
                        let reply = MetaReply::new(&m.flags, &m.key);
                        reply.hit(&mut out, &item, m.flags.return_value);
                        reply.miss(&mut out);
                    }
                    TextRequest::MetaArithmetic(m) => {
                        MetaReply::new(&m.flags, &m.key).number(&mut out, 7, Some(&item));
                    }
                    _ => {
                        let _ = r.reply().line(&mut out, memcache::text::reply::Line::Stored);
                    }
                }
            }
            Ok(None) if !rest.is_empty() => {
                buf.extend_from_slice(rest);
                rest = &[];
            }
            Ok(None) => {
                // What is left waiting is at most one line plus one data block.
                assert!(buf.len() < 4096 + 2048 + 514);
                break;
            }
            Err(e) => {
                let _ = e.to_string();
                let wrote = e.write_reply(&mut out);
                assert!(wrote || e.noreply || e.closes());
                if e.closes() {
                    assert_eq!(buf.len(), before);
                    break;
                }
            }
        }
        assert!(buf.len() <= data.len());
    }

    let mut buf = BytesMut::from(data);
    while let Some(r) = Response::decode(&mut buf) {
        let _ = r.line;
    }
});
