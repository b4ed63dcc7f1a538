//! Every order state against every command: the life cycle as a table.
//!
//! The table is written from the rules, not from the code: the life cycle in
//! the README (pending-review → awaiting-payment → awaiting-production →
//! in-production → completed; central review for a renewal expired more
//! than 365 days; return / central-return to returned and resubmit back to
//! review; cancel in any state before production) and the doc comments of
//! [`Command`]. Where the README is silent, the row says what was chosen and
//! why. A state or command added without a row or column here does not
//! compile (`row` and `column` match every variant) or fails
//! `table_covers_every_state_and_command`.

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::application::Application;
use crate::renewal::RenewalMode;
use crate::Operation;

/// What applying a command should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Accepted; the order is now in this state.
    To(OrderState),
    /// Refused with this rejection code; the order is unchanged.
    Refused(&'static str),
}

use Expect::To;
use OrderState::*;

/// Not possible in this state.
const NO: Expect = Expect::Refused("invalid_transition");

const STATES: [OrderState; 8] = [
    PendingReview,
    Returned,
    CentralReview,
    AwaitingPayment,
    AwaitingProduction,
    InProduction,
    Completed,
    Cancelled,
];

/// The table's row of a state. No wildcard: a new state must be placed.
fn row(s: OrderState) -> usize {
    match s {
        PendingReview => 0,
        Returned => 1,
        CentralReview => 2,
        AwaitingPayment => 3,
        AwaitingProduction => 4,
        InProduction => 5,
        Completed => 6,
        Cancelled => 7,
    }
}

/// The table's column of a command. No wildcard: a new command must be
/// placed (and `commands` and every row of `TABLE` grow with it).
fn column(c: &Command) -> usize {
    match c {
        Command::Check { .. } => 0,
        Command::ApproveMaterials => 1,
        Command::Return { .. } => 2,
        Command::Amend { .. } => 3,
        Command::Resubmit => 4,
        Command::CentralApprove => 5,
        Command::CentralReturn { .. } => 6,
        Command::Pay(_) => 7,
        Command::StartProduction => 8,
        Command::Complete => 9,
        Command::Cancel { .. } => 10,
    }
}

const COMMANDS: usize = 11;

/// One well-formed command of each kind, in column order: a known checklist
/// item, a reason, the amount due with a receipt. Payload problems are in
/// `payload_cases`.
fn commands() -> [Command; COMMANDS] {
    let o = order();
    [
        Command::Check {
            item: "licence".into(),
            status: CheckStatus::Ok,
            note: None,
        },
        Command::ApproveMaterials,
        Command::Return {
            reason: "营业执照复印件未盖章".into(),
        },
        Command::Amend {
            application: Box::new(o.application.clone()),
            checklist: o.checklist.clone(),
            fee: o.fee.clone(),
            renewal: None,
            certificate_unknown: false,
        },
        Command::Resubmit,
        Command::CentralApprove,
        Command::CentralReturn {
            reason: "过期超过一年，需补充材料".into(),
        },
        Command::Pay(cash(48_000)),
        Command::StartProduction,
        Command::Complete,
        Command::Cancel {
            reason: "申请人放弃办理".into(),
        },
    ]
}

/// Rows in `STATES` order; columns in `column` order. The fixture's checklist
/// is complete and it is not a renewal, so approval goes to payment.
#[rustfmt::skip]
const TABLE: [(OrderState, [Expect; COMMANDS]); 8] = [
    //                   Check               Approve               Return         Amend               Resubmit           CentralApprove       CentralReturn  Pay                      Start              Complete       Cancel
    // Under review: the clerk checks items, approves, returns or cancels.
    // Amend here too: the command re-checks materials, so correcting a
    // typo found during review is safe (the README describes amend for a
    // returned order, but does not forbid it before).
    (PendingReview,      [To(PendingReview), To(AwaitingPayment),  To(Returned),  To(PendingReview), NO,                NO,                  NO,            NO,                      NO,                NO,            To(Cancelled)]),
    // With the applicant for correction: the clerk may record what was
    // brought back and amend; resubmit sends it back to review. Approval
    // only after resubmitting.
    (Returned,           [To(Returned),      NO,                   NO,            To(Returned),      To(PendingReview), NO,                  NO,            NO,                      NO,                NO,            To(Cancelled)]),
    // Waiting for the central CA: its decision, or the counter takes it
    // back (return) or closes it; the materials are frozen meanwhile.
    (CentralReview,      [NO,                NO,                   To(Returned),  NO,                NO,                To(AwaitingPayment), To(Returned),  NO,                      NO,                NO,            To(Cancelled)]),
    // Approved, not paid: pay, or return for correction before any money
    // changes hands, or cancel.
    (AwaitingPayment,    [NO,                NO,                   To(Returned),  NO,                NO,                NO,                  NO,            To(AwaitingProduction),  NO,                NO,            To(Cancelled)]),
    // Paid: production starts. Cancel is still before production; a return
    // is not, as the payment would have to be undone first.
    (AwaitingProduction, [NO,                NO,                   NO,            NO,                NO,                NO,                  NO,            NO,                      To(InProduction),  NO,            To(Cancelled)]),
    // Key being written: only completion.
    (InProduction,       [NO,                NO,                   NO,            NO,                NO,                NO,                  NO,            NO,                      NO,                To(Completed), NO]),
    // Final states take nothing.
    (Completed,          [NO,                NO,                   NO,            NO,                NO,                NO,                  NO,            NO,                      NO,                NO,            NO]),
    (Cancelled,          [NO,                NO,                   NO,            NO,                NO,                NO,                  NO,            NO,                      NO,                NO,            NO]),
];

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap()
}

