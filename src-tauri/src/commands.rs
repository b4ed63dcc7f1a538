//! The IPC commands. Each parses its arguments, checks the session where
//! the command belongs to the clerk console, and makes one call into
//! `kiosk-app`. Applicant commands take no token; console commands refuse
//! without a live session of the right role.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::NaiveDate;
use kiosk_app::domain::order::{CheckStatus, Command, Payment, PaymentMethod};
use kiosk_app::domain::{validate, Rejection};
use kiosk_app::keys::Module;
use kiosk_app::{AppError, Clock, Document, KeyConfig, KeyWork, Rules, Session, Sessions, Station};
use serde::de::DeserializeOwned;
use tauri::{AppHandle, Emitter, State};

use crate::args::*;
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
        let mut station = Station::open(&data_dir, clock.clone())?.with_today(today);
        station.key_audit(&keys);
        Ok(Desk {
            data_dir,
            clock,
            today,
            station: Mutex::new(station),
            keys,
            module: Mutex::new(None),
            // Console sessions end after the same idle time as kioskctl's.
            sessions: Sessions::new(chrono::Duration::minutes(
                kiosk_app::accounts::SESSION_IDLE_MINUTES,
            )),
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

    /// The live console session behind a token. What its role may do is
    /// `kiosk-app`'s to decide.
    fn session(&self, token: &str) -> IpcResult<Session> {
        let now = self.clock.now();
        Ok(self.sessions.require(&self.station(), Some(token), now)?)
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
        console_idle_seconds: (kiosk_app::accounts::SESSION_IDLE_MINUTES * 60) as u32,
        station_today: desk.today().to_string(),
        keypads: KeypadsDto {
            uscc: validate::USCC_ALPHABET.into(),
            resident_id: validate::RESIDENT_ID_CHARACTERS.into(),
            digits: "0123456789".into(),
            phone: validate::PHONE_CHARACTERS.into(),
        },
    }
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn providers(desk: State<'_, Desk>) -> IpcResult<Vec<ProviderDto>> {
    let rules = desk.rules()?;
    Ok(views::providers(&rules))
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn checklist(desk: State<'_, Desk>, args: ChecklistArgs) -> IpcResult<ChecklistDto> {
    let ChecklistArgs {
        provider,
        operation,
    } = args;
    let view = desk
        .rules()?
        .checklist(&provider, operation.parse()?, Default::default())?;
    Ok(views::checklist(&view))
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn fee(desk: State<'_, Desk>, args: FeeArgs) -> IpcResult<FeeDto> {
    let FeeArgs {
        provider,
        project,
        operation,
        years,
        fault,
        first_issued,
    } = args;
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
pub fn renewal(desk: State<'_, Desk>, args: RenewalArgs) -> IpcResult<RenewalDto> {
    let RenewalArgs {
        provider,
        not_after,
        years,
    } = args;
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
    args: ReadKeyRenewalArgs,
) -> IpcResult<KeyRenewalDto> {
    let ReadKeyRenewalArgs { provider, years } = args;
    let m = desk.module()?;
    let r = desk
        .station()
        .key_renewal(&m, &desk.keys, &provider, years)?;
    Ok(KeyRenewalDto {
        key: views::key(&r.key),
        renewal: views::renewal(&r.renewal),
        company: r.company,
    })
}

/// What the station's last completed order of this company says of it,
/// offered to the applicant (filled in only if they confirm).
#[tauri::command(async, rename_all = "snake_case")]
pub fn returning_company(
    desk: State<'_, Desk>,
    args: ReturningCompanyArgs,
) -> IpcResult<Option<kiosk_app::CompanyPrefill>> {
    Ok(desk.station().returning_company(&args.uscc)?)
}

/// The USCC on a business licence, from what the scanner typed off its
/// QR code.
#[tauri::command(async, rename_all = "snake_case")]
pub fn licence_code(args: LicenceCodeArgs) -> IpcResult<String> {
    Ok(kiosk_app::licence_uscc(&args.code)?)
}

/// The USCC on a business licence, from a photo of its QR code. The photo
/// is read in memory and not kept.
#[tauri::command(async, rename_all = "snake_case")]
pub fn licence_photo(args: LicencePhotoArgs) -> IpcResult<String> {
    let bytes = views::base64_file(&args.base64)?;
    Ok(kiosk_app::licence_uscc_in_picture(&args.file_name, &bytes)?)
}

/// Live validation of one field as the applicant types.
#[tauri::command(async, rename_all = "snake_case")]
pub fn check_field(desk: State<'_, Desk>, args: CheckFieldArgs) -> FieldCheck {
    let CheckFieldArgs { kind, value } = args;
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
    args: SubmitApplicationArgs,
) -> IpcResult<TicketDto> {
    let application = args.application;
    let order = desk.station().submit_at_kiosk(&application.to_string())?;
    Ok(views::ticket(&order))
}

/// Prints the application form or the seal sample sheet of an order the
/// touchscreen just took in; nothing else is printable without a clerk.
#[tauri::command(async, rename_all = "snake_case")]
pub fn print_for_applicant(
    desk: State<'_, Desk>,
    args: PrintForApplicantArgs,
) -> IpcResult<PrintDto> {
    let PrintForApplicantArgs { order_id, document } = args;
    let out = desk.station().print_for_applicant(
        &order_id,
        document.parse()?,
        desk.printer.as_deref(),
    )?;
    Ok(views::print(&out))
}

// ------------------------------------------------------------ console

#[tauri::command(async, rename_all = "snake_case")]
pub fn login(desk: State<'_, Desk>, args: LoginArgs) -> IpcResult<LoginDto> {
    let LoginArgs {
        clerk_id,
        secret: Secret(secret),
    } = args;
    let mut st = desk.station();
    let (token, s) = desk.sessions.login(&mut st, &clerk_id, &secret)?;
    Ok(LoginDto {
        token,
        clerk: views::clerk(&s.clerk),
    })
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn logout(desk: State<'_, Desk>, args: TokenArgs) {
    desk.sessions.logout(&args.token);
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn queue(desk: State<'_, Desk>, args: TokenArgs) -> IpcResult<Vec<OrderRowDto>> {
    desk.session(&args.token)?;
    let rows = desk.station().list_orders(None, 50)?;
    Ok(rows.iter().map(views::order_row).collect())
}

/// Opens an order by its number, id, or what the QR scanner typed.
#[tauri::command(async, rename_all = "snake_case")]
pub fn open_order(desk: State<'_, Desk>, args: OpenOrderArgs) -> IpcResult<OrderDto> {
    let OpenOrderArgs { token, code } = args;
    desk.session(&token)?;
    let st = desk.station();
    let view = st.order_from_code(&code)?;
    views::order(&st, &view.order)
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn check_item(desk: State<'_, Desk>, args: CheckItemArgs) -> IpcResult<OrderDto> {
    let CheckItemArgs {
        token,
        order,
        item,
        status,
        note,
    } = args;
    let clerk = desk.session(&token)?;
    let status: CheckStatus = parse(&status, "status", "核验结果")?;
    let note = note.filter(|n| !n.trim().is_empty());
    let mut st = desk.station();
    let o = st.order_command(&order, Command::Check { item, status, note }, &clerk)?;
    views::order(&st, &o)
}

/// Attaches a scan (the page sends the file's bytes, base64).
#[tauri::command(async, rename_all = "snake_case")]
pub fn attach_scan(desk: State<'_, Desk>, args: AttachScanArgs) -> IpcResult<OrderDto> {
    let AttachScanArgs {
        token,
        order,
        item,
        file_name,
        base64,
    } = args;
    let clerk = desk.session(&token)?;
    let mut st = desk.station();
    let (_dir, file) = views::upload(&st, &file_name, &base64)?;
    st.attach_scan(&order, &item, &file, &clerk)?;
    views::current_order(&st, &order)
}

/// Cuts the seal out of the chosen scan (the stamped sample sheet) and
/// proposes it; the clerk then looks at it and approves or rejects it.
#[tauri::command(async, rename_all = "snake_case")]
pub fn extract_seal(desk: State<'_, Desk>, args: ExtractSealArgs) -> IpcResult<OrderDto> {
    let ExtractSealArgs {
        token,
        order,
        attachment,
    } = args;
    let clerk = desk.session(&token)?;
    let mut st = desk.station();
    st.extract_seal(&order, Some(&attachment), &clerk)?;
    views::current_order(&st, &order)
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn decide_seal(desk: State<'_, Desk>, args: DecideSealArgs) -> IpcResult<OrderDto> {
    let DecideSealArgs {
        token,
        order,
        seal,
        approve,
    } = args;
    let clerk = desk.session(&token)?;
    let mut st = desk.station();
    st.decide_seal(Some(&order), &seal, approve, &clerk)?;
    views::current_order(&st, &order)
}

/// approve | return | cancel, with a reason where the rules want one.
#[tauri::command(async, rename_all = "snake_case")]
pub fn advance(desk: State<'_, Desk>, args: AdvanceArgs) -> IpcResult<OrderDto> {
    let AdvanceArgs {
        token,
        order,
        step,
        reason,
    } = args;
    let clerk = desk.session(&token)?;
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
pub fn pay(desk: State<'_, Desk>, args: PayArgs) -> IpcResult<OrderDto> {
    let PayArgs {
        token,
        order,
        method,
        amount_fen,
        receipt_no,
    } = args;
    let clerk = desk.session(&token)?;
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
pub fn present_keys(desk: State<'_, Desk>, args: TokenArgs) -> IpcResult<Vec<KeyDto>> {
    desk.session(&args.token)?;
    let m = desk.module()?;
    let keys = desk.station().present_keys(&m, &desk.keys)?;
    Ok(keys.iter().map(views::key).collect())
}

/// A supervisor approves an unlock or revocation with their own account.
#[tauri::command(async, rename_all = "snake_case")]
pub fn supervisor_approve(
    desk: State<'_, Desk>,
    args: SupervisorApproveArgs,
) -> IpcResult<OrderDto> {
    let SupervisorApproveArgs {
        token,
        order,
        supervisor_id,
        supervisor_secret: Secret(secret),
    } = args;
    let clerk = desk.session(&token)?;
    let mut st = desk.station();
    st.throttled(&supervisor_id, |st| {
        st.approve_operation(&order, &supervisor_id, &secret, &clerk)
    })?;
    views::current_order(&st, &order)
}

/// Carries out the order on a key, sending `key-progress` events for each
/// step as the journal records it.
#[tauri::command(async, rename_all = "snake_case")]
pub fn run_key(app: AppHandle, desk: State<'_, Desk>, args: RunKeyArgs) -> IpcResult<KeyWorkDto> {
    let RunKeyArgs {
        token,
        order,
        key_serial,
        pin,
        pin_again,
    } = args;
    let clerk = desk.session(&token)?;
    let m = desk.module()?;
    let key_serial = key_serial.filter(|k| !k.trim().is_empty());
    let work = KeyWork {
        key_serial: key_serial.as_deref(),
        pin: pin.map(|Secret(s)| s),
        pin_again: pin_again.map(|Secret(s)| s),
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
pub fn print_document(desk: State<'_, Desk>, args: PrintDocumentArgs) -> IpcResult<PrintDto> {
    let PrintDocumentArgs {
        token,
        order,
        document,
    } = args;
    let clerk = desk.session(&token)?;
    let doc: Document = document.parse()?;
    let out = desk
        .station()
        .print_document(&order, doc, desk.printer.as_deref(), false, &clerk)?;
    Ok(views::print(&out))
}

/// Hands the key over: prints the receipt (回执) of a completed order.
#[tauri::command(async, rename_all = "snake_case")]
pub fn hand_over(desk: State<'_, Desk>, args: OrderArgs) -> IpcResult<PrintDto> {
    let OrderArgs { token, order } = args;
    let clerk = desk.session(&token)?;
    let out = desk
        .station()
        .hand_over(&order, desk.printer.as_deref(), &clerk)?;
    Ok(views::print(&out))
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn day_report(desk: State<'_, Desk>, args: DayArgs) -> IpcResult<DayReportDto> {
    let DayArgs { token, date } = args;
    desk.session(&token)?;
    let day = match date {
        Some(d) => self::date(&d, "date", "日期")?,
        None => desk.today(),
    };
    Ok(views::report(&desk.station().day_report(day)?))
}

/// Writes the day report as CSV under `DATA_DIR/reports/` and returns the
/// path. Supervisors only: it carries the takings.
#[tauri::command(async, rename_all = "snake_case")]
pub fn export_day_report(desk: State<'_, Desk>, args: DayArgs) -> IpcResult<String> {
    let DayArgs { token, date } = args;
    let session = desk.session(&token)?;
    let day = match date {
        Some(d) => self::date(&d, "date", "日期")?,
        None => desk.today(),
    };
    let path = desk.station().export_day_report(day, &session)?;
    Ok(path.display().to_string())
}

#[tauri::command(async, rename_all = "snake_case")]
pub fn sync_status(desk: State<'_, Desk>, args: TokenArgs) -> IpcResult<SyncDto> {
    desk.session(&args.token)?;
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
