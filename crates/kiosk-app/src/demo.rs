//! One scripted counter transaction on the embedded defaults.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiosk_domain::fee::FeeQuote;
use kiosk_domain::order::{CheckStatus, Command, Order, Payment, PaymentMethod};
use kiosk_domain::Operation;
use kiosk_keys::{Module, SecretString};
use serde::Serialize;

use crate::{AppError, Clock, KeyConfig, Station, DB_FILE};
use kiosk_store::StockState;

/// A valid application (synthetic company, synthetic people) for the demo
/// and for tests.
pub const APPLICATION_JSON: &str = include_str!("../fixtures/demo-application.json");

/// The accounts the demo acts as: its clerk at the counter, its
/// supervisor for the CA (two of [`DEMO_ACCOUNTS`]).
const DEMO_CLERK: &str = DEMO_ACCOUNTS[0].0;
const DEMO_SUPERVISOR: &str = DEMO_ACCOUNTS[1].0;

#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    pub order_id: String,
    pub order_number: String,
    pub state: String,
    pub fee: FeeQuote,
    pub receipt_no: String,
    pub data_dir: String,
    pub database: String,
    pub outbox_pending: i64,
    pub audit_rows: i64,
    pub audit_ok: bool,
    /// The SoftHSM2 configuration the demo's tokens live under.
    pub softhsm2_conf: String,
    pub station_token: String,
    pub token_label: String,
    pub key_serial: String,
    pub certificate_serial: String,
    pub certificate_pem: String,
    pub chain_pem: String,
    /// The CRL of the sub-CA that issued the certificate.
    pub crl_pem: String,
    /// The certificate's key algorithm, as the profile names it.
    pub key_algorithm: kiosk_domain::catalog::KeyAlgorithm,
    /// The GB/T 38540 electronic seal (SM2 profiles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub electronic_seal: Option<String>,
    pub seal_png: String,
    /// The PDFs the demo saved (application form, seal sample sheet, receipt).
    pub documents: Vec<String>,
}

/// The applicant PIN the demo sets on its key. Demo only: at a counter the
/// applicant types it twice and it is never kept.
pub const DEMO_USER_PIN: &str = "246810";

