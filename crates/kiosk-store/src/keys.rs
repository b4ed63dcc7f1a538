//! Key stock, issued certificates, the station CA and the personalization
//! journal.

use chrono::{DateTime, Utc};
use kiosk_domain::{Rejection, RevocationReason};
use rusqlite::{OptionalExtension, Row};
use serde::Serialize;
use serde_json::{json, Value};

use crate::db::ts;
use crate::journal::Writer;
use crate::states::{CertSource, CertState, StockState};
use crate::{Store, StoreError};

/// A key in stock and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockKey {
    pub serial: String,
    pub model: String,
    pub batch: String,
    pub received_on: String,
    pub state: StockState,
    pub order_id: Option<String>,
    pub first_issued_on: Option<String>,
    pub updated_at: String,
}

/// A certificate the station signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertRecord {
    pub serial: String,
    pub issuer: String,
    pub subject: String,
    pub not_before: String,
    pub not_after: String,
    pub key_serial: Option<String>,
    pub order_id: Option<String>,
    pub state: CertState,
    #[serde(skip)]
    pub der: Vec<u8>,
    pub issued_at: String,
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<RevocationReason>,
    /// Signed here, or read from the applicant's key.
    pub source: CertSource,
    /// `station`, or the provider whose anchors it verified against.
    pub issued_by: String,
}

/// The station's issuing sub-CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StationCa {
    pub token_label: String,
    pub key_label: String,
    #[serde(skip)]
    pub cert_der: Option<Vec<u8>>,
    pub chain_pem: Option<String>,
    pub crl_number: i64,
    pub crl_url: String,
}

/// Which of the station's issuing sub-CAs: the P-256 one in the station
/// token, or the SM2 one in the station's SM2 token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaAlgorithm {
    P256,
    Sm2,
}

impl CaAlgorithm {
    /// The table of the sub-CA and the table of its CRLs.
    fn tables(self) -> (&'static str, &'static str) {
        match self {
            CaAlgorithm::P256 => ("station_ca", "crls"),
            CaAlgorithm::Sm2 => ("station_ca_sm2", "crls_sm2"),
        }
    }
}

/// A CRL the station signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrlRecord {
    pub number: i64,
    pub this_update: String,
    pub next_update: String,
    #[serde(skip)]
    pub der: Vec<u8>,
    pub revoked: i64,
    pub uploaded_at: Option<String>,
}

fn crl_row(r: &Row<'_>) -> rusqlite::Result<CrlRecord> {
    Ok(CrlRecord {
        number: r.get(0)?,
        this_update: r.get(1)?,
        next_update: r.get(2)?,
        der: r.get(3)?,
        revoked: r.get(4)?,
        uploaded_at: r.get(5)?,
    })
}

/// One line of the personalization journal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalEntry {
    pub attempt: i64,
    pub key_serial: String,
    pub step: String,
    /// started | done | failed
    pub phase: String,
    pub at: String,
    pub detail: Value,
}

fn stock_row(r: &Row<'_>) -> rusqlite::Result<StockKey> {
    Ok(StockKey {
        serial: r.get(0)?,
        model: r.get(1)?,
        batch: r.get(2)?,
        received_on: r.get(3)?,
        state: r.get(4)?,
        order_id: r.get(5)?,
        first_issued_on: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

const STOCK_COLUMNS: &str =
    "serial, model, batch, received_on, state, order_id, first_issued_on, updated_at";
const CERT_COLUMNS: &str = "serial, issuer, subject, not_before, not_after, key_serial, order_id, state, der, issued_at, revoked_at, revocation_reason, source, issued_by";

/// A stored CRLReason code, by name; a code the station never writes is
/// a damaged row, not a reason.
fn reason(code: Option<i64>) -> rusqlite::Result<Option<RevocationReason>> {
    code.map(|c| {
        RevocationReason::from_code(c).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                11,
                rusqlite::types::Type::Integer,
                format!("no CRLReason {c}").into(),
            )
        })
    })
    .transpose()
}

