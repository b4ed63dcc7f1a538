//! From the app's types to the IPC contract's.

use base64::Engine;
use kiosk_app::domain::fee::FeeQuote;
use kiosk_app::domain::order::Order;
use kiosk_app::domain::renewal::RenewalDecision;
use kiosk_app::domain::Rejection;
use kiosk_app::OrderSummary;
use kiosk_app::{
    AppError, ChecklistView, ClerkView, DayReport, PresentKey, PrintOutcome, Rules, Station,
};

use crate::ipc::*;

fn s<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

pub fn providers(rules: &Rules) -> Vec<ProviderDto> {
    let c = rules.catalog();
    rules
        .providers()
        .into_iter()
        .map(|p| {
            let projects = c
                .provider(&p.id)
                .map(|full| {
                    full.projects
                        .iter()
                        .map(|pr| ProjectDto {
                            id: pr.id.clone(),
                            name: pr.name.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            ProviderDto {
                operations: p
                    .operations
                    .iter()
                    .map(|o| OperationDto {
                        operation: o.operation,
                        needs_certificate: kiosk_app::needs_certificate(o.operation),
                        label: o.label.to_string(),
                        warns_sealed_bids: c
                            .notices(&p.id, o.operation)
                            .iter()
                            .any(|n| n.id == "sealed-bids"),
                        revocation_reasons: kiosk_app::stated_reasons(o.operation)
                            .iter()
                            .map(|&reason| ReasonDto {
                                reason,
                                label: reason.label_zh().to_string(),
                            })
                            .collect(),
                    })
                    .collect(),
                id: p.id,
                name: p.name,
                projects,
                max_years: p.max_years,
            }
        })
        .collect()
}

pub fn fee(q: &FeeQuote) -> FeeDto {
    FeeDto {
        total_fen: q.total_fen,
        years: q.years,
        lines: q
            .lines
            .iter()
            .map(|l| FeeLineDto {
                label: l.label.clone(),
                amount_fen: l.amount_fen,
                quantity: l.quantity,
                reason: l.reason.clone(),
                reason_en: l.reason_en.clone(),
            })
            .collect(),
    }
}

fn items(entries: &[kiosk_app::domain::order::ChecklistEntry]) -> Vec<ChecklistItemDto> {
    entries
        .iter()
        .map(|i| ChecklistItemDto {
            id: i.id.clone(),
            name: i.name.clone(),
            copies: i.copies,
            original: i.original,
            copy: i.copy,
            sealed: i.sealed,
            signed: i.signed,
            hint: i.hint.clone(),
            status: i.status.as_ref().map(s),
            note: i.note.clone(),
        })
        .collect()
}

pub fn checklist(v: &ChecklistView) -> ChecklistDto {
    ChecklistDto {
        items: items(&v.items),
        notices: v.notices.iter().map(|n| n.zh.clone()).collect(),
        notices_en: v
            .notices
            .iter()
            .map(|n| if n.en.is_empty() { &n.zh } else { &n.en }.clone())
            .collect(),
    }
}

pub fn renewal(r: &RenewalDecision) -> RenewalDto {
    RenewalDto {
        mode: s(&r.mode),
        new_not_before: r.new_not_before.map(|d| d.to_string()),
        new_not_after: r.new_not_after.map(|d| d.to_string()),
        days_left: r.days_left,
        opens_on: r.opens_on.map(|d| d.to_string()),
        message: r.message.clone(),
        message_en: r.message_en.clone(),
    }
}

pub fn key(k: &PresentKey) -> KeyDto {
    KeyDto {
        key_serial: k.key.key_serial.clone(),
        model: k.key.model.clone(),
        certificate_serial: k.key.certificate_serial.clone(),
        subject: k.key.subject.clone(),
        issuer: k.key.issuer.clone(),
        not_after: k.not_after_date.map(|d| d.to_string()),
        locked: k.key.lock.locked,
        lock_hint: k.key.lock.hint.clone(),
        blank_in_stock: k.blank_in_stock,
        verified: k.key.provenance.as_ref().map(|p| p.verified),
        issued_by: k
            .key
            .provenance
            .as_ref()
            .and_then(|p| p.issued_by_name.clone()),
        problem: k
            .key
            .provenance
            .as_ref()
            .and_then(|p| p.problem.as_ref())
            .map(|r| format!("{}。{}", r.problem_zh, r.action_zh)),
        problem_en: k
            .key
            .provenance
            .as_ref()
            .and_then(|p| p.problem.as_ref())
            .map(|r| format!("{}; {}", r.problem_en, r.action_en)),
    }
}

pub fn ticket(o: &Order) -> TicketDto {
    TicketDto {
        order_id: o.id.clone(),
        order_number: o.number.clone(),
        queue_no: o.number.rsplit('-').next().unwrap_or(&o.number).to_string(),
        fee: fee(&o.fee),
        checklist: items(&o.checklist),
    }
}

pub fn print(p: &PrintOutcome) -> PrintDto {
    PrintDto {
        state: p.job.state.clone(),
        printer: p.job.printer.clone(),
        message: p.job.message.clone(),
        path: p.path.display().to_string(),
    }
}

pub fn clerk(c: &ClerkView) -> ClerkDto {
    ClerkDto {
        id: c.id.clone(),
        display_name: c.display_name.clone(),
        role: c.role.as_str().to_string(),
    }
}

pub fn order_row(o: &OrderSummary) -> OrderRowDto {
    let op_zh = o
        .operation
        .parse::<kiosk_app::domain::Operation>()
        .map(|op| op.label_zh().to_string())
        .unwrap_or_else(|_| o.operation.clone());
    OrderRowDto {
        id: o.id.clone(),
        number: o.number.clone(),
        provider: o.provider.clone(),
        operation: o.operation.clone(),
        operation_zh: op_zh,
        state: o.state.clone(),
        state_zh: o.state_zh.clone(),
        created_at: o.created_at.clone(),
    }
}

/// The order `key` as it stands now, after a command changed it.
pub fn current_order(st: &Station, key: &str) -> IpcResult<OrderDto> {
    let o = st.order(key)?.order;
    order(st, &o)
}

pub fn order(st: &Station, o: &Order) -> IpcResult<OrderDto> {
    let d = st.desk_order(o.clone())?;
    let o = &d.order;
    Ok(OrderDto {
        id: o.id.clone(),
        number: o.number.clone(),
        provider: o.application.provider.clone(),
        operation: o.application.operation,
        operation_zh: o.application.operation.label_zh().to_string(),
        state: o.state,
        state_zh: o.state.label_zh().to_string(),
        company: o.application.organization.name.clone(),
        handler: o.application.handler.name.clone(),
        fee: fee(&o.fee),
        checklist: items(&o.checklist),
        payment: o.payment.as_ref().map(|p| PaymentDto {
            method: s(&p.method),
            amount_fen: p.amount_fen,
            receipt_no: p.receipt_no.clone(),
        }),
        attachments: d
            .attachments
            .iter()
            .map(|a| AttachmentDto {
                id: a.attachment.id.clone(),
                item: a.attachment.item.clone(),
                file_name: a.attachment.file_name.clone(),
                seal_found: a.attachment.seal_found,
            })
            .collect(),
        pin_need: d.pin_need,
        needs_approval: d.needs_approval,
        approved_by: d.approved_by.clone(),
        writes_blank_key: d.writes_blank_key,
        certificate_serial: d.certificate_serial.clone(),
        revocation_pending_at_central: d.revocation_pending_at_central,
        personal_data_purged_at: d.personal_data_purged_at.clone(),
        reason: o.reason.clone(),
        seal_need: d.seal_need,
        seal: d.seal.as_ref().map(|(v, png)| SealDto {
            id: v.seal.id.clone(),
            status: v.seal.status,
            width: v.seal.width,
            height: v.seal.height,
            png_base64: base64::engine::general_purpose::STANDARD.encode(png),
            decided_by: v.seal.decided_by.clone(),
        }),
    })
}

pub fn report(r: &DayReport) -> DayReportDto {
    DayReportDto {
        date: r.date.to_string(),
        rows: r
            .rows
            .iter()
            .map(|row| ReportRowDto {
                operation: row.operation.as_str().to_string(),
                operation_zh: row.operation_zh.to_string(),
                orders: row.orders,
                completed: row.completed,
                paid: row.paid,
                takings_fen: row.takings_fen,
            })
            .collect(),
        total_orders: r.total_orders,
        total_takings_fen: r.total_takings_fen,
    }
}

/// A scan the page sent, as a temporary file named like the original so
/// that its extension is checked.
/// A file's bytes as the page sends them (base64).
pub fn base64_file(b64: &str) -> IpcResult<Vec<u8>> {
    Ok(base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| {
            Rejection::field("file", "扫描件", "unreadable")
                .zh("文件内容无法读取", "请重新扫描或重新选择文件")
                .en("the file could not be read", "scan it again")
        })?)
}

pub fn upload(
    st: &Station,
    file_name: &str,
    b64: &str,
) -> IpcResult<(tempfile::TempDir, std::path::PathBuf)> {
    let bytes = base64_file(b64)?;
    let dir = tempfile::tempdir_in(st.data_dir())
        .map_err(|e| AppError::io(st.data_dir().display(), e))?;
    let name = std::path::Path::new(file_name)
        .file_name()
        .map(|n| n.to_owned())
        .unwrap_or_else(|| "scan".into());
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).map_err(|e| AppError::io(path.display(), e))?;
    Ok((dir, path))
}
