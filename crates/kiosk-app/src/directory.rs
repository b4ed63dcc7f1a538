//! The central's directory of every certificate of the providers, as this
//! station holds it: looked up by serial or USCC, offline.

use kiosk_domain::Rejection;
use kiosk_sync::DirectoryEntry;
use serde::Serialize;

use crate::{AppError, Station};

/// What a lookup found, and how recent the station's copy is.
#[derive(Debug, Clone, Serialize)]
pub struct DirectoryView {
    pub entries: Vec<DirectoryEntry>,
    /// The newest directory version the station holds (0: never synced).
    pub version: i64,
}

impl Station {
    /// Whether this station revoked a certificate another CA issued (read
    /// from a key, or known from the directory).
    fn revoked_here(&self, serial: &str) -> Result<bool, AppError> {
        Ok(self.store().certificate(serial)?.is_some_and(|c| {
            c.source != kiosk_store::CertSource::Issued
                && c.state == kiosk_store::CertState::Revoked
        }))
    }

    /// The certificate an order names, issued by another CA, that this
    /// station revoked and the central has not yet marked revoked: the
    /// revocation is pending at the central until a sync brings its word.
    pub fn revocation_pending_at_central(
        &self,
        order: &kiosk_domain::order::Order,
    ) -> Result<bool, AppError> {
        let Some(serial) = order.application.named_serial() else {
            return Ok(false);
        };
        Ok(self.revoked_here(&serial)?
            && !self
                .store()
                .directory_find(Some(&serial), None)?
                .iter()
                .any(|e| e.status == "revoked"))
    }

    /// Certificates in the directory with this serial or this USCC. One
    /// this station revoked that the central has not yet marked revoked
    /// reads `revoked-pending-central` until a sync brings the central's
    /// word.
    pub fn directory_find(
        &self,
        serial: Option<&str>,
        uscc: Option<&str>,
    ) -> Result<DirectoryView, AppError> {
        let serial = serial.map(|s| s.trim().trim_start_matches("0x").to_ascii_lowercase());
        let uscc = uscc.map(|u| u.trim().to_ascii_uppercase());
        if serial.as_deref().unwrap_or("").is_empty() && uscc.as_deref().unwrap_or("").is_empty() {
            return Err(
                Rejection::field("serial", "证书序列号或统一社会信用代码", "required")
                    .zh("未填写", "请按证书序列号或统一社会信用代码查询")
                    .en(
                        "neither a serial nor a USCC is given",
                        "look up by serial or by USCC",
                    )
                    .into(),
            );
        }
        let mut entries = self
            .store()
            .directory_find(serial.as_deref(), uscc.as_deref())?;
        for e in entries.iter_mut().filter(|e| e.status == "valid") {
            if self.revoked_here(&e.serial)? {
                e.status = "revoked-pending-central".into();
            }
        }
        Ok(DirectoryView {
            entries,
            version: self.store().sync_state()?.directory_cursor,
        })
    }
}
