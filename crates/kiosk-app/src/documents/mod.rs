//! Printed documents, scans and the electronic seal of an order.
//!
//! What goes on each document (which order field fills which box, which
//! operation box is ticked) is decided here; how it is drawn, printed and
//! read back is `kiosk-forms`. Files live under the data directory:
//! `documents/<order number>/<document>.pdf` (re-rendered on demand, so a
//! lost or jammed page can always be printed again) and `files/ab/<sha256>.<ext>`
//! for scans, thumbnails and seals, named by their content.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kiosk_domain::order::PaymentMethod;
use kiosk_domain::Rejection;
use kiosk_forms::print::PrinterStatus;
use kiosk_forms::FormsError;
use kiosk_store::{Actor, Attachment, PrintJob, Seal};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{AppError, Station};

/// What a QR code on a printed document says: this prefix and the order id.
pub const QR_PREFIX: &str = "KIOSK-ORDER:";

/// The documents the station prints for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Document {
    /// 数字证书申请表
    Application,
    /// 单位电子印章采样表
    SealSheet,
    /// 单位授权委托书 (mail-in orders)
    Authorization,
    /// 回执
    Receipt,
}

impl Document {
    pub const ALL: [Document; 4] = [
        Document::Application,
        Document::SealSheet,
        Document::Authorization,
        Document::Receipt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Document::Application => "application",
            Document::SealSheet => "seal-sheet",
            Document::Authorization => "authorization",
            Document::Receipt => "receipt",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Document::Application => "数字证书申请表",
            Document::SealSheet => "单位电子印章采样表",
            Document::Authorization => "单位授权委托书",
            Document::Receipt => "受理回执",
        }
    }

    /// The template shipped in `forms/`.
    fn embedded_template(self) -> &'static str {
        match self {
            Document::Application => include_str!("../../../../forms/application.toml"),
            Document::SealSheet => include_str!("../../../../forms/seal-sheet.toml"),
            Document::Authorization => include_str!("../../../../forms/authorization.toml"),
            Document::Receipt => include_str!("../../../../forms/receipt.toml"),
        }
    }
}

impl std::str::FromStr for Document {
    type Err = Rejection;
    fn from_str(s: &str) -> Result<Document, Rejection> {
        Document::ALL
            .into_iter()
            .find(|d| d.as_str() == s.trim())
            .ok_or_else(|| {
                Rejection::field("document", "文档", "unknown_document").zh(format!("没有名为“{s}”的文档"), "可用：application（申请表）、seal-sheet（印章采样表）、authorization（授权委托书）、receipt（回执）").en(format!("no document '{s}'"), "use application, seal-sheet, authorization or receipt")
            })
    }
}

/// A document drawn for an order and saved as a PDF.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedDocument {
    pub document: Document,
    pub title: &'static str,
    pub order_id: String,
    pub order_number: String,
    pub path: PathBuf,
    pub bytes: usize,
    pub sha256: String,
    pub pages: usize,
    /// Values cut to fit their box (the clerk should check them on paper).
    pub truncated: Vec<String>,
    #[serde(skip)]
    pub pdf: Vec<u8>,
}

/// How a print request ended.
#[derive(Debug, Clone, Serialize)]
pub struct PrintOutcome {
    #[serde(flatten)]
    pub job: PrintJob,
    pub path: PathBuf,
    /// The printer's state when the station stopped following the job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub printer_status: Option<PrinterStatus>,
}

/// A scan attached to a checklist item, with where its files are.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    #[serde(flatten)]
    pub attachment: Attachment,
    pub path: PathBuf,
    pub thumbnail: PathBuf,
    pub original: PathBuf,
}

/// An electronic seal and its PNG file.
#[derive(Debug, Clone, Serialize)]
pub struct SealView {
    #[serde(flatten)]
    pub seal: Seal,
    pub path: PathBuf,
}

/// How long `print` follows a job before it reports it as still queued.
pub const FOLLOW_TIMEOUT: Duration = Duration::from_secs(120);

mod print;
mod render;
pub(crate) mod scans;
mod seals;
#[cfg(test)]
mod tests;

/// The checklist item of the seal sample sheet in the catalog.
pub const SEAL_SHEET_ITEM: &str = "seal-sample-sheet";

fn method_zh(m: PaymentMethod) -> &'static str {
    match m {
        PaymentMethod::Cash => "现金",
        PaymentMethod::Wechat => "微信支付",
        PaymentMethod::Alipay => "支付宝",
        PaymentMethod::BankCard => "银行卡",
        PaymentMethod::Free => "免费",
    }
}

