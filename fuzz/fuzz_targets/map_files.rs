//! The input holds a map directory's three files: two big-endian u16 lengths
//! give the sizes of `data` and `index`, the rest is `bloom` (absent when
//! empty). Opening the map, looking keys up, seeking to the closest keys and
//! iterating must never panic, whatever the files hold.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use seqfile::map::{MapReader, MapReaderOptions};

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("mammoth-fuzz-map-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    })
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 4 {
        return;
    }
    let data_len = usize::from(u16::from_be_bytes([input[0], input[1]]));
    let index_len = usize::from(u16::from_be_bytes([input[2], input[3]]));
    let rest = &input[4..];
    let data = &rest[..data_len.min(rest.len())];
    let rest = &rest[data.len()..];
    let index = &rest[..index_len.min(rest.len())];
    let bloom = &rest[index.len()..];
    let d = dir();
    std::fs::write(d.join("data"), data).expect("write data");
    std::fs::write(d.join("index"), index).expect("write index");
    let bloom_path = d.join("bloom");
    if bloom.is_empty() {
        let _ = std::fs::remove_file(&bloom_path);
    } else {
        std::fs::write(&bloom_path, bloom).expect("write bloom");
    }
    let opts = MapReaderOptions { index_skip: usize::from(input[0] % 3), ignore_bloom: input[1] % 5 == 0 };
    let Ok(mut r) = MapReader::open_with(d, &opts) else { return };
    let keys: Vec<Vec<u8>> = [&data[..data.len().min(5)], &index[..index.len().min(3)], b"\x01a", &[0u8; 8]]
        .iter()
        .map(|k| k.to_vec())
        .collect();
    for k in &keys {
        let _ = r.probably_has_key(k);
        let _ = r.get(k);
        let _ = r.get_closest(k, false);
        let _ = r.get_closest(k, true);
        let _ = r.seek(k);
    }
    let _ = r.final_key();
    let _ = r.mid_key();
    if r.rewind().is_ok() {
        for _ in 0..1000 {
            match r.next_record() {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }
});
