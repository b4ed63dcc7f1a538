//! A full new-key personalization on SoftHSM2 (journal, database, CSR with
//! proof of possession, issuance, seal, read-back, challenge and the
//! encryption test), side by side with the raw token operations alone: the
//! same token init, PINs, key generation, signatures, key agreement and
//! object writes in a minimal loop.
//!
//! Run: cargo bench -p kiosk-app --bench personalize [-- ROUNDS]

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
    let secret = |s: &str| SecretString::from(s.to_string());
    let cfg = KeyConfig {
        module: "/usr/lib/softhsm/libsofthsm2.so".into(),
        station_token: "kiosk-station".into(),
        station_pin: Some(secret("station-pin-1")),
        transport_so_pin: Some(secret("vendor-so-1")),
        kill_at_step: None,
        sm2: None,
    };
    let m = Module::load(&cfg.module).unwrap();
    let mut station = Station::open(&dir.path().join("data"), Arc::new(SystemClock)).unwrap();
    let clerk = kiosk_app::demo::scratch_session(&mut station).expect("scratch session");
    station.ca_init_demo(&m, &cfg, &clerk).unwrap();
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
        let key = blank(&m, "BLANK");
        let today = station.today();
        station
            .stock_add(&key.serial, "SoftHSM v2", "BENCH", today, &clerk)
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

        // The raw token operations of the same personalization: the station
        // token's login, SO PIN derivation and two CA signatures, and the
        // key's init, PINs, key pair, two signatures and three objects.
        let raw = blank(&m, "RAW");
        let t = Instant::now();
        let st = m.open(&m.by_label("kiosk-station").unwrap()).unwrap();
        st.login_user(&secret("station-pin-1")).unwrap();
        let master = st.secret("so-pin-master").unwrap().unwrap();
        st.hmac(master, raw.serial.as_bytes()).unwrap();
        let (ca_key, _, _) = st.key_pair(b"station-ca").unwrap();
        let label = format!("RAW {i}");
        m.init_token(raw.slot, &secret("vendor-so-1"), &label)
            .unwrap();
        let token = m.by_label(&label).unwrap();
        let s = m.open(&token).unwrap();
        s.login_so(&secret("vendor-so-1")).unwrap();
        s.set_pin(&secret("vendor-so-1"), &secret("0123456789ABCDEF"))
            .unwrap();
        s.init_user_pin(&pin).unwrap();
        s.logout().unwrap();
        s.login_user(&pin).unwrap();
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
        s.put_certificate(
            &[1, 2, 3, 4, 5, 6, 7, 8],
            "company",
            &[0u8; 700],
            &[0u8; 120],
        )
        .unwrap();
        s.put_data("kiosk-station", "seal.png", &seal).unwrap();
        s.put_data("kiosk-station", "seal-record.json", &[0u8; 300])
            .unwrap();
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
