//! Backups while orders are written, opened by Debian's `age` and GNU tar,
//! and restored onto a new data directory whose token came from the dead
//! machine; every way a restore must refuse; and a database of the previous
//! schema, backed up as it is, then migrated.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{ctl, file, tool};

/// Runs `script` with `sh -c`; it must succeed.
pub(crate) fn sh(script: &str) -> String {
    tool("sh", &["-c", script])
}

/// An operator's age key pair made by Debian's `age-keygen`: (identity
/// file, public key).
pub(crate) fn operator_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let identity = dir.join(format!("{name}.key"));
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&identity)
        .output()
        .expect("age-keygen");
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    let public = said
        .split_whitespace()
        .find(|w| w.starts_with("age1"))
        .expect("public key")
        .to_string();
    (identity, public)
}

/// The backups in `dir`, oldest first.
fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.age"))
        .collect();
    v.sort();
    v
}

/// The backup opened by Debian's `age` and extracted by GNU tar, then
/// checked without the station's code: each file against the manifest by
/// `sha256sum`, the database by the `sqlite3` shell.
fn open_independently(backup: &Path, identity: &Path, into: &Path) -> Value {
    std::fs::create_dir_all(into).unwrap();
    sh(&format!(
        "age -d -i {} {} | tar -x -C {}",
        identity.display(),
        backup.display(),
        into.display()
    ));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(into.join("manifest.json")).unwrap())
            .unwrap();
    for f in manifest["files"].as_array().unwrap() {
        let path = into.join(f["path"].as_str().unwrap());
        let sum = tool("sha256sum", &[path.to_str().unwrap()]);
        assert_eq!(
            sum.split_whitespace().next(),
            f["sha256"].as_str(),
            "{path:?}"
        );
    }
    let db = into.join("station.db");
    assert_eq!(
        tool("sqlite3", &[db.to_str().unwrap(), "PRAGMA integrity_check"]).trim(),
        "ok"
    );
    let outbox = tool(
        "sqlite3",
        &[db.to_str().unwrap(), "SELECT max(seq) FROM outbox"],
    );
    assert_eq!(outbox.trim(), manifest["outbox_head"].to_string());
    manifest
}

/// Every order's row agrees with its body, as after a crash.
fn orders_whole(db: &Path) -> usize {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c.prepare("SELECT id, revision, body FROM orders").unwrap();
    let rows: Vec<(String, u32, String)> = s
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, revision, body) in &rows {
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["revision"], *revision, "order {id}");
    }
    rows.len()
}

/// Points a token store's configuration at where it now is.
fn moved_token(conf: &Path, from: &Path, to: &Path) {
    let text = std::fs::read_to_string(conf).unwrap();
    let moved = text.replace(
        &std::path::absolute(from).unwrap().display().to_string(),
        &std::path::absolute(to).unwrap().display().to_string(),
    );
    std::fs::write(conf, moved).unwrap();
}

