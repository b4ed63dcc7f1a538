//! Station clerk accounts, console sessions and roles.
//!
//! Secrets (passwords or PINs) arrive as `SecretString`, are hashed with
//! argon2id and dropped; only the PHC string is stored. A console session
//! is an opaque random token that only the backend can map to a clerk and
//! a role; every clerk command asks [`Sessions::require`] first.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use kiosk_domain::Rejection;
use kiosk_keys::ExposeSecret;
use kiosk_keys::SecretString;
use kiosk_store::{Actor, Approval};
use serde::Serialize;

use crate::error::Denial;
use crate::{AppError, Station};

mod dual;
mod sessions;
#[cfg(test)]
mod tests;

pub use dual::{not_logged_in, second_account_required, Acting};
pub use sessions::{Session, Sessions, LOCKOUT_MINUTES, MAX_FAILURES, SESSION_IDLE_MINUTES};

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

impl From<kiosk_store::ClerkRow> for ClerkView {
    fn from(c: kiosk_store::ClerkRow) -> ClerkView {
        ClerkView {
            role: c.role.parse().unwrap_or(Role::Clerk),
            id: c.id,
            display_name: c.display_name,
            active: c.active,
        }
    }
}

/// Shortest account password accepted. A clerk's password guards
/// issuance and revocation, so it is longer than a key's six-digit PIN.
pub const MIN_SECRET_CHARS: usize = 8;

/// Passwords that guessing tries first (the most common in Chinese and
/// English leaks), refused whatever their length.
const COMMON_SECRETS: &[&str] = &[
    "12345678",
    "123456789",
    "1234567890",
    "87654321",
    "11111111",
    "00000000",
    "88888888",
    "66666666",
    "12341234",
    "11223344",
    "123123123",
    "password",
    "password1",
    "passw0rd",
    "qwerty123",
    "qwertyui",
    "1qaz2wsx",
    "1q2w3e4r",
    "abc12345",
    "abcd1234",
    "a1234567",
    "aa123456",
    "admin123",
    "admin888",
    "iloveyou",
    "woaini1314",
    "woaini520",
    "5201314a",
    "computer",
    "zxcvbnm123",
];

/// Refuses a password that is short, common, one character repeated, or
/// the account's own id.
fn check_secret(id: &str, secret: &SecretString) -> Result<(), AppError> {
    let s = secret.expose_secret();
    let lower = s.to_lowercase();
    if s.chars().count() < MIN_SECRET_CHARS {
        return Err(rejection(
            "secret",
            "too_short",
            "密码",
            "密码太短（至少8位）",
            "请设置至少8位、不易猜到的密码",
            "the password is shorter than 8 characters",
        ));
    }
    let one_char = s.chars().all(|c| s.starts_with(c));
    if one_char || COMMON_SECRETS.contains(&lower.as_str()) || lower == id.to_lowercase() {
        return Err(rejection(
            "secret",
            "too_common",
            "密码",
            "密码太常见或与账号相同，容易被猜到",
            "请换一个不常见的密码，例如几个词加数字",
            "the password is among the first ones guessed, or is the account id",
        ));
    }
    Ok(())
}

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
        "too_common" => "choose a password that is not common, e.g. a few words and digits",
        "approval_not_needed" => "carry out the order directly",
        "not_supervisor" | "self_approval" => {
            "have another supervisor approve with their own account and password"
        }
        "approval_required" => {
            "have another supervisor approve it (the console's supervisor approval, or kioskctl order approve ORDER --supervisor ID) and run it again"
        }
        "second_account_required" => {
            "log in with kioskctl login --clerk ID, add --approver SUPERVISOR (who types their own password) and try again"
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

/// A hash no secret matches, checked for unknown accounts.
fn unknown_account_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let mut raw = [0u8; 32];
        let _ = getrandom::fill(&mut raw);
        hash_secret(&SecretString::from(hex::encode(raw))).unwrap_or_default()
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
    // The trail names the touchscreen's applicant `clerk:kiosk`: no
    // account may be mistaken for it.
    if id.eq_ignore_ascii_case(crate::KIOSK_ACTOR) {
        return Err(rejection(
            "clerk_id",
            "reserved",
            "账号",
            "“kiosk”是触摸屏申请人在记录中的名字，不能用作账号",
            "请换一个账号名，例如 wang.li",
            "'kiosk' names the touchscreen's applicant in the trail; it cannot be an account",
        ));
    }
    Ok(id)
}

