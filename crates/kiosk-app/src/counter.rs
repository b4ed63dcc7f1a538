//! What the counter's touchscreen and console do with keys beyond the CLI's
//! single steps: read the keys that are plugged in, work out a renewal from
//! the certificate on a key, and carry out an order once a supervisor has
//! approved it where that is needed.

use chrono::NaiveDate;
use kiosk_domain::renewal::RenewalDecision;
use kiosk_keys::Module;
use serde::Serialize;

use kiosk_domain::order::Order;

use crate::accounts::needs_approval;
use crate::operations::{pin_need, seal_need, writes_blank_key};
use crate::{AppError, AttachmentView, KeyConfig, KeyView, PinNeed, SealNeed, SealView, Station};
use kiosk_store::{CertState, StockState};

/// A key plugged in at the counter, with what the station knows of it.
#[derive(Debug, Clone, Serialize)]
pub struct PresentKey {
    pub key: KeyView,
    /// The station date (UTC+8) the key's certificate ends on.
    pub not_after_date: Option<NaiveDate>,
    /// Whether it is a blank key from stock, ready to be written.
    pub blank_in_stock: bool,
}

/// The renewal window read from the certificate on a key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyRenewal {
    pub key: PresentKey,
    pub renewal: RenewalDecision,
    /// The company the certificate names, offered to fill the form.
    pub company: Option<crate::CompanyPrefill>,
}

/// An order as the clerk console shows it: the order, and what the rules
/// say the counter does next, so that no front end decides it.
#[derive(Debug, Clone)]
pub struct DeskOrder {
    pub order: Order,
    pub attachments: Vec<AttachmentView>,
    /// The order's latest seal, with its PNG.
    pub seal: Option<(SealView, Vec<u8>)>,
    pub pin_need: PinNeed,
    pub seal_need: SealNeed,
    /// A supervisor must approve the key work (unlock, revoke).
    pub needs_approval: bool,
    pub approved_by: Option<String>,
    /// The key work writes a blank key from stock (else the applicant's).
    pub writes_blank_key: bool,
    /// The certificate the order made, once active.
    pub certificate_serial: Option<String>,
    /// The certificate the order replaced or revoked was another CA's:
    /// revoked here, pending at the central until a sync (see
    /// [`Station::revocation_pending_at_central`]).
    pub revocation_pending_at_central: bool,
    /// When the order's personal data and scans were purged.
    pub personal_data_purged_at: Option<String>,
}

impl Station {
    /// An order as the console shows it, with what the rules say next.
    pub fn desk_order(&self, order: Order) -> Result<DeskOrder, AppError> {
        let op = order.application.operation;
        let approved_by = self
            .store()
            .approvals(&order.id)?
            .into_iter()
            .next_back()
            .map(|a| a.supervisor);
        let certificate_serial = self
            .store()
            .certificates(None, Some(&order.id))?
            .into_iter()
            .find(|c| c.state == CertState::Active)
            .map(|c| c.serial);
        let seal = match self.seals(&order.id)?.pop() {
            Some(v) => {
                let png = std::fs::read(&v.path).map_err(|e| AppError::io(v.path.display(), e))?;
                Some((v, png))
            }
            None => None,
        };
        Ok(DeskOrder {
            attachments: self.attachments(&order.id)?,
            seal,
            pin_need: pin_need(op),
            seal_need: seal_need(op),
            needs_approval: needs_approval(op),
            approved_by,
            writes_blank_key: writes_blank_key(op),
            certificate_serial,
            revocation_pending_at_central: self.revocation_pending_at_central(&order)?,
            personal_data_purged_at: self.personal_data_purged_at(&order.id)?,
            order,
        })
    }

    /// Every key plugged in but the station's own token.
    /// Keys in the SM2 module count too, but for the station's SM2 token.
    pub fn present_keys(&self, m: &Module, cfg: &KeyConfig) -> Result<Vec<PresentKey>, AppError> {
        let mut out = Vec::new();
        let mut tokens = m.tokens()?;
        if let Some(sm2) = &cfg.sm2 {
            let own = &sm2.station_token;
            let keys = Module::load(&sm2.module)?.tokens()?;
            tokens.extend(keys.into_iter().filter(|t| &t.label != own));
        }
        for t in tokens {
            if !t.initialized || t.label == cfg.station_token {
                continue;
            }
            let key = self.key_show(m, cfg, &t.serial)?;
            let blank_in_stock = key
                .stock
                .as_ref()
                .is_some_and(|s| s.state == StockState::InStock);
            out.push(PresentKey {
                not_after_date: key.not_after.map(kiosk_domain::calendar::local_date),
                key,
                blank_in_stock,
            });
        }
        Ok(out)
    }

    /// The renewal window of the certificate on the one key that carries
    /// one, as the applicant sees it before filling in the form.
    pub fn key_renewal(
        &self,
        m: &Module,
        cfg: &KeyConfig,
        provider: &str,
        years: Option<u32>,
    ) -> Result<KeyRenewal, AppError> {
        let keys: Vec<PresentKey> = self
            .present_keys(m, cfg)?
            .into_iter()
            .filter(|k| k.not_after_date.is_some())
            .collect();
        let Some(key) = keys.into_iter().next_back() else {
            return Err(AppError::NoKey(
                kiosk_domain::Rejection::field("key", "证书介质", "no_certificate_key")
                    .zh(
                        "未检测到带证书的介质",
                        "请插入要更新的证书介质（U盾），稍候再点“读取证书”",
                    )
                    .en(
                        "no key with a certificate is plugged in",
                        "plug in the key to renew and read it again",
                    ),
            ));
        };
        let not_after = key.not_after_date.expect("filtered above");
        let renewal = self.rules()?.renewal(provider, not_after, years)?;
        let company = self.company_on_key(&key.key)?;
        Ok(KeyRenewal {
            key,
            renewal,
            company,
        })
    }
}
