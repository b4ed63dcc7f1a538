//! The station's master secret provisioned from the central, so that a
//! station can be replaced.
//!
//! The master (from which every key's SO PIN and every audit epoch key are
//! derived in the token) is normally made inside the station token and can
//! never leave it: a station whose token dies leaves every key it issued
//! impossible to unlock. Provisioned instead, it is made by the central,
//! which keeps it, and sent *wrapped for one station token*: the token makes
//! an RSA-3072 key pair (`master-unwrap`) whose private half never leaves
//! it, the central encrypts the master to its public half (RSA-OAEP), and
//! the token unwraps it into a secret that is sensitive and never
//! extractable, like one made in place. A replacement token asks the same
//! way and gets the same master.
//!
//! Before keeping what it unwrapped, the station checks it: the central's
//! check value (HMAC of a fixed text) must match, and the station's audit
//! trail (restored from a backup) must verify with it, row by keyed row. A
//! master from a lying central, or for another station, is destroyed and
//! refused.

use std::path::{Path, PathBuf};

use base64::Engine;
use kiosk_domain::Rejection;
use serde::Serialize;

use super::{KeyConfig, MASTER};
use crate::{AppError, Role, Session, Station};

/// The label and id of the token's unwrapping key pair.
pub const MASTER_UNWRAP: &str = "master-unwrap";

pub use kiosk_sync::master::{check_text, MasterRequest, WrappedMaster};

/// What a master import found.
#[derive(Debug, Clone, Serialize)]
pub struct MasterImport {
    pub station_id: String,
    pub token_serial: String,
    /// Audit rows whose keyed value the imported master reproduced.
    pub keyed_rows_verified: i64,
}

fn refuse(code: &'static str, zh: (String, &str), en: (String, &str)) -> AppError {
    Rejection::field("master", "工作站主密钥", code)
        .zh(zh.0, zh.1)
        .en(en.0, en.1)
        .into()
}

fn master_present() -> AppError {
    refuse(
        "master_present",
        (
            "工作站令牌中已有主密钥，不能再导入".into(),
            "主密钥只能导入到新的工作站令牌；已有的主密钥不会被替换",
        ),
        (
            "the station token already holds a master secret".into(),
            "a master is imported only into a new station token; the one there is never replaced",
        ),
    )
}

impl Station {
    /// Makes the token's unwrapping key pair and writes the request the
    /// central wraps the master for (`ca/master-request.json`). Refused
    /// when the token already has a master.
    pub fn master_request(
        &self,
        cfg: &KeyConfig,
        by: &Session,
    ) -> Result<(PathBuf, MasterRequest), AppError> {
        by.may(Role::Supervisor)?;
        let s = self.station_session(cfg)?;
        if s.secret(MASTER)?.is_some() {
            return Err(master_present());
        }
        let public = s.ensure_unwrapping_key(MASTER_UNWRAP)?;
        let request = MasterRequest {
            station_id: self.station_id().to_string(),
            token_serial: s.serial().to_string(),
            unwrap_key: base64::engine::general_purpose::STANDARD.encode(public),
        };
        let dir = self.data_dir().join("ca");
        std::fs::create_dir_all(&dir).map_err(|e| AppError::io(dir.display(), e))?;
        let path = dir.join("master-request.json");
        let json = serde_json::to_vec_pretty(&request)
            .map_err(|e| AppError::Corrupt(format!("master request: {e}")))?;
        std::fs::write(&path, json).map_err(|e| AppError::io(path.display(), e))?;
        Ok((path, request))
    }

