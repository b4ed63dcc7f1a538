//! The IPC contract: what crosses to the page, as TypeScript sees it.
//! `cargo test -p kiosk-station` writes `ui/src/bindings/*.ts` from these
//! types, and the UI build type-checks against them.

use kiosk_app::domain::order::OrderState;
use kiosk_app::domain::Operation;
use kiosk_app::domain::{Rejection, RevocationReason};
use kiosk_app::{AppError, ErrorKind, Phase, PinNeed, SealNeed, SealState, Step};
use serde::Serialize;
use ts_rs::TS;

/// The closed set of error codes the page switches on: `kiosk-app`'s
/// [`ErrorKind`], which the page sees as `ErrorCode`.
pub type ErrorCode = ErrorKind;

/// One refused field.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
    pub message_en: String,
}

/// An error as the page sees it.
#[derive(Debug, Serialize, TS)]
#[ts(export)]
pub struct IpcError {
    pub code: ErrorCode,
    /// The app's own code, for the log; the page never switches on it.
    pub detail: String,
    pub message: String,
    pub message_en: String,
    pub fields: Vec<FieldError>,
}

fn field(r: &Rejection) -> FieldError {
    FieldError {
        field: r.field.clone(),
        code: r.code.to_string(),
        message: r.message_zh(),
        message_en: r.message_en(),
    }
}

impl From<AppError> for IpcError {
    fn from(e: AppError) -> Self {
        let code = e.kind();
        IpcError {
            code,
            detail: e.code().to_string(),
            message: e.message_zh(),
            message_en: e.message_en(),
            fields: e.rejections().into_iter().map(field).collect(),
        }
    }
}

impl From<Rejection> for IpcError {
    fn from(r: Rejection) -> Self {
        AppError::from(r).into()
    }
}

pub type IpcResult<T> = Result<T, IpcError>;

