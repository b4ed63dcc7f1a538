//! Personalization on real SoftHSM2 tokens through the real `kioskctl`:
//! chains that openssl accepts, objects that pkcs11-tool lists, CRLs, the
//! bad paths, and a kill -9 at every step followed by a clean resume.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{run, Run};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TRANSPORT: &str = "vendor-so-1";
pub(crate) const PIN: &str = "527913";

/// A station with its own SoftHSM2 token directory and a demo CA.
pub(crate) struct Hsm {
    pub(crate) dir: tempfile::TempDir,
    /// The label of the station's SM2 token on the SM2 test token, when
    /// the station has an SM2 side.
    sm2_station: Option<String>,
}

impl Hsm {
    pub(crate) fn new() -> Hsm {
        Self::made(None)
    }

    /// A station with an SM2 side too: the SM2 test token
    /// ([`crate::support::sm2_token`]) as its SM2 module, its SM2 token
    /// under a label of its own, and a demo SM2 sub-CA beside the P-256 one.
    pub(crate) fn new_sm2() -> Hsm {
        let label = format!("kiosk-sm2-{}", rand_suffix());
        crate::support::sm2_token();
        Self::made(Some(label))
    }

    /// This station given an SM2 side afterwards: the operator has made its
    /// SM2 token (`sm2_new_token`) and names the SM2 module.
    pub(crate) fn with_sm2_module(mut self) -> (Hsm, String) {
        let label = format!("kiosk-sm2-{}", rand_suffix());
        crate::support::sm2_new_token(&label, "station-pin-1");
        self.sm2_station = Some(label.clone());
        (self, label)
    }

    fn made(sm2_station: Option<String>) -> Hsm {
        let dir = tempfile::tempdir().unwrap();
        kiosk_e2e::softhsm_conf(dir.path());
        let h = Hsm { dir, sm2_station };
        let base = || h.plain(kiosk_e2e::kioskctl().to_str().unwrap());
        crate::support::as_boss(&base, &h.data(), &["ca", "init", "--demo"], &[]).ok();
        h
    }

    pub(crate) fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    /// `program` with the station's token settings and clerk `t01`'s
    /// session (see [`crate::support::signed_in`]).
    pub(crate) fn command(&self, program: &str) -> Command {
        let base = || self.plain(kiosk_e2e::kioskctl().to_str().unwrap());
        let runtime = crate::support::signed_in(&base, &self.data());
        let mut c = self.plain(program);
        c.env("XDG_RUNTIME_DIR", runtime);
        c
    }

    /// `program` with the station's token settings, and no session.
    pub(crate) fn plain(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        let dir = self.dir.path();
        c.env("SOFTHSM2_CONF", self.conf())
            .env(
                "KIOSK_STATION_PIN_FILE",
                kiosk_e2e::secret_file(dir, "station-pin", "station-pin-1"),
            )
            .env(
                "KIOSK_TRANSPORT_SO_PIN_FILE",
                kiosk_e2e::secret_file(dir, "transport-so-pin", TRANSPORT),
            )
            .env_remove("KIOSK_KILL_AT_STEP")
            .env_remove("KIOSK_DATA_DIR")
            .env_remove("KIOSK_SM2_PKCS11_MODULE");
        if let Some(label) = &self.sm2_station {
            let (_, conf, library) = crate::support::sm2_token();
            c.env("KIOSK_SM2_PKCS11_MODULE", library)
                .env("KIOSK_SM2_TOKEN_CONF", conf)
                .env("KIOSK_SM2_STATION_TOKEN", label);
        }
        c
    }

    /// A blank SM2 key as its vendor ships it (transport SO PIN), on the
    /// SM2 test token, taken into stock under its model.
    pub(crate) fn stocked_sm2_key(&self) -> String {
        let (m, _, _) = crate::support::sm2_token();
        // A label of its own: other tests make tokens in the same module.
        let label = format!("BLANK {}", rand_suffix() % 1_000_000_000_000);
        let transport = kiosk_keys::SecretString::from(TRANSPORT.to_string());
        m.init_token(m.free_slot().unwrap(), &transport, &label)
            .unwrap();
        let t = m.by_label(&label).unwrap();
        self.ctl(&[
            "stock", "add", "--serial", &t.serial, "--model", &t.model, "--batch", "SM2",
        ])
        .ok();
        t.serial.to_ascii_lowercase()
    }

    pub(crate) fn ctl(&self, args: &[&str]) -> Run {
        let mut c = self.command(kiosk_e2e::kioskctl().to_str().unwrap());
        c.arg("--json")
            .arg("--data-dir")
            .arg(self.data())
            .args(args);
        run(c)
    }

    /// `order run` with the PIN on stdin; `kill_at` makes it SIGKILL itself.
    pub(crate) fn personalize(
        &self,
        order: &str,
        key: &str,
        pin: (&str, &str),
        kill_at: Option<&str>,
    ) -> (Option<i32>, Value, String) {
        let seal = self.seal();
        let mut c = self.command(kiosk_e2e::kioskctl().to_str().unwrap());
        c.arg("--json").arg("--data-dir").arg(self.data());
        c.args(["order", "run", order, "--key", key, "--seal"])
            .arg(&seal)
            .arg("--pin-stdin");
        if let Some(step) = kill_at {
            c.env("KIOSK_KILL_AT_STEP", step);
        }
        with_stdin(c, &[pin.0, pin.1])
    }

