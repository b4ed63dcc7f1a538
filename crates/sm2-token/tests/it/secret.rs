//! The station's HMAC master secret: generated on the token, never readable,
//! and its MAC is plain HMAC-SHA256.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::common::*;

#[test]
fn hmac_master_secret() {
    isolated("secret::hmac_master_secret", "", || {
        let ctx = open();
        let slot = new_token(&ctx, "station");
        let s = user_session(&ctx, slot);
        let msg = b"applicant 42 / 2024-05-01";

        // Generated on the token: not extractable, not readable.
        let master = s
            .generate_key(
                &Mechanism::GenericSecretKeyGen,
                &[
                    Attribute::Token(true),
                    Attribute::ValueLen(32.into()),
                    Attribute::Label(b"hmac master".to_vec()),
                    Attribute::Sign(true),
                ],
            )
            .unwrap();
        let got = s
            .get_attributes(
                master,
                &[
                    AttributeType::KeyType,
                    AttributeType::Extractable,
                    AttributeType::Sensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::Local,
                    AttributeType::ValueLen,
                ],
            )
            .unwrap();
        assert_eq!(
            got,
            vec![
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Extractable(false),
                Attribute::Sensitive(true),
                Attribute::NeverExtractable(true),
                Attribute::Local(true),
                Attribute::ValueLen(32.into()),
            ]
        );
        let (rv, _) = raw_attribute_len(&s, master, cryptoki_sys::CKA_VALUE);
        assert_eq!(rv, cryptoki_sys::CKR_ATTRIBUTE_SENSITIVE);
        let mac = s.sign(&Mechanism::Sha256Hmac, master, msg).unwrap();
        assert_eq!(mac.len(), 32);
        assert_eq!(
            s.sign(&Mechanism::Sha256Hmac, master, msg).unwrap(),
            mac,
            "deterministic"
        );
        s.verify(&Mechanism::Sha256Hmac, master, msg, &mac).unwrap();
        assert_eq!(
            rv_of(s.verify(&Mechanism::Sha256Hmac, master, b"other", &mac)),
            cryptoki::error::RvError::SignatureInvalid
        );
        // Still there for another session after logging in again.
        s.logout().unwrap();
        let s = user_session(&ctx, slot);
        let found = s
            .find_objects(&[Attribute::Label(b"hmac master".to_vec())])
            .unwrap();
        assert_eq!(s.sign(&Mechanism::Sha256Hmac, found[0], msg).unwrap(), mac);

        // A known, extractable secret: the token's MAC is RustCrypto's HMAC.
        let key = b"an extractable test secret of 32".to_vec();
        let known = s
            .create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Token(false),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::Sign(true),
                Attribute::Value(key.clone()),
            ])
            .unwrap();
        let value = s.get_attributes(known, &[AttributeType::Value]).unwrap();
        assert_eq!(value, vec![Attribute::Value(key.clone())]);
        let mut expected = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        expected.update(msg);
        let expected = expected.finalize().into_bytes().to_vec();
        assert_eq!(
            s.sign(&Mechanism::Sha256Hmac, known, msg).unwrap(),
            expected
        );
        s.sign_init(&Mechanism::Sha256Hmac, known).unwrap();
        s.sign_update(&msg[..7]).unwrap();
        s.sign_update(&msg[7..]).unwrap();
        assert_eq!(s.sign_final().unwrap(), expected);
        assert_ne!(expected, mac);

        // Random numbers.
        let a = s.generate_random_vec(32).unwrap();
        let b = s.generate_random_vec(32).unwrap();
        assert_ne!(a, b);
        s.seed_random(b"ignored").unwrap();
    });
}

fn rv_of<T: std::fmt::Debug>(r: cryptoki::error::Result<T>) -> cryptoki::error::RvError {
    rv(r)
}