fn kiosk_domain_ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// `files/ab/abcdef….ext` under the data directory.
pub fn file_path(data_dir: &Path, sha256: &str, ext: &str) -> PathBuf {
    data_dir
        .join("files")
        .join(&sha256[..2.min(sha256.len())])
        .join(format!("{sha256}.{ext}"))
}

/// Stores `bytes` under their SHA-256 (once; the same content is the same
/// file) and returns the digest and the path.
fn put_file(data_dir: &Path, bytes: &[u8], ext: &str) -> Result<(String, PathBuf), AppError> {
    let sha = hex::encode(Sha256::digest(bytes));
    let path = file_path(data_dir, &sha, ext);
    if !path.exists() {
        let dir = path.parent().expect("files/ab");
        fs::create_dir_all(dir).map_err(|e| AppError::io(dir.display(), e))?;
        write_atomically(&path, bytes)?;
    }
    Ok((sha, path))
}

/// Writes through a temporary file, synced, then renamed: a crash leaves
/// the old file or the new one, never half of one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), AppError> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let io = |e| AppError::io(path.display(), e);
    let mut f = fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

/// A mechanism failure, told to the clerk.
fn forms_rejection(e: FormsError) -> AppError {
    match e {
        FormsError::Font { path, problem } => Rejection::field("font", "中文字体", "font_missing")
            .zh(
                format!("无法使用中文字体 {path}（{problem}）"),
                "请安装 fonts-noto-cjk（scripts/deps 会安装）后重试",
            )
            .en(
                format!("the CJK font {path} cannot be used: {problem}"),
                "install fonts-noto-cjk (scripts/deps)",
            )
            .into(),
        FormsError::Template { name, problem } => {
            Rejection::field("template", "表格模板", "template_invalid")
                .zh(
                    format!("表格模板“{name}”有误：{problem}"),
                    "请运营人员修正数据目录 forms/ 下的模板，或删除它以使用内置模板",
                )
                .en(
                    format!("form template {name}: {problem}"),
                    "fix or remove the template in the data directory's forms/",
                )
                .into()
        }
        FormsError::Image(err) => Rejection::field("upload", "上传图片", "undecodable")
            .zh(format!("图片无法处理：{err}"), "请重新扫描后上传")
            .en(
                format!("the picture cannot be processed: {err}"),
                "scan again and upload",
            )
            .into(),
        FormsError::Io(err) => AppError::io("文件", err),
        other => Rejection::field("document", "文档", "document_failed")
            .zh(
                format!("生成文档失败：{other}"),
                "请重试；如仍失败，请联系运维",
            )
            .en(other.to_string(), "retry, then call support")
            .into(),
    }
}

/// What the demo printed and the seal it cut.
#[derive(Debug, Clone, Serialize)]
pub struct DemoPaperwork {
    pub pdfs: Vec<PathBuf>,
    pub scan: PathBuf,
    pub seal_png: PathBuf,
    #[serde(skip)]
    pub seal_png_bytes: Vec<u8>,
}

/// The demo's paper: saves the order's PDFs, "scans" a synthetic stamped
/// seal sample sheet, cuts the seal out and approves it, as a clerk would.
pub fn demo_paperwork(
    station: &mut Station,
    order_key: &str,
    by: &crate::Session,
) -> Result<DemoPaperwork, AppError> {
    let order = station.find_order(order_key)?;
    let mut pdfs = Vec::new();
    for doc in [
        Document::Application,
        Document::SealSheet,
        Document::Receipt,
    ] {
        pdfs.push(station.print_document(&order.id, doc, None, true, by)?.path);
    }
    let (sheet, _) = kiosk_forms::synthetic::stamped_sheet(1240, 1754, 2026);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 88)
        .encode_image(&sheet)
        .map_err(|e| forms_rejection(FormsError::Image(e)))?;
    let scan = station
        .data_dir()
        .join("documents")
        .join(&order.number)
        .join("seal-sheet-scan.jpg");
    write_atomically(&scan, &jpeg)?;
    // The seal sample sheet where the checklist has one, else the first
    // item that must bear the seal.
    let item = order
        .checklist
        .iter()
        .find(|e| e.id == SEAL_SHEET_ITEM)
        .or_else(|| order.checklist.iter().find(|e| e.sealed))
        .map(|e| e.id.clone())
        .unwrap_or_else(|| SEAL_SHEET_ITEM.to_string());
    let attached = station.attach_scan(&order.id, &item, &scan, by)?;
    let proposed = station.extract_seal(&order.id, Some(&attached.attachment.id), by)?;
    station.decide_seal(None, &proposed.seal.id, true, by)?;
    let (seal, png) = station
        .approved_seal(&order.id)?
        .expect("the seal was just approved");
    Ok(DemoPaperwork {
        pdfs,
        scan,
        seal_png: seal.path,
        seal_png_bytes: png,
    })
}
