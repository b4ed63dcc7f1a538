//! The HTTP API of protocol v1 (see `docs/sync-protocol.md`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use kiosk_sync::{
    header, refusal, Batch, BatchAck, CatalogUpdate, Decision, Decisions, Head, Refusal,
    Revocation, Revocations, Signed, StationCertificate,
};
use serde::Deserialize;
use serde_json::json;

/// The newest record payload version this central understands. Newer ones
/// are stored and counted, not refused.
pub const KNOWN_PAYLOAD_VERSION: i64 = 1;

/// Most records accepted in one batch.
pub const MAX_BATCH: usize = 10_000;

pub struct Central {
    pub pool: Pool,
    /// How far a request's signing time may be from the central's clock.
    pub max_skew: Duration,
}

pub fn router(central: Arc<Central>) -> Router {
    Router::new()
        .route("/v1/hello", get(hello))
        .route("/v1/status", get(status_json))
        .route("/status", get(status_page))
        .route("/v1/stations/{id}/head", get(head))
        .route("/v1/stations/{id}/records", post(records))
        .route("/v1/stations/{id}/decisions", get(decisions))
        .route("/v1/stations/{id}/certificate", get(certificate))
        .route("/v1/catalog", get(catalog))
        .route("/v1/revocations", get(revocations))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(central)
}

/// A refusal with its HTTP status.
pub struct Refused(StatusCode, Refusal);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

fn refused(status: StatusCode, code: &str, message: &str, message_zh: &str) -> Refused {
    Refused(
        status,
        Refusal {
            code: code.into(),
            message: message.into(),
            message_zh: message_zh.into(),
            committed_seq: None,
        },
    )
}

impl From<tokio_postgres::Error> for Refused {
    fn from(e: tokio_postgres::Error) -> Self {
        refused(
            StatusCode::SERVICE_UNAVAILABLE,
            refusal::UNAVAILABLE,
            &format!("the central database failed: {e}; retry later"),
            "中心数据库暂时不可用，请稍后重试",
        )
    }
}

impl From<deadpool_postgres::PoolError> for Refused {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        refused(
            StatusCode::SERVICE_UNAVAILABLE,
            refusal::UNAVAILABLE,
            &format!("the central database is unreachable: {e}; retry later"),
            "中心数据库暂时不可用，请稍后重试",
        )
    }
}

/// The station a verified request came from.
struct Caller {
    station: String,
    nonce: String,
    at: DateTime<Utc>,
}

/// Checks a signed request: known station and certificate, not revoked,
/// signing time within the window, signature over this very request.
/// The nonce is checked by the caller, inside its own transaction.
async fn authenticate(
    c: &Central,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    path_station: Option<&str>,
) -> Result<Caller, Refused> {
    let get = |name: &str| -> Result<&str, Refused> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                refused(
                    StatusCode::BAD_REQUEST,
                    refusal::MALFORMED,
                    &format!("header {name} is missing"),
                    "请求缺少签名信息",
                )
            })
    };
    let station = get(header::STATION)?;
    let fingerprint = get(header::CERTIFICATE)?;
    let time = get(header::TIME)?;
    let nonce = get(header::NONCE)?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(get(header::SIGNATURE)?)
        .map_err(|_| {
            refused(
                StatusCode::BAD_REQUEST,
                refusal::MALFORMED,
                "the signature is not base64",
                "请求签名格式错误",
            )
        })?;
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let signed = Signed {
        method: method.as_str(),
        path_and_query,
        station,
        certificate_sha256: fingerprint,
        time,
        nonce,
        body,
    };
    if !signed.well_formed() || path_station.is_some_and(|p| p != station) || nonce.len() > 64 {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            refusal::MALFORMED,
            "the signed headers are malformed or name another station",
            "请求签名信息格式错误",
        ));
    }
    let client = c.pool.get().await?;
    let row = client
        .query_opt(
            "SELECT s.status, sc.der FROM stations s
             LEFT JOIN station_certs sc ON sc.station_id = s.id AND sc.sha256 = $2
             WHERE s.id = $1",
            &[&station, &fingerprint],
        )
        .await?;
    let Some(row) = row else {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            refusal::UNKNOWN_STATION,
            &format!("station {station} is not registered at the central; register it with `central station add`"),
            "中心CA不认识本工作站。请联系中心CA登记本工作站（central station add）",
        ));
    };
    if row.get::<_, String>(0) == "revoked" {
        return Err(refused(
            StatusCode::FORBIDDEN,
            refusal::STATION_REVOKED,
            &format!("station {station} has been revoked at the central"),
            "本工作站已被中心CA吊销，不能再同步。请联系中心CA",
        ));
    }
    let Some(der) = row.get::<_, Option<Vec<u8>>>(1) else {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            refusal::UNKNOWN_CERTIFICATE,
            &format!("certificate {fingerprint} is not registered for station {station}"),
            "签名所用的工作站证书未在中心CA登记。请联系中心CA登记本工作站当前的签发CA证书",
        ));
    };
    let at = DateTime::parse_from_rfc3339(time)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            refused(
                StatusCode::BAD_REQUEST,
                refusal::MALFORMED,
                "the signing time is not RFC 3339",
                "请求签名时间格式错误",
            )
        })?;
    let now = Utc::now();
    let skew = (now - at).abs();
    if skew.to_std().unwrap_or(Duration::MAX) > c.max_skew {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            refusal::CLOCK_SKEW,
            &format!(
                "the request was signed at {time}, the central's time is {}; a replayed old request, or the station clock is wrong",
                now.to_rfc3339()
            ),
            &format!(
                "请求时间与中心时间（{}）相差过大：可能是重放的旧请求，或工作站时钟不准。请校准工作站时钟后重试",
                now.to_rfc3339()
            ),
        ));
    }
    kiosk_sync::verify(&der, &signed.message(), &signature).map_err(|_| {
        refused(
            StatusCode::UNAUTHORIZED,
            refusal::BAD_SIGNATURE,
            "the signature does not match the request: it was changed on the way or signed with another key",
            "请求签名校验失败：内容在传输中被改动，或不是本工作站的密钥所签",
        )
    })?;
    Ok(Caller {
        station: station.to_string(),
        nonce: nonce.to_string(),
        at,
    })
}

