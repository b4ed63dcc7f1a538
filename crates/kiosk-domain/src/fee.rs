//! Fee lookup: which lines an operation costs, and why, in integer fen.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::calendar::add_months;
use crate::catalog::{Basis, Fault, LineKind, Tariff};
use crate::{Catalog, Operation, Rejection};

/// What the counter asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeQuery<'a> {
    pub provider: &'a str,
    pub project: Option<&'a str>,
    pub operation: Operation,
    /// Years bought; `None` means one year's worth.
    pub years: Option<u32>,
    /// The clerk's finding on a damaged key.
    pub fault: Option<Fault>,
    /// First issue date of the key being replaced (starts its warranty).
    pub first_issued: Option<NaiveDate>,
    pub today: NaiveDate,
}

/// One line of the bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeLine {
    pub item: String,
    pub label: String,
    pub kind: LineKind,
    pub unit_fen: i64,
    pub quantity: u32,
    pub amount_fen: i64,
    /// Why this amount, in Chinese, for the applicant.
    pub reason: String,
    pub reason_en: String,
}

/// The bill for one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeQuote {
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub operation: Operation,
    pub years: u32,
    pub total_fen: i64,
    pub lines: Vec<FeeLine>,
    pub catalog_version: u64,
}

/// Prices an operation from the catalog.
pub fn quote(catalog: &Catalog, q: &FeeQuery<'_>) -> Result<FeeQuote, Rejection> {
    let provider = catalog.offering(q.provider, q.operation)?;
    if let Some(project) = q.project {
        provider.project(project)?;
    }
    let tariffs = catalog.tariff_lines(&provider.id, q.project, q.operation);
    let window = catalog.renewal_window(provider);
    let per_year = tariffs.iter().any(|t| t.basis == Basis::PerYear);
    let years = q.years.unwrap_or(1);
    if years == 0 || years > window.max_years || (years > 1 && !per_year) {
        let (zh, en) = if per_year {
            (
                format!("只能为 1 至 {} 年", window.max_years),
                format!("must be 1 to {}", window.max_years),
            )
        } else {
            (
                "该业务不按年计费，只能为 1 年".to_string(),
                "this operation is not charged per year; use 1".to_string(),
            )
        };
        return Err(Rejection::field("years", "办理年限", "years_out_of_range")
            .zh(format!("年限 {years} 不可用：{zh}"), "请重新选择年限")
            .en(
                format!("{years} years is not possible: {en}"),
                "choose the number of years again",
            ));
    }
    if let Some(first) = q.first_issued {
        if first > q.today {
            return Err(
                Rejection::field("first_issued", "介质初次发放日期", "in_future")
                    .zh(
                        format!("初次发放日期 {first} 晚于今天 {}", q.today),
                        "请核对介质的初次发放日期",
                    )
                    .en(
                        format!("first issue date {first} is after today {}", q.today),
                        "check the key's first issue date",
                    ),
            );
        }
    }
    let mut lines = Vec::with_capacity(tariffs.len());
    for t in tariffs {
        lines.push(price_line(provider.name.as_str(), q, t, years)?);
    }
    Ok(FeeQuote {
        provider: provider.id.clone(),
        project: q.project.map(str::to_string),
        operation: q.operation,
        years,
        total_fen: lines.iter().map(|l| l.amount_fen).sum(),
        lines,
        catalog_version: catalog.version,
    })
}

fn price_line(
    provider_name: &str,
    q: &FeeQuery<'_>,
    t: &Tariff,
    years: u32,
) -> Result<FeeLine, Rejection> {
    let unit = t.amount_fen.ok_or_else(|| {
        Rejection::field("tariff", "收费标准", "tariff_unset").zh(format!("{provider_name}{}的收费项“{}”尚未设定金额", q.operation.label_zh(), t.label), format!(
                "请运营人员设定后再办理：kioskctl catalog set-tariff --provider {} --operation {} --item {} --amount-fen 金额",
                t.provider, t.operation, t.item
            )).en(format!("the tariff line '{}' of {} {} has no amount yet", t.item, t.provider, t.operation), "an operator must set it with kioskctl catalog set-tariff")
    })?;
    let quantity = match t.basis {
        Basis::PerYear => years,
        Basis::PerSet | Basis::PerKey => 1,
    };
    let (unit_zh, unit_en) = match t.basis {
        Basis::PerYear => ("元/年", "per year"),
        Basis::PerSet => ("元/套", "per set"),
        Basis::PerKey => ("元/个", "per key"),
    };
    let price = format!("{} {unit_zh}", yuan(unit));
    let mut line = FeeLine {
        item: t.item.clone(),
        label: t.label.clone(),
        kind: t.kind,
        unit_fen: unit,
        quantity,
        amount_fen: unit * quantity as i64,
        reason: if unit == 0 {
            "免费办理".to_string()
        } else if quantity > 1 {
            format!("{price} × {quantity} 年")
        } else {
            price.clone()
        },
        reason_en: if unit == 0 {
            "free of charge".to_string()
        } else {
            format!("{} {unit_en} x {quantity}", yuan(unit))
        },
    };
    if t.kind == LineKind::Media && t.basis != Basis::PerYear && unit > 0 {
        line.reason = format!("{price}（只收介质费，不收证书服务费）");
    }
    if let (Some(w), true) = (t.warranty, unit > 0) {
        apply_warranty(&mut line, w.months, w.covers, q)?;
    }
    Ok(line)
}

fn apply_warranty(
    line: &mut FeeLine,
    months: u32,
    covers: Fault,
    q: &FeeQuery<'_>,
) -> Result<(), Rejection> {
    match q.fault {
        None => {
            line.reason.push_str(&format!(
                "；经检测属介质质量问题且在质保期（自初次发放日起 {months} 个月）内的免费"
            ));
            line.reason_en.push_str(&format!(
                "; free for a quality fault within {months} months of first issue"
            ));
        }
        Some(f) if f != covers => {
            line.reason.push_str("；非介质质量问题，不在质保范围");
            line.reason_en
                .push_str("; not a quality fault, not covered by the warranty");
        }
        Some(_) => {
            let first = q.first_issued.ok_or_else(|| {
                Rejection::field("first_issued", "介质初次发放日期", "required")
                    .zh(
                        "判断是否在质保期内需要介质的初次发放日期",
                        "请读取原介质或查询原订单，填写初次发放日期（YYYY-MM-DD）",
                    )
                    .en(
                        "the warranty depends on the key's first issue date",
                        "read it from the old key or its order and give it as YYYY-MM-DD",
                    )
            })?;
            // The warranty covers the day of first issue and ends the day
            // before the same date `months` later.
            let ends = add_months(first, months);
            let last_day = ends.pred_opt().unwrap_or(ends);
            if q.today < ends {
                line.amount_fen = 0;
                line.reason = format!("介质质量问题，在质保期内（{first} 至 {last_day}），免费补办，有效期与原证书一致");
                line.reason_en =
                    format!("quality fault within the warranty ({first} to {last_day}): free");
            } else {
                line.reason
                    .push_str(&format!("；质保期已于 {last_day} 结束"));
                line.reason_en
                    .push_str(&format!("; the warranty ended on {last_day}"));
            }
        }
    }
    Ok(())
}

/// Formats fen as yuan for people: 48000 → "480", 12345 → "123.45".
pub fn yuan(fen: i64) -> String {
    if fen % 100 == 0 {
        format!("{}", fen / 100)
    } else {
        format!("{}.{:02}", fen / 100, (fen % 100).abs())
    }
}
