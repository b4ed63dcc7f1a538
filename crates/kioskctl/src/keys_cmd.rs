//! `ca`, `stock`, `key`, `crl` and `order run`: one `kiosk-app` call each.

use std::io::BufRead;
use std::path::Path;

use chrono::NaiveDate;
use kiosk_app::keys::{Module, SecretString};
use kiosk_app::{AppError, KeyConfig, KeyWork, PinNeed, Session, Station};
use serde_json::json;

use crate::cli::{CaCmd, CertCmd, KeyCmd, StockCmd};
use crate::commands::{Open, Output, SignedIn};

pub(crate) fn module(cfg: &KeyConfig) -> Result<Module, AppError> {
    Ok(Module::load(&cfg.module)?)
}

/// The sub-CA a `--sm2` flag names.
fn algorithm(sm2: bool) -> kiosk_app::CaAlgorithm {
    match sm2 {
        true => kiosk_app::CaAlgorithm::Sm2,
        false => kiosk_app::CaAlgorithm::P256,
    }
}

pub fn ca(cmd: CaCmd, open: Open<'_>, signed_in: SignedIn<'_>) -> Result<Output, AppError> {
    // Every subcommand but `show` works in the station token.
    let token = |st: &Station| -> Result<(KeyConfig, Module), AppError> {
        let cfg = st.key_config()?;
        let m = module(&cfg)?;
        Ok((cfg, m))
    };
    match cmd {
        CaCmd::Show => ca_show(&open()?),
        CaCmd::MasterRequest => {
            let (st, by) = signed_in()?;
            let cfg = st.key_config()?;
            let (path, r) = st.master_request(&cfg, &by)?;
            Output::ok(
                json!({ "request": path, "station_id": r.station_id, "token_serial": r.token_serial }),
                format!(
                    "主密钥申请已写入 {}，请交中心运维用 central station master 处理",
                    path.display()
                ),
            )
        }
        CaCmd::MasterImport { file } => {
            let (st, by) = signed_in()?;
            let cfg = st.key_config()?;
            let r = st.master_import(&cfg, &file, &by)?;
            let human = format!(
                "主密钥已导入工作站令牌 {}（用它核对了 {} 条审计记录的密钥校验值，均相符）",
                r.token_serial, r.keyed_rows_verified
            );
            Output::ok(&r, human)
        }
        CaCmd::Init { .. } => {
            let (mut st, by) = signed_in()?;
            let (cfg, m) = token(&st)?;
            let ca = st.ca_init_demo(&m, &cfg, &by)?;
            let dir = st.data_dir().join("ca");
            Output::ok(
                json!({ "token_label": ca.token_label, "chain_pem": dir.join("chain.pem"), "root_pem": dir.join("root.pem") }),
                format!("演示签发CA已就绪：{}", dir.join("chain.pem").display()),
            )
        }
        CaCmd::Csr { sm2 } => {
            let (mut st, _) = signed_in()?;
            let (cfg, _) = token(&st)?;
            let path = st.ca_csr_of(&cfg, algorithm(sm2))?;
            Output::ok(
                json!({ "csr_pem": path }),
                format!("证书请求已写入 {}，请提交中心CA签发", path.display()),
            )
        }
        CaCmd::Import { file, sm2 } => {
            let (mut st, by) = signed_in()?;
            let (cfg, _) = token(&st)?;
            let ca = st.ca_import_of(&cfg, &file, &by, algorithm(sm2))?;
            Output::ok(
                json!({ "token_label": ca.token_label, "installed": true }),
                "签发CA证书已安装".into(),
            )
        }
    }
}

/// `ca show`: what the station's records say, without the token.
fn ca_show(st: &Station) -> Result<Output, AppError> {
    let v = st.ca_view()?;
    let mut human = format!(
        "签发CA：{}\n有效期：{} 至 {}\nCRL：第 {} 号{}",
        v.subject.as_deref().unwrap_or("（未安装）"),
        v.not_before.map_or("-".into(), station_time),
        v.not_after.map_or("-".into(), station_time),
        v.crl_number,
        if v.crl_due.is_some() {
            "（需要重新签发：kioskctl crl）"
        } else {
            ""
        },
    );
    for w in &v.warnings {
        human.push_str(&format!("\n注意：{}", w.message));
    }
    Output::ok(v, human)
}

