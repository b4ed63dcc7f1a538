//! A new issue or replacement onto a blank key, step by step, and what a rerun after a crash voids first.

use kiosk_domain::calendar::add_years;
use kiosk_domain::order::{Command, Order, OrderState};
use kiosk_domain::{validate, Operation, Rejection, RevocationReason};
use kiosk_keys::{certificate_info, verify_signature, ObjectClass, TokenSigner};
use kiosk_keys::{Module, SecretString};
use kiosk_store::{Actor, CaAlgorithm, CertRecord};
use serde_json::json;

use super::*;
use crate::run::{Run, Step};
use crate::{AppError, Station};
use kiosk_store::{CertState, StockState};

impl Station {
    /// Writes the certificate and seal for a paid new-issue order onto a
    /// blank key from stock. `pin` is the applicant's new user PIN.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn personalize(
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
                k.state == StockState::Issued && k.order_id.as_deref() == Some(order.id.as_str())
            });
            let active = self
                .store()
                .certificates(Some(&key_serial), Some(&order.id))?
                .into_iter()
                .find(|c| c.state == CertState::Active);
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
        let alg = ca_algorithm(&profile);
        let ca = self.usable_ca_of(alg)?;
        // A replacement keeps the original validity [004]; a new issue runs
        // N years from the station clock's today.
        let not_after = match &replaced {
            Some(old) => old.not_after.parse().map_err(|e| {
                AppError::Corrupt(format!("certificate {} not_after: {e}", old.serial))
            })?,
            None => add_years(
                kiosk_domain::calendar::local_date(self.now()),
                order.application.years.unwrap_or(1),
            ),
        };
        self.within_issuer(&ca, not_after)?;
        let stock = self.check_stock(&order, &key_serial)?;
        let seal_image =
            validate::upload("seal.png", seal_png).map_err(|e| e.at("seal", "电子印章图片"))?;
        // An SM2 profile: the key's model must do SM2 and the key must list
        // its model's mechanisms, before anything is written.
        let token = m.by_serial(&key_serial)?;
        let sm2_set = match alg {
            CaAlgorithm::Sm2 => Some(self.holder_sm2_set(&m.open(&token)?, &token)?),
            CaAlgorithm::P256 => None,
        };
        fits_on_key(&token, seal_png, alg)?;
        let ca_token = self.ca_token(cfg, alg)?;
        let (_station, so_pin, attempt) = self.begin(cfg, &order, &key_serial, None, clerk)?;
        let mut run = Run::new(self, cfg, &order.id, &key_serial, attempt);
        let actor = Actor::clerk(clerk);

        run.step(Step::Prepare, json!({ "stock_state": stock.state }), |st| {
            let now = st.now();
            let mut started = order.clone();
            let from = (started.state, started.revision);
            let start = from.0 == OrderState::AwaitingProduction;
            if start {
                started.apply(&Command::StartProduction, now)?;
            }
            st.store_mut().write(&actor, now, |w| {
                if stock.state != StockState::Assigned {
                    w.stock_set(&key_serial, StockState::Assigned, Some(&order.id), None)?;
                }
                if start {
                    w.save_transition(from.0, from.1, &started, &Command::StartProduction)?;
                }
                Ok(())
            })?;
            Ok(json!({}))
        })?;

        let label = format!("KIOSK {}", order.number);
        // A key fresh from stock opens with the vendor's transport SO PIN,
        // a key this station touched before with its derived one. The
        // likely one goes first: a real key counts every wrong SO PIN.
        let transport = cfg.transport_so_pin.as_ref();
        let tries = match stock.state {
            StockState::InStock => [("transport", transport), ("derived", Some(&so_pin))],
            _ => [("derived", Some(&so_pin)), ("transport", transport)],
        };
        let mut used = "";
        run.step(Step::InitToken, json!({ "label": label }), |_| {
            let mut failed: Option<AppError> = None;
            for (which, pin) in tries {
                let Some(pin) = pin else {
                    failed = Some(transport_missing());
                    continue;
                };
                match m.init_token(token.slot, pin, &label) {
                    Ok(()) => {
                        used = which;
                        return Ok(json!({ "so_pin": which }));
                    }
                    Err(e @ (kiosk_keys::KeyError::WrongPin | kiosk_keys::KeyError::PinLocked)) => {
                        failed.get_or_insert(e.into());
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(failed.unwrap_or_else(transport_missing))
        })?;
        // Re-initialising keeps the token's serial and slot.
        let key = m.open(&token)?;

        // C_InitToken set the SO PIN it was given: the transport one is
        // replaced by the derived one.
        run.step(Step::SetPins, json!({}), |_| {
            match (used, transport) {
                ("transport", Some(transport)) => {
                    key.login_so(transport)?;
                    key.set_pin(transport, &so_pin)?;
                }
                _ => key.login_so(&so_pin)?,
            }
            key.init_user_pin(pin)?;
            key.logout()?;
            Ok(json!({}))
        })?;

        key.login_user(pin)?;
        let id = key.random(8)?;
        let mut point = Vec::new();
        run.step(
            Step::GenerateKey,
            json!({ "id": hex::encode(&id), "algorithm": profile.key_algorithm }),
            |_| {
                point = match sm2_set {
                    Some(set) => key.generate_sm2(set, &id, "company")?.1.to_vec(),
                    None => key.generate(key_kind(&profile), &id, "company")?.1,
                };
                Ok(json!({}))
            },
        )?;
        let user_key = holder_key(&key, &id, sm2_set)?;
        let subject = subject_for(&order, &profile);
        let mut request = Vec::new();
        run.step(Step::Request, json!({}), |_| {
            request = user_key.request(&subject)?;
            Ok(json!({}))
        })?;

        let ca_cert = ca.cert_der.clone().unwrap_or_default();
        let ca_key = ca_token.signer(CA_KEY)?;
        let serial_bytes = serial(&ca_token.session)?;
        let mut cert = Vec::new();
        let what = Issuance {
            request: &request,
            point: &point,
            subject: &subject,
            not_after,
            serial: &serial_bytes,
            profile: &profile,
        };
        run.step(
            Step::Issue,
            json!({ "serial": hex::encode(&serial_bytes) }),
            |st| {
                cert = issue_recorded(st, &actor, &ca_cert, &ca_key, &what, &key_serial, &order)?;
                Ok(json!({}))
            },
        )?;
        let info = certificate_info(&cert)?;

        run.step(Step::WriteCertificate, json!({}), |_| {
            key.put_certificate(&id, "company", &cert, &kiosk_keys::subject_der(&cert)?)?;
            Ok(json!({}))
        })?;

        // SM2: the GB/T 38540 electronic seal, made by the SM2 sub-CA;
        // otherwise the station's signed seal record.
        let (record_name, seal_record) = match &ca_key {
            CaSigner::Sm2(maker) => {
                let image = (seal_image.width, seal_image.height);
                let ses = run
                    .station
                    .electronic_seal(maker, &ca_cert, &order, &cert, seal_png, image)?;
                (SES_FILE, ses)
            }
            CaSigner::P256(p256) => (
                "seal-record.json",
                signed_seal_record(p256, &order, &info.serial, seal_png)?,
            ),
        };
        run.step(Step::WriteSeal, json!({ "record": record_name }), |_| {
            key.put_data(SEAL_APP, "seal.png", seal_png)?;
            key.put_data(SEAL_APP, record_name, &seal_record)?;
            Ok(json!({}))
        })?;

        run.step(Step::Verify, json!({}), |_| {
            let on_key = key.values(ObjectClass::CERTIFICATE, None)?;
            let seal = key.values(ObjectClass::DATA, Some("seal.png"))?;
            let record = key.values(ObjectClass::DATA, Some(record_name))?;
            let written = [seal_record.clone()];
            if on_key != [cert.clone()] || seal != [seal_png.to_vec()] || record != written {
                return Err(kiosk_keys::KeyError::X509(
                    "what was read back differs from what was written".into(),
                )
                .into());
            }
            prove_key(&key, &cert, sm2_set)
        })?;

        run.step(Step::Complete, json!({}), |st| {
            let now = st.now();
            let mut done = st.find_order(&order.id)?;
            let from = (done.state, done.revision);
            done.apply(&Command::Complete, now)?;
            let today = st.today().to_string();
            st.store_mut().write(&actor, now, |w| {
                w.stock_set(
                    &key_serial,
                    StockState::Issued,
                    Some(&order.id),
                    Some(&today),
                )?;
                w.certificate_state(&info.serial, CertState::Active, None)?;
                if let Some(old) = &replaced {
                    // Lost: the old certificate is revoked automatically [004].
                    let op = done.application.operation;
                    let reason =
                        RevocationReason::implied_by(op).unwrap_or(RevocationReason::Superseded);
                    let key_state = match op {
                        Operation::ReplaceDamaged => StockState::Defective,
                        _ => StockState::Retired,
                    };
                    if old.source == kiosk_store::CertSource::Directory {
                        w.certificate_from_directory(old)?;
                    }
                    w.certificate_state(&old.serial, CertState::Revoked, Some(reason))?;
                    if let Some(k) = &old.key_serial {
                        w.stock_set(k, key_state, old.order_id.as_deref(), None)?;
                    }
                }
                w.save_transition(from.0, from.1, &done, &Command::Complete)
            })?;
            Ok(json!({}))
        })?;

        run.finish()?;
        if sm2_set.is_some() {
            self.write_seal_file(&info.serial, &seal_record)?;
        }
        let done = self.personalized(&order, &key_serial, &cert, attempt)?;
        match replaced {
            Some(_) => self.with_fresh_crl(cfg, clerk, done),
            None => Ok(done),
        }
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
        let alg = match info.key_kind {
            kiosk_keys::KeyKind::Sm2 => CaAlgorithm::Sm2,
            _ => CaAlgorithm::P256,
        };
        let dir = self.ca_dir_of(alg)?;
        let cert_path = dir.join(format!("{}.pem", info.serial));
        write_file(&cert_path, &pem(cert, "CERTIFICATE"))?;
        let seal_path = dir.join(format!("{}.ses", info.serial));
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
            crl_number: None,
            electronic_seal: seal_path.exists().then(|| seal_path.display().to_string()),
        })
    }

    /// [`Station::personalized`] for a recorded certificate; one known
    /// from the central's directory only has no certificate to write out.
    pub(crate) fn personalized_record(
        &self,
        order: &Order,
        key_serial: &str,
        record: &CertRecord,
        attempt: i64,
    ) -> Result<Personalized, AppError> {
        if !record.der.is_empty() {
            return self.personalized(order, key_serial, &record.der, attempt);
        }
        Ok(Personalized {
            order_id: order.id.clone(),
            key_serial: key_serial.to_string(),
            token_label: format!("KIOSK {}", order.number),
            certificate_serial: record.serial.clone(),
            not_after: record.not_after.clone(),
            certificate_pem: String::new(),
            chain_pem: String::new(),
            attempt,
            crl_number: None,
            electronic_seal: None,
        })
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
            .filter(|c| c.state == CertState::Issued && Some(c.serial.as_str()) != keep)
            .map(|c| c.serial)
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        let now = self.now();
        self.store_mut().write(&Actor::clerk(clerk), now, |w| {
            for s in &stale {
                // Never handed out, the key is wiped.
                let reason = RevocationReason::CessationOfOperation;
                w.certificate_state(s, CertState::Revoked, Some(reason))?;
            }
            Ok(())
        })?;
        Ok(())
    }
}

