//! 国密 at the counter: SM2 keys on the SM2 test token (a PKCS#11 module
//! speaking the SANSEC vendor mechanisms, `crates/sm2-token`), SM3withSM2
//! certificates and CRLs from the station's SM2 sub-CA, and the GB/T 38540
//! seal on the key. Everything the station writes is checked by what the
//! project did not write: OpenSSL 3 (`-vfyopt distid`, link by link with
//! `-partial_chain`, openssl issue 23471), gmssl's own SM2 and SM3, and
//! pkilint.

use std::path::Path;
use std::process::Command;

use kiosk_oracles::{gmssl_verify, signed_parts};
use serde_json::Value;

use crate::keys::{application, Hsm, PIN};
use crate::support::{counts, ctl};

const DISTID: &str = "distid:1234567812345678";

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The DER of the first PEM block of a file.
fn der_of(path: &Path) -> Vec<u8> {
    kiosk_keys::pem_blocks(&std::fs::read_to_string(path).unwrap())
        .into_iter()
        .next()
        .unwrap()
        .1
}

/// The SM2 point of a certificate, read by OpenSSL.
fn point_of(dir: &Path, cert: &str) -> Vec<u8> {
    let (ok, text) = openssl(dir, &["x509", "-in", cert, "-noout", "-pubkey"]);
    assert!(ok, "{text}");
    let spki = kiosk_keys::pem_blocks(&text).into_iter().next().unwrap().1;
    // SubjectPublicKeyInfo of an EC key: the point ends it.
    spki[spki.len() - 65..].to_vec()
}

/// Everything an SM2 sub-CA directory holds, checked by OpenSSL, gmssl
/// and pkilint: the certificate `cert` (a serial), its chain, the CRL and,
/// when given, the seal file.
fn check_sm2_dir(ca: &Path, cert: &str, seal: Option<&Path>) {
    let cert_pem = format!("{cert}.pem");
    // OpenSSL, link by link.
    for (issuer, subject) in [
        ("station-ca.pem", cert_pem.as_str()),
        ("root.pem", "station-ca.pem"),
    ] {
        let (ok, out) = openssl(
            ca,
            &[
                "verify",
                "-vfyopt",
                DISTID,
                "-partial_chain",
                "-CAfile",
                issuer,
                subject,
            ],
        );
        assert!(ok, "{subject} by {issuer}: {out}");
    }
    let (_, text) = openssl(ca, &["x509", "-in", &cert_pem, "-noout", "-text"]);
    assert!(
        text.contains("SM2-with-SM3") && text.contains("ASN1 OID: SM2"),
        "{text}"
    );
    let (_, text) = openssl(ca, &["crl", "-in", "station.crl", "-noout", "-text"]);
    assert!(text.contains("SM2-with-SM3"), "{text}");

    // gmssl: the certificate's, the sub-CA's, the root's and the CRL's
    // signatures; and a tampered one fails.
    let root = point_of(ca, "root.pem");
    let sub = point_of(ca, "station-ca.pem");
    let mut signed = vec![
        ("root", der_of(&ca.join("root.pem")), root.clone(), 2),
        ("sub-CA", der_of(&ca.join("station-ca.pem")), root, 2),
        ("certificate", der_of(&ca.join(&cert_pem)), sub.clone(), 2),
        ("CRL", der_of(&ca.join("station.crl")), sub.clone(), 2),
    ];
    if let Some(seal) = seal {
        signed.push(("seal", std::fs::read(seal).unwrap(), sub, 3));
    }
    for (what, der, by, at) in signed {
        let (tbs, sig) = signed_parts(&der, at);
        assert_eq!(gmssl_verify(&by, &tbs, &sig), "True", "{what}");
        let mut tampered = tbs.clone();
        tampered[tbs.len() / 2] ^= 1;
        assert_eq!(gmssl_verify(&by, &tampered, &sig), "False", "{what}");
    }
    // pkilint: no finding at WARNING or above (it says only, as a NOTICE,
    // that it cannot check an SM2 signature).
    crate::integrity::lint_ca_dir(ca);
}

