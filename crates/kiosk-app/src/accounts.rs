//! Station clerk accounts, console sessions and roles.
//!
//! Secrets (passwords or PINs) arrive as `SecretString`, are hashed with
//! argon2id and dropped; only the PHC string is stored. A console session
//! is an opaque random token that only the backend can map to a clerk and
//! a role; every clerk command asks [`Sessions::require`] first.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use kiosk_domain::Rejection;
use kiosk_keys::ExposeSecret;
use kiosk_keys::SecretString;
use kiosk_store::{Actor, Approval};
use serde::Serialize;

use crate::error::Denial;
use crate::{AppError, Station};

/// What an account may do at the console. A supervisor may do everything
/// a clerk may, and approves unlocks and revocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Clerk,
    Supervisor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Clerk => "clerk",
            Role::Supervisor => "supervisor",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Clerk => "受理员",
            Role::Supervisor => "主管",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = Rejection;
    fn from_str(s: &str) -> Result<Role, Rejection> {
        match s.trim() {
            "clerk" => Ok(Role::Clerk),
            "supervisor" => Ok(Role::Supervisor),
            other => Err(Rejection::field("role", "角色", "unknown_role")
                .zh(
                    format!("没有“{other}”这种角色"),
                    "请选择 clerk（受理员）或 supervisor（主管）",
                )
                .en(format!("no role '{other}'"), "use clerk or supervisor")),
        }
    }
}

/// An account as front ends see it: never the hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClerkView {
    pub id: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
}

/// Shortest secret accepted: a six-digit PIN.
pub const MIN_SECRET_CHARS: usize = 6;

fn rejection(
    field: &'static str,
    code: &'static str,
    field_zh: &str,
    problem: &str,
    action: &str,
    en: &str,
) -> AppError {
    refusal(field, code, field_zh, problem, action, en).into()
}

/// A refusal of who may do what: the front end acts on its kind (shows
/// the login, asks for a supervisor, …), not on its code.
fn denied(
    kind: Denial,
    field: &'static str,
    code: &'static str,
    field_zh: &str,
    problem: &str,
    action: &str,
    en: &str,
) -> AppError {
    AppError::Denied(kind, refusal(field, code, field_zh, problem, action, en))
}

fn refusal(
    field: &'static str,
    code: &'static str,
    field_zh: &str,
    problem: &str,
    action: &str,
    en: &str,
) -> Rejection {
    Rejection::field(field, field_zh, code)
        .zh(problem, action)
        .en(en, action_en(code))
}

/// What to do, in English, for each refusal of this module.
fn action_en(code: &str) -> &'static str {
    match code {
        "bad_credentials" => "check both and try again; a supervisor resets a forgotten password",
        "format" => "choose another account id",
        "too_short" => "choose a longer password",
        "approval_not_needed" => "carry out the order directly",
        "not_supervisor" | "self_approval" => {
            "have another supervisor approve with their own account and password"
        }
        "approval_required" => {
            "have another supervisor approve it (the console's supervisor approval, or kioskctl order approve ORDER --supervisor ID) and run it again"
        }
        "locked_out" => "wait five minutes, or have a supervisor help",
        "not_logged_in" => "log in again",
        "forbidden" => "ask a supervisor",
        "mismatch" => "type the same password twice",
        _ => "ask a supervisor",
    }
}

fn bad_login() -> AppError {
    // One answer for an unknown account and a wrong secret: the console
    // does not tell which account names exist.
    denied(
        Denial::BadCredentials,
        "secret",
        "bad_credentials",
        "账号或密码",
        "账号或密码不正确",
        "请核对后重新输入；忘记密码请联系主管重置",
        "wrong account or password",
    )
}

fn hash_secret(secret: &SecretString) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| AppError::io("getrandom", std::io::Error::other(e.to_string())))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| AppError::io("argon2", std::io::Error::other(e.to_string())))?;
    Argon2::default()
        .hash_password(secret.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::io("argon2", std::io::Error::other(e.to_string())))
}