pub fn stock(
    cmd: StockCmd,
    open: Open<'_>,
    signed_in: SignedIn<'_>,
    today: NaiveDate,
) -> Result<Output, AppError> {
    match cmd {
        StockCmd::Add {
            serial,
            model,
            batch,
            received_on,
        } => {
            let (mut st, by) = signed_in()?;
            let k = st.stock_add(&serial, &model, &batch, received_on.unwrap_or(today), &by)?;
            let human = format!("介质 {} 已入库", k.serial);
            Output::ok(k, human)
        }
        StockCmd::List => {
            let keys = open()?.stock()?;
            let human = keys
                .iter()
                .map(|k| format!("{}  {}  {}", k.serial, k.model, k.state))
                .collect::<Vec<_>>()
                .join("\n");
            Output::ok(json!({ "keys": keys }), human)
        }
    }
}

pub fn key(cmd: KeyCmd, st: Station) -> Result<Output, AppError> {
    let cfg = st.key_config()?;
    if let KeyCmd::Watch {
        events,
        timeout_secs,
    } = cmd
    {
        let got = st
            .rules()?
            .watch_keys(events, std::time::Duration::from_secs(timeout_secs))?;
        let human = got
            .iter()
            .map(|e| serde_json::to_string(e).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        return Output::ok(json!({ "events": got }), human);
    }
    let m = module(&cfg)?;
    match cmd {
        KeyCmd::Watch { .. } => unreachable!("handled above"),
        KeyCmd::PinChange { serial, pin_stdin } => {
            let (old, _) = read_pins(pin_stdin, &["请输入当前PIN码："])?;
            let (first, second) =
                read_pins(pin_stdin, &["请设置新的PIN码：", "请再次输入新PIN码："])?;
            st.change_pin(&m, &serial, &old, &first, &second)?;
            Output::ok(
                json!({ "serial": serial, "changed": true }),
                "PIN码已修改".into(),
            )
        }
        KeyCmd::List => {
            let mut keys = Vec::new();
            for t in m.tokens()? {
                let stock = if t.initialized {
                    st.stock_key(&t.serial)?
                } else {
                    None
                };
                keys.push(json!({
                    "serial": t.serial, "label": t.label, "model": t.model, "initialized": t.initialized,
                    "pin_locked": t.pin_locked, "stock_state": stock.map(|s| s.state),
                }));
            }
            // Readers are optional: a station without pcscd still lists tokens.
            let (readers, readers_error) = match st.rules()?.readers() {
                Ok(r) => (Some(r), None),
                Err(e) => (None, Some(e.message_zh())),
            };
            let human = keys
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join("\n");
            Output::ok(
                json!({ "tokens": keys, "readers": readers, "readers_error": readers_error }),
                human,
            )
        }
        KeyCmd::Show { serial } => {
            let v = st.key_show(&m, &cfg, &serial)?;
            let human = format!(
                "介质序列号：{}\n证书序列号：{}\n证书使用者：{}\n证书有效期：{} 至 {}\n证书颁发机构：{}{}",
                v.key_serial,
                v.certificate_serial.as_deref().unwrap_or("（无证书）"),
                v.subject.as_deref().unwrap_or("-"),
                v.not_before.map_or("-".into(), station_time),
                v.not_after.map_or("-".into(), station_time),
                v.issuer.as_deref().unwrap_or("-"),
                v.lock.hint.as_deref().map(|h| format!("\n注意：{h}")).unwrap_or_default(),
            );
            Output::ok(v, human)
        }
    }
}

/// Signs the CRL: by the session's clerk, or (`None`, `crl --if-due`) by
/// the station's timer, only when one is due.
pub fn crl(mut st: Station, by: Option<&Session>) -> Result<Output, AppError> {
    let cfg = st.key_config()?;
    let signed = match by {
        None => st.refresh_crl(&cfg, None)?,
        Some(by) => Some(st.crl(&cfg, Some(by))?),
    };
    match signed {
        Some(c) => Output::ok(
            json!({ "crl_pem": c.crl_pem, "number": c.number, "revoked": c.revoked, "next_update": c.next_update }),
            format!(
                "CRL 第 {} 号已签发（{} 张吊销证书，下次更新 {}）：{}",
                c.number,
                c.revoked,
                station_time(c.next_update),
                c.crl_pem.display()
            ),
        ),
        None => Output::ok(
            json!({ "number": null }),
            "CRL 未到更新时间，无需签发".to_string(),
        ),
    }
}

pub fn run(
    mut st: Station,
    order: &str,
    key: Option<&str>,
    seal: Option<&Path>,
    pin_stdin: bool,
    by: &Session,
) -> Result<Output, AppError> {
    let cfg = st.key_config()?;
    let seal_png = seal
        .map(|p| std::fs::read(p).map_err(|e| AppError::io(p.display(), e)))
        .transpose()?;
    let op = st.order(order)?.order.application.operation;
    // Refused before any PIN is asked when a supervisor must approve first.
    let (pin, pin_again) = match st.key_work_needs(order, key)? {
        PinNeed::New => {
            let (first, second) =
                read_pins(pin_stdin, &["请设置新的PIN码：", "请再次输入PIN码："])?;
            (Some(first), Some(second))
        }
        PinNeed::Current => (
            Some(read_pins(pin_stdin, &["请输入介质当前的PIN码："])?.0),
            None,
        ),
        PinNeed::None => (None, None),
    };
    let m = module(&cfg)?;
    let work = KeyWork {
        key_serial: key,
        pin,
        pin_again,
        seal_png: seal_png.as_deref(),
        progress: None,
    };
    let done = st.run_order(&m, &cfg, order, work, by)?;
    let human = format!(
        "{}完成：介质 {}，证书序列号 {}，有效期至 {}",
        op.label_zh(),
        done.key_serial,
        done.certificate_serial,
        done.not_after
    );
    Output::ok(done, human)
}

/// An instant as the station's clock on the wall shows it.
fn station_time(t: chrono::DateTime<chrono::Utc>) -> String {
    kiosk_app::domain::calendar::local_time(t)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// PINs: lines on stdin, or typed without echo on the terminal. Never an
/// argument, never printed. Returns the first and (if asked) the second.
pub(crate) fn read_pins(
    from_stdin: bool,
    prompts: &[&str],
) -> Result<(SecretString, SecretString), AppError> {
    let mut got = Vec::new();
    if from_stdin {
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        for _ in prompts {
            let line = lines
                .next()
                .transpose()
                .map_err(|e| AppError::io("stdin", e))?
                .unwrap_or_default();
            got.push(SecretString::from(
                line.trim_end_matches(['\r', '\n']).to_string(),
            ));
        }
    } else {
        for p in prompts {
            got.push(
                rpassword::prompt_password(p)
                    .map(SecretString::from)
                    .map_err(|e| AppError::io("/dev/tty", e))?,
            );
        }
    }
    let first = got.remove(0);
    let second = got.pop().unwrap_or_else(|| first.clone());
    Ok((first, second))
}

/// A supervisor approves an unlock or a revocation with their own account
/// and password (terminal, or the first line of stdin), as on the console.
pub fn approve(
    mut st: Station,
    order: &str,
    supervisor: &str,
    password_stdin: bool,
    by: &Session,
) -> Result<Output, AppError> {
    let (secret, _) = read_pins(password_stdin, &["主管密码："])?;
    let a = st.approve_operation(order, supervisor, &secret, by)?;
    let human = format!("主管 {supervisor} 已审批订单 {order}，可以办理");
    Output::ok(a, human)
}

pub fn cert(
    cmd: CertCmd,
    mut st: Station,
    approver: &crate::commands::Approver,
) -> Result<Output, AppError> {
    match cmd {
        CertCmd::Find { serial, uscc } => {
            let found = st.directory_find(serial.as_deref(), uscc.as_deref())?;
            let human = found
                .entries
                .iter()
                .map(|e| {
                    format!(
                        "{}  {}  {}  {}（{}）  {} 至 {}  {}",
                        e.serial,
                        e.provider,
                        e.status,
                        e.name,
                        e.uscc,
                        e.not_before,
                        e.not_after,
                        e.issuer
                    )
                })
                .chain(std::iter::once(format!(
                    "（本站目录版本 {}）",
                    found.version
                )))
                .collect::<Vec<_>>()
                .join("\n");
            Output::ok(found, human)
        }
        CertCmd::List { key, order } => {
            let certs = st.certificates(key.as_deref(), order.as_deref())?;
            let human = certs
                .iter()
                .map(|c| format!("{}  {}  {}  {}", c.serial, c.state, c.not_after, c.subject))
                .collect::<Vec<_>>()
                .join("\n");
            Output::ok(json!({ "certificates": certs }), human)
        }
        CertCmd::Revoke { serial, reason } => {
            let by = approver.acting(&mut st)?;
            let cfg = st.key_config()?;
            let (c, crl) = st.revoke_certificate(&cfg, &serial, reason, &by)?;
            let human = format!(
                "证书 {} 已吊销（{}），已列入 CRL 第 {} 号",
                c.serial,
                reason.label_zh(),
                crl.number
            );
            Output::ok(json!({ "certificate": c, "crl": crl }), human)
        }
    }
}
