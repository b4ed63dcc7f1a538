//! PKCS#11 tokens, found by label or serial, never by slot number.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use secrecy::SecretString;

use crate::KeyError;

/// DER of the named curve prime256v1 (1.2.840.10045.3.1.7).
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// A loaded PKCS#11 module (SoftHSM2 in development, the HSM or the key
/// vendor's module in production).
#[derive(Clone)]
pub struct Module {
    ctx: Pkcs11,
}

/// What a token says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub label: String,
    pub serial: String,
    pub model: String,
    pub manufacturer: String,
    pub initialized: bool,
    pub user_pin_initialized: bool,
    pub pin_locked: bool,
    pub pin_count_low: bool,
    /// The token's object storage in bytes, when it says (a USB key's
    /// chip holds a few tens of kilobytes; SoftHSM2 does not say).
    pub memory: Option<u64>,
    pub slot: Slot,
}

/// The key algorithms the station makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    P256,
    Rsa2048,
    /// SM2 (GM/T 0003): certificates from CAs that use it are read and
    /// checked; the station does not make SM2 keys at the counter yet.
    Sm2,
}

/// A certificate object on a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertObject {
    pub id: Vec<u8>,
    pub der: Vec<u8>,
    pub handle: ObjectHandle,
}

/// One object on a token, as `pkcs11-tool --list-objects` would show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    pub class: String,
    pub label: String,
    pub id: String,
}

