//! Where the station's own secrets come from: files that only the service
//! user can read, never the environment. A PIN in the environment is
//! readable in `/proc/PID/environ` for the whole life of the process and is
//! handed to every child it starts; a file path is not a secret.
//!
//! Each secret is looked up as `KIOSK_<NAME>_FILE` (a path) or, under
//! systemd, as the credential `<name>` in `$CREDENTIALS_DIRECTORY`
//! (`LoadCredential=`). The file must be a regular file owned by this user
//! and closed to group and others (as ssh treats its keys). It is read
//! once, into a buffer that is zeroized, and kept as a [`SecretString`].

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use kiosk_domain::Rejection;
use kiosk_keys::SecretString;
use zeroize::Zeroizing;

use crate::AppError;

/// A secret of the station, by the names an operator sets it up with.
#[derive(Debug, Clone, Copy)]
pub struct SecretName {
    /// The systemd credential name, e.g. `station-pin`.
    pub credential: &'static str,
    /// The variable naming its file, e.g. `KIOSK_STATION_PIN_FILE`.
    pub file_var: &'static str,
    /// The variable that used to carry the secret itself, now refused.
    pub old_var: &'static str,
    pub label_zh: &'static str,
}

pub const STATION_PIN: SecretName = SecretName {
    credential: "station-pin",
    file_var: "KIOSK_STATION_PIN_FILE",
    old_var: "KIOSK_STATION_PIN",
    label_zh: "工作站令牌PIN",
};

pub const TRANSPORT_SO_PIN: SecretName = SecretName {
    credential: "transport-so-pin",
    file_var: "KIOSK_TRANSPORT_SO_PIN_FILE",
    old_var: "KIOSK_TRANSPORT_SO_PIN",
    label_zh: "介质出厂管理员PIN",
};

/// Longest secret file accepted: a PIN or password, not a document.
const MAX_SECRET_BYTES: u64 = 1024;

fn refuse(name: &SecretName, problem_zh: String, problem_en: String) -> AppError {
    Rejection::field(name.credential, name.label_zh, "secret_source")
        .zh(
            problem_zh,
            format!(
                "请把它写入只有服务账号可读（权限 0600 或 0400）的文件，用 {} 指向该文件，或用 systemd 的 LoadCredential={}:文件",
                name.file_var, name.credential
            ),
        )
        .en(
            problem_en,
            format!(
                "put it in a file only the service user can read (mode 0600 or 0400) and name it with {}, or use systemd LoadCredential={}:FILE",
                name.file_var, name.credential
            ),
        )
        .into()
}

/// Where the secret's file is, if it is set up at all.
fn source(name: &SecretName, var: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(path) = var(name.file_var) {
        return Some(PathBuf::from(path));
    }
    let dir = var("CREDENTIALS_DIRECTORY")?;
    let path = Path::new(&dir).join(name.credential);
    path.exists().then_some(path)
}

