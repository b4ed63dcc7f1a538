//! Sync with the central CA: send the outbox, fetch what the central
//! publishes. One run is [`Station::sync`]; `kioskctl sync` and the app's
//! background loop call it.
//!
//! Upload: ask the central how far it has committed, send the rest in
//! consecutive batches, and mark as acknowledged only what it says it
//! committed. A run that breaks off anywhere leaves the outbox as it was
//! and the next run resumes from the central's own count. Offline is the
//! normal state of a counter: a failed run is recorded, never fatal.
//! After the records, the newest CRL not yet delivered goes up, for the
//! central to serve to relying parties (`Station::upload_crl`).

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use kiosk_domain::order::Command;
use kiosk_domain::Catalog;
use kiosk_keys::TokenSigner;
use kiosk_store::{Actor, CentralRevocation};
use kiosk_sync::{
    header, refusal, BatchAck, CatalogUpdate, CrlAck, Decisions, Head, Refusal, Revocations,
    StationCertificate,
};
use serde::Serialize;

use crate::keys::{KeyConfig, CA_KEY};
use crate::{AppError, Station};

mod client;
mod download;
mod upload;

use client::{try_again, Answer, Client};

/// Where the central is and how to talk to it.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Base URL, e.g. `https://central.example:8443`.
    pub url: String,
    /// PEM of the certificate (or CA) the central's TLS certificate must
    /// chain to: required, since the system's web roots would let anyone
    /// with a public certificate for that name be the central.
    pub central_ca: Option<PathBuf>,
    /// Records per batch.
    pub batch: u32,
    /// Limit for one request, connection included.
    pub timeout: Duration,
    /// Tries per request when the network or the central fails.
    pub attempts: u32,
    /// Diagnostics: a copy of every signed request is written here. The
    /// copies are harmless: each request is good once, within the
    /// central's time window.
    pub trace_dir: Option<PathBuf>,
}

pub use kiosk_sync::MAX_ANSWER_BYTES;

impl SyncConfig {
    /// Refuses a central reached over plain HTTP or without a pinned CA:
    /// nothing the station takes from the network may come from whoever
    /// sits between it and the central.
    pub fn check(&self) -> Result<(), AppError> {
        if !self.url.starts_with("https://") {
            return Err(
                kiosk_domain::Rejection::field("central_url", "中心CA地址", "plain_http")
                    .zh(
                        format!("中心CA地址 {} 不是 HTTPS", self.url),
                        "请把 KIOSK_CENTRAL_URL 设为 https:// 开头的地址",
                    )
                    .en(
                        format!("the central's address {} is not HTTPS", self.url),
                        "set KIOSK_CENTRAL_URL to an https:// address",
                    )
                    .into(),
            );
        }
        if self.central_ca.is_none() {
            return Err(kiosk_domain::Rejection::field("central_ca", "中心CA证书", "central_not_pinned")
                .zh(
                    "未指定中心CA的TLS证书（KIOSK_CENTRAL_CA），工作站不会信任系统的公共根证书",
                    "请把中心CA提供的证书（PEM）放到本机，并用 KIOSK_CENTRAL_CA 指向它",
                )
                .en(
                    "the central's TLS certificate is not pinned (KIOSK_CENTRAL_CA); public roots are not trusted",
                    "put the central's certificate (PEM) on this machine and name it with KIOSK_CENTRAL_CA",
                )
                .into());
        }
        Ok(())
    }

    /// From `KIOSK_CENTRAL_URL` (none: sync is not set up),
    /// `KIOSK_CENTRAL_CA`, `KIOSK_SYNC_BATCH`, `KIOSK_SYNC_TIMEOUT_SECS`,
    /// `KIOSK_SYNC_TRACE_DIR`.
    pub fn from_env() -> Option<SyncConfig> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let url = var("KIOSK_CENTRAL_URL")?;
        Some(SyncConfig {
            url: url.trim_end_matches('/').to_string(),
            central_ca: var("KIOSK_CENTRAL_CA").map(PathBuf::from),
            batch: var("KIOSK_SYNC_BATCH")
                .and_then(|v| v.parse().ok())
                .filter(|&b| (1..=10_000).contains(&b))
                .unwrap_or(2000),
            timeout: Duration::from_secs(
                var("KIOSK_SYNC_TIMEOUT_SECS")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(30),
            ),
            attempts: 3,
            trace_dir: var("KIOSK_SYNC_TRACE_DIR").map(PathBuf::from),
        })
    }
}

/// What a run reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum SyncProgress {
    /// Records to send in this run.
    Pending(u64),
    /// Records the central has committed in this run so far.
    Committed(u64),
    /// The download part has started.
    Downloading,
}