fn verify_secret(secret: &SecretString, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.expose_secret().as_bytes(), &h)
            .is_ok()
    })
}

/// Account ids are what a clerk types to log in and what the audit names.
fn check_id(id: &str) -> Result<&str, AppError> {
    let id = id.trim();
    if id.is_empty()
        || id.len() > 32
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(rejection(
            "clerk_id",
            "format",
            "账号",
            "账号须为 1–32 位字母、数字、点、横线或下划线",
            "请换一个账号名，例如 wang.li",
            "an account id is 1-32 letters, digits, '.', '-' or '_'",
        ));
    }
    Ok(id)
}

impl Station {
    /// Adds an account or sets a new secret, name and role for it.
    pub fn put_clerk(
        &mut self,
        id: &str,
        display_name: &str,
        role: Role,
        secret: &SecretString,
        operator: &str,
    ) -> Result<ClerkView, AppError> {
        let id = check_id(id)?.to_string();
        let name = display_name.trim();
        let name = if name.is_empty() {
            id.clone()
        } else {
            name.to_string()
        };
        if secret.expose_secret().chars().count() < MIN_SECRET_CHARS {
            return Err(rejection(
                "secret",
                "too_short",
                "密码",
                "密码或PIN码太短（至少6位）",
                "请设置至少6位的密码或PIN码",
                "the password or PIN is shorter than 6 characters",
            ));
        }
        let hash = hash_secret(secret)?;
        let now = self.now();
        self.store_mut().put_clerk(
            &Actor::operator(operator),
            now,
            &id,
            &name,
            role.as_str(),
            &hash,
        )?;
        Ok(ClerkView {
            id,
            display_name: name,
            role,
            active: true,
        })
    }

    pub fn deactivate_clerk(&mut self, id: &str, operator: &str) -> Result<bool, AppError> {
        let now = self.now();
        Ok(self
            .store_mut()
            .deactivate_clerk(&Actor::operator(operator), now, id.trim())?)
    }

    pub fn clerks(&self) -> Result<Vec<ClerkView>, AppError> {
        Ok(self
            .store()
            .clerks()?
            .into_iter()
            .map(|c| ClerkView {
                role: c.role.parse().unwrap_or(Role::Clerk),
                id: c.id,
                display_name: c.display_name,
                active: c.active,
            })
            .collect())
    }

    /// Checks an account's secret. Inactive and unknown accounts fail like
    /// a wrong secret.
    pub fn verify_clerk(&self, id: &str, secret: &SecretString) -> Result<ClerkView, AppError> {
        let row = self.store().clerk(id.trim())?;
        match row {
            Some(c) if c.active && verify_secret(secret, &c.secret_hash) => Ok(ClerkView {
                role: c.role.parse().unwrap_or(Role::Clerk),
                id: c.id,
                display_name: c.display_name,
                active: true,
            }),
            _ => Err(bad_login()),
        }
    }

    /// A supervisor approves, with their own secret, an unlock or a
    /// revocation that a clerk is about to carry out.
    pub fn approve_operation(
        &mut self,
        order_key: &str,
        supervisor_id: &str,
        supervisor_secret: &SecretString,
        clerk: &str,
    ) -> Result<Approval, AppError> {
        let order = self.find_order(order_key)?;
        let op = order.application.operation;
        if !needs_approval(op) {
            return Err(rejection(
                "operation",
                "approval_not_needed",
                "业务类型",
                "该业务无需主管审批",
                "请直接办理",
                "this operation needs no supervisor approval",
            ));
        }
        let sup = self.verify_clerk(supervisor_id, supervisor_secret)?;
        if sup.role != Role::Supervisor {
            return Err(rejection(
                "supervisor",
                "not_supervisor",
                "审批人",
                "该账号不是主管，不能审批解锁或吊销",
                "请由主管输入其账号和密码",
                "this account is not a supervisor",
            ));
        }
        if sup.id == clerk {
            return Err(rejection(
                "supervisor",
                "self_approval",
                "审批人",
                "不能审批自己经办的业务",
                "请由另一位主管审批",
                "a clerk cannot approve their own order",
            ));
        }
        let now = self.now();
        Ok(self.store_mut().record_approval(
            &Actor::clerk(clerk),
            now,
            &order.id,
            op.as_str(),
            &sup.id,
        )?)
    }

