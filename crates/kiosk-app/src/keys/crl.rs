//! Revocation and the certificate revocation list the station signs.

use std::path::PathBuf;

use kiosk_keys::Module;
use kiosk_keys::{certificate_info, revocation_list, Revoked, TokenSigner};
use kiosk_store::{Actor, CertRecord};

use super::*;
use crate::{AppError, Station};

impl Station {
    /// Signs a fresh CRL of everything this station revoked and writes it to
    /// `ca/station.crl`.
    pub fn crl(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        operator: &str,
    ) -> Result<(PathBuf, i64, usize), AppError> {
        let ca = self.usable_ca()?;
        let ca_cert = ca.cert_der.clone().unwrap_or_default();
        let issuer = certificate_info(&ca_cert)?.serial;
        let signed_at = self.now();
        // Each entry carries the moment of its revocation, not of the CRL.
        let revoked: Vec<Revoked> = self
            .store()
            .revoked(&issuer)?
            .into_iter()
            .map(|c| Revoked {
                serial: hex::decode(&c.serial).unwrap_or_default(),
                at: crate::clock::x509_time(
                    c.revoked_at
                        .as_deref()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map_or(signed_at, |t| t.to_utc()),
                ),
                reason: c.revocation_reason.unwrap_or(0),
            })
            .collect();
        let s = self.station_session(m, cfg)?;
        let key = TokenSigner::new(&s, CA_KEY.as_bytes())?;
        let number = ca.crl_number + 1;
        let now = crate::clock::x509_time(signed_at);
        let der = revocation_list(
            &ca_cert,
            &key,
            &revoked,
            number as u64,
            now,
            now + time::Duration::days(7),
        )?;
        let at = self.now();
        self.store_mut()
            .write(&Actor::operator(operator), at, |w| {
                w.crl_issued(number, &der, revoked.len())
            })?;
        let path = self.ca_dir()?.join("station.crl");
        write_file(&path, &pem(&der, "X509 CRL"))?;
        Ok((path, number, revoked.len()))
    }

    /// Revokes an active certificate (吊销); the next CRL lists it.
    pub fn revoke_certificate(
        &mut self,
        serial: &str,
        reason: u8,
        clerk: &str,
    ) -> Result<CertRecord, AppError> {
        let c = self
            .store()
            .certificate(serial)?
            .ok_or_else(|| AppError::NotFound {
                what: "证书",
                key: serial.to_string(),
            })?;
        if c.state == "revoked" {
            return Ok(c);
        }
        let now = self.now();
        self.store_mut().write(&Actor::clerk(clerk), now, |w| {
            w.certificate_state(&c.serial, "revoked", Some(reason))
        })?;
        Ok(self.store().certificate(serial)?.unwrap_or(c))
    }
}
