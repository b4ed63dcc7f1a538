//! SM2 keys, signatures, encryption and SM3 through each vendor set,
//! checked against OpenSSL 3 and the pure-Python `gmssl`.

use std::path::Path;

use cryptoki::error::RvError;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use crate::common::*;

const SM2_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];
const P256_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const CKK_SM2: u64 = 0x8000_0004;
const KEY_PAIR_GEN: u64 = 0x8000_8001;
const SM2_ENCRYPT: u64 = 0x8000_8200;
const DEFAULT_ID: &str = "1234567812345678";

/// gmssl (pure Python) as an independent SM2 implementation.
const GMSSL: &str = r#"
import sys
from gmssl import sm2, sm3, func
cmd, args = sys.argv[1], sys.argv[2:]
def key(pub='', priv=''):
    k = sm2.CryptSM2(private_key=priv, public_key='', mode=1)  # C1C3C2
    k.public_key = pub  # x || y in hex (set directly: the constructor strips '0's and '4's)
    return k
if cmd == 'verify_z':        # pub, r||s, msg: SM3withSM2, default ID
    print(key(args[0]).verify_with_sm3(args[1], bytes.fromhex(args[2])))
elif cmd == 'verify_plain':  # pub, r||s, msg: SM2 over SM3(msg), no Z
    e = bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(bytes.fromhex(args[2]))))
    print(key(args[0]).verify(args[1], e))
elif cmd == 'public_of':     # d -> x || y
    k = key('', args[0])
    print(k._kg(int(args[0], 16), k.ecc_table['g']))
elif cmd == 'encrypt':       # pub, msg -> C1 (x || y) C3 C2
    print(key(args[0]).encrypt(bytes.fromhex(args[1])).hex())
elif cmd == 'decrypt':       # d, C1 (x || y) C3 C2 -> msg
    print(key('', args[0]).decrypt(bytes.fromhex(args[1])).hex())
"#;

struct Set {
    test: &'static str,
    vendor: &'static str,
    /// SM3withSM2 with Z over the default ID, without a parameter.
    sm3_sm2_z: u64,
    /// Its output is DER (else r || s).
    z_der: bool,
    /// SM2 over a given e, and whether its output is DER.
    raw: (u64, bool),
    sm3: u64,
    /// The whole mechanism list.
    mechanisms: &'static [u64],
}

const STANDARD: [u64; 3] = [0x1040, 0x350, 0x251]; // EC key pair gen, generic secret gen, SHA256-HMAC

#[test]
fn sansec_set() {
    isolated("sm2::sansec_set", "vendor = sansec", || {
        let set = Set {
            test: "sansec",
            vendor: "sansec",
            sm3_sm2_z: 0x8000_8102, // CKM_SM3_SM2_APPID1
            z_der: false,
            raw: (0x8000_8105, false), // CKM_SM2_SIGN_NO_DER
            sm3: 0x8000_9001,
            mechanisms: &[
                0x8000_8001,
                0x8000_8100,
                0x8000_8101,
                0x8000_8102,
                0x8000_8103,
                0x8000_8104,
                0x8000_8105,
                0x8000_8200,
                0x8000_9001,
            ],
        };
        let (s, private, public, dir) = exercise(&set);
        // CKM_SM3_SM2 without an ID: SM2 over SM3(M), as ChainMaker's SANSEC test verifies it.
        let msg = b"no Z here";
        let sig = s.sign(&vendor_mech(0x8000_8100), private, msg).unwrap();
        let q = point(&s, public);
        assert_eq!(gmssl("verify_plain", &[&q, &hex(&sig), &hex(msg)]), "True");
        assert_eq!(gmssl("verify_z", &[&q, &hex(&sig), &hex(msg)]), "False");
        // The _DER variants.
        let der = s.sign(&vendor_mech(0x8000_8103), private, msg).unwrap();
        assert_eq!(der[0], 0x30);
        assert!(openssl_verify(&dir, msg, &der, DEFAULT_ID));
        let e = z_digest(&s, set.sm3, &q, DEFAULT_ID.as_bytes(), msg);
        let der = s.sign(&vendor_mech(0x8000_8104), private, &e).unwrap();
        assert!(openssl_verify(&dir, msg, &der, DEFAULT_ID));
    });
}

