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
//! timer).
//!
//! Between seals, every row is keyed (`kiosk_store::AuditKey`): a process
//! that writes derives, once, a key for its epoch inside the station token
//! from the same master secret the SO PINs come from, and each row carries
//! HMAC-SHA256 of its hash under it. The first time a station keys its
//! trail it writes into the token, where the file cannot reach, the row
//! from which every row must be keyed. `audit verify` with the token
//! derives each epoch's key again and names every row that does not match
//! (`forged`) or has no value where it must (`unkeyed`).

use kiosk_domain::Rejection;
use kiosk_keys::{Module, ObjectClass, ObjectHandle, SecretString, TokenSession, TokenSigner};
use kiosk_store::{AuditFinding, AuditReport};
use kiosk_sync::audit::Seal;
use zeroize::Zeroizing;

use crate::keys::{CA_KEY, MASTER};
use crate::{AppError, KeyConfig, Station};

/// The token's data object that holds the first keyed row (decimal).
const KEYED_FROM: &str = "audit-keyed-from";
const APPLICATION: &str = "kiosk-station";

/// Where the station token is, for deriving epoch keys (and orders'
/// personal-data keys, `personal.rs`) in it.
pub(crate) struct AuditKeys {
    module: String,
    token: String,
    pin: Option<SecretString>,
    station: String,
}

impl AuditKeys {
    pub(crate) fn station(&self) -> &str {
        &self.station
    }

    pub(crate) fn of(cfg: &KeyConfig, station: &str) -> AuditKeys {
        AuditKeys {
            module: cfg.module.clone(),
            token: cfg.station_token.clone(),
            pin: cfg.station_pin.clone(),
            station: station.to_string(),
        }
    }

    /// A logged-in session of the station token and its master secret;
    /// `None` while this station has none (no PIN set up, no station token,
    /// or a token not yet set up as the station's).
    pub(crate) fn session(&self) -> Result<Option<(TokenSession, ObjectHandle)>, AppError> {
        let Some(pin) = &self.pin else {
            return Ok(None);
        };
        let m = Module::load(&self.module)?;
        let Ok(token) = m.by_label(&self.token) else {
            return Ok(None);
        };
        let s = m.open(&token)?;
        s.login_user_shared(pin)?;
        let Some(master) = s.secret(MASTER)? else {
            return Ok(None);
        };
        Ok(Some((s, master)))
    }

    /// The key of `epoch`, computed in the token.
    fn derive(
        &self,
        s: &TokenSession,
        master: ObjectHandle,
        epoch: &str,
    ) -> Result<Zeroizing<[u8; 32]>, AppError> {
        self.derive_for(s, master, &format!("audit-key:{}:{epoch}", self.station))
    }

    /// HMAC-SHA256 under the master of `label`, computed in the token.
    pub(crate) fn derive_for(
        &self,
        s: &TokenSession,
        master: ObjectHandle,
        label: &str,
    ) -> Result<Zeroizing<[u8; 32]>, AppError> {
        let mac = Zeroizing::new(s.hmac(master, label.as_bytes())?);
        let mut key = Zeroizing::new([0u8; 32]);
        if mac.len() != key.len() {
            return Err(AppError::Corrupt(format!(
                "the station token's HMAC-SHA256 gave {} bytes",
                mac.len()
            )));
        }
        key.copy_from_slice(&mac);
        Ok(key)
    }

    /// The row from which every row must be keyed, as the token holds it.
    fn keyed_from(s: &TokenSession) -> Result<Option<i64>, AppError> {
        let values = s.values(ObjectClass::DATA, Some(KEYED_FROM))?;
        values
            .first()
            .map(|v| {
                std::str::from_utf8(v)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| {
                        AppError::Corrupt(format!(
                            "the station token's {KEYED_FROM} is not a number"
                        ))
                    })
            })
            .transpose()
    }

    /// A session for checking: these keys, the session, the master and
    /// the first keyed row (0: none yet).
    fn session_with_keys(
        self,
    ) -> Result<Option<(AuditKeys, TokenSession, ObjectHandle, i64)>, AppError> {
        let Some((s, master)) = self.session()? else {
            return Ok(None);
        };
        let from = Self::keyed_from(&s)?.unwrap_or(0);
        Ok(Some((self, s, master, from)))
    }

    /// The keyer's work: this epoch's key, and the token's record of the
    /// first keyed row when this is the first.
    fn epoch_key(
        &self,
        epoch: &str,
        next_seq: i64,
    ) -> Result<Option<Zeroizing<[u8; 32]>>, AppError> {
        let Some((s, master)) = self.session()? else {
            return Ok(None);
        };
        if Self::keyed_from(&s)?.is_none() {
            s.put_private_data(APPLICATION, KEYED_FROM, next_seq.to_string().as_bytes())?;
        }
        self.derive(&s, master, epoch).map(Some)
    }
}

