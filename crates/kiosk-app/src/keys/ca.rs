//! The station CA: its token, its certificate from the central CA (or a demo root), and the check that it may still issue.

use std::fs;
use std::path::PathBuf;

use kiosk_domain::Rejection;
use kiosk_keys::{
    certificate_info, csr, self_signed_ca, sm2_csr, sm2_self_signed_ca, sm2_sub_ca, sub_ca,
    ObjectHandle, SubjectSpec, TokenSession,
};
use kiosk_keys::{Module, SecretString};
use kiosk_store::{Actor, CaAlgorithm, StationCa};

use super::*;
use crate::{AppError, Role, Session, Station};

impl Station {
    /// Where the files of the sub-CA of `alg` go: `ca/`, and `ca/sm2/`.
    pub(crate) fn ca_dir_of(&self, alg: CaAlgorithm) -> Result<PathBuf, AppError> {
        let dir = match alg {
            CaAlgorithm::P256 => self.data_dir().join("ca"),
            CaAlgorithm::Sm2 => self.data_dir().join("ca").join("sm2"),
        };
        fs::create_dir_all(&dir).map_err(|e| AppError::io(dir.display(), e))?;
        Ok(dir)
    }

    /// The CRL address of the sub-CA of `alg`: that of the first profile of
    /// its algorithm in the catalog, else the default profile's.
    fn crl_url_of(&self, alg: CaAlgorithm) -> Result<String, AppError> {
        let rules = self.rules()?;
        let catalog = rules.catalog();
        let profile = match alg {
            CaAlgorithm::P256 => None,
            CaAlgorithm::Sm2 => catalog
                .profiles
                .iter()
                .find(|p| super::ca_algorithm(p) == alg)
                .cloned(),
        }
        .unwrap_or_else(|| catalog.profile(""));
        Ok(profile.crl_url_for(self.station_id()))
    }

    /// The station token (in the station's module, whichever module the
    /// key at hand is in), logged in.
    pub(crate) fn station_session(&self, cfg: &KeyConfig) -> Result<TokenSession, AppError> {
        let m = Module::load(&cfg.module)?;
        let token = m.by_label(&cfg.station_token)?;
        let s = m.open(&token)?;
        s.login_user_shared(cfg.station_pin()?)?;
        Ok(s)
    }

    /// Makes a demo root and the station sub-CA in the station token (made
    /// too, when missing). For development and the demo only: a real
    /// station gets its sub-CA from the central CA (`ca csr`, `ca import`).
    pub fn ca_init_demo(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        by: &Session,
    ) -> Result<StationCa, AppError> {
        by.may(Role::Supervisor)?;
        let operator = by.clerk_id();
        if self
            .store()
            .station_ca()?
            .is_some_and(|c| c.cert_der.is_some())
        {
            return Err(
                Rejection::field("station_ca", "签发CA", "already_initialised")
                    .zh(
                        "本工作站已有签发CA证书",
                        "如需更换，请走 kioskctl ca csr / ca import 流程",
                    )
                    .en(
                        "the station already has its issuing CA",
                        "use ca csr / ca import to replace it",
                    )
                    .into(),
            );
        }
        let s = self.demo_station_token(m, cfg)?;
        for label in [ROOT_KEY, CA_KEY] {
            if s.key_id_by_label(label).is_err() {
                s.generate_p256(label.as_bytes(), label)?;
            }
        }
        s.ensure_master_secret(MASTER)?;
        let token = CaToken {
            session: s,
            set: None,
        };
        let (root, sub) = self.demo_pair(&token, "")?;
        let ca = self.install_ca(cfg, sub, pem(&root, "CERTIFICATE"), &Actor::clerk(operator))?;
        if cfg.sm2.is_some() {
            self.sm2_ca_init_demo(cfg, by)?;
        }
        Ok(ca)
    }

