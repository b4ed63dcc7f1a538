//! Durable order transitions on a real database file: p50/p99 latency of one
//! transition (load, rules, save with its outbox and its audit row keyed in
//! the station token, fsync), side by side with the floor under it, a bare
//! one-row durable SQLite commit on the same disk and settings. Then scan
//! intake (a 1240×1754 JPEG checked, turned upright, downscaled, stored
//! with its thumbnail and original, and recorded), and database bytes per
//! completed order.
//!
//! Run: cargo bench -p kiosk-app --bench store [-- ORDERS]

use std::sync::Arc;
use std::time::{Duration, Instant};

use kiosk_app::demo::{counter_steps, APPLICATION_JSON};
use kiosk_app::{Station, SystemClock};

fn main() {
    let orders: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    let dir =
        tempfile::tempdir_in(std::env::var_os("BENCH_DIR").unwrap_or_else(|| ".".into())).unwrap();

    // The floor: one durable commit of one small row, on the same disk and
    // settings, taken in turn with the transitions (one floor commit before
    // each transition) so both meet the same state of the disk.
    let c = rusqlite::Connection::open(dir.path().join("floor.db")).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
    )
    .unwrap();
    let body = "x".repeat(1500);
    let mut floor = Vec::with_capacity(orders * 9);
    let bare_commit = |into: &mut Vec<Duration>| {
        let t = Instant::now();
        c.execute("INSERT INTO t (body) VALUES (?1)", [&body])
            .unwrap();
        into.push(t.elapsed());
    };

    // The floor once more on its own, with nothing else on the disk.
    let mut alone = Vec::with_capacity(orders * 9);
    for _ in 0..orders * 9 {
        bare_commit(&mut alone);
    }

    // The station keys its audit trail in a SoftHSM2 station token, as a
    // set-up station does.
    let cfg = station_token(dir.path());
    let station_dir = dir.path().join("station");
    let mut station = Station::open(&station_dir, Arc::new(SystemClock)).unwrap();
    let clerk = kiosk_app::demo::scratch_session(&mut station).expect("scratch session");
    let m = kiosk_app::keys::Module::load(&cfg.module).unwrap();
    station.ca_init_demo(&m, &cfg, &clerk).unwrap();
    station.key_audit(&cfg);
    let mut transitions = Vec::with_capacity(orders * 9);
    let mut creates = Vec::with_capacity(orders);
    for _ in 0..orders {
        bare_commit(&mut floor);
        let t = Instant::now();
        let order = station.create_order(APPLICATION_JSON, &clerk).unwrap();
        creates.push(t.elapsed());
        for cmd in counter_steps(&order) {
            bare_commit(&mut floor);
            let t = Instant::now();
            station.order_command(&order.id, cmd, &clerk).unwrap();
            transitions.push(t.elapsed());
        }
    }
    let audit = station.verify_audit(Some(&cfg)).unwrap();
    assert!(audit.ok && audit.keys_checked, "{:?}", audit.findings);
    println!(
        "audit: {} rows, {} keyed in the station token, verified",
        audit.rows, audit.keyed_rows
    );
    drop(station);
    checkpoint(&station_dir);
    let db_bytes = std::fs::metadata(station_dir.join(kiosk_app::DB_FILE))
        .unwrap()
        .len();
    // Scan intake, after the size was taken: one A4 scan on each of as
    // many new orders as a sixth of the orders' count.
    let scan = dir.path().join("scan.jpg");
    let (sheet, _) = kiosk_forms::synthetic::stamped_sheet(1240, 1754, 7);
    sheet.save(&scan).unwrap();
    let mut station = Station::open(&station_dir, Arc::new(SystemClock)).unwrap();
    station.key_audit(&cfg);
    let clerk = kiosk_app::demo::scratch_session(&mut station).expect("scratch session");
    let mut scans = Vec::new();
    for _ in 0..(orders / 6).max(10) {
        let order = station.create_order(APPLICATION_JSON, &clerk).unwrap();
        let t = Instant::now();
        station
            .attach_scan(&order.id, &order.checklist[0].id, &scan, &clerk)
            .unwrap();
        scans.push(t.elapsed());
    }
    drop(station);
    let empty = {
        let d = dir.path().join("empty");
        drop(Station::open(&d, Arc::new(SystemClock)).unwrap());
        checkpoint(&d);
        std::fs::metadata(d.join(kiosk_app::DB_FILE)).unwrap().len()
    };

    let (f50, f99) = (pct(&floor, 50.0), pct(&floor, 99.0));
    let (t50, t99) = (pct(&transitions, 50.0), pct(&transitions, 99.0));
    println!("orders: {orders}, transitions: {}", transitions.len());
    println!(
        "order create         p50 {:>8.3} ms  p99 {:>8.3} ms",
        ms(pct(&creates, 50.0)),
        ms(pct(&creates, 99.0))
    );
    println!(
        "order transition     p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
        ms(t50),
        ms(t99),
        ms(*transitions.iter().max().unwrap())
    );
    println!(
        "baseline bare commit p50 {:>8.3} ms  p99 {:>8.3} ms",
        ms(f50),
        ms(f99)
    );
    println!(
        "ratio transition/bare commit: p50 {:.2}x  p99 {:.2}x",
        ms(t50) / ms(f50),
        ms(t99) / ms(f99)
    );
    println!(
        "scan intake          p50 {:>8.3} ms  p99 {:>8.3} ms  ({} scans)",
        ms(pct(&scans, 50.0)),
        ms(pct(&scans, 99.0)),
        scans.len()
    );
    let (a50, a99) = (pct(&alone, 50.0), pct(&alone, 99.0));
    println!(
        "bare commit alone    p50 {:>8.3} ms  p99 {:>8.3} ms  (transition/alone: p50 {:.2}x  p99 {:.2}x)",
        ms(a50),
        ms(a99),
        ms(t50) / ms(a50),
        ms(t99) / ms(a99)
    );
    println!(
        "database: {db_bytes} bytes for {orders} completed orders ({} steps each) = {} bytes/order (empty station {empty} bytes)",
        transitions.len() / orders + 1,
        (db_bytes - empty) / orders as u64
    );
}

/// A SoftHSM2 station token under `dir` (made by `ca_init_demo`).
fn station_token(dir: &std::path::Path) -> kiosk_app::KeyConfig {
    std::fs::create_dir(dir.join("tokens")).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.display()
        ),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let secret = |s: &str| kiosk_app::keys::SecretString::from(s.to_string());
    kiosk_app::KeyConfig {
        module: "/usr/lib/softhsm/libsofthsm2.so".into(),
        station_token: "kiosk-station".into(),
        station_pin: Some(secret("station-pin-1")),
        transport_so_pin: Some(secret("vendor-so-1")),
        kill_at_step: None,
        sm2: None,
    }
}

fn pct(samples: &[Duration], p: f64) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    s[((s.len() as f64 - 1.0) * p / 100.0).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Folds the WAL into the database file, so its size is the data's.
fn checkpoint(dir: &std::path::Path) {
    kiosk_store::Store::open(&dir.join(kiosk_app::DB_FILE), chrono::Utc::now())
        .unwrap()
        .checkpoint()
        .unwrap();
}
