//! The station CA, key stock and personalization of USB keys.
//!
//! Every personalization step is journaled before it runs and after it
//! ends. A key whose last attempt did not end is wiped (re-initialised
//! with its derived SO PIN) and redone; any certificate signed during the
//! failed attempt is revoked, so a key never carries a certificate that
//! the database does not know and no signed certificate is lost track of.

use std::fs;

use kiosk_domain::Rejection;
pub use kiosk_keys::{
    encrypt_to as sm2_encrypt_to, ExposeSecret, KeyKind, Module, SecretString, Sm2Mechanisms,
    TokenInfo, TokenSession,
};
use kiosk_store::StockKey;
use serde::Serialize;

use crate::run::Step;
use crate::AppError;

mod ca;
mod crl;
mod electronic_seal;
mod elsewhere;
pub mod escrow;
mod existing;
mod personalize;
mod profile;
mod provenance;
pub mod secrets;
mod signing;
mod stock;
mod validity;

pub use ca::CaView;
pub(crate) use ca::{derive_so_pin, serial};
pub use crl::{CrlDue, CrlIssued, CRL_RESIGN_BEFORE, CRL_VALIDITY};
pub use electronic_seal::SealReport;
pub(crate) use personalize::{
    fits_on_key, holder_key, issue_recorded, prove_key, signed_seal_record, Issuance, SES_FILE,
};
pub(crate) use profile::{
    check_operation, end_of_day, extensions, key_kind, self_profile, subject_for,
};
pub(crate) use provenance::check_anchors;
pub use provenance::Provenance;
pub(crate) use signing::{ca_algorithm, check_mechanism_sets, CaSigner, CaToken, HolderKey};
pub use validity::{StationWarning, CA_WARNING, CLOCK_TOLERANCE};

/// The steps of a new issue onto a blank key, in order.
pub const STEPS: [Step; 10] = [
    Step::Prepare,
    Step::InitToken,
    Step::SetPins,
    Step::GenerateKey,
    Step::Request,
    Step::Issue,
    Step::WriteCertificate,
    Step::WriteSeal,
    Step::Verify,
    Step::Complete,
];

const ROOT_KEY: &str = "demo-root";
pub(crate) const CA_KEY: &str = "station-ca";
pub(crate) const MASTER: &str = "so-pin-master";
pub(crate) const SEAL_APP: &str = "kiosk-station";

/// Where keys live and how to reach them. PINs are secrets: never logged,
/// printed or stored.
pub struct KeyConfig {
    /// PKCS#11 module of the station token and the USB keys.
    pub module: String,
    /// Label of the station's own token (the sub-CA key, the SO PIN master).
    pub station_token: String,
    /// User PIN of the station token.
    pub station_pin: Option<SecretString>,
    /// The vendor's SO PIN on blank keys (transport PIN).
    pub transport_so_pin: Option<SecretString>,
    /// Test hook: the process kills itself (SIGKILL) right after this step
    /// ran and before it is journaled as done.
    pub kill_at_step: Option<String>,
    /// The station's SM2 side, when it has one.
    pub sm2: Option<Sm2Setup>,
}

/// Where the station does SM2: the vendor's PKCS#11 module (of the
/// station's SM2 token, and of the SM2 keys of the key models that name a
/// mechanism set), the label of the station's SM2 token, which holds the
/// SM2 sub-CA key and the SO PIN master of SM2 keys, and the mechanism set
/// that token speaks. The SM2 token opens with the station PIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sm2Setup {
    pub module: String,
    pub station_token: String,
    /// An id of `kiosk-keys`' `sm2-mechanisms.toml`.
    pub mechanisms: String,
}

/// The label of the station's SM2 token unless `KIOSK_SM2_STATION_TOKEN`
/// names another.
pub const SM2_STATION_TOKEN: &str = "kiosk-station-sm2";

