//! Counter operations on a key the station issued before: unlock, revoke,
//! and the re-certifications (renew, change, upgrade). Like a new issue,
//! every step is journaled, and a rerun after a crash first voids what the
//! interrupted attempt signed and tidies the key back to its last good
//! state, then redoes the steps.

use kiosk_domain::order::{Command, Order, OrderState};
use kiosk_domain::renewal::RenewalMode;
use kiosk_domain::{Operation, Rejection, RevocationReason};
use kiosk_keys::{
    certificate_info, csr, issue, verify_signature, KeyError, Module, ObjectClass, SecretString,
    TokenSession, TokenSigner,
};
use kiosk_store::{Actor, CertRecord};
use serde_json::json;

use crate::keys::{
    check_operation, derive_so_pin, end_of_day, record_issued, self_profile, serial,
    signed_seal_record, subject_for, CA_KEY, MASTER, SEAL_APP,
};
use crate::run::{Run, Step};
use crate::{AppError, KeyConfig, Personalized, Station};

/// Which PIN an operation asks of the applicant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum PinNeed {
    /// A new PIN, typed twice (new key, replacement, unlock).
    New,
    /// The key's current PIN (renew, change, upgrade; the PIN does not change).
    Current,
    None,
}

/// Whether the key work needs an electronic seal the clerk approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SealNeed {
    /// A new key for a new company: no seal without one.
    Required,
    /// A replacement key: the seal of the certificate it replaces is
    /// written unless a new one is approved.
    Optional,
    None,
}

pub fn seal_need(op: Operation) -> SealNeed {
    match op {
        Operation::New => SealNeed::Required,
        Operation::ReplaceLost | Operation::ReplaceDamaged => SealNeed::Optional,
        _ => SealNeed::None,
    }
}

impl Station {
    /// Which PIN an order asks for with this key: an upgrade onto a blank
    /// key (keys that cannot be upgraded in place) sets a new one.
    pub(crate) fn pin_need_for(
        &self,
        order_key: &str,
        key_serial: Option<&str>,
    ) -> Result<PinNeed, AppError> {
        let order = self.find_order(order_key)?;
        Ok(match (order.application.operation, key_serial) {
            (Operation::Upgrade, Some(k))
                if self.is_blank(&order, &k.trim().to_ascii_lowercase())? =>
            {
                PinNeed::New
            }
            (op, _) => pin_need(op),
        })
    }

    /// A key from stock that this order may write: blank, or already
    /// assigned to it.
    fn is_blank(&self, order: &Order, key_serial: &str) -> Result<bool, AppError> {
        Ok(self.store().stock_key(key_serial)?.is_some_and(|k| {
            k.state == "in-stock"
                || (k.state == "assigned" && k.order_id.as_deref() == Some(order.id.as_str()))
        }))
    }

    /// The seal written with the certificate an order replaces.
    fn previous_seal(&self, order: &Order) -> Result<Option<Vec<u8>>, AppError> {
        let old = self.replaced_certificate(order)?;
        match old.and_then(|c| c.order_id) {
            Some(o) => Ok(self.approved_seal(&o)?.map(|(_, png)| png)),
            None => Ok(None),
        }
    }
}

/// Whether the key work writes a blank key from stock (a new issue or a
/// replacement) rather than the applicant's own key.
pub fn writes_blank_key(op: Operation) -> bool {
    matches!(
        op,
        Operation::New | Operation::ReplaceLost | Operation::ReplaceDamaged
    )
}

/// Whether the application names an existing certificate.
pub fn needs_certificate(op: Operation) -> bool {
    op != Operation::New
}

/// The reasons an applicant chooses from: only a revocation asks for one.
pub fn stated_reasons(op: Operation) -> &'static [RevocationReason] {
    match op {
        Operation::Revoke => &RevocationReason::STATED,
        _ => &[],
    }
}

pub fn pin_need(op: Operation) -> PinNeed {
    match op {
        Operation::New | Operation::ReplaceLost | Operation::ReplaceDamaged | Operation::Unlock => {
            PinNeed::New
        }
        Operation::Renew | Operation::Change | Operation::Upgrade => PinNeed::Current,
        Operation::Revoke => PinNeed::None,
    }
}

