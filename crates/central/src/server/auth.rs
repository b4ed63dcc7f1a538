//! Signed requests, checked once for every station route by the extractors
//! [`SignedStation`] (GET) and [`SignedUpload`] (POST).
//!
//! A station signs the method, path and query, its id, the fingerprint of
//! the certificate that signs, the signing time, a nonce and the body
//! (`kiosk_sync::Signed`). The central refuses, at the first check that
//! fails, in this order:
//! 1. a signed header missing, a signature not base64, a header malformed
//!    or naming another station than the path: 400 `malformed`;
//! 2. a station not registered: 401 `unknown_station`; revoked: 403
//!    `station_revoked`; a certificate not registered for it: 401
//!    `unknown_certificate`;
//! 3. a signing time not RFC 3339: 400 `malformed`; farther than
//!    `max_skew` from the central's [`Clock`](crate::clock::Clock): 401
//!    `clock_skew`;
//! 4. a signature that does not verify: 401 `bad_signature`;
//! 5. a nonce already used: 409 `replayed`.
//!
//! A GET spends its nonce in the extractor. An upload's nonce is spent by
//! its handler with [`SignedUpload::spend_nonce`], inside the transaction
//! that stores the batch, so that a batch refused after its signature
//! leaves its nonce unspent: one not JSON or not consecutive is refused
//! before the nonce is looked at, and a gap or a sequence conflict rolls
//! the transaction back.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use kiosk_sync::{header, refusal, Signed};

use super::{refused, Central, Refused};

/// A signed GET from a registered, unrevoked station, its nonce spent.
///
/// `Q` is what the handler reads from the query string (`Query<T>`, or
/// `()` for nothing). It is extracted after the path and before the
/// signature is checked, so that a bad query string is refused before a
/// missing signature, as when the handlers extracted it themselves.
pub struct SignedStation<Q = ()> {
    /// The station that signed (the one the path names, if it names one).
    pub station: String,
    pub query: Q,
}

/// A signed POST from a registered, unrevoked station, with its body; its
/// nonce is not spent yet (see [`SignedUpload::spend_nonce`]).
pub struct SignedUpload {
    pub station: String,
    pub body: Bytes,
    nonce: String,
    at: DateTime<Utc>,
}

impl<Q> FromRequestParts<Arc<Central>> for SignedStation<Q>
where
    Q: FromRequestParts<Arc<Central>> + Send,
    Q::Rejection: IntoResponse,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Arc<Central>) -> Result<Self, Response> {
        let path = path_station(parts, c).await?;
        let query = Q::from_request_parts(parts, c)
            .await
            .map_err(IntoResponse::into_response)?;
        let caller = vouch(
            c,
            &parts.method,
            &parts.uri,
            &parts.headers,
            path.as_deref(),
        )
        .await?
        .signed_over(b"")?;
        let client = c.pool.get().await.map_err(Refused::from)?;
        spend_nonce(&client, &caller.station, &caller.nonce, caller.at).await?;
        Ok(SignedStation {
            station: caller.station,
            query,
        })
    }
}

impl FromRequest<Arc<Central>> for SignedUpload {
    type Rejection = Response;

    async fn from_request(req: Request, c: &Arc<Central>) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let path = path_station(&mut parts, c).await?;
        let (method, uri, headers) = (
            parts.method.clone(),
            parts.uri.clone(),
            parts.headers.clone(),
        );
        // Everything but the signature (which covers the body) before the
        // body is read: a stranger's upload is refused before it is held.
        let pending = vouch(c, &method, &uri, &headers, path.as_deref()).await?;
        let body = Bytes::from_request(Request::from_parts(parts, body), c)
            .await
            .map_err(IntoResponse::into_response)?;
        let caller = pending.signed_over(&body)?;
        Ok(SignedUpload {
            station: caller.station,
            body,
            nonce: caller.nonce,
            at: caller.at,
        })
    }
}

impl SignedUpload {
    /// Records the nonce on `client` (the upload's transaction); refuses a
    /// request seen before.
    pub async fn spend_nonce(&self, client: &impl GenericClient) -> Result<(), Refused> {
        spend_nonce(client, &self.station, &self.nonce, self.at).await
    }
}

/// The station the path names (`/v1/stations/{id}/…`), if it names one.
async fn path_station(parts: &mut Parts, c: &Arc<Central>) -> Result<Option<String>, Response> {
    let path = Option::<Path<String>>::from_request_parts(parts, c)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(path.map(|Path(id)| id))
}

/// The station a verified request came from.
struct Caller {
    station: String,
    nonce: String,
    at: DateTime<Utc>,
}

