//! SM2 on the project's SM2 test token (`crates/sm2-token`), loaded by path
//! as a vendor's PKCS#11 module is: a root, a station sub-CA, a request
//! with proof of possession, a certificate and a CRL, all SM3withSM2,
//! checked by OpenSSL 3 and by gmssl (pure Python), which the project did
//! not write. Each vendor's mechanism set runs in its own process (a
//! module reads its configuration once per process).

use std::path::{Path, PathBuf};
use std::process::Command;

use kiosk_keys::{
    certificate_info, make_ses_seal, path_to_anchor, read_ses_seal, sm2_csr, sm2_csr_point,
    sm2_issue, sm2_revocation_list, sm2_self_signed_ca, sm2_signed_by, sm2_sub_ca, verify_chain,
    verify_signature, verify_sm2, AnchorBreak, ExtendedKeyUsagePurpose, Extensions, KeyKind,
    KeyUsagePurpose, Module, Revoked, SecretString, SesProblem, SesSeal, Sm2Mechanisms, Sm2Signer,
    SubjectSpec, SERIAL_NUMBER,
};
use kiosk_oracles::{gmssl_verify, signed_parts};
use time::{Duration, OffsetDateTime};

/// Runs `child` (an ignored test of this binary) in a process of its own
/// with a fresh token directory for `vendor`.
fn in_own_process(child: &str, vendor: &str) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("sm2-token.conf");
    std::fs::create_dir(dir.path().join("tokens")).unwrap();
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nvendor = {vendor}\n",
            dir.path().join("tokens").display()
        ),
    )
    .unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([child, "--exact", "--ignored", "--nocapture"])
        .env("KIOSK_SM2_TOKEN_CONF", &conf)
        .env("SM2_TEST_VENDOR", vendor)
        .env("SM2_TEST_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{vendor}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sm2_chain_on_the_test_token_with_the_sansec_set() {
    in_own_process("sm2::sm2_chain_child", "sansec");
}

#[test]
fn sm2_chain_on_the_test_token_with_the_tass_set() {
    in_own_process("sm2::sm2_chain_child", "tass");
}

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

