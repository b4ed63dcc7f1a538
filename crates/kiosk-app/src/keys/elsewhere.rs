//! Certificates issued elsewhere (the CA's portal, another service point,
//! the CA's own systems): read from the applicant's key and verified, or
//! known from the central's directory when the key is lost. Either way the
//! station acts on their facts only once they are bound to the applicant
//! ([`Station::check_bound`]).

use kiosk_domain::application::Application;
use kiosk_domain::order::Order;
use kiosk_domain::{Operation, Rejection};
use kiosk_keys::{certificate_info, CertInfo};
use kiosk_store::{CertRecord, CertState};

use super::existing::{holder, serial_field};
use crate::{AppError, Station};

impl Station {
    /// When the application names a certificate the station has no record
    /// of and the key at the counter carries it: the key is the source of
    /// truth. The certificate is read and verified (chain to its provider's
    /// anchors, key pair on the key, not revoked, the applicant's: see
    /// [`Station::check_bound`]); the record it returns, marked as read
    /// from the key, is written by the operation once the key work starts,
    /// so that a refusal writes nothing. A renewal supersedes it; a change
    /// or an upgrade revokes it here, off this station's CRL, and the
    /// central publishes the revocation. An unlock is refused: it needs
    /// the key's SO PIN, which this station did not set. A revocation goes
    /// by the central's directory.
    pub(crate) fn read_from_key(
        &self,
        m: &kiosk_keys::Module,
        order: &Order,
        key_serial: &str,
    ) -> Result<Option<CertRecord>, AppError> {
        let Some(serial) = order.application.named_serial() else {
            return Ok(None);
        };
        // A revocation needs only the certificate's facts: the central's
        // directory has them, and the revocation goes through the central.
        if self.store().certificate(&serial)?.is_some()
            || order.application.operation == Operation::Revoke
        {
            return Ok(None);
        }
        let token = m.by_serial(key_serial)?;
        let session = m.open(&token)?;
        let on_key = session.certificates()?;
        let Some(found) = on_key.iter().find(|c| {
            certificate_info(&c.der).is_ok_and(|i| i.serial.eq_ignore_ascii_case(&serial))
        }) else {
            // Neither recorded here nor on this key: refused as unknown
            // where the operation looks it up.
            return Ok(None);
        };
        let public = session.public_key(&found.id)?.map(|(p, _)| p);
        let provenance = self.provenance(&found.der, public.as_deref())?;
        if let Some(problem) = provenance.problem {
            return Err(problem.into());
        }
        let (field, label) = serial_field();
        let op = order.application.operation;
        let provider = &order.application.provider;
        let issued_by = provenance.issued_by.unwrap_or_default();
        // This station issues for every provider: a certificate of its own
        // that it holds no record of (a database restored from before it
        // was issued) is read back like any other.
        if issued_by != *provider && issued_by != "station" {
            return Err(Rejection::field(field, label, "certificate_of_another_provider")
                .zh(
                    format!(
                        "介质上的证书 {serial} 由{}签发，不是所申请CA机构的证书",
                        provenance.issued_by_name.unwrap_or_default()
                    ),
                    "请按证书的签发机构选择CA机构后重新申请",
                )
                .en(
                    format!("certificate {serial} on the key was issued by {issued_by}, not by {provider}"),
                    "apply under the provider that issued it",
                )
                .into());
        }
        if op == Operation::Unlock {
            return Err(Rejection::field(field, label, "issued_elsewhere")
                .zh(
                    format!(
                        "证书 {serial} 由{}的其他系统签发，该介质的管理员PIN（SO PIN）不是本站设置的，本站无法解锁",
                        provenance.issued_by_name.unwrap_or_default(),
                    ),
                    "请到原发证机构解锁；或办理补办（损坏），由本站签发新介质",
                )
                .en(
                    format!("certificate {serial} was issued by another CA system; this station did not set the key's SO PIN and cannot unlock it"),
                    "go to the issuing CA, or replace the key here",
                )
                .into());
        }
        let info = certificate_info(&found.der)?;
        self.check_against_directory(&serial, &info)?;
        let record = CertRecord {
            serial: serial.clone(),
            issuer: provenance.issuer_serial.unwrap_or_default(),
            subject: info.subject.clone(),
            not_before: info.not_before.to_string(),
            not_after: kiosk_domain::calendar::local_date(crate::clock::from_x509(info.not_after))
                .to_string(),
            key_serial: Some(key_serial.to_string()),
            order_id: None,
            state: CertState::Active,
            der: found.der.clone(),
            issued_at: String::new(),
            revoked_at: None,
            revocation_reason: None,
            source: kiosk_store::CertSource::ReadFromKey,
            issued_by,
        };
        self.check_bound(&order.application, &record)?;
        Ok(Some(record))
    }

