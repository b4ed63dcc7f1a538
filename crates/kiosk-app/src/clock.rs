use chrono::{DateTime, NaiveDate, Utc};

use kiosk_domain::calendar::local_date;

/// Where the station learns the time. Rules never read the clock
/// themselves; they get dates from here.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// Today in station time (Asia/Shanghai).
    fn today(&self) -> NaiveDate {
        local_date(self.now())
    }
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock stopped at one instant, for tests and replays.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// An instant as the X.509 code (the `time` crate) takes it.
pub(crate) fn x509_time(t: DateTime<Utc>) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// An instant read from a certificate, as the station keeps time.
pub(crate) fn from_x509(t: time::OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.unix_timestamp(), 0).unwrap_or_default()
}
