//! The station's two issuing sub-CAs (P-256 in the station token, SM2 in
//! the station's SM2 token) and the key pairs they certify, behind one
//! face: which module a key is in, the SM2 mechanism set of its key model,
//! and signing with whichever algorithm the provider's profile asks for.

use kiosk_domain::catalog::{IssuanceProfile, KeyAlgorithm};
use kiosk_domain::Rejection;
use kiosk_keys::{
    csr, issue, revocation_list, sm2_csr, sm2_issue, sm2_revocation_list, Module, Revoked,
    Sm2Mechanisms, Sm2Signer, SubjectSpec, TokenInfo, TokenSession, TokenSigner,
};
use kiosk_store::{CaAlgorithm, StationCa};
use time::OffsetDateTime;

use super::KeyConfig;
use crate::{AppError, Station};

/// Every key model's SM2 mechanism set must be one the station knows: a
/// catalog that names another is refused whole.
pub(crate) fn check_mechanism_sets(catalog: &kiosk_domain::Catalog) -> Result<(), AppError> {
    let known: Vec<&str> = Sm2Mechanisms::all().iter().map(|s| s.id.as_str()).collect();
    for k in &catalog.key_models {
        let Some(id) = k.sm2_mechanisms.as_deref() else {
            continue;
        };
        if !known.contains(&id) {
            let known = known.join("、");
            return Err(Rejection::field("catalog", "规则目录", "unknown_mechanism_set")
                .zh(
                    format!("介质型号“{}”的SM2机制集“{id}”不是本工作站已知的机制集（{known}）", k.name),
                    "请按介质厂商的PKCS#11文档选用已知机制集，修正目录后重新导入",
                )
                .en(
                    format!("key model {} names the SM2 mechanism set {id:?}, which the station does not know ({known})", k.id),
                    "choose a known set as the key vendor's PKCS#11 documentation says, fix the catalog and import it again",
                )
                .into());
        }
    }
    Ok(())
}

/// The sub-CA that signs for a profile.
pub(crate) fn ca_algorithm(profile: &IssuanceProfile) -> CaAlgorithm {
    match profile.key_algorithm {
        KeyAlgorithm::Sm2 => CaAlgorithm::Sm2,
        KeyAlgorithm::EcP256 | KeyAlgorithm::Rsa2048 => CaAlgorithm::P256,
    }
}

/// A station sub-CA's key in its token.
pub(crate) enum CaSigner<'a> {
    P256(TokenSigner<'a>),
    Sm2(Sm2Signer<'a>),
}

/// A key pair on the applicant's key.
pub(crate) enum HolderKey<'a> {
    /// P-256 or RSA-2048.
    Standard(TokenSigner<'a>),
    Sm2(Sm2Signer<'a>),
}

impl HolderKey<'_> {
    /// The public key: the EC point, or the RSA public key's DER.
    pub fn public_point(&self) -> &[u8] {
        match self {
            HolderKey::Standard(k) => k.public_point(),
            HolderKey::Sm2(k) => k.point(),
        }
    }

    /// The PKCS#10 request the key signs (proof of possession).
    pub fn request(&self, subject: &SubjectSpec) -> Result<Vec<u8>, AppError> {
        Ok(match self {
            HolderKey::Standard(k) => csr(k, subject)?,
            HolderKey::Sm2(k) => sm2_csr(k, subject)?,
        })
    }

    pub fn sign_der(&self, msg: &[u8]) -> Result<Vec<u8>, AppError> {
        Ok(match self {
            HolderKey::Standard(k) => k.sign_der(msg)?,
            HolderKey::Sm2(k) => k.sign_der(msg)?,
        })
    }
}

impl CaSigner<'_> {
    /// The key's public point.
    pub fn public_point(&self) -> &[u8] {
        match self {
            CaSigner::P256(k) => k.public_point(),
            CaSigner::Sm2(k) => k.point(),
        }
    }

    /// Issues the certificate a request asks for, for `point` only.
    #[allow(clippy::too_many_arguments)]
    pub fn issue(
        &self,
        request: &[u8],
        point: &[u8],
        subject: &SubjectSpec,
        ca_cert: &[u8],
        from: OffsetDateTime,
        to: OffsetDateTime,
        serial: &[u8],
        ext: &kiosk_keys::Extensions,
    ) -> Result<Vec<u8>, AppError> {
        Ok(match self {
            CaSigner::P256(k) => issue(request, point, subject, ca_cert, k, from, to, serial, ext)?,
            CaSigner::Sm2(k) => {
                let point: &[u8; 65] = point.try_into().map_err(|_| {
                    kiosk_keys::KeyError::X509("an SM2 key's point is 65 bytes".into())
                })?;
                sm2_issue(request, point, subject, ca_cert, k, from, to, serial, ext)?
            }
        })
    }

    /// The CRL of `revoked`.
    pub fn revocation_list(
        &self,
        ca_cert: &[u8],
        revoked: &[Revoked],
        number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Vec<u8>, AppError> {
        Ok(match self {
            CaSigner::P256(k) => {
                revocation_list(ca_cert, k, revoked, number, this_update, next_update)?
            }
            CaSigner::Sm2(k) => {
                sm2_revocation_list(ca_cert, k, revoked, number, this_update, next_update)?
            }
        })
    }
}

/// A logged-in session on the token of a sub-CA, with the SM2 mechanism
/// set of that token (none for the P-256 station token).
pub(crate) struct CaToken {
    pub session: TokenSession,
    pub set: Option<&'static Sm2Mechanisms>,
}

impl CaToken {
    /// The sub-CA key (label `key_label`) in this token.
    pub fn signer(&self, key_label: &str) -> Result<CaSigner<'_>, AppError> {
        Ok(match self.set {
            None => CaSigner::P256(TokenSigner::new(&self.session, key_label.as_bytes())?),
            Some(set) => CaSigner::Sm2(Sm2Signer::new(&self.session, set, key_label.as_bytes())?),
        })
    }
}

