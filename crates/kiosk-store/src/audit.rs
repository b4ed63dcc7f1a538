//! Verification of the hash-chained audit trail.

use serde::Serialize;

use crate::journal::{AuditRow, GENESIS};
use crate::{Store, StoreError};

/// One thing found wrong in the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditFinding {
    /// The audit row concerned (its sequence number).
    pub seq: i64,
    /// `edited`, `deleted`, `inserted` or `truncated`.
    pub kind: &'static str,
    pub message: String,
    pub message_en: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub ok: bool,
    pub rows: i64,
    pub head_seq: i64,
    pub findings: Vec<AuditFinding>,
}

impl Store {
    /// Walks the whole trail and reports every edited, inserted or deleted
    /// row, by sequence number.
    pub fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                AuditRow {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    subject: r.get(4)?,
                    detail: r.get(5)?,
                    prev_hash: r.get(6)?,
                },
                r.get::<_, String>(7)?,
            ))
        })?;
        let mut findings = Vec::new();
        let mut expected_seq = 1;
        let mut prev_hash = GENESIS.to_string();
        let mut count = 0;
        for row in rows {
            let (row, stored_hash) = row?;
            count += 1;
            if row.seq > expected_seq {
                let gap = if row.seq - expected_seq == 1 {
                    format!("第 {expected_seq} 条")
                } else {
                    format!("第 {} 至 {} 条", expected_seq, row.seq - 1)
                };
                findings.push(AuditFinding {
                    seq: expected_seq,
                    kind: "deleted",
                    message: format!("审计记录{gap}被删除"),
                    message_en: format!("audit row(s) {expected_seq}..{} deleted", row.seq - 1),
                });
            } else if row.prev_hash != prev_hash {
                findings.push(AuditFinding {
                    seq: row.seq,
                    kind: "inserted",
                    message: format!("第 {} 条审计记录与前一条不相连：其前有记录被插入或替换", row.seq),
                    message_en: format!("audit row {} does not chain to the row before it: a row was inserted or replaced", row.seq),
                });
            }
            if row.hash() != stored_hash {
                findings.push(AuditFinding {
                    seq: row.seq,
                    kind: "edited",
                    message: format!(
                        "第 {} 条审计记录（{} {}）内容被修改",
                        row.seq, row.at, row.action
                    ),
                    message_en: format!(
                        "audit row {} ({} {}) was edited",
                        row.seq, row.at, row.action
                    ),
                });
            }
            expected_seq = row.seq + 1;
            prev_hash = stored_hash;
        }
        let head: Option<(i64, String)> = self
            .conn
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map(Some)
            .or_else(|e| {
                if e == rusqlite::Error::QueryReturnedNoRows {
                    Ok(None)
                } else {
                    Err(e)
                }
            })?;
        let (head_seq, head_hash) = head.unwrap_or((0, GENESIS.to_string()));
        if head_seq != expected_seq - 1 || head_hash != prev_hash {
            findings.push(AuditFinding {
                seq: head_seq,
                kind: "truncated",
                message: format!(
                    "审计记录末尾不符：应以第 {head_seq} 条结束，实际最后一条为第 {} 条（末尾记录被删除或追加）",
                    expected_seq - 1
                ),
                message_en: format!("the trail should end at row {head_seq} but ends at row {}", expected_seq - 1),
            });
        }
        Ok(AuditReport {
            ok: findings.is_empty(),
            rows: count,
            head_seq,
            findings,
        })
    }
}
