//! Verification of the hash-chained audit trail.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use kiosk_domain::Rejection;

use crate::audit_key::EpochKey;
use crate::journal::GENESIS;
use crate::{AuditKey, Store, StoreError};

/// One thing found wrong in the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditFinding {
    /// The audit row concerned (its sequence number).
    pub seq: i64,
    /// The chain: `edited`, `deleted`, `inserted` or `truncated`. What it
    /// vouches for: `record_edited`, `record_deleted`, `record_unvouched`
    /// (an outbox record), `order_edited`, `order_unvouched` (an order).
    pub kind: &'static str,
    pub message: String,
    pub message_en: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub ok: bool,
    pub rows: i64,
    pub head_seq: i64,
    /// Seals checked, and the newest sealed row (0: none).
    pub seals: usize,
    pub sealed_upto: i64,
    /// Whether the rows' keyed values were checked (that takes the station
    /// token), how many rows carry one, and the first row from which every
    /// row must (0: the station keeps no keyed trail yet).
    pub keys_checked: bool,
    pub keyed_rows: i64,
    pub keyed_from: i64,
    pub findings: Vec<AuditFinding>,
}

impl Store {
    /// Walks the whole trail and reports every edited, inserted or deleted
    /// row, by sequence number; then checks what the trail vouches for
    /// (see [`Store::verify_records`]).
    pub fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit ORDER BY seq")?;
        let rows = stmt.query_map([], crate::seals::sent_row)?;
        let mut findings = Vec::new();
        let mut expected_seq = 1;
        let mut prev_hash = GENESIS.to_string();
        let mut count = 0;
        for row in rows {
            let kiosk_sync::audit::SentRow {
                row,
                hash: stored_hash,
            } = row?;
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
        self.verify_records(&mut findings)?;
        Ok(AuditReport {
            ok: findings.is_empty(),
            rows: count,
            head_seq,
            seals: 0,
            sealed_upto: 0,
            keys_checked: false,
            keyed_rows: 0,
            keyed_from: 0,
            findings,
        })
    }

