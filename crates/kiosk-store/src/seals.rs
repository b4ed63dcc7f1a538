//! Seals of the audit trail (see `kiosk_sync::audit::Seal`): kept beside
//! the trail, not in it, so that sealing does not move its head.

use kiosk_sync::audit::{AuditRow, Seal, SentRow};

use crate::{Store, StoreError};

impl Store {
    /// The newest row of the trail: (seq, hash); (0, genesis) when empty.
    pub fn audit_head(&self) -> Result<(i64, String), StoreError> {
        let head = self
            .conn
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            });
        match head {
            Ok(h) => Ok(h),
            Err(rusqlite::Error::QueryReturnedNoRows) => {
                Ok((0, kiosk_sync::audit::GENESIS.to_string()))
            }
            Err(e) => Err(StoreError::from(e).at(&self.path)),
        }
    }

    /// Keeps a seal (another seal of the same row replaces it).
    pub fn add_audit_seal(&self, seal: &Seal) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO audit_seals (audit_seq, hash, at, signature) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (audit_seq) DO UPDATE SET hash = excluded.hash, at = excluded.at,
                     signature = excluded.signature",
                (seal.seq, &seal.hash, &seal.at, &seal.signature),
            )
            .map_err(|e| StoreError::from(e).at(&self.path))?;
        Ok(())
    }

    /// Every seal, oldest row first.
    pub fn audit_seals(&self) -> Result<Vec<Seal>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT audit_seq, hash, at, signature FROM audit_seals ORDER BY audit_seq")?;
        let rows = stmt.query_map([], |r| {
            Ok(Seal {
                seq: r.get(0)?,
                hash: r.get(1)?,
                at: r.get(2)?,
                signature: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Rows `after`+1 up to `upto`, oldest first, each with its stored hash.
    pub fn audit_rows(&self, after: i64, upto: i64) -> Result<Vec<SentRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit
             WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
        )?;
        let rows = stmt.query_map((after, upto), sent_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// A row of `SELECT seq, at, actor, action, subject, detail, prev_hash,
/// hash FROM audit`, with its stored hash.
pub(crate) fn sent_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SentRow> {
    Ok(SentRow {
        row: AuditRow {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            subject: r.get(4)?,
            detail: r.get(5)?,
            prev_hash: r.get(6)?,
        },
        hash: r.get(7)?,
    })
}
