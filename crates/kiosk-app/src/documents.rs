//! Printed documents, scans and the electronic seal of an order.
//!
//! What goes on each document (which order field fills which box, which
//! operation box is ticked) is decided here; how it is drawn, printed and
//! read back is `kiosk-forms`. Files live under the data directory:
//! `documents/<order number>/<document>.pdf` (re-rendered on demand, so a
//! lost or jammed page can always be printed again) and `files/ab/<sha256>.<ext>`
//! for scans, thumbnails and seals, named by their content.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kiosk_domain::application::IdType;
use kiosk_domain::fee::yuan;
use kiosk_domain::order::{Order, OrderState, PaymentMethod};
use kiosk_domain::{validate, Channel, Operation, Rejection};
use kiosk_forms::print::{Cups, JobStatus, PrintError, PrinterStatus, Problem};
use kiosk_forms::{scan, seal, CjkFont, FormData, FormsError, Template};
use kiosk_store::{Actor, Attachment, PrintJob, Seal};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{AppError, OrderView, Station};

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
            Document::Application => include_str!("../../../forms/application.toml"),
            Document::SealSheet => include_str!("../../../forms/seal-sheet.toml"),
            Document::Authorization => include_str!("../../../forms/authorization.toml"),
            Document::Receipt => include_str!("../../../forms/receipt.toml"),
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
                Rejection::new(
                    "document",
                    "unknown_document",
                    "文档",
                    format!("没有名为“{s}”的文档"),
                    "可用：application（申请表）、seal-sheet（印章采样表）、authorization（授权委托书）、receipt（回执）",
                    format!("no document '{s}'"),
                    "use application, seal-sheet, authorization or receipt",
                )
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

impl Station {
    // ------------------------------------------------------------ forms

    /// Draws `document` for the order and saves it under
    /// `documents/<number>/<document>.pdf`. Nothing is recorded: the PDF can
    /// be made again at any time from the order.
    pub fn render_document(
        &self,
        key: &str,
        document: Document,
    ) -> Result<RenderedDocument, AppError> {
        let order = self.find_order(key)?;
        if document == Document::Authorization && order.application.channel != Channel::Mail {
            return Err(Rejection::new(
                "document",
                "not_needed",
                "单位授权委托书",
                format!(
                    "订单 {} 为柜台办理，单位授权委托书仅用于邮寄办理",
                    order.number
                ),
                "柜台办理由经办人本人持身份证原件办理，无需打印委托书",
                "the letter of authorisation is only for mail-in orders",
                "counter orders need no letter of authorisation",
            )
            .into());
        }
        let template = self.template(document)?;
        let data = self.form_data(&order)?;
        let font = CjkFont::system().map_err(forms_rejection)?;
        let drawn = kiosk_forms::render(&template, &data, &font).map_err(forms_rejection)?;
        let dir = self.data_dir().join("documents").join(&order.number);
        fs::create_dir_all(&dir).map_err(|e| AppError::io(dir.display(), e))?;
        let path = dir.join(format!("{}.pdf", document.as_str()));
        write_atomically(&path, &drawn.pdf)?;
        Ok(RenderedDocument {
            document,
            title: document.label_zh(),
            order_id: order.id,
            order_number: order.number,
            bytes: drawn.pdf.len(),
            sha256: hex::encode(Sha256::digest(&drawn.pdf)),
            pages: drawn.pages,
            truncated: drawn.truncated,
            path,
            pdf: drawn.pdf,
        })
    }

