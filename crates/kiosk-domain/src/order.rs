//! An order at the counter and its life cycle.
//!
//! The state machine is pure: [`Order::apply`] checks a command against the
//! current state and the rules and changes the order in memory. The store
//! persists the result together with its event, outbox record and audit row.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::application::Application;
use crate::catalog::ChecklistItem;
use crate::fee::{yuan, FeeQuote};
use crate::renewal::RenewalDecision;
use crate::Rejection;

/// Where an order stands (订单状态).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum OrderState {
    /// 资料待审核: taken in, materials not yet checked.
    PendingReview,
    /// 被退回修改: sent back to the applicant for correction.
    Returned,
    /// 待中心审核: the central CA must review (e.g. long-expired renewal).
    CentralReview,
    /// 待付款
    AwaitingPayment,
    /// 待制证: paid, waiting for the key to be written.
    AwaitingProduction,
    /// 制证中: the key is being written.
    InProduction,
    /// 已完成
    Completed,
    /// 已关闭
    Cancelled,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::PendingReview => "pending-review",
            OrderState::Returned => "returned",
            OrderState::CentralReview => "central-review",
            OrderState::AwaitingPayment => "awaiting-payment",
            OrderState::AwaitingProduction => "awaiting-production",
            OrderState::InProduction => "in-production",
            OrderState::Completed => "completed",
            OrderState::Cancelled => "cancelled",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            OrderState::PendingReview => "资料待审核",
            OrderState::Returned => "被退回修改",
            OrderState::CentralReview => "待中心审核",
            OrderState::AwaitingPayment => "待付款",
            OrderState::AwaitingProduction => "待制证",
            OrderState::InProduction => "制证中",
            OrderState::Completed => "已完成",
            OrderState::Cancelled => "已关闭",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, OrderState::Completed | OrderState::Cancelled)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaymentMethod {
    Cash,
    Wechat,
    Alipay,
    BankCard,
    /// Nothing to pay (free operation or warranty).
    Free,
}

/// 付款记录
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub method: PaymentMethod,
    pub amount_fen: i64,
    /// 收据号 / 交易流水号; not needed when nothing is paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_no: Option<String>,
}

/// The clerk's finding on one checklist item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    /// Present and as required.
    Ok,
    Missing,
    /// Present but not acceptable (no seal, unsigned, illegible).
    Rejected,
}

/// One checklist line on the order: the requirement as it was when the
/// order was taken, and what the clerk found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistEntry {
    pub id: String,
    pub name: String,
    pub copies: u32,
    pub original: bool,
    pub copy: bool,
    pub sealed: bool,
    pub signed: bool,
    /// How to check it, from the catalog (e.g. 一式两份，加盖单位公章).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CheckStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<&ChecklistItem> for ChecklistEntry {
    fn from(i: &ChecklistItem) -> Self {
        ChecklistEntry {
            id: i.id.clone(),
            name: i.name.clone(),
            copies: i.copies,
            original: i.original,
            copy: i.copy,
            sealed: i.sealed,
            signed: i.signed,
            hint: i.note.clone(),
            status: None,
            note: None,
        }
    }
}

/// A walk-in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// UUIDv7, time-ordered.
    pub id: String,
    /// Short number printed on the ticket and forms.
    pub number: String,
    pub state: OrderState,
    pub application: Application,
    pub checklist: Vec<ChecklistEntry>,
    pub fee: FeeQuote,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal: Option<RenewalDecision>,
    /// The application names a certificate (for a lost-key replacement or
    /// a revocation) that neither the station nor the central's directory
    /// knows: the central must find it before the order goes on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub certificate_unknown: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<Payment>,
    /// Why the order was returned or cancelled, last first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Number of events applied, the creation included.
    pub revision: u32,
}

/// What a clerk (or the central CA, through sync) asks of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Command {
    /// Record the finding on one checklist item.
    Check {
        item: String,
        status: CheckStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Every item is in order: on to payment (or to central review).
    ApproveMaterials,
    /// Send back to the applicant for correction.
    Return {
        reason: String,
    },
    /// Replace the application after a correction; re-checks materials.
    Amend {
        application: Box<Application>,
        checklist: Vec<ChecklistEntry>,
        fee: FeeQuote,
        renewal: Option<RenewalDecision>,
        /// See [`Order::certificate_unknown`].
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        certificate_unknown: bool,
    },
    /// The corrected order is back for review.
    Resubmit,
    CentralApprove,
    CentralReturn {
        reason: String,
    },
    Pay(Payment),
    StartProduction,
    Complete,
    Cancel {
        reason: String,
    },
}

