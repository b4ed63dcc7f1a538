//! The electronic seal of GB/T 38540-2020 (安全电子签章密码技术规范),
//! `SES_Seal` version 4: the seal's picture and properties, the holder's
//! certificate, signed by the seal maker (制章者, the station CA) with
//! SM3withSM2 over the DER of `SES_SealInfo`.
//!
//! The ASN.1 follows the two public version-4 implementations, which agree
//! field for field: ofdrw (Java, `ofdrw-gm/.../ses/v4/SESeal.java`,
//! `SES_SealInfo.java`, `SES_ESPropertyInfo.java`, `SES_ESPictrueInfo.java`,
//! and `SESealTest.java`, which signs `sesSealInfo.getEncoded("DER")`) and
//! Chingliu/gm_0031_38540_verifier (C++, `38540.cpp`, `SESv4_Seal`, which
//! verifies over `i2d_SESv4_SealInfo`):
//!
//! ```text
//! SESeal ::= SEQUENCE { eSealInfo SES_SealInfo, cert OCTET STRING,
//!                       signAlgID OBJECT IDENTIFIER, signedValue BIT STRING }
//! SES_SealInfo ::= SEQUENCE { header SES_Header, esID IA5String,
//!     property SES_ESPropertyInfo, picture SES_ESPictrueInfo,
//!     extDatas ExtensionDatas OPTIONAL }
//! SES_Header ::= SEQUENCE { ID IA5String ("ES"), version INTEGER (4), Vid IA5String }
//! SES_ESPropertyInfo ::= SEQUENCE { type INTEGER, name UTF8String,
//!     certListType INTEGER, certList SES_CertList,
//!     createDate GeneralizedTime, validStart GeneralizedTime, validEnd GeneralizedTime }
//! SES_CertList ::= CHOICE { certs SEQUENCE OF OCTET STRING,      -- certListType 1
//!                           certDigestList SEQUENCE OF ... }     -- certListType 2
//! SES_ESPictrueInfo ::= SEQUENCE { type IA5String, data OCTET STRING,
//!     width INTEGER, height INTEGER }                            -- millimetres
//! ```
//!
//! The station writes certListType 1 (the holder's certificate itself) and
//! no extension data; it reads certListType 1 only.

use der::asn1::{BitString, GeneralizedTime, Ia5String, OctetString};
use der::{Decode, Encode, Sequence};
use spki::ObjectIdentifier;
use time::OffsetDateTime;

use crate::sm2pki::{Sm2Signer, SM3_WITH_SM2};
use crate::KeyError;

/// `SES_Header.ID`.
const ES: &str = "ES";
/// `SES_Header.version` of GB/T 38540.
pub const SES_VERSION: u32 = 4;
/// certListType: the certificates themselves.
const CERT_LIST: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct Header {
    id: Ia5String,
    version: u32,
    vid: Ia5String,
}

#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct PropertyInfo {
    seal_type: u32,
    name: String,
    cert_list_type: u32,
    cert_list: Vec<OctetString>,
    create_date: GeneralizedTime,
    valid_start: GeneralizedTime,
    valid_end: GeneralizedTime,
}

#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct PictureInfo {
    kind: Ia5String,
    data: OctetString,
    width: u32,
    height: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct SealInfo {
    header: Header,
    es_id: Ia5String,
    property: PropertyInfo,
    picture: PictureInfo,
}

#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct Seal {
    seal_info: SealInfo,
    cert: OctetString,
    sign_alg_id: ObjectIdentifier,
    signed_value: BitString,
}

/// What a seal says of itself (what is made, and what is read back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesSeal {
    /// `SES_Header.Vid`: who made the software (the station's id).
    pub vendor_id: String,
    /// `esID`: the seal's own identifier.
    pub seal_id: String,
    /// `type`: GB/T 38540 leaves the values to the application; the
    /// station writes 1 for a company seal (单位印章).
    pub seal_type: u32,
    /// `name`: the company's name.
    pub name: String,
    /// The holder's certificates (DER), certListType 1.
    pub holder_certificates: Vec<Vec<u8>>,
    pub created: OffsetDateTime,
    pub valid_from: OffsetDateTime,
    pub valid_to: OffsetDateTime,
    /// `SES_ESPictrueInfo`: format ("PNG"), the image, and its printed
    /// size in millimetres.
    pub picture_type: String,
    pub picture: Vec<u8>,
    pub width_mm: u32,
    pub height_mm: u32,
}

fn bad(what: impl std::fmt::Display) -> KeyError {
    KeyError::X509(format!("electronic seal: {what}"))
}

fn gtime(t: OffsetDateTime) -> Result<GeneralizedTime, KeyError> {
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| bad("a time before 1970"))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs)).map_err(bad)
}

fn from_gtime(t: &GeneralizedTime) -> OffsetDateTime {
    // A GeneralizedTime is 9999-12-31 at most: always in range.
    OffsetDateTime::UNIX_EPOCH + t.to_unix_duration()
}