fn transport_missing() -> AppError {
    Rejection::field("transport_so_pin", "介质出厂管理员PIN", "required")
        .zh(
            "这是一支新介质，需要厂商的出厂管理员PIN（SO PIN）才能初始化",
            "请运维人员把它写入只有服务账号可读的文件，并用 KIOSK_TRANSPORT_SO_PIN_FILE 指向它后重试",
        )
        .en(
            "a fresh key needs the vendor's transport SO PIN",
            "put it in a file only the service user can read and set KIOSK_TRANSPORT_SO_PIN_FILE",
        )
        .into()
}

/// What a certificate is made of: the request the key signed, the key it
/// must certify, who it names, its last day, its serial and the profile.
pub(crate) struct Issuance<'a> {
    pub request: &'a [u8],
    pub point: &'a [u8],
    pub subject: &'a kiosk_keys::SubjectSpec,
    pub not_after: chrono::NaiveDate,
    pub serial: &'a [u8],
    pub profile: &'a kiosk_domain::catalog::IssuanceProfile,
}

/// Signs a certificate with the station CA, valid from the clock's now to
/// the last second of its last day, and records it the moment it is
/// signed, before it goes on a key.
pub(crate) fn issue_recorded(
    st: &mut Station,
    actor: &Actor,
    ca_cert: &[u8],
    ca_key: &CaSigner<'_>,
    what: &Issuance<'_>,
    key_serial: &str,
    order: &Order,
) -> Result<Vec<u8>, AppError> {
    let cert = ca_key.issue(
        what.request,
        what.point,
        what.subject,
        ca_cert,
        crate::clock::x509_time(st.now()),
        end_of_day(what.not_after),
        what.serial,
        &extensions(what.profile, st.station_id()),
    )?;
    let info = certificate_info(&cert)?;
    let record = CertRecord {
        serial: info.serial.clone(),
        issuer: certificate_info(ca_cert)?.serial,
        subject: info.subject,
        not_before: info.not_before.to_string(),
        not_after: what.not_after.to_string(),
        key_serial: Some(key_serial.to_string()),
        order_id: Some(order.id.clone()),
        state: CertState::Issued,
        der: cert.clone(),
        issued_at: String::new(),
        revoked_at: None,
        revocation_reason: None,
        source: kiosk_store::CertSource::Issued,
        issued_by: "station".into(),
    };
    let now = st.now();
    st.store_mut().write(actor, now, |w| {
        w.certificate_issued(&record, &order.application.provider)
    })?;
    Ok(cert)
}

