//! The sync protocol between a station and the central CA, version 1.
//!
//! HTTP/JSON over TLS. Every station request (all but `GET /v1/hello`,
//! the operator's status and the public CRL and CA certificate downloads
//! of relying parties) is signed by the station's issuing key, which never
//! leaves the station token: the signature covers the method, the path,
//! the station, the certificate fingerprint, the time, a fresh nonce and
//! the SHA-256 of the body. The central checks the certificate against the
//! one registered for the station, the signature, the time window and that
//! the nonce is new.
//! `docs/sync-protocol.md` is the full description.
//!
//! This crate holds only the messages and the pure functions both sides
//! need; the station's client lives in `kiosk-app`, the server in `central`.

pub mod audit;
pub mod master;
pub mod personal;
pub mod publication;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// Protocol version, the `v1` of every path.
pub const PROTOCOL: u32 = 1;

/// Largest answer a station reads from the central (16 MiB). A catalog is
/// tens of kilobytes and a page of revocations or decisions far less; a
/// larger answer is refused before it is held in memory.
pub const MAX_ANSWER_BYTES: u64 = 16 * 1024 * 1024;

/// Largest catalog the central publishes (4 MiB of TOML): inside its JSON
/// answer, with every line break escaped, it stays far below
/// [`MAX_ANSWER_BYTES`].
pub const MAX_CATALOG_BYTES: usize = 4 * 1024 * 1024;

/// Largest request body the central reads, per route: a batch of records
/// (up to 10,000 records, each carrying at most a seal image), an audit
/// upload (up to 5,000 rows of a few hundred bytes), a CRL; every other
/// route reads no body.
pub mod request_limit {
    pub const RECORDS: usize = 64 * 1024 * 1024;
    pub const AUDIT: usize = 8 * 1024 * 1024;
    pub const CRL: usize = 16 * 1024 * 1024;
    pub const OTHER: usize = 64 * 1024;
}

/// The signed message begins with this line. It keeps a sync signature
/// apart from anything else the key signs: certificates and CRLs are DER
/// and begin with a SEQUENCE tag (0x30), never with `K`.
pub const SIGNING_PREFIX: &str = "KIOSK-SYNC/1";

/// Request headers.
pub mod header {
    pub const STATION: &str = "x-kiosk-station";
    /// SHA-256 (hex) of the DER of the station certificate that signs.
    pub const CERTIFICATE: &str = "x-kiosk-certificate";
    /// RFC 3339 UTC instant at which the station signed.
    pub const TIME: &str = "x-kiosk-time";
    /// A value never used before by this station (a UUID).
    pub const NONCE: &str = "x-kiosk-nonce";
    /// Base64 of the DER signature (ECDSA P-256 with SHA-256).
    pub const SIGNATURE: &str = "x-kiosk-signature";
}

/// What a signature covers, in order. Fields are joined with newlines;
/// none of them can hold one (the central refuses any that does).
pub struct Signed<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub station: &'a str,
    pub certificate_sha256: &'a str,
    pub time: &'a str,
    pub nonce: &'a str,
    pub body: &'a [u8],
}

impl Signed<'_> {
    /// The bytes that are signed.
    pub fn message(&self) -> Vec<u8> {
        let body_hash = hex::encode(Sha256::digest(self.body));
        [
            SIGNING_PREFIX,
            self.method,
            self.path_and_query,
            self.station,
            self.certificate_sha256,
            self.time,
            self.nonce,
            &body_hash,
        ]
        .join("\n")
        .into_bytes()
    }

    /// Whether every header field is a single line.
    pub fn well_formed(&self) -> bool {
        [
            self.method,
            self.path_and_query,
            self.station,
            self.certificate_sha256,
            self.time,
            self.nonce,
        ]
        .iter()
        .all(|f| !f.is_empty() && !f.contains('\n') && !f.contains('\r'))
    }
}

/// SHA-256 of a certificate's DER, as hex: how a certificate is named.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Why a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The certificate cannot be read or holds a key type not used here.
    Certificate(String),
    /// The signature does not match the message and key.
    Signature,
}