/// The secret, if one is set up; a refusal when it is set up wrongly or
/// still sits in the environment.
pub fn load(name: &SecretName) -> Result<Option<SecretString>, AppError> {
    load_with(name, &|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

fn load_with(
    name: &SecretName,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<SecretString>, AppError> {
    if var(name.old_var).is_some() {
        return Err(refuse(
            name,
            format!("{} 不能放在环境变量 {} 中", name.label_zh, name.old_var),
            format!(
                "the secret must not be in the environment ({})",
                name.old_var
            ),
        ));
    }
    let Some(path) = source(name, var) else {
        return Ok(None);
    };
    read_secret_file(name, &path).map(Some)
}

fn read_secret_file(name: &SecretName, path: &Path) -> Result<SecretString, AppError> {
    let shown = path.display();
    let mut f = fs::File::open(path).map_err(|e| {
        refuse(
            name,
            format!("无法读取 {shown}：{e}"),
            format!("{shown} cannot be read: {e}"),
        )
    })?;
    let meta = f.metadata().map_err(|e| AppError::io(path.display(), e))?;
    if !meta.is_file() {
        return Err(refuse(
            name,
            format!("{shown} 不是普通文件"),
            format!("{shown} is not a regular file"),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(refuse(
            name,
            format!("{shown} 的权限 {:o} 允许其他账号读取", meta.mode() & 0o777),
            format!(
                "{shown} has mode {:o}: other accounts can read it",
                meta.mode() & 0o777
            ),
        ));
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(refuse(
            name,
            format!("{shown} 不属于运行本程序的账号"),
            format!("{shown} is not owned by the account running this program"),
        ));
    }
    if meta.len() > MAX_SECRET_BYTES {
        return Err(refuse(
            name,
            format!("{shown} 太大，不像是一个PIN码"),
            format!("{shown} is too large to be a PIN"),
        ));
    }
    let mut raw = Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
    f.by_ref()
        .take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| AppError::io(path.display(), e))?;
    // One trailing line end, as an editor or `echo` leaves it.
    let mut end = raw.len();
    if raw[..end].ends_with(b"\n") {
        end -= 1;
        if raw[..end].ends_with(b"\r") {
            end -= 1;
        }
    }
    let text = std::str::from_utf8(&raw[..end]).map_err(|_| {
        refuse(
            name,
            format!("{shown} 不是 UTF-8 文本"),
            format!("{shown} is not UTF-8 text"),
        )
    })?;
    if text.is_empty() {
        return Err(refuse(
            name,
            format!("{shown} 是空的"),
            format!("{shown} is empty"),
        ));
    }
    // Built at its exact size, so the box it becomes is not a copy left
    // behind; the read buffer is zeroized when it drops.
    let mut owned = String::with_capacity(text.len());
    owned.push_str(text);
    Ok(SecretString::from(owned))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    use kiosk_keys::ExposeSecret;

    use super::*;

    fn with(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_closed_file_or_a_credential_is_read_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let good = file(dir.path(), "pin", "station-pin-1\n", 0o600);
        let vars = [("KIOSK_STATION_PIN_FILE", good.display().to_string())];
        let pin = load_with(&STATION_PIN, &with(&vars)).unwrap().unwrap();
        assert_eq!(pin.expose_secret(), "station-pin-1");

        // systemd's credentials directory.
        let creds = dir.path().join("creds");
        fs::create_dir(&creds).unwrap();
        file(&creds, "station-pin", "from-systemd", 0o400);
        let vars = [("CREDENTIALS_DIRECTORY", creds.display().to_string())];
        let pin = load_with(&STATION_PIN, &with(&vars)).unwrap().unwrap();
        assert_eq!(pin.expose_secret(), "from-systemd");
        assert!(load_with(&TRANSPORT_SO_PIN, &with(&vars))
            .unwrap()
            .is_none());

        // Not set up at all: none, and the caller says what is missing.
        assert!(load_with(&STATION_PIN, &with(&[])).unwrap().is_none());
    }

    #[test]
    fn a_secret_in_the_environment_or_an_open_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [("KIOSK_STATION_PIN", "station-pin-1".to_string())];
        let e = load_with(&STATION_PIN, &with(&vars)).unwrap_err();
        assert_eq!(e.code(), "secret_source");
        assert!(e.message_zh().contains("环境变量"), "{}", e.message_zh());
        assert!(
            !e.message_zh().contains("station-pin-1"),
            "the secret is not repeated"
        );

        let open = file(dir.path(), "open", "station-pin-1", 0o644);
        let vars = [("KIOSK_STATION_PIN_FILE", open.display().to_string())];
        let e = load_with(&STATION_PIN, &with(&vars)).unwrap_err();
        assert!(e.message_en().contains("mode 644"), "{}", e.message_en());

        let empty = file(dir.path(), "empty", "\n", 0o600);
        let vars = [("KIOSK_STATION_PIN_FILE", empty.display().to_string())];
        assert!(load_with(&STATION_PIN, &with(&vars)).is_err());

        let vars = [("KIOSK_STATION_PIN_FILE", dir.path().display().to_string())];
        assert!(
            load_with(&STATION_PIN, &with(&vars)).is_err(),
            "a directory"
        );

        let vars = [(
            "KIOSK_STATION_PIN_FILE",
            dir.path().join("missing").display().to_string(),
        )];
        assert!(
            load_with(&STATION_PIN, &with(&vars)).is_err(),
            "a missing file"
        );
    }
}
