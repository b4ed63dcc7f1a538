//! An order's life through the CLI, with its outbox and audit rows.

use std::path::Path;

use serde_json::json;

use crate::support::{application_with, counts, ctl, file};

#[test]
fn counter_transaction_from_intake_to_completion() {
    let d = tempfile::tempdir().unwrap();
    let app = file(d.path(), "app.json", kiosk_app::demo::APPLICATION_JSON);
    let o = ctl(d.path(), &["order", "create", app.to_str().unwrap()]).ok();
    let id = o["id"].as_str().unwrap().to_string();
    let number = o["number"].as_str().unwrap().to_string();
    assert_eq!(o["state"], "pending-review");
    assert_eq!(o["fee"]["total_fen"], 48000);
    assert_eq!(o["checklist"].as_array().unwrap().len(), 4);

    // Approval waits for every item.
    ctl(d.path(), &["order", "advance", &id, "approve"]).refused("materials_incomplete");
    ctl(
        d.path(),
        &[
            "order",
            "check",
            &number,
            "--item",
            "application-form",
            "--status",
            "rejected",
            "--note",
            "未盖章",
        ],
    )
    .ok();
    let r = ctl(d.path(), &["order", "advance", &id, "approve"]).refused("materials_incomplete");
    assert!(r["error"]["message"].as_str().unwrap().contains("不合格"));
    ctl(d.path(), &["order", "advance", &id, "return"]).refused("required");
    ctl(
        d.path(),
        &[
            "order",
            "advance",
            &id,
            "return",
            "--reason",
            "申请表未加盖公章",
        ],
    )
    .ok();
    ctl(d.path(), &["order", "advance", &id, "resubmit"]).ok();
    ctl(
        d.path(),
        &["order", "check", &id, "--all", "--status", "ok"],
    )
    .ok();
    assert_eq!(
        ctl(d.path(), &["order", "advance", &id, "approve"]).ok()["state"],
        "awaiting-payment"
    );

    ctl(
        d.path(),
        &[
            "order",
            "pay",
            &id,
            "--method",
            "cash",
            "--amount-fen",
            "40000",
            "--receipt",
            "R1",
        ],
    )
    .refused("amount_mismatch");
    ctl(
        d.path(),
        &[
            "order",
            "pay",
            &id,
            "--method",
            "cash",
            "--amount-fen",
            "48000",
        ],
    )
    .refused("required");
    ctl(
        d.path(),
        &[
            "order",
            "pay",
            &id,
            "--method",
            "free",
            "--amount-fen",
            "48000",
        ],
    )
    .refused("method_mismatch");
    ctl(
        d.path(),
        &[
            "order",
            "pay",
            &id,
            "--method",
            "wechat",
            "--amount-fen",
            "48000",
            "--receipt",
            "WX123",
        ],
    )
    .ok();
    ctl(d.path(), &["order", "advance", &id, "cancel"]).refused("required");
    ctl(d.path(), &["order", "advance", &id, "complete"]).refused("invalid_transition");
    ctl(d.path(), &["order", "advance", &id, "start"]).ok();
    ctl(
        d.path(),
        &["order", "advance", &id, "cancel", "--reason", "x"],
    )
    .refused("invalid_transition");
    let done = ctl(d.path(), &["order", "advance", &id, "complete"]).ok();
    assert_eq!(done["state"], "completed");
    assert_eq!(
        done["payment"],
        json!({"method": "wechat", "amount_fen": 48000, "receipt_no": "WX123"})
    );

    let shown = ctl(d.path(), &["order", "show", &number]).ok();
    let history = shown["history"].as_array().unwrap();
    let actions: Vec<&str> = history
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"order.created"));
    assert_eq!(actions.last(), Some(&"order.completed"));
    assert!(history.iter().all(|h| h["actor"] == "clerk:t01"));
    assert_eq!(history.len() as u64, done["revision"].as_u64().unwrap());
    // One outbox record and one audit row per step, plus the catalog
    // import and the test station's three accounts (boss1, boss2, t01).
    let (orders, outbox, audit) = counts(d.path());
    assert_eq!(
        (orders, outbox, audit),
        (1, history.len() as i64 + 4, history.len() as i64 + 4)
    );
    let list = ctl(d.path(), &["order", "list", "--state", "completed"]).ok();
    assert_eq!(list["orders"][0]["number"], number.as_str());
    ctl(d.path(), &["order", "show", "nope"]).refused("not_found");
    assert_eq!(ctl(d.path(), &["audit", "verify"]).ok()["ok"], true);
}

