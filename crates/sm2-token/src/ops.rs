//! The cryptographic operations of a session: what `C_*Init` starts and
//! `C_*Update`/`C_*Final`/single-part calls feed and finish.
//!
//! Output of a finished operation is computed once and kept until it is
//! delivered, so that the size query (`NULL` output buffer) and
//! `CKR_BUFFER_TOO_SMALL` return the exact length of the very bytes that the
//! next call returns (SM2 signatures and ciphertexts are randomised).

use cryptoki_sys::*;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sm3::{Digest, Sm3};
use zeroize::Zeroizing;

use crate::object::Object;
use crate::sm2ops::{self, SigFormat, SM2_EC_PARAMS};
use crate::vendor::{Format, Kind, Mech};
use crate::Rv;

/// What the data fed to an operation goes into.
enum Input {
    Sm3(Box<Sm3>),
    Hmac(Box<Hmac<Sha256>>),
    Buffer(Zeroizing<Vec<u8>>),
}

impl Input {
    fn update(&mut self, data: &[u8]) {
        match self {
            Input::Sm3(h) => h.update(data),
            Input::Hmac(m) => m.update(data),
            Input::Buffer(b) => b.extend_from_slice(data),
        }
    }
}

/// A signing or verifying operation.
pub struct SignOp {
    input: Input,
    key: SignKey,
    format: SigFormat,
    /// The output of a signature already computed, not yet delivered.
    pub output: Option<Vec<u8>>,
}

enum SignKey {
    Sm2Private(Zeroizing<Vec<u8>>),
    Sm2Public([u8; 65]),
    Hmac,
}

/// Whether `key` is an SM2 key: of the vendor's key type, or `CKK_EC` on
/// the SM2 curve.
fn is_sm2_key(key: &Object, vendor_key_type: CK_KEY_TYPE) -> bool {
    match key.ulong(CKA_KEY_TYPE) {
        Some(t) if t == vendor_key_type => true,
        Some(CKK_EC) => key.get(CKA_EC_PARAMS) == Some(&SM2_EC_PARAMS[..]),
        _ => false,
    }
}

/// Checks that `key` is of `class`, an SM2 key, and allowed `usage`.
fn check_key(
    key: &Object,
    class: CK_OBJECT_CLASS,
    usage: CK_ATTRIBUTE_TYPE,
    sm2_type: Option<CK_KEY_TYPE>,
) -> Rv<()> {
    let type_ok = match sm2_type {
        Some(t) => is_sm2_key(key, t),
        None => key.ulong(CKA_KEY_TYPE) == Some(CKK_GENERIC_SECRET),
    };
    if key.class() != Some(class) || !type_ok {
        return Err(CKR_KEY_TYPE_INCONSISTENT);
    }
    if !key.flag(usage) {
        return Err(CKR_KEY_FUNCTION_NOT_PERMITTED);
    }
    Ok(())
}

fn no_parameter(param: &[u8]) -> Rv<()> {
    if param.is_empty() {
        Ok(())
    } else {
        Err(CKR_MECHANISM_PARAM_INVALID)
    }
}

impl SignOp {
    /// Starts signing (`verify` false, with a private or secret key) or
    /// verifying (with a public or secret key). `param` is the mechanism
    /// parameter; `configured` the format of the configuration.
    pub fn new(
        mech: &Mech,
        param: &[u8],
        key: &Object,
        verify: bool,
        vendor_key_type: CK_KEY_TYPE,
        configured: SigFormat,
    ) -> Rv<SignOp> {
        let format_of = |f: Format| match f {
            Format::Configured => configured,
            Format::Fixed(f) => f,
        };
        let (mut input, format, id) = match mech.kind {
            Kind::HmacSha256 => return SignOp::hmac(param, key, verify),
            Kind::Sm3WithSm2 { default_id, format } => {
                // The parameter, if any, is the signer's ID (as xipki passes it).
                if param.len() > 8191 {
                    return Err(CKR_MECHANISM_PARAM_INVALID);
                }
                let id = if param.is_empty() {
                    default_id
                } else {
                    Some(param)
                };
                (Input::Sm3(Box::default()), format_of(format), id)
            }
            Kind::Sm2Raw { format } => {
                no_parameter(param)?;
                (Input::Buffer(Zeroizing::default()), format_of(format), None)
            }
            _ => return Err(CKR_MECHANISM_INVALID),
        };
        let (sm2_key, point) = if verify {
            check_key(key, CKO_PUBLIC_KEY, CKA_VERIFY, Some(vendor_key_type))?;
            let point = key
                .get(CKA_EC_POINT)
                .and_then(sm2ops::point_of_attribute)
                .ok_or(CKR_KEY_HANDLE_INVALID)?;
            (SignKey::Sm2Public(point), point)
        } else {
            check_key(key, CKO_PRIVATE_KEY, CKA_SIGN, Some(vendor_key_type))?;
            let d = Zeroizing::new(key.get(CKA_VALUE).unwrap_or_default().to_vec());
            let point = sm2ops::public_point(&d)?;
            (SignKey::Sm2Private(d), point)
        };
        if let Some(id) = id {
            input.update(&sm2ops::z(id, &point)?);
        }
        Ok(SignOp {
            input,
            key: sm2_key,
            format,
            output: None,
        })
    }

