//! Writes a burst of orders and transitions to a station, printing a line
//! after each commit returns, so a test can kill it at any moment and then
//! check that everything it reported is on disk.
//!
//! Usage: order-burst DATA_DIR ORDERS [CLERK]
//!
//! With CLERK it logs in as that account, its password the first line of
//! stdin; without, it acts as the scratch account a fresh station starts
//! with (`kiosk_app::demo::scratch_session`).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use kiosk_app::demo::{counter_steps, APPLICATION_JSON};
use kiosk_app::keys::{ExposeSecret, SecretString};
use kiosk_app::{Station, SystemClock};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("DATA_DIR"));
    let orders: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let mut station = Station::open(&dir, Arc::new(SystemClock)).expect("open station");
    // As every station process: its rows are keyed once its token is set up.
    if let Ok(keys) = station.key_config() {
        station.key_audit(&keys);
    }
    let clerk = match args.next() {
        Some(id) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .expect("password on stdin");
            let secret = SecretString::from(line.trim_end().to_string());
            let (token, _) = station.cli_login(&id, &secret).expect("login");
            station.cli_session(token.expose_secret()).expect("session")
        }
        None => kiosk_app::demo::scratch_session(&mut station).expect("scratch session"),
    };
    let out = std::io::stdout();
    let report = |o: &kiosk_app::domain::order::Order| {
        let mut w = out.lock();
        writeln!(w, "C {} {} {}", o.id, o.revision, o.state.as_str()).expect("stdout");
        w.flush().expect("flush");
    };
    for _ in 0..orders {
        let order = station
            .create_order(APPLICATION_JSON, &clerk)
            .expect("create");
        report(&order);
        for cmd in counter_steps(&order) {
            let o = station
                .order_command(&order.id, cmd, &clerk)
                .expect("transition");
            report(&o);
        }
    }
}
