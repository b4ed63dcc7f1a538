//! Command-line sessions and the wrong-secret count: technical state, like
//! the key-work journal. They carry no business fact, so they go to neither
//! the outbox nor the audit trail; the business changes made under a
//! session name its clerk.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use crate::db::ts;
use crate::{Store, StoreError};

/// A command-line session as the station keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliSession {
    pub clerk_id: String,
    pub started_at: String,
    pub last_seen_at: String,
    /// Whether the account is still active and unchanged (role, secret,
    /// name) since the login.
    pub account_unchanged: bool,
}

/// Wrong secrets in a row for one account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoginFailures {
    pub failures: u32,
    pub paused_until: Option<String>,
}

impl Store {
    /// Opens a session for an account (its current row is what the
    /// session stays valid for).
    pub fn cli_session_open(
        &self,
        token_sha256: &str,
        clerk_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO cli_sessions (token_sha256, clerk_id, clerk_updated_at, started_at, last_seen_at)
                 SELECT ?1, id, updated_at, ?3, ?3 FROM clerks WHERE id = ?2",
                (token_sha256, clerk_id, ts(now)),
            )
            .map_err(|e| StoreError::from(e).at(&self.path))?;
        Ok(())
    }

    pub fn cli_session(&self, token_sha256: &str) -> Result<Option<CliSession>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT s.clerk_id, s.started_at, s.last_seen_at,
                        c.active = 1 AND c.updated_at = s.clerk_updated_at
                 FROM cli_sessions s JOIN clerks c ON c.id = s.clerk_id
                 WHERE s.token_sha256 = ?1",
                [token_sha256],
                |r| {
                    Ok(CliSession {
                        clerk_id: r.get(0)?,
                        started_at: r.get(1)?,
                        last_seen_at: r.get(2)?,
                        account_unchanged: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn cli_session_touch(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE cli_sessions SET last_seen_at = ?2 WHERE token_sha256 = ?1",
                (token_sha256, ts(now)),
            )
            .map_err(|e| StoreError::from(e).at(&self.path))?;
        Ok(())
    }

    pub fn cli_session_close(&self, token_sha256: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM cli_sessions WHERE token_sha256 = ?1",
                [token_sha256],
            )
            .map_err(|e| StoreError::from(e).at(&self.path))?;
        Ok(())
    }

    pub fn login_failures(&self, account: &str) -> Result<LoginFailures, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT failures, paused_until FROM login_failures WHERE account = ?1",
                [account],
                |r| {
                    Ok(LoginFailures {
                        failures: r.get(0)?,
                        paused_until: r.get(1)?,
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
    }

    /// Sets an account's count; a zero count with no pause forgets it.
    pub fn set_login_failures(&self, account: &str, f: &LoginFailures) -> Result<(), StoreError> {
        let out = if f.failures == 0 && f.paused_until.is_none() {
            self.conn
                .execute("DELETE FROM login_failures WHERE account = ?1", [account])
        } else {
            self.conn.execute(
                "INSERT INTO login_failures (account, failures, paused_until) VALUES (?1, ?2, ?3)
                 ON CONFLICT (account) DO UPDATE SET failures = excluded.failures,
                     paused_until = excluded.paused_until",
                (account, f.failures, &f.paused_until),
            )
        };
        out.map_err(|e| StoreError::from(e).at(&self.path))?;
        Ok(())
    }
}
