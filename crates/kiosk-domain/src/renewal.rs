//! The renewal window and the validity a renewal buys.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::calendar::{add_years, days_between};
use crate::catalog::RenewalWindow;
use crate::Rejection;

/// Whether the applicant can renew at the counter now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RenewalMode {
    /// Renew now, without a new review of the materials.
    SelfService,
    /// Expired too long ago: the materials are reviewed again first.
    ReviewRequired,
    /// Too early: the window has not opened.
    TooEarly,
}

/// The engine's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalDecision {
    pub mode: RenewalMode,
    pub new_not_before: Option<NaiveDate>,
    pub new_not_after: Option<NaiveDate>,
    /// Days left until the old certificate's last day; negative once expired.
    pub days_left: i64,
    pub years: u32,
    /// First day the window opens (only when too early).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_on: Option<NaiveDate>,
    pub message: String,
    pub message_en: String,
}

/// Decides a renewal of a certificate whose last valid day is `not_after`.
///
/// Open when fewer than `open_days_before_expiry` days remain or when it
/// expired no more than `grace_days_after_expiry` days ago. Not yet expired:
/// the new validity runs from the old expiry; expired: from the day of issue
/// (today). Beyond the grace period the same dates apply once a review has
/// passed, so they are given with mode `review-required`.
pub fn decide(
    window: RenewalWindow,
    not_after: NaiveDate,
    today: NaiveDate,
    years: Option<u32>,
) -> Result<RenewalDecision, Rejection> {
    let years = years.unwrap_or(window.years_per_renewal);
    if years == 0 || years > window.max_years {
        return Err(Rejection::field("years", "续期年限", "years_out_of_range")
            .zh(
                format!(
                    "续期年限 {years} 不可用：只能为 1 至 {} 年",
                    window.max_years
                ),
                "请重新选择年限",
            )
            .en(
                format!("{years} years is not possible: 1 to {}", window.max_years),
                "choose the number of years again",
            ));
    }
    let days_left = days_between(today, not_after);
    let open = window.open_days_before_expiry as i64;
    let grace = window.grace_days_after_expiry as i64;
    let decision =
        |mode, from: Option<NaiveDate>, opens_on, message: String, message_en: String| {
            RenewalDecision {
                mode,
                new_not_before: from,
                new_not_after: from.map(|f| add_years(f, years)),
                days_left,
                years,
                opens_on,
                message,
                message_en,
            }
        };
    Ok(if days_left >= open {
        let opens_on = not_after - Duration::days(open - 1);
        decision(
            RenewalMode::TooEarly,
            None,
            Some(opens_on),
            format!(
                "证书还有 {days_left} 天到期（{not_after}），到期前不足 {open} 天时方可更新，最早 {opens_on} 可办理"
            ),
            format!("{days_left} days left until {not_after}; renewal opens on {opens_on}"),
        )
    } else if days_left >= 0 {
        decision(
            RenewalMode::SelfService,
            Some(not_after),
            None,
            format!("证书将于 {not_after} 到期（剩 {days_left} 天），可以更新：新证书有效期自原到期日起顺延 {years} 年"),
            format!("expires {not_after} ({days_left} days left): renewal extends it by {years} year(s) from the old expiry"),
        )
    } else if -days_left <= grace {
        decision(
            RenewalMode::SelfService,
            Some(today),
            None,
            format!(
                "证书已于 {not_after} 过期 {} 天，可以更新：新证书有效期自今日起计 {years} 年",
                -days_left
            ),
            format!(
                "expired {} days ago: the new validity runs {years} year(s) from today",
                -days_left
            ),
        )
    } else {
        decision(
            RenewalMode::ReviewRequired,
            Some(today),
            None,
            format!(
                "证书已过期 {} 天，超过 {grace} 天：需要重新提交并审核申请材料，审核通过后自制证之日起计 {years} 年",
                -days_left
            ),
            format!("expired {} days ago, more than {grace}: the materials must be reviewed again", -days_left),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BJCA: RenewalWindow = RenewalWindow {
        open_days_before_expiry: 90,
        grace_days_after_expiry: 365,
        years_per_renewal: 1,
        max_years: 5,
    };

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn boundaries() {
        let not_after = d("2027-03-01");
        // (days before (+) or after (-) expiry, mode, new_not_before, new_not_after)
        let cases: &[(i64, RenewalMode, Option<&str>, Option<&str>)] = &[
            (91, RenewalMode::TooEarly, None, None),
            (90, RenewalMode::TooEarly, None, None),
            (
                89,
                RenewalMode::SelfService,
                Some("2027-03-01"),
                Some("2028-03-01"),
            ),
            (
                0,
                RenewalMode::SelfService,
                Some("2027-03-01"),
                Some("2028-03-01"),
            ),
            (
                -1,
                RenewalMode::SelfService,
                Some("2027-03-02"),
                Some("2028-03-02"),
            ),
            // 2028 is a leap year: 365 days after 2027-03-01 is 29 February.
            (
                -364,
                RenewalMode::SelfService,
                Some("2028-02-28"),
                Some("2029-02-28"),
            ),
            (
                -365,
                RenewalMode::SelfService,
                Some("2028-02-29"),
                Some("2029-02-28"),
            ),
            (
                -366,
                RenewalMode::ReviewRequired,
                Some("2028-03-01"),
                Some("2029-03-01"),
            ),
        ];
        for &(left, mode, from, to) in cases {
            let today = not_after - Duration::days(left);
            let got = decide(BJCA, not_after, today, None).unwrap();
            assert_eq!(got.mode, mode, "{left} days left");
            assert_eq!(got.days_left, left);
            assert_eq!(got.new_not_before, from.map(d), "{left} days left");
            assert_eq!(got.new_not_after, to.map(d), "{left} days left");
        }
    }

    #[test]
    fn too_early_says_when_it_opens() {
        let got = decide(BJCA, d("2027-03-01"), d("2026-11-21"), None).unwrap();
        assert_eq!(got.opens_on, Some(d("2026-12-02")));
        let opened = decide(BJCA, d("2027-03-01"), d("2026-12-02"), None).unwrap();
        assert_eq!(opened.mode, RenewalMode::SelfService);
        assert!(got.message.contains("2026-12-02"), "{}", got.message);
    }

    #[test]
    fn leap_day_expiry_clamps() {
        let got = decide(BJCA, d("2028-02-29"), d("2028-02-01"), Some(1)).unwrap();
        assert_eq!(got.new_not_after, Some(d("2029-02-28")));
        let got = decide(BJCA, d("2028-02-29"), d("2028-02-01"), Some(4)).unwrap();
        assert_eq!(got.new_not_after, Some(d("2032-02-29")));
    }

    #[test]
    fn years_are_bounded() {
        assert_eq!(
            decide(BJCA, d("2027-03-01"), d("2027-02-01"), Some(3))
                .unwrap()
                .new_not_after,
            Some(d("2030-03-01"))
        );
        for bad in [0, 6] {
            let err = decide(BJCA, d("2027-03-01"), d("2027-02-01"), Some(bad)).unwrap_err();
            assert_eq!(err.field, "years");
        }
    }
}
