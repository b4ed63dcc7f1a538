//! The station CA, key stock and personalization of USB keys.
//!
//! Every personalization step is journaled before it runs and after it
//! ends. A key whose last attempt did not end is wiped (re-initialised
//! with its derived SO PIN) and redone; any certificate signed during the
//! failed attempt is revoked, so a key never carries a certificate that
//! the database does not know and no signed certificate is lost track of.

use std::fs;
use std::path::PathBuf;

use chrono::NaiveDate;
use kiosk_domain::calendar::add_years;
use kiosk_domain::catalog::{KeyAlgorithm, UsccAttribute};
use kiosk_domain::order::{Command, Order, OrderState};
use kiosk_domain::{validate, Operation, Rejection};
use kiosk_keys::{
    certificate_info, csr, issue, revocation_list, self_signed_ca, sub_ca, verify_signature,
    ObjectClass, ObjectHandle, Revoked, SubjectSpec, TokenInfo, TokenSession, TokenSigner,
};
pub use kiosk_keys::{Module, SecretString};
use kiosk_store::{Actor, CertRecord, StationCa, StockKey};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::{AppError, Station};

/// The personalization steps, in order.
pub const STEPS: [&str; 10] = [
    "prepare",
    "init-token",
    "set-pins",
    "generate-key",
    "request",
    "issue",
    "write-certificate",
    "write-seal",
    "verify",
    "complete",
];

/// What the counter shows for a step of the key work journal, for every
/// operation (personalization and the steps of unlock, revoke, renewal,
/// change and upgrade).
pub fn step_label_zh(step: &str) -> &'static str {
    match step {
        "prepare" => "准备介质",
        "init-token" => "初始化介质",
        "set-pins" => "设置PIN码",
        "generate-key" => "在介质内生成密钥对",
        "request" => "介质签署证书请求",
        "issue" => "签发证书",
        "write-certificate" => "写入证书",
        "write-seal" => "写入电子印章",
        "reset-pin" => "重置用户PIN码",
        "revoke" => "吊销证书",
        "crl" => "更新证书吊销列表",
        "wipe" => "清除介质上的密钥和证书",
        "remove-old" => "删除旧证书（算法升级时连同旧密钥）",
        "verify" => "回读校验",
        "complete" => "完成",
        _ => "其他步骤",
    }
}

const ROOT_KEY: &str = "demo-root";
pub(crate) const CA_KEY: &str = "station-ca";
pub(crate) const MASTER: &str = "so-pin-master";
pub(crate) const SEAL_APP: &str = "kiosk-station";

/// Where keys live and how to reach them. PINs are secrets: never logged,
/// printed or stored.
pub struct KeyConfig {
    /// PKCS#11 module of the station token and the USB keys.
    pub module: String,
    /// Label of the station's own token (the sub-CA key, the SO PIN master).
    pub station_token: String,
    /// User PIN of the station token.
    pub station_pin: Option<SecretString>,
    /// The vendor's SO PIN on blank keys (transport PIN).
    pub transport_so_pin: Option<SecretString>,
    /// Test hook: the process kills itself (SIGKILL) right after this step
    /// ran and before it is journaled as done.
    pub kill_at_step: Option<String>,
}

impl KeyConfig {
    /// From `KIOSK_PKCS11_MODULE`, `KIOSK_STATION_TOKEN`,
    /// `KIOSK_STATION_PIN`, `KIOSK_TRANSPORT_SO_PIN`, `KIOSK_KILL_AT_STEP`.
    pub fn from_env() -> KeyConfig {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        KeyConfig {
            module: var("KIOSK_PKCS11_MODULE")
                .unwrap_or_else(|| "/usr/lib/softhsm/libsofthsm2.so".into()),
            station_token: var("KIOSK_STATION_TOKEN").unwrap_or_else(|| "kiosk-station".into()),
            station_pin: var("KIOSK_STATION_PIN").map(SecretString::from),
            transport_so_pin: var("KIOSK_TRANSPORT_SO_PIN").map(SecretString::from),
            kill_at_step: var("KIOSK_KILL_AT_STEP"),
        }
    }

    fn station_pin(&self) -> Result<&SecretString, AppError> {
        self.station_pin.as_ref().ok_or_else(|| {
            Rejection::new(
                "station_pin",
                "required",
                "工作站令牌PIN",
                "未提供工作站令牌的PIN码",
                "请由运维人员设置环境变量 KIOSK_STATION_PIN 后重试",
                "the station token PIN is not set",
                "set KIOSK_STATION_PIN",
            )
            .into()
        })
    }
}

/// What `key show` prints: what the seeds' 读取证书 shows.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub key_serial: String,
    pub token_label: String,
    pub model: String,
    /// Whether the user PIN is locked, and what to do about it.
    pub lock: LockStatus,
    pub certificate_serial: Option<String>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub objects: Vec<String>,
    pub stock: Option<StockKey>,
}

/// A key's PIN state as the counter shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockStatus {
    pub locked: bool,
    /// Wrong PINs this station has seen since the key was last set up or
    /// unlocked.
    pub wrong_pins: u32,
    /// What the clerk tells the applicant, when there is something to tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Keys lock after this many wrong PINs [004].
pub const PIN_TRIES: u32 = 10;

/// Whether a key is locked: the token says so (a real key counts its own
/// tries), or this station has counted [`PIN_TRIES`] wrong PINs for it (a
/// token that never locks, such as SoftHSM2, still shows as locked).
pub fn lock_status(token: &TokenInfo, wrong_pins: u32) -> LockStatus {
    let locked = token.pin_locked || wrong_pins >= PIN_TRIES;
    let hint = if locked {
        Some("介质PIN码已锁死：请携带单位数字证书申请表、统一社会信用代码证复印件和经办人身份证件办理PIN码解锁（免费）".to_string())
    } else if token.pin_count_low || wrong_pins > 0 {
        Some(format!(
            "PIN码已输错 {wrong_pins} 次，连续输错 {PIN_TRIES} 次介质将被锁死；忘记PIN码请办理PIN码解锁"
        ))
    } else {
        None
    };
    LockStatus {
        locked,
        wrong_pins,
        hint,
    }
}

