//! The certificate an operation acts on, and the proof that it is the
//! applicant's: the facts come from the station's record and the
//! certificate itself, never from the application.

use kiosk_domain::application::Application;
use kiosk_domain::order::Order;
use kiosk_domain::{Operation, Rejection};
use kiosk_keys::{certificate_info, CertInfo};
use kiosk_store::CertRecord;

use crate::{AppError, Station};
use kiosk_store::CertState;

pub(super) fn holder(info: &CertInfo) -> kiosk_domain::certificate::Holder {
    kiosk_domain::certificate::holder(&info.subject_attributes)
}

pub(super) fn serial_field() -> (&'static str, &'static str) {
    ("certificate.serial", "原证书序列号")
}

impl Station {
    /// Fills in what the application says about its certificate from the
    /// station's record, before the rules read it: the last valid day when
    /// left out. Nothing is taken from the application that the record
    /// knows better; [`Station::check_bound`] refuses a disagreement.
    pub(crate) fn fill_from_record(&self, app: &mut Application) -> Result<(), AppError> {
        let Some(c) = app.certificate.as_mut() else {
            return Ok(());
        };
        let Some(serial) = c.serial.as_deref().map(|s| s.trim().to_ascii_lowercase()) else {
            return Ok(());
        };
        if let Some(record) = self.store().certificate(&serial)? {
            if c.not_after.is_none() {
                c.not_after = record.not_after.parse().ok();
            }
        }
        Ok(())
    }

