//! Honest validity: certificate times come from the station clock only,
//! a clock that runs behind what the station has already written is
//! refused, and no certificate outlives the sub-CA that signs it.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use kiosk_domain::calendar::local_date;
use kiosk_domain::Rejection;
use kiosk_keys::certificate_info;
use kiosk_store::StationCa;
use serde::Serialize;

use crate::clock::from_x509;
use crate::{AppError, Station};

/// How far the clock may read behind the latest instant the station wrote
/// down before key work stops: time servers correct a drifting clock by
/// fractions of a second, an operator's mistake by hours or years.
pub const CLOCK_TOLERANCE: Duration = Duration::minutes(2);

/// The console warns this long before the sub-CA's notAfter.
pub const CA_WARNING: Duration = Duration::days(60);

/// Something the console shows until an operator acts on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StationWarning {
    pub code: &'static str,
    pub message: String,
    pub message_en: String,
}

fn clock_field(code: &'static str) -> kiosk_domain::RefusalZh {
    Rejection::field("clock", "工作站时钟", code)
}

impl Station {
    /// Key work and CRLs run on the station clock alone. Refused while
    /// `--today` pins another date than the clock's, when the clock reads
    /// earlier than the latest instant the station wrote down (it was set
    /// back), or earlier than the sub-CA's notBefore.
    pub(crate) fn check_clock(&self) -> Result<(), AppError> {
        let now = self.now();
        let clock_today = local_date(now);
        if self.today() != clock_today {
            let pinned = self.today();
            return Err(Rejection::field("today", "业务日期", "today_pinned")
                .zh(
                    format!("业务日期被指定为 {pinned}，而工作站时钟为 {clock_today}：证书的有效期只按工作站时钟签发"),
                    "制证、吊销和签发CRL时请不要指定 --today（KIOSK_TODAY）；如时钟有误，请先校准时钟",
                )
                .en(
                    format!("the rules' date is pinned to {pinned} but the station clock says {clock_today}; certificates are dated by the clock alone"),
                    "run key work without --today (KIOSK_TODAY); if the clock is wrong, set it right first",
                )
                .into());
        }
        if let Some(latest) = self.store().latest_seen()? {
            let latest = DateTime::parse_from_rfc3339(&latest)
                .map_err(|e| AppError::Corrupt(format!("audit time {latest}: {e}")))?
                .to_utc();
            if now + CLOCK_TOLERANCE < latest {
                return Err(clock_field("clock_behind")
                    .zh(
                        format!(
                            "工作站时钟（{}）早于本站已记录的时间（{}）：时钟被调回过",
                            shown(now),
                            shown(latest)
                        ),
                        "请运维人员将系统时钟校准到正确时间后再制证",
                    )
                    .en(
                        format!(
                            "the station clock ({}) reads earlier than a time the station already recorded ({}): it was set back",
                            shown(now),
                            shown(latest)
                        ),
                        "have the operator set the system clock right before any key work",
                    )
                    .into());
            }
        }
        if let Some(ca) = self.store().station_ca()?.and_then(|c| c.cert_der) {
            let not_before = from_x509(certificate_info(&ca)?.not_before);
            if now < not_before {
                return Err(clock_field("clock_before_ca")
                    .zh(
                        format!(
                            "工作站时钟（{}）早于本站签发CA证书的生效时间（{}）",
                            shown(now),
                            shown(not_before)
                        ),
                        "请运维人员校准系统时钟后再制证",
                    )
                    .en(
                        format!(
                            "the station clock ({}) reads earlier than the station CA's notBefore ({})",
                            shown(now),
                            shown(not_before)
                        ),
                        "have the operator set the system clock right",
                    )
                    .into());
            }
        }
        Ok(())
    }

    /// A certificate ending on `last_day` must not outlive the sub-CA
    /// that signs it.
    pub(crate) fn within_issuer(
        &self,
        ca: &StationCa,
        last_day: NaiveDate,
    ) -> Result<(), AppError> {
        let ca_end = certificate_info(ca.cert_der.as_deref().unwrap_or_default())?.not_after;
        if crate::keys::end_of_day(last_day) > ca_end {
            let ca_day = local_date(from_x509(ca_end));
            return Err(Rejection::field("station_ca", "签发CA", "outlives_issuer")
                .zh(
                    format!("按规则证书应有效至 {last_day}，晚于本站签发CA证书的到期日 {ca_day}"),
                    "签发CA证书需要更新：请运维人员联网同步或向中心CA申请更新签发CA证书后再办理",
                )
                .en(
                    format!("the rules give a certificate valid to {last_day}, past the station CA's end on {ca_day}"),
                    "the station's sub-CA certificate needs renewing: sync, or ask the central CA, then try again",
                )
                .into());
        }
        Ok(())
    }

    /// What the console warns about: a sub-CA certificate that ends within
    /// [`CA_WARNING`].
    pub fn station_warnings(&self) -> Result<Vec<StationWarning>, AppError> {
        let mut out = Vec::new();
        if let Some(der) = self.store().station_ca()?.and_then(|c| c.cert_der) {
            let end = from_x509(certificate_info(&der)?.not_after);
            let left = end - self.now();
            if left < CA_WARNING {
                let day = local_date(end);
                let days = left.num_days().max(0);
                out.push(StationWarning {
                    code: "station_ca_expiring",
                    message: format!(
                        "本站签发CA证书将于 {day} 到期（剩余 {days} 天）；到期前签发的证书有效期不能晚于该日。请尽快联网同步或向中心CA申请更新"
                    ),
                    message_en: format!(
                        "the station CA certificate ends on {day} ({days} days left); no certificate can run past it. Sync or ask the central CA for a renewed one"
                    ),
                });
            }
        }
        // A revocation the CRL does not list yet, or a CRL past its
        // nextUpdate: the re-signing failed (station token unreachable?).
        match self.crl_due()? {
            Some(crate::keys::CrlDue::NewRevocation) => out.push(StationWarning {
                code: "crl_behind",
                message: "有已吊销的证书尚未列入CRL（签发失败）。请运维人员检查工作站令牌后执行 kioskctl crl".into(),
                message_en: "a revoked certificate is not on the CRL yet (signing failed); check the station token and run kioskctl crl".into(),
            }),
            Some(crate::keys::CrlDue::Expiring) if self.crl_expired()? => out.push(StationWarning {
                code: "crl_expired",
                message: "本站CRL已过下次更新时间，依赖方将无法确认证书状态。请运维人员检查工作站令牌后执行 kioskctl crl".into(),
                message_en: "the station's CRL is past its nextUpdate, so relying parties cannot check certificates; check the station token and run kioskctl crl".into(),
            }),
            _ => {}
        }
        Ok(out)
    }
}

fn shown(t: DateTime<Utc>) -> String {
    kiosk_domain::calendar::local_time(t)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}
