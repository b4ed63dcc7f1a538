//! SM2 on PKCS#11 tokens, as Chinese tokens and HSMs speak it. PKCS#11 has
//! no standard SM2 mechanism: each vendor uses values of its own, so which
//! values a token takes is data ([`Sm2Mechanisms`], from
//! `data/sm2-mechanisms.toml`), named by the key model and by the station
//! token's configuration.
//!
//! Signatures are SM3withSM2 (GM/T 0009) with the default distinguishing
//! ID `1234567812345678`: e = SM3(Z_A || M), Z_A over the signer's public
//! key. A token that computes Z_A itself gets the message; otherwise the
//! station computes e and the token signs it raw. Either way the result is
//! DER `SEQUENCE { r, s }`, as X.509 carries it.

use std::sync::OnceLock;

use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use serde::Deserialize;
use sm2::dsa::signature::Verifier;
use sm3::{Digest, Sm3};

use crate::{KeyError, TokenSession};

/// The default distinguishing identifier of GM/T 0009.
pub const DEFAULT_DISTID: &str = "1234567812345678";
const DEFAULT_ID: &[u8] = DEFAULT_DISTID.as_bytes();

/// `CKA_EC_PARAMS` of the SM2 curve: the OID 1.2.156.10197.1.301, DER.
pub const SM2_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];

/// What a token's signing mechanisms return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureFormat {
    /// r || s, 32 bytes each.
    Raw,
    /// DER `SEQUENCE { r INTEGER, s INTEGER }`.
    Der,
}

/// One vendor's SM2 mechanism values.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sm2Mechanisms {
    pub id: String,
    pub name: String,
    /// The vendor's `CKK_SM2`.
    pub key_type: u64,
    pub key_pair_gen: u64,
    /// SM3withSM2 with Z_A over the default ID computed by the token.
    pub sign_sm3_with_z: Option<u64>,
    /// SM2 signature of a 32-byte e.
    pub sign_raw: u64,
    pub signature: SignatureFormat,
    pub encrypt: Option<u64>,
    pub digest_sm3: Option<u64>,
}

#[derive(Deserialize)]
struct Sets {
    sets: Vec<Sm2Mechanisms>,
}

impl Sm2Mechanisms {
    /// Every set the station knows (`data/sm2-mechanisms.toml`).
    pub fn all() -> &'static [Sm2Mechanisms] {
        static SETS: OnceLock<Vec<Sm2Mechanisms>> = OnceLock::new();
        SETS.get_or_init(|| {
            toml::from_str::<Sets>(include_str!("../data/sm2-mechanisms.toml"))
                .expect("data/sm2-mechanisms.toml is checked by the tests")
                .sets
        })
    }

    /// The set with this id.
    pub fn by_id(id: &str) -> Result<&'static Sm2Mechanisms, KeyError> {
        Self::all()
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| KeyError::X509(format!("no SM2 mechanism set named {id:?}")))
    }

    fn mechanism_type(value: u64) -> Result<MechanismType, KeyError> {
        MechanismType::new_vendor_defined(value as _)
            .map_err(|_| KeyError::X509(format!("{value:#x} is not a vendor-defined mechanism")))
    }

    fn mechanism(value: u64) -> Result<Mechanism<'static>, KeyError> {
        Ok(Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(
            Self::mechanism_type(value)?,
            None,
        )))
    }

    fn key_type(&self) -> Result<KeyType, KeyError> {
        KeyType::new_vendor_defined(self.key_type as _).map_err(|_| {
            KeyError::X509(format!(
                "{:#x} is not a vendor-defined key type",
                self.key_type
            ))
        })
    }

    /// The mechanisms this set says the token has that it does not list;
    /// empty when it has them all.
    pub fn missing_on(&self, s: &TokenSession) -> Result<Vec<u64>, KeyError> {
        let mut needed = vec![self.key_pair_gen, self.sign_raw];
        needed.extend(self.sign_sm3_with_z);
        let mut missing = Vec::new();
        for m in needed {
            if !s.has_mechanism(Self::mechanism_type(m)?)? {
                missing.push(m);
            }
        }
        Ok(missing)
    }
}