/// The outcome of a personalization.
#[derive(Debug, Clone, Serialize)]
pub struct Personalized {
    pub order_id: String,
    pub key_serial: String,
    pub token_label: String,
    pub certificate_serial: String,
    pub not_after: String,
    pub certificate_pem: String,
    pub chain_pem: String,
    pub attempt: i64,
}

impl Station {
    fn ca_dir(&self) -> Result<PathBuf, AppError> {
        let dir = self.data_dir().join("ca");
        fs::create_dir_all(&dir).map_err(|e| AppError::io(dir.display(), e))?;
        Ok(dir)
    }

    pub(crate) fn station_session(
        &self,
        m: &Module,
        cfg: &KeyConfig,
    ) -> Result<TokenSession, AppError> {
        let token = m.by_label(&cfg.station_token)?;
        let s = m.open(&token)?;
        s.login_user(cfg.station_pin()?)?;
        Ok(s)
    }

    /// Makes a demo root and the station sub-CA in the station token (made
    /// too, when missing). For development and the demo only: a real
    /// station gets its sub-CA from the central CA (`ca csr`, `ca import`).
    pub fn ca_init_demo(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        operator: &str,
    ) -> Result<StationCa, AppError> {
        if self
            .store()
            .station_ca()?
            .is_some_and(|c| c.cert_der.is_some())
        {
            return Err(Rejection::new(
                "station_ca",
                "already_initialised",
                "签发CA",
                "本工作站已有签发CA证书",
                "如需更换，请走 kioskctl ca csr / ca import 流程",
                "the station already has its issuing CA",
                "use ca csr / ca import to replace it",
            )
            .into());
        }
        let pin = cfg.station_pin()?;
        if m.by_label(&cfg.station_token).is_err() {
            m.init_token(m.free_slot()?, pin, &cfg.station_token)?;
            let t = m.by_label(&cfg.station_token)?;
            let s = m.open(&t)?;
            s.login_so(pin)?;
            s.init_user_pin(pin)?;
            s.logout()?;
        }
        let s = self.station_session(m, cfg)?;
        for label in [ROOT_KEY, CA_KEY] {
            if s.key_id_by_label(label).is_err() {
                s.generate_p256(label.as_bytes(), label)?;
            }
        }
        s.ensure_master_secret(MASTER)?;
        let now = OffsetDateTime::now_utc();
        let root_key = TokenSigner::new(&s, ROOT_KEY.as_bytes())?;
        let root_subject = SubjectSpec {
            common_name: "演示根CA（仅供演示）".into(),
            organization: Some("CA 服务柜台工作站演示".into()),
            organizational_unit: None,
            extra: vec![],
        };
        let root = self_signed_ca(
            &root_key,
            &root_subject,
            now,
            now + time::Duration::days(3650),
            &serial(&s)?,
        )?;
        let ca_key = TokenSigner::new(&s, CA_KEY.as_bytes())?;
        let ca_subject = SubjectSpec {
            common_name: format!("柜台工作站签发CA {}", &self.store().station_id()[..8]),
            organization: Some("CA 服务柜台工作站演示".into()),
            organizational_unit: Some("受理点".into()),
            extra: vec![],
        };
        let sub = sub_ca(
            &ca_key,
            &ca_subject,
            &root,
            &root_key,
            now,
            now + time::Duration::days(1825),
            &serial(&s)?,
        )?;
        self.install_ca(cfg, sub, pem(&root, "CERTIFICATE"), operator)
    }

    /// Makes the station's issuing key pair in the station token (and the
    /// SO PIN master) and a PKCS#10 request for the central CA, written to
    /// `ca/station-ca.csr`.
    pub fn ca_csr(&mut self, m: &Module, cfg: &KeyConfig) -> Result<PathBuf, AppError> {
        let s = self.station_session(m, cfg)?;
        if s.key_id_by_label(CA_KEY).is_err() {
            s.generate_p256(CA_KEY.as_bytes(), CA_KEY)?;
        }
        s.ensure_master_secret(MASTER)?;
        let key = TokenSigner::new(&s, CA_KEY.as_bytes())?;
        let subject = SubjectSpec {
            common_name: format!("柜台工作站签发CA {}", &self.store().station_id()[..8]),
            organization: None,
            organizational_unit: Some("受理点".into()),
            extra: vec![],
        };
        let der = csr(&key, &subject)?;
        let path = self.ca_dir()?.join("station-ca.csr");
        write_file(&path, &pem(&der, "CERTIFICATE REQUEST"))?;
        Ok(path)
    }