    /// Makes a demo SM2 root and the station's SM2 sub-CA in the station's
    /// SM2 token (made too, when missing), and signs its first CRL. For
    /// development and the demo only, like [`Station::ca_init_demo`].
    pub fn sm2_ca_init_demo(
        &mut self,
        cfg: &KeyConfig,
        by: &Session,
    ) -> Result<StationCa, AppError> {
        by.may(Role::Supervisor)?;
        let actor = Actor::clerk(by.clerk_id());
        if self
            .store()
            .station_ca_of(CaAlgorithm::Sm2)?
            .is_some_and(|c| c.cert_der.is_some())
        {
            return Err(
                Rejection::field("station_ca", "国密签发CA", "already_initialised")
                    .zh("本工作站已有SM2签发CA证书", "无需再次初始化")
                    .en(
                        "the station already has its SM2 issuing CA",
                        "nothing to do",
                    )
                    .into(),
            );
        }
        let (sm2, set) = cfg.for_sm2()?;
        let s = self.demo_station_token(&Module::load(&sm2.module)?, &sm2)?;
        for label in [ROOT_KEY, CA_KEY] {
            if s.sm2_key(set, label.as_bytes()).is_err() {
                s.generate_sm2(set, label.as_bytes(), label)?;
            }
        }
        let token = CaToken {
            session: s,
            set: Some(set),
        };
        let (root, sub) = self.demo_pair(&token, "SM2")?;
        let ca = self.install_ca_of(
            CaAlgorithm::Sm2,
            &sm2,
            sub,
            pem(&root, "CERTIFICATE"),
            &actor,
        )?;
        self.crl_of(cfg, &actor, CaAlgorithm::Sm2)?;
        Ok(ca)
    }

    /// A demo root (ten years) and the station's sub-CA under it (five),
    /// both keys in `token`: (root, sub-CA) DER.
    fn demo_pair(&self, token: &CaToken, kind: &str) -> Result<(Vec<u8>, Vec<u8>), AppError> {
        let now = crate::clock::x509_time(self.now());
        let (root_subject, ca_subject) = demo_names(self.station_id(), kind);
        let s = &token.session;
        let root_key = token.signer(ROOT_KEY)?;
        let ca_key = token.signer(CA_KEY)?;
        let root_to = now + time::Duration::days(3650);
        let sub_to = now + time::Duration::days(1825);
        Ok(match (&root_key, &ca_key) {
            (CaSigner::P256(r), CaSigner::P256(c)) => {
                let root = self_signed_ca(r, &root_subject, now, root_to, &serial(s)?)?;
                let sub = sub_ca(c, &ca_subject, &root, r, now, sub_to, &serial(s)?)?;
                (root, sub)
            }
            (CaSigner::Sm2(r), CaSigner::Sm2(c)) => {
                let root = sm2_self_signed_ca(r, &root_subject, now, root_to, &serial(s)?)?;
                let sub = sm2_sub_ca(c.point(), &ca_subject, &root, r, now, sub_to, &serial(s)?)?;
                (root, sub)
            }
            _ => unreachable!("one token holds keys of one algorithm"),
        })
    }

    /// The station token `cfg` names in module `m`, made (with the station
    /// PIN as its SO and user PIN) when missing, logged in. Demo only.
    fn demo_station_token(&self, m: &Module, cfg: &KeyConfig) -> Result<TokenSession, AppError> {
        let pin = cfg.station_pin()?;
        if m.by_label(&cfg.station_token).is_err() {
            m.init_token(m.free_slot()?, pin, &cfg.station_token)?;
            let s = m.open(&m.by_label(&cfg.station_token)?)?;
            s.login_so(pin)?;
            s.init_user_pin(pin)?;
            s.logout()?;
        }
        self.station_session(cfg)
    }

    /// Makes the station's issuing key pair in the station token (and the
    /// SO PIN master) and a PKCS#10 request for the central CA, written to
    /// `ca/station-ca.csr`.
    pub fn ca_csr(&mut self, cfg: &KeyConfig) -> Result<PathBuf, AppError> {
        self.ca_csr_of(cfg, CaAlgorithm::P256)
    }

