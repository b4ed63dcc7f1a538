//! X.509 in SM2 (GM/T 0015): certificates, requests and CRLs signed with
//! SM3withSM2 by a key on a token, built with `x509-cert` (rcgen's
//! algorithms are a closed list without SM2). They carry what the P-256
//! ones of [`crate::pki`] carry, from the same [`SubjectSpec`] and
//! [`Extensions`]; signatures are DER, never the raw r || s.

use std::time::{Duration, SystemTime};

use der::asn1::{BitString, Ia5String, OctetString};
use der::{Decode, Encode};
use sha2::Digest;
use signature::Keypair;
use spki::{
    AlgorithmIdentifier, ObjectIdentifier, SignatureBitStringEncoding, SubjectPublicKeyInfoOwned,
};
use time::OffsetDateTime;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{Certificate, TbsCertificate};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CrlDistributionPoints, CrlNumber, CrlReason, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoRef;
use x509_cert::time::{Time, Validity};

use crate::pki::{Extensions, Revoked, SubjectSpec};
use crate::{ExtendedKeyUsagePurpose, KeyError, KeyUsagePurpose, Sm2Mechanisms, TokenSession};

/// SM3withSM2 (GM/T 0006): 1.2.156.10197.1.501.
pub const SM3_WITH_SM2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.501");

fn x509(e: impl std::fmt::Display) -> KeyError {
    KeyError::X509(e.to_string())
}

/// An SM2 key on a token, signing SM3withSM2 for the builders.
pub struct Sm2Signer<'a> {
    session: &'a TokenSession,
    set: &'a Sm2Mechanisms,
    key: cryptoki::object::ObjectHandle,
    point: [u8; 65],
    verifying: sm2::dsa::VerifyingKey,
}

impl<'a> Sm2Signer<'a> {
    /// The signer for the SM2 key pair with this CKA_ID.
    pub fn new(
        session: &'a TokenSession,
        set: &'a Sm2Mechanisms,
        id: &[u8],
    ) -> Result<Self, KeyError> {
        let (key, point) = session.sm2_key(set, id)?;
        let verifying = sm2::dsa::VerifyingKey::from_sec1_bytes(crate::SM2_DEFAULT_DISTID, &point)
            .map_err(|_| KeyError::X509("the SM2 public point is not on the curve".into()))?;
        Ok(Sm2Signer {
            session,
            set,
            key,
            point,
            verifying,
        })
    }

    /// The uncompressed public point.
    pub fn point(&self) -> &[u8; 65] {
        &self.point
    }

    /// SM3withSM2 of `msg`, DER.
    pub fn sign_der(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.session.sign_sm2(self.set, self.key, &self.point, msg)
    }

    fn spki(&self) -> Result<SubjectPublicKeyInfoOwned, KeyError> {
        SubjectPublicKeyInfoOwned::from_key(&self.verifying).map_err(x509)
    }
}

/// A DER SM2 signature, as a certificate's signature BIT STRING holds it.
pub struct DerSignature(Vec<u8>);

impl SignatureBitStringEncoding for DerSignature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

impl signature::Signer<DerSignature> for Sm2Signer<'_> {
    fn try_sign(&self, msg: &[u8]) -> Result<DerSignature, signature::Error> {
        self.sign_der(msg)
            .map(DerSignature)
            .map_err(signature::Error::from_source)
    }
}

impl Keypair for Sm2Signer<'_> {
    type VerifyingKey = sm2::dsa::VerifyingKey;
    fn verifying_key(&self) -> Self::VerifyingKey {
        self.verifying.clone()
    }
}

impl spki::SignatureAlgorithmIdentifier for Sm2Signer<'_> {
    type Params = der::AnyRef<'static>;
    const SIGNATURE_ALGORITHM_IDENTIFIER: AlgorithmIdentifier<Self::Params> = AlgorithmIdentifier {
        oid: SM3_WITH_SM2,
        parameters: None,
    };
}