// ---------------------------------------------------------------- views

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct OperationDto {
    pub operation: Operation,
    /// The application names the certificate it acts on.
    pub needs_certificate: bool,
    pub label: String,
    /// Warn about sealed bids before this operation.
    pub warns_sealed_bids: bool,
    /// The reasons the applicant picks from (a revocation's 吊销原因).
    pub revocation_reasons: Vec<ReasonDto>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ReasonDto {
    pub reason: RevocationReason,
    pub label: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ProviderDto {
    pub id: String,
    pub name: String,
    pub projects: Vec<ProjectDto>,
    pub operations: Vec<OperationDto>,
    pub max_years: u32,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ProjectDto {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct FeeLineDto {
    pub label: String,
    #[ts(type = "number")]
    pub amount_fen: i64,
    pub quantity: u32,
    pub reason: String,
    pub reason_en: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct FeeDto {
    #[ts(type = "number")]
    pub total_fen: i64,
    pub years: u32,
    pub lines: Vec<FeeLineDto>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ChecklistItemDto {
    pub id: String,
    pub name: String,
    pub copies: u32,
    pub original: bool,
    pub copy: bool,
    pub sealed: bool,
    pub signed: bool,
    pub hint: String,
    /// ok | missing | rejected, once checked.
    pub status: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ChecklistDto {
    pub items: Vec<ChecklistItemDto>,
    pub notices: Vec<String>,
    /// The notices in English, where the catalog has them (else Chinese).
    pub notices_en: Vec<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct RenewalDto {
    /// self-service | review-required | too-early
    pub mode: String,
    pub new_not_before: Option<String>,
    pub new_not_after: Option<String>,
    #[ts(type = "number")]
    pub days_left: i64,
    pub opens_on: Option<String>,
    pub message: String,
    pub message_en: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct KeyDto {
    pub key_serial: String,
    pub model: String,
    pub certificate_serial: Option<String>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub not_after: Option<String>,
    pub locked: bool,
    pub lock_hint: Option<String>,
    pub blank_in_stock: bool,
    /// Whether the certificate on the key holds (chain to this station or
    /// a provider's anchors, key pair on the key, not revoked); None when
    /// the key carries no certificate.
    pub verified: Option<bool>,
    /// Who issued it (本站签发CA, a provider's name), when its chain holds.
    pub issued_by: Option<String>,
    /// What is wrong with it and what to do, when it does not hold.
    pub problem: Option<String>,
    pub problem_en: Option<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct KeyRenewalDto {
    pub key: KeyDto,
    pub renewal: RenewalDto,
    /// The company the certificate names, offered to fill the form.
    pub company: Option<kiosk_app::CompanyPrefill>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct FieldCheck {
    pub valid: bool,
    /// The value as the station would store it.
    pub value: String,
    /// Why not, in Chinese, when not valid.
    pub message: String,
    pub message_en: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct TicketDto {
    pub order_id: String,
    pub order_number: String,
    /// The queue ticket the applicant shows at the counter.
    pub queue_no: String,
    pub fee: FeeDto,
    /// What to bring, from the order's checklist.
    pub checklist: Vec<ChecklistItemDto>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct PrintDto {
    /// completed | saved | waiting | failed | submitted
    pub state: String,
    pub printer: Option<String>,
    pub message: String,
    pub path: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ClerkDto {
    pub id: String,
    pub display_name: String,
    /// clerk | supervisor
    pub role: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct LoginDto {
    /// Opaque; the page hands it back with every console command.
    pub token: String,
    pub clerk: ClerkDto,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct OrderRowDto {
    pub id: String,
    pub number: String,
    pub provider: String,
    pub operation: String,
    pub operation_zh: String,
    pub state: String,
    pub state_zh: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct PaymentDto {
    pub method: String,
    #[ts(type = "number")]
    pub amount_fen: i64,
    pub receipt_no: Option<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct AttachmentDto {
    pub id: String,
    pub item: String,
    pub file_name: String,
    pub seal_found: Option<bool>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct OrderDto {
    pub id: String,
    pub number: String,
    pub provider: String,
    pub operation: Operation,
    pub operation_zh: String,
    pub state: OrderState,
    pub state_zh: String,
    pub company: String,
    pub handler: String,
    pub fee: FeeDto,
    pub checklist: Vec<ChecklistItemDto>,
    pub payment: Option<PaymentDto>,
    pub attachments: Vec<AttachmentDto>,
    /// Which PIN the key work asks for.
    pub pin_need: PinNeed,
    pub needs_approval: bool,
    pub approved_by: Option<String>,
    /// The key work writes a blank key from stock, not the applicant's.
    pub writes_blank_key: bool,
    pub certificate_serial: Option<String>,
    /// The certificate it replaced or revoked was another CA's: revoked
    /// here, pending at the central until the next sync.
    pub revocation_pending_at_central: bool,
    /// When the order's personal data (ID numbers, phones, addresses,
    /// scans) was purged after its retention; those fields are empty.
    pub personal_data_purged_at: Option<String>,
    pub reason: Option<String>,
    /// Whether the key work writes a seal the clerk approved (optional:
    /// else the replaced certificate's seal).
    pub seal_need: SealNeed,
    /// The latest seal cut out of a scan for this order.
    pub seal: Option<SealDto>,
}

/// An electronic seal cut out of a scan of the stamped sample sheet.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct SealDto {
    pub id: String,
    pub status: SealState,
    pub width: u32,
    pub height: u32,
    /// The transparent PNG, base64, for an `<img src="data:…">`.
    pub png_base64: String,
    pub decided_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct KeyWorkDto {
    pub key_serial: String,
    pub certificate_serial: String,
    pub not_after: String,
}

/// A step of the key work, as it happens.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ProgressEvent {
    pub order_id: String,
    pub step: Step,
    pub step_zh: String,
    pub phase: Phase,
}

/// A key plugged in or pulled out of a reader.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct KeyEventDto {
    /// inserted | removed
    pub kind: String,
    pub reader: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ReportRowDto {
    pub operation: String,
    pub operation_zh: String,
    pub orders: u32,
    pub completed: u32,
    pub paid: u32,
    #[ts(type = "number")]
    pub takings_fen: i64,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct DayReportDto {
    pub date: String,
    pub rows: Vec<ReportRowDto>,
    pub total_orders: u32,
    #[ts(type = "number")]
    pub total_takings_fen: i64,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct SyncDto {
    #[ts(type = "number")]
    pub pending: i64,
    pub last_success_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub last_error_message: Option<String>,
    /// What the operator must act on (a sub-CA certificate about to end).
    pub warnings: Vec<WarningDto>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct WarningDto {
    pub code: String,
    pub message: String,
    pub message_en: String,
}

/// What the page needs to know about this station at start.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct KioskConfigDto {
    /// Seconds without a touch before the applicant screens start over.
    pub idle_seconds: u32,
    /// Seconds without a touch before the clerk console logs out and
    /// returns to the touchscreen (the console session's own idle time).
    pub console_idle_seconds: u32,
    pub station_today: String,
    /// The characters each on-screen keypad offers, from the alphabets the
    /// validators check against.
    pub keypads: KeypadsDto,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct KeypadsDto {
    pub uscc: String,
    pub resident_id: String,
    pub digits: String,
    /// A landline's characters (mobile numbers take `digits`).
    pub phone: String,
}