    /// [`Station::ca_csr`] for the sub-CA of `alg`: the SM2 one's key pair
    /// in the station's SM2 token, its SM3withSM2 request written to
    /// `ca/sm2/station-ca.csr`.
    pub fn ca_csr_of(&mut self, cfg: &KeyConfig, alg: CaAlgorithm) -> Result<PathBuf, AppError> {
        let token = self.ca_token(cfg, alg)?;
        let s = &token.session;
        let kind = match token.set {
            None => {
                if s.key_id_by_label(CA_KEY).is_err() {
                    s.generate_p256(CA_KEY.as_bytes(), CA_KEY)?;
                }
                s.ensure_master_secret(MASTER)?;
                ""
            }
            Some(set) => {
                if s.sm2_key(set, CA_KEY.as_bytes()).is_err() {
                    s.generate_sm2(set, CA_KEY.as_bytes(), CA_KEY)?;
                }
                "SM2"
            }
        };
        let (_, mut subject) = demo_names(self.station_id(), kind);
        subject.organization = None;
        let der = match token.signer(CA_KEY)? {
            CaSigner::P256(key) => csr(&key, &subject)?,
            CaSigner::Sm2(key) => sm2_csr(&key, &subject)?,
        };
        let path = self.ca_dir_of(alg)?.join("station-ca.csr");
        write_file(&path, &pem(&der, "CERTIFICATE REQUEST"))?;
        Ok(path)
    }

    /// Installs the sub-CA certificate the central CA issued (PEM, the
    /// sub-CA first, then its chain). Its key must be the station token's.
    pub fn ca_import(
        &mut self,
        cfg: &KeyConfig,
        path: &std::path::Path,
        by: &Session,
    ) -> Result<StationCa, AppError> {
        self.ca_import_of(cfg, path, by, CaAlgorithm::P256)
    }

    /// [`Station::ca_import`] of the sub-CA of `alg`.
    pub fn ca_import_of(
        &mut self,
        cfg: &KeyConfig,
        path: &std::path::Path,
        by: &Session,
        alg: CaAlgorithm,
    ) -> Result<StationCa, AppError> {
        by.may(Role::Supervisor)?;
        self.ca_import_as(cfg, path, &Actor::clerk(by.clerk_id()), alg)
    }