    /// The template: `<data dir>/forms/<name>.toml` when an operator put one
    /// there, else the one shipped with the binary.
    fn template(&self, document: Document) -> Result<Template, AppError> {
        let local = self
            .data_dir()
            .join("forms")
            .join(format!("{}.toml", document.as_str()));
        let text = match fs::read_to_string(&local) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                document.embedded_template().to_string()
            }
            Err(e) => return Err(AppError::io(local.display(), e)),
        };
        Template::from_toml(document.as_str(), &text).map_err(forms_rejection)
    }

    /// Every value the templates bind to, from the order and the catalog.
    fn form_data(&self, order: &Order) -> Result<FormData, AppError> {
        let rules = self.rules()?;
        let app = &order.application;
        let provider = rules.catalog().provider(&app.provider)?;
        let project = app
            .project
            .as_deref()
            .and_then(|p| provider.project(p).ok());
        let o = &app.organization;
        let h = &app.handler;
        let local = |at: DateTime<Utc>| {
            kiosk_domain::calendar::local_time(at)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        };
        let op = app.operation;
        let mut d = FormData::default();
        d.field("order.number", &order.number)
            // Upper case keeps the code in QR alphanumeric mode: fewer, larger modules.
            .field(
                "order.qr",
                format!("{QR_PREFIX}{}", order.id.to_ascii_uppercase()),
            )
            .field("order.created_at", local(order.created_at))
            .field("order.state", order.state.label_zh())
            .field("printed_at", format!("打印时间 {}", local(self.now())))
            .field("provider.name", &provider.name)
            .field("organization.name", &o.name)
            .field("organization.uscc", &o.uscc)
            .field("organization.legal_representative", &o.legal_representative)
            .field("organization.phone", &o.phone)
            .field("organization.office_phone", &o.office_phone)
            .field(
                "organization.website",
                o.website.clone().unwrap_or_default(),
            )
            .field(
                "organization.social_security_no",
                o.social_security_no.clone().unwrap_or_default(),
            )
            .field(
                "organization.taxpayer_id",
                o.taxpayer_id.clone().unwrap_or_else(|| o.uscc.clone()),
            )
            .field(
                "proof.legal_rep_id",
                match o.legal_rep_id_type {
                    IdType::ResidentId => format!("居民身份证 {}", o.legal_rep_id),
                    IdType::Passport => format!("护照 {}", o.legal_rep_id),
                },
            )
            .field("handler.name", &h.name)
            .field("handler.id_number", &h.id_number)
            .field("handler.mobile", &h.mobile)
            .field("handler.email", &h.email)
            .field("handler.wechat", h.wechat.clone().unwrap_or_default())
            .field("handler.mailing_address", &h.mailing_address)
            .field(
                "project.region",
                project.map(|p| p.region.clone()).unwrap_or_default(),
            )
            .field(
                "project.category",
                project.map(|p| p.category.clone()).unwrap_or_default(),
            )
            .field(
                "project.name",
                project.map(|p| p.name.clone()).unwrap_or_default(),
            )
            .field("operation.label", op.label_zh())
            .field(
                "operation.other_text",
                match op {
                    Operation::Revoke | Operation::Upgrade => op.label_zh(),
                    _ => "",
                },
            )
            .field(
                "operation.change_details",
                app.change_details.clone().unwrap_or_default(),
            )
            .field(
                "authorization.matter",
                match project {
                    Some(p) => format!("{}{}（{}）", provider.name, op.label_zh(), p.name),
                    None => format!("{}{}", provider.name, op.label_zh()),
                },
            )
            .field("fee.total", yuan(order.fee.total_fen))
            .field(
                "payment.method",
                order
                    .payment
                    .as_ref()
                    .map(|p| method_zh(p.method))
                    .unwrap_or("未付款"),
            )
            .field(
                "payment.receipt_no",
                order
                    .payment
                    .as_ref()
                    .and_then(|p| p.receipt_no.clone())
                    .unwrap_or_default(),
            );
        // 操作类型 as the form prints it: 证书申请, 证书更新, 证书补办, PIN码解锁, 其它, 证书信息变更.
        d.flag("operation.apply", op == Operation::New)
            .flag("operation.renew", op == Operation::Renew)
            .flag(
                "operation.replace",
                matches!(op, Operation::ReplaceLost | Operation::ReplaceDamaged),
            )
            .flag("operation.unlock", op == Operation::Unlock)
            .flag("operation.change", op == Operation::Change)
            .flag(
                "operation.other",
                matches!(op, Operation::Revoke | Operation::Upgrade),
            );
        let lines = order
            .fee
            .lines
            .iter()
            .map(|l| {
                BTreeMap::from([
                    ("label".to_string(), l.label.clone()),
                    ("reason".to_string(), l.reason.clone()),
                    ("unit".to_string(), yuan(l.unit_fen)),
                    ("quantity".to_string(), l.quantity.to_string()),
                    ("amount".to_string(), yuan(l.amount_fen)),
                ])
            })
            .collect();
        d.rows.insert("fee.lines".into(), lines);
        Ok(d)
    }

    // ------------------------------------------------------------ printing

    /// What the touchscreen may print, for the order it just took in: the
    /// application form and the seal sample sheet, while the order still
    /// waits for the counter. Everything else is printed by a clerk.
    pub fn print_for_applicant(
        &mut self,
        key: &str,
        document: Document,
        printer: Option<&str>,
    ) -> Result<PrintOutcome, AppError> {
        if !matches!(document, Document::Application | Document::SealSheet) {
            return Err(Rejection::new(
                "document",
                "forbidden",
                "打印文件",
                "自助屏只能打印申请表和印章采样表",
                "其他文件请到柜台由受理员打印",
                "The touchscreen prints only the application form and the seal sample sheet.",
                "Ask the clerk at the counter to print anything else.",
            )
            .into());
        }
        let order = self.find_order(key)?;
        if order.state != OrderState::PendingReview {
            return Err(Rejection::new(
                "order",
                "forbidden",
                "订单",
                "该订单已在柜台办理",
                "请到柜台由受理员补打",
                "The order is already being handled at the counter.",
                "Ask the clerk to print it again.",
            )
            .into());
        }
        self.print_document(&order.id, document, printer, false, crate::KIOSK_ACTOR)
    }

    /// Hands the key over: prints the receipt (回执), which exists only for
    /// a completed order.
    pub fn hand_over(
        &mut self,
        key: &str,
        printer: Option<&str>,
        clerk: &str,
    ) -> Result<PrintOutcome, AppError> {
        let order = self.find_order(key)?;
        if order.state != OrderState::Completed {
            return Err(Rejection::new(
                "order",
                "not_completed",
                "订单状态",
                format!("订单尚未完成（{}）", order.state.label_zh()),
                "请先完成制证再交付介质",
                "The order is not completed yet.",
                "Finish the key work before handing the key over.",
            )
            .into());
        }
        self.print_document(&order.id, Document::Receipt, printer, false, clerk)
    }

    /// Prints a document on `printer` (else the default or only queue) and
    /// follows the job. Without any printer the PDF is saved and the
    /// outcome says so. Every attempt is recorded; a failed or stuck job
    /// leaves the order untouched and the document can be printed again.
    pub fn print_document(
        &mut self,
        key: &str,
        document: Document,
        printer: Option<&str>,
        save_only: bool,
        clerk: &str,
    ) -> Result<PrintOutcome, AppError> {
        let actor = clerk_actor(clerk)?;
        let doc = self.render_document(key, document)?;
        let now = self.now();
        let mut job = PrintJob {
            id: kiosk_store::new_id(now),
            order_id: doc.order_id.clone(),
            document: document.as_str().to_string(),
            printer: None,
            cups_job_id: None,
            state: "saved".into(),
            pages: None,
            pdf_sha256: doc.sha256.clone(),
            message: format!("已保存 PDF：{}", doc.path.display()),
            created_at: String::new(),
            updated_at: String::new(),
            created_by: actor.as_str().to_string(),
        };
        let saved = |st: &mut Station, job: PrintJob, status| {
            st.store_mut().add_print_job(&actor, now, &job)?;
            Ok(PrintOutcome {
                job,
                path: doc.path.clone(),
                printer_status: status,
            })
        };
        if save_only {
            return saved(self, job, None);
        }
        let cups = Cups::new(Cups::default_server(), actor.as_str());
        let queue = match cups.pick(printer) {
            Ok(q) => q,
            // No print system or no queue at all and none asked for: save.
            Err(PrintError::Unreachable { .. }) | Err(PrintError::NoPrinter { .. })
                if printer.is_none() =>
            {
                job.message = format!(
                    "未连接可用的打印机，已保存 PDF：{}。可用 U 盘拷出打印，或接好打印机后重新打印",
                    doc.path.display()
                );
                return saved(self, job, None);
            }
            Err(e) => {
                job.state = "failed".into();
                job.printer = printer.map(str::to_string);
                let r = print_rejection(&e, &doc, key);
                job.message = r.message_zh();
                self.store_mut().add_print_job(&actor, now, &job)?;
                return Err(r.into());
            }
        };
        job.printer = Some(queue.name.clone());
        if !queue.problems().is_empty() {
            job.state = "not-printed".into();
            let r = printer_rejection(&queue, &doc, key);
            job.message = r.message_zh();
            self.store_mut().add_print_job(&actor, now, &job)?;
            return Err(r.into());
        }
        let title = format!("{} {}", doc.order_number, document.label_zh());
        let id = match cups.submit(&queue, &title, &doc.pdf, 1) {
            Ok(id) => id,
            Err(e) => {
                job.state = "failed".into();
                let r = print_rejection(&e, &doc, key);
                job.message = r.message_zh();
                self.store_mut().add_print_job(&actor, now, &job)?;
                return Err(r.into());
            }
        };
        job.cups_job_id = Some(id);
        job.state = "submitted".into();
        job.message = format!("已送打印机“{}”，任务号 {id}", queue.name);
        self.store_mut().add_print_job(&actor, now, &job)?;
        let followed = cups.follow(&queue.name, id, FOLLOW_TIMEOUT);
        let now = self.now();
        let (status, printer_status) = match followed {
            Ok(s) => s,
            Err(e) => {
                job.state = "unknown".into();
                let r = print_rejection(&e, &doc, key);
                job.message = r.message_zh();
                self.store_mut().update_print_job(&actor, now, &job)?;
                return Err(r.into());
            }
        };
        job.pages = status.pages;
        let outcome = job_outcome(&status, printer_status.as_ref(), &doc, key);
        match outcome {
            Ok((state, message)) => {
                job.state = state.into();
                job.message = message;
                self.store_mut().update_print_job(&actor, now, &job)?;
                Ok(PrintOutcome {
                    job,
                    path: doc.path.clone(),
                    printer_status,
                })
            }
            Err((state, r)) => {
                job.state = state.into();
                job.message = r.message_zh();
                self.store_mut().update_print_job(&actor, now, &job)?;
                Err(r.into())
            }
        }
    }

    /// The print jobs recorded for an order.
    pub fn print_jobs(&self, key: &str) -> Result<Vec<PrintJob>, AppError> {
        let order = self.find_order(key)?;
        Ok(self.store().print_jobs(&order.id)?)
    }

    /// The printers CUPS knows, with their state.
    pub fn printers(&self) -> Result<Vec<PrinterStatus>, AppError> {
        let cups = Cups::new(Cups::default_server(), "kiosk");
        cups.printers().map_err(|e| {
            AppError::from(Rejection::new(
                "printer",
                "print_system_down",
                "打印服务",
                format!("无法连接打印服务（CUPS，{}）", cups.server()),
                "请确认打印服务已启动（cupsd），或设置 CUPS_SERVER 指向它",
                e.to_string(),
                "start cupsd or point CUPS_SERVER at it",
            ))
        })
    }

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
        clerk: &str,
    ) -> Result<AttachmentView, AppError> {
        let actor = clerk_actor(clerk)?;
        let order = self.find_order(key)?;
        let entry = order
            .checklist
            .iter()
            .find(|e| e.id == item.trim())
            .ok_or_else(|| {
                Rejection::new(
                    "item",
                    "unknown_item",
                    "材料",
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
        let dir = self.data_dir().to_path_buf();
        let ext = Path::new(&name)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("img")
            .to_ascii_lowercase();
        let (original_sha, original) = put_file(&dir, &bytes, &ext)?;
        let (sha, path) = put_file(&dir, &prepared.image, "jpg")?;
        let (thumb_sha, thumbnail) = put_file(&dir, &prepared.thumbnail, "jpg")?;
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

    /// An order's scans.
    pub fn attachments(&self, key: &str) -> Result<Vec<AttachmentView>, AppError> {
        let order = self.find_order(key)?;
        let dir = self.data_dir();
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
                    path: file_path(dir, &a.sha256, "jpg"),
                    thumbnail: file_path(dir, &a.thumb_sha256, "jpg"),
                    original: file_path(dir, &a.original_sha256, &ext),
                    attachment: a,
                }
            })
            .collect())
    }

    // ------------------------------------------------------------ seal

    /// Cuts the red seal out of the latest scan of the seal sample sheet
    /// (or the given attachment) as a transparent PNG, proposed to the clerk.
    pub fn extract_seal(
        &mut self,
        key: &str,
        attachment_id: Option<&str>,
        clerk: &str,
    ) -> Result<SealView, AppError> {
        let actor = clerk_actor(clerk)?;
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
            Rejection::new(
                "attachment",
                "no_seal_sheet",
                "印章采样表扫描件",
                format!("订单 {} 还没有单位电子印章采样表的扫描件", order.number),
                format!(
                    "请先扫描盖好章的采样表：kioskctl scan attach {} {SEAL_SHEET_ITEM} 文件",
                    order.number
                ),
                "no scan of the seal sample sheet on this order",
                "scan the stamped sheet first",
            )
        })?;
        let bytes =
            fs::read(&chosen.original).map_err(|e| AppError::io(chosen.original.display(), e))?;
        let (img, _) = scan::decode_upright(&bytes).map_err(forms_rejection)?;
        let extracted = seal::extract(&img)
            .map_err(forms_rejection)?
            .ok_or_else(|| {
                Rejection::new(
                    "attachment",
                    "no_seal_found",
                    format!("扫描件“{}”", chosen.attachment.file_name),
                    "未在扫描件上找到清晰的红色公章印迹",
                    "请在采样表框内用红色印油重新盖章（清晰、完整、不压框线），重新扫描后再提取",
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
            status: "proposed".into(),
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
        clerk: &str,
    ) -> Result<SealView, AppError> {
        let actor = clerk_actor(clerk)?;
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
        if seal.status != "proposed" {
            return Err(Rejection::new(
                "seal",
                "already_decided",
                "电子印章",
                format!(
                    "该印章已{}",
                    if seal.status == "approved" {
                        "确认"
                    } else {
                        "退回"
                    }
                ),
                "如需更换，请重新提取印章",
                format!("the seal was already {}", seal.status),
                "extract the seal again to change it",
            )
            .into());
        }
        let now = self.now();
        seal.status = if approve { "approved" } else { "rejected" }.into();
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
            .find(|s| s.status == "approved")
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
        let upload = validate::decoded_upload(name, &bytes)?;
        let (img, _) = scan::upright(upload.image, upload.orientation);
        let codes = kiosk_forms::qr::decode(&img);
        let code = codes
            .iter()
            .find(|c| c.starts_with(QR_PREFIX))
            .ok_or_else(|| {
                Rejection::new(
                    "upload",
                    "no_order_code",
                    format!("图片“{name}”"),
                    if codes.is_empty() {
                        "图片中没有可识别的二维码".to_string()
                    } else {
                        "图片中的二维码不是本站打印的订单码".to_string()
                    },
                    "请对准表格右上角的二维码重新拍摄（清晰、不反光），或用扫码枪扫描",
                    "no order QR code found in the picture",
                    "photograph the QR code at the top right of the form again, or use the scanner",
                )
            })?;
        self.order_from_code(code)
    }
}

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

fn clerk_actor(clerk: &str) -> Result<Actor, AppError> {
    let id = clerk.trim();
    if id.is_empty() || id.chars().any(|c| c.is_control() || c == ':') {
        return Err(Rejection::new(
            "clerk",
            "required",
            "受理员",
            "未指明受理员或编号含非法字符",
            "每一步都须记录经办的受理员：请用 --clerk 编号（或环境变量 KIOSK_CLERK）指明",
            "no clerk given, or it has illegal characters",
            "give --clerk ID (or KIOSK_CLERK)",
        )
        .into());
    }
    Ok(Actor::clerk(id))
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
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), AppError> {
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
        FormsError::Font { path, problem } => Rejection::new(
            "font",
            "font_missing",
            "中文字体",
            format!("无法使用中文字体 {path}（{problem}）"),
            "请安装 fonts-noto-cjk（scripts/deps 会安装）后重试",
            format!("the CJK font {path} cannot be used: {problem}"),
            "install fonts-noto-cjk (scripts/deps)",
        )
        .into(),
        FormsError::Template { name, problem } => Rejection::new(
            "template",
            "template_invalid",
            "表格模板",
            format!("表格模板“{name}”有误：{problem}"),
            "请运营人员修正数据目录 forms/ 下的模板，或删除它以使用内置模板",
            format!("form template {name}: {problem}"),
            "fix or remove the template in the data directory's forms/",
        )
        .into(),
        FormsError::Image(err) => Rejection::new(
            "upload",
            "undecodable",
            "上传图片",
            format!("图片无法处理：{err}"),
            "请重新扫描后上传",
            format!("the picture cannot be processed: {err}"),
            "scan again and upload",
        )
        .into(),
        FormsError::Io(err) => AppError::io("文件", err),
        other => Rejection::new(
            "document",
            "document_failed",
            "文档",
            format!("生成文档失败：{other}"),
            "请重试；如仍失败，请联系运维",
            other.to_string(),
            "retry, then call support",
        )
        .into(),
    }
}

