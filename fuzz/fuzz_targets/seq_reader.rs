//! The input is a whole SequenceFile. Nothing may panic on it; errors are
//! fine. Checked along the way:
//!
//! 1. Three readers over a plain byte slice (only `Read`) in lockstep: `a`
//!    calls `next_record`; `b` mixes `next_record`, `next_ref` and
//!    `next_key` + `value` (as bits of a hash of the input say); `c` scans
//!    keys only. They must return the same records, end or fail at the same
//!    step (`c` may outlive an error, as it decodes no values), and agree on
//!    the position and block counters after every record.
//! 2. Over a `Cursor` (`Read + Seek`): read some records, `seek` back to a
//!    position reported before one of them, and get the same records again
//!    (this is also how a decoded block is rewound).
//! 3. Without the length hint, as input splits (`restrict_to`), and after
//!    `sync`/`seek` to arbitrary offsets: no panics.
//!
//! Records are also decoded as the header's classes when the crate knows them.
#![no_main]

use std::io::{Cursor, Read};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use seqfile::writable::{Class, Datum};
use seqfile::{Reader, ReaderOptions};

/// Largest record or decompressed buffer the reader may materialize.
const MAX_BUFFER_LEN: usize = 1 << 24;
/// Records (and their bytes) kept from the lockstep pass for the seek check.
const KEEP_RECORDS: usize = 4096;
const KEEP_BYTES: usize = 32 << 20;

fn options() -> ReaderOptions {
    ReaderOptions { max_buffer_len: MAX_BUFFER_LEN }
}

/// What one read returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Record,
    End,
    Error,
}

/// The ways to read a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Record,
    Ref,
    KeyValue,
    /// `next_key`, then `value` twice (it must give the same bytes).
    KeyValueTwice,
    KeyOnly,
}

/// One of the full-record modes, picked by two bits of `mix`.
fn mode(mix: u64, i: usize) -> Mode {
    match mix.rotate_left((i % 32) as u32 * 2) & 3 {
        0 => Mode::Record,
        1 => Mode::Ref,
        2 => Mode::KeyValue,
        _ => Mode::KeyValueTwice,
    }
}

/// Reads one record in `mode` and hands its key and value (none for
/// `KeyOnly`) to `f`.
fn fetch<R: Read>(r: &mut Reader<R>, mode: Mode, f: impl FnOnce(&[u8], Option<&[u8]>)) -> Step {
    match mode {
        Mode::Record => match r.next_record() {
            Ok(Some(rec)) => {
                f(&rec.key, Some(&rec.value));
                Step::Record
            }
            Ok(None) => Step::End,
            Err(_) => Step::Error,
        },
        Mode::Ref => match r.next_ref() {
            Ok(Some(rec)) => {
                f(rec.key, Some(rec.value));
                Step::Record
            }
            Ok(None) => Step::End,
            Err(_) => Step::Error,
        },
        Mode::KeyOnly => match r.next_key() {
            Ok(Some(key)) => {
                f(key, None);
                Step::Record
            }
            Ok(None) => Step::End,
            Err(_) => Step::Error,
        },
        Mode::KeyValue | Mode::KeyValueTwice => {
            let key = match r.next_key() {
                Ok(Some(key)) => key.to_vec(),
                Ok(None) => return Step::End,
                Err(_) => return Step::Error,
            };
            let Ok(value) = r.value() else { return Step::Error };
            if mode == Mode::KeyValueTwice {
                let again = r.value();
                assert!(
                    matches!(&again, Ok(v) if *v == value),
                    "value() again gave {again:?}, first {value:?}"
                );
            }
            f(&key, Some(&value));
            Step::Record
        }
    }
}

