//! `login` and `logout`, and the session every change is made under. The
//! session's token lives in a file only the user can read, under the
//! user's runtime directory (`$XDG_RUNTIME_DIR/kiosk-station/`, one file
//! per station); the station keeps only its hash, ends it after the same
//! idle time as the console, and when the account changes.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use kiosk_app::domain::Rejection;
use kiosk_app::keys::{ExposeSecret, SecretString};
use kiosk_app::{Acting, AppError, Session, Station};
use serde_json::json;

use crate::commands::Output;
use crate::keys_cmd::read_pins;

fn no_runtime_dir() -> AppError {
    Rejection::field("session", "登录", "no_runtime_dir")
        .zh(
            "找不到本账号的运行时目录（XDG_RUNTIME_DIR），无法保存登录",
            "请在登录会话中运行（systemd 会设置 XDG_RUNTIME_DIR），或设置 XDG_RUNTIME_DIR 为只有本账号可用的目录",
        )
        .en(
            "there is no runtime directory (XDG_RUNTIME_DIR) to keep the session in",
            "run it in a login session, or set XDG_RUNTIME_DIR to a directory only this user can use",
        )
        .into()
}

/// Where this station's session token is kept for this user.
fn session_file(st: &Station) -> Result<PathBuf, AppError> {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .ok_or_else(no_runtime_dir)?;
    Ok(runtime
        .join("kiosk-station")
        .join(format!("{}.session", st.station_id())))
}

pub fn login(mut st: Station, clerk: &str, password_stdin: bool) -> Result<Output, AppError> {
    let path = session_file(&st)?;
    let (secret, _) = read_pins(password_stdin, &["密码："])?;
    let (token, view) = st.cli_login(clerk, &secret)?;
    let dir = path.parent().expect("a file under the runtime directory");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| AppError::io(dir.display(), e))?;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| AppError::io(path.display(), e))?;
    f.write_all(token.expose_secret().as_bytes())
        .map_err(|e| AppError::io(path.display(), e))?;
    let human = format!(
        "{}（{}）已登录；{} 分钟不用自动结束",
        view.display_name,
        view.role.label_zh(),
        kiosk_app::accounts::SESSION_IDLE_MINUTES
    );
    Output::ok(json!({ "clerk": view }), human)
}

pub fn logout(mut st: Station) -> Result<Output, AppError> {
    let path = session_file(&st)?;
    if let Some(token) = read_token(&path)? {
        st.cli_logout(token.expose_secret())?;
    }
    let _ = fs::remove_file(&path);
    Output::ok(json!({ "logged_out": true }), "已退出登录".into())
}

fn read_token(path: &PathBuf) -> Result<Option<SecretString>, AppError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AppError::io(path.display(), e)),
    };
    // A token others could read is not this user's alone: not used.
    if meta.mode() & 0o077 != 0 {
        return Ok(None);
    }
    let text = fs::read_to_string(path).map_err(|e| AppError::io(path.display(), e))?;
    Ok(Some(SecretString::from(text)))
}

/// The live session of this user at this station.
pub fn session(st: &mut Station) -> Result<Session, AppError> {
    let path = session_file(st)?;
    let token = read_token(&path)?.unwrap_or_else(|| SecretString::from(String::new()));
    st.cli_session(token.expose_secret())
}

/// The session's clerk with the approver's consent, for a privileged
/// change. The approver types their own password (the terminal, or with
/// `--approver-stdin` the first line of stdin).
pub fn acting(
    st: &mut Station,
    approver: Option<&str>,
    approver_stdin: bool,
) -> Result<Acting, AppError> {
    let s = session(st)?;
    let Some(approver) = approver else {
        return Err(kiosk_app::accounts::second_account_required());
    };
    let (secret, _) = read_pins(approver_stdin, &["审批主管的密码："])?;
    st.second_account(&s, approver, &secret)
}
