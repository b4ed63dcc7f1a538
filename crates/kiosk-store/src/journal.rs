//! The outbox and the audit trail, written together with every change.

use chrono::{DateTime, Utc};
use rusqlite::Transaction;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::{NoContext, Timestamp, Uuid};

use crate::db::ts;
use crate::StoreError;

/// Version of the outbox payload envelope written by this binary: 2 holds
/// personal values as digests, disclosed beside the payload
/// (`kiosk_sync::personal`).
pub const PAYLOAD_VERSION: i64 = 2;

pub(crate) use kiosk_sync::audit::{AuditRow, GENESIS};

/// Who did it: a clerk, an operator, the system, or the central CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor(String);

impl Actor {
    pub fn clerk(id: &str) -> Actor {
        Actor(format!("clerk:{}", id.trim()))
    }
    pub fn operator(id: &str) -> Actor {
        Actor(format!("operator:{}", id.trim()))
    }
    pub fn system() -> Actor {
        Actor("system".into())
    }
    /// The central CA, acting through sync.
    pub fn central() -> Actor {
        Actor("central".into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A record queued for the central CA.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRecord {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub payload_version: i64,
    pub payload: Value,
    pub created_at: String,
    pub acked_at: Option<String>,
}

/// A time-ordered id (UUIDv7) stamped with the given instant.
pub fn new_id(now: DateTime<Utc>) -> String {
    let ts = Timestamp::from_unix(
        NoContext,
        now.timestamp() as u64,
        now.timestamp_subsec_nanos(),
    );
    Uuid::new_v7(ts).to_string()
}

/// The handle a write transaction gets.
pub struct Writer<'a> {
    pub(crate) tx: Transaction<'a>,
    pub(crate) actor: &'a Actor,
    pub(crate) now: DateTime<Utc>,
    /// The epoch's key, when the station keys its trail.
    pub(crate) key: Option<&'a crate::AuditKey>,
    pub(crate) station: &'a str,
    /// Orders' personal-data keys.
    pub(crate) personal: &'a crate::personal::Keys,
}

impl Writer<'_> {
    pub(crate) fn tx(&self) -> &Transaction<'_> {
        &self.tx
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Queues `data` for the central CA and appends the audit row that
    /// vouches for it. `subject` is what the change is about (an order id,
    /// `catalog`); `summary` is the short, human-readable part of the audit.
    /// Personal values in `data` are redacted (`personal.rs`): the payload
    /// holds their digests, the disclosures go beside it, encrypted.
    pub(crate) fn record(
        &mut self,
        kind: &str,
        subject: &str,
        mut data: Value,
        summary: Value,
    ) -> Result<i64, StoreError> {
        let station = self.station;
        let id = new_id(self.now);
        let personal = self.redact_record(subject, &id, &mut data)?;
        let at = ts(self.now);
        let payload = json!({
            "station_id": station,
            "kind": kind,
            "subject": subject,
            "at": at,
            "actor": self.actor.as_str(),
            "data": data,
        })
        .to_string();
        // The statements of every write, prepared once per connection.
        self.tx
            .prepare_cached(
                "INSERT INTO outbox (id, kind, payload_version, payload, created_at, personal, personal_subject)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute((
                &id,
                kind,
                PAYLOAD_VERSION,
                &payload,
                &at,
                &personal,
                personal.as_ref().map(|_| subject),
            ))?;
        let outbox_seq = self.tx.last_insert_rowid();
        let detail = json!({
            "outbox_seq": outbox_seq,
            "outbox_id": id,
            "payload_sha256": hex::encode(Sha256::digest(payload.as_bytes())),
            "summary": summary,
        })
        .to_string();
        let (prev_seq, prev_hash): (i64, String) = self
            .tx
            .prepare_cached("SELECT seq, hash FROM audit_head WHERE id = 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok((0, GENESIS.to_string())),
                e => Err(e),
            })?;
        let row = AuditRow {
            seq: prev_seq + 1,
            at,
            actor: self.actor.as_str().to_string(),
            action: kind.to_string(),
            subject: subject.to_string(),
            detail,
            prev_hash,
        };
        let hash = row.hash();
        let (epoch, mac) = match self.key {
            Some(k) => (Some(k.epoch()), Some(k.mac(&hash))),
            None => (None, None),
        };
        self.tx
            .prepare_cached(
                "INSERT INTO audit (seq, at, actor, action, subject, detail, prev_hash, hash, key_epoch, mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute((
                row.seq,
                &row.at,
                &row.actor,
                &row.action,
                &row.subject,
                &row.detail,
                &row.prev_hash,
                &hash,
                epoch,
                mac,
            ),
        )?;
        self.tx
            .prepare_cached(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            )?
            .execute((row.seq, &hash))?;
        Ok(outbox_seq)
    }
}
