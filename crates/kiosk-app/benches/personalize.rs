//! A full new-key personalization on SoftHSM2 (journal, database, CSR with
//! proof of possession, issuance, seal, read-back, challenge and the
//! encryption test), side by side with the raw token operations alone: the
//! same token init, PINs, key generation, signatures, key agreement and
//! object writes in a minimal loop.
//!
//! With `sm2`, the same for an SM2 profile: the key and the station's SM2
//! sub-CA on the SM2 test token (`crates/sm2-token`, SANSEC set), the seal
//! a GB/T 38540 seal, the encryption test SM2 encryption; the raw side the
//! same SM2 token operations through `kiosk-keys` (each signature checked
//! in software once made, as the station's path does).
//!
//! Run: cargo bench -p kiosk-app --bench personalize [-- ROUNDS] [sm2]

use std::sync::Arc;
use std::time::{Duration, Instant};

use kiosk_app::demo::{intake_steps, APPLICATION_JSON};
use kiosk_app::keys::{Module, SecretString};
use kiosk_app::{KeyConfig, KeyWork, Station, SystemClock};

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let sm2 = std::env::args().any(|a| a == "sm2");
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
    let sm2_setup = sm2.then(|| {
        std::fs::create_dir(dir.path().join("sm2-tokens")).unwrap();
        let conf = dir.path().join("sm2-token.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}/sm2-tokens\nvendor = sansec\n",
                dir.path().display()
            ),
        )
        .unwrap();
        std::env::set_var("KIOSK_SM2_TOKEN_CONF", &conf);
        kiosk_app::keys::Sm2Setup {
            module: kiosk_sm2_token::library_for_current_exe()
                .display()
                .to_string(),
            station_token: "kiosk-station-sm2".into(),
            mechanisms: "sansec".into(),
        }
    });
    let cfg = KeyConfig {
        module: "/usr/lib/softhsm/libsofthsm2.so".into(),
        station_token: "kiosk-station".into(),
        station_pin: Some(secret("station-pin-1")),
        transport_so_pin: Some(secret("vendor-so-1")),
        kill_at_step: None,
        sm2: sm2_setup.clone(),
    };
    let m = Module::load(&cfg.module).unwrap();
    let mut station = Station::open(&dir.path().join("data"), Arc::new(SystemClock)).unwrap();
    let clerk = kiosk_app::demo::scratch_session(&mut station).expect("scratch session");
    station.ca_init_demo(&m, &cfg, &clerk).unwrap();
    // The key's module: SoftHSM2, or the SM2 test token with the demo
    // application's provider moved to SM2 by the operator's catalog.
    let (km, model) = match &sm2_setup {
        None => (m.clone(), "SoftHSM v2"),
        Some(setup) => {
            sm2_catalog(&mut station, &clerk, dir.path());
            (Module::load(&setup.module).unwrap(), "SM2 TEST sansec")
        }
    };
    let set = kiosk_app::keys::Sm2Mechanisms::by_id("sansec").unwrap();
    let seal = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/seal-sample.png"
    ))
    .unwrap();
    let pin = secret("527913");

    let blank = |m: &Module, label: &str| {
        let before: Vec<String> = m.tokens().unwrap().into_iter().map(|t| t.serial).collect();
        m.init_token(m.free_slot().unwrap(), &secret("vendor-so-1"), label)
            .unwrap();
        m.tokens()
            .unwrap()
            .into_iter()
            .find(|t| t.initialized && !before.contains(&t.serial))
            .unwrap()
    };

    let mut station_times = Vec::new();
    let mut raw_times = Vec::new();
    for i in 0..rounds {
        // The station's whole flow for one paid order.
        let key = blank(&km, "BLANK");
        let today = station.today();
        station
            .stock_add(&key.serial, model, "BENCH", today, &clerk)
            .unwrap();
        let order = station.create_order(APPLICATION_JSON, &clerk).unwrap();
        for cmd in intake_steps(&order) {
            station.order_command(&order.id, cmd, &clerk).unwrap();
        }
        let t = Instant::now();
        let work = KeyWork {
            key_serial: Some(&key.serial),
            pin: Some(pin.clone()),
            pin_again: Some(pin.clone()),
            seal_png: Some(&seal),
            progress: None,
        };
        station
            .run_order(&m, &cfg, &order.id, work, &clerk)
            .unwrap();
        station_times.push(t.elapsed());

        let raw = blank(&km, "RAW");
        let t = Instant::now();
        if sm2 {
            raw_sm2(&m, &km, set, &raw, i, &pin, &seal);
        } else {
            raw_p256(&m, &raw, i, &pin, &seal);
        }
        raw_times.push(t.elapsed());
    }
    let (s50, r50) = (median(&station_times), median(&raw_times));
    let (smean, rmean) = (mean(&station_times), mean(&raw_times));
    println!("rounds: {rounds}");
    println!(
        "station personalization  median {:>8.2} ms  mean {:>8.2} ms",
        ms(s50),
        ms(smean)
    );
    println!(
        "raw token operations     median {:>8.2} ms  mean {:>8.2} ms",
        ms(r50),
        ms(rmean)
    );
    println!(
        "ratio station/raw: median {:.3}x  mean {:.3}x",
        ms(s50) / ms(r50),
        ms(smean) / ms(rmean)
    );

    // Where the station's time goes, from its own journal: each step runs
    // from its "started" line to the next line.
    let db = rusqlite::Connection::open(dir.path().join("data").join(kiosk_app::DB_FILE)).unwrap();
    let mut stmt = db
        .prepare(
            "SELECT order_id, step, at FROM personalization_journal
             WHERE phase = 'started' OR (phase = 'done' AND step = 'complete') ORDER BY id",
        )
        .unwrap();
    let rows: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut per_step: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for w in rows.windows(2) {
        if w[0].0 == w[1].0 && w[0].1 != w[1].1 {
            let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
            let d = (t(&w[1].2) - t(&w[0].2)).num_microseconds().unwrap() as f64 / 1000.0;
            per_step.entry(w[0].1.clone()).or_default().push(d);
        }
    }
    for step in kiosk_app::STEPS {
        let step = step.as_str();
        if let Some(v) = per_step.get_mut(step) {
            v.sort_by(f64::total_cmp);
            println!("  step {step:<18} median {:>6.2} ms", v[v.len() / 2]);
        }
    }
}

