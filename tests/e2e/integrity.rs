//! A certificate authority that cannot be talked into a wrong certificate:
//! another company's certificate, an application that lies about dates, a
//! pinned date or a clock set back, a sub-CA about to end, and a CRL that
//! keeps every revocation across a sub-CA renewal. Every certificate and CRL
//! goes through an RFC 5280 linter the project did not write (pkilint).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::keys::{application, central_signs, production_station, with_stdin, Hsm, PIN};
use crate::support::{counts, run};

/// Company B: another name, another USCC.
const OTHER_NAME: &str = "福州另一家科技有限公司";
const OTHER_USCC: &str = "91350100M000100Y43";

/// The pkilint venv `scripts/deps` makes.
fn pkilint(tool: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/pkilint-0.13.3/bin")
        .join(tool);
    assert!(p.exists(), "{} missing: run scripts/deps", p.display());
    p
}

/// Runs pkilint at severity WARNING and above: its exit code counts the
/// findings, and it prints them.
fn lint(tool: &str, args: &[&str]) {
    let out = Command::new(pkilint(tool))
        .args(["lint", "-s", "WARNING"])
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !text.contains("Failed to load"),
        "{tool} {args:?}: {text}"
    );
}

/// Lints every certificate and the CRL a station wrote to its `ca/`:
/// each certificate on its own, each link of each chain, and the CRL.
pub(crate) fn lint_ca_dir(ca: &Path) {
    let path = |n: &str| ca.join(n).to_str().unwrap().to_string();
    let (root, sub) = (path("root.pem"), path("station-ca.pem"));
    lint("lint_pkix_cert", &[&root]);
    lint("lint_pkix_cert", &[&sub]);
    lint("lint_pkix_signer_signee_cert_chain", &[&root, &sub]);
    let mut end_entities = 0;
    for e in std::fs::read_dir(ca).unwrap() {
        let name = e.unwrap().file_name().to_str().unwrap().to_string();
        let is_serial = name
            .strip_suffix(".pem")
            .is_some_and(|s| s.chars().all(|c| c.is_ascii_hexdigit()));
        if is_serial {
            let ee = path(&name);
            lint("lint_pkix_cert", &[&ee]);
            lint("lint_pkix_signer_signee_cert_chain", &[&sub, &ee]);
            end_entities += 1;
        }
    }
    assert!(
        end_entities > 0,
        "no end-entity certificate in {}",
        ca.display()
    );
    if ca.join("station.crl").exists() {
        lint(
            "lint_crl",
            &["-t", "CRL", "-p", "PKIX", &path("station.crl")],
        );
    }
}

fn org(v: &mut Value, name: &str, uscc: &str) {
    v["organization"]["name"] = name.into();
    v["organization"]["uscc"] = uscc.into();
}

fn create(h: &Hsm, app: &Value, today: Option<&str>) -> crate::support::Run {
    let f = h.dir.path().join(format!("app-{}.json", rand()));
    std::fs::write(&f, app.to_string()).unwrap();
    let mut args = vec!["order", "create", f.to_str().unwrap()];
    if let Some(t) = today {
        args.extend(["--today", t]);
    }
    h.ctl(&args)
}

fn rand() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The CRL as openssl prints it, after openssl verified its signature.
pub(crate) fn crl_text(h: &Hsm) -> String {
    let (ok, out) = h.openssl(&[
        "crl",
        "-in",
        "station.crl",
        "-CAfile",
        "station-ca.pem",
        "-verify",
        "-noout",
        "-text",
    ]);
    assert!(ok && out.contains("verify OK"), "{out}");
    out
}

/// `openssl verify -crl_check` up to the root refuses `cert` as revoked.
pub(crate) fn assert_revoked_per_openssl(h: &Hsm, cert: &str) {
    let (ok, out) = h.openssl(&[
        "verify",
        "-crl_check",
        "-CRLfile",
        "station.crl",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "station-ca.pem",
        cert,
    ]);
    assert!(!ok && out.contains("revoked"), "{out}");
}