/// A request whose signed headers passed every check but the signature
/// itself, which covers the body ([`Pending::signed_over`]).
struct Pending {
    caller: Caller,
    der: Vec<u8>,
    signature: Vec<u8>,
    method: String,
    path_and_query: String,
    fingerprint: String,
    time: String,
}

impl Pending {
    /// The signature over this very request with `body`.
    fn signed_over(self, body: &[u8]) -> Result<Caller, Refused> {
        let signed = Signed {
            method: &self.method,
            path_and_query: &self.path_and_query,
            station: &self.caller.station,
            certificate_sha256: &self.fingerprint,
            time: &self.time,
            nonce: &self.caller.nonce,
            body,
        };
        kiosk_sync::verify(&self.der, &signed.message(), &self.signature).map_err(|_| {
            refused(
                StatusCode::UNAUTHORIZED,
                refusal::BAD_SIGNATURE,
                "the signature does not match the request: it was changed on the way or signed with another key",
                "请求签名校验失败：内容在传输中被改动，或不是本工作站的密钥所签",
            )
        })?;
        Ok(self.caller)
    }
}

/// Checks a signed request's headers: known station and certificate, not
/// revoked, signing time within the window. The signature (over the body
/// too) is [`Pending::signed_over`]'s; the nonce is left to the caller.
async fn vouch(
    c: &Central,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    path_station: Option<&str>,
) -> Result<Pending, Refused> {
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
        body: b"",
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
    // A registered certificate is good only within its validity, by the
    // central's own clock. Its end is exact; its start is given a day beyond
    // the request-time tolerance, since a certificate made a moment ago on
    // a station (or by a CA) whose clock runs ahead is not a forgery.
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| {
        refused(
            StatusCode::UNAUTHORIZED,
            refusal::UNKNOWN_CERTIFICATE,
            "the registered station certificate cannot be read",
            "中心CA登记的工作站证书无法解析。请联系中心CA重新登记",
        )
    })?;
    let now = c.clock.now().timestamp();
    let validity = cert.validity();
    let tolerance = c.max_skew.as_secs() as i64 + NOT_BEFORE_GRACE_SECS;
    if now + tolerance < validity.not_before.timestamp() || now > validity.not_after.timestamp() {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            refusal::CERTIFICATE_EXPIRED,
            &format!(
                "the station certificate {fingerprint} is not valid now (valid {} to {})",
                validity.not_before, validity.not_after
            ),
            "工作站签发CA证书不在有效期内。请向中心CA申请续期（kioskctl ca csr / ca import）",
        ));
    }
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
    fresh(c.clock.now(), at, time, c.max_skew)?;
    Ok(Pending {
        caller: Caller {
            station: station.to_string(),
            nonce: nonce.to_string(),
            at,
        },
        der,
        signature,
        method: method.as_str().to_string(),
        path_and_query: path_and_query.to_string(),
        fingerprint: fingerprint.to_string(),
        time: time.to_string(),
    })
}

/// How far before a station certificate's notBefore a request is still
/// taken, beyond the clock tolerance.
const NOT_BEFORE_GRACE_SECS: i64 = 24 * 3600;

/// Refuses a request signed at `at` (`time` as sent) farther than
/// `max_skew` from the central's time `now`, either way.
fn fresh(
    now: DateTime<Utc>,
    at: DateTime<Utc>,
    time: &str,
    max_skew: Duration,
) -> Result<(), Refused> {
    let skew = (now - at).abs();
    if skew.to_std().unwrap_or(Duration::MAX) > max_skew {
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
    Ok(())
}

/// Records a nonce; refuses a request seen before.
async fn spend_nonce(
    client: &impl GenericClient,
    station: &str,
    nonce: &str,
    at: DateTime<Utc>,
) -> Result<(), Refused> {
    let n = client
        .execute(
            "INSERT INTO request_nonces (station_id, nonce, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&station, &nonce, &at],
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_request_is_fresh_within_the_window_either_way() {
        let now = t("2026-11-21T08:00:00Z");
        let w = Duration::from_secs(3);
        for at in [
            "2026-11-21T08:00:00Z",
            "2026-11-21T07:59:57Z",
            "2026-11-21T08:00:03Z",
        ] {
            assert!(fresh(now, t(at), at, w).is_ok(), "{at}");
        }
        for at in ["2026-11-21T07:59:56.999Z", "2026-11-21T08:00:03.001Z"] {
            let Err(Refused(status, r)) = fresh(now, t(at), at, w) else {
                panic!("{at} accepted");
            };
            assert_eq!(
                (status, r.code.as_str()),
                (StatusCode::UNAUTHORIZED, "clock_skew")
            );
            assert_eq!(
                r.message,
                format!("the request was signed at {at}, the central's time is 2026-11-21T08:00:00+00:00; a replayed old request, or the station clock is wrong")
            );
        }
    }
}
