//! The `kioskctl` contract that scripts and the nightly job rely on.

use serde_json::json;

use crate::support::{ctl, ctl_privileged, file, run};

#[test]
fn fee_prints_total_and_lines() {
    let d = tempfile::tempdir().unwrap();
    let j = ctl(
        d.path(),
        &["fee", "--provider", "ezca", "--operation", "new"],
    )
    .ok();
    assert_eq!(j["total_fen"], 48000);
    assert_eq!(j["lines"][0]["amount_fen"], 48000);
    assert!(j["lines"][0]["reason"].as_str().unwrap().contains("480"));
    let j = ctl(
        d.path(),
        &[
            "fee",
            "--provider",
            "bjca",
            "--operation",
            "renew",
            "--years",
            "2",
        ],
    )
    .ok();
    assert_eq!(j["total_fen"], 36000);
    let j = ctl(
        d.path(),
        &[
            "fee",
            "--provider",
            "bjca",
            "--operation",
            "replace-damaged",
            "--fault",
            "quality",
            "--first-issued",
            "2026-03-01",
            "--today",
            "2027-02-28",
        ],
    )
    .ok();
    assert_eq!(j["total_fen"], 0, "inside warranty");
    let j = ctl(
        d.path(),
        &[
            "fee",
            "--provider",
            "bjca",
            "--operation",
            "replace-damaged",
            "--fault",
            "quality",
            "--first-issued",
            "2026-03-01",
            "--today",
            "2027-03-01",
        ],
    )
    .ok();
    assert_eq!(j["total_fen"], 8000, "warranty over");
    // Rule lookups never create a database.
    assert!(!d.path().join("station.db").exists());
}

