//! The HTTP API of protocol v1 (see `docs/sync-protocol.md`): the router,
//! its state and its refusals. The handlers live by concern:
//! - [`auth`]: the signed-request extractors every station route takes;
//! - [`batches`]: a station's head and the upload of its outbox records;
//! - [`audit`]: the upload of its audit trail, sealed;
//! - [`downloads`]: catalog, revocations, review decisions and renewed
//!   station certificate, which stations fetch;
//! - [`crls`]: the upload of a station's CRL, and the public downloads of
//!   its newest CRL and its sub-CA certificate for relying parties;
//! - [`status`]: the operator's status, as JSON and as a page.
//!
//! [`router`] is the TLS API; [`public_router`] is what a plain HTTP
//! listener serves (`central serve --public-listen`): the public downloads
//! only, which the TLS API serves too; [`status_router`] the operator's
//! status, on a loopback listener of its own (`--status-listen`).

mod audit;
mod auth;
mod batches;
mod crls;
mod downloads;
mod status;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use deadpool_postgres::Pool;
use kiosk_sync::{refusal, request_limit, Refusal};
use serde_json::json;

use crate::clock::Clock;

pub use status::station_status;

pub struct Central {
    pub pool: Pool,
    /// Signs what stations download (see `kiosk_sync::publication`);
    /// without one, answers go unsigned and stations refuse them.
    pub publisher: Option<Publisher>,
    /// How far a request's signing time may be from the central's clock.
    pub max_skew: Duration,
    /// Every time the server reads or stores (see [`crate::clock`]).
    pub clock: Clock,
}

pub fn router(central: Arc<Central>) -> Router {
    Router::new()
        .route("/v1/hello", get(hello))
        .route("/v1/stations/{id}/head", get(batches::head))
        .route(
            "/v1/stations/{id}/records",
            post(batches::records).layer(DefaultBodyLimit::max(request_limit::RECORDS)),
        )
        .route(
            "/v1/stations/{id}/audit",
            post(audit::upload).layer(DefaultBodyLimit::max(request_limit::AUDIT)),
        )
        .route("/v1/stations/{id}/decisions", get(downloads::decisions))
        .route("/v1/stations/{id}/certificate", get(downloads::certificate))
        .route("/v1/catalog", get(downloads::catalog))
        .route("/v1/revocations", get(downloads::revocations))
        .route("/v1/directory", get(downloads::directory))
        .route(
            "/v1/stations/{id}/crl",
            post(crls::upload).layer(DefaultBodyLimit::max(request_limit::CRL)),
        )
        .merge(public_routes())
        .layer(DefaultBodyLimit::max(request_limit::OTHER))
        .with_state(central)
}

/// The operator's status (`/status`, `/v1/status`): stations, backlogs,
/// last syncs. Not on the API: only on its own listener, which serves
/// loopback only (`central serve --status-listen`), so that only someone
/// on the central's host sees it.
pub fn status_router(central: Arc<Central>) -> Router {
    Router::new()
        .route("/v1/status", get(status::status_json))
        .route("/status", get(status::status_page))
        .with_state(central)
}

/// The unsigned downloads of relying parties, for a plain HTTP listener.
/// (`{station}.crl` cannot be a route of its own: a parameter takes a
/// whole path segment, so the handlers strip the suffix.)
pub fn public_router(central: Arc<Central>) -> Router {
    public_routes().with_state(central)
}

fn public_routes() -> Router<Arc<Central>> {
    Router::new()
        .route("/crl/{file}", get(crls::crl_file))
        .route("/ca/{file}", get(crls::ca_file))
}

/// The key that signs publications, and its certificate chain as the
/// chain header carries it.
pub struct Publisher {
    key: rcgen::KeyPair,
    chain: String,
}

impl Publisher {
    /// From a PEM private key and a PEM chain (signer first), e.g. the TLS
    /// certificate's, which chains to the CA the stations pin.
    pub fn from_pem(key_pem: &str, chain_pem: &[u8]) -> anyhow::Result<Publisher> {
        use base64::Engine;
        let key = rcgen::KeyPair::from_pem(key_pem)?;
        let chain: Vec<String> = x509_parser::pem::Pem::iter_from_buffer(chain_pem)
            .filter_map(|p| p.ok())
            .filter(|p| p.label == "CERTIFICATE")
            .map(|p| base64::engine::general_purpose::STANDARD.encode(p.contents))
            .collect();
        anyhow::ensure!(
            !chain.is_empty(),
            "the publication certificate file holds no certificate"
        );
        Ok(Publisher {
            key,
            chain: chain.join(","),
        })
    }
}

/// A JSON answer of `kind` to `station`, signed when the central has a
/// publisher.
fn published<T: serde::Serialize>(c: &Central, kind: &str, station: &str, value: &T) -> Response {
    use base64::Engine;
    use rcgen::SigningKey;
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.clone(),
    )
        .into_response();
    if let Some(p) = &c.publisher {
        let message = kiosk_sync::publication::message(kind, station, &body);
        if let Ok(signature) = p.key.sign(&message) {
            let headers = response.headers_mut();
            let sig = base64::engine::general_purpose::STANDARD.encode(signature);
            if let (Ok(s), Ok(ch)) = (sig.parse(), p.chain.parse()) {
                headers.insert(kiosk_sync::publication::SIGNATURE_HEADER, s);
                headers.insert(kiosk_sync::publication::CHAIN_HEADER, ch);
            }
        }
    }
    response
}

/// A refusal with its HTTP status.
#[derive(Debug)]
pub struct Refused(StatusCode, Refusal);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

/// For the extractors, whose rejection is any response.
impl From<Refused> for Response {
    fn from(r: Refused) -> Response {
        r.into_response()
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

/// The protocol and the central's time, unsigned.
async fn hello(State(c): State<Arc<Central>>) -> Json<serde_json::Value> {
    Json(json!({ "protocol": kiosk_sync::PROTOCOL, "time": c.clock.now().to_rfc3339() }))
}

#[cfg(test)]
mod tests;
