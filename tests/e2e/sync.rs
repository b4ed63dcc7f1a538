//! Sync with the reference central server on a throwaway PostgreSQL,
//! through the real `kioskctl sync`: the round trip of real orders, keys,
//! catalog, review decisions and a renewed station certificate; the
//! station's CRLs, stored at the central and served to relying parties;
//! 100 randomized fault runs through a fault-injecting proxy with kills of
//! both sides; and the requests the central must refuse.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use kiosk_e2e::central::{self, Central};
use kiosk_e2e::output_ok;
use kiosk_e2e::pg::Postgres;
use kiosk_e2e::proxy::{Fault, Proxy};
use serde_json::Value;

use crate::keys::{
    application, bare_station, central_signs, production_station, production_station_with, Hsm,
};
use crate::support::{run, Run};

struct Rig {
    central: Central,
    tls: (PathBuf, PathBuf),
    // Dropped last: the server goes before its database.
    pg: Postgres,
    max_skew: u64,
}

impl Rig {
    /// A station's master as the central's database holds it.
    fn master_of(&self, station: &str) -> Vec<u8> {
        let out = Command::new("psql")
            .arg(self.pg.url())
            .args(["-At", "-c"])
            .arg(format!(
                "SELECT encode(master, 'hex') FROM station_masters WHERE station_id = '{station}'"
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        hex::decode(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
    }

    fn new(max_skew: u64) -> Rig {
        let pg = Postgres::start();
        let tls = central::tls_init(&pg.dir().join("tls"));
        let central = Central::start(&pg.url(), &tls, "127.0.0.1:0", max_skew);
        Rig {
            central,
            tls,
            pg,
            max_skew,
        }
    }

    fn url(&self) -> String {
        format!("https://{}", self.central.addr)
    }

    fn admin(&self, args: &[&str]) -> Value {
        central::admin(&self.pg.url(), args)
    }

    /// A `central` admin command that must fail: its exit code and stderr.
    fn admin_fails(&self, args: &[&str]) -> (Option<i32>, String) {
        let out = Command::new(kiosk_e2e::workspace_bin("central", "central"))
            .env("CENTRAL_DATABASE_URL", self.pg.url())
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "central {args:?} succeeded");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Registers the station by its current sub-CA certificate.
    fn register(&self, h: &Hsm) -> String {
        let id = station_id(h);
        let cert = h.data().join("ca").join("station-ca.pem");
        self.admin(&[
            "station",
            "add",
            "--id",
            &id,
            "--cert",
            cert.to_str().unwrap(),
        ]);
        id
    }

    fn sync_command(&self, h: &Hsm, url: &str) -> Command {
        let mut c = h.command(kiosk_e2e::kioskctl().to_str().unwrap());
        c.arg("--json")
            .arg("--data-dir")
            .arg(h.data())
            .arg("sync")
            .env("KIOSK_CENTRAL_URL", url)
            .env("KIOSK_CENTRAL_CA", &self.tls.0);
        c
    }

    fn sync(&self, h: &Hsm) -> Run {
        run(self.sync_command(h, &self.url()))
    }

    /// Another `central serve` on the rig's database, whose clock runs
    /// `offset_secs` off the real time (`--clock-offset-secs`, fixed when it
    /// starts; nothing over the network can move a central's clock): the
    /// central as it will be, or was, that much later or earlier, without
    /// waiting.
    fn central_shifted(&self, offset_secs: i64) -> Central {
        self.another_central(&format!("--clock-offset-secs={offset_secs}"))
    }

    /// Another `central serve` on the rig's database, with one more
    /// argument.
    fn another_central(&self, arg: &str) -> Central {
        let url = self.pg.url();
        Central::start_with(&url, &self.tls, "127.0.0.1:0", self.max_skew, &[arg])
    }

    /// Publishes the shipped catalog as version 6 with one edit
    /// (`from`, `to`), written under `dir`; returns its file.
    fn publish_catalog_v6(&self, dir: &std::path::Path, (from, to): (&str, &str)) -> PathBuf {
        let catalog = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../catalog/catalog.toml"
        ))
        .unwrap()
        .replacen("version = 5", "version = 6", 1);
        assert!(catalog.contains(from), "{from}");
        let cat_file = dir.join("catalog-v6.toml");
        std::fs::write(&cat_file, catalog.replacen(from, to, 1)).unwrap();
        self.admin(&["catalog-publish", cat_file.to_str().unwrap()]);
        cat_file
    }

    /// Every record the central holds for `station`, oldest first.
    fn records(&self, station: &str) -> Vec<Value> {
        let out = self.pg.psql(&format!(
            "SELECT coalesce(json_agg(json_build_object('seq', seq, 'id', id, 'kind', kind,
                 'payload_version', payload_version, 'payload', payload) ORDER BY seq), '[]')
             FROM records WHERE station_id = '{station}'"
        ));
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

