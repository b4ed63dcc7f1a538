//! The test the guides ask an applicant to run on a new certificate
//! (数字证书加解密测试 [004]): a fresh secret encrypted to the certificate's
//! public key, decrypted by the key. Together with the signing challenge it
//! shows that the key holds the private half of what the certificate says.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, ECDH_P256};
use ring::rand::SystemRandom;
use sha2::{Digest, Sha256};

use crate::{CertInfo, KeyError, KeyKind, TokenSession};

/// What the encryption test found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decryption {
    /// The key decrypted what was encrypted to its certificate.
    Passed,
    /// The key was made without the right to decrypt (a key pair made
    /// before the station asked for it); only the signature was tested.
    NotPermitted,
}

impl Decryption {
    pub fn as_str(self) -> &'static str {
        match self {
            Decryption::Passed => "passed",
            Decryption::NotPermitted => "not-permitted",
        }
    }
}

/// Encrypts a fresh secret to the certificate's public key and has the key
/// with `id` decrypt it. EC keys: ECIES-style, an ephemeral P-256 key agreed
/// in software with the certificate's point, the secret sealed with
/// AES-256-GCM under SHA-256 of the shared value; the token derives the same
/// shared value (CKM_ECDH1_DERIVE) to open it. RSA keys: RSA-OAEP to the
/// certificate's key, decrypted in the token. SM2 keys: SM2 encryption
/// (GM/T 0003.4, C1C3C2) to the certificate's point, decrypted in the token
/// with the encryption mechanism of `sm2`, the key's vendor set.
pub fn decryption_test(
    key: &TokenSession,
    id: &[u8],
    cert: &CertInfo,
    sm2: Option<&crate::Sm2Mechanisms>,
) -> Result<Decryption, KeyError> {
    if !key.can_decrypt(id)? {
        return Ok(Decryption::NotPermitted);
    }
    let secret = key.random(32)?;
    let opened = match cert.key_kind {
        KeyKind::P256 => {
            let rng = SystemRandom::new();
            let failed = |what: &str| KeyError::X509(format!("encryption test: {what}"));
            let ephemeral = EphemeralPrivateKey::generate(&ECDH_P256, &rng)
                .map_err(|_| failed("no ephemeral key"))?;
            let ephemeral_point = ephemeral
                .compute_public_key()
                .map_err(|_| failed("no ephemeral point"))?;
            let peer = UnparsedPublicKey::new(&ECDH_P256, &cert.public_point);
            let sealed = agree_ephemeral(ephemeral, &peer, |shared| seal(shared, &secret))
                .map_err(|_| failed("the certificate's point is not on P-256"))??;
            let shared = key.ecdh(id, ephemeral_point.as_ref())?;
            open(&shared, sealed)
        }
        KeyKind::Rsa2048 => {
            let sealed = key.rsa_encrypt_to(&cert.public_point, &secret)?;
            key.rsa_decrypt(id, &sealed).ok()
        }
        KeyKind::Sm2 => {
            let set = sm2.ok_or_else(|| {
                KeyError::X509("encryption test: an SM2 key needs its mechanism set".into())
            })?;
            let sealed = crate::sm2::encrypt_to(&cert.public_point, &secret)?;
            key.sm2_decrypt(set, id, &sealed).ok()
        }
    };
    if opened.as_deref() != Some(secret.as_slice()) {
        return Err(KeyError::X509(
            "the key cannot decrypt what is encrypted to its certificate".into(),
        ));
    }
    Ok(Decryption::Passed)
}

/// A fresh key per test, so the zero nonce is never reused.
fn cipher(shared: &[u8]) -> Result<LessSafeKey, KeyError> {
    let k = Sha256::digest(shared);
    UnboundKey::new(&AES_256_GCM, &k)
        .map(LessSafeKey::new)
        .map_err(|_| KeyError::X509("encryption test: no cipher".into()))
}

fn seal(shared: &[u8], secret: &[u8]) -> Result<Vec<u8>, KeyError> {
    let mut buf = secret.to_vec();
    cipher(shared)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::empty(),
            &mut buf,
        )
        .map_err(|_| KeyError::X509("encryption test: sealing failed".into()))?;
    Ok(buf)
}

fn open(shared: &[u8], mut sealed: Vec<u8>) -> Option<Vec<u8>> {
    let opened = cipher(shared)
        .ok()?
        .open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::empty(),
            &mut sealed,
        )
        .ok()?;
    Some(opened.to_vec())
}
