//! One scripted counter transaction on the embedded defaults.

use std::path::Path;
use std::sync::Arc;

use kiosk_domain::fee::FeeQuote;
use kiosk_domain::order::{CheckStatus, Command, Order, Payment, PaymentMethod};
use serde::Serialize;

use crate::{AppError, Clock, Station, DB_FILE};

/// A valid application (synthetic company, synthetic people) for the demo
/// and for tests.
pub const APPLICATION_JSON: &str = include_str!("../fixtures/demo-application.json");

/// The clerk the demo acts as.
pub const DEMO_CLERK: &str = "demo";

#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    pub order_id: String,
    pub order_number: String,
    pub state: String,
    pub fee: FeeQuote,
    pub receipt_no: String,
    pub data_dir: String,
    pub database: String,
    pub outbox_pending: i64,
    pub audit_rows: i64,
    pub audit_ok: bool,
}

/// Takes in the demo application, checks every item, takes the fee, and
/// carries the order through production to completion.
pub fn run(data_dir: &Path, clock: Arc<dyn Clock>) -> Result<DemoSummary, AppError> {
    let mut station = Station::open(data_dir, clock)?;
    let order = station.create_order(APPLICATION_JSON, DEMO_CLERK)?;
    let mut done = order.clone();
    for cmd in counter_steps(&order) {
        done = station.order_command(&order.id, cmd, DEMO_CLERK)?;
    }
    let audit = station.verify_audit()?;
    let counts = station.store().counts()?;
    Ok(DemoSummary {
        order_id: done.id,
        order_number: done.number,
        state: done.state.as_str().to_string(),
        fee: done.fee,
        receipt_no: done.payment.and_then(|p| p.receipt_no).unwrap_or_default(),
        data_dir: data_dir.display().to_string(),
        database: data_dir.join(DB_FILE).display().to_string(),
        outbox_pending: counts["outbox_pending"].as_i64().unwrap_or(0),
        audit_rows: audit.rows,
        audit_ok: audit.ok,
    })
}

/// The clerk's steps that carry a fresh order to completion when every
/// material is in order: check each item, approve, take the fee (cash, or
/// nothing when free), start production, complete.
pub fn counter_steps(order: &Order) -> Vec<Command> {
    let mut steps: Vec<Command> = order
        .checklist
        .iter()
        .map(|i| Command::Check {
            item: i.id.clone(),
            status: CheckStatus::Ok,
            note: None,
        })
        .collect();
    steps.push(Command::ApproveMaterials);
    steps.push(Command::Pay(if order.fee.total_fen == 0 {
        Payment {
            method: PaymentMethod::Free,
            amount_fen: 0,
            receipt_no: None,
        }
    } else {
        Payment {
            method: PaymentMethod::Cash,
            amount_fen: order.fee.total_fen,
            receipt_no: Some(format!("R-{}", order.number)),
        }
    }));
    steps.push(Command::StartProduction);
    steps.push(Command::Complete);
    steps
}