/// The subject as X.520 has it: countryName and serialNumber
/// PrintableString, the names UTF8String; C, O, OU, the extras, CN.
fn name(spec: &SubjectSpec) -> Result<Name, KeyError> {
    let mut attributes: Vec<(Vec<u64>, String, bool)> = vec![(vec![2, 5, 4, 6], "CN".into(), true)];
    if let Some(o) = &spec.organization {
        attributes.push((vec![2, 5, 4, 10], o.clone(), false));
    }
    if let Some(ou) = &spec.organizational_unit {
        attributes.push((vec![2, 5, 4, 11], ou.clone(), false));
    }
    for (oid, value) in &spec.extra {
        attributes.push((
            oid.clone(),
            value.clone(),
            oid.as_slice() == crate::SERIAL_NUMBER,
        ));
    }
    attributes.push((vec![2, 5, 4, 3], spec.common_name.clone(), false));
    for (oid, value, printable) in &attributes {
        if *printable
            && !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
        {
            return Err(KeyError::X509(format!(
                "{value:?} is not a PrintableString (OID {oid:?})"
            )));
        }
    }
    let der = yasna::construct_der(|w| {
        w.write_sequence_of(|w| {
            for (oid, value, printable) in &attributes {
                w.next().write_set(|w| {
                    w.next().write_sequence(|w| {
                        w.next()
                            .write_oid(&yasna::models::ObjectIdentifier::from_slice(oid));
                        if *printable {
                            w.next().write_printable_string(value);
                        } else {
                            w.next().write_utf8_string(value);
                        }
                    });
                });
            }
        });
    });
    Name::from_der(&der).map_err(x509)
}

fn time(t: OffsetDateTime) -> Result<Time, KeyError> {
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| x509("a time before 1970"))?;
    Time::try_from(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).map_err(x509)
}

/// RFC 7093 method 1, as for P-256: the leftmost 160 bits of the SHA-256
/// of the subjectPublicKey bits.
fn key_id(spk: &SubjectPublicKeyInfoRef<'_>) -> OctetString {
    let bits = spk.subject_public_key.raw_bytes();
    OctetString::new(&sha2::Sha256::digest(bits)[..20]).expect("20 bytes")
}

fn subject_key_id(cert: &Certificate) -> Result<Option<OctetString>, KeyError> {
    Ok(cert
        .tbs_certificate()
        .get_extension::<SubjectKeyIdentifier>()
        .map_err(x509)?
        .map(|(_, ski)| ski.0))
}

/// What the builder writes besides subject and key: exactly our list.
struct Profile {
    issuer: Option<Name>,
    subject: Name,
    /// The issuer's key identifier (None: self-signed, no AKI).
    authority_key_id: Option<OctetString>,
    ca_path_len: Option<u8>,
    ext: Option<Extensions>,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let mut out: Vec<Extension> = Vec::new();
        let mut push = |e: Extension| out.push(e);
        let (ca, usages) = match (self.ca_path_len, &self.ext) {
            (Some(_), _) => (
                true,
                KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature,
            ),
            (None, Some(ext)) => (false, key_usages(&ext.key_usages)),
            (None, None) => (false, KeyUsages::DigitalSignature.into()),
        };
        push(
            (
                true,
                &BasicConstraints {
                    ca,
                    path_len_constraint: self.ca_path_len,
                },
            )
                .to_extension(subject, &[])?,
        );
        push((true, &KeyUsage(usages)).to_extension(subject, &[])?);
        push(SubjectKeyIdentifier(key_id(&spk)).to_extension(subject, &[])?);
        if let Some(aki) = &self.authority_key_id {
            push(
                AuthorityKeyIdentifier {
                    key_identifier: Some(aki.clone()),
                    ..Default::default()
                }
                .to_extension(subject, &[])?,
            );
        }
        if let Some(ext) = &self.ext {
            if !ext.extended_key_usages.is_empty() {
                let oids = ext
                    .extended_key_usages
                    .iter()
                    .map(eku_oid)
                    .collect::<Result<Vec<_>, _>>()?;
                push((false, &ExtendedKeyUsage(oids)).to_extension(subject, &[])?);
            }
            if let Some(url) = &ext.crl_url {
                let dp = DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(vec![uri(url)?])),
                    reasons: None,
                    crl_issuer: None,
                };
                push((false, &CrlDistributionPoints(vec![dp])).to_extension(subject, &[])?);
            }
            if let Some(url) = &ext.ca_issuers_url {
                let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
                    access_method: ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2"),
                    access_location: uri(url)?,
                }]);
                push((false, &aia).to_extension(subject, &[])?);
            }
        }
        Ok(out)
    }
}

