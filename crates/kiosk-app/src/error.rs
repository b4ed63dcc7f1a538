use kiosk_domain::Rejection;
use kiosk_store::StoreError;
use serde_json::{json, Value};
use thiserror::Error;

/// Every failure a front end can meet. Front ends switch on [`AppError::kind`]
/// (closed, matched by variant), never on `code()` or the message; `code()`
/// is the stable string for logs and `--json`.
#[derive(Debug, Error)]
pub enum AppError {
    /// The rules refused the input; each rejection names its field.
    #[error("{}", .0.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("; "))]
    Rejected(Vec<Rejection>),
    /// Who may do what: no session, wrong role, wrong secret, paused
    /// account, missing approval. The rejection says it in words.
    #[error("{1}")]
    Denied(Denial, Rejection),
    /// The work needs a key that is not plugged in.
    #[error("{0}")]
    NoKey(Rejection),
    #[error("{what} {key} not found")]
    NotFound { what: &'static str, key: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A token, key or certificate operation failed.
    #[error(transparent)]
    Key(#[from] kiosk_keys::KeyError),
    /// A sync run with the central CA stopped.
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    /// The station's own records contradict themselves (a date that does
    /// not parse, a serial that is not hex): call the operator.
    #[error("the station's records are inconsistent: {0}")]
    Corrupt(String),
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The kinds of [`AppError::Denied`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    NotLoggedIn,
    Forbidden,
    BadCredentials,
    LockedOut,
    ApprovalRequired,
}

/// What a front end does about an error: the closed set it switches on.
/// A kind is added only when some front end acts differently on it. The
/// page gets it as its `ErrorCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export, rename = "ErrorCode")]
pub enum ErrorKind {
    /// Input refused by the rules: show which fields and why.
    Invalid,
    /// No session, or it timed out: show the login.
    NotLoggedIn,
    /// The session's role may not do this.
    Forbidden,
    BadCredentials,
    /// Too many wrong secrets in a row: the account is paused for a while.
    LockedOut,
    /// Unlock or revoke without a supervisor's approval: ask for it.
    ApprovalRequired,
    NotFound,
    /// Someone else changed the order: reload it.
    Conflict,
    /// No key plugged in: ask for one.
    NoKey,
    WrongPin,
    PinLocked,
    /// The disk is full or read-only, or the database is newer: call the
    /// operator.
    Storage,
    /// Anything else: show the message.
    Failed,
}

impl From<Rejection> for AppError {
    fn from(r: Rejection) -> Self {
        AppError::Rejected(vec![r])
    }
}

impl From<Vec<Rejection>> for AppError {
    fn from(r: Vec<Rejection>) -> Self {
        AppError::Rejected(r)
    }
}

impl AppError {
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        AppError::Io {
            path: path.to_string(),
            source,
        }
    }

    /// What a front end does about it, by variant.
    pub fn kind(&self) -> ErrorKind {
        use kiosk_keys::KeyError;
        use std::io::ErrorKind as Io;
        match self {
            AppError::Rejected(_) | AppError::Store(StoreError::Rejected(_)) => ErrorKind::Invalid,
            AppError::Denied(d, _) => match d {
                Denial::NotLoggedIn => ErrorKind::NotLoggedIn,
                Denial::Forbidden => ErrorKind::Forbidden,
                Denial::BadCredentials => ErrorKind::BadCredentials,
                Denial::LockedOut => ErrorKind::LockedOut,
                Denial::ApprovalRequired => ErrorKind::ApprovalRequired,
            },
            AppError::NoKey(_) | AppError::Key(KeyError::NoToken { .. }) => ErrorKind::NoKey,
            AppError::Key(KeyError::WrongPin) => ErrorKind::WrongPin,
            AppError::Key(KeyError::PinLocked) => ErrorKind::PinLocked,
            AppError::NotFound { .. } => ErrorKind::NotFound,
            AppError::Store(StoreError::Conflict(_)) => ErrorKind::Conflict,
            AppError::Store(
                StoreError::ReadOnly(_) | StoreError::Full(_) | StoreError::NewerSchema { .. },
            ) => ErrorKind::Storage,
            AppError::Io { source, .. }
                if matches!(
                    source.kind(),
                    Io::PermissionDenied | Io::ReadOnlyFilesystem | Io::StorageFull
                ) =>
            {
                ErrorKind::Storage
            }
            _ => ErrorKind::Failed,
        }
    }

    /// The refusals behind the error, each naming its field.
    pub fn rejections(&self) -> Vec<&Rejection> {
        match self {
            AppError::Rejected(r) => r.iter().collect(),
            AppError::Denied(_, r) | AppError::NoKey(r) => vec![r],
            AppError::Store(StoreError::Rejected(r)) => vec![r],
            _ => Vec::new(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Denied(_, r) | AppError::NoKey(r) => r.code,
            AppError::Rejected(r) if r.len() == 1 => r[0].code,
            AppError::Rejected(_) => "invalid_input",
            AppError::NotFound { .. } => "not_found",
            AppError::Sync(e) => e.code(),
            AppError::Corrupt(_) => "corrupt_record",
            AppError::Store(e) => e.code(),
            AppError::Key(e) => match e {
                kiosk_keys::KeyError::WrongPin => "wrong_pin",
                kiosk_keys::KeyError::PinLocked => "pin_locked",
                kiosk_keys::KeyError::NoToken { .. } => "no_token",
                kiosk_keys::KeyError::Module { .. } => "pkcs11_module",
                kiosk_keys::KeyError::Pcsc { .. } => "pcsc",
                _ => "key_operation",
            },
            AppError::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                    "read_only"
                }
                std::io::ErrorKind::StorageFull => "disk_full",
                std::io::ErrorKind::NotFound => "file_not_found",
                _ => "io",
            },
        }
    }

    /// The Chinese message for the applicant or the clerk.
    pub fn message_zh(&self) -> String {
        match self {
            AppError::Rejected(r) => r
                .iter()
                .map(|r| r.message_zh())
                .collect::<Vec<_>>()
                .join("\n"),
            AppError::Denied(_, r) | AppError::NoKey(r) => r.message_zh(),
            AppError::NotFound { what, key } => format!("找不到{what}“{key}”。请核对编号后重试"),
            AppError::Corrupt(what) => {
                format!("工作站记录自相矛盾（{what}）。未做任何更改。请联系运维人员检查数据库")
            }
            AppError::Store(e) => e.message_zh(),
            AppError::Sync(e) => e.message_zh(),
            AppError::Key(e) => match e {
                kiosk_keys::KeyError::WrongPin => {
                    "PIN码错误。请重新输入；连续输错10次介质将被锁死".to_string()
                }
                kiosk_keys::KeyError::PinLocked => {
                    "介质PIN码已锁死。请携带材料办理PIN码解锁".to_string()
                }
                kiosk_keys::KeyError::NoToken { value, .. } => {
                    format!("未检测到介质（{value}）。请插入介质后重试；如已插入，请拔下重新插入")
                }
                kiosk_keys::KeyError::Module { path, .. } => {
                    format!("无法加载 PKCS#11 模块 {path}。请检查介质驱动是否安装（KIOSK_PKCS11_MODULE）")
                }
                kiosk_keys::KeyError::Pcsc { message, .. } => {
                    format!("无法访问读卡服务（{message}）。请确认 pcscd 已启动、读卡器已连接")
                }
                other => {
                    format!("介质或证书操作失败：{other}。本步骤已记录，可重新执行以继续或重做")
                }
            },
            AppError::Io { path, source } => match source.kind() {
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                    format!("无法写入 {path}：目录只读或没有权限。未写入任何数据。请检查目录权限或磁盘挂载")
                }
                std::io::ErrorKind::StorageFull => {
                    format!("磁盘已满，无法写入 {path}。未写入任何数据。请清理磁盘空间后重试")
                }
                std::io::ErrorKind::NotFound => format!("找不到文件 {path}。请核对路径"),
                _ => format!("读写 {path} 失败：{source}"),
            },
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            AppError::Rejected(r) => r
                .iter()
                .map(|r| r.message_en())
                .collect::<Vec<_>>()
                .join("\n"),
            AppError::Denied(_, r) | AppError::NoKey(r) => r.message_en(),
            other => other.to_string(),
        }
    }

    /// The error as one JSON object, for `--json` and for IPC.
    pub fn to_json(&self) -> Value {
        let rejections = match self {
            AppError::Rejected(_) | AppError::Denied(..) | AppError::NoKey(_) => {
                serde_json::to_value(self.rejections()).unwrap_or(Value::Null)
            }
            _ => json!([]),
        };
        json!({
            "ok": false,
            "error": {
                "code": self.code(),
                "message": self.message_zh(),
                "message_en": self.message_en(),
                "rejections": rejections,
            }
        })
    }
}