    /// Installs the sub-CA certificate the central CA issued (PEM, the
    /// sub-CA first, then its chain). Its key must be the station token's.
    pub fn ca_import(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        path: &std::path::Path,
        operator: &str,
    ) -> Result<StationCa, AppError> {
        let text = fs::read_to_string(path).map_err(|e| AppError::io(path.display(), e))?;
        let mut certs = kiosk_keys::pem_blocks(&text)
            .into_iter()
            .filter(|(l, _)| l == "CERTIFICATE")
            .map(|(_, d)| d);
        let bad = |problem: &str| -> AppError {
            Rejection::new(
                "certificate",
                "bad_ca_certificate",
                "签发CA证书",
                problem,
                "请导入中心CA为本工作站签发的证书文件（PEM）",
                problem,
                "import the certificate the central CA issued for this station",
            )
            .into()
        };
        let cert = certs.next().ok_or_else(|| bad("文件中没有证书"))?;
        let rest: Vec<u8> = certs
            .flat_map(|c| pem(&c, "CERTIFICATE").into_bytes())
            .collect();
        let s = self.station_session(m, cfg)?;
        let id = s
            .key_id_by_label(CA_KEY)
            .map_err(|_| bad("工作站令牌中没有签发密钥，请先执行 kioskctl ca csr"))?;
        let key = TokenSigner::new(&s, &id)?;
        let info = certificate_info(&cert)?;
        if info.public_point != key.public_point() {
            return Err(bad("该证书的公钥与本工作站令牌中的签发密钥不符"));
        }
        if info.not_after <= OffsetDateTime::now_utc() {
            return Err(bad("该证书已过期"));
        }
        drop(key);
        self.install_ca(
            cfg,
            cert,
            String::from_utf8(rest).unwrap_or_default(),
            operator,
        )
    }

    /// Installs the sub-CA certificate and writes the PEM files.
    /// `chain_tail` is the PEM of the certificates above the sub-CA; the
    /// last of them is written as `ca/root.pem`.
    fn install_ca(
        &mut self,
        cfg: &KeyConfig,
        cert: Vec<u8>,
        chain_tail: String,
        operator: &str,
    ) -> Result<StationCa, AppError> {
        let dir = self.ca_dir()?;
        let chain = pem(&cert, "CERTIFICATE") + &chain_tail;
        write_file(&dir.join("station-ca.pem"), &pem(&cert, "CERTIFICATE"))?;
        write_file(&dir.join("chain.pem"), &chain)?;
        if let Some((_, root)) = kiosk_keys::pem_blocks(&chain_tail).last() {
            write_file(&dir.join("root.pem"), &pem(root, "CERTIFICATE"))?;
        }
        let ca = StationCa {
            token_label: cfg.station_token.clone(),
            key_label: CA_KEY.into(),
            cert_der: Some(cert),
            chain_pem: Some(chain),
            crl_number: 0,
            crl_url: self.rules()?.catalog().profile("").crl_url,
        };
        let actor = Actor::operator(operator);
        let now = self.now();
        self.store_mut()
            .write(&actor, now, |w| w.station_ca_set(&ca))?;
        Ok(ca)
    }

