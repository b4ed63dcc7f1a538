//! What the central publishes to stations (the catalog, revocations,
//! review decisions, a renewed station certificate) is signed by the
//! central, with a key whose certificate chains to the CA the station pins
//! for the central (`KIOSK_CENTRAL_CA`). The station checks the signature
//! and the chain before it takes anything in: an answer that is unsigned,
//! changed, signed by another key or meant for another station is refused
//! and nothing changes.
//!
//! The signature travels in two answer headers: [`SIGNATURE_HEADER`]
//! (base64 of the DER signature) and [`CHAIN_HEADER`] (the signer's
//! certificate, then any intermediates, each base64 DER, comma-separated).

use sha2::{Digest, Sha256};

pub const SIGNATURE_HEADER: &str = "x-kiosk-publication-signature";
pub const CHAIN_HEADER: &str = "x-kiosk-publication-chain";

/// The signed message begins with this line: apart from a station's
/// request (`KIOSK-SYNC/1`), a seal (`KIOSK-AUDIT-SEAL/1`), TLS's own
/// signatures (which begin with 64 spaces) and DER.
pub const PREFIX: &str = "KIOSK-PUBLICATION/1";

/// What the central signs for an answer of `kind` (`catalog`,
/// `revocations`, `decisions`, `certificate`) to `station`.
pub fn message(kind: &str, station: &str, body: &[u8]) -> Vec<u8> {
    let body_hash = hex::encode(Sha256::digest(body));
    [PREFIX, kind, station, &body_hash].join("\n").into_bytes()
}
