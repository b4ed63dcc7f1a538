//! Less to type at the touchscreen:
//! - a returning company: once the applicant has entered a valid USCC, the
//!   touchscreen offers (and fills only with the applicant's confirmation)
//!   what this station's last *completed* order of that company says of
//!   it: data a clerk checked against the licence;
//! - a renewal or change: the company the certificate on the key names,
//!   when that certificate holds;
//! - the business licence's QR code, scanned or photographed: its USCC.
//!
//! The company's name, USCC, legal representative and mailing address
//! only; never a person's ID number or phone number, which are asked
//! again every time.

use kiosk_domain::validate;
use serde::Serialize;

use crate::{AppError, KeyView, Station};

/// Where a prefill comes from, which the offer names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum PrefillSource {
    /// This station's last completed order of the company.
    LastOrder,
    /// The certificate on the applicant's key (name and USCC), with the
    /// rest from the last completed order when there is one.
    Certificate,
}

/// What is offered to a returning company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct CompanyPrefill {
    pub uscc: String,
    /// 单位名称
    pub name: String,
    /// 法人代表, when known.
    pub legal_representative: Option<String>,
    /// 邮寄地址, when known.
    pub mailing_address: Option<String>,
    pub source: PrefillSource,
}

/// The USCC a business licence's QR code carries, from what the counter's
/// scanner typed (see [`validate::uscc_in_licence_code`]); refusals are
/// addressed to the form's USCC field.
pub fn licence_uscc(code: &str) -> Result<String, AppError> {
    let u = validate::uscc_in_licence_code(code).map_err(at_uscc)?;
    Ok(u.as_str().to_string())
}

/// The USCC of the business licence whose QR code is in a picture (a
/// photo at the counter's camera): every code found is read, as
/// [`licence_uscc`] reads one.
pub fn licence_uscc_in_picture(name: &str, bytes: &[u8]) -> Result<String, AppError> {
    let codes = crate::documents::scans::qr_codes_in(name, bytes)?;
    if codes.is_empty() {
        return Err(kiosk_domain::Rejection::field("organization.uscc", "统一社会信用代码", "no_licence_code")
            .zh(
                format!("图片“{name}”中没有可识别的二维码"),
                "请将营业执照右上角的二维码对准镜头重新拍摄（清晰、不反光），或手动输入代码",
            )
            .en(
                format!("no QR code could be read in the picture {name}"),
                "photograph the QR code at the top right of the licence again (sharp, no glare), or type the code",
            )
            .into());
    }
    licence_uscc(&codes.join("\n"))
}

fn at_uscc(r: kiosk_domain::Rejection) -> kiosk_domain::Rejection {
    r.at("organization.uscc", "统一社会信用代码")
}

impl Station {
    /// The prefill for the company with this USCC, if it completed an
    /// order here; a USCC that is not valid is refused as the field is.
    pub fn returning_company(&self, uscc: &str) -> Result<Option<CompanyPrefill>, AppError> {
        let uscc = validate::uscc(uscc).map_err(at_uscc)?;
        let Some(order) = self.store().last_completed_order_of(uscc.as_str())? else {
            return Ok(None);
        };
        let o = &order.application.organization;
        Ok(Some(CompanyPrefill {
            uscc: o.uscc.clone(),
            name: o.name.clone(),
            legal_representative: Some(o.legal_representative.clone()),
            // Empty once the order's personal data was purged.
            mailing_address: Some(order.application.handler.mailing_address.clone())
                .filter(|a| !a.is_empty()),
            source: PrefillSource::LastOrder,
        }))
    }

