//! Editing, inserting or deleting audit rows by hand is found and named;
//! so is an order or an outbox record changed behind the trail's back.

use rusqlite::Connection;

use crate::support::ctl;

fn station() -> (tempfile::TempDir, Connection) {
    let d = tempfile::tempdir().unwrap();
    ctl(d.path(), &["demo"]).ok();
    ctl(d.path(), &["demo"]).ok();
    let c = Connection::open(d.path().join("station.db")).unwrap();
    (d, c)
}

/// Runs `audit verify` and returns (seq, kind) of each finding.
fn findings(d: &tempfile::TempDir) -> Vec<(i64, String)> {
    crate::support::audit_findings(&ctl(d.path(), &["audit", "verify"]))
}

#[test]
fn untouched_trail_verifies() {
    let (d, c) = station();
    let rows: i64 = c
        .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    assert!(rows > 20, "two demo transactions leave a trail");
    let v = ctl(d.path(), &["audit", "verify"]).ok();
    assert_eq!(
        (v["ok"].as_bool(), v["rows"].as_i64()),
        (Some(true), Some(rows))
    );
}

#[test]
fn edited_row_is_named() {
    let (d, c) = station();
    c.execute(
        "UPDATE audit SET actor = 'clerk:someone-else' WHERE seq = 5",
        [],
    )
    .unwrap();
    assert_eq!(findings(&d), [(5, "edited".to_string())]);
}

#[test]
fn edited_and_rehashed_row_breaks_the_chain_at_the_next() {
    let (d, c) = station();
    c.execute(
        "UPDATE audit SET at = '2020-01-01T00:00:00.000000Z' WHERE seq = 7",
        [],
    )
    .unwrap();
    rehash(&c, 7);
    // The chain breaks at the next row; the row's value keyed in the
    // demo's station token names the rewritten row itself.
    assert_eq!(
        findings(&d),
        [(8, "inserted".to_string()), (7, "forged".to_string())]
    );
}

/// Recomputes a row's own hash the way the station does, as a forger would.
fn rehash(c: &Connection, seq: i64) {
    let (seq, at, actor, action, subject, detail, prev): (
        i64,
        String,
        String,
        String,
        String,
        String,
        String,
    ) = c
        .query_row(
            "SELECT seq, at, actor, action, subject, detail, prev_hash FROM audit WHERE seq = ?1",
            [seq],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .unwrap();
    let canonical = serde_json::json!([seq, at, actor, action, subject, detail, prev]).to_string();
    c.execute(
        "UPDATE audit SET hash = ?1 WHERE seq = ?2",
        (sha256_hex(canonical.as_bytes()), seq),
    )
    .unwrap();
}

#[test]
fn deleted_rows_are_named() {
    let (d, c) = station();
    c.execute("DELETE FROM audit WHERE seq IN (3, 4)", [])
        .unwrap();
    // The two records the rows vouched for are now vouched for by nothing.
    assert_eq!(
        findings(&d),
        [
            (3, "deleted".to_string()),
            (3, "record_unvouched".to_string()),
            (4, "record_unvouched".to_string())
        ]
    );
}

#[test]
fn deleted_tail_is_seen() {
    let (d, c) = station();
    let last: i64 = c
        .query_row("SELECT max(seq) FROM audit", [], |r| r.get(0))
        .unwrap();
    c.execute("DELETE FROM audit WHERE seq = ?1", [last])
        .unwrap();
    assert_eq!(
        findings(&d),
        [
            (last, "truncated".to_string()),
            (last, "record_unvouched".to_string()),
            // The demo's key work sealed the row that was the last.
            (last, "seal_broken".to_string())
        ]
    );
}

#[test]
fn inserted_row_is_named() {
    let (d, c) = station();
    // Make room by moving the tail up one, then slip a row in at 10.
    c.execute_batch("UPDATE audit SET seq = seq + 1000 WHERE seq >= 10; UPDATE audit SET seq = seq - 999 WHERE seq >= 1000;")
        .unwrap();
    c.execute(
        "INSERT INTO audit (seq, at, actor, action, subject, detail, prev_hash, hash)
         SELECT 10, at, actor, 'order.cancelled', subject, detail, hash, '' FROM audit WHERE seq = 9",
        [],
    )
    .unwrap();
    rehash(&c, 10);
    let f = findings(&d);
    // The forged row is self-consistent; the chain breaks right after it, and
    // every renumbered row behind it no longer matches its hash.
    assert_eq!(f[0], (11, "inserted".to_string()), "{f:?}");
    assert!(!f.contains(&(10, "edited".to_string())), "{f:?}");
    assert!(f.contains(&(12, "edited".to_string())), "{f:?}");
}

#[test]
fn an_order_changed_in_the_file_is_named() {
    let (d, c) = station();
    // The fee of a completed order, lowered in its stored body.
    let (number, last): (String, i64) = c
        .query_row(
            "SELECT o.number, max(x.seq) FROM orders o JOIN outbox x
               ON json_extract(x.payload, '$.subject') = o.id AND x.kind LIKE 'order.%'
             GROUP BY o.id ORDER BY o.number LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    c.execute(
        "UPDATE orders SET body = json_set(body, '$.fee.total_fen', 1) WHERE number = ?1",
        [&number],
    )
    .unwrap();
    assert_eq!(findings(&d), [(last, "order_edited".to_string())]);
    let r = ctl(d.path(), &["audit", "verify"]);
    assert!(r.stderr.contains(&number), "names the order: {}", r.stderr);
}

#[test]
fn an_order_moved_on_without_a_record_is_named() {
    let (d, c) = station();
    c.execute(
        "UPDATE orders SET state = 'cancelled', body = json_set(body, '$.state', 'cancelled')
         WHERE rowid = (SELECT min(rowid) FROM orders)",
        [],
    )
    .unwrap();
    let f = findings(&d);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].1, "order_edited");
}

