//! Bad input gets a clear Chinese error and writes nothing.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::support::{application_with, counts, ctl, file};

fn seeded() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    ctl(d.path(), &["demo"]).ok();
    d
}

#[test]
fn malformed_or_invalid_applications_write_nothing() {
    let d = seeded();
    let before = counts(d.path());
    let cases: &[(&str, String, &str)] = &[
        (
            "broken.json",
            "{\"provider\": \"ezca\", ".into(),
            "malformed",
        ),
        (
            "unknown-field.json",
            application_with("/agreed_to_terms", json!(true))
                .replace("\"agreed_to_terms\"", "\"agreed\""),
            "malformed",
        ),
        (
            "provider.json",
            application_with("/provider", json!("nosuch")),
            "unknown_provider",
        ),
        (
            "operation.json",
            application_with("/operation", json!("fly")),
            "malformed",
        ),
        (
            "not-offered.json",
            application_with("/operation", json!("upgrade")),
            "not_offered",
        ),
        (
            "uscc.json",
            application_with("/organization/uscc", json!("91500000MA5U8K2T0B")),
            "check_digit",
        ),
        (
            "id.json",
            application_with("/handler/id_number", json!("512210198502030054")),
            "check_digit",
        ),
        (
            "mobile.json",
            application_with("/handler/mobile", json!("2388308888")),
            "invalid_input",
        ),
    ];
    for (name, text, code) in cases {
        let f = file(d.path(), name, text);
        let r = ctl(d.path(), &["order", "create", f.to_str().unwrap()]);
        if *code == "invalid_input" {
            assert_eq!(r.code, 1, "{name}");
        } else {
            r.refused(code);
        }
        assert_eq!(counts(d.path()), before, "{name} wrote something");
    }
    // Several wrong fields are reported together, each by name.
    let mut v: serde_json::Value = serde_json::from_str(kiosk_app::demo::APPLICATION_JSON).unwrap();
    v["handler"]["email"] = json!("not-an-email");
    v["organization"]["name"] = json!("  ");
    v["agreed_to_terms"] = json!(false);
    let f = file(d.path(), "many.json", &v.to_string());
    let r = ctl(d.path(), &["order", "create", f.to_str().unwrap()]).refused("invalid_input");
    let fields: Vec<&str> = r["error"]["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["organization.name", "handler.email", "agreed_to_terms"]
    );
    // Malformed input into a fresh directory does not even create it.
    let fresh = d.path().join("fresh");
    let f = file(d.path(), "broken2.json", "not json");
    let mut cmd = Command::new(kiosk_e2e::kioskctl());
    cmd.args(["--json", "--data-dir"])
        .arg(&fresh)
        .args(["order", "create"])
        .arg(&f);
    crate::support::run(cmd).refused("malformed");
    assert!(!fresh.exists());
}

#[test]
fn uploads_are_checked_by_content() {
    let d = tempfile::tempdir().unwrap();
    let text = file(d.path(), "scan.jpg", "这不是图片 this is not a picture");
    let r = ctl(d.path(), &["validate", "image", text.to_str().unwrap()]);
    assert_eq!(
        (r.code, r.json["code"].as_str()),
        (1, Some("not_an_image")),
        "{}",
        r.stdout
    );
    let big = d.path().join("big.png");
    std::fs::write(&big, vec![0u8; 10 * 1024 * 1024]).unwrap();
    let r = ctl(d.path(), &["validate", "image", big.to_str().unwrap()]);
    assert_eq!((r.code, r.json["code"].as_str()), (1, Some("too_large")));
    assert!(
        r.json["message"].as_str().unwrap().contains("3 MB"),
        "{}",
        r.stdout
    );
    let pdf = file(d.path(), "scan.pdf", "%PDF-1.4");
    assert_eq!(
        ctl(d.path(), &["validate", "image", pdf.to_str().unwrap()]).json["code"],
        "extension"
    );
}

