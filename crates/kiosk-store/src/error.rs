use std::path::Path;

use thiserror::Error;

/// Whether the file system holding `db` is mounted read-only, and whether it
/// has less than one database page of room left.
fn file_system_state(db: &Path) -> (bool, bool) {
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match rustix::fs::statvfs(dir) {
        Ok(s) => (
            s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
            s.f_bavail.saturating_mul(s.f_frsize) < 64 * 1024,
        ),
        Err(_) => (false, false),
    }
}

/// What can go wrong below the rules. Each variant knows its Chinese
/// message for the clerk and what to do.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error(
        "database was upgraded by a newer station (schema {found}, this binary knows {known})"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error("migration {name} was changed after it was applied")]
    MigrationChanged { name: String },
    #[error("the data directory is read-only: {0}")]
    ReadOnly(String),
    #[error("the disk is full: {0}")]
    Full(String),
    #[error("cannot open the database: {0}")]
    CannotOpen(String),
    #[error("order {0} was changed meanwhile")]
    Conflict(String),
    /// The rules refused the change; nothing was written.
    #[error("{0}")]
    Rejected(kiosk_domain::Rejection),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored JSON is unreadable: {0}")]
    Json(#[from] serde_json::Error),
}

impl StoreError {
    /// Sorts a SQLite failure into the cases a clerk can act on. SQLite
    /// reports a full disk or a read-only mount as a plain I/O or open
    /// error at times (e.g. while sizing its shared-memory file), so the file
    /// system holding the database is asked as well.
    pub(crate) fn classify(e: rusqlite::Error, db: &Path) -> StoreError {
        use rusqlite::ErrorCode::*;
        let shown = db.display().to_string();
        let (read_only, full) = file_system_state(db);
        match e.sqlite_error_code() {
            Some(ReadOnly) => StoreError::ReadOnly(shown),
            Some(DiskFull) => StoreError::Full(shown),
            Some(CannotOpen | PermissionDenied | SystemIoFailure) if read_only => {
                StoreError::ReadOnly(shown)
            }
            Some(SystemIoFailure | CannotOpen) if full => StoreError::Full(shown),
            Some(CannotOpen | PermissionDenied) => StoreError::CannotOpen(format!("{shown}: {e}")),
            _ => StoreError::Sqlite(e),
        }
    }

    /// Re-sorts a raw SQLite error that came up through `?`.
    pub(crate) fn at(self, db: &Path) -> StoreError {
        match self {
            StoreError::Sqlite(e) => StoreError::classify(e, db),
            other => other,
        }
    }

    /// Stable code for front ends.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NewerSchema { .. } => "newer_schema",
            StoreError::MigrationChanged { .. } => "migration_changed",
            StoreError::ReadOnly(_) => "read_only",
            StoreError::Full(_) => "disk_full",
            StoreError::CannotOpen(_) => "cannot_open",
            StoreError::Conflict(_) => "conflict",
            StoreError::Rejected(r) => r.code,
            StoreError::Sqlite(_) | StoreError::Json(_) => "storage",
        }
    }

    /// The message for the clerk, in Chinese, with what to do.
    pub fn message_zh(&self) -> String {
        match self {
            StoreError::NewerSchema { found, known } => format!(
                "数据库已被较新版本的程序升级（结构版本 {found}，本程序只支持到 {known}），为防止数据损坏已拒绝打开。请安装新版本的程序"
            ),
            StoreError::MigrationChanged { name } => {
                format!("数据库迁移 {name} 在应用后被改动，程序与数据库不一致。请安装正式发布的程序版本")
            }
            StoreError::ReadOnly(p) => format!("数据目录只读，无法保存（{p}）。未写入任何数据。请检查磁盘挂载或目录权限"),
            StoreError::Full(p) => format!("磁盘已满，无法保存（{p}）。本次操作未写入任何数据。请清理磁盘空间后重试"),
            StoreError::CannotOpen(p) => format!("无法打开或创建数据库（{p}）。请检查数据目录是否存在且可写"),
            StoreError::Conflict(id) => format!("订单 {id} 刚被其他操作修改。请刷新后重试"),
            StoreError::Rejected(r) => r.message_zh(),
            StoreError::Sqlite(e) => format!("数据库错误：{e}。本次操作已回滚，请重试；如反复出现请联系运维"),
            StoreError::Json(e) => format!("数据库中的记录无法读取：{e}。请联系运维"),
        }
    }
}
