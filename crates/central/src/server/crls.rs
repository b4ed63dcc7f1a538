//! Station CRLs: the signed upload of a CRL a station signed (`upload`),
//! and the plain, unsigned downloads of relying parties: a station's
//! newest CRL (`GET /crl/{station}.crl`) and its sub-CA certificate
//! (`GET /ca/{station}.cer`), the URLs its certificates name.
//!
//! An upload is refused, with nothing stored, when:
//! 1. its body is not a DER X.509 CRL with a CRL number and a nextUpdate,
//!    nothing after it: 400 `bad_crl` (before the nonce is looked at);
//! 2. no sub-CA certificate registered for the station (any of them: a
//!    renewal keeps the key) has the CRL's issuer as subject and a key
//!    that verifies its signature: 422 `bad_crl_signature`;
//! 3. its number is not above the highest the central holds for the
//!    station: 409 `crl_not_newer`, so that a replayed or older CRL never
//!    replaces a newer one.
//!
//! Checks 2 and 3 run in the transaction that spends the nonce and stores
//! the CRL, with the station row locked; a refusal rolls it back.
//!
//! A registered station always has a certificate (`central station add`
//! takes one, and the request was verified with one), so check 2 always
//! runs. The downloads serve a revoked station's CRL and certificate too:
//! what it issued is still out there.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use kiosk_sync::{refusal, CrlAck, CERT_CONTENT_TYPE, CRL_CONTENT_TYPE};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use super::auth::SignedUpload;
use super::{refused, Central, Refused};

/// What the central reads from an uploaded CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CrlFacts {
    pub number: i64,
    pub this_update: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
}

fn bad_crl(why: &str) -> Refused {
    refused(
        StatusCode::BAD_REQUEST,
        refusal::BAD_CRL,
        &format!("the body is not a usable X.509 CRL: {why}"),
        "上传的内容不是有效的证书吊销列表（CRL），中心未保存",
    )
}

/// Reads a DER CRL: its number, thisUpdate and nextUpdate.
pub(super) fn read_crl(der: &[u8]) -> Result<CrlFacts, Refused> {
    let (rest, crl) =
        CertificateRevocationList::from_der(der).map_err(|e| bad_crl(&e.to_string()))?;
    if !rest.is_empty() {
        return Err(bad_crl("bytes follow the CRL"));
    }
    let number = crl
        .crl_number()
        .ok_or_else(|| bad_crl("it has no CRL number"))?
        .to_bytes_be();
    if number.len() > 8 {
        return Err(bad_crl("its CRL number is too large"));
    }
    let number = number.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
    let number = i64::try_from(number).map_err(|_| bad_crl("its CRL number is too large"))?;
    let time = |t: x509_parser::time::ASN1Time| {
        DateTime::from_timestamp(t.timestamp(), 0).ok_or_else(|| bad_crl("a time is out of range"))
    };
    Ok(CrlFacts {
        number,
        this_update: time(crl.last_update())?,
        next_update: time(
            crl.next_update()
                .ok_or_else(|| bad_crl("it has no nextUpdate"))?,
        )?,
    })
}

/// Refuses a CRL that none of `certs` (DER) issued: issuer name equal to
/// the certificate's subject and signature verified with its key.
pub(super) fn signed_by_one_of(der: &[u8], certs: &[Vec<u8>]) -> Result<(), Refused> {
    let (_, crl) = CertificateRevocationList::from_der(der).map_err(|e| bad_crl(&e.to_string()))?;
    let signed = certs.iter().any(|c| {
        X509Certificate::from_der(c).is_ok_and(|(_, cert)| {
            cert.subject().as_raw() == crl.issuer().as_raw()
                && crl.verify_signature(cert.public_key()).is_ok()
        })
    });
    if signed {
        return Ok(());
    }
    Err(refused(
        StatusCode::UNPROCESSABLE_ENTITY,
        refusal::BAD_CRL_SIGNATURE,
        "the CRL is not signed by a sub-CA certificate registered for this station: it was changed or signed with another key",
        "吊销列表（CRL）的签名与中心登记的本工作站签发CA证书不符（内容被改动或非本工作站密钥所签），中心未保存",
    ))
}

