//! The day report: orders taken on one station day, counted by operation,
//! with what was taken in.

use chrono::{Duration, NaiveDate};
use kiosk_domain::order::{OrderState, PaymentMethod};
use kiosk_domain::Operation;
use serde::Serialize;

use crate::{AppError, Station};

/// One operation's line in the day report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    pub operation: Operation,
    pub operation_zh: &'static str,
    /// Orders taken in that day.
    pub orders: u32,
    pub completed: u32,
    pub cancelled: u32,
    /// Orders paid, and what was paid on them, in fen.
    pub paid: u32,
    pub takings_fen: i64,
    /// Takings in cash alone, for the till.
    pub cash_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayReport {
    pub date: NaiveDate,
    pub rows: Vec<ReportRow>,
    pub total_orders: u32,
    pub total_completed: u32,
    pub total_takings_fen: i64,
    pub total_cash_fen: i64,
}

/// Integer fen as yuan with two decimals, without floating point.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

impl Station {
    /// The report for `date`, a station day (UTC+8): the orders created on
    /// it, whatever state they reached since.
    pub fn day_report(&self, date: NaiveDate) -> Result<DayReport, AppError> {
        let start = kiosk_domain::calendar::day_start(date);
        let orders = self
            .store()
            .orders_created_between(start, start + Duration::days(1))?;
        let mut rows: Vec<ReportRow> = Vec::new();
        for o in &orders {
            let op = o.application.operation;
            let i = match rows.iter().position(|r| r.operation == op) {
                Some(i) => i,
                None => {
                    rows.push(ReportRow {
                        operation: op,
                        operation_zh: op.label_zh(),
                        orders: 0,
                        completed: 0,
                        cancelled: 0,
                        paid: 0,
                        takings_fen: 0,
                        cash_fen: 0,
                    });
                    rows.len() - 1
                }
            };
            let r = &mut rows[i];
            r.orders += 1;
            match o.state {
                OrderState::Completed => r.completed += 1,
                OrderState::Cancelled => r.cancelled += 1,
                _ => {}
            }
            if let Some(p) = &o.payment {
                r.paid += 1;
                r.takings_fen += p.amount_fen;
                if p.method == PaymentMethod::Cash {
                    r.cash_fen += p.amount_fen;
                }
            }
        }
        rows.sort_by_key(|r| r.operation.as_str());
        Ok(DayReport {
            date,
            total_orders: rows.iter().map(|r| r.orders).sum(),
            total_completed: rows.iter().map(|r| r.completed).sum(),
            total_takings_fen: rows.iter().map(|r| r.takings_fen).sum(),
            total_cash_fen: rows.iter().map(|r| r.cash_fen).sum(),
            rows,
        })
    }
}

impl DayReport {
    /// CSV with a header row and a total row; amounts in yuan. A UTF-8 BOM
    /// leads so that spreadsheet programs read the Chinese right.
    pub fn to_csv(&self) -> String {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        let mut row = |fields: [String; 9]| {
            // Writing to a Vec cannot fail.
            let _ = w.write_record(&fields);
        };
        row([
            "日期",
            "业务类型",
            "operation",
            "受理笔数",
            "已完成",
            "已取消",
            "已付款",
            "收款(元)",
            "其中现金(元)",
        ]
        .map(String::from));
        for r in &self.rows {
            row([
                self.date.to_string(),
                r.operation_zh.to_string(),
                r.operation.as_str().to_string(),
                r.orders.to_string(),
                r.completed.to_string(),
                r.cancelled.to_string(),
                r.paid.to_string(),
                yuan(r.takings_fen),
                yuan(r.cash_fen),
            ]);
        }
        row([
            self.date.to_string(),
            "合计".into(),
            "total".into(),
            self.total_orders.to_string(),
            self.total_completed.to_string(),
            self.rows
                .iter()
                .map(|r| r.cancelled)
                .sum::<u32>()
                .to_string(),
            self.rows.iter().map(|r| r.paid).sum::<u32>().to_string(),
            yuan(self.total_takings_fen),
            yuan(self.total_cash_fen),
        ]);
        let body = w.into_inner().unwrap_or_default();
        format!("\u{feff}{}", String::from_utf8_lossy(&body))
    }
}

impl crate::Station {
    /// Writes the day report as CSV under `DATA_DIR/reports/` and returns
    /// its path. Supervisors only: it carries the takings.
    pub fn export_day_report(
        &self,
        date: NaiveDate,
        by: &crate::Session,
    ) -> Result<std::path::PathBuf, AppError> {
        by.may(crate::Role::Supervisor)?;
        let report = self.day_report(date)?;
        let dir = self.data_dir().join("reports");
        std::fs::create_dir_all(&dir).map_err(|e| AppError::io(dir.display(), e))?;
        let path = dir.join(format!("day-{date}.csv"));
        std::fs::write(&path, report.to_csv()).map_err(|e| AppError::io(path.display(), e))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{NaiveDate, TimeZone, Utc};

    use crate::{demo, FixedClock, Station};

    #[test]
    fn counts_and_takes_by_operation_on_the_station_day() {
        let dir = tempfile::tempdir().unwrap();
        // 2026-11-21 23:30 at the station is 15:30 UTC the same day.
        let clock = Arc::new(FixedClock(
            Utc.with_ymd_and_hms(2026, 11, 21, 15, 30, 0).unwrap(),
        ));
        let mut st = Station::open(dir.path(), clock).unwrap();
        let c = st.test_clerk("c");
        let a = st.create_order(demo::APPLICATION_JSON, &c).unwrap();
        for cmd in demo::counter_steps(&a) {
            st.order_command(&a.id, cmd, &c).unwrap();
        }
        st.create_order(demo::APPLICATION_JSON, &c).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let r = st.day_report(day).unwrap();
        assert_eq!(r.total_orders, 2);
        assert_eq!(r.total_completed, 1);
        assert_eq!(r.rows.len(), 1);
        assert_eq!(r.rows[0].paid, 1);
        assert_eq!(r.total_takings_fen, a.fee.total_fen);
        assert_eq!(r.total_cash_fen, a.fee.total_fen);
        let csv = r.to_csv();
        assert!(
            csv.contains(&format!(
                "2026-11-21,证书新办,new,2,1,0,1,{}",
                super::yuan(a.fee.total_fen)
            )),
            "{csv}"
        );
        assert!(csv.lines().last().unwrap().contains("合计"));
        let next = st.day_report(day.succ_opt().unwrap()).unwrap();
        assert_eq!(next.total_orders, 0);
        assert!(next.rows.is_empty());
    }

    #[test]
    fn yuan_has_no_float() {
        assert_eq!(super::yuan(48000), "480.00");
        assert_eq!(super::yuan(5), "0.05");
        assert_eq!(super::yuan(-101), "-1.01");
    }
}
