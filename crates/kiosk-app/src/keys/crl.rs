//! Revocation and the certificate revocation list the station signs.
//!
//! The CRL lists every unexpired certificate ever revoked under the
//! station's CA key, across renewals of the sub-CA certificate, each with
//! the moment of its revocation and its RFC 5280 reason. Every revocation
//! re-signs it at once; the app and a timer re-sign it before its
//! nextUpdate; its number only grows.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use kiosk_domain::{Rejection, RevocationReason};
use kiosk_keys::{certificate_info, Revoked};
use kiosk_store::{Actor, CaAlgorithm, CertRecord, CrlRecord};
use serde::Serialize;

use super::*;
use crate::{AppError, Session, Station};
use kiosk_store::CertState;

/// A CRL is valid for this long (its nextUpdate) ...
pub const CRL_VALIDITY: Duration = Duration::days(7);
/// ... and is re-signed once less than this is left.
pub const CRL_RESIGN_BEFORE: Duration = Duration::days(2);

/// A CRL the station signed.
#[derive(Debug, Clone, Serialize)]
pub struct CrlIssued {
    pub crl_pem: PathBuf,
    pub number: i64,
    pub revoked: usize,
    pub next_update: DateTime<Utc>,
    /// The SM2 sub-CA's CRL, signed with it when the station has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sm2: Option<Box<CrlIssued>>,
}

/// Why a fresh CRL is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrlDue {
    /// The station has never signed one.
    None,
    /// A revocation is newer than the last CRL.
    NewRevocation,
    /// The last CRL's nextUpdate is near or past.
    Expiring,
}

impl Station {
    /// Signs a fresh CRL and writes it to `ca/station.crl`: by the clerk
    /// of a session, or (`None`) by the station itself, as its timer does.
    /// It decides nothing: the list is the revocations already recorded.
    pub fn crl(&mut self, cfg: &KeyConfig, by: Option<&Session>) -> Result<CrlIssued, AppError> {
        self.crl_as(cfg, &actor_or_station(by))
    }

    pub(crate) fn crl_as(&mut self, cfg: &KeyConfig, actor: &Actor) -> Result<CrlIssued, AppError> {
        self.check_clock()?;
        let mut issued = self.crl_of(cfg, actor, CaAlgorithm::P256)?;
        // The SM2 sub-CA's CRL is signed with the P-256 one's, so that a
        // revocation under either is listed at once and both stay fresh.
        let sm2_ca = self.store().station_ca_of(CaAlgorithm::Sm2)?;
        if cfg.sm2.is_some() && sm2_ca.is_some_and(|c| c.cert_der.is_some()) {
            issued.sm2 = Some(Box::new(self.crl_of(cfg, actor, CaAlgorithm::Sm2)?));
        }
        Ok(issued)
    }

    /// Signs the CRL of the sub-CA of `alg` and writes it to
    /// `station.crl` in its directory.
    pub(crate) fn crl_of(
        &mut self,
        cfg: &KeyConfig,
        actor: &Actor,
        alg: CaAlgorithm,
    ) -> Result<CrlIssued, AppError> {
        let ca = self.usable_ca_of(alg)?;
        let ca_cert = ca.cert_der.clone().unwrap_or_default();
        let ca_key_id = certificate_info(&ca_cert)?.subject_key_id;
        let signed_at = self.now();
        let now = crate::clock::x509_time(signed_at);
        let mut revoked = Vec::new();
        for c in self.store().revoked()? {
            // Another CA's certificate (read from a key, or known from the
            // central's directory) is that CA's to list.
            if c.source != kiosk_store::CertSource::Issued {
                continue;
            }
            let info = certificate_info(&c.der)?;
            // Signed by this CA key (whichever of its certificates), and
            // still within its validity: an expired one may leave the list.
            if info.authority_key_id != ca_key_id || info.not_after <= now {
                continue;
            }
            revoked.push(revoked_entry(&c)?);
        }
        let token = self.ca_token(cfg, alg)?;
        let key = token.signer(CA_KEY)?;
        let number = ca.crl_number + 1;
        let next_update = signed_at + CRL_VALIDITY;
        let der = key.revocation_list(
            &ca_cert,
            &revoked,
            number as u64,
            now,
            crate::clock::x509_time(next_update),
        )?;
        let record = CrlRecord {
            number,
            this_update: kiosk_store::timestamp(signed_at),
            next_update: kiosk_store::timestamp(next_update),
            der: der.clone(),
            revoked: revoked.len() as i64,
            uploaded_at: None,
        };
        self.store_mut()
            .write(actor, signed_at, |w| w.crl_issued_of(alg, &record))?;
        if alg == CaAlgorithm::P256 {
            self.seal_audit_in(&token.session)?;
        }
        let path = self.ca_dir_of(alg)?.join("station.crl");
        write_file(&path, &pem(&der, "X509 CRL"))?;
        Ok(CrlIssued {
            crl_pem: path,
            number,
            revoked: revoked.len(),
            next_update,
            sm2: None,
        })
    }