fn station_id(h: &Hsm) -> String {
    h.ctl(&["sync", "status"]).ok()["station_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The station's outbox, read straight from its file, in the central's
/// shape.
fn outbox(h: &Hsm) -> Vec<Value> {
    let c = rusqlite::Connection::open(h.data().join("station.db")).unwrap();
    let mut s = c
        .prepare("SELECT seq, id, kind, payload_version, payload FROM outbox ORDER BY seq")
        .unwrap();
    s.query_map([], |r| {
        let payload: String = r.get(4)?;
        Ok(serde_json::json!({
            "seq": r.get::<_, i64>(0)?,
            "id": r.get::<_, String>(1)?,
            "kind": r.get::<_, String>(2)?,
            "payload_version": r.get::<_, i64>(3)?,
            "payload": serde_json::from_str::<Value>(&payload).unwrap(),
        }))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

/// Completed counter orders, written by the crash-test writer.
fn burst(h: &Hsm, orders: u32) {
    h.ctl(&["clerk", "list"]).ok(); // t01 exists and is logged in
    let mut c = h.plain(env!("CARGO_BIN_EXE_order-burst"));
    c.arg(h.data()).arg(orders.to_string()).arg("t01");
    let r = crate::support::run_with_stdin(c, &[crate::support::CLERK_SECRET]);
    assert_eq!(r.code, 0, "order-burst: {}{}", r.stdout, r.stderr);
}

/// A production station whose sub-CA the central CA certified, registered
/// at a new central: the station, the central CA's directory, the
/// station's CSR, the rig and the station's id.
fn registered_station() -> (Hsm, PathBuf, String, Rig, String) {
    let (h, central_dir, csr) = production_station();
    let bundle = central_signs(&central_dir, &csr, "1825", "bundle.pem");
    h.boss(&["ca", "import", bundle.to_str().unwrap()], &[])
        .ok();
    let rig = Rig::new(300);
    let station = rig.register(&h);
    (h, central_dir, csr, rig, station)
}

/// Backups of `h` encrypted to a new operator key: its identity file.
fn backups_to_operator(h: &Hsm) -> PathBuf {
    let (identity, public) = crate::backup::operator_key(h.dir.path(), "operator");
    std::fs::write(
        h.data().join("backup-recipients.txt"),
        format!("{public}\n"),
    )
    .unwrap();
    identity
}

#[test]
fn round_trip_of_orders_keys_catalog_decisions_and_station_certificate() {
    let (h, central_dir, csr, rig, station) = registered_station();

    // Real records: a personalized key, a revocation, an order that needs
    // the central's review (a renewal expired for more than a year).
    let (_, issued) = h.issued_key();
    let serial = issued["certificate_serial"].as_str().unwrap().to_string();
    h.privileged(&["cert", "revoke", &serial, "--reason", "key-compromise"])
        .ok();
    let mut late: Value = serde_json::from_str(kiosk_app::demo::APPLICATION_JSON).unwrap();
    late["operation"] = "renew".into();
    late["certificate"] = serde_json::json!({ "not_after": "2025-01-01",
        "serial": "2255bf7e67174d3a9c163896b01cefd97659179b" });
    let late_file = h.dir.path().join("late.json");
    std::fs::write(&late_file, late.to_string()).unwrap();
    let review = h
        .ctl(&["order", "create", late_file.to_str().unwrap()])
        .ok();
    let review_id = review["id"].as_str().unwrap().to_string();
    h.ctl(&["order", "check", &review_id, "--all", "--status", "ok"])
        .ok();
    assert_eq!(
        h.ctl(&["order", "advance", &review_id, "approve"]).ok()["state"],
        "central-review"
    );

    let first = rig.sync(&h).ok();
    let sent = first["sync"]["sent"].as_u64().unwrap();
    let local = outbox(&h);
    assert_eq!(sent as usize, local.len(), "{first}");
    assert_eq!(first["sync"]["pending"], 0);
    // Everything is at the central, byte for byte in meaning, and can be
    // queried there.
    assert_eq!(rig.records(&station), local);
    let kinds = rig.pg.psql(&format!(
        "SELECT string_agg(DISTINCT kind, ',' ORDER BY kind) FROM records WHERE station_id = '{station}'"
    ));
    for k in [
        "order.created",
        "order.completed",
        "certificate.issued",
        "certificate.revoked",
        "order.checked",
    ] {
        assert!(kinds.split(',').any(|x| x == k), "{k} missing in {kinds}");
    }
    let at_central = rig.pg.psql(&format!(
        "SELECT count(*) FROM records WHERE kind = 'certificate.issued' AND payload->'data'->>'serial' = '{serial}'"
    ));
    assert_eq!(at_central, "1");
    // The revocation comes back as part of the network's revocation list.
    assert!(
        first["sync"]["revocations"].as_u64().unwrap() >= 1,
        "{first}"
    );
    let issuer = rig.pg.psql(&format!(
        "SELECT issuer FROM revocations WHERE serial = '{serial}'"
    ));
    assert!(!issuer.is_empty(), "revocation carries its issuer");

    // The central decides the review; the station's order moves on.
    let number = review["number"].as_str().unwrap();
    // Order numbers are per station: the decision names the station, and
    // without it the central does not guess.
    let (code, _) = rig.admin_fails(&["decide", "--order", number, "--approve"]);
    assert_eq!(code, Some(2), "--station is required");
    let (code, other) = rig.admin_fails(&[
        "decide",
        "--station",
        "elsewhere",
        "--order",
        number,
        "--approve",
    ]);
    assert_eq!(code, Some(1));
    assert!(other.contains("not known"), "{other}");
    rig.admin(&[
        "decide",
        "--station",
        &station,
        "--order",
        number,
        "--approve",
        "--by",
        "reviewer-7",
    ]);
    // A catalog published at the central changes the station's fee.
    let before = h
        .ctl(&["fee", "--provider", "ezca", "--operation", "new"])
        .ok();
    assert_eq!(before["total_fen"], 48000, "{before}");
    rig.publish_catalog_v6(h.dir.path(), ("amount_fen = 48000", "amount_fen = 52000"));
    // A renewed station sub-CA certificate, for the same key.
    let renewed = central_signs(&central_dir, &csr, "3000", "renewed.pem");
    rig.admin(&[
        "station",
        "certificate",
        "--id",
        &station,
        "--chain",
        renewed.to_str().unwrap(),
    ]);

    let second = rig.sync(&h).ok();
    assert_eq!(second["sync"]["catalog_version"], 6, "{second}");
    assert_eq!(second["sync"]["decisions_applied"], 1, "{second}");
    assert_eq!(
        second["sync"]["station_certificate_renewed"], true,
        "{second}"
    );
    let after = h
        .ctl(&["fee", "--provider", "ezca", "--operation", "new"])
        .ok();
    assert_eq!(after["total_fen"], 52000, "{after}");
    let order = h.ctl(&["order", "show", &review_id]).ok();
    assert_eq!(order["state"], "awaiting-payment", "{order}");
    let installed = std::fs::read_to_string(h.data().join("ca").join("station-ca.pem")).unwrap();
    let offered = std::fs::read_to_string(central_dir.join("renewed.pem.sub.pem")).unwrap();
    assert_eq!(installed.trim(), offered.trim());

    // The station now signs with the renewed certificate, which the central
    // knows; what the second run queued (decision, catalog, CA) arrives.
    let third = rig.sync(&h).ok();
    assert_eq!(third["sync"]["pending"], 0, "{third}");
    assert_eq!(rig.records(&station), outbox(&h));
    let status = h.ctl(&["sync", "status"]).ok();
    assert!(status["status"]["last_success_at"].is_string(), "{status}");
    assert_eq!(status["status"]["pending"], 0);
}

/// A plain HTTP GET, unsigned, as a relying party makes it: (status,
/// content type, body).
fn fetch(addr: SocketAddr, path: &str, dir: &std::path::Path) -> (u16, String, Vec<u8>) {
    let file = dir.join("fetched");
    let _ = std::fs::remove_file(&file);
    let out = output_ok(
        Command::new("curl")
            .args(["-s", "-o"])
            .arg(&file)
            .args(["-w", "%{http_code} %{content_type}"])
            .arg(format!("http://{addr}{path}")),
        "curl",
    );
    let out = String::from_utf8(out).unwrap();
    let (status, content_type) = out.split_once(' ').unwrap();
    (
        status.parse().unwrap(),
        content_type.to_string(),
        std::fs::read(&file).unwrap_or_default(),
    )
}

/// The DER of the first PEM block of `pem` (`kind`: `x509` or `crl`).
fn der_of(kind: &str, pem: &std::path::Path) -> Vec<u8> {
    output_ok(
        Command::new("openssl")
            .args([kind, "-outform", "DER", "-in"])
            .arg(pem),
        "openssl",
    )
}

/// The station's CRLs as its database holds them: (number, uploaded).
fn station_crls(h: &Hsm) -> Vec<(i64, bool)> {
    let c = rusqlite::Connection::open(h.data().join("station.db")).unwrap();
    let mut s = c
        .prepare("SELECT number, uploaded_at IS NOT NULL FROM crls ORDER BY number")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// Copies the station database files (`station.db*`) from `from` to `to`,
/// as a backup and its restore do; no kioskctl runs meanwhile.
fn copy_database(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(to).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("station.db")
        {
            std::fs::remove_file(p).unwrap();
        }
    }
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("station.db")
        {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn the_central_serves_the_newest_crl_of_each_station_to_relying_parties() {
    let h = Hsm::new();
    let rig = Rig::new(300);
    let station = rig.register(&h);
    let public = rig.another_central("--public-listen=127.0.0.1:0");
    let web = public.public.expect("a plain HTTP listener");
    let dir = h.dir.path();
    let crl_path = format!("/crl/{station}.crl");
    let served_numbers = || {
        rig.pg.psql(&format!(
            "SELECT string_agg(number::text, ',' ORDER BY number) FROM station_crls WHERE station_id = '{station}'"
        ))
    };

    // Before any upload: the CA certificate is known, no CRL is.
    let (status, _, _) = fetch(web, &crl_path, dir);
    assert_eq!(status, 404);
    let (status, content_type, body) = fetch(web, &format!("/ca/{station}.cer"), dir);
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/pkix-cert")
    );
    assert_eq!(
        body,
        der_of("x509", &h.data().join("ca").join("station-ca.pem"))
    );
    let unknown = "0193a2b4-7c1d-7e2f-8a3b-4c5d6e7f8091";
    assert_eq!(fetch(web, &format!("/crl/{unknown}.crl"), dir).0, 404);
    assert_eq!(fetch(web, &format!("/ca/{unknown}.cer"), dir).0, 404);
    assert_eq!(fetch(web, &format!("/crl/{station}.pem"), dir).0, 404);
    // The operator's status is on its loopback listener, not on the public
    // one nor on the stations' API.
    let (status, _, body) = fetch(public.status, "/v1/status", dir);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains(&station));
    assert_eq!(fetch(web, "/status", dir).0, 404);
    let api = output_ok(
        Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&rig.tls.0)
            .arg(format!("{}/v1/status", rig.url())),
        "curl",
    );
    assert_eq!(String::from_utf8_lossy(&api), "404");
    let e = rig.admin_fails(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        rig.tls.0.to_str().unwrap(),
        "--tls-key",
        rig.tls.1.to_str().unwrap(),
        "--status-listen",
        "0.0.0.0:0",
    ]);
    assert!(e.1.contains("loopback"), "{e:?}");

    // A key issued, then revoked for key compromise: the revocation signs
    // a CRL at once; the sync sends it after the records.
    let (_, issued) = h.issued_key();
    let serial = issued["certificate_serial"].as_str().unwrap().to_string();
    let revoked = h
        .privileged(&["cert", "revoke", &serial, "--reason", "key-compromise"])
        .ok();
    let number = revoked["crl"]["number"].as_i64().unwrap();
    let first = rig.sync(&h).ok();
    assert_eq!(first["sync"]["crl_uploaded"], number, "{first}");
    assert!(
        station_crls(&h).iter().all(|c| c.1),
        "{:?}",
        station_crls(&h)
    );
    let station_crl = h.data().join("ca").join("station.crl");
    let (status, content_type, body) = fetch(web, &crl_path, dir);
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/pkix-crl")
    );
    assert_eq!(body, der_of("crl", &station_crl));
    let fetched = dir.join("fetched");
    let text = String::from_utf8(output_ok(
        Command::new("openssl")
            .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
            .arg(&fetched),
        "openssl crl",
    ))
    .unwrap();
    let listed = text.to_lowercase().replace(':', "");
    assert!(
        listed.contains(&format!(
            "serial number {}",
            serial.trim_start_matches("00")
        )),
        "{serial} not in {text}"
    );
    assert!(text.contains("Key Compromise"), "{text}");
    // Only the newest CRL went: the one personalization signed is older.
    assert_eq!(served_numbers(), number.to_string());

    // Two CRLs signed since: the newer one is sent and served, the older
    // one is marked delivered with it.
    let a = h.ctl(&["crl"]).ok()["number"].as_i64().unwrap();
    let b = h.ctl(&["crl"]).ok()["number"].as_i64().unwrap();
    assert_eq!((a, b), (number + 1, number + 2));
    let backup = dir.join("backup");
    copy_database(&h.data(), &backup);
    let second = rig.sync(&h).ok();
    assert_eq!(second["sync"]["crl_uploaded"], b, "{second}");
    assert!(station_crls(&h).iter().all(|c| c.1));
    assert_eq!(fetch(web, &crl_path, dir).2, der_of("crl", &station_crl));
    assert_eq!(served_numbers(), format!("{number},{b}"));

    // The station database restored from the backup: it sends CRL b again,
    // freshly signed; the central has it, refuses it as not newer, and the
    // station marks it delivered. The CRL served stays.
    copy_database(&backup, &h.data());
    assert!(!station_crls(&h).iter().all(|c| c.1));
    let again = rig.sync(&h).ok();
    assert!(again["sync"]["crl_uploaded"].is_null(), "{again}");
    assert!(station_crls(&h).iter().all(|c| c.1));
    assert_eq!(served_numbers(), format!("{number},{b}"));
    let served = fetch(web, &crl_path, dir).2;
    assert_eq!(served, der_of("crl", &station_crl));

    // A forged CRL in the station database (the revoked serial changed, so
    // the certificate would seem good again), sent in a properly signed
    // request: the central refuses it and keeps serving the real one.
    let digits = serial.trim_start_matches("00");
    let serial_bytes: Vec<u8> = (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect();
    let mut forged = served.clone();
    let at = forged
        .windows(serial_bytes.len())
        .position(|w| w == serial_bytes)
        .expect("the serial in the CRL");
    forged[at + serial_bytes.len() - 1] ^= 0x01;
    let db = rusqlite::Connection::open(h.data().join("station.db")).unwrap();
    db.execute(
        "INSERT INTO crls (number, this_update, next_update, der, revoked)
         SELECT number + 100, this_update, next_update, ?1, revoked FROM crls
         ORDER BY number DESC LIMIT 1",
        [&forged],
    )
    .unwrap();
    drop(db);
    let r = rig.sync(&h).refused("central_refused");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad_crl_signature"),
        "{r}"
    );
    assert_eq!(fetch(web, &crl_path, dir).2, served);
    assert_eq!(served_numbers(), format!("{number},{b}"));
    assert_eq!(station_crls(&h).last(), Some(&(b + 100, false)));
}

#[test]
fn offline_is_recorded_and_nothing_is_lost() {
    let h = Hsm::new();
    burst(&h, 2);
    let queued = outbox(&h).len() as i64;
    let port = kiosk_e2e::pg::free_port();
    let mut c = h.command(kiosk_e2e::kioskctl().to_str().unwrap());
    c.args(["--json", "--data-dir"])
        .arg(h.data())
        .arg("sync")
        .env("KIOSK_CENTRAL_URL", format!("https://127.0.0.1:{port}"))
        .env(
            "KIOSK_CENTRAL_CA",
            h.data().join("ca").join("station-ca.pem"),
        )
        .env("KIOSK_SYNC_TIMEOUT_SECS", "2");
    let r = run(c).refused("central_unreachable");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("离线"),
        "{r}"
    );
    let status = h.ctl(&["sync", "status"]).ok();
    assert_eq!(status["status"]["pending"], queued);
    assert_eq!(status["status"]["last_error_code"], "central_unreachable");
    assert!(status["status"]["last_success_at"].is_null());
    // Not set up at all: said so, with what to set.
    let mut c = h.command(kiosk_e2e::kioskctl().to_str().unwrap());
    c.args(["--json", "--data-dir"])
        .arg(h.data())
        .arg("sync")
        .env_remove("KIOSK_CENTRAL_URL");
    run(c).refused("sync_not_configured");
    // Plain HTTP, or a central whose certificate is not pinned: refused
    // before anything is sent, and recorded as the last failure (the
    // console shows it); nothing queued moves.
    for (url, ca) in [
        (format!("http://127.0.0.1:{port}"), true),
        (format!("https://127.0.0.1:{port}"), false),
    ] {
        let mut c = h.command(kiosk_e2e::kioskctl().to_str().unwrap());
        c.args(["--json", "--data-dir"])
            .arg(h.data())
            .arg("sync")
            .env("KIOSK_CENTRAL_URL", &url)
            .env_remove("KIOSK_CENTRAL_CA");
        if ca {
            c.env(
                "KIOSK_CENTRAL_CA",
                h.data().join("ca").join("station-ca.pem"),
            );
        }
        let code = if ca {
            "plain_http"
        } else {
            "central_not_pinned"
        };
        run(c).refused(code);
        let now = h.ctl(&["sync", "status"]).ok();
        assert_eq!(now["status"]["last_error_code"], code, "{now}");
        assert_eq!(now["status"]["pending"], status["status"]["pending"]);
        assert_eq!(now["status"]["acked_seq"], status["status"]["acked_seq"]);
        assert_eq!(
            now["status"]["last_success_at"],
            status["status"]["last_success_at"]
        );
    }
}

/// A small deterministic generator, seeded per run and printed, so a
/// failing fault sequence can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Log-uniform between `lo` and `hi`.
    fn log_between(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = ((lo as f64).ln(), (hi as f64).ln());
        (l + (h - l) * (self.below(1_000_000) as f64 / 1e6)).exp() as u64
    }
}