/// Reads the certificate back, has the key sign a fresh challenge that its
/// certificate verifies, and decrypt a secret encrypted to its certificate
/// (数字证书加解密测试). Returns the journal line's detail.
pub(crate) fn prove_key(
    key: &kiosk_keys::TokenSession,
    cert: &[u8],
    sm2: Option<&'static kiosk_keys::Sm2Mechanisms>,
) -> Result<serde_json::Value, AppError> {
    let id = key
        .certificates()?
        .into_iter()
        .find(|c| c.der == cert)
        .map(|c| c.id)
        .ok_or_else(|| kiosk_keys::KeyError::X509("the certificate is not on the key".into()))?;
    let signer = holder_key(key, &id, sm2)?;
    let challenge = key.random(32)?;
    let sig = signer.sign_der(&challenge)?;
    let info = certificate_info(cert)?;
    if !verify_signature(&info, &challenge, &sig) {
        return Err(kiosk_keys::KeyError::X509(
            "the key's signature does not verify with its certificate".into(),
        )
        .into());
    }
    let decryption = kiosk_keys::decryption_test(key, &id, &info, sm2)?;
    Ok(json!({ "signature": "passed", "decryption": decryption.as_str() }))
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

/// The key pair with this id on a key: SM2 through the key model's set,
/// otherwise P-256 or RSA.
pub(crate) fn holder_key<'a>(
    key: &'a kiosk_keys::TokenSession,
    id: &[u8],
    sm2: Option<&'static kiosk_keys::Sm2Mechanisms>,
) -> Result<HolderKey<'a>, AppError> {
    Ok(match sm2 {
        Some(set) => HolderKey::Sm2(kiosk_keys::Sm2Signer::new(key, set, id)?),
        None => HolderKey::Standard(TokenSigner::new(key, id)?),
    })
}

