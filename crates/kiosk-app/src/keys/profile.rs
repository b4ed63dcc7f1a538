//! What goes into a certificate: the provider's issuance profile, subject, extensions and validity.

use chrono::NaiveDate;
use kiosk_domain::catalog::{KeyAlgorithm, UsccAttribute};
use kiosk_domain::order::{Order, OrderState};
use kiosk_domain::{Operation, Rejection};
use kiosk_keys::SubjectSpec;
use time::OffsetDateTime;

use crate::{AppError, Station};

pub(crate) fn check_operation(order: &Order, allowed: &[Operation]) -> Result<(), AppError> {
    if !allowed.contains(&order.application.operation) {
        return Err(Rejection::field("operation", "业务类型", "not_built").zh(format!(
                "{}不能用此流程办理",
                order.application.operation.label_zh()
            ), "请按订单的业务类型办理（新办与补办写入新介质，更新、变更、升级、解锁、吊销在原介质上办理）").en(format!(
                "{} cannot be carried out by this flow",
                order.application.operation
            ), "carry out the order as its operation says (new keys and replacements onto a blank key, the others on the applicant's key)")
        .into());
    }
    match order.state {
        OrderState::AwaitingProduction | OrderState::InProduction => Ok(()),
        s => Err(Rejection::field("state", "订单状态", "invalid_transition")
            .zh(
                format!("订单当前为“{}”，不能制证", s.label_zh()),
                "请先完成材料审核与收费",
            )
            .en(
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
        KeyAlgorithm::Sm2 => kiosk_keys::KeyKind::Sm2,
    }
}

/// The profile's key usages, extended key usages, and the CRL and AIA
/// addresses of the issuing station.
pub(crate) fn extensions(
    profile: &kiosk_domain::catalog::IssuanceProfile,
    station_id: &str,
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
        crl_url: Some(profile.crl_url_for(station_id)).filter(|u| !u.is_empty()),
        ca_issuers_url: profile.ca_issuers_url_for(station_id),
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

/// The last second of a station day (UTC+8).
pub(crate) fn end_of_day(d: NaiveDate) -> OffsetDateTime {
    crate::clock::x509_time(kiosk_domain::calendar::day_end(d))
}