#[test]
fn hundred_fault_runs_lose_nothing_and_duplicate_nothing() {
    let h = Hsm::new();
    let mut rig = Rig::new(300);
    let station = rig.register(&h);
    // 10,000 records queued by real orders (9 records per order).
    burst(&h, 1112);
    assert!(outbox(&h).len() >= 10_000);
    let proxy = Proxy::start(rig.central.addr);
    let via = format!("https://{}", proxy.addr);
    let seed = std::env::var("KIOSK_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("fault seed {seed} (KIOSK_FAULT_SEED to replay)");
    let mut rng = Rng(seed);
    let mut interrupted = 0;
    let mut disturbed = 0;
    let mut retried = 0;
    let mut tally = [0u32; 6];
    for _ in 0..100 {
        // The counter keeps working between runs.
        burst(&h, 10);
        let kind = rng.below(6) as usize;
        tally[kind] += 1;
        let batch = (20 + rng.below(2000)).to_string();
        match kind {
            0 => proxy.plan(&[Fault::CloseAfter(rng.log_between(200, 200_000))]),
            1 => proxy.plan(&[Fault::ResetAfter(rng.log_between(200, 200_000))]),
            2 => proxy.plan(&[Fault::Delay(Duration::from_millis(1 + rng.below(40)))]),
            5 => proxy.plan(&[
                Fault::ResetAfter(rng.log_between(200, 100_000)),
                Fault::CloseAfter(rng.log_between(200, 100_000)),
            ]),
            _ => proxy.plan(&[]),
        }
        let mut c = rig.sync_command(&h, &via);
        c.env("KIOSK_SYNC_BATCH", &batch)
            .env("KIOSK_SYNC_TIMEOUT_SECS", "5")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let fired_before = proxy.fired();
        let accepted_before = proxy.accepted();
        let mut child = c.spawn().unwrap();
        let mut killed_mid_run = false;
        let pause = Duration::from_millis(5 + rng.below(250));
        match kind {
            3 | 5 => {
                // kill -9 the station mid-sync, once it is on the wire.
                // Not earlier: SoftHSM2's file backend rewrites token.object
                // in place at every login (Token::loginUser ->
                // setTokenFlags), so a kill during the login empties the
                // file and the test's station token itself is gone.
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while proxy.accepted() == accepted_before
                    && child.try_wait().unwrap().is_none()
                    && std::time::Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(pause);
                killed_mid_run = child.try_wait().unwrap().is_none();
                let _ = child.kill();
            }
            4 => {
                // kill -9 the central mid-batch, then restart it.
                std::thread::sleep(pause);
                killed_mid_run = child.try_wait().unwrap().is_none();
                rig.central.kill9();
                rig.central = Central::start(&rig.pg.url(), &rig.tls, "127.0.0.1:0", rig.max_skew);
                proxy.set_upstream(rig.central.addr);
            }
            _ => {}
        }
        let out = child.wait_with_output().unwrap();
        if killed_mid_run || proxy.fired() > fired_before {
            disturbed += 1;
        }
        match out.status.code() {
            Some(0) => {
                let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                if v["sync"]["retries"].as_u64().unwrap_or(0) > 0 {
                    retried += 1;
                }
            }
            Some(1) => {
                interrupted += 1;
                let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
                let code = v["error"]["code"].as_str().unwrap_or("");
                assert!(
                    ["central_unreachable", "central_unavailable"].contains(&code),
                    "a fault must read as the network or the central being away, not as a refusal: {v} (seed {seed})"
                );
            }
            None => interrupted += 1,
            Some(other) => panic!("exit {other}: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
    proxy.plan(&[]);
    eprintln!(
        "fault kinds {tally:?}: {disturbed} runs hit by a fault, {interrupted} of them stopped, \
         {retried} recovered within the run"
    );
    assert!(
        disturbed >= 60,
        "the faults must strike the runs: {disturbed}"
    );
    let last = run(rig.sync_command(&h, &via)).ok();
    assert_eq!(last["sync"]["pending"], 0, "{last}");

    // Exactly the station's records: none lost, none duplicated, no gap.
    let local = outbox(&h);
    let remote = rig.records(&station);
    assert_eq!(remote.len(), local.len(), "seed {seed}");
    for (i, r) in remote.iter().enumerate() {
        assert_eq!(r["seq"], i as i64 + 1, "gap at {i} (seed {seed})");
    }
    assert!(remote == local, "records differ (seed {seed})");
    let committed = rig.pg.psql(&format!(
        "SELECT committed_seq FROM stations WHERE id = '{station}'"
    ));
    assert_eq!(committed, local.len().to_string());
}

/// Requests the station copied to its trace directory: (head lines, body).
fn traced(dir: &std::path::Path) -> Vec<(Vec<String>, Vec<u8>)> {
    let mut heads: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "head"))
        .collect();
    heads.sort();
    heads
        .into_iter()
        .map(|p| {
            let head = std::fs::read_to_string(&p).unwrap();
            let body = std::fs::read(p.with_extension("body")).unwrap();
            (head.lines().map(str::to_string).collect(), body)
        })
        .collect()
}

/// Sends a traced request again with curl to the central at `url`: (HTTP
/// status, refusal code).
fn resend(
    rig: &Rig,
    url: &str,
    head: &[String],
    body: &[u8],
    dir: &std::path::Path,
) -> (u16, String) {
    let (method, path) = head[0].split_once(' ').unwrap();
    let body_file = dir.join("resend.body");
    std::fs::write(&body_file, body).unwrap();
    let mut c = Command::new("curl");
    c.args(["-s", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
        .arg(&rig.tls.0)
        .args(["-X", method]);
    for h in &head[1..] {
        c.args(["-H", h]);
    }
    if method == "POST" {
        c.args(["-H", "content-type: application/json", "--data-binary"])
            .arg(format!("@{}", body_file.display()));
    }
    let out = c.arg(format!("{url}{path}")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (json, status) = text.rsplit_once('\n').unwrap();
    let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    (
        status.trim().parse().unwrap(),
        v["code"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn forged_revoked_modified_and_replayed_requests_are_refused() {
    let rig = Rig::new(300);
    let a = Hsm::new();
    let station = rig.register(&a);
    burst(&a, 2);
    let trace = a.dir.path().join("trace");
    let mut c = rig.sync_command(&a, &rig.url());
    c.env("KIOSK_SYNC_TRACE_DIR", &trace);
    run(c).ok();
    let stored = rig.records(&station).len();
    let requests = traced(&trace);
    let (head, body) = requests
        .iter()
        .find(|(h, _)| h[0].starts_with("POST "))
        .expect("a batch was traced")
        .clone();

    // Replayed at once: the nonce was used.
    assert_eq!(
        resend(&rig, &rig.url(), &head, &body, a.dir.path()),
        (409, "replayed".into())
    );
    // Modified on the way (one byte of the batch): the signature fails.
    let mut changed = body.clone();
    let at = changed
        .windows(13)
        .position(|w| w == b"order.created")
        .unwrap();
    changed[at + 6] = b'C';
    assert_eq!(
        resend(&rig, &rig.url(), &head, &changed, a.dir.path()),
        (401, "bad_signature".into())
    );
    // Replayed after the window (to a central whose clock is already past
    // it): refused for its age, before its nonce; and likewise to a central
    // whose clock is still before the window, as for a station clock that
    // runs ahead.
    let beyond = rig.max_skew as i64 + 1;
    for offset in [beyond, -beyond] {
        let shifted = rig.central_shifted(offset);
        assert_eq!(
            resend(&rig, &shifted.url(), &head, &body, a.dir.path()),
            (401, "clock_skew".into()),
            "clock {offset:+} s"
        );
    }
    // To a central whose clock is past the station certificate's end
    // (thirty years on): refused for the certificate, whatever else.
    let expired = rig.central_shifted(30 * 366 * 24 * 3600);
    assert_eq!(
        resend(&rig, &expired.url(), &head, &body, a.dir.path()),
        (401, "certificate_expired".into())
    );
    assert_eq!(
        rig.records(&station).len(),
        stored,
        "nothing stored by refused requests"
    );

    // A station the central does not know.
    let b = Hsm::new();
    let r = rig.sync(&b).refused("central_unknown_station");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown_station"),
        "{r}"
    );
    // A station registered with another certificate than the one it signs with.
    let b_id = station_id(&b);
    let a_cert = a.data().join("ca").join("station-ca.pem");
    rig.admin(&[
        "station",
        "add",
        "--id",
        &b_id,
        "--cert",
        a_cert.to_str().unwrap(),
    ]);
    let r = rig.sync(&b).refused("central_unknown_station");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown_certificate"),
        "{r}"
    );
    // A revoked station.
    rig.admin(&["station", "revoke", "--id", &station]);
    burst(&a, 1);
    let r = rig.sync(&a).refused("central_station_revoked");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("吊销"),
        "{r}"
    );
    assert_eq!(rig.records(&station).len(), stored);
}

/// The central's sealed audit position for `station`: (seq, hash).
fn central_audit(rig: &Rig, station: &str) -> (i64, String) {
    let out = rig.pg.psql(&format!(
        "SELECT audit_seq || ' ' || coalesce(audit_hash, '') FROM stations WHERE id = '{station}'"
    ));
    let (seq, hash) = out.trim().split_once(' ').unwrap();
    (seq.parse().unwrap(), hash.to_string())
}

/// What someone holding `station.db`, but not the station token, can do:
/// lower the fee of a paid order, in the order, in the outbox record the
/// central is told and in the audit row that vouches for it, then compute
/// the whole chain again from there and set its head. Returns the
/// rewritten audit row's seq.
fn forge_a_payment(db: &std::path::Path) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    let (outbox, payload): (i64, String) = c
        .query_row(
            "SELECT seq, payload FROM outbox WHERE kind = 'order.paid' ORDER BY seq LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let mut p: Value = serde_json::from_str(&payload).unwrap();
    assert!(
        p["data"]["command"]["amount_fen"].as_i64().unwrap() > 1,
        "{p}"
    );
    p["data"]["command"]["amount_fen"] = serde_json::json!(1);
    let forged = p.to_string();
    c.execute(
        "UPDATE outbox SET payload = ?1 WHERE seq = ?2",
        (&forged, outbox),
    )
    .unwrap();
    let sha = kiosk_sync::fingerprint(forged.as_bytes());
    let seq: i64 = c
        .query_row(
            "SELECT seq FROM audit WHERE json_extract(detail, '$.outbox_seq') = ?1",
            [outbox],
            |r| r.get(0),
        )
        .unwrap();
    c.execute(
        "UPDATE audit SET detail = json_set(detail, '$.payload_sha256', ?1) WHERE seq = ?2",
        (&sha, seq),
    )
    .unwrap();
    // The chain again, from the forged row to the head.
    let mut prev: String = c
        .query_row(
            "SELECT coalesce((SELECT hash FROM audit WHERE seq = ?1 - 1), ?2)",
            (seq, kiosk_sync::audit::GENESIS),
            |r| r.get(0),
        )
        .unwrap();
    let rows: Vec<kiosk_sync::audit::AuditRow> = {
        let mut st = c
            .prepare("SELECT seq, at, actor, action, subject, detail FROM audit WHERE seq >= ?1 ORDER BY seq")
            .unwrap();
        st.query_map([seq], |r| {
            Ok(kiosk_sync::audit::AuditRow {
                seq: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                subject: r.get(4)?,
                detail: r.get(5)?,
                prev_hash: String::new(),
            })
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
    };
    for mut row in rows {
        row.prev_hash = prev;
        let hash = row.hash();
        c.execute(
            "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            (&row.prev_hash, &hash, row.seq),
        )
        .unwrap();
        c.execute(
            "UPDATE audit_head SET seq = ?1, hash = ?2",
            (row.seq, &hash),
        )
        .unwrap();
        prev = hash;
    }
    seq
}

#[test]
fn a_forger_holding_the_database_but_not_the_token_is_caught_by_audit_verify_and_the_central() {
    let rig = Rig::new(300);
    let a = Hsm::new();
    let station = rig.register(&a);
    burst(&a, 2);
    let synced = rig.sync(&a).ok();
    // The sync sealed the trail up to its newest row, and the central
    // checked the rows and the seal and holds them.
    let verified = a.ctl(&["audit", "verify"]).ok();
    let head = verified["head_seq"].as_i64().unwrap();
    assert_eq!(verified["sealed_upto"], head, "{verified}");
    assert_eq!(synced["sync"]["audit_sealed_at_central"], head, "{synced}");
    let (central_seq, central_hash) = central_audit(&rig, &station);
    assert_eq!(central_seq, head);
    let db = a.data().join("station.db");
    let stored_head: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT hash FROM audit_head", [], |r| r.get(0))
        .unwrap();
    assert_eq!(central_hash, stored_head);

    // Every row the station wrote since its token was set up carries a
    // value keyed in the token, and verify checked them all.
    assert_eq!(verified["keys_checked"], true, "{verified}");
    let keyed_from = verified["keyed_from"].as_i64().unwrap();
    assert!(
        keyed_from > 1,
        "the rows before the station CA are chained only: {verified}"
    );
    assert_eq!(verified["keyed_rows"], head - keyed_from + 1, "{verified}");

    // The forger rewrites a payment and computes the chain again: every
    // row links, but no rewritten row has its keyed value any more, and
    // the seal of the head is broken.
    let forged = forge_a_payment(&db);
    assert!(keyed_from <= forged && forged < head);
    let findings = crate::support::audit_findings;
    let rewritten = |kind: &str| -> Vec<(i64, String)> {
        (forged..=head).map(|s| (s, kind.to_string())).collect()
    };
    let r = a.ctl(&["audit", "verify"]);
    let mut expected = rewritten("forged");
    expected.push((head, "seal_broken".to_string()));
    assert_eq!(findings(&r), expected, "{}", r.stdout);
    assert!(
        r.stderr.contains("加封") && r.stderr.contains("密钥校验值"),
        "{}",
        r.stderr
    );

    // Deleting the seals does not hide it from the file alone; nor does
    // dropping the keyed values.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute("DELETE FROM audit_seals", []).unwrap();
    let r = a.ctl(&["audit", "verify"]);
    assert_eq!(r.json["seals"], 0);
    assert_eq!(findings(&r), rewritten("forged"), "{}", r.stdout);
    c.execute(
        "UPDATE audit SET key_epoch = NULL, mac = NULL WHERE seq >= ?1",
        [forged],
    )
    .unwrap();
    assert_eq!(findings(&a.ctl(&["audit", "verify"])), rewritten("unkeyed"));

    // Nor from the central, which refuses the station's next rows and
    // stores nothing.
    burst(&a, 1);
    let before = rig.records(&station).len();
    let r = rig.sync(&a).refused("central_history_diverged");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("审计记录"),
        "{r}"
    );
    assert_eq!(central_audit(&rig, &station), (central_seq, central_hash));
    // The new order's records reached the central before the audit upload
    // was refused: they are kept, for whoever looks into it.
    assert!(rig.records(&station).len() > before);
}

#[test]
fn what_a_central_publishes_is_taken_only_when_signed_under_the_pinned_ca() {
    let rig = Rig::new(300);
    let a = Hsm::new();
    rig.register(&a);
    let fee = || {
        a.ctl(&["fee", "--provider", "ezca", "--operation", "new"])
            .ok()["total_fen"]
            .clone()
    };
    assert_eq!(fee(), 48000);
    let cat_file = rig.publish_catalog_v6(a.dir.path(), ("amount_fen = 48000", "amount_fen = 1"));

    // A central that answers over the pinned TLS but signs what it
    // publishes with a key of its own making: nothing is taken.
    let rogue = central::tls_init(&a.dir.path().join("rogue"));
    let impostor = Central::start_with(
        &rig.pg.url(),
        &rig.tls,
        "127.0.0.1:0",
        rig.max_skew,
        &[
            &format!("--publication-cert={}", rogue.0.display()),
            &format!("--publication-key={}", rogue.1.display()),
        ],
    );
    let r = run(rig.sync_command(&a, &format!("https://{}", impostor.addr)))
        .refused("central_bad_publication");
    // The first publication it fetches is already refused.
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revocations"),
        "{r}"
    );
    assert!(
        r["error"]["message"].as_str().unwrap().contains("未采用"),
        "{r}"
    );
    assert_eq!(fee(), 48000, "the catalog was not taken");
    assert_eq!(
        a.ctl(&["catalog", "show"]).ok()["active_version"],
        5,
        "no catalog imported"
    );
    let status = a.ctl(&["sync", "status"]).ok();
    assert_eq!(
        status["status"]["last_error_code"], "central_bad_publication",
        "{status}"
    );

    // The central itself (signing with its TLS key, under the pinned CA).
    rig.sync(&a).ok();
    assert_eq!(fee(), 1);

    // Signed, but asking for code-signing certificates: outside the
    // operator's allow-list (by default, what the shipped catalog uses),
    // refused whole; revocations and decisions still arrive before it.
    let v7 = std::fs::read_to_string(&cat_file)
        .unwrap()
        .replacen("version = 6", "version = 7", 1)
        .replacen("amount_fen = 1", "amount_fen = 2", 1)
        .replacen(
            "extended_key_usage = [\"client-auth\", \"email-protection\"]",
            "extended_key_usage = [\"client-auth\", \"code-signing\"]",
            1,
        );
    assert!(v7.contains("code-signing"));
    let v7_file = a.dir.path().join("catalog-v7.toml");
    std::fs::write(&v7_file, v7).unwrap();
    rig.admin(&["catalog-publish", v7_file.to_str().unwrap()]);
    let r = rig.sync(&a).refused("not_allowed");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CodeSigning"),
        "{r}"
    );
    assert_eq!(fee(), 1, "v7 not imported");
    // The operator allows it: the next run imports it.
    let policy = a.dir.path().join("catalog-policy.toml");
    std::fs::write(
        &policy,
        "extended_key_usage = [\"client-auth\", \"email-protection\", \"code-signing\"]\nurl_prefixes = [\"http://crl.kiosk-station.invalid/\"]\n",
    )
    .unwrap();
    let mut c = rig.sync_command(&a, &rig.url());
    c.env("KIOSK_CATALOG_POLICY", &policy);
    run(c).ok();
    assert_eq!(fee(), 2);
}

#[test]
fn an_answer_larger_than_a_station_reads_is_refused_and_nothing_of_it_is_taken() {
    let rig = Rig::new(300);
    let a = Hsm::new();
    rig.register(&a);
    let catalog = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../catalog/catalog.toml"
    ))
    .unwrap()
    .replacen("version = 5", "version = 6", 1);

    // The operator cannot publish a catalog stations would not read.
    let padded = format!(
        "{catalog}\n#{}\n",
        "x".repeat(kiosk_sync::MAX_CATALOG_BYTES)
    );
    let file = a.dir.path().join("catalog-huge.toml");
    std::fs::write(&file, padded).unwrap();
    let (code, stderr) = rig.admin_fails(&["catalog-publish", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("at most"), "{stderr}");

    // A central whose database holds one anyway (written past the admin
    // command) answers with more than 16 MiB: refused while reading, not
    // taken, and not mistaken for the network (no retry, no backoff).
    let body_len = kiosk_sync::MAX_ANSWER_BYTES + 1024;
    rig.pg.psql(&format!(
        "INSERT INTO catalogs (version, body, published_by, published_at) \
         VALUES (6, 'version = 6' || repeat('#', {body_len}), 'db', now())"
    ));
    let r = rig.sync(&a).refused("central_protocol");
    let message = r["error"]["message_en"].as_str().unwrap_or_default();
    assert!(message.contains("larger than 16 MiB"), "{r}");
    assert!(message.contains("/v1/catalog"), "{r}");
    assert_eq!(a.ctl(&["catalog", "show"]).ok()["active_version"], 5);
    let status = a.ctl(&["sync", "status"]).ok();
    assert_eq!(
        status["status"]["last_error_code"], "central_protocol",
        "{status}"
    );

    // A good catalog after it: taken.
    rig.pg.psql("DELETE FROM catalogs WHERE version = 6");
    let small = a.dir.path().join("catalog-v6.toml");
    std::fs::write(&small, &catalog).unwrap();
    rig.admin(&["catalog-publish", small.to_str().unwrap()]);
    rig.sync(&a).ok();
    assert_eq!(a.ctl(&["catalog", "show"]).ok()["active_version"], 6);
}

#[test]
fn the_directory_of_every_provider_certificate_reaches_the_stations_and_answers_offline() {
    use crate::foreign::{issued_pem, LegacyCa};
    let rig = Rig::new(300);
    let a = Hsm::new();
    let b = Hsm::new();
    rig.register(&a);
    rig.register(&b);
    let dir = a.dir.path();
    let legacy = LegacyCa::new(dir, "Legacy Sinocert");
    let bundle: String = [
        (
            "/CN=重庆甲建材有限公司/serialNumber=91500112MA60XYW12E",
            "0x7a01",
        ),
        (
            "/CN=重庆乙科技有限公司/serialNumber=91500103MA5YH7K8X9",
            "0x7a02",
        ),
        (
            "/CN=北京丙贸易有限公司/serialNumber=91110000MA01ABCD3U",
            "0x7a03",
        ),
    ]
    .iter()
    .map(|(subject, serial)| issued_pem(&legacy, dir, subject, serial))
    .collect();
    let pem = dir.join("bundle.pem");
    std::fs::write(&pem, &bundle).unwrap();
    let rows = || rig.pg.psql("SELECT count(*) FROM directory");

    // Bad exports are refused whole, naming the line; nothing is written.
    let csv = |name: &str, text: &str| {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        f.to_str().unwrap().to_string()
    };
    let header = "serial,issuer,name,uscc,not_before,not_after,status\n";
    for (name, text, says) in [
        ("bad-header.csv", "serial,name\n7b01,甲\n".to_string(), "header"),
        (
            "bad-uscc.csv",
            format!("{header}7b01,CN=Legacy,\"重庆丁有限公司\",91500000MA5U8K2T0A,2026-01-01,2027-01-01,valid\n7b02,CN=Legacy,重庆戊有限公司,91500000MA5U8K2T0B,2026-01-01,2027-01-01,valid\n"),
            "line 3",
        ),
        (
            "bad-status.csv",
            format!("{header}7b01,CN=Legacy,重庆丁有限公司,91500000MA5U8K2T0A,2026-01-01,2027-01-01,suspended\n"),
            "line 2",
        ),
        (
            "bad-dates.csv",
            format!("{header}7b01,CN=Legacy,重庆丁有限公司,91500000MA5U8K2T0A,2027-01-01,2026-01-01,valid\n"),
            "not_before",
        ),
    ] {
        let f = csv(name, &text);
        let (code, stderr) = rig.admin_fails(&["certificates-import", "--provider", "ezca", &f]);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert_eq!(rows(), "0", "{name}: nothing written");
    }

    // A PEM bundle from the CA's systems, and its CSV export (one revoked,
    // a quoted name with a comma).
    let out = rig.admin(&[
        "certificates-import",
        "--provider",
        "ezca",
        pem.to_str().unwrap(),
    ]);
    assert_eq!(out["new"], 3, "{out}");
    let export = csv(
        "export.csv",
        &format!("{header}7b01,CN=Legacy Issuing,\"重庆丁有限公司，第一分公司\",91500000MA5U8K2T0A,2025-06-01,2026-05-31,revoked\n7b02,CN=Legacy Issuing,重庆戊有限公司,91500000MA5U8K2U97,2026-03-01,2027-02-28,valid\n"),
    );
    let out = rig.admin(&["certificates-import", "--provider", "bjca", &export]);
    assert_eq!(out["new"], 2, "{out}");
    // Importing again changes nothing (stations fetch nothing again).
    let out = rig.admin(&[
        "certificates-import",
        "--provider",
        "ezca",
        pem.to_str().unwrap(),
    ]);
    assert_eq!(
        (out["new"].clone(), out["unchanged"].clone()),
        (0.into(), 3.into()),
        "{out}"
    );

    // A key issued at station a reaches the directory with its provider.
    let (_, issued) = a.issued_key();
    let own = issued["certificate_serial"].as_str().unwrap().to_string();
    let first = rig.sync(&a).ok();
    assert_eq!(first["sync"]["directory_entries"], 6, "{first}");
    let station_a = station_id(&a);
    assert_eq!(
        rig.pg.psql(&format!(
            "SELECT provider || ' ' || source || ' ' || status FROM directory WHERE serial = '{own}'"
        )),
        format!("ezca station:{station_a} valid")
    );

    // Station b holds all of it and answers offline: by USCC, by serial.
    rig.sync(&b).ok();
    let found = b
        .ctl(&["cert", "find", "--uscc", "91500103ma5yh7k8x9"])
        .ok();
    let entries = found["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{found}");
    assert_eq!(entries[0]["name"], "重庆乙科技有限公司");
    assert_eq!(entries[0]["serial"], "7a02");
    assert_eq!(entries[0]["provider"], "ezca");
    assert!(entries[0]["issuer"]
        .as_str()
        .unwrap()
        .contains("Legacy Sinocert Issuing CA"));
    assert!(found["version"].as_i64().unwrap() >= 6, "{found}");
    let by_serial = b.ctl(&["cert", "find", "--serial", &own]).ok();
    assert_eq!(
        by_serial["entries"][0]["uscc"], "91500000MA5U8K2T0A",
        "{by_serial}"
    );
    let revoked = b.ctl(&["cert", "find", "--serial", "7b01"]).ok();
    assert_eq!(revoked["entries"][0]["status"], "revoked", "{revoked}");
    assert_eq!(revoked["entries"][0]["name"], "重庆丁有限公司，第一分公司");
    b.ctl(&["cert", "find"]).refused("required");

    // A revocation in the CA's systems reaches b as one changed entry.
    let later = csv(
        "export-2.csv",
        &format!("{header}7b02,CN=Legacy Issuing,重庆戊有限公司,91500000MA5U8K2U97,2026-03-01,2027-02-28,revoked\n"),
    );
    let out = rig.admin(&["certificates-import", "--provider", "bjca", &later]);
    assert_eq!(out["changed"], 1, "{out}");
    let next = rig.sync(&b).ok();
    assert_eq!(next["sync"]["directory_entries"], 1, "{next}");
    let gone = b.ctl(&["cert", "find", "--serial", "7b02"]).ok();
    assert_eq!(gone["entries"][0]["status"], "revoked", "{gone}");
}

#[test]
fn a_lost_key_issued_elsewhere_is_replaced_and_revoked_offline_from_the_directory() {
    use crate::keys::{application, PIN};
    let rig = Rig::new(300);
    let a = Hsm::new();
    let b = Hsm::new();
    rig.register(&a);
    rig.register(&b);
    a.free_revocation();
    let export = a.dir.path().join("export.csv");
    std::fs::write(
        &export,
        "serial,issuer,name,uscc,not_before,not_after,status\n\
         7c01,CN=Legacy Issuing,重庆示例建材有限公司,91500000MA5U8K2T0A,2026-01-01,2027-06-30,valid\n\
         7c02,CN=Legacy Issuing,重庆示例建材有限公司,91500000MA5U8K2T0A,2026-02-01,2027-07-31,valid\n\
         7c03,CN=Legacy Issuing,重庆另一家建材有限公司,91500000MA5U8K2U97,2026-01-01,2027-06-30,valid\n\
         7c04,CN=Legacy Issuing,重庆示例建材有限公司,91500000MA5U8K2T0A,2025-01-01,2026-12-31,revoked\n\
         7c06,CN=Legacy Issuing,重庆示例建材有限公司,91500000MA5U8K2T0A,2026-06-01,2027-05-31,valid\n",
    )
    .unwrap();
    rig.admin(&[
        "certificates-import",
        "--provider",
        "ezca",
        export.to_str().unwrap(),
    ]);
    rig.sync(&a).ok();
    let status = |h: &Hsm, serial: &str| {
        h.ctl(&["cert", "find", "--serial", serial]).ok()["entries"][0]["status"].clone()
    };

    // From here the counter works offline: nothing below reaches the
    // central until the next sync. Refused first, with nothing written:
    // another company's certificate, a revoked one.
    let counts = || crate::support::counts(&a.data());
    for (serial, code) in [
        ("7c03", "certificate_of_another_company"),
        ("7c04", "certificate_not_active"),
    ] {
        let order = a.paid(&application("replace-lost", Some(serial)), None);
        let key = a.stocked_key();
        let before = counts();
        let (_, j, _) = a.run_op(&order, Some(&key), &[PIN, PIN], true);
        assert_eq!(j["error"]["code"], code, "{serial}: {j}");
        assert_eq!(counts(), before, "{serial}: nothing written");
    }

    // The lost key: a new one from stock, the old validity kept, the old
    // certificate revoked here and pending at the central.
    let order = a.paid(&application("replace-lost", Some("7c01")), None);
    let key = a.stocked_key();
    let (code, j, out) = a.run_op(&order, Some(&key), &[PIN, PIN], true);
    assert_eq!(code, Some(0), "{out}");
    let new = j["certificate_serial"].as_str().unwrap().to_string();
    assert_eq!(j["not_after"], "2027-06-30", "{j}");
    let (ok, text) = a.verify_chain(&format!("{new}.pem"));
    assert!(ok, "{text}");
    let certs = a.ctl(&["cert", "list"]).ok();
    let old = certs["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == "7c01")
        .cloned()
        .unwrap();
    assert_eq!(
        (old["source"].as_str(), old["state"].as_str()),
        (Some("directory"), Some("revoked")),
        "{old}"
    );
    assert_eq!(status(&a, "7c01"), "revoked-pending-central");

    // A damaged key the same way (its facts from the directory too).
    let damaged = a.paid(&application("replace-damaged", Some("7c06")), None);
    let key = a.stocked_key();
    let (code, j, out) = a.run_op(&damaged, Some(&key), &[PIN, PIN], true);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(j["not_after"], "2027-05-31", "{j}");
    assert_eq!(status(&a, "7c06"), "revoked-pending-central");

    // A revocation without the key.
    let order = a.paid(&application("revoke", Some("7c02")), None);
    let (code, _, out) = a.approve(&order);
    assert_eq!(code, Some(0), "{out}");
    let (code, _, out) = a.run_op(&order, None, &[], false);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(status(&a, "7c02"), "revoked-pending-central");
    let pending =
        |id: &str| a.ctl(&["order", "show", id]).ok()["revocation_pending_at_central"].clone();
    assert_eq!(pending(&order), true);
    // Not on this station's CRL: another CA signed it.
    let crl = crate::integrity::crl_text(&a);
    assert!(
        !crl.to_uppercase().contains("7C01") && !crl.to_uppercase().contains("7C02"),
        "{crl}"
    );

    // The next sync: the central marks both revoked in the directory and
    // publishes them; every station hears of it.
    rig.sync(&a).ok();
    assert_eq!(
        rig.pg.psql("SELECT string_agg(serial || ' ' || status, ',' ORDER BY serial) FROM directory WHERE serial IN ('7c01', '7c02')"),
        "7c01 revoked,7c02 revoked"
    );
    assert_eq!(
        rig.pg.psql("SELECT count(*) FROM revocations WHERE serial IN ('7c01', '7c02') AND issuer = 'CN=Legacy Issuing'"),
        "2"
    );
    assert_eq!(status(&a, "7c01"), "revoked");
    assert_eq!(pending(&order), false, "the central's word arrived");
    rig.sync(&b).ok();
    assert_eq!(status(&b, "7c02"), "revoked");

    // A certificate nobody here knows (issued after the last sync): the
    // order goes to the central's review instead of being refused.
    let unknown = a.dir.path().join("unknown.json");
    std::fs::write(
        &unknown,
        application("replace-lost", Some("7c05")).to_string(),
    )
    .unwrap();
    let created = a.ctl(&["order", "create", unknown.to_str().unwrap()]).ok();
    assert_eq!(created["certificate_unknown"], true, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let number = created["number"].as_str().unwrap().to_string();
    let fee = created["fee"]["total_fen"].as_i64().unwrap().to_string();
    a.ctl(&["order", "check", &id, "--all", "--status", "ok"])
        .ok();
    assert_eq!(
        a.ctl(&["order", "advance", &id, "approve"]).ok()["state"],
        "central-review"
    );
    // The central finds it in the CA's systems and approves.
    let found = a.dir.path().join("found.csv");
    std::fs::write(
        &found,
        "serial,issuer,name,uscc,not_before,not_after,status
         7c05,CN=Legacy Issuing,重庆示例建材有限公司,91500000MA5U8K2T0A,2026-04-01,2027-03-31,valid
",
    )
    .unwrap();
    rig.admin(&[
        "certificates-import",
        "--provider",
        "ezca",
        found.to_str().unwrap(),
    ]);
    rig.sync(&a).ok();
    let station_a = station_id(&a);
    rig.admin(&[
        "decide",
        "--station",
        &station_a,
        "--order",
        &number,
        "--approve",
    ]);
    rig.sync(&a).ok();
    assert_eq!(
        a.ctl(&["order", "show", &id]).ok()["state"],
        "awaiting-payment"
    );
    a.pay(&id, &fee);
    let key = a.stocked_key();
    let (code, j, out) = a.run_op(&id, Some(&key), &[PIN, PIN], true);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(j["not_after"], "2027-03-31", "{j}");

    // A change of a certificate read from a key at the counter: the
    // central learns the certificate from the station's record and
    // publishes the revocation of the old one.
    use crate::foreign::{LegacyCa, HOLDER_PIN};
    let legacy = LegacyCa::new(a.dir.path(), "Legacy Sinocert");
    legacy.trusted_by(&a, "ezca");
    let (holder, _, end) = legacy.key_for_demo_company(&a, "HOLDER-CHANGE", "0x7d01");
    let mut change = application("change", Some("7d01"));
    change["certificate"]["not_after"] = end.to_string().into();
    change["change_details"] = "联系人变更".into();
    let order = a.paid(&change, None);
    // The directory says otherwise of the same serial (another name):
    // refused, nothing written, until the central corrects it.
    let entry = |name: &str| {
        let f = a.dir.path().join("7d01.csv");
        std::fs::write(
            &f,
            format!(
                "serial,issuer,name,uscc,not_before,not_after,status\n\
                 7d01,CN=Legacy Sinocert Issuing CA,{name},91500000MA5U8K2T0A,2026-01-01,{end},valid\n"
            ),
        )
        .unwrap();
        rig.admin(&[
            "certificates-import",
            "--provider",
            "ezca",
            f.to_str().unwrap(),
        ]);
        rig.sync(&a).ok();
    };
    entry("重庆冒名建材有限公司");
    let before = counts();
    let (_, j, _) = a.run_op(&order, Some(&holder.serial), &[HOLDER_PIN], false);
    assert_eq!(j["error"]["code"], "directory_disagrees", "{j}");
    assert_eq!(counts(), before, "nothing written");
    entry("重庆示例建材有限公司");
    let (code, _, out) = a.run_op(&order, Some(&holder.serial), &[HOLDER_PIN], false);
    assert_eq!(code, Some(0), "{out}");
    rig.sync(&a).ok();
    // Every entry of that serial (the CA's import, and the certificate as
    // the station read it from the key) is revoked, and published.
    assert_eq!(
        rig.pg.psql("SELECT count(*) FILTER (WHERE status = 'revoked') || '/' || count(*) FROM directory WHERE serial = '7d01' AND provider = 'ezca'"),
        rig.pg.psql("SELECT count(*) || '/' || count(*) FROM directory WHERE serial = '7d01'")
    );
    assert_ne!(
        rig.pg
            .psql("SELECT count(*) FROM revocations WHERE serial = '7d01'"),
        "0"
    );
    assert_eq!(a.ctl(&["audit", "verify"]).ok()["ok"], true);
}

/// A new disk: `h`'s data directory replaced by the restore of `backup`,
/// the station's token untouched. The clerks' login files, which live in
/// a runtime directory and not in a backup, are kept across.
fn restored(h: &Hsm, backup: &str, identity: &std::path::Path) {
    let keep = h.dir.path().join("runtimes");
    let _ = std::fs::remove_dir_all(&keep);
    std::fs::create_dir_all(&keep).unwrap();
    for r in [".runtime-clerk", ".runtime-boss"] {
        if h.data().join(r).exists() {
            std::fs::rename(h.data().join(r), keep.join(r)).unwrap();
        }
    }
    std::fs::remove_dir_all(h.data()).unwrap();
    let mut c = h.plain(kiosk_e2e::kioskctl().to_str().unwrap());
    c.args(["--json", "--data-dir"])
        .arg(h.data())
        .args(["backup", "restore", backup, "--identity"])
        .arg(identity);
    run(c).ok();
    for r in [".runtime-clerk", ".runtime-boss"] {
        if keep.join(r).exists() {
            std::fs::rename(keep.join(r), h.data().join(r)).unwrap();
        }
    }
}

#[test]
fn a_station_restored_from_its_newest_backup_syncs_on_and_a_stale_one_is_stopped() {
    let (h, _, _, rig, _) = registered_station();
    let identity = backups_to_operator(&h);
    let out = h.dir.path().join("backups");
    let backup = || {
        h.ctl(&["backup", "create", "--to", out.to_str().unwrap()])
            .ok()["file"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // The night's sync, then its backup; the next day's orders, then the
    // next backup; then the disk dies before the next sync.
    burst(&h, 3);
    rig.sync(&h).ok();
    let after_sync = backup();
    burst(&h, 2);
    let newest = backup();
    let local_head = outbox(&h).len() as i64;
    restored(&h, &newest, &identity);
    assert_eq!(h.ctl(&["audit", "verify"]).ok()["ok"], true);
    // The central takes the rest of the outbox and the trail on from
    // where it was: no sequence conflict, no diverged history.
    let s = rig.sync(&h).ok();
    assert_eq!(s["sync"]["committed_seq"], local_head, "{s}");
    assert_eq!(s["sync"]["pending"], 0, "{s}");
    // And goes on: the next order's records follow.
    burst(&h, 1);
    let s = rig.sync(&h).ok();
    assert!(
        s["sync"]["committed_seq"].as_i64().unwrap() > local_head,
        "{s}"
    );

    // A backup older than what the central holds: the restored station
    // stops before sending anything and says why, in both languages.
    restored(&h, &after_sync, &identity);
    let r = rig.sync(&h).refused("central_ahead");
    let said = r["error"].to_string();
    assert!(said.contains("备份") && said.contains("backup"), "{said}");
    let status = h.ctl(&["sync", "status"]).ok();
    assert_eq!(status["status"]["last_error_code"], "central_ahead");
}

/// The central's master for the station at `h`, wrapped for its token:
/// `ca master-request`, `central station master`, `ca master-import`.
fn provision_master(rig: &Rig, h: &Hsm) -> Value {
    let req = h.boss(&["ca", "master-request"], &[]).ok();
    let wrapped = rig.admin(&[
        "station",
        "master",
        "--request",
        req["request"].as_str().unwrap(),
    ]);
    let file = h.dir.path().join("master.json");
    std::fs::write(&file, wrapped.to_string()).unwrap();
    h.boss(&["ca", "master-import", file.to_str().unwrap()], &[])
        .ok()
}

#[test]
fn a_replacement_station_gets_its_master_from_the_central_and_unlocks_a_key_the_old_one_issued() {
    let rig = Rig::new(300);
    // Station A: its master comes from the central, before anything else.
    let (a, central_dir, csr) = production_station_with(|h| {
        provision_master(&rig, h);
    });
    let bundle = central_signs(&central_dir, &csr, "1825", "bundle.pem");
    a.boss(&["ca", "import", bundle.to_str().unwrap()], &[])
        .ok();
    let station = rig.register(&a);
    let (key, issued) = a.issued_key();
    let cert = issued["certificate_serial"].as_str().unwrap().to_string();
    // The night's sync (it seals the trail with A's sub-CA), then the backup.
    rig.sync(&a).ok();
    let (identity, public) = crate::backup::operator_key(a.dir.path(), "operator");
    std::fs::write(
        a.data().join("backup-recipients.txt"),
        format!("{public}\n"),
    )
    .unwrap();
    let backup = a
        .ctl(&[
            "backup",
            "create",
            "--to",
            a.dir.path().join("backups").to_str().unwrap(),
        ])
        .ok()["file"]
        .as_str()
        .unwrap()
        .to_string();

    // A's disk and token die. B: a new PC, a new token, the backup; the
    // applicant's key is plugged into B.
    let b = bare_station();
    let mut restore = b.plain(kiosk_e2e::kioskctl().to_str().unwrap());
    restore
        .args(["--json", "--data-dir"])
        .arg(b.data())
        .args(["backup", "restore", &backup, "--identity"])
        .arg(&identity);
    run(restore).ok();
    for r in [".runtime-clerk", ".runtime-boss"] {
        copy_dir(&a.data().join(r), &b.data().join(r));
    }
    for token in std::fs::read_dir(a.dir.path().join("tokens")).unwrap() {
        let token = token.unwrap().path();
        let object = std::fs::read(token.join("token.object")).unwrap_or_default();
        let own = object.windows(13).any(|w| w == b"kiosk-station");
        if !own {
            copy_dir(
                &token,
                &b.dir.path().join("tokens").join(token.file_name().unwrap()),
            );
        }
    }
    // Without the master, B's token cannot key or check A's trail.
    let before = b.ctl(&["audit", "verify"]).ok();
    assert_eq!(before["keys_checked"], false, "{before}");

    // A master that is not A's is refused and leaves nothing in B's token:
    // the central wraps another station's master for B's token.
    let req = b.boss(&["ca", "master-request"], &[]).ok();
    let req_file = req["request"].as_str().unwrap().to_string();
    let mut forged: Value =
        serde_json::from_str(&std::fs::read_to_string(&req_file).unwrap()).unwrap();
    forged["station_id"] = "another-station".into();
    let forged_req = b.dir.path().join("forged-request.json");
    std::fs::write(&forged_req, forged.to_string()).unwrap();
    let mut other = rig.admin(&[
        "station",
        "master",
        "--request",
        forged_req.to_str().unwrap(),
    ]);
    other["station_id"] = b.station_id().into();
    let other_file = b.dir.path().join("other-master.json");
    std::fs::write(&other_file, other.to_string()).unwrap();
    // Its check value is the other station's: refused at once.
    b.boss(&["ca", "master-import", other_file.to_str().unwrap()], &[])
        .refused("master_check_failed");
    // A lying central that also forges the check value for this station
    // is caught by the trail itself.
    let lying = lying_master(&rig, &req_file, &b.station_id());
    let lying_file = b.dir.path().join("lying-master.json");
    std::fs::write(&lying_file, lying.to_string()).unwrap();
    b.boss(&["ca", "master-import", lying_file.to_str().unwrap()], &[])
        .refused("master_does_not_fit");
    // A's master, wrapped for A's token, cannot be unwrapped by B's.
    b.boss(
        &[
            "ca",
            "master-import",
            a.dir.path().join("master.json").to_str().unwrap(),
        ],
        &[],
    )
    .refused("master_not_for_this_token");
    // A file whose wrapped master was mangled in transit is named as such.
    let mut mangled = lying.clone();
    mangled["wrapped"] = "not base64 at all!".into();
    let mangled_file = b.dir.path().join("mangled-master.json");
    std::fs::write(&mangled_file, mangled.to_string()).unwrap();
    b.boss(
        &["ca", "master-import", mangled_file.to_str().unwrap()],
        &[],
    )
    .refused("master_unreadable");

    // A clerk alone cannot import a master.
    let clerk_alone = b.ctl(&["ca", "master-import", req_file.as_str()]);
    assert_eq!(
        clerk_alone.json["error"]["code"], "forbidden",
        "{}",
        clerk_alone.stdout
    );

    // The real one: B's token unwraps A's master, A's trail verifies with it.
    let imported = provision_master(&rig, &b);
    assert!(
        imported["keyed_rows_verified"].as_i64().unwrap() > 0,
        "{imported}"
    );
    let after = b.ctl(&["audit", "verify"]).ok();
    assert_eq!(after["ok"], true, "{after}");
    assert_eq!(after["keys_checked"], true, "{after}");
    // And B unlocks the key A issued: the SO PIN comes from the same master.
    let order = b.paid(&application("unlock", Some(&cert)), None);
    assert_eq!(b.approve(&order).0, Some(0));
    let (code, _, out) = b.run_op(&order, Some(&key), &["864209", "864209"], false);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(b.ctl(&["audit", "verify"]).ok()["ok"], true);
    // A second master is never imported over the first.
    b.boss(&["ca", "master-request"], &[])
        .refused("master_present");

    // Re-certification: B's own sub-CA key, signed by the central and
    // registered for the station. A's seals still verify (A's sub-CA is in
    // the trail), A's key still counts as this station's, and the central
    // takes B's next sync on from where A left it.
    let csr_b = b.boss(&["ca", "csr"], &[]).ok()["csr_pem"]
        .as_str()
        .unwrap()
        .to_string();
    let bundle_b = central_signs(&central_dir, &csr_b, "1825", "bundle-b.pem");
    rig.admin(&[
        "station",
        "certificate",
        "--id",
        &station,
        "--chain",
        bundle_b.to_str().unwrap(),
    ]);
    b.boss(&["ca", "import", bundle_b.to_str().unwrap()], &[])
        .ok();
    let v = b.ctl(&["audit", "verify"]).ok();
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["seals"].as_i64().unwrap() > 0, "{v}");
    let shown = b.ctl(&["key", "show", &key]).ok();
    assert_eq!(shown["provenance"]["verified"], true, "{shown}");
    let s = rig.sync(&b).ok();
    assert_eq!(s["sync"]["pending"], 0, "{s}");
    assert_eq!(
        s["sync"]["committed_seq"].as_i64().unwrap() as usize,
        outbox(&b).len(),
        "{s}"
    );
}

/// What a lying central sends: a master of its own making, wrapped for the
/// token of `request`, with a check value that matches it.
fn lying_master(rig: &Rig, request: &str, station: &str) -> Value {
    // Another station's master, its check value recomputed for `station`
    // by the test (with openssl, as anyone holding it could).
    let mut req: Value = serde_json::from_str(&std::fs::read_to_string(request).unwrap()).unwrap();
    req["station_id"] = "liar-station".into();
    let f = std::path::Path::new(request).with_file_name("liar-request.json");
    std::fs::write(&f, req.to_string()).unwrap();
    let mut w = rig.admin(&["station", "master", "--request", f.to_str().unwrap()]);
    let master = rig.master_of("liar-station");
    let check = Command::new("openssl")
        .args(["mac", "-digest", "SHA256", "-macopt"])
        .arg(format!("hexkey:{}", hex::encode(&master)))
        .arg("HMAC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("kiosk-master-check:{station}").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(check.status.success());
    w["station_id"] = station.into();
    w["check"] = String::from_utf8_lossy(&check.stdout)
        .trim()
        .to_ascii_lowercase()
        .into();
    w
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    if !from.exists() {
        return;
    }
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(from).unwrap().permissions().mode();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The demo application's person and company (`kiosk-app/fixtures`).
const HANDLER_ID: &str = "500101198502030055";
const HANDLER_MOBILE: &str = "13883088888";
const REP_ID: &str = "500103197806114328";

/// Where `needle` is found, by GNU grep over the data directory and by
/// `strings` over the database and its WAL: the paths, or nothing.
fn plain_text_of(dir: &std::path::Path, needle: &str) -> String {
    let grep = Command::new("grep")
        .args(["-r", "-a", "-l", "-F", needle])
        .arg(dir)
        .output()
        .unwrap();
    assert!(grep.status.code() != Some(2), "grep failed");
    let db = dir.join("station.db");
    let strings = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "strings -a {0} $(ls {0}-wal 2>/dev/null) | grep -c -F {needle} || true",
            db.display()
        ))
        .output()
        .unwrap();
    let count = String::from_utf8_lossy(&strings.stdout).trim().to_string();
    format!(
        "{}{}",
        String::from_utf8_lossy(&grep.stdout),
        if count == "0" {
            String::new()
        } else {
            format!("strings: {count} in the database")
        }
    )
}

/// A JPEG whose comment segment holds `text` in clear, as a scanner that
/// stamps what it read would write.
fn jpeg_with_comment(text: &str) -> Vec<u8> {
    let img = image::RgbImage::from_fn(320, 200, |x, y| {
        image::Rgb([(x % 255) as u8, (y % 255) as u8, 200])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&img)
        .unwrap();
    let len = (text.len() + 2) as u16;
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn personal_data_is_encrypted_at_rest_kept_by_the_central_and_purged_when_the_catalog_says() {
    let (h, _, _, rig, station) = registered_station();
    let identity = backups_to_operator(&h);
    let backups = h.dir.path().join("backups");
    // None of the person's values in clear: not in the data directory's
    // files or the database pages, nor in any file of a new backup,
    // decrypted by Debian's age and unpacked by GNU tar.
    let nowhere_in_clear = |when: &str| {
        let file = h
            .ctl(&["backup", "create", "--to", backups.to_str().unwrap()])
            .ok()["file"]
            .as_str()
            .unwrap()
            .to_string();
        let opened = h
            .dir
            .path()
            .join(format!("opened-{}", when.replace(' ', "-")));
        std::fs::create_dir_all(&opened).unwrap();
        crate::backup::sh(&format!(
            "age -d -i {} {file} | tar -x -C {}",
            identity.display(),
            opened.display()
        ));
        for needle in [HANDLER_ID, HANDLER_MOBILE, REP_ID] {
            assert_eq!(plain_text_of(&h.data(), needle), "", "{needle} {when}");
            assert_eq!(
                plain_text_of(&opened, needle),
                "",
                "{needle} in a backup {when}"
            );
        }
    };

    // Two completed orders of the demo application, and a scan on one
    // that carries the handler's ID number in clear in its bytes.
    burst(&h, 2);
    let numbers: Vec<String> = outbox(&h)
        .iter()
        .filter(|r| r["kind"] == "order.created")
        .map(|r| {
            r["payload"]["data"]["order"]["number"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(numbers.len(), 2);
    let shown = h.ctl(&["order", "show", &numbers[0]]).ok();
    assert_eq!(
        shown["application"]["handler"]["id_number"], HANDLER_ID,
        "read back whole"
    );
    let item = shown["checklist"][0]["id"].as_str().unwrap().to_string();
    let scan = h.dir.path().join("id-card.jpg");
    std::fs::write(&scan, jpeg_with_comment(&format!("ID {HANDLER_ID}"))).unwrap();
    let attached = h
        .ctl(&["scan", "attach", &numbers[0], &item, scan.to_str().unwrap()])
        .ok();
    std::fs::remove_file(&scan).unwrap();
    assert!(
        attached["original"]
            .as_str()
            .unwrap()
            .contains("/personal/"),
        "{attached}"
    );

    // Before the purge: in clear nowhere, not in the files, the database
    // pages or a backup; yet the payloads hold their digests.
    nowhere_in_clear("before the purge");
    let created = outbox(&h)
        .into_iter()
        .find(|r| r["kind"] == "order.created")
        .unwrap();
    let id_in_payload = created["payload"]["data"]["order"]["application"]["handler"]["id_number"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        id_in_payload.starts_with("sd:") && id_in_payload.len() == 67,
        "{id_in_payload}"
    );
    assert_eq!(created["payload_version"], 2);

    // The central gets the values as disclosures, checked against the
    // digests, and keeps them; its payloads hold only the digests.
    rig.sync(&h).ok();
    let at_central = || rig.admin(&["order", "--station", &station, "--order", &numbers[0]]);
    let kept = at_central();
    let handler = &kept["order"]["application"]["handler"];
    assert_eq!(
        (&handler["id_number"], &handler["mobile"]),
        (
            &serde_json::json!(HANDLER_ID),
            &serde_json::json!(HANDLER_MOBILE)
        ),
        "{kept}"
    );
    assert_eq!(kept["purged_at_station"], Value::Null);
    let leaked = rig.pg.psql(&format!(
        "SELECT count(*) FROM records WHERE station_id = '{station}' AND payload::text LIKE '%{HANDLER_ID}%'"
    ));
    assert_eq!(leaked.trim(), "0");

    // Acknowledged, but the catalog keeps personal data 30 days.
    let r = h.ctl(&["purge"]).ok();
    assert_eq!(r["purged"], serde_json::json!([]), "{r}");
    assert_eq!(r["retention_days"], 30);

    // The central publishes a catalog that keeps it 0 days; the next
    // purge takes both orders.
    rig.publish_catalog_v6(
        h.dir.path(),
        ("personal_data_days = 30", "personal_data_days = 0"),
    );
    rig.sync(&h).ok();
    // A third order, not yet synced, is kept.
    burst(&h, 1);
    let r = h.ctl(&["purge"]).ok();
    let mut purged: Vec<String> = serde_json::from_value(r["purged"].clone()).unwrap();
    purged.sort();
    assert_eq!(purged, numbers, "{r}");
    assert_eq!(r["counts"]["sealed"], 1, "{r}");
    assert_eq!(r["counts"]["unsealed"], 0, "{r}");

    // After: nowhere, the scans gone, the order says so, the trail holds.
    // (The unsynced third order still holds them, encrypted.)
    nowhere_in_clear("after the purge");
    assert!(!std::path::Path::new(attached["original"].as_str().unwrap()).exists());
    let shown = h.ctl(&["order", "show", &numbers[0]]).ok();
    assert!(shown["personal_data_purged_at"].is_string(), "{shown}");
    assert_eq!(shown["application"]["handler"]["id_number"], "");
    assert_eq!(
        shown["application"]["organization"]["uscc"],
        "91500000MA5U8K2T0A"
    );
    assert_eq!(
        shown["history"].as_array().unwrap().last().unwrap()["action"],
        "order.purged"
    );
    let v = h.ctl(&["audit", "verify"]).ok();
    assert_eq!(
        (v["ok"].as_bool(), v["keys_checked"].as_bool()),
        (Some(true), Some(true)),
        "{v}"
    );
    // The central takes the purge records, and the third order.
    let s = rig.sync(&h).ok();
    assert_eq!(s["sync"]["pending"], 0, "{s}");
    let purges = rig.pg.psql(&format!(
        "SELECT count(*) FROM records WHERE station_id = '{station}' AND kind = 'order.purged' AND disclosures IS NULL"
    ));
    assert_eq!(purges.trim(), "2");
    // The central still holds the applicant's record, and knows the
    // station's copy is gone.
    let kept = at_central();
    assert_eq!(
        kept["order"]["application"]["handler"]["id_number"],
        HANDLER_ID
    );
    assert!(kept["purged_at_station"].is_string(), "{kept}");

    // A station whose database was edited to disclose another person's
    // ID number for the fourth order, unencrypted as a station without a
    // token keeps it (an encrypted value edited does not even decrypt at
    // the station): the central refuses the batch and stores nothing of it.
    burst(&h, 1);
    let db = rusqlite::Connection::open(h.data().join("station.db")).unwrap();
    let subject: String = db
        .query_row(
            "SELECT personal_subject FROM outbox WHERE personal IS NOT NULL
             ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let lie = serde_json::json!([{"salt": "00000000000000000000000000000000",
        "field": "handler.id_number", "value": "110105194912310037"}]);
    let mut blob = vec![0u8];
    blob.extend_from_slice(lie.to_string().as_bytes());
    db.execute(
        "UPDATE personal_keys SET sealed = 0 WHERE subject = ?1",
        [&subject],
    )
    .unwrap();
    db.execute(
        "UPDATE outbox SET personal = ?1 WHERE personal_subject = ?2",
        (&blob, &subject),
    )
    .unwrap();
    drop(db);
    let before = rig.records(&station).len();
    let r = rig.sync(&h).refused("central_disclosure_mismatch");
    assert!(r["error"].to_string().contains("个人信息"), "{r}");
    assert_eq!(rig.records(&station).len(), before, "nothing stored");
}