/// Takes in the demo application, checks every item, takes the fee,
/// writes a SoftHSM2 key with the certificate and a placeholder seal, and
/// completes the order. Without `SOFTHSM2_CONF`, the tokens live under
/// `DATA_DIR/softhsm`; without a station PIN and a transport SO PIN set up
/// (their files, see `keys::secrets`), demo values derived from the
/// station are used.
///
/// `provider` runs it for another provider of the catalog; for one whose
/// profile asks for SM2 the key is a blank key of the SM2 module (the SM2
/// test token unless `KIOSK_SM2_PKCS11_MODULE` names another).
pub fn run(
    data_dir: &Path,
    clock: Arc<dyn Clock>,
    provider: Option<&str>,
) -> Result<DemoSummary, AppError> {
    let (mut station, conf, cfg, m) = open_demo(data_dir, clock)?;
    let clerk = station.session_without_password(DEMO_CLERK)?;
    let application: serde_json::Value = serde_json::from_str(APPLICATION_JSON)
        .map_err(|e| AppError::Corrupt(format!("demo application: {e}")))?;
    let default_provider = application["provider"].as_str().unwrap_or_default();
    let provider = provider.unwrap_or(default_provider).to_string();
    let (offered, project) = {
        let rules = station.rules()?;
        let p = rules.catalog().provider(&provider)?;
        (
            p.offers.clone(),
            p.projects.first().map(|j| j.id.clone()).unwrap_or_default(),
        )
    };
    let profile = station.rules()?.catalog().profile(&provider);
    let alg = crate::keys::ca_algorithm(&profile);
    let key_module = match alg {
        kiosk_store::CaAlgorithm::Sm2 => Module::load(&cfg.for_sm2()?.0.module)?,
        kiosk_store::CaAlgorithm::P256 => m.clone(),
    };
    let pin = SecretString::from(DEMO_USER_PIN.to_string());

    // A provider that issues new keys: the demo application for it. One
    // that only upgrades (cqc, [000]): the demo's own new key first, then
    // its 算法升级 onto a new key of the provider's algorithm.
    let upgrade_only = !offered.contains(&Operation::New) && offered.contains(&Operation::Upgrade);
    let mut first = application.clone();
    if !upgrade_only {
        first["provider"] = provider.as_str().into();
        if provider != default_provider {
            first["project"] = project.as_str().into();
        }
    } else if !offered.contains(&Operation::Upgrade) {
        return Err(
            kiosk_domain::Rejection::field("provider", "服务机构", "demo_not_offered")
                .zh(
                    format!("{provider} 不办理新办或算法升级，演示无法为其办理"),
                    "请选择办理新办或算法升级的服务机构",
                )
                .en(
                    format!("{provider} offers neither new keys nor upgrades"),
                    "choose a provider that offers one of them",
                )
                .into(),
        );
    }
    let first_module = if upgrade_only { &m } else { &key_module };
    let key_serial = demo_blank_key(&mut station, first_module, &cfg)?;
    let order = station.create_order(&first.to_string(), &clerk)?;
    for cmd in intake_steps(&order) {
        station.order_command(&order.id, cmd, &clerk)?;
    }
    // The PDFs, a scanned stamped seal sample sheet, and the seal cut from it.
    let paperwork = crate::documents::demo_paperwork(&mut station, &order.id, &clerk)?;
    let seal = paperwork.seal_png_bytes.clone();
    let seal_path = paperwork.seal_png.clone();
    fn work<'a>(key_serial: &'a str, pin: &SecretString, seal: &'a [u8]) -> crate::KeyWork<'a> {
        crate::KeyWork {
            key_serial: Some(key_serial),
            pin: Some(pin.clone()),
            pin_again: Some(pin.clone()),
            seal_png: Some(seal),
            progress: None,
        }
    }
    let mut made =
        station.run_order(&m, &cfg, &order.id, work(&key_serial, &pin, &seal), &clerk)?;
    let mut order = order;
    if upgrade_only {
        let mut upgrade = application.clone();
        upgrade["provider"] = provider.as_str().into();
        upgrade["project"] = project.as_str().into();
        upgrade["operation"] = "upgrade".into();
        upgrade["certificate"] = serde_json::json!({ "serial": made.certificate_serial });
        let new_key = demo_blank_key(&mut station, &key_module, &cfg)?;
        order = station.create_order(&upgrade.to_string(), &clerk)?;
        for cmd in intake_steps(&order) {
            station.order_command(&order.id, cmd, &clerk)?;
        }
        made = station.run_order(&m, &cfg, &order.id, work(&new_key, &pin, &seal), &clerk)?;
    }
    let done = station.order(&order.id)?.order;
    let audit = station.verify_audit(Some(&cfg))?;
    let counts = station.store().counts()?;
    Ok(DemoSummary {
        order_id: done.id,
        order_number: done.number,
        state: done.state.as_str().to_string(),
        fee: done.fee,
        receipt_no: done.payment.and_then(|p| p.receipt_no).unwrap_or_default(),
        data_dir: data_dir.display().to_string(),
        database: data_dir.join(DB_FILE).display().to_string(),
        outbox_pending: counts["outbox_pending"].as_i64().unwrap_or(0),
        audit_rows: audit.rows,
        audit_ok: audit.ok,
        softhsm2_conf: conf.display().to_string(),
        station_token: cfg.station_token.clone(),
        token_label: made.token_label,
        key_serial: made.key_serial,
        certificate_serial: made.certificate_serial,
        certificate_pem: made.certificate_pem,
        crl_pem: station
            .ca_dir_of(alg)?
            .join("station.crl")
            .display()
            .to_string(),
        key_algorithm: profile.key_algorithm,
        electronic_seal: made.electronic_seal,
        chain_pem: made.chain_pem,
        seal_png: seal_path.display().to_string(),
        documents: paperwork
            .pdfs
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    })
}