impl KeyConfig {
    /// From `KIOSK_PKCS11_MODULE`, `KIOSK_STATION_TOKEN` and
    /// `KIOSK_KILL_AT_STEP`; the station PIN and the transport SO PIN from
    /// their files ([`secrets`]), never from the environment.
    pub fn from_env() -> Result<KeyConfig, AppError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Ok(KeyConfig {
            module: var("KIOSK_PKCS11_MODULE")
                .unwrap_or_else(|| "/usr/lib/softhsm/libsofthsm2.so".into()),
            station_token: var("KIOSK_STATION_TOKEN").unwrap_or_else(|| "kiosk-station".into()),
            station_pin: secrets::load(&secrets::STATION_PIN)?,
            transport_so_pin: secrets::load(&secrets::TRANSPORT_SO_PIN)?,
            kill_at_step: var("KIOSK_KILL_AT_STEP"),
            sm2: var("KIOSK_SM2_PKCS11_MODULE").map(|module| Sm2Setup {
                module,
                station_token: var("KIOSK_SM2_STATION_TOKEN")
                    .unwrap_or_else(|| SM2_STATION_TOKEN.into()),
                mechanisms: var("KIOSK_SM2_MECHANISMS").unwrap_or_else(|| "sansec".into()),
            }),
        })
    }

    /// The same settings pointed at the SM2 side: its module and its
    /// station token, the same PINs. Refused on a station without one.
    pub(crate) fn for_sm2(
        &self,
    ) -> Result<(KeyConfig, &'static kiosk_keys::Sm2Mechanisms), AppError> {
        let sm2 = self.sm2.as_ref().ok_or_else(|| {
            Rejection::field("key_algorithm", "密钥算法", "no_sm2_module")
                .zh(
                    "本工作站没有配置国密（SM2）密码模块，不能签发SM2证书",
                    "请运维人员用 KIOSK_SM2_PKCS11_MODULE 指明厂商的PKCS#11模块（SM2令牌）后重试",
                )
                .en(
                    "this station has no SM2 PKCS#11 module set up and cannot issue SM2 certificates",
                    "set KIOSK_SM2_PKCS11_MODULE to the vendor's PKCS#11 module",
                )
        })?;
        let set = kiosk_keys::Sm2Mechanisms::by_id(&sm2.mechanisms)?;
        Ok((
            KeyConfig {
                module: sm2.module.clone(),
                station_token: sm2.station_token.clone(),
                station_pin: self.station_pin.clone(),
                transport_so_pin: self.transport_so_pin.clone(),
                kill_at_step: self.kill_at_step.clone(),
                sm2: None,
            },
            set,
        ))
    }

    fn station_pin(&self) -> Result<&SecretString, AppError> {
        self.station_pin.as_ref().ok_or_else(|| {
            Rejection::field("station_pin", "工作站令牌PIN", "required")
                .zh(
                    "未提供工作站令牌的PIN码",
                    "请由运维人员把PIN码写入只有服务账号可读的文件，并用 KIOSK_STATION_PIN_FILE 指向它（或 systemd LoadCredential=station-pin:文件）后重试",
                )
                .en(
                    "the station token PIN is not set up",
                    "put it in a file only the service user can read and set KIOSK_STATION_PIN_FILE (or systemd LoadCredential=station-pin:FILE)",
                )
                .into()
        })
    }
}

/// What `key show` prints: what the seeds' 读取证书 shows.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub key_serial: String,
    pub token_label: String,
    pub model: String,
    /// Whether the user PIN is locked, and what to do about it.
    pub lock: LockStatus,
    pub certificate_serial: Option<String>,
    pub subject: Option<String>,
    /// The company the certificate names (its name and USCC).
    pub holder: Option<kiosk_domain::certificate::Holder>,
    pub issuer: Option<String>,
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
    pub not_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Who issued the certificate and whether it holds (see
    /// [`Station::provenance`](crate::Station::provenance)).
    pub provenance: Option<Provenance>,
    pub objects: Vec<String>,
    pub stock: Option<StockKey>,
}

/// A key's PIN state as the counter shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockStatus {
    pub locked: bool,
    /// Wrong PINs this station has seen since the key was last set up or
    /// unlocked.
    pub wrong_pins: u32,
    /// What the clerk tells the applicant, when there is something to tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Keys lock after this many wrong PINs [004].
pub const PIN_TRIES: u32 = 10;

/// Whether a key is locked: the token says so (a real key counts its own
/// tries), or this station has counted [`PIN_TRIES`] wrong PINs for it (a
/// token that never locks, such as SoftHSM2, still shows as locked).
pub fn lock_status(token: &TokenInfo, wrong_pins: u32) -> LockStatus {
    let locked = token.pin_locked || wrong_pins >= PIN_TRIES;
    let hint = if locked {
        Some("介质PIN码已锁死：请携带单位数字证书申请表、统一社会信用代码证复印件和经办人身份证件办理PIN码解锁（免费）".to_string())
    } else if token.pin_count_low || wrong_pins > 0 {
        Some(format!(
            "PIN码已输错 {wrong_pins} 次，连续输错 {PIN_TRIES} 次介质将被锁死；忘记PIN码请办理PIN码解锁"
        ))
    } else {
        None
    };
    LockStatus {
        locked,
        wrong_pins,
        hint,
    }
}

/// The outcome of a personalization.
#[derive(Debug, Clone, Serialize)]
pub struct Personalized {
    pub order_id: String,
    pub key_serial: String,
    pub token_label: String,
    pub certificate_serial: String,
    pub not_after: String,
    pub certificate_pem: String,
    pub chain_pem: String,
    pub attempt: i64,
    /// The CRL signed for the certificate this work revoked, if any.
    pub crl_number: Option<i64>,
    /// The GB/T 38540 electronic seal written onto the key with an SM2
    /// certificate, as a file beside the certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub electronic_seal: Option<String>,
}