#[test]
fn the_demo_for_cqc_upgrades_onto_an_sm2_key_that_openssl_gmssl_and_pkilint_accept() {
    let d = tempfile::tempdir().unwrap();
    let j = ctl(d.path(), &["demo", "--provider", "cqc"]).ok();
    assert_eq!(j["state"], "completed", "{j}");
    assert_eq!(j["key_algorithm"], "sm2", "{j}");
    assert_eq!(j["fee"]["operation"], "upgrade", "{j}");
    let ca = d.path().join("ca").join("sm2");
    assert_eq!(j["chain_pem"], ca.join("chain.pem").to_str().unwrap());
    assert_eq!(j["crl_pem"], ca.join("station.crl").to_str().unwrap());
    let cert = j["certificate_serial"].as_str().unwrap();
    let seal = j["electronic_seal"].as_str().unwrap();
    check_sm2_dir(&ca, cert, Some(Path::new(seal)));

    // The seal, as a relying party checks it: against the SM2 chain.
    let v = ctl(
        d.path(),
        &[
            "seal",
            "verify",
            seal,
            "--trusted",
            ca.join("chain.pem").to_str().unwrap(),
        ],
    )
    .ok();
    assert_eq!(v["seal"]["holders"][0][1], cert, "{v}");
    assert_eq!(v["seal"]["name"], "重庆示例建材有限公司", "{v}");
    assert_eq!(
        (
            v["seal"]["width_mm"].as_u64(),
            v["seal"]["height_mm"].as_u64()
        )
            .0,
        Some(40)
    );

    // The key, read back: this station's certificate, and the seal on it.
    let key = ctl(
        d.path(),
        &["key", "show", j["key_serial"].as_str().unwrap()],
    )
    .ok();
    assert_eq!(key["provenance"]["verified"], true, "{key}");
    assert_eq!(key["provenance"]["issued_by"], "station", "{key}");
    let objects = key["objects"].to_string();
    assert!(
        objects.contains("seal.ses") && objects.contains("seal.png"),
        "{objects}"
    );

    // The same demo for its own provider stays P-256 with the seal record.
    let p = tempfile::tempdir().unwrap();
    let j = ctl(p.path(), &["demo"]).ok();
    assert_eq!(j["key_algorithm"], "ec-p256", "{j}");
    assert!(j.get("electronic_seal").is_none(), "{j}");
    assert_eq!(
        j["crl_pem"],
        p.path().join("ca/station.crl").to_str().unwrap()
    );
}

/// An ezca certificate on a SoftHSM2 key, and the cqc upgrade order for it
/// (cqc's profile is SM2).
fn p256_holder_and_upgrade(h: &Hsm) -> (String, String, String) {
    let (key, j) = h.issued_key();
    let cert = j["certificate_serial"].as_str().unwrap().to_string();
    let mut upgrade = application("upgrade", Some(&cert));
    upgrade["provider"] = "cqc".into();
    upgrade["project"] = "energy-saving-procurement".into();
    (key, cert, h.paid(&upgrade, None))
}

