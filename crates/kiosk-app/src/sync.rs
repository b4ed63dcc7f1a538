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
use kiosk_keys::{Module, TokenSigner};
use kiosk_store::{Actor, CentralRevocation};
use kiosk_sync::{
    header, refusal, BatchAck, CatalogUpdate, CrlAck, Decisions, Head, Refusal, Revocations,
    StationCertificate,
};
use serde::Serialize;

use crate::keys::{KeyConfig, CA_KEY};
use crate::{AppError, Station};

/// Where the central is and how to talk to it.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Base URL, e.g. `https://central.example:8443`.
    pub url: String,
    /// PEM of the certificate (or CA) the central's TLS certificate must
    /// chain to. Without it the system's web roots are used.
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

impl SyncConfig {
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
    /// The number of the CRL the central stored in this run.
    pub crl_uploaded: Option<i64>,
    /// A newer catalog version imported.
    pub catalog_version: Option<u64>,
    /// Revocations received.
    pub revocations: usize,
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
    #[error("the central CA cannot be reached: {0}")]
    Unreachable(String),
    #[error("the central CA refused: {} ({})", .0.message, .0.code)]
    Refused(Refusal),
    #[error("the central CA answered in a way this station does not understand: {0}")]
    Protocol(String),
    #[error("another sync is running")]
    Busy,
    #[error("the central CA holds {central} records of this station, the station only {local}: the station database is older than what it sent")]
    CentralAhead { central: i64, local: i64 },
}

