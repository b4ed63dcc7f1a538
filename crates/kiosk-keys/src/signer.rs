//! An rcgen signing key whose private half stays in a PKCS#11 token.

use cryptoki::object::ObjectHandle;
use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey, PKCS_ECDSA_P256_SHA256};
use sha2::{Digest, Sha256};

use crate::{KeyError, TokenSession};

/// Signs with ECDSA P-256/SHA-256 on the token: the message is hashed here,
/// the digest signed by CKM_ECDSA, and r || s encoded as DER.
pub struct TokenSigner<'a> {
    session: &'a TokenSession,
    key: ObjectHandle,
    public: Vec<u8>,
}

impl<'a> TokenSigner<'a> {
    /// The signer for the key pair with this CKA_ID.
    pub fn new(session: &'a TokenSession, id: &[u8]) -> Result<Self, KeyError> {
        let (key, public) = session.key_pair(id)?;
        Ok(TokenSigner {
            session,
            key,
            public,
        })
    }

    /// The uncompressed public point.
    pub fn public_point(&self) -> &[u8] {
        &self.public
    }

    /// DER ECDSA signature of `msg`.
    pub fn sign_der(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        let digest = Sha256::digest(msg);
        let raw = self.session.sign_digest(self.key, &digest)?;
        if raw.len() != 64 {
            return Err(KeyError::X509(format!(
                "ECDSA signature of {} bytes, expected 64",
                raw.len()
            )));
        }
        Ok(der_signature(&raw[..32], &raw[32..]))
    }
}

impl PublicKeyData for TokenSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for TokenSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_der(msg).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }.
fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    fn integer(v: &[u8]) -> Vec<u8> {
        let v = match v.iter().position(|&b| b != 0) {
            Some(i) => &v[i..],
            None => &[0u8][..],
        };
        let mut out = vec![0x02];
        if v[0] & 0x80 != 0 {
            out.push(v.len() as u8 + 1);
            out.push(0);
        } else {
            out.push(v.len() as u8);
        }
        out.extend_from_slice(v);
        out
    }
    let body = [integer(r), integer(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

#[cfg(test)]
mod tests {
    use super::der_signature;

    #[test]
    fn der_integers_are_minimal_and_positive() {
        let r = [0u8; 32];
        let mut s = [0xffu8; 32];
        s[0] = 0x80;
        let der = der_signature(&r, &s);
        assert_eq!(&der[..5], &[0x30, 38, 0x02, 1, 0]);
        assert_eq!(&der[5..8], &[0x02, 33, 0x00]);
        assert_eq!(der.len(), 40);
    }
}
