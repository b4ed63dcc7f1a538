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