fn cash(amount_fen: i64) -> Payment {
    Payment {
        method: PaymentMethod::Cash,
        amount_fen,
        receipt_no: Some("R-0001".into()),
    }
}

fn entry(id: &str, name: &str) -> ChecklistEntry {
    ChecklistEntry {
        id: id.into(),
        name: name.into(),
        copies: 1,
        original: false,
        copy: true,
        sealed: true,
        signed: false,
        hint: String::new(),
        status: Some(CheckStatus::Ok),
        note: None,
    }
}

/// A new-issue order of 480 yuan with every item checked.
fn order() -> Order {
    let application: Application = serde_json::from_value(serde_json::json!({
        "provider": "ezca",
        "operation": "new",
        "organization": {
            "name": "重庆示例建材有限公司",
            "uscc": "91500000MA5U8K2T0A",
            "legal_representative": "张德前",
            "legal_rep_id": "500103197806114328",
            "phone": "023-63788888",
            "office_phone": "023-63788889"
        },
        "handler": {
            "name": "李小明",
            "id_number": "500101198502030055",
            "mobile": "13883088888",
            "email": "li.xiaoming@example.com.cn",
            "mailing_address": "重庆市渝北区金开大道160号"
        },
        "agreed_to_terms": true
    }))
    .expect("application fixture");
    let created = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    Order {
        id: "0195a1b2-0000-7000-8000-000000000001".into(),
        number: "20260302-0001".into(),
        state: PendingReview,
        application,
        checklist: vec![
            entry("form", "数字证书申请表"),
            entry("licence", "营业执照副本复印件"),
        ],
        fee: FeeQuote {
            provider: "ezca".into(),
            project: None,
            operation: Operation::New,
            years: 1,
            total_fen: 48_000,
            lines: Vec::new(),
            catalog_version: 1,
        },
        renewal: None,
        certificate_unknown: false,
        payment: None,
        reason: None,
        created_at: created,
        updated_at: created,
        revision: 3,
    }
}

/// The fixture as it would stand in `state`.
fn order_in(state: OrderState) -> Order {
    let mut o = order();
    o.state = state;
    if matches!(state, AwaitingProduction | InProduction | Completed) {
        o.payment = Some(cash(48_000));
    }
    if matches!(state, Returned | Cancelled) {
        o.reason = Some("earlier reason".into());
    }
    o
}

/// Applies `cmd` and checks the outcome, and that a refusal leaves the
/// order untouched and an acceptance counts one revision at `at`.
fn check_cell(label: &str, before: &Order, cmd: &Command, want: Expect) -> Result<(), String> {
    let mut after = before.clone();
    let got = match after.apply(cmd, at()) {
        Ok(()) => To(after.state),
        Err(r) => Expect::Refused(r.code),
    };
    if got != want {
        return Err(format!(
            "{label}: {} × {}: expected {want:?}, got {got:?}",
            before.state.as_str(),
            cmd.kind()
        ));
    }
    let bookkeeping_ok = match got {
        To(_) => after.revision == before.revision + 1 && after.updated_at == at(),
        Expect::Refused(_) => &after == before,
    };
    if !bookkeeping_ok {
        return Err(format!(
            "{label}: {} × {}: revision/updated_at wrong or order changed on refusal",
            before.state.as_str(),
            cmd.kind()
        ));
    }
    Ok(())
}