    /// The certificate on the key against what the central's directory
    /// says of the same serial, when it says anything: revoked there, or
    /// naming another company or another end, it is not acted on.
    fn check_against_directory(&self, serial: &str, info: &CertInfo) -> Result<(), AppError> {
        let on_key = holder(info);
        let last_day =
            kiosk_domain::calendar::local_date(crate::clock::from_x509(info.not_after)).to_string();
        let (field, label) = serial_field();
        for e in self.store().directory_find(Some(serial), None)? {
            if e.status != "valid" {
                return Err(Rejection::field(field, label, "certificate_not_active")
                    .zh(
                        format!("中心证书目录显示证书 {serial} 已吊销"),
                        "已吊销的证书不能再办理此业务；请办理新证书",
                    )
                    .en(
                        format!("the central's directory says certificate {serial} was revoked"),
                        "apply for a new certificate",
                    )
                    .into());
            }
            if !e.uscc.eq_ignore_ascii_case(&on_key.uscc)
                || e.name != on_key.name
                || e.not_after != last_day
            {
                return Err(Rejection::field(field, label, "directory_disagrees")
                    .zh(
                        format!(
                            "介质上的证书 {serial} 为“{}”（{}），到期 {last_day}；中心证书目录记载为“{}”（{}），到期 {}：二者不一致",
                            on_key.name, on_key.uscc, e.name, e.uscc, e.not_after
                        ),
                        "暂不办理；请联系中心CA核实该证书（可能是伪造的介质或目录有误）",
                    )
                    .en(
                        format!(
                            "certificate {serial} on the key names {} ({}) to {last_day}; the central's directory says {} ({}) to {}",
                            on_key.name, on_key.uscc, e.name, e.uscc, e.not_after
                        ),
                        "do not act on it; have the central check the certificate",
                    )
                    .into());
            }
        }
        Ok(())
    }

    /// A certificate known from the central's directory only, as a record
    /// to act on (no certificate bytes: its facts). Written by the
    /// operation's last step, with the revocation it leads to.
    pub(super) fn directory_record(
        &self,
        app: &Application,
        serial: &str,
    ) -> Result<Option<CertRecord>, AppError> {
        let entries = self.store().directory_find(Some(serial), None)?;
        let Some(e) = entries
            .iter()
            .find(|e| e.provider == app.provider)
            .or(entries.first())
        else {
            return Ok(None);
        };
        let (field, label) = serial_field();
        if e.provider != app.provider {
            return Err(
                Rejection::field(field, label, "certificate_of_another_provider")
                    .zh(
                        format!(
                            "证书 {serial} 属于CA机构“{}”，不是所申请的CA机构",
                            e.provider
                        ),
                        "请按证书的签发机构选择CA机构后重新申请",
                    )
                    .en(
                        format!(
                            "certificate {serial} is {}'s, not {}'s",
                            e.provider, app.provider
                        ),
                        "apply under the provider that issued it",
                    )
                    .into(),
            );
        }
        if e.status != "valid" {
            return Err(Rejection::field(field, label, "certificate_not_active")
                .zh(
                    format!("中心证书目录显示证书 {serial} 已吊销"),
                    "已吊销的证书不能补办或再次吊销；请办理新证书",
                )
                .en(
                    format!("the central's directory says certificate {serial} was revoked"),
                    "apply for a new certificate",
                )
                .into());
        }
        Ok(Some(CertRecord {
            serial: e.serial.clone(),
            issuer: e.issuer.clone(),
            subject: format!("CN={}", e.name),
            not_before: e.not_before.clone(),
            not_after: e.not_after.clone(),
            key_serial: None,
            order_id: None,
            state: CertState::Active,
            der: Vec::new(),
            issued_at: String::new(),
            revoked_at: None,
            revocation_reason: None,
            source: kiosk_store::CertSource::Directory,
            issued_by: e.provider.clone(),
        }))
    }
}