/// Checks `signature` over `message` with the public key of the
/// certificate `cert_der` (P-256 ECDSA or RSA PKCS#1 v1.5, SHA-256).
pub fn verify(cert_der: &[u8], message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
    use x509_parser::prelude::*;
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| VerifyError::Certificate(e.to_string()))?;
    let spki = cert.public_key();
    let oid = spki.algorithm.algorithm.to_id_string();
    let alg: &dyn ring::signature::VerificationAlgorithm = match oid.as_str() {
        "1.2.840.10045.2.1" => &ring::signature::ECDSA_P256_SHA256_ASN1,
        "1.2.840.113549.1.1.1" => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        other => return Err(VerifyError::Certificate(format!("key algorithm {other}"))),
    };
    ring::signature::UnparsedPublicKey::new(alg, &spki.subject_public_key.data)
        .verify(message, signature)
        .map_err(|_| VerifyError::Signature)
}

/// `GET /v1/stations/{id}/head`: how far the central has committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub station_id: String,
    /// Every record with `seq <= committed_seq` is stored; none above.
    pub committed_seq: i64,
    /// The newest audit row the central has checked and holds sealed (0:
    /// none yet); the station's next rows must chain from it.
    #[serde(default)]
    pub audit_seq: i64,
}

/// One outbox record as sent. The payload is sent as the JSON text the
/// station stored, untouched.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record<'a> {
    pub seq: i64,
    pub id: &'a str,
    pub kind: &'a str,
    pub payload_version: i64,
    pub created_at: &'a str,
    #[serde(borrow)]
    pub payload: &'a RawValue,
    /// The personal values the payload's markers stand for
    /// ([`personal`]); not part of the payload, so not of its hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disclosures: Vec<personal::Disclosure>,
}

/// `POST /v1/stations/{id}/records`: consecutive records, oldest first.
#[derive(Debug, Serialize, Deserialize)]
pub struct Batch<'a> {
    #[serde(borrow)]
    pub records: Vec<Record<'a>>,
}

/// The central's answer to a batch, sent only after its commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAck {
    pub committed_seq: i64,
    /// Records stored by this batch.
    pub inserted: u64,
    /// Records the central already had (a resend): ignored.
    pub duplicates: u64,
    /// Records whose payload version is newer than the central knows:
    /// stored as they are, to be read by a newer central.
    pub newer_payload_versions: u64,
}

/// `GET /v1/catalog?after=N`: the newest published catalog, when newer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogUpdate {
    pub version: u64,
    /// The catalog in TOML, as the operator published it.
    pub body: String,
}

/// A certificate revoked anywhere in the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub issuer: String,
    pub serial: String,
    pub reason: i64,
    pub revoked_at: String,
    pub station_id: String,
}

/// `GET /v1/revocations?after=N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocations {
    pub revocations: Vec<Revocation>,
    /// Pass as `after` next time.
    pub cursor: i64,
}

/// One certificate in the central's directory, as stations keep it: the
/// facts a lost-key replacement or a revocation without the key needs, not
/// the certificate itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// Where it stands in the central's directory: every change (a new
    /// entry, a revocation) takes the next version.
    pub version: i64,
    pub provider: String,
    /// The issuing CA's name (its subject as text).
    pub issuer: String,
    /// Lowercase hex, as the station writes serials.
    pub serial: String,
    /// The company: its name (CN) and USCC.
    pub name: String,
    pub uscc: String,
    /// Station dates (UTC+8), YYYY-MM-DD: first and last valid day.
    pub not_before: String,
    pub not_after: String,
    /// `valid` or `revoked`.
    pub status: String,
}

/// `GET /v1/directory?after=VERSION`: the entries changed since, oldest
/// first, at most [`DIRECTORY_PAGE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    pub entries: Vec<DirectoryEntry>,
    /// Pass as `after` next time.
    pub cursor: i64,
}

/// Entries per directory page: about 4 MiB of JSON, well inside
/// [`MAX_ANSWER_BYTES`].
pub const DIRECTORY_PAGE: i64 = 20_000;

/// The central's decision on an order that needed its review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub cursor: i64,
    pub order_id: String,
    /// `approved` or `returned`.
    pub decision: String,
    pub reason: Option<String>,
    pub decided_by: String,
    pub decided_at: String,
}

/// `GET /v1/stations/{id}/decisions?after=N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decisions {
    pub decisions: Vec<Decision>,
    pub cursor: i64,
}

/// `GET /v1/stations/{id}/certificate`: the newest station sub-CA
/// certificate the central holds for the station, with its chain (PEM).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationCertificate {
    pub sha256: String,
    pub not_after: String,
    pub chain_pem: String,
}

/// Content type of a CRL: the body of `POST /v1/stations/{id}/crl`, and
/// the answer of the public `GET /crl/{station}.crl`.
pub const CRL_CONTENT_TYPE: &str = "application/pkix-crl";