#[test]
fn sm2_upgrade_then_change_unlock_and_revoke_on_the_sm2_key() {
    let h = Hsm::new_sm2();
    let (_, old, order) = p256_holder_and_upgrade(&h);
    let key = h.stocked_sm2_key();
    let (code, j, out) = h.run_op(&order, Some(&key), &[PIN, PIN], true);
    assert_eq!(code, Some(0), "upgrade onto an SM2 key: {out}");
    let sm2 = j["certificate_serial"].as_str().unwrap().to_string();
    assert_eq!(
        h.not_after(&sm2),
        h.not_after(&old),
        "validity unchanged [000]"
    );
    assert_eq!(h.cert_state(&old), "revoked");
    let ca = h.data().join("ca").join("sm2");
    check_sm2_dir(&ca, &sm2, j["electronic_seal"].as_str().map(Path::new));

    // The seal on the key, checked as a relying party at the counter; then
    // altered on the key by its holder (one byte of the picture): forged.
    let v = h.ctl(&["seal", "verify", "--key", &key]).ok();
    assert_eq!(v["seal"]["holders"][0][1], sm2.as_str(), "{v}");
    {
        let (m, _, _) = crate::support::sm2_token();
        let s = m.open(&m.by_serial(&key).unwrap()).unwrap();
        s.login_user(&kiosk_keys::SecretString::from(PIN.to_string()))
            .unwrap();
        let mut ses = s
            .values(kiosk_keys::ObjectClass::DATA, Some("seal.ses"))
            .unwrap()
            .remove(0);
        let at = ses.len() / 2;
        ses[at] ^= 1;
        for o in s.find(kiosk_keys::ObjectClass::DATA, "seal.ses").unwrap() {
            s.destroy(o).unwrap();
        }
        s.put_data("kiosk-station", "seal.ses", &ses).unwrap();
    }
    let r = h
        .ctl(&["seal", "verify", "--key", &key])
        .refused("seal_forged");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("伪造"),
        "{r}"
    );

    // 变更 on the SM2 key: same key pair, a new SM2 certificate and a new
    // seal naming the new company name; the old one on the SM2 CRL.
    let mut change = application("change", Some(&sm2));
    change["organization"]["name"] = "重庆示例建材集团有限公司".into();
    change["change_details"] = "单位名称变更".into();
    let order = h.paid(&change, None);
    let (code, j, out) = h.run_op(&order, Some(&key), &[PIN], false);
    assert_eq!(code, Some(0), "change: {out}");
    let changed = j["certificate_serial"].as_str().unwrap().to_string();
    let seal = j["electronic_seal"].as_str().unwrap().to_string();
    check_sm2_dir(&ca, &changed, Some(Path::new(&seal)));
    let v = h
        .ctl(&[
            "seal",
            "verify",
            &seal,
            "--trusted",
            ca.join("chain.pem").to_str().unwrap(),
        ])
        .ok();
    assert_eq!(v["seal"]["name"], "重庆示例建材集团有限公司", "{v}");
    let (_, crl) = openssl(&ca, &["crl", "-in", "station.crl", "-noout", "-text"]);
    assert!(crl.to_ascii_lowercase().contains(&sm2[..8]), "{crl}");
    let on_key = h.ctl(&["key", "show", &key]).ok();
    let objects: Vec<&str> = on_key["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert_eq!(
        objects.iter().filter(|o| o.contains("seal.ses")).count(),
        1,
        "one seal, the new one: {objects:?}"
    );
    assert!(
        !objects.iter().any(|o| o.contains("seal-record.json")),
        "{objects:?}"
    );

    // 算法升级 in place on the SM2 key (its model allows it): a new SM2 key
    // pair on the same key, validity unchanged, a new seal.
    let mut upgrade = application("upgrade", Some(&changed));
    upgrade["organization"]["name"] = "重庆示例建材集团有限公司".into();
    upgrade["provider"] = "cqc".into();
    upgrade["project"] = "energy-saving-procurement".into();
    let order = h.paid(&upgrade, None);
    let (code, j, out) = h.run_op(&order, Some(&key), &[PIN], false);
    assert_eq!(code, Some(0), "upgrade in place: {out}");
    let current = j["certificate_serial"].as_str().unwrap().to_string();
    assert_ne!(
        point_of(&ca, &format!("{current}.pem")),
        point_of(&ca, &format!("{changed}.pem")),
        "a new key pair"
    );
    assert_eq!(h.not_after(&current), h.not_after(&changed));
    check_sm2_dir(&ca, &current, j["electronic_seal"].as_str().map(Path::new));
    let v = h.ctl(&["seal", "verify", "--key", &key]).ok();
    assert_eq!(v["seal"]["holders"][0][1], current.as_str(), "{v}");

    // 解锁: the SO PIN the station derived opens the SM2 key.
    let mut unlock = application("unlock", Some(&current));
    unlock["organization"]["name"] = "重庆示例建材集团有限公司".into();
    let order = h.paid(&unlock, None);
    assert_eq!(h.approve(&order).0, Some(0));
    let (code, _, out) = h.run_op(&order, Some(&key), &["864209", "864209"], false);
    assert_eq!(code, Some(0), "unlock: {out}");

    // 吊销: the SM2 CRL lists it, signed so that gmssl agrees.
    h.free_revocation();
    let mut revoke = application("revoke", Some(&current));
    revoke["organization"]["name"] = "重庆示例建材集团有限公司".into();
    let order = h.paid(&revoke, None);
    assert_eq!(h.approve(&order).0, Some(0));
    let (code, _, out) = h.run_op(&order, Some(&key), &[], false);
    assert_eq!(code, Some(0), "revoke: {out}");
    let (_, crl) = openssl(&ca, &["crl", "-in", "station.crl", "-noout", "-text"]);
    assert!(crl.to_ascii_lowercase().contains(&current[..8]), "{crl}");
    check_sm2_dir(&ca, &current, None);
    let audit = h.ctl(&["audit", "verify"]).ok();
    assert_eq!(audit["ok"], true, "{audit}");
}