    fn hmac(param: &[u8], key: &Object, verify: bool) -> Rv<SignOp> {
        no_parameter(param)?;
        check_key(
            key,
            CKO_SECRET_KEY,
            if verify { CKA_VERIFY } else { CKA_SIGN },
            None,
        )?;
        let value = key.get(CKA_VALUE).unwrap_or_default();
        let mac = Hmac::<Sha256>::new_from_slice(value).map_err(|_| CKR_KEY_SIZE_RANGE)?;
        Ok(SignOp {
            input: Input::Hmac(Box::new(mac)),
            key: SignKey::Hmac,
            format: SigFormat::Raw,
            output: None,
        })
    }

    pub fn update(&mut self, data: &[u8]) {
        self.input.update(data)
    }

    /// The hash e to sign (SM2) or the MAC (HMAC) of all the input.
    fn digest(&mut self) -> Rv<Zeroizing<Vec<u8>>> {
        let input = std::mem::replace(&mut self.input, Input::Buffer(Zeroizing::default()));
        Ok(Zeroizing::new(match input {
            Input::Sm3(h) => h.finalize().to_vec(),
            Input::Hmac(m) => m.finalize().into_bytes().to_vec(),
            Input::Buffer(b) if b.len() == 32 => b.to_vec(),
            Input::Buffer(_) => return Err(CKR_DATA_LEN_RANGE),
        }))
    }

    /// Computes the signature (once).
    pub fn sign(&mut self) -> Rv<&[u8]> {
        if self.output.is_none() {
            let e = self.digest()?;
            let out = match &self.key {
                SignKey::Sm2Private(d) => {
                    let raw = sm2ops::sign(d, &e)?;
                    sm2ops::encode_signature(&raw, self.format)?
                }
                SignKey::Hmac => e.to_vec(),
                SignKey::Sm2Public(_) => return Err(CKR_OPERATION_NOT_INITIALIZED),
            };
            self.output = Some(out);
        }
        Ok(self.output.as_deref().unwrap_or_default())
    }

    /// Checks `signature` against all the input.
    pub fn verify(&mut self, signature: &[u8]) -> Rv<()> {
        let e = self.digest()?;
        let ok = match &self.key {
            SignKey::Sm2Public(point) => {
                let raw = sm2ops::decode_signature(signature, self.format).ok_or(
                    if self.format == SigFormat::Raw {
                        CKR_SIGNATURE_LEN_RANGE
                    } else {
                        CKR_SIGNATURE_INVALID
                    },
                )?;
                sm2ops::verify(point, &e, &raw)
            }
            SignKey::Hmac => {
                if signature.len() != e.len() {
                    return Err(CKR_SIGNATURE_LEN_RANGE);
                }
                e.iter()
                    .zip(signature)
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
            }
            SignKey::Sm2Private(_) => return Err(CKR_OPERATION_NOT_INITIALIZED),
        };
        if ok {
            Ok(())
        } else {
            Err(CKR_SIGNATURE_INVALID)
        }
    }
}

/// An SM2 encryption or decryption (single-part).
pub struct CipherOp {
    key: Zeroizing<Vec<u8>>,
    decrypt: bool,
    pub output: Option<Zeroizing<Vec<u8>>>,
}

impl CipherOp {
    pub fn new(
        mech: &Mech,
        param: &[u8],
        key: &Object,
        decrypt: bool,
        vendor_key_type: CK_KEY_TYPE,
    ) -> Rv<CipherOp> {
        if mech.kind != Kind::Sm2Encrypt {
            return Err(CKR_MECHANISM_INVALID);
        }
        no_parameter(param)?;
        let key = if decrypt {
            check_key(key, CKO_PRIVATE_KEY, CKA_DECRYPT, Some(vendor_key_type))?;
            key.get(CKA_VALUE).unwrap_or_default().to_vec()
        } else {
            check_key(key, CKO_PUBLIC_KEY, CKA_ENCRYPT, Some(vendor_key_type))?;
            key.get(CKA_EC_POINT)
                .and_then(sm2ops::point_of_attribute)
                .ok_or(CKR_KEY_HANDLE_INVALID)?
                .to_vec()
        };
        Ok(CipherOp {
            key: Zeroizing::new(key),
            decrypt,
            output: None,
        })
    }

    /// Encrypts or decrypts `data` (once).
    pub fn run(&mut self, data: &[u8]) -> Rv<&[u8]> {
        if self.output.is_none() {
            self.output = Some(if self.decrypt {
                sm2ops::decrypt(&self.key, data)?
            } else {
                Zeroizing::new(sm2ops::encrypt(&self.key, data)?)
            });
        }
        Ok(self
            .output
            .as_deref()
            .map(Vec::as_slice)
            .unwrap_or_default())
    }
}

/// An SM3 digest.
pub struct DigestOp {
    hash: Option<Sm3>,
    pub output: Option<Vec<u8>>,
}

impl DigestOp {
    pub fn new(mech: &Mech, param: &[u8]) -> Rv<DigestOp> {
        if mech.kind != Kind::Sm3 {
            return Err(CKR_MECHANISM_INVALID);
        }
        no_parameter(param)?;
        Ok(DigestOp {
            hash: Some(Sm3::new()),
            output: None,
        })
    }

    pub fn update(&mut self, data: &[u8]) -> Rv<()> {
        self.hash.as_mut().ok_or(CKR_OPERATION_ACTIVE)?.update(data);
        Ok(())
    }

    /// The digest of all the input (computed once).
    pub fn finish(&mut self) -> &[u8] {
        if let Some(h) = self.hash.take() {
            self.output = Some(h.finalize().to_vec());
        }
        self.output.as_deref().unwrap_or_default()
    }
}