/// Refuses CRL number `number` unless it is above `last`, the highest the
/// central holds for the station.
pub(super) fn newer(number: i64, last: Option<i64>) -> Result<(), Refused> {
    match last {
        Some(last) if number <= last => Err(refused(
            StatusCode::CONFLICT,
            refusal::CRL_NOT_NEWER,
            &format!("the central already holds CRL number {last} of this station; CRL {number} is not newer and is not stored"),
            &format!("中心已有本工作站编号为 {last} 的吊销列表，编号 {number} 不是更新的，未保存"),
        )),
        _ => Ok(()),
    }
}

/// Stores a CRL the station signed, if it is newer than the one served.
pub(super) async fn upload(
    State(c): State<Arc<Central>>,
    signed: SignedUpload,
) -> Result<Json<CrlAck>, Refused> {
    let station = &signed.station;
    let facts = read_crl(&signed.body)?;
    let mut client = c.pool.get().await?;
    let tx = client.transaction().await?;
    tx.query_one(
        "SELECT 1 FROM stations WHERE id = $1 FOR UPDATE",
        &[station],
    )
    .await?;
    signed.spend_nonce(&tx).await?;
    let certs: Vec<Vec<u8>> = tx
        .query(
            "SELECT der FROM station_certs WHERE station_id = $1 ORDER BY not_after DESC",
            &[station],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    signed_by_one_of(&signed.body, &certs)?;
    let last: Option<i64> = tx
        .query_one(
            "SELECT max(number) FROM station_crls WHERE station_id = $1",
            &[station],
        )
        .await?
        .get(0);
    newer(facts.number, last)?;
    tx.execute(
        "INSERT INTO station_crls (station_id, number, this_update, next_update, der, received_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            station,
            &facts.number,
            &facts.this_update,
            &facts.next_update,
            &signed.body.as_ref(),
            &c.clock.now(),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(Json(CrlAck {
        number: facts.number,
        this_update: facts.this_update.to_rfc3339(),
        next_update: facts.next_update.to_rfc3339(),
    }))
}

fn not_found(what: &str) -> Refused {
    refused(
        StatusCode::NOT_FOUND,
        refusal::NOT_FOUND,
        &format!("no {what} here"),
        "没有该文件",
    )
}

/// The station a public file name `{station}{suffix}` names. Station ids
/// are UUIDs; letters, digits, `-` and `_` are let through, nothing that
/// could leave the directory or the query.
pub(super) fn station_of<'a>(file: &'a str, suffix: &str) -> Option<&'a str> {
    let station = file.strip_suffix(suffix)?;
    let ok = (1..=64).contains(&station.len())
        && station
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(station)
}

/// One DER file of a station, or 404.
async fn station_file(
    c: &Central,
    file: &str,
    suffix: &str,
    sql: &str,
    content_type: &'static str,
) -> Result<Response, Refused> {
    let what = if suffix == ".crl" {
        "CRL"
    } else {
        "certificate"
    };
    let station = station_of(file, suffix).ok_or_else(|| not_found(what))?;
    let client = c.pool.get().await?;
    let row = client
        .query_opt(sql, &[&station])
        .await?
        .ok_or_else(|| not_found(what))?;
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        row.get::<_, Vec<u8>>(0),
    )
        .into_response())
}

/// `GET /crl/{station}.crl`: the station's newest CRL, DER.
pub(super) async fn crl_file(
    State(c): State<Arc<Central>>,
    Path(file): Path<String>,
) -> Result<Response, Refused> {
    station_file(
        &c,
        &file,
        ".crl",
        "SELECT der FROM station_crls WHERE station_id = $1 ORDER BY number DESC LIMIT 1",
        CRL_CONTENT_TYPE,
    )
    .await
}