fn uri(url: &str) -> der::Result<GeneralName> {
    Ok(GeneralName::UniformResourceIdentifier(Ia5String::new(url)?))
}

fn key_usages(purposes: &[KeyUsagePurpose]) -> der::flagset::FlagSet<KeyUsages> {
    let mut set = der::flagset::FlagSet::<KeyUsages>::default();
    for p in purposes {
        set |= match p {
            KeyUsagePurpose::DigitalSignature => KeyUsages::DigitalSignature,
            KeyUsagePurpose::ContentCommitment => KeyUsages::NonRepudiation,
            KeyUsagePurpose::KeyEncipherment => KeyUsages::KeyEncipherment,
            KeyUsagePurpose::DataEncipherment => KeyUsages::DataEncipherment,
            KeyUsagePurpose::KeyAgreement => KeyUsages::KeyAgreement,
            KeyUsagePurpose::KeyCertSign => KeyUsages::KeyCertSign,
            KeyUsagePurpose::CrlSign => KeyUsages::CRLSign,
            KeyUsagePurpose::EncipherOnly => KeyUsages::EncipherOnly,
            KeyUsagePurpose::DecipherOnly => KeyUsages::DecipherOnly,
        };
    }
    set
}

fn eku_oid(p: &ExtendedKeyUsagePurpose) -> der::Result<ObjectIdentifier> {
    let dotted = match p {
        ExtendedKeyUsagePurpose::Any => "2.5.29.37.0".to_string(),
        ExtendedKeyUsagePurpose::ServerAuth => "1.3.6.1.5.5.7.3.1".into(),
        ExtendedKeyUsagePurpose::ClientAuth => "1.3.6.1.5.5.7.3.2".into(),
        ExtendedKeyUsagePurpose::CodeSigning => "1.3.6.1.5.5.7.3.3".into(),
        ExtendedKeyUsagePurpose::EmailProtection => "1.3.6.1.5.5.7.3.4".into(),
        ExtendedKeyUsagePurpose::TimeStamping => "1.3.6.1.5.5.7.3.8".into(),
        ExtendedKeyUsagePurpose::OcspSigning => "1.3.6.1.5.5.7.3.9".into(),
        ExtendedKeyUsagePurpose::Other(arcs) => arcs
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    };
    ObjectIdentifier::new(&dotted).map_err(|_| der::ErrorKind::OidMalformed.into())
}

fn build(
    profile: Profile,
    serial: &[u8],
    from: OffsetDateTime,
    to: OffsetDateTime,
    spki: SubjectPublicKeyInfoOwned,
    signer: &Sm2Signer<'_>,
) -> Result<Vec<u8>, KeyError> {
    let serial = SerialNumber::new(serial).map_err(x509)?;
    let validity = Validity::new(time(from)?, time(to)?);
    let builder = CertificateBuilder::new(profile, serial, validity, spki).map_err(x509)?;
    let cert = builder.build::<_, DerSignature>(signer).map_err(x509)?;
    cert.to_der().map_err(x509)
}