/// At most what a certificate, its key pair and the station's seal record
/// take on a key besides the seal image (an SM2 seal holds the image once
/// more, and both certificates).
const KEY_OBJECTS_BOUND: u64 = 8 * 1024;

/// Refuses, before anything is written, a seal image that cannot fit on
/// the key with the certificate: the key's storage as its token reports it
/// (a token that does not say is not checked here; its write fails then).
pub(crate) fn fits_on_key(
    token: &kiosk_keys::TokenInfo,
    seal_png: &[u8],
    alg: CaAlgorithm,
) -> Result<(), AppError> {
    let Some(memory) = token.memory else {
        return Ok(());
    };
    let copies = match alg {
        CaAlgorithm::Sm2 => 2,
        CaAlgorithm::P256 => 1,
    };
    let need = copies * seal_png.len() as u64 + KEY_OBJECTS_BOUND;
    if need <= memory {
        return Ok(());
    }
    let kb = |b: u64| b.div_ceil(1024);
    Err(
        Rejection::field("seal", "电子印章图片", "seal_too_large_for_key")
            .zh(
                format!(
                    "印章图片 {} KB，连同证书约需 {} KB，超出该介质（{}）的存储空间 {} KB",
                    kb(seal_png.len() as u64),
                    kb(need),
                    token.model,
                    kb(memory)
                ),
                "请重新提取印章（裁剪到印章本身），或换用存储空间更大的介质",
            )
            .en(
                format!(
                "the seal image needs about {} KB with the certificate; the key ({}) holds {} KB",
                kb(need),
                token.model,
                kb(memory)
            ),
                "extract the seal again, cropped to the seal, or use a key with more storage",
            )
            .into(),
    )
}

