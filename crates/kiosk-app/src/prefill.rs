//! Less to type for a returning company: once the applicant has entered a
//! valid USCC, the touchscreen offers (and fills only with the applicant's
//! confirmation) what this station's last *completed* order of that
//! company says of it: data a clerk checked against the licence. The
//! company's name, legal representative and mailing address only; never a
//! person's ID number or phone number, which are asked again every time.

use kiosk_domain::validate;
use serde::Serialize;

use crate::{AppError, Station};

/// What is offered to a returning company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct CompanyPrefill {
    pub uscc: String,
    /// 单位名称
    pub name: String,
    /// 法人代表
    pub legal_representative: String,
    /// 邮寄地址
    pub mailing_address: String,
}

impl Station {
    /// The prefill for the company with this USCC, if it completed an
    /// order here; a USCC that is not valid is refused as the field is.
    pub fn returning_company(&self, uscc: &str) -> Result<Option<CompanyPrefill>, AppError> {
        let uscc =
            validate::uscc(uscc).map_err(|r| r.at("organization.uscc", "统一社会信用代码"))?;
        let Some(order) = self.store().last_completed_order_of(uscc.as_str())? else {
            return Ok(None);
        };
        let o = &order.application.organization;
        Ok(Some(CompanyPrefill {
            uscc: o.uscc.clone(),
            name: o.name.clone(),
            legal_representative: o.legal_representative.clone(),
            mailing_address: order.application.handler.mailing_address.clone(),
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
            (offered.name.as_str(), offered.legal_representative.as_str()),
            (o.name.as_str(), o.legal_representative.as_str())
        );
        assert_eq!(
            offered.mailing_address,
            order.application.handler.mailing_address
        );
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
}
