//! The IPC commands. Each parses its arguments, checks the session where
//! the command belongs to the clerk console, and makes one call into
//! `kiosk-app`. Applicant commands take no token; console commands refuse
//! without a live session of the right role.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::NaiveDate;
use kiosk_app::domain::order::{CheckStatus, Command, Payment, PaymentMethod};
use kiosk_app::domain::{validate, Rejection};
use kiosk_app::keys::{Module, SecretString};
use kiosk_app::{AppError, Clock, Document, KeyConfig, KeyWork, Role, Rules, Sessions, Station};
use serde::de::DeserializeOwned;
use tauri::{AppHandle, Emitter, State};

use crate::ipc::*;
use crate::views;

/// What every command needs: the station, its keys, the console sessions.
pub struct Desk {
    pub data_dir: PathBuf,
    pub clock: Arc<dyn Clock>,
    /// A pinned "today" (`KIOSK_TODAY`), as kioskctl's `--today`.
    pub today: Option<NaiveDate>,
    pub station: Mutex<Station>,
    pub keys: KeyConfig,
    module: Mutex<Option<Arc<Module>>>,
    pub sessions: Sessions,
    pub printer: Option<String>,
    pub idle_seconds: u32,
}

impl Desk {
    pub fn new(
        data_dir: PathBuf,
        clock: Arc<dyn Clock>,
        today: Option<NaiveDate>,
        keys: KeyConfig,
        printer: Option<String>,
        idle_seconds: u32,
    ) -> Result<Desk, AppError> {
        let station = Station::open(&data_dir, clock.clone())?.with_today(today);
        Ok(Desk {
            data_dir,
            clock,
            today,
            station: Mutex::new(station),
            keys,
            module: Mutex::new(None),
            // Console sessions end after 15 minutes without a command.
            sessions: Sessions::new(chrono::Duration::minutes(15)),
            printer,
            idle_seconds,
        })
    }

    fn today(&self) -> NaiveDate {
        self.today.unwrap_or_else(|| self.clock.today())
    }

    /// Loaded per call, so a catalog imported by kioskctl applies at once.
    fn rules(&self) -> IpcResult<Rules> {
        Ok(Rules::load(&self.data_dir, self.today())?)
    }

    fn station(&self) -> MutexGuard<'_, Station> {
        // A panic in one command must not stop the counter.
        self.station.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The PKCS#11 module, loaded on first use.
    fn module(&self) -> IpcResult<Arc<Module>> {
        let mut m = self.module.lock().unwrap_or_else(|e| e.into_inner());
        if m.is_none() {
            *m = Some(Arc::new(
                Module::load(&self.keys.module).map_err(AppError::from)?,
            ));
        }
        Ok(m.clone().expect("loaded above"))
    }

    /// The clerk behind a console token, if they may act as `role`.
    fn clerk(&self, token: &str, role: Role) -> IpcResult<String> {
        let now = self.clock.now();
        Ok(self.sessions.require(Some(token), role, now)?.clerk.id)
    }
}

fn parse<T: DeserializeOwned>(value: &str, field: &'static str, field_zh: &str) -> IpcResult<T> {
    serde_json::from_value(serde_json::Value::String(value.trim().to_string())).map_err(|_| {
        Rejection::field(field, field_zh, "unknown_value")
            .zh(format!("“{value}”不是可选的值"), "请从列表中选择")
            .en(
                format!("'{value}' is not one of the choices"),
                "pick one from the list",
            )
            .into()
    })
}

fn date(value: &str, field: &'static str, field_zh: &str) -> IpcResult<NaiveDate> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        Rejection::field(field, field_zh, "format")
            .zh(
                format!("“{value}”不是有效的日期"),
                "请按 年-月-日 格式输入，例如 2025-01-31",
            )
            .en(
                format!("'{value}' is not a valid date"),
                "use YYYY-MM-DD, e.g. 2025-01-31",
            )
            .into()
    })
}

fn secret(value: String) -> SecretString {
    SecretString::from(value)
}

// ------------------------------------------------------------ applicant

static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Marks the process start, for the first-screen time [`ui_ready`] logs.
pub fn started() {
    STARTED.get_or_init(std::time::Instant::now);
}

