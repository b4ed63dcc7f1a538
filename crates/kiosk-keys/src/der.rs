//! The little DER the station writes itself, through yasna (already in
//! the tree through rcgen).

/// SEQUENCE { INTEGER, INTEGER } of two non-negative big-endian numbers:
/// an ECDSA-Sig-Value (r, s) or an RSAPublicKey (n, e).
pub(crate) fn unsigned_pair(a: &[u8], b: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_bigint_bytes(a, true);
            w.next().write_bigint_bytes(b, true);
        })
    })
}
