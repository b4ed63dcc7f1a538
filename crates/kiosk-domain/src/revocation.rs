//! Why a certificate was revoked: RFC 5280 CRLReason (5.3.1), by name, and
//! the reason each counter operation implies.

use serde::{Deserialize, Serialize};

use crate::Operation;

/// RFC 5280 reason codes by name. `removeFromCRL` (8) is left out: the
/// station never puts a certificate on hold, so nothing comes off a CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    PrivilegeWithdrawn,
    AaCompromise,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 9] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// What an applicant may give as the reason for a revocation (吊销):
    /// the others are the CA's to state.
    pub const STATED: [RevocationReason; 5] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
    ];

    /// The CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::PrivilegeWithdrawn => 9,
            RevocationReason::AaCompromise => 10,
        }
    }

    /// The reason for a CRLReason code; `None` for 7 (unused), 8
    /// (removeFromCRL) and codes RFC 5280 does not define.
    pub fn from_code(code: i64) -> Option<RevocationReason> {
        Some(match code {
            0 => RevocationReason::Unspecified,
            1 => RevocationReason::KeyCompromise,
            2 => RevocationReason::CaCompromise,
            3 => RevocationReason::AffiliationChanged,
            4 => RevocationReason::Superseded,
            5 => RevocationReason::CessationOfOperation,
            6 => RevocationReason::CertificateHold,
            9 => RevocationReason::PrivilegeWithdrawn,
            10 => RevocationReason::AaCompromise,
            _ => return None,
        })
    }

    /// The machine name used on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "key-compromise",
            RevocationReason::CaCompromise => "ca-compromise",
            RevocationReason::AffiliationChanged => "affiliation-changed",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessation-of-operation",
            RevocationReason::CertificateHold => "certificate-hold",
            RevocationReason::PrivilegeWithdrawn => "privilege-withdrawn",
            RevocationReason::AaCompromise => "aa-compromise",
        }
    }

    /// The reason as the counter says it.
    pub fn label_zh(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "未说明",
            RevocationReason::KeyCompromise => "密钥泄露或介质遗失",
            RevocationReason::CaCompromise => "CA密钥泄露",
            RevocationReason::AffiliationChanged => "单位信息变更",
            RevocationReason::Superseded => "证书已被替换",
            RevocationReason::CessationOfOperation => "停止使用（如单位注销）",
            RevocationReason::CertificateHold => "暂停使用",
            RevocationReason::PrivilegeWithdrawn => "权限撤销",
            RevocationReason::AaCompromise => "属性机构密钥泄露",
        }
    }

    /// The reason an operation implies for the certificate it replaces:
    /// a lost key may be in anyone's hands (keyCompromise); a damaged key,
    /// a change and an algorithm upgrade replace the certificate
    /// (superseded). A revocation takes the applicant's stated reason and a
    /// renewal revokes nothing.
    pub fn implied_by(op: Operation) -> Option<RevocationReason> {
        match op {
            Operation::ReplaceLost => Some(RevocationReason::KeyCompromise),
            Operation::ReplaceDamaged | Operation::Change | Operation::Upgrade => {
                Some(RevocationReason::Superseded)
            }
            Operation::New | Operation::Renew | Operation::Unlock | Operation::Revoke => None,
        }
    }
}

impl std::str::FromStr for RevocationReason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RevocationReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = RevocationReason::ALL.iter().map(|r| r.as_str()).collect();
                format!("{s:?} is not a reason; one of {}", names.join(", "))
            })
    }
}

impl std::fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_skip_the_unused_ones() {
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::from_code(r.code().into()), Some(r));
            assert_eq!(r.as_str().parse::<RevocationReason>(), Ok(r));
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        for unused in [7, 8, 11, -1] {
            assert_eq!(RevocationReason::from_code(unused), None);
        }
    }

    #[test]
    fn each_operation_implies_its_reason() {
        use Operation as O;
        use RevocationReason as R;
        let table = [
            (O::New, None),
            (O::Renew, None),
            (O::Change, Some(R::Superseded)),
            (O::ReplaceLost, Some(R::KeyCompromise)),
            (O::ReplaceDamaged, Some(R::Superseded)),
            (O::Unlock, None),
            (O::Revoke, None),
            (O::Upgrade, Some(R::Superseded)),
        ];
        assert_eq!(table.len(), O::ALL.len());
        for (op, reason) in table {
            assert_eq!(R::implied_by(op), reason, "{op}");
        }
    }
}