    /// Refuses an unlock or revocation that no supervisor approved.
    pub fn check_approved(&self, order_key: &str) -> Result<(), AppError> {
        let order = self.find_order(order_key)?;
        let op = order.application.operation;
        if needs_approval(op)
            && !self
                .store()
                .approvals(&order.id)?
                .iter()
                .any(|a| a.operation == op.as_str())
        {
            return Err(denied(
                Denial::ApprovalRequired,
                "supervisor",
                "approval_required",
                "主管审批",
                "解锁和吊销须经主管审批",
                "请另一位主管用其账号和密码审批后再办理（控制台“主管审批”，或 kioskctl order approve 订单号 --supervisor 主管账号）",
                "unlock and revoke need a supervisor's approval",
            ));
        }
        Ok(())
    }
}

/// Operations that need a supervisor's approval at the counter.
pub fn needs_approval(op: kiosk_domain::Operation) -> bool {
    matches!(
        op,
        kiosk_domain::Operation::Unlock | kiosk_domain::Operation::Revoke
    )
}

/// A logged-in console session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub clerk: ClerkView,
    pub started_at: DateTime<Utc>,
    #[serde(skip)]
    last_seen: DateTime<Utc>,
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

    /// The session behind `token` if it may act as `role`, refreshed.
    pub fn require(
        &self,
        token: Option<&str>,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<Session, AppError> {
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
        if s.clerk.role < role {
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

/// Refuses a password typed twice that differs.
pub fn check_same(first: &SecretString, second: &SecretString) -> Result<(), AppError> {
    if first.expose_secret() != second.expose_secret() {
        return Err(rejection(
            "secret",
            "mismatch",
            "密码",
            "两次输入的密码不一致",
            "请重新输入两次相同的密码",
            "the two passwords differ",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::{demo, FixedClock};

    fn station(dir: &tempfile::TempDir) -> Station {
        let clock = Arc::new(FixedClock(
            Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap(),
        ));
        Station::open(dir.path(), clock).unwrap()
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn only_the_hash_is_stored_and_the_right_secret_logs_in() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = station(&dir);
        st.put_clerk("wang", "王丽", Role::Clerk, &secret("correct horse"), "ops")
            .unwrap();
        let row = st.store().clerk("wang").unwrap().unwrap();
        assert!(
            row.secret_hash.starts_with("$argon2id$"),
            "{}",
            row.secret_hash
        );
        assert!(!row.secret_hash.contains("correct horse"));
        let sessions = Sessions::new(Duration::minutes(15));
        let err = sessions
            .login(&st, "wang", &secret("wrong horse"))
            .unwrap_err();
        assert_eq!(err.code(), "bad_credentials");
        let err = sessions
            .login(&st, "nobody", &secret("correct horse"))
            .unwrap_err();
        assert_eq!(err.code(), "bad_credentials");
        let (token, s) = sessions
            .login(&st, "wang", &secret("correct horse"))
            .unwrap();
        assert_eq!(s.clerk.role, Role::Clerk);
        assert_eq!(token.len(), 64);
        let now = st.now();
        assert!(sessions.require(Some(&token), Role::Clerk, now).is_ok());
        let err = sessions
            .require(Some(&token), Role::Supervisor, now)
            .unwrap_err();
        assert_eq!(err.code(), "forbidden");
        assert_eq!(
            sessions.require(None, Role::Clerk, now).unwrap_err().code(),
            "not_logged_in"
        );
        assert_eq!(
            sessions
                .require(Some(&token), Role::Clerk, now + Duration::minutes(16))
                .unwrap_err()
                .code(),
            "not_logged_in",
            "an idle session expires"
        );
        st.deactivate_clerk("wang", "ops").unwrap();
        assert_eq!(
            sessions
                .login(&st, "wang", &secret("correct horse"))
                .unwrap_err()
                .code(),
            "bad_credentials"
        );
    }

    #[test]
    fn five_wrong_secrets_pause_the_account_for_five_minutes() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = station(&dir);
        st.put_clerk("wang", "", Role::Clerk, &secret("111111"), "ops")
            .unwrap();
        st.put_clerk("li", "", Role::Clerk, &secret("333333"), "ops")
            .unwrap();
        let sessions = Sessions::new(Duration::minutes(15));
        let now = st.now();
        let attempt = |who: &str, s: &str, at: DateTime<Utc>| {
            sessions
                .throttled(who, at, || st.verify_clerk(who, &secret(s)))
                .map(|c| c.id)
                .map_err(|e| e.code())
        };
        // A success in between starts the count again.
        for _ in 0..MAX_FAILURES - 1 {
            assert_eq!(attempt("wang", "000000", now), Err("bad_credentials"));
        }
        assert_eq!(attempt("wang", "111111", now), Ok("wang".into()));
        for _ in 0..MAX_FAILURES {
            assert_eq!(attempt("wang", "000000", now), Err("bad_credentials"));
        }
        // Paused: even the right secret is not tried, under any spelling.
        assert_eq!(attempt("wang", "111111", now), Err("locked_out"));
        assert_eq!(attempt(" WANG ", "111111", now), Err("locked_out"));
        let paused = sessions
            .throttled("wang", now, || st.verify_clerk("wang", &secret("111111")))
            .unwrap_err();
        assert!(
            paused.message_zh().contains("5 分钟后再试"),
            "{}",
            paused.message_zh()
        );
        // Another account is not affected.
        assert_eq!(attempt("li", "333333", now), Ok("li".into()));
        let later = now + Duration::minutes(LOCKOUT_MINUTES);
        assert_eq!(
            attempt("wang", "111111", later - Duration::seconds(1)),
            Err("locked_out")
        );
        assert_eq!(attempt("wang", "111111", later), Ok("wang".into()));
    }

    #[test]
    fn short_secrets_and_bad_ids_are_refused_in_chinese() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = station(&dir);
        let e = st
            .put_clerk("wang", "", Role::Clerk, &secret("12345"), "ops")
            .unwrap_err();
        assert_eq!(e.code(), "too_short");
        assert!(e.message_zh().contains("至少6位"));
        let e = st
            .put_clerk("王 丽", "", Role::Clerk, &secret("123456"), "ops")
            .unwrap_err();
        assert_eq!(e.code(), "format");
    }

    #[test]
    fn unlock_needs_another_supervisor() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = station(&dir);
        st.put_clerk("wang", "", Role::Clerk, &secret("111111"), "ops")
            .unwrap();
        st.put_clerk("zhao", "", Role::Supervisor, &secret("222222"), "ops")
            .unwrap();
        let app =
            demo::APPLICATION_JSON.replace("\"operation\": \"new\"", "\"operation\": \"unlock\"");
        let order = st.create_order(&app, "wang").unwrap();
        assert_eq!(
            st.check_approved(&order.id).unwrap_err().code(),
            "approval_required"
        );
        let e = st
            .approve_operation(&order.id, "wang", &secret("111111"), "wang")
            .unwrap_err();
        assert_eq!(e.code(), "not_supervisor");
        let e = st
            .approve_operation(&order.id, "zhao", &secret("nope-nope"), "wang")
            .unwrap_err();
        assert_eq!(e.code(), "bad_credentials");
        let a = st
            .approve_operation(&order.id, "zhao", &secret("222222"), "wang")
            .unwrap();
        assert_eq!(a.supervisor, "zhao");
        st.check_approved(&order.id).unwrap();
        let e = st
            .approve_operation(&order.id, "zhao", &secret("222222"), "zhao")
            .unwrap_err();
        assert_eq!(e.code(), "self_approval");
    }
}