#[test]
#[ignore = "run by the tests above, in a process of its own"]
fn sm2_chain_child() {
    let vendor = std::env::var("SM2_TEST_VENDOR").unwrap();
    let work = PathBuf::from(std::env::var("SM2_TEST_DIR").unwrap());
    let set = Sm2Mechanisms::by_id(&vendor).unwrap();
    let m = Module::load(kiosk_sm2_token::library_for_current_exe().to_str().unwrap()).unwrap();
    m.init_token(m.free_slot().unwrap(), &pin("so-1"), "station")
        .unwrap();
    let s = m.open(&m.by_label("station").unwrap()).unwrap();
    s.login_so(&pin("so-1")).unwrap();
    s.init_user_pin(&pin("station-1")).unwrap();
    s.logout().unwrap();
    s.login_user(&pin("station-1")).unwrap();
    assert_eq!(
        set.missing_on(&s).unwrap(),
        Vec::<u64>::new(),
        "the token has the set"
    );
    // A token whose mechanisms are not the set its model claims is found
    // out before any key work, and a key is not signed with it.
    let other = Sm2Mechanisms::all()
        .iter()
        .find(|o| o.id != vendor)
        .unwrap();
    let missing = other.missing_on(&s).unwrap();
    assert!(
        !missing.is_empty(),
        "{} lacks nothing of {}",
        vendor,
        other.id
    );
    s.generate_sm2(set, b"root", "root").unwrap();
    let (_, sub_point) = s.generate_sm2(set, b"sub", "sub").unwrap();
    let (_, leaf_point) = s.generate_sm2(set, b"leaf", "leaf").unwrap();

    let now = OffsetDateTime::now_utc();
    let root_key = Sm2Signer::new(&s, set, b"root").unwrap();
    let root = sm2_self_signed_ca(
        &root_key,
        &subject("Demo SM2 Root"),
        now,
        now + Duration::days(3650),
        &[0x41; 16],
    )
    .unwrap();
    let sub = sm2_sub_ca(
        &sub_point,
        &subject("Station SM2 CA"),
        &root,
        &root_key,
        now,
        now + Duration::days(1825),
        &[0x42; 16],
    )
    .unwrap();
    let sub_key = Sm2Signer::new(&s, set, b"sub").unwrap();
    let leaf_key = Sm2Signer::new(&s, set, b"leaf").unwrap();
    let mut company = subject("重庆示例建材有限公司");
    company.extra = vec![(SERIAL_NUMBER.to_vec(), "91500000MA5U8K2T0A".into())];
    let csr = sm2_csr(&leaf_key, &company).unwrap();
    assert_eq!(
        sm2_csr_point(&csr).unwrap(),
        leaf_point,
        "proof of possession"
    );
    let ext = Extensions {
        key_usages: vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ],
        extended_key_usages: vec![ExtendedKeyUsagePurpose::ClientAuth],
        crl_url: Some("http://crl.kiosk-station.invalid/crl/st1.crl".into()),
        ca_issuers_url: Some("http://crl.kiosk-station.invalid/ca/st1.cer".into()),
    };
    let serial = [0x43; 16];
    let issue = |point: &[u8; 65]| {
        sm2_issue(
            &csr,
            point,
            &company,
            &sub,
            &sub_key,
            now,
            now + Duration::days(365),
            &serial,
            &ext,
        )
    };
    let leaf = issue(&leaf_point).unwrap();
    let (leaf_handle, _) = s.sm2_key(set, b"leaf").unwrap();
    assert!(s.sign_sm2(other, leaf_handle, &leaf_point, b"m").is_err());
    // A request for another key than the one generated here is refused.
    assert!(issue(&sub_point).is_err());
    let crl = sm2_revocation_list(
        &sub,
        &sub_key,
        &[Revoked {
            serial: serial.to_vec(),
            at: now,
            reason: 1,
        }],
        7,
        now,
        now + Duration::days(7),
    )
    .unwrap();

    let file = |name: &str, der: &[u8]| -> PathBuf {
        let p = work.join(name);
        std::fs::write(&p, der).unwrap();
        p
    };
    let root_pem = pem(&file("root.der", &root), "x509");
    let sub_pem = pem(&file("sub.der", &sub), "x509");
    let leaf_pem = pem(&file("leaf.der", &leaf), "x509");
    let crl_pem = pem(&file("crl.der", &crl), "crl");

    // OpenSSL reads them as SM2 with SM3 and finds the extensions.
    let text = openssl(&["x509", "-in", leaf_pem.to_str().unwrap(), "-noout", "-text"]);
    assert!(text.contains("SM2-with-SM3"), "{text}");
    assert!(text.contains("serialNumber = 91500000MA5U8K2T0A"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(
        text.contains("crl.kiosk-station.invalid/crl/st1.crl"),
        "{text}"
    );
    let crl_text = openssl(&["crl", "-in", crl_pem.to_str().unwrap(), "-noout", "-text"]);
    assert!(crl_text.contains("4343434343434343"), "{crl_text}");
    assert!(crl_text.contains("Key Compromise"), "{crl_text}");

    // OpenSSL verifies each link (its chain walk stops at depth 1 for SM2,
    // openssl issue 23471: one link at a time, with -partial_chain).
    let verify = |anchor: &Path, cert: &Path| {
        Command::new("openssl")
            .args([
                "verify",
                "-partial_chain",
                "-vfyopt",
                "distid:1234567812345678",
            ])
            .arg("-trusted")
            .arg(anchor)
            .arg(cert)
            .output()
            .unwrap()
    };
    for (anchor, cert) in [
        (&root_pem, &root_pem),
        (&root_pem, &sub_pem),
        (&sub_pem, &leaf_pem),
    ] {
        let out = verify(anchor, cert);
        assert!(
            out.status.success(),
            "openssl verify {}: {}{}",
            cert.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A certificate whose signed part was changed fails.
    let mut forged = leaf.clone();
    let at = forged.len() / 2;
    forged[at] ^= 0x01;
    let forged_pem = pem(&file("forged.der", &forged), "x509");
    assert!(!verify(&sub_pem, &forged_pem).status.success());

    // The RFC 5280 linter (pkilint, WARNING and above) finds nothing in the
    // certificates, the two links and the CRL.
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pkilint-0.13.3/bin");
    assert!(bin.exists(), "{} missing: run scripts/deps", bin.display());
    let path = |p: &PathBuf| p.to_str().unwrap().to_string();
    for (tool, args) in [
        ("lint_pkix_cert", vec![path(&root_pem)]),
        ("lint_pkix_cert", vec![path(&sub_pem)]),
        ("lint_pkix_cert", vec![path(&leaf_pem)]),
        (
            "lint_pkix_signer_signee_cert_chain",
            vec![path(&root_pem), path(&sub_pem)],
        ),
        (
            "lint_pkix_signer_signee_cert_chain",
            vec![path(&sub_pem), path(&leaf_pem)],
        ),
        (
            "lint_crl",
            vec![
                "-t".into(),
                "CRL".into(),
                "-p".into(),
                "PKIX".into(),
                path(&crl_pem),
            ],
        ),
    ] {
        let out = Command::new(bin.join(tool))
            .args(["lint", "-s", "WARNING"])
            .args(&args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.trim().is_empty(),
            "{tool} {args:?}: {text}"
        );
    }

    // The electronic seal of GB/T 38540, made by the station CA for the
    // holder's certificate.
    let png = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../kiosk-app/fixtures/seal-sample.png"
    ))
    .unwrap();
    let made = SesSeal {
        vendor_id: "st1".into(),
        seal_id: "st1-0001".into(),
        seal_type: 1,
        name: "重庆示例建材有限公司".into(),
        holder_certificates: vec![leaf.clone()],
        created: now.replace_nanosecond(0).unwrap(),
        valid_from: now.replace_nanosecond(0).unwrap(),
        valid_to: (now + Duration::days(365)).replace_nanosecond(0).unwrap(),
        picture_type: "PNG".into(),
        picture: png,
        width_mm: 42,
        height_mm: 42,
    };
    let seal = make_ses_seal(&made, &sub_key, &sub).unwrap();
    let read = read_ses_seal(&seal).unwrap();
    assert_eq!((read.seal, read.maker_certificate), (made, sub.clone()));
    // OpenSSL's own DER parser sees the version-4 structure.
    let seal_file = file("seal.der", &seal);
    let parsed = openssl(&[
        "asn1parse",
        "-inform",
        "DER",
        "-in",
        seal_file.to_str().unwrap(),
    ]);
    for expected in [
        "IA5STRING         :ES",
        "INTEGER           :04",
        "IA5STRING         :st1-0001",
        "GENERALIZEDTIME",
        "IA5STRING         :PNG",
        "INTEGER           :2A",
        "SM2-with-SM3",
        "BIT STRING",
    ] {
        assert!(parsed.contains(expected), "{expected}: {parsed}");
    }
    // OpenSSL checks the maker's signature over SES_SealInfo with the
    // station CA's public key.
    let (info, seal_sig) = signed_parts(&seal, 3);
    let info_file = file("seal-info.der", &info);
    let sig_file = file("seal-sig.der", &seal_sig);
    let maker_key = work.join("maker-pub.pem");
    std::fs::write(
        &maker_key,
        openssl(&[
            "x509",
            "-in",
            sub_pem.to_str().unwrap(),
            "-pubkey",
            "-noout",
        ]),
    )
    .unwrap();
    openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        maker_key.to_str().unwrap(),
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        "distid:1234567812345678",
        "-in",
        info_file.to_str().unwrap(),
        "-sigfile",
        sig_file.to_str().unwrap(),
    ]);
    assert_eq!(gmssl_verify(&sub_point, &info, &seal_sig), "True", "seal");
    // A picture swapped in the file, or an older version, is refused.
    let mut swapped = seal.clone();
    let png_at = swapped.windows(4).position(|w| w == b"\x89PNG").unwrap();
    swapped[png_at + 100] ^= 0x01;
    assert_eq!(read_ses_seal(&swapped).unwrap_err(), SesProblem::Signature);
    let mut v3 = seal.clone();
    let header = v3
        .windows(5)
        .position(|w| w == [0x16, 0x02, b'E', b'S', 0x02])
        .unwrap();
    v3[header + 6] = 3;
    assert_eq!(read_ses_seal(&v3).unwrap_err(), SesProblem::Version(3));
    // The station's readers of other CAs' certificates know SM2: what the
    // certificate names, its chain, and its path to trusted anchors.
    let info = certificate_info(&leaf).unwrap();
    assert_eq!(info.key_kind, KeyKind::Sm2);
    assert_eq!(info.public_point, leaf_point.to_vec());
    assert_eq!(
        info.subject_attribute("2.5.4.5"),
        Some("91500000MA5U8K2T0A")
    );
    let (leaf_tbs, leaf_sig) = signed_parts(&leaf, 2);
    assert!(verify_signature(
        &certificate_info(&sub).unwrap(),
        &leaf_tbs,
        &leaf_sig
    ));
    verify_chain(&[leaf.clone(), sub.clone(), root.clone()]).unwrap();
    assert_eq!(
        path_to_anchor(&leaf, &[root.clone(), sub.clone()]).unwrap(),
        [leaf.clone(), sub.clone(), root.clone()]
    );
    // A certificate in the station CA's name signed by another key is a
    // forgery, not an unknown issuer.
    let forged_by_root = sm2_issue(
        &csr,
        &leaf_point,
        &company,
        &sub,
        &root_key,
        now,
        now + Duration::days(365),
        &serial,
        &ext,
    )
    .unwrap();
    assert!(matches!(
        path_to_anchor(&forged_by_root, &[root.clone(), sub.clone()]),
        Err(AnchorBreak::BadSignature(name)) if name.contains("Station SM2 CA")
    ));
    assert!(verify_chain(&[forged_by_root, sub.clone(), root.clone()]).is_err());
    // The key on the token reads as SM2, with the certificate's point.
    let (point, kind) = s.public_key(b"leaf").unwrap().unwrap();
    assert_eq!((point, kind), (leaf_point.to_vec(), KeyKind::Sm2));

    // Who signed what, as a relying party asks it.
    assert!(
        sm2_signed_by(&leaf, &sub) && sm2_signed_by(&sub, &root) && sm2_signed_by(&root, &root)
    );
    assert!(!sm2_signed_by(&leaf, &root) && !sm2_signed_by(&forged, &sub));

    // gmssl (pure Python, its own SM2 and SM3) checks every signature:
    // the root's, the sub-CA's, the certificate's and the CRL's.
    for (what, der, signer_point) in [
        ("root", &root, root_key.point()),
        ("sub", &sub, root_key.point()),
        ("leaf", &leaf, &sub_point),
        ("crl", &crl, &sub_point),
    ] {
        let (tbs, sig) = signed_parts(der, 2);
        assert!(
            verify_sm2(signer_point, &tbs, &sig),
            "{what}: our own check"
        );
        assert_eq!(gmssl_verify(signer_point, &tbs, &sig), "True", "{what}");
        let mut tampered = tbs.clone();
        tampered[10] ^= 1;
        assert_eq!(
            gmssl_verify(signer_point, &tampered, &sig),
            "False",
            "{what}"
        );
    }
}