/// The block of one serial in `openssl crl -text`, upper-case hex.
pub(crate) fn crl_entry(text: &str, serial: &str) -> Option<String> {
    let want = format!("Serial Number: {}", serial.to_uppercase());
    let start = text.find(&want)?;
    let rest = &text[start + want.len()..];
    let end = rest.find("Serial Number:").unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

#[test]
fn another_companys_certificate_is_refused_for_every_operation() {
    let h = Hsm::new();
    let (_key, j) = h.issued_key();
    let cert_a = j["certificate_serial"].as_str().unwrap().to_string();
    h.free_revocation();
    let before = counts(&h.data());
    for op in [
        "renew",
        "change",
        "replace-lost",
        "replace-damaged",
        "unlock",
        "revoke",
        "upgrade",
    ] {
        let mut app = application(op, Some(&cert_a));
        org(&mut app, OTHER_NAME, OTHER_USCC);
        if op == "change" {
            app["change_details"] = "单位名称变更".into();
        }
        if op == "upgrade" {
            app["provider"] = "cqc".into();
            app["project"] = "energy-saving-procurement".into();
        }
        let e = create(&h, &app, None).refused("certificate_of_another_company")["error"].clone();
        let r = &e["rejections"][0];
        assert_eq!(r["field"], "certificate.serial", "{op}: {e}");
        // Both companies named, and what to do, in both languages.
        let zh = e["message"].as_str().unwrap();
        let en = e["message_en"].as_str().unwrap();
        for want in [
            "重庆示例建材有限公司",
            "91500000MA5U8K2T0A",
            OTHER_NAME,
            OTHER_USCC,
        ] {
            assert!(zh.contains(want), "{op}: {zh}");
        }
        assert!(
            en.contains(OTHER_USCC) && en.contains("91500000MA5U8K2T0A"),
            "{op}: {en}"
        );
        if op == "change" {
            assert!(
                zh.contains("新办") && en.contains("new certificate"),
                "{op}: {zh} / {en}"
            );
        }
    }
    // Same USCC, another name: only a change may rename.
    let mut renamed = application("renew", Some(&cert_a));
    renamed["organization"]["name"] = OTHER_NAME.into();
    let e = create(&h, &renamed, None).refused("company_name_differs")["error"].clone();
    assert_eq!(e["rejections"][0]["field"], "organization.name", "{e}");
    assert_eq!(counts(&h.data()), before, "nothing written");
    // A's certificate is untouched and off the CRL.
    assert_eq!(h.cert_state(&cert_a), "active");
    let crl = h.ctl(&["crl"]).ok();
    assert_eq!(crl["revoked"], 0, "{crl}");
    assert!(crl_entry(&crl_text(&h), &cert_a).is_none());
    // The change of name itself is taken (same USCC).
    let mut change = application("change", Some(&cert_a));
    change["organization"]["name"] = OTHER_NAME.into();
    change["change_details"] = "单位名称变更".into();
    create(&h, &change, None).ok();
}

#[test]
fn dates_come_from_the_record_and_key_work_from_the_clock() {
    let h = Hsm::new();
    // The operators' accounts, on the true clock (the revocation below is
    // tried on a clock set back, by a logged-in clerk with approval).
    h.privileged(&["clerk", "list"]).ok();
    let (key, j) = h.issued_key();
    let cert = j["certificate_serial"].as_str().unwrap().to_string();
    let end: chrono::NaiveDate = h.not_after(&cert).parse().unwrap();
    let near_end = (end - chrono::Duration::days(30)).to_string();

    // An application that lies about the old certificate's end.
    let mut lying = application("renew", Some(&cert));
    lying["certificate"]["not_after"] = (end + chrono::Duration::days(365)).to_string().into();
    let e = create(&h, &lying, Some(&near_end)).refused("dates_disagree")["error"].clone();
    assert_eq!(e["rejections"][0]["field"], "certificate.not_after", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains(&end.to_string()),
        "{e}"
    );

    // Left out, the station fills it from its record.
    let order = h.paid(&application("renew", Some(&cert)), Some(&near_end));
    let shown = h.ctl(&["order", "show", &order]).ok();
    assert_eq!(
        shown["application"]["certificate"]["not_after"],
        end.to_string(),
        "{shown}"
    );

    // Key work with the rules' date pinned: refused before the PIN.
    let audit = counts(&h.data());
    let mut c = h.command(kiosk_e2e::kioskctl().to_str().unwrap());
    c.arg("--json").arg("--data-dir").arg(h.data()).args([
        "--today",
        &near_end,
        "order",
        "run",
        &order,
        "--key",
        &key,
        "--pin-stdin",
    ]);
    let (code, j, out) = with_stdin(c, &[PIN]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(j["error"]["code"], "today_pinned", "{j}");
    assert_eq!(j["error"]["rejections"][0]["field"], "today", "{j}");
    assert_eq!(counts(&h.data()), audit, "nothing written");
    assert_eq!(h.cert_state(&cert), "active");

    // The clock set back an hour behind what the station recorded.
    let faked = |args: &[&str], stdin: &[&str]| {
        let mut c = h.command("faketime");
        c.env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .args(["-f", "-1h"])
            .arg(kiosk_e2e::kioskctl())
            .arg("--json")
            .arg("--data-dir")
            .arg(h.data())
            .args(args);
        with_stdin(c, stdin)
    };
    let (code, j, out) = faked(
        &["order", "run", &order, "--key", &key, "--pin-stdin"],
        &[PIN],
    );
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(j["error"]["code"], "clock_behind", "{j}");
    assert!(
        j["error"]["message"].as_str().unwrap().contains("校准"),
        "{j}"
    );
    let (code, j, _) = faked(&["crl"], &[]);
    assert_eq!(
        (code, j["error"]["code"].as_str()),
        (Some(1), Some("clock_behind")),
        "{j}"
    );
    let faked_ctl = || {
        let mut c = h.command("faketime");
        c.env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .args(["-f", "-1h"])
            .arg(kiosk_e2e::kioskctl());
        c
    };
    let r = crate::support::privileged(
        &faked_ctl,
        &h.data(),
        &["cert", "revoke", &cert, "--reason", "key-compromise"],
        &[],
    );
    assert_eq!(r.json["error"]["code"], "clock_behind", "{}", r.stdout);
    assert_eq!(counts(&h.data()), audit, "nothing written");
    assert_eq!(h.cert_state(&cert), "active");

    // On the true clock the renewal runs, from the recorded end.
    let (code, j, out) = h.run_op(&order, Some(&key), &[PIN], false);
    assert_eq!(code, Some(0), "{out}");
    let renewed = j["certificate_serial"].as_str().unwrap();
    use chrono::Datelike;
    assert_eq!(
        h.not_after(renewed),
        end.with_year(end.year() + 1).unwrap().to_string()
    );
    // The receipt says the key signed and decrypted at hand-over.
    let form = h.ctl(&["form", &order, "receipt"]).ok();
    let out = Command::new("pdftotext")
        .args([form["path"].as_str().unwrap(), "-"])
        .output()
        .unwrap();
    let text: String = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect();
    assert!(text.contains("签名验证通过；加解密测试通过"), "{text}");
    lint_ca_dir(&h.data().join("ca"));
}

#[test]
fn no_certificate_outlives_its_sub_ca() {
    let (h, central, csr) = production_station();
    // A sub-CA that is not allowed to sign CAs is required.
    std::fs::write(
        central.join("loose.cnf"),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    )
    .unwrap();
    let ext = central.join("ext.cnf");
    let strict = std::fs::read_to_string(&ext).unwrap();
    std::fs::copy(central.join("loose.cnf"), &ext).unwrap();
    let loose = central_signs(&central, &csr, "1825", "loose.pem");
    std::fs::write(&ext, strict).unwrap();
    let e = h
        .boss(&["ca", "import", loose.to_str().unwrap()], &[])
        .refused("bad_ca_certificate")["error"]
        .clone();
    assert!(
        e["message_en"]
            .as_str()
            .unwrap()
            .contains("pathLenConstraint 0"),
        "{e}"
    );

    // A sub-CA with 40 days left: the console warns, a one-year
    // certificate is refused, nothing is written.
    let short = central_signs(&central, &csr, "40", "short.pem");
    h.boss(&["ca", "import", short.to_str().unwrap()], &[]).ok();
    let shown = h.ctl(&["ca", "show"]).ok();
    assert_eq!(
        shown["warnings"][0]["code"], "station_ca_expiring",
        "{shown}"
    );
    let key = h.stocked_key();
    let order = h.paid_order();
    let before = counts(&h.data());
    let (code, j, out) = h.personalize(&order, &key, (PIN, PIN), None);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(j["error"]["code"], "outlives_issuer", "{j}");
    assert!(
        j["error"]["message"].as_str().unwrap().contains("更新"),
        "{j}"
    );
    assert_eq!(counts(&h.data()), before, "nothing written");
    let certs = h.ctl(&["cert", "list"]).ok();
    assert_eq!(certs["certificates"], serde_json::json!([]), "{certs}");
    assert_eq!(
        h.ctl(&["stock", "list"]).ok()["keys"][0]["state"],
        "in-stock"
    );

    // Renewed for five years (same key), the same order runs.
    let renewed = central_signs(&central, &csr, "1825", "renewed.pem");
    h.boss(&["ca", "import", renewed.to_str().unwrap()], &[])
        .ok();
    assert_eq!(
        h.ctl(&["ca", "show"]).ok()["warnings"],
        serde_json::json!([])
    );
    let (code, _, out) = h.personalize(&order, &key, (PIN, PIN), None);
    assert_eq!(code, Some(0), "{out}");
    lint_ca_dir(&h.data().join("ca"));
}

#[test]
fn the_crl_keeps_every_revocation_across_a_sub_ca_renewal() {
    let (h, central, csr) = production_station();
    let bundle = central_signs(&central, &csr, "1825", "bundle.pem");
    h.boss(&["ca", "import", bundle.to_str().unwrap()], &[])
        .ok();
    let (_, j) = h.issued_key();
    let first = j["certificate_serial"].as_str().unwrap().to_string();
    let first_pem = j["certificate_pem"].as_str().unwrap().to_string();
    // Revoking signs a CRL at once.
    let r = h
        .privileged(&["cert", "revoke", &first, "--reason", "key-compromise"])
        .ok();
    let first_crl = r["crl"]["number"].as_i64().unwrap();
    let revoked_at = r["certificate"]["revoked_at"].as_str().unwrap().to_string();
    let text = crl_text(&h);
    let entry = crl_entry(&text, &first).expect("listed at once");
    assert!(entry.contains("Key Compromise"), "{entry}");

    // The central renews the sub-CA certificate for the same key.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let renewed = central_signs(&central, &csr, "1825", "renewed.pem");
    h.boss(&["ca", "import", renewed.to_str().unwrap()], &[])
        .ok();
    let (_, j) = h.issued_key();
    let second = j["certificate_serial"].as_str().unwrap().to_string();
    let r = h
        .privileged(&["cert", "revoke", &second, "--reason", "affiliation-changed"])
        .ok();
    assert!(r["crl"]["number"].as_i64().unwrap() > first_crl);

    // The new CRL, signed under the renewed certificate, lists both, each
    // with its own date and reason.
    let text = crl_text(&h);
    let one = crl_entry(&text, &first).expect("the earlier revocation stays");
    let two = crl_entry(&text, &second).expect("the new one");
    assert!(one.contains("Key Compromise"), "{one}");
    assert!(two.contains("Affiliation Changed"), "{two}");
    let at = chrono::DateTime::parse_from_rfc3339(&revoked_at).unwrap();
    let openssl_date = at.format("%b %e %H:%M:%S %Y GMT").to_string();
    assert!(one.contains(&openssl_date), "{openssl_date} in {one}");
    assert!(!two.contains(&openssl_date), "each its own date: {two}");
    // openssl verify with the CRL: the first certificate (issued under the
    // old sub-CA certificate) is revoked.
    assert_revoked_per_openssl(&h, &first_pem);

    // A lost key's replacement revokes the old certificate (keyCompromise)
    // and re-signs the CRL in the same run.
    let (key3, j) = h.issued_key();
    let third = j["certificate_serial"].as_str().unwrap().to_string();
    let order = h.paid(&application("replace-lost", Some(&third)), None);
    let fresh = h.stocked_key();
    let (code, j, out) = h.personalize(&order, &fresh, (PIN, PIN), None);
    assert_eq!(code, Some(0), "{out}");
    assert!(j["crl_number"].as_i64().is_some(), "{j}");
    let entry = crl_entry(&crl_text(&h), &third).expect("listed at once");
    assert!(entry.contains("Key Compromise"), "{entry}");
    let _ = key3;
    // A timer run finds nothing due right after.
    let due = h.ctl(&["crl", "--if-due"]).ok();
    assert_eq!(due["number"], Value::Null, "{due}");
    lint_ca_dir(&h.data().join("ca"));
}

#[test]
fn the_demo_passes_the_linter() {
    let dir = tempfile::tempdir().unwrap();
    kiosk_e2e::softhsm_conf(dir.path());
    let data = dir.path().join("data");
    let mut c = Command::new(kiosk_e2e::kioskctl());
    c.env("SOFTHSM2_CONF", dir.path().join("softhsm2.conf"))
        .env(
            "KIOSK_STATION_PIN_FILE",
            kiosk_e2e::secret_file(dir.path(), "station-pin", "station-pin-1"),
        )
        .env(
            "KIOSK_TRANSPORT_SO_PIN_FILE",
            kiosk_e2e::secret_file(dir.path(), "transport-so-pin", "vendor-so-1"),
        )
        .env_remove("KIOSK_DATA_DIR")
        .arg("--json")
        .arg("--data-dir")
        .arg(&data)
        .arg("demo");
    run(c).ok();
    lint_ca_dir(&data.join("ca"));
}