#[test]
fn refusals_exit_1_and_usage_errors_exit_2() {
    let d = tempfile::tempdir().unwrap();
    ctl(
        d.path(),
        &["fee", "--provider", "crc", "--operation", "new"],
    )
    .refused("not_offered");
    ctl(
        d.path(),
        &["fee", "--provider", "nosuch", "--operation", "new"],
    )
    .refused("unknown_provider");
    ctl(
        d.path(),
        &["fee", "--provider", "bjca", "--operation", "fly"],
    )
    .refused("unknown_operation");
    ctl(
        d.path(),
        &["fee", "--provider", "bjca", "--operation", "revoke"],
    )
    .refused("tariff_unset");
    ctl(
        d.path(),
        &[
            "checklist",
            "--provider",
            "bjca",
            "--operation",
            "renew",
            "--channel",
            "mail",
        ],
    )
    .refused("channel_not_offered");
    for args in [
        &["fee", "--provider", "bjca"][..],
        &["frobnicate"],
        &[
            "fee",
            "--provider",
            "bjca",
            "--operation",
            "new",
            "--years",
            "x",
        ],
    ] {
        let r = ctl(d.path(), args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn checklist_items_carry_their_requirements() {
    let d = tempfile::tempdir().unwrap();
    let j = ctl(
        d.path(),
        &["checklist", "--provider", "bjca", "--operation", "new"],
    )
    .ok();
    let items = j["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(
        items[0],
        json!({"id": "application-form", "name": "《单位数字证书申请表》", "copies": 2, "original": true,
               "copy": false, "sealed": true, "signed": false, "hint": "一式两份，加盖单位公章"})
    );
    let j = ctl(
        d.path(),
        &[
            "checklist",
            "--provider",
            "bjca",
            "--operation",
            "new",
            "--channel",
            "mail",
        ],
    )
    .ok();
    let ids: Vec<&str> = j["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"authorization-letter"), "{ids:?}");
}

#[test]
fn renewal_modes() {
    let d = tempfile::tempdir().unwrap();
    let r = |today: &str| {
        ctl(
            d.path(),
            &[
                "renewal",
                "--provider",
                "bjca",
                "--not-after",
                "2027-03-01",
                "--today",
                today,
            ],
        )
        .ok()
    };
    let j = r("2027-01-15");
    assert_eq!(j["mode"], "self-service");
    assert_eq!(j["new_not_before"], "2027-03-01");
    assert_eq!(j["new_not_after"], "2028-03-01");
    assert_eq!(r("2026-12-01")["mode"], "too-early");
    let j = r("2027-06-01");
    assert_eq!(
        (j["mode"].as_str(), j["new_not_before"].as_str()),
        (Some("self-service"), Some("2027-06-01"))
    );
    assert_eq!(r("2028-03-02")["mode"], "review-required");
    let j = ctl(
        d.path(),
        &[
            "renewal",
            "--provider",
            "bjca",
            "--not-after",
            "2027-03-01",
            "--today",
            "2027-02-01",
            "--years",
            "3",
        ],
    )
    .ok();
    assert_eq!(j["new_not_after"], "2030-03-01");
}

#[test]
fn validate_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    let j = ctl(d.path(), &["validate", "uscc", "91500000ma5u 8k2t0a"]).ok();
    assert_eq!(j["valid"], true);
    assert_eq!(j["value"], "91500000MA5U8K2T0A");
    assert_eq!(j["organization_code"], "MA5U8K2T0");
    let r = ctl(d.path(), &["validate", "id", "512210198502030054"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json["valid"], false);
    assert!(r.json["message"].as_str().unwrap().contains("校验位"));
    assert_eq!(
        ctl(d.path(), &["validate", "phone", "023-63788888"]).code,
        0
    );
    assert_eq!(ctl(d.path(), &["validate", "email", "a@b"]).code, 1);
}

#[test]
fn data_dir_from_environment_and_today_flag() {
    let d = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(kiosk_e2e::kioskctl());
    cmd.args(["--json", "demo"]).env("KIOSK_DATA_DIR", d.path());
    let j = run(cmd).ok();
    assert_eq!(j["state"], "completed");
    assert!(d.path().join("station.db").exists());
}

#[test]
fn operator_sets_a_tariff_and_imports_a_newer_catalog() {
    let d = tempfile::tempdir().unwrap();
    ctl_privileged(
        d.path(),
        &[
            "catalog",
            "set-tariff",
            "--provider",
            "bjca",
            "--operation",
            "revoke",
            "--item",
            "service",
            "--amount-fen",
            "5000",
            "--reason",
            "网点定价",
        ],
    )
    .ok();
    assert_eq!(
        ctl(
            d.path(),
            &["fee", "--provider", "bjca", "--operation", "revoke"]
        )
        .ok()["total_fen"],
        5000
    );
    ctl_privileged(
        d.path(),
        &[
            "catalog",
            "set-tariff",
            "--provider",
            "bjca",
            "--operation",
            "revoke",
            "--item",
            "nope",
            "--amount-fen",
            "5000",
        ],
    )
    .refused("unknown_item");
    let base = kiosk_app::domain::Catalog::from_toml(kiosk_app::EMBEDDED_CATALOG)
        .unwrap()
        .version;
    let show = ctl(d.path(), &["catalog", "show"]).ok();
    assert_eq!(show["active_version"], base);
    assert_eq!(show["overrides"].as_array().unwrap().len(), 1);

    let v2 = with_version(kiosk_app::EMBEDDED_CATALOG, base + 1)
        .replace("amount_fen = 48000", "amount_fen = 50000");
    let f = file(d.path(), "v2.toml", &v2);
    ctl_privileged(d.path(), &["catalog", "import", f.to_str().unwrap()]).ok();
    assert_eq!(
        ctl(
            d.path(),
            &["fee", "--provider", "ezca", "--operation", "new"]
        )
        .ok()["total_fen"],
        50000
    );
    // Importing the same version again is harmless; an older one is refused.
    assert_eq!(
        ctl_privileged(d.path(), &["catalog", "import", f.to_str().unwrap()]).ok()["outcome"],
        "already-present"
    );
    let v1 = file(d.path(), "v1.toml", kiosk_app::EMBEDDED_CATALOG);
    ctl_privileged(d.path(), &["catalog", "import", v1.to_str().unwrap()])
        .refused("version_not_newer");
    // A catalog that takes effect later does not apply yet.
    let v3 = with_version(&v2, base + 2)
        .replace(
            "effective_date = \"2026-01-01\"",
            "effective_date = \"2099-01-01\"",
        )
        .replace("amount_fen = 50000", "amount_fen = 60000");
    let f3 = file(d.path(), "v3.toml", &v3);
    ctl_privileged(d.path(), &["catalog", "import", f3.to_str().unwrap()]).ok();
    assert_eq!(
        ctl(
            d.path(),
            &["fee", "--provider", "ezca", "--operation", "new"]
        )
        .ok()["total_fen"],
        50000
    );
    assert_eq!(
        ctl(
            d.path(),
            &[
                "fee",
                "--provider",
                "ezca",
                "--operation",
                "new",
                "--today",
                "2099-01-01"
            ]
        )
        .ok()["total_fen"],
        60000
    );
    // A broken catalog changes nothing.
    let bad = file(
        d.path(),
        "bad.toml",
        &with_version(&v2, base + 9).replace("offers = [\"upgrade\"]", "offers = []"),
    );
    ctl_privileged(d.path(), &["catalog", "import", bad.to_str().unwrap()]).refused("inconsistent");
    assert_eq!(
        ctl(d.path(), &["catalog", "show"]).ok()["versions"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// A catalog text with its version line changed.
fn with_version(text: &str, version: u64) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with("version = ") {
                format!("version = {version}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn privileged_commands_need_a_session_and_a_second_account() {
    use crate::support::{counts, BOSS_SECRET};
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let runtime = d.path().join("run");
    std::fs::create_dir(&runtime).unwrap();
    let base = || {
        let mut c = std::process::Command::new(kiosk_e2e::kioskctl());
        c.env_remove("KIOSK_DATA_DIR");
        c
    };
    let ctl_as =
        |args: &[&str], stdin: &[&str]| crate::support::ctl_in(&base, &data, &runtime, args, stdin);
    let catalog = file(d.path(), "v.toml", kiosk_app::EMBEDDED_CATALOG);
    let privileged: [&[&str]; 5] = [
        &[
            "catalog",
            "set-tariff",
            "--provider",
            "bjca",
            "--operation",
            "revoke",
            "--item",
            "service",
            "--amount-fen",
            "0",
        ],
        &["catalog", "import", catalog.to_str().unwrap()],
        &["clerk", "add", "li", "--password-stdin"],
        &["clerk", "deactivate", "boss2"],
        &["cert", "revoke", "00ff", "--reason", "key-compromise"],
    ];
    // The station's first two supervisors need nobody's approval.
    for id in ["boss1", "boss2"] {
        ctl_as(
            &[
                "clerk",
                "add",
                id,
                "--role",
                "supervisor",
                "--password-stdin",
            ],
            &[BOSS_SECRET],
        )
        .ok();
    }
    let before = counts(&data);
    // Without a session: refused.
    for args in privileged {
        let mut with = args.to_vec();
        with.extend(["--approver", "boss2", "--approver-stdin"]);
        ctl_as(&with, &[BOSS_SECRET, "new-pass-1"]).refused("not_logged_in");
    }
    // A third supervisor is no longer a bootstrap.
    ctl_as(
        &[
            "clerk",
            "add",
            "boss3",
            "--role",
            "supervisor",
            "--password-stdin",
        ],
        &[BOSS_SECRET],
    )
    .refused("second_account_required");

    // Logged in, but alone.
    ctl_as(
        &["login", "--clerk", "boss1", "--password-stdin"],
        &["wrong-pass"],
    )
    .refused("bad_credentials");
    ctl_as(
        &["login", "--clerk", "boss1", "--password-stdin"],
        &[BOSS_SECRET],
    )
    .ok();
    let sessions: Vec<_> = std::fs::read_dir(runtime.join("kiosk-station"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&sessions[0]).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the session file is the user's alone");
    for (i, args) in privileged.into_iter().enumerate() {
        ctl_as(args, &["new-pass-1"]).refused("second_account_required");
        // Approving one's own change, or with a wrong password.
        let mut own = args.to_vec();
        own.extend(["--approver", "boss1", "--approver-stdin"]);
        ctl_as(&own, &[BOSS_SECRET, "new-pass-1"]).refused("self_approval");
        if i < 4 {
            let mut wrong = args.to_vec();
            wrong.extend(["--approver", "boss2", "--approver-stdin"]);
            ctl_as(&wrong, &["guess-1", "new-pass-1"]).refused("bad_credentials");
        }
    }
    assert_eq!(counts(&data), before, "nothing written");

    // With the second account: done, and the audit names both.
    ctl_as(
        &[
            "catalog",
            "set-tariff",
            "--provider",
            "bjca",
            "--operation",
            "revoke",
            "--item",
            "service",
            "--amount-fen",
            "0",
            "--approver",
            "boss2",
            "--approver-stdin",
        ],
        &[BOSS_SECRET],
    )
    .ok();
    let show = ctl_as(&["catalog", "show"], &[]).ok();
    assert_eq!(
        show["overrides"][0]["set_by"], "clerk:boss1+boss2",
        "{show}"
    );
    // A forged session file (another token) is nobody's; logout ends it.
    std::fs::write(&sessions[0], "0".repeat(64)).unwrap();
    ctl_as(privileged[0], &[]).refused("not_logged_in");
    ctl_as(&["logout"], &[]).ok();
    assert!(!sessions[0].exists());
    // Wrong passwords are counted across processes: five in a row pause
    // the account, even for the right one.
    for _ in 0..kiosk_app::accounts::MAX_FAILURES {
        ctl_as(
            &["login", "--clerk", "boss2", "--password-stdin"],
            &["guess-2"],
        )
        .refused("bad_credentials");
    }
    ctl_as(
        &["login", "--clerk", "boss2", "--password-stdin"],
        &[BOSS_SECRET],
    )
    .refused("locked_out");
}
