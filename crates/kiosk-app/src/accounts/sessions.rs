//! Console sessions: random tokens that only this process can map to a
//! clerk, ended by idle time, and the wrong-secret throttle shared by
//! logins and supervisor approvals.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use kiosk_keys::SecretString;
use serde::Serialize;

use super::{denied, ClerkView, Role};
use crate::error::Denial;
use crate::{AppError, Station};

/// A logged-in console session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub clerk: ClerkView,
    pub started_at: DateTime<Utc>,
    #[serde(skip)]
    last_seen: DateTime<Utc>,
}

impl Session {
    /// Refuses unless the session's account acts as `role` or above.
    pub fn may(&self, role: Role) -> Result<(), AppError> {
        if self.clerk.role < role {
            return Err(denied(
                Denial::Forbidden,
                "session",
                "forbidden",
                "权限",
                "当前账号无权执行此操作",
                "请由主管登录后操作",
                "this account may not do that",
            ));
        }
        Ok(())
    }
}

/// Wrong secrets in a row that pause an account's logins and approvals.
pub const MAX_FAILURES: u32 = 5;
/// How long an account stays paused after [`MAX_FAILURES`].
pub const LOCKOUT_MINUTES: i64 = 5;

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    until: Option<DateTime<Utc>>,
}

/// The console sessions of this process. Tokens are random, never stored,
/// and expire after `idle` without use. Wrong secrets are counted per
/// account: after [`MAX_FAILURES`] in a row the account is paused for
/// [`LOCKOUT_MINUTES`], at login and at supervisor approval alike.
pub struct Sessions {
    idle: Duration,
    by_token: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, Failures>>,
}

impl Sessions {
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            by_token: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `check` (which verifies `id`'s secret) unless the account is
    /// paused; counts a wrong secret, forgets the count on success.
    pub fn throttled<T>(
        &self,
        id: &str,
        now: DateTime<Utc>,
        check: impl FnOnce() -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let key = id.trim().to_lowercase();
        if let Some(until) = self.failures().get(&key).and_then(|f| f.until) {
            if until > now {
                let minutes = ((until - now).num_seconds() + 59) / 60;
                return Err(denied(
                    Denial::LockedOut,
                    "clerk_id",
                    "locked_out",
                    "账号",
                    &format!("该账号连续 {MAX_FAILURES} 次密码错误，已暂停登录和审批"),
                    &format!("请 {minutes} 分钟后再试；忘记密码请联系主管重置"),
                    "too many wrong secrets in a row: the account is paused",
                ));
            }
        }
        let out = check();
        let mut failures = self.failures();
        match &out {
            Ok(_) => {
                failures.remove(&key);
            }
            Err(AppError::Denied(Denial::BadCredentials, _)) => {
                let f = failures.entry(key).or_default();
                f.count += 1;
                if f.count >= MAX_FAILURES {
                    f.count = 0;
                    f.until = Some(now + Duration::minutes(LOCKOUT_MINUTES));
                }
            }
            Err(_) => {}
        }
        out
    }

    /// Checks the account and opens a session; returns its token.
    pub fn login(
        &self,
        station: &Station,
        id: &str,
        secret: &SecretString,
    ) -> Result<(String, Session), AppError> {
        let clerk = self.throttled(id, station.now(), || station.verify_clerk(id, secret))?;
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw)
            .map_err(|e| AppError::io("getrandom", std::io::Error::other(e.to_string())))?;
        let token = hex::encode(raw);
        let now = station.now();
        let s = Session {
            clerk,
            started_at: now,
            last_seen: now,
        };
        self.lock().insert(token.clone(), s.clone());
        Ok((token, s))
    }

    pub fn logout(&self, token: &str) {
        self.lock().remove(token);
    }

    /// The live session behind `token`, refreshed. What the session's role
    /// may do is decided where it is done ([`Session::may`]).
    pub fn require(&self, token: Option<&str>, now: DateTime<Utc>) -> Result<Session, AppError> {
        let mut map = self.lock();
        map.retain(|_, s| now - s.last_seen <= self.idle);
        let Some(s) = token.and_then(|t| map.get_mut(t)) else {
            return Err(denied(
                Denial::NotLoggedIn,
                "session",
                "not_logged_in",
                "登录",
                "未登录或登录已超时",
                "请受理员登录后再操作",
                "not logged in, or the session timed out",
            ));
        };
        s.last_seen = now;
        Ok(s.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic elsewhere must not lock every clerk out.
        self.by_token.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}
