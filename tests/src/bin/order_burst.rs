//! Writes a burst of orders and transitions to a station, printing a line
//! after each commit returns, so a test can kill it at any moment and then
//! check that everything it reported is on disk.
//!
//! Usage: order-burst DATA_DIR ORDERS

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use kiosk_app::demo::{counter_steps, APPLICATION_JSON, DEMO_CLERK};
use kiosk_app::{Station, SystemClock};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("DATA_DIR"));
    let orders: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let mut station = Station::open(&dir, Arc::new(SystemClock)).expect("open station");
    let out = std::io::stdout();
    let report = |o: &kiosk_app::domain::order::Order| {
        let mut w = out.lock();
        writeln!(w, "C {} {} {}", o.id, o.revision, o.state.as_str()).expect("stdout");
        w.flush().expect("flush");
    };
    for _ in 0..orders {
        let order = station
            .create_order(APPLICATION_JSON, DEMO_CLERK)
            .expect("create");
        report(&order);
        for cmd in counter_steps(&order) {
            let o = station
                .order_command(&order.id, cmd, DEMO_CLERK)
                .expect("transition");
            report(&o);
        }
    }
}