    fn serials(&self) -> Vec<String> {
        let slots = self
            .plain("softhsm2-util")
            .arg("--show-slots")
            .output()
            .unwrap();
        String::from_utf8_lossy(&slots.stdout)
            .lines()
            .filter(|l| l.trim_start().starts_with("Serial number:"))
            .map(|l| l.split(':').nth(1).unwrap().trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// A blank key as the vendor ships it: initialised, transport SO PIN.
    fn blank_key(&self) -> String {
        let before = self.serials();
        let out = self
            .plain("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                "BLANK",
                "--so-pin",
                TRANSPORT,
                "--pin",
                "111111",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let new: Vec<String> = self
            .serials()
            .into_iter()
            .filter(|s| !before.contains(s))
            .collect();
        assert_eq!(new.len(), 1, "{new:?}");
        new[0].clone()
    }

    pub(crate) fn stocked_key(&self) -> String {
        let serial = self.blank_key();
        self.ctl(&[
            "stock",
            "add",
            "--serial",
            &serial,
            "--model",
            "SoftHSM v2",
            "--batch",
            "T",
        ])
        .ok();
        serial
    }

    pub(crate) fn paid_order(&self) -> String {
        let app = self.dir.path().join("app.json");
        std::fs::write(&app, kiosk_app::demo::APPLICATION_JSON).unwrap();
        let id = self.ctl(&["order", "create", app.to_str().unwrap()]).ok()["id"]
            .as_str()
            .unwrap()
            .to_string();
        self.ctl(&["order", "check", &id, "--all", "--status", "ok"])
            .ok();
        self.ctl(&["order", "advance", &id, "approve"]).ok();
        self.ctl(&[
            "order",
            "pay",
            &id,
            "--method",
            "cash",
            "--amount-fen",
            "48000",
            "--receipt",
            "R1",
        ])
        .ok();
        id
    }

    pub(crate) fn seal(&self) -> PathBuf {
        let p = self.dir.path().join("seal.png");
        if !p.exists() {
            std::fs::write(&p, red_png()).unwrap();
        }
        p
    }

    /// The kind of every object on a key, via pkcs11-tool.
    pub(crate) fn objects(&self, key_serial: &str) -> Vec<String> {
        self.objects_with_pin(key_serial, PIN)
    }

    pub(crate) fn token_label(&self, key_serial: &str) -> String {
        let list = self.ctl(&["key", "list"]).ok();
        list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["serial"] == key_serial)
            .map(|t| t["label"].as_str().unwrap().to_string())
            .unwrap()
    }

    pub(crate) fn openssl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("openssl")
            .current_dir(self.data().join("ca"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }
}

fn red_png() -> Vec<u8> {
    // A 2x2 red RGBA PNG, built by hand so the test needs no image crate.
    let raw: Vec<u8> = (0..2)
        .flat_map(|_| [0u8, 200, 0, 0, 255, 200, 0, 0, 255])
        .collect();
    let mut idat = vec![
        0x78,
        0x01,
        0x01,
        raw.len() as u8,
        0,
        !(raw.len() as u8),
        0xff,
    ];
    idat.extend(&raw);
    idat.extend(adler32(&raw).to_be_bytes());
    let chunk = |t: &[u8], d: &[u8]| -> Vec<u8> {
        let mut c = (d.len() as u32).to_be_bytes().to_vec();
        c.extend(t);
        c.extend(d);
        c.extend(crc32(&[t, d].concat()).to_be_bytes());
        c
    };
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &[0, 0, 0, 2, 0, 0, 0, 2, 8, 6, 0, 0, 0]));
    png.extend(chunk(b"IDAT", &idat));
    png.extend(chunk(b"IEND", &[]));
    png
}

fn adler32(d: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in d {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    b << 16 | a
}

fn crc32(d: &[u8]) -> u32 {
    let mut c = !0u32;
    for &x in d {
        c ^= x as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb88320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A catalog's text with cqc's profile on P-256 instead of SM2.
pub(crate) fn cqc_p256(t: String) -> String {
    t.replacen("key_algorithm = \"sm2\"", "key_algorithm = \"ec-p256\"", 1)
        .replace("{station}-sm2.", "{station}.")
}

pub(crate) fn object_kinds(objs: &[String]) -> Vec<&str> {
    let mut k: Vec<&str> = objs.iter().map(|s| s.as_str()).collect();
    k.sort();
    k
}

pub(crate) const EXPECTED: [&str; 5] = [
    "Certificate Object",
    "Data object",
    "Data object",
    "Private Key Object",
    "Public Key Object",
];

#[test]
fn new_key_is_issued_verified_and_revocable() {
    let h = Hsm::new();
    let key = h.stocked_key();
    let order = h.paid_order();
    let (code, j, out) = h.personalize(&order, &key, (PIN, PIN), None);
    assert_eq!(code, Some(0), "{out}");
    let serial = j["certificate_serial"].as_str().unwrap().to_string();
    let cert = Path::new(j["certificate_pem"].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();

    let (ok, out) = h.verify_chain(&cert);
    assert!(ok, "{out}");
    let (_, text) = h.openssl(&[
        "x509", "-in", &cert, "-noout", "-subject", "-nameopt", "utf8",
    ]);
    assert!(
        text.contains("CN=重庆示例建材有限公司") && text.contains("91500000MA5U8K2T0A"),
        "{text}"
    );
    // The ezca profile: ST carries the USCC; key usages, EKU, CRL and AIA.
    let (_, text) = h.openssl(&["x509", "-in", &cert, "-noout", "-text"]);
    let station = h.station_id();
    for want in [
        "Digital Signature, Non Repudiation, Key Agreement",
        "TLS Web Client Authentication, E-mail Protection",
        // This station's own CRL and CA certificate, as the central serves them.
        format!("URI:http://crl.kiosk-station.invalid/crl/{station}.crl").as_str(),
        format!("CA Issuers - URI:http://crl.kiosk-station.invalid/ca/{station}.cer").as_str(),
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    let objs = h.objects(&key);
    assert_eq!(object_kinds(&objs), EXPECTED, "{objs:?}");
    assert!(
        objs.iter().any(|o| o.starts_with("Certificate Object")),
        "{objs:?}"
    );
    assert!(
        objs.iter().any(|o| o.starts_with("Private Key Object")),
        "{objs:?}"
    );

    let shown = h.ctl(&["key", "show", &key]).ok();
    assert_eq!(shown["certificate_serial"], serial.as_str());
    assert_eq!(shown["stock"]["state"], "issued");
    // Read back as the counter reads any key: issued by this station's
    // sub-CA, up to its root, with the key pair on the key.
    assert_eq!(shown["provenance"]["verified"], true, "{shown}");
    assert_eq!(shown["provenance"]["issued_by"], "station", "{shown}");
    assert_eq!(
        shown["provenance"]["chain"].as_array().unwrap().len(),
        3,
        "{shown}"
    );
    assert_eq!(h.ctl(&["order", "show", &order]).ok()["state"], "completed");

    // Revoke it: the next CRL lists it and openssl sees it revoked.
    h.privileged(&["cert", "revoke", &serial, "--reason", "key-compromise"])
        .ok();
    let crl = h.ctl(&["crl"]).ok();
    assert_eq!(crl["revoked"], 1);
    let out = crate::integrity::crl_text(&h);
    assert!(out.to_uppercase().contains(&serial.to_uppercase()), "{out}");
    crate::integrity::assert_revoked_per_openssl(&h, &cert);
    let shown = h.ctl(&["key", "show", &key]).ok();
    assert_eq!(shown["provenance"]["verified"], false, "{shown}");
    assert_eq!(
        shown["provenance"]["problem"]["code"], "certificate_revoked",
        "{shown}"
    );
    assert_eq!(h.ctl(&["audit", "verify"]).ok()["ok"], true);
}

#[test]
fn bad_paths_are_refused_in_chinese() {
    let h = Hsm::new();
    let order = h.paid_order();
    // A key that is not in stock.
    let loose = h.blank_key();
    let (code, j, out) = h.personalize(&order, &loose, (PIN, PIN), None);
    assert_eq!(
        (code, j["error"]["code"].as_str()),
        (Some(1), Some("not_in_stock")),
        "{out}"
    );
    // PINs that differ, or are trivial.
    let key = h.stocked_key();
    let (_, j, _) = h.personalize(&order, &key, (PIN, "527914"), None);
    assert_eq!(j["error"]["code"], "pin_mismatch");
    let (_, j, _) = h.personalize(&order, &key, ("111111", "111111"), None);
    assert_eq!(j["error"]["code"], "pin_trivial");
    // An unpaid order.
    let app = h.dir.path().join("app2.json");
    std::fs::write(&app, kiosk_app::demo::APPLICATION_JSON).unwrap();
    let unpaid = h.ctl(&["order", "create", app.to_str().unwrap()]).ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, j, _) = h.personalize(&unpaid, &key, (PIN, PIN), None);
    assert_eq!(j["error"]["code"], "invalid_transition");
    // A key assigned to another order.
    let (code, _, out) = h.personalize(&order, &key, (PIN, PIN), Some("prepare"));
    assert_eq!(code, None, "killed: {out}");
    let other = h.paid_order();
    let (_, j, _) = h.personalize(&other, &key, (PIN, PIN), None);
    assert_eq!(j["error"]["code"], "key_of_other_order");
    assert!(j["error"]["message"].as_str().unwrap().contains("其他订单"));
    // A key that is not inserted.
    h.ctl(&[
        "stock",
        "add",
        "--serial",
        "00aa00bb00cc00dd",
        "--model",
        "SoftHSM v2",
    ])
    .ok();
    let (_, j, _) = h.personalize(&other, "00aa00bb00cc00dd", (PIN, PIN), None);
    assert_eq!(j["error"]["code"], "no_token");
    assert!(j["error"]["message"]
        .as_str()
        .unwrap()
        .contains("请插入介质"));
    // A renewal of a certificate this station does not know, then of one
    // that lives on another key.
    let mut v = application("renew", Some("0abc"));
    v["certificate"]["not_after"] = "2026-12-31".into();
    let r = h.paid(&v, None);
    let (_, j, _) = h.run_op(&r, Some(&key), &[PIN], false);
    assert_eq!(j["error"]["code"], "unknown_certificate", "{j}");
    let done = h.stocked_key();
    let (code, issued, out) = h.personalize(&h.paid_order(), &done, (PIN, PIN), None);
    assert_eq!(code, Some(0), "{out}");
    let serial = issued["certificate_serial"].as_str().unwrap();
    let end: chrono::NaiveDate = h.not_after(serial).parse().unwrap();
    let near_end = (end - chrono::Duration::days(30)).to_string();
    let r = h.paid(&application("renew", Some(serial)), Some(&near_end));
    let (_, j, _) = h.run_op(&r, Some(&key), &[PIN], false);
    assert_eq!(j["error"]["code"], "wrong_key", "{j}");
    assert!(j["error"]["message"].as_str().unwrap().contains("原介质"));
}

#[test]
fn no_station_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = crate::support::ctl(dir.path(), &["crl"]).refused("no_station_ca");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("ca csr"),
        "{r}"
    );
}

#[test]
fn a_pin_in_the_environment_or_an_open_file_is_refused() {
    let h = Hsm::new();
    let audit_rows = || h.ctl(&["audit", "verify"]).ok()["rows"].clone();
    let before = audit_rows();
    // The old way: the PIN itself in the environment.
    let mut c = h.command(kiosk_e2e::kioskctl().to_str().unwrap());
    c.env("KIOSK_STATION_PIN", "station-pin-1")
        .args(["--json", "--data-dir"])
        .arg(h.data())
        .arg("crl");
    let r = run(c).refused("secret_source");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains("KIOSK_STATION_PIN"), "{r}");
    assert!(
        !r.to_string().contains("station-pin-1"),
        "not repeated: {r}"
    );
    // A PIN file that other accounts can read.
    let open = kiosk_e2e::secret_file(h.dir.path(), "open-pin", "station-pin-1");
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let mut c = h.command(kiosk_e2e::kioskctl().to_str().unwrap());
    c.env("KIOSK_STATION_PIN_FILE", &open)
        .args(["--json", "--data-dir"])
        .arg(h.data())
        .arg("crl");
    let r = run(c).refused("secret_source");
    assert!(
        r["error"]["message_en"]
            .as_str()
            .unwrap()
            .contains("mode 644"),
        "{r}"
    );
    assert_eq!(audit_rows(), before, "nothing written");
}

#[test]
fn kill_at_every_step_then_resume() {
    let h = Hsm::new();
    for step in kiosk_app::STEPS.map(kiosk_app::Step::as_str) {
        let key = h.stocked_key();
        let order = h.paid_order();
        let (code, _, out) = h.personalize(&order, &key, (PIN, PIN), Some(step));
        assert_eq!(code, None, "{step}: expected SIGKILL: {out}");
        let (code, j, out) = h.personalize(&order, &key, (PIN, PIN), None);
        assert_eq!(code, Some(0), "{step}: resume failed: {out}");
        // Exactly the objects of one personalization, nothing left over.
        let objs = h.objects(&key);
        assert_eq!(object_kinds(&objs), EXPECTED, "{step}: {objs:?}");
        // The key's certificate is the one the database has as active.
        let shown = h.ctl(&["key", "show", &key]).ok();
        let on_key = shown["certificate_serial"].as_str().unwrap().to_string();
        assert_eq!(on_key, j["certificate_serial"].as_str().unwrap(), "{step}");
        let certs = h.ctl(&["cert", "list", "--key", &key]).ok();
        for c in certs["certificates"].as_array().unwrap() {
            let expected = if c["serial"] == on_key.as_str() {
                "active"
            } else {
                "revoked"
            };
            assert_eq!(c["state"], expected, "{step}: {c}");
        }
        assert_eq!(
            h.ctl(&["order", "show", &order]).ok()["state"],
            "completed",
            "{step}"
        );
    }
    assert_eq!(h.ctl(&["audit", "verify"]).ok()["ok"], true);
    let crl = h.ctl(&["crl"]).ok();
    assert!(
        crl["revoked"].as_u64().unwrap() >= 4,
        "certificates voided by the kills are on the CRL: {crl}"
    );
}

#[test]
fn key_pulled_mid_write_is_found_and_redone() {
    let h = Hsm::new();
    let key = h.stocked_key();
    let order = h.paid_order();
    let (code, _, _) = h.personalize(&order, &key, (PIN, PIN), Some("write-certificate"));
    assert_eq!(code, None);
    // Pull the key: its token directory goes away.
    let tokens = h.dir.path().join("tokens");
    let aside = h.dir.path().join("pulled");
    std::fs::create_dir(&aside).unwrap();
    let mut moved = Vec::new();
    for e in std::fs::read_dir(&tokens).unwrap() {
        let p = e.unwrap().path();
        let label = std::fs::read(p.join("token.object")).unwrap_or_default();
        if String::from_utf8_lossy(&label).contains("KIOSK") {
            let to = aside.join(p.file_name().unwrap());
            std::fs::rename(&p, &to).unwrap();
            moved.push((to, p));
        }
    }
    assert_eq!(moved.len(), 1, "the key's token directory");
    let (_, j, out) = h.personalize(&order, &key, (PIN, PIN), None);
    assert_eq!(j["error"]["code"], "no_token", "{out}");
    // Plug it back in: the half-written key is wiped and redone.
    for (from, to) in moved {
        std::fs::rename(from, to).unwrap();
    }
    let (code, _, out) = h.personalize(&order, &key, (PIN, PIN), None);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(object_kinds(&h.objects(&key)), EXPECTED);
}

impl Hsm {
    /// `openssl verify -x509_strict` of a certificate file in `ca/` up to
    /// the root, through the station CA.
    pub(crate) fn verify_chain(&self, cert: &str) -> (bool, String) {
        self.openssl(&[
            "verify",
            "-x509_strict",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "station-ca.pem",
            cert,
        ])
    }

    /// A stocked key personalized for a paid new-issue order: the key's
    /// serial and `order run`'s JSON.
    pub(crate) fn issued_key(&self) -> (String, Value) {
        let key = self.stocked_key();
        let (code, j, out) = self.personalize(&self.paid_order(), &key, (PIN, PIN), None);
        assert_eq!(code, Some(0), "{out}");
        (key, j)
    }

    /// Opens and pays an order for `app` (a JSON value), at `today` when given.
    pub(crate) fn paid(&self, app: &Value, today: Option<&str>) -> String {
        let f = self.dir.path().join(format!("app-{}.json", rand_suffix()));
        std::fs::write(&f, app.to_string()).unwrap();
        let mut args = vec!["order", "create", f.to_str().unwrap()];
        if let Some(t) = today {
            args.extend(["--today", t]);
        }
        let o = self.ctl(&args).ok();
        let id = o["id"].as_str().unwrap().to_string();
        let fee = o["fee"]["total_fen"].as_i64().unwrap().to_string();
        self.ctl(&["order", "check", &id, "--all", "--status", "ok"])
            .ok();
        self.ctl(&["order", "advance", &id, "approve"]).ok();
        self.pay(&id, &fee);
        id
    }

    /// Pays an approved order its fee (in fen): cash with a receipt, or
    /// free when it costs nothing.
    pub(crate) fn pay(&self, id: &str, fee: &str) {
        if fee == "0" {
            self.ctl(&["order", "pay", id, "--method", "free", "--amount-fen", "0"])
                .ok();
        } else {
            self.ctl(&[
                "order",
                "pay",
                id,
                "--method",
                "cash",
                "--amount-fen",
                fee,
                "--receipt",
                "R",
            ])
            .ok();
        }
    }

    /// `order run` for an operation, with the PIN lines it needs.
    pub(crate) fn run_op(
        &self,
        order: &str,
        key: Option<&str>,
        pins: &[&str],
        seal: bool,
    ) -> (Option<i32>, Value, String) {
        let mut c = self.command(kiosk_e2e::kioskctl().to_str().unwrap());
        c.arg("--json").arg("--data-dir").arg(self.data()).args([
            "order",
            "run",
            order,
            "--pin-stdin",
        ]);
        if let Some(k) = key {
            c.args(["--key", k]);
        }
        if seal {
            c.arg("--seal").arg(self.seal());
        }
        with_stdin(c, pins)
    }

    /// The seeds name no price for an ezca revocation: the operator sets
    /// one (free) so that revoke orders can be paid.
    pub(crate) fn free_revocation(&self) {
        self.privileged(&[
            "catalog",
            "set-tariff",
            "--provider",
            "ezca",
            "--operation",
            "revoke",
            "--item",
            "service",
            "--amount-fen",
            "0",
            "--reason",
            "网点免费吊销",
        ])
        .ok();
    }

    /// Imports the shipped catalog one version above the station's, as
    /// `edit` changes it: the operator's catalog.
    pub(crate) fn operator_catalog(&self, edit: impl Fn(String) -> String) -> crate::support::Run {
        let active = self.ctl(&["catalog", "show"]).ok()["active_version"]
            .as_i64()
            .unwrap();
        let base = kiosk_app::domain::Catalog::from_toml(kiosk_app::EMBEDDED_CATALOG)
            .unwrap()
            .version;
        let text = kiosk_app::EMBEDDED_CATALOG.replace(
            &format!("version = {base}\n"),
            &format!("version = {}\n", active + 1),
        );
        let f = self
            .dir
            .path()
            .join(format!("catalog-{}.toml", rand_suffix()));
        std::fs::write(&f, edit(text)).unwrap();
        self.privileged(&["catalog", "import", f.to_str().unwrap()])
    }

    /// The operator keeps cqc on P-256 (its keys not yet moved to SM2), so
    /// that an upgrade is a new key pair in the same algorithm.
    pub(crate) fn cqc_on_p256(&self) {
        self.operator_catalog(cqc_p256).ok();
    }

    /// A supervisor (`s01`, made on first use) approves the order's unlock
    /// or revocation, with the password on stdin as the console takes it.
    pub(crate) fn approve(&self, order: &str) -> (Option<i32>, Value, String) {
        self.supervisor("s01");
        self.approve_as(order, "s01", SUPERVISOR_SECRET)
    }

    /// A supervisor account with [`SUPERVISOR_SECRET`], added (once) as
    /// every account after the first two is: with another's approval.
    fn supervisor(&self, id: &str) {
        let clerks = self.ctl(&["clerk", "list"]).ok();
        if clerks["clerks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id)
        {
            return;
        }
        let add = [
            "clerk",
            "add",
            id,
            "--role",
            "supervisor",
            "--password-stdin",
        ];
        let base = || self.plain(kiosk_e2e::kioskctl().to_str().unwrap());
        crate::support::privileged(&base, &self.data(), &add, &[SUPERVISOR_SECRET]).ok();
    }

    /// `kioskctl ARGS...` as supervisor `boss1`, logged in (see
    /// [`crate::support::as_boss`]).
    pub(crate) fn boss(&self, args: &[&str], stdin: &[&str]) -> crate::support::Run {
        let base = || self.plain(kiosk_e2e::kioskctl().to_str().unwrap());
        crate::support::as_boss(&base, &self.data(), args, stdin)
    }

    /// A privileged command, logged in and approved (see
    /// [`crate::support::privileged`]).
    pub(crate) fn privileged(&self, args: &[&str]) -> crate::support::Run {
        let base = || self.plain(kiosk_e2e::kioskctl().to_str().unwrap());
        crate::support::privileged(&base, &self.data(), args, &[])
    }

    fn approve_as(&self, order: &str, id: &str, secret: &str) -> (Option<i32>, Value, String) {
        let mut c = self.command(kiosk_e2e::kioskctl().to_str().unwrap());
        c.arg("--json").arg("--data-dir").arg(self.data()).args([
            "order",
            "approve",
            order,
            "--supervisor",
            id,
            "--password-stdin",
        ]);
        with_stdin(c, &[secret])
    }

    /// The station's id, as the central knows it.
    pub(crate) fn station_id(&self) -> String {
        self.ctl(&["sync", "status"]).ok()["station_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub(crate) fn cert_state(&self, serial: &str) -> String {
        let all = self.ctl(&["cert", "list"]).ok();
        all["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["serial"] == serial)
            .unwrap()["state"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub(crate) fn not_after(&self, serial: &str) -> String {
        let all = self.ctl(&["cert", "list"]).ok();
        all["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["serial"] == serial)
            .unwrap()["not_after"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

pub(crate) fn application(op: &str, cert: Option<&str>) -> Value {
    let mut v: Value = serde_json::from_str(kiosk_app::demo::APPLICATION_JSON).unwrap();
    v["operation"] = op.into();
    if let Some(c) = cert {
        v["certificate"] = serde_json::json!({ "serial": c });
    }
    if op == "revoke" {
        v["revocation_reason"] = "cessation-of-operation".into();
    }
    v
}

#[test]
fn all_eight_operations_on_softhsm() {
    let h = Hsm::new();
    // SoftHSM2 keys do not do SM2: the upgrade below is the operator's
    // P-256 one (the SM2 upgrade is in `sm2.rs`).
    h.cqc_on_p256();
    let key1 = h.stocked_key();
    let (code, j, out) = h.personalize(&h.paid_order(), &key1, (PIN, PIN), None);
    assert_eq!(code, Some(0), "{out}");
    let cert1 = j["certificate_serial"].as_str().unwrap().to_string();
    let end1: chrono::NaiveDate = h.not_after(&cert1).parse().unwrap();

    // Renew: same key pair, current PIN, validity from the old expiry.
    let mut renew = application("renew", Some(&cert1));
    renew["certificate"]["not_after"] = end1.to_string().into();
    let today = (end1 - chrono::Duration::days(30)).to_string();
    let order = h.paid(&renew, Some(&today));
    let (_, j, _) = h.run_op(&order, Some(&key1), &["000000"], false);
    assert_eq!(j["error"]["code"], "wrong_pin", "{j}");
    let (code, j, out) = h.run_op(&order, Some(&key1), &[PIN], false);
    assert_eq!(code, Some(0), "renew: {out}");
    let cert2 = j["certificate_serial"].as_str().unwrap().to_string();
    // One calendar year after the old expiry (2028 has a 29 February).
    use chrono::Datelike;
    assert_eq!(
        h.not_after(&cert2),
        end1.with_year(end1.year() + 1).unwrap().to_string()
    );
    assert_eq!(h.cert_state(&cert1), "superseded");
    assert_eq!(object_kinds(&h.objects(&key1)), EXPECTED);
    let (ok, out) = h.verify_chain(&format!("{cert2}.pem"));
    assert!(ok, "{out}");

    // Change: the new company name is in the subject; the old one revoked.
    let mut change = application("change", Some(&cert2));
    change["organization"]["name"] = "重庆示例建材集团有限公司".into();
    change["change_details"] = "单位名称变更".into();
    let order = h.paid(&change, None);
    let (code, j, out) = h.run_op(&order, Some(&key1), &[PIN], true);
    assert_eq!(code, Some(0), "change: {out}");
    let cert3 = j["certificate_serial"].as_str().unwrap().to_string();
    let (_, text) = h.openssl(&[
        "x509",
        "-in",
        &format!("{cert3}.pem"),
        "-noout",
        "-subject",
        "-nameopt",
        "utf8",
    ]);
    assert!(text.contains("CN=重庆示例建材集团有限公司"), "{text}");
    assert_eq!(h.cert_state(&cert2), "revoked");
    assert_eq!(
        h.not_after(&cert3),
        h.not_after(&cert2),
        "validity unchanged"
    );

    // Upgrade (cqc): a new key pair on the same key, validity unchanged.
    // From now on the certificates name the company by its new name.
    let renamed = |op: &str, cert: &str| {
        let mut v = application(op, Some(cert));
        v["organization"]["name"] = "重庆示例建材集团有限公司".into();
        v
    };
    let mut upgrade = renamed("upgrade", &cert3);
    upgrade["provider"] = "cqc".into();
    upgrade["project"] = "energy-saving-procurement".into();
    let order = h.paid(&upgrade, None);
    let before: Vec<String> = h.objects(&key1);
    let (code, j, out) = h.run_op(&order, Some(&key1), &[PIN], false);
    assert_eq!(code, Some(0), "upgrade: {out}");
    let cert4 = j["certificate_serial"].as_str().unwrap().to_string();
    assert_eq!(
        object_kinds(&h.objects(&key1)),
        EXPECTED,
        "old key pair removed: {before:?}"
    );
    assert_eq!(h.cert_state(&cert3), "revoked");

    // Unlock: a new PIN set by the SO; the old one no longer opens the key.
    let order = h.paid(&renamed("unlock", &cert4), None);
    assert_eq!(h.approve(&order).0, Some(0));
    let (code, _, out) = h.run_op(&order, Some(&key1), &["864209", "864209"], false);
    assert_eq!(code, Some(0), "unlock: {out}");
    let renew_again = h.paid(&change_of(&cert4), None);
    let (_, j, _) = h.run_op(&renew_again, Some(&key1), &[PIN], false);
    assert_eq!(
        j["error"]["code"], "wrong_pin",
        "old PIN refused after unlock"
    );
    // A refused PIN starts nothing: the order can still be closed.
    assert_eq!(
        h.ctl(&[
            "order",
            "advance",
            &renew_again,
            "cancel",
            "--reason",
            "测试"
        ])
        .ok()["state"],
        "cancelled"
    );

    // Replace a damaged key: new key, same validity, old certificate revoked.
    let key2 = h.stocked_key();
    let order = h.paid(&renamed("replace-damaged", &cert4), None);
    let (code, j, out) = h.run_op(&order, Some(&key2), &[PIN, PIN], true);
    assert_eq!(code, Some(0), "replace-damaged: {out}");
    let cert5 = j["certificate_serial"].as_str().unwrap().to_string();
    assert_eq!(h.not_after(&cert5), h.not_after(&cert4));
    assert_eq!(h.cert_state(&cert4), "revoked");
    let stock = h.ctl(&["stock", "list"]).ok();
    let state_of = |k: &str| {
        stock["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["serial"] == k)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state_of(&key1), "defective");

    // Replace a lost key: the old certificate is revoked automatically.
    let key3 = h.stocked_key();
    let order = h.paid(&renamed("replace-lost", &cert5), None);
    let (code, j, out) = h.run_op(&order, Some(&key3), &[PIN, PIN], true);
    assert_eq!(code, Some(0), "replace-lost: {out}");
    let cert6 = j["certificate_serial"].as_str().unwrap().to_string();
    assert_eq!(h.cert_state(&cert5), "revoked");

    // Revoke: certificate revoked, CRL signed, key wiped. The seeds name no
    // price for it, so the operator sets one first.
    h.free_revocation();
    let order = h.paid(&renamed("revoke", &cert6), Some("2026-11-21"));
    assert_eq!(h.approve(&order).0, Some(0));
    let (code, _, out) = h.run_op(&order, Some(&key3), &[], false);
    assert_eq!(code, Some(0), "revoke: {out}");
    assert_eq!(h.cert_state(&cert6), "revoked");
    assert_eq!(h.token_label(&key3), "REVOKED");
    let out = crate::integrity::crl_text(&h);
    for c in [&cert2, &cert3, &cert4, &cert5, &cert6] {
        assert!(
            out.to_uppercase().contains(&c.to_uppercase()),
            "{c} not on the CRL: {out}"
        );
    }
    assert!(
        !out.to_uppercase().contains(&cert1.to_uppercase()),
        "a renewal supersedes, it does not revoke"
    );
    // Each with the reason its operation implies, as openssl names them.
    for (c, reason) in [
        (&cert2, "Superseded"),
        (&cert3, "Superseded"),
        (&cert4, "Superseded"),
        (&cert5, "Key Compromise"),
        (&cert6, "Cessation Of Operation"),
    ] {
        let entry = crate::integrity::crl_entry(&out, c).unwrap();
        assert!(entry.contains(reason), "{c}: {reason} in {entry}");
    }
    crate::integrity::lint_ca_dir(&h.data().join("ca"));
    assert_eq!(h.ctl(&["audit", "verify"]).ok()["ok"], true);
}

fn change_of(cert: &str) -> Value {
    let mut v = application("change", Some(cert));
    v["change_details"] = "联系人变更".into();
    v
}

const SUPERVISOR_SECRET: &str = "Counter-Supervisor-7";

/// `kioskctl order run` gives an unlock or a revocation the same refusal
/// as the console until a supervisor other than the clerk approved it; the
/// refusal comes before any PIN is read, and nothing is written.
#[test]
fn the_cli_refuses_unlock_and_revoke_without_a_supervisor() {
    let h = Hsm::new();
    let (key, j) = h.issued_key();
    let cert = j["certificate_serial"].as_str().unwrap().to_string();
    h.free_revocation();
    for op in ["unlock", "revoke"] {
        let order = h.paid(&application(op, Some(&cert)), Some("2026-11-21"));
        let audit_before = h.ctl(&["audit", "verify"]).ok();
        // No PIN lines on stdin: the refusal must come before they are read.
        let (code, j, out) = h.run_op(&order, Some(&key), &[], false);
        assert_eq!(code, Some(1), "{op}: {out}");
        assert_eq!(j["error"]["code"], "approval_required", "{op}: {j}");
        assert_eq!(j["error"]["rejections"][0]["field"], "supervisor");
        assert!(
            j["error"]["message"].as_str().unwrap().contains("主管"),
            "{j}"
        );
        assert!(
            j["error"]["message_en"]
                .as_str()
                .unwrap()
                .contains("supervisor"),
            "{j}"
        );
        assert_eq!(h.cert_state(&cert), "active", "{op}: nothing revoked");
        assert_eq!(
            h.ctl(&["audit", "verify"]).ok()["rows"],
            audit_before["rows"],
            "{op}: nothing written"
        );
        // A clerk's own password approves nothing; the supervisor who is
        // carrying it out cannot approve it; nor does a wrong password.
        h.supervisor("s01");
        let (code, j, _) = h.approve_as(&order, "t01", crate::support::CLERK_SECRET);
        assert_eq!(code, Some(1));
        assert_eq!(j["error"]["code"], "not_supervisor", "{j}");
        let own = [
            "order",
            "approve",
            &order,
            "--supervisor",
            "boss1",
            "--password-stdin",
        ];
        let j = h
            .boss(&own, &[crate::support::BOSS_SECRET])
            .refused("self_approval");
        assert!(j["error"]["message"].as_str().is_some(), "{j}");
        let (code, j, _) = h.approve_as(&order, "s01", "wrong-password-1");
        assert_eq!(code, Some(1));
        assert_eq!(j["error"]["code"], "bad_credentials", "{j}");
        let (code, j, out) = h.run_op(&order, Some(&key), &[], false);
        assert_eq!(code, Some(1), "{out}");
        assert_eq!(j["error"]["code"], "approval_required");
        h.ctl(&["order", "advance", &order, "cancel", "--reason", "测试"])
            .ok();
    }
}

#[test]
fn wrong_pins_lock_the_key_until_unlocked_and_pin_change() {
    let h = Hsm::new();
    let (key, j) = h.issued_key();
    let cert = j["certificate_serial"].as_str().unwrap().to_string();
    let change = |old: &str, new: &str| h.run_key_pin_change(&key, &[old, new, new]);
    // SoftHSM2 never locks; the station counts the wrong PINs itself.
    for _ in 0..10 {
        let (_, j, _) = change("000000", "246813");
        assert_eq!(j["error"]["code"], "wrong_pin", "{j}");
    }
    let shown = h.ctl(&["key", "show", &key]).ok();
    assert_eq!(shown["lock"]["locked"], true, "{shown}");
    assert!(shown["lock"]["hint"]
        .as_str()
        .unwrap()
        .contains("PIN码解锁"));
    let (_, j, _) = change(PIN, "246813");
    assert_eq!(j["error"]["code"], "pin_locked");
    // Unlock sets a new PIN and clears the count.
    let order = h.paid(&application("unlock", Some(&cert)), None);
    assert_eq!(h.approve(&order).0, Some(0));
    let (code, _, out) = h.run_op(&order, Some(&key), &["864209", "864209"], false);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(h.ctl(&["key", "show", &key]).ok()["lock"]["locked"], false);
    let (code, _, out) = change("864209", "975310");
    assert_eq!(code, Some(0), "{out}");
    let (_, j, _) = change("864209", "975310");
    assert_eq!(
        j["error"]["code"], "wrong_pin",
        "the old PIN no longer works"
    );
}

impl Hsm {
    fn run_key_pin_change(&self, key: &str, lines: &[&str]) -> (Option<i32>, Value, String) {
        let mut c = self.command(kiosk_e2e::kioskctl().to_str().unwrap());
        c.arg("--json").arg("--data-dir").arg(self.data()).args([
            "key",
            "pin-change",
            key,
            "--pin-stdin",
        ]);
        with_stdin(c, lines)
    }
}

#[test]
fn kill_a_renewal_at_every_step_then_resume() {
    let h = Hsm::new();
    let (mut key, mut current) = (String::new(), String::new());
    for (i, step) in [
        "prepare",
        "request",
        "issue",
        "write-certificate",
        "write-seal",
        "remove-old",
        "verify",
        "complete",
    ]
    .into_iter()
    .enumerate()
    {
        // Each renewal adds a year; the demo sub-CA runs five, and no
        // certificate outlives it: a fresh key every other step.
        if i % 2 == 0 {
            let (k, j) = h.issued_key();
            key = k;
            current = j["certificate_serial"].as_str().unwrap().to_string();
        }
        let end: chrono::NaiveDate = h.not_after(&current).parse().unwrap();
        let renew = application("renew", Some(&current));
        let order = h.paid(
            &renew,
            Some(&(end - chrono::Duration::days(10)).to_string()),
        );
        let mut c = h.command(kiosk_e2e::kioskctl().to_str().unwrap());
        c.arg("--json").arg("--data-dir").arg(h.data()).args([
            "order",
            "run",
            &order,
            "--key",
            &key,
            "--pin-stdin",
        ]);
        c.env("KIOSK_KILL_AT_STEP", step)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        {
            use std::io::Write;
            writeln!(child.stdin.take().unwrap(), "{PIN}").unwrap();
        }
        assert_eq!(
            child.wait().unwrap().code(),
            None,
            "{step}: expected SIGKILL"
        );
        let (code, j, out) = h.run_op(&order, Some(&key), &[PIN], false);
        assert_eq!(code, Some(0), "{step}: resume failed: {out}");
        let renewed = j["certificate_serial"].as_str().unwrap().to_string();
        assert_eq!(object_kinds(&h.objects(&key)), EXPECTED, "{step}");
        let on_key = h.ctl(&["key", "show", &key]).ok()["certificate_serial"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(on_key, renewed, "{step}");
        assert_eq!(h.cert_state(&renewed), "active", "{step}");
        assert_eq!(h.cert_state(&current), "superseded", "{step}");
        current = renewed;
    }
    assert_eq!(h.ctl(&["audit", "verify"]).ok()["ok"], true);
}

/// A station on the production path: its token prepared by the operator,
/// a CSR made, and a central root (openssl) in `central/` that signs it.
/// Returns the station, the central directory and the CSR path.
pub(crate) fn production_station() -> (Hsm, PathBuf, String) {
    production_station_with(|_| {})
}

/// A station whose operator has prepared its token (an HSM in
/// production) and nothing else: no data directory, no key in the token.
pub(crate) fn bare_station() -> Hsm {
    let dir = tempfile::tempdir().unwrap();
    kiosk_e2e::softhsm_conf(dir.path());
    let h = Hsm {
        dir,
        sm2_station: None,
    };
    let ok = |c: &mut Command| assert!(c.status().unwrap().success());
    ok(h.plain("softhsm2-util").args([
        "--init-token",
        "--free",
        "--label",
        "kiosk-station",
        "--so-pin",
        "station-so-1",
        "--pin",
        "station-pin-1",
    ]));
    h
}

/// [`production_station`], with `first` done on the bare station before
/// its sub-CA request (a master provisioned from the central, say).
pub(crate) fn production_station_with(first: impl FnOnce(&Hsm)) -> (Hsm, PathBuf, String) {
    let h = bare_station();
    first(&h);
    let csr = h.boss(&["ca", "csr"], &[]).ok();
    let csr_path = csr["csr_pem"].as_str().unwrap().to_string();
    let central = h.dir.path().join("central");
    central_root(&central);
    (h, central, csr_path)
}

/// A central root CA in `dir` (`root.key`, `root.pem`, named Central
/// Root), and the extensions it gives a station sub-CA (`ext.cnf`).
fn central_root(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    openssl_in(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-days",
            "3650",
            "-subj",
            "/C=CN/O=Central CA/CN=Central Root",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n").unwrap();
}

fn openssl_in(dir: &Path, args: &[&str]) {
    kiosk_e2e::output_ok(
        Command::new("openssl").current_dir(dir).args(args),
        &format!("openssl {args:?}"),
    );
}

/// Another root with the central root's very name signs the station's
/// CSR (`central/rogue/`); returns the bundle (sub-CA, then that root).
fn rogue_root_signs(central: &Path, csr: &str) -> PathBuf {
    let rogue = central.join("rogue");
    central_root(&rogue);
    central_signs(&rogue, csr, "1825", "bundle.pem")
}

/// The central root signs the station's CSR as a sub-CA valid for `days`;
/// returns the PEM bundle (sub-CA, then root) named `name`.
pub(crate) fn central_signs(central: &Path, csr: &str, days: &str, name: &str) -> PathBuf {
    let sub = format!("{name}.sub.pem");
    openssl_in(
        central,
        &[
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            days,
            "-extfile",
            "ext.cnf",
            "-out",
            &sub,
        ],
    );
    let bundle = central.join(name);
    let text = std::fs::read_to_string(central.join(&sub)).unwrap()
        + &std::fs::read_to_string(central.join("root.pem")).unwrap();
    std::fs::write(&bundle, text).unwrap();
    bundle
}

#[test]
fn production_path_csr_to_the_central_ca_then_import() {
    let (h, central, csr_path) = production_station();
    let bundle = central_signs(&central, &csr_path, "1825", "bundle.pem");
    // A certificate for another key is refused; the right one is installed.
    openssl_in(
        &central,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Other",
        ],
    );
    let r = h.boss(
        &["ca", "import", central.join("other.pem").to_str().unwrap()],
        &[],
    );
    assert_eq!(
        r.json["error"]["code"], "bad_ca_certificate",
        "{}",
        r.stdout
    );
    // A clerk (logged in first) cannot install the station's issuing CA;
    // a supervisor can.
    h.ctl(&["clerk", "list"]).ok();
    let before = crate::support::counts(&h.data());
    h.ctl(&["ca", "import", bundle.to_str().unwrap()])
        .refused("forbidden");
    assert_eq!(crate::support::counts(&h.data()), before, "nothing written");
    // Without the chain to its root, or with a root that did not sign it,
    // the certificate is refused.
    let sub_only = central.join("bundle.pem.sub.pem");
    let e = h
        .boss(&["ca", "import", sub_only.to_str().unwrap()], &[])
        .refused("bad_ca_certificate");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("证书链"),
        "{e}"
    );
    let rogue = rogue_root_signs(&central, &csr_path);
    let mismatched = central.join("mismatched.pem");
    std::fs::write(
        &mismatched,
        std::fs::read_to_string(central.join("rogue/bundle.pem.sub.pem")).unwrap()
            + &std::fs::read_to_string(central.join("root.pem")).unwrap(),
    )
    .unwrap();
    let e = h
        .boss(&["ca", "import", mismatched.to_str().unwrap()], &[])
        .refused("bad_ca_certificate");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("不是由其后一张签发"),
        "{e}"
    );
    assert_eq!(crate::support::counts(&h.data()), before, "nothing written");
    h.boss(&["ca", "import", bundle.to_str().unwrap()], &[])
        .ok();
    // A renewal must end at the root the station trusts: a chain that holds
    // up to another root (of the same name) is refused.
    let e = h
        .boss(&["ca", "import", rogue.to_str().unwrap()], &[])
        .refused("bad_ca_certificate");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("根证书"),
        "{e}"
    );

    let (_, j) = h.issued_key();
    let cert = format!("{}.pem", j["certificate_serial"].as_str().unwrap());
    let (ok, out) = h.verify_chain(&cert);
    assert!(ok, "chain to the central root: {out}");
    // The first key work signed the station's first CRL; numbers only grow.
    let before = h.ctl(&["ca", "show"]).ok()["crl_number"].as_i64().unwrap();
    assert_eq!(before, 1);
    let crl = h.ctl(&["crl"]).ok();
    assert_eq!(crl["number"], before + 1);
    // A sub-CA certificate the central (openssl) made, the station's
    // certificates under it, and its CRL.
    crate::integrity::lint_ca_dir(&h.data().join("ca"));
}

/// Runs a command with `lines` on its stdin: (exit code, JSON stdout,
/// stdout and stderr as text).
pub(crate) fn with_stdin(mut c: Command, lines: &[&str]) -> (Option<i32>, Value, String) {
    use std::io::Write;
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (
        out.status.code(),
        json,
        stdout + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn rsa_2048_where_the_profile_says() {
    let h = Hsm::new();
    // The operator's catalog switches ezca to RSA-2048.
    let ezca = |t: String, usage: &str| {
        let at = t.find("[[profiles]]\nprovider = \"ezca\"").unwrap();
        let (head, tail) = t.split_at(at);
        let tail = tail
            .replacen(
                "key_algorithm = \"ec-p256\"",
                "key_algorithm = \"rsa-2048\"",
                1,
            )
            .replacen(
                "key_usage = [\"digital-signature\", \"non-repudiation\", \"key-agreement\"]",
                usage,
                1,
            );
        head.to_string() + &tail
    };
    // An RSA key does not agree keys: the catalog must say what it does.
    let same = "key_usage = [\"digital-signature\", \"non-repudiation\", \"key-agreement\"]";
    let e = h
        .operator_catalog(|t| ezca(t, same))
        .refused("inconsistent");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("key-encipherment"),
        "{e}"
    );
    let rsa = "key_usage = [\"digital-signature\", \"non-repudiation\", \"key-encipherment\"]";
    h.operator_catalog(|t| ezca(t, rsa)).ok();

    let (key, j) = h.issued_key();
    let cert = format!("{}.pem", j["certificate_serial"].as_str().unwrap());
    let (ok, out) = h.verify_chain(&cert);
    assert!(ok, "{out}");
    let (_, text) = h.openssl(&["x509", "-in", &cert, "-noout", "-text"]);
    assert!(
        text.contains("rsaEncryption") && text.contains("Public-Key: (2048 bit)"),
        "{text}"
    );
    assert_eq!(object_kinds(&h.objects(&key)), EXPECTED);
    crate::integrity::lint_ca_dir(&h.data().join("ca"));
}

#[test]
fn upgrade_onto_a_new_key_when_the_model_cannot_upgrade_in_place() {
    let h = Hsm::new_sm2();
    // The operator's catalog says no key model can be upgraded in place
    // (like the 01/03-series keys of [000]).
    h.operator_catalog(|t| t.replace("upgrade_in_place = true", "upgrade_in_place = false"))
        .ok();

    let old_key = h.stocked_key();
    let (code, j, out) = h.personalize(&h.paid_order(), &old_key, (PIN, PIN), None);
    assert_eq!(code, Some(0), "{out}");
    let old = j["certificate_serial"].as_str().unwrap().to_string();
    let mut upgrade = application("upgrade", Some(&old));
    upgrade["provider"] = "cqc".into();
    upgrade["project"] = "energy-saving-procurement".into();
    let order = h.paid(&upgrade, None);
    let (_, j, _) = h.run_op(&order, Some(&old_key), &[PIN], false);
    assert_eq!(j["error"]["code"], "upgrade_needs_new_key", "{j}");
    assert!(j["error"]["message"].as_str().unwrap().contains("新介质"));
    // A new SM2 key from stock (cqc is SM2): new PIN twice, validity
    // unchanged, old replaced.
    let new_key = h.stocked_sm2_key();
    let (code, j, out) = h.run_op(&order, Some(&new_key), &["246813", "246813"], true);
    assert_eq!(code, Some(0), "{out}");
    let new = j["certificate_serial"].as_str().unwrap().to_string();
    assert_eq!(h.not_after(&new), h.not_after(&old));
    assert_eq!(h.cert_state(&old), "revoked");
    let shown = h.ctl(&["key", "show", &new_key]).ok();
    assert_eq!(shown["certificate_serial"], new.as_str(), "{shown}");
    let objects = shown["objects"].to_string();
    assert!(
        objects.contains("seal.ses") && objects.contains("seal.png"),
        "{objects}"
    );
    crate::integrity::lint_ca_dir(&h.data().join("ca"));
    crate::integrity::lint_ca_dir(&h.data().join("ca").join("sm2"));
}

impl Hsm {
    fn objects_with_pin(&self, key_serial: &str, pin: &str) -> Vec<String> {
        let out = self
            .plain("pkcs11-tool")
            .args(["--module", MODULE, "--token-label"])
            .arg(self.token_label(key_serial))
            .args(["--login", "--pin", pin, "--list-objects"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("Object") || l.starts_with("Data object"))
            .map(|l| {
                if l.starts_with("Data object") {
                    "Data object".to_string()
                } else {
                    l.split(';').next().unwrap().trim().to_string()
                }
            })
            .collect()
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn no_pin_or_password_is_left_in_the_data_directory_the_output_or_a_process_environment() {
    let h = Hsm::new();
    // An applicant PIN of its own, so that no stored number matches it by
    // chance.
    const APPLICANT_PIN: &str = "73920461";
    let key = h.stocked_key();
    let order = h.paid_order();
    let seal = h.seal();
    let mut c = h.command(kiosk_e2e::kioskctl().to_str().unwrap());
    c.arg("--json")
        .arg("--data-dir")
        .arg(h.data())
        .args(["order", "run", &order, "--key", &key, "--seal"])
        .arg(&seal)
        .arg("--pin-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    // While it waits for the PIN, with the station token's settings: its
    // environment names files, never a secret.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{APPLICANT_PIN}\n{APPLICANT_PIN}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let issued: Value = serde_json::from_slice(&out.stdout).unwrap();
    let serial = issued["certificate_serial"].as_str().unwrap().to_string();
    let mut printed = [out.stdout, out.stderr].concat();
    // Passwords at the command line: a privileged revocation (two
    // supervisors) and the clerk's login, done above.
    let r = h.privileged(&["cert", "revoke", &serial, "--reason", "key-compromise"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    printed.extend(r.stdout.bytes().chain(r.stderr.bytes()));

    let secrets = [
        APPLICANT_PIN,
        "station-pin-1",
        TRANSPORT,
        crate::support::BOSS_SECRET,
        crate::support::CLERK_SECRET,
    ];
    let mut places: Vec<(String, Vec<u8>)> = files_under(&h.data())
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    assert!(places.len() > 5, "the data directory: {places:?}");
    places.push(("the process environment".into(), environ));
    places.push(("what kioskctl printed".into(), printed));
    for (place, bytes) in &places {
        for s in secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{s:?} found in {place}"
            );
        }
    }
}
