//! The application an applicant fills in (数字证书申请表), and its checks.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::catalog::Fault;
use crate::{validate, Catalog, Channel, Operation, Rejection, RevocationReason};

/// The application as typed in, before and after normalisation (a valid
/// application holds canonical values: upper-case USCC, bare mobile digits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub operation: Operation,
    #[serde(default)]
    pub channel: Channel,
    pub organization: Organization,
    pub handler: Handler,
    /// Years bought (renewals); one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<u32>,
    /// 证书信息变更（请详细说明）: what changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_details: Option<String>,
    /// The certificate and key the operation acts on, when not a new issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<ExistingCertificate>,
    /// 吊销原因: why the applicant asks for a revocation (revoke only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<RevocationReason>,
    /// The clerk's findings on a damaged key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_condition: Option<KeyCondition>,
    /// 申请人声明: agrees to the provider's service agreement.
    pub agreed_to_terms: bool,
}

/// 单位信息 and 证明资料 of the company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    /// 单位名称
    pub name: String,
    /// 统一社会信用代码
    pub uscc: String,
    /// 法人代表
    pub legal_representative: String,
    /// 法人身份证（护照）: type of the document.
    #[serde(default)]
    pub legal_rep_id_type: IdType,
    /// 法人身份证（护照）: its number.
    pub legal_rep_id: String,
    /// 联系电话 (landline or mobile)
    pub phone: String,
    /// 办公电话
    pub office_phone: String,
    /// 企业网址
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// 单位社保号 (social-security projects only)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub social_security_no: Option<String>,
    /// 纳税人识别号; the USCC serves when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxpayer_id: Option<String>,
}

/// 经办人信息: the person at the counter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handler {
    /// 经办人
    pub name: String,
    /// 申请人（联系人）身份证
    pub id_number: String,
    /// 手机号码
    pub mobile: String,
    /// 邮箱
    pub email: String,
    /// 微信号
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat: Option<String>,
    /// 邮寄地址
    pub mailing_address: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdType {
    #[default]
    ResidentId,
    Passport,
}

/// The certificate being renewed, changed, replaced, unlocked or revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExistingCertificate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Last valid day of the old certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_serial: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyCondition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_issued: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

/// The fields of an application that are a person's data, as
/// `(object, field)`: what the station keeps encrypted and purges
/// (`kiosk_sync::personal`). The company's name, USCC, office phone and
/// legal representative's name are public (the business licence) and stay.
pub const PERSONAL_FIELDS: &[(&str, &str)] = &[
    ("organization", "legal_rep_id"),
    ("organization", "phone"),
    ("handler", "name"),
    ("handler", "id_number"),
    ("handler", "mobile"),
    ("handler", "email"),
    ("handler", "wechat"),
    ("handler", "mailing_address"),
];

const MAX_NAME: usize = 100;
const MAX_ADDRESS: usize = 200;

impl Application {
    /// The serial of the certificate the application names, as the
    /// station writes serials (trimmed, lowercase).
    pub fn named_serial(&self) -> Option<String> {
        self.certificate
            .as_ref()
            .and_then(|c| c.serial.as_deref())
            .map(|s| s.trim().to_ascii_lowercase())
    }

    /// Parses an application file (JSON), saying where it is malformed.
    pub fn from_json(text: &str) -> Result<Application, Rejection> {
        serde_json::from_str(text).map_err(|e| {
            let (line, col) = (e.line(), e.column());
            Rejection::field("application", "申请资料文件", "malformed")
                .zh(
                    format!("文件格式有误（第 {line} 行第 {col} 列）：{e}"),
                    "请检查申请资料文件（JSON）后重新提交",
                )
                .en(
                    format!("the application file is malformed at line {line}, column {col}: {e}"),
                    "fix the application file (JSON) and submit it again",
                )
        })
    }

