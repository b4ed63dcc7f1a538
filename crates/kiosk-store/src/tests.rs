use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

use crate::{Actor, Store, StoreError, SCHEMA_VERSION};

fn at(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + s, 0).unwrap()
}

fn fresh() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("t.db"), at(0)).unwrap();
    (d, s)
}

#[test]
fn creates_schema_and_station_once() {
    let (d, s) = fresh();
    let id = s.station_id().to_string();
    drop(s);
    let again = Store::open(&d.path().join("t.db"), at(5)).unwrap();
    assert_eq!(
        again.station_id(),
        id,
        "reopening keeps the station's identity"
    );
    let v: i64 = again
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let mode: String = again
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = again
        .conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous = FULL");
}

#[test]
fn edited_migration_is_refused() {
    let (d, s) = fresh();
    drop(s);
    let c = Connection::open(d.path().join("t.db")).unwrap();
    c.execute("UPDATE schema_migrations SET sha256 = 'x'", [])
        .unwrap();
    drop(c);
    match Store::open(&d.path().join("t.db"), at(1)) {
        Err(StoreError::MigrationChanged { name }) => assert!(name.ends_with("_init")),
        other => panic!("expected MigrationChanged, got {:?}", other.err()),
    }
}

#[test]
fn newer_schema_is_refused_for_writing_and_reading() {
    let (d, s) = fresh();
    s.conn
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(s);
    let path = d.path().join("t.db");
    assert!(matches!(
        Store::open(&path, at(1)),
        Err(StoreError::NewerSchema { .. })
    ));
    assert!(matches!(
        Store::open_read_only(&path),
        Err(StoreError::NewerSchema { .. })
    ));
    let msg = StoreError::NewerSchema { found: 2, known: 1 }.message_zh();
    assert!(
        msg.contains("较新版本") && msg.contains("请安装新版本"),
        "{msg}"
    );
}

#[test]
fn outbox_and_audit_grow_together_and_roll_back_together() {
    let (_d, mut s) = fresh();
    let actor = Actor::clerk("c1");
    for i in 0..3 {
        s.write(&actor, at(i), |w| {
            w.record(
                "test.event",
                "subject",
                serde_json::json!({"i": i}),
                serde_json::json!(i),
            )
        })
        .unwrap();
    }
    // A failing transaction leaves neither row behind.
    let err = s.write(&actor, at(9), |w| {
        w.record(
            "test.event",
            "subject",
            serde_json::json!({}),
            serde_json::json!(null),
        )?;
        Err::<(), _>(StoreError::Conflict("x".into()))
    });
    assert!(matches!(err, Err(StoreError::Conflict(_))));
    let pending = s.outbox_pending(100).unwrap();
    let seqs: Vec<i64> = pending.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert!(
        pending.windows(2).all(|w| w[0].id < w[1].id),
        "UUIDv7 ids sort in time order"
    );
    assert_eq!(pending[0].payload["station_id"], s.station_id());
    assert_eq!(pending[0].payload_version, 1);
    let report = s.verify_audit().unwrap();
    assert!(report.ok);
    assert_eq!(report.rows, 3);
}
