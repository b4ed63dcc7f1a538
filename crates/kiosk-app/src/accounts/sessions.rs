//! Console sessions: random tokens that only this process can map to a
//! clerk, ended by idle time; and the wrong-secret throttle shared by
//! logins and supervisor approvals at the console and the command line.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use kiosk_keys::SecretString;
use kiosk_store::LoginFailures;
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
    /// A session found again (the command line's, kept in the database).
    pub(super) fn resumed(
        clerk: ClerkView,
        started_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Session {
        Session {
            clerk,
            started_at,
            last_seen: now,
        }
    }

    /// The session's clerk: who the station records as having acted.
    pub fn clerk_id(&self) -> &str {
        &self.clerk.id
    }

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

impl Station {
    /// A session for an active account of this station, opened without its
    /// password. Only the demo (acting as the documented accounts it made
    /// itself) and tests use it; front ends get sessions by logging in.
    pub(crate) fn session_without_password(&self, id: &str) -> Result<Session, AppError> {
        let clerk: ClerkView = self
            .store()
            .clerk(id)?
            .filter(|c| c.active)
            .ok_or_else(|| AppError::NotFound {
                what: "账号",
                key: id.to_string(),
            })?
            .into();
        let now = self.now();
        Ok(Session::resumed(clerk, now, now))
    }
}

#[cfg(test)]
impl Station {
    /// The session of clerk `id`, made (role clerk) when missing.
    pub(crate) fn test_clerk(&mut self, id: &str) -> Session {
        if self.store().clerk(id).unwrap().is_none() {
            let secret = SecretString::from(format!("{id}-test-password"));
            self.put_clerk_as(
                id,
                id,
                Role::Clerk,
                &secret,
                None,
                &kiosk_store::Actor::operator("test"),
            )
            .unwrap();
        }
        self.session_without_password(id).unwrap()
    }
}

/// Wrong secrets in a row that pause an account's logins and approvals.
pub const MAX_FAILURES: u32 = 5;
/// How long an account stays paused after [`MAX_FAILURES`].
pub const LOCKOUT_MINUTES: i64 = 5;
/// How long a session (console or command line) lasts without use.
pub const SESSION_IDLE_MINUTES: i64 = 15;

/// The console sessions of this process. Tokens are random, never stored,
/// and expire after `idle` without use.
pub struct Sessions {
    idle: Duration,
    by_token: Mutex<HashMap<String, Session>>,
}

impl Station {
    /// Runs `check` (which verifies `id`'s secret) unless the account is
    /// paused; counts a wrong secret, forgets the count on success. Wrong
    /// secrets are counted per account in the station's database: after
    /// [`MAX_FAILURES`] in a row the account is paused for
    /// [`LOCKOUT_MINUTES`], at the console and the command line, at login
    /// and at approval alike, and a restart does not clear it.
    pub fn throttled<T>(
        &mut self,
        id: &str,
        check: impl FnOnce(&mut Station) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let key = id.trim().to_lowercase();
        let now = self.now();
        let mut f = self.store().login_failures(&key)?;
        let paused = f
            .paused_until
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc())
            .filter(|until| *until > now);
        if let Some(until) = paused {
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
        let out = check(self);
        match &out {
            Ok(_) => f = LoginFailures::default(),
            Err(AppError::Denied(Denial::BadCredentials, _)) => {
                f.failures += 1;
                f.paused_until = None;
                if f.failures >= MAX_FAILURES {
                    f.failures = 0;
                    f.paused_until = Some(kiosk_store::timestamp(
                        now + Duration::minutes(LOCKOUT_MINUTES),
                    ));
                }
            }
            Err(_) => return out,
        }
        self.store().set_login_failures(&key, &f)?;
        out
    }
}

impl Sessions {
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            by_token: Mutex::new(HashMap::new()),
        }
    }

    /// Checks the account and opens a session; returns its token.
    pub fn login(
        &self,
        station: &mut Station,
        id: &str,
        secret: &SecretString,
    ) -> Result<(String, Session), AppError> {
        let clerk = station.throttled(id, |st| st.verify_clerk(id, secret))?;
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
    /// The session ends, too, when its account was deactivated or given
    /// another role since the login (by `kioskctl`, in another process).
    pub fn require(
        &self,
        station: &Station,
        token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Session, AppError> {
        let mut map = self.lock();
        map.retain(|_, s| now - s.last_seen <= self.idle);
        if let Some(t) = token {
            let changed = map.get(t).is_some_and(|s| {
                let current = station.store().clerk(&s.clerk.id).ok().flatten();
                !current.is_some_and(|c| {
                    let c = ClerkView::from(c);
                    c.active && c.role == s.clerk.role
                })
            });
            if changed {
                map.remove(t);
                return Err(denied(
                    Denial::NotLoggedIn,
                    "session",
                    "not_logged_in",
                    "登录",
                    "该账号已停用或角色已变更，登录已结束",
                    "请重新登录",
                    "the account was deactivated or given another role; the session ended",
                ));
            }
        }
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
}
