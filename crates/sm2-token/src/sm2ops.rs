//! SM2 and SM3 on top of RustCrypto's `sm2` and `sm3` crates.
//!
//! Keys are plain bytes here: a private key is the 32-byte scalar d, a public
//! key the 65-byte uncompressed point 04 || x || y.

use cryptoki_sys::{CKR_DATA_LEN_RANGE, CKR_ENCRYPTED_DATA_INVALID, CKR_FUNCTION_FAILED};
use sm2::dsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::pke::{DecryptingKey, EncryptingKey, Mode};
use sm2::{PublicKey, SecretKey};
use sm3::{Digest, Sm3};
use zeroize::Zeroizing;

use crate::Rv;

/// `CKA_EC_PARAMS` of the SM2 curve: the DER OID 1.2.156.10197.1.301.
pub const SM2_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];

/// How a signature (r, s) is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigFormat {
    /// r || s, 32 bytes each (64 bytes).
    Raw,
    /// DER `SEQUENCE { r INTEGER, s INTEGER }`.
    Der,
}

/// Curve parameters a, b, xG, yG of GM/T 0003.5, as hashed into Z.
const CURVE: [&str; 4] = [
    "fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffc",
    "28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93",
    "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7",
    "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0",
];

/// The uncompressed public point of a private key.
pub fn public_point(secret: &[u8]) -> Rv<[u8; 65]> {
    let sk = SecretKey::from_slice(secret).map_err(|_| CKR_FUNCTION_FAILED)?;
    point_bytes(&sk.public_key())
}

fn point_bytes(pk: &PublicKey) -> Rv<[u8; 65]> {
    pk.to_sec1_point(false)
        .as_bytes()
        .try_into()
        .map_err(|_| CKR_FUNCTION_FAILED)
}

/// Whether `point` is an uncompressed point on the curve.
pub fn valid_point(point: &[u8]) -> bool {
    point.len() == 65 && PublicKey::from_sec1_bytes(point).is_ok()
}

/// Whether `secret` is a valid private key.
pub fn valid_secret(secret: &[u8]) -> bool {
    secret.len() == 32 && SecretKey::from_slice(secret).is_ok()
}

/// A new key pair: (d, 04 || x || y).
pub fn generate() -> Rv<(Zeroizing<[u8; 32]>, [u8; 65])> {
    let mut d = Zeroizing::new([0u8; 32]);
    loop {
        crate::random(d.as_mut())?;
        if valid_secret(d.as_ref()) {
            let point = public_point(d.as_ref())?;
            return Ok((d, point));
        }
    }
}

/// Z_A = SM3(ENTL_A || ID_A || a || b || xG || yG || xA || yA).
pub fn z(id: &[u8], point: &[u8; 65]) -> Rv<[u8; 32]> {
    let bits = u16::try_from(id.len() * 8).map_err(|_| CKR_FUNCTION_FAILED)?;
    let mut h = Sm3::new();
    h.update(bits.to_be_bytes());
    h.update(id);
    for c in CURVE {
        h.update(crate::unhex(c).ok_or(CKR_FUNCTION_FAILED)?);
    }
    h.update(&point[1..]);
    Ok(h.finalize().into())
}

/// Signs the 32-byte e with d (a fresh random k each time).
pub fn sign(secret: &[u8], e: &[u8]) -> Rv<[u8; 64]> {
    if e.len() != 32 {
        return Err(CKR_DATA_LEN_RANGE);
    }
    let key = SigningKey::from_slice("", secret).map_err(|_| CKR_FUNCTION_FAILED)?;
    let sig: Signature = key
        .sign_prehash_with_rng(&mut getrandom::SysRng, e)
        .map_err(|_| CKR_FUNCTION_FAILED)?;
    Ok(sig.to_bytes().into())
}

/// Whether `sig` (r || s) is a signature of the 32-byte e under `point`.
pub fn verify(point: &[u8], e: &[u8], sig: &[u8; 64]) -> bool {
    let (Ok(key), Ok(sig)) = (
        VerifyingKey::from_sec1_bytes("", point),
        Signature::from_slice(sig),
    ) else {
        return false;
    };
    key.verify_prehash(e, &sig).is_ok()
}

