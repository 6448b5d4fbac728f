//! What is acknowledged survives a restart, for both engines; CAS values
//! are never reused; repeated writes to a key coalesce.

use bytes::Bytes;
use store::{BackendKind, Config, Durability, OpError, Store, StoreMode, Warmup, Write};

fn config(dir: &std::path::Path, backend: BackendKind) -> Config {
    let mut c = Config::new(dir);
    c.backend = backend;
    c
}

fn roundtrip(backend: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(config(dir.path(), backend)).unwrap();
    let mut last = 0;
    for i in 0..2000u32 {
        let key = Bytes::from(format!("key-{i}"));
        let value = Bytes::from(vec![(i % 251) as u8; (i % 300) as usize]);
        last = s.write(Write::set(key, value).flags(i)).unwrap().seqno;
    }
    for i in (0..2000u32).step_by(3) {
        s.delete(format!("key-{i}").as_bytes(), 0).unwrap();
    }
    s.write(Write::set(Bytes::from("empty"), Bytes::new())).unwrap();
    s.sync();
    assert!(s.persisted().seqno >= last);
    let max_cas = s.get(b"empty").unwrap().cas;
    drop(s);

    let s = Store::open(config(dir.path(), backend)).unwrap();
    assert_eq!(s.warmup().items, 2000 - 667 + 1);
    for i in 0..2000u32 {
        let hit = s.get(format!("key-{i}").as_bytes());
        if i % 3 == 0 {
            assert!(hit.is_none(), "key-{i} was deleted");
        } else {
            let hit = hit.unwrap_or_else(|| panic!("key-{i} lost"));
            assert_eq!(hit.flags, i);
            assert_eq!(hit.value.copy_to_vec(..), vec![(i % 251) as u8; (i % 300) as usize]);
        }
    }
    assert_eq!(s.get(b"empty").unwrap().value.len(), 0);
    let fresh = s.write(Write::set(Bytes::from("new"), Bytes::from("x"))).unwrap();
    assert!(fresh.cas > max_cas, "CAS after restart must not reuse old values");
}

#[test]
fn fjall_roundtrip() {
    roundtrip(BackendKind::Fjall);
}

#[test]
fn sqlite_roundtrip() {
    roundtrip(BackendKind::Sqlite);
}

#[test]
fn wrong_backend_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(config(dir.path(), BackendKind::Fjall)).unwrap());
    let err = Store::open(config(dir.path(), BackendKind::Sqlite)).err().unwrap();
    assert!(err.to_string().contains("created by the fjall backend"), "{err}");
}

#[test]
fn repeated_writes_coalesce_in_write_behind_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), BackendKind::Fjall);
    c.durability = Durability::WriteBehind;
    c.flush_interval = std::time::Duration::from_secs(3600);
    let s = Store::open(c).unwrap();
    for round in 0..100u32 {
        for k in 0..10 {
            let v = Bytes::from(round.to_string());
            s.write(Write::set(Bytes::from(format!("hot{k}")), v)).unwrap();
        }
    }
    s.sync();
    let stats: std::collections::HashMap<_, _> = s.stats().into_iter().collect();
    assert_eq!(stats["mutations"], "1000");
    assert_eq!(stats["engine_writes"], "10", "1000 sets of 10 keys are 10 engine writes");
    drop(s);
    let s = Store::open(config(dir.path(), BackendKind::Fjall)).unwrap();
    assert_eq!(s.get(b"hot3").unwrap().value, b"99"[..]);
}

#[tokio::test]
async fn wait_persisted_resolves_after_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(config(dir.path(), BackendKind::Fjall)).unwrap();
    let m = s.write(Write::set(Bytes::from("k"), Bytes::from("v"))).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.wait_persisted(m.seqno))
        .await
        .expect("the flusher commits within seconds");
    assert!(s.persisted().seqno >= m.seqno);
}

/// With the background warmup, operations on keys the loader has not
/// reached yet see the stored state (read through from the engine), and the
/// loader never brings back what they changed or deleted.
#[test]
fn background_warmup_answers_like_a_loaded_store() {
    for backend in [BackendKind::Fjall, BackendKind::Sqlite] {
        let dir = tempfile::tempdir().unwrap();
        let config = |warmup| {
            let mut c = Config::new(dir.path());
            c.backend = backend;
            c.warmup = warmup;
            c
        };
        let n = 100_000u32;
        {
            let s = Store::open(config(Warmup::Blocking)).unwrap();
            for i in 0..n {
                let key = Bytes::from(format!("key:{i:08}"));
                s.write(Write::set(key, Bytes::from(format!("v{i}"))).flags(i)).unwrap();
            }
            s.delete(b"key:00099990", 0).unwrap();
            s.close();
        }
        let s = Store::open(config(Warmup::Background)).unwrap();
        // The scan goes in key order: the last keys are loaded last.
        let get = |k: &str| s.get(k.as_bytes()).map(|h| (h.value.copy_to_vec(..), h.flags));
        assert_eq!(get("key:00099999"), Some((b"v99999".to_vec(), 99_999)));
        assert_eq!(get("key:00099990"), None, "deleted before the restart");
        let add =
            s.write(Write::new(StoreMode::Add, Bytes::from("key:00099998"), Bytes::from("x")));
        assert_eq!(add, Err(OpError::Exists), "ADD sees the stored item");
        s.write(
            Write::new(StoreMode::Add, Bytes::from("key:00099990"), Bytes::from("back")).flags(1),
        )
        .unwrap();
        s.delete(b"key:00099997", 0).unwrap();
        s.write(Write::set(Bytes::from("key:00099996"), Bytes::from("new")).flags(2)).unwrap();
        s.write(Write::new(StoreMode::Append, Bytes::from("key:00099995"), Bytes::from("+")))
            .unwrap();
        let report = s.warmup();
        assert!(report.items >= u64::from(n) - 10, "{report:?}");
        assert_eq!(s.len(), u64::from(n) - 1, "{backend:?}");
        assert_eq!(get("key:00099997"), None, "the loader did not bring it back");
        assert_eq!(get("key:00099996"), Some((b"new".to_vec(), 2)));
        assert_eq!(get("key:00099995"), Some((b"v99995+".to_vec(), 99_995)));
        assert_eq!(get("key:00099990"), Some((b"back".to_vec(), 1)));
        assert_eq!(get("key:00000000"), Some((b"v0".to_vec(), 0)));
        s.close();
    }
}
