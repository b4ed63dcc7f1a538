//! Counter operations on a key the station issued before: unlock, revoke,
//! and the re-certifications (renew, change, upgrade). Like a new issue,
//! every step is journaled, and a rerun after a crash first voids what the
//! interrupted attempt signed and tidies the key back to its last good
//! state, then redoes the steps.

use kiosk_domain::order::{Command, Order, OrderState};
use kiosk_domain::renewal::RenewalMode;
use kiosk_domain::{Operation, Rejection, RevocationReason};
use kiosk_keys::{certificate_info, KeyError, Module, ObjectClass, SecretString, TokenSession};
use kiosk_store::{Actor, CertRecord};
use serde_json::json;

use crate::keys::{
    check_operation, derive_so_pin, issue_recorded, prove_key, self_profile, serial,
    signed_seal_record, subject_for, Issuance, CA_KEY, MASTER, SEAL_APP,
};
use crate::run::{Run, Step};
use crate::{AppError, KeyConfig, Personalized, Session, Station};
use kiosk_store::{CertState, StockState};

mod pin;
mod recertify;
mod unlock_revoke;

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
            k.state == StockState::InStock
                || (k.state == StockState::Assigned
                    && k.order_id.as_deref() == Some(order.id.as_str()))
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
        by: &Session,
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
            by.clerk_id(),
        );
        self.set_progress(before);
        // The key work's rows, sealed while the token is at hand. A seal
        // that cannot be made now is made by the next one (the timer's).
        if done.is_ok() {
            if let Ok(s) = self.station_session(cfg) {
                let _ = self.seal_audit_in(&s);
            }
        }
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
        // The module the key is in: the station's, or its SM2 module.
        let key_module = match &key {
            Some(k) => self.key_module(m, cfg, k)?,
            None => m.clone(),
        };
        let m = &key_module;
        // Killed after the last step committed but before it was journaled:
        // the order is done; say so again.
        if order.state == OrderState::Completed && !writes_blank_key(op) {
            let cert = match self
                .store()
                .certificates(None, Some(&order.id))?
                .into_iter()
                .find(|c| c.state == CertState::Active)
            {
                Some(c) => Some(c),
                None => match order.application.named_serial() {
                    Some(serial) => self.store().certificate(&serial)?,
                    None => None,
                },
            };
            if let Some(c) = cert {
                let serial = key.clone().or(c.key_serial.clone()).unwrap_or_default();
                return self.personalized_record(&order, &serial, &c, 0);
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
        // A certificate issued elsewhere, on the key at the counter.
        let from_key = match (onto_new_key, &key) {
            (false, Some(k)) => self.read_from_key(m, &order, k)?,
            _ => None,
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
                from_key,
                clerk,
            ),
        }
    }

    /// What every operation on a key does first: the station token session,
    /// the key's SO PIN, the attempt number, and voiding what an
    /// interrupted attempt signed.
    pub(crate) fn begin(
        &mut self,
        cfg: &KeyConfig,
        order: &Order,
        key_serial: &str,
        keep: Option<&str>,
        clerk: &str,
    ) -> Result<(TokenSession, SecretString, i64), AppError> {
        let station = self.station_session(cfg)?;
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
        self.refresh_crl_as(cfg, &Actor::clerk(clerk))?;
        Ok((station, so_pin, attempt))
    }

    /// Re-signs the CRL after key work that revoked a certificate. The
    /// order is done by then: a CRL that cannot be signed now is signed
    /// by the next key work or the timer (it stays due), and the result
    /// says so by carrying no CRL number.
    pub(crate) fn with_fresh_crl(
        &mut self,
        cfg: &KeyConfig,
        clerk: &str,
        mut done: Personalized,
    ) -> Result<Personalized, AppError> {
        done.crl_number = self
            .refresh_crl_as(cfg, &Actor::clerk(clerk))
            .ok()
            .flatten()
            .map(|c| c.number);
        Ok(done)
    }
}

pub(super) fn start_production(
    st: &mut Station,
    actor: &Actor,
    order: &Order,
) -> Result<serde_json::Value, AppError> {
    let current = st.find_order(&order.id)?;
    if current.state == OrderState::AwaitingProduction {
        st.order_command_as(&order.id, Command::StartProduction, actor)?;
    }
    Ok(json!({}))
}

/// Completes the order together with `more` in one commit.
pub(super) fn complete(
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

pub(super) fn same_key(cert: &CertRecord, key_serial: &str) -> Result<(), AppError> {
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
