//! X.509: the station's CA certificates, PKCS#10 requests made on a key,
//! end-entity certificates and CRLs, all signed inside tokens.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams,
    CertificateSigningRequestParams, CrlDistributionPoint, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber, SigningKey,
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use crate::KeyError;

/// Who a certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectSpec {
    pub common_name: String,
    pub organization: Option<String>,
    pub organizational_unit: Option<String>,
    /// Extra attributes as (OID arcs, value), e.g. the USCC in serialNumber.
    pub extra: Vec<(Vec<u64>, String)>,
}

impl SubjectSpec {
    /// X.520 string types: countryName and serialNumber are
    /// PrintableString, the names UTF8String.
    fn dn(&self) -> Result<DistinguishedName, KeyError> {
        let printable = |what: &str, v: &str| -> Result<DnValue, KeyError> {
            Ok(DnValue::PrintableString(v.try_into().map_err(|_| {
                KeyError::X509(format!("the {what} {v:?} is not a PrintableString"))
            })?))
        };
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, printable("countryName", "CN")?);
        if let Some(o) = &self.organization {
            dn.push(DnType::OrganizationName, o.as_str());
        }
        if let Some(ou) = &self.organizational_unit {
            dn.push(DnType::OrganizationalUnitName, ou.as_str());
        }
        for (oid, value) in &self.extra {
            let value = if oid.as_slice() == SERIAL_NUMBER {
                printable("serialNumber", value)?
            } else {
                DnValue::Utf8String(value.clone())
            };
            dn.push(DnType::CustomDnType(oid.clone()), value);
        }
        dn.push(DnType::CommonName, self.common_name.as_str());
        Ok(dn)
    }
}

/// id-at-serialNumber (2.5.4.5): a PrintableString in X.520.
pub const SERIAL_NUMBER: [u64; 4] = [2, 5, 4, 5];

/// A revoked serial for the CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    pub serial: Vec<u8>,
    pub at: OffsetDateTime,
    /// RFC 5280 CRLReason code (0-6, 9, 10); 0 and unknown codes are
    /// written as no reason code (unspecified).
    pub reason: u8,
}

/// What the key shows (读取证书): serial, subject, validity, issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub serial: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The public key as in SubjectPublicKeyInfo (point or RSAPublicKey DER).
    pub public_point: Vec<u8>,
    pub key_kind: crate::KeyKind,
    /// The subject's attributes as (dotted OID, value), in order.
    pub subject_attributes: Vec<(String, String)>,
    /// keyIdentifier of the authority key identifier extension.
    pub authority_key_id: Option<Vec<u8>>,
    /// The subject key identifier extension.
    pub subject_key_id: Option<Vec<u8>>,
    /// basicConstraints cA and key usage, when the certificate is a CA's.
    pub ca: Option<CaFacts>,
}

/// What a CA certificate may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaFacts {
    pub path_len: Option<u32>,
    pub key_cert_sign: bool,
    pub crl_sign: bool,
}

impl CertInfo {
    /// The first value of a subject attribute, by dotted OID.
    pub fn subject_attribute(&self, oid: &str) -> Option<&str> {
        self.subject_attributes
            .iter()
            .find(|(o, _)| o == oid)
            .map(|(_, v)| v.as_str())
    }
}

/// RFC 7093 method 1: the leftmost 160 bits of the SHA-256 of the
/// subjectPublicKey bits, the key identifier linters recognise.
fn key_id(public_key_bits: &[u8]) -> KeyIdMethod {
    use sha2::Digest;
    KeyIdMethod::PreSpecified(sha2::Sha256::digest(public_key_bits)[..20].to_vec())
}

fn ca_params(
    subject_key: &impl rcgen::PublicKeyData,
    subject: &SubjectSpec,
    from: OffsetDateTime,
    to: OffsetDateTime,
    serial: &[u8],
    path_len: u8,
) -> Result<CertificateParams, KeyError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = subject.dn()?;
    p.not_before = from;
    p.not_after = to;
    p.serial_number = Some(SerialNumber::from_slice(serial));
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.key_identifier_method = key_id(subject_key.der_bytes());
    Ok(p)
}

/// A self-signed root (the demo root; production roots live at the central CA).
pub fn self_signed_ca(
    key: &impl SigningKey,
    subject: &SubjectSpec,
    from: OffsetDateTime,
    to: OffsetDateTime,
    serial: &[u8],
) -> Result<Vec<u8>, KeyError> {
    Ok(ca_params(key, subject, from, to, serial, 1)?
        .self_signed(key)?
        .der()
        .to_vec())
}

