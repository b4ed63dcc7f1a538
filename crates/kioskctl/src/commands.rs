//! Each subcommand is one call into `kiosk-app`, plus how to print it.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use kiosk_app::domain::fee::yuan;
use kiosk_app::domain::order::{CheckStatus, Command, OrderState, Payment, PaymentMethod};
use kiosk_app::domain::{validate, Channel, Operation, Rejection};
use kiosk_app::{demo, AppError, Clock, Rules, Session, Station, SystemClock};
use serde::Serialize;
use serde_json::{json, Value};

use crate::cli::{
    AuditCmd, BackupCmd, CatalogCmd, CheckStatusArg, Cli, Cmd, MethodArg, OrderCmd, Step,
    ValidateKind,
};

/// Opens the station, for reading.
pub type Open<'a> = &'a dyn Fn() -> Result<Station, AppError>;
/// Opens the station with this user's live session there, for a change.
pub type SignedIn<'a> = &'a dyn Fn() -> Result<(Station, Session), AppError>;

/// What a command prints and how it exits.
pub struct Output {
    pub json: Value,
    pub human: String,
    pub exit: u8,
}

impl Output {
    pub fn ok(value: impl Serialize, human: String) -> Result<Output, AppError> {
        Ok(Output {
            json: serde_json::to_value(value).unwrap_or(Value::Null),
            human,
            exit: 0,
        })
    }
}

