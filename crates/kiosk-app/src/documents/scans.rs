//! Scans of the paper materials, and opening an order from its QR code.

use std::fs;
use std::path::Path;

use kiosk_domain::{validate, Rejection};
use kiosk_forms::scan;
use kiosk_store::Attachment;

use super::*;
use crate::{AppError, OrderView, Session, Station};

impl Station {
    // ------------------------------------------------------------ scans

    /// Takes in a scan or photo of a checklist item's paper: checks it (type,
    /// size, that it decodes), turns it upright, stores it downscaled with a
    /// thumbnail and the original, and, for items that must bear the
    /// company seal, looks for a red seal imprint.
    pub fn attach_scan(
        &mut self,
        key: &str,
        item: &str,
        file: &Path,
        by: &Session,
    ) -> Result<AttachmentView, AppError> {
        let actor = Actor::clerk(by.clerk_id());
        let order = self.find_order(key)?;
        let entry = order
            .checklist
            .iter()
            .find(|e| e.id == item.trim())
            .ok_or_else(|| {
                Rejection::field("item", "材料", "unknown_item")
                    .zh(
                        format!("订单 {} 的材料清单中没有“{item}”", order.number),
                        format!(
                            "请从以下材料中选择：{}",
                            order
                                .checklist
                                .iter()
                                .map(|e| format!("{}（{}）", e.id, e.name))
                                .collect::<Vec<_>>()
                                .join("、")
                        ),
                    )
                    .en(
                        format!("order {} has no checklist item '{item}'", order.number),
                        "pick one of the order's checklist items",
                    )
            })?
            .clone();
        let bytes = fs::read(file).map_err(|e| AppError::io(file.display(), e))?;
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let upload = validate::decoded_upload(&name, &bytes).map_err(|r| {
            let mut r = r.at("upload", format!("上传图片“{name}”"));
            r.action_zh = format!(
                "{}。该文件未被接收，材料“{}”未作改动",
                r.action_zh, entry.name
            );
            r
        })?;
        // Decoded once, by the validator.
        let prepared =
            scan::prepare_decoded(upload.image, upload.orientation).map_err(forms_rejection)?;
        let ext = Path::new(&name)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("img")
            .to_ascii_lowercase();
        // A scan shows a person's ID card: it is kept encrypted under the
        // order's key (`personal.rs`).
        let (original_sha, original) = self.put_personal_file(&order.id, &bytes, &ext)?;
        let (sha, path) = self.put_personal_file(&order.id, &prepared.image, "jpg")?;
        let (thumb_sha, thumbnail) =
            self.put_personal_file(&order.id, &prepared.thumbnail, "jpg")?;
        let seal_found = entry.sealed.then_some(prepared.seal.is_some());
        let mut warnings = Vec::new();
        if seal_found == Some(false) {
            warnings.push(format!(
                "【{}】未在扫描件上发现红色公章印迹。该材料须加盖单位公章：请核对纸质材料，必要时请申请人盖章后重新扫描",
                entry.name
            ));
        }
        let now = self.now();
        let attachment = Attachment {
            id: kiosk_store::new_id(now),
            order_id: order.id.clone(),
            item: entry.id.clone(),
            file_name: name,
            original_sha256: original_sha,
            sha256: sha,
            thumb_sha256: thumb_sha,
            width: prepared.width,
            height: prepared.height,
            seal_found,
            warnings,
            created_at: kiosk_domain_ts(now),
            created_by: actor.as_str().to_string(),
            detail: serde_json::to_value(&prepared).unwrap_or_default(),
        };
        self.store_mut().add_attachment(&actor, now, &attachment)?;
        Ok(AttachmentView {
            attachment,
            path,
            thumbnail,
            original,
        })
    }

    /// An order's scans. The files are encrypted: read them with
    /// [`Station::personal_file`].
    pub fn attachments(&self, key: &str) -> Result<Vec<AttachmentView>, AppError> {
        let order = self.find_order(key)?;
        let dir = self.data_dir().join(crate::PERSONAL_DIR).join(&order.id);
        Ok(self
            .store()
            .attachments(&order.id)?
            .into_iter()
            .map(|a| {
                let ext = Path::new(&a.file_name)
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("img")
                    .to_ascii_lowercase();
                AttachmentView {
                    path: dir.join(format!("{}.jpg", a.sha256)),
                    thumbnail: dir.join(format!("{}.jpg", a.thumb_sha256)),
                    original: dir.join(format!("{}.{ext}", a.original_sha256)),
                    attachment: a,
                }
            })
            .collect())
    }

    // ------------------------------------------------------------ QR

    /// Opens the order a scanned code names: the text a keyboard-wedge
    /// scanner typed (`KIOSK-ORDER:<id>`), a bare order id or number.
    pub fn order_from_code(&self, code: &str) -> Result<OrderView, AppError> {
        let code = code.trim();
        let key = code
            .strip_prefix(QR_PREFIX)
            .or_else(|| code.strip_prefix(&QR_PREFIX.to_ascii_lowercase()))
            .unwrap_or(code);
        // Order ids are stored in lower case; numbers are digits.
        self.order(&key.to_ascii_lowercase())
    }

    /// Opens the order whose QR code is in a picture (a photo of a form).
    pub fn order_from_picture(&self, file: &Path) -> Result<OrderView, AppError> {
        let bytes = fs::read(file).map_err(|e| AppError::io(file.display(), e))?;
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let codes = qr_codes_in(name, &bytes)?;
        let code = codes
            .iter()
            .find(|c| c.starts_with(QR_PREFIX))
            .ok_or_else(|| {
                Rejection::field("upload", format!("图片“{name}”"), "no_order_code").zh(if codes.is_empty() {
                        "图片中没有可识别的二维码".to_string()
                    } else {
                        "图片中的二维码不是本站打印的订单码".to_string()
                    }, "请对准表格右上角的二维码重新拍摄（清晰、不反光），或用扫码枪扫描").en("no order QR code found in the picture", "photograph the QR code at the top right of the form again, or use the scanner")
            })?;
        self.order_from_code(code)
    }
}

/// Every QR code in a picture (a photo or a scan, turned upright as its
/// EXIF says), as text.
pub(crate) fn qr_codes_in(name: &str, bytes: &[u8]) -> Result<Vec<String>, AppError> {
    let upload = validate::decoded_upload(name, bytes)?;
    let (img, _) = scan::upright(upload.image, upload.orientation);
    Ok(kiosk_forms::qr::decode(&img))
}