/// The name of the GB/T 38540 electronic seal on a key with an SM2
/// certificate, beside `seal.png`.
pub(crate) const SES_FILE: &str = "seal.ses";

/// The printed size of a seal image's long side: a company seal's usual
/// diameter. The short side keeps the image's proportions.
const SEAL_LONG_SIDE_MM: u32 = 40;

impl Station {
    /// The GB/T 38540-2020 electronic seal (SES_Seal version 4) of the
    /// order's company: its seal image (`image` its width and height in
    /// pixels), the holder's certificate, valid from now to the
    /// certificate's last day, made and signed by the SM2 sub-CA as seal
    /// maker.
    pub(crate) fn electronic_seal(
        &self,
        maker: &kiosk_keys::Sm2Signer<'_>,
        maker_cert: &[u8],
        order: &Order,
        cert: &[u8],
        seal_png: &[u8],
        image: (u32, u32),
    ) -> Result<Vec<u8>, AppError> {
        let info = certificate_info(cert)?;
        let now = crate::clock::x509_time(self.now());
        let long = image.0.max(image.1).max(1);
        let mm = |px: u32| (px * SEAL_LONG_SIDE_MM).div_ceil(long).max(1);
        let seal = kiosk_keys::SesSeal {
            vendor_id: format!("KIOSK-{}", &self.station_id()[..8]),
            seal_id: format!("{}-{}", &self.station_id()[..8], info.serial),
            seal_type: 1,
            name: order.application.organization.name.clone(),
            holder_certificates: vec![cert.to_vec()],
            created: now,
            valid_from: now,
            valid_to: info.not_after,
            picture_type: "PNG".into(),
            picture: seal_png.to_vec(),
            width_mm: mm(image.0),
            height_mm: mm(image.1),
        };
        Ok(kiosk_keys::make_ses_seal(&seal, maker, maker_cert)?)
    }

    /// Writes the electronic seal beside the certificate's PEM.
    pub(crate) fn write_seal_file(&self, cert_serial: &str, ses: &[u8]) -> Result<(), AppError> {
        let path = self
            .ca_dir_of(CaAlgorithm::Sm2)?
            .join(format!("{cert_serial}.ses"));
        std::fs::write(&path, ses).map_err(|e| AppError::io(path.display(), e))
    }
}
