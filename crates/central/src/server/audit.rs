//! A station's audit trail (`POST /v1/stations/{id}/audit`): rows that
//! chain from the newest row the central holds sealed, up to a row the
//! station's key sealed. The central refuses, storing nothing:
//! - a seal that no certificate registered for the station made
//!   (`bad_seal`);
//! - rows that do not chain from what it holds, or a seal of a row it
//!   holds with another hash, or a row vouching for a record the central
//!   holds with another payload (`history_diverged`): the station's
//!   database was rewritten or replaced, which someone must look into.
//!
//! A station's first upload may start anywhere: the prev_hash of its first
//! row becomes the anchor. Sending the same seal again is answered with
//! what the central holds.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kiosk_sync::audit::{chain, AuditAck, AuditUpload, MAX_AUDIT_ROWS};
use kiosk_sync::refusal;

use super::auth::SignedUpload;
use super::{refused, Central, Refused};

fn diverged(message: &str) -> Refused {
    refused(
        StatusCode::CONFLICT,
        refusal::HISTORY_DIVERGED,
        &format!("{message}: the station's audit trail no longer leads to what the central holds (its database was rewritten or replaced); nothing was stored"),
        "本工作站的审计记录与中心已保存的记录不再一致（工作站数据库被改写或替换）。中心未保存，请联系运维和审计人员核查",
    )
}

fn malformed(message: &str) -> Refused {
    refused(
        StatusCode::BAD_REQUEST,
        refusal::MALFORMED,
        message,
        "审计记录上传的格式错误",
    )
}

pub(super) async fn upload(
    State(c): State<Arc<Central>>,
    signed: SignedUpload,
) -> Result<Json<AuditAck>, Refused> {
    let station = &signed.station;
    let up: AuditUpload = serde_json::from_slice(&signed.body)
        .map_err(|e| malformed(&format!("the audit upload is not valid JSON: {e}")))?;
    let seal = &up.seal;
    if up.rows.len() > MAX_AUDIT_ROWS || up.rows.last().is_some_and(|r| r.row.seq != seal.seq) {
        return Err(malformed(&format!(
            "an audit upload holds at most {MAX_AUDIT_ROWS} rows and ends at the sealed row"
        )));
    }
    let mut client = c.pool.get().await?;
    let tx = client.transaction().await?;
    let held = tx
        .query_one(
            "SELECT audit_seq, audit_hash FROM stations WHERE id = $1 FOR UPDATE",
            &[station],
        )
        .await?;
    let (held_seq, held_hash): (i64, Option<String>) = (held.get(0), held.get(1));
    signed.spend_nonce(&tx).await?;
    let certs: Vec<Vec<u8>> = tx
        .query(
            "SELECT der FROM station_certs WHERE station_id = $1",
            &[station],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !certs.iter().any(|cert| seal.verify(station, cert).is_ok()) {
        return Err(refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            refusal::BAD_SEAL,
            "the seal is not signed by a certificate registered for this station",
            "审计封记的签名与中心登记的本工作站证书不符，中心未保存",
        ));
    }
    // A seal of a row the central holds: the same row, or a rewrite.
    if seal.seq <= held_seq {
        let same: Option<String> = tx
            .query_opt(
                "SELECT hash FROM audit_rows WHERE station_id = $1 AND seq = $2",
                &[station, &seal.seq],
            )
            .await?
            .map(|r| r.get(0));
        if same.as_deref().is_some_and(|h| h != seal.hash) {
            return Err(diverged(&format!(
                "row {} was sealed with another hash",
                seal.seq
            )));
        }
        tx.commit().await?;
        return Ok(Json(AuditAck {
            audit_seq: held_seq,
        }));
    }
    // The rows after the held one, up to the sealed one.
    let rows: Vec<_> = up.rows.iter().filter(|r| r.row.seq > held_seq).collect();
    let first = rows
        .first()
        .ok_or_else(|| malformed("no audit row after the ones the central holds"))?;
    let anchor = match &held_hash {
        Some(h) if held_seq > 0 => {
            if first.row.seq != held_seq + 1 {
                return Err(malformed(&format!(
                    "the rows must start at {}",
                    held_seq + 1
                )));
            }
            h.clone()
        }
        _ => first.row.prev_hash.clone(),
    };
    let owned: Vec<_> = rows.iter().map(|r| (*r).clone()).collect();
    let last = chain(&anchor, &owned)
        .map_err(|seq| diverged(&format!("row {seq} does not chain from the rows before it")))?;
    if last != seal.hash {
        return Err(diverged("the sealed row is not the last row sent"));
    }
    // Each row vouches for an outbox record: one the central holds must
    // be that very record.
    let mut vouched_seqs = Vec::new();
    let mut vouched_hashes = Vec::new();
    for r in &rows {
        let detail: serde_json::Value = serde_json::from_str(&r.row.detail).unwrap_or_default();
        if let (Some(s), Some(h)) = (
            detail["outbox_seq"].as_i64(),
            detail["payload_sha256"].as_str(),
        ) {
            vouched_seqs.push(s);
            vouched_hashes.push(h.to_string());
        }
    }
    let clash: i64 = tx
        .query_one(
            "SELECT count(*) FROM records r JOIN unnest($2::bigint[], $3::text[]) AS u(seq, h)
               ON r.station_id = $1 AND r.seq = u.seq
             WHERE r.payload_sha256 IS NOT NULL AND r.payload_sha256 <> u.h",
            &[station, &vouched_seqs, &vouched_hashes],
        )
        .await?
        .get(0);
    if clash > 0 {
        return Err(diverged(&format!(
            "{clash} audit rows vouch for records the central holds with other payloads"
        )));
    }
    let seqs: Vec<i64> = rows.iter().map(|r| r.row.seq).collect();
    let bodies: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(&r.row).unwrap_or_default())
        .collect();
    let hashes: Vec<&str> = rows.iter().map(|r| r.hash.as_str()).collect();
    tx.execute(
        "INSERT INTO audit_rows (station_id, seq, row, hash)
         SELECT $1, u.seq, u.row, u.hash FROM unnest($2::bigint[], $3::jsonb[], $4::text[]) AS u(seq, row, hash)",
        &[station, &seqs, &bodies, &hashes],
    )
    .await?;
    tx.execute(
        "INSERT INTO audit_seals (station_id, seq, hash, at, signature, received_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            station,
            &seal.seq,
            &seal.hash,
            &seal.at,
            &seal.signature,
            &c.clock.now(),
        ],
    )
    .await?;
    tx.execute(
        "UPDATE stations SET audit_seq = $2, audit_hash = $3 WHERE id = $1",
        &[station, &seal.seq, &seal.hash],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(AuditAck {
        audit_seq: seal.seq,
    }))
}