/// Reads every remaining record in modes picked by `mix` (key-only too),
/// until the end or the first error, decoding them as the header's classes.
fn drain<R: Read>(r: &mut Reader<R>, mix: u64) {
    let key = Class::from_java_name(&r.header().key_class);
    let value = Class::from_java_name(&r.header().value_class);
    for i in 0.. {
        let m =
            if mix.rotate_left(i as u32 % 64) & 0x300 == 0 { Mode::KeyOnly } else { mode(mix, i) };
        let step = fetch(r, m, |k, v| {
            if let Some(c) = key {
                let _ = Datum::decode(c, &Bytes::copy_from_slice(k));
            }
            if let (Some(c), Some(v)) = (value, v) {
                let _ = Datum::decode(c, &Bytes::copy_from_slice(v));
            }
        });
        let _ = r.position();
        let _ = r.pending_in_block();
        if step != Step::Record {
            break;
        }
    }
    // After the end or an error the reader stays finished; `value` without a
    // current record is an error, not a panic.
    let _ = r.next_record();
    let _ = r.next_ref();
    let _ = r.next_key();
    let _ = r.value();
}

/// The records of the lockstep pass, as far as they were kept.
#[derive(Default)]
struct Expected {
    records: Vec<(Vec<u8>, Vec<u8>)>,
    bytes: usize,
    /// How the file ended, unless more records were read than kept.
    end: Option<Step>,
}

fn lockstep(data: &[u8], mix: u64) -> Option<Expected> {
    let open = || Reader::with_options(data, Some(data.len() as u64), options());
    let (Ok(mut a), Ok(mut b), Ok(mut c)) = (open(), open(), open()) else { return None };
    let mut exp = Expected::default();
    let mut kept_all = true;
    let mut c_live = true;
    for i in 0.. {
        let ra = a.next_record();
        let (step_a, rec) = match ra {
            Ok(Some(rec)) => (Step::Record, Some(rec)),
            Ok(None) => (Step::End, None),
            Err(_) => (Step::Error, None),
        };
        let m = mode(mix, i);
        let step_b = fetch(&mut b, m, |k, v| {
            let rec = rec
                .as_ref()
                .unwrap_or_else(|| panic!("{m:?} read record {i}, next_record {step_a:?}"));
            assert_eq!((k, v), (&rec.key[..], Some(&rec.value[..])), "{m:?}, record {i}");
        });
        assert_eq!(step_a, step_b, "record {i}: next_record vs {m:?}");
        if c_live {
            let step_c = fetch(&mut c, Mode::KeyOnly, |k, _| {
                if let Some(rec) = &rec {
                    assert_eq!(k, &rec.key[..], "next_key, record {i}");
                }
            });
            match step_a {
                // Without values to decode, a key scan may go on past an error.
                Step::Error => c_live = false,
                _ => assert_eq!(step_a, step_c, "record {i}: next_record vs next_key only"),
            }
        }
        let Some(rec) = rec else {
            if kept_all {
                exp.end = Some(step_a);
            }
            break;
        };
        assert_eq!(a.position(), b.position(), "position after record {i} ({m:?})");
        assert_eq!(a.pending_in_block(), b.pending_in_block(), "pending after record {i}");
        assert_eq!(a.blocks_read(), b.blocks_read(), "blocks after record {i}");
        assert_eq!(a.syncs_seen(), b.syncs_seen(), "syncs after record {i}");
        if c_live {
            assert_eq!(a.position(), c.position(), "key-only position after record {i}");
            assert_eq!(a.pending_in_block(), c.pending_in_block(), "key-only pending, record {i}");
            assert_eq!(a.blocks_read(), c.blocks_read(), "key-only blocks after record {i}");
            assert_eq!(a.syncs_seen(), c.syncs_seen(), "key-only syncs after record {i}");
        }
        let size = rec.key.len() + rec.value.len();
        if kept_all && exp.records.len() < KEEP_RECORDS && exp.bytes + size <= KEEP_BYTES {
            exp.records.push((rec.key.to_vec(), rec.value.to_vec()));
            exp.bytes += size;
        } else {
            kept_all = false;
        }
    }
    Some(exp)
}

fn open(data: &[u8]) -> Option<Reader<Cursor<&[u8]>>> {
    Reader::with_options(Cursor::new(data), Some(data.len() as u64), options()).ok()
}