#[test]
fn an_outbox_record_changed_in_the_file_is_named() {
    let (d, c) = station();
    // What the central will be told: a payment, made smaller.
    let seq: i64 = c
        .query_row(
            "SELECT min(seq) FROM outbox WHERE kind = 'order.paid'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    c.execute(
        "UPDATE outbox SET payload = replace(payload, '\"amount_fen\":', '\"amount_fen\":1') WHERE seq = ?1",
        [seq],
    )
    .unwrap();
    let audit: i64 = c
        .query_row(
            "SELECT seq FROM audit WHERE json_extract(detail, '$.outbox_seq') = ?1",
            [seq],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(findings(&d), [(audit, "record_edited".to_string())]);
    // And a record slipped into the outbox with no audit row.
    c.execute(
        "INSERT INTO outbox (id, kind, payload_version, payload, created_at)
         SELECT id || 'x', kind, payload_version, payload, created_at FROM outbox WHERE seq = ?1",
        [seq],
    )
    .unwrap();
    let f = findings(&d);
    assert!(f.iter().any(|(_, k)| k == "record_unvouched"), "{f:?}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    // The test recomputes the hash independently of the store's code.
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// `kioskctl` as a clerk of `h`, with the station token's PIN file named
/// by `pin_file` (None: no PIN file at all).
fn kioskctl_with_pin(
    h: &crate::keys::Hsm,
    pin_file: Option<&std::path::Path>,
    args: &[&str],
) -> crate::support::Run {
    let mut c = h.command(kiosk_e2e::kioskctl().to_str().unwrap());
    match pin_file {
        Some(f) => c.env("KIOSK_STATION_PIN_FILE", f),
        None => c.env_remove("KIOSK_STATION_PIN_FILE"),
    };
    c.arg("--json").arg("--data-dir").arg(h.data()).args(args);
    crate::support::run(c)
}

#[test]
fn rows_written_without_the_station_token_are_named_unkeyed() {
    let h = crate::keys::Hsm::new();
    let app = h.dir.path().join("app.json");
    std::fs::write(&app, kiosk_app::demo::APPLICATION_JSON).unwrap();
    h.ctl(&["order", "create", app.to_str().unwrap()]).ok();
    let keyed = h
        .ctl(&["stock", "add", "--serial", "K0001", "--model", "softhsm2"])
        .ok();
    let before = crate::support::counts(&h.data()).2;
    // Our own binary, run where the station token's PIN is not at hand
    // (a copy of the data directory, a shell without the service's
    // credentials). It writes no personal data, which the station
    // sealed with its token before, in clear: refused, nothing written.
    let r = kioskctl_with_pin(&h, None, &["order", "create", app.to_str().unwrap()]);
    assert_eq!(
        r.json["error"]["code"], "personal_key_unavailable",
        "{}",
        r.stdout
    );
    assert_eq!(
        crate::support::counts(&h.data()).2,
        before,
        "nothing written"
    );
    // What it may write carries no keyed value.
    let other = kioskctl_with_pin(
        &h,
        None,
        &["stock", "add", "--serial", "K0002", "--model", "softhsm2"],
    )
    .ok();
    let after = crate::support::counts(&h.data()).2;
    assert!(after > before);
    let r = h.ctl(&["audit", "verify"]);
    let findings = crate::support::audit_findings(&r);
    let expected: Vec<(i64, String)> = (before + 1..=after)
        .map(|s| (s, "unkeyed".to_string()))
        .collect();
    assert_eq!(findings, expected, "{}", r.stdout);
    assert!(r.stderr.contains("密钥校验值"), "{}", r.stderr);
    assert_ne!(keyed["serial"], other["serial"]);
}

#[test]
fn a_station_token_that_refuses_its_pin_refuses_every_write_and_nothing_is_written() {
    let h = crate::keys::Hsm::new();
    let app = h.dir.path().join("app.json");
    std::fs::write(&app, kiosk_app::demo::APPLICATION_JSON).unwrap();
    h.ctl(&["order", "create", app.to_str().unwrap()]).ok();
    let before = crate::support::counts(&h.data());
    let wrong = kiosk_e2e::secret_file(&h.dir.path().join("wrong"), "station-pin", "not-the-pin");
    let r = kioskctl_with_pin(
        &h,
        Some(&wrong),
        &["order", "create", app.to_str().unwrap()],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let e = &r.json["error"];
    assert!(
        e["message"].as_str().unwrap().contains("工作站令牌"),
        "{}",
        r.stdout
    );
    assert!(
        e["message_en"].as_str().unwrap().contains("station token"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("not-the-pin") && !r.stderr.contains("not-the-pin"));
    assert_eq!(crate::support::counts(&h.data()), before, "nothing written");
    assert_eq!(h.ctl(&["audit", "verify"]).ok()["ok"], true);
}