impl TokenSession {
    /// Generates an SM2 key pair on the token with `set`'s mechanism.
    /// Returns the private key handle and the uncompressed public point.
    pub fn generate_sm2(
        &self,
        set: &Sm2Mechanisms,
        id: &[u8],
        label: &str,
    ) -> Result<(ObjectHandle, [u8; 65]), KeyError> {
        let key_type = set.key_type()?;
        let (private, public) = self.pair_with(
            Sm2Mechanisms::mechanism(set.key_pair_gen)?,
            vec![Attribute::EcParams(SM2_EC_PARAMS.to_vec())],
            (
                vec![Attribute::KeyType(key_type)],
                vec![Attribute::KeyType(key_type), Attribute::Decrypt(true)],
            ),
            id,
            label,
        )?;
        Ok((private, self.sm2_point(public)?))
    }

    /// The SM2 key pair with this CKA_ID: (private handle, public point).
    pub fn sm2_key(
        &self,
        set: &Sm2Mechanisms,
        id: &[u8],
    ) -> Result<(ObjectHandle, [u8; 65]), KeyError> {
        let key_type = set.key_type()?;
        let find = |class| -> Result<ObjectHandle, KeyError> {
            self.session
                .find_objects(&[
                    Attribute::Class(class),
                    Attribute::KeyType(key_type),
                    Attribute::Id(id.to_vec()),
                ])
                .map_err(KeyError::at("C_FindObjects"))?
                .into_iter()
                .next()
                .ok_or_else(|| KeyError::NoObject(format!("SM2 key {}", hex::encode(id))))
        };
        let private = find(ObjectClass::PRIVATE_KEY)?;
        let public = find(ObjectClass::PUBLIC_KEY)?;
        Ok((private, self.sm2_point(public)?))
    }

    fn sm2_point(&self, public: ObjectHandle) -> Result<[u8; 65], KeyError> {
        let attrs = self
            .session
            .get_attributes(public, &[AttributeType::EcPoint])
            .map_err(KeyError::at("C_GetAttributeValue"))?;
        let point = match attrs.into_iter().next() {
            // A DER OCTET STRING around the point, or the bare point.
            Some(Attribute::EcPoint(der)) if der.len() == 67 && der[..2] == [0x04, 65] => {
                der[2..].to_vec()
            }
            Some(Attribute::EcPoint(raw)) => raw,
            _ => Vec::new(),
        };
        let point: [u8; 65] = point
            .try_into()
            .map_err(|_| KeyError::X509("the token returned no SM2 public point".into()))?;
        sm2::PublicKey::from_sec1_bytes(&point).map_err(|_| {
            KeyError::X509("the token's SM2 public point is not on the curve".into())
        })?;
        Ok(point)
    }

    /// SM3withSM2 signature of `msg` by `key` (whose public point is
    /// `point`) with the default ID, DER-encoded.
    pub fn sign_sm2(
        &self,
        set: &Sm2Mechanisms,
        key: ObjectHandle,
        point: &[u8; 65],
        msg: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let out = match set.sign_sm3_with_z {
            Some(m) => self
                .session
                .sign(&Sm2Mechanisms::mechanism(m)?, key, msg)
                .map_err(KeyError::at("C_Sign(SM3withSM2)"))?,
            None => self
                .session
                .sign(
                    &Sm2Mechanisms::mechanism(set.sign_raw)?,
                    key,
                    &digest(point, msg),
                )
                .map_err(KeyError::at("C_Sign(SM2)"))?,
        };
        let signature = match set.signature {
            SignatureFormat::Raw => sm2::dsa::Signature::from_slice(&out),
            SignatureFormat::Der => sm2::dsa::Signature::from_der(&out),
        }
        .map_err(|_| {
            KeyError::X509(format!(
                "the token's SM2 signature ({} bytes) is not {:?}",
                out.len(),
                set.signature
            ))
        })?;
        let der = signature.to_der().as_bytes().to_vec();
        // A token that signs the wrong thing is caught here, not by a
        // relying party.
        if !verify_sm2(point, msg, &der) {
            return Err(KeyError::X509(
                "the token's SM2 signature does not verify: its mechanism set is not the one configured".into(),
            ));
        }
        Ok(der)
    }
}