/// Reads `s` records, seeks back to the position reported before record `j`
/// and expects the records from there again. Before a record in the middle
/// of a block the position is the next block's, so reading resumes after the
/// rest of the block (`pending_in_block` says how many records that skips).
fn seek_back(data: &[u8], exp: &Expected, mix: u64) {
    let Some(mut r) = open(data) else { return };
    let n = exp.records.len();
    let s = (mix % (n as u64 + 1)) as usize;
    let mut before = Vec::with_capacity(s + 1);
    for i in 0..=s {
        before.push((r.position(), r.pending_in_block()));
        if i == s {
            break;
        }
        let m = mode(mix >> 7, i);
        let step = fetch(&mut r, m, |k, v| {
            let (key, value) = &exp.records[i];
            assert_eq!((k, v), (&key[..], Some(&value[..])), "{m:?}, record {i} over a Cursor");
        });
        assert_eq!(step, Step::Record, "record {i} over a Cursor ({m:?})");
    }
    let j = ((mix >> 40) % (s as u64 + 1)) as usize;
    let (pos, pending) = before[j];
    if r.seek(pos).is_err() {
        return;
    }
    for (i, (key, value)) in exp.records.iter().enumerate().skip(j + pending) {
        let m = mode(mix >> 23, i);
        let step = fetch(&mut r, m, |k, v| {
            assert_eq!(
                (k, v),
                (&key[..], Some(&value[..])),
                "{m:?}, record {i} after reading {s} and seeking back to {pos} (before record {j})"
            );
        });
        assert_eq!(
            step,
            Step::Record,
            "record {i} after seeking back to {pos} (before record {j})"
        );
    }
    if let Some(end) = exp.end
        && j + pending <= n
    {
        let step = fetch(&mut r, mode(mix >> 29, n), |_, _| {});
        assert_eq!(step, end, "end after seeking back to {pos} (before record {j})");
    }
}

fn read_split(data: &[u8], start: u64, end: u64) {
    let Some(mut r) = open(data) else { return };
    if r.restrict_to(start, end).is_ok() {
        drain(&mut r, start ^ end.rotate_left(32));
    }
}

/// FNV-1a: the first bytes of any file are the fixed `SEQ` magic and header,
/// so choices are drawn from all of the input instead; any mutation anywhere
/// changes them.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let h = fnv1a(data);

    // 1. and 2.
    let Some(exp) = lockstep(data, h) else { return };
    seek_back(data, &exp, h.rotate_left(17));
    drop(exp);

    // 3. No length hint (lengths are then checked only by reading).
    if let Ok(mut r) = Reader::with_options(data, None, options()) {
        let _ = r.header_len();
        drain(&mut r, !h);
    }

    // Input splits: a two-way partition at an input-derived cut, a k-way
    // partition like `split::read_parallel` makes, and odd ranges (empty,
    // reversed, past the end).
    let cut = h % (len + 1);
    read_split(data, 0, cut);
    read_split(data, cut, len);
    let k = 2 + (h >> 32) as usize % 7;
    for range in seqfile::split::ranges(len, k) {
        read_split(data, range.start, range.end);
    }
    let a = (h >> 8) % (len + 64);
    let b = (h >> 24) % (len + 64);
    read_split(data, a, b);
    read_split(data, a, u64::MAX);

    // `sync` and `seek` to arbitrary offsets: a wrong `seek` position must
    // surface as an error on a later read, never as a panic.
    if let Some(mut r) = open(data)
        && r.sync(a).is_ok()
    {
        drain(&mut r, h);
    }
    if let Some(mut r) = open(data) {
        if r.seek(b).is_ok() {
            drain(&mut r, h >> 1);
        }
        if r.seek(cut).is_ok() {
            drain(&mut r, h >> 2);
        }
        // Back to the start of the data, possibly a decoded block.
        if r.seek(r.header_len()).is_ok() {
            drain(&mut r, h >> 3);
        }
    }
});
