//! Personal data (《个人信息保护法》): the station token derives each
//! order's key (`kiosk_store`'s `personal.rs` holds the mechanism: digests in
//! the order and its records, the values encrypted beside them); scans are
//! encrypted under the same key in `personal/<order id>/`; and the purge
//! destroys both once the order ended, the central acknowledged all of it
//! and the catalog's `retention.personal_data_days` passed.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::Duration;
use kiosk_domain::Rejection;
use kiosk_keys::{ObjectHandle, TokenSession};
use kiosk_store::{Actor, PersonalCounts, PersonalState};
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::audit::AuditKeys;
use crate::{AppError, KeyConfig, Station};

/// The directory of the station's encrypted scans, one per order.
pub const PERSONAL_DIR: &str = "personal";

/// What a purge run did.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeReport {
    /// The catalog's retention, in days.
    pub retention_days: u32,
    /// Orders ended and acknowledged before this instant were due.
    pub cutoff: String,
    /// The numbers of the orders purged.
    pub purged: Vec<String>,
    /// Directories of orders purged earlier that were still on disk (a
    /// run cut short) and are now removed.
    pub swept: usize,
    pub counts: PersonalCounts,
}

/// The token refused to derive an order's key.
fn unsealable(e: AppError) -> Rejection {
    Rejection::field("station_token", "工作站令牌", "personal_key_unavailable")
        .zh(
            format!("无法用工作站令牌加密或解密个人信息（{e}），本次未写入任何内容"),
            "请运维人员检查工作站令牌是否接好、其PIN文件是否正确，然后重试",
        )
        .en(
            format!("the station token cannot derive the key of personal data ({e}); nothing was written"),
            "have the operator check that the station token is connected and its PIN file is right, then retry",
        )
}

/// The station token's session, opened once and again after a logout
/// (key work logs the token out when it ends).
struct TokenKeyer {
    keys: AuditKeys,
    open: Option<(TokenSession, ObjectHandle)>,
}

impl TokenKeyer {
    fn key(&mut self, nonce: &[u8]) -> Result<Option<Zeroizing<[u8; 32]>>, AppError> {
        let label = format!(
            "personal-key:{}:{}",
            self.keys.station(),
            hex::encode(nonce)
        );
        for attempt in 0..2 {
            if self.open.is_none() {
                self.open = self.keys.session()?;
            }
            let Some((s, master)) = &self.open else {
                return Ok(None);
            };
            match self.keys.derive_for(s, *master, &label) {
                Ok(k) => return Ok(Some(k)),
                Err(e) if attempt == 1 => return Err(e),
                Err(_) => self.open = None,
            }
        }
        unreachable!("the loop returns")
    }
}

impl Station {
    /// Has the station token `cfg` names derive orders' personal-data
    /// keys. Without a PIN or a station token set up, personal data is
    /// kept unencrypted and counted as such (`kioskctl status`); with
    /// them, a token that cannot be used refuses the write.
    pub(crate) fn seal_personal_data(&mut self, cfg: &KeyConfig) {
        let mut keyer = TokenKeyer {
            keys: AuditKeys::of(cfg, self.station_id()),
            open: None,
        };
        self.store_mut()
            .set_personal_keyer(Box::new(move |nonce| keyer.key(nonce).map_err(unsealable)));
    }

    /// Where an order's personal data stands.
    pub fn personal_state(&self, order_id: &str) -> Result<PersonalState, AppError> {
        Ok(self.store().personal_state(order_id)?)
    }

    /// When the order's personal data was purged, if it was.
    pub fn personal_data_purged_at(&self, order_id: &str) -> Result<Option<String>, AppError> {
        Ok(match self.store().personal_state(order_id)? {
            PersonalState::Purged { at } => Some(at),
            _ => None,
        })
    }

    /// How many orders keep personal data encrypted, unencrypted, or
    /// purged.
    pub fn personal_counts(&self) -> Result<PersonalCounts, AppError> {
        Ok(self.store().personal_counts()?)
    }

    fn personal_dir(&self, order_id: &str) -> PathBuf {
        self.data_dir().join(PERSONAL_DIR).join(order_id)
    }

    /// Stores a file of an order's (a scan) encrypted under the order's
    /// key, named by the SHA-256 of its content; returns the digest and
    /// the path.
    pub(crate) fn put_personal_file(
        &mut self,
        order_id: &str,
        bytes: &[u8],
        ext: &str,
    ) -> Result<(String, PathBuf), AppError> {
        let sha = hex::encode(Sha256::digest(bytes));
        let name = format!("{sha}.{ext}");
        let path = self.personal_dir(order_id).join(&name);
        if !path.exists() {
            let now = self.now();
            let sealed = self.store_mut().seal_file(order_id, bytes, &name, now)?;
            let dir = path.parent().expect("personal/<order>");
            fs::create_dir_all(dir).map_err(|e| AppError::io(dir.display(), e))?;
            crate::documents::write_atomically(&path, &sealed)?;
        }
        Ok((sha, path))
    }