/// Records in a new station token the row from which the restored trail
/// is keyed, as the old token held it, unless the token already says.
/// Returns the object written, for the caller to destroy if it drops the
/// master after all.
pub(crate) fn restore_keyed_from(
    s: &TokenSession,
    seq: i64,
) -> Result<Option<ObjectHandle>, AppError> {
    if AuditKeys::keyed_from(s)?.is_some() {
        return Ok(None);
    }
    s.put_private_data(APPLICATION, KEYED_FROM, seq.to_string().as_bytes())?;
    Ok(s.find(ObjectClass::DATA, KEYED_FROM)?.into_iter().next())
}

/// Why no row can be written: the trail cannot be keyed.
fn unkeyable(e: AppError) -> Rejection {
    Rejection::field("station_token", "工作站令牌", "audit_unkeyable")
        .zh(
            format!("无法用工作站令牌为审计记录计算密钥校验值（{e}），本次未写入任何内容"),
            "请运维人员检查工作站令牌是否接好、其PIN文件是否正确，然后重试",
        )
        .en(
            format!("the station token cannot key the audit trail ({e}); nothing was written"),
            "have the operator check that the station token is connected and its PIN file is right, then retry",
        )
}

impl Station {
    /// Keys the rows this station writes from now on with the station
    /// token `cfg` names (see the module's documentation). Without a PIN
    /// or a station token set up, rows stay chained only; with them, a
    /// token that cannot be used refuses the write.
    ///
    /// It also has the station token derive the keys of orders' personal
    /// data (`Station::seal_personal_data`), so that every front end that
    /// opens a station with its token does both.
    pub fn key_audit(&mut self, cfg: &KeyConfig) {
        let keys = AuditKeys::of(cfg, self.station_id());
        self.store_mut()
            .set_audit_keyer(Box::new(move |epoch, next| {
                keys.epoch_key(epoch, next).map_err(unkeyable)
            }));
        self.seal_personal_data(cfg);
    }

    /// Walks the trail (the chain, and the orders and outbox records it
    /// vouches for) and checks every seal: the sealed row must still have
    /// the sealed hash, and the signature must be the station CA's. With
    /// the station token (`keys`), also every row's keyed value.
    pub fn verify_audit(&self, keys: Option<&KeyConfig>) -> Result<AuditReport, AppError> {
        let mut report = self.store().verify_audit()?;
        let token = match keys {
            Some(cfg) => AuditKeys::of(cfg, self.station_id()).session_with_keys()?,
            None => None,
        };
        if let Some((keys, s, master, keyed_from)) = token {
            self.store()
                .verify_audit_keys(&mut report, keyed_from, &mut |epoch| {
                    keys.derive(&s, master, epoch).map_err(unkeyable)
                })?;
        }
        let seals = self.store().audit_seals()?;
        // The seals' makers: the sub-CA now, and the ones this station had
        // before (a replaced station's earlier seals are its
        // predecessor's), newest first.
        let mut certs: Vec<Vec<u8>> = self
            .store()
            .station_ca()?
            .and_then(|c| c.cert_der)
            .into_iter()
            .collect();
        for chain in self.store().station_ca_chains()?.iter().rev() {
            if let Some((_, der)) = kiosk_keys::pem_blocks(chain).into_iter().next() {
                if !certs.contains(&der) {
                    certs.push(der);
                }
            }
        }
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
            } else if !certs.iter().any(|c| seal.verify(&station, c).is_ok()) {
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
    pub fn seal_audit(&self, cfg: &KeyConfig) -> Result<Option<Seal>, AppError> {
        self.usable_ca()?;
        let s = self.station_session(cfg)?;
        self.seal_audit_in(&s)
    }
}
