//! An rcgen signing key whose private half stays in a PKCS#11 token.

use cryptoki::object::ObjectHandle;
use rcgen::{
    PublicKeyData, SignatureAlgorithm, SigningKey, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use sha2::{Digest, Sha256};

use crate::token::KeyKind;
use crate::{KeyError, TokenSession};

/// Signs on the token. ECDSA P-256/SHA-256: the message is hashed here,
/// the digest signed by CKM_ECDSA, and r || s encoded as DER (SoftHSM2 has
/// no CKM_ECDSA_SHA256). RSA-2048: CKM_SHA256_RSA_PKCS.
pub struct TokenSigner<'a> {
    session: &'a TokenSession,
    key: ObjectHandle,
    public: Vec<u8>,
    kind: KeyKind,
}

impl<'a> TokenSigner<'a> {
    /// The signer for the key pair with this CKA_ID.
    pub fn new(session: &'a TokenSession, id: &[u8]) -> Result<Self, KeyError> {
        let (key, public, kind) = session.key_pair(id)?;
        if kind == KeyKind::Sm2 {
            return Err(KeyError::X509(
                "an SM2 key signs through Sm2Signer, with its token's mechanism set".into(),
            ));
        }
        Ok(TokenSigner {
            session,
            key,
            public,
            kind,
        })
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The public key as it goes into SubjectPublicKeyInfo: the uncompressed
    /// point, or the RSAPublicKey DER.
    pub fn public_point(&self) -> &[u8] {
        &self.public
    }

    /// Signature of `msg`: DER ECDSA, or PKCS#1 v1.5 for RSA.
    pub fn sign_der(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        if self.kind == KeyKind::Rsa2048 {
            return self.session.sign_rsa_sha256(self.key, msg);
        }
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
        match self.kind {
            KeyKind::P256 => &PKCS_ECDSA_P256_SHA256,
            KeyKind::Sm2 => unreachable!("TokenSigner::new refuses SM2 keys"),
            KeyKind::Rsa2048 => &PKCS_RSA_SHA256,
        }
    }
}

impl SigningKey for TokenSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_der(msg).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }.
fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    crate::der::unsigned_pair(r, s)
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