    /// The content of a file [`Station::put_personal_file`] stored, checked
    /// against its name.
    pub fn personal_file(&self, order_id: &str, path: &Path) -> Result<Vec<u8>, AppError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let blob = fs::read(path).map_err(|e| AppError::io(path.display(), e))?;
        let bytes = self.store().open_file(order_id, &blob, &name)?;
        let sha = hex::encode(Sha256::digest(&bytes));
        if !name.starts_with(&sha) {
            return Err(AppError::Corrupt(format!(
                "{} does not hold the content its name says",
                path.display()
            )));
        }
        Ok(bytes)
    }

    /// Purges the personal data of every order due (see the module's
    /// documentation), as the station (`system`): the nightly job. Each
    /// order is one transaction with its record; its scans and printed
    /// forms are removed after it commits.
    pub fn purge_personal_data(&mut self) -> Result<PurgeReport, AppError> {
        let days = self.rules()?.catalog().retention.personal_data_days;
        let now = self.now();
        let cutoff = now - Duration::days(i64::from(days));
        let due = self.store().purge_due(cutoff)?;
        let mut purged = Vec::new();
        for (id, number) in due {
            self.store_mut()
                .purge_personal(&Actor::system(), now, &id, cutoff)?;
            self.remove_personal_files(&id, &number)?;
            purged.push(number);
        }
        if !purged.is_empty() {
            // The WAL held the pages before the purge: folded back and
            // truncated, once for the run.
            self.store().checkpoint()?;
        }
        let swept = self.sweep_purged()?;
        Ok(PurgeReport {
            retention_days: days,
            cutoff: kiosk_store::timestamp(cutoff),
            purged,
            swept,
            counts: self.store().personal_counts()?,
        })
    }

    fn remove_personal_files(&self, id: &str, number: &str) -> Result<(), AppError> {
        let mut dirs = vec![self.personal_dir(id)];
        if !number.is_empty() && !number.contains(['/', '.']) {
            dirs.push(self.data_dir().join("documents").join(number));
        }
        for dir in dirs {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(AppError::io(dir.display(), e)),
            }
        }
        Ok(())
    }

    /// Removes what is left on disk of orders already purged.
    fn sweep_purged(&self) -> Result<usize, AppError> {
        let root = self.data_dir().join(PERSONAL_DIR);
        let entries = match fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(AppError::io(root.display(), e)),
        };
        let mut swept = 0;
        for entry in entries {
            let entry = entry.map_err(|e| AppError::io(root.display(), e))?;
            let id = entry.file_name().to_string_lossy().into_owned();
            if let PersonalState::Purged { .. } = self.store().personal_state(&id)? {
                let number = self
                    .store()
                    .order(&id)?
                    .map(|o| o.number)
                    .unwrap_or_default();
                self.remove_personal_files(&id, &number)?;
                swept += 1;
            }
        }
        Ok(swept)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::demo::{counter_steps, scratch_session, APPLICATION_JSON};
    use crate::FixedClock;

    const ID: &str = "500101198502030055";
    const MOBILE: &str = "13883088888";
    const REP_ID: &str = "500103197806114328";

    /// Every file under `dir`, as bytes, and whether any holds `needle`.
    fn found_in(dir: &Path, needle: &str) -> Vec<PathBuf> {
        let mut hits = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if fs::read(&p)
                    .unwrap()
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes())
                {
                    hits.push(p);
                }
            }
        }
        hits
    }

    /// A stand-in for the station token inside this unit test: HMAC in
    /// software under a fixed secret (the e2e test uses SoftHSM2).
    fn software_token(st: &mut Station) {
        st.store_mut().set_personal_keyer(Box::new(|nonce| {
            let k: [u8; 32] = Sha256::new()
                .chain_update([7; 32])
                .chain_update(nonce)
                .finalize()
                .into();
            Ok(Some(Zeroizing::new(k)))
        }));
    }

    fn at(st: &Station, days: i64) -> DateTime<Utc> {
        st.now() + Duration::days(days)
    }

    #[test]
    fn personal_data_is_never_stored_in_clear_and_is_purged_only_when_due() {
        let dir = tempfile::tempdir().unwrap();
        let start = Utc::now();
        let open = |t: DateTime<Utc>| {
            let mut st = Station::open(dir.path(), Arc::new(FixedClock(t))).unwrap();
            software_token(&mut st);
            st
        };
        let mut st = open(start);
        let clerk = scratch_session(&mut st).unwrap();
        let order = st.create_order(APPLICATION_JSON, &clerk).unwrap();
        assert_eq!(order.application.handler.id_number, ID);
        let scan = dir.path().join("id-card.png");
        let (sheet, _) = kiosk_forms::synthetic::stamped_sheet(600, 800, 7);
        sheet.save(&scan).unwrap();
        let attached = st
            .attach_scan(&order.id, &order.checklist[0].id, &scan, &clerk)
            .unwrap();
        fs::remove_file(&scan).unwrap();
        for cmd in counter_steps(&order) {
            st.order_command(&order.id, cmd, &clerk).unwrap();
        }
        // Read back whole, from the encrypted columns.
        let back = st.order(&order.id).unwrap();
        assert_eq!(back.order.application, order.application);
        assert_eq!(back.personal_data_purged_at, None);
        assert_eq!(
            st.personal_state(&order.id).unwrap(),
            PersonalState::Kept { sealed: true }
        );
        let png = st.personal_file(&order.id, &attached.original).unwrap();
        assert!(image::load_from_memory(&png).is_ok(), "the scan decrypts");
        st.store().checkpoint().unwrap();
        for needle in [ID, MOBILE, REP_ID, "重庆市渝北区金开大道160号"] {
            assert_eq!(
                found_in(dir.path(), needle),
                Vec::<PathBuf>::new(),
                "{needle}"
            );
        }
        assert!(st.verify_audit(None).unwrap().ok);

        // Ended but not acknowledged: kept, however late it is.
        drop(st);
        let mut late = open(start + Duration::days(400));
        assert!(late.purge_personal_data().unwrap().purged.is_empty());
        // Acknowledged now: kept for the catalog's 30 days.
        let head = late.store().outbox_head().unwrap();
        drop(late);
        let mut st = open(start + Duration::days(1));
        let now = st.now();
        st.store_mut().mark_acked(head, now).unwrap();
        assert!(st.purge_personal_data().unwrap().purged.is_empty());
        let day29 = at(&st, 29);
        drop(st);
        assert!(open(day29).purge_personal_data().unwrap().purged.is_empty());
        let mut st = open(start + Duration::days(32));
        let report = st.purge_personal_data().unwrap();
        assert_eq!(report.purged, vec![order.number.clone()]);
        assert_eq!(report.counts.purged, 1);
        let view = st.order(&order.id).unwrap();
        assert!(view.personal_data_purged_at.is_some());
        let h = &view.order.application.handler;
        assert_eq!((h.id_number.as_str(), h.mobile.as_str()), ("", ""));
        assert_eq!(
            view.order.application.organization.name, order.application.organization.name,
            "the company stays"
        );
        assert!(!attached.original.exists(), "the scans are gone");
        // A returning company is still offered its name and legal
        // representative, no longer the handler's address.
        let offered = st
            .returning_company(&order.application.organization.uscc)
            .unwrap()
            .unwrap();
        assert_eq!(offered.mailing_address, None);
        assert_eq!(
            offered.legal_representative.as_deref(),
            Some(order.application.organization.legal_representative.as_str())
        );
        assert_eq!(
            st.personal_file(&order.id, &attached.original)
                .unwrap_err()
                .code(),
            "file_not_found"
        );
        // The trail still verifies, with the purge in it.
        let report = st.verify_audit(None).unwrap();
        assert!(report.ok, "{:?}", report.findings);
        assert_eq!(
            view.history.last().map(|h| h.action.as_str()),
            Some("order.purged")
        );
        // Nothing left to find, nor the key's nonce.
        assert!(st.purge_personal_data().unwrap().purged.is_empty());
        let nonces: i64 = st
            .store()
            .personal_counts()
            .map(|c| c.sealed + c.unsealed)
            .unwrap();
        assert_eq!(nonces, 0);
        for needle in [ID, MOBILE, REP_ID] {
            assert_eq!(
                found_in(dir.path(), needle),
                Vec::<PathBuf>::new(),
                "{needle}"
            );
        }
    }

    #[test]
    fn a_sealed_order_is_not_read_nor_a_new_one_written_without_its_token_and_an_altered_value_is_refused(
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Station::open(dir.path(), Arc::new(crate::SystemClock)).unwrap();
        software_token(&mut st);
        let clerk = scratch_session(&mut st).unwrap();
        let order = st.create_order(APPLICATION_JSON, &clerk).unwrap();
        drop(st);
        // No token: refused, and nothing guessed; nor is a new order
        // written in clear by a process without the token.
        let mut st = Station::open(dir.path(), Arc::new(crate::SystemClock)).unwrap();
        assert_eq!(
            st.order(&order.id).unwrap_err().code(),
            "personal_key_unavailable"
        );
        let clerk = scratch_session(&mut st).unwrap();
        let before = st.list_orders(None, 100).unwrap().len();
        assert_eq!(
            st.create_order(APPLICATION_JSON, &clerk)
                .unwrap_err()
                .code(),
            "personal_key_unavailable"
        );
        assert_eq!(
            st.list_orders(None, 100).unwrap().len(),
            before,
            "nothing written"
        );
        drop(st);
        // Another token (another master): the values do not decrypt.
        let mut other = Station::open(dir.path(), Arc::new(crate::SystemClock)).unwrap();
        other
            .store_mut()
            .set_personal_keyer(Box::new(|_| Ok(Some(Zeroizing::new([9; 32])))));
        assert_eq!(
            other.order(&order.id).unwrap_err().code(),
            "personal_data_damaged"
        );
    }
}