/// A station sub-CA certificate for `subject_key`, signed by the root.
pub fn sub_ca(
    subject_key: &impl rcgen::PublicKeyData,
    subject: &SubjectSpec,
    issuer_cert: &[u8],
    issuer_key: &impl SigningKey,
    from: OffsetDateTime,
    to: OffsetDateTime,
    serial: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let issuer = Issuer::from_ca_cert_der(&issuer_cert.into(), issuer_key)?;
    let mut p = ca_params(subject_key, subject, from, to, serial, 0)?;
    p.use_authority_key_identifier_extension = true;
    Ok(p.signed_by(subject_key, &issuer)?.der().to_vec())
}

/// A PKCS#10 request signed by the key itself (proof of possession).
pub fn csr(key: &impl SigningKey, subject: &SubjectSpec) -> Result<Vec<u8>, KeyError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = subject.dn()?;
    Ok(p.serialize_request(key)?.der().to_vec())
}

/// What an end-entity certificate carries besides its subject and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extensions {
    pub key_usages: Vec<KeyUsagePurpose>,
    pub extended_key_usages: Vec<ExtendedKeyUsagePurpose>,
    pub crl_url: Option<String>,
    /// Authority Information Access: where the issuer's certificate is.
    pub ca_issuers_url: Option<String>,
}

/// Issues an end-entity certificate for a request. The request's signature
/// must verify and its public key must be `expected_point` (the key the
/// station generated), so nobody else's key gets certified.
#[allow(clippy::too_many_arguments)]
pub fn issue(
    csr_der: &[u8],
    expected_point: &[u8],
    subject: &SubjectSpec,
    issuer_cert: &[u8],
    issuer_key: &impl SigningKey,
    from: OffsetDateTime,
    to: OffsetDateTime,
    serial: &[u8],
    ext: &Extensions,
) -> Result<Vec<u8>, KeyError> {
    let req = CertificateSigningRequestParams::from_der(&csr_der.into())
        .map_err(|e| KeyError::X509(format!("proof of possession failed: {e}")))?;
    if rcgen::PublicKeyData::der_bytes(&req.public_key) != expected_point {
        return Err(KeyError::X509(
            "the request is not for the key generated on this token".into(),
        ));
    }
    let issuer = Issuer::from_ca_cert_der(&issuer_cert.into(), issuer_key)?;
    let mut p = CertificateParams::default();
    p.distinguished_name = subject.dn()?;
    p.not_before = from;
    p.not_after = to;
    p.serial_number = Some(SerialNumber::from_slice(serial));
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = ext.key_usages.clone();
    p.extended_key_usages = ext.extended_key_usages.clone();
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = key_id(rcgen::PublicKeyData::der_bytes(&req.public_key));
    if let Some(url) = &ext.crl_url {
        p.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![url.clone()],
        }];
    }
    if let Some(url) = &ext.ca_issuers_url {
        p.custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                aia(url)?,
            ));
    }
    Ok(p.signed_by(&req.public_key, &issuer)?.der().to_vec())
}

/// A CRL of `revoked`, signed by the issuer.
pub fn revocation_list(
    issuer_cert: &[u8],
    issuer_key: &impl SigningKey,
    revoked: &[Revoked],
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>, KeyError> {
    let issuer = Issuer::from_ca_cert_der(&issuer_cert.into(), issuer_key)?;
    // The authority key identifier is the issuer certificate's own subject
    // key identifier, however its CA computed it.
    let key_identifier_method = match certificate_info(issuer_cert)?.subject_key_id {
        Some(ski) => KeyIdMethod::PreSpecified(ski),
        None => key_id(issuer_key.der_bytes()),
    };
    let params = CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|r| RevokedCertParams {
                serial_number: SerialNumber::from_slice(&r.serial),
                revocation_time: r.at,
                // RFC 5280 5.3.1: unspecified is written as no reason code.
                reason_code: match r.reason {
                    1 => Some(RevocationReason::KeyCompromise),
                    2 => Some(RevocationReason::CaCompromise),
                    3 => Some(RevocationReason::AffiliationChanged),
                    4 => Some(RevocationReason::Superseded),
                    5 => Some(RevocationReason::CessationOfOperation),
                    6 => Some(RevocationReason::CertificateHold),
                    9 => Some(RevocationReason::PrivilegeWithdrawn),
                    10 => Some(RevocationReason::AaCompromise),
                    _ => None,
                },
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method,
    };
    Ok(params.signed_by(&issuer)?.der().to_vec())
}

/// Reads a certificate the way 读取证书 shows it.
pub fn certificate_info(der: &[u8]) -> Result<CertInfo, KeyError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| KeyError::X509(format!("unreadable certificate: {e}")))?;
    let subject_attributes = kiosk_domain::certificate::attributes(cert.subject());
    let mut authority_key_id = None;
    let mut subject_key_id = None;
    let mut basic = None;
    let mut usage = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                authority_key_id = a.key_identifier.as_ref().map(|k| k.0.to_vec());
            }
            ParsedExtension::SubjectKeyIdentifier(k) => subject_key_id = Some(k.0.to_vec()),
            ParsedExtension::BasicConstraints(b) => basic = Some((b.ca, b.path_len_constraint)),
            ParsedExtension::KeyUsage(k) => usage = Some((k.key_cert_sign(), k.crl_sign())),
            _ => {}
        }
    }
    let ca = match basic {
        Some((true, path_len)) => Some(CaFacts {
            path_len,
            key_cert_sign: usage.is_some_and(|u| u.0),
            crl_sign: usage.is_some_and(|u| u.1),
        }),
        _ => None,
    };
    Ok(CertInfo {
        subject_attributes,
        authority_key_id,
        subject_key_id,
        ca,
        serial: kiosk_domain::certificate::serial_text(cert.raw_serial()),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        public_point: cert.public_key().subject_public_key.data.to_vec(),
        key_kind: key_kind(cert.public_key()),
    })
}