    /// The company the certificate on a key names, offered on the renewal
    /// and change paths: only when the certificate holds (its chain, its
    /// key pair on the key, not revoked), with the legal representative
    /// and address of the station's last completed order of that USCC.
    pub fn company_on_key(&self, key: &KeyView) -> Result<Option<CompanyPrefill>, AppError> {
        let holds = key.provenance.as_ref().is_some_and(|p| p.verified);
        let Some(holder) = key.holder.as_ref().filter(|_| holds) else {
            return Ok(None);
        };
        let Ok(uscc) = validate::uscc(&holder.uscc) else {
            return Ok(None);
        };
        let last = self.returning_company(uscc.as_str())?;
        Ok(Some(CompanyPrefill {
            uscc: uscc.as_str().to_string(),
            name: holder.name.clone(),
            legal_representative: last.as_ref().and_then(|l| l.legal_representative.clone()),
            mailing_address: last.and_then(|l| l.mailing_address),
            source: PrefillSource::Certificate,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::demo::{counter_steps, scratch_session, APPLICATION_JSON};
    use crate::SystemClock;

    #[test]
    fn only_a_completed_order_is_offered_and_never_a_persons_id_or_phone() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Station::open(dir.path(), Arc::new(SystemClock)).unwrap();
        let clerk = scratch_session(&mut st).unwrap();
        let uscc = "91500000MA5U8K2T0A";
        assert_eq!(st.returning_company(uscc).unwrap(), None, "a new company");
        let order = st.create_order(APPLICATION_JSON, &clerk).unwrap();
        assert_eq!(
            st.returning_company(uscc).unwrap(),
            None,
            "not completed yet"
        );
        for cmd in counter_steps(&order) {
            st.order_command(&order.id, cmd, &clerk).unwrap();
        }
        let offered = st
            .returning_company(" 91500000ma5u8k2t0a ")
            .unwrap()
            .unwrap();
        let o = &order.application.organization;
        assert_eq!(
            (
                offered.name.as_str(),
                offered.legal_representative.as_deref()
            ),
            (o.name.as_str(), Some(o.legal_representative.as_str()))
        );
        assert_eq!(
            offered.mailing_address.as_deref(),
            Some(order.application.handler.mailing_address.as_str())
        );
        assert_eq!(offered.source, PrefillSource::LastOrder);
        let said = serde_json::to_string(&offered).unwrap();
        for private in [
            &o.legal_rep_id,
            &o.phone,
            &o.office_phone,
            &order.application.handler.id_number,
            &order.application.handler.mobile,
        ] {
            assert!(
                !said.contains(private.as_str()),
                "{private} offered: {said}"
            );
        }
        // Another company's USCC finds nothing; a wrong one is refused.
        assert_eq!(st.returning_company("91500000MA5U8K2U97").unwrap(), None);
        assert!(st.returning_company("91500000MA5U8K2T0B").is_err());
    }

    /// A key whose certificate names `uscc`'s company, its provenance
    /// verified or not.
    fn key_naming(uscc: &str, verified: bool) -> KeyView {
        KeyView {
            key_serial: "k1".into(),
            token_label: "KEY".into(),
            model: "SoftHSM v2".into(),
            lock: crate::keys::LockStatus {
                locked: false,
                wrong_pins: 0,
                hint: None,
            },
            certificate_serial: Some("01".into()),
            subject: None,
            holder: Some(kiosk_domain::certificate::Holder {
                name: "重庆示例建材有限公司".into(),
                uscc: uscc.into(),
            }),
            issuer: None,
            not_before: None,
            not_after: None,
            provenance: Some(crate::keys::Provenance {
                verified,
                issued_by: None,
                issued_by_name: None,
                chain: Vec::new(),
                issuer_serial: None,
                problem: None,
            }),
            objects: Vec::new(),
            stock: None,
        }
    }

    #[test]
    fn the_company_on_a_key_is_offered_only_when_its_certificate_holds() {
        let dir = tempfile::tempdir().unwrap();
        let st = Station::open(dir.path(), Arc::new(SystemClock)).unwrap();
        let uscc = "91500000MA5U8K2T0A";
        // A certificate that does not hold (forged, another CA's, revoked)
        // fills nothing, whatever it names.
        assert_eq!(st.company_on_key(&key_naming(uscc, false)).unwrap(), None);
        // One that holds offers its name and USCC; nothing is known of the
        // legal representative or address of a company new here.
        let offered = st.company_on_key(&key_naming(uscc, true)).unwrap().unwrap();
        assert_eq!(offered.source, PrefillSource::Certificate);
        assert_eq!(
            (offered.uscc.as_str(), offered.name.as_str()),
            (uscc, "重庆示例建材有限公司")
        );
        assert_eq!(
            (offered.legal_representative, offered.mailing_address),
            (None, None)
        );
        // A certificate naming no valid USCC offers nothing.
        assert_eq!(
            st.company_on_key(&key_naming("91500000MA5U8K2T0B", true))
                .unwrap(),
            None
        );
    }
}