pub fn run(cli: Cli) -> Result<Output, AppError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let data_dir = kiosk_app::data_dir(cli.data_dir.as_deref());
    let today = cli.today.unwrap_or_else(|| clock.today());
    let approver = Approver {
        id: cli.approver,
        stdin: cli.approver_stdin,
    };
    // Every station opened keys the audit rows it writes, when its token is
    // set up (see `Station::key_audit`).
    let open = || -> Result<Station, AppError> {
        let mut st = Station::open(&data_dir, clock.clone())?.with_today(cli.today);
        if let Ok(cfg) = st.key_config() {
            st.key_audit(&cfg);
        }
        Ok(st)
    };
    // A change: the station and the live session of this user there. A
    // directory with no station has no session either, and stays untouched.
    let signed_in = || -> Result<(Station, Session), AppError> {
        if !data_dir.join(kiosk_app::DB_FILE).exists() {
            return Err(kiosk_app::accounts::not_logged_in());
        }
        let mut st = open()?;
        let by = crate::session_cmd::session(&mut st)?;
        Ok((st, by))
    };
    match cli.command {
        Cmd::Fee(a) => {
            let rules = Rules::load(&data_dir, today)?;
            let fault = a.fault.as_deref().map(str::parse).transpose()?;
            let q = rules.fee(
                &a.provider,
                a.project.as_deref(),
                op(&a.operation)?,
                a.years,
                fault,
                a.first_issued,
            )?;
            let mut human = format!(
                "{} {}：合计 {} 元\n",
                q.provider,
                q.operation.label_zh(),
                yuan(q.total_fen)
            );
            for l in &q.lines {
                human.push_str(&format!(
                    "  {}  {} 元  （{}）\n",
                    l.label,
                    yuan(l.amount_fen),
                    l.reason
                ));
            }
            Output::ok(&q, human.trim_end().to_string())
        }
        Cmd::Checklist(a) => {
            let rules = Rules::load(&data_dir, today)?;
            let channel: Channel = a.channel.parse()?;
            let view = rules.checklist(&a.provider, op(&a.operation)?, channel)?;
            let mut human = format!(
                "{} {}（{}）所需资料：\n",
                view.provider,
                view.operation.label_zh(),
                channel.label_zh()
            );
            for i in &view.items {
                let mut marks = vec![format!("{} 份", i.copies)];
                match (i.original, i.copy) {
                    (true, true) => marks.push("原件及复印件".into()),
                    (true, false) => marks.push("原件".into()),
                    _ => marks.push("复印件".into()),
                }
                if i.sealed {
                    marks.push("加盖公章".into());
                }
                if i.signed {
                    marks.push("手写签字并写日期".into());
                }
                human.push_str(&format!("  □ {}（{}）\n", i.name, marks.join("，")));
            }
            for n in &view.notices {
                human.push_str(&format!("  ！{}\n", n.zh));
            }
            Output::ok(&view, human.trim_end().to_string())
        }
        Cmd::Renewal(a) => {
            let rules = Rules::load(&data_dir, today)?;
            let d = rules.renewal(&a.provider, a.not_after, a.years)?;
            let human = d.message.clone();
            Output::ok(&d, human)
        }
        Cmd::Validate { kind, value } => validate_one(kind, &value, today),
        Cmd::Order(o) => order(o, open, signed_in),
        Cmd::Audit(AuditCmd::Verify) => {
            let st = open()?;
            let report = st.verify_audit(st.key_config().ok().as_ref())?;
            let human = if report.ok {
                let unsealed = report.head_seq - report.sealed_upto;
                let keyed = if report.keys_checked {
                    format!("；{} 条带本站令牌密钥校验值，均相符", report.keyed_rows)
                } else {
                    "；未核对密钥校验值（需要工作站令牌及其PIN文件）".to_string()
                };
                format!(
                    "审计记录完整：共 {} 条，链条无断点；{} 个封记有效{}{keyed}",
                    report.rows,
                    report.seals,
                    if unsealed > 0 {
                        format!("，最后 {unsealed} 条尚未加封（kioskctl audit seal）")
                    } else {
                        String::new()
                    }
                )
            } else {
                report
                    .findings
                    .iter()
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let exit = if report.ok { 0 } else { 1 };
            Ok(Output {
                json: serde_json::to_value(&report).unwrap_or(Value::Null),
                human,
                exit,
            })
        }
        Cmd::Audit(AuditCmd::Seal) => {
            let st = open()?;
            let cfg = st.key_config()?;
            match st.seal_audit(&cfg)? {
                Some(seal) => {
                    let human = format!("审计记录已加封至第 {} 条", seal.seq);
                    Output::ok(seal, human)
                }
                None => Output::ok(json!({ "seq": null }), "审计记录为空，无需加封".into()),
            }
        }
        Cmd::Login {
            clerk,
            password_stdin,
        } => crate::session_cmd::login(open()?, &clerk, password_stdin),
        Cmd::Logout => crate::session_cmd::logout(open()?),
        Cmd::Catalog(c) => catalog(c, open, &approver),
        Cmd::Ca(c) => crate::keys_cmd::ca(c, &open, &signed_in),
        Cmd::Stock(c) => crate::keys_cmd::stock(c, &open, &signed_in, today),
        Cmd::Key(c) => crate::keys_cmd::key(c, open()?),
        Cmd::Backup(BackupCmd::Create {
            to,
            recipients,
            keep,
        }) => {
            // Not opened: a newer kioskctl backs the database up as it is,
            // before anything migrates it.
            let b = kiosk_app::backup::create(
                &data_dir,
                clock.now(),
                &to,
                recipients.as_deref(),
                keep.map(|k| k as usize),
            )?;
            let human = format!(
                "备份已写入 {}（{} 个文件，{} 字节，加密后 {} 字节；发件箱至 {}，审计记录至 {}）",
                b.file.display(),
                b.files,
                b.content_bytes,
                b.bytes,
                b.outbox_head,
                b.audit_head
            );
            Output::ok(&b, human)
        }
        Cmd::Backup(BackupCmd::Restore { file, identity }) => {
            let r = kiosk_app::backup::restore(&file, &identity, &data_dir)?;
            let human = format!(
                "已将工作站 {} 恢复到 {}（备份时间 {}，{} 个文件；发件箱至 {}，审计记录至 {}）。请运行 kioskctl audit verify 核对审计记录",
                r.station_id,
                r.data_dir.display(),
                r.backup_created_at,
                r.files,
                r.outbox_head,
                r.audit_head
            );
            Output::ok(&r, human)
        }
        Cmd::Crl { if_due: true } => crate::keys_cmd::crl(open()?, None),
        Cmd::Crl { if_due: false } => {
            let (st, by) = signed_in()?;
            crate::keys_cmd::crl(st, Some(&by))
        }
        Cmd::Purge => {
            let report = open()?.purge_personal_data()?;
            let c = report.counts;
            let mut human = format!(
                "个人信息保存期限 {} 天：清除 {} 个订单的个人信息和扫描件{}；保留 {} 个订单（令牌加密）",
                report.retention_days,
                report.purged.len(),
                if report.purged.is_empty() {
                    String::new()
                } else {
                    format!("（{}）", report.purged.join("、"))
                },
                c.sealed,
            );
            if c.unsealed > 0 {
                human.push_str(&format!(
                    "；另有 {} 个订单的个人信息未加密保存（写入时工作站令牌尚未设置）",
                    c.unsealed
                ));
            }
            Output::ok(&report, human)
        }
        Cmd::Sync { action: None } => crate::sync_cmd::sync(open()?, cli.json),
        Cmd::Sync {
            action: Some(crate::cli::SyncCmd::Status),
        } => crate::sync_cmd::status(open()?),
        Cmd::Cert(c) => crate::keys_cmd::cert(c, open()?, &approver),
        Cmd::Form(a) => crate::documents_cmd::form(a, open()?),
        Cmd::Print(a) => crate::documents_cmd::print(a, &open, &signed_in),
        Cmd::Scan(c) => crate::documents_cmd::scan(c, &open, &signed_in),
        Cmd::Seal(c) => {
            let rules = || Rules::load(&data_dir, today);
            crate::documents_cmd::seal(c, &open, &signed_in, &rules, clock.now())
        }
        Cmd::Clerk(c) => crate::clerks_cmd::clerk(c, open()?, &approver),
        Cmd::Report(c) => crate::clerks_cmd::report(c, open()?, today),
        Cmd::Demo { provider } => {
            let summary = demo::run(&data_dir, clock.clone(), provider.as_deref())?;
            let human = format!(
                "演示完成：订单 {}（{}），收费 {} 元，审计 {}，待同步 {} 条\n介质 {}（{}），证书 {}\n证书：{}\n证书链：{}\nCRL：{}{}\nSOFTHSM2_CONF={}\n数据目录：{}",
                summary.order_number,
                summary.state,
                yuan(summary.fee.total_fen),
                if summary.audit_ok { "完整" } else { "异常" },
                summary.outbox_pending,
                summary.key_serial,
                summary.token_label,
                summary.certificate_serial,
                summary.certificate_pem,
                summary.chain_pem,
                summary.crl_pem,
                summary
                    .electronic_seal
                    .as_deref()
                    .map(|s| format!("\n电子印章（GB/T 38540）：{s}"))
                    .unwrap_or_default(),
                summary.softhsm2_conf,
                summary.data_dir
            );
            Output::ok(&summary, human)
        }
    }
}

