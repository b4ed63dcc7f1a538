//! Against a real SoftHSM2 token directory made for this test binary.

use std::process::Command;

mod sm2;

use kiosk_keys::{
    certificate_info, csr, issue, revocation_list, self_signed_ca, sub_ca, verify_signature,
    Module, Revoked, SecretString, SubjectSpec, TokenSigner,
};
use time::{Duration, OffsetDateTime};

fn pin(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

fn subject(cn: &str) -> SubjectSpec {
    SubjectSpec {
        common_name: cn.into(),
        organization: Some(cn.into()),
        organizational_unit: None,
        extra: vec![],
    }
}

fn softhsm() -> (tempfile::TempDir, Module) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tokens")).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.path().display()
        ),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let module = Module::load("/usr/lib/softhsm/libsofthsm2.so").unwrap();
    (dir, module)
}

#[test]
fn ca_chain_csr_certificate_and_crl_on_softhsm() {
    let (dir, m) = softhsm();
    // The station token: root and sub-CA keys, and the SO PIN master.
    m.init_token(m.free_slot().unwrap(), &pin("station-so"), "station")
        .unwrap();
    let station = m.by_label("station").unwrap();
    let s = m.open(&station).unwrap();
    s.login_so(&pin("station-so")).unwrap();
    s.init_user_pin(&pin("station-pin")).unwrap();
    s.logout().unwrap();
    s.login_user(&pin("station-pin")).unwrap();
    s.generate_p256(b"root", "root").unwrap();
    s.generate_p256(b"sub", "sub").unwrap();
    let master = s.ensure_master_secret("master").unwrap();
    assert_eq!(
        s.ensure_master_secret("master").unwrap(),
        master,
        "made once"
    );
    let so1 = s.hmac(master, b"key-serial-1").unwrap();
    assert_eq!(so1, s.hmac(master, b"key-serial-1").unwrap());
    assert_ne!(so1, s.hmac(master, b"key-serial-2").unwrap());

    let now = OffsetDateTime::now_utc();
    let root_key = TokenSigner::new(&s, b"root").unwrap();
    let root = self_signed_ca(
        &root_key,
        &subject("Demo Root"),
        now,
        now + Duration::days(3650),
        &[0x11; 16],
    )
    .unwrap();
    let sub_key = TokenSigner::new(&s, b"sub").unwrap();
    let sub = sub_ca(
        &sub_key,
        &subject("Station CA"),
        &root,
        &root_key,
        now,
        now + Duration::days(1825),
        &[0x12; 16],
    )
    .unwrap();

    // A user key: key pair generated on the token, CSR signed by it.
    m.init_token(m.free_slot().unwrap(), &pin("12345678"), "user")
        .unwrap();
    let user = m.by_label("user").unwrap();
    let u = m.open(&user).unwrap();
    u.login_so(&pin("12345678")).unwrap();
    u.init_user_pin(&pin("111111")).unwrap();
    u.logout().unwrap();
    u.login_user(&pin("111111")).unwrap();
    let (_, point) = u.generate_p256(&[1, 2, 3, 4], "company").unwrap();
    let user_key = TokenSigner::new(&u, &[1, 2, 3, 4]).unwrap();
    let spec = SubjectSpec {
        common_name: "重庆示例建材有限公司".into(),
        organization: Some("重庆示例建材有限公司".into()),
        organizational_unit: Some("重庆示例建材有限公司".into()),
        extra: vec![(vec![2, 5, 4, 5], "91500000MA5U8K2T0A".into())],
    };
    let request = csr(&user_key, &spec).unwrap();
    let serial = [0x3a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    let cert = issue(
        &request,
        &point,
        &spec,
        &sub,
        &sub_key,
        now,
        now + Duration::days(365),
        &serial,
        &kiosk_keys::Extensions {
            key_usages: vec![kiosk_keys::KeyUsagePurpose::DigitalSignature],
            extended_key_usages: vec![],
            crl_url: Some("http://crl.example.cn/station.crl".into()),
            ca_issuers_url: Some("http://ca.example.cn/station.cer".into()),
        },
    )
    .unwrap();
    // Someone else's request is refused.
    assert!(issue(
        &request,
        &[4; 65],
        &spec,
        &sub,
        &sub_key,
        now,
        now + Duration::days(365),
        &serial,
        &kiosk_keys::Extensions {
            key_usages: vec![],
            extended_key_usages: vec![],
            crl_url: None,
            ca_issuers_url: None
        },
    )
    .is_err());
    u.put_certificate(&[1, 2, 3, 4], "company", &cert, b"")
        .unwrap();
    u.put_data("kiosk-station", "seal.png", b"\x89PNG...")
        .unwrap();
    let info = certificate_info(&cert).unwrap();
    assert_eq!(info.serial, hex::encode(serial));
    assert!(
        info.subject.contains("CN=重庆示例建材有限公司"),
        "{}",
        info.subject
    );
    assert_eq!(info.public_point, point);
    let sig = user_key.sign_der(b"challenge").unwrap();
    assert!(verify_signature(&info, b"challenge", &sig));
    assert!(!verify_signature(&info, b"other", &sig));

    // The encryption test (数字证书加解密测试): a key made to sign only says
    // so; a key that may agree keys or decrypt opens what is sealed to its
    // certificate, and not what is sealed to another's.
    use kiosk_keys::{decryption_test, Decryption, KeyKind};
    assert_eq!(
        decryption_test(&u, &[1, 2, 3, 4], &info, None).unwrap(),
        Decryption::NotPermitted
    );
    let (_, point2) = u
        .generate(KeyKind::P256, &[5, 6, 7, 8], "company-2")
        .unwrap();
    let mut info2 = info.clone();
    info2.public_point = point2;
    assert_eq!(
        decryption_test(&u, &[5, 6, 7, 8], &info2, None).unwrap(),
        Decryption::Passed
    );
    let mut other = info.clone();
    other.public_point = u.generate(KeyKind::P256, &[9], "other").unwrap().1;
    assert!(
        decryption_test(&u, &[5, 6, 7, 8], &other, None).is_err(),
        "another key's certificate"
    );
    let (_, rsa) = u.generate(KeyKind::Rsa2048, &[10], "company-rsa").unwrap();
    let mut info3 = info.clone();
    (info3.public_point, info3.key_kind) = (rsa, KeyKind::Rsa2048);
    assert_eq!(
        decryption_test(&u, &[10], &info3, None).unwrap(),
        Decryption::Passed
    );

    let crl = revocation_list(
        &sub,
        &sub_key,
        &[Revoked {
            serial: serial.to_vec(),
            at: now,
            reason: 1,
        }],
        1,
        now,
        now + Duration::days(7),
    )
    .unwrap();

    // openssl agrees.
    let pem = |der: &[u8], label: &str| {
        use std::fmt::Write;
        let b64 = kiosk_keys::base64(der);
        let mut s = format!("-----BEGIN {label}-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            writeln!(s, "{}", std::str::from_utf8(chunk).unwrap()).unwrap();
        }
        s + &format!("-----END {label}-----\n")
    };
    let d = dir.path();
    std::fs::write(d.join("root.pem"), pem(&root, "CERTIFICATE")).unwrap();
    std::fs::write(d.join("sub.pem"), pem(&sub, "CERTIFICATE")).unwrap();
    std::fs::write(d.join("user.pem"), pem(&cert, "CERTIFICATE")).unwrap();
    std::fs::write(d.join("crl.pem"), pem(&crl, "X509 CRL")).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(d)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = openssl(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "sub.pem",
        "user.pem",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = openssl(&[
        "crl", "-in", "crl.pem", "-CAfile", "sub.pem", "-verify", "-noout", "-text",
    ]);
    assert!(
        ok && out.contains("verify OK") && out.contains(&hex::encode_upper(serial)),
        "{out}"
    );
    let (ok, out) = openssl(&[
        "verify",
        "-x509_strict",
        "-crl_check",
        "-CRLfile",
        "crl.pem",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "sub.pem",
        "user.pem",
    ]);
    assert!(!ok && out.contains("revoked"), "{out}");

    let (_, text) = openssl(&["x509", "-in", "user.pem", "-noout", "-text"]);
    assert!(
        text.contains("CA Issuers - URI:http://ca.example.cn/station.cer"),
        "{text}"
    );
    assert!(
        text.contains("URI:http://crl.example.cn/station.crl"),
        "{text}"
    );
    let objects = u.objects().unwrap();
    let classes: Vec<&str> = objects.iter().map(|o| o.class.as_str()).collect();
    // The first pair, its certificate and seal, and the three pairs of the
    // encryption tests; the tests' derived secrets and borrowed public
    // keys were session objects, gone.
    assert_eq!(objects.len(), 4 + 3 * 2, "{classes:?}");
    assert!(!classes.contains(&"CKO_SECRET_KEY"), "{classes:?}");
}