/// What the applicant and the clerk bring to the key work: the key to
/// write, the PIN as typed (twice when a new one is set), and a seal image
/// that replaces the approved one (a change of the company's seal).
#[derive(Default)]
pub struct KeyWork<'a> {
    pub key_serial: Option<&'a str>,
    pub pin: Option<SecretString>,
    pub pin_again: Option<SecretString>,
    pub seal_png: Option<&'a [u8]>,
    /// Told of each step as it is journaled, for a live display.
    pub progress: Option<crate::ProgressSink>,
}

impl Station {
    /// What an order's key work asks for before it can start: refused
    /// until a supervisor approved an unlock or a revocation, otherwise the
    /// PIN the applicant types. Front ends ask for the PIN only after this.
    pub fn key_work_needs(
        &self,
        order_key: &str,
        key_serial: Option<&str>,
    ) -> Result<PinNeed, AppError> {
        self.check_clock()?;
        self.check_approved(order_key)?;
        self.pin_need_for(order_key, key_serial)
    }

    /// Carries out a paid order on a key: the one entry for every front
    /// end. An unlock or a revocation needs a supervisor's approval first;
    /// a new PIN must be typed the same twice and be a good one.
    pub fn run_order(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        order_key: &str,
        work: KeyWork<'_>,
        clerk: &str,
    ) -> Result<Personalized, AppError> {
        let need = self.key_work_needs(order_key, work.key_serial)?;
        let pin = match need {
            PinNeed::New => {
                let first = work.pin.clone().unwrap_or_else(|| SecretString::from(""));
                let again = work
                    .pin_again
                    .clone()
                    .unwrap_or_else(|| SecretString::from(""));
                crate::keys::check_new_pin(&first, &again)?;
                Some(first)
            }
            PinNeed::Current => work.pin.clone(),
            PinNeed::None => None,
        };
        let before = self.set_progress(work.progress);
        let done = self.carry_out(
            m,
            cfg,
            order_key,
            work.key_serial,
            pin.as_ref(),
            work.seal_png,
            clerk,
        );
        self.set_progress(before);
        done
    }

    /// The one flow per operation, once the order may run.
    #[allow(clippy::too_many_arguments)]
    fn carry_out(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        order_key: &str,
        key_serial: Option<&str>,
        pin: Option<&SecretString>,
        seal_png: Option<&[u8]>,
        clerk: &str,
    ) -> Result<Personalized, AppError> {
        let order = self.find_order(order_key)?;
        let op = order.application.operation;
        let key = key_serial.map(|k| k.trim().to_ascii_lowercase());
        // Killed after the last step committed but before it was journaled:
        // the order is done; say so again.
        if order.state == OrderState::Completed && !writes_blank_key(op) {
            let cert = match self
                .store()
                .certificates(None, Some(&order.id))?
                .into_iter()
                .find(|c| c.state == "active")
            {
                Some(c) => Some(c),
                None => match order
                    .application
                    .certificate
                    .as_ref()
                    .and_then(|c| c.serial.as_deref())
                {
                    Some(serial) => self
                        .store()
                        .certificate(&serial.trim().to_ascii_lowercase())?,
                    None => None,
                },
            };
            if let Some(c) = cert {
                let serial = key.clone().or(c.key_serial.clone()).unwrap_or_default();
                return self.personalized(&order, &serial, &c.der, 0);
            }
        }
        let need_key = || -> Result<String, AppError> {
            key.clone().ok_or_else(|| {
                missing(
                    "key",
                    "介质序列号",
                    "请插入介质并用 --key 指明其序列号",
                    "plug in the key and name its serial (--key)",
                )
            })
        };
        let need_pin =
            || pin.ok_or_else(|| missing("pin", "PIN码", "请输入PIN码", "type the key's PIN"));
        let onto_new_key = match (op, &key) {
            (op, _) if writes_blank_key(op) => true,
            (Operation::Upgrade, Some(k)) => self.is_blank(&order, k)?,
            _ => false,
        };
        match op {
            _ if onto_new_key => {
                // The seal the clerk approved for this order, unless one is
                // given; an upgrade onto a new key keeps the old order's seal.
                let approved = match seal_png {
                    Some(_) => None,
                    None => match self.approved_seal(order_key)? {
                        Some((_, png)) => Some(png),
                        None => self.previous_seal(&order)?,
                    },
                };
                let seal = seal_png.or(approved.as_deref()).ok_or_else(|| {
                    missing(
                        "seal",
                        "电子印章图片",
                        "请先提取并确认电子印章（kioskctl seal extract / approve），或用 --seal 指明图片",
                        "extract and approve the seal first (kioskctl seal extract / approve), or give one with --seal",
                    )
                })?;
                self.personalize(m, cfg, order_key, &need_key()?, need_pin()?, seal, clerk)
            }
            Operation::New | Operation::ReplaceLost | Operation::ReplaceDamaged => {
                unreachable!("new keys above")
            }
            Operation::Unlock => self.unlock(m, cfg, order_key, &need_key()?, need_pin()?, clerk),
            Operation::Revoke => self.revoke_order(m, cfg, order_key, key.as_deref(), clerk),
            Operation::Renew | Operation::Change | Operation::Upgrade => self.recertify(
                m,
                cfg,
                order_key,
                &need_key()?,
                need_pin()?,
                seal_png,
                clerk,
            ),
        }
    }