/// What one run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncSummary {
    pub station_id: String,
    /// Records the central committed in this run.
    pub sent: u64,
    /// Records resent that the central already had.
    pub duplicates: u64,
    pub batches: u64,
    /// Records sent with a payload version newer than the central knows.
    pub newer_payload_versions: u64,
    /// The central's count after the run: every record up to it is there.
    pub committed_seq: i64,
    /// Records still queued.
    pub pending: i64,
    /// Request bytes sent for the records.
    pub bytes_sent: u64,
    /// Answer bytes read from the central in the run.
    pub bytes_received: u64,
    /// The number of the CRL the central stored in this run.
    pub crl_uploaded: Option<i64>,
    /// The newest audit row the central holds sealed after the run.
    pub audit_sealed_at_central: i64,
    /// A newer catalog version imported.
    pub catalog_version: Option<u64>,
    /// Revocations received.
    pub revocations: usize,
    /// Directory entries received (new or changed).
    pub directory_entries: usize,
    /// Central review decisions applied to orders, and ones that no longer
    /// applied (the order had moved on).
    pub decisions_applied: usize,
    pub decisions_skipped: usize,
    /// A renewed station sub-CA certificate was installed.
    pub station_certificate_renewed: bool,
    /// Requests retried after a network or central failure.
    pub retries: u32,
    pub elapsed_ms: u64,
}

/// Why a run stopped. Each case says what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncError {
    #[error("sync is not set up: KIOSK_CENTRAL_URL is not set")]
    NotConfigured,
    /// A publication (catalog, revocations, decisions, certificate) that
    /// the central did not sign as it must: nothing of it is taken.
    #[error("the central's {kind} is not signed as it must be: {why}")]
    BadPublication { kind: String, why: String },
    #[error("the central CA cannot be reached: {0}")]
    Unreachable(String),
    #[error("the central CA refused: {} ({})", .0.message, .0.code)]
    Refused(Refusal),
    #[error("the central CA answered in a way this station does not understand: {0}")]
    Protocol(String),
    #[error("another sync is running")]
    Busy,
    #[error("the central CA holds {central} records of this station, the station only {local}: the station database is older than what it sent (restored from an older backup?), so records {} to {central} are only at the central; sync stopped so that nothing conflicts with them: restore the newest backup, or call the operator", local + 1)]
    CentralAhead { central: i64, local: i64 },
}

impl SyncError {
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::NotConfigured => "sync_not_configured",
            SyncError::BadPublication { .. } => "central_bad_publication",
            SyncError::Unreachable(_) => "central_unreachable",
            SyncError::Refused(r) => match r.code.as_str() {
                refusal::UNKNOWN_STATION | refusal::UNKNOWN_CERTIFICATE => {
                    "central_unknown_station"
                }
                refusal::STATION_REVOKED => "central_station_revoked",
                refusal::CERTIFICATE_EXPIRED => "central_certificate_expired",
                refusal::CLOCK_SKEW => "central_clock_skew",
                refusal::SEQUENCE_CONFLICT => "central_sequence_conflict",
                refusal::DISCLOSURE_MISMATCH => "central_disclosure_mismatch",
                refusal::HISTORY_DIVERGED => "central_history_diverged",
                refusal::BAD_SEAL => "central_bad_seal",
                refusal::UNAVAILABLE => "central_unavailable",
                _ => "central_refused",
            },
            SyncError::Protocol(_) => "central_protocol",
            SyncError::Busy => "sync_busy",
            SyncError::CentralAhead { .. } => "central_ahead",
        }
    }

    pub fn message_zh(&self) -> String {
        match self {
            SyncError::NotConfigured => {
                "未配置中心CA同步。请由运维人员设置 KIOSK_CENTRAL_URL 与 KIOSK_CENTRAL_CA；在此之前工作站照常离线受理，记录保存在本地队列中".into()
            }
            SyncError::Unreachable(d) => format!(
                "暂时无法连接中心CA（{d}）。工作站可照常离线受理，记录已保存在本地队列中，联网后会自动续传"
            ),
            SyncError::Refused(r) => format!("中心CA拒绝了同步：{}（{}）", r.message_zh, r.code),
            SyncError::BadPublication { kind, why } => format!(
                "中心CA发来的 {kind} 没有有效的中心签名（{why}），未采用，本站数据未改变。请联系运维核查中心服务和网络"
            ),
            SyncError::Protocol(d) => format!(
                "中心CA的应答无法识别（{d}）。记录仍保存在本地队列中；请联系运维确认中心服务版本"
            ),
            SyncError::Busy => "另一次同步正在进行，请稍后再试".into(),
            SyncError::CentralAhead { central, local } => format!(
                "中心CA已有本工作站 {central} 条记录，本地只有 {local} 条：本地数据库可能从较旧的备份恢复，第 {} 至 {central} 条只在中心。为免与之冲突已停止同步：请用最新的备份恢复，或联系运维处理", local + 1
            ),
        }
    }

    /// Worth another try in the same run: the network or the central's
    /// database failed, nothing was refused.
    fn transient(&self) -> bool {
        match self {
            SyncError::Unreachable(_) => true,
            SyncError::Refused(r) => r.code == refusal::UNAVAILABLE,
            _ => false,
        }
    }
}