#[test]
fn an_sm2_upgrade_killed_at_each_step_resumes_onto_the_same_key() {
    let h = Hsm::new_sm2();
    let (_, _, order) = p256_holder_and_upgrade(&h);
    let key = h.stocked_sm2_key();
    for step in ["generate-key", "issue", "write-seal", "verify"] {
        let mut c = h.command(kiosk_e2e::kioskctl().to_str().unwrap());
        c.arg("--json").arg("--data-dir").arg(h.data());
        c.args(["order", "run", &order, "--key", &key, "--seal"])
            .arg(h.seal())
            .arg("--pin-stdin")
            .env("KIOSK_KILL_AT_STEP", step);
        let (code, _, out) = crate::keys::with_stdin(c, &[PIN, PIN]);
        assert_eq!(code, None, "killed at {step}: {out}");
    }
    let (code, j, out) = h.run_op(&order, Some(&key), &[PIN, PIN], true);
    assert_eq!(code, Some(0), "resumed: {out}");
    let cert = j["certificate_serial"].as_str().unwrap().to_string();
    // What the interrupted attempts signed is revoked, on the SM2 CRL.
    let list = h.ctl(&["cert", "list"]).ok();
    let voided: Vec<&Value> = list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["order_id"] == order.as_str() && c["serial"] != cert.as_str())
        .collect();
    assert!(!voided.is_empty(), "{list}");
    assert!(voided.iter().all(|c| c["state"] == "revoked"), "{list}");
    let ca = h.data().join("ca").join("sm2");
    check_sm2_dir(&ca, &cert, j["electronic_seal"].as_str().map(Path::new));
    let shown = h.ctl(&["key", "show", &key]).ok();
    assert_eq!(shown["certificate_serial"], cert.as_str(), "{shown}");
    assert_eq!(h.ctl(&["audit", "verify"]).ok()["ok"], true);
}

#[test]
fn an_sm2_profile_on_a_key_without_sm2_or_lacking_its_mechanisms_is_refused_and_nothing_written() {
    let h = Hsm::new_sm2();
    let (p256_key, _, order) = p256_holder_and_upgrade(&h);

    // In place on the SoftHSM2 key: its model names no SM2 set.
    let blank = h.stocked_key();
    let before = counts(&h.data());
    let (_, j, _) = h.run_op(&order, Some(&p256_key), &[PIN], false);
    assert_eq!(j["error"]["code"], "key_without_sm2", "{j}");
    let message = j["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("SoftHSM v2") && message.contains("SM2"),
        "{message}"
    );
    assert!(
        j["error"]["message_en"]
            .as_str()
            .unwrap()
            .contains("does not do SM2"),
        "{j}"
    );
    // Onto a blank SoftHSM2 key: the same.
    let (_, j, _) = h.run_op(&order, Some(&blank), &[PIN, PIN], true);
    assert_eq!(j["error"]["code"], "key_without_sm2", "{j}");
    assert_eq!(counts(&h.data()), before, "nothing written");

    // A catalog naming a mechanism set the station does not know.
    let r = h
        .operator_catalog(|t| {
            t.replace(
                "sm2_mechanisms = \"sansec\"",
                "sm2_mechanisms = \"feitian\"",
            )
        })
        .refused("unknown_mechanism_set");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("feitian") && message.contains("sansec"),
        "{message}"
    );

    // The operator's catalog claims the TASS set for the test token, which
    // speaks SANSEC's: the key lacks what its model claims.
    let base = kiosk_app::domain::Catalog::from_toml(kiosk_app::EMBEDDED_CATALOG)
        .unwrap()
        .version;
    let text = kiosk_app::EMBEDDED_CATALOG
        .replace(
            &format!("version = {base}\n"),
            &format!("version = {}\n", base + 1),
        )
        .replace("sm2_mechanisms = \"sansec\"", "sm2_mechanisms = \"tass\"");
    let f = h.dir.path().join("tass.toml");
    std::fs::write(&f, text).unwrap();
    h.privileged(&["catalog", "import", f.to_str().unwrap()])
        .ok();
    let sm2_key = h.stocked_sm2_key();
    let before = counts(&h.data());
    let (_, j, _) = h.run_op(&order, Some(&sm2_key), &[PIN, PIN], true);
    assert_eq!(j["error"]["code"], "token_lacks_mechanisms", "{j}");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("0x80008000"),
        "{j}"
    );
    assert_eq!(counts(&h.data()), before, "nothing written");
    let shown = h.ctl(&["key", "show", &sm2_key]).ok();
    assert_eq!(shown["certificate_serial"], Value::Null, "{shown}");

    // A seal image larger than the key holds (the test token has 64 KiB).
    h.operator_catalog(|t| t).ok();
    let big = h.dir.path().join("big-seal.png");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise = image::RgbaImage::from_fn(160, 160, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let [a, b, c, ..] = state.to_le_bytes();
        image::Rgba([a, b, c, 255])
    });
    noise.save(&big).unwrap();
    let before = counts(&h.data());
    let mut c = h.command(kiosk_e2e::kioskctl().to_str().unwrap());
    c.arg("--json").arg("--data-dir").arg(h.data());
    c.args(["order", "run", &order, "--key", &sm2_key, "--seal"])
        .arg(&big)
        .arg("--pin-stdin");
    let (_, j, _) = crate::keys::with_stdin(c, &[PIN, PIN]);
    assert_eq!(j["error"]["code"], "seal_too_large_for_key", "{j}");
    let message = j["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("64 KB") && message.contains("SM2 TEST sansec"),
        "{message}"
    );
    assert_eq!(counts(&h.data()), before, "nothing written");

    // A CRL or a tampered seal handed to `seal verify`: refused by name.
    let crl = h.data().join("ca").join("sm2").join("station.crl");
    let r = h
        .ctl(&["seal", "verify", crl.to_str().unwrap()])
        .refused("seal_unreadable");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("印章"),
        "{r}"
    );
}