    /// [`Station::ca_import_of`] by any actor (the central, renewing the
    /// P-256 one).
    pub(crate) fn ca_import_as(
        &mut self,
        cfg: &KeyConfig,
        path: &std::path::Path,
        operator: &Actor,
        alg: CaAlgorithm,
    ) -> Result<StationCa, AppError> {
        let text = fs::read_to_string(path).map_err(|e| AppError::io(path.display(), e))?;
        let chain = kiosk_keys::pem_certificates(&text);
        let mut certs = chain.iter().cloned();
        let bad = |problem: &str, problem_en: &str| -> AppError {
            Rejection::field("certificate", "签发CA证书", "bad_ca_certificate")
                .zh(problem, "请导入中心CA为本工作站签发的证书文件（PEM）")
                .en(
                    problem_en,
                    "import the certificate the central CA issued for this station",
                )
                .into()
        };
        let cert = certs
            .next()
            .ok_or_else(|| bad("文件中没有证书", "the file holds no certificate"))?;
        let rest: Vec<u8> = certs
            .flat_map(|c| pem(&c, "CERTIFICATE").into_bytes())
            .collect();
        let token = self.ca_token(cfg, alg)?;
        let key = token.signer(CA_KEY).map_err(|_| {
            bad(
                "工作站令牌中没有签发密钥，请先执行 kioskctl ca csr",
                "the station token has no issuing key; run kioskctl ca csr first",
            )
        })?;
        let info = certificate_info(&cert)?;
        if info.public_point != key.public_point() {
            return Err(bad(
                "该证书的公钥与本工作站令牌中的签发密钥不符",
                "the certificate is not for the issuing key in this station's token",
            ));
        }
        if info.not_after <= crate::clock::x509_time(self.now()) {
            return Err(bad("该证书已过期", "the certificate has expired"));
        }
        // A station signs end-entity certificates and CRLs, and nothing
        // that could sign further down.
        match info.ca {
            None => {
                return Err(bad(
                    "该证书不是CA证书（basicConstraints 未设 CA:TRUE）",
                    "the certificate is not a CA certificate (basicConstraints without CA:TRUE)",
                ))
            }
            Some(ca) if ca.path_len != Some(0) => {
                return Err(bad(
                    "签发CA证书须限定 pathLenConstraint 为 0（只能签发终端证书）",
                    "a station CA certificate must have pathLenConstraint 0 (end entities only)",
                ))
            }
            Some(ca) if !(ca.key_cert_sign && ca.crl_sign) => {
                return Err(bad(
                    "签发CA证书的密钥用法须含 keyCertSign 和 cRLSign",
                    "a station CA certificate's key usage must include keyCertSign and cRLSign",
                ))
            }
            Some(_) => {}
        }
        // The chain up to a root, each certificate signed by the next; and
        // a renewal keeps the root the station already trusts.
        if chain.len() < 2 {
            return Err(bad(
                "文件中只有签发CA证书，缺少其上级CA直至根证书的证书链",
                "the file holds the station certificate without its chain up to the root",
            ));
        }
        if let Err(b) = kiosk_keys::verify_chain(&chain) {
            let which = match b {
                kiosk_keys::ChainBreak::Unreadable(i) => format!("第 {} 张证书无法读取", i + 1),
                kiosk_keys::ChainBreak::NotSignedByNext(i) => {
                    format!("第 {} 张证书不是由其后一张签发的", i + 1)
                }
                kiosk_keys::ChainBreak::NotACa(i) => {
                    format!("第 {} 张证书不是CA证书，不能签发", i + 1)
                }
                kiosk_keys::ChainBreak::NoRoot => "最后一张不是自签名的根证书".to_string(),
            };
            return Err(bad(
                &format!("证书链不成立：{which}"),
                &format!("the chain does not hold: {b:?}"),
            ));
        }
        let trusted_root = self
            .store()
            .station_ca_of(alg)?
            .and_then(|c| c.chain_pem)
            .and_then(|p| kiosk_keys::pem_blocks(&p).pop().map(|(_, d)| d));
        if trusted_root.is_some_and(|r| Some(&r) != chain.last()) {
            return Err(bad(
                "新证书链的根证书与本工作站已信任的根证书不同",
                "the new chain ends at another root than the one the station trusts",
            ));
        }
        drop(key);
        let rest = String::from_utf8(rest).unwrap_or_default();
        match alg {
            CaAlgorithm::P256 => self.install_ca(cfg, cert, rest, operator),
            CaAlgorithm::Sm2 => {
                // Its first CRL at once: until then relying parties would
                // find none (later ones are signed with the P-256 one's).
                let (sm2, _) = cfg.for_sm2()?;
                let ca = self.install_ca_of(alg, &sm2, cert, rest, operator)?;
                self.crl_of(cfg, operator, alg)?;
                Ok(ca)
            }
        }
    }

    /// Installs the sub-CA certificate and writes the PEM files.
    /// `chain_tail` is the PEM of the certificates above the sub-CA; the
    /// last of them is written as `ca/root.pem`.
    fn install_ca(
        &mut self,
        cfg: &KeyConfig,
        cert: Vec<u8>,
        chain_tail: String,
        actor: &Actor,
    ) -> Result<StationCa, AppError> {
        self.install_ca_of(CaAlgorithm::P256, cfg, cert, chain_tail, actor)
    }

    /// [`Station::install_ca`] of the sub-CA of `alg`, its files under
    /// [`Station::ca_dir_of`]. `cfg` names the token the key is in.
    fn install_ca_of(
        &mut self,
        alg: CaAlgorithm,
        cfg: &KeyConfig,
        cert: Vec<u8>,
        chain_tail: String,
        actor: &Actor,
    ) -> Result<StationCa, AppError> {
        let dir = self.ca_dir_of(alg)?;
        let chain = pem(&cert, "CERTIFICATE") + &chain_tail;
        write_file(&dir.join("station-ca.pem"), &pem(&cert, "CERTIFICATE"))?;
        write_file(&dir.join("chain.pem"), &chain)?;
        if let Some((_, root)) = kiosk_keys::pem_blocks(&chain_tail).last() {
            write_file(&dir.join("root.pem"), &pem(root, "CERTIFICATE"))?;
        }
        let ca = StationCa {
            token_label: cfg.station_token.clone(),
            key_label: CA_KEY.into(),
            cert_der: Some(cert),
            chain_pem: Some(chain),
            crl_number: 0,
            crl_url: self.crl_url_of(alg)?,
        };
        let now = self.now();
        self.store_mut()
            .write(actor, now, |w| w.station_ca_set_of(alg, &ca))?;
        Ok(ca)
    }