/// The station with its demo key settings: SoftHSM2 tokens (see
/// [`softhsm_conf`]), station and transport SO PINs derived from the
/// station unless set, and a demo station CA made on first use.
fn open_demo(
    data_dir: &Path,
    clock: Arc<dyn Clock>,
) -> Result<(Station, PathBuf, KeyConfig, Module), AppError> {
    check_demo_dir(data_dir)?;
    let mut station = Station::open(data_dir, clock)?;
    mark_demo_dir(data_dir)?;
    let conf = softhsm_conf(data_dir)?;
    let cfg = station.key_config()?;
    station.key_audit(&cfg);
    let m = Module::load(&cfg.module)?;
    demo_accounts(&mut station)?;
    if station.store().station_ca()?.is_none() {
        let supervisor = station.session_without_password(DEMO_SUPERVISOR)?;
        station.ca_init_demo(&m, &cfg, &supervisor)?;
    } else if cfg.sm2.is_some()
        && station
            .store()
            .station_ca_of(kiosk_store::CaAlgorithm::Sm2)?
            .is_none()
    {
        let supervisor = station.session_without_password(DEMO_SUPERVISOR)?;
        station.sm2_ca_init_demo(&cfg, &supervisor)?;
    }
    Ok((station, conf, cfg, m))
}

impl Station {
    /// This station's key settings: from the environment and the secret
    /// files (see [`KeyConfig::from_env`]); on a directory the demo made,
    /// the demo's token directory and PINs (derived from the station)
    /// where none are set up, so that a script carries on from the demo.
    pub fn key_config(&self) -> Result<KeyConfig, AppError> {
        let mut cfg = KeyConfig::from_env()?;
        if !self.data_dir().join(DEMO_MARKER).exists() {
            return Ok(cfg);
        }
        let demo_secret = format!("demo-{}", &self.station_id()[..8]);
        cfg.station_pin
            .get_or_insert_with(|| SecretString::from(demo_secret.clone()));
        cfg.transport_so_pin
            .get_or_insert_with(|| SecretString::from(format!("{demo_secret}-so")));
        let conf = self.data_dir().join("softhsm").join("softhsm2.conf");
        if std::env::var_os("SOFTHSM2_CONF").is_none_or(|c| c.is_empty()) && conf.exists() {
            // SoftHSM2 reads it when the module initialises, later in this process.
            std::env::set_var("SOFTHSM2_CONF", &conf);
        }
        if cfg.sm2.is_none() {
            cfg.sm2 = demo_sm2_token(self.data_dir(), self.station_id())?;
        }
        Ok(cfg)
    }
}

/// Marks a data directory as the demo's own.
pub const DEMO_MARKER: &str = "DEMO-STATION";

/// Demo data (demo accounts with documented passwords, a demo root CA)
/// goes only into a directory the demo made itself: a new one, which it
/// marks, or one it marked before. A station's real directory is refused,
/// whatever it holds.
fn check_demo_dir(data_dir: &Path) -> Result<(), AppError> {
    if data_dir.join(DB_FILE).exists() && !data_dir.join(DEMO_MARKER).exists() {
        return Err(kiosk_domain::Rejection::field("data_dir", "数据目录", "not_a_demo_dir")
            .zh(
                format!("{} 是一个工作站的数据目录，不是演示目录", data_dir.display()),
                "演示数据（演示账号、演示根证书）只能放在演示自己建立的目录中：请用 --data-dir 指定一个新的目录",
            )
            .en(
                format!("{} holds a station's data, not a demo's", data_dir.display()),
                "the demo's accounts and root CA go only into a directory the demo makes itself: give --data-dir a new directory",
            )
            .into());
    }
    Ok(())
}

/// Marks the directory [`check_demo_dir`] let through, once the station
/// is open in it.
fn mark_demo_dir(data_dir: &Path) -> Result<(), AppError> {
    let marker = data_dir.join(DEMO_MARKER);
    if marker.exists() {
        return Ok(());
    }
    std::fs::write(
        &marker,
        "This data directory was made by the kiosk station's demo: its accounts and CA are for demonstration only.\n",
    )
    .map_err(|e| AppError::io(marker.display(), e))
}

