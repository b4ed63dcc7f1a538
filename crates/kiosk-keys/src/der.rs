//! The little DER the station writes itself.

/// A DER length.
fn length(n: usize) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let bytes: Vec<u8> = n
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

/// A tag, its length and its contents.
pub(crate) fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(length(body.len()));
    out.extend_from_slice(body);
    out
}

/// A non-negative INTEGER from big-endian bytes, minimal.
pub(crate) fn integer(v: &[u8]) -> Vec<u8> {
    let v = match v.iter().position(|&b| b != 0) {
        Some(i) => &v[i..],
        None => &[0u8][..],
    };
    let mut body = Vec::with_capacity(v.len() + 1);
    if v[0] & 0x80 != 0 {
        body.push(0);
    }
    body.extend_from_slice(v);
    tlv(0x02, &body)
}

pub(crate) fn sequence(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}
