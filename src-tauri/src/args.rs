//! What each IPC command takes. The same struct deserializes the page's
//! arguments and, through ts-rs, is the TypeScript type the page must send
//! (`ui/src/bindings/*Args.ts`), so the two cannot drift apart. The page
//! sends them as `{ args: {...} }` (`call` in `ui/src/lib/ipc.ts`).

use kiosk_app::keys::SecretString;
use serde::{Deserialize, Deserializer};
use ts_rs::TS;

/// A password or PIN from the page, a [`SecretString`] from the moment it
/// is parsed (zeroized when dropped, never printed by `Debug`).
pub struct Secret(pub SecretString);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(|s| Secret(SecretString::from(s)))
    }
}

macro_rules! args {
    ($($(#[$doc:meta])* $name:ident { $($(#[$fa:meta])* $field:ident : $ty:ty),* $(,)? })+) => {
        $(
            $(#[$doc])*
            #[derive(Deserialize, TS)]
            #[ts(export)]
            pub struct $name {
                $($(#[$fa])* pub $field: $ty,)*
            }
        )+
    };
}

args! {
    ChecklistArgs { provider: String, operation: String }
    FeeArgs {
        provider: String,
        #[ts(optional = nullable)] project: Option<String>,
        operation: String,
        #[ts(optional = nullable)] years: Option<u32>,
        /// A replacement's cause (`customer` or `quality`), where it matters.
        #[ts(optional = nullable)] fault: Option<String>,
        /// When the key was first handed out (YYYY-MM-DD).
        #[ts(optional = nullable)] first_issued: Option<String>,
    }
    RenewalArgs { provider: String, not_after: String, #[ts(optional = nullable)] years: Option<u32> }
    ReadKeyRenewalArgs { provider: String, #[ts(optional = nullable)] years: Option<u32> }
    CheckFieldArgs { kind: String, value: String }
    /// A valid USCC the applicant entered.
    ReturningCompanyArgs { uscc: String }
    /// What the counter's scanner typed off a business licence's QR code.
    LicenceCodeArgs { code: String }
    /// A photo of a business licence's QR code (the file's bytes, base64).
    LicencePhotoArgs { file_name: String, base64: String }
    SubmitApplicationArgs {
        /// The form as the applicant filled it in; `kiosk-app` parses and
        /// checks it.
        #[ts(type = "unknown")] application: serde_json::Value,
    }
    PrintForApplicantArgs { order_id: String, document: String }
    LoginArgs { clerk_id: String, #[ts(as = "String")] secret: Secret }
    /// Every console command that needs nothing but the session.
    TokenArgs { token: String }
    OpenOrderArgs { token: String, code: String }
    CheckItemArgs {
        token: String,
        order: String,
        item: String,
        status: String,
        #[ts(optional = nullable)] note: Option<String>,
    }
    AttachScanArgs { token: String, order: String, item: String, file_name: String, base64: String }
    ExtractSealArgs { token: String, order: String, attachment: String }
    DecideSealArgs { token: String, order: String, seal: String, approve: bool }
    AdvanceArgs { token: String, order: String, step: String, #[ts(optional = nullable)] reason: Option<String> }
    PayArgs {
        token: String,
        order: String,
        method: String,
        /// Integer fen.
        #[ts(type = "number")] amount_fen: i64,
        #[ts(optional = nullable)] receipt_no: Option<String>,
    }
    SupervisorApproveArgs {
        token: String,
        order: String,
        supervisor_id: String,
        #[ts(as = "String")] supervisor_secret: Secret,
    }
    RunKeyArgs {
        token: String,
        order: String,
        #[ts(optional = nullable)] key_serial: Option<String>,
        #[ts(as = "Option<String>", optional = nullable)] pin: Option<Secret>,
        #[ts(as = "Option<String>", optional = nullable)] pin_again: Option<Secret>,
    }
    OrderArgs { token: String, order: String }
    PrintDocumentArgs { token: String, order: String, document: String }
    DayArgs { token: String, #[ts(optional = nullable)] date: Option<String> }
}
