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
    assert_eq!(pending[0].payload_version, crate::journal::PAYLOAD_VERSION);
    let report = s.verify_audit().unwrap();
    assert!(report.ok);
    assert_eq!(report.rows, 3);
}

/// A keyer as the station's would be, with the token's derivation played
/// by a keyed hash of the epoch (the real one runs in the token).
fn keyer_for(
    secret: u8,
    asked: std::sync::Arc<std::sync::Mutex<Vec<(String, i64)>>>,
) -> crate::AuditKeyer {
    Box::new(move |epoch: &str, next: i64| {
        asked.lock().unwrap().push((epoch.to_string(), next));
        Ok(Some(derive(secret, epoch)))
    })
}

fn derive(secret: u8, epoch: &str) -> zeroize::Zeroizing<[u8; 32]> {
    use sha2::Digest;
    let d = sha2::Sha256::new()
        .chain_update([secret])
        .chain_update(epoch.as_bytes())
        .finalize();
    zeroize::Zeroizing::new(d.into())
}

fn event(s: &mut Store, t: i64) {
    s.write(&Actor::clerk("c1"), at(t), |w| {
        w.record(
            "test.event",
            "subject",
            serde_json::json!({"t": t}),
            serde_json::json!(t),
        )
    })
    .unwrap();
}

#[test]
fn keyed_rows_verify_and_a_rewritten_row_is_forged_or_unkeyed() {
    let (d, mut s) = fresh();
    event(&mut s, 1); // before the station keys its trail
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    s.set_audit_keyer(keyer_for(7, asked.clone()));
    event(&mut s, 2);
    event(&mut s, 3);
    // A second process: another epoch.
    let mut other = Store::open(&d.path().join("t.db"), at(4)).unwrap();
    other.set_audit_keyer(keyer_for(7, asked.clone()));
    event(&mut other, 4);
    {
        let asked = asked.lock().unwrap();
        assert_eq!(asked.len(), 2, "asked once per process: {asked:?}");
        assert_eq!(
            (asked[0].1, asked[1].1),
            (2, 4),
            "with the next row's number"
        );
        assert_ne!(asked[0].0, asked[1].0, "each process has its own epoch");
    }
    let check = |s: &Store, secret: u8| {
        let mut r = s.verify_audit().unwrap();
        s.verify_audit_keys(&mut r, 2, &mut |e| Ok(derive(secret, e)))
            .unwrap();
        r
    };
    let r = check(&s, 7);
    assert!(r.ok, "{:?}", r.findings);
    assert_eq!((r.keys_checked, r.keyed_rows, r.keyed_from), (true, 3, 2));
    // Keys from another token: every keyed row is forged.
    let wrong: Vec<_> = check(&s, 8)
        .findings
        .iter()
        .map(|f| (f.seq, f.kind))
        .collect();
    assert_eq!(wrong, [(2, "forged"), (3, "forged"), (4, "forged")]);

    // A forger rewrites row 3 and its own hash, and the rest of the chain.
    let c = Connection::open(d.path().join("t.db")).unwrap();
    c.execute(
        "UPDATE audit SET actor = 'clerk:someone-else' WHERE seq = 3",
        [],
    )
    .unwrap();
    rechain(&c, 3);
    let kinds = |r: crate::AuditReport| -> Vec<(i64, &'static str)> {
        r.findings.iter().map(|f| (f.seq, f.kind)).collect()
    };
    assert_eq!(kinds(s.verify_audit().unwrap()), [], "the bare chain holds");
    assert_eq!(kinds(check(&s, 7)), [(3, "forged"), (4, "forged")]);
    // Dropping the keyed values instead.
    c.execute("UPDATE audit SET key_epoch = NULL, mac = NULL", [])
        .unwrap();
    assert_eq!(
        kinds(check(&s, 7)),
        [(2, "unkeyed"), (3, "unkeyed"), (4, "unkeyed")]
    );
}

#[test]
fn a_refusing_keyer_writes_nothing_and_is_asked_again() {
    let (_d, mut s) = fresh();
    let mut first = true;
    s.set_audit_keyer(Box::new(move |_: &str, _: i64| {
        if std::mem::take(&mut first) {
            Err(
                kiosk_domain::Rejection::field("station_token", "工作站令牌", "unreachable")
                    .zh("未接通", "接上后重试")
                    .en("not reachable", "plug it in and retry"),
            )
        } else {
            Ok(Some(derive(1, "x")))
        }
    }));
    let refused = s.write(&Actor::clerk("c1"), at(1), |w| {
        w.record(
            "test.event",
            "subject",
            serde_json::json!({}),
            serde_json::json!(null),
        )
    });
    assert!(matches!(refused, Err(StoreError::Rejected(_))));
    assert_eq!(s.audit_head().unwrap().0, 0, "nothing written");
    event(&mut s, 2);
    assert!(s.audit_epoch().is_some());
}

/// Recomputes the SHA-256 chain from row `from` on, as a forger would.
fn rechain(c: &Connection, from: i64) {
    let mut prev: String = c
        .query_row("SELECT hash FROM audit WHERE seq = ?1", [from - 1], |r| {
            r.get(0)
        })
        .unwrap();
    let rows: Vec<i64> = c
        .prepare("SELECT seq FROM audit WHERE seq >= ?1 ORDER BY seq")
        .unwrap()
        .query_map([from], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for seq in rows {
        let row = c
            .query_row(
                "SELECT seq, at, actor, action, subject, detail FROM audit WHERE seq = ?1",
                [seq],
                |r| {
                    Ok(kiosk_sync::audit::AuditRow {
                        seq: r.get(0)?,
                        at: r.get(1)?,
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        subject: r.get(4)?,
                        detail: r.get(5)?,
                        prev_hash: prev.clone(),
                    })
                },
            )
            .unwrap();
        let hash = row.hash();
        c.execute(
            "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            (&prev, &hash, seq),
        )
        .unwrap();
        prev = hash;
    }
    c.execute("UPDATE audit_head SET hash = ?1", [&prev])
        .unwrap();
}

#[test]
fn the_wal_starts_over_under_a_busy_writer_and_nothing_is_lost() {
    let (d, mut s) = fresh();
    let wal = d.path().join("t.db-wal");
    let mut largest = 0;
    for t in 0..1500 {
        event(&mut s, t);
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    // 1500 commits of several pages each would be tens of MiB of WAL if it
    // were never started over.
    assert!(largest < 8 << 20, "the WAL grew to {largest} bytes");
    let autocheckpoint: i64 = s
        .conn
        .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
        .unwrap();
    assert_eq!(autocheckpoint, 0, "the writer does not checkpoint inline");
    drop(s);
    let again = Store::open(&d.path().join("t.db"), at(0)).unwrap();
    assert_eq!(again.audit_head().unwrap().0, 1500);
    assert!(again.verify_audit().unwrap().ok);
}