fn cert_row(r: &Row<'_>) -> rusqlite::Result<CertRecord> {
    Ok(CertRecord {
        serial: r.get(0)?,
        issuer: r.get(1)?,
        subject: r.get(2)?,
        not_before: r.get(3)?,
        not_after: r.get(4)?,
        key_serial: r.get(5)?,
        order_id: r.get(6)?,
        state: r.get(7)?,
        der: r.get(8)?,
        issued_at: r.get(9)?,
        revoked_at: r.get(10)?,
        revocation_reason: reason(r.get(11)?)?,
        source: r.get(12)?,
        issued_by: r.get(13)?,
    })
}

impl Store {
    pub fn stock_key(&self, serial: &str) -> Result<Option<StockKey>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {STOCK_COLUMNS} FROM key_stock WHERE serial = ?1"),
                [serial.trim()],
                stock_row,
            )
            .optional()?)
    }

    pub fn stock(&self) -> Result<Vec<StockKey>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {STOCK_COLUMNS} FROM key_stock ORDER BY received_on, serial"
        ))?;
        let rows = stmt.query_map([], stock_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn certificate(&self, serial: &str) -> Result<Option<CertRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {CERT_COLUMNS} FROM certificates WHERE serial = ?1"),
                [serial.trim()],
                cert_row,
            )
            .optional()?)
    }

    /// Certificates, newest first, filtered by key or order when given.
    pub fn certificates(
        &self,
        key_serial: Option<&str>,
        order_id: Option<&str>,
    ) -> Result<Vec<CertRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {CERT_COLUMNS} FROM certificates
             WHERE (?1 IS NULL OR key_serial = ?1) AND (?2 IS NULL OR order_id = ?2)
             ORDER BY issued_at DESC, rowid DESC"
        ))?;
        let rows = stmt.query_map((key_serial, order_id), cert_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every certificate the station revoked, in the order of revocation;
    /// the CRL keeps those its CA key signed and that have not expired.
    pub fn revoked(&self) -> Result<Vec<CertRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {CERT_COLUMNS} FROM certificates WHERE state = 'revoked' ORDER BY revoked_at"
        ))?;
        let rows = stmt.query_map([], cert_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The latest revocation time the station recorded.
    pub fn last_revoked_at(&self) -> Result<Option<String>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT max(revoked_at) FROM certificates WHERE state = 'revoked'",
            [],
            |r| r.get(0),
        )?)
    }

    /// The last CRL the station signed.
    pub fn last_crl(&self) -> Result<Option<CrlRecord>, StoreError> {
        self.last_crl_of(CaAlgorithm::P256)
    }

    /// The newest CRL of the sub-CA of `alg`.
    pub fn last_crl_of(&self, alg: CaAlgorithm) -> Result<Option<CrlRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT number, this_update, next_update, der, revoked, uploaded_at
                     FROM {} ORDER BY number DESC LIMIT 1",
                    alg.tables().1
                ),
                [],
                crl_row,
            )
            .optional()?)
    }

    /// CRLs signed but not yet uploaded to the central, oldest first.
    pub fn crls_to_upload(&self) -> Result<Vec<CrlRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT number, this_update, next_update, der, revoked, uploaded_at
             FROM crls WHERE uploaded_at IS NULL ORDER BY number",
        )?;
        let rows = stmt.query_map([], crl_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The latest instant the station has written down: a clock that reads
    /// earlier than this has been set back.
    pub fn latest_seen(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT max(at) FROM audit", [], |r| r.get(0))?)
    }

    pub fn station_ca(&self) -> Result<Option<StationCa>, StoreError> {
        self.station_ca_of(CaAlgorithm::P256)
    }

    /// The chain (PEM) of every sub-CA certificate this station has
    /// installed, oldest first, either algorithm: read from its
    /// `station-ca.installed` records, which the audit trail vouches for.
    /// A station replaced onto a new token keeps its predecessors' here.
    pub fn station_ca_chains(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT json_extract(payload, '$.data.chain_pem') FROM outbox
             WHERE kind = 'station-ca.installed' ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, Option<String>>(0))?;
        let mut out = Vec::new();
        for r in rows {
            if let Some(chain) = r? {
                out.push(chain);
            }
        }
        Ok(out)
    }

    /// The sub-CA of `alg`, once one is installed.
    pub fn station_ca_of(&self, alg: CaAlgorithm) -> Result<Option<StationCa>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT token_label, key_label, cert_der, chain_pem, crl_number, crl_url FROM {} WHERE id = 1",
                    alg.tables().0
                ),
                [],
                |r| {
                    Ok(StationCa {
                        token_label: r.get(0)?,
                        key_label: r.get(1)?,
                        cert_der: r.get(2)?,
                        chain_pem: r.get(3)?,
                        crl_number: r.get(4)?,
                        crl_url: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    /// Writes journal lines `(step, phase, detail)` in one commit. The
    /// journal is technical state (it goes to neither the outbox nor the
    /// audit trail) and survives a killed process at once; it is only
    /// fsynced with the next business commit, because recovery rests on the
    /// business facts committed with `synchronous = FULL` (the key assigned
    /// to the order, every certificate recorded before it reaches a key),
    /// not on the journal's step-by-step detail.
    pub fn journal(
        &self,
        order_id: &str,
        key_serial: &str,
        attempt: i64,
        lines: &[(String, &str, Value)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let write = || -> Result<(), StoreError> {
            self.conn.execute_batch("PRAGMA synchronous = NORMAL")?;
            let tx = self.conn.unchecked_transaction()?;
            for (step, phase, detail) in lines {
                tx.execute(
                    "INSERT INTO personalization_journal (order_id, key_serial, attempt, step, phase, at, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    (order_id, key_serial, attempt, step, phase, ts(now), detail.to_string()),
                )?;
            }
            tx.commit()?;
            Ok(())
        };
        let out = write();
        let restored = self.conn.execute_batch("PRAGMA synchronous = FULL");
        out.and(restored.map_err(StoreError::from))
            .map_err(|e| e.at(&self.path))
    }

    /// Wrong PINs recorded for a key since its last completed step.
    pub fn wrong_pins(&self, key_serial: &str) -> Result<u32, StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM personalization_journal
             WHERE key_serial = ?1 AND phase = 'failed' AND json_extract(detail, '$.code') = 'wrong_pin'
               AND id > coalesce((SELECT max(id) FROM personalization_journal
                                  WHERE key_serial = ?1 AND step = 'complete' AND phase = 'done'), 0)",
            [key_serial],
            |r| r.get(0),
        )?)
    }

    pub fn journal_entries(&self, order_id: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT attempt, key_serial, step, phase, at, detail FROM personalization_journal
             WHERE order_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([order_id], |r| {
            let detail: String = r.get(5)?;
            Ok(JournalEntry {
                attempt: r.get(0)?,
                key_serial: r.get(1)?,
                step: r.get(2)?,
                phase: r.get(3)?,
                at: r.get(4)?,
                detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Orders whose last journal line is not the end of a personalization.
    pub fn unfinished_personalizations(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT j.order_id FROM personalization_journal j
             WHERE j.id = (SELECT max(id) FROM personalization_journal WHERE order_id = j.order_id)
               AND NOT (j.step = 'complete' AND j.phase = 'done') AND j.phase != 'abandoned'",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Writer<'_> {
    /// Registers a blank key received from the vendor.
    pub fn stock_add(&mut self, key: &StockKey) -> Result<(), StoreError> {
        let exists: i64 = self.tx().query_row(
            "SELECT count(*) FROM key_stock WHERE serial = ?1",
            [&key.serial],
            |r| r.get(0),
        )?;
        if exists > 0 {
            return Err(StoreError::Rejected(
                Rejection::field("serial", "介质序列号", "duplicate_key")
                    .zh(
                        format!("介质 {} 已登记入库", key.serial),
                        "请核对介质序列号，不要重复登记",
                    )
                    .en(
                        format!("key {} is already in stock", key.serial),
                        "check the serial",
                    ),
            ));
        }
        self.tx().execute(
            &format!("INSERT INTO key_stock ({STOCK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, 'in-stock', NULL, NULL, ?5)"),
            (&key.serial, &key.model, &key.batch, &key.received_on, ts(self.now())),
        )?;
        self.record(
            "key.received",
            &format!("key:{}", key.serial),
            json!({ "serial": key.serial, "model": key.model, "batch": key.batch, "received_on": key.received_on }),
            json!({ "serial": key.serial }),
        )?;
        Ok(())
    }

    /// Moves a key to another state (assigned to an order, issued, ...).
    pub fn stock_set(
        &mut self,
        serial: &str,
        state: StockState,
        order_id: Option<&str>,
        first_issued_on: Option<&str>,
    ) -> Result<(), StoreError> {
        self.tx().execute(
            "UPDATE key_stock SET state = ?2, order_id = ?3,
                 first_issued_on = coalesce(first_issued_on, ?4), updated_at = ?5
             WHERE serial = ?1",
            (serial, state, order_id, first_issued_on, ts(self.now())),
        )?;
        self.record(
            &format!("key.{state}"),
            &format!("key:{serial}"),
            json!({ "serial": serial, "state": state, "order_id": order_id }),
            json!({ "serial": serial, "state": state }),
        )?;
        Ok(())
    }

    /// Records a certificate the moment it is signed, before it goes on a
    /// key: the station never leaves a certificate it does not know. The
    /// provider it was issued for travels with it to the central's
    /// directory.
    pub fn certificate_issued(&mut self, c: &CertRecord, provider: &str) -> Result<(), StoreError> {
        self.tx().execute(
            &format!("INSERT INTO certificates ({CERT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, NULL, 'issued', 'station')"),
            (
                &c.serial, &c.issuer, &c.subject, &c.not_before, &c.not_after, &c.key_serial, &c.order_id, &c.state,
                &c.der, ts(self.now()),
            ),
        )?;
        self.record(
            "certificate.issued",
            &format!("certificate:{}", c.serial),
            json!({ "serial": c.serial, "issuer": c.issuer, "subject": c.subject, "not_before": c.not_before,
                    "not_after": c.not_after, "key_serial": c.key_serial, "order_id": c.order_id,
                    "provider": provider, "der_hex": hex::encode(&c.der) }),
            json!({ "serial": c.serial, "key_serial": c.key_serial }),
        )?;
        Ok(())
    }

    /// Records a certificate issued elsewhere, read from the applicant's
    /// key and verified against `c.issued_by`'s anchors, so that an
    /// operation acts on it as on one of the station's own. It is not the
    /// station's to revoke on its CRL (another CA signed it).
    pub fn certificate_read_from_key(&mut self, c: &CertRecord) -> Result<(), StoreError> {
        self.certificate_from_elsewhere(c, "certificate.read-from-key")
    }

    /// Records a certificate known from the central's directory only (its
    /// key is lost), so that an operation replaces or revokes it; the
    /// revocation goes to the central, which publishes it.
    pub fn certificate_from_directory(&mut self, c: &CertRecord) -> Result<(), StoreError> {
        self.certificate_from_elsewhere(c, "certificate.from-directory")
    }

    /// Inserts once: a rerun of the operation finds it recorded.
    fn certificate_from_elsewhere(&mut self, c: &CertRecord, kind: &str) -> Result<(), StoreError> {
        let known: bool = self.tx().query_row(
            "SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = ?1)",
            [&c.serial],
            |r| r.get(0),
        )?;
        if known {
            return Ok(());
        }
        self.tx().execute(
            &format!("INSERT INTO certificates ({CERT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, 'active', ?7, ?8, NULL, NULL, ?9, ?10)"),
            (
                &c.serial, &c.issuer, &c.subject, &c.not_before, &c.not_after, &c.key_serial,
                &c.der, ts(self.now()), c.source, &c.issued_by,
            ),
        )?;
        self.record(
            kind,
            &format!("certificate:{}", c.serial),
            json!({ "serial": c.serial, "issuer": c.issuer, "subject": c.subject, "not_before": c.not_before,
                    "not_after": c.not_after, "key_serial": c.key_serial, "issued_by": c.issued_by,
                    "der_hex": hex::encode(&c.der) }),
            json!({ "serial": c.serial, "key_serial": c.key_serial, "issued_by": c.issued_by }),
        )?;
        Ok(())
    }

    /// Changes a certificate's state; `Revoked` takes its reason.
    pub fn certificate_state(
        &mut self,
        serial: &str,
        state: CertState,
        reason: Option<RevocationReason>,
    ) -> Result<(), StoreError> {
        let now = ts(self.now());
        let reason = reason.map(|r| r.code());
        self.tx().execute(
            "UPDATE certificates SET state = ?2,
                 revoked_at = CASE WHEN ?2 = 'revoked' THEN ?3 ELSE revoked_at END,
                 revocation_reason = CASE WHEN ?2 = 'revoked' THEN ?4 ELSE revocation_reason END
             WHERE serial = ?1",
            (serial, state, &now, reason),
        )?;
        self.record(
            &format!("certificate.{state}"),
            &format!("certificate:{serial}"),
            json!({ "serial": serial, "state": state, "reason": reason, "at": now }),
            json!({ "serial": serial, "state": state }),
        )?;
        Ok(())
    }

    /// Marks CRLs as delivered to the central.
    pub fn crls_uploaded(&mut self, numbers: &[i64]) -> Result<(), StoreError> {
        let now = ts(self.now());
        for n in numbers {
            self.tx().execute(
                "UPDATE crls SET uploaded_at = ?2 WHERE number = ?1 AND uploaded_at IS NULL",
                (n, &now),
            )?;
        }
        Ok(())
    }

    pub fn station_ca_set(&mut self, ca: &StationCa) -> Result<(), StoreError> {
        self.station_ca_set_of(CaAlgorithm::P256, ca)
    }

    /// Installs the sub-CA of `alg`. The records of the SM2 sub-CA say so
    /// (`algorithm`); the P-256 one's are as they always were.
    pub fn station_ca_set_of(
        &mut self,
        alg: CaAlgorithm,
        ca: &StationCa,
    ) -> Result<(), StoreError> {
        self.tx().execute(
            &format!(
                "INSERT INTO {} (id, token_label, key_label, cert_der, chain_pem, crl_number, crl_url, updated_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET token_label = excluded.token_label, key_label = excluded.key_label,
                   cert_der = excluded.cert_der, chain_pem = excluded.chain_pem, crl_url = excluded.crl_url,
                   updated_at = excluded.updated_at",
                alg.tables().0
            ),
            (&ca.token_label, &ca.key_label, &ca.cert_der, &ca.chain_pem, ca.crl_number, &ca.crl_url, ts(self.now())),
        )?;
        let mut payload = json!({ "token_label": ca.token_label, "key_label": ca.key_label, "chain_pem": ca.chain_pem });
        let mut summary = json!({ "token_label": ca.token_label });
        if alg == CaAlgorithm::Sm2 {
            payload["algorithm"] = json!(alg);
            summary["algorithm"] = json!(alg);
        }
        self.record("station-ca.installed", "station-ca", payload, summary)?;
        Ok(())
    }

    /// Records CRL number `number`, which must follow the last one.
    pub fn crl_issued(&mut self, crl: &CrlRecord) -> Result<(), StoreError> {
        self.crl_issued_of(CaAlgorithm::P256, crl)
    }

    /// Records CRL number `number` of the sub-CA of `alg`.
    pub fn crl_issued_of(&mut self, alg: CaAlgorithm, crl: &CrlRecord) -> Result<(), StoreError> {
        let (number, crl_der, revoked) = (crl.number, &crl.der, crl.revoked);
        let (ca_table, crl_table) = alg.tables();
        let changed = self.tx().execute(
            &format!("UPDATE {ca_table} SET crl_number = ?1 WHERE id = 1 AND crl_number = ?1 - 1"),
            [number],
        )?;
        if changed != 1 {
            return Err(StoreError::Conflict(format!("CRL {number}")));
        }
        self.tx().execute(
            &format!("INSERT INTO {crl_table} (number, this_update, next_update, der, revoked) VALUES (?1, ?2, ?3, ?4, ?5)"),
            (number, &crl.this_update, &crl.next_update, crl_der, revoked),
        )?;
        let mut payload =
            json!({ "number": number, "revoked": revoked, "der_hex": hex::encode(crl_der) });
        let mut summary = json!({ "number": number, "revoked": revoked });
        if alg == CaAlgorithm::Sm2 {
            payload["algorithm"] = json!(alg);
            summary["algorithm"] = json!(alg);
        }
        self.record("crl.issued", "station-ca", payload, summary)?;
        Ok(())
    }
}
