//! A relying party's check of a GB/T 38540 electronic seal
//! (`kioskctl seal verify`): its structure and the maker's signature
//! (`kiosk_keys::read_ses_seal`), then, here, what the station decides:
//! the seal is valid at the station's time, each holder certificate in it
//! was issued by the maker, and the maker is a CA the operator trusts (a
//! certificate given with `--trusted`, else a provider's trust anchor in
//! the catalog), or was certified by one.

use chrono::{DateTime, Utc};
use kiosk_domain::Rejection;
use kiosk_keys::{certificate_info, pem_certificates, read_ses_seal, sm2_signed_by, SesProblem};
use serde::Serialize;

use crate::{AppError, Rules};

/// What `seal verify` reports of a seal that holds.
#[derive(Debug, Clone, Serialize)]
pub struct SealReport {
    pub seal_id: String,
    /// Who made the software that made it (`SES_Header.Vid`).
    pub vendor_id: String,
    pub name: String,
    pub seal_type: u32,
    pub created: DateTime<Utc>,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub picture_type: String,
    pub picture_bytes: usize,
    pub picture_sha256: String,
    pub width_mm: u32,
    pub height_mm: u32,
    /// The maker's (the issuing CA's) subject, and the trusted CA it
    /// chains to.
    pub maker: String,
    pub trusted_by: String,
    /// The holder certificates' subjects and serials.
    pub holders: Vec<(String, String)>,
}

const FIELD: (&str, &str) = ("seal", "电子印章");

fn refuse(code: &'static str, zh: String, en: String) -> AppError {
    Rejection::field(FIELD.0, FIELD.1, code)
        .zh(zh, "请勿使用该印章；请持单位证件到本服务点重新制作电子印章")
        .en(
            en,
            "do not rely on this seal; the company can have a new one made at the counter",
        )
        .into()
}

fn chrono(t: time::OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.unix_timestamp(), 0).unwrap_or_default()
}

impl Rules {
    /// Checks the seal `der` at `now` (the station's clock); `trusted` are
    /// the CA certificates (PEM) the operator trusts for it, or `None` for
    /// the catalog's provider anchors. Each refusal names what is wrong.
    /// Reads only: a relying party's check writes nothing.
    pub fn verify_electronic_seal(
        &self,
        der: &[u8],
        trusted: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<SealReport, AppError> {
        let checked = read_ses_seal(der).map_err(|p| {
            let zh = match &p {
                SesProblem::Structure(_) => {
                    "不是 GB/T 38540 格式的电子印章，或内容已损坏".to_string()
                }
                SesProblem::Version(v) => format!("印章版本为 {v}，本站只认 GB/T 38540 的第 4 版"),
                SesProblem::Algorithm(a) => format!("印章的签名算法为 {a}，不是 SM3withSM2"),
                SesProblem::CertList(t) => {
                    format!("印章的证书列表类型为 {t}，本站只认类型 1（证书本身）")
                }
                SesProblem::MakerCertificate(_) => "印章中制章者的证书无法读取".to_string(),
                SesProblem::Signature => {
                    "制章者的签名不符：印章在制作后被改动过，或是伪造的".to_string()
                }
            };
            let code = match p {
                SesProblem::Signature => "seal_forged",
                _ => "seal_unreadable",
            };
            refuse(code, zh, p.to_string())
        })?;
        let seal = &checked.seal;
        let (from, to) = (chrono(seal.valid_from), chrono(seal.valid_to));
        if now < from || now > to {
            return Err(refuse(
                "seal_not_valid_now",
                format!(
                    "印章有效期为 {} 至 {}，现在（{}）不在其内",
                    from.format("%Y-%m-%d"),
                    to.format("%Y-%m-%d"),
                    now.format("%Y-%m-%d")
                ),
                format!("the seal is valid from {from} to {to}, not now ({now})"),
            ));
        }
        let maker = &checked.maker_certificate;
        let maker_info = certificate_info(maker).map_err(|e| {
            refuse(
                "seal_unreadable",
                "印章中制章者的证书无法读取".into(),
                e.to_string(),
            )
        })?;
        if seal.holder_certificates.is_empty() {
            return Err(refuse(
                "seal_without_holder",
                "印章中没有签章人的证书".into(),
                "the seal holds no holder certificate".into(),
            ));
        }
        let mut holders = Vec::new();
        for holder in &seal.holder_certificates {
            let info = certificate_info(holder).map_err(|e| {
                refuse(
                    "seal_unreadable",
                    "印章中签章人的证书无法读取".into(),
                    e.to_string(),
                )
            })?;
            if !sm2_signed_by(holder, maker) {
                return Err(refuse(
                    "holder_not_from_maker",
                    format!(
                        "签章人证书（{}）不是制章者（{}）签发的",
                        info.subject, maker_info.subject
                    ),
                    format!(
                        "the holder certificate ({}) was not issued by the seal's maker ({})",
                        info.subject, maker_info.subject
                    ),
                ));
            }
            holders.push((info.subject, info.serial));
        }
        let anchors: Vec<Vec<u8>> = match trusted {
            Some(pem) => pem_certificates(pem),
            None => self
                .catalog()
                .providers
                .iter()
                .flat_map(|p| p.anchors.iter().flat_map(|a| pem_certificates(a)))
                .collect(),
        };
        let anchor = anchors
            .iter()
            .find(|a| a.as_slice() == maker.as_slice() || sm2_signed_by(maker, a))
            .ok_or_else(|| {
                refuse(
                    "maker_untrusted",
                    format!("制章者（{}）不是本站信任的CA，也不是由其签发的", maker_info.subject),
                    format!("the seal's maker ({}) is not a CA this station trusts, nor certified by one", maker_info.subject),
                )
            })?;
        let trusted_by = certificate_info(anchor)
            .map(|i| i.subject)
            .unwrap_or_default();
        Ok(SealReport {
            seal_id: seal.seal_id.clone(),
            vendor_id: seal.vendor_id.clone(),
            name: seal.name.clone(),
            seal_type: seal.seal_type,
            created: chrono(seal.created),
            valid_from: from,
            valid_to: to,
            picture_type: seal.picture_type.clone(),
            picture_bytes: seal.picture.len(),
            picture_sha256: hex::encode(kiosk_keys::sha256(&seal.picture)),
            width_mm: seal.width_mm,
            height_mm: seal.height_mm,
            maker: maker_info.subject,
            trusted_by,
            holders,
        })
    }
}