impl Command {
    /// Event kind, as recorded in the outbox and audit trail.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::Check { .. } => "order.checked",
            Command::ApproveMaterials => "order.materials-approved",
            Command::Return { .. } => "order.returned",
            Command::Amend { .. } => "order.amended",
            Command::Resubmit => "order.resubmitted",
            Command::CentralApprove => "order.central-approved",
            Command::CentralReturn { .. } => "order.central-returned",
            Command::Pay(_) => "order.paid",
            Command::StartProduction => "order.production-started",
            Command::Complete => "order.completed",
            Command::Cancel { .. } => "order.cancelled",
        }
    }
}

impl Order {
    /// Whether the central CA must review before payment: a renewal
    /// expired beyond the grace period, or a certificate nobody here knows.
    pub fn needs_central_review(&self) -> bool {
        self.certificate_unknown
            || self
                .renewal
                .as_ref()
                .is_some_and(|r| r.mode == crate::renewal::RenewalMode::ReviewRequired)
    }

    /// Applies a command at instant `at`; on refusal the order is unchanged.
    pub fn apply(&mut self, cmd: &Command, at: DateTime<Utc>) -> Result<(), Rejection> {
        use OrderState::*;
        let state = self.state;
        let mut next = self.clone();
        match (cmd, state) {
            (Command::Check { item, status, note }, PendingReview | Returned) => {
                let entry = next
                    .checklist
                    .iter_mut()
                    .find(|e| &e.id == item)
                    .ok_or_else(|| {
                        let ids: Vec<&str> = self.checklist.iter().map(|e| e.id.as_str()).collect();
                        Rejection::field("item", "材料", "unknown_item")
                            .zh(
                                format!("本订单的材料清单中没有“{item}”"),
                                format!("请从清单中选择：{}", ids.join("、")),
                            )
                            .en(
                                format!("the order's checklist has no item '{item}'"),
                                format!("use one of: {}", ids.join(", ")),
                            )
                    })?;
                entry.status = Some(*status);
                entry.note = note.clone().filter(|n| !n.trim().is_empty());
            }
            (Command::ApproveMaterials, PendingReview) => {
                let open: Vec<&ChecklistEntry> = self
                    .checklist
                    .iter()
                    .filter(|e| e.status != Some(CheckStatus::Ok))
                    .collect();
                if !open.is_empty() {
                    let names: Vec<String> = open
                        .iter()
                        .map(|e| format!("{}（{}）", e.name, status_zh(e.status)))
                        .collect();
                    return Err(
                        Rejection::field("checklist", "申请材料", "materials_incomplete")
                            .zh(
                                format!("以下材料尚未核验通过：{}", names.join("、")),
                                "请逐项核验材料；缺少或不合格的材料请退回申请人补正",
                            )
                            .en(
                                format!("{} item(s) not checked as in order", open.len()),
                                "check every item, or return the order for correction",
                            ),
                    );
                }
                next.state = if self.needs_central_review() {
                    CentralReview
                } else {
                    AwaitingPayment
                };
            }
            (Command::Return { reason }, PendingReview | AwaitingPayment | CentralReview) => {
                next.state = Returned;
                next.reason = Some(required_reason(reason, "退回原因")?);
            }
            (
                Command::Amend {
                    application,
                    checklist,
                    fee,
                    renewal,
                    certificate_unknown,
                },
                PendingReview | Returned,
            ) => {
                next.application = (**application).clone();
                next.checklist = checklist.clone();
                next.fee = fee.clone();
                next.renewal = renewal.clone();
                next.certificate_unknown = *certificate_unknown;
            }
            (Command::Resubmit, Returned) => {
                next.state = PendingReview;
                next.reason = None;
            }
            (Command::CentralApprove, CentralReview) => next.state = AwaitingPayment,
            (Command::CentralReturn { reason }, CentralReview) => {
                next.state = Returned;
                next.reason = Some(required_reason(reason, "退回原因")?);
            }
            (Command::Pay(p), AwaitingPayment) => {
                check_payment(p, &self.fee)?;
                next.payment = Some(p.clone());
                next.state = AwaitingProduction;
            }
            (Command::StartProduction, AwaitingProduction) => next.state = InProduction,
            (Command::Complete, InProduction) => next.state = Completed,
            (
                Command::Cancel { reason },
                PendingReview | Returned | CentralReview | AwaitingPayment | AwaitingProduction,
            ) => {
                next.state = Cancelled;
                next.reason = Some(required_reason(reason, "关闭原因")?);
            }
            _ => return Err(not_now(cmd, state)),
        }
        next.revision += 1;
        next.updated_at = at;
        *self = next;
        Ok(())
    }
}

