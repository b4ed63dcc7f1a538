//! Mechanisms that touch keys: PKCS#11 tokens, signing with a key that
//! never leaves its token, and X.509 certificates and CRLs.
//!
//! No business rule lives here: which subject, which validity, which key
//! may be used for which order is decided by `kiosk-app` from the catalog
//! and the store. A PKCS#11 `Session` is not `Sync`; every type here that
//! holds one is used from one thread.

mod der;
mod error;
mod pki;
mod proof;
mod readers;
mod ses;
mod signer;
mod sm2;
mod sm2pki;
mod token;

pub use error::KeyError;
pub use pki::{
    certificate_info, csr, issue, path_to_anchor, revocation_list, self_signed_ca, sub_ca,
    subject_der, verify_chain, verify_signature, AnchorBreak, CaFacts, CertInfo, ChainBreak,
    Extensions, Revoked, SubjectSpec, SERIAL_NUMBER,
};
pub use proof::{decryption_test, Decryption};
pub use readers::{CardEvent, Reader, Readers};
pub use ses::{make_ses_seal, read_ses_seal, CheckedSesSeal, SesProblem, SesSeal, SES_VERSION};
pub use signer::TokenSigner;
pub use sm2::{
    digest as sm2_digest, encrypt_to, verify_sm2, SignatureFormat, Sm2Mechanisms,
    DEFAULT_DISTID as SM2_DEFAULT_DISTID,
};
pub use sm2pki::{
    sm2_csr, sm2_csr_point, sm2_issue, sm2_revocation_list, sm2_self_signed_ca, sm2_signed_by,
    sm2_sub_ca, Sm2Signer, SM3_WITH_SM2,
};
pub use token::{CertObject, KeyKind, Module, ObjectSummary, TokenInfo, TokenSession};

pub use cryptoki::object::{ObjectClass, ObjectHandle};
pub use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};
pub use secrecy::{ExposeSecret, SecretString};

/// A slot id for test doubles of [`TokenInfo`].
pub fn slot_for_tests() -> cryptoki::slot::Slot {
    cryptoki::slot::Slot::try_from(0u64).expect("slot 0")
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// Standard base64 with padding (for PEM).
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            out.push(if i <= c.len() {
                T[(n >> (18 - 6 * i)) as usize & 63] as char
            } else {
                '='
            });
        }
    }
    out
}

/// The certificates (DER) of a PEM text, in order; other blocks are left.
pub fn pem_certificates(text: &str) -> Vec<Vec<u8>> {
    pem_blocks(text)
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| der)
        .collect()
}

/// The DER blocks of a PEM text, with their labels, in order.
pub fn pem_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut label: Option<String> = None;
    let mut body = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(l) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            label = Some(l.to_string());
            body.clear();
        } else if line.starts_with("-----END ") {
            if let (Some(l), Some(der)) = (label.take(), base64_decode(&body)) {
                out.push((l, der));
            }
        } else if label.is_some() {
            body.push_str(line);
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= (val(c)? as u32) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pem_round_trip() {
        for len in 0..40u8 {
            let der: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            let text = format!(
                "-----BEGIN X-----\n{}\n-----END X-----\n",
                super::base64(&der)
            );
            assert_eq!(super::pem_blocks(&text), vec![("X".to_string(), der)]);
        }
    }
}