#[test]
fn tass_set() {
    // No `signature` line: TASS signs in DER by default.
    isolated("sm2::tass_set", "vendor = tass", || {
        exercise(&Set {
            test: "tass",
            vendor: "tass",
            sm3_sm2_z: 0x8000_8100,
            z_der: true,
            raw: (0x8000_8000, true),
            sm3: 0x8000_0005,
            mechanisms: &[
                0x8000_8001,
                0x8000_8000,
                0x8000_8100,
                0x8000_8200,
                0x8000_0005,
            ],
        });
    });
}

#[test]
fn tass_set_raw_signatures() {
    isolated(
        "sm2::tass_set_raw_signatures",
        "vendor = tass\nsignature = raw",
        || {
            exercise(&Set {
                test: "tass-raw",
                vendor: "tass",
                sm3_sm2_z: 0x8000_8100,
                z_der: false,
                raw: (0x8000_8000, false),
                sm3: 0x8000_0005,
                mechanisms: &[
                    0x8000_8001,
                    0x8000_8000,
                    0x8000_8100,
                    0x8000_8200,
                    0x8000_0005,
                ],
            });
        },
    );
}

/// Everything both sets do; returns the session, the key pair (private,
/// public) and the directory holding `pub.der`.
fn exercise(set: &Set) -> (Session, ObjectHandle, ObjectHandle, std::path::PathBuf) {
    let ctx = open();
    let slot = new_token(&ctx, set.test);
    let model = ctx.get_token_info(slot).unwrap().model().to_string();
    assert!(model.contains(set.vendor), "{model}");
    let mut listed = raw_mechanism_list(slot);
    let mut expected: Vec<u64> = set
        .mechanisms
        .iter()
        .chain(STANDARD.iter())
        .copied()
        .collect();
    listed.sort_unstable();
    expected.sort_unstable();
    assert_eq!(listed, expected, "exactly the implemented mechanisms");
    let info = ctx
        .get_mechanism_info(
            slot,
            MechanismType::new_vendor_defined(set.sm3_sm2_z as _).unwrap(),
        )
        .unwrap();
    assert!(info.sign() && info.verify() && info.min_key_size() == 256);

    let s = user_session(&ctx, slot);
    let (public, private) = s
        .generate_key_pair(
            &vendor_mech(KEY_PAIR_GEN),
            &[
                Attribute::Token(true),
                Attribute::Verify(true),
                Attribute::Encrypt(true),
                Attribute::Id(vec![1]),
                Attribute::Label(b"sm2 key".to_vec()),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Id(vec![1]),
                Attribute::Label(b"sm2 key".to_vec()),
            ],
        )
        .unwrap();
    check_key_pair(&s, private, public);

    let dir = work_dir();
    let q = point(&s, public);
    let mut spki = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    ];
    spki.extend_from_slice(&SM2_OID);
    spki.extend_from_slice(&[0x03, 0x42, 0x00, 0x04]);
    spki.extend_from_slice(&unhex(&q));
    write(&dir.join("pub.der"), &spki);

    // SM3withSM2, Z over the default ID, single- and multi-part.
    let msg = b"certificate to be signed by the kiosk CA";
    let mech = vendor_mech(set.sm3_sm2_z);
    let sig = s.sign(&mech, private, msg).unwrap();
    let (raw, der) = both_forms(&sig, set.z_der);
    assert!(
        openssl_verify(&dir, msg, &der, DEFAULT_ID),
        "OpenSSL verifies"
    );
    assert_eq!(
        gmssl("verify_z", &[&q, &hex(&raw), &hex(msg)]),
        "True",
        "gmssl verifies"
    );
    s.verify(&mech, public, msg, &sig).unwrap();
    // Tampering is caught by all three.
    let tampered_msg = b"certificate to be signed by the kiosk CA!";
    let mut bad_raw = raw.clone();
    bad_raw[10] ^= 1;
    let bad_sig = if set.z_der {
        to_der(&bad_raw)
    } else {
        bad_raw.clone()
    };
    assert!(!openssl_verify(&dir, tampered_msg, &der, DEFAULT_ID));
    assert!(!openssl_verify(&dir, msg, &to_der(&bad_raw), DEFAULT_ID));
    assert_eq!(
        gmssl("verify_z", &[&q, &hex(&raw), &hex(tampered_msg)]),
        "False"
    );
    assert_eq!(gmssl("verify_z", &[&q, &hex(&bad_raw), &hex(msg)]), "False");
    assert_eq!(
        rv(s.verify(&mech, public, tampered_msg, &sig)),
        RvError::SignatureInvalid
    );
    assert_eq!(
        rv(s.verify(&mech, public, msg, &bad_sig)),
        RvError::SignatureInvalid
    );

    s.sign_init(&mech, private).unwrap();
    s.sign_update(&msg[..10]).unwrap();
    s.sign_update(&msg[10..]).unwrap();
    let sig = s.sign_final().unwrap();
    assert!(openssl_verify(
        &dir,
        msg,
        &both_forms(&sig, set.z_der).1,
        DEFAULT_ID
    ));
    s.verify_init(&mech, public).unwrap();
    s.verify_update(&msg[..3]).unwrap();
    s.verify_update(&msg[3..]).unwrap();
    s.verify_final(&sig).unwrap();

    // Another signer ID, as the mechanism parameter (CKM_SM3_SM2 of both sets).
    let with_id = vendor_mech_with(0x8000_8100, b"ALICE123");
    let sig = s.sign(&with_id, private, msg).unwrap();
    let der = both_forms(&sig, set.z_der).1;
    assert!(openssl_verify(&dir, msg, &der, "ALICE123"));
    assert!(!openssl_verify(&dir, msg, &der, DEFAULT_ID));

    // Raw SM2 over e = SM3(Z || M), e computed with the token's SM3.
    let e = z_digest(&s, set.sm3, &q, DEFAULT_ID.as_bytes(), msg);
    let sig = s.sign(&vendor_mech(set.raw.0), private, &e).unwrap();
    assert_eq!(sig.len() == 64, !set.raw.1);
    assert!(openssl_verify(
        &dir,
        msg,
        &both_forms(&sig, set.raw.1).1,
        DEFAULT_ID
    ));
    assert_eq!(
        rv(s.sign(&vendor_mech(set.raw.0), private, &e[1..])),
        RvError::DataLenRange
    );

    // SM3 equals OpenSSL's.
    write(&dir.join("msg"), msg);
    let out = run(
        "openssl",
        &["dgst", "-sm3", "-binary", dir.join("msg").to_str().unwrap()],
    );
    assert!(out.status.success());
    assert_eq!(s.digest(&vendor_mech(set.sm3), msg).unwrap(), out.stdout);
    s.digest_init(&vendor_mech(set.sm3)).unwrap();
    s.digest_update(&msg[..5]).unwrap();
    s.digest_update(&msg[5..]).unwrap();
    assert_eq!(s.digest_final().unwrap(), out.stdout);

    encryption(&s, private, public);
    standard_ec_keys(&s, set, &dir);
    (s, private, public, dir)
}