/// The demo's console accounts, with their documented passwords, added
/// where missing.
fn demo_accounts(station: &mut Station) -> Result<(), AppError> {
    for (id, name, role, password) in DEMO_ACCOUNTS {
        if station.store().clerk(id)?.is_none() {
            let secret = SecretString::from(password.to_string());
            station.put_clerk_as(
                id,
                name,
                role,
                &secret,
                None,
                &kiosk_store::Actor::operator("demo"),
            )?;
        }
    }
    Ok(())
}

/// A token directory as a configuration file must name it: absolute, since
/// a module reads a relative one against its own working directory or the
/// file's, not the data directory given.
fn absolute(p: &Path) -> Result<PathBuf, AppError> {
    std::path::absolute(p).map_err(|e| AppError::io(p.display(), e))
}

/// The SoftHSM2 configuration in force, made under the data directory when
/// none is set.
fn softhsm_conf(data_dir: &Path) -> Result<PathBuf, AppError> {
    if let Some(c) = std::env::var_os("SOFTHSM2_CONF").filter(|c| !c.is_empty()) {
        return Ok(PathBuf::from(c));
    }
    let dir = data_dir.join("softhsm");
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).map_err(|e| AppError::io(tokens.display(), e))?;
    let conf = dir.join("softhsm2.conf");
    let text = format!(
        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
        absolute(&tokens)?.display()
    );
    std::fs::write(&conf, text).map_err(|e| AppError::io(conf.display(), e))?;
    // SoftHSM2 reads it when the module initialises, later in this process.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    Ok(conf)
}

/// The demo's SM2 side: the SM2 test token (`crates/sm2-token`, a test
/// component, SANSEC set) built beside the running binary, its tokens
/// under `DATA_DIR/sm2-token` unless `KIOSK_SM2_TOKEN_CONF` names its
/// configuration; the SM2 token is this station's by its label. None when
/// the test token is not built.
fn demo_sm2_token(
    data_dir: &Path,
    station_id: &str,
) -> Result<Option<crate::keys::Sm2Setup>, AppError> {
    let Ok(exe) = std::env::current_exe() else {
        return Ok(None);
    };
    let dirs = exe.ancestors().skip(1).take(2);
    let Some(library) = dirs
        .map(|d| d.join("libkiosk_sm2_token.so"))
        .find(|p| p.is_file())
    else {
        return Ok(None);
    };
    if std::env::var_os("KIOSK_SM2_TOKEN_CONF").is_none_or(|c| c.is_empty()) {
        let dir = data_dir.join("sm2-token");
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).map_err(|e| AppError::io(tokens.display(), e))?;
        let conf = dir.join("sm2-token.conf");
        let text = format!(
            "directories.tokendir = {}\nvendor = sansec\n",
            absolute(&tokens)?.display()
        );
        std::fs::write(&conf, text).map_err(|e| AppError::io(conf.display(), e))?;
        // The module reads it when it initialises, later in this process.
        std::env::set_var("KIOSK_SM2_TOKEN_CONF", &conf);
    }
    Ok(Some(crate::keys::Sm2Setup {
        module: library.display().to_string(),
        // The id's random end: its start is a timestamp that stations
        // made within a minute share.
        station_token: format!(
            "{}-{}",
            crate::keys::SM2_STATION_TOKEN,
            &station_id[station_id.len() - 12..]
        ),
        mechanisms: "sansec".into(),
    }))
}

/// Plays the vendor: a fresh token with the transport SO PIN, taken into
/// stock.
fn demo_blank_key(station: &mut Station, m: &Module, cfg: &KeyConfig) -> Result<String, AppError> {
    let transport = cfg.transport_so_pin.as_ref().expect("set above");
    // A label of its own: other programs may make tokens in the same
    // module at the same moment.
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|e| AppError::Corrupt(format!("no randomness: {e}")))?;
    let label = format!("BLANK {}", hex::encode(nonce));
    m.init_token(m.free_slot()?, transport, &label)?;
    let serial = m.by_label(&label)?.serial;
    let model = m
        .by_serial(&serial)
        .map(|t| t.model)
        .unwrap_or_else(|_| "SoftHSM v2".into());
    let today = station.today();
    let clerk = station.session_without_password(DEMO_CLERK)?;
    station.stock_add(&serial, &model, "DEMO", today, &clerk)?;
    Ok(serial.to_ascii_lowercase())
}

