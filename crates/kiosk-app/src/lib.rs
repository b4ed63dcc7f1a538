//! The station's application layer: the only API that front ends call.
//!
//! `kioskctl` and the Tauri commands are thin shells over [`Station`] and
//! [`Rules`]. This crate wires the rules (`kiosk-domain`) to the store
//! (`kiosk-store`), owns the clock, and turns every failure into an
//! [`AppError`] with a stable code and a Chinese message.

pub mod accounts;
mod audit;
pub mod backup;
mod clock;
pub mod counter;
pub mod directory;
pub mod documents;
mod error;
pub mod keys;
mod operations;
mod paths;
mod personal;
mod prefill;
pub mod report;
mod rules;
mod run;
mod station;
pub mod sync;

pub mod demo;

pub use accounts::{Acting, ClerkView, Role, Session, Sessions};
pub use clock::{Clock, FixedClock, SystemClock};
pub use counter::{DeskOrder, KeyRenewal, PresentKey};
pub use documents::{AttachmentView, Document, PrintOutcome, RenderedDocument, SealView};
pub use error::{AppError, Denial, ErrorKind};
pub use keys::{
    CaView, CrlDue, CrlIssued, KeyConfig, KeyView, Personalized, StationWarning, CA_WARNING,
    CLOCK_TOLERANCE, CRL_RESIGN_BEFORE, CRL_VALIDITY, STEPS,
};
pub use kiosk_store::CaAlgorithm;
pub use operations::{
    needs_certificate, pin_need, seal_need, stated_reasons, writes_blank_key, KeyWork, PinNeed,
    SealNeed,
};
pub use paths::data_dir;
pub use personal::{PurgeReport, PERSONAL_DIR};
pub use prefill::{licence_uscc, licence_uscc_in_picture, CompanyPrefill, PrefillSource};
pub use report::{DayReport, ReportRow};
pub use rules::{ChecklistView, KeyEvent, OperationView, ProviderView, ReaderView, Rules};
pub use run::{Phase, ProgressSink, Step, StepProgress};
pub use station::{CatalogView, OrderView, Station, DB_FILE};
pub use sync::{SyncConfig, SyncError, SyncProgress, SyncSummary};

pub use kiosk_domain as domain;
/// The records front ends are shown; the store itself stays inside.
pub use kiosk_store::{
    Approval, AuditReport, CertRecord, CertState, OrderSummary, PersonalCounts, PersonalState,
    SealState, StockKey, StockState, SyncState,
};

/// The account the touchscreen's own orders and prints are attributed to.
pub(crate) const KIOSK_ACTOR: &str = "kiosk";

/// The catalog compiled into the binary; the station's default rules until
/// an operator or the central CA imports a newer one.
pub const EMBEDDED_CATALOG: &str = include_str!("../../../catalog/catalog.toml");

/// What a catalog must pass before it is imported, from a file or from the
/// central: the operator's allow-list ([`catalog_policy`]), SM2 mechanism
/// sets the station knows, and readable provider anchors.
pub(crate) fn check_catalog(catalog: &domain::Catalog) -> Result<(), AppError> {
    catalog_policy()?.check(catalog)?;
    keys::check_mechanism_sets(catalog)?;
    keys::check_anchors(catalog)
}

/// The operator's allow-list for catalogs (what certificates may be asked
/// for; see `kiosk_domain::catalog_policy`): the TOML file
/// `KIOSK_CATALOG_POLICY` names, else what the shipped catalog uses.
pub fn catalog_policy() -> Result<domain::catalog_policy::CatalogPolicy, AppError> {
    use domain::catalog_policy::CatalogPolicy;
    match std::env::var_os("KIOSK_CATALOG_POLICY").filter(|p| !p.is_empty()) {
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            let text =
                std::fs::read_to_string(&path).map_err(|e| AppError::io(path.display(), e))?;
            toml::from_str(&text).map_err(|e| {
                domain::Rejection::field("catalog_policy", "目录策略", "malformed")
                    .zh(
                        format!("目录策略文件 {} 无法解析：{e}", path.display()),
                        "请运营方修正 KIOSK_CATALOG_POLICY 指向的文件",
                    )
                    .en(
                        format!("the catalog policy {} cannot be read: {e}", path.display()),
                        "fix the file KIOSK_CATALOG_POLICY names",
                    )
                    .into()
            })
        }
        None => Ok(CatalogPolicy::of(&domain::Catalog::from_toml(
            EMBEDDED_CATALOG,
        )?)),
    }
}