#[test]
fn every_change_is_made_by_a_logged_in_clerk() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let app = file(d.path(), "app.json", kiosk_app::demo::APPLICATION_JSON);
    let data = d.path().join("data");
    let bare = |runtime: &Path, args: &[&str]| {
        let mut cmd = std::process::Command::new(kiosk_e2e::kioskctl());
        cmd.args(["--json", "--data-dir"])
            .arg(&data)
            .args(args)
            .env("XDG_RUNTIME_DIR", runtime)
            .env_remove("KIOSK_DATA_DIR");
        crate::support::run(cmd)
    };
    let nobody = d.path().join("nobody");
    std::fs::create_dir(&nobody).unwrap();
    std::fs::set_permissions(&nobody, std::fs::Permissions::from_mode(0o700)).unwrap();

    // No session, no station: refused, and the directory is not made.
    let r = bare(&nobody, &["order", "create", app.to_str().unwrap()]).refused("not_logged_in");
    assert_eq!(r["error"]["rejections"][0]["field"], "session", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kioskctl login"),
        "{r}"
    );
    assert!(!data.exists(), "nothing written");
    // A clerk can no longer name themselves.
    let r = bare(
        &nobody,
        &["--clerk", "t01", "order", "create", app.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "not an option any more: {}", r.stderr);

    // Logged in, t01's order is t01's in the trail.
    let order = ctl(&data, &["order", "create", app.to_str().unwrap()]).ok();
    let number = order["number"].as_str().unwrap();
    let shown = ctl(&data, &["order", "show", number]).ok();
    assert_eq!(shown["history"][0]["actor"], "clerk:t01", "{shown}");

    // Without a session, or with a token made up by hand: nothing changes.
    let before = counts(&data);
    let cancel = ["order", "advance", number, "cancel", "--reason", "test"];
    bare(&nobody, &cancel).refused("not_logged_in");
    let forged = d.path().join("forged");
    let station_dir = forged.join("kiosk-station");
    std::fs::create_dir_all(&station_dir).unwrap();
    std::fs::set_permissions(&forged, std::fs::Permissions::from_mode(0o700)).unwrap();
    let station_id = ctl(&data, &["sync", "status"]).ok()["station_id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = station_dir.join(format!("{station_id}.session"));
    std::fs::write(&token, "0123456789abcdef0123456789abcdef").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    bare(&forged, &cancel).refused("not_logged_in");
    // Reading needs no session.
    assert_eq!(
        bare(&nobody, &["order", "show", number]).ok()["number"],
        number
    );
    assert_eq!(counts(&data), before, "nothing written");
}

#[test]
fn renewal_orders_follow_the_window() {
    let d = tempfile::tempdir().unwrap();
    let renew = |not_after: &str| {
        let mut v: serde_json::Value =
            serde_json::from_str(&application_with("/operation", json!("renew"))).unwrap();
        v["certificate"] =
            json!({ "not_after": not_after, "serial": "2255bf7e67174d3a9c163896b01cefd97659179b" });
        v.to_string()
    };
    let early = file(d.path(), "early.json", &renew("2027-06-01"));
    ctl(
        d.path(),
        &[
            "order",
            "create",
            early.to_str().unwrap(),
            "--today",
            "2026-11-21",
        ],
    )
    .refused("renewal_too_early");
    let late = file(d.path(), "late.json", &renew("2025-01-01"));
    let o = ctl(
        d.path(),
        &[
            "order",
            "create",
            late.to_str().unwrap(),
            "--today",
            "2026-11-21",
        ],
    )
    .ok();
    assert_eq!(o["renewal"]["mode"], "review-required");
    let id = o["id"].as_str().unwrap();
    ctl(d.path(), &["order", "check", id, "--all", "--status", "ok"]).ok();
    assert_eq!(
        ctl(d.path(), &["order", "advance", id, "approve"]).ok()["state"],
        "central-review"
    );
    ctl(d.path(), &["order", "advance", id, "central-approve"]).ok();
    let due = ctl(d.path(), &["order", "show", id]).ok();
    assert_eq!(due["state"], "awaiting-payment");
    assert_eq!(due["fee"]["total_fen"], 20000);
    // A renewal without the old expiry date is refused, field named.
    let missing = file(
        d.path(),
        "missing.json",
        &application_with("/operation", json!("renew")),
    );
    let r = ctl(d.path(), &["order", "create", missing.to_str().unwrap()]).refused("required");
    assert_eq!(
        r["error"]["rejections"][0]["field"],
        "certificate.not_after"
    );
}

#[test]
fn returned_order_is_amended_and_repriced() {
    let d = tempfile::tempdir().unwrap();
    let app = file(d.path(), "app.json", kiosk_app::demo::APPLICATION_JSON);
    let id = ctl(d.path(), &["order", "create", app.to_str().unwrap()]).ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    ctl(
        d.path(),
        &["order", "advance", &id, "return", "--reason", "项目选错"],
    )
    .ok();
    let fixed = file(
        d.path(),
        "fixed.json",
        &application_with("/handler/mobile", json!("139 2308 8888")),
    );
    let o = ctl(d.path(), &["order", "amend", &id, fixed.to_str().unwrap()]).ok();
    assert_eq!(o["application"]["handler"]["mobile"], "13923088888");
    assert_eq!(
        ctl(d.path(), &["order", "advance", &id, "resubmit"]).ok()["state"],
        "pending-review"
    );
}
