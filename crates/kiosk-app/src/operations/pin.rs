//! The applicant's PIN on a key: a login that counts wrong PINs, and
//! 修改PIN码.

use super::*;

impl Station {
    /// Logs in with the applicant's PIN; a wrong PIN is counted for the key,
    /// so a token that never locks still shows as locked after enough tries.
    pub(super) fn login_counted(
        &self,
        key: &TokenSession,
        key_serial: &str,
        pin: &SecretString,
        subject: &str,
    ) -> Result<(), AppError> {
        match key.login_user(pin) {
            Err(KeyError::WrongPin) => {
                let line = (
                    "login".to_string(),
                    "failed",
                    json!({ "code": "wrong_pin" }),
                );
                self.store()
                    .journal(subject, key_serial, 0, &[line], self.now())?;
                Err(KeyError::WrongPin.into())
            }
            other => Ok(other?),
        }
    }

    /// 修改PIN码: the applicant changes the PIN of a key with the current
    /// one; the new PIN is typed twice and must be a good one.
    pub fn change_pin(
        &self,
        m: &Module,
        key_serial: &str,
        old: &SecretString,
        new: &SecretString,
        new_again: &SecretString,
    ) -> Result<(), AppError> {
        crate::keys::check_new_pin(new, new_again)?;
        let key_serial = key_serial.trim().to_ascii_lowercase();
        let token = m.by_serial(&key_serial)?;
        if crate::keys::lock_status(&token, self.store().wrong_pins(&key_serial)?).locked {
            return Err(KeyError::PinLocked.into());
        }
        let key = m.open(&token)?;
        self.login_counted(&key, &key_serial, old, &format!("key:{key_serial}"))?;
        key.set_pin(old, new)?;
        Ok(())
    }
}