fn check_key_pair(s: &Session, private: ObjectHandle, public: ObjectHandle) {
    let vendor_type = KeyType::new_vendor_defined(CKK_SM2 as _).unwrap();
    let got = s
        .get_attributes(
            private,
            &[
                AttributeType::KeyType,
                AttributeType::Sign,
                AttributeType::Decrypt,
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
                AttributeType::Local,
                AttributeType::Id,
                AttributeType::Label,
                AttributeType::EcParams,
            ],
        )
        .unwrap();
    assert_eq!(
        got,
        vec![
            Attribute::KeyType(vendor_type),
            Attribute::Sign(true),
            Attribute::Decrypt(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::AlwaysSensitive(true),
            Attribute::NeverExtractable(true),
            Attribute::Local(true),
            Attribute::Id(vec![1]),
            Attribute::Label(b"sm2 key".to_vec()),
            Attribute::EcParams(SM2_OID.to_vec()),
        ]
    );
    // The private value never leaves the token.
    assert!(s
        .get_attributes(private, &[AttributeType::Value])
        .unwrap()
        .is_empty());
    let (rv, len) = raw_attribute_len(s, private, cryptoki_sys::CKA_VALUE);
    assert_eq!(
        (rv, len),
        (
            cryptoki_sys::CKR_ATTRIBUTE_SENSITIVE,
            cryptoki_sys::CK_UNAVAILABLE_INFORMATION
        )
    );

    let got = s
        .get_attributes(
            public,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::Id,
            ],
        )
        .unwrap();
    assert_eq!(
        got,
        vec![
            Attribute::KeyType(vendor_type),
            Attribute::EcParams(SM2_OID.to_vec()),
            Attribute::Id(vec![1]),
        ]
    );
    let found = s
        .find_objects(&[
            Attribute::KeyType(vendor_type),
            Attribute::Class(ObjectClass::PRIVATE_KEY),
        ])
        .unwrap();
    assert_eq!(found, vec![private]);
}