    /// Whether a fresh CRL is due, and why.
    pub fn crl_due(&self) -> Result<Option<CrlDue>, AppError> {
        let Some(last) = self.store().last_crl()? else {
            return Ok(Some(CrlDue::None));
        };
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.to_utc())
                .map_err(|e| AppError::Corrupt(format!("CRL {}: {e}", last.number)))
        };
        let newest = self.store().last_revoked_at()?;
        if let Some(r) = newest {
            if at(&r)? >= at(&last.this_update)? {
                return Ok(Some(CrlDue::NewRevocation));
            }
        }
        if at(&last.next_update)? - self.now() < CRL_RESIGN_BEFORE {
            return Ok(Some(CrlDue::Expiring));
        }
        Ok(None)
    }

    /// Whether the last CRL is past its nextUpdate.
    pub(crate) fn crl_expired(&self) -> Result<bool, AppError> {
        let Some(last) = self.store().last_crl()? else {
            return Ok(false);
        };
        let next = DateTime::parse_from_rfc3339(&last.next_update)
            .map_err(|e| AppError::Corrupt(format!("CRL {}: {e}", last.number)))?;
        Ok(next.to_utc() <= self.now())
    }

    /// Signs a CRL when one is due (see [`Station::crl_due`]).
    pub fn refresh_crl(
        &mut self,
        cfg: &KeyConfig,
        by: Option<&Session>,
    ) -> Result<Option<CrlIssued>, AppError> {
        self.refresh_crl_as(cfg, &actor_or_station(by))
    }

    pub(crate) fn refresh_crl_as(
        &mut self,
        cfg: &KeyConfig,
        actor: &Actor,
    ) -> Result<Option<CrlIssued>, AppError> {
        if self
            .store()
            .station_ca()?
            .is_none_or(|c| c.cert_der.is_none())
        {
            return Ok(None);
        }
        match self.crl_due()? {
            Some(_) => self.crl_as(cfg, actor).map(Some),
            None => Ok(None),
        }
    }

    /// Revokes an active certificate (吊销) by hand and re-signs the CRL:
    /// a clerk with another account's approval does it.
    pub fn revoke_certificate(
        &mut self,
        cfg: &KeyConfig,
        serial: &str,
        reason: RevocationReason,
        by: &crate::Acting,
    ) -> Result<(CertRecord, CrlIssued), AppError> {
        let clerk = &by.actor();
        // Its revocation time goes on the CRL: only from a clock to trust.
        self.check_clock()?;
        let serial = serial.trim().to_ascii_lowercase();
        let c = self
            .store()
            .certificate(&serial)?
            .ok_or_else(|| AppError::NotFound {
                what: "证书",
                key: serial.to_string(),
            })?;
        if c.state == CertState::Revoked {
            return Err(Rejection::field("serial", "证书序列号", "already_revoked")
                .zh(
                    format!(
                        "证书 {serial} 已于 {} 吊销",
                        c.revoked_at.as_deref().unwrap_or("-")
                    ),
                    "无需再次吊销；如需最新 CRL，请执行 kioskctl crl",
                )
                .en(
                    format!("certificate {serial} is already revoked"),
                    "nothing to do; run kioskctl crl for a fresh CRL",
                )
                .into());
        }
        let now = self.now();
        self.store_mut().write(&Actor::clerk(clerk), now, |w| {
            w.certificate_state(&c.serial, CertState::Revoked, Some(reason))
        })?;
        let crl = self.crl_as(cfg, &Actor::clerk(clerk))?;
        let record = self.store().certificate(&serial)?.unwrap_or(c);
        Ok((record, crl))
    }
}

/// A revoked certificate as the CRL lists it: its serial, the moment it
/// was revoked and its reason.
fn revoked_entry(c: &CertRecord) -> Result<Revoked, AppError> {
    let at = c
        .revoked_at
        .as_deref()
        .map(DateTime::parse_from_rfc3339)
        .transpose()
        .map_err(|e| AppError::Corrupt(format!("certificate {}: revoked_at {e}", c.serial)))?
        .ok_or_else(|| AppError::Corrupt(format!("certificate {}: no revoked_at", c.serial)))?;
    Ok(Revoked {
        serial: hex::decode(&c.serial)
            .map_err(|e| AppError::Corrupt(format!("certificate {}: {e}", c.serial)))?,
        at: crate::clock::x509_time(at.to_utc()),
        reason: c
            .revocation_reason
            .unwrap_or(RevocationReason::Unspecified)
            .code(),
    })
}

/// The session's clerk, or the station itself (its timer) without one.
fn actor_or_station(by: Option<&Session>) -> Actor {
    by.map_or_else(Actor::system, |s| Actor::clerk(s.clerk_id()))
}
