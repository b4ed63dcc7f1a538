//! Attachments (scans), print jobs and electronic seals of an order: each
//! written with its outbox record and audit row. Picture and PDF bytes are
//! files named by their SHA-256 under the data directory; rows hold the
//! names and what the station found.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::db::ts;
use crate::journal::Actor;
use crate::states::SealState;
use crate::{Store, StoreError};

/// A scan attached to a checklist item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: String,
    pub order_id: String,
    /// Checklist item id.
    pub item: String,
    pub file_name: String,
    /// SHA-256 of the file as uploaded (kept for the record, not stored).
    pub original_sha256: String,
    /// SHA-256 of the stored, upright, downscaled JPEG.
    pub sha256: String,
    pub thumb_sha256: String,
    pub width: u32,
    pub height: u32,
    /// Whether a red seal imprint was seen; `None` when none was needed.
    pub seal_found: Option<bool>,
    /// Warnings shown to the clerk (Chinese), e.g. no seal seen.
    #[serde(default)]
    pub warnings: Vec<String>,
    pub created_at: String,
    pub created_by: String,
    /// What the image pipeline reported (sizes, orientation, seal box).
    #[serde(default)]
    pub detail: Value,
}

/// A document printed or saved for an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrintJob {
    pub id: String,
    pub order_id: String,
    /// `application`, `seal-sheet`, `authorization`, `receipt`.
    pub document: String,
    pub printer: Option<String>,
    pub cups_job_id: Option<i32>,
    /// `saved`, `submitted`, `completed`, `failed`, `waiting`.
    pub state: String,
    pub pages: Option<u32>,
    pub pdf_sha256: String,
    /// The clerk-facing note on how it went (Chinese).
    #[serde(default)]
    pub message: String,
    pub created_at: String,
    pub updated_at: String,
    pub created_by: String,
}

/// An electronic seal cut from a scan, waiting for or given the clerk's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seal {
    pub id: String,
    pub order_id: String,
    pub attachment_id: String,
    pub png_sha256: String,
    pub width: u32,
    pub height: u32,
    pub status: SealState,
    pub created_at: String,
    pub updated_at: String,
    pub decided_by: Option<String>,
}

impl Store {
    pub fn add_attachment(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
        a: &Attachment,
    ) -> Result<(), StoreError> {
        self.write(actor, now, |w| {
            w.tx().execute(
                "INSERT INTO attachments (id, order_id, item, file_name, original_sha256, sha256,
                     thumb_sha256, width, height, seal_found, created_at, created_by, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                rusqlite::params![
                    a.id,
                    a.order_id,
                    a.item,
                    a.file_name,
                    a.original_sha256,
                    a.sha256,
                    a.thumb_sha256,
                    a.width,
                    a.height,
                    a.seal_found,
                    ts(now),
                    a.created_by,
                    serde_json::to_string(a)?
                ],
            )?;
            w.record(
                "attachment.added",
                &a.order_id,
                json!({ "attachment": a }),
                json!({ "item": a.item, "file": a.file_name, "sha256": a.sha256,
                        "seal_found": a.seal_found }),
            )?;
            Ok(())
        })
    }

    /// An order's attachments, oldest first.
    pub fn attachments(&self, order_id: &str) -> Result<Vec<Attachment>, StoreError> {
        self.bodies(
            "SELECT body FROM attachments WHERE order_id = ?1 ORDER BY created_at, id",
            order_id,
        )
    }

    pub fn attachment(&self, id: &str) -> Result<Option<Attachment>, StoreError> {
        self.body("SELECT body FROM attachments WHERE id = ?1", id)
    }