/// RSA, SM2 (an EC key on the SM2 curve) or P-256, from a certificate's
/// SubjectPublicKeyInfo.
fn key_kind(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> crate::KeyKind {
    const RSA: &str = "1.2.840.113549.1.1.1";
    const SM2_CURVE: &str = "1.2.156.10197.1.301";
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    if spki.algorithm.algorithm.to_id_string() == RSA {
        crate::KeyKind::Rsa2048
    } else if curve.as_deref() == Some(SM2_CURVE) {
        crate::KeyKind::Sm2
    } else {
        crate::KeyKind::P256
    }
}

/// Whether `cert` is signed by the key `issuer` (its own key when None):
/// SM3withSM2 through the SM2 code, anything else through x509-parser.
fn signed_by(
    cert: &X509Certificate<'_>,
    issuer: Option<&x509_parser::x509::SubjectPublicKeyInfo<'_>>,
) -> bool {
    if cert.signature_algorithm.algorithm.to_id_string() == "1.2.156.10197.1.501" {
        let key = issuer.unwrap_or(cert.public_key());
        return crate::verify_sm2(
            &key.subject_public_key.data,
            cert.tbs_certificate.as_ref(),
            &cert.signature_value.data,
        );
    }
    cert.verify_signature(issuer).is_ok()
}

/// Verifies a signature made by the key a certificate names (ECDSA
/// P-256/SHA-256 in DER, RSASSA-PKCS1-v1_5 SHA-256, or SM3withSM2 with
/// the default ID in DER).
pub fn verify_signature(cert: &CertInfo, msg: &[u8], sig: &[u8]) -> bool {
    let alg: &dyn ring::signature::VerificationAlgorithm = match cert.key_kind {
        crate::KeyKind::P256 => &ring::signature::ECDSA_P256_SHA256_ASN1,
        crate::KeyKind::Rsa2048 => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        crate::KeyKind::Sm2 => return crate::verify_sm2(&cert.public_point, msg, sig),
    };
    ring::signature::UnparsedPublicKey::new(alg, &cert.public_point)
        .verify(msg, sig)
        .is_ok()
}

/// The subject Name of a certificate, as DER (for CKA_SUBJECT).
pub fn subject_der(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| KeyError::X509(format!("unreadable certificate: {e}")))?;
    Ok(cert.subject().as_raw().to_vec())
}

/// AuthorityInfoAccessSyntax with one caIssuers URI: the access method
/// id-ad-caIssuers (1.3.6.1.5.5.7.48.2), then [6] IA5String.
fn aia(url: &str) -> Result<Vec<u8>, KeyError> {
    if !url.is_ascii() {
        return Err(KeyError::X509(format!(
            "the caIssuers address {url:?} is not ASCII (an IA5String)"
        )));
    }
    let ca_issuers = yasna::models::ObjectIdentifier::from_slice(&[1, 3, 6, 1, 5, 5, 7, 48, 2]);
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_oid(&ca_issuers);
                w.next()
                    .write_tagged_implicit(yasna::Tag::context(6), |w| w.write_ia5_string(url));
            })
        })
    }))
}

/// Why a certificate chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// Certificate `i` (0: the first) cannot be read.
    Unreadable(usize),
    /// Certificate `i` is not signed by certificate `i + 1` (names, key).
    NotSignedByNext(usize),
    /// Certificate `i` signs another but is not a CA (basicConstraints).
    NotACa(usize),
    /// The last certificate is not a self-signed root.
    NoRoot,
}