/// Content type of the public `GET /ca/{station}.cer`.
pub const CERT_CONTENT_TYPE: &str = "application/pkix-cert";

/// Where a relying party fetches the newest CRL a station signed (plain
/// HTTP, unsigned), below the central's public base URL: what a station
/// writes into the CRL distribution point of the certificates it issues.
pub fn crl_path(station: &str) -> String {
    format!("/crl/{station}.crl")
}

/// Where a relying party fetches a station's sub-CA certificate (plain
/// HTTP, unsigned): the AIA caIssuers of the certificates it issues.
pub fn ca_path(station: &str) -> String {
    format!("/ca/{station}.cer")
}

/// `POST /v1/stations/{id}/crl`: the central's answer, sent only after its
/// commit. The CRL it now serves is this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlAck {
    /// The CRL number (RFC 5280 5.2.3) of the CRL stored.
    pub number: i64,
    /// Its thisUpdate and nextUpdate, RFC 3339 UTC.
    pub this_update: String,
    pub next_update: String,
}

/// Every refusal: a stable code, and what to do, in English and Chinese.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: String,
    pub message: String,
    pub message_zh: String,
    /// For `gap`: where the central is, so the station resends from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_seq: Option<i64>,
}

/// Refusal codes. Stable: stations switch on them.
pub mod refusal {
    pub const UNKNOWN_STATION: &str = "unknown_station";
    pub const UNKNOWN_CERTIFICATE: &str = "unknown_certificate";
    pub const STATION_REVOKED: &str = "station_revoked";
    /// The station signed with a certificate outside its validity, by the
    /// central's clock.
    pub const CERTIFICATE_EXPIRED: &str = "certificate_expired";
    pub const BAD_SIGNATURE: &str = "bad_signature";
    pub const REPLAYED: &str = "replayed";
    pub const CLOCK_SKEW: &str = "clock_skew";
    pub const MALFORMED: &str = "malformed";
    pub const GAP: &str = "gap";
    pub const SEQUENCE_CONFLICT: &str = "sequence_conflict";
    /// A record's disclosures are not exactly those of its payload's
    /// digests (`personal::check`): a value the payload never vouched for,
    /// or one left out.
    pub const DISCLOSURE_MISMATCH: &str = "disclosure_mismatch";
    pub const UNAVAILABLE: &str = "unavailable";
    /// The body of a CRL upload is not a DER X.509 CRL with a CRL number
    /// and a nextUpdate.
    pub const BAD_CRL: &str = "bad_crl";
    /// The uploaded CRL is not signed by a sub-CA certificate registered
    /// for the station.
    pub const BAD_CRL_SIGNATURE: &str = "bad_crl_signature";
    /// The central already holds a CRL of the station with this number or
    /// a higher one: it keeps serving that one.
    pub const CRL_NOT_NEWER: &str = "crl_not_newer";
    /// A public path that names no station, or nothing stored for it.
    pub const NOT_FOUND: &str = "not_found";
    /// The station's audit trail no longer leads to the rows the central
    /// holds (rewritten, or the database replaced): nothing is stored.
    pub const HISTORY_DIVERGED: &str = "history_diverged";
    /// A seal that the station's registered certificate did not make.
    pub const BAD_SEAL: &str = "bad_seal";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(body: &[u8]) -> Vec<u8> {
        Signed {
            method: "POST",
            path_and_query: "/v1/stations/s/records",
            station: "s",
            certificate_sha256: "ab",
            time: "2026-11-21T00:00:00Z",
            nonce: "n",
            body,
        }
        .message()
    }

    #[test]
    fn the_message_binds_the_body() {
        assert_ne!(signed(b"{}"), signed(b"{ }"));
        assert!(signed(b"").starts_with(b"KIOSK-SYNC/1\nPOST\n"));
    }

    #[test]
    fn a_field_with_a_newline_is_not_well_formed() {
        let s = Signed {
            method: "GET",
            path_and_query: "/v1\nx",
            station: "s",
            certificate_sha256: "ab",
            time: "t",
            nonce: "n",
            body: b"",
        };
        assert!(!s.well_formed());
    }

    #[test]
    fn a_batch_keeps_the_payload_text() {
        let text = r#"{"records":[{"seq":1,"id":"i","kind":"k","payload_version":1,"created_at":"t","payload":{"b":1, "a":[2]}}]}"#;
        let b: Batch = serde_json::from_str(text).unwrap();
        assert_eq!(b.records[0].payload.get(), r#"{"b":1, "a":[2]}"#);
    }
}