fn reprint_hint(doc: &RenderedDocument, key: &str) -> String {
    format!(
        "文件已保存：{}，订单未受影响，处理后可重新打印（kioskctl print {key} {}）",
        doc.path.display(),
        doc.document.as_str()
    )
}

fn print_rejection(e: &PrintError, doc: &RenderedDocument, key: &str) -> Rejection {
    let hint = reprint_hint(doc, key);
    match e {
        PrintError::Unreachable { server, .. } => Rejection::new(
            "printer",
            "print_system_down",
            "打印服务",
            format!("无法连接打印服务（CUPS，{server}）"),
            format!("请确认打印服务已启动。{hint}"),
            e.to_string(),
            "start the print service, then print again",
        ),
        PrintError::NoPrinter { wanted, available } => Rejection::new(
            "printer",
            "printer_not_found",
            "打印机",
            match wanted {
                Some(w) => format!("没有名为“{w}”的打印机"),
                None => "未设置默认打印机，且有多台打印机".into(),
            },
            format!(
                "可用打印机：{}。请用 --printer 指定。{hint}",
                if available.is_empty() {
                    "无".into()
                } else {
                    available.join("、")
                }
            ),
            e.to_string(),
            "name one of the available printers with --printer",
        ),
        PrintError::NotReady(status) => printer_rejection(status, doc, key),
        _ => Rejection::new(
            "printer",
            "print_failed",
            "打印",
            format!("打印服务拒绝了打印任务：{e}"),
            hint,
            e.to_string(),
            "check the printer and print again",
        ),
    }
}

