//! A station's master secret wrapped for its token: what the station asks
//! the central (`kioskctl ca master-request`, `central station master`)
//! and what the central answers (`kioskctl ca master-import`). Files an
//! operator carries, not requests over the wire.

use serde::{Deserialize, Serialize};

/// What a station token sends to have the master wrapped for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterRequest {
    pub station_id: String,
    pub token_serial: String,
    /// The token's unwrapping public key, RSAPublicKey DER, base64.
    pub unwrap_key: String,
}

/// The central's answer: the master, wrapped for one token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedMaster {
    pub station_id: String,
    /// RSA-OAEP (SHA-1, MGF1-SHA-1) of the 32-byte master, base64.
    pub wrapped: String,
    /// HMAC-SHA256(master, [`check_text`]), hex.
    pub check: String,
}

/// The text whose HMAC under the master is its check value.
pub fn check_text(station_id: &str) -> String {
    format!("kiosk-master-check:{station_id}")
}