impl Module {
    /// Loads and initialises a module (SoftHSM2 reads `SOFTHSM2_CONF`
    /// here). A module is initialised once per process: loading it again
    /// gives the same one, as `C_Initialize` may be called only once.
    pub fn load(path: &str) -> Result<Module, KeyError> {
        static LOADED: std::sync::Mutex<Vec<(String, Pkcs11)>> = std::sync::Mutex::new(Vec::new());
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, ctx)) = loaded.iter().find(|(p, _)| p == path) {
            return Ok(Module { ctx: ctx.clone() });
        }
        let ctx = Pkcs11::new(path).map_err(|source| KeyError::Module {
            path: path.to_string(),
            source,
        })?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|source| KeyError::Module {
                path: path.to_string(),
                source,
            })?;
        loaded.push((path.to_string(), ctx.clone()));
        Ok(Module { ctx })
    }

    /// Every token present.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, KeyError> {
        self.ctx
            .get_slots_with_token()
            .map_err(KeyError::at("C_GetSlotList"))?
            .into_iter()
            .map(|slot| self.info(slot))
            .collect()
    }

    pub fn by_serial(&self, serial: &str) -> Result<TokenInfo, KeyError> {
        self.find(|t| t.serial.eq_ignore_ascii_case(serial.trim()))?
            .ok_or_else(|| KeyError::NoToken {
                what: "serial",
                value: serial.to_string(),
            })
    }

    pub fn by_label(&self, label: &str) -> Result<TokenInfo, KeyError> {
        self.find(|t| t.label == label)?
            .ok_or_else(|| KeyError::NoToken {
                what: "label",
                value: label.to_string(),
            })
    }

    /// The first initialised token that matches, asking slot by slot.
    fn find(&self, wanted: impl Fn(&TokenInfo) -> bool) -> Result<Option<TokenInfo>, KeyError> {
        for slot in self
            .ctx
            .get_slots_with_token()
            .map_err(KeyError::at("C_GetSlotList"))?
        {
            let t = self.info(slot)?;
            if t.initialized && wanted(&t) {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    fn info(&self, slot: Slot) -> Result<TokenInfo, KeyError> {
        let t = self
            .ctx
            .get_token_info(slot)
            .map_err(KeyError::at("C_GetTokenInfo"))?;
        Ok(TokenInfo {
            label: t.label().trim().to_string(),
            serial: t.serial_number().trim().to_string(),
            model: t.model().trim().to_string(),
            manufacturer: t.manufacturer_id().trim().to_string(),
            initialized: t.token_initialized(),
            user_pin_initialized: t.user_pin_initialized(),
            pin_locked: t.user_pin_locked(),
            pin_count_low: t.user_pin_count_low(),
            memory: t.total_public_memory().map(|m| m as u64),
            slot,
        })
    }

    /// The first slot whose token has never been initialised (SoftHSM2
    /// always offers one).
    pub fn free_slot(&self) -> Result<Slot, KeyError> {
        self.tokens()?
            .into_iter()
            .find(|t| !t.initialized)
            .map(|t| t.slot)
            .ok_or_else(|| KeyError::NoToken {
                what: "state",
                value: "uninitialised".into(),
            })
    }

    /// (Re)initialises a token: every object on it is destroyed; the SO PIN
    /// must be the token's current one (or any, for a blank token).
    pub fn init_token(
        &self,
        slot: Slot,
        so_pin: &SecretString,
        label: &str,
    ) -> Result<(), KeyError> {
        self.ctx
            .init_token(slot, so_pin, label)
            .map_err(KeyError::at("C_InitToken"))
    }

    pub fn open(&self, token: &TokenInfo) -> Result<TokenSession, KeyError> {
        let session = self
            .ctx
            .open_rw_session(token.slot)
            .map_err(KeyError::at("C_OpenSession"))?;
        Ok(TokenSession {
            session,
            serial: token.serial.clone(),
            ctx: self.ctx.clone(),
            slot: token.slot,
        })
    }
}

/// A read-write session on one token.
pub struct TokenSession {
    pub(crate) session: Session,
    serial: String,
    ctx: Pkcs11,
    slot: Slot,
}

impl TokenSession {
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// Whether the token has this mechanism. Asked one by one: the module's
    /// list may leave out vendor-defined values on the way through.
    pub fn has_mechanism(&self, m: cryptoki::mechanism::MechanismType) -> Result<bool, KeyError> {
        match self.ctx.get_mechanism_info(self.slot, m) {
            Ok(_) => Ok(true),
            Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::MechanismInvalid, _)) => {
                Ok(false)
            }
            Err(e) => Err(KeyError::at("C_GetMechanismInfo")(e)),
        }
    }

    pub fn login_so(&self, pin: &SecretString) -> Result<(), KeyError> {
        self.session
            .login(UserType::So, Some(pin))
            .map_err(KeyError::at("C_Login(SO)"))
    }

    pub fn login_user(&self, pin: &SecretString) -> Result<(), KeyError> {
        self.session
            .login(UserType::User, Some(pin))
            .map_err(KeyError::at("C_Login(User)"))
    }

    /// Logs the user in on a token this process may already hold a
    /// logged-in session of (the station's own token: login state is per
    /// token, shared by its sessions). Never for an applicant's key, whose
    /// PIN must be checked each time.
    pub fn login_user_shared(&self, pin: &SecretString) -> Result<(), KeyError> {
        use cryptoki::error::{Error, RvError};
        match self.session.login(UserType::User, Some(pin)) {
            Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            other => other.map_err(KeyError::at("C_Login(User)")),
        }
    }

    pub fn logout(&self) -> Result<(), KeyError> {
        self.session.logout().map_err(KeyError::at("C_Logout"))
    }

    /// Changes the PIN of whoever is logged in.
    pub fn set_pin(&self, old: &SecretString, new: &SecretString) -> Result<(), KeyError> {
        self.session
            .set_pin(old, new)
            .map_err(KeyError::at("C_SetPIN"))
    }

    /// Sets the user PIN (as SO).
    pub fn init_user_pin(&self, pin: &SecretString) -> Result<(), KeyError> {
        self.session
            .init_pin(pin)
            .map_err(KeyError::at("C_InitPIN"))
    }

    pub fn random(&self, len: u32) -> Result<Vec<u8>, KeyError> {
        self.session
            .generate_random_vec(len)
            .map_err(KeyError::at("C_GenerateRandom"))
    }

    /// Generates an EC P-256 key pair on the token. Returns the private
    /// key handle and the uncompressed public point.
    pub fn generate_p256(
        &self,
        id: &[u8],
        label: &str,
    ) -> Result<(ObjectHandle, Vec<u8>), KeyError> {
        let (private, public) = self.pair(
            Mechanism::EccKeyPairGen,
            vec![Attribute::EcParams(P256_PARAMS.to_vec())],
            id,
            label,
        )?;
        Ok((private, self.ec_point(public)?))
    }

    /// A key pair with the station's templates: the private half is
    /// sensitive and never extractable; both halves carry the id and label.
    /// Returns (private, public) handles.
    fn pair(
        &self,
        mechanism: Mechanism<'_>,
        algorithm: Vec<Attribute>,
        id: &[u8],
        label: &str,
    ) -> Result<(ObjectHandle, ObjectHandle), KeyError> {
        self.pair_with(mechanism, algorithm, (vec![], vec![]), id, label)
    }

    /// [`Self::pair`] with more (public, private) attributes.
    pub(crate) fn pair_with(
        &self,
        mechanism: Mechanism<'_>,
        algorithm: Vec<Attribute>,
        (more_public, more_private): (Vec<Attribute>, Vec<Attribute>),
        id: &[u8],
        label: &str,
    ) -> Result<(ObjectHandle, ObjectHandle), KeyError> {
        let named = [
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let mut public = vec![
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
        ];
        public.extend(algorithm);
        public.extend(more_public);
        public.extend(named.iter().cloned());
        let mut private = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ];
        private.extend(more_private);
        private.extend(named);
        let (pub_h, priv_h) = self
            .session
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(KeyError::at("C_GenerateKeyPair"))?;
        Ok((priv_h, pub_h))
    }

    /// Generates an applicant's key pair of the given kind on the token:
    /// it signs, and it decrypts (RSA) or agrees keys (EC), so that the
    /// hand-over encryption test can run.
    pub fn generate(
        &self,
        kind: KeyKind,
        id: &[u8],
        label: &str,
    ) -> Result<(ObjectHandle, Vec<u8>), KeyError> {
        match kind {
            KeyKind::P256 => {
                let (private, public) = self.pair_with(
                    Mechanism::EccKeyPairGen,
                    vec![Attribute::EcParams(P256_PARAMS.to_vec())],
                    (vec![], vec![Attribute::Derive(true)]),
                    id,
                    label,
                )?;
                Ok((private, self.ec_point(public)?))
            }
            KeyKind::Rsa2048 => {
                let algorithm = vec![
                    Attribute::ModulusBits(2048.into()),
                    Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                ];
                let (private, public) = self.pair_with(
                    Mechanism::RsaPkcsKeyPairGen,
                    algorithm,
                    (
                        vec![Attribute::Encrypt(true)],
                        vec![Attribute::Decrypt(true)],
                    ),
                    id,
                    label,
                )?;
                Ok((private, self.rsa_public(public)?))
            }
            KeyKind::Sm2 => Err(KeyError::X509(
                "SM2 keys are generated with generate_sm2 and the token's mechanism set".into(),
            )),
        }
    }

    /// Whether the private key with this id may decrypt or agree keys.
    pub fn can_decrypt(&self, id: &[u8]) -> Result<bool, KeyError> {
        let (private, _, kind) = self.key_pair(id)?;
        let wanted = match kind {
            KeyKind::P256 => AttributeType::Derive,
            KeyKind::Rsa2048 | KeyKind::Sm2 => AttributeType::Decrypt,
        };
        Ok(self
            .session
            .get_attributes(private, &[wanted])
            .map_err(KeyError::at("C_GetAttributeValue"))?
            .into_iter()
            .any(|a| matches!(a, Attribute::Derive(true) | Attribute::Decrypt(true))))
    }

    /// The raw ECDH shared value (the x-coordinate, CKD_NULL) of the
    /// private key with this id and a peer's uncompressed point, derived in
    /// the token as a session object that is read once and destroyed.
    pub fn ecdh(&self, id: &[u8], peer_point: &[u8]) -> Result<Vec<u8>, KeyError> {
        use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
        let (private, _, _) = self.key_pair(id)?;
        let params = Ecdh1DeriveParams::new(EcKdf::null(), peer_point);
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::ValueLen(32.into()),
            Attribute::Token(false),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
        ];
        let secret = self
            .session
            .derive_key(&Mechanism::Ecdh1Derive(params), private, &template)
            .map_err(KeyError::at("C_DeriveKey"))?;
        let value = self
            .session
            .get_attributes(secret, &[AttributeType::Value])
            .map_err(KeyError::at("C_GetAttributeValue"));
        self.destroy(secret)?;
        value?
            .into_iter()
            .find_map(|a| match a {
                Attribute::Value(v) => Some(v),
                _ => None,
            })
            .ok_or_else(|| KeyError::NoObject("ECDH shared value".into()))
    }

    /// RSA-OAEP (SHA-1, MGF1-SHA-1) encryption to an RSAPublicKey (DER)
    /// that is not on the token: it goes in as a session object, is used
    /// once and destroyed.
    pub fn rsa_encrypt_to(&self, rsa_public_der: &[u8], data: &[u8]) -> Result<Vec<u8>, KeyError> {
        let (n, e) = crate::der::read_unsigned_pair(rsa_public_der)
            .ok_or_else(|| KeyError::X509("the certificate's RSA key is malformed".into()))?;
        let key = self
            .session
            .create_object(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::RSA),
                Attribute::Token(false),
                Attribute::Encrypt(true),
                Attribute::Modulus(n),
                Attribute::PublicExponent(e),
            ])
            .map_err(KeyError::at("C_CreateObject"))?;
        let sealed = self
            .session
            .encrypt(&oaep(), key, data)
            .map_err(KeyError::at("C_Encrypt"));
        self.destroy(key)?;
        sealed
    }

    /// RSA-OAEP (SHA-1, MGF1-SHA-1) decryption with the private key with
    /// this id.
    pub fn rsa_decrypt(&self, id: &[u8], data: &[u8]) -> Result<Vec<u8>, KeyError> {
        let (private, _, _) = self.key_pair(id)?;
        self.session
            .decrypt(&oaep(), private, data)
            .map_err(KeyError::at("C_Decrypt"))
    }

    /// The private key and public key (P-256 point, or RSAPublicKey DER) of
    /// the key pair with this id.
    pub fn key_pair(&self, id: &[u8]) -> Result<(ObjectHandle, Vec<u8>, KeyKind), KeyError> {
        let private = self
            .session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(id.to_vec()),
            ])
            .map_err(KeyError::at("C_FindObjects"))?
            .into_iter()
            .next()
            .ok_or_else(|| KeyError::NoObject(format!("PRIVATE_KEY {}", hex::encode(id))))?;
        let (bytes, kind) = self
            .public_key(id)?
            .ok_or_else(|| KeyError::NoObject(format!("PUBLIC_KEY {}", hex::encode(id))))?;
        Ok((private, bytes, kind))
    }

    /// The public key (P-256 point, or RSAPublicKey DER, as in a
    /// certificate's SubjectPublicKeyInfo) with this id. Public keys are
    /// public objects: no login is needed. None when the token holds no
    /// public key with this id.
    pub fn public_key(&self, id: &[u8]) -> Result<Option<(Vec<u8>, KeyKind)>, KeyError> {
        let Some(public) = self
            .session
            .find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Id(id.to_vec()),
            ])
            .map_err(KeyError::at("C_FindObjects"))?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let attributes = self
            .session
            .get_attributes(public, &[AttributeType::KeyType, AttributeType::EcParams])
            .map_err(KeyError::at("C_GetAttributeValue"))?;
        let is_rsa = attributes
            .iter()
            .any(|a| matches!(a, Attribute::KeyType(t) if *t == KeyType::RSA));
        // An EC key on the SM2 curve, or of a vendor's SM2 key type (which
        // carries the SM2 curve too): not P-256.
        let is_sm2 = attributes.iter().any(
            |a| matches!(a, Attribute::EcParams(p) if p.as_slice() == crate::sm2::SM2_EC_PARAMS),
        );
        let kind = match (is_rsa, is_sm2) {
            (true, _) => KeyKind::Rsa2048,
            (false, true) => KeyKind::Sm2,
            (false, false) => KeyKind::P256,
        };
        let bytes = match kind {
            KeyKind::P256 | KeyKind::Sm2 => self.ec_point(public)?,
            KeyKind::Rsa2048 => self.rsa_public(public)?,
        };
        Ok(Some((bytes, kind)))
    }

    /// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }.
    fn rsa_public(&self, public: ObjectHandle) -> Result<Vec<u8>, KeyError> {
        let (mut n, mut e) = (Vec::new(), Vec::new());
        for a in self
            .session
            .get_attributes(
                public,
                &[AttributeType::Modulus, AttributeType::PublicExponent],
            )
            .map_err(KeyError::at("C_GetAttributeValue"))?
        {
            match a {
                Attribute::Modulus(v) => n = v,
                Attribute::PublicExponent(v) => e = v,
                _ => {}
            }
        }
        // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }.
        Ok(crate::der::unsigned_pair(&n, &e))
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256, hashed in the token.
    pub fn sign_rsa_sha256(&self, key: ObjectHandle, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.session
            .sign(&Mechanism::Sha256RsaPkcs, key, msg)
            .map_err(KeyError::at("C_Sign(RSA)"))
    }

    /// Finds a key pair by label (the station's own keys).
    pub fn key_id_by_label(&self, label: &str) -> Result<Vec<u8>, KeyError> {
        let h = self
            .session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(KeyError::at("C_FindObjects"))?
            .into_iter()
            .next()
            .ok_or_else(|| KeyError::NoObject(label.to_string()))?;
        match self
            .session
            .get_attributes(h, &[AttributeType::Id])
            .map_err(KeyError::at("C_GetAttributeValue"))?
            .pop()
        {
            Some(Attribute::Id(id)) => Ok(id),
            _ => Err(KeyError::NoObject(format!("{label} id"))),
        }
    }

    fn ec_point(&self, public: ObjectHandle) -> Result<Vec<u8>, KeyError> {
        let attrs = self
            .session
            .get_attributes(public, &[AttributeType::EcPoint])
            .map_err(KeyError::at("C_GetAttributeValue"))?;
        match attrs.into_iter().next() {
            // CKA_EC_POINT is a DER OCTET STRING around the point.
            Some(Attribute::EcPoint(der)) if der.len() == 67 && der[0] == 0x04 && der[1] == 65 => {
                Ok(der[2..].to_vec())
            }
            Some(Attribute::EcPoint(raw)) if raw.len() == 65 && raw[0] == 0x04 => Ok(raw),
            _ => Err(KeyError::X509(
                "the token returned no EC public point".into(),
            )),
        }
    }

    /// Raw ECDSA over a digest (SoftHSM2 has no CKM_ECDSA_SHA256): r || s.
    pub fn sign_digest(&self, key: ObjectHandle, digest: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.session
            .sign(&Mechanism::Ecdsa, key, digest)
            .map_err(KeyError::at("C_Sign"))
    }

    /// Stores an X.509 certificate with CKA_ID equal to its key's id.
    pub fn put_certificate(
        &self,
        id: &[u8],
        label: &str,
        der: &[u8],
        subject: &[u8],
    ) -> Result<(), KeyError> {
        self.session
            .create_object(&[
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::CertificateType(CertificateType::X_509),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Id(id.to_vec()),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Subject(subject.to_vec()),
                Attribute::Value(der.to_vec()),
            ])
            .map(|_| ())
            .map_err(KeyError::at("C_CreateObject(certificate)"))
    }

    /// Stores a data object (CKO_DATA) under an application name and label.
    pub fn put_data(&self, application: &str, label: &str, value: &[u8]) -> Result<(), KeyError> {
        self.session
            .create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Application(application.as_bytes().to_vec()),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Value(value.to_vec()),
            ])
            .map(|_| ())
            .map_err(KeyError::at("C_CreateObject(data)"))
    }

    /// A private data object (seen and made only after login) that cannot
    /// be modified once made.
    pub fn put_private_data(
        &self,
        application: &str,
        label: &str,
        value: &[u8],
    ) -> Result<(), KeyError> {
        self.session
            .create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Modifiable(false),
                Attribute::Application(application.as_bytes().to_vec()),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Value(value.to_vec()),
            ])
            .map(|_| ())
            .map_err(KeyError::at("C_CreateObject(data)"))
    }

    /// Values of the objects of a class (and label, when given).
    pub fn values(
        &self,
        class: ObjectClass,
        label: Option<&str>,
    ) -> Result<Vec<Vec<u8>>, KeyError> {
        let mut template = vec![Attribute::Class(class)];
        if let Some(l) = label {
            template.push(Attribute::Label(l.as_bytes().to_vec()));
        }
        let mut out = Vec::new();
        for h in self
            .session
            .find_objects(&template)
            .map_err(KeyError::at("C_FindObjects"))?
        {
            for a in self
                .session
                .get_attributes(h, &[AttributeType::Value])
                .map_err(KeyError::at("C_GetAttributeValue"))?
            {
                if let Attribute::Value(v) = a {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }

    /// Certificates on the token.
    pub fn certificates(&self) -> Result<Vec<CertObject>, KeyError> {
        let mut out = Vec::new();
        for h in self
            .session
            .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])
            .map_err(KeyError::at("C_FindObjects"))?
        {
            let (mut id, mut der) = (Vec::new(), Vec::new());
            for a in self
                .session
                .get_attributes(h, &[AttributeType::Id, AttributeType::Value])
                .map_err(KeyError::at("C_GetAttributeValue"))?
            {
                match a {
                    Attribute::Id(v) => id = v,
                    Attribute::Value(v) => der = v,
                    _ => {}
                }
            }
            out.push(CertObject { id, der, handle: h });
        }
        Ok(out)
    }

    /// Handles of objects of a class with a label.
    pub fn find(&self, class: ObjectClass, label: &str) -> Result<Vec<ObjectHandle>, KeyError> {
        self.session
            .find_objects(&[
                Attribute::Class(class),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(KeyError::at("C_FindObjects"))
    }

    /// Handles of the key objects (private and public) with this CKA_ID.
    pub fn keys_with_id(&self, id: &[u8]) -> Result<Vec<ObjectHandle>, KeyError> {
        let mut out = Vec::new();
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            out.extend(
                self.session
                    .find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
                    .map_err(KeyError::at("C_FindObjects"))?,
            );
        }
        Ok(out)
    }

    /// CKA_IDs of every private key on the token.
    pub fn private_key_ids(&self) -> Result<Vec<Vec<u8>>, KeyError> {
        let mut out = Vec::new();
        for h in self
            .session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
            .map_err(KeyError::at("C_FindObjects"))?
        {
            for a in self
                .session
                .get_attributes(h, &[AttributeType::Id])
                .map_err(KeyError::at("C_GetAttributeValue"))?
            {
                if let Attribute::Id(v) = a {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }

    pub fn destroy(&self, object: ObjectHandle) -> Result<(), KeyError> {
        self.session
            .destroy_object(object)
            .map_err(KeyError::at("C_DestroyObject"))
    }

    /// Every object visible in this session.
    pub fn objects(&self) -> Result<Vec<ObjectSummary>, KeyError> {
        let mut out = Vec::new();
        for h in self
            .session
            .find_objects(&[])
            .map_err(KeyError::at("C_FindObjects"))?
        {
            let attrs = self
                .session
                .get_attributes(
                    h,
                    &[
                        AttributeType::Class,
                        AttributeType::Label,
                        AttributeType::Id,
                    ],
                )
                .map_err(KeyError::at("C_GetAttributeValue"))?;
            let mut o = ObjectSummary {
                class: String::new(),
                label: String::new(),
                id: String::new(),
            };
            for a in attrs {
                match a {
                    Attribute::Class(c) => o.class = format!("{c}"),
                    Attribute::Label(l) => o.label = String::from_utf8_lossy(&l).into_owned(),
                    Attribute::Id(i) => o.id = hex::encode(i),
                    _ => {}
                }
            }
            out.push(o);
        }
        Ok(out)
    }

    /// Makes the station's master secret (for deriving SO PINs) if absent:
    /// a generic secret that can sign (HMAC) but never leaves the token.
    pub fn ensure_master_secret(&self, label: &str) -> Result<ObjectHandle, KeyError> {
        if let Some(h) = self.secret(label)? {
            return Ok(h);
        }
        let mut template = master_template(label);
        template.push(Attribute::ValueLen(32.into()));
        self.session
            .generate_key(&Mechanism::GenericSecretKeyGen, &template)
            .map_err(KeyError::at("C_GenerateKey"))
    }

    /// An RSA-3072 key pair labelled `label` for unwrapping a secret sent
    /// wrapped for this token; made if absent. Returns its
    /// public key (RSAPublicKey, DER).
    pub fn ensure_unwrapping_key(&self, label: &str) -> Result<Vec<u8>, KeyError> {
        let id = label.as_bytes();
        if let Some((_, public, _)) = self.key_pair(id).ok() {
            return Ok(public);
        }
        let algorithm = vec![
            Attribute::ModulusBits(3072.into()),
            Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
        ];
        let (_, public) = self.pair_with(
            Mechanism::RsaPkcsKeyPairGen,
            algorithm,
            (vec![Attribute::Wrap(true)], vec![Attribute::Unwrap(true)]),
            id,
            label,
        )?;
        self.rsa_public(public)
    }

    /// Unwraps (RSA-OAEP, SHA-1) `wrapped` with the key pair `unwrapping`
    /// into a token secret like [`TokenSession::ensure_master_secret`]'s:
    /// HMAC only, sensitive, never extractable, labelled `label`.
    pub fn unwrap_secret(
        &self,
        unwrapping: &str,
        wrapped: &[u8],
        label: &str,
    ) -> Result<ObjectHandle, KeyError> {
        let (private, _, _) = self.key_pair(unwrapping.as_bytes())?;
        self.session
            .unwrap_key(&oaep(), private, wrapped, &master_template(label))
            .map_err(KeyError::at("C_UnwrapKey"))
    }

    pub fn secret(&self, label: &str) -> Result<Option<ObjectHandle>, KeyError> {
        Ok(self
            .session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(KeyError::at("C_FindObjects"))?
            .into_iter()
            .next())
    }

    /// HMAC-SHA256 computed inside the token.
    pub fn hmac(&self, key: ObjectHandle, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.session
            .sign(&Mechanism::Sha256Hmac, key, data)
            .map_err(KeyError::at("C_Sign(HMAC)"))
    }
}

/// A master secret as the token keeps it, made there or unwrapped into it:
/// HMAC only, sensitive, never extractable.
fn master_template(label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}

/// RSA-OAEP with SHA-1 and MGF1-SHA-1, no label: what every PKCS#11 token
/// that decrypts RSA offers.
fn oaep() -> Mechanism<'static> {
    use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
    use cryptoki::mechanism::MechanismType;
    Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA1,
        PkcsMgfType::MGF1_SHA1,
        PkcsOaepSource::empty(),
    ))
}