    /// 解锁: the SO resets the user PIN; the applicant sets a new one.
    fn unlock(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        order_key: &str,
        key_serial: &str,
        pin: &SecretString,
        clerk: &str,
    ) -> Result<Personalized, AppError> {
        let order = self.find_order(order_key)?;
        check_operation(&order, &[Operation::Unlock])?;
        let old = self.replaced_certificate(&order)?.expect("not a new issue");
        same_key(&old, key_serial)?;
        let token = m.by_serial(key_serial)?;
        let (station, so_pin, attempt) = self.begin(m, cfg, &order, key_serial, None, clerk)?;
        drop(station);
        let key = m.open(&token)?;
        let actor = Actor::clerk(clerk);
        let mut run = Run::new(self, cfg, &order.id, key_serial, attempt);
        run.step(Step::Prepare, json!({}), |st| {
            start_production(st, &actor, &order)
        })?;
        run.step(Step::ResetPin, json!({}), |_| {
            key.login_so(&so_pin)?;
            key.init_user_pin(pin)?;
            key.logout()?;
            Ok(json!({}))
        })?;
        run.step(Step::Verify, json!({}), |_| {
            key.login_user(pin)?;
            prove_key(&key, &old.der)
        })?;
        run.step(Step::Complete, json!({}), |st| {
            complete(st, &actor, &order.id, |_| Ok(()))
        })?;
        run.finish()?;
        run.station
            .personalized(&order, key_serial, &old.der, attempt)
    }

    /// 吊销: the certificate is revoked, a CRL signed, and the key wiped
    /// when it is here.
    fn revoke_order(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        order_key: &str,
        key_serial: Option<&str>,
        clerk: &str,
    ) -> Result<Personalized, AppError> {
        let order = self.find_order(order_key)?;
        check_operation(&order, &[Operation::Revoke])?;
        let old = self.replaced_certificate(&order)?.expect("not a new issue");
        if let Some(k) = key_serial {
            same_key(&old, k)?;
        }
        let serial_of_key = key_serial
            .or(old.key_serial.as_deref())
            .unwrap_or("")
            .to_string();
        let (station, so_pin, attempt) = self.begin(m, cfg, &order, &serial_of_key, None, clerk)?;
        drop(station);
        let actor = Actor::clerk(clerk);
        let mut run = Run::new(self, cfg, &order.id, &serial_of_key, attempt);
        run.step(Step::Prepare, json!({}), |st| {
            start_production(st, &actor, &order)
        })?;
        // The applicant's stated reason; intake refuses a revocation without.
        let reason = order
            .application
            .revocation_reason
            .unwrap_or(RevocationReason::Unspecified);
        run.step(
            Step::Revoke,
            json!({ "serial": old.serial, "reason": reason }),
            |st| {
                let now = st.now();
                st.store_mut().write(&actor, now, |w| {
                    w.certificate_state(&old.serial, "revoked", Some(reason.code()))
                })?;
                Ok(json!({}))
            },
        )?;
        run.step(Step::Crl, json!({}), |st| {
            let crl = st.crl(m, cfg, clerk)?;
            Ok(json!({ "number": crl.number }))
        })?;
        let present = key_serial.and_then(|k| m.by_serial(k).ok());
        run.step(
            Step::Wipe,
            json!({ "key_present": present.is_some() }),
            |_| {
                if let Some(t) = &present {
                    m.init_token(t.slot, &so_pin, "REVOKED")?;
                }
                Ok(json!({}))
            },
        )?;
        run.step(Step::Complete, json!({}), |st| {
            complete(st, &actor, &order.id, |w| match &old.key_serial {
                Some(k) => w.stock_set(k, "retired", old.order_id.as_deref(), None),
                None => Ok(()),
            })
        })?;
        run.finish()?;
        run.station
            .personalized(&order, &serial_of_key, &old.der, attempt)
    }