fn ia5(s: &str) -> Result<Ia5String, KeyError> {
    Ia5String::new(s).map_err(|_| bad(format!("{s:?} is not IA5 (ASCII) text")))
}

/// Makes the seal and signs it with the maker's key; `maker_cert` is the
/// maker's certificate (DER), written into the seal.
pub fn make_ses_seal(
    seal: &SesSeal,
    maker: &Sm2Signer<'_>,
    maker_cert: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let octets = |b: &[u8]| OctetString::new(b).map_err(bad);
    let info = SealInfo {
        header: Header {
            id: ia5(ES)?,
            version: SES_VERSION,
            vid: ia5(&seal.vendor_id)?,
        },
        es_id: ia5(&seal.seal_id)?,
        property: PropertyInfo {
            seal_type: seal.seal_type,
            name: seal.name.clone(),
            cert_list_type: CERT_LIST,
            cert_list: seal
                .holder_certificates
                .iter()
                .map(|c| octets(c))
                .collect::<Result<_, _>>()?,
            create_date: gtime(seal.created)?,
            valid_start: gtime(seal.valid_from)?,
            valid_end: gtime(seal.valid_to)?,
        },
        picture: PictureInfo {
            kind: ia5(&seal.picture_type)?,
            data: octets(&seal.picture)?,
            width: seal.width_mm,
            height: seal.height_mm,
        },
    };
    let signature = maker.sign_der(&info.to_der().map_err(bad)?)?;
    Seal {
        seal_info: info,
        cert: octets(maker_cert)?,
        sign_alg_id: SM3_WITH_SM2,
        signed_value: BitString::from_bytes(&signature).map_err(bad)?,
    }
    .to_der()
    .map_err(bad)
}

/// A seal read and its maker's signature checked against the maker's
/// certificate in it. Whether that certificate is one to trust, and
/// whether the seal is valid now, is for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedSesSeal {
    pub seal: SesSeal,
    /// The maker's certificate (DER).
    pub maker_certificate: Vec<u8>,
}

/// What is wrong with a seal that [`read_ses_seal`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SesProblem {
    #[error("not a GB/T 38540 SES_Seal: {0}")]
    Structure(String),
    #[error("SES_Seal version {0}: this station reads version 4 (GB/T 38540)")]
    Version(u32),
    #[error("signed with {0}, not SM3withSM2")]
    Algorithm(String),
    #[error("certListType {0}: only 1 (the certificates themselves) is read")]
    CertList(u32),
    #[error("the maker's certificate cannot be read: {0}")]
    MakerCertificate(String),
    #[error("the maker's signature does not verify: the seal was changed or forged")]
    Signature,
}

/// Reads a GB/T 38540 version-4 seal and checks its structure and the
/// maker's SM3withSM2 signature.
pub fn read_ses_seal(der: &[u8]) -> Result<CheckedSesSeal, SesProblem> {
    let structure = |e: der::Error| SesProblem::Structure(e.to_string());
    let seal = Seal::from_der(der).map_err(structure)?;
    let info = &seal.seal_info;
    if info.header.id.as_str() != ES {
        return Err(SesProblem::Structure(format!(
            "header ID {:?} is not \"ES\"",
            info.header.id.as_str()
        )));
    }
    if info.header.version != SES_VERSION {
        return Err(SesProblem::Version(info.header.version));
    }
    if seal.sign_alg_id != SM3_WITH_SM2 {
        return Err(SesProblem::Algorithm(seal.sign_alg_id.to_string()));
    }
    if info.property.cert_list_type != CERT_LIST {
        return Err(SesProblem::CertList(info.property.cert_list_type));
    }
    let maker = seal.cert.as_bytes().to_vec();
    let point = x509_cert::Certificate::from_der(&maker)
        .map_err(|e| SesProblem::MakerCertificate(e.to_string()))?
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let signature = seal.signed_value.as_bytes().ok_or(SesProblem::Signature)?;
    if !crate::verify_sm2(&point, &info.to_der().map_err(structure)?, signature) {
        return Err(SesProblem::Signature);
    }
    Ok(CheckedSesSeal {
        seal: SesSeal {
            vendor_id: info.header.vid.to_string(),
            seal_id: info.es_id.to_string(),
            seal_type: info.property.seal_type,
            name: info.property.name.clone(),
            holder_certificates: info
                .property
                .cert_list
                .iter()
                .map(|c| c.as_bytes().to_vec())
                .collect(),
            created: from_gtime(&info.property.create_date),
            valid_from: from_gtime(&info.property.valid_start),
            valid_to: from_gtime(&info.property.valid_end),
            picture_type: info.picture.kind.to_string(),
            picture: info.picture.data.as_bytes().to_vec(),
            width_mm: info.picture.width,
            height_mm: info.picture.height,
        },
        maker_certificate: maker,
    })
}