impl Station {
    /// Adds an account or sets a new secret, name and role for it. A
    /// secret typed twice (`again`) must be the same both times.
    ///
    /// A clerk with another account's approval does it (`by`). The one
    /// exception is the station's start: while it has fewer than two
    /// active supervisors, a supervisor account is added without one, since
    /// there is nobody yet to approve (recorded as `bootstrap`).
    pub fn put_clerk(
        &mut self,
        id: &str,
        display_name: &str,
        role: Role,
        secret: &SecretString,
        again: Option<&SecretString>,
        by: Option<&Acting>,
    ) -> Result<ClerkView, AppError> {
        let actor = match by {
            Some(by) => Actor::clerk(&by.actor()),
            None if role == Role::Supervisor && self.active_supervisors()? < 2 => {
                Actor::operator("bootstrap")
            }
            None => return Err(second_account_required()),
        };
        self.put_clerk_as(id, display_name, role, secret, again, &actor)
    }

    fn active_supervisors(&self) -> Result<usize, AppError> {
        Ok(self
            .clerks()?
            .iter()
            .filter(|c| c.active && c.role == Role::Supervisor)
            .count())
    }

    /// [`Station::put_clerk`] for the station's own set-up (the demo's
    /// documented accounts).
    pub(crate) fn put_clerk_as(
        &mut self,
        id: &str,
        display_name: &str,
        role: Role,
        secret: &SecretString,
        again: Option<&SecretString>,
        actor: &Actor,
    ) -> Result<ClerkView, AppError> {
        let id = check_id(id)?.to_string();
        if let Some(again) = again {
            check_same(secret, again)?;
        }
        let name = display_name.trim();
        let name = if name.is_empty() {
            id.clone()
        } else {
            name.to_string()
        };
        check_secret(&id, secret)?;
        let hash = hash_secret(secret)?;
        let now = self.now();
        self.store_mut()
            .put_clerk(actor, now, &id, &name, role.as_str(), &hash)?;
        Ok(ClerkView {
            id,
            display_name: name,
            role,
            active: true,
        })
    }

    /// Deactivates an account (its sessions end with it); a clerk with
    /// another account's approval does it.
    pub fn deactivate_clerk(&mut self, id: &str, by: &Acting) -> Result<bool, AppError> {
        let now = self.now();
        Ok(self
            .store_mut()
            .deactivate_clerk(&Actor::clerk(&by.actor()), now, id.trim())?)
    }

    pub fn clerks(&self) -> Result<Vec<ClerkView>, AppError> {
        Ok(self
            .store()
            .clerks()?
            .into_iter()
            .map(ClerkView::from)
            .collect())
    }

    /// Checks an account's secret. Inactive and unknown accounts fail like
    /// a wrong secret.
    pub fn verify_clerk(&self, id: &str, secret: &SecretString) -> Result<ClerkView, AppError> {
        let row = self.store().clerk(id.trim())?;
        if row.is_none() {
            // An unknown account costs the same hashing as a wrong
            // password, so timing does not tell which accounts exist.
            verify_secret(secret, unknown_account_hash());
        }
        match row {
            Some(c) if c.active && verify_secret(secret, &c.secret_hash) => Ok(c.into()),
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
        by: &Session,
    ) -> Result<Approval, AppError> {
        let clerk = by.clerk_id();
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

/// Refuses a password typed twice that differs.
fn check_same(first: &SecretString, second: &SecretString) -> Result<(), AppError> {
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
