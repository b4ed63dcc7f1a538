//! Catalog versions and operator overrides.

use chrono::NaiveDate;
use kiosk_domain::{Catalog, Operation, Rejection};
use rusqlite::OptionalExtension;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::db::ts;
use crate::journal::{Actor, Writer};
use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogSummary {
    pub version: u64,
    pub effective_date: NaiveDate,
    pub imported_at: String,
    pub imported_by: String,
    pub source: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum ImportOutcome {
    Imported {
        version: u64,
    },
    /// The same version with the same content was already here.
    AlreadyPresent {
        version: u64,
    },
}

/// An operator's amount for one tariff line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TariffOverride {
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub operation: Operation,
    pub item: String,
    pub amount_fen: i64,
    pub set_by: String,
    pub set_at: String,
    pub reason: String,
}

impl Store {
    /// Stores a checked catalog. Versions only move forward: an older
    /// version, or the same version with other content, is refused.
    pub fn import_catalog(
        &mut self,
        actor: &Actor,
        now: chrono::DateTime<chrono::Utc>,
        catalog: &Catalog,
        source: &str,
    ) -> Result<ImportOutcome, StoreError> {
        let body = serde_json::to_string(catalog)?;
        let digest = hex::encode(Sha256::digest(body.as_bytes()));
        self.write(actor, now, |w| {
            let newest: Option<(u64, String)> = w
                .tx()
                .query_row("SELECT version, sha256 FROM catalogs ORDER BY version DESC LIMIT 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            if let Some((v, sha)) = &newest {
                if *v == catalog.version && *sha == digest {
                    return Ok(ImportOutcome::AlreadyPresent { version: *v });
                }
                if *v >= catalog.version {
                    return Err(StoreError::Rejected(Rejection::field("catalog.version", "目录版本", "version_not_newer").zh(format!("导入的目录版本 {} 不高于本站已有的版本 {v}", catalog.version), "请导入更新的目录版本；如需修改单项收费，请使用 kioskctl catalog set-tariff").en(format!("version {} is not newer than the station's {v}", catalog.version), "import a newer version, or use kioskctl catalog set-tariff")));
                }
            }
            w.tx().execute(
                "INSERT INTO catalogs (version, effective_date, imported_at, imported_by, source, sha256, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                (
                    catalog.version,
                    catalog.effective_date.to_string(),
                    ts(w.now()),
                    w.actor.as_str(),
                    source,
                    &digest,
                    &body,
                ),
            )?;
            w.record(
                "catalog.imported",
                "catalog",
                json!({ "version": catalog.version, "effective_date": catalog.effective_date, "sha256": digest, "source": source }),
                json!({ "version": catalog.version }),
            )?;
            Ok(ImportOutcome::Imported { version: catalog.version })
        })
    }

    /// The catalog in force on `today` with the operator's overrides
    /// applied; `None` before any catalog was imported.
    pub fn active_catalog(&self, today: NaiveDate) -> Result<Option<Catalog>, StoreError> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM catalogs WHERE effective_date <= ?1 ORDER BY version DESC LIMIT 1",
                [today.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(body) = body else { return Ok(None) };
        let mut catalog: Catalog = serde_json::from_str(&body)?;
        for o in self.tariff_overrides()? {
            // An override that no longer fits (line removed by a newer
            // catalog) stays listed by `catalog show` but does not apply.
            let _ = catalog.set_tariff(
                &o.provider,
                o.project.as_deref(),
                o.operation,
                &o.item,
                o.amount_fen,
            );
        }
        Ok(Some(catalog))
    }

    pub fn catalogs(&self) -> Result<Vec<CatalogSummary>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT version, effective_date, imported_at, imported_by, source, sha256 FROM catalogs ORDER BY version",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(CatalogSummary {
                version: r.get(0)?,
                effective_date: r.get::<_, String>(1)?.parse().unwrap_or_default(),
                imported_at: r.get(2)?,
                imported_by: r.get(3)?,
                source: r.get(4)?,
                sha256: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn tariff_overrides(&self) -> Result<Vec<TariffOverride>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT provider, project, operation, item, amount_fen, set_by, set_at, reason
             FROM tariff_overrides ORDER BY provider, operation, item",
        )?;
        let rows = stmt.query_map([], |r| {
            let project: String = r.get(1)?;
            let op: String = r.get(2)?;
            Ok((
                project,
                op,
                r.get(0)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (project, op, provider, item, amount_fen, set_by, set_at, reason) = row?;
            let Ok(operation) = op.parse() else { continue };
            out.push(TariffOverride {
                provider,
                project: Some(project).filter(|p: &String| !p.is_empty()),
                operation,
                item,
                amount_fen,
                set_by,
                set_at,
                reason,
            });
        }
        Ok(out)
    }

    /// Records an operator's amount for one line. The caller has checked it
    /// against the active catalog.
    pub fn set_tariff_override(
        &mut self,
        actor: &Actor,
        now: chrono::DateTime<chrono::Utc>,
        o: &TariffOverride,
    ) -> Result<(), StoreError> {
        self.write(actor, now, |w: &mut Writer<'_>| {
            w.tx().execute(
                "INSERT INTO tariff_overrides (provider, project, operation, item, amount_fen, set_by, set_at, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (provider, project, operation, item) DO UPDATE SET
                   amount_fen = excluded.amount_fen, set_by = excluded.set_by,
                   set_at = excluded.set_at, reason = excluded.reason",
                (
                    &o.provider,
                    o.project.as_deref().unwrap_or(""),
                    o.operation.as_str(),
                    &o.item,
                    o.amount_fen,
                    w.actor.as_str(),
                    ts(w.now()),
                    &o.reason,
                ),
            )?;
            w.record(
                "catalog.tariff-set",
                "catalog",
                json!({ "provider": o.provider, "project": o.project, "operation": o.operation,
                        "item": o.item, "amount_fen": o.amount_fen, "reason": o.reason }),
                json!({ "provider": o.provider, "operation": o.operation, "item": o.item, "amount_fen": o.amount_fen }),
            )?;
            Ok(())
        })
    }
}
