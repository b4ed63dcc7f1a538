//! Progress of the sync with the central CA.
//!
//! The central commits a contiguous prefix of the outbox, so progress is a
//! single watermark (`acked_seq`). Marking records acknowledged is not a
//! business change: it writes neither outbox nor audit rows.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::db::ts;
use crate::{Store, StoreError};

/// What the station knows about its sync, for `kioskctl sync status` and
/// the clerk console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncState {
    /// Highest outbox seq the central has committed.
    pub acked_seq: i64,
    /// Records still to send.
    pub pending: i64,
    pub last_attempt_at: Option<String>,
    pub last_success_at: Option<String>,
    pub last_error_code: Option<String>,
    pub last_error_message: Option<String>,
    pub decisions_cursor: i64,
    pub revocations_cursor: i64,
    /// The newest directory version the station holds.
    pub directory_cursor: i64,
}

/// A revocation published by the central CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CentralRevocation {
    pub issuer: String,
    pub serial: String,
    pub reason: i64,
    pub revoked_at: String,
    pub station_id: String,
}

impl Store {
    pub fn sync_state(&self) -> Result<SyncState, StoreError> {
        let mut s = self.conn.query_row(
            "SELECT acked_seq, last_attempt_at, last_success_at, last_error_code,
                    last_error_message, decisions_cursor, revocations_cursor, directory_cursor
             FROM sync_state WHERE id = 1",
            [],
            |r| {
                Ok(SyncState {
                    acked_seq: r.get(0)?,
                    pending: 0,
                    last_attempt_at: r.get(1)?,
                    last_success_at: r.get(2)?,
                    last_error_code: r.get(3)?,
                    last_error_message: r.get(4)?,
                    decisions_cursor: r.get(5)?,
                    revocations_cursor: r.get(6)?,
                    directory_cursor: r.get(7)?,
                })
            },
        )?;
        s.pending = self.conn.query_row(
            "SELECT count(*) FROM outbox WHERE seq > ?1",
            [s.acked_seq],
            |r| r.get(0),
        )?;
        Ok(s)
    }

