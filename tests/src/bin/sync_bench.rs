//! Sync throughput: 10,000 queued records synced to a loopback central,
//! side by side with a raw `psql \copy` of the same rows into the same
//! table of the same PostgreSQL.
//!
//! Usage: `cargo run --release -p kiosk-e2e --bin sync-bench [RUNS]`
//! (`scripts/bench-sync`). Starts its own PostgreSQL, central and SoftHSM2
//! station; prints one line per run and a JSON summary.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use kiosk_app::demo::{counter_steps, APPLICATION_JSON};
use kiosk_e2e::bench::{median, ms, BenchStation};
use kiosk_e2e::pg::Postgres;

const RECORDS: usize = 10_000;

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    // The station: demo CA in SoftHSM2, 10,000 records from real orders.
    let mut b = BenchStation::new();
    let (data, clerk) = (b.data.clone(), b.clerk.clone());
    let db = kiosk_store::Store::open_read_only(&data.join(kiosk_app::DB_FILE))
        .unwrap()
        .unwrap();
    while db.outbox_head().unwrap() < RECORDS as i64 {
        let o = b.station.create_order(APPLICATION_JSON, &clerk).unwrap();
        for cmd in counter_steps(&o) {
            b.station.order_command(&o.id, cmd, &clerk).unwrap();
        }
    }
    let head = db.outbox_head().unwrap();
    let rows = db.outbox_after(0, RECORDS as u32).unwrap();
    let station_id = b.station.station_id().to_string();
    let (pg, srv, cfg) = b.central();

    // The same rows as CSV for the raw baseline.
    let csv = b.work.path().join("records.csv");
    write_csv(&csv, &station_id, &rows);
    let csv = pg.readable_copy(&csv);

    let mut sync_times = Vec::new();
    let mut copy_times = Vec::new();
    let mut bytes = 0;
    for run in 0..runs {
        // Both start from an empty table and a station with nothing acked,
        // with only the first 10,000 records queued.
        reset(&pg, &station_id);
        reset_station(&data, RECORDS as i64, head);
        let t = Instant::now();
        let s = b.station.sync(&b.keys, &cfg, &mut |_| {}).unwrap();
        let sync = t.elapsed();
        assert_eq!(s.sent as usize, RECORDS, "{s:?}");
        bytes = s.bytes_sent;

        reset(&pg, &station_id);
        let t = Instant::now();
        pg.psql(&format!(
            "\\copy records (station_id, seq, id, kind, payload_version, created_at, payload) FROM '{}' CSV",
            csv.display()
        ));
        let copy = t.elapsed();
        let n = pg.psql("SELECT count(*) FROM records");
        assert_eq!(n, RECORDS.to_string());
        println!(
            "run {run}: sync {:.1} ms, psql \\copy {:.1} ms",
            ms(sync),
            ms(copy)
        );
        sync_times.push(sync);
        copy_times.push(copy);
    }
    let (sync, copy) = (median(&mut sync_times), median(&mut copy_times));
    let summary = serde_json::json!({
        "records": RECORDS,
        "sync_median_ms": ms(sync),
        "sync_records_per_s": (RECORDS as f64 / sync.as_secs_f64()).round(),
        "copy_median_ms": ms(copy),
        "copy_records_per_s": (RECORDS as f64 / copy.as_secs_f64()).round(),
        "ratio_of_raw": (copy.as_secs_f64() / sync.as_secs_f64() * 1000.0).round() / 1000.0,
        "request_bytes_per_record": bytes / RECORDS as u64,
        "csv_bytes_per_record": std::fs::metadata(&csv).unwrap().len() / RECORDS as u64,
    });
    println!("{summary}");
    drop(srv);
}

fn reset(pg: &Postgres, station: &str) {
    pg.psql(&format!(
        "TRUNCATE records, certificates, revocations, request_nonces;
         UPDATE stations SET committed_seq = 0 WHERE id = '{station}'; CHECKPOINT"
    ));
}

/// Un-acknowledges every record and drops those beyond `upto` (a
/// scratch station), so each run sends exactly `upto`.
fn reset_station(data: &Path, upto: i64, head: i64) {
    let c = rusqlite::Connection::open(data.join(kiosk_app::DB_FILE)).unwrap();
    c.execute_batch(&format!(
        "UPDATE outbox SET acked_at = NULL; UPDATE sync_state SET acked_seq = 0;
         DELETE FROM outbox WHERE seq > {upto} AND seq <= {head}"
    ))
    .unwrap();
}

fn write_csv(path: &Path, station: &str, rows: &[kiosk_store::RawRecord]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for r in rows {
        writeln!(
            f,
            "{},{},{},{},{},{},{}",
            q(station),
            r.seq,
            q(&r.id),
            q(&r.kind),
            r.payload_version,
            q(&r.created_at),
            q(&r.payload)
        )
        .unwrap();
    }
}
