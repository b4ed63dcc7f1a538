//! Clerk accounts and supervisor approvals.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;
use serde::Serialize;
use serde_json::json;

use crate::db::ts;
use crate::{new_id, Actor, Store, StoreError};

/// A clerk account as stored. `secret_hash` is an argon2 PHC string; it is
/// never sent to the central CA nor shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClerkRow {
    pub id: String,
    pub display_name: String,
    pub role: String,
    pub secret_hash: String,
    pub active: bool,
    pub created_at: String,
}

/// A supervisor's approval of an operation on an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    pub id: String,
    pub order_id: String,
    pub operation: String,
    pub supervisor: String,
    pub clerk: String,
    pub approved_at: String,
}

impl Store {
    /// Adds an account, or replaces the name, role and secret of an
    /// existing one (a new password), re-activating it.
    pub fn put_clerk(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
        id: &str,
        display_name: &str,
        role: &str,
        secret_hash: &str,
    ) -> Result<(), StoreError> {
        self.write(actor, now, |w| {
            let at = ts(w.now());
            w.tx().execute(
                "INSERT INTO clerks (id, display_name, role, secret_hash, active, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5)
                 ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name,
                     role = excluded.role, secret_hash = excluded.secret_hash, active = 1,
                     updated_at = excluded.updated_at",
                (id, display_name, role, secret_hash, &at),
            )?;
            // The hash stays on the station.
            let data = json!({ "id": id, "display_name": display_name, "role": role });
            w.record("clerk-put", &format!("clerk:{id}"), data.clone(), data)?;
            Ok(())
        })
    }

    /// Deactivates an account; its history stays.
    pub fn deactivate_clerk(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
        id: &str,
    ) -> Result<bool, StoreError> {
        self.write(actor, now, |w| {
            let at = ts(w.now());
            let n = w.tx().execute(
                "UPDATE clerks SET active = 0, updated_at = ?2 WHERE id = ?1 AND active = 1",
                (id, &at),
            )?;
            if n > 0 {
                let data = json!({ "id": id });
                w.record(
                    "clerk-deactivated",
                    &format!("clerk:{id}"),
                    data.clone(),
                    data,
                )?;
            }
            Ok(n > 0)
        })
    }

    pub fn clerk(&self, id: &str) -> Result<Option<ClerkRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, display_name, role, secret_hash, active, created_at FROM clerks WHERE id = ?1",
                [id],
                clerk_row,
            )
            .optional()?)
    }

    pub fn clerks(&self) -> Result<Vec<ClerkRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, display_name, role, secret_hash, active, created_at FROM clerks ORDER BY id",
        )?;
        let rows = stmt.query_map([], clerk_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a supervisor's approval, queued and audited like any change.
    pub fn record_approval(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
        order_id: &str,
        operation: &str,
        supervisor: &str,
    ) -> Result<Approval, StoreError> {
        self.write(actor, now, |w| {
            let a = Approval {
                id: new_id(w.now()),
                order_id: order_id.to_string(),
                operation: operation.to_string(),
                supervisor: supervisor.to_string(),
                clerk: actor.as_str().to_string(),
                approved_at: ts(w.now()),
            };
            w.tx().execute(
                "INSERT INTO approvals (id, order_id, operation, supervisor, clerk, approved_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                (
                    &a.id,
                    &a.order_id,
                    &a.operation,
                    &a.supervisor,
                    &a.clerk,
                    &a.approved_at,
                ),
            )?;
            let data = serde_json::to_value(&a).unwrap_or_default();
            w.record("supervisor-approval", order_id, data.clone(), data)?;
            Ok(a)
        })
    }

    pub fn approvals(&self, order_id: &str) -> Result<Vec<Approval>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, order_id, operation, supervisor, clerk, approved_at FROM approvals
             WHERE order_id = ?1 ORDER BY approved_at",
        )?;
        let rows = stmt.query_map([order_id], |r| {
            Ok(Approval {
                id: r.get(0)?,
                order_id: r.get(1)?,
                operation: r.get(2)?,
                supervisor: r.get(3)?,
                clerk: r.get(4)?,
                approved_at: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The bodies of the orders created in `[from, to)`, oldest first.
    pub fn orders_created_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<kiosk_domain::order::Order>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, body, personal FROM orders WHERE created_at >= ?1 AND created_at < ?2 ORDER BY created_at",
        )?;
        let rows = stmt.query_map((ts(from), ts(to)), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<Vec<u8>>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body, personal) = row?;
            out.push(self.order_from_row(&id, &body, personal)?);
        }
        Ok(out)
    }
}

fn clerk_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClerkRow> {
    Ok(ClerkRow {
        id: r.get(0)?,
        display_name: r.get(1)?,
        role: r.get(2)?,
        secret_hash: r.get(3)?,
        active: r.get::<_, i64>(4)? != 0,
        created_at: r.get(5)?,
    })
}