/// The central's SM2 root (OpenSSL, SM2 key, SM3withSM2 with the default
/// ID) signing a station's SM2 sub-CA request: the bundle, sub-CA first.
fn central_sm2_signs(central: &Path, csr: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(central).unwrap();
    let run = |args: &[&str]| {
        let (ok, out) = openssl(central, args);
        assert!(ok, "openssl {args:?}: {out}");
    };
    let sign = ["-sm3", "-sigopt", DISTID];
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:SM2",
        "-out",
        "root.key",
    ]);
    let mut root = vec![
        "req",
        "-x509",
        "-new",
        "-key",
        "root.key",
        "-subj",
        "/C=CN/O=Central CA/CN=Central SM2 Root",
        "-days",
        "3650",
        "-out",
        "root.pem",
        "-addext",
        "basicConstraints=critical,CA:true",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ];
    root.extend(sign);
    run(&root);
    std::fs::write(
        central.join("ext.cnf"),
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    )
    .unwrap();
    let mut sub = vec![
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        "root.pem",
        "-CAkey",
        "root.key",
        "-set_serial",
        "0x5302",
        "-days",
        "1825",
        "-extfile",
        "ext.cnf",
        "-out",
        "sub.pem",
        "-vfyopt",
        DISTID,
    ];
    sub.extend(sign);
    run(&sub);
    let bundle = central.join("bundle.pem");
    std::fs::write(
        &bundle,
        std::fs::read_to_string(central.join("sub.pem")).unwrap()
            + &std::fs::read_to_string(central.join("root.pem")).unwrap(),
    )
    .unwrap();
    bundle
}

#[test]
fn the_sm2_sub_ca_comes_from_the_central_by_request_and_import() {
    let (h, central, csr_path) = crate::keys::production_station();
    let bundle = crate::keys::central_signs(&central, &csr_path, "1825", "bundle.pem");
    h.boss(&["ca", "import", bundle.to_str().unwrap()], &[])
        .ok();
    let (h, _) = h.with_sm2_module();

    // The request: SM3withSM2 by the key in the station's SM2 token, which
    // OpenSSL checks.
    let csr = h.boss(&["ca", "csr", "--sm2"], &[]).ok();
    let csr = csr["csr_pem"].as_str().unwrap().to_string();
    assert!(csr.ends_with("ca/sm2/station-ca.csr"), "{csr}");
    let (ok, out) = openssl(
        Path::new("."),
        &["req", "-in", &csr, "-noout", "-verify", "-vfyopt", DISTID],
    );
    assert!(ok, "{out}");

    // The P-256 bundle is not for the SM2 key; nothing is written.
    let before = counts(&h.data());
    let e = h
        .boss(&["ca", "import", "--sm2", bundle.to_str().unwrap()], &[])
        .refused("bad_ca_certificate");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("签发密钥不符"),
        "{e}"
    );
    assert_eq!(counts(&h.data()), before, "nothing written");

    // The central's SM2 bundle is installed, and issues.
    let sm2_bundle = central_sm2_signs(&central.join("sm2"), &csr);
    h.boss(
        &["ca", "import", "--sm2", sm2_bundle.to_str().unwrap()],
        &[],
    )
    .ok();
    let ca = h.data().join("ca").join("sm2");
    let (ok, crl) = openssl(&ca, &["crl", "-in", "station.crl", "-noout", "-text"]);
    assert!(
        ok && crl.contains("No Revoked Certificates"),
        "its first CRL at once: {crl}"
    );
    let (_, _, order) = p256_holder_and_upgrade(&h);
    let key = h.stocked_sm2_key();
    let (code, j, out) = h.run_op(&order, Some(&key), &[PIN, PIN], true);
    assert_eq!(code, Some(0), "{out}");
    let cert = j["certificate_serial"].as_str().unwrap().to_string();
    assert_eq!(
        std::fs::read_to_string(ca.join("root.pem")).unwrap(),
        std::fs::read_to_string(central.join("sm2").join("root.pem")).unwrap()
    );
    check_sm2_dir(&ca, &cert, j["electronic_seal"].as_str().map(Path::new));
}

