//! What goes on each printed document: the order bound to its form template, rendered to PDF.

use std::collections::BTreeMap;
use std::fs;

use chrono::{DateTime, Utc};
use kiosk_domain::application::IdType;
use kiosk_domain::fee::yuan;
use kiosk_domain::order::Order;
use kiosk_domain::{Channel, Operation, Rejection};
use kiosk_forms::{CjkFont, FormData, Template};
use sha2::{Digest, Sha256};

use super::*;
use crate::{AppError, Station};

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
            return Err(Rejection::field("document", "单位授权委托书", "not_needed")
                .zh(
                    format!(
                        "订单 {} 为柜台办理，单位授权委托书仅用于邮寄办理",
                        order.number
                    ),
                    "柜台办理由经办人本人持身份证原件办理，无需打印委托书",
                )
                .en(
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
            .field("key.proof", self.key_proof(&order.id)?)
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
}

impl Station {
    /// What the last verification of the order's key work found, as the
    /// receipt says it: the signing challenge and the encryption test
    /// (数字证书加解密测试) the guides ask applicants to run.
    fn key_proof(&self, order_id: &str) -> Result<String, AppError> {
        let verified = self
            .store()
            .journal_entries(order_id)?
            .into_iter()
            .rev()
            .find(|e| e.step == crate::Step::Verify.as_str() && e.phase == "done");
        let Some(v) = verified else {
            return Ok(String::new());
        };
        let said = |k: &str| v.detail.get(k).and_then(|x| x.as_str()).unwrap_or("");
        let signature = match said("signature") {
            "passed" => "签名验证通过",
            _ => "签名验证已完成",
        };
        let decryption = match said("decryption") {
            "passed" => "加解密测试通过",
            "not-permitted" => "该密钥不支持加解密测试",
            _ => "",
        };
        Ok([signature, decryption]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("；"))
    }
}