/// Holds the data directory's sync lock for one run.
struct SyncLock(#[allow(dead_code)] fs::File);

fn lock(dir: &std::path::Path) -> Result<SyncLock, AppError> {
    let path = dir.join("sync.lock");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| AppError::io(path.display(), e))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(|_| AppError::Sync(SyncError::Busy))?;
    Ok(SyncLock(f))
}

/// The certificates of `KIOSK_CENTRAL_CA`, DER.
fn pinned(cfg: &SyncConfig) -> Result<Vec<Vec<u8>>, AppError> {
    let Some(path) = &cfg.central_ca else {
        return Ok(Vec::new());
    };
    let text = fs::read_to_string(path).map_err(|e| AppError::io(path.display(), e))?;
    Ok(kiosk_keys::pem_certificates(&text))
}

fn agent(cfg: &SyncConfig) -> Result<ureq::Agent, AppError> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder();
    if let Some(path) = &cfg.central_ca {
        let text = fs::read(path).map_err(|e| AppError::io(path.display(), e))?;
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&text)
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(AppError::Sync(SyncError::Protocol(format!(
                "{} holds no certificate (KIOSK_CENTRAL_CA)",
                path.display()
            ))));
        }
        tls = tls.root_certs(RootCerts::Specific(std::sync::Arc::new(certs)));
    }
    let config = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_global(Some(cfg.timeout))
        .timeout_connect(Some(cfg.timeout.min(Duration::from_secs(5))))
        .build();
    Ok(config.into())
}

impl Station {
    /// One sync run: upload the outbox, then fetch catalog, revocations,
    /// review decisions and a renewed station certificate. The outcome is
    /// recorded for `sync status` and the clerk console.
    pub fn sync(
        &mut self,
        keys: &KeyConfig,
        cfg: &SyncConfig,
        progress: &mut dyn FnMut(SyncProgress),
    ) -> Result<SyncSummary, AppError> {
        let _lock = lock(self.data_dir())?;
        let started = Instant::now();
        let now = self.now();
        self.store_mut().sync_started(now)?;
        // The audit key before anything goes on the wire: deriving it logs in
        // to the station token, which SoftHSM2 answers by rewriting its token
        // file, and a sync may be cut off at any instant.
        self.store_mut().prime_audit_key(now)?;
        // A set-up refused (plain HTTP, no pinned CA) sends nothing and is
        // recorded like any failed run, so the console shows it.
        let outcome = cfg
            .check()
            .and_then(|()| self.sync_run(keys, cfg, progress));
        let now = self.now();
        match &outcome {
            Ok(_) => self.store_mut().sync_finished(now, None)?,
            Err(e) => {
                let message = e.message_zh();
                self.store_mut()
                    .sync_finished(now, Some((e.code(), &message)))?
            }
        }
        outcome.map(|mut s| {
            s.elapsed_ms = started.elapsed().as_millis() as u64;
            s
        })
    }

    fn sync_run(
        &mut self,
        keys: &KeyConfig,
        cfg: &SyncConfig,
        progress: &mut dyn FnMut(SyncProgress),
    ) -> Result<SyncSummary, AppError> {
        let ca = self
            .store()
            .station_ca()?
            .and_then(|c| c.cert_der)
            .ok_or_else(|| {
                kiosk_domain::Rejection::field("station_ca", "签发CA", "station_ca_missing")
                    .zh(
                        "本工作站还没有签发CA证书，无法向中心CA证明身份",
                        "请先完成 kioskctl ca csr / ca import（或演示环境的 ca init --demo）",
                    )
                    .en(
                        "the station has no sub-CA certificate to sign its sync requests",
                        "run ca csr / ca import first",
                    )
            })?;
        let session = self.station_session(keys)?;
        // What the central receives is sealed up to the newest row.
        let seal = self.seal_audit_in(&session)?.is_some();
        let signer = TokenSigner::new(&session, CA_KEY.as_bytes())?;
        let client = Client {
            agent: agent(cfg)?,
            base: cfg.url.clone(),
            station: self.store().station_id().to_string(),
            certificate_sha256: kiosk_sync::fingerprint(&ca),
            signer,
            trace_dir: cfg.trace_dir.clone(),
            clock: self.clock_handle(),
            anchors: pinned(cfg)?,
            received: std::cell::Cell::new(0),
        };
        let mut summary = SyncSummary {
            station_id: client.station.clone(),
            ..SyncSummary::default()
        };
        self.upload(&client, cfg, &mut summary, progress)?;
        self.upload_crl(&client, cfg, &mut summary)?;
        if seal {
            self.upload_audit(&client, cfg, &mut summary)?;
        }
        progress(SyncProgress::Downloading);
        let renewed = self.download(&client, cfg, &ca, &mut summary)?;
        summary.bytes_received = client.received.get();
        // The import logs in to the station token itself.
        drop(client);
        drop(session);
        if let Some(file) = renewed {
            self.ca_import_as(
                keys,
                &file,
                &kiosk_store::Actor::central(),
                kiosk_store::CaAlgorithm::P256,
            )?;
            summary.station_certificate_renewed = true;
        }
        summary.pending = self.store().sync_state()?.pending;
        Ok(summary)
    }
}
