//! `clerk` and `report`: one `kiosk-app` call each.

use chrono::NaiveDate;
use clap::Subcommand;
use kiosk_app::{AppError, Role, Station};
use serde_json::json;

use crate::commands::Output;

#[derive(Debug, Subcommand)]
pub enum ClerkCmd {
    /// Add an account (or set a new password, name and role for it). The
    /// password or PIN is read from the terminal, or with --password-stdin
    /// from the first line of stdin; it is stored only as an argon2 hash.
    Add {
        id: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, value_name = "clerk|supervisor", default_value = "clerk")]
        role: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Accounts, without their hashes.
    List,
    /// Deactivate an account; its history stays.
    Deactivate { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ReportCmd {
    /// Orders taken on a station day, by operation, with the takings.
    Day {
        /// The station day (default: today).
        date: Option<NaiveDate>,
        /// Print CSV (UTF-8 with BOM) instead of a table.
        #[arg(long)]
        csv: bool,
    },
}

pub fn clerk(
    cmd: ClerkCmd,
    mut st: Station,
    approver: &crate::commands::Approver,
) -> Result<Output, AppError> {
    match cmd {
        ClerkCmd::Add {
            id,
            name,
            role,
            password_stdin,
        } => {
            let role: Role = role.parse()?;
            // Without an approver: the station's first two supervisors
            // (kiosk-app refuses anything else).
            let by = match approver.id {
                Some(_) => Some(approver.acting(&mut st)?),
                None => None,
            };
            let (first, second) = crate::keys_cmd::read_pins(
                password_stdin,
                &["请输入密码或PIN码：", "请再次输入："],
            )?;
            // Typed at a terminal, the password is asked twice.
            let again = (!password_stdin).then_some(&second);
            let c = st.put_clerk(&id, &name, role, &first, again, by.as_ref())?;
            let human = format!("账号 {}（{}）已保存", c.id, c.role.label_zh());
            Output::ok(c, human)
        }
        ClerkCmd::List => {
            let all = st.clerks()?;
            let human = all
                .iter()
                .map(|c| {
                    format!(
                        "{}  {}  {}{}",
                        c.id,
                        c.display_name,
                        c.role.label_zh(),
                        if c.active { "" } else { "  已停用" }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Output::ok(json!({ "clerks": all }), human)
        }
        ClerkCmd::Deactivate { id } => {
            let by = approver.acting(&mut st)?;
            let changed = st.deactivate_clerk(&id, &by)?;
            Output::ok(
                json!({ "id": id, "deactivated": changed }),
                if changed {
                    format!("账号 {id} 已停用")
                } else {
                    format!("账号 {id} 不存在或已停用")
                },
            )
        }
    }
}

pub fn report(cmd: ReportCmd, st: Station, today: NaiveDate) -> Result<Output, AppError> {
    match cmd {
        ReportCmd::Day { date, csv } => {
            let r = st.day_report(date.unwrap_or(today))?;
            let human = if csv {
                r.to_csv()
            } else {
                let mut h = format!("{} 日报\n", r.date);
                for row in &r.rows {
                    h.push_str(&format!(
                        "{}  受理 {}  完成 {}  收款 {} 元\n",
                        row.operation_zh,
                        row.orders,
                        row.completed,
                        kiosk_app::report::yuan(row.takings_fen)
                    ));
                }
                h.push_str(&format!(
                    "合计  受理 {}  收款 {} 元",
                    r.total_orders,
                    kiosk_app::report::yuan(r.total_takings_fen)
                ));
                h
            };
            Output::ok(&r, human)
        }
    }
}