impl Station {
    /// The token of the sub-CA of `alg`, logged in with the station PIN.
    pub(crate) fn ca_token(&self, cfg: &KeyConfig, alg: CaAlgorithm) -> Result<CaToken, AppError> {
        match alg {
            CaAlgorithm::P256 => Ok(CaToken {
                session: self.station_session(cfg)?,
                set: None,
            }),
            CaAlgorithm::Sm2 => {
                let (sm2, set) = cfg.for_sm2()?;
                Ok(CaToken {
                    session: self.station_session(&sm2)?,
                    set: Some(set),
                })
            }
        }
    }

    /// The module a key is in: the station's, or the SM2 module, whose
    /// keys are SM2 keys. A key in neither is looked for in the station's,
    /// which says so.
    pub(crate) fn key_module(
        &self,
        m: &Module,
        cfg: &KeyConfig,
        key_serial: &str,
    ) -> Result<Module, AppError> {
        if m.by_serial(key_serial).is_ok() {
            return Ok(m.clone());
        }
        if let Some(sm2) = &cfg.sm2 {
            let other = Module::load(&sm2.module)?;
            if other.by_serial(key_serial).is_ok() {
                return Ok(other);
            }
        }
        Ok(m.clone())
    }

    /// The SM2 mechanism set of a key for an SM2 profile: its key model's,
    /// which the key must list. Refused, before anything is written, for a
    /// key model without SM2 or a key that lacks what its model claims.
    pub(crate) fn holder_sm2_set(
        &self,
        key: &TokenSession,
        token: &TokenInfo,
    ) -> Result<&'static Sm2Mechanisms, AppError> {
        let rules = self.rules()?;
        let model = rules
            .catalog()
            .key_models
            .iter()
            .find(|k| k.pkcs11_model == token.model);
        let Some(set_id) = model.and_then(|k| k.sm2_mechanisms.as_deref()) else {
            return Err(Rejection::field("key_serial", "介质", "key_without_sm2")
                .zh(
                    format!(
                        "该型号介质（{}）不支持国密SM2算法，不能写入SM2证书",
                        token.model
                    ),
                    "请换一支支持SM2的空白介质（目录中注明了SM2机制的介质型号）",
                )
                .en(
                    format!("key model {} does not do SM2", token.model),
                    "use a blank key of a model whose catalog entry names an SM2 mechanism set",
                )
                .into());
        };
        let set = Sm2Mechanisms::by_id(set_id)?;
        let missing = set.missing_on(key)?;
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("{m:#x}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Rejection::field("key_serial", "介质", "token_lacks_mechanisms")
                .zh(
                    format!(
                        "该介质（{}）没有其型号应有的SM2机制（{}）：{list}",
                        token.model, set.name
                    ),
                    "请换一支介质；如整批介质如此，请联系厂商核对驱动与型号",
                )
                .en(
                    format!(
                        "the key ({}) lacks mechanisms its model's set {} claims: {list}",
                        token.model, set.id
                    ),
                    "use another key; if a whole batch does this, check the vendor's driver and model",
                )
                .into());
        }
        Ok(set)
    }

    /// The SM2 mechanism set of the key pair `cert` certifies on a key:
    /// its model's for an SM2 certificate, none otherwise.
    pub(crate) fn sm2_set_of(
        &self,
        key: &TokenSession,
        token: &TokenInfo,
        cert: &[u8],
    ) -> Result<Option<&'static Sm2Mechanisms>, AppError> {
        match kiosk_keys::certificate_info(cert)?.key_kind {
            kiosk_keys::KeyKind::Sm2 => self.holder_sm2_set(key, token).map(Some),
            _ => Ok(None),
        }
    }

    /// The sub-CA of `alg`, installed and not expired.
    pub(crate) fn usable_ca_of(&self, alg: CaAlgorithm) -> Result<StationCa, AppError> {
        match alg {
            CaAlgorithm::P256 => self.usable_ca(),
            CaAlgorithm::Sm2 => {
                let ca = self
                    .store()
                    .station_ca_of(alg)?
                    .filter(|c| c.cert_der.is_some())
                    .ok_or_else(|| -> AppError {
                        Rejection::field("station_ca", "签发CA", "no_sm2_station_ca")
                            .zh(
                                "本工作站尚未安装国密（SM2）签发CA证书，不能签发SM2证书",
                                "请运维人员安装SM2签发CA（演示环境：kioskctl ca init --demo）",
                            )
                            .en(
                                "the station has no SM2 issuing CA",
                                "install the SM2 sub-CA (demo: ca init --demo)",
                            )
                            .into()
                    })?;
                self.not_expired(ca)
            }
        }
    }
}