/// `GET /ca/{station}.cer`: the station's sub-CA certificate that lasts
/// longest (the one `/v1/stations/{id}/certificate` offers), DER.
pub(super) async fn ca_file(
    State(c): State<Arc<Central>>,
    Path(file): Path<String>,
) -> Result<Response, Refused> {
    station_file(
        &c,
        &file,
        ".cer",
        "SELECT der FROM station_certs WHERE station_id = $1
         ORDER BY not_after DESC, added_at DESC LIMIT 1",
        CERT_CONTENT_TYPE,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams,
        DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams,
        SerialNumber,
    };

    /// A CA named `name`: its certificate (DER) and its issuer.
    fn ca(name: &str) -> (Vec<u8>, Issuer<'static, KeyPair>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        (cert.der().to_vec(), Issuer::new(params, key))
    }

    fn crl(issuer: &Issuer<'static, KeyPair>, number: u64) -> Vec<u8> {
        CertificateRevocationListParams {
            this_update: date_time_ymd(2026, 12, 1),
            next_update: date_time_ymd(2026, 12, 8),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: vec![RevokedCertParams {
                serial_number: SerialNumber::from(0x1234u64),
                revocation_time: date_time_ymd(2026, 11, 30),
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            }],
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(issuer)
        .unwrap()
        .der()
        .to_vec()
    }

    fn code(r: Result<impl std::fmt::Debug, Refused>) -> (StatusCode, String) {
        let Err(Refused(status, r)) = r else {
            panic!("accepted: {r:?}");
        };
        assert!(!r.message_zh.is_empty());
        (status, r.code)
    }

    #[test]
    fn a_crl_is_read_for_its_number_and_times() {
        let (_, issuer) = ca("station");
        let facts = read_crl(&crl(&issuer, 7)).unwrap();
        assert_eq!(facts.number, 7);
        assert_eq!(facts.this_update.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(facts.next_update.to_rfc3339(), "2026-12-08T00:00:00+00:00");
        // Large numbers up to i64::MAX; above, refused.
        assert_eq!(read_crl(&crl(&issuer, 1 << 40)).unwrap().number, 1 << 40);
        assert_eq!(
            code(read_crl(&crl(&issuer, u64::MAX))),
            (StatusCode::BAD_REQUEST, "bad_crl".into())
        );
    }

    #[test]
    fn what_is_not_a_crl_is_refused() {
        let (cert, issuer) = ca("station");
        let mut trailing = crl(&issuer, 1);
        trailing.push(0);
        for body in [b"not a crl".to_vec(), Vec::new(), cert, trailing] {
            assert_eq!(
                code(read_crl(&body)),
                (StatusCode::BAD_REQUEST, "bad_crl".into())
            );
        }
    }

    #[test]
    fn only_a_registered_certificate_of_the_station_signs_its_crl() {
        let (cert, issuer) = ca("station");
        let (other_cert, other) = ca("another station");
        let (same_name, impostor) = ca("station");
        let good = crl(&issuer, 3);
        let bad = (StatusCode::UNPROCESSABLE_ENTITY, "bad_crl_signature".into());
        let check = |der: &[u8], certs: &[&Vec<u8>]| {
            let certs: Vec<Vec<u8>> = certs.iter().map(|c| c.to_vec()).collect();
            signed_by_one_of(der, &certs)
        };
        // Among the station's certificates, the one that signed.
        assert!(check(&good, &[&other_cert, &cert]).is_ok());
        assert_eq!(code(check(&good, &[&other_cert])), bad);
        assert_eq!(code(check(&good, &[])), bad);
        // Another station's; same name, another key; another name, right key.
        assert_eq!(code(check(&crl(&other, 3), &[&cert])), bad);
        assert_eq!(code(check(&crl(&impostor, 3), &[&cert])), bad);
        assert_eq!(code(check(&good, &[&same_name])), bad);
        // One byte of the signed part changed: the revoked serial 0x1234.
        let mut forged = good.clone();
        let at = forged.windows(2).position(|w| w == [0x12, 0x34]).unwrap();
        forged[at + 1] = 0x35;
        assert_eq!(read_crl(&forged).unwrap().number, 3, "still a CRL");
        assert_eq!(code(check(&forged, &[&cert, &other_cert])), bad);
    }

    #[test]
    fn only_a_higher_number_replaces_the_stored_crl() {
        assert!(newer(1, None).is_ok());
        assert!(newer(5, Some(4)).is_ok());
        let not_newer = (StatusCode::CONFLICT, "crl_not_newer".into());
        assert_eq!(code(newer(4, Some(4))), not_newer);
        assert_eq!(code(newer(3, Some(4))), not_newer);
    }

    #[test]
    fn a_public_file_names_a_station_and_nothing_else() {
        let id = "0193a2b4-7c1d-7e2f-8a3b-4c5d6e7f8091";
        assert_eq!(station_of(&format!("{id}.crl"), ".crl"), Some(id));
        assert_eq!(station_of("s_1.cer", ".cer"), Some("s_1"));
        for file in [
            ".crl",
            "s.cer",
            "s.crl.crl",
            "../s.crl",
            "s/t.crl",
            "s%2F.crl",
            "s t.crl",
            "ß.crl",
            &format!("{}.crl", "a".repeat(65)),
        ] {
            assert_eq!(station_of(file, ".crl"), None, "{file}");
        }
    }
}