    /// Registers a blank key received from the vendor.
    pub fn stock_add(
        &mut self,
        serial: &str,
        model: &str,
        batch: &str,
        received_on: NaiveDate,
        clerk: &str,
    ) -> Result<StockKey, AppError> {
        let serial = serial.trim().to_ascii_lowercase();
        if serial.is_empty() || !serial.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Rejection::new(
                "serial",
                "format",
                "介质序列号",
                format!("“{serial}”不是有效的介质序列号"),
                "请按介质外壳或读卡工具显示的序列号填写（字母和数字）",
                "not a valid key serial",
                "use the serial printed on the key",
            )
            .into());
        }
        let key = StockKey {
            serial,
            model: model.trim().to_string(),
            batch: batch.trim().to_string(),
            received_on: received_on.to_string(),
            state: "in-stock".into(),
            order_id: None,
            first_issued_on: None,
            updated_at: String::new(),
        };
        let now = self.now();
        self.store_mut()
            .write(&Actor::clerk(clerk), now, |w| w.stock_add(&key))?;
        Ok(self.store().stock_key(&key.serial)?.unwrap_or(key))
    }

    /// Reads a key the way the seeds' 读取证书 does.
    pub fn key_show(&self, m: &Module, serial: &str) -> Result<KeyView, AppError> {
        let t = m.by_serial(serial)?;
        let s = m.open(&t)?;
        let certs = s.values(ObjectClass::CERTIFICATE, None)?;
        let info = certs.first().map(|der| certificate_info(der)).transpose()?;
        Ok(KeyView {
            key_serial: t.serial.clone(),
            token_label: t.label.clone(),
            model: t.model.clone(),
            lock: lock_status(&t, self.store().wrong_pins(&t.serial.to_ascii_lowercase())?),
            certificate_serial: info.as_ref().map(|i| i.serial.clone()),
            subject: info.as_ref().map(|i| i.subject.clone()),
            issuer: info.as_ref().map(|i| i.issuer.clone()),
            not_before: info.as_ref().map(|i| i.not_before.to_string()),
            not_after: info.as_ref().map(|i| i.not_after.to_string()),
            objects: s
                .objects()?
                .into_iter()
                .map(|o| format!("{} {} {}", o.class, o.label, o.id))
                .collect(),
            stock: self.store().stock_key(&t.serial)?,
        })
    }

    /// Writes the certificate and seal for a paid new-issue order onto a
    /// blank key from stock. `pin` is the applicant's new user PIN.
    #[allow(clippy::too_many_arguments)]
    pub fn personalize(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        order_key: &str,
        key_serial: &str,
        pin: &SecretString,
        seal_png: &[u8],
        clerk: &str,
    ) -> Result<Personalized, AppError> {
        let order = self.find_order(order_key)?;
        let key_serial = key_serial.trim().to_ascii_lowercase();
        // Killed after the last step committed but before it was journaled:
        // the order is complete and the key issued; say so again.
        if order.state == OrderState::Completed {
            let issued = self.store().stock_key(&key_serial)?.is_some_and(|k| {
                k.state == "issued" && k.order_id.as_deref() == Some(order.id.as_str())
            });
            let active = self
                .store()
                .certificates(Some(&key_serial), Some(&order.id))?
                .into_iter()
                .find(|c| c.state == "active");
            if let (true, Some(cert)) = (issued, active) {
                let attempt = self
                    .store()
                    .journal_entries(&order.id)?
                    .iter()
                    .map(|e| e.attempt)
                    .max()
                    .unwrap_or(1);
                let now = self.now();
                let line = ("complete".to_string(), "done", json!({ "resumed": true }));
                self.store()
                    .journal(&order.id, &key_serial, attempt, &[line], now)?;
                return self.personalized(&order, &key_serial, &cert.der, attempt);
            }
        }
        check_operation(
            &order,
            &[
                Operation::New,
                Operation::ReplaceLost,
                Operation::ReplaceDamaged,
                Operation::Upgrade,
            ],
        )?;
        let replaced = self.replaced_certificate(&order)?;
        let profile = self_profile(self, &order)?;
        let ca = self.usable_ca()?;
        let stock = self.check_stock(&order, &key_serial)?;
        validate::upload("seal.png", seal_png).map_err(|e| e.at("seal", "电子印章图片"))?;
        let token = m.by_serial(&key_serial)?;
        let (station, so_pin, attempt) = self.begin(m, cfg, &order, &key_serial, None, clerk)?;
        let mut run = Run::new(self, cfg, &order.id, &key_serial, attempt);
        let actor = Actor::clerk(clerk);

        run.step("prepare", json!({ "stock_state": stock.state }), |st| {
            let now = st.now();
            let mut started = order.clone();
            let from = (started.state, started.revision);
            let start = from.0 == OrderState::AwaitingProduction;
            if start {
                started.apply(&Command::StartProduction, now)?;
            }
            st.store_mut().write(&actor, now, |w| {
                if stock.state != "assigned" {
                    w.stock_set(&key_serial, "assigned", Some(&order.id), None)?;
                }
                if start {
                    w.save_transition(from.0, from.1, &started, &Command::StartProduction)?;
                }
                Ok(())
            })?;
            Ok(json!({}))
        })?;

        let label = format!("KIOSK {}", order.number);
        run.step("init-token", json!({ "label": label }), |_| {
            // The derived SO PIN opens a key this station touched before;
            // the vendor's transport PIN opens a fresh one.
            let used = match m.init_token(token.slot, &so_pin, &label) {
                Ok(()) => "derived",
                Err(kiosk_keys::KeyError::WrongPin) | Err(kiosk_keys::KeyError::PinLocked) => {
                    let transport = cfg
                        .transport_so_pin
                        .as_ref()
                        .ok_or_else(transport_missing)?;
                    m.init_token(token.slot, transport, &label)?;
                    "transport"
                }
                Err(e) => return Err(e.into()),
            };
            Ok(json!({ "so_pin": used }))
        })?;
        // Re-initialising keeps the token's serial and slot.
        let key = m.open(&token)?;

        run.step("set-pins", json!({}), |_| {
            if key.login_so(&so_pin).is_err() {
                let transport = cfg
                    .transport_so_pin
                    .as_ref()
                    .ok_or_else(transport_missing)?;
                key.login_so(transport)?;
                key.set_pin(transport, &so_pin)?;
            }
            key.init_user_pin(pin)?;
            key.logout()?;
            Ok(json!({}))
        })?;

        key.login_user(pin)?;
        let id = key.random(8)?;
        let mut point = Vec::new();
        run.step(
            "generate-key",
            json!({ "id": hex::encode(&id), "algorithm": profile.key_algorithm }),
            |_| {
                point = key.generate(key_kind(&profile), &id, "company")?.1;
                Ok(json!({}))
            },
        )?;
        let user_key = TokenSigner::new(&key, &id)?;
        let subject = subject_for(&order, &profile);
        let mut request = Vec::new();
        run.step("request", json!({}), |_| {
            request = csr(&user_key, &subject)?;
            Ok(json!({}))
        })?;

        let ca_cert = ca.cert_der.clone().unwrap_or_default();
        let ca_key = TokenSigner::new(&station, CA_KEY.as_bytes())?;
        let today = run.station.today();
        // A replacement keeps the original validity [004]; a new issue runs
        // N years from today.
        let not_after = match &replaced {
            Some(old) => old.not_after.parse().unwrap_or(today),
            None => add_years(today, order.application.years.unwrap_or(1)),
        };
        let serial_bytes = serial(&station)?;
        let mut cert = Vec::new();
        run.step(
            "issue",
            json!({ "serial": hex::encode(&serial_bytes) }),
            |st| {
                let now = OffsetDateTime::now_utc();
                cert = issue(
                    &request,
                    &point,
                    &subject,
                    &ca_cert,
                    &ca_key,
                    now,
                    end_of_day(not_after),
                    &serial_bytes,
                    &extensions(&profile),
                )?;
                record_issued(st, &actor, &cert, &ca_cert, not_after, &key_serial, &order)?;
                Ok(json!({}))
            },
        )?;
        let info = certificate_info(&cert)?;

        run.step("write-certificate", json!({}), |_| {
            key.put_certificate(&id, "company", &cert, &kiosk_keys::subject_der(&cert)?)?;
            Ok(json!({}))
        })?;

        let seal_record = signed_seal_record(&ca_key, &order, &info.serial, seal_png)?;
        run.step("write-seal", json!({}), |_| {
            key.put_data(SEAL_APP, "seal.png", seal_png)?;
            key.put_data(SEAL_APP, "seal-record.json", &seal_record)?;
            Ok(json!({}))
        })?;

        run.step("verify", json!({}), |_| {
            let on_key = key.values(ObjectClass::CERTIFICATE, None)?;
            let seal = key.values(ObjectClass::DATA, Some("seal.png"))?;
            if on_key != [cert.clone()] || seal != [seal_png.to_vec()] {
                return Err(kiosk_keys::KeyError::X509(
                    "what was read back differs from what was written".into(),
                )
                .into());
            }
            let challenge = key.random(32)?;
            let sig = user_key.sign_der(&challenge)?;
            if !verify_signature(&info, &challenge, &sig) {
                return Err(kiosk_keys::KeyError::X509(
                    "the key's signature does not verify with its certificate".into(),
                )
                .into());
            }
            Ok(json!({}))
        })?;

        run.step("complete", json!({}), |st| {
            let now = st.now();
            let mut done = st.find_order(&order.id)?;
            let from = (done.state, done.revision);
            done.apply(&Command::Complete, now)?;
            let today = st.today().to_string();
            st.store_mut().write(&actor, now, |w| {
                w.stock_set(&key_serial, "issued", Some(&order.id), Some(&today))?;
                w.certificate_state(&info.serial, "active", None)?;
                if let Some(old) = &replaced {
                    // Lost: the old certificate is revoked automatically [004].
                    let (reason, key_state) = match done.application.operation {
                        Operation::ReplaceLost => (1, "retired"),
                        Operation::Upgrade => (4, "retired"),
                        _ => (4, "defective"),
                    };
                    w.certificate_state(&old.serial, "revoked", Some(reason))?;
                    if let Some(k) = &old.key_serial {
                        w.stock_set(k, key_state, old.order_id.as_deref(), None)?;
                    }
                }
                w.save_transition(from.0, from.1, &done, &Command::Complete)
            })?;
            Ok(json!({}))
        })?;

        run.finish()?;
        run.station
            .personalized(&order, &key_serial, &cert, attempt)
    }

    /// The result of a finished personalization, with the certificate
    /// written next to the chain as PEM.
    pub(crate) fn personalized(
        &self,
        order: &Order,
        key_serial: &str,
        cert: &[u8],
        attempt: i64,
    ) -> Result<Personalized, AppError> {
        let info = certificate_info(cert)?;
        let dir = self.ca_dir()?;
        let cert_path = dir.join(format!("{}.pem", info.serial));
        write_file(&cert_path, &pem(cert, "CERTIFICATE"))?;
        let not_after = self
            .store()
            .certificate(&info.serial)?
            .map(|c| c.not_after)
            .unwrap_or_default();
        Ok(Personalized {
            order_id: order.id.clone(),
            key_serial: key_serial.to_string(),
            token_label: format!("KIOSK {}", order.number),
            certificate_serial: info.serial,
            not_after,
            certificate_pem: cert_path.display().to_string(),
            chain_pem: dir.join("chain.pem").display().to_string(),
            attempt,
        })
    }

    /// The active certificate a replacement or an operation on an existing
    /// key acts on, named by the application.
    pub(crate) fn replaced_certificate(
        &self,
        order: &Order,
    ) -> Result<Option<CertRecord>, AppError> {
        if order.application.operation == Operation::New {
            return Ok(None);
        }
        let serial = order
            .application
            .certificate
            .as_ref()
            .and_then(|c| c.serial.clone())
            .map(|s| s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                AppError::from(Rejection::new(
                    "certificate.serial",
                    "required",
                    "原证书序列号",
                    "未填写原证书序列号",
                    "请读取原介质（kioskctl key show）或查询原订单，填写原证书序列号",
                    "the original certificate's serial is missing",
                    "read it from the old key or its order",
                ))
            })?;
        let cert = self.store().certificate(&serial)?.ok_or_else(|| {
            AppError::from(Rejection::new(
                "certificate.serial",
                "unknown_certificate",
                "原证书序列号",
                format!("本站没有序列号为 {serial} 的证书记录"),
                "请核对序列号；其他受理点签发的证书，请同步后再办理",
                format!("this station has no certificate {serial}"),
                "check the serial, or sync first",
            ))
        })?;
        if cert.state != "active" {
            return Err(Rejection::new(
                "certificate.serial",
                "certificate_not_active",
                "原证书序列号",
                format!("证书 {serial} 当前状态为“{}”，不是有效证书", cert.state),
                "已吊销或已被替换的证书不能再办理此业务",
                format!("certificate {serial} is {}", cert.state),
                "use the current certificate",
            )
            .into());
        }
        Ok(Some(cert))
    }

    /// Revokes what an interrupted attempt signed but never finished.
    /// `keep` names a certificate an interrupted attempt already put on the
    /// key, which the rerun carries forward instead.
    pub(crate) fn void_unfinished(
        &mut self,
        order: &Order,
        key_serial: &str,
        keep: Option<&str>,
        clerk: &str,
    ) -> Result<(), AppError> {
        let stale: Vec<String> = self
            .store()
            .certificates(Some(key_serial), Some(&order.id))?
            .into_iter()
            .filter(|c| c.state == "issued" && Some(c.serial.as_str()) != keep)
            .map(|c| c.serial)
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        let now = self.now();
        self.store_mut().write(&Actor::clerk(clerk), now, |w| {
            for s in &stale {
                // cessationOfOperation: never handed out, the key is wiped.
                w.certificate_state(s, "revoked", Some(5))?;
            }
            Ok(())
        })?;
        Ok(())
    }

    pub(crate) fn usable_ca(&self) -> Result<StationCa, AppError> {
        let ca = self.store().station_ca()?.filter(|c| c.cert_der.is_some()).ok_or_else(|| {
            Rejection::new(
                "station_ca",
                "no_station_ca",
                "签发CA",
                "本工作站尚未安装签发CA证书",
                "请运维人员执行 kioskctl ca csr 并导入中心签发的证书（演示环境：kioskctl ca init --demo）",
                "the station has no issuing CA",
                "run kioskctl ca csr / ca import (demo: ca init --demo)",
            )
        })?;
        let info = certificate_info(ca.cert_der.as_deref().unwrap_or_default())?;
        if info.not_after <= OffsetDateTime::now_utc() {
            return Err(Rejection::new(
                "station_ca",
                "station_ca_expired",
                "签发CA",
                format!(
                    "本工作站的签发CA证书已于 {} 过期，不能再签发证书",
                    info.not_after.date()
                ),
                "请联网同步以获取更新的签发CA证书，或联系中心CA",
                "the station's issuing CA has expired",
                "sync to get a renewed sub-CA certificate",
            )
            .into());
        }
        Ok(ca)
    }

    fn check_stock(&self, order: &Order, key_serial: &str) -> Result<StockKey, AppError> {
        let refuse = |code, problem: String, action: &str| -> AppError {
            Rejection::new(
                "key_serial",
                code,
                "介质",
                problem,
                action,
                format!("key {key_serial}: {code}"),
                "use another key",
            )
            .into()
        };
        let stock = self.store().stock_key(key_serial)?.ok_or_else(|| {
            refuse(
                "not_in_stock",
                format!("介质 {key_serial} 未登记入库"),
                "请使用已入库的空白介质，或先用 kioskctl stock add 登记",
            )
        })?;
        match (stock.state.as_str(), stock.order_id.as_deref()) {
            ("in-stock", _) => Ok(stock),
            ("assigned", Some(o)) if o == order.id => Ok(stock),
            ("assigned", Some(_)) => Err(refuse(
                "key_of_other_order",
                format!("介质 {key_serial} 已分配给其他订单"),
                "请换一支空白介质",
            )),
            (state, _) => Err(refuse(
                "key_not_available",
                format!("介质 {key_serial} 当前状态为“{state}”，不是空白库存"),
                "请换一支空白介质",
            )),
        }
    }

    /// Signs a fresh CRL of everything this station revoked and writes it to
    /// `ca/station.crl`.
    pub fn crl(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        operator: &str,
    ) -> Result<(PathBuf, i64, usize), AppError> {
        let ca = self.usable_ca()?;
        let ca_cert = ca.cert_der.clone().unwrap_or_default();
        let issuer = certificate_info(&ca_cert)?.serial;
        let revoked: Vec<Revoked> = self
            .store()
            .revoked(&issuer)?
            .into_iter()
            .map(|c| Revoked {
                serial: hex::decode(&c.serial).unwrap_or_default(),
                at: OffsetDateTime::now_utc(),
                reason: c.revocation_reason.unwrap_or(0),
            })
            .collect();
        let s = self.station_session(m, cfg)?;
        let key = TokenSigner::new(&s, CA_KEY.as_bytes())?;
        let number = ca.crl_number + 1;
        let now = OffsetDateTime::now_utc();
        let der = revocation_list(
            &ca_cert,
            &key,
            &revoked,
            number as u64,
            now,
            now + time::Duration::days(7),
        )?;
        let at = self.now();
        self.store_mut()
            .write(&Actor::operator(operator), at, |w| {
                w.crl_issued(number, &der, revoked.len())
            })?;
        let path = self.ca_dir()?.join("station.crl");
        write_file(&path, &pem(&der, "X509 CRL"))?;
        Ok((path, number, revoked.len()))
    }

    /// Revokes an active certificate (吊销); the next CRL lists it.
    pub fn revoke_certificate(
        &mut self,
        serial: &str,
        reason: u8,
        clerk: &str,
    ) -> Result<CertRecord, AppError> {
        let c = self
            .store()
            .certificate(serial)?
            .ok_or_else(|| AppError::NotFound {
                what: "证书",
                key: serial.to_string(),
            })?;
        if c.state == "revoked" {
            return Ok(c);
        }
        let now = self.now();
        self.store_mut().write(&Actor::clerk(clerk), now, |w| {
            w.certificate_state(&c.serial, "revoked", Some(reason))
        })?;
        Ok(self.store().certificate(serial)?.unwrap_or(c))
    }
}