    /// The station CA as the operator sees it, with what needs acting on.
    pub fn ca_view(&self) -> Result<CaView, AppError> {
        let ca = self.store().station_ca()?;
        let info = ca
            .as_ref()
            .and_then(|c| c.cert_der.as_deref())
            .map(certificate_info)
            .transpose()?;
        Ok(CaView {
            subject: info.as_ref().map(|i| i.subject.clone()),
            issuer: info.as_ref().map(|i| i.issuer.clone()),
            not_before: info.as_ref().map(|i| crate::clock::from_x509(i.not_before)),
            not_after: info.as_ref().map(|i| crate::clock::from_x509(i.not_after)),
            crl_number: ca.as_ref().map_or(0, |c| c.crl_number),
            crl_url: ca.map(|c| c.crl_url),
            crl_due: self.crl_due()?,
            warnings: self.station_warnings()?,
        })
    }

    pub(crate) fn usable_ca(&self) -> Result<StationCa, AppError> {
        let ca = self.store().station_ca()?.filter(|c| c.cert_der.is_some()).ok_or_else(|| {
            Rejection::field("station_ca", "签发CA", "no_station_ca").zh("本工作站尚未安装签发CA证书", "请运维人员执行 kioskctl ca csr 并导入中心签发的证书（演示环境：kioskctl ca init --demo）").en("the station has no issuing CA", "run kioskctl ca csr / ca import (demo: ca init --demo)")
        })?;
        self.not_expired(ca)
    }

    /// A sub-CA whose certificate is still valid on the station clock.
    pub(crate) fn not_expired(&self, ca: StationCa) -> Result<StationCa, AppError> {
        let info = certificate_info(ca.cert_der.as_deref().unwrap_or_default())?;
        if info.not_after <= crate::clock::x509_time(self.now()) {
            return Err(
                Rejection::field("station_ca", "签发CA", "station_ca_expired")
                    .zh(
                        format!(
                            "本工作站的签发CA证书已于 {} 过期，不能再签发证书",
                            info.not_after.date()
                        ),
                        "请联网同步以获取更新的签发CA证书，或联系中心CA",
                    )
                    .en(
                        "the station's issuing CA has expired",
                        "sync to get a renewed sub-CA certificate",
                    )
                    .into(),
            );
        }
        Ok(ca)
    }
}

/// The names of a demo root and of the station's sub-CA under it; `kind`
/// tells the SM2 pair from the P-256 one.
fn demo_names(station_id: &str, kind: &str) -> (SubjectSpec, SubjectSpec) {
    let organization = Some("CA 服务柜台工作站演示".to_string());
    let root = SubjectSpec {
        common_name: format!("演示{kind}根CA（仅供演示）"),
        organization: organization.clone(),
        organizational_unit: None,
        extra: vec![],
    };
    let sub = SubjectSpec {
        common_name: format!("柜台工作站{kind}签发CA {}", &station_id[..8]),
        organization,
        organizational_unit: Some("受理点".into()),
        extra: vec![],
    };
    (root, sub)
}

/// What `ca show` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaView {
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
    pub not_after: Option<chrono::DateTime<chrono::Utc>>,
    /// The number of the last CRL signed.
    pub crl_number: i64,
    pub crl_url: Option<String>,
    pub crl_due: Option<super::CrlDue>,
    pub warnings: Vec<super::StationWarning>,
}

/// SO PIN of a key: HMAC-SHA256(master, serial) computed in the station
/// token, as 16 hex digits. Any station holding the master derives it.
pub(crate) fn derive_so_pin(
    station: &TokenSession,
    master: ObjectHandle,
    key_serial: &str,
) -> Result<SecretString, AppError> {
    let mac = station.hmac(master, format!("so-pin:{key_serial}").as_bytes())?;
    Ok(SecretString::from(hex::encode_upper(&mac[..8])))
}

/// A positive serial of 128 random bits from the station token's RNG.
pub(crate) fn serial(s: &TokenSession) -> Result<Vec<u8>, AppError> {
    let mut b = s.random(16)?;
    b[0] = (b[0] & 0x7f) | 0x40;
    Ok(b)
}