/// The session that tools writing to a scratch station (benchmarks, the
/// crash test's writer) act under: account `scratch`, made as the
/// station's first supervisor when missing (a fresh station's first two
/// need no approval), logged in as any account is.
pub fn scratch_session(station: &mut Station) -> Result<crate::Session, AppError> {
    use kiosk_keys::ExposeSecret;
    let secret = SecretString::from("scratch-pass-1".to_string());
    if station.store().clerk("scratch")?.is_none() {
        station.put_clerk(
            "scratch",
            "scratch",
            crate::Role::Supervisor,
            &secret,
            None,
            None,
        )?;
    }
    let (token, _) = station.cli_login("scratch", &secret)?;
    station.cli_session(token.expose_secret())
}

/// Checks, approval and payment: what comes before production.
pub fn intake_steps(order: &Order) -> Vec<Command> {
    let mut steps = counter_steps(order);
    steps.truncate(steps.len() - 2);
    steps
}

/// The clerk's steps that carry a fresh order to completion when every
/// material is in order: check each item, approve, take the fee (cash, or
/// nothing when free), start production, complete.
pub fn counter_steps(order: &Order) -> Vec<Command> {
    let mut steps: Vec<Command> = order
        .checklist
        .iter()
        .map(|i| Command::Check {
            item: i.id.clone(),
            status: CheckStatus::Ok,
            note: None,
        })
        .collect();
    steps.push(Command::ApproveMaterials);
    steps.push(Command::Pay(if order.fee.total_fen == 0 {
        Payment {
            method: PaymentMethod::Free,
            amount_fen: 0,
            receipt_no: None,
        }
    } else {
        Payment {
            method: PaymentMethod::Cash,
            amount_fen: order.fee.total_fen,
            receipt_no: Some(format!("R-{}", order.number)),
        }
    }));
    steps.push(Command::StartProduction);
    steps.push(Command::Complete);
    steps
}

/// The console accounts a demo station gets: (id, name, role, password).
/// Demo only: a real station's accounts come from `kioskctl clerk add`.
pub const DEMO_ACCOUNTS: [(&str, &str, crate::Role, &str); 2] = [
    ("clerk", "演示受理员", crate::Role::Clerk, "clerk-2468"),
    ("super", "演示主管", crate::Role::Supervisor, "super-1357"),
];

/// A station made ready for the kiosk app's demo.
pub struct DemoStation {
    pub key_config: KeyConfig,
    pub softhsm2_conf: PathBuf,
    /// Blank keys in stock, ready to be written.
    pub blank_keys: Vec<String>,
}

/// Makes a station ready to serve on demo data: SoftHSM2 tokens under the
/// data directory, a demo station CA, at least `blank_keys` blank keys in
/// stock, and the demo console accounts. Safe to run again.
pub fn prepare(
    data_dir: &Path,
    clock: Arc<dyn Clock>,
    blank_keys: usize,
) -> Result<DemoStation, AppError> {
    let (mut station, conf, cfg, m) = open_demo(data_dir, clock)?;
    let present: Vec<String> = m
        .tokens()?
        .into_iter()
        .map(|t| t.serial.to_ascii_lowercase())
        .collect();
    let mut blank: Vec<String> = station
        .store()
        .stock()?
        .into_iter()
        .filter(|k| k.state == StockState::InStock && present.contains(&k.serial))
        .map(|k| k.serial)
        .collect();
    while blank.len() < blank_keys {
        blank.push(demo_blank_key(&mut station, &m, &cfg)?);
    }
    Ok(DemoStation {
        key_config: cfg,
        softhsm2_conf: conf,
        blank_keys: blank,
    })
}