    /// 更新 / 变更 / 算法升级: a new certificate on the applicant's key.
    /// Renewal keeps the key pair and takes its validity from the renewal
    /// window; change takes the new subject; upgrade makes a new key pair
    /// on the key. The PIN does not change.
    #[allow(clippy::too_many_arguments)]
    fn recertify(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        order_key: &str,
        key_serial: &str,
        pin: &SecretString,
        new_seal: Option<&[u8]>,
        clerk: &str,
    ) -> Result<Personalized, AppError> {
        let order = self.find_order(order_key)?;
        check_operation(
            &order,
            &[Operation::Renew, Operation::Change, Operation::Upgrade],
        )?;
        let op = order.application.operation;
        let old = self.replaced_certificate(&order)?.expect("not a new issue");
        same_key(&old, key_serial)?;
        if let Some(seal) = new_seal {
            if op != Operation::Change {
                return Err(Rejection::field("seal", "电子印章图片", "seal_not_changed_here")
                    .zh(
                        format!("{}不更换电子印章", op.label_zh()),
                        "只有证书信息变更可以在柜台更换印章；请去掉印章图片后重新办理",
                    )
                    .en(
                        format!("a {op} does not change the seal"),
                        "only a change of certificate details changes the seal; run it again without a seal image",
                    )
                    .into());
            }
            kiosk_domain::validate::upload("seal.png", seal)
                .map_err(|e| e.at("seal", "电子印章图片"))?;
        }
        let not_after = match op {
            Operation::Renew => renewal_end(&order)?,
            _ => old.not_after.parse().map_err(|e| {
                AppError::Corrupt(format!("certificate {} not_after: {e}", old.serial))
            })?,
        };
        let profile = self_profile(self, &order)?;
        let ca = self.usable_ca()?;
        self.within_issuer(&ca, not_after)?;
        let token = m.by_serial(key_serial)?;
        if op == Operation::Upgrade {
            let rules = self.rules()?;
            let in_place = rules
                .catalog()
                .key_models
                .iter()
                .any(|k| k.pkcs11_model == token.model && k.upgrade_in_place);
            if !in_place {
                return Err(Rejection::field("key", "介质", "upgrade_needs_new_key").zh(format!("该型号介质（{}）不支持在原介质上升级算法", token.model), "请改用一支新介质办理：kioskctl order run 订单 --key 新介质序列号（有效期不变，原证书将被替换）").en(format!("key model {} cannot be upgraded in place", token.model), "use a new key from stock")
                .into());
            }
        }
        let key = m.open(&token)?;
        self.login_counted(&key, key_serial, pin, &order.id)?;
        // A certificate an interrupted attempt already wrote to the key is
        // carried forward (the old one may be gone from the key by then);
        // otherwise the key goes back to its old certificate and the steps
        // are redone.
        let on_key = key.certificates()?;
        let carried = self
            .store()
            .certificates(Some(key_serial), Some(&order.id))?
            .into_iter()
            .find(|c| c.state == "issued" && on_key.iter().any(|k| k.der == c.der));
        let (station, _so_pin, attempt) = self.begin(
            m,
            cfg,
            &order,
            key_serial,
            carried.as_ref().map(|c| c.serial.as_str()),
            clerk,
        )?;
        let id_of = |der: &[u8]| on_key.iter().find(|k| k.der == der).map(|k| k.id.clone());
        let old_id = id_of(&old.der);
        let (keep_der, keep_id) = match (&carried, &old_id) {
            (Some(c), _) => (c.der.clone(), id_of(&c.der).unwrap_or_default()),
            (None, Some(id)) => (old.der.clone(), id.clone()),
            (None, None) => {
                return Err(KeyError::NoObject(format!("certificate {}", old.serial)).into())
            }
        };
        tidy(&key, &keep_der, &keep_id)?;
        let old_id = old_id.unwrap_or_else(|| keep_id.clone());

        let actor = Actor::clerk(clerk);
        let subject = subject_for(&order, &profile);
        let ca_cert = ca.cert_der.clone().unwrap_or_default();
        let ca_key = TokenSigner::new(&station, CA_KEY.as_bytes())?;
        let rekey = op == Operation::Upgrade;
        let mut run = Run::new(self, cfg, &order.id, key_serial, attempt);
        run.step(Step::Prepare, json!({}), |st| {
            start_production(st, &actor, &order)
        })?;
        let id = match &carried {
            Some(_) => keep_id.clone(),
            None if rekey => key.random(8)?,
            None => old_id.clone(),
        };
        if rekey && carried.is_none() {
            run.step(Step::GenerateKey, json!({ "id": hex::encode(&id) }), |_| {
                key.generate(crate::keys::key_kind(&profile), &id, "company")?;
                Ok(json!({}))
            })?;
        }
        let user_key = TokenSigner::new(&key, &id)?;
        let mut cert = carried.as_ref().map(|c| c.der.clone()).unwrap_or_default();
        if carried.is_none() {
            let mut request = Vec::new();
            run.step(Step::Request, json!({}), |_| {
                request = csr(&user_key, &subject)?;
                Ok(json!({}))
            })?;
            let serial_bytes = serial(&station)?;
            run.step(
                Step::Issue,
                json!({ "serial": hex::encode(&serial_bytes) }),
                |st| {
                    let now = crate::clock::x509_time(st.now());
                    cert = issue(
                        &request,
                        user_key.public_point(),
                        &subject,
                        &ca_cert,
                        &ca_key,
                        now,
                        end_of_day(not_after),
                        &serial_bytes,
                        &crate::keys::extensions(&profile, st.station_id()),
                    )?;
                    record_issued(st, &actor, &cert, &ca_cert, not_after, key_serial, &order)?;
                    Ok(json!({}))
                },
            )?;
        }
        let info = certificate_info(&cert)?;
        if carried.is_none() {
            run.step(Step::WriteCertificate, json!({}), |_| {
                key.put_certificate(&id, "company", &cert, &kiosk_keys::subject_der(&cert)?)?;
                Ok(json!({}))
            })?;
        }
        let seal = match new_seal {
            Some(s) => s.to_vec(),
            None => key
                .values(ObjectClass::DATA, Some("seal.png"))?
                .into_iter()
                .next()
                .unwrap_or_default(),
        };
        let record = signed_seal_record(&ca_key, &order, &info.serial, &seal)?;
        run.step(
            Step::WriteSeal,
            json!({ "new_image": new_seal.is_some() }),
            |_| {
                for h in key.find(ObjectClass::DATA, "seal-record.json")? {
                    key.destroy(h)?;
                }
                if new_seal.is_some() {
                    for h in key.find(ObjectClass::DATA, "seal.png")? {
                        key.destroy(h)?;
                    }
                    key.put_data(SEAL_APP, "seal.png", &seal)?;
                }
                key.put_data(SEAL_APP, "seal-record.json", &record)?;
                Ok(json!({}))
            },
        )?;
        run.step(Step::RemoveOld, json!({}), |_| {
            for c in key.certificates()? {
                if c.der != cert {
                    key.destroy(c.handle)?;
                    if rekey && c.id == old_id {
                        for k in key.keys_with_id(&old_id)? {
                            key.destroy(k)?;
                        }
                    }
                }
            }
            Ok(json!({}))
        })?;
        run.step(Step::Verify, json!({}), |_| prove_key(&key, &cert))?;
        run.step(Step::Complete, json!({}), |st| {
            complete(st, &actor, &order.id, |w| {
                w.certificate_state(&info.serial, "active", None)?;
                // A renewal supersedes the old certificate; a change or an
                // upgrade replaces it, so it is revoked (superseded).
                match RevocationReason::implied_by(op) {
                    None => w.certificate_state(&old.serial, "superseded", None),
                    Some(r) => w.certificate_state(&old.serial, "revoked", Some(r.code())),
                }
            })
        })?;
        run.finish()?;
        drop(user_key);
        let done = run.station.personalized(&order, key_serial, &cert, attempt)?;
        self.with_fresh_crl(m, cfg, clerk, done)
    }