#[test]
fn table_covers_every_state_and_command() {
    for (i, s) in STATES.iter().enumerate() {
        assert_eq!(row(*s), i, "STATES out of order at {s:?}");
        assert_eq!(TABLE[i].0, *s, "TABLE row {i} is not {s:?}");
    }
    for (i, c) in commands().iter().enumerate() {
        assert_eq!(column(c), i, "commands() out of order at {}", c.kind());
    }
    assert_eq!(TABLE.len(), STATES.len(), "one row per state");
}

#[test]
fn every_state_times_every_command() {
    let commands = commands();
    let mut failures = Vec::new();
    for (state, expected) in TABLE {
        let before = order_in(state);
        for (cmd, want) in commands.iter().zip(expected) {
            if let Err(e) = check_cell("table", &before, cmd, want) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cell(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Cells whose outcome depends on the order or on the command's content.
#[test]
fn payload_cases() {
    let mut unchecked = order_in(PendingReview);
    unchecked.checklist[1].status = Some(CheckStatus::Missing);
    let mut long_expired = order_in(PendingReview);
    long_expired.renewal = Some(RenewalDecision {
        mode: RenewalMode::ReviewRequired,
        new_not_before: None,
        new_not_after: None,
        days_left: -400,
        years: 1,
        opens_on: None,
        message: String::new(),
        message_en: String::new(),
    });
    let blank = || "  ".to_string();
    let cases: Vec<(&str, Order, Command, Expect)> = vec![
        (
            "approval needs every item ok",
            unchecked.clone(),
            Command::ApproveMaterials,
            Expect::Refused("materials_incomplete"),
        ),
        (
            "a renewal expired over 365 days goes to the central",
            long_expired,
            Command::ApproveMaterials,
            To(CentralReview),
        ),
        (
            "an unknown checklist item",
            order_in(PendingReview),
            Command::Check {
                item: "nonesuch".into(),
                status: CheckStatus::Ok,
                note: None,
            },
            Expect::Refused("unknown_item"),
        ),
        (
            "a check records a rejected item",
            unchecked,
            Command::Check {
                item: "licence".into(),
                status: CheckStatus::Rejected,
                note: Some("未盖章".into()),
            },
            To(PendingReview),
        ),
        (
            "return needs a reason",
            order_in(PendingReview),
            Command::Return { reason: blank() },
            Expect::Refused("required"),
        ),
        (
            "central return needs a reason",
            order_in(CentralReview),
            Command::CentralReturn { reason: blank() },
            Expect::Refused("required"),
        ),
        (
            "cancel needs a reason",
            order_in(AwaitingProduction),
            Command::Cancel { reason: blank() },
            Expect::Refused("required"),
        ),
        (
            "the state is checked before the reason",
            order_in(Completed),
            Command::Cancel { reason: blank() },
            NO,
        ),
        (
            "payment of the wrong amount",
            order_in(AwaitingPayment),
            Command::Pay(cash(47_999)),
            Expect::Refused("amount_mismatch"),
        ),
        (
            "free is not a method for a charged fee",
            order_in(AwaitingPayment),
            Command::Pay(Payment {
                method: PaymentMethod::Free,
                amount_fen: 48_000,
                receipt_no: None,
            }),
            Expect::Refused("method_mismatch"),
        ),
        (
            "payment without a receipt number",
            order_in(AwaitingPayment),
            Command::Pay(Payment {
                receipt_no: Some(" ".into()),
                ..cash(48_000)
            }),
            Expect::Refused("required"),
        ),
        (
            "payment in the wrong state, even if wrong itself",
            order_in(PendingReview),
            Command::Pay(cash(1)),
            NO,
        ),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(label, before, cmd, want)| check_cell(label, &before, &cmd, want).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The README's main path and its detours, walked command by command.
#[test]
fn walks_of_the_life_cycle() {
    let c = commands();
    let col = |name: &str| {
        c.iter()
            .find(|x| x.kind() == name)
            .cloned()
            .expect("command kind")
    };
    let mut o = order();
    for (kind, state) in [
        ("order.returned", Returned),
        ("order.amended", Returned),
        ("order.resubmitted", PendingReview),
        ("order.materials-approved", AwaitingPayment),
        ("order.paid", AwaitingProduction),
        ("order.production-started", InProduction),
        ("order.completed", Completed),
    ] {
        o.apply(&col(kind), at())
            .unwrap_or_else(|r| panic!("{kind}: {r}"));
        assert_eq!(o.state, state, "{kind}");
    }
    assert_eq!(o.reason, None, "resubmitting clears the return reason");
    assert_eq!(o.payment, Some(cash(48_000)));
    assert_eq!(o.revision, 3 + 7);
}