    /// The highest seq in the outbox (0 when empty).
    pub fn outbox_head(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(seq), 0) FROM outbox", [], |r| r.get(0))?)
    }

    /// Outbox records with `seq > after`, oldest first, at most `limit`.
    /// The payload is the stored JSON text, byte for byte.
    pub fn outbox_after(&self, after: i64, limit: u32) -> Result<Vec<RawRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, id, kind, payload_version, payload, created_at, personal, personal_subject
             FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map((after, limit), |r| {
            Ok((
                RawRecord {
                    seq: r.get(0)?,
                    id: r.get(1)?,
                    kind: r.get(2)?,
                    payload_version: r.get(3)?,
                    payload: r.get(4)?,
                    created_at: r.get(5)?,
                    disclosures: Vec::new(),
                },
                r.get::<_, Option<Vec<u8>>>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut rec, personal, subject) = row?;
            if let (Some(blob), Some(subject)) = (personal, subject) {
                rec.disclosures = self.disclosures_of(&rec.id, &subject, Some(blob))?;
            }
            out.push(rec);
        }
        Ok(out)
    }

    /// Records that the central committed every record up to `seq`. Never
    /// moves the watermark back.
    pub fn mark_acked(&mut self, seq: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let path = self.path.clone();
        let mut run = || -> Result<(), StoreError> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: i64 =
                tx.query_row("SELECT acked_seq FROM sync_state WHERE id = 1", [], |r| {
                    r.get(0)
                })?;
            if seq > current {
                tx.execute(
                    "UPDATE outbox SET acked_at = ?1 WHERE seq > ?2 AND seq <= ?3 AND acked_at IS NULL",
                    (ts(now), current, seq),
                )?;
                tx.execute("UPDATE sync_state SET acked_seq = ?1 WHERE id = 1", [seq])?;
            }
            tx.commit()?;
            Ok(())
        };
        run().map_err(|e| e.at(&path))
    }

    /// Stamps the start of a sync attempt.
    pub fn sync_started(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sync_state SET last_attempt_at = ?1 WHERE id = 1",
            [ts(now)],
        )?;
        Ok(())
    }

    /// Records how a sync attempt ended: `None` for success.
    pub fn sync_finished(
        &mut self,
        now: DateTime<Utc>,
        error: Option<(&str, &str)>,
    ) -> Result<(), StoreError> {
        match error {
            None => self.conn.execute(
                "UPDATE sync_state SET last_success_at = ?1, last_error_code = NULL,
                 last_error_message = NULL WHERE id = 1",
                [ts(now)],
            )?,
            Some((code, message)) => self.conn.execute(
                "UPDATE sync_state SET last_error_code = ?1, last_error_message = ?2 WHERE id = 1",
                (code, message),
            )?,
        };
        Ok(())
    }

    pub fn set_decisions_cursor(&mut self, cursor: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sync_state SET decisions_cursor = max(decisions_cursor, ?1) WHERE id = 1",
            [cursor],
        )?;
        Ok(())
    }

    /// The central's word that a certificate was revoked elsewhere.
    pub fn central_revocation(
        &self,
        issuer: &str,
        serial: &str,
    ) -> Result<Option<CentralRevocation>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT issuer, serial, reason, revoked_at, station_id FROM central_revocations
                 WHERE issuer = ?1 AND serial = ?2",
                (issuer, serial),
                |r| {
                    Ok(CentralRevocation {
                        issuer: r.get(0)?,
                        serial: r.get(1)?,
                        reason: r.get(2)?,
                        revoked_at: r.get(3)?,
                        station_id: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Stores revocations from the central and moves the cursor, together.
    pub fn add_central_revocations(
        &mut self,
        revocations: &[CentralRevocation],
        cursor: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let mut run = || -> Result<(), StoreError> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            for r in revocations {
                tx.execute(
                    "INSERT INTO central_revocations
                       (issuer, serial, reason, revoked_at, station_id, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                    (
                        &r.issuer,
                        &r.serial,
                        r.reason,
                        &r.revoked_at,
                        &r.station_id,
                        ts(now),
                    ),
                )?;
            }
            tx.execute(
                "UPDATE sync_state SET revocations_cursor = max(revocations_cursor, ?1) WHERE id = 1",
                [cursor],
            )?;
            tx.commit()?;
            Ok(())
        };
        run().map_err(|e| e.at(&path))
    }
}

impl Store {
    /// Stores a page of the central's directory and moves the cursor,
    /// together: an entry replaces what the station held for the same
    /// certificate.
    pub fn add_directory(
        &mut self,
        entries: &[kiosk_sync::DirectoryEntry],
        cursor: i64,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let mut run = || -> Result<(), StoreError> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut put = tx.prepare_cached(
                    "INSERT OR REPLACE INTO directory
                       (issuer, serial, provider, name, uscc, not_before, not_after, status, version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for e in entries {
                    put.execute((
                        &e.issuer,
                        &e.serial,
                        &e.provider,
                        &e.name,
                        &e.uscc,
                        &e.not_before,
                        &e.not_after,
                        &e.status,
                        e.version,
                    ))?;
                }
            }
            tx.execute(
                "UPDATE sync_state SET directory_cursor = max(directory_cursor, ?1) WHERE id = 1",
                [cursor],
            )?;
            tx.commit()?;
            Ok(())
        };
        run().map_err(|e| e.at(&path))
    }

    /// Directory entries with this certificate serial or this USCC.
    pub fn directory_find(
        &self,
        serial: Option<&str>,
        uscc: Option<&str>,
    ) -> Result<Vec<kiosk_sync::DirectoryEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT version, provider, issuer, serial, name, uscc, not_before, not_after, status
             FROM directory WHERE serial = ?1
             UNION
             SELECT version, provider, issuer, serial, name, uscc, not_before, not_after, status
             FROM directory WHERE uscc = ?2
             ORDER BY 1",
        )?;
        let rows = stmt.query_map((serial, uscc), |r| {
            Ok(kiosk_sync::DirectoryEntry {
                version: r.get(0)?,
                provider: r.get(1)?,
                issuer: r.get(2)?,
                serial: r.get(3)?,
                name: r.get(4)?,
                uscc: r.get(5)?,
                not_before: r.get(6)?,
                not_after: r.get(7)?,
                status: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// An outbox record as stored: the payload is the JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawRecord {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub payload_version: i64,
    pub payload: String,
    pub created_at: String,
    /// The personal values the payload's digests stand for, decrypted
    /// for the central (`personal.rs`).
    pub disclosures: Vec<kiosk_sync::personal::Disclosure>,
}