#[test]
fn an_sm2_provider_issues_renews_and_replaces_on_sm2_keys() {
    let h = Hsm::new_sm2();
    // The operator moves ezca to SM2, its addresses the SM2 sub-CA's.
    h.operator_catalog(|t| {
        let at = t.find("[[profiles]]\nprovider = \"ezca\"").unwrap();
        let (head, tail) = t.split_at(at);
        head.to_string()
            + &tail
                .replacen("key_algorithm = \"ec-p256\"", "key_algorithm = \"sm2\"", 1)
                .replacen("{station}.crl", "{station}-sm2.crl", 1)
                .replacen("{station}.cer", "{station}-sm2.cer", 1)
    })
    .ok();
    let ca = h.data().join("ca").join("sm2");

    // 新办 onto an SM2 key.
    let key1 = h.stocked_sm2_key();
    let (code, j, out) = h.personalize(&h.paid_order(), &key1, (PIN, PIN), None);
    assert_eq!(code, Some(0), "new: {out}");
    let cert1 = j["certificate_serial"].as_str().unwrap().to_string();
    check_sm2_dir(&ca, &cert1, j["electronic_seal"].as_str().map(Path::new));
    let (_, text) = openssl(
        &ca,
        &["x509", "-in", &format!("{cert1}.pem"), "-noout", "-text"],
    );
    assert!(text.contains("-sm2.crl"), "{text}");

    // 更新 on the same SM2 key pair: a year from the old end, a new seal.
    let end1: chrono::NaiveDate = h.not_after(&cert1).parse().unwrap();
    let mut renew = application("renew", Some(&cert1));
    renew["certificate"]["not_after"] = end1.to_string().into();
    let today = (end1 - chrono::Duration::days(30)).to_string();
    let order = h.paid(&renew, Some(&today));
    let (code, j, out) = h.run_op(&order, Some(&key1), &[PIN], false);
    assert_eq!(code, Some(0), "renew: {out}");
    let cert2 = j["certificate_serial"].as_str().unwrap().to_string();
    assert_eq!(
        point_of(&ca, &format!("{cert2}.pem")),
        point_of(&ca, &format!("{cert1}.pem")),
        "the same key pair"
    );
    assert_eq!(h.cert_state(&cert1), "superseded");
    check_sm2_dir(&ca, &cert2, j["electronic_seal"].as_str().map(Path::new));

    // 补办 (lost): a new SM2 key, the same validity, the old certificate
    // revoked on the SM2 CRL.
    let key2 = h.stocked_sm2_key();
    let order = h.paid(&application("replace-lost", Some(&cert2)), None);
    let (code, j, out) = h.run_op(&order, Some(&key2), &["246813", "246813"], true);
    assert_eq!(code, Some(0), "replace-lost: {out}");
    let cert3 = j["certificate_serial"].as_str().unwrap().to_string();
    assert_eq!(h.not_after(&cert3), h.not_after(&cert2));
    assert_eq!(h.cert_state(&cert2), "revoked");
    let (_, crl) = openssl(&ca, &["crl", "-in", "station.crl", "-noout", "-text"]);
    assert!(crl.to_ascii_lowercase().contains(&cert2[..8]), "{crl}");
    check_sm2_dir(&ca, &cert3, j["electronic_seal"].as_str().map(Path::new));
    // The P-256 CRL does not list SM2 certificates.
    let (_, p256_crl) = openssl(
        &h.data().join("ca"),
        &["crl", "-in", "station.crl", "-noout", "-text"],
    );
    assert!(
        !p256_crl.to_ascii_lowercase().contains(&cert2[..8]),
        "{p256_crl}"
    );
    assert_eq!(h.ctl(&["audit", "verify"]).ok()["ok"], true);
}