fn order(
    cmd: OrderCmd,
    open: impl Fn() -> Result<Station, AppError>,
    signed_in: impl Fn() -> Result<(Station, Session), AppError>,
) -> Result<Output, AppError> {
    let show = |o: &kiosk_app::domain::order::Order| {
        Output::ok(
            o,
            format!(
                "订单 {}：{}，应收 {} 元",
                o.number,
                o.state.label_zh(),
                yuan(o.fee.total_fen)
            ),
        )
    };
    match cmd {
        OrderCmd::Create { file } => {
            // Read and parse before touching the data directory, so bad
            // input writes nothing at all.
            let text = read_input(&file)?;
            kiosk_app::domain::application::Application::from_json(&text)?;
            let (mut st, by) = signed_in()?;
            let order = st.create_order(&text, &by)?;
            show(&order)
        }
        OrderCmd::Check {
            order,
            item,
            all,
            status,
            note,
        } => {
            let (mut st, by) = signed_in()?;
            let status = match status {
                CheckStatusArg::Ok => CheckStatus::Ok,
                CheckStatusArg::Missing => CheckStatus::Missing,
                CheckStatusArg::Rejected => CheckStatus::Rejected,
            };
            let items: Vec<String> = match item {
                Some(i) => vec![i],
                None if all => st
                    .order(&order)?
                    .order
                    .checklist
                    .iter()
                    .map(|e| e.id.clone())
                    .collect(),
                None => vec![],
            };
            let mut last = None;
            for item in items {
                last = Some(st.order_command(
                    &order,
                    Command::Check {
                        item,
                        status,
                        note: note.clone(),
                    },
                    &by,
                )?);
            }
            match last {
                Some(o) => show(&o),
                None => Err(AppError::NotFound {
                    what: "材料",
                    key: order,
                }),
            }
        }
        OrderCmd::Pay {
            order,
            method,
            amount_fen,
            receipt,
        } => {
            let method = match method {
                MethodArg::Cash => PaymentMethod::Cash,
                MethodArg::Wechat => PaymentMethod::Wechat,
                MethodArg::Alipay => PaymentMethod::Alipay,
                MethodArg::BankCard => PaymentMethod::BankCard,
                MethodArg::Free => PaymentMethod::Free,
            };
            let (mut st, by) = signed_in()?;
            let o = st.order_command(
                &order,
                Command::Pay(Payment {
                    method,
                    amount_fen,
                    receipt_no: receipt,
                }),
                &by,
            )?;
            show(&o)
        }
        OrderCmd::Advance {
            order,
            step,
            reason,
        } => {
            let reason = reason.unwrap_or_default();
            let cmd = match step {
                Step::Approve => Command::ApproveMaterials,
                Step::Return => Command::Return { reason },
                Step::Resubmit => Command::Resubmit,
                Step::CentralApprove => Command::CentralApprove,
                Step::CentralReturn => Command::CentralReturn { reason },
                Step::Start => Command::StartProduction,
                Step::Complete => Command::Complete,
                Step::Cancel => Command::Cancel { reason },
            };
            let (mut st, by) = signed_in()?;
            let o = st.order_command(&order, cmd, &by)?;
            show(&o)
        }
        OrderCmd::Amend { order, file } => {
            let text = read_input(&file)?;
            let (mut st, by) = signed_in()?;
            let o = st.amend_order(&order, &text, &by)?;
            show(&o)
        }
        OrderCmd::List { state, limit } => {
            let state = state
                .map(|s| {
                    serde_json::from_value::<OrderState>(Value::String(s.clone())).map_err(|_| {
                        Rejection::field("state", "订单状态", "unknown_state").zh(format!("没有名为“{s}”的订单状态"), "可用：pending-review、returned、central-review、awaiting-payment、awaiting-production、in-production、completed、cancelled").en(format!("no order state '{s}'"), "use one of the documented states")
                    })
                })
                .transpose()?;
            let list = open()?.list_orders(state, limit)?;
            let human = list
                .iter()
                .map(|o| {
                    format!(
                        "{}  {}  {}  {}",
                        o.number, o.provider, o.operation, o.state_zh
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Output::ok(json!({ "orders": list }), human)
        }
        OrderCmd::Approve {
            order,
            supervisor,
            password_stdin,
        } => {
            let (st, by) = signed_in()?;
            crate::keys_cmd::approve(st, &order, &supervisor, password_stdin, &by)
        }
        OrderCmd::Run {
            order,
            key,
            seal,
            pin_stdin,
        } => {
            let (st, by) = signed_in()?;
            crate::keys_cmd::run(st, &order, key.as_deref(), seal.as_deref(), pin_stdin, &by)
        }
        OrderCmd::Show { order } => {
            let view = open()?.order(&order)?;
            let mut human = serde_json::to_string_pretty(&view).unwrap_or_default();
            if let Some(at) = &view.personal_data_purged_at {
                human.push_str(&format!(
                    "\n个人信息和扫描件已于 {at} 按保存期限清除 / personal data purged at {at}"
                ));
            }
            Output::ok(&view, human)
        }
    }
}

/// Who approves a privileged change, as the command line names them.
pub struct Approver {
    pub id: Option<String>,
    pub stdin: bool,
}

impl Approver {
    /// The logged-in clerk with this approver's consent.
    pub fn acting(&self, st: &mut Station) -> Result<kiosk_app::Acting, AppError> {
        crate::session_cmd::acting(st, self.id.as_deref(), self.stdin)
    }
}

fn catalog(
    cmd: CatalogCmd,
    open: impl Fn() -> Result<Station, AppError>,
    approver: &Approver,
) -> Result<Output, AppError> {
    match cmd {
        CatalogCmd::Show => {
            let view = open()?.catalog_view()?;
            let mut human = format!(
                "规则目录 版本 {}（{} 起生效）\n",
                view.active_version, view.effective_date
            );
            for t in &view.tariffs {
                human.push_str(&format!(
                    "  {:<6} {:<16} {:<12} {}{}\n",
                    t.tariff.provider,
                    t.tariff.operation.as_str(),
                    t.tariff.item,
                    t.tariff
                        .amount_fen
                        .map(|a| format!("{} 元", yuan(a)))
                        .unwrap_or_else(|| "未设定".into()),
                    if t.overridden {
                        "（运营方设定）"
                    } else {
                        ""
                    }
                ));
            }
            Output::ok(&view, human.trim_end().to_string())
        }
        CatalogCmd::Import { file } => {
            let mut st = open()?;
            let by = approver.acting(&mut st)?;
            let outcome = st.import_catalog(&file, &by)?;
            let human = format!("{outcome:?}");
            Output::ok(outcome, human)
        }
        CatalogCmd::SetTariff {
            provider,
            operation,
            item,
            project,
            amount_fen,
            reason,
        } => {
            let mut st = open()?;
            let by = approver.acting(&mut st)?;
            let o = st.set_tariff(
                &provider,
                project.as_deref(),
                op(&operation)?,
                &item,
                amount_fen,
                &reason,
                &by,
            )?;
            let human = format!(
                "已设定 {} {} {} 为 {} 元",
                o.provider,
                o.operation,
                o.item,
                yuan(o.amount_fen)
            );
            Output::ok(o, human)
        }
    }
}

fn validate_one(
    kind: ValidateKind,
    value: &str,
    today: chrono::NaiveDate,
) -> Result<Output, AppError> {
    let result: Result<Value, Rejection> = match kind {
        ValidateKind::Uscc => validate::uscc(value)
            .map(|u| json!({ "value": u.as_str(), "organization_code": u.organization_code() })),
        ValidateKind::Id => validate::resident_id(value, today)
            .map(|i| json!({ "value": i.as_str(), "birth_date": i.birth_date() })),
        ValidateKind::Phone => validate::phone(value).map(|v| json!({ "value": v })),
        ValidateKind::Mobile => validate::mobile(value).map(|v| json!({ "value": v })),
        ValidateKind::Email => validate::email(value).map(|v| json!({ "value": v })),
        ValidateKind::Image => {
            let bytes = std::fs::read(value).map_err(|e| AppError::io(value, e))?;
            let name = Path::new(value)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(value);
            validate::upload(name, &bytes).map(|i| json!({ "image": i }))
        }
    };
    Ok(match result {
        Ok(mut v) => {
            v["valid"] = json!(true);
            v["message"] = json!("校验通过");
            let human = format!(
                "校验通过：{}",
                v.get("value").and_then(Value::as_str).unwrap_or(value)
            );
            Output {
                json: v,
                human,
                exit: 0,
            }
        }
        Err(r) => Output {
            json: json!({ "valid": false, "message": r.message_zh(), "message_en": r.message_en(),
                          "field": r.field, "code": r.code }),
            human: r.to_string(),
            exit: 1,
        },
    })
}

fn op(s: &str) -> Result<Operation, AppError> {
    Ok(s.parse::<Operation>()?)
}

fn read_input(file: &Path) -> Result<String, AppError> {
    if file == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| AppError::io("stdin", e))?;
        return Ok(s);
    }
    std::fs::read_to_string(file).map_err(|e| AppError::io(file.display(), e))
}