/// PEM armour.
pub(crate) fn pem(der: &[u8], label: &str) -> String {
    let b64 = kiosk_keys::base64(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s + &format!("-----END {label}-----\n")
}

pub(crate) fn write_file(path: &std::path::Path, text: &str) -> Result<(), AppError> {
    fs::write(path, text).map_err(|e| AppError::io(path.display(), e))
}

/// Checks a new user PIN typed twice: 6 to 16 characters, both entries
/// equal, not the factory default nor a trivial sequence. The PIN is only
/// compared, never kept or shown.
pub fn check_new_pin(first: &SecretString, second: &SecretString) -> Result<(), AppError> {
    use kiosk_keys::ExposeSecret;
    let (a, b) = (first.expose_secret(), second.expose_secret());
    let refuse = |code, problem: &str, action: &str| -> AppError {
        Rejection::field("pin", "PIN码", code)
            .zh(problem, action)
            .en(
                match code {
                    "pin_mismatch" => "the two PINs typed differ",
                    "pin_format" => "a PIN is 6 to 16 letters, digits or symbols",
                    _ => "the PIN is too easy to guess (such as 111111, 123456 or the factory PIN)",
                },
                "choose another PIN and type it twice",
            )
            .into()
    };
    if a != b {
        return Err(refuse(
            "pin_mismatch",
            "两次输入的PIN码不一致",
            "请重新输入两次相同的PIN码",
        ));
    }
    let n = a.chars().count();
    if !(6..=16).contains(&n) || !a.chars().all(|c| c.is_ascii_graphic()) {
        return Err(refuse(
            "pin_format",
            "PIN码须为 6 至 16 位字母、数字或符号",
            "请重新设置PIN码",
        ));
    }
    let bytes = a.as_bytes();
    let same = bytes.iter().all(|&c| c == bytes[0]);
    let ascending = bytes.windows(2).all(|w| w[1] == w[0] + 1);
    let descending = bytes.windows(2).all(|w| w[0] == w[1] + 1);
    if same || ascending || descending {
        return Err(refuse(
            "pin_trivial",
            "PIN码过于简单（如 111111、123456 或出厂默认PIN）",
            "请设置不易被猜到的PIN码",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Station;
    use kiosk_store::{Actor, StationCa};

    /// A token double: SoftHSM2 never locks a PIN, real keys do.
    fn token(locked: bool, low: bool) -> TokenInfo {
        TokenInfo {
            label: "KIOSK 1".into(),
            serial: "0123456789abcdef".into(),
            model: "ePass".into(),
            manufacturer: "FT".into(),
            initialized: true,
            user_pin_initialized: true,
            pin_locked: locked,
            pin_count_low: low,
            memory: None,
            slot: kiosk_keys::slot_for_tests(),
        }
    }

    #[test]
    fn an_expired_station_ca_issues_nothing() {
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let mut st = Station::open(dir.path(), Arc::new(crate::SystemClock)).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap().der().to_vec();
        let ca = StationCa {
            token_label: "kiosk-station".into(),
            key_label: CA_KEY.into(),
            cert_der: Some(cert),
            chain_pem: None,
            crl_number: 0,
            crl_url: String::new(),
        };
        let now = st.now();
        st.store_mut()
            .write(&Actor::system(), now, |w| w.station_ca_set(&ca))
            .unwrap();
        let err = st.usable_ca().unwrap_err();
        assert_eq!(err.code(), "station_ca_expired");
        assert!(
            err.message_zh().contains("已于 2021-01-01 过期"),
            "{}",
            err.message_zh()
        );
    }

    #[test]
    fn locked_keys_show_the_unlock_path() {
        let s = lock_status(&token(true, false), 0);
        assert!(s.locked && s.hint.as_deref().unwrap().contains("PIN码解锁"));
        let s = lock_status(&token(false, false), PIN_TRIES);
        assert!(s.locked, "counted by the station");
        let s = lock_status(&token(false, true), 3);
        assert!(!s.locked && s.hint.as_deref().unwrap().contains("输错 3 次"));
        assert_eq!(lock_status(&token(false, false), 0).hint, None);
    }

    #[test]
    fn pins() {
        let p = |s: &str| SecretString::from(s.to_string());
        assert!(check_new_pin(&p("527913"), &p("527913")).is_ok());
        for (a, b, code) in [
            ("527913", "527914", "pin_mismatch"),
            ("12345", "12345", "pin_format"),
            ("111111", "111111", "pin_trivial"),
            ("123456", "123456", "pin_trivial"),
            ("987654", "987654", "pin_trivial"),
        ] {
            assert_eq!(check_new_pin(&p(a), &p(b)).unwrap_err().code(), code, "{a}");
        }
    }
}
