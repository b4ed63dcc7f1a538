//! `kioskctl sync`: one run for the nightly job or an operator.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use kiosk_app::{AppError, Station, SyncConfig, SyncError, SyncProgress};
use serde_json::json;

use crate::commands::Output;

pub fn sync(mut st: Station, json: bool) -> Result<Output, AppError> {
    let cfg = SyncConfig::from_env().ok_or(AppError::Sync(SyncError::NotConfigured))?;
    let keys = st.key_config()?;
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("同步 {bar:32} {pos}/{len} 条 {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let mut progress = |p: SyncProgress| {
        if let Some(b) = &bar {
            match p {
                SyncProgress::Pending(n) => b.set_length(n),
                SyncProgress::Committed(n) => b.set_position(n),
                SyncProgress::Downloading => b.set_message("下载目录、吊销列表、审核结果"),
            }
        }
    };
    let outcome = st.sync(&keys, &cfg, &mut progress);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let s = outcome?;
    let mut human = format!(
        "同步完成：上传 {} 条（{} 批），中心已入库至第 {} 条，待上传 {} 条",
        s.sent, s.batches, s.committed_seq, s.pending
    );
    if let Some(v) = s.catalog_version {
        human.push_str(&format!("；已导入规则目录第 {v} 版"));
    }
    if s.revocations > 0 {
        human.push_str(&format!("；收到吊销 {} 条", s.revocations));
    }
    if s.decisions_applied > 0 {
        human.push_str(&format!("；中心审核结果 {} 条", s.decisions_applied));
    }
    if s.station_certificate_renewed {
        human.push_str("；已安装中心更新的签发CA证书");
    }
    Output::ok(json!({ "ok": true, "sync": s }), human)
}

pub fn status(st: Station) -> Result<Output, AppError> {
    let s = st.sync_status()?;
    let human = format!(
        "待上传 {} 条；中心已入库至第 {} 条；最近成功同步：{}；最近尝试：{}{}",
        s.pending,
        s.acked_seq,
        s.last_success_at.as_deref().unwrap_or("从未"),
        s.last_attempt_at.as_deref().unwrap_or("从未"),
        s.last_error_message
            .as_deref()
            .map(|m| format!("\n最近一次失败：{m}"))
            .unwrap_or_default()
    );
    Output::ok(
        json!({ "ok": true, "station_id": st.station_id(), "status": s }),
        human,
    )
}