/// Records the nonce; refuses a request seen before.
async fn fresh_nonce(
    client: &impl deadpool_postgres::GenericClient,
    caller: &Caller,
) -> Result<(), Refused> {
    let n = client
        .execute(
            "INSERT INTO request_nonces (station_id, nonce, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&caller.station, &caller.nonce, &caller.at],
        )
        .await?;
    if n == 0 {
        return Err(refused(
            StatusCode::CONFLICT,
            refusal::REPLAYED,
            "this request was already received (same nonce): a replay",
            "该请求已收到过（重放），已拒绝",
        ));
    }
    Ok(())
}

/// Authenticates a GET and spends its nonce.
async fn signed_get(
    c: &Central,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    path_station: Option<&str>,
) -> Result<Caller, Refused> {
    let caller = authenticate(c, method, uri, headers, b"", path_station).await?;
    let client = c.pool.get().await?;
    fresh_nonce(&client, &caller).await?;
    Ok(caller)
}

async fn hello() -> Json<serde_json::Value> {
    Json(json!({ "protocol": kiosk_sync::PROTOCOL, "time": Utc::now().to_rfc3339() }))
}

#[derive(Deserialize)]
struct HeadQuery {
    outbox_head: Option<i64>,
}

async fn head(
    State(c): State<Arc<Central>>,
    Path(id): Path<String>,
    Query(q): Query<HeadQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Head>, Refused> {
    let caller = signed_get(&c, &method, &uri, &headers, Some(&id)).await?;
    let client = c.pool.get().await?;
    let row = client
        .query_one(
            "UPDATE stations SET last_seen_at = now(),
                 reported_head = greatest(reported_head, coalesce($2, reported_head))
             WHERE id = $1 RETURNING committed_seq",
            &[&caller.station, &q.outbox_head],
        )
        .await?;
    // Nonces older than twice the window can never be accepted again.
    let horizon = Utc::now() - chrono::Duration::from_std(c.max_skew * 2).unwrap_or_default();
    client
        .execute("DELETE FROM request_nonces WHERE at < $1", &[&horizon])
        .await?;
    Ok(Json(Head {
        station_id: caller.station,
        committed_seq: row.get(0),
    }))
}

async fn records(
    State(c): State<Arc<Central>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<BatchAck>, Refused> {
    let caller = authenticate(&c, &method, &uri, &headers, &body, Some(&id)).await?;
    let batch: Batch = serde_json::from_slice(&body).map_err(|e| {
        refused(
            StatusCode::BAD_REQUEST,
            refusal::MALFORMED,
            &format!("the batch is not valid JSON: {e}"),
            "批次数据格式错误",
        )
    })?;
    let recs = &batch.records;
    let contiguous = recs.windows(2).all(|w| w[1].seq == w[0].seq + 1);
    if recs.is_empty() || recs.len() > MAX_BATCH || !contiguous || recs[0].seq < 1 {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            refusal::MALFORMED,
            &format!("a batch holds 1 to {MAX_BATCH} records with consecutive seq"),
            "批次记录须为连续序号",
        ));
    }
    let first = recs[0].seq;
    let last = recs[recs.len() - 1].seq;

    let mut client = c.pool.get().await?;
    let tx = client.transaction().await?;
    let committed: i64 = tx
        .query_one(
            "SELECT committed_seq FROM stations WHERE id = $1 FOR UPDATE",
            &[&caller.station],
        )
        .await?
        .get(0);
    fresh_nonce(&tx, &caller).await?;
    if first > committed + 1 {
        let mut r = refused(
            StatusCode::CONFLICT,
            refusal::GAP,
            &format!(
                "the batch starts at {first} but the central has up to {committed}; send from {}",
                committed + 1
            ),
            "批次起始序号与中心记录不连续，请从中心已有位置之后重发",
        );
        r.1.committed_seq = Some(committed);
        return Err(r);
    }
    // A resent record must be the very record the central has: the same
    // seq with another id means the station lost its database and started
    // over, and must not be silently dropped.
    let overlap: Vec<_> = recs.iter().take_while(|r| r.seq <= committed).collect();
    if !overlap.is_empty() {
        let seqs: Vec<i64> = overlap.iter().map(|r| r.seq).collect();
        let ids: Vec<&str> = overlap.iter().map(|r| r.id).collect();
        let clash: i64 = tx
            .query_one(
                "SELECT count(*) FROM records r JOIN unnest($2::bigint[], $3::text[]) AS u(seq, id)
                   ON r.station_id = $1 AND r.seq = u.seq
                 WHERE r.id::text <> u.id",
                &[&caller.station, &seqs, &ids],
            )
            .await?
            .get(0);
        if clash > 0 {
            return Err(refused(
                StatusCode::CONFLICT,
                refusal::SEQUENCE_CONFLICT,
                &format!("{clash} records reuse sequence numbers the central holds with other contents; the station database was replaced"),
                "本工作站的记录序号与中心已有记录冲突（工作站数据库可能被替换或从旧备份恢复）。已停止同步，请联系运维处理",
            ));
        }
    }
    let fresh: Vec<_> = recs.iter().filter(|r| r.seq > committed).collect();
    let mut inserted = 0;
    if !fresh.is_empty() {
        let seqs: Vec<i64> = fresh.iter().map(|r| r.seq).collect();
        let ids: Vec<&str> = fresh.iter().map(|r| r.id).collect();
        let kinds: Vec<&str> = fresh.iter().map(|r| r.kind).collect();
        let versions: Vec<i32> = fresh.iter().map(|r| r.payload_version as i32).collect();
        let created: Vec<&str> = fresh.iter().map(|r| r.created_at).collect();
        let payloads: Vec<&str> = fresh.iter().map(|r| r.payload.get()).collect();
        inserted = tx
            .execute(
                "INSERT INTO records (station_id, seq, id, kind, payload_version, created_at, payload)
                 SELECT $1, u.seq, u.id::uuid, u.kind, u.v, u.at::timestamptz, u.p::jsonb
                 FROM unnest($2::bigint[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[])
                   AS u(seq, id, kind, v, at, p)
                 ON CONFLICT (station_id, seq) DO NOTHING",
                &[&caller.station, &seqs, &ids, &kinds, &versions, &created, &payloads],
            )
            .await?;
        let (lo, hi) = (committed + 1, last);
        tx.execute(
            "INSERT INTO certificates (serial, issuer, station_id)
             SELECT payload->'data'->>'serial', payload->'data'->>'issuer', station_id FROM records
             WHERE station_id = $1 AND seq BETWEEN $2 AND $3 AND kind = 'certificate.issued'
             ON CONFLICT DO NOTHING",
            &[&caller.station, &lo, &hi],
        )
        .await?;
        tx.execute(
            "INSERT INTO revocations (issuer, serial, reason, revoked_at, station_id)
             SELECT coalesce(c.issuer, ''), r.payload->'data'->>'serial',
                    coalesce((r.payload->'data'->>'reason')::int, 0),
                    coalesce(r.payload->'data'->>'at', r.created_at::text), r.station_id
             FROM records r
             LEFT JOIN certificates c ON c.serial = r.payload->'data'->>'serial'
             WHERE r.station_id = $1 AND r.seq BETWEEN $2 AND $3 AND r.kind = 'certificate.revoked'
             ON CONFLICT DO NOTHING",
            &[&caller.station, &lo, &hi],
        )
        .await?;
    }
    let newer = fresh
        .iter()
        .filter(|r| r.payload_version > KNOWN_PAYLOAD_VERSION)
        .count() as i64;
    let row = tx
        .query_one(
            "UPDATE stations SET committed_seq = greatest(committed_seq, $2), last_seen_at = now(),
                 last_batch_at = now(), newer_payloads = newer_payloads + $3,
                 reported_head = greatest(reported_head, $2)
             WHERE id = $1 RETURNING committed_seq",
            &[&caller.station, &last, &newer],
        )
        .await?;
    tx.commit().await?;
    Ok(Json(BatchAck {
        committed_seq: row.get(0),
        inserted,
        duplicates: recs.len() as u64 - inserted,
        newer_payload_versions: newer as u64,
    }))
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: i64,
}

async fn catalog(
    State(c): State<Arc<Central>>,
    Query(q): Query<After>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    signed_get(&c, &method, &uri, &headers, None).await?;
    let client = c.pool.get().await?;
    let row = client
        .query_opt(
            "SELECT version, body FROM catalogs WHERE version > $1 ORDER BY version DESC LIMIT 1",
            &[&q.after],
        )
        .await?;
    Ok(match row {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(r) => Json(CatalogUpdate {
            version: r.get::<_, i64>(0) as u64,
            body: r.get(1),
        })
        .into_response(),
    })
}

async fn revocations(
    State(c): State<Arc<Central>>,
    Query(q): Query<After>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Revocations>, Refused> {
    signed_get(&c, &method, &uri, &headers, None).await?;
    let client = c.pool.get().await?;
    let rows = client
        .query(
            "SELECT cursor, issuer, serial, reason, revoked_at, station_id FROM revocations
             WHERE cursor > $1 ORDER BY cursor LIMIT 10000",
            &[&q.after],
        )
        .await?;
    let cursor = rows.last().map(|r| r.get(0)).unwrap_or(q.after);
    Ok(Json(Revocations {
        revocations: rows
            .iter()
            .map(|r| Revocation {
                issuer: r.get(1),
                serial: r.get(2),
                reason: r.get::<_, i32>(3).into(),
                revoked_at: r.get(4),
                station_id: r.get(5),
            })
            .collect(),
        cursor,
    }))
}

async fn decisions(
    State(c): State<Arc<Central>>,
    Path(id): Path<String>,
    Query(q): Query<After>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Decisions>, Refused> {
    let caller = signed_get(&c, &method, &uri, &headers, Some(&id)).await?;
    let client = c.pool.get().await?;
    let rows = client
        .query(
            "SELECT cursor, order_id, decision, reason, decided_by, decided_at FROM decisions
             WHERE station_id = $1 AND cursor > $2 ORDER BY cursor LIMIT 1000",
            &[&caller.station, &q.after],
        )
        .await?;
    let cursor = rows.last().map(|r| r.get(0)).unwrap_or(q.after);
    Ok(Json(Decisions {
        decisions: rows
            .iter()
            .map(|r| Decision {
                cursor: r.get(0),
                order_id: r.get(1),
                decision: r.get(2),
                reason: r.get(3),
                decided_by: r.get(4),
                decided_at: r.get::<_, DateTime<Utc>>(5).to_rfc3339(),
            })
            .collect(),
        cursor,
    }))
}

async fn certificate(
    State(c): State<Arc<Central>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let caller = signed_get(&c, &method, &uri, &headers, Some(&id)).await?;
    let client = c.pool.get().await?;
    let row = client
        .query_opt(
            "SELECT sha256, not_after, chain_pem FROM station_certs WHERE station_id = $1
             ORDER BY not_after DESC, added_at DESC LIMIT 1",
            &[&caller.station],
        )
        .await?;
    Ok(match row {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(r) => Json(StationCertificate {
            sha256: r.get(0),
            not_after: r.get::<_, DateTime<Utc>>(1).to_rfc3339(),
            chain_pem: r.get(2),
        })
        .into_response(),
    })
}

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

async fn status_json(State(c): State<Arc<Central>>) -> Result<Json<serde_json::Value>, Refused> {
    Ok(Json(station_status(&c.pool).await?))
}

async fn status_page(State(c): State<Arc<Central>>) -> Result<Html<String>, Refused> {
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