    /// Logs in with the applicant's PIN; a wrong PIN is counted for the key,
    /// so a token that never locks still shows as locked after enough tries.
    fn login_counted(
        &self,
        key: &TokenSession,
        key_serial: &str,
        pin: &SecretString,
        subject: &str,
    ) -> Result<(), AppError> {
        match key.login_user(pin) {
            Err(KeyError::WrongPin) => {
                let line = (
                    "login".to_string(),
                    "failed",
                    json!({ "code": "wrong_pin" }),
                );
                self.store()
                    .journal(subject, key_serial, 0, &[line], self.now())?;
                Err(KeyError::WrongPin.into())
            }
            other => Ok(other?),
        }
    }

    /// 修改PIN码: the applicant changes the PIN of a key with the current
    /// one; the new PIN is typed twice and must be a good one.
    pub fn change_pin(
        &self,
        m: &Module,
        key_serial: &str,
        old: &SecretString,
        new: &SecretString,
        new_again: &SecretString,
    ) -> Result<(), AppError> {
        crate::keys::check_new_pin(new, new_again)?;
        let key_serial = key_serial.trim().to_ascii_lowercase();
        let token = m.by_serial(&key_serial)?;
        if crate::keys::lock_status(&token, self.store().wrong_pins(&key_serial)?).locked {
            return Err(KeyError::PinLocked.into());
        }
        let key = m.open(&token)?;
        self.login_counted(&key, &key_serial, old, &format!("key:{key_serial}"))?;
        key.set_pin(old, new)?;
        Ok(())
    }