/// One personalization attempt: journals each step before it runs. A step's
/// "done" line is written in the same commit as the next step's "started"
/// (and the last one on its own), so each step costs one durable commit.
pub(crate) struct Run<'a> {
    pub(crate) station: &'a mut Station,
    pub(crate) cfg: &'a KeyConfig,
    pub(crate) order_id: String,
    pub(crate) key_serial: String,
    pub(crate) attempt: i64,
    pub(crate) done: Option<(String, serde_json::Value)>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(
        station: &'a mut Station,
        cfg: &'a KeyConfig,
        order_id: &str,
        key_serial: &str,
        attempt: i64,
    ) -> Run<'a> {
        Run {
            station,
            cfg,
            order_id: order_id.to_string(),
            key_serial: key_serial.to_string(),
            attempt,
            done: None,
        }
    }

    pub(crate) fn step(
        &mut self,
        name: &str,
        detail: serde_json::Value,
        action: impl FnOnce(&mut Station) -> Result<serde_json::Value, AppError>,
    ) -> Result<(), AppError> {
        let mut lines = Vec::with_capacity(2);
        if let Some((step, out)) = self.done.take() {
            lines.push((step, "done", out));
        }
        lines.push((name.to_string(), "started", detail));
        self.journal(lines)?;
        match action(self.station) {
            Ok(out) => {
                if self.cfg.kill_at_step.as_deref() == Some(name) {
                    // A real kill -9, not an unwind: nothing after this runs.
                    let _ = rustix::process::kill_process(
                        rustix::process::getpid(),
                        rustix::process::Signal::KILL,
                    );
                }
                self.done = Some((name.to_string(), out));
                Ok(())
            }
            Err(e) => {
                let _ = self.journal(vec![(
                    name.to_string(),
                    "failed",
                    json!({ "code": e.code() }),
                )]);
                Err(e)
            }
        }
    }

    /// Writes the last step's "done".
    pub(crate) fn finish(&mut self) -> Result<(), AppError> {
        if let Some((step, out)) = self.done.take() {
            self.journal(vec![(step, "done", out)])?;
        }
        Ok(())
    }

    fn journal(&mut self, lines: Vec<(String, &str, serde_json::Value)>) -> Result<(), AppError> {
        let now = self.station.now();
        Ok(self.station.store().journal(
            &self.order_id,
            &self.key_serial,
            self.attempt,
            &lines,
            now,
        )?)
    }
}