/// The public point x || y in hex, from `CKA_EC_POINT` (DER OCTET STRING).
fn point(s: &Session, public: ObjectHandle) -> String {
    match s
        .get_attributes(public, &[AttributeType::EcPoint])
        .unwrap()
        .as_slice()
    {
        [Attribute::EcPoint(p)] => {
            assert_eq!((p.len(), &p[..3]), (67, &[0x04, 0x41, 0x04][..]));
            hex(&p[3..])
        }
        other => panic!("no EC point: {other:?}"),
    }
}

/// e = SM3(Z || M) with Z = SM3(ENTL || ID || a || b || xG || yG || x || y),
/// hashed by the token.
fn z_digest(s: &Session, sm3: u64, q: &str, id: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut z_input = ((id.len() * 8) as u16).to_be_bytes().to_vec();
    z_input.extend_from_slice(id);
    for c in [
        "fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffc",
        "28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93",
        "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7",
        "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0",
        q,
    ] {
        z_input.extend(unhex(c));
    }
    let mut e_input = s.digest(&vendor_mech(sm3), &z_input).unwrap();
    e_input.extend_from_slice(msg);
    s.digest(&vendor_mech(sm3), &e_input).unwrap()
}

fn encryption(s: &Session, private: ObjectHandle, public: ObjectHandle) {
    let mech = vendor_mech(SM2_ENCRYPT);
    let msg = b"the station's wrapped secret";
    let ct = s.encrypt(&mech, public, msg).unwrap();
    assert_eq!(ct.len(), 65 + 32 + msg.len(), "C1 || C3 || C2");
    assert_eq!(s.decrypt(&mech, private, &ct).unwrap(), msg);

    // A key known outside (imported) so that gmssl can decrypt.
    let mut d = s.generate_random_vec(32).unwrap();
    d[0] = (d[0] & 0x7f) | 0x01;
    let q = gmssl("public_of", &[&hex(&d)]);
    let mut point = vec![0x04, 0x41, 0x04];
    point.extend(unhex(&q));
    let vendor_type = KeyType::new_vendor_defined(CKK_SM2 as _).unwrap();
    let imported_private = s
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(vendor_type),
            Attribute::Token(false),
            Attribute::Value(d.clone()),
        ])
        .unwrap();
    let imported_public = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(vendor_type),
            Attribute::Token(false),
            Attribute::EcPoint(point),
        ])
        .unwrap();
    // Token encrypts, gmssl decrypts (gmssl's C1 has no 04 prefix).
    let ct = s.encrypt(&mech, imported_public, msg).unwrap();
    assert_eq!(gmssl("decrypt", &[&hex(&d), &hex(&ct[1..])]), hex(msg));
    // gmssl encrypts, the token decrypts.
    let mut ct = vec![0x04];
    ct.extend(unhex(&gmssl("encrypt", &[&q, &hex(msg)])));
    assert_eq!(s.decrypt(&mech, imported_private, &ct).unwrap(), msg);
    ct[70] ^= 1; // C3
    assert_eq!(
        rv(s.decrypt(&mech, imported_private, &ct)),
        RvError::EncryptedDataInvalid
    );
}