/// PEM of a DER file, by OpenSSL (`x509` or `crl`).
fn pem(der: &Path, kind: &str) -> PathBuf {
    let out = der.with_extension("pem");
    openssl(&[
        kind,
        "-inform",
        "DER",
        "-in",
        der.to_str().unwrap(),
        "-out",
        out.to_str().unwrap(),
    ]);
    out
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The gmssl oracle with a public key whose x coordinate starts 0x04,
/// which gmssl's constructor would cut short (it strips a leading "04" as
/// if it were the point prefix): a key and signature of the sm2 crate
/// alone, found by counting secrets until x starts so.
#[test]
fn the_gmssl_oracle_takes_a_point_whose_x_starts_with_04() {
    use sm2::dsa::signature::Signer;
    let (sk, point) = (1u32..)
        .find_map(|i| {
            let mut bytes = [0x11u8; 32];
            bytes[28..].copy_from_slice(&i.to_be_bytes());
            let secret = sm2::SecretKey::from_slice(&bytes).ok()?;
            let sk = sm2::dsa::SigningKey::new(kiosk_keys::SM2_DEFAULT_DISTID, &secret).ok()?;
            let point = sk.verifying_key().to_sec1_bytes().to_vec();
            (point[1] == 0x04).then_some((sk, point))
        })
        .unwrap();
    let sig: sm2::dsa::Signature = sk.sign(b"message");
    let der = sig.to_der();
    assert_eq!(gmssl_verify(&point, b"message", der.as_bytes()), "True");
    assert_eq!(gmssl_verify(&point, b"massage", der.as_bytes()), "False");
}