pub(crate) fn check_operation(order: &Order, allowed: &[Operation]) -> Result<(), AppError> {
    if !allowed.contains(&order.application.operation) {
        return Err(Rejection::new(
            "operation",
            "not_built",
            "业务类型",
            format!(
                "{}不能用此流程办理",
                order.application.operation.label_zh()
            ),
            "请按订单的业务类型办理（新办与补办写入新介质，更新、变更、升级、解锁、吊销在原介质上办理）",
            format!(
                "personalization for {} is not available yet",
                order.application.operation
            ),
            "refer the applicant to the central CA",
        )
        .into());
    }
    match order.state {
        OrderState::AwaitingProduction | OrderState::InProduction => Ok(()),
        s => Err(Rejection::new(
            "state",
            "invalid_transition",
            "订单状态",
            format!("订单当前为“{}”，不能制证", s.label_zh()),
            "请先完成材料审核与收费",
            format!("the order is {}", s.as_str()),
            "check materials and take the fee first",
        )
        .into()),
    }
}

/// The issuance profile of the order's provider.
pub(crate) fn self_profile(
    st: &Station,
    order: &Order,
) -> Result<kiosk_domain::catalog::IssuanceProfile, AppError> {
    Ok(st.rules()?.catalog().profile(&order.application.provider))
}

