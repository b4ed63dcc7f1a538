//! Uploads: where a station's records stand at the central (`head`), and
//! the batches of outbox records it sends (`records`).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use kiosk_sync::{refusal, Batch, BatchAck, Head};
use serde::Deserialize;

use super::auth::{SignedStation, SignedUpload};
use super::{refused, Central, Refused};

/// The newest record payload version this central understands. Newer ones
/// are stored and counted, not refused.
pub const KNOWN_PAYLOAD_VERSION: i64 = 2;

/// Most records accepted in one batch.
pub const MAX_BATCH: usize = 10_000;

#[derive(Deserialize)]
pub(super) struct HeadQuery {
    outbox_head: Option<i64>,
}

/// How far the central has the station's records; notes how far the
/// station's outbox goes, and forgets nonces too old to be accepted again.
pub(super) async fn head(
    State(c): State<Arc<Central>>,
    signed: SignedStation<Query<HeadQuery>>,
) -> Result<Json<Head>, Refused> {
    let Query(q) = signed.query;
    let now = c.clock.now();
    let client = c.pool.get().await?;
    let row = client
        .query_one(
            "UPDATE stations SET last_seen_at = $3,
                 reported_head = greatest(reported_head, coalesce($2, reported_head))
             WHERE id = $1 RETURNING committed_seq, audit_seq",
            &[&signed.station, &q.outbox_head, &now],
        )
        .await?;
    // Nonces older than twice the window can never be accepted again.
    let horizon = now - chrono::Duration::from_std(c.max_skew * 2).unwrap_or_default();
    client
        .execute("DELETE FROM request_nonces WHERE at < $1", &[&horizon])
        .await?;
    Ok(Json(Head {
        station_id: signed.station,
        committed_seq: row.get(0),
        audit_seq: row.get(1),
    }))
}

