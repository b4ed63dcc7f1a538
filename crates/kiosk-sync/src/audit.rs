//! The station's audit trail as both sides compute it: the hash of a row
//! (which chains it to the row before) and the message a seal signs.
//!
//! A seal is the station's issuing key (in the station token) signing the
//! hash of one row: whoever holds only the database file cannot make one,
//! and anyone with the station's certificate can check it. The central
//! keeps the rows and seals each sync brings and refuses a station whose
//! history no longer leads to what it already holds.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Hash that precedes the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A seal's signed message begins with this line: it keeps a seal apart
/// from a sync request (`KIOSK-SYNC/1`), a certificate and a CRL (DER,
/// beginning with 0x30).
pub const SEAL_PREFIX: &str = "KIOSK-AUDIT-SEAL/1";

/// One row of the trail, as hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// JSON text: the outbox record it vouches for (`outbox_seq`,
    /// `outbox_id`, `payload_sha256`) and a summary.
    pub detail: String,
    pub prev_hash: String,
}

impl AuditRow {
    /// SHA-256 over a JSON array of every column but the hash, so that no
    /// two different rows can encode alike.
    pub fn hash(&self) -> String {
        let canonical = serde_json::json!([
            self.seq,
            self.at,
            self.actor,
            self.action,
            self.subject,
            self.detail,
            self.prev_hash
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// A signed checkpoint of the trail: row `seq` has hash `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub seq: i64,
    pub hash: String,
    pub at: String,
    /// The signature (DER for ECDSA), hex.
    pub signature: String,
}

impl Seal {
    /// What the station's key signs.
    pub fn message(station: &str, seq: i64, hash: &str, at: &str) -> Vec<u8> {
        [SEAL_PREFIX, station, &seq.to_string(), hash, at]
            .join("\n")
            .into_bytes()
    }

    /// Checks the seal against the certificate of the key that made it.
    pub fn verify(&self, station: &str, cert_der: &[u8]) -> Result<(), crate::VerifyError> {
        let signature = hex::decode(&self.signature).map_err(|_| crate::VerifyError::Signature)?;
        crate::verify(
            cert_der,
            &Seal::message(station, self.seq, &self.hash, &self.at),
            &signature,
        )
    }
}

/// Walks `rows` (consecutive, oldest first) from the row before them,
/// whose hash is `prev`: each must chain to the one before and carry its
/// own hash. Returns the hash of the last, or the first row that breaks.
pub fn chain(prev: &str, rows: &[SentRow]) -> Result<String, i64> {
    let mut prev = prev.to_string();
    let mut expected_seq = None;
    for SentRow { row, hash } in rows {
        if row.prev_hash != prev
            || row.hash() != *hash
            || expected_seq.is_some_and(|s| s != row.seq)
        {
            return Err(row.seq);
        }
        expected_seq = Some(row.seq + 1);
        prev = hash.clone();
    }
    Ok(prev)
}

/// Most rows one audit upload carries.
pub const MAX_AUDIT_ROWS: usize = 5_000;

/// One row as sent, with the hash the station stored for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRow {
    #[serde(flatten)]
    pub row: AuditRow,
    pub hash: String,
}

/// `POST /v1/stations/{id}/audit`: the rows after the central's
/// `audit_seq` (see [`crate::Head`]) up to a sealed one, and its seal.
/// The first upload of a station starts wherever it likes: its first
/// row's `prev_hash` is taken as the anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditUpload {
    pub rows: Vec<SentRow>,
    pub seal: Seal,
}

/// The answer: the newest row the central now holds sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAck {
    pub audit_seq: i64,
}