    /// Unwraps the central's answer into the station token as its master,
    /// after checking it (see the module's notes); nothing stays in the
    /// token when a check fails.
    pub fn master_import(
        &self,
        cfg: &KeyConfig,
        file: &Path,
        by: &Session,
    ) -> Result<MasterImport, AppError> {
        by.may(Role::Supervisor)?;
        let text = std::fs::read(file).map_err(|e| AppError::io(file.display(), e))?;
        let w: WrappedMaster = serde_json::from_slice(&text).map_err(|e| {
            refuse(
                "master_unreadable",
                (
                    format!("{} 不是中心签发的主密钥文件（{e}）", file.display()),
                    "请使用中心 central station master 生成的文件",
                ),
                (
                    format!(
                        "{} is not a master file from the central ({e})",
                        file.display()
                    ),
                    "use the file `central station master` wrote",
                ),
            )
        })?;
        let station = self.station_id().to_string();
        if w.station_id != station {
            return Err(refuse(
                "master_for_another_station",
                (
                    format!("该主密钥属于工作站 {}，本站是 {station}", w.station_id),
                    "请向中心申请本站的主密钥",
                ),
                (
                    format!(
                        "the master is station {}'s; this is station {station}",
                        w.station_id
                    ),
                    "ask the central for this station's master",
                ),
            ));
        }
        let s = self.station_session(cfg)?;
        if s.secret(MASTER)?.is_some() {
            return Err(master_present());
        }
        let wrapped = base64::engine::general_purpose::STANDARD
            .decode(w.wrapped.trim())
            .map_err(|e| {
                refuse(
                    "master_unreadable",
                    (
                        format!("{} 中的主密钥不是 Base64 编码（{e}）", file.display()),
                        "请使用中心 central station master 生成的文件，勿改动",
                    ),
                    (
                        format!("the master in {} is not Base64 ({e})", file.display()),
                        "use the file `central station master` wrote, unchanged",
                    ),
                )
            })?;
        let master = s.unwrap_secret(MASTER_UNWRAP, &wrapped, MASTER).map_err(|e| {
            refuse(
                "master_not_for_this_token",
                (format!("工作站令牌无法解开该主密钥（{e}）：它不是为本令牌加密的"), "请用本令牌的申请文件（kioskctl ca master-request）向中心重新申请"),
                (format!("the station token cannot unwrap the master ({e}): it was not wrapped for this token"), "ask the central again with this token's request (kioskctl ca master-request)"),
            )
        })?;
        let discard = |e: AppError| -> AppError {
            let _ = s.destroy(master);
            e
        };
        let check = s
            .hmac(master, check_text(&station).as_bytes())
            .map_err(|e| discard(e.into()))?;
        if !hex::encode(check).eq_ignore_ascii_case(w.check.trim()) {
            return Err(discard(refuse(
                "master_check_failed",
                (
                    "主密钥的校验值与中心给出的不符，已丢弃".into(),
                    "请向中心重新申请；如再次出现，请联系中心核查",
                ),
                (
                    "the master's check value differs from the central's; it was discarded".into(),
                    "ask the central again; if it happens again, have the central looked into",
                ),
            )));
        }
        // The trail restored from the backup must be this master's.
        let keyed_from = match self.store().first_keyed_audit_row()? {
            Some(first) => crate::audit::restore_keyed_from(&s, first).map_err(discard)?,
            None => None,
        };
        let report = self.verify_audit(Some(cfg)).map_err(discard)?;
        let forged = report
            .findings
            .iter()
            .filter(|f| f.kind == "forged")
            .count();
        if forged > 0 {
            if let Some(object) = keyed_from {
                let _ = s.destroy(object);
            }
            return Err(discard(refuse(
                "master_does_not_fit",
                (
                    format!("用该主密钥核对本站审计记录，{forged} 条的密钥校验值不符：这不是本站原来的主密钥"),
                    "已丢弃；请联系中心核查（中心给出的主密钥有误或被替换）",
                ),
                (
                    format!("with this master, {forged} audit rows' keyed values do not match: it is not this station's master"),
                    "it was discarded; have the central looked into (its master is wrong or was replaced)",
                ),
            )));
        }
        Ok(MasterImport {
            station_id: station,
            token_serial: s.serial().to_string(),
            keyed_rows_verified: report.keyed_rows,
        })
    }
}