    /// What every operation on a key does first: the station token session,
    /// the key's SO PIN, the attempt number, and voiding what an
    /// interrupted attempt signed.
    pub(crate) fn begin(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        order: &Order,
        key_serial: &str,
        keep: Option<&str>,
        clerk: &str,
    ) -> Result<(TokenSession, SecretString, i64), AppError> {
        let station = self.station_session(m, cfg)?;
        let master = station
            .secret(MASTER)?
            .ok_or_else(|| KeyError::NoObject(MASTER.into()))?;
        let so_pin = derive_so_pin(&station, master, key_serial)?;
        let attempt = self
            .store()
            .journal_entries(&order.id)?
            .iter()
            .map(|e| e.attempt)
            .max()
            .unwrap_or(0)
            + 1;
        self.void_unfinished(order, key_serial, keep, clerk)?;
        // What an interrupted run revoked, or a CRL near its nextUpdate.
        self.refresh_crl(m, cfg, clerk)?;
        Ok((station, so_pin, attempt))
    }

    /// Re-signs the CRL after key work that revoked a certificate. The
    /// order is done by then: a CRL that cannot be signed now is signed
    /// by the next key work or the timer (it stays due), and the result
    /// says so by carrying no CRL number.
    pub(crate) fn with_fresh_crl(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        clerk: &str,
        mut done: Personalized,
    ) -> Result<Personalized, AppError> {
        done.crl_number = self.refresh_crl(m, cfg, clerk).ok().flatten().map(|c| c.number);
        Ok(done)
    }
}

/// The renewal's new end, from the order's renewal decision.
fn renewal_end(order: &Order) -> Result<chrono::NaiveDate, AppError> {
    let no_decision = || {
        Rejection::field(
            "certificate.not_after",
            "原证书到期日",
            "no_renewal_decision",
        )
        .zh("更新订单缺少续期判定", "请重新受理该更新申请")
        .en(
            "the renewal order has no renewal decision",
            "take the renewal application in again",
        )
        .into()
    };
    match &order.renewal {
        Some(r) if r.mode != RenewalMode::TooEarly => r.new_not_after.ok_or_else(no_decision),
        _ => Err(no_decision()),
    }
}