/// The page has drawn its first screen: the first call logs how long the
/// start took (the operator's start-up figure); later calls do nothing.
#[tauri::command(rename_all = "snake_case")]
pub fn ui_ready() {
    static TOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !TOLD.swap(true, std::sync::atomic::Ordering::SeqCst) {
        if let Some(t) = STARTED.get() {
            eprintln!(
                "kiosk-station: first screen shown {} ms after start",
                t.elapsed().as_millis()
            );
        }
    }
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn kiosk_config(desk: State<'_, Desk>) -> KioskConfigDto {
    KioskConfigDto {
        idle_seconds: desk.idle_seconds,
        station_today: desk.today().to_string(),
    }
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn providers(desk: State<'_, Desk>) -> IpcResult<Vec<ProviderDto>> {
    let rules = desk.rules()?;
    Ok(views::providers(&rules))
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn checklist(
    desk: State<'_, Desk>,
    provider: String,
    operation: String,
) -> IpcResult<ChecklistDto> {
    let view = desk
        .rules()?
        .checklist(&provider, operation.parse()?, Default::default())?;
    Ok(views::checklist(&view))
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn fee(
    desk: State<'_, Desk>,
    provider: String,
    project: Option<String>,
    operation: String,
    years: Option<u32>,
    fault: Option<String>,
    first_issued: Option<String>,
) -> IpcResult<FeeDto> {
    let fault = fault.as_deref().map(str::parse).transpose()?;
    let first_issued = first_issued
        .as_deref()
        .map(|d| date(d, "first_issued", "介质初次发放日期"))
        .transpose()?;
    let q = desk.rules()?.fee(
        &provider,
        project.as_deref(),
        operation.parse()?,
        years,
        fault,
        first_issued,
    )?;
    Ok(views::fee(&q))
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn renewal(
    desk: State<'_, Desk>,
    provider: String,
    not_after: String,
    years: Option<u32>,
) -> IpcResult<RenewalDto> {
    let not_after = date(&not_after, "not_after", "证书有效期截止日")?;
    Ok(views::renewal(
        &desk.rules()?.renewal(&provider, not_after, years)?,
    ))
}

/// Reads the certificate on the key the applicant plugged in and works
/// out its renewal window.
#[tauri::command(async, rename_all = "snake_case")]
pub fn read_key_renewal(
    desk: State<'_, Desk>,
    provider: String,
    years: Option<u32>,
) -> IpcResult<KeyRenewalDto> {
    let m = desk.module()?;
    let r = desk
        .station()
        .key_renewal(&m, &desk.keys, &provider, years)?;
    Ok(KeyRenewalDto {
        key: views::key(&r.key),
        renewal: views::renewal(&r.renewal),
    })
}

/// Live validation of one field as the applicant types.
#[tauri::command(async, rename_all = "snake_case")]
pub fn check_field(desk: State<'_, Desk>, kind: String, value: String) -> FieldCheck {
    let today = desk.today();
    let result = match kind.as_str() {
        "uscc" => validate::uscc(&value).map(|u| u.as_str().to_string()),
        "id" => validate::resident_id(&value, today).map(|i| i.as_str().to_string()),
        "phone" => validate::phone(&value),
        "mobile" => validate::mobile(&value),
        "email" => validate::email(&value),
        _ => Ok(value.trim().to_string()),
    };
    match result {
        Ok(v) => FieldCheck {
            valid: true,
            value: v,
            message: String::new(),
            message_en: String::new(),
        },
        Err(r) => FieldCheck {
            valid: false,
            value,
            message: r.message_zh(),
            message_en: r.message_en(),
        },
    }
}

/// Takes in the applicant's form; returns the order number and ticket.
#[tauri::command(async, rename_all = "snake_case")]
pub fn submit_application(
    desk: State<'_, Desk>,
    application: serde_json::Value,
) -> IpcResult<TicketDto> {
    let order = desk
        .station()
        .create_order(&application.to_string(), kiosk_app::KIOSK_ACTOR)?;
    Ok(views::ticket(&order))
}

/// Prints the application form or the seal sample sheet of an order the
/// touchscreen just took in; nothing else is printable without a clerk.
#[tauri::command(async, rename_all = "snake_case")]
pub fn print_for_applicant(
    desk: State<'_, Desk>,
    order_id: String,
    document: String,
) -> IpcResult<PrintDto> {
    let out = desk.station().print_for_applicant(
        &order_id,
        document.parse()?,
        desk.printer.as_deref(),
    )?;
    Ok(views::print(&out))
}

// ------------------------------------------------------------ console

#[tauri::command(async, rename_all = "snake_case")]
pub fn login(desk: State<'_, Desk>, clerk_id: String, secret: String) -> IpcResult<LoginDto> {
    let secret = self::secret(secret);
    let st = desk.station();
    let (token, s) = desk.sessions.login(&st, &clerk_id, &secret)?;
    Ok(LoginDto {
        token,
        clerk: views::clerk(&s.clerk),
    })
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn logout(desk: State<'_, Desk>, token: String) {
    desk.sessions.logout(&token);
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn queue(desk: State<'_, Desk>, token: String) -> IpcResult<Vec<OrderRowDto>> {
    desk.clerk(&token, Role::Clerk)?;
    let rows = desk.station().list_orders(None, 50)?;
    Ok(rows.iter().map(views::order_row).collect())
}

/// Opens an order by its number, id, or what the QR scanner typed.
#[tauri::command(async, rename_all = "snake_case")]
pub fn open_order(desk: State<'_, Desk>, token: String, code: String) -> IpcResult<OrderDto> {
    desk.clerk(&token, Role::Clerk)?;
    let st = desk.station();
    let view = st.order_from_code(&code)?;
    views::order(&st, &view.order)
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn check_item(
    desk: State<'_, Desk>,
    token: String,
    order: String,
    item: String,
    status: String,
    note: Option<String>,
) -> IpcResult<OrderDto> {
    let clerk = desk.clerk(&token, Role::Clerk)?;
    let status: CheckStatus = parse(&status, "status", "核验结果")?;
    let note = note.filter(|n| !n.trim().is_empty());
    let mut st = desk.station();
    let o = st.order_command(&order, Command::Check { item, status, note }, &clerk)?;
    views::order(&st, &o)
}

/// Attaches a scan (the page sends the file's bytes, base64).
#[tauri::command(async, rename_all = "snake_case")]
pub fn attach_scan(
    desk: State<'_, Desk>,
    token: String,
    order: String,
    item: String,
    file_name: String,
    base64: String,
) -> IpcResult<OrderDto> {
    let clerk = desk.clerk(&token, Role::Clerk)?;
    let mut st = desk.station();
    let (_dir, file) = views::upload(&st, &file_name, &base64)?;
    st.attach_scan(&order, &item, &file, &clerk)?;
    views::current_order(&st, &order)
}

/// Cuts the seal out of the chosen scan (the stamped sample sheet) and
/// proposes it; the clerk then looks at it and approves or rejects it.
#[tauri::command(async, rename_all = "snake_case")]
pub fn extract_seal(
    desk: State<'_, Desk>,
    token: String,
    order: String,
    attachment: String,
) -> IpcResult<OrderDto> {
    let clerk = desk.clerk(&token, Role::Clerk)?;
    let mut st = desk.station();
    st.extract_seal(&order, Some(&attachment), &clerk)?;
    views::current_order(&st, &order)
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn decide_seal(
    desk: State<'_, Desk>,
    token: String,
    order: String,
    seal: String,
    approve: bool,
) -> IpcResult<OrderDto> {
    let clerk = desk.clerk(&token, Role::Clerk)?;
    let mut st = desk.station();
    st.decide_seal(Some(&order), &seal, approve, &clerk)?;
    views::current_order(&st, &order)
}

/// approve | return | cancel, with a reason where the rules want one.
#[tauri::command(async, rename_all = "snake_case")]
pub fn advance(
    desk: State<'_, Desk>,
    token: String,
    order: String,
    step: String,
    reason: Option<String>,
) -> IpcResult<OrderDto> {
    let clerk = desk.clerk(&token, Role::Clerk)?;
    let reason = reason.unwrap_or_default();
    let cmd = match step.as_str() {
        "approve" => Command::ApproveMaterials,
        "return" => Command::Return { reason },
        "cancel" => Command::Cancel { reason },
        other => {
            return Err(Rejection::field("step", "操作", "unknown_value")
                .zh(format!("没有“{other}”这一步"), "请用页面上的按钮操作")
                .en(format!("no step '{other}'"), "use the buttons")
                .into())
        }
    };
    let mut st = desk.station();
    let o = st.order_command(&order, cmd, &clerk)?;
    views::order(&st, &o)
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn pay(
    desk: State<'_, Desk>,
    token: String,
    order: String,
    method: String,
    amount_fen: i64,
    receipt_no: Option<String>,
) -> IpcResult<OrderDto> {
    let clerk = desk.clerk(&token, Role::Clerk)?;
    let method: PaymentMethod = parse(&method, "method", "付款方式")?;
    let receipt_no = receipt_no.filter(|r| !r.trim().is_empty());
    let mut st = desk.station();
    let o = st.order_command(
        &order,
        Command::Pay(Payment {
            method,
            amount_fen,
            receipt_no,
        }),
        &clerk,
    )?;
    views::order(&st, &o)
}

/// Keys plugged in, for the clerk to pick the one to write.
#[tauri::command(async, rename_all = "snake_case")]
pub fn present_keys(desk: State<'_, Desk>, token: String) -> IpcResult<Vec<KeyDto>> {
    desk.clerk(&token, Role::Clerk)?;
    let m = desk.module()?;
    let keys = desk.station().present_keys(&m, &desk.keys)?;
    Ok(keys.iter().map(views::key).collect())
}

/// A supervisor approves an unlock or revocation with their own account.
#[tauri::command(async, rename_all = "snake_case")]
pub fn supervisor_approve(
    desk: State<'_, Desk>,
    token: String,
    order: String,
    supervisor_id: String,
    supervisor_secret: String,
) -> IpcResult<OrderDto> {
    let clerk = desk.clerk(&token, Role::Clerk)?;
    let secret = self::secret(supervisor_secret);
    let mut st = desk.station();
    let now = st.now();
    desk.sessions.throttled(&supervisor_id, now, || {
        st.approve_operation(&order, &supervisor_id, &secret, &clerk)
    })?;
    views::current_order(&st, &order)
}

/// Carries out the order on a key, sending `key-progress` events for each
/// step as the journal records it.
#[tauri::command(async, rename_all = "snake_case")]
pub fn run_key(
    app: AppHandle,
    desk: State<'_, Desk>,
    token: String,
    order: String,
    key_serial: Option<String>,
    pin: Option<String>,
    pin_again: Option<String>,
) -> IpcResult<KeyWorkDto> {
    let clerk = desk.clerk(&token, Role::Clerk)?;
    let m = desk.module()?;
    let key_serial = key_serial.filter(|k| !k.trim().is_empty());
    let work = KeyWork {
        key_serial: key_serial.as_deref(),
        pin: pin.map(secret),
        pin_again: pin_again.map(secret),
        seal_png: None,
        progress: Some(Box::new(move |p| {
            let _ = app.emit(
                "key-progress",
                ProgressEvent {
                    order_id: p.order_id.clone(),
                    step: p.step,
                    step_zh: p.step_zh.to_string(),
                    phase: p.phase,
                },
            );
        })),
    };
    let res = desk
        .station()
        .run_order(&m, &desk.keys, &order, work, &clerk);
    let done = res?;
    Ok(KeyWorkDto {
        key_serial: done.key_serial,
        certificate_serial: done.certificate_serial,
        not_after: done.not_after,
    })
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn print_document(
    desk: State<'_, Desk>,
    token: String,
    order: String,
    document: String,
) -> IpcResult<PrintDto> {
    let clerk = desk.clerk(&token, Role::Clerk)?;
    let doc: Document = document.parse()?;
    let out = desk
        .station()
        .print_document(&order, doc, desk.printer.as_deref(), false, &clerk)?;
    Ok(views::print(&out))
}

/// Hands the key over: prints the receipt (回执) of a completed order.
#[tauri::command(async, rename_all = "snake_case")]
pub fn hand_over(desk: State<'_, Desk>, token: String, order: String) -> IpcResult<PrintDto> {
    let clerk = desk.clerk(&token, Role::Clerk)?;
    let out = desk
        .station()
        .hand_over(&order, desk.printer.as_deref(), &clerk)?;
    Ok(views::print(&out))
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn day_report(
    desk: State<'_, Desk>,
    token: String,
    date: Option<String>,
) -> IpcResult<DayReportDto> {
    desk.clerk(&token, Role::Clerk)?;
    let day = match date {
        Some(d) => self::date(&d, "date", "日期")?,
        None => desk.today(),
    };
    Ok(views::report(&desk.station().day_report(day)?))
}

/// Writes the day report as CSV under `DATA_DIR/reports/` and returns the
/// path. Supervisors only: it carries the takings.
#[tauri::command(async, rename_all = "snake_case")]
pub fn export_day_report(
    desk: State<'_, Desk>,
    token: String,
    date: Option<String>,
) -> IpcResult<String> {
    desk.clerk(&token, Role::Supervisor)?;
    let day = match date {
        Some(d) => self::date(&d, "date", "日期")?,
        None => desk.today(),
    };
    let path = desk.station().export_day_report(day)?;
    Ok(path.display().to_string())
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn sync_status(desk: State<'_, Desk>, token: String) -> IpcResult<SyncDto> {
    desk.clerk(&token, Role::Clerk)?;
    let s = desk.station().sync_status()?;
    Ok(SyncDto {
        pending: s.pending,
        last_success_at: s.last_success_at,
        last_attempt_at: s.last_attempt_at,
        last_error_message: s.last_error_message,
        warnings: desk
            .station()
            .station_warnings()?
            .into_iter()
            .map(|w| WarningDto {
                code: w.code.to_string(),
                message: w.message,
                message_en: w.message_en,
            })
            .collect(),
    })
}
