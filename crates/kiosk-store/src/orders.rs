//! Orders: created and changed only together with their outbox and audit rows.

use chrono::{DateTime, Utc};
use kiosk_domain::calendar::local_date;
use kiosk_domain::order::{Command, Order, OrderState};
use rusqlite::OptionalExtension;
use serde::Serialize;
use serde_json::{json, Value};

use crate::db::ts;
use crate::journal::{Actor, Writer};
use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderSummary {
    pub id: String,
    pub number: String,
    pub provider: String,
    pub operation: String,
    pub state: String,
    pub state_zh: String,
    pub created_at: String,
    pub updated_at: String,
    pub revision: u32,
}

/// One step in an order's history, read back from the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub audit_seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub summary: Value,
}

impl Store {
    /// Inserts a new order, giving it the next number of the station's day
    /// (`YYYYMMDD-NNNN`), and returns it as stored.
    pub fn create_order(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
        mut order: Order,
    ) -> Result<Order, StoreError> {
        self.write(actor, now, |w| {
            let day = local_date(now).format("%Y%m%d").to_string();
            let taken: i64 = w.tx().query_row(
                "SELECT count(*) FROM orders WHERE number LIKE ?1 || '-%'",
                [&day],
                |r| r.get(0),
            )?;
            order.number = format!("{day}-{:04}", taken + 1);
            let (body, personal) = w.order_body(&order)?;
            w.tx().execute(
                "INSERT INTO orders (id, number, provider, operation, state, created_at, updated_at, revision, body, personal)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9)",
                (
                    &order.id,
                    &order.number,
                    &order.application.provider,
                    order.application.operation.as_str(),
                    order.state.as_str(),
                    ts(now),
                    order.revision,
                    &body,
                    &personal,
                ),
            )?;
            w.record(
                "order.created",
                &order.id,
                json!({ "order": order }),
                json!({ "number": order.number, "to": order.state, "revision": order.revision,
                        "total_fen": order.fee.total_fen }),
            )?;
            Ok(order)
        })
    }

    /// Saves `order` after `cmd` moved it on from revision `from_revision`.
    /// Refuses with [`StoreError::Conflict`] when someone else saved first.
    pub fn save_transition(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
        from_state: OrderState,
        from_revision: u32,
        order: &Order,
        cmd: &Command,
    ) -> Result<(), StoreError> {
        self.write(actor, now, |w| {
            w.save_transition(from_state, from_revision, order, cmd)
        })
    }

    /// Finds an order by id or by number.
    pub fn order(&self, key: &str) -> Result<Option<Order>, StoreError> {
        let row: Option<(String, String, Option<Vec<u8>>)> = self
            .conn
            .prepare_cached("SELECT id, body, personal FROM orders WHERE id = ?1 OR number = ?1")?
            .query_row([key.trim()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        row.map(|(id, body, personal)| self.order_from_row(&id, &body, personal))
            .transpose()
    }

    /// The last completed order of the company with this USCC (as the
    /// station stores it), if any.
    pub fn last_completed_order_of(&self, uscc: &str) -> Result<Option<Order>, StoreError> {
        let row: Option<(String, String, Option<Vec<u8>>)> = self
            .conn
            .prepare_cached(
                "SELECT id, body, personal FROM orders
                 WHERE json_extract(body, '$.application.organization.uscc') = ?1 AND state = ?2
                 ORDER BY updated_at DESC LIMIT 1",
            )?
            .query_row((uscc, OrderState::Completed.as_str()), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        row.map(|(id, body, personal)| self.order_from_row(&id, &body, personal))
            .transpose()
    }

    /// Orders, newest first, optionally in one state.
    pub fn list_orders(
        &self,
        state: Option<OrderState>,
        limit: u32,
    ) -> Result<Vec<OrderSummary>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, number, provider, operation, state, created_at, updated_at, revision FROM orders
             WHERE ?1 IS NULL OR state = ?1 ORDER BY created_at DESC, number DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map((state.map(|s| s.as_str()), limit), |r| {
            let state: String = r.get(4)?;
            Ok(OrderSummary {
                id: r.get(0)?,
                number: r.get(1)?,
                provider: r.get(2)?,
                operation: r.get(3)?,
                state_zh: state_label(&state),
                state,
                created_at: r.get(5)?,
                updated_at: r.get(6)?,
                revision: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The order's steps, from the audit trail.
    pub fn order_history(&self, order_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, actor, action, detail FROM audit WHERE subject = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([order_id], |r| {
            let detail: String = r.get(4)?;
            Ok(HistoryEntry {
                audit_seq: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                summary: serde_json::from_str::<Value>(&detail)
                    .ok()
                    .and_then(|d| d.get("summary").cloned())
                    .unwrap_or(Value::Null),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Outbox records not yet acknowledged by the central CA, oldest first.
    pub fn outbox_pending(&self, limit: u32) -> Result<Vec<crate::OutboxRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, id, kind, payload_version, payload, created_at, acked_at FROM outbox
             WHERE acked_at IS NULL ORDER BY seq LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            let payload: String = r.get(4)?;
            Ok(crate::OutboxRecord {
                seq: r.get(0)?,
                id: r.get(1)?,
                kind: r.get(2)?,
                payload_version: r.get(3)?,
                payload: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
                created_at: r.get(5)?,
                acked_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Counts rows per table, for status and tests.
    pub fn counts(&self) -> Result<Value, StoreError> {
        let n = |sql: &str| -> Result<i64, StoreError> {
            Ok(self.conn.query_row(sql, [], |r| r.get(0))?)
        };
        Ok(json!({
            "orders": n("SELECT count(*) FROM orders")?,
            "outbox": n("SELECT count(*) FROM outbox")?,
            "outbox_pending": n("SELECT count(*) FROM outbox WHERE acked_at IS NULL")?,
            "audit": n("SELECT count(*) FROM audit")?,
            "catalogs": n("SELECT count(*) FROM catalogs")?,
        }))
    }
}

fn state_label(s: &str) -> String {
    serde_json::from_value::<OrderState>(Value::String(s.to_string()))
        .map(|st| st.label_zh().to_string())
        .unwrap_or_else(|_| s.to_string())
}

impl Writer<'_> {
    /// [`Store::save_transition`] inside a larger transaction.
    pub fn save_transition(
        &mut self,
        from_state: OrderState,
        from_revision: u32,
        order: &Order,
        cmd: &Command,
    ) -> Result<(), StoreError> {
        let (body, personal) = self.order_body(order)?;
        let changed = self
            .tx()
            .prepare_cached(
                "UPDATE orders SET state = ?1, updated_at = ?2, revision = ?3, body = ?4, personal = ?7
             WHERE id = ?5 AND revision = ?6",
            )?
            .execute((
                order.state.as_str(),
                ts(self.now()),
                order.revision,
                &body,
                &order.id,
                from_revision,
                &personal,
            ))?;
        if changed != 1 {
            return Err(StoreError::Conflict(order.number.clone()));
        }
        // Steps carry the command and where it led; the central CA
        // replays them. Creation and the final step carry the whole order.
        let data = if order.state.is_final() {
            json!({ "order": order, "command": cmd })
        } else {
            json!({ "order_id": order.id, "number": order.number, "revision": order.revision,
                    "from": from_state, "to": order.state, "command": cmd })
        };
        self.record(
            cmd.kind(),
            &order.id,
            data,
            json!({ "number": order.number, "from": from_state, "to": order.state,
                    "revision": order.revision }),
        )?;
        Ok(())
    }
}