    /// Checks every field against the rules and returns the canonical
    /// application, or every refusal at once so the applicant fixes them in
    /// one pass.
    pub fn validate(
        &self,
        catalog: &Catalog,
        today: NaiveDate,
    ) -> Result<Application, Vec<Rejection>> {
        let mut errors = Vec::new();
        let mut out = self.clone();

        let provider = catalog.offering(&self.provider, self.operation);
        let project = match (&provider, &self.project) {
            (Ok(p), Some(id)) => p.project(id).map_err(|e| errors.push(e)).ok(),
            (Ok(p), None) if !p.projects.is_empty() => {
                errors.push(
                    Rejection::field("project", "证书应用项目", "required")
                        .zh(
                            "未选择证书应用项目",
                            format!(
                                "请选择其中之一：{}",
                                p.projects
                                    .iter()
                                    .map(|x| x.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join("、")
                            ),
                        )
                        .en("no project chosen", "pick a project"),
                );
                None
            }
            _ => None,
        };
        match &provider {
            Ok(p) => out.provider = p.id.clone(),
            Err(e) => errors.push(e.clone()),
        }
        if let Ok(p) = &provider {
            if let Err(e) = catalog.checklist(&p.id, self.operation, self.channel) {
                errors.push(e);
            }
        }

        let o = &self.organization;
        keep(
            &mut errors,
            text("organization.name", "单位名称", &o.name, MAX_NAME),
            &mut out.organization.name,
        );
        keep(
            &mut errors,
            validate::uscc(&o.uscc)
                .map(|u| u.as_str().to_string())
                .map_err(|e| e.at("organization.uscc", "统一社会信用代码")),
            &mut out.organization.uscc,
        );
        keep(
            &mut errors,
            text(
                "organization.legal_representative",
                "法人代表",
                &o.legal_representative,
                50,
            ),
            &mut out.organization.legal_representative,
        );
        keep(
            &mut errors,
            match o.legal_rep_id_type {
                IdType::ResidentId => {
                    validate::resident_id(&o.legal_rep_id, today).map(|i| i.as_str().to_string())
                }
                IdType::Passport => validate::passport(&o.legal_rep_id),
            }
            .map_err(|e| e.at("organization.legal_rep_id", "法人身份证（护照）")),
            &mut out.organization.legal_rep_id,
        );
        keep(
            &mut errors,
            validate::phone(&o.phone).map_err(|e| e.at("organization.phone", "联系电话")),
            &mut out.organization.phone,
        );
        keep(
            &mut errors,
            validate::phone(&o.office_phone)
                .map_err(|e| e.at("organization.office_phone", "办公电话")),
            &mut out.organization.office_phone,
        );
        if let Some(site) = &o.website {
            let mut v = String::new();
            keep(
                &mut errors,
                text("organization.website", "企业网址", site, MAX_ADDRESS),
                &mut v,
            );
            out.organization.website = Some(v).filter(|s| !s.is_empty());
        }
        let needs_ss = project.is_some_and(|p| p.needs_social_security_no);
        match (&o.social_security_no, needs_ss) {
            (Some(v), _) if !v.trim().is_empty() => {
                let mut s = String::new();
                keep(
                    &mut errors,
                    text("organization.social_security_no", "单位社保号", v, 50),
                    &mut s,
                );
                out.organization.social_security_no = Some(s);
            }
            (_, true) => errors.push(missing(
                "organization.social_security_no",
                "单位社保号",
                "社保项目必须填写单位社保号",
            )),
            _ => out.organization.social_security_no = None,
        }
        if let Some(v) = o.taxpayer_id.as_ref().filter(|v| !v.trim().is_empty()) {
            let mut s = String::new();
            keep(
                &mut errors,
                text("organization.taxpayer_id", "纳税人识别号", v, 20)
                    .map(|s| s.replace(' ', "").to_uppercase()),
                &mut s,
            );
            out.organization.taxpayer_id = Some(s);
        } else {
            out.organization.taxpayer_id = None;
        }

        let h = &self.handler;
        keep(
            &mut errors,
            text("handler.name", "经办人", &h.name, 50),
            &mut out.handler.name,
        );
        keep(
            &mut errors,
            validate::resident_id(&h.id_number, today)
                .map(|i| i.as_str().to_string())
                .map_err(|e| e.at("handler.id_number", "申请人（联系人）身份证")),
            &mut out.handler.id_number,
        );
        keep(
            &mut errors,
            validate::mobile(&h.mobile).map_err(|e| e.at("handler.mobile", "手机号码")),
            &mut out.handler.mobile,
        );
        keep(
            &mut errors,
            validate::email(&h.email).map_err(|e| e.at("handler.email", "邮箱")),
            &mut out.handler.email,
        );
        if let Some(w) = &h.wechat {
            let mut v = String::new();
            keep(&mut errors, text("handler.wechat", "微信号", w, 50), &mut v);
            out.handler.wechat = Some(v).filter(|s| !s.is_empty());
        }
        keep(
            &mut errors,
            text(
                "handler.mailing_address",
                "邮寄地址",
                &h.mailing_address,
                MAX_ADDRESS,
            ),
            &mut out.handler.mailing_address,
        );

        if !self.agreed_to_terms {
            errors.push(
                Rejection::field("agreed_to_terms", "申请人声明", "required")
                    .zh(
                        "尚未勾选同意数字证书服务协议",
                        "请阅读服务协议并勾选“遵守数字证书服务协议”",
                    )
                    .en(
                        "the service agreement has not been accepted",
                        "read the agreement and tick the box",
                    ),
            );
        }
        match self.operation {
            Operation::Change => {
                let details = self.change_details.as_deref().unwrap_or("");
                let mut v = String::new();
                keep(
                    &mut errors,
                    text("change_details", "证书信息变更说明", details, 500).map_err(|_| {
                        missing(
                            "change_details",
                            "证书信息变更说明",
                            "变更业务须详细说明变更内容（如单位名称、法人、公章样式）",
                        )
                    }),
                    &mut v,
                );
                out.change_details = Some(v);
            }
            Operation::Renew
                if self
                    .certificate
                    .as_ref()
                    .and_then(|c| c.not_after)
                    .is_none() =>
            {
                errors.push(missing(
                    "certificate.not_after",
                    "原证书到期日",
                    "更新业务需要原证书的到期日：请插入原证书U盾读取，或按证书信息填写",
                ));
            }
            _ => {}
        }
        match (self.operation, self.revocation_reason) {
            (Operation::Revoke, Some(r)) if RevocationReason::STATED.contains(&r) => {}
            (Operation::Revoke, stated) => {
                let choices = RevocationReason::STATED
                    .iter()
                    .map(|r| format!("{}（{}）", r.label_zh(), r.as_str()))
                    .collect::<Vec<_>>()
                    .join("、");
                let names = RevocationReason::STATED
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                errors.push(match stated {
                    None => Rejection::field("revocation_reason", "吊销原因", "required")
                        .zh("未填写吊销原因", format!("请选择其中之一：{choices}"))
                        .en(
                            "the reason for the revocation is missing",
                            format!("choose one of {names}"),
                        ),
                    Some(r) => Rejection::field("revocation_reason", "吊销原因", "not_allowed")
                        .zh(
                            format!("“{}”不是申请人可以填写的吊销原因", r.label_zh()),
                            format!("请选择其中之一：{choices}"),
                        )
                        .en(
                            format!("{r} is not a reason an applicant may give"),
                            format!("choose one of {names}"),
                        ),
                });
            }
            _ => out.revocation_reason = None,
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

/// Stores a checked value in its slot, or keeps the refusal.
fn keep(errors: &mut Vec<Rejection>, r: Result<String, Rejection>, slot: &mut String) {
    match r {
        Ok(v) => *slot = v,
        Err(e) => errors.push(e),
    }
}

/// A required free-text field: trimmed, not empty, no control characters,
/// at most `max` characters.
fn text(field: &str, label: &str, value: &str, max: usize) -> Result<String, Rejection> {
    let v = value.trim();
    if v.is_empty() {
        return Err(missing(field, label, &format!("请填写{label}")));
    }
    if let Some(c) = v.chars().find(|c| c.is_control()) {
        return Err(Rejection::field(field, label, "control_character")
            .zh(
                format!("含有不可见的控制字符（U+{:04X}）", c as u32),
                "请删除后重新输入",
            )
            .en(
                format!("contains a control character U+{:04X}", c as u32),
                "remove it and type the value again",
            ));
    }
    let n = v.chars().count();
    if n > max {
        return Err(Rejection::field(field, label, "too_long")
            .zh(
                format!("长度为 {n} 个字，超过 {max} 个字的上限"),
                "请按证件上的写法填写，必要时使用简称",
            )
            .en(format!("{n} characters, more than {max}"), "shorten it"));
    }
    Ok(v.to_string())
}

fn missing(field: &str, label: &str, action: &str) -> Rejection {
    Rejection::field(field, label, "required")
        .zh("未填写", action)
        .en("it is not filled in", "fill it in")
}