/// Encodes r || s in `format`.
pub fn encode_signature(raw: &[u8; 64], format: SigFormat) -> Rv<Vec<u8>> {
    match format {
        SigFormat::Raw => Ok(raw.to_vec()),
        SigFormat::Der => Ok(Signature::from_slice(raw)
            .map_err(|_| CKR_FUNCTION_FAILED)?
            .to_der()
            .to_vec()),
    }
}

/// Decodes a signature in `format` to r || s.
pub fn decode_signature(sig: &[u8], format: SigFormat) -> Option<[u8; 64]> {
    match format {
        SigFormat::Raw => sig.try_into().ok(),
        SigFormat::Der => Signature::from_der(sig).ok().map(|s| s.to_bytes().into()),
    }
}

/// SM2 encryption to `point`; the ciphertext is C1 (65 bytes, 04 || x1 ||
/// y1) || C3 (32 bytes, SM3) || C2 (as long as the message).
pub fn encrypt(point: &[u8], msg: &[u8]) -> Rv<Vec<u8>> {
    if msg.is_empty() {
        return Err(CKR_DATA_LEN_RANGE);
    }
    let pk = PublicKey::from_sec1_bytes(point).map_err(|_| CKR_FUNCTION_FAILED)?;
    EncryptingKey::new_with_mode(pk, Mode::C1C3C2)
        .encrypt(&mut getrandom::SysRng, msg)
        .map_err(|_| CKR_FUNCTION_FAILED)
}

/// SM2 decryption of a C1 || C3 || C2 ciphertext.
pub fn decrypt(secret: &[u8], ciphertext: &[u8]) -> Rv<Zeroizing<Vec<u8>>> {
    let sk = SecretKey::from_slice(secret).map_err(|_| CKR_FUNCTION_FAILED)?;
    DecryptingKey::new_with_mode(sk.to_nonzero_scalar(), Mode::C1C3C2)
        .decrypt(ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| CKR_ENCRYPTED_DATA_INVALID)
}

/// `CKA_EC_POINT`: the DER OCTET STRING holding the point.
pub fn ec_point_attribute(point: &[u8; 65]) -> Vec<u8> {
    let mut v = vec![0x04, 0x41];
    v.extend_from_slice(point);
    v
}

/// The point in a `CKA_EC_POINT` value (DER OCTET STRING or the bare point).
pub fn point_of_attribute(value: &[u8]) -> Option<[u8; 65]> {
    let bare = match value {
        [0x04, 0x41, rest @ ..] if rest.len() == 65 => rest,
        _ => value,
    };
    bare.try_into().ok().filter(|p: &[u8; 65]| valid_point(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sm3(data: &[u8]) -> [u8; 32] {
        Sm3::digest(data).into()
    }

    #[test]
    fn sign_verify_and_formats() {
        let (d, q) = generate().unwrap();
        let e = sm3(b"abc");
        let sig = sign(d.as_ref(), &e).unwrap();
        assert!(verify(&q, &e, &sig));
        assert!(!verify(&q, &sm3(b"abd"), &sig));
        let der = encode_signature(&sig, SigFormat::Der).unwrap();
        assert_eq!(decode_signature(&der, SigFormat::Der), Some(sig));
        assert_eq!(point_of_attribute(&ec_point_attribute(&q)), Some(q));
    }

    #[test]
    fn encrypt_decrypt() {
        let (d, q) = generate().unwrap();
        let ct = encrypt(&q, b"secret").unwrap();
        assert_eq!(ct.len(), 65 + 32 + 6);
        assert_eq!(decrypt(d.as_ref(), &ct).unwrap().as_slice(), b"secret");
    }

    #[test]
    fn sm3_of_abc() {
        // GM/T 0004 example 1.
        assert_eq!(
            crate::hex(&sm3(b"abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }
}
