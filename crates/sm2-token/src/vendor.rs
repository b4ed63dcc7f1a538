//! The mechanism sets, as data: one table per vendor plus the standard
//! mechanisms every set has. The values and their public sources are listed
//! in `README.md` ("Vendor sets"); each row names its source here too.
//!
//! Sources (short names used below):
//! - `xipki`: xipki/ipkcs11wrapper,
//!   `src/main/resources/org/xipki/pkcs11/wrapper/vendor.conf`
//!   (blocks "TASS HSM" and "SANSEC HSM", commit 3485b4cc4ef1).
//! - `swpkcs11`: a SANSEC header `swpkcs11.h` ("CKM_SM2 = CKM_VENDOR_DEFINED +
//!   0x8000", "CKM_SM3_SM2_APPID1 ... Application ID 1234567812345678"),
//!   found in the public code index; its repository is not known to us.
//! - `chainmaker`: ChainMaker's PKCS#11 constants and its SANSEC test, which
//!   verifies a `CKM_SM3_SM2` signature as SM2 over SM3(M) without Z.

use cryptoki_sys::*;

use crate::sm2ops::SigFormat;

/// The GM/T 0009 default distinguishing identifier.
pub const DEFAULT_ID: &[u8] = b"1234567812345678";

/// Where a signature mechanism takes its output format from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The `signature` setting of the configuration (or the vendor default).
    Configured,
    /// Always this format (the mechanism's name says so).
    Fixed(SigFormat),
}

/// What a mechanism does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Vendor SM2 key-pair generation (key type: the vendor's `CKK_SM2`).
    Sm2KeyPairGen,
    /// `CKM_EC_KEY_PAIR_GEN` on the SM2 curve (key type `CKK_EC`).
    EcKeyPairGen,
    /// SM2 signature of e = SM3(Z_A || M), Z_A over the ID given as the
    /// mechanism parameter, else over `default_id`; with neither, e = SM3(M).
    Sm3WithSm2 {
        default_id: Option<&'static [u8]>,
        format: Format,
    },
    /// SM2 signature of a 32-byte e given by the caller.
    Sm2Raw { format: Format },
    /// SM2 public-key encryption, ciphertext C1 || C3 || C2.
    Sm2Encrypt,
    /// SM3 digest.
    Sm3,
    /// `CKM_GENERIC_SECRET_KEY_GEN`.
    GenericSecretGen,
    /// `CKM_SHA256_HMAC`.
    HmacSha256,
}

/// One row of a table.
#[derive(Debug)]
pub struct Mech {
    pub value: CK_MECHANISM_TYPE,
    /// The vendor's name for it.
    pub name: &'static str,
    pub kind: Kind,
}

/// A vendor's set.
#[derive(Debug)]
pub struct Vendor {
    /// The name used in the configuration file.
    pub name: &'static str,
    /// The vendor's `CKK_SM2`.
    pub key_type: CK_KEY_TYPE,
    /// Format of signatures whose mechanism does not fix one.
    pub default_signature: SigFormat,
    pub mechanisms: &'static [Mech],
}

const fn mech(value: CK_MECHANISM_TYPE, name: &'static str, kind: Kind) -> Mech {
    Mech { value, name, kind }
}

const CONFIGURED: Format = Format::Configured;
const DER: Format = Format::Fixed(SigFormat::Der);
const RAW: Format = Format::Fixed(SigFormat::Raw);
const Z: Option<&[u8]> = Some(DEFAULT_ID);

