//! PINs are kept only as a salted PBKDF2-HMAC-SHA256 hash.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::Rv;

/// The stored form of a PIN.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PinHash {
    /// Hex of a random 16-byte salt.
    salt: String,
    iterations: u32,
    /// Hex of PBKDF2-HMAC-SHA256(pin, salt, iterations), 32 bytes.
    hash: String,
}

impl PinHash {
    pub fn new(pin: &[u8], iterations: u32) -> Rv<PinHash> {
        let mut salt = [0u8; 16];
        crate::random(&mut salt)?;
        Ok(PinHash {
            salt: crate::hex(&salt),
            iterations,
            hash: crate::hex(pbkdf2_sha256(pin, &salt, iterations).as_ref()),
        })
    }

    /// Whether `pin` is this PIN (compared in constant time).
    pub fn verify(&self, pin: &[u8]) -> bool {
        let (Some(salt), Some(expected)) = (crate::unhex(&self.salt), crate::unhex(&self.hash))
        else {
            return false;
        };
        let got = pbkdf2_sha256(pin, &salt, self.iterations);
        expected.len() == got.len()
            && expected
                .iter()
                .zip(got.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// PBKDF2 (RFC 8018) with HMAC-SHA256, one 32-byte block.
fn pbkdf2_sha256(pin: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let keyed = Hmac::<Sha256>::new_from_slice(pin).expect("HMAC takes keys of any length");
    let mut mac = keyed.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
    let mut t = u.clone();
    for _ in 1..iterations {
        let mut mac = keyed.clone();
        mac.update(u.as_ref());
        *u = mac.finalize().into_bytes().into();
        t.iter_mut().zip(u.iter()).for_each(|(t, u)| *t ^= u);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_rfc7914_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256("passwd", "salt", 1), first 32 bytes.
        assert_eq!(
            crate::hex(pbkdf2_sha256(b"passwd", b"salt", 1).as_ref()),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    #[test]
    fn verifies_only_the_pin() {
        let h = PinHash::new(b"123456", 1000).unwrap();
        assert!(h.verify(b"123456"));
        assert!(!h.verify(b"123457"));
    }
}