/// Checks a chain, first certificate first, up to its root: each is
/// issued by the next (the issuer's name is the next one's subject and the
/// next one's key verifies the signature), every issuer is a CA, and the
/// last is self-signed.
pub fn verify_chain(chain: &[Vec<u8>]) -> Result<(), ChainBreak> {
    let parsed = chain
        .iter()
        .enumerate()
        .map(|(i, der)| {
            X509Certificate::from_der(der)
                .map(|(_, c)| c)
                .map_err(|_| ChainBreak::Unreadable(i))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let Some(root) = parsed.last() else {
        return Err(ChainBreak::NoRoot);
    };
    for (i, pair) in parsed.windows(2).enumerate() {
        let (cert, issuer) = (&pair[0], &pair[1]);
        if cert.issuer().as_raw() != issuer.subject().as_raw()
            || !signed_by(cert, Some(issuer.public_key()))
        {
            return Err(ChainBreak::NotSignedByNext(i));
        }
        let is_ca = issuer
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|b| b.value.ca);
        if !is_ca {
            return Err(ChainBreak::NotACa(i + 1));
        }
    }
    if root.issuer().as_raw() != root.subject().as_raw() || !signed_by(root, None) {
        return Err(ChainBreak::NoRoot);
    }
    Ok(())
}

/// Why a certificate does not lead to any trusted anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorBreak {
    /// The certificate (or an anchor, `Some(i)`) cannot be read.
    Unreadable(Option<usize>),
    /// No anchor carries the name of the issuer: issued by a CA not trusted
    /// for this purpose. The issuer's name, as the certificate gives it.
    UnknownIssuer(String),
    /// An anchor carries the issuer's name but its key did not sign the
    /// certificate: a forgery, or a CA that re-keyed without the new
    /// certificate among the anchors. The issuer's name.
    BadSignature(String),
    /// The path from the certificate to a root breaks (see [`ChainBreak`]).
    Chain(ChainBreak),
    /// Issuer `i` (1: the certificate's issuer) was not valid on the day
    /// the certificate was issued.
    IssuerNotValidAtIssuance(usize),
}

/// The path from `leaf` to a self-signed root, through `anchors` (the
/// roots and issuing CAs trusted for it, in any order): `leaf` first, then
/// each issuer, checked as [`verify_chain`] does. An issuer is taken by
/// name and only if its key verifies the signature below it, so a
/// certificate with a trusted issuer's name and another key's signature is
/// named a forgery, not an unknown issuer. Each issuer must have been
/// valid on the day the certificate below it was issued (not today: an
/// expired certificate can still be renewed, and it was good when it was
/// issued).
pub fn path_to_anchor(leaf: &[u8], anchors: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, AnchorBreak> {
    let parsed = anchors
        .iter()
        .enumerate()
        .map(|(i, der)| {
            X509Certificate::from_der(der)
                .map(|(_, c)| c)
                .map_err(|_| AnchorBreak::Unreadable(Some(i)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (_, first) = X509Certificate::from_der(leaf).map_err(|_| AnchorBreak::Unreadable(None))?;
    let mut path: Vec<usize> = Vec::new();
    let mut current = first;
    // Depth is bounded by the anchors: none is taken twice.
    loop {
        let self_signed =
            current.issuer().as_raw() == current.subject().as_raw() && signed_by(&current, None);
        if self_signed && !path.is_empty() {
            break;
        }
        let named: Vec<usize> = (0..parsed.len())
            .filter(|i| !path.contains(i))
            .filter(|&i| parsed[i].subject().as_raw() == current.issuer().as_raw())
            .collect();
        let issuer_name = current.issuer().to_string();
        let Some(&next) = named
            .iter()
            .find(|&&i| signed_by(&current, Some(parsed[i].public_key())))
        else {
            return Err(if named.is_empty() {
                AnchorBreak::UnknownIssuer(issuer_name)
            } else {
                AnchorBreak::BadSignature(issuer_name)
            });
        };
        let issued = current.validity().not_before;
        let issuer_validity = parsed[next].validity();
        if issued < issuer_validity.not_before || issued > issuer_validity.not_after {
            return Err(AnchorBreak::IssuerNotValidAtIssuance(path.len() + 1));
        }
        path.push(next);
        current = parsed[next].clone();
    }
    let chain: Vec<Vec<u8>> = std::iter::once(leaf.to_vec())
        .chain(path.iter().map(|&i| anchors[i].clone()))
        .collect();
    verify_chain(&chain).map_err(AnchorBreak::Chain)?;
    Ok(chain)
}
