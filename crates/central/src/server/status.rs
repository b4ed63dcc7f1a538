//! What the operator watches: per-station status, as JSON and as a page.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use axum::Json;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde_json::json;

use super::{Central, Refused};

/// Per-station status: what the operator watches.
pub async fn station_status(pool: &Pool) -> Result<serde_json::Value, Refused> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT id, name, status, committed_seq, greatest(reported_head - committed_seq, 0),
                    last_seen_at, last_batch_at, newer_payloads
             FROM stations ORDER BY id",
            &[],
        )
        .await?;
    let reviews: i64 = client
        .query_one(
            "SELECT count(*) FROM (
               SELECT DISTINCT ON (payload->>'subject') payload->'data'->>'to' AS state
               FROM records WHERE kind LIKE 'order.%' ORDER BY payload->>'subject', station_id, seq DESC
             ) o WHERE o.state = 'central-review'",
            &[],
        )
        .await?
        .get(0);
    let ts = |v: Option<DateTime<Utc>>| v.map(|t| t.to_rfc3339());
    Ok(json!({
        "stations": rows.iter().map(|r| json!({
            "id": r.get::<_, String>(0),
            "name": r.get::<_, String>(1),
            "status": r.get::<_, String>(2),
            "committed_seq": r.get::<_, i64>(3),
            "backlog": r.get::<_, i64>(4),
            "last_seen_at": ts(r.get(5)),
            "last_batch_at": ts(r.get(6)),
            "newer_payloads": r.get::<_, i64>(7),
        })).collect::<Vec<_>>(),
        "orders_awaiting_review": reviews,
    }))
}

pub(super) async fn status_json(
    State(c): State<Arc<Central>>,
) -> Result<Json<serde_json::Value>, Refused> {
    Ok(Json(station_status(&c.pool).await?))
}

pub(super) async fn status_page(State(c): State<Arc<Central>>) -> Result<Html<String>, Refused> {
    let s = station_status(&c.pool).await?;
    let esc = |v: &serde_json::Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
            .replace('&', "&amp;")
            .replace('<', "&lt;")
    };
    let mut rows = String::new();
    for st in s["stations"].as_array().into_iter().flatten() {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&st["id"]),
            esc(&st["status"]),
            esc(&st["committed_seq"]),
            esc(&st["backlog"]),
            esc(&st["last_batch_at"]),
            esc(&st["newer_payloads"]),
        ));
    }
    Ok(Html(format!(
        "<!doctype html><meta charset=utf-8><title>中心CA同步状态</title>\
         <h1>中心CA同步状态 · central sync status</h1>\
         <p>待中心审核的订单 orders awaiting review: {}</p>\
         <table border=1 cellpadding=4><tr><th>工作站 station</th><th>状态 status</th>\
         <th>已入库序号 committed</th><th>积压 backlog</th><th>最近批次 last batch</th>\
         <th>新版本记录 newer payloads</th></tr>{rows}</table>",
        s["orders_awaiting_review"]
    )))
}
