//! 更新 / 变更 / 算法升级: a new certificate on the applicant's key, and
//! what a rerun after a crash tidies first.

use super::*;
use crate::keys::{ca_algorithm, fits_on_key, holder_key, CaSigner, SES_FILE};
use kiosk_store::CaAlgorithm;

/// What binds the seal image to a certificate on a key: the station's
/// signed record (P-256, RSA) or the GB/T 38540 seal (SM2).
const SEAL_RECORDS: [&str; 2] = ["seal-record.json", SES_FILE];
use kiosk_store::CertState;

impl Station {
    /// 更新 / 变更 / 算法升级: a new certificate on the applicant's key.
    /// Renewal keeps the key pair and takes its validity from the renewal
    /// window; change takes the new subject; upgrade makes a new key pair
    /// on the key. The PIN does not change.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn recertify(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        order_key: &str,
        key_serial: &str,
        pin: &SecretString,
        new_seal: Option<&[u8]>,
        from_key: Option<CertRecord>,
        clerk: &str,
    ) -> Result<Personalized, AppError> {
        let order = self.find_order(order_key)?;
        check_operation(
            &order,
            &[Operation::Renew, Operation::Change, Operation::Upgrade],
        )?;
        let op = order.application.operation;
        let adopted = from_key.is_some();
        let old = match from_key {
            Some(c) => c,
            None => self.replaced_certificate(&order)?.expect("not a new issue"),
        };
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
        let rekey = op == Operation::Upgrade;
        // An upgrade takes the profile's algorithm; a renewal or change keeps
        // the key pair, and so its algorithm.
        let alg = match certificate_info(&old.der)?.key_kind {
            _ if rekey => ca_algorithm(&profile),
            kiosk_keys::KeyKind::Sm2 => CaAlgorithm::Sm2,
            _ => CaAlgorithm::P256,
        };
        let ca = self.usable_ca_of(alg)?;
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
        let sm2_set = match alg {
            CaAlgorithm::Sm2 => Some(self.holder_sm2_set(&key, &token)?),
            CaAlgorithm::P256 => None,
        };
        if let Some(seal) = new_seal {
            fits_on_key(&token, seal, alg)?;
        }
        let ca_token = self.ca_token(cfg, alg)?;
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
            .find(|c| c.state == CertState::Issued && on_key.iter().any(|k| k.der == c.der));
        let (_station, _so_pin, attempt) = self.begin(
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
        let ca_key = ca_token.signer(CA_KEY)?;
        let mut run = Run::new(self, cfg, &order.id, key_serial, attempt);
        run.step(Step::Prepare, json!({}), |st| {
            if adopted {
                let now = st.now();
                st.store_mut()
                    .write(&actor, now, |w| w.certificate_read_from_key(&old))?;
            }
            start_production(st, &actor, &order)
        })?;
        let id = match &carried {
            Some(_) => keep_id.clone(),
            None if rekey => key.random(8)?,
            None => old_id.clone(),
        };
        if rekey && carried.is_none() {
            run.step(Step::GenerateKey, json!({ "id": hex::encode(&id) }), |_| {
                match sm2_set {
                    Some(set) => drop(key.generate_sm2(set, &id, "company")?),
                    None => drop(key.generate(crate::keys::key_kind(&profile), &id, "company")?),
                }
                Ok(json!({}))
            })?;
        }
        let user_key = holder_key(&key, &id, sm2_set)?;
        let mut cert = carried.as_ref().map(|c| c.der.clone()).unwrap_or_default();
        if carried.is_none() {
            let mut request = Vec::new();
            run.step(Step::Request, json!({}), |_| {
                request = user_key.request(&subject)?;
                Ok(json!({}))
            })?;
            let serial_bytes = serial(&ca_token.session)?;
            let what = Issuance {
                request: &request,
                point: user_key.public_point(),
                subject: &subject,
                not_after,
                serial: &serial_bytes,
                profile: &profile,
            };
            run.step(
                Step::Issue,
                json!({ "serial": hex::encode(&serial_bytes) }),
                |st| {
                    cert =
                        issue_recorded(st, &actor, &ca_cert, &ca_key, &what, key_serial, &order)?;
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
        // SM2: a new GB/T 38540 seal for the new certificate; otherwise the
        // station's signed seal record.
        let (record_name, record) = match &ca_key {
            CaSigner::Sm2(maker) => {
                let image = kiosk_domain::validate::upload("seal.png", &seal)
                    .map_err(|e| e.at("seal", "电子印章图片"))?;
                let size = (image.width, image.height);
                let ca_cert = ca_cert.as_slice();
                let ses = run
                    .station
                    .electronic_seal(maker, ca_cert, &order, &cert, &seal, size)?;
                (SES_FILE, ses)
            }
            CaSigner::P256(p256) => (
                "seal-record.json",
                signed_seal_record(p256, &order, &info.serial, &seal)?,
            ),
        };
        run.step(
            Step::WriteSeal,
            json!({ "new_image": new_seal.is_some(), "record": record_name }),
            |_| {
                for name in SEAL_RECORDS {
                    for h in key.find(ObjectClass::DATA, name)? {
                        key.destroy(h)?;
                    }
                }
                if new_seal.is_some() {
                    for h in key.find(ObjectClass::DATA, "seal.png")? {
                        key.destroy(h)?;
                    }
                    key.put_data(SEAL_APP, "seal.png", &seal)?;
                }
                key.put_data(SEAL_APP, record_name, &record)?;
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
        run.step(Step::Verify, json!({}), |_| prove_key(&key, &cert, sm2_set))?;
        run.step(Step::Complete, json!({}), |st| {
            complete(st, &actor, &order.id, |w| {
                w.certificate_state(&info.serial, CertState::Active, None)?;
                // A renewal supersedes the old certificate; a change or an
                // upgrade replaces it, so it is revoked (superseded).
                match RevocationReason::implied_by(op) {
                    None => w.certificate_state(&old.serial, CertState::Superseded, None),
                    Some(r) => w.certificate_state(&old.serial, CertState::Revoked, Some(r)),
                }
            })
        })?;
        run.finish()?;
        drop(user_key);
        if sm2_set.is_some() {
            self.write_seal_file(&info.serial, &record)?;
        }
        let done = self.personalized(&order, key_serial, &cert, attempt)?;
        self.with_fresh_crl(cfg, clerk, done)
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
    let seals = key.values(ObjectClass::DATA, Some(SES_FILE))?;
    let stale = records
        .iter()
        .filter(|r| !String::from_utf8_lossy(r).contains(&keep_serial))
        .count()
        + seals
            .iter()
            .filter(|s| {
                kiosk_keys::read_ses_seal(s).map_or(true, |c| {
                    !c.seal.holder_certificates.iter().any(|h| h == keep_cert)
                })
            })
            .count();
    if stale > 0 {
        // Seal records are rewritten in full by the next write-seal step.
        for name in SEAL_RECORDS {
            for h in key.find(ObjectClass::DATA, name)? {
                key.destroy(h)?;
            }
        }
    }
    Ok(())
}