    pub fn add_print_job(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
        j: &PrintJob,
    ) -> Result<(), StoreError> {
        self.write(actor, now, |w| {
            w.tx().execute(
                "INSERT INTO print_jobs (id, order_id, document, printer, cups_job_id, state, pages,
                     pdf_sha256, created_at, updated_at, created_by, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)",
                rusqlite::params![
                    j.id,
                    j.order_id,
                    j.document,
                    j.printer,
                    j.cups_job_id,
                    j.state,
                    j.pages,
                    j.pdf_sha256,
                    ts(now),
                    j.created_by,
                    serde_json::to_string(j)?
                ],
            )?;
            w.record(
                "document.printed",
                &j.order_id,
                json!({ "print_job": j }),
                json!({ "document": j.document, "printer": j.printer, "state": j.state,
                        "cups_job_id": j.cups_job_id }),
            )?;
            Ok(())
        })
    }

    /// Records how a print job ended (or where it waits).
    pub fn update_print_job(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
        j: &PrintJob,
    ) -> Result<(), StoreError> {
        self.write(actor, now, |w| {
            let changed = w.tx().execute(
                "UPDATE print_jobs SET state = ?1, pages = ?2, updated_at = ?3, body = ?4 WHERE id = ?5",
                rusqlite::params![j.state, j.pages, ts(now), serde_json::to_string(j)?, j.id],
            )?;
            if changed != 1 {
                return Err(StoreError::Conflict(j.id.clone()));
            }
            w.record(
                "document.print-state",
                &j.order_id,
                json!({ "print_job_id": j.id, "state": j.state, "pages": j.pages,
                        "message": j.message }),
                json!({ "document": j.document, "state": j.state, "pages": j.pages }),
            )?;
            Ok(())
        })
    }

    pub fn print_jobs(&self, order_id: &str) -> Result<Vec<PrintJob>, StoreError> {
        self.bodies(
            "SELECT body FROM print_jobs WHERE order_id = ?1 ORDER BY created_at, id",
            order_id,
        )
    }

    pub fn add_seal(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
        s: &Seal,
    ) -> Result<(), StoreError> {
        self.write(actor, now, |w| {
            w.tx().execute(
                "INSERT INTO seals (id, order_id, attachment_id, png_sha256, width, height, status,
                     created_at, updated_at, decided_by, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)",
                rusqlite::params![
                    s.id,
                    s.order_id,
                    s.attachment_id,
                    s.png_sha256,
                    s.width,
                    s.height,
                    s.status,
                    ts(now),
                    s.decided_by,
                    serde_json::to_string(s)?
                ],
            )?;
            w.record(
                "seal.extracted",
                &s.order_id,
                json!({ "seal": s }),
                json!({ "seal_id": s.id, "png_sha256": s.png_sha256, "status": s.status }),
            )?;
            Ok(())
        })
    }

    /// Records the clerk's verdict on a proposed seal.
    pub fn decide_seal(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
        s: &Seal,
    ) -> Result<(), StoreError> {
        self.write(actor, now, |w| {
            let changed = w.tx().execute(
                "UPDATE seals SET status = ?1, decided_by = ?2, updated_at = ?3, body = ?4
                 WHERE id = ?5 AND status = 'proposed'",
                rusqlite::params![
                    s.status,
                    s.decided_by,
                    ts(now),
                    serde_json::to_string(s)?,
                    s.id
                ],
            )?;
            if changed != 1 {
                return Err(StoreError::Conflict(s.id.clone()));
            }
            w.record(
                if s.status == SealState::Approved {
                    "seal.approved"
                } else {
                    "seal.rejected"
                },
                &s.order_id,
                json!({ "seal_id": s.id, "status": s.status, "png_sha256": s.png_sha256 }),
                json!({ "seal_id": s.id, "status": s.status }),
            )?;
            Ok(())
        })
    }

    pub fn seals(&self, order_id: &str) -> Result<Vec<Seal>, StoreError> {
        self.bodies(
            "SELECT body FROM seals WHERE order_id = ?1 ORDER BY created_at, id",
            order_id,
        )
    }

    pub fn seal(&self, id: &str) -> Result<Option<Seal>, StoreError> {
        self.body("SELECT body FROM seals WHERE id = ?1", id)
    }

    fn bodies<T: for<'de> Deserialize<'de>>(
        &self,
        sql: &str,
        key: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([key], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(serde_json::from_str(&body?)?);
        }
        Ok(out)
    }

    fn body<T: for<'de> Deserialize<'de>>(
        &self,
        sql: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let body: Option<String> = self.conn.query_row(sql, [key], |r| r.get(0)).optional()?;
        Ok(match body {
            Some(b) => Some(serde_json::from_str(&b)?),
            None => None,
        })
    }
}