/// Stores a batch of the station's outbox records, exactly once each.
pub(super) async fn records(
    State(c): State<Arc<Central>>,
    signed: SignedUpload,
) -> Result<Json<BatchAck>, Refused> {
    let station = &signed.station;
    let batch: Batch = serde_json::from_slice(&signed.body).map_err(|e| {
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
    // Personal values come as disclosures of the payload's digests; a
    // station may not slip in a value its payload (and so its audit
    // trail) does not vouch for, nor leave one out.
    for r in recs {
        let payload: serde_json::Value = serde_json::from_str(r.payload.get()).unwrap_or_default();
        if let Err(e) = kiosk_sync::personal::check(&payload, &r.disclosures) {
            return Err(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                refusal::DISCLOSURE_MISMATCH,
                &format!("record {}: {e}", r.seq),
                "工作站上传的个人信息与记录中的摘要不符，本批未接收。请联系运维检查该工作站",
            ));
        }
    }
    let first = recs[0].seq;
    let last = recs[recs.len() - 1].seq;

    let mut client = c.pool.get().await?;
    let tx = client.transaction().await?;
    let committed: i64 = tx
        .query_one(
            "SELECT committed_seq FROM stations WHERE id = $1 FOR UPDATE",
            &[station],
        )
        .await?
        .get(0);
    signed.spend_nonce(&tx).await?;
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
    // over, and with another payload that it was rewritten; neither may be
    // dropped as a harmless duplicate.
    let overlap: Vec<_> = recs.iter().take_while(|r| r.seq <= committed).collect();
    if !overlap.is_empty() {
        let seqs: Vec<i64> = overlap.iter().map(|r| r.seq).collect();
        let ids: Vec<&str> = overlap.iter().map(|r| r.id).collect();
        let hashes: Vec<String> = overlap.iter().map(|r| payload_sha256(r)).collect();
        let payloads: Vec<&str> = overlap.iter().map(|r| r.payload.get()).collect();
        let clash: i64 = tx
            .query_one(
                "SELECT count(*) FROM records r
                   JOIN unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) AS u(seq, id, h, p)
                   ON r.station_id = $1 AND r.seq = u.seq
                 WHERE r.id::text <> u.id
                    OR r.payload_sha256 <> u.h
                    OR r.payload <> u.p::jsonb",
                &[station, &seqs, &ids, &hashes, &payloads],
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
    let now = c.clock.now();
    let fresh: Vec<_> = recs.iter().filter(|r| r.seq > committed).collect();
    let mut inserted = 0;
    if !fresh.is_empty() {
        let seqs: Vec<i64> = fresh.iter().map(|r| r.seq).collect();
        let ids: Vec<&str> = fresh.iter().map(|r| r.id).collect();
        let kinds: Vec<&str> = fresh.iter().map(|r| r.kind).collect();
        let versions: Vec<i32> = fresh.iter().map(|r| r.payload_version as i32).collect();
        let created: Vec<&str> = fresh.iter().map(|r| r.created_at).collect();
        let payloads: Vec<&str> = fresh.iter().map(|r| r.payload.get()).collect();
        let hashes: Vec<String> = fresh.iter().map(|r| payload_sha256(r)).collect();
        let disclosures: Vec<Option<String>> = fresh
            .iter()
            .map(|r| {
                (!r.disclosures.is_empty())
                    .then(|| serde_json::to_string(&r.disclosures).unwrap_or_default())
            })
            .collect();
        inserted = tx
            .execute(
                "INSERT INTO records (station_id, seq, id, kind, payload_version, created_at, payload, received_at, payload_sha256, disclosures)
                 SELECT $1, u.seq, u.id::uuid, u.kind, u.v, u.at::timestamptz, u.p::jsonb, $8::timestamptz, u.h, u.d::jsonb
                 FROM unnest($2::bigint[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $9::text[], $10::text[])
                   AS u(seq, id, kind, v, at, p, h, d)
                 ON CONFLICT (station_id, seq) DO NOTHING",
                &[station, &seqs, &ids, &kinds, &versions, &created, &payloads, &now, &hashes, &disclosures],
            )
            .await?;
        let (lo, hi) = (committed + 1, last);
        tx.execute(
            "INSERT INTO certificates (serial, issuer, station_id)
             SELECT payload->'data'->>'serial', payload->'data'->>'issuer', station_id FROM records
             WHERE station_id = $1 AND seq BETWEEN $2 AND $3 AND kind = 'certificate.issued'
             ON CONFLICT DO NOTHING",
            &[station, &lo, &hi],
        )
        .await?;
        // The directory: what the station issued, and what it revoked of it.
        let mut issued = Vec::new();
        let mut revoked = Vec::new();
        let certificate_kinds = [
            "certificate.issued",
            "certificate.read-from-key",
            "certificate.revoked",
        ];
        // Only the certificate records are read past their kind: a batch of
        // order steps is not parsed again here.
        for r in fresh.iter().filter(|r| certificate_kinds.contains(&r.kind)) {
            let v: serde_json::Value = serde_json::from_str(r.payload.get()).unwrap_or_default();
            let data = &v["data"];
            match r.kind {
                // Issued here, or issued elsewhere and read from a key at
                // the counter (verified there against the provider's anchors).
                "certificate.issued" | "certificate.read-from-key" => {
                    let der = data["der_hex"].as_str().and_then(|h| hex::decode(h).ok());
                    let (provider, source) = if r.kind == "certificate.issued" {
                        (data["provider"].as_str(), format!("station:{station}"))
                    } else {
                        (data["issued_by"].as_str(), format!("key:{station}"))
                    };
                    if let Some(e) = der.and_then(|d| {
                        crate::directory::of_certificate(&d, provider.unwrap_or_default(), &source)
                            .ok()
                    }) {
                        issued.push(e);
                    }
                }
                "certificate.revoked" => {
                    if let Some(s) = data["serial"].as_str() {
                        revoked.push(s.to_string());
                    }
                }
                _ => {}
            }
        }
        if !issued.is_empty() {
            crate::directory::upsert(&tx, &issued).await?;
        }
        if !revoked.is_empty() {
            tx.execute(
                "UPDATE directory SET status = 'revoked', version = nextval('directory_version')
                 WHERE source = 'station:' || $1 AND serial = ANY($2) AND status = 'valid'",
                &[station, &revoked],
            )
            .await?;
        }
        // A station revokes only what its own CA issued: a revocation of
        // another's certificate is kept as a record, never published.
        tx.execute(
            "INSERT INTO revocations (issuer, serial, reason, revoked_at, station_id)
             SELECT coalesce(c.issuer, ''), r.payload->'data'->>'serial',
                    coalesce((r.payload->'data'->>'reason')::int, 0),
                    coalesce(r.payload->'data'->>'at', r.created_at::text), r.station_id
             FROM records r
             JOIN certificates c ON c.serial = r.payload->'data'->>'serial'
               AND c.station_id = r.station_id
             WHERE r.station_id = $1 AND r.seq BETWEEN $2 AND $3 AND r.kind = 'certificate.revoked'
             ON CONFLICT DO NOTHING",
            &[station, &lo, &hi],
        )
        .await?;
        // A certificate the CA's own systems issued, revoked at a counter
        // (a lost key, a revocation without it, a change): marked in the
        // directory and published to every station, for the CA to revoke
        // in its own CRL.
        if !revoked.is_empty() {
            tx.execute(
                "WITH marked AS (
                   UPDATE directory SET status = 'revoked', version = nextval('directory_version')
                   WHERE (source = 'import' OR source LIKE 'key:%') AND serial = ANY($2)
                     AND status = 'valid'
                   RETURNING issuer, serial)
                 INSERT INTO revocations (issuer, serial, reason, revoked_at, station_id)
                 SELECT m.issuer, m.serial, coalesce((r.payload->'data'->>'reason')::int, 0),
                        coalesce(r.payload->'data'->>'at', r.created_at::text), r.station_id
                 FROM marked m JOIN records r ON r.station_id = $1 AND r.seq BETWEEN $3 AND $4
                   AND r.kind = 'certificate.revoked' AND r.payload->'data'->>'serial' = m.serial
                 ON CONFLICT DO NOTHING",
                &[station, &revoked, &lo, &hi],
            )
            .await?;
        }
    }
    let newer = fresh
        .iter()
        .filter(|r| r.payload_version > KNOWN_PAYLOAD_VERSION)
        .count() as i64;
    let row = tx
        .query_one(
            "UPDATE stations SET committed_seq = greatest(committed_seq, $2), last_seen_at = $4,
                 last_batch_at = $4, newer_payloads = newer_payloads + $3,
                 reported_head = greatest(reported_head, $2)
             WHERE id = $1 RETURNING committed_seq",
            &[station, &last, &newer, &now],
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

/// The SHA-256 of a record's payload as the station sent it: what its
/// audit row vouches for.
fn payload_sha256(r: &kiosk_sync::Record<'_>) -> String {
    kiosk_sync::fingerprint(r.payload.get().as_bytes())
}
