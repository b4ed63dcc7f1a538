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

/// Reads a SEQUENCE { INTEGER, INTEGER } of two non-negative numbers
/// (an RSAPublicKey: modulus, exponent) as big-endian bytes.
pub(crate) fn read_unsigned_pair(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            // (magnitude, non-negative): a negative one is no RSA key.
            let (a, a_pos) = r.next().read_bigint_bytes()?;
            let (b, b_pos) = r.next().read_bigint_bytes()?;
            match a_pos && b_pos {
                true => Ok((a, b)),
                false => Err(yasna::ASN1Error::new(yasna::ASN1ErrorKind::Invalid)),
            }
        })
    })
    .ok()
}