    /// At intake: an application that names a certificate this station
    /// knows must be the applicant's and tell its dates truly. A serial the
    /// station does not know is refused at the key work, which needs the
    /// record.
    pub(crate) fn check_named_certificate(&self, app: &Application) -> Result<(), AppError> {
        match app.named_serial() {
            Some(s) => match self.store().certificate(&s)? {
                Some(record) => self.check_bound(app, &record),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// The active certificate an operation on an existing certificate acts
    /// on, named by the application and proven to be the applicant's.
    pub(crate) fn replaced_certificate(
        &self,
        order: &Order,
    ) -> Result<Option<CertRecord>, AppError> {
        if order.application.operation == Operation::New {
            return Ok(None);
        }
        let serial = order.application.named_serial().ok_or_else(|| {
            AppError::from(
                Rejection::field(serial_field().0, serial_field().1, "required")
                    .zh(
                        "未填写原证书序列号",
                        "请读取原介质（kioskctl key show）或查询原订单，填写原证书序列号",
                    )
                    .en(
                        "the original certificate's serial is missing",
                        "read it from the old key or its order",
                    ),
            )
        })?;
        let known = match self.store().certificate(&serial)? {
            Some(c) => Some(c),
            // A lost key, or a revocation without it: the central's
            // directory knows every certificate of the providers.
            None if matches!(
                order.application.operation,
                Operation::ReplaceLost | Operation::ReplaceDamaged | Operation::Revoke
            ) =>
            {
                self.directory_record(&order.application, &serial)?
            }
            None => None,
        };
        let cert = known.ok_or_else(|| {
            AppError::from(
                Rejection::field(serial_field().0, serial_field().1, "unknown_certificate")
                    .zh(
                        format!("本站和中心证书目录中都没有序列号为 {serial} 的证书"),
                        "请核对序列号；如证书刚由其他系统签发，请同步后再办理；介质在手的，请插入介质读取证书",
                    )
                    .en(
                        format!("neither this station nor the central's directory knows certificate {serial}"),
                        "check the serial, sync first, or bring the key and read it",
                    ),
            )
        })?;
        self.check_bound(&order.application, &cert)?;
        Ok(Some(cert))
    }

    /// Who a recorded certificate names and its last valid day (station
    /// date): from the certificate, or for one known from the directory
    /// only, from its entry.
    fn facts(
        &self,
        record: &CertRecord,
    ) -> Result<(kiosk_domain::certificate::Holder, chrono::NaiveDate), AppError> {
        if record.source == kiosk_store::CertSource::Directory {
            let e = self
                .store()
                .directory_find(Some(&record.serial), None)?
                .into_iter()
                .find(|e| e.issuer == record.issuer)
                .ok_or_else(|| {
                    AppError::Corrupt(format!("directory entry {} is gone", record.serial))
                })?;
            let last = e
                .not_after
                .parse()
                .map_err(|err| AppError::Corrupt(format!("directory entry {}: {err}", e.serial)))?;
            return Ok((
                kiosk_domain::certificate::Holder {
                    name: e.name,
                    uscc: e.uscc,
                },
                last,
            ));
        }
        let info = certificate_info(&record.der)?;
        Ok((
            holder(&info),
            kiosk_domain::calendar::local_date(crate::clock::from_x509(info.not_after)),
        ))
    }

    /// The certificate is the applicant's (same USCC; same name unless the
    /// operation is a change), still active, not expired (a renewal may
    /// follow an expiry), not revoked elsewhere, and the application's
    /// dates are the certificate's.
    pub(super) fn check_bound(
        &self,
        app: &Application,
        record: &CertRecord,
    ) -> Result<(), AppError> {
        let (field, label) = serial_field();
        let serial = &record.serial;
        let op = app.operation;
        let (on_cert, last_day) = self.facts(record)?;
        let org = &app.organization;
        if !on_cert.uscc.eq_ignore_ascii_case(org.uscc.trim()) {
            let r = Rejection::field(field, label, "certificate_of_another_company");
            return Err(if op == Operation::Change {
                r.zh(
                    format!(
                        "证书 {serial} 的统一社会信用代码为 {}（{}），申请表为 {}（{}）：统一社会信用代码不同即为另一家单位，不能通过变更办理",
                        on_cert.uscc, on_cert.name, org.uscc, org.name
                    ),
                    "统一社会信用代码变更的单位请以新单位身份办理新证书（新办）",
                )
                .en(
                    format!(
                        "certificate {serial} is for USCC {} ({}); the application gives {} ({}): a different USCC is a different company, not a change",
                        on_cert.uscc, on_cert.name, org.uscc, org.name
                    ),
                    "apply for a new certificate for the company under its new USCC",
                )
            } else {
                r.zh(
                    format!(
                        "证书 {serial} 属于“{}”（{}），不是申请单位“{}”（{}）的证书",
                        on_cert.name, on_cert.uscc, org.name, org.uscc
                    ),
                    "请核对原证书序列号：只能为申请单位本单位的证书办理此业务",
                )
                .en(
                    format!(
                        "certificate {serial} belongs to {} ({}), not to the applicant {} ({})",
                        on_cert.name, on_cert.uscc, org.name, org.uscc
                    ),
                    "check the serial: only the applicant's own certificate can be acted on",
                )
            }
            .into());
        }
        if op != Operation::Change && on_cert.name != org.name.trim() {
            return Err(Rejection::field("organization.name", "单位名称", "company_name_differs")
                .zh(
                    format!(
                        "证书 {serial} 上的单位名称为“{}”，申请表为“{}”",
                        on_cert.name, org.name
                    ),
                    "单位名称已变更的，请先办理证书信息变更；否则请按证书上的单位名称填写",
                )
                .en(
                    format!(
                        "certificate {serial} names {}, the application {}",
                        on_cert.name, org.name
                    ),
                    "if the company was renamed, apply for a change first; otherwise use the name on the certificate",
                )
                .into());
        }
        if record.state != CertState::Active {
            return Err(Rejection::field(field, label, "certificate_not_active")
                .zh(
                    format!("证书 {serial} 当前状态为“{}”，不是有效证书", record.state),
                    "已吊销或已被替换的证书不能再办理此业务",
                )
                .en(
                    format!("certificate {serial} is {}", record.state),
                    "use the current certificate",
                )
                .into());
        }
        if let Some(r) = self.store().central_revocation(&record.issuer, serial)? {
            return Err(Rejection::field(field, label, "revoked_elsewhere")
                .zh(
                    format!(
                        "中心CA通知：证书 {serial} 已于 {} 在受理点 {} 吊销",
                        r.revoked_at, r.station_id
                    ),
                    "已吊销的证书不能再办理此业务；请办理新证书",
                )
                .en(
                    format!(
                        "the central CA says certificate {serial} was revoked at {} by station {}",
                        r.revoked_at, r.station_id
                    ),
                    "a revoked certificate cannot be acted on; apply for a new one",
                )
                .into());
        }
        if last_day < self.today() && op != Operation::Renew {
            return Err(Rejection::field(field, label, "certificate_expired")
                .zh(
                    format!("证书 {serial} 已于 {last_day} 过期"),
                    "过期证书请办理证书更新（或新办证书）",
                )
                .en(
                    format!("certificate {serial} has expired"),
                    "renew it, or apply for a new certificate",
                )
                .into());
        }
        let said = app.certificate.as_ref();
        if let Some(d) = said.and_then(|c| c.not_after) {
            if d.to_string() != record.not_after {
                return Err(Rejection::field("certificate.not_after", "原证书到期日", "dates_disagree")
                    .zh(
                        format!(
                            "申请表填写的到期日为 {d}，证书 {serial} 的到期日为 {}",
                            record.not_after
                        ),
                        "请读取原证书（读取证书）或不填到期日，由工作站按证书记录填写",
                    )
                    .en(
                        format!(
                            "the application says {d}; certificate {serial} ends on {}",
                            record.not_after
                        ),
                        "read the certificate from the key, or leave the date out and the station fills it in",
                    )
                    .into());
            }
        }
        if let (Some(k), Some(on_record)) = (
            said.and_then(|c| c.key_serial.as_deref()),
            record.key_serial.as_deref(),
        ) {
            if !k.trim().eq_ignore_ascii_case(on_record) {
                return Err(Rejection::field("certificate.key_serial", "介质序列号", "wrong_key")
                    .zh(
                        format!("证书 {serial} 在介质 {on_record} 上，申请表填写的是 {k}"),
                        "请插入证书所在的原介质并读取证书",
                    )
                    .en(
                        format!("certificate {serial} is on key {on_record}, the application names {k}"),
                        "insert the key that holds the certificate and read it",
                    )
                    .into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{TimeZone, Utc};
    use kiosk_store::{Actor, CentralRevocation, CertRecord, CertState};

    use crate::{demo, FixedClock, Station};

    const SERIAL: &str = "4a010203";

    fn station_at(dir: &std::path::Path, h: u32) -> Station {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, h, 0, 0).unwrap();
        Station::open(dir, Arc::new(FixedClock(at))).unwrap()
    }

    /// A certificate of the demo company as the station records one (the
    /// ezca profile: CN the name, ST the USCC), valid to 2027-06-30.
    fn recorded(st: &mut Station) {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "重庆示例建材有限公司");
        p.distinguished_name.push(
            rcgen::DnType::CustomDnType(vec![2, 5, 4, 8]),
            "91500000MA5U8K2T0A",
        );
        p.not_before = rcgen::date_time_ymd(2026, 1, 1);
        p.not_after = rcgen::date_time_ymd(2027, 6, 30);
        let key = rcgen::KeyPair::generate().unwrap();
        let c = CertRecord {
            serial: SERIAL.into(),
            issuer: "station-ca-1".into(),
            subject: "CN=重庆示例建材有限公司".into(),
            not_before: "2026-01-01".into(),
            not_after: "2027-06-30".into(),
            key_serial: Some("k1".into()),
            order_id: None,
            state: CertState::Active,
            der: p.self_signed(&key).unwrap().der().to_vec(),
            issued_at: String::new(),
            revoked_at: None,
            revocation_reason: None,
            source: kiosk_store::CertSource::Issued,
            issued_by: "station".into(),
        };
        let now = st.now();
        st.store_mut()
            .write(&Actor::system(), now, |w| w.certificate_issued(&c, "ezca"))
            .unwrap();
    }

    fn unlock(uscc: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(demo::APPLICATION_JSON).unwrap();
        v["operation"] = "unlock".into();
        v["certificate"] = serde_json::json!({ "serial": SERIAL });
        v["organization"]["uscc"] = uscc.into();
        v.to_string()
    }

    #[test]
    fn the_record_decides_whose_certificate_it_is_and_what_became_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = station_at(dir.path(), 2);
        recorded(&mut st);
        let t01 = st.test_clerk("t01");
        let own = st
            .create_order(&unlock("91500000MA5U8K2T0A"), &t01)
            .unwrap();
        assert_eq!(
            own.application
                .certificate
                .unwrap()
                .not_after
                .unwrap()
                .to_string(),
            "2027-06-30",
            "filled from the record"
        );
        let other = st.create_order(&unlock("91350100M000100Y43"), &t01);
        assert_eq!(other.unwrap_err().code(), "certificate_of_another_company");

        // The central says another station revoked it.
        let revoked = CentralRevocation {
            issuer: "station-ca-1".into(),
            serial: SERIAL.into(),
            reason: 1,
            revoked_at: "2026-12-01T08:00:00Z".into(),
            station_id: "elsewhere".into(),
        };
        let now = st.now();
        st.store_mut()
            .add_central_revocations(&[revoked], 1, now)
            .unwrap();
        let e = st
            .create_order(&unlock("91500000MA5U8K2T0A"), &t01)
            .unwrap_err();
        assert_eq!(e.code(), "revoked_elsewhere");
        assert!(e.message_zh().contains("elsewhere"), "{}", e.message_zh());
        // ... and key work on the order taken before refuses as well.
        let e = st
            .replaced_certificate(&own_order(&st, &own.id))
            .unwrap_err();
        assert_eq!(e.code(), "revoked_elsewhere");
    }

    fn own_order(st: &Station, id: &str) -> kiosk_domain::order::Order {
        st.find_order(id).unwrap()
    }

    #[test]
    fn key_work_waits_for_a_clock_to_trust() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = station_at(dir.path(), 2);
        recorded(&mut st);
        let t01 = st.test_clerk("t01");
        let order = st
            .create_order(&unlock("91500000MA5U8K2T0A"), &t01)
            .unwrap();
        assert!(st.check_clock().is_ok());
        // The same station an hour earlier: its clock was set back.
        let mut behind = station_at(dir.path(), 1);
        let t01 = behind.test_clerk("t01");
        let e = behind.key_work_needs(&order.id, None).unwrap_err();
        assert_eq!(e.code(), "clock_behind");
        // An ordinary write on the set-back clock does not hide the later
        // time the station already recorded.
        behind
            .create_order(&unlock("91500000MA5U8K2T0A"), &t01)
            .unwrap();
        let e = behind.key_work_needs(&order.id, None).unwrap_err();
        assert_eq!(e.code(), "clock_behind");
        // A pinned date other than the clock's.
        let pinned = station_at(dir.path(), 2)
            .with_today(Some(chrono::NaiveDate::from_ymd_opt(2027, 6, 1).unwrap()));
        let e = pinned.key_work_needs(&order.id, None).unwrap_err();
        assert_eq!(e.code(), "today_pinned");
        // After the certificate's end, only a renewal may name it.
        let late = Station::open(
            dir.path(),
            Arc::new(FixedClock(
                Utc.with_ymd_and_hms(2027, 7, 2, 2, 0, 0).unwrap(),
            )),
        )
        .unwrap();
        let e = late
            .replaced_certificate(&own_order(&late, &order.id))
            .unwrap_err();
        assert_eq!(e.code(), "certificate_expired");
    }
}
