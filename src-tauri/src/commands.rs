//! The IPC commands. Each parses its strings with the domain types'
//! `FromStr` and makes one call into `kiosk-app`.

use std::path::PathBuf;

use chrono::NaiveDate;
use kiosk_app::domain::fee::FeeQuote;
use kiosk_app::domain::renewal::RenewalDecision;
use kiosk_app::domain::Rejection;
use kiosk_app::{AppError, ChecklistView, Clock, ProviderView, Rules};
use serde::Serialize;
use tauri::State;

/// What every command needs: where the station's data lives and the clock.
pub struct Desk {
    data_dir: PathBuf,
    clock: Box<dyn Clock>,
}

impl Desk {
    pub fn new(data_dir: PathBuf, clock: Box<dyn Clock>) -> Self {
        Desk { data_dir, clock }
    }

    /// Loaded per call, so a catalog imported by kioskctl applies at once.
    /// Returns the small `IpcError` because `AppError` is large to move.
    fn rules(&self) -> Result<Rules, IpcError> {
        Ok(Rules::load(&self.data_dir, self.clock.today())?)
    }
}

/// An error as the front end sees it. The page switches on `code` and
/// shows `message`.
#[derive(Debug, Serialize)]
pub struct IpcError {
    pub code: &'static str,
    pub message: String,
    pub message_en: String,
}

impl From<AppError> for IpcError {
    fn from(e: AppError) -> Self {
        IpcError {
            code: e.code(),
            message: e.message_zh(),
            message_en: e.message_en(),
        }
    }
}

impl From<Rejection> for IpcError {
    fn from(r: Rejection) -> Self {
        AppError::from(r).into()
    }
}

/// Dates cross IPC as `YYYY-MM-DD` strings, so that a bad one comes back
/// as an `IpcError` like any other refused field.
fn date(value: &str, field: &str, field_zh: &str) -> Result<NaiveDate, IpcError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        Rejection::new(
            field,
            "format",
            field_zh,
            format!("“{value}”不是有效的日期"),
            "请按 年-月-日 格式输入，例如 2025-01-31",
            format!("'{value}' is not a valid date"),
            "use YYYY-MM-DD, e.g. 2025-01-31",
        )
        .into()
    })
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn fee(
    desk: State<'_, Desk>,
    provider: String,
    operation: String,
    years: Option<u32>,
    fault: Option<String>,
    first_issued: Option<String>,
) -> Result<FeeQuote, IpcError> {
    let fault = fault.as_deref().map(str::parse).transpose()?;
    let first_issued = first_issued
        .as_deref()
        .map(|d| date(d, "first_issued", "介质初次发放日期"))
        .transpose()?;
    Ok(desk.rules()?.fee(
        &provider,
        None,
        operation.parse()?,
        years,
        fault,
        first_issued,
    )?)
}

/// The providers and the operations each offers, for the first screen.
#[tauri::command(async, rename_all = "snake_case")]
pub fn providers(desk: State<'_, Desk>) -> Result<Vec<ProviderView>, IpcError> {
    Ok(desk.rules()?.providers())
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn checklist(
    desk: State<'_, Desk>,
    provider: String,
    operation: String,
    channel: Option<String>,
) -> Result<ChecklistView, IpcError> {
    let channel = channel
        .as_deref()
        .map(str::parse)
        .transpose()?
        .unwrap_or_default();
    Ok(desk
        .rules()?
        .checklist(&provider, operation.parse()?, channel)?)
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn renewal(
    desk: State<'_, Desk>,
    provider: String,
    not_after: String,
    years: Option<u32>,
) -> Result<RenewalDecision, IpcError> {
    let not_after = date(&not_after, "not_after", "证书有效期截止日")?;
    Ok(desk.rules()?.renewal(&provider, not_after, years)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiosk_app::FixedClock;
    use tauri::Manager;

    /// A mock app whose desk reads an empty data directory, so the
    /// embedded catalog is in force.
    fn app(dir: &tempfile::TempDir) -> tauri::App<tauri::test::MockRuntime> {
        let app = tauri::test::mock_app();
        let noon = "2025-06-01T04:00:00Z".parse().expect("instant");
        app.manage(Desk::new(
            dir.path().to_path_buf(),
            Box::new(FixedClock(noon)),
        ));
        app
    }

    #[test]
    fn unknown_provider_is_an_ipc_error_in_chinese() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = app(&dir);
        let err = fee(app.state(), "nope".into(), "new".into(), None, None, None).unwrap_err();
        assert_eq!(err.code, "unknown_provider");
        assert!(
            err.message
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{}",
            err.message
        );
    }
}