/// The station token logged in, with the SO PIN of `raw` derived in it.
fn raw_station(m: &Module, raw: &kiosk_app::keys::TokenInfo) -> kiosk_app::keys::TokenSession {
    let st = m.open(&m.by_label("kiosk-station").unwrap()).unwrap();
    st.login_user(&secret("station-pin-1")).unwrap();
    let master = st.secret("so-pin-master").unwrap().unwrap();
    st.hmac(master, raw.serial.as_bytes()).unwrap();
    st
}

/// The blank key `raw` (in `m`) initialised as round `i`, its SO and user
/// PINs set, logged in as the user.
fn raw_key(
    m: &Module,
    raw: &kiosk_app::keys::TokenInfo,
    i: usize,
    pin: &SecretString,
) -> kiosk_app::keys::TokenSession {
    let label = format!("RAW {i}");
    m.init_token(raw.slot, &secret("vendor-so-1"), &label)
        .unwrap();
    let s = m.open(&m.by_label(&label).unwrap()).unwrap();
    s.login_so(&secret("vendor-so-1")).unwrap();
    s.set_pin(&secret("vendor-so-1"), &secret("0123456789ABCDEF"))
        .unwrap();
    s.init_user_pin(pin).unwrap();
    s.logout().unwrap();
    s.login_user(pin).unwrap();
    s
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

/// The raw token operations of a P-256 personalization on `raw`: the
/// station token's login, SO PIN derivation and two CA signatures, and the
/// key's init, PINs, key pair, two signatures, key agreement and three
/// objects.
fn raw_p256(
    m: &Module,
    raw: &kiosk_app::keys::TokenInfo,
    i: usize,
    pin: &SecretString,
    seal: &[u8],
) {
    let st = raw_station(m, raw);
    let (ca_key, _, _) = st.key_pair(b"station-ca").unwrap();
    let s = raw_key(m, raw, i, pin);
    let id = [1, 2, 3, 4, 5, 6, 7, 8];
    let (key_h, point) = s
        .generate(kiosk_app::keys::KeyKind::P256, &id, "company")
        .unwrap();
    let digest = [7u8; 32];
    s.sign_digest(key_h, &digest).unwrap(); // the CSR's signature
    s.sign_digest(key_h, &digest).unwrap(); // the challenge
    s.random(32).unwrap(); // the encryption test's secret
    s.ecdh(&id, &point).unwrap(); // ... and its decryption
    st.sign_digest(ca_key, &digest).unwrap(); // the certificate
    st.sign_digest(ca_key, &digest).unwrap(); // the seal record
    s.put_certificate(&id, "company", &[0u8; 700], &[0u8; 120])
        .unwrap();
    s.put_data("kiosk-station", "seal.png", seal).unwrap();
    s.put_data("kiosk-station", "seal-record.json", &[0u8; 300])
        .unwrap();
}

/// The raw token operations of an SM2 personalization on `raw` (in `km`,
/// the SM2 module): the station token's login and SO PIN derivation, the
/// SM2 token's login and two sub-CA signatures (certificate, seal), and
/// the key's init, PINs, SM2 key pair, two signatures (request,
/// challenge), the SM2 decryption and three objects.
fn raw_sm2(
    m: &Module,
    km: &Module,
    set: &kiosk_app::keys::Sm2Mechanisms,
    raw: &kiosk_app::keys::TokenInfo,
    i: usize,
    pin: &SecretString,
    seal: &[u8],
) {
    raw_station(m, raw);
    let ca = km.open(&km.by_label("kiosk-station-sm2").unwrap()).unwrap();
    ca.login_user(&secret("station-pin-1")).unwrap();
    let (ca_key, ca_point) = ca.sm2_key(set, b"station-ca").unwrap();
    let s = raw_key(km, raw, i, pin);
    let id = [1, 2, 3, 4, 5, 6, 7, 8];
    let (key_h, point) = s.generate_sm2(set, &id, "company").unwrap();
    s.sign_sm2(set, key_h, &point, &[7u8; 400]).unwrap(); // the request
    s.sign_sm2(set, key_h, &point, &[9u8; 32]).unwrap(); // the challenge
    let secret_bytes = s.random(32).unwrap(); // the encryption test
    let sealed = kiosk_app::keys::sm2_encrypt_to(&point, &secret_bytes).unwrap();
    s.sm2_decrypt(set, &id, &sealed).unwrap();
    ca.sign_sm2(set, ca_key, &ca_point, &[5u8; 600]).unwrap(); // the certificate
    ca.sign_sm2(set, ca_key, &ca_point, &vec![3u8; seal.len() + 900])
        .unwrap(); // the seal
    s.put_certificate(&id, "company", &[0u8; 700], &[0u8; 120])
        .unwrap();
    s.put_data("kiosk-station", "seal.png", seal).unwrap();
    s.put_data("kiosk-station", "seal.ses", &vec![0u8; seal.len() + 2000])
        .unwrap();
}

/// A second supervisor and the operator's catalog that moves the demo
/// application's provider (ezca) to SM2.
fn sm2_catalog(station: &mut Station, clerk: &kiosk_app::Session, dir: &std::path::Path) {
    let second = SecretString::from("scratch-pass-2".to_string());
    station
        .put_clerk(
            "scratch2",
            "scratch2",
            kiosk_app::Role::Supervisor,
            &second,
            None,
            None,
        )
        .unwrap();
    let acting = station.second_account(clerk, "scratch2", &second).unwrap();
    let base = kiosk_app::domain::Catalog::from_toml(kiosk_app::EMBEDDED_CATALOG)
        .unwrap()
        .version;
    let text = kiosk_app::EMBEDDED_CATALOG
        .replacen(
            &format!("version = {base}\n"),
            &format!("version = {}\n", base + 1),
            1,
        )
        .replacen(
            "key_algorithm = \"ec-p256\"\nuscc_attribute = \"state\"",
            "key_algorithm = \"sm2\"\nuscc_attribute = \"state\"",
            1,
        );
    let f = dir.join("sm2-catalog.toml");
    std::fs::write(&f, text).unwrap();
    station.import_catalog(&f, &acting).unwrap();
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn mean(v: &[Duration]) -> Duration {
    v.iter().sum::<Duration>() / v.len() as u32
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