impl TokenSession {
    /// SM2 decryption (C1C3C2) in the token by the private key with this
    /// CKA_ID, with `set`'s encryption mechanism.
    pub fn sm2_decrypt(
        &self,
        set: &Sm2Mechanisms,
        id: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let mechanism = set.encrypt.ok_or_else(|| {
            KeyError::X509(format!(
                "the {} set names no SM2 encryption mechanism",
                set.id
            ))
        })?;
        let (private, _) = self.sm2_key(set, id)?;
        self.session
            .decrypt(&Sm2Mechanisms::mechanism(mechanism)?, private, ciphertext)
            .map_err(KeyError::at("C_Decrypt(SM2)"))
    }
}

/// SM2 encryption (GM/T 0003.4) of `msg` to `point`, C1 || C3 || C2.
pub fn encrypt_to(point: &[u8], msg: &[u8]) -> Result<Vec<u8>, KeyError> {
    let key = sm2::PublicKey::from_sec1_bytes(point)
        .map_err(|_| KeyError::X509("the SM2 public point is not on the curve".into()))?;
    sm2::pke::EncryptingKey::new_with_mode(key, sm2::pke::Mode::C1C3C2)
        .encrypt(&mut getrandom::SysRng, msg)
        .map_err(|_| KeyError::X509("SM2 encryption failed".into()))
}

/// Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA) for the default
/// ID (GM/T 0003.2 5.5 and GM/T 0009).
pub fn z_a(point: &[u8; 65]) -> [u8; 32] {
    // a, b, xG, yG of the SM2 curve (GM/T 0003.5).
    const CURVE: [[u8; 32]; 4] = [
        hex32("fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffc"),
        hex32("28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93"),
        hex32("32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7"),
        hex32("bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0"),
    ];
    let mut h = Sm3::new();
    h.update(((DEFAULT_ID.len() * 8) as u16).to_be_bytes());
    h.update(DEFAULT_ID);
    for c in CURVE {
        h.update(c);
    }
    h.update(&point[1..]);
    h.finalize().into()
}

/// e = SM3(Z_A || M): what an SM2 signature of `msg` signs.
pub fn digest(point: &[u8; 65], msg: &[u8]) -> [u8; 32] {
    Sm3::new()
        .chain_update(z_a(point))
        .chain_update(msg)
        .finalize()
        .into()
}

const fn hex32(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("not a hex digit"),
    }
}

/// Whether `der` is an SM3withSM2 signature of `msg` by the key `point`
/// with the default ID.
pub fn verify_sm2(point: &[u8], msg: &[u8], der: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) = (
        sm2::dsa::VerifyingKey::from_sec1_bytes(DEFAULT_DISTID, point),
        sm2::dsa::Signature::from_der(der),
    ) else {
        return false;
    };
    key.verify(msg, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_sets_read_and_are_vendor_defined() {
        let sets = Sm2Mechanisms::all();
        let ids: Vec<&str> = sets.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["sansec", "tass"]);
        for s in sets {
            for m in [s.key_type, s.key_pair_gen, s.sign_raw]
                .into_iter()
                .chain(s.sign_sm3_with_z)
                .chain(s.encrypt)
                .chain(s.digest_sm3)
            {
                assert!(m >= 0x8000_0000, "{}: {m:#x} is not vendor-defined", s.id);
            }
        }
        assert!(Sm2Mechanisms::by_id("gemalto").is_err());
    }

    #[test]
    fn e_is_what_the_sm2_crate_verifies() {
        // A key and signature made by the sm2 crate alone (GM/T 0009 with
        // the default ID); our e must be what it signs.
        use sm2::dsa::signature::hazmat::PrehashVerifier;
        use sm2::dsa::signature::Signer;
        let secret = sm2::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let sk = sm2::dsa::SigningKey::new(DEFAULT_DISTID, &secret).unwrap();
        let point: [u8; 65] = sk
            .verifying_key()
            .to_sec1_bytes()
            .as_ref()
            .try_into()
            .unwrap();
        let sig: sm2::dsa::Signature = sk.sign(b"message");
        assert!(verify_sm2(&point, b"message", sig.to_der().as_bytes()));
        assert!(!verify_sm2(&point, b"massage", sig.to_der().as_bytes()));
        sk.verifying_key()
            .verify_prehash(&digest(&point, b"message"), &sig)
            .unwrap();
    }
}
