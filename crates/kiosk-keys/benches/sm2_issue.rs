//! SM2 certificate issuance with the issuing key in the SM2 test token
//! (`crates/sm2-token`, SANSEC set): certificates per second, side by side
//! with the floor under it, the token's SM3withSM2 signature of a message
//! of the same size alone. And P-256 issuance on SoftHSM2 beside it, as
//! the station issues today.
//!
//! Run: cargo bench -p kiosk-keys --bench sm2_issue [-- COUNT]

use std::time::{Duration, Instant};

use kiosk_keys::{
    csr, issue, self_signed_ca, sm2_csr, sm2_issue, sm2_self_signed_ca, Extensions, Module,
    SecretString, Sm2Mechanisms, Sm2Signer, SubjectSpec, TokenSigner,
};
use time::OffsetDateTime;

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    for d in ["sm2-tokens", "softhsm-tokens"] {
        std::fs::create_dir(dir.path().join(d)).unwrap();
    }
    let sm2_conf = dir.path().join("sm2-token.conf");
    std::fs::write(
        &sm2_conf,
        format!(
            "directories.tokendir = {}/sm2-tokens\nvendor = sansec\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let softhsm_conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &softhsm_conf,
        format!(
            "directories.tokendir = {}/softhsm-tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.path().display()
        ),
    )
    .unwrap();
    std::env::set_var("KIOSK_SM2_TOKEN_CONF", &sm2_conf);
    std::env::set_var("SOFTHSM2_CONF", &softhsm_conf);

    let subject = |cn: &str| SubjectSpec {
        common_name: cn.into(),
        organization: Some(cn.into()),
        organizational_unit: None,
        extra: vec![],
    };
    let ext = Extensions {
        key_usages: vec![kiosk_keys::KeyUsagePurpose::DigitalSignature],
        extended_key_usages: vec![kiosk_keys::ExtendedKeyUsagePurpose::ClientAuth],
        crl_url: Some("http://crl.kiosk-station.invalid/crl/st1.crl".into()),
        ca_issuers_url: Some("http://crl.kiosk-station.invalid/ca/st1.cer".into()),
    };
    let now = OffsetDateTime::now_utc();
    let later = now + time::Duration::days(365);

    // SM2 on the test token.
    let m = Module::load(kiosk_sm2_token::library_for_current_exe().to_str().unwrap()).unwrap();
    let s = station_token(&m);
    let set = Sm2Mechanisms::by_id("sansec").unwrap();
    s.generate_sm2(set, b"ca", "ca").unwrap();
    let (_, leaf_point) = s.generate_sm2(set, b"leaf", "leaf").unwrap();
    let ca = Sm2Signer::new(&s, set, b"ca").unwrap();
    let ca_cert = sm2_self_signed_ca(&ca, &subject("SM2 CA"), now, later, &[1; 16]).unwrap();
    let request = sm2_csr(
        &Sm2Signer::new(&s, set, b"leaf").unwrap(),
        &subject("Holder"),
    )
    .unwrap();
    let mut sm2_times = Vec::with_capacity(count);
    let mut sign_times = Vec::with_capacity(count);
    let mut size = 0;
    for i in 0..count {
        let serial = (i as u128 + 1).to_be_bytes();
        let t = Instant::now();
        let cert = sm2_issue(
            &request,
            &leaf_point,
            &subject("Holder"),
            &ca_cert,
            &ca,
            now,
            later,
            &serial,
            &ext,
        )
        .unwrap();
        sm2_times.push(t.elapsed());
        size = cert.len();
        // About the signed part's length: the certificate less its
        // algorithm and signature.
        let t = Instant::now();
        ca.sign_der(&cert[..cert.len() - 80]).unwrap();
        sign_times.push(t.elapsed());
    }

    // P-256 on SoftHSM2, as the station issues today.
    let m = Module::load("/usr/lib/softhsm/libsofthsm2.so").unwrap();
    let s = station_token(&m);
    s.generate_p256(b"ca", "ca").unwrap();
    s.generate_p256(b"leaf", "leaf").unwrap();
    let ca = TokenSigner::new(&s, b"ca").unwrap();
    let ca_cert = self_signed_ca(&ca, &subject("P-256 CA"), now, later, &[1; 16]).unwrap();
    let leaf = TokenSigner::new(&s, b"leaf").unwrap();
    let request = csr(&leaf, &subject("Holder")).unwrap();
    let mut p256_times = Vec::with_capacity(count);
    for i in 0..count {
        let serial = (i as u128 + 1).to_be_bytes();
        let t = Instant::now();
        issue(
            &request,
            leaf.public_point(),
            &subject("Holder"),
            &ca_cert,
            &ca,
            now,
            later,
            &serial,
            &ext,
        )
        .unwrap();
        p256_times.push(t.elapsed());
    }

    let per_second = |v: &[Duration]| v.len() as f64 / v.iter().sum::<Duration>().as_secs_f64();
    println!("certificates: {count} of {size} bytes each");
    println!(
        "SM2 issuance (test token)      {:>8.1} /s  p50 {:.3} ms",
        per_second(&sm2_times),
        ms(median(&sm2_times))
    );
    println!(
        "SM2 signature alone (floor)    {:>8.1} /s  p50 {:.3} ms  (issuance/signature: {:.2}x)",
        per_second(&sign_times),
        ms(median(&sign_times)),
        ms(median(&sm2_times)) / ms(median(&sign_times))
    );
    println!(
        "P-256 issuance (SoftHSM2)      {:>8.1} /s  p50 {:.3} ms",
        per_second(&p256_times),
        ms(median(&p256_times))
    );
}

/// A fresh token labelled "station" with user PIN "bench-1", logged in.
fn station_token(m: &Module) -> kiosk_keys::TokenSession {
    let pin = |p: &str| SecretString::from(p.to_string());
    m.init_token(m.free_slot().unwrap(), &pin("so-1"), "station")
        .unwrap();
    let s = m.open(&m.by_label("station").unwrap()).unwrap();
    s.login_so(&pin("so-1")).unwrap();
    s.init_user_pin(&pin("bench-1")).unwrap();
    s.logout().unwrap();
    s.login_user(&pin("bench-1")).unwrap();
    s
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