fn status_zh(s: Option<CheckStatus>) -> &'static str {
    match s {
        None => "未核验",
        Some(CheckStatus::Ok) => "合格",
        Some(CheckStatus::Missing) => "缺少",
        Some(CheckStatus::Rejected) => "不合格",
    }
}

fn required_reason(reason: &str, label: &str) -> Result<String, Rejection> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(Rejection::field("reason", label, "required")
            .zh("未填写", format!("请写明{label}，申请人和中心都会看到"))
            .en("no reason is given", "give the reason"));
    }
    Ok(r.to_string())
}

fn check_payment(p: &Payment, fee: &FeeQuote) -> Result<(), Rejection> {
    if p.amount_fen != fee.total_fen {
        return Err(
            Rejection::field("payment.amount_fen", "收款金额", "amount_mismatch")
                .zh(
                    format!(
                        "收款 {} 元与应收 {} 元不符",
                        yuan(p.amount_fen),
                        yuan(fee.total_fen)
                    ),
                    "请按应收金额收款后重新登记",
                )
                .en(
                    format!(
                        "received {} yuan but {} is due",
                        yuan(p.amount_fen),
                        yuan(fee.total_fen)
                    ),
                    "take the amount due and record it again",
                ),
        );
    }
    if (p.method == PaymentMethod::Free) != (fee.total_fen == 0) {
        return Err(
            Rejection::field("payment.method", "付款方式", "method_mismatch")
                .zh(
                    if fee.total_fen == 0 {
                        "本业务免费，付款方式应为“免费”"
                    } else {
                        "应收金额不为零，不能登记为“免费”"
                    },
                    "请选择正确的付款方式",
                )
                .en(
                    "free method and zero amount must go together",
                    "choose the right method",
                ),
        );
    }
    let receipt = p.receipt_no.as_deref().map(str::trim).unwrap_or("");
    if p.method != PaymentMethod::Free && receipt.is_empty() {
        return Err(Rejection::field("payment.receipt_no", "收据号", "required")
            .zh(
                "未填写收据号或交易流水号",
                "请填写收据号（现金）或支付流水号（微信、支付宝、银行卡）",
            )
            .en(
                "no receipt number",
                "give the receipt or transaction number",
            ));
    }
    Ok(())
}

fn not_now(cmd: &Command, state: OrderState) -> Rejection {
    Rejection::field("state", "订单状态", "invalid_transition")
        .zh(
            format!(
                "订单当前为“{}”，不能执行“{}”",
                state.label_zh(),
                command_zh(cmd)
            ),
            match state {
                OrderState::Completed | OrderState::Cancelled => {
                    "该订单已结束，如需办理请新建订单".to_string()
                }
                OrderState::InProduction => "制证进行中，请等待制证完成".to_string(),
                _ => "请按办理流程的顺序操作".to_string(),
            },
        )
        .en(
            format!(
                "the order is {}; '{}' is not possible now",
                state.as_str(),
                cmd.kind()
            ),
            "follow the order's steps",
        )
}

fn command_zh(cmd: &Command) -> &'static str {
    match cmd {
        Command::Check { .. } => "核验材料",
        Command::ApproveMaterials => "材料审核通过",
        Command::Return { .. } => "退回修改",
        Command::Amend { .. } => "修改申请",
        Command::Resubmit => "重新提交",
        Command::CentralApprove => "中心审核通过",
        Command::CentralReturn { .. } => "中心退回",
        Command::Pay(_) => "登记付款",
        Command::StartProduction => "开始制证",
        Command::Complete => "完成",
        Command::Cancel { .. } => "关闭订单",
    }
}

#[cfg(test)]
#[path = "order_table_tests.rs"]
mod table_tests;
