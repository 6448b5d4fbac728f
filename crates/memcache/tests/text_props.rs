//! Properties of the text decoder against a simple model: random valid
//! commands round-trip through the client encoder and the decoder, in any
//! read pieces; random bytes never panic nor claim more than given; an
//! endless line is refused at the limit instead of being buffered.

use bytes::BytesMut;
use memcache::ops::StoreMode;
use memcache::text::{TextDecoder, TextLimits, TextRequest, encode_get, encode_store};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Cmd {
    Store {
        mode: StoreMode,
        key: Vec<u8>,
        value: Vec<u8>,
        flags: u32,
        exptime: i32,
        cas: Option<u64>,
        noreply: bool,
    },
    Get {
        keys: Vec<Vec<u8>>,
    },
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(0x21u8..0x7f, 1..=250)
}

fn cmd() -> impl Strategy<Value = Cmd> {
    let mode = prop_oneof![
        Just(StoreMode::Set),
        Just(StoreMode::Add),
        Just(StoreMode::Replace),
        Just(StoreMode::Append),
        Just(StoreMode::Prepend)
    ];
    prop_oneof![
        (
            mode,
            key(),
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<u32>(),
            any::<i32>(),
            proptest::option::of(any::<u64>()),
            any::<bool>()
        )
            .prop_map(|(mode, key, value, flags, exptime, cas, noreply)| {
                let mode = if cas.is_some() { StoreMode::Set } else { mode };
                Cmd::Store { mode, key, value, flags, exptime, cas, noreply }
            }),
        proptest::collection::vec(key(), 1..20).prop_map(|keys| Cmd::Get { keys }),
    ]
}

fn encode(c: &Cmd, out: &mut BytesMut) {
    match c {
        Cmd::Store { mode, key, value, flags, exptime, cas, noreply } => {
            encode_store(out, *mode, key, value, *flags, *exptime, *cas, *noreply);
        }
        Cmd::Get { keys } => encode_get(out, keys),
    }
}

fn matches(c: &Cmd, r: &TextRequest) -> bool {
    match (c, r) {
        (Cmd::Store { mode, key, value, flags, exptime, cas, noreply }, TextRequest::Store(s)) => {
            s.mode == *mode
                && s.key == key[..]
                && s.value == value[..]
                && s.flags == *flags
                && s.exptime == *exptime
                && s.cas == *cas
                && s.noreply == *noreply
        }
        (Cmd::Get { keys }, TextRequest::Get(g)) => {
            g.keys.len() == keys.len()
                && g.keys.iter().zip(keys).all(|(a, b)| a == &b[..])
                && !g.cas
        }
        _ => false,
    }
}

proptest! {
    #[test]
    fn valid_commands_round_trip(cmds in proptest::collection::vec(cmd(), 1..20), piece in 1usize..64) {
        let mut wire = BytesMut::new();
        for c in &cmds {
            encode(c, &mut wire);
        }
        let mut dec = TextDecoder::new(TextLimits::default());
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for chunk in wire.chunks(piece) {
            buf.extend_from_slice(chunk);
            while let Some(r) = dec.decode(&mut buf).expect("valid") {
                got.push(r);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got.len(), cmds.len());
        for (c, r) in cmds.iter().zip(&got) {
            prop_assert!(matches(c, r), "{:?} vs {:?}", c, r);
        }
    }

    #[test]
    fn byte_soup_never_panics_nor_overclaims(data in proptest::collection::vec(any::<u8>(), 0..4096), piece in 1usize..512) {
        let limits = TextLimits { max_value_len: 100, max_get_line_len: 3000, ..TextLimits::default() };
        let mut dec = TextDecoder::new(limits);
        let mut buf = BytesMut::new();
        let mut fed = 0usize;
        let mut consumed = 0usize;
        'outer: for chunk in data.chunks(piece) {
            buf.extend_from_slice(chunk);
            fed += chunk.len();
            loop {
                let before = buf.len();
                let r = dec.decode(&mut buf);
                prop_assert!(buf.len() <= before);
                consumed += before - buf.len();
                prop_assert!(consumed <= fed);
                match r {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        let mut out = BytesMut::new();
                        e.write_reply(&mut out);
                        if e.closes() {
                            break 'outer;
                        }
                    }
                }
            }
            // Never more buffered than one line plus one data block.
            prop_assert!(buf.len() <= 3000 + 2048 + 102 + piece);
        }
    }

    #[test]
    fn endless_lines_are_refused_at_the_limit(first in "[a-z]{1,8}", piece in 1usize..700) {
        let mut dec = TextDecoder::new(TextLimits::default());
        let mut buf = BytesMut::from(format!("{first} ").as_bytes());
        let filler = vec![b'k'; piece];
        let mut closed = false;
        for _ in 0..20_000 {
            match dec.decode(&mut buf) {
                Ok(None) => buf.extend_from_slice(&filler),
                Err(e) => { prop_assert!(e.closes()); closed = true; break; }
                Ok(Some(r)) => prop_assert!(false, "accepted {:?}", r),
            }
        }
        prop_assert!(closed);
        let max = if first == "get" || first == "gets" { 1 << 20 } else { 2048 };
        prop_assert!(buf.len() < max + piece + 16);
    }
}
