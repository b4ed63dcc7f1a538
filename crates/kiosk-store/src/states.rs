//! The states a stock key, an issued certificate and an extracted seal go
//! through, as the store writes them (`key_stock.state`,
//! `certificates.state`, `seals.status`) and as the audit trail names their
//! events (`key.issued`, `certificate.revoked`).

use std::fmt;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

macro_rules! stored_state {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
        #[serde(rename_all = "kebab-case")]
        #[ts(export)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name the database and the audit trail use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("unknown {} '{other}'", stringify!($name))),
                }
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e: String| FromSqlError::Other(e.into()))
            }
        }
    };
}

stored_state!(
    /// A key in stock: received blank, set aside for an order, written and
    /// handed over, or taken out of service.
    StockState {
        InStock => "in-stock",
        Assigned => "assigned",
        Issued => "issued",
        Defective => "defective",
        Returned => "returned",
        Retired => "retired",
    }
);

stored_state!(
    /// A certificate the station signed: recorded the moment it is signed
    /// (`Issued`), in use once it is on the key (`Active`), then replaced by
    /// a renewal (`Superseded`) or revoked.
    CertState {
        Issued => "issued",
        Active => "active",
        Superseded => "superseded",
        Revoked => "revoked",
    }
);

stored_state!(
    /// A seal cut out of the stamped sample sheet: proposed to the clerk,
    /// who approves or rejects it once.
    SealState {
        Proposed => "proposed",
        Approved => "approved",
        Rejected => "rejected",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in StockState::ALL {
            assert_eq!(s.as_str().parse::<StockState>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in CertState::ALL {
            assert_eq!(s.as_str().parse::<CertState>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in SealState::ALL {
            assert_eq!(s.as_str().parse::<SealState>(), Ok(*s));
        }
        assert!("in_stock".parse::<StockState>().is_err());
    }
}

stored_state!(
    /// Where a certificate record comes from: signed by this station, read
    /// from an applicant's key (issued elsewhere, taken once it verified
    /// against its provider's anchors), or known from the central's
    /// directory only (a lost key: the station holds its facts, not the
    /// certificate).
    CertSource {
        Issued => "issued",
        ReadFromKey => "read-from-key",
        Directory => "directory",
    }
);