#[test]
fn a_backup_taken_while_orders_are_written_restores_a_station_whose_trail_verifies() {
    let d = tempfile::tempdir().unwrap();
    let live = d.path().join("live");
    let out = d.path().join("backups");
    // The demo station: keyed audit trail, its tokens under its directory.
    ctl(&live, &["demo"]).ok();
    let (identity, public) = operator_key(d.path(), "operator");
    file(
        &live,
        "backup-recipients.txt",
        &format!("# operator\n{public}\n"),
    );

    // A clerk writes orders without pause while three backups are taken.
    let (clerk, _, _, secret) = kiosk_app::demo::DEMO_ACCOUNTS[0];
    let mut writer = Command::new(env!("CARGO_BIN_EXE_order-burst"))
        .arg(&live)
        .arg("100000")
        .arg(clerk)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("order-burst");
    {
        use std::io::Write;
        writeln!(writer.stdin.take().unwrap(), "{secret}").unwrap();
    }
    let mut heads = Vec::new();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(700));
        let b = ctl(&live, &["backup", "create", "--to", out.to_str().unwrap()]).ok();
        heads.push(b["outbox_head"].as_i64().unwrap());
    }
    writer.kill().unwrap();
    writer.wait().unwrap();
    assert!(
        heads.windows(2).all(|w| w[0] < w[1]),
        "the orders were being written during the backups: {heads:?}"
    );
    let files = backups(&out);
    assert_eq!(files.len(), 3);
    // Not readable by others, and no part-written file left.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&files[2]).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
    // Each one opens with the operator's key in tools we did not write, and
    // holds a whole database: every order agrees with its row.
    for (i, b) in files.iter().enumerate() {
        let x = d.path().join(format!("x{i}"));
        let m = open_independently(b, &identity, &x);
        assert_eq!(m["outbox_head"], heads[i]);
        assert!(orders_whole(&x.join("station.db")) > 0);
        // No token store and no live WAL in a backup.
        assert!(!x.join("softhsm").exists() && !x.join("station.db-wal").exists());
    }

    // The disk dies; the station's token goes to the new machine.
    let new = d.path().join("new");
    std::fs::create_dir_all(&new).unwrap();
    for store in ["softhsm", "sm2-token"] {
        std::fs::rename(live.join(store), new.join(store)).unwrap();
    }
    moved_token(&new.join("softhsm/softhsm2.conf"), &live, &new);
    moved_token(&new.join("sm2-token/sm2-token.conf"), &live, &new);
    std::fs::remove_dir_all(&live).unwrap();

    let r = ctl(
        &new,
        &[
            "backup",
            "restore",
            files[2].to_str().unwrap(),
            "--identity",
            identity.to_str().unwrap(),
        ],
    )
    .ok();
    assert_eq!(r["outbox_head"], heads[2]);
    // The trail verifies, its rows keyed by the station's own token.
    let v = ctl(&new, &["audit", "verify"]).ok();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["keys_checked"], true, "{v}");
    assert!(v["keyed_rows"].as_i64().unwrap() > 100, "{v}");
    // The restored station goes on writing where its copy ended.
    let mut more = Command::new(env!("CARGO_BIN_EXE_order-burst"));
    more.arg(&new).arg("3").arg(clerk);
    let w = crate::support::run_with_stdin(more, &[secret]);
    assert_eq!(w.code, 0, "{}{}", w.stdout, w.stderr);
    let c = rusqlite::Connection::open(new.join("station.db")).unwrap();
    let (first_new, count): (i64, i64) = c
        .query_row(
            "SELECT min(seq), count(*) FROM outbox WHERE seq > ?1",
            [heads[2]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(first_new, heads[2] + 1);
    assert!(count > 0);
    assert_eq!(ctl(&new, &["audit", "verify"]).ok()["ok"], true);
}

#[test]
fn a_restore_refuses_the_wrong_key_a_damaged_or_forged_backup_a_newer_program_and_a_station_in_place(
) {
    let d = tempfile::tempdir().unwrap();
    let live = d.path().join("live");
    let out = d.path().join("backups");
    let app = file(d.path(), "app.json", kiosk_app::demo::APPLICATION_JSON);
    ctl(&live, &["order", "create", app.to_str().unwrap()]).ok();

    // No recipient, or a line that is no public key: nothing is written.
    ctl(&live, &["backup", "create", "--to", out.to_str().unwrap()]).refused("no_backup_recipient");
    file(
        &live,
        "backup-recipients.txt",
        "AGE-SECRET-KEY-1NOTAPUBLICKEY\n",
    );
    ctl(&live, &["backup", "create", "--to", out.to_str().unwrap()])
        .refused("bad_backup_recipient");
    assert!(!out.exists() || backups(&out).is_empty());
    let (identity, public) = operator_key(d.path(), "operator");
    file(&live, "backup-recipients.txt", &format!("{public}\n"));
    let b = ctl(&live, &["backup", "create", "--to", out.to_str().unwrap()]).ok();
    let backup = PathBuf::from(b["file"].as_str().unwrap());
    let restore = |target: &Path, file: &Path, id: &Path| {
        ctl(
            target,
            &[
                "backup",
                "restore",
                file.to_str().unwrap(),
                "--identity",
                id.to_str().unwrap(),
            ],
        )
    };
    // A refused restore into a new directory leaves no directory at all.
    let nothing_written = |target: &Path| {
        assert!(!target.exists(), "a refused restore left {target:?}");
        let left: Vec<_> = std::fs::read_dir(target.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".backup-"))
            .collect();
        assert!(left.is_empty(), "staging left behind: {left:?}");
    };

    // Another operator's key.
    let (other, _) = operator_key(d.path(), "other");
    let t = d.path().join("t1");
    restore(&t, &backup, &other).refused("backup_not_for_this_identity");
    nothing_written(&t);

    // One byte flipped in the middle; the file cut short.
    let mut bytes = std::fs::read(&backup).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let flipped = file(d.path(), "flipped.tar.age", "");
    std::fs::write(&flipped, &bytes).unwrap();
    let t = d.path().join("t2");
    restore(&t, &flipped, &identity).refused("backup_damaged");
    nothing_written(&t);
    let whole = std::fs::read(&backup).unwrap();
    let cut = d.path().join("cut.tar.age");
    std::fs::write(&cut, &whole[..whole.len() - 100]).unwrap();
    let t = d.path().join("t3");
    restore(&t, &cut, &identity).refused("backup_damaged");
    nothing_written(&t);

    // Forged: opened, another database put in, encrypted again to the
    // operator with the age tool. Its manifest no longer matches.
    let x = d.path().join("x");
    open_independently(&backup, &identity, &x);
    let elsewhere = d.path().join("elsewhere");
    ctl(&elsewhere, &["order", "create", app.to_str().unwrap()]).ok();
    std::fs::copy(elsewhere.join("station.db"), x.join("station.db")).unwrap();
    let forged = d.path().join("forged.tar.age");
    sh(&format!(
        "cd {} && tar -c station.db manifest.json $(ls | grep -v -e station.db -e manifest.json) | age -r {public} -o {}",
        x.display(),
        forged.display()
    ));
    let t = d.path().join("t4");
    let r = restore(&t, &forged, &identity).refused("backup_damaged");
    assert!(r["error"].to_string().contains("station.db"), "{r}");
    nothing_written(&t);

    // A newer program's backup, made whole again (manifest rehashed): a
    // downgrade is refused, not opened.
    let y = d.path().join("y");
    open_independently(&backup, &identity, &y);
    let db = y.join("station.db");
    tool(
        "sqlite3",
        &[db.to_str().unwrap(), "PRAGMA user_version = 9999"],
    );
    let mut m: Value =
        serde_json::from_str(&std::fs::read_to_string(y.join("manifest.json")).unwrap()).unwrap();
    let sum = tool("sha256sum", &[db.to_str().unwrap()]);
    let size = std::fs::metadata(&db).unwrap().len();
    for f in m["files"].as_array_mut().unwrap() {
        if f["path"] == "station.db" {
            f["sha256"] = sum.split_whitespace().next().unwrap().into();
            f["bytes"] = size.into();
        }
    }
    std::fs::write(y.join("manifest.json"), m.to_string()).unwrap();
    let newer = d.path().join("newer.tar.age");
    sh(&format!(
        "cd {} && tar -c * | age -r {public} -o {}",
        y.display(),
        newer.display()
    ));
    let t = d.path().join("t5");
    restore(&t, &newer, &identity).refused("newer_schema");
    nothing_written(&t);

    // Archives made by hand to write outside the data directory: an entry
    // climbing out with "..", and a symbolic link. Refused, nothing written.
    for (name, script) in [
        ("climb", "i = tarfile.TarInfo('../escaped'); i.size = 1; t.addfile(i, io.BytesIO(b'x'))"),
        ("link", "i = tarfile.TarInfo('ca'); i.type = tarfile.SYMTYPE; i.linkname = '/etc'; t.addfile(i)"),
    ] {
        let tar = d.path().join(format!("{name}.tar"));
        tool(
            "python3",
            &[
                "-c",
                &format!("import io, sys, tarfile\nt = tarfile.open(sys.argv[1], 'w')\n{script}\nt.close()"),
                tar.to_str().unwrap(),
            ],
        );
        let sealed = d.path().join(format!("{name}.tar.age"));
        tool(
            "age",
            &["-r", &public, "-o", sealed.to_str().unwrap(), tar.to_str().unwrap()],
        );
        let t = d.path().join(format!("t-{name}"));
        restore(&t, &sealed, &identity).refused("backup_damaged");
        nothing_written(&t);
        assert!(!d.path().join("escaped").exists());
    }

    // Never over a station in place, and nothing is left in it.
    restore(&live, &backup, &identity).refused("restore_over_station");
    let hidden: Vec<_> = std::fs::read_dir(&live)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".backup-"))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
    // And the real one restores.
    let t = d.path().join("t6");
    restore(&t, &backup, &identity).ok();
    assert_eq!(ctl(&t, &["audit", "verify"]).ok()["ok"], true);

    // The nightly timer keeps the newest few of this station's backups and
    // leaves anything else in the directory alone.
    let other = file(
        &out,
        "kiosk-station-another-20260101T000000.000Z.tar.age",
        "x",
    );
    let mut last = String::new();
    for _ in 0..3 {
        let b = ctl(
            &live,
            &[
                "backup",
                "create",
                "--to",
                out.to_str().unwrap(),
                "--keep",
                "2",
            ],
        )
        .ok();
        last = b["file"].as_str().unwrap().to_string();
    }
    let left = backups(&out);
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.contains(&other) && left.contains(&PathBuf::from(&last)));
    assert!(!left.contains(&backup), "the oldest is gone");
    // The clock set back a year: the backup just written sorts first by
    // its name, and is kept all the same.
    let mut c = Command::new("faketime");
    c.env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .args(["-f", "-365d"])
        .arg(kiosk_e2e::kioskctl())
        .args(["--json", "--data-dir"])
        .arg(&live)
        .args([
            "backup",
            "create",
            "--to",
            out.to_str().unwrap(),
            "--keep",
            "1",
        ])
        .env_remove("KIOSK_DATA_DIR");
    let b = crate::support::run(c).ok();
    let written = PathBuf::from(b["file"].as_str().unwrap());
    let left = backups(&out);
    assert!(left.contains(&written), "{left:?}");
    assert_eq!(
        left.len(),
        2,
        "the backup just written and the other station's: {left:?}"
    );
}