impl SyncError {
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::NotConfigured => "sync_not_configured",
            SyncError::Unreachable(_) => "central_unreachable",
            SyncError::Refused(r) => match r.code.as_str() {
                refusal::UNKNOWN_STATION | refusal::UNKNOWN_CERTIFICATE => {
                    "central_unknown_station"
                }
                refusal::STATION_REVOKED => "central_station_revoked",
                refusal::CLOCK_SKEW => "central_clock_skew",
                refusal::SEQUENCE_CONFLICT => "central_sequence_conflict",
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
            SyncError::Protocol(d) => format!(
                "中心CA的应答无法识别（{d}）。记录仍保存在本地队列中；请联系运维确认中心服务版本"
            ),
            SyncError::Busy => "另一次同步正在进行，请稍后再试".into(),
            SyncError::CentralAhead { central, local } => format!(
                "中心CA已有本工作站 {central} 条记录，本地只有 {local} 条：本地数据库可能从旧备份恢复。已停止同步，请联系运维处理"
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

/// A signed-request client for one run. The signing key stays in the
/// station token.
struct Client<'a> {
    agent: ureq::Agent,
    base: String,
    station: String,
    certificate_sha256: String,
    signer: TokenSigner<'a>,
    trace_dir: Option<PathBuf>,
    clock: std::sync::Arc<dyn crate::Clock>,
}

enum Answer {
    Body(Vec<u8>),
    NoContent,
}

impl Client<'_> {
    fn call(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<Answer, SyncError> {
        let now = self.clock.now();
        let time = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let nonce = kiosk_store::new_id(now);
        let signed = kiosk_sync::Signed {
            method,
            path_and_query: path,
            station: &self.station,
            certificate_sha256: &self.certificate_sha256,
            time: &time,
            nonce: &nonce,
            body,
        };
        let signature = self
            .signer
            .sign_der(&signed.message())
            .map_err(|e| SyncError::Protocol(format!("the station token cannot sign: {e}")))?;
        let signature = base64::engine::general_purpose::STANDARD.encode(signature);
        let url = format!("{}{path}", self.base);
        let headers = [
            (header::STATION, self.station.as_str()),
            (header::CERTIFICATE, self.certificate_sha256.as_str()),
            (header::TIME, time.as_str()),
            (header::NONCE, nonce.as_str()),
            (header::SIGNATURE, signature.as_str()),
        ];
        if let Some(dir) = &self.trace_dir {
            let head: String = std::iter::once(format!("{method} {path}\n"))
                .chain(headers.iter().map(|(k, v)| format!("{k}: {v}\n")))
                .collect();
            let _ = fs::create_dir_all(dir);
            let _ = fs::write(dir.join(format!("{nonce}.head")), head);
            let _ = fs::write(dir.join(format!("{nonce}.body")), body);
        }
        fn with<B>(
            mut rb: ureq::RequestBuilder<B>,
            headers: &[(&str, &str)],
        ) -> ureq::RequestBuilder<B> {
            for (k, v) in headers {
                rb = rb.header(*k, *v);
            }
            rb
        }
        let response = if method == "POST" {
            with(self.agent.post(&url), &headers)
                .content_type(content_type)
                .send(body)
        } else {
            with(self.agent.get(&url), &headers).call()
        };
        let mut response = response.map_err(|e| SyncError::Unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| SyncError::Unreachable(e.to_string()))?;
        match status {
            200 => Ok(Answer::Body(bytes)),
            204 => Ok(Answer::NoContent),
            _ => Err(match serde_json::from_slice::<Refusal>(&bytes) {
                Ok(r) => SyncError::Refused(r),
                Err(_) => SyncError::Protocol(format!("HTTP {status}")),
            }),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Option<T>, SyncError> {
        match self.call(method, path, body, "application/json")? {
            Answer::NoContent => Ok(None),
            Answer::Body(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| SyncError::Protocol(format!("{path}: {e}"))),
        }
    }

    /// Like [`Client::json`], tried again on a transient failure.
    fn json_retrying<T: serde::de::DeserializeOwned>(
        &self,
        attempts: u32,
        retries: &mut u32,
        path: &str,
    ) -> Result<Option<T>, SyncError> {
        let mut failures = 0;
        loop {
            match self.json("GET", path, b"") {
                Err(e) if try_again(&e, &mut failures, attempts, retries) => {}
                other => return other,
            }
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt.min(5)))
}

/// Whether to try again after `e`: a transient failure with tries left.
/// Counts the failure and waits before saying yes.
fn try_again(e: &SyncError, failures: &mut u32, attempts: u32, retries: &mut u32) -> bool {
    if !e.transient() || *failures + 1 >= attempts {
        return false;
    }
    *failures += 1;
    *retries += 1;
    std::thread::sleep(backoff(*failures));
    true
}

/// The request body of a batch, as the protocol's `Batch`. The payloads
/// are the stored JSON text, carried as raw JSON (checked, not rewritten).
fn batch_body(records: &[kiosk_store::RawRecord]) -> Result<Vec<u8>, SyncError> {
    let records = records
        .iter()
        .map(|r| {
            Ok(kiosk_sync::Record {
                seq: r.seq,
                id: &r.id,
                kind: &r.kind,
                payload_version: r.payload_version,
                created_at: &r.created_at,
                payload: serde_json::from_str(&r.payload)?,
            })
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()
        .map_err(|e| SyncError::Protocol(format!("a stored payload is not JSON: {e}")))?;
    serde_json::to_vec(&kiosk_sync::Batch { records })
        .map_err(|e| SyncError::Protocol(format!("the batch cannot be written: {e}")))
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
        m: &Module,
        keys: &KeyConfig,
        cfg: &SyncConfig,
        progress: &mut dyn FnMut(SyncProgress),
    ) -> Result<SyncSummary, AppError> {
        let _lock = lock(self.data_dir())?;
        let started = Instant::now();
        let now = self.now();
        self.store_mut().sync_started(now)?;
        let outcome = self.sync_run(m, keys, cfg, progress);
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
        m: &Module,
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
        let session = self.station_session(m, keys)?;
        let signer = TokenSigner::new(&session, CA_KEY.as_bytes())?;
        let client = Client {
            agent: agent(cfg)?,
            base: cfg.url.clone(),
            station: self.store().station_id().to_string(),
            certificate_sha256: kiosk_sync::fingerprint(&ca),
            signer,
            trace_dir: cfg.trace_dir.clone(),
            clock: self.clock_handle(),
        };
        let mut summary = SyncSummary {
            station_id: client.station.clone(),
            ..SyncSummary::default()
        };
        self.upload(&client, cfg, &mut summary, progress)?;
        self.upload_crl(&client, cfg, &mut summary)?;
        progress(SyncProgress::Downloading);
        let renewed = self.download(&client, cfg, &ca, &mut summary)?;
        // The import logs in to the station token itself.
        drop(client);
        drop(session);
        if let Some(file) = renewed {
            self.ca_import(m, keys, &file, "central")?;
            summary.station_certificate_renewed = true;
        }
        summary.pending = self.store().sync_state()?.pending;
        Ok(summary)
    }

    fn upload(
        &mut self,
        client: &Client<'_>,
        cfg: &SyncConfig,
        summary: &mut SyncSummary,
        progress: &mut dyn FnMut(SyncProgress),
    ) -> Result<(), AppError> {
        let local_head = self.store().outbox_head()?;
        let mut failures = 0;
        let mut announced = false;
        'resume: loop {
            let head_path = format!(
                "/v1/stations/{}/head?outbox_head={local_head}",
                client.station
            );
            let head: Head = match client.json("GET", &head_path, b"") {
                Ok(Some(h)) => h,
                Ok(None) => return Err(SyncError::Protocol("empty head".into()).into()),
                Err(e) if try_again(&e, &mut failures, cfg.attempts, &mut summary.retries) => {
                    continue 'resume;
                }
                Err(e) => return Err(e.into()),
            };
            if head.committed_seq > local_head {
                return Err(SyncError::CentralAhead {
                    central: head.committed_seq,
                    local: local_head,
                }
                .into());
            }
            let now = self.now();
            self.store_mut().mark_acked(head.committed_seq, now)?;
            summary.committed_seq = head.committed_seq;
            if !announced {
                progress(SyncProgress::Pending(
                    (local_head - head.committed_seq).max(0) as u64,
                ));
                announced = true;
            }
            let mut after = head.committed_seq;
            let path = format!("/v1/stations/{}/records", client.station);
            loop {
                let records = self.store().outbox_after(after, cfg.batch)?;
                if records.is_empty() {
                    return Ok(());
                }
                let body = batch_body(&records)?;
                let ack: BatchAck = match client.json("POST", &path, &body) {
                    Ok(Some(a)) => a,
                    Ok(None) => return Err(SyncError::Protocol("empty batch answer".into()).into()),
                    Err(SyncError::Refused(r)) if r.code == refusal::GAP => {
                        // The central is elsewhere than thought: ask again.
                        if failures + 1 >= cfg.attempts {
                            return Err(SyncError::Refused(r).into());
                        }
                        failures += 1;
                        continue 'resume;
                    }
                    Err(e) if try_again(&e, &mut failures, cfg.attempts, &mut summary.retries) => {
                        continue 'resume;
                    }
                    Err(e) => return Err(e.into()),
                };
                let last = records[records.len() - 1].seq;
                if ack.committed_seq < last || ack.committed_seq > local_head {
                    return Err(SyncError::Protocol(format!(
                        "the central acknowledged {} after a batch ending at {last}",
                        ack.committed_seq
                    ))
                    .into());
                }
                let now = self.now();
                self.store_mut().mark_acked(ack.committed_seq, now)?;
                summary.sent += ack.inserted;
                summary.duplicates += ack.duplicates;
                summary.newer_payload_versions += ack.newer_payload_versions;
                summary.batches += 1;
                summary.bytes_sent += body.len() as u64;
                summary.committed_seq = ack.committed_seq;
                progress(SyncProgress::Committed(summary.sent + summary.duplicates));
                after = ack.committed_seq;
            }
        }
    }

    /// Uploads the newest CRL not yet delivered and marks it and all older
    /// ones delivered. Only the newest: a CRL lists every unexpired
    /// revocation, relying parties get only the newest, and the central
    /// refuses an older one after it; so a backlog costs one request, and a
    /// CRL refused for good stops the runs only until the next is signed.
    /// `crl_not_newer`: the central has it (an answer lost) or a newer one.
    fn upload_crl(
        &mut self,
        client: &Client<'_>,
        cfg: &SyncConfig,
        summary: &mut SyncSummary,
    ) -> Result<(), AppError> {
        let waiting = self.store().crls_to_upload()?;
        let Some(newest) = waiting.last() else {
            return Ok(());
        };
        let path = format!("/v1/stations/{}/crl", client.station);
        let mut failures = 0;
        let stored = loop {
            match client.call("POST", &path, &newest.der, kiosk_sync::CRL_CONTENT_TYPE) {
                Ok(Answer::Body(b)) => match serde_json::from_slice::<CrlAck>(&b) {
                    Ok(ack) if ack.number == newest.number => break Some(ack.number),
                    _ => return Err(SyncError::Protocol(format!("{path}: bad answer")).into()),
                },
                Ok(Answer::NoContent) => {
                    return Err(SyncError::Protocol(format!("{path}: empty answer")).into())
                }
                Err(SyncError::Refused(r)) if r.code == refusal::CRL_NOT_NEWER => break None,
                Err(e) if try_again(&e, &mut failures, cfg.attempts, &mut summary.retries) => {}
                Err(e) => return Err(e.into()),
            }
        };
        let numbers: Vec<i64> = waiting.iter().map(|c| c.number).collect();
        let now = self.now();
        self.store_mut()
            .write(&Actor::system(), now, |w| w.crls_uploaded(&numbers))?;
        summary.crl_uploaded = stored;
        Ok(())
    }

    fn download(
        &mut self,
        client: &Client<'_>,
        cfg: &SyncConfig,
        current_ca: &[u8],
        summary: &mut SyncSummary,
    ) -> Result<Option<PathBuf>, AppError> {
        let mut retries = summary.retries;
        let mut renewed = None;
        // Catalog: imported through the same path as an operator's import,
        // versioned and atomic.
        let newest = self
            .store()
            .catalogs()?
            .iter()
            .map(|c| c.version)
            .max()
            .unwrap_or(0);
        let update: Option<CatalogUpdate> = client.json_retrying(
            cfg.attempts,
            &mut retries,
            &format!("/v1/catalog?after={newest}"),
        )?;
        if let Some(u) = update.filter(|u| u.version > newest) {
            let catalog = Catalog::from_toml(&u.body)?;
            let now = self.now();
            self.store_mut()
                .import_catalog(&Actor::central(), now, &catalog, "central")?;
            summary.catalog_version = Some(catalog.version);
        }

        // Revocations anywhere in the network.
        loop {
            let state = self.store().sync_state()?;
            let path = format!("/v1/revocations?after={}", state.revocations_cursor);
            let Some(r): Option<Revocations> =
                client.json_retrying(cfg.attempts, &mut retries, &path)?
            else {
                break;
            };
            if r.revocations.is_empty() {
                break;
            }
            let list: Vec<CentralRevocation> = r
                .revocations
                .into_iter()
                .map(|v| CentralRevocation {
                    issuer: v.issuer,
                    serial: v.serial,
                    reason: v.reason,
                    revoked_at: v.revoked_at,
                    station_id: v.station_id,
                })
                .collect();
            summary.revocations += list.len();
            let now = self.now();
            self.store_mut()
                .add_central_revocations(&list, r.cursor, now)?;
        }

        // Decisions on orders sent for central review.
        loop {
            let state = self.store().sync_state()?;
            let path = format!(
                "/v1/stations/{}/decisions?after={}",
                client.station, state.decisions_cursor
            );
            let Some(d): Option<Decisions> =
                client.json_retrying(cfg.attempts, &mut retries, &path)?
            else {
                break;
            };
            if d.decisions.is_empty() {
                break;
            }
            for decision in &d.decisions {
                let cmd = match decision.decision.as_str() {
                    "approved" => Command::CentralApprove,
                    _ => Command::CentralReturn {
                        reason: decision
                            .reason
                            .clone()
                            .unwrap_or_else(|| "中心审核退回".into()),
                    },
                };
                match self.order_command_as(&decision.order_id, cmd, &Actor::central()) {
                    Ok(_) => summary.decisions_applied += 1,
                    // Already applied by an interrupted run, or the order
                    // moved on: nothing to do.
                    Err(AppError::Rejected(_)) | Err(AppError::NotFound { .. }) => {
                        summary.decisions_skipped += 1
                    }
                    Err(e) => return Err(e),
                }
            }
            self.store_mut().set_decisions_cursor(d.cursor)?;
        }

        // A renewed station sub-CA certificate.
        let path = format!("/v1/stations/{}/certificate", client.station);
        let offered: Option<StationCertificate> =
            client.json_retrying(cfg.attempts, &mut retries, &path)?;
        if let Some(c) = offered {
            if c.sha256 != kiosk_sync::fingerprint(current_ca) && newer_than(&c, current_ca) {
                let dir = self.data_dir().join("ca");
                fs::create_dir_all(&dir).map_err(|e| AppError::io(dir.display(), e))?;
                let file = dir.join("renewed-from-central.pem");
                fs::write(&file, &c.chain_pem).map_err(|e| AppError::io(file.display(), e))?;
                renewed = Some(file);
            }
        }
        summary.retries = retries;
        Ok(renewed)
    }
}

/// Whether the offered certificate ends later than the current one.
fn newer_than(offered: &StationCertificate, current_der: &[u8]) -> bool {
    let current = kiosk_keys::certificate_info(current_der)
        .map(|i| i.not_after.unix_timestamp())
        .unwrap_or(0);
    chrono::DateTime::parse_from_rfc3339(&offered.not_after)
        .map(|t| t.timestamp() > current)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_body_carries_payloads_untouched() {
        let r = kiosk_store::RawRecord {
            seq: 7,
            id: "0190-x".into(),
            kind: "order.created".into(),
            payload_version: 1,
            payload: r#"{"a": "甲\"b"}"#.into(),
            created_at: "2026-11-21T00:00:00.000000Z".into(),
        };
        let body = batch_body(&[r.clone(), kiosk_store::RawRecord { seq: 8, ..r }]).unwrap();
        let b: kiosk_sync::Batch = serde_json::from_slice(&body).unwrap();
        assert_eq!(b.records.len(), 2);
        assert_eq!(b.records[1].seq, 8);
        assert_eq!(b.records[0].payload.get(), r#"{"a": "甲\"b"}"#);
    }
}