/// The key kind a profile asks for.
pub(crate) fn key_kind(profile: &kiosk_domain::catalog::IssuanceProfile) -> kiosk_keys::KeyKind {
    match profile.key_algorithm {
        KeyAlgorithm::EcP256 => kiosk_keys::KeyKind::P256,
        KeyAlgorithm::Rsa2048 => kiosk_keys::KeyKind::Rsa2048,
    }
}

/// The profile's key usages, extended key usages, CRL and AIA addresses.
pub(crate) fn extensions(
    profile: &kiosk_domain::catalog::IssuanceProfile,
) -> kiosk_keys::Extensions {
    use kiosk_domain::catalog::{ExtendedKeyUsage as E, KeyUsage as K};
    use kiosk_keys::{ExtendedKeyUsagePurpose as XP, KeyUsagePurpose as KP};
    let key_usages = profile
        .key_usage
        .iter()
        .map(|k| match k {
            K::DigitalSignature => KP::DigitalSignature,
            K::NonRepudiation => KP::ContentCommitment,
            K::KeyEncipherment => KP::KeyEncipherment,
            K::DataEncipherment => KP::DataEncipherment,
            K::KeyAgreement => KP::KeyAgreement,
        })
        .collect();
    let extended_key_usages = profile
        .extended_key_usage
        .iter()
        .map(|e| match e {
            E::ClientAuth => XP::ClientAuth,
            E::EmailProtection => XP::EmailProtection,
            E::CodeSigning => XP::CodeSigning,
        })
        .collect();
    kiosk_keys::Extensions {
        key_usages,
        extended_key_usages,
        crl_url: Some(profile.crl_url.clone()).filter(|u| !u.is_empty()),
        ca_issuers_url: profile.ca_issuers_url.clone(),
    }
}

/// CN = O = OU = 单位名称, C = CN, and the USCC where the profile says.
pub(crate) fn subject_for(
    order: &Order,
    profile: &kiosk_domain::catalog::IssuanceProfile,
) -> SubjectSpec {
    let org = &order.application.organization;
    let oid = match profile.uscc_attribute {
        UsccAttribute::SerialNumber => vec![2, 5, 4, 5],
        UsccAttribute::State => vec![2, 5, 4, 8],
    };
    SubjectSpec {
        common_name: org.name.clone(),
        organization: Some(org.name.clone()),
        organizational_unit: Some(org.name.clone()),
        extra: vec![(oid, org.uscc.clone())],
    }
}

/// SO PIN of a key: HMAC-SHA256(master, serial) computed in the station
/// token, as 16 hex digits. Any station holding the master derives it.
pub(crate) fn derive_so_pin(
    station: &TokenSession,
    master: ObjectHandle,
    key_serial: &str,
) -> Result<SecretString, AppError> {
    let mac = station.hmac(master, format!("so-pin:{key_serial}").as_bytes())?;
    Ok(SecretString::from(hex::encode_upper(&mac[..8])))
}

/// A positive serial of 128 random bits from the station token's RNG.
pub(crate) fn serial(s: &TokenSession) -> Result<Vec<u8>, AppError> {
    let mut b = s.random(16)?;
    b[0] = (b[0] & 0x7f) | 0x40;
    Ok(b)
}