/// A self-signed SM2 root (the demo root; production roots live at the
/// central CA).
pub fn sm2_self_signed_ca(
    signer: &Sm2Signer<'_>,
    subject: &SubjectSpec,
    from: OffsetDateTime,
    to: OffsetDateTime,
    serial: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let profile = Profile {
        issuer: None,
        subject: name(subject)?,
        authority_key_id: None,
        ca_path_len: Some(1),
        ext: None,
    };
    build(profile, serial, from, to, signer.spki()?, signer)
}

/// An SM2 sub-CA certificate for the key `subject_point`, signed by the
/// issuer's key.
pub fn sm2_sub_ca(
    subject_point: &[u8; 65],
    subject: &SubjectSpec,
    issuer_cert: &[u8],
    issuer: &Sm2Signer<'_>,
    from: OffsetDateTime,
    to: OffsetDateTime,
    serial: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let issuer_cert = Certificate::from_der(issuer_cert).map_err(x509)?;
    let profile = Profile {
        issuer: Some(issuer_cert.tbs_certificate().subject().clone()),
        subject: name(subject)?,
        authority_key_id: subject_key_id(&issuer_cert)?,
        ca_path_len: Some(0),
        ext: None,
    };
    build(
        profile,
        serial,
        from,
        to,
        point_spki(subject_point)?,
        issuer,
    )
}

fn point_spki(point: &[u8; 65]) -> Result<SubjectPublicKeyInfoOwned, KeyError> {
    let key = sm2::PublicKey::from_sec1_bytes(point)
        .map_err(|_| x509("the SM2 point is not on the curve"))?;
    SubjectPublicKeyInfoOwned::from_key(&key).map_err(x509)
}

/// A PKCS#10 request signed with SM3withSM2 by the key itself (proof of
/// possession).
pub fn sm2_csr(signer: &Sm2Signer<'_>, subject: &SubjectSpec) -> Result<Vec<u8>, KeyError> {
    let info = CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: name(subject)?,
        public_key: signer.spki()?,
        attributes: Default::default(),
    };
    let signature = signer.sign_der(&info.to_der().map_err(x509)?)?;
    CertReq {
        info,
        algorithm: AlgorithmIdentifier {
            oid: SM3_WITH_SM2,
            parameters: None,
        },
        signature: BitString::from_bytes(&signature).map_err(x509)?,
    }
    .to_der()
    .map_err(x509)
}

/// The SM2 point of a request whose SM3withSM2 signature verifies.
pub fn sm2_csr_point(csr_der: &[u8]) -> Result<[u8; 65], KeyError> {
    let req =
        CertReq::from_der(csr_der).map_err(|e| x509(format!("proof of possession failed: {e}")))?;
    if req.algorithm.oid != SM3_WITH_SM2 {
        return Err(x509(
            "proof of possession failed: the request is not signed with SM3withSM2",
        ));
    }
    let point: [u8; 65] = req
        .info
        .public_key
        .subject_public_key
        .raw_bytes()
        .try_into()
        .map_err(|_| x509("proof of possession failed: not an SM2 public key"))?;
    let info = req.info.to_der().map_err(x509)?;
    if !crate::verify_sm2(&point, &info, req.signature.raw_bytes()) {
        return Err(x509(
            "proof of possession failed: the request's SM2 signature does not verify",
        ));
    }
    Ok(point)
}

/// Issues an SM2 end-entity certificate for a request. The request's
/// signature must verify and its key must be `expected_point` (the key the
/// station generated), so nobody else's key gets certified.
#[allow(clippy::too_many_arguments)]
pub fn sm2_issue(
    csr_der: &[u8],
    expected_point: &[u8; 65],
    subject: &SubjectSpec,
    issuer_cert: &[u8],
    issuer: &Sm2Signer<'_>,
    from: OffsetDateTime,
    to: OffsetDateTime,
    serial: &[u8],
    ext: &Extensions,
) -> Result<Vec<u8>, KeyError> {
    if &sm2_csr_point(csr_der)? != expected_point {
        return Err(x509(
            "the request is not for the key generated on this token",
        ));
    }
    let issuer_cert = Certificate::from_der(issuer_cert).map_err(x509)?;
    let profile = Profile {
        issuer: Some(issuer_cert.tbs_certificate().subject().clone()),
        subject: name(subject)?,
        authority_key_id: subject_key_id(&issuer_cert)?,
        ca_path_len: None,
        ext: Some(ext.clone()),
    };
    build(
        profile,
        serial,
        from,
        to,
        point_spki(expected_point)?,
        issuer,
    )
}