/// Why a printer cannot print, in the clerk's words.
fn printer_rejection(p: &PrinterStatus, doc: &RenderedDocument, key: &str) -> Rejection {
    let problems = p.problems();
    let first = problems.first().copied().unwrap_or(Problem::Other);
    let (code, zh, what) = match first {
        Problem::OutOfPaper => ("printer_out_of_paper", "缺纸", "请添加 A4 纸"),
        Problem::Offline => ("printer_offline", "离线", "请检查打印机电源和连接线"),
        Problem::Stopped | Problem::NotAccepting => (
            "printer_stopped",
            "已暂停",
            "请在打印管理中恢复该打印机（cupsenable / cupsaccept）",
        ),
        Problem::PaperJam => ("printer_jammed", "卡纸", "请取出卡住的纸张"),
        Problem::OutOfToner => ("printer_no_toner", "墨粉或墨水用完", "请更换耗材"),
        Problem::CoverOpen => ("printer_cover_open", "机盖未关", "请关好机盖"),
        Problem::Other => ("printer_error", "报告故障", "请查看打印机面板"),
    };
    let detail = if p.message.is_empty() {
        p.reasons.join(", ")
    } else {
        p.message.clone()
    };
    Rejection::new(
        "printer",
        code,
        format!("打印机“{}”", p.name),
        format!("打印机{zh}，无法打印（{detail}）"),
        format!("{what}。{}", reprint_hint(doc, key)),
        format!("printer {} cannot print: {:?} ({detail})", p.name, problems),
        "fix the printer, then print again",
    )
}

