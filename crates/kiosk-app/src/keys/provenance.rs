//! Where a certificate on an applicant's key comes from. A key brought to
//! the counter may carry a certificate this station never issued (the CA's
//! portal, another service point, the CA's own systems). It is taken as a
//! provider's only when it chains to a root among that provider's anchors
//! in the catalog (or to this station's own chain), its signature holds,
//! the key holds its key pair, and nothing says it was revoked.

use kiosk_domain::{Catalog, Rejection};
use kiosk_keys::{certificate_info, path_to_anchor, pem_certificates, AnchorBreak, CertInfo};
use serde::Serialize;

use kiosk_store::CaAlgorithm;

use crate::{AppError, Station};

/// Who issued the certificate issued by, and whether it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// The chain holds, the key holds the certificate's key pair, and it
    /// was not revoked: the station may act on it.
    pub verified: bool,
    /// `station` (this station's sub-CA) or the id of the provider whose
    /// anchor it chains to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_by: Option<String>,
    /// The issuer as the counter names it (本站签发CA, a provider's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_by_name: Option<String>,
    /// The subjects from the certificate up to its root.
    pub chain: Vec<String>,
    /// The serial of the CA certificate that signed it (how the station
    /// and the central name an issuer beside a certificate's serial).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_serial: Option<String>,
    /// What is wrong, when it does not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Rejection>,
}

/// Who may have issued a certificate: this station, or a provider with
/// anchors in the catalog.
struct Issuer {
    id: String,
    name: String,
    anchors: Vec<Vec<u8>>,
}

const STATION: &str = "station";
const FIELD: (&str, &str) = ("certificate", "介质上的证书");

fn refusal(code: &'static str) -> kiosk_domain::rejection::RefusalZh {
    Rejection::field(FIELD.0, FIELD.1, code)
}

/// Every provider anchor must be a readable CA certificate: a catalog whose
/// anchors cannot be read is refused whole, as a catalog that asks for too
/// much is.
pub(crate) fn check_anchors(catalog: &Catalog) -> Result<(), AppError> {
    for p in &catalog.providers {
        for (i, pem) in p.anchors.iter().enumerate() {
            let ders = pem_certificates(pem);
            let readable =
                ders.len() == 1 && certificate_info(&ders[0]).is_ok_and(|info| info.ca.is_some());
            if !readable {
                return Err(Rejection::field("catalog", "规则目录", "bad_anchor")
                    .zh(
                        format!(
                            "{}的第 {} 个信任锚不是一张可读的CA证书（PEM，每项一张）",
                            p.name,
                            i + 1
                        ),
                        "请向CA机构索取其根证书和签发CA证书，修正目录后重新导入",
                    )
                    .en(
                        format!(
                            "anchor {} of provider {} is not one readable CA certificate (PEM, one per entry)",
                            i + 1,
                            p.id
                        ),
                        "get the provider's root and issuing CA certificates, fix the catalog and import it again",
                    )
                    .into());
            }
        }
    }
    Ok(())
}

impl Station {
    /// This station's chains (P-256 and SM2) and every provider's anchors.
    fn issuers(&self) -> Result<Vec<Issuer>, AppError> {
        let mut out = Vec::new();
        let mut own = Vec::new();
        for alg in [CaAlgorithm::P256, CaAlgorithm::Sm2] {
            if let Some(chain) = self.store().station_ca_of(alg)?.and_then(|c| c.chain_pem) {
                own.extend(pem_certificates(&chain));
            }
        }
        // The sub-CAs this station had before (a station replaced onto a
        // new token keeps issuing for the keys its predecessor issued).
        for chain in self.store().station_ca_chains()? {
            for der in pem_certificates(&chain) {
                if !own.contains(&der) {
                    own.push(der);
                }
            }
        }
        if !own.is_empty() {
            out.push(Issuer {
                id: STATION.into(),
                name: "本站签发CA".into(),
                anchors: own,
            });
        }
        for p in &self.rules()?.catalog().providers {
            if !p.anchors.is_empty() {
                out.push(Issuer {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    anchors: p.anchors.iter().flat_map(|a| pem_certificates(a)).collect(),
                });
            }
        }
        Ok(out)
    }