    /// The first audit row that carries a keyed value, if any.
    pub fn first_keyed_audit_row(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT min(seq) FROM audit WHERE mac IS NOT NULL",
            [],
            |r| r.get(0),
        )?)
    }

    /// Checks every row's keyed value (see [`crate::AuditKey`]) with the
    /// epoch keys `derive` computes in the station token, and that every
    /// row from `keyed_from` on has one. Adds what it finds to `report`.
    pub fn verify_audit_keys(
        &self,
        report: &mut AuditReport,
        keyed_from: i64,
        derive: &mut dyn FnMut(&str) -> Result<EpochKey, Rejection>,
    ) -> Result<(), StoreError> {
        let mut keys: HashMap<String, AuditKey> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT seq, hash, key_epoch, mac FROM audit ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let mut keyed = 0;
        while let Some(r) = rows.next()? {
            let (seq, hash, epoch, mac): (i64, String, Option<String>, Option<String>) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            let (Some(epoch), Some(mac)) = (epoch, mac) else {
                if keyed_from > 0 && seq >= keyed_from {
                    report.findings.push(AuditFinding {
                        seq,
                        kind: "unkeyed",
                        message: format!("第 {seq} 条审计记录没有本站令牌的密钥校验值（自第 {keyed_from} 条起每条都应有）：是在本站令牌之外写入或改写的"),
                        message_en: format!("audit row {seq} has no keyed value from the station token (every row from {keyed_from} on must): it was written or rewritten outside the station"),
                    });
                }
                continue;
            };
            keyed += 1;
            if !keys.contains_key(&epoch) {
                let key = derive(&epoch).map_err(StoreError::Rejected)?;
                keys.insert(epoch.clone(), AuditKey::new(epoch.clone(), key));
            }
            if keys[&epoch].mac(&hash) != mac {
                report.findings.push(AuditFinding {
                    seq,
                    kind: "forged",
                    message: format!("第 {seq} 条审计记录的密钥校验值不符：它不是本站写下的那条，是持有数据库文件的人改写或伪造的"),
                    message_en: format!("the keyed value of audit row {seq} does not match: it is not the row the station wrote, someone holding the database file rewrote or forged it"),
                });
            }
        }
        report.keys_checked = true;
        report.keyed_rows = keyed;
        report.keyed_from = keyed_from;
        report.ok = report.findings.is_empty();
        Ok(())
    }

    /// Every outbox record must be the one an audit row vouches for (the
    /// SHA-256 of its payload is in the row), and every order must be
    /// where its last record left it: the same state and revision, and the
    /// very order when that record carries the whole order (its creation
    /// and its end). So an order or a record changed in the file without
    /// the trail is found, by sequence number.
    fn verify_records(&self, findings: &mut Vec<AuditFinding>) -> Result<(), StoreError> {
        // outbox seq -> (audit seq, payload hash) from the rows' details.
        let mut vouched: HashMap<i64, (i64, String)> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT seq, detail FROM audit ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (seq, detail) = row?;
            let detail: Value = serde_json::from_str(&detail).unwrap_or(Value::Null);
            if let (Some(outbox), Some(hash)) = (
                detail["outbox_seq"].as_i64(),
                detail["payload_sha256"].as_str(),
            ) {
                vouched.insert(outbox, (seq, hash.to_string()));
            }
        }
        // The last record of each order, as the trail has it.
        let mut last_of_order: HashMap<String, (i64, Value)> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT seq, kind, payload FROM outbox ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (seq, kind, payload) = row?;
            match vouched.remove(&seq) {
                None => findings.push(AuditFinding {
                    seq,
                    kind: "record_unvouched",
                    message: format!("待同步记录第 {seq} 条（{kind}）没有审计记录为其作证：是在审计之外写入的"),
                    message_en: format!("outbox record {seq} ({kind}) has no audit row vouching for it: written outside the trail"),
                }),
                Some((audit_seq, hash)) if hash != hex::encode(Sha256::digest(payload.as_bytes())) => {
                    findings.push(AuditFinding {
                        seq: audit_seq,
                        kind: "record_edited",
                        message: format!("待同步记录第 {seq} 条（{kind}）与第 {audit_seq} 条审计记录不符：内容被修改"),
                        message_en: format!("outbox record {seq} ({kind}) differs from what audit row {audit_seq} vouches for: it was edited"),
                    })
                }
                Some(_) => {}
            }
            if kind.starts_with("order.") {
                let payload: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
                if let Some(subject) = payload["subject"].as_str() {
                    last_of_order.insert(subject.to_string(), (seq, payload["data"].clone()));
                }
            }
        }
        let mut gone: Vec<_> = vouched.into_iter().collect();
        gone.sort();
        for (outbox, (audit_seq, _)) in gone {
            findings.push(AuditFinding {
                seq: audit_seq,
                kind: "record_deleted",
                message: format!("第 {audit_seq} 条审计记录所证明的待同步记录第 {outbox} 条不见了：被删除"),
                message_en: format!("outbox record {outbox}, vouched for by audit row {audit_seq}, is gone: deleted"),
            });
        }
        let mut stmt = self.conn.prepare(
            "SELECT id, number, state, revision, body FROM orders ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        for row in rows {
            let (id, number, state, revision, body) = row?;
            let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let Some((seq, data)) = last_of_order.get(&id) else {
                findings.push(AuditFinding {
                    seq: 0,
                    kind: "order_unvouched",
                    message: format!("订单 {number} 在审计记录中没有任何记录：是在审计之外写入的"),
                    message_en: format!(
                        "order {number} has no record in the trail: written outside it"
                    ),
                });
                continue;
            };
            let expected_state = data["to"].as_str().or(data["order"]["state"].as_str());
            let expected_revision = data["revision"]
                .as_i64()
                .or(data["order"]["revision"].as_i64());
            let whole_differs = data.get("order").is_some_and(|o| *o != body);
            let columns_differ = body["state"].as_str() != Some(state.as_str())
                || body["revision"].as_i64() != Some(revision);
            if whole_differs
                || columns_differ
                || expected_state != Some(state.as_str())
                || expected_revision != Some(revision)
            {
                findings.push(AuditFinding {
                    seq: *seq,
                    kind: "order_edited",
                    message: format!("订单 {number} 与审计记录所证明的最后一条记录（待同步记录第 {seq} 条）不符：订单被修改"),
                    message_en: format!("order {number} differs from its last record (outbox record {seq}): the order was edited"),
                });
            }
        }
        Ok(())
    }
}
