//! What the counter's touchscreen and console do with keys beyond the CLI's
//! single steps: read the keys that are plugged in, work out a renewal from
//! the certificate on a key, and carry out an order once a supervisor has
//! approved it where that is needed.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use kiosk_domain::renewal::RenewalDecision;
use kiosk_keys::{Module, SecretString};
use kiosk_store::JournalEntry;
use serde::Serialize;

use crate::{AppError, KeyConfig, KeyView, Personalized, Station};

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
}

/// `OffsetDateTime`'s display ("2027-11-21 15:59:59.0 +00:00:00", UTC)
/// as the station's date.
fn station_date(utc: &str) -> Option<NaiveDate> {
    let t = NaiveDateTime::parse_from_str(utc.get(..19)?, "%Y-%m-%d %H:%M:%S").ok()?;
    Some((t + Duration::hours(8)).date())
}

impl Station {
    /// Every key plugged in but the station's own token.
    pub fn present_keys(&self, m: &Module, cfg: &KeyConfig) -> Result<Vec<PresentKey>, AppError> {
        let mut out = Vec::new();
        for t in m.tokens()? {
            if !t.initialized || t.label == cfg.station_token {
                continue;
            }
            let key = self.key_show(m, &t.serial)?;
            let blank_in_stock = key.stock.as_ref().is_some_and(|s| s.state == "in-stock");
            out.push(PresentKey {
                not_after_date: key.not_after.as_deref().and_then(station_date),
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
            return Err(kiosk_domain::Rejection::new(
                "key",
                "no_certificate_key",
                "证书介质",
                "未检测到带证书的介质",
                "请插入要更新的证书介质（U盾），稍候再点“读取证书”",
                "no key with a certificate is plugged in",
                "plug in the key to renew and read it again",
            )
            .into());
        };
        let not_after = key.not_after_date.expect("filtered above");
        let renewal = self.rules()?.renewal(provider, not_after, years)?;
        Ok(KeyRenewal { key, renewal })
    }

    /// Carries out a paid order on a key at the counter: refused for an
    /// unlock or revocation until a supervisor approved it.
    #[allow(clippy::too_many_arguments)]
    pub fn run_at_counter(
        &mut self,
        m: &Module,
        cfg: &KeyConfig,
        order_key: &str,
        key_serial: Option<&str>,
        pin: Option<&SecretString>,
        seal_png: Option<&[u8]>,
        clerk: &str,
    ) -> Result<Personalized, AppError> {
        self.check_approved(order_key)?;
        self.run_order(m, cfg, order_key, key_serial, pin, seal_png, clerk)
    }

    /// The journal of an order's key work, for live progress.
    pub fn progress(&self, order_key: &str) -> Result<Vec<JournalEntry>, AppError> {
        let order = self.find_order(order_key)?;
        Ok(self.store().journal_entries(&order.id)?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn certificate_end_is_read_as_the_station_day() {
        use chrono::NaiveDate;
        assert_eq!(
            super::station_date("2027-11-21 15:59:59.0 +00:00:00"),
            NaiveDate::from_ymd_opt(2027, 11, 21)
        );
        assert_eq!(
            super::station_date("2027-11-21 16:00:00.0 +00:00:00"),
            NaiveDate::from_ymd_opt(2027, 11, 22)
        );
        assert_eq!(super::station_date("junk"), None);
    }
}
