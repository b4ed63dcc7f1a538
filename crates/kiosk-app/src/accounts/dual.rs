//! Command-line sessions and the second account. `kioskctl login` opens a
//! session whose random token only the user's own file holds (the station
//! keeps its SHA-256); every privileged change is made by the session's
//! clerk with a supervisor's approval, given there and then by another
//! account ([`Acting`]).

use chrono::{DateTime, Duration, Utc};
use kiosk_keys::SecretString;
use sha2::{Digest, Sha256};

use super::sessions::SESSION_IDLE_MINUTES;
use super::{denied, rejection, ClerkView, Role, Session};
use crate::error::Denial;
use crate::{AppError, Station};

/// Who makes a privileged change: the clerk of a live session and the
/// supervisor (another account) who approved it with their own password.
/// Only [`Station::second_account`] makes one, so a front end cannot name
/// an approver it did not check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acting {
    clerk: String,
    approved_by: String,
}

impl Acting {
    pub fn clerk(&self) -> &str {
        &self.clerk
    }
    pub fn approved_by(&self) -> &str {
        &self.approved_by
    }
    /// The audit trail's name for the pair, e.g. `wang+zhao`.
    pub(crate) fn actor(&self) -> String {
        format!("{}+{}", self.clerk, self.approved_by)
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

fn logged_out(problem_zh: &str, problem_en: &str) -> AppError {
    denied(
        Denial::NotLoggedIn,
        "session",
        "not_logged_in",
        "登录",
        problem_zh,
        "请先用 kioskctl login --clerk 账号 登录",
        problem_en,
    )
}

fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t).ok().map(|t| t.to_utc())
}

impl Station {
    /// Checks the account (throttled like the console) and opens a
    /// command-line session; returns its token, which the caller keeps
    /// where only the user can read it.
    pub fn cli_login(
        &mut self,
        id: &str,
        secret: &SecretString,
    ) -> Result<(SecretString, ClerkView), AppError> {
        let clerk = self.throttled(id, |st| st.verify_clerk(id, secret))?;
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw)
            .map_err(|e| AppError::io("getrandom", std::io::Error::other(e.to_string())))?;
        let token = hex::encode(raw);
        let now = self.now();
        self.store()
            .cli_session_open(&token_hash(&token), &clerk.id, now)?;
        Ok((SecretString::from(token), clerk))
    }

    /// The live session behind a token, refreshed; refused when it was
    /// idle too long or its account changed (deactivated, another role, a
    /// new password) since the login.
    pub fn cli_session(&mut self, token: &str) -> Result<Session, AppError> {
        let hash = token_hash(token);
        let Some(row) = self.store().cli_session(&hash)? else {
            return Err(logged_out(
                "未登录，或登录已结束",
                "not logged in, or the session ended",
            ));
        };
        let now = self.now();
        let last_seen = parse_time(&row.last_seen_at).unwrap_or(now);
        if !row.account_unchanged {
            self.store().cli_session_close(&hash)?;
            return Err(logged_out(
                "该账号已停用或已变更（角色、密码），登录已结束",
                "the account was deactivated or changed since the login",
            ));
        }
        if now - last_seen > Duration::minutes(SESSION_IDLE_MINUTES) {
            self.store().cli_session_close(&hash)?;
            return Err(logged_out(
                &format!("登录已超过 {SESSION_IDLE_MINUTES} 分钟未使用，已结束"),
                "the session was idle too long and ended",
            ));
        }
        // A clock set back does not move the last use back with it (the
        // session would end the moment the clock is right again).
        if now > last_seen {
            self.store().cli_session_touch(&hash, now)?;
        }
        let clerk = self
            .store()
            .clerk(&row.clerk_id)?
            .map(ClerkView::from)
            .ok_or_else(|| logged_out("账号不存在", "the account does not exist"))?;
        Ok(Session::resumed(
            clerk,
            parse_time(&row.started_at).unwrap_or(now),
            now,
        ))
    }

    /// Ends a command-line session.
    pub fn cli_logout(&mut self, token: &str) -> Result<(), AppError> {
        Ok(self.store().cli_session_close(&token_hash(token))?)
    }

    /// A supervisor, not the session's own account, approves a privileged
    /// change with their password (throttled like a login).
    pub fn second_account(
        &mut self,
        session: &Session,
        approver: &str,
        secret: &SecretString,
    ) -> Result<Acting, AppError> {
        let sup = self.throttled(approver, |st| st.verify_clerk(approver, secret))?;
        if sup.role != Role::Supervisor {
            return Err(rejection(
                "approver",
                "not_supervisor",
                "审批人",
                "审批人不是主管",
                "请由主管输入其账号和密码",
                "the approver is not a supervisor",
            ));
        }
        if sup.id == session.clerk.id {
            return Err(rejection(
                "approver",
                "self_approval",
                "审批人",
                "不能审批自己的操作",
                "请由另一位主管审批",
                "an account cannot approve its own change",
            ));
        }
        Ok(Acting {
            clerk: session.clerk.id.clone(),
            approved_by: sup.id,
        })
    }
}

/// The refusal of a change that comes without a live session.
pub fn not_logged_in() -> AppError {
    logged_out(
        "没有登录：每一项变更都记在登录的受理员名下",
        "no one is logged in: every change is recorded as the logged-in clerk's",
    )
}

/// The refusal of a privileged change that comes without a second account.
pub fn second_account_required() -> AppError {
    denied(
        Denial::ApprovalRequired,
        "approver",
        "second_account_required",
        "主管审批",
        "该操作须由登录的受理员办理并经另一位主管审批",
        "请先 kioskctl login --clerk 账号 登录，再加 --approver 主管账号（主管当场输入密码）重试",
        "this change needs a logged-in clerk and another account's (a supervisor's) approval",
    )
}
