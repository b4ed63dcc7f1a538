//! The electronic seal: cut out of the stamped sample sheet, looked at and approved or rejected by the clerk.

use std::fs;

use kiosk_domain::Rejection;
use kiosk_forms::{scan, seal};
use kiosk_store::{Seal, SealState};
use sha2::{Digest, Sha256};

use super::*;
use crate::{AppError, Session, Station};

impl Station {
    // ------------------------------------------------------------ seal

    /// Cuts the red seal out of the latest scan of the seal sample sheet
    /// (or the given attachment) as a transparent PNG, proposed to the clerk.
    pub fn extract_seal(
        &mut self,
        key: &str,
        attachment_id: Option<&str>,
        by: &Session,
    ) -> Result<SealView, AppError> {
        let actor = Actor::clerk(by.clerk_id());
        let order = self.find_order(key)?;
        let scans = self.attachments(&order.id)?;
        let chosen = match attachment_id {
            Some(id) => scans.into_iter().find(|a| a.attachment.id == id.trim()),
            None => scans
                .into_iter()
                .rev()
                .find(|a| a.attachment.item == SEAL_SHEET_ITEM),
        }
        .ok_or_else(|| {
            Rejection::field("attachment", "印章采样表扫描件", "no_seal_sheet")
                .zh(
                    format!("订单 {} 还没有单位电子印章采样表的扫描件", order.number),
                    format!(
                        "请先扫描盖好章的采样表：kioskctl scan attach {} {SEAL_SHEET_ITEM} 文件",
                        order.number
                    ),
                )
                .en(
                    "no scan of the seal sample sheet on this order",
                    "scan the stamped sheet first",
                )
        })?;
        let bytes = self.personal_file(&order.id, &chosen.original)?;
        let (img, _) = scan::decode_upright(&bytes).map_err(forms_rejection)?;
        let extracted = seal::extract(&img)
            .map_err(forms_rejection)?
            .ok_or_else(|| {
                Rejection::field(
                    "attachment",
                    format!("扫描件“{}”", chosen.attachment.file_name),
                    "no_seal_found",
                )
                .zh(
                    "未在扫描件上找到清晰的红色公章印迹",
                    "请在采样表框内用红色印油重新盖章（清晰、完整、不压框线），重新扫描后再提取",
                )
                .en(
                    "no clear red seal imprint was found on the scan",
                    "stamp the sheet again in red, scan it and extract again",
                )
            })?;
        let (png_sha, path) = put_file(self.data_dir(), &extracted.png, "png")?;
        let now = self.now();
        let seal = Seal {
            id: kiosk_store::new_id(now),
            order_id: order.id,
            attachment_id: chosen.attachment.id,
            png_sha256: png_sha,
            width: extracted.width,
            height: extracted.height,
            status: SealState::Proposed,
            created_at: kiosk_domain_ts(now),
            updated_at: kiosk_domain_ts(now),
            decided_by: None,
        };
        self.store_mut().add_seal(&actor, now, &seal)?;
        Ok(SealView { seal, path })
    }

    /// The clerk's verdict on a proposed seal (after looking at the PNG).
    /// With `order`, the seal must be one of that order's: a console that
    /// shows an order decides only its seals.
    pub fn decide_seal(
        &mut self,
        order: Option<&str>,
        seal_id: &str,
        approve: bool,
        by: &Session,
    ) -> Result<SealView, AppError> {
        let actor = Actor::clerk(by.clerk_id());
        let not_found = || AppError::NotFound {
            what: "电子印章",
            key: seal_id.to_string(),
        };
        let mut seal = self.store().seal(seal_id.trim())?.ok_or_else(not_found)?;
        if let Some(key) = order {
            if seal.order_id != self.find_order(key)?.id {
                return Err(AppError::NotFound {
                    what: "该订单的电子印章",
                    key: seal_id.to_string(),
                });
            }
        }
        if seal.status != SealState::Proposed {
            return Err(Rejection::field("seal", "电子印章", "already_decided")
                .zh(
                    format!(
                        "该印章已{}",
                        if seal.status == SealState::Approved {
                            "确认"
                        } else {
                            "退回"
                        }
                    ),
                    "如需更换，请重新提取印章",
                )
                .en(
                    format!("the seal was already {}", seal.status),
                    "extract the seal again to change it",
                )
                .into());
        }
        let now = self.now();
        seal.status = if approve {
            SealState::Approved
        } else {
            SealState::Rejected
        };
        seal.decided_by = Some(actor.as_str().to_string());
        seal.updated_at = kiosk_domain_ts(now);
        self.store_mut().decide_seal(&actor, now, &seal)?;
        let path = file_path(self.data_dir(), &seal.png_sha256, "png");
        Ok(SealView { seal, path })
    }

    /// The seal the clerk approved last for the order: what key
    /// personalization writes onto the key.
    pub fn approved_seal(&self, key: &str) -> Result<Option<(SealView, Vec<u8>)>, AppError> {
        let order = self.find_order(key)?;
        let Some(seal) = self
            .store()
            .seals(&order.id)?
            .into_iter()
            .rev()
            .find(|s| s.status == SealState::Approved)
        else {
            return Ok(None);
        };
        let path = file_path(self.data_dir(), &seal.png_sha256, "png");
        let png = fs::read(&path).map_err(|e| AppError::io(path.display(), e))?;
        if hex::encode(Sha256::digest(&png)) != seal.png_sha256 {
            return Err(AppError::io(
                path.display(),
                std::io::Error::new(std::io::ErrorKind::InvalidData, "seal file changed on disk"),
            ));
        }
        Ok(Some((SealView { seal, path }, png)))
    }

    pub fn seals(&self, key: &str) -> Result<Vec<SealView>, AppError> {
        let order = self.find_order(key)?;
        Ok(self
            .store()
            .seals(&order.id)?
            .into_iter()
            .map(|s| SealView {
                path: file_path(self.data_dir(), &s.png_sha256, "png"),
                seal: s,
            })
            .collect())
    }
}