/// The last second of a station day (UTC+8).
pub(crate) fn end_of_day(d: NaiveDate) -> OffsetDateTime {
    let t = d
        .and_hms_opt(23, 59, 59)
        .unwrap_or_default()
        .and_utc()
        .timestamp()
        - 8 * 3600;
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn transport_missing() -> AppError {
    Rejection::new(
        "transport_so_pin",
        "required",
        "介质出厂管理员PIN",
        "这是一支新介质，需要厂商的出厂管理员PIN（SO PIN）才能初始化",
        "请运维人员设置 KIOSK_TRANSPORT_SO_PIN 后重试",
        "a fresh key needs the vendor's transport SO PIN",
        "set KIOSK_TRANSPORT_SO_PIN",
    )
    .into()
}

/// PEM armour.
pub(crate) fn pem(der: &[u8], label: &str) -> String {
    let b64 = kiosk_keys::base64(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s + &format!("-----END {label}-----\n")
}

pub(crate) fn write_file(path: &std::path::Path, text: &str) -> Result<(), AppError> {
    fs::write(path, text).map_err(|e| AppError::io(path.display(), e))
}

/// Checks a new user PIN typed twice: 6 to 16 characters, both entries
/// equal, not the factory default nor a trivial sequence. The PIN is only
/// compared, never kept or shown.
pub fn check_new_pin(first: &SecretString, second: &SecretString) -> Result<(), AppError> {
    use kiosk_keys::ExposeSecret;
    let (a, b) = (first.expose_secret(), second.expose_secret());
    let refuse = |code, problem: &str, action: &str| -> AppError {
        Rejection::new(
            "pin",
            code,
            "PIN码",
            problem,
            action,
            code,
            "choose another PIN",
        )
        .into()
    };
    if a != b {
        return Err(refuse(
            "pin_mismatch",
            "两次输入的PIN码不一致",
            "请重新输入两次相同的PIN码",
        ));
    }
    let n = a.chars().count();
    if !(6..=16).contains(&n) || !a.chars().all(|c| c.is_ascii_graphic()) {
        return Err(refuse(
            "pin_format",
            "PIN码须为 6 至 16 位字母、数字或符号",
            "请重新设置PIN码",
        ));
    }
    let bytes = a.as_bytes();
    let same = bytes.iter().all(|&c| c == bytes[0]);
    let ascending = bytes.windows(2).all(|w| w[1] == w[0] + 1);
    let descending = bytes.windows(2).all(|w| w[0] == w[1] + 1);
    if same || ascending || descending {
        return Err(refuse(
            "pin_trivial",
            "PIN码过于简单（如 111111、123456 或出厂默认PIN）",
            "请设置不易被猜到的PIN码",
        ));
    }
    Ok(())
}

/// Records a certificate the moment it is signed, before it goes on a key.
pub(crate) fn record_issued(
    st: &mut Station,
    actor: &Actor,
    cert: &[u8],
    ca_cert: &[u8],
    not_after: chrono::NaiveDate,
    key_serial: &str,
    order: &Order,
) -> Result<(), AppError> {
    let info = certificate_info(cert)?;
    let record = CertRecord {
        serial: info.serial.clone(),
        issuer: certificate_info(ca_cert)?.serial,
        subject: info.subject,
        not_before: info.not_before.to_string(),
        not_after: not_after.to_string(),
        key_serial: Some(key_serial.to_string()),
        order_id: Some(order.id.clone()),
        state: "issued".into(),
        der: cert.to_vec(),
        issued_at: String::new(),
        revoked_at: None,
        revocation_reason: None,
    };
    let now = st.now();
    st.store_mut()
        .write(actor, now, |w| w.certificate_issued(&record))?;
    Ok(())
}

/// The seal record that binds the seal image to the company, its USCC and
/// the certificate, signed by the station's sub-CA.
pub(crate) fn signed_seal_record(
    ca_key: &TokenSigner<'_>,
    order: &Order,
    cert_serial: &str,
    seal_png: &[u8],
) -> Result<Vec<u8>, AppError> {
    let record = json!({
        "company": order.application.organization.name,
        "uscc": order.application.organization.uscc,
        "certificate_serial": cert_serial,
        "image_sha256": hex::encode(kiosk_keys::sha256(seal_png)),
    })
    .to_string();
    let signature = ca_key.sign_der(record.as_bytes())?;
    Ok(
        json!({ "record": record, "signature_hex": hex::encode(&signature) })
            .to_string()
            .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token double: SoftHSM2 never locks a PIN, real keys do.
    fn token(locked: bool, low: bool) -> TokenInfo {
        TokenInfo {
            label: "KIOSK 1".into(),
            serial: "0123456789abcdef".into(),
            model: "ePass".into(),
            manufacturer: "FT".into(),
            initialized: true,
            user_pin_initialized: true,
            pin_locked: locked,
            pin_count_low: low,
            slot: kiosk_keys::slot_for_tests(),
        }
    }

    #[test]
    fn an_expired_station_ca_issues_nothing() {
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let mut st = Station::open(dir.path(), Arc::new(crate::SystemClock)).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap().der().to_vec();
        let ca = StationCa {
            token_label: "kiosk-station".into(),
            key_label: CA_KEY.into(),
            cert_der: Some(cert),
            chain_pem: None,
            crl_number: 0,
            crl_url: String::new(),
        };
        let now = st.now();
        st.store_mut()
            .write(&Actor::system(), now, |w| w.station_ca_set(&ca))
            .unwrap();
        let err = st.usable_ca().unwrap_err();
        assert_eq!(err.code(), "station_ca_expired");
        assert!(
            err.message_zh().contains("已于 2021-01-01 过期"),
            "{}",
            err.message_zh()
        );
    }

    #[test]
    fn locked_keys_show_the_unlock_path() {
        let s = lock_status(&token(true, false), 0);
        assert!(s.locked && s.hint.as_deref().unwrap().contains("PIN码解锁"));
        let s = lock_status(&token(false, false), PIN_TRIES);
        assert!(s.locked, "counted by the station");
        let s = lock_status(&token(false, true), 3);
        assert!(!s.locked && s.hint.as_deref().unwrap().contains("输错 3 次"));
        assert_eq!(lock_status(&token(false, false), 0).hint, None);
    }

    #[test]
    fn pins() {
        let p = |s: &str| SecretString::from(s.to_string());
        assert!(check_new_pin(&p("527913"), &p("527913")).is_ok());
        for (a, b, code) in [
            ("527913", "527914", "pin_mismatch"),
            ("12345", "12345", "pin_format"),
            ("111111", "111111", "pin_trivial"),
            ("123456", "123456", "pin_trivial"),
            ("987654", "987654", "pin_trivial"),
        ] {
            assert_eq!(check_new_pin(&p(a), &p(b)).unwrap_err().code(), code, "{a}");
        }
    }
}
