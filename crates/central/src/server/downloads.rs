//! What stations fetch: the newest catalog, the network's revocations, the
//! central's decisions on the station's orders, and a renewed station
//! certificate.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kiosk_sync::{
    CatalogUpdate, Decision, Decisions, Directory, DirectoryEntry, Revocation, Revocations,
    StationCertificate, DIRECTORY_PAGE,
};
use serde::Deserialize;

use super::auth::SignedStation;
use super::{published, Central, Refused};

/// A cursor: what the station already has.
#[derive(Deserialize)]
pub(super) struct After {
    #[serde(default)]
    after: i64,
}

/// The newest catalog if newer than `after`; 204 if none is.
pub(super) async fn catalog(
    State(c): State<Arc<Central>>,
    signed: SignedStation<Query<After>>,
) -> Result<Response, Refused> {
    let Query(q) = signed.query;
    let client = c.pool.get().await?;
    let row = client
        .query_opt(
            "SELECT version, body FROM catalogs WHERE version > $1 ORDER BY version DESC LIMIT 1",
            &[&q.after],
        )
        .await?;
    Ok(match row {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(r) => published(
            &c,
            "catalog",
            &signed.station,
            &CatalogUpdate {
                version: r.get::<_, i64>(0) as u64,
                body: r.get(1),
            },
        ),
    })
}

/// The directory entries changed after the cursor, oldest first, a page
/// at a time.
pub(super) async fn directory(
    State(c): State<Arc<Central>>,
    signed: SignedStation<Query<After>>,
) -> Result<Response, Refused> {
    let Query(q) = signed.query;
    let client = c.pool.get().await?;
    let rows = client
        .query(
            "SELECT version, provider, issuer, serial, name, uscc, not_before, not_after, status
             FROM directory WHERE version > $1 ORDER BY version LIMIT $2",
            &[&q.after, &DIRECTORY_PAGE],
        )
        .await?;
    let cursor = rows.last().map(|r| r.get(0)).unwrap_or(q.after);
    let answer = Directory {
        entries: rows
            .iter()
            .map(|r| DirectoryEntry {
                version: r.get(0),
                provider: r.get(1),
                issuer: r.get(2),
                serial: r.get(3),
                name: r.get(4),
                uscc: r.get(5),
                not_before: r.get(6),
                not_after: r.get(7),
                status: r.get(8),
            })
            .collect(),
        cursor,
    };
    Ok(published(&c, "directory", &signed.station, &answer))
}

/// Revocations of every station after the cursor, oldest first.
pub(super) async fn revocations(
    State(c): State<Arc<Central>>,
    signed: SignedStation<Query<After>>,
) -> Result<Response, Refused> {
    let Query(q) = signed.query;
    let client = c.pool.get().await?;
    let rows = client
        .query(
            "SELECT cursor, issuer, serial, reason, revoked_at, station_id FROM revocations
             WHERE cursor > $1 ORDER BY cursor LIMIT 10000",
            &[&q.after],
        )
        .await?;
    let cursor = rows.last().map(|r| r.get(0)).unwrap_or(q.after);
    let answer = Revocations {
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
    };
    Ok(published(&c, "revocations", &signed.station, &answer))
}

/// The central's decisions on the station's orders after the cursor.
pub(super) async fn decisions(
    State(c): State<Arc<Central>>,
    signed: SignedStation<Query<After>>,
) -> Result<Response, Refused> {
    let Query(q) = signed.query;
    let client = c.pool.get().await?;
    let rows = client
        .query(
            "SELECT cursor, order_id, decision, reason, decided_by, decided_at FROM decisions
             WHERE station_id = $1 AND cursor > $2 ORDER BY cursor LIMIT 1000",
            &[&signed.station, &q.after],
        )
        .await?;
    let cursor = rows.last().map(|r| r.get(0)).unwrap_or(q.after);
    let answer = Decisions {
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
    };
    Ok(published(&c, "decisions", &signed.station, &answer))
}

/// The station's certificate that lasts longest; 204 if it has none.
pub(super) async fn certificate(
    State(c): State<Arc<Central>>,
    signed: SignedStation,
) -> Result<Response, Refused> {
    let client = c.pool.get().await?;
    let row = client
        .query_opt(
            "SELECT sha256, not_after, chain_pem FROM station_certs WHERE station_id = $1
             ORDER BY not_after DESC, added_at DESC LIMIT 1",
            &[&signed.station],
        )
        .await?;
    Ok(match row {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(r) => published(
            &c,
            "certificate",
            &signed.station,
            &StationCertificate {
                sha256: r.get(0),
                not_after: r.get::<_, DateTime<Utc>>(1).to_rfc3339(),
                chain_pem: r.get(2),
            },
        ),
    })
}
