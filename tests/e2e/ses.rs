//! `kioskctl seal verify` on GB/T 38540 electronic seals: made here with
//! the station's own SM2 code on the SM2 test token (`crates/sm2-token`),
//! checked by the CLI as a relying party would, and refused, naming what is
//! wrong, when forged, expired, made for a certificate the maker did not
//! issue, of an older version, or made by a CA nobody trusts. The seal's
//! structure and signatures are checked by OpenSSL and gmssl in kiosk-keys'
//! own tests.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kiosk_keys::{
    make_ses_seal, sm2_csr, sm2_issue, sm2_self_signed_ca, sm2_sub_ca, Extensions, SesSeal,
    Sm2Mechanisms, Sm2Signer, SubjectSpec,
};
use time::{Duration, OffsetDateTime};

use crate::support::{ctl, Run};

/// The files made once for these tests.
struct Made {
    _dir: tempfile::TempDir,
    dir: PathBuf,
}

impl Made {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }
}

fn subject(cn: &str) -> SubjectSpec {
    SubjectSpec {
        common_name: cn.into(),
        organization: Some(cn.into()),
        organizational_unit: None,
        extra: vec![],
    }
}

/// An SM2 root and station CA, a holder certificate, and seals: good,
/// expired, for a certificate of another CA, tampered, version 3; and a
/// second root that trusts none of them.
fn made() -> &'static Made {
    static MADE: OnceLock<Made> = OnceLock::new();
    MADE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let s = crate::support::sm2_new_token("seal-maker", "station-1");
        let set = Sm2Mechanisms::by_id("sansec").unwrap();
        for id in ["root", "other-root", "ca", "holder"] {
            s.generate_sm2(set, id.as_bytes(), id).unwrap();
        }
        let signer = |id: &str| Sm2Signer::new(&s, set, id.as_bytes()).unwrap();
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let years = |n: i64| now + Duration::days(365 * n);
        let root = sm2_self_signed_ca(
            &signer("root"),
            &subject("SM2 Root"),
            now,
            years(10),
            &[1; 16],
        )
        .unwrap();
        let other = sm2_self_signed_ca(
            &signer("other-root"),
            &subject("Other SM2 Root"),
            now,
            years(10),
            &[2; 16],
        )
        .unwrap();
        let ca = sm2_sub_ca(
            signer("ca").point(),
            &subject("Station SM2 CA"),
            &root,
            &signer("root"),
            now,
            years(5),
            &[3; 16],
        )
        .unwrap();
        let holder_subject = subject("重庆示例建材有限公司");
        let csr = sm2_csr(&signer("holder"), &holder_subject).unwrap();
        let holder = sm2_issue(
            &csr,
            signer("holder").point(),
            &holder_subject,
            &ca,
            &signer("ca"),
            now,
            years(1),
            &[4; 16],
            &Extensions {
                key_usages: vec![kiosk_keys::KeyUsagePurpose::DigitalSignature],
                extended_key_usages: vec![],
                crl_url: None,
                ca_issuers_url: None,
            },
        )
        .unwrap();
        let png = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../crates/kiosk-app/fixtures/seal-sample.png"
        ))
        .unwrap();
        let seal = |holder: &[u8], from: OffsetDateTime, to: OffsetDateTime| {
            let spec = SesSeal {
                vendor_id: "st1".into(),
                seal_id: "st1-0001".into(),
                seal_type: 1,
                name: "重庆示例建材有限公司".into(),
                holder_certificates: vec![holder.to_vec()],
                created: from,
                valid_from: from,
                valid_to: to,
                picture_type: "PNG".into(),
                picture: png.clone(),
                width_mm: 42,
                height_mm: 42,
            };
            make_ses_seal(&spec, &signer("ca"), &ca).unwrap()
        };
        let good = seal(&holder, now, years(1));
        let write = |name: &str, bytes: &[u8]| std::fs::write(d.join(name), bytes).unwrap();
        write("good.seal", &good);
        write(
            "expired.seal",
            &seal(&holder, now - Duration::days(400), now - Duration::days(35)),
        );
        // The maker's own certificate as the "holder": not one it issued.
        write("foreign-holder.seal", &seal(&ca, now, years(1)));
        let mut tampered = good.clone();
        let png_at = tampered.windows(4).position(|w| w == b"\x89PNG").unwrap();
        tampered[png_at + 100] ^= 1;
        write("tampered.seal", &tampered);
        let mut v3 = good.clone();
        let header = v3
            .windows(5)
            .position(|w| w == [0x16, 0x02, b'E', b'S', 0x02])
            .unwrap();
        v3[header + 6] = 3;
        write("v3.seal", &v3);
        write("root.pem", pem(&root).as_bytes());
        write("other-root.pem", pem(&other).as_bytes());
        Made { _dir: dir, dir: d }
    })
}

fn pem(der: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["x509", "-inform", "DER"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(der).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn verify(station: &Path, seal: &str, trusted: &str) -> Run {
    let m = made();
    ctl(
        station,
        &[
            "seal",
            "verify",
            &m.path(seal),
            "--trusted",
            &m.path(trusted),
        ],
    )
}

/// The refusal's code, with its Chinese and English words checked.
fn refused(r: &Run) -> String {
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let e = &r.json["error"];
    assert!(!e["message"].as_str().unwrap().is_empty(), "{}", r.stdout);
    assert!(
        !e["message_en"].as_str().unwrap().is_empty(),
        "{}",
        r.stdout
    );
    e["code"].as_str().unwrap().to_string()
}

#[test]
fn a_seal_the_station_ca_made_verifies_against_the_trusted_root() {
    let station = tempfile::tempdir().unwrap();
    let r = verify(station.path(), "good.seal", "root.pem");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let seal = &r.json["seal"];
    assert_eq!(seal["name"], "重庆示例建材有限公司");
    assert_eq!(seal["seal_id"], "st1-0001");
    assert_eq!(seal["picture_type"], "PNG");
    assert_eq!(
        (seal["width_mm"].as_u64(), seal["height_mm"].as_u64()),
        (Some(42), Some(42))
    );
    assert!(
        seal["maker"].as_str().unwrap().contains("Station SM2 CA"),
        "{seal}"
    );
    assert!(
        seal["trusted_by"].as_str().unwrap().contains("SM2 Root"),
        "{seal}"
    );
    assert!(
        r.stderr.is_empty() || !r.stderr.contains("error"),
        "{}",
        r.stderr
    );
    // A relying party's check writes nothing: no station appears.
    assert_eq!(
        std::fs::read_dir(station.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn forged_expired_foreign_old_and_untrusted_seals_are_refused_by_name() {
    let station = tempfile::tempdir().unwrap();
    for (seal, trusted, code) in [
        ("tampered.seal", "root.pem", "seal_forged"),
        ("expired.seal", "root.pem", "seal_not_valid_now"),
        ("foreign-holder.seal", "root.pem", "holder_not_from_maker"),
        ("v3.seal", "root.pem", "seal_unreadable"),
        ("good.seal", "other-root.pem", "maker_untrusted"),
    ] {
        let r = verify(station.path(), seal, trusted);
        assert_eq!(refused(&r), code, "{seal}: {}", r.stdout);
    }
    let r = verify(station.path(), "v3.seal", "root.pem");
    assert!(r.stderr.contains("第 4 版"), "{}", r.stderr);
    let r = verify(station.path(), "tampered.seal", "root.pem");
    assert!(r.stderr.contains("伪造"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_dir(station.path()).unwrap().count(),
        0,
        "nothing written"
    );
}