/// An SM2 CRL of `revoked`, signed by the issuer; its authority key
/// identifier is the issuer certificate's own subject key identifier.
pub fn sm2_revocation_list(
    issuer_cert: &[u8],
    issuer: &Sm2Signer<'_>,
    revoked: &[Revoked],
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>, KeyError> {
    let cert = Certificate::from_der(issuer_cert).map_err(x509)?;
    let issuer_name = cert.tbs_certificate().subject().clone();
    let number = CrlNumber(der::asn1::Uint::new(&number.to_be_bytes()).map_err(x509)?);
    let mut crl_extensions = vec![number.to_extension(&issuer_name, &[]).map_err(x509)?];
    if let Some(ski) = subject_key_id(&cert)? {
        crl_extensions.push(
            AuthorityKeyIdentifier {
                key_identifier: Some(ski),
                ..Default::default()
            }
            .to_extension(&issuer_name, &[])
            .map_err(x509)?,
        );
    }
    let entries = revoked
        .iter()
        .map(|r| -> Result<RevokedCert, KeyError> {
            // RFC 5280 5.3.1: unspecified is written as no reason code.
            let reason = match r.reason {
                1 => Some(CrlReason::KeyCompromise),
                2 => Some(CrlReason::CaCompromise),
                3 => Some(CrlReason::AffiliationChanged),
                4 => Some(CrlReason::Superseded),
                5 => Some(CrlReason::CessationOfOperation),
                6 => Some(CrlReason::CertificateHold),
                9 => Some(CrlReason::PrivilegeWithdrawn),
                10 => Some(CrlReason::AaCompromise),
                _ => None,
            };
            Ok(RevokedCert {
                serial_number: SerialNumber::new(&r.serial).map_err(x509)?,
                revocation_date: time(r.at)?,
                crl_entry_extensions: reason
                    .map(|c| c.to_extension(&issuer_name, &[]).map(|e| vec![e]))
                    .transpose()
                    .map_err(x509)?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: AlgorithmIdentifier {
            oid: SM3_WITH_SM2,
            parameters: None,
        },
        issuer: issuer_name,
        this_update: time(this_update)?,
        next_update: Some(time(next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(crl_extensions),
    };
    let signature = issuer.sign_der(&tbs.to_der().map_err(x509)?)?;
    CertificateList {
        signature_algorithm: tbs.signature.clone(),
        tbs_cert_list: tbs,
        signature: BitString::from_bytes(&signature).map_err(x509)?,
    }
    .to_der()
    .map_err(x509)
}

/// Whether `cert` (DER) was signed with SM3withSM2 by the key of `issuer`
/// (DER) and names it as its issuer.
pub fn sm2_signed_by(cert: &[u8], issuer: &[u8]) -> bool {
    let (Ok(cert), Ok(issuer)) = (Certificate::from_der(cert), Certificate::from_der(issuer))
    else {
        return false;
    };
    let Ok(tbs) = cert.tbs_certificate().to_der() else {
        return false;
    };
    let Some(signature) = cert.signature().as_bytes() else {
        return false;
    };
    cert.signature_algorithm().oid == SM3_WITH_SM2
        && cert.tbs_certificate().issuer() == issuer.tbs_certificate().subject()
        && crate::verify_sm2(
            issuer
                .tbs_certificate()
                .subject_public_key_info()
                .subject_public_key
                .raw_bytes(),
            &tbs,
            signature,
        )
}
