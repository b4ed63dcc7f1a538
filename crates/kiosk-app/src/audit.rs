//! The audit trail's verification and its seals. The trail is a SHA-256
//! chain that `kiosk-store` writes with every change; a seal is the
//! station's issuing key, in the station token, signing the hash of a row
//! (`kiosk_sync::audit::Seal`). Whoever holds only `station.db` can
//! rewrite rows and compute the chain again, but cannot seal: a rewrite
//! reaching back before a sealed row breaks that seal, and the central,
//! which checks every seal and the rows that lead to it at each sync,
//! refuses a history that no longer leads to what it holds.
//!
//! The station seals its newest row whenever it has the token open: after
//! key work and a CRL, before each sync, and on `kioskctl audit seal` (a
//! timer). Rows after the newest seal are vouched for only by the chain
//! until the next seal; `audit verify` says how many there are.

use kiosk_keys::{Module, TokenSession, TokenSigner};
use kiosk_store::{AuditFinding, AuditReport};
use kiosk_sync::audit::Seal;

use crate::keys::CA_KEY;
use crate::{AppError, KeyConfig, Station};

impl Station {
    /// Walks the trail (the chain, and the orders and outbox records it
    /// vouches for) and checks every seal: the sealed row must still have
    /// the sealed hash, and the signature must be the station CA's.
    pub fn verify_audit(&self) -> Result<AuditReport, AppError> {
        let mut report = self.store().verify_audit()?;
        let seals = self.store().audit_seals()?;
        let cert = self
            .store()
            .station_ca()?
            .and_then(|c| c.cert_der)
            .unwrap_or_default();
        let station = self.station_id().to_string();
        for seal in &seals {
            let row = self.store().audit_rows(seal.seq - 1, seal.seq)?;
            let still = row.first().is_some_and(|r| r.hash == seal.hash);
            if !still {
                report.findings.push(AuditFinding {
                    seq: seal.seq,
                    kind: "seal_broken",
                    message: format!(
                        "第 {} 条审计记录已由本站签发密钥于 {} 加封，现已不是当时的记录：此前的审计记录被改写",
                        seal.seq, seal.at
                    ),
                    message_en: format!(
                        "audit row {} was sealed by the station's key at {} and is no longer that row: the trail before it was rewritten",
                        seal.seq, seal.at
                    ),
                });
            } else if seal.verify(&station, &cert).is_err() {
                report.findings.push(AuditFinding {
                    seq: seal.seq,
                    kind: "seal_forged",
                    message: format!(
                        "第 {} 条审计记录的封记不是本站签发CA的签名：封记是伪造的",
                        seal.seq
                    ),
                    message_en: format!(
                        "the seal of audit row {} is not the station CA's signature: it was forged",
                        seal.seq
                    ),
                });
            }
        }
        report.seals = seals.len();
        report.sealed_upto = seals.last().map_or(0, |s| s.seq);
        report.ok = report.findings.is_empty();
        Ok(report)
    }

    /// Seals the newest row of the trail with the station CA's key (in the
    /// open station token session `s`), unless it is sealed already or the
    /// trail is empty. Returns the seal of the newest row.
    pub(crate) fn seal_audit_in(&self, s: &TokenSession) -> Result<Option<Seal>, AppError> {
        let (seq, hash) = self.store().audit_head()?;
        if seq == 0 {
            return Ok(None);
        }
        let seals = self.store().audit_seals()?;
        if let Some(last) = seals.last().filter(|l| l.seq == seq && l.hash == hash) {
            return Ok(Some(last.clone()));
        }
        let at = kiosk_store::timestamp(self.now());
        let signer = TokenSigner::new(s, CA_KEY.as_bytes())?;
        let signature = signer.sign_der(&Seal::message(self.station_id(), seq, &hash, &at))?;
        let seal = Seal {
            seq,
            hash,
            at,
            signature: hex::encode(signature),
        };
        self.store().add_audit_seal(&seal)?;
        Ok(Some(seal))
    }

    /// `kioskctl audit seal`: seals the newest row (the timer runs it).
    pub fn seal_audit(&self, m: &Module, cfg: &KeyConfig) -> Result<Option<Seal>, AppError> {
        self.usable_ca()?;
        let s = self.station_session(m, cfg)?;
        self.seal_audit_in(&s)
    }
}
