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

#[cfg(test)]
mod tests {
    #[test]
    fn integers_are_minimal_and_positive() {
        // Leading zeros dropped; a high bit gets a zero byte in front.
        assert_eq!(
            super::unsigned_pair(&[0, 0, 0x7f], &[0x80, 1]),
            vec![0x30, 0x07, 0x02, 0x01, 0x7f, 0x02, 0x03, 0x00, 0x80, 0x01]
        );
        assert_eq!(
            super::unsigned_pair(&[0, 0], &[1]),
            vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01]
        );
    }
}
