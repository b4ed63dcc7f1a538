//! The certificate directory at size: N entries (1,000,000 unless told)
//! in the central, synced to a station from empty over loopback HTTPS
//! (signed pages, SQLite at the station), side by side with a raw
//! `psql \copy` of the same rows into a table of the same shape in the
//! same PostgreSQL. Then lookups at the station by serial and by USCC.
//!
//! Usage: `cargo run --release -p kiosk-e2e --bin directory-bench [N]`
//! (`scripts/bench-directory`). Prints what it measured and a JSON summary.

use std::time::{Duration, Instant};

use kiosk_e2e::bench::{ms, percentile, BenchStation};

const LOOKUPS: usize = 10_000;

fn main() {
    let n: i64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let mut b = BenchStation::new();
    let (pg, srv, cfg) = b.central();

    // N entries as an import from a CA's systems would leave them: a
    // 16-byte serial, a company name and USCC, two dates.
    let t = Instant::now();
    pg.psql(&format!(
        "INSERT INTO directory (issuer, serial, provider, name, uscc, not_before, not_after, status, source)
         SELECT 'CN=Legacy Sinocert Issuing CA,O=Legacy Sinocert', lpad(to_hex(i * 2654435761), 32, '7'),
                CASE WHEN i % 2 = 0 THEN 'ezca' ELSE 'bjca' END,
                '重庆示例' || i || '建材有限公司', '91500000MA' || lpad(i::text, 8, '0'),
                '2026-01-01', '2027-12-31', CASE WHEN i % 50 = 0 THEN 'revoked' ELSE 'valid' END,
                'import'
         FROM generate_series(1, {n}) AS i"
    ));
    println!(
        "central filled with {n} entries in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The station, from empty.
    let db_file = b.data.join(kiosk_app::DB_FILE);
    checkpoint(&db_file);
    let empty_bytes = std::fs::metadata(&db_file).unwrap().len();
    let t = Instant::now();
    let s = b.station.sync(&b.keys, &cfg, &mut |_| {}).unwrap();
    let sync = t.elapsed();
    assert_eq!(s.directory_entries as i64, n, "{s:?}");
    checkpoint(&db_file);
    let station_bytes = std::fs::metadata(&db_file).unwrap().len() - empty_bytes;
    println!(
        "station sync from empty: {:.1} s, {} answer bytes ({} per entry), station database +{} bytes ({} per entry)",
        sync.as_secs_f64(),
        s.bytes_received,
        s.bytes_received / n as u64,
        station_bytes,
        station_bytes / n as u64
    );

    // The raw baseline: the same rows out as CSV and back in with \copy.
    let csv = b.work.path().join("directory.csv");
    std::fs::write(&csv, b"").unwrap();
    // Where psql (as the server's user) may write and read it.
    let csv = pg.readable_copy(&csv);
    pg.psql(&format!(
        "\\copy (SELECT issuer, serial, provider, name, uscc, not_before, not_after, status, version FROM directory ORDER BY version) TO '{}' CSV",
        csv.display()
    ));
    pg.psql(
        "CREATE TABLE directory_copy (issuer text, serial text, provider text, name text, uscc text,
           not_before text, not_after text, status text, version bigint, PRIMARY KEY (issuer, serial));
         CREATE INDEX ON directory_copy (serial); CREATE INDEX ON directory_copy (uscc); CHECKPOINT",
    );
    let t = Instant::now();
    pg.psql(&format!(
        "\\copy directory_copy FROM '{}' CSV",
        csv.display()
    ));
    let copy = t.elapsed();
    let csv_bytes = std::fs::metadata(&csv).unwrap().len();
    println!(
        "psql \\copy of the same rows: {:.1} s, {} CSV bytes ({} per entry)",
        copy.as_secs_f64(),
        csv_bytes,
        csv_bytes / n as u64
    );

    // Lookups at the station: by serial and by USCC, spread over the range.
    let mut by_serial = Vec::with_capacity(LOOKUPS);
    let mut by_uscc = Vec::with_capacity(LOOKUPS);
    for k in 0..LOOKUPS as i64 {
        let i = 1 + (k * 7919) % n;
        let serial = serial_of(i);
        let t = Instant::now();
        let found = b.station.directory_find(Some(&serial), None).unwrap();
        by_serial.push(t.elapsed());
        assert_eq!(found.entries.len(), 1, "serial {serial}");
        let uscc = format!("91500000MA{i:08}");
        let t = Instant::now();
        let found = b.station.directory_find(None, Some(&uscc)).unwrap();
        by_uscc.push(t.elapsed());
        assert_eq!(found.entries.len(), 1, "uscc {uscc}");
    }
    let p = |v: &mut Vec<Duration>, q| ms3(percentile(v, q));
    let summary = serde_json::json!({
        "entries": n,
        "sync_from_empty_s": (sync.as_secs_f64() * 10.0).round() / 10.0,
        "sync_entries_per_s": (n as f64 / sync.as_secs_f64()).round(),
        "copy_s": (copy.as_secs_f64() * 10.0).round() / 10.0,
        "copy_entries_per_s": (n as f64 / copy.as_secs_f64()).round(),
        "ratio_of_raw": (copy.as_secs_f64() / sync.as_secs_f64() * 1000.0).round() / 1000.0,
        "answer_bytes": s.bytes_received,
        "answer_bytes_per_entry": s.bytes_received / n as u64,
        "csv_bytes_per_entry": csv_bytes / n as u64,
        "station_bytes_per_entry": station_bytes / n as u64,
        "lookup_serial_p50_ms": p(&mut by_serial, 50.0),
        "lookup_serial_p99_ms": p(&mut by_serial, 99.0),
        "lookup_uscc_p50_ms": p(&mut by_uscc, 50.0),
        "lookup_uscc_p99_ms": p(&mut by_uscc, 99.0),
        "copy_ms_for_reference": ms(copy),
    });
    println!("{summary}");
    drop(srv);
}

fn ms3(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The serial the fill gave entry i (16 bytes of hex).
fn serial_of(i: i64) -> String {
    format!("{:7>32}", format!("{:x}", i * 2_654_435_761))
}

/// Folds the WAL into the database file, so its size is the data's.
fn checkpoint(db: &std::path::Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
}