/// Removes what an interrupted attempt left on a key: certificates other
/// than the last good one, key pairs it does not use, stray seal records.
fn tidy(key: &TokenSession, keep_cert: &[u8], keep_id: &[u8]) -> Result<(), AppError> {
    for c in key.certificates()? {
        if c.der != keep_cert {
            key.destroy(c.handle)?;
        }
    }
    for id in key.private_key_ids()? {
        if id != keep_id {
            for h in key.keys_with_id(&id)? {
                key.destroy(h)?;
            }
        }
    }
    let keep_serial = certificate_info(keep_cert)?.serial;
    let records = key.values(ObjectClass::DATA, Some("seal-record.json"))?;
    let stale = records
        .iter()
        .filter(|r| !String::from_utf8_lossy(r).contains(&keep_serial))
        .count();
    if stale > 0 {
        // Seal records are rewritten in full by the next write-seal step.
        for h in key.find(ObjectClass::DATA, "seal-record.json")? {
            key.destroy(h)?;
        }
    }
    Ok(())
}

/// Reads the certificate back, has the key sign a fresh challenge that its
/// certificate verifies, and decrypt a secret encrypted to its certificate
/// (数字证书加解密测试). Returns the journal line's detail.
fn prove_key(key: &TokenSession, cert: &[u8]) -> Result<serde_json::Value, AppError> {
    let id = key
        .certificates()?
        .into_iter()
        .find(|c| c.der == cert)
        .map(|c| c.id)
        .ok_or_else(|| KeyError::X509("the certificate is not on the key".into()))?;
    let signer = TokenSigner::new(key, &id)?;
    let challenge = key.random(32)?;
    let sig = signer.sign_der(&challenge)?;
    let info = certificate_info(cert)?;
    if !verify_signature(&info, &challenge, &sig) {
        return Err(KeyError::X509(
            "the key's signature does not verify with its certificate".into(),
        )
        .into());
    }
    let decryption = kiosk_keys::decryption_test(key, &id, &info)?;
    Ok(json!({ "signature": "passed", "decryption": decryption.as_str() }))
}

fn start_production(
    st: &mut Station,
    actor: &Actor,
    order: &Order,
) -> Result<serde_json::Value, AppError> {
    let current = st.find_order(&order.id)?;
    if current.state == OrderState::AwaitingProduction {
        st.order_command(&order.id, Command::StartProduction, actor_id(actor))?;
    }
    Ok(json!({}))
}

/// Completes the order together with `more` in one commit.
fn complete(
    st: &mut Station,
    actor: &Actor,
    order_id: &str,
    more: impl FnOnce(&mut kiosk_store::Writer<'_>) -> Result<(), kiosk_store::StoreError>,
) -> Result<serde_json::Value, AppError> {
    let now = st.now();
    let mut done = st.find_order(order_id)?;
    let from = (done.state, done.revision);
    done.apply(&Command::Complete, now)?;
    st.store_mut().write(actor, now, |w| {
        more(w)?;
        w.save_transition(from.0, from.1, &done, &Command::Complete)
    })?;
    Ok(json!({}))
}

fn actor_id(actor: &Actor) -> &str {
    actor
        .as_str()
        .split_once(':')
        .map(|(_, id)| id)
        .unwrap_or(actor.as_str())
}

fn same_key(cert: &CertRecord, key_serial: &str) -> Result<(), AppError> {
    if cert
        .key_serial
        .as_deref()
        .is_some_and(|k| !k.eq_ignore_ascii_case(key_serial))
    {
        return Err(Rejection::field("key", "介质", "wrong_key")
            .zh(
                format!(
                    "插入的介质 {key_serial} 不是证书 {} 所在的介质",
                    cert.serial
                ),
                "请插入该证书所在的原介质",
            )
            .en(
                format!("key {key_serial} does not hold certificate {}", cert.serial),
                "insert the key that holds the certificate",
            )
            .into());
    }
    Ok(())
}

fn missing(field: &str, label: &str, action: &str, action_en: &str) -> AppError {
    Rejection::field(field, label, "required")
        .zh("未提供", action)
        .en("it was not given", action_en)
        .into()
}