pub static SANSEC: Vendor = Vendor {
    name: "sansec",
    // xipki: CKK_SM2 0x80000004; swpkcs11: CKK_VENDOR_DEFINED + 4.
    key_type: 0x8000_0004,
    // swpkcs11 names the DER variants "_DER": the plain ones are r || s.
    default_signature: SigFormat::Raw,
    mechanisms: &[
        // xipki, swpkcs11 (CKM_SM2 + 1)
        mech(0x8000_8001, "CKM_SM2_KEY_PAIR_GEN", Kind::Sm2KeyPairGen),
        // xipki, swpkcs11; no Z without an ID: chainmaker's test
        mech(
            0x8000_8100,
            "CKM_SM3_SM2",
            Kind::Sm3WithSm2 {
                default_id: None,
                format: CONFIGURED,
            },
        ),
        // xipki, swpkcs11
        mech(
            0x8000_8101,
            "CKM_SM3_SM2_DER",
            Kind::Sm3WithSm2 {
                default_id: None,
                format: DER,
            },
        ),
        // xipki (as CKM_SM3_SM2_Z), swpkcs11
        mech(
            0x8000_8102,
            "CKM_SM3_SM2_APPID1",
            Kind::Sm3WithSm2 {
                default_id: Z,
                format: CONFIGURED,
            },
        ),
        // xipki (as CKM_SM3_SM2_Z_DER), swpkcs11, chainmaker
        mech(
            0x8000_8103,
            "CKM_SM3_SM2_APPID1_DER",
            Kind::Sm3WithSm2 {
                default_id: Z,
                format: DER,
            },
        ),
        // xipki, swpkcs11, chainmaker ("with ASN1 encoding")
        mech(0x8000_8104, "CKM_SM2_SIGN", Kind::Sm2Raw { format: DER }),
        // swpkcs11, chainmaker ("plain R|S concatenation")
        mech(
            0x8000_8105,
            "CKM_SM2_SIGN_NO_DER",
            Kind::Sm2Raw { format: RAW },
        ),
        // xipki, swpkcs11
        mech(0x8000_8200, "CKM_SM2_RAW", Kind::Sm2Encrypt),
        // xipki, swpkcs11 (CKM_SM3 + 1)
        mech(0x8000_9001, "CKM_SM3_HASH", Kind::Sm3),
    ],
};

pub static TASS: Vendor = Vendor {
    name: "tass",
    // xipki: CKK_SM2 0x80000004.
    key_type: 0x8000_0004,
    // xipki marks TASS with SM2_SIGNATURE_X962: its SM2 signatures are DER.
    default_signature: SigFormat::Der,
    mechanisms: &[
        // xipki (all five rows)
        mech(0x8000_8001, "CKM_SM2_KEY_PAIR_GEN", Kind::Sm2KeyPairGen),
        mech(0x8000_8000, "CKM_SM2", Kind::Sm2Raw { format: CONFIGURED }),
        // Z over the default ID without a parameter: our assumption (no source)
        mech(
            0x8000_8100,
            "CKM_SM3_SM2",
            Kind::Sm3WithSm2 {
                default_id: Z,
                format: CONFIGURED,
            },
        ),
        mech(0x8000_8200, "CKM_SM2_RAW", Kind::Sm2Encrypt),
        mech(0x8000_0005, "CKM_SM3", Kind::Sm3),
    ],
};

/// The standard mechanisms of every set (PKCS#11 v2.40).
pub static STANDARD: &[Mech] = &[
    mech(
        CKM_EC_KEY_PAIR_GEN,
        "CKM_EC_KEY_PAIR_GEN",
        Kind::EcKeyPairGen,
    ),
    mech(
        CKM_GENERIC_SECRET_KEY_GEN,
        "CKM_GENERIC_SECRET_KEY_GEN",
        Kind::GenericSecretGen,
    ),
    mech(CKM_SHA256_HMAC, "CKM_SHA256_HMAC", Kind::HmacSha256),
];

pub static VENDORS: [&Vendor; 2] = [&SANSEC, &TASS];

impl Vendor {
    /// The vendor named `name` in the configuration.
    pub fn by_name(name: &str) -> Option<&'static Vendor> {
        VENDORS
            .iter()
            .copied()
            .find(|v| v.name.eq_ignore_ascii_case(name))
    }

    /// Every mechanism of this set: the vendor's, then the standard ones.
    pub fn all(&self) -> impl Iterator<Item = &'static Mech> + '_ {
        self.mechanisms.iter().chain(STANDARD.iter())
    }

    pub fn find(&self, value: CK_MECHANISM_TYPE) -> Option<&'static Mech> {
        self.mechanisms
            .iter()
            .chain(STANDARD.iter())
            .find(|m| m.value == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_unique_within_each_set() {
        for v in VENDORS {
            let mut seen: Vec<_> = v.all().map(|m| m.value).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), v.all().count(), "{}", v.name);
        }
    }

    #[test]
    fn readme_lists_every_vendor_mechanism() {
        let readme = include_str!("../README.md");
        for v in VENDORS {
            for m in v.mechanisms {
                let row = format!("| `{}` | `0x{:08X}` |", m.name, m.value);
                assert!(readme.contains(&row), "README lacks {row} ({})", v.name);
            }
        }
    }
}
