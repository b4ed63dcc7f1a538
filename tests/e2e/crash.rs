//! kill -9 in the middle of a burst of order transitions, fifty times, on a
//! real database file: every reported commit survives, no order is half
//! written, and the audit trail still verifies.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::ctl;

#[test]
fn kill_9_during_a_burst_loses_no_committed_transition() {
    let d = tempfile::tempdir().unwrap();
    let burst = env!("CARGO_BIN_EXE_order-burst");
    // Committed revision per order, as the writer reported them.
    let mut reported: HashMap<String, u32> = HashMap::new();
    let mut total_lines = 0;
    for round in 0..50u64 {
        let mut child = Command::new(burst)
            .arg(d.path())
            .arg("100000")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn order-burst");
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        // Kill at a different moment each round, some before the first commit.
        std::thread::sleep(Duration::from_millis(5 + (round * 37) % 180));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        for line in reader.join().unwrap() {
            let parts: Vec<&str> = line.split(' ').collect();
            if parts.len() == 4 && parts[0] == "C" {
                total_lines += 1;
                let rev: u32 = parts[2].parse().unwrap();
                let e = reported.entry(parts[1].to_string()).or_insert(0);
                *e = (*e).max(rev);
            }
        }
    }
    assert!(
        total_lines > 50,
        "the writer committed too little to prove anything: {total_lines}"
    );

    let c = rusqlite::Connection::open(d.path().join("station.db")).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    for (id, rev) in &reported {
        let stored: u32 = c
            .query_row("SELECT revision FROM orders WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap_or_else(|_| panic!("reported order {id} is missing"));
        assert!(
            stored >= *rev,
            "order {id}: reported revision {rev}, stored {stored}"
        );
    }
    // Every order's row, its outbox records and its audit rows agree.
    let mut stmt = c
        .prepare("SELECT id, revision, state, body FROM orders")
        .unwrap();
    let rows: Vec<(String, u32, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, revision, state, body) in &rows {
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["revision"], *revision, "order {id}");
        assert_eq!(body["state"], state.as_str(), "order {id}");
        let audit: u32 = c
            .query_row("SELECT count(*) FROM audit WHERE subject = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        let outbox: u32 = c
            .query_row(
                "SELECT count(*) FROM outbox WHERE json_extract(payload, '$.subject') = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            (audit, outbox),
            (*revision, *revision),
            "order {id} at revision {revision}"
        );
    }
    // Outbox sequence numbers have no holes.
    let (min, max, n): (i64, i64, i64) = c
        .query_row("SELECT min(seq), max(seq), count(*) FROM outbox", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((min, max), (1, n));
    drop(stmt);
    drop(c);
    let v = ctl(d.path(), &["audit", "verify"]).ok();
    assert_eq!(v["ok"], true);
    eprintln!(
        "{} orders, {} reported commits survived 50 kills",
        rows.len(),
        total_lines
    );
}
