//! The central's one clock.
//!
//! Every instant the central reads or stores goes through the [`Clock`] it
//! was started with: a signed request's freshness, the nonce horizon, the
//! `/v1/hello` time, and the times written to the database (`last_seen_at`,
//! `received_at`, `decided_at`, …, passed as parameters rather than left to
//! SQL `now()`). Nothing else calls `Utc::now()`.
//!
//! How a test moves it:
//! - the unit tests of this crate use a [`Clock::manual`] clock, which they
//!   set and advance;
//! - the real binary (the end-to-end tests) takes `--clock-offset-secs N`:
//!   the system clock plus `N` seconds, read once at start and fixed for the
//!   life of the process. A test that needs the central's time to have
//!   moved starts a central with an offset.
//!
//! Why this cannot be abused in production: no request can change the
//! clock. There is no route for it, and the offset is fixed when the process
//! starts, by whoever starts it — who can already set the machine's clock,
//! or widen the window with `--max-skew-secs`, so the option gives nothing
//! new. The manual clock exists in test builds only.

use chrono::{DateTime, TimeDelta, Utc};

/// Where the central's time comes from.
pub struct Clock(Source);

enum Source {
    /// The system clock, shifted by a fixed offset (zero in production).
    System { offset: TimeDelta },
    /// A time the test sets.
    #[cfg(test)]
    Manual(std::sync::Mutex<DateTime<Utc>>),
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::offset(TimeDelta::zero())
    }

    /// The system clock plus `offset`, for the life of this clock.
    pub fn offset(offset: TimeDelta) -> Clock {
        Clock(Source::System { offset })
    }

    /// A clock that stands at `at` until the test sets or advances it.
    #[cfg(test)]
    pub fn manual(at: DateTime<Utc>) -> Clock {
        Clock(Source::Manual(std::sync::Mutex::new(at)))
    }

    /// Moves a manual clock by `by` (back when negative).
    #[cfg(test)]
    pub fn advance(&self, by: TimeDelta) {
        match &self.0 {
            Source::Manual(t) => *t.lock().unwrap() += by,
            Source::System { .. } => panic!("only a manual clock can be moved"),
        }
    }

    /// The central's current time.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            Source::System { offset } => Utc::now() + *offset,
            #[cfg(test)]
            Source::Manual(t) => *t.lock().unwrap(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_is_the_real_time() {
        let before = Utc::now();
        let now = Clock::system().now();
        assert!(before <= now && now <= Utc::now());
    }

    #[test]
    fn an_offset_clock_runs_ahead_or_behind_by_the_offset() {
        let ahead = Clock::offset(TimeDelta::seconds(3600));
        let behind = Clock::offset(TimeDelta::seconds(-60));
        let before = Utc::now();
        let (a, b) = (ahead.now(), behind.now());
        let after = Utc::now();
        assert!(a >= before + TimeDelta::seconds(3600) && a <= after + TimeDelta::seconds(3600));
        assert!(b >= before - TimeDelta::seconds(60) && b <= after - TimeDelta::seconds(60));
    }

    #[test]
    fn a_manual_clock_stands_still_until_advanced() {
        let t = DateTime::parse_from_rfc3339("2026-11-21T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = Clock::manual(t);
        assert_eq!(c.now(), t);
        assert_eq!(c.now(), t);
        c.advance(TimeDelta::seconds(4));
        assert_eq!(c.now(), t + TimeDelta::seconds(4));
        c.advance(TimeDelta::seconds(-10));
        assert_eq!(c.now(), t - TimeDelta::seconds(6));
    }
}