/// `CKM_EC_KEY_PAIR_GEN` on the SM2 curve gives a `CKK_EC` key that signs
/// with the vendor's mechanisms.
fn standard_ec_keys(s: &Session, set: &Set, dir: &Path) {
    let (public, private) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(false),
                Attribute::EcParams(SM2_OID.to_vec()),
            ],
            &[Attribute::Token(false), Attribute::Sign(true)],
        )
        .unwrap();
    let got = s
        .get_attributes(private, &[AttributeType::KeyType])
        .unwrap();
    assert_eq!(got, vec![Attribute::KeyType(KeyType::EC)]);
    let q = point(s, public);
    let mut spki = std::fs::read(dir.join("pub.der")).unwrap();
    let n = spki.len();
    spki[n - 64..].copy_from_slice(&unhex(&q));
    let ec_dir = dir.join("ec");
    std::fs::create_dir_all(&ec_dir).unwrap();
    write(&ec_dir.join("pub.der"), &spki);
    let msg = b"signed with a CKK_EC key";
    let sig = s.sign(&vendor_mech(set.sm3_sm2_z), private, msg).unwrap();
    assert!(openssl_verify(
        &ec_dir,
        msg,
        &both_forms(&sig, set.z_der).1,
        DEFAULT_ID
    ));

    let p256 = s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[
            Attribute::Token(false),
            Attribute::EcParams(P256_OID.to_vec()),
        ],
        &[Attribute::Token(false)],
    );
    assert_eq!(rv(p256), RvError::CurveNotSupported);
}

fn gmssl(cmd: &str, args: &[&str]) -> String {
    let mut all = vec![cmd];
    all.extend_from_slice(args);
    python(GMSSL, &all)
}

/// `openssl pkeyutl -verify` of a DER signature over `msg` with `pub.der`
/// of `dir`.
fn openssl_verify(dir: &Path, msg: &[u8], der: &[u8], id: &str) -> bool {
    write(&dir.join("msg"), msg);
    write(&dir.join("sig.der"), der);
    let path = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let out = run(
        "openssl",
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            &path("pub.der"),
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            &format!("distid:{id}"),
            "-in",
            &path("msg"),
            "-sigfile",
            &path("sig.der"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && text.contains("Signature Verified Successfully")
}

/// (r || s, DER) of a signature in either form.
fn both_forms(sig: &[u8], is_der: bool) -> (Vec<u8>, Vec<u8>) {
    if is_der {
        (from_der(sig), sig.to_vec())
    } else {
        assert_eq!(sig.len(), 64);
        (sig.to_vec(), to_der(sig))
    }
}

/// DER `SEQUENCE { r INTEGER, s INTEGER }` of r || s.
fn to_der(raw: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
        let mut out = vec![0x02];
        let pad = v.first().is_none_or(|b| b & 0x80 != 0);
        out.push((v.len() + pad as usize) as u8);
        if pad {
            out.push(0);
        }
        out.extend(v);
        out
    };
    let body = [int(&raw[..32]), int(&raw[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

fn from_der(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x30, "a DER signature");
    let mut out = Vec::new();
    let mut i = 2;
    for _ in 0..2 {
        assert_eq!(der[i], 0x02);
        let len = der[i + 1] as usize;
        let v: Vec<u8> = der[i + 2..i + 2 + len]
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.extend(std::iter::repeat_n(0, 32 - v.len()));
        out.extend(v);
        i += 2 + len;
    }
    out
}
