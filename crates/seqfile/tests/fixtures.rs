//! Files written by real Hadoop 3.5.0, checked in with Hadoop's own dump of
//! each (`interop/hadoop/peer.sh dump`): mammoth must print the same dump,
//! line for line, with or without the peer installed.

use std::path::{Path, PathBuf};

use seqfile::Reader;
use seqfile::dump::{Dump, write_header};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seq"))
        .collect();
    v.sort();
    assert!(v.len() >= 7, "fixtures missing in {}", dir.display());
    v
}

fn our_dump(path: &Path) -> String {
    let mut r = Reader::open(path).unwrap();
    let mut out = Vec::new();
    write_header(&mut out, "-", "seq", r.header()).unwrap();
    let mut d = Dump::new(Some(&mut out));
    while let Some(rec) = r.next_record().unwrap() {
        d.record(&rec.key, &rec.value).unwrap();
    }
    d.finish().unwrap();
    String::from_utf8(out).unwrap()
}

fn without_path(dump: &str) -> Vec<&str> {
    dump.lines().filter(|l| !l.starts_with("#path")).collect()
}

#[test]
fn hadoop_written_fixtures_dump_identically() {
    for f in fixtures() {
        let hadoop = std::fs::read_to_string(f.with_extension("seq.dump")).unwrap();
        let ours = our_dump(&f);
        assert_eq!(without_path(&ours), without_path(&hadoop), "{}", f.display());
    }
}

#[test]
fn hadoop_written_fixtures_split_into_the_same_records() {
    for f in fixtures() {
        let hadoop = std::fs::read_to_string(f.with_extension("seq.dump")).unwrap();
        let want = hadoop.lines().find_map(|l| l.strip_prefix("#sha256\t")).unwrap().to_owned();
        for splits in [2, 3, 7, 40] {
            let parts = seqfile::split::read_parallel(&f, splits, Vec::new, |v, rec| {
                v.push((rec.key.to_vec(), rec.value.to_vec()));
                Ok(())
            })
            .unwrap();
            let mut d = Dump::new(None::<Vec<u8>>);
            for (k, v) in parts.iter().flatten() {
                d.record(k, v).unwrap();
            }
            assert_eq!(d.finish().unwrap().1, want, "{} in {splits} splits", f.display());
        }
    }
}