    /// Where the certificate `der` comes from, and whether the station may
    /// act on it. `on_key` is the public key the key holds under the
    /// certificate's id (None: the key holds none).
    pub fn provenance(&self, der: &[u8], on_key: Option<&[u8]>) -> Result<Provenance, AppError> {
        let unverified = |problem: Rejection| Provenance {
            verified: false,
            issued_by: None,
            issued_by_name: None,
            chain: Vec::new(),
            issuer_serial: None,
            problem: Some(problem),
        };
        let Ok(info) = certificate_info(der) else {
            return Ok(unverified(
                refusal("unreadable_certificate")
                    .zh("介质上的证书无法解析", "请确认介质来源；必要时办理补办")
                    .en(
                        "the certificate on the key cannot be read",
                        "check where the key comes from",
                    ),
            ));
        };
        let issuers = self.issuers()?;
        let mut worst: Option<AnchorBreak> = None;
        let mut found = None;
        for issuer in &issuers {
            match path_to_anchor(der, &issuer.anchors) {
                Ok(chain) => {
                    found = Some((issuer, chain));
                    break;
                }
                // A forgery or a broken chain says more than an issuer
                // another provider does not know.
                Err(e) => {
                    if !matches!(e, AnchorBreak::UnknownIssuer(_)) || worst.is_none() {
                        worst = Some(e);
                    }
                }
            }
        }
        let Some((issuer, chain)) = found else {
            let anchored = issuers.iter().filter(|i| i.id != STATION).count();
            return Ok(unverified(chain_problem(&info, worst, anchored)));
        };
        let chain: Vec<CertInfo> = chain
            .iter()
            .filter_map(|c| certificate_info(c).ok())
            .collect();
        let issuer_serial = chain.get(1).map(|i| i.serial.clone());
        let mut p = Provenance {
            verified: true,
            issued_by: Some(issuer.id.clone()),
            issued_by_name: Some(issuer.name.clone()),
            chain: chain.into_iter().map(|i| i.subject).collect(),
            issuer_serial: issuer_serial.clone(),
            problem: None,
        };
        let problem = if on_key != Some(info.public_point.as_slice()) {
            Some(
                refusal("key_mismatch")
                    .zh(
                        format!(
                            "证书 {} 的公钥与介质上的密钥不一致：证书不是这支介质生成的",
                            info.serial
                        ),
                        "请使用证书原来所在的介质；介质损坏或证书被移植的，请办理补办",
                    )
                    .en(
                        format!(
                            "the public key of certificate {} is not the key on this token: the certificate was not made for it",
                            info.serial
                        ),
                        "bring the key the certificate was issued onto, or apply for a replacement",
                    ),
            )
        } else {
            self.revoked(&info, issuer_serial.as_deref().unwrap_or_default())?
        };
        if problem.is_some() {
            p.verified = false;
            p.problem = problem;
        }
        Ok(p)
    }

    /// Revoked here or, by the central's word, anywhere.
    fn revoked(&self, info: &CertInfo, issuer_serial: &str) -> Result<Option<Rejection>, AppError> {
        let serial = info.serial.to_ascii_lowercase();
        let here = self
            .store()
            .certificate(&serial)?
            .is_some_and(|c| c.state == kiosk_store::CertState::Revoked);
        let elsewhere = self.store().central_revocation(issuer_serial, &serial)?;
        if !here && elsewhere.is_none() {
            return Ok(None);
        }
        let when = elsewhere
            .map(|r| format!("（{}，吊销于 {}）", r.station_id, r.revoked_at))
            .unwrap_or_default();
        Ok(Some(
            refusal("certificate_revoked")
                .zh(
                    format!("证书 {serial} 已被吊销{when}"),
                    "已吊销的证书不能更新、变更或解锁；请办理新证书",
                )
                .en(
                    format!("certificate {serial} was revoked"),
                    "a revoked certificate cannot be acted on; apply for a new one",
                ),
        ))
    }
}

/// The refusal for a certificate that leads to no anchor.
fn chain_problem(info: &CertInfo, why: Option<AnchorBreak>, anchored: usize) -> Rejection {
    let serial = &info.serial;
    match why {
        Some(AnchorBreak::BadSignature(issuer)) => refusal("forged_certificate")
            .zh(
                format!("证书 {serial} 自称由“{issuer}”签发，但签名不是该CA的：证书是伪造的或已被篡改"),
                "不能为此证书办理业务；请联系CA机构核实，必要时办理新证书",
            )
            .en(
                format!("certificate {serial} names {issuer} as its issuer, but that CA's key did not sign it: forged or altered"),
                "do not act on it; check with the CA",
            ),
        Some(AnchorBreak::UnknownIssuer(_)) | None if anchored == 0 => {
            refusal("no_anchors")
                .zh(
                    format!("证书 {serial} 的签发者为“{issuer}”；本站目录中尚无任何CA机构的信任锚", issuer = info.issuer),
                    "请运营方在规则目录中为CA机构配置根证书和签发CA证书（anchors）后再办理",
                )
                .en(
                    format!("certificate {serial} is issued by {}; no provider in the catalog has trust anchors", info.issuer),
                    "the operator adds the providers' root and issuing CA certificates (anchors) to the catalog",
                )
        }
        Some(AnchorBreak::UnknownIssuer(_)) | None => refusal("unknown_issuer")
            .zh(
                format!("证书 {serial} 的签发者“{}”不是本站所服务CA机构的签发CA", info.issuer),
                "请核对介质是否属于本站服务的CA机构；其他机构的证书请到该机构办理",
            )
            .en(
                format!("certificate {serial} is issued by {}, which is not among the providers' trusted CAs", info.issuer),
                "check which CA the key belongs to; other CAs' certificates are served by them",
            ),
        Some(AnchorBreak::IssuerNotValidAtIssuance(level)) => refusal("issuer_not_valid")
            .zh(
                format!("证书 {serial} 签发时，其上第 {level} 级CA证书不在有效期内"),
                "不能为此证书办理业务；请联系CA机构核实",
            )
            .en(
                format!("when certificate {serial} was issued, CA certificate {level} above it was not valid"),
                "do not act on it; check with the CA",
            ),
        Some(AnchorBreak::Chain(_)) | Some(AnchorBreak::Unreadable(_)) => refusal("broken_chain")
            .zh(
                format!("证书 {serial} 无法验证到CA机构的根证书（证书链不完整或信任锚有误）"),
                "请运营方核对规则目录中的CA证书（anchors）",
            )
            .en(
                format!("certificate {serial} does not verify up to a provider's root (incomplete chain or bad anchor)"),
                "the operator checks the CA certificates (anchors) in the catalog",
            ),
    }
}