/// The database a station of schema 16 left (`tests/fixtures/schema-16`).
const SCHEMA_16: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/schema-16/station.db");

fn user_version(db: &Path) -> i64 {
    tool("sqlite3", &[db.to_str().unwrap(), "PRAGMA user_version"])
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_database_of_the_previous_schema_is_backed_up_as_it_is_then_migrated_and_verifies() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let db = data.join(kiosk_app::DB_FILE);
    std::fs::copy(SCHEMA_16, &db).unwrap();
    assert_eq!(user_version(&db), 16);
    let (identity, public) = operator_key(d.path(), "operator");
    std::fs::write(data.join("backup-recipients.txt"), format!("{public}\n")).unwrap();

    // The newer program's backup, as an upgrade takes it: the database as
    // the older one left it, not migrated first.
    let out = d.path().join("backups");
    let b = ctl(&data, &["backup", "create", "--to", out.to_str().unwrap()]).ok();
    let backup = PathBuf::from(b["file"].as_str().unwrap());
    let manifest = open_independently(&backup, &identity, &d.path().join("opened"));
    assert_eq!(manifest["schema_version"], 16, "{manifest}");
    assert_eq!(
        user_version(&d.path().join("opened").join(kiosk_app::DB_FILE)),
        16
    );
    assert_eq!(user_version(&db), 16, "the live database is untouched");

    // The first command of the newer program migrates it; the trail the
    // older one wrote verifies, its orders read back whole.
    let v = ctl(&data, &["audit", "verify"]).ok();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(user_version(&db), kiosk_store::SCHEMA_VERSION);
    let number = tool(
        "sqlite3",
        &[
            db.to_str().unwrap(),
            "SELECT number FROM orders ORDER BY number LIMIT 1",
        ],
    );
    let shown = ctl(&data, &["order", "show", number.trim()]).ok();
    assert_eq!(shown["state"], "completed");
    assert_eq!(
        shown["application"]["organization"]["uscc"],
        "91500000MA5U8K2T0A"
    );
    // And goes on: a new order by the account the older program's orders
    // were taken by, whose records are of the new version.
    let burst = Command::new(env!("CARGO_BIN_EXE_order-burst"))
        .arg(&data)
        .arg("1")
        .output()
        .unwrap();
    assert!(
        burst.status.success(),
        "{}",
        String::from_utf8_lossy(&burst.stderr)
    );
    assert_eq!(ctl(&data, &["audit", "verify"]).ok()["ok"], true);
    let versions = tool(
        "sqlite3",
        &[
            db.to_str().unwrap(),
            "SELECT group_concat(DISTINCT payload_version) FROM outbox",
        ],
    );
    assert_eq!(versions.trim(), "1,2");

    // Rollback is a restore: the backup of schema 16 restores, and the
    // program migrates it in turn.
    let again = d.path().join("again");
    let mut c = std::process::Command::new(kiosk_e2e::kioskctl());
    c.env_remove("KIOSK_DATA_DIR")
        .args(["--json", "--data-dir"])
        .arg(&again)
        .args(["backup", "restore"])
        .arg(&backup)
        .arg("--identity")
        .arg(&identity);
    crate::support::run(c).ok();
    assert_eq!(ctl(&again, &["audit", "verify"]).ok()["ok"], true);
    assert_eq!(
        user_version(&again.join(kiosk_app::DB_FILE)),
        kiosk_store::SCHEMA_VERSION
    );
}