/// Sorts a followed job into done, still waiting, or failed.
#[allow(clippy::type_complexity)]
fn job_outcome(
    job: &JobStatus,
    printer: Option<&PrinterStatus>,
    doc: &RenderedDocument,
    key: &str,
) -> Result<(&'static str, String), (&'static str, Rejection)> {
    match job.state.as_str() {
        "completed" => Ok((
            "completed",
            format!(
                "已打印{}：打印机“{}”，任务号 {}",
                job.pages.map(|p| format!(" {p} 页")).unwrap_or_default(),
                job.printer,
                job.job_id
            ),
        )),
        "aborted" | "canceled" => Err((
            "failed",
            Rejection::new(
                "printer",
                "print_failed",
                format!("打印机“{}”", job.printer),
                format!(
                    "打印任务 {} {}（{}）",
                    job.job_id,
                    if job.state == "aborted" {
                        "失败"
                    } else {
                        "已被取消"
                    },
                    if job.message.is_empty() {
                        job.reasons.join(", ")
                    } else {
                        job.message.clone()
                    }
                ),
                reprint_hint(doc, key),
                format!("print job {} {}", job.job_id, job.state),
                "print again",
            ),
        )),
        _ => match printer.filter(|p| !p.problems().is_empty()) {
            Some(p) => Err(("waiting", printer_rejection(p, doc, key))),
            None => Ok((
                "waiting",
                format!(
                    "打印任务 {} 仍在打印机“{}”队列中（{}），请稍后查看打印结果",
                    job.job_id, job.printer, job.state
                ),
            )),
        },
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
    clerk: &str,
) -> Result<DemoPaperwork, AppError> {
    let order = station.find_order(order_key)?;
    let mut pdfs = Vec::new();
    for doc in [
        Document::Application,
        Document::SealSheet,
        Document::Receipt,
    ] {
        pdfs.push(
            station
                .print_document(&order.id, doc, None, true, clerk)?
                .path,
        );
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
    let attached = station.attach_scan(&order.id, &item, &scan, clerk)?;
    let proposed = station.extract_seal(&order.id, Some(&attached.attachment.id), clerk)?;
    station.decide_seal(None, &proposed.seal.id, true, clerk)?;
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
