//! 解锁 and 吊销 on the applicant's key: the SO resets the user PIN; a
//! revocation revokes, signs a CRL and wipes the key when it is here.

use super::*;
use kiosk_store::{CertState, StockState};

impl Station {
    /// 解锁: the SO resets the user PIN; the applicant sets a new one.
    pub(super) fn unlock(
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
        let key = m.open(&token)?;
        let sm2_set = self.sm2_set_of(&key, &token, &old.der)?;
        let (station, so_pin, attempt) = self.begin(cfg, &order, key_serial, None, clerk)?;
        drop(station);
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
            prove_key(&key, &old.der, sm2_set)
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
    pub(super) fn revoke_order(
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
        let (station, so_pin, attempt) = self.begin(cfg, &order, &serial_of_key, None, clerk)?;
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
                    if old.source == kiosk_store::CertSource::Directory {
                        w.certificate_from_directory(&old)?;
                    }
                    w.certificate_state(&old.serial, CertState::Revoked, Some(reason))
                })?;
                Ok(json!({}))
            },
        )?;
        run.step(Step::Crl, json!({}), |st| {
            let crl = st.crl_as(cfg, &Actor::clerk(clerk))?;
            Ok(json!({ "number": crl.number }))
        })?;
        // A key this station did not set up is not wiped: its SO PIN is not
        // the station's.
        let present = key_serial
            .filter(|_| old.source == kiosk_store::CertSource::Issued)
            .and_then(|k| m.by_serial(k).ok());
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
                Some(k) => w.stock_set(k, StockState::Retired, old.order_id.as_deref(), None),
                None => Ok(()),
            })
        })?;
        run.finish()?;
        run.station
            .personalized_record(&order, &serial_of_key, &old, attempt)
    }
}