#[test]
fn newer_database_is_refused() {
    let d = seeded();
    let c = rusqlite::Connection::open(d.path().join("station.db")).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    let r = ctl(d.path(), &["order", "list"]).refused("newer_schema");
    assert!(r["error"]["message"].as_str().unwrap().contains("较新版本"));
    ctl(
        d.path(),
        &["fee", "--provider", "ezca", "--operation", "new"],
    )
    .refused("newer_schema");
}

/// A tmpfs of `size` mounted on a fresh directory; unmounted on drop.
struct Mount(tempfile::TempDir);

impl Mount {
    fn tmpfs(size: &str) -> Mount {
        let d = tempfile::tempdir().unwrap();
        sh(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size}"),
            "tmpfs",
            d.path().to_str().unwrap(),
        ]);
        Mount(d)
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn remount(&self, opt: &str) {
        sh(&[
            "mount",
            "-o",
            &format!("remount,{opt}"),
            self.path().to_str().unwrap(),
        ]);
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[track_caller]
fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect(args[0]);
    assert!(
        out.status.success(),
        "{args:?}: {} (these tests need root and mount permission)",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_demo_stays_out_of_a_stations_own_directory() {
    let d = tempfile::tempdir().unwrap();
    let app = file(d.path(), "app.json", kiosk_app::demo::APPLICATION_JSON);
    let station = d.path().join("station");
    ctl(&station, &["order", "create", app.to_str().unwrap()]).ok();
    let before = counts(&station);
    let r = ctl(&station, &["demo"]).refused("not_a_demo_dir");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--data-dir"),
        "{r}"
    );
    assert_eq!(counts(&station), before, "nothing written");
    let clerks = ctl(&station, &["clerk", "list"]).ok();
    let ids: Vec<&str> = clerks["clerks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["boss1", "boss2", "t01"], "no demo accounts: {clerks}");
    // A directory the demo made is its own: a second run carries on there,
    // with the documented accounts.
    let demo = d.path().join("demo");
    ctl(&demo, &["demo"]).ok();
    ctl(&demo, &["demo"]).ok();
    let clerks = ctl(&demo, &["clerk", "list"]).ok();
    let ids: Vec<&str> = clerks["clerks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["clerk", "super"], "{clerks}");
}

#[test]
fn read_only_data_directory() {
    let m = Mount::tmpfs("16m");
    let dir = m.path().join("station");
    ctl(&dir, &["demo"]).ok();
    let app = file(m.path(), "app.json", kiosk_app::demo::APPLICATION_JSON);
    let before = counts(&dir);
    m.remount("ro");
    let r = ctl(&dir, &["order", "create", app.to_str().unwrap()]);
    let code = r.json["error"]["code"].as_str().unwrap_or("").to_string();
    assert!(
        ["read_only", "cannot_open"].contains(&code.as_str()),
        "{}",
        r.stdout
    );
    r.refused(&code);
    // Reading still works on a read-only station.
    assert_eq!(
        ctl(&dir, &["fee", "--provider", "ezca", "--operation", "new"]).ok()["total_fen"],
        48000
    );
    // A station that does not exist yet cannot be made there.
    let r = ctl(&m.path().join("new"), &["demo"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.json["error"]["code"], "read_only");
    m.remount("rw");
    assert_eq!(counts(&dir), before);
    assert_eq!(ctl(&dir, &["audit", "verify"]).ok()["ok"], true);
}

#[test]
fn full_disk() {
    let m = Mount::tmpfs("4m");
    let dir = m.path().join("station");
    ctl(&dir, &["demo"]).ok();
    let app = file(m.path(), "app.json", kiosk_app::demo::APPLICATION_JSON);
    let before = counts(&dir);
    // Fill the file system to the last byte.
    let filler = m.path().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", filler.display()))
        .output();
    let r = ctl(&dir, &["order", "create", app.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let code = r.json["error"]["code"].as_str().unwrap().to_string();
    assert_eq!(code, "disk_full", "{}", r.stdout);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("磁盘已满"));
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(counts(&dir), before);
    assert_eq!(ctl(&dir, &["audit", "verify"]).ok()["ok"], true);
    // With room again, the same application goes through.
    ctl(&dir, &["order", "create", app.to_str().unwrap()]).ok();
}
