//! The run journal shared by every operation on a key, and the live
//! progress a front end shows from it.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::keys::KeyConfig;
use crate::{AppError, Station};

/// A step of the key work, as journaled and shown at the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum Step {
    Prepare,
    InitToken,
    SetPins,
    GenerateKey,
    Request,
    Issue,
    WriteCertificate,
    WriteSeal,
    ResetPin,
    Revoke,
    Crl,
    Wipe,
    RemoveOld,
    Verify,
    Complete,
}

impl Step {
    pub const ALL: [Step; 15] = [
        Step::Prepare,
        Step::InitToken,
        Step::SetPins,
        Step::GenerateKey,
        Step::Request,
        Step::Issue,
        Step::WriteCertificate,
        Step::WriteSeal,
        Step::ResetPin,
        Step::Revoke,
        Step::Crl,
        Step::Wipe,
        Step::RemoveOld,
        Step::Verify,
        Step::Complete,
    ];

    /// The name in the journal (and `KIOSK_KILL_AT_STEP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Prepare => "prepare",
            Step::InitToken => "init-token",
            Step::SetPins => "set-pins",
            Step::GenerateKey => "generate-key",
            Step::Request => "request",
            Step::Issue => "issue",
            Step::WriteCertificate => "write-certificate",
            Step::WriteSeal => "write-seal",
            Step::ResetPin => "reset-pin",
            Step::Revoke => "revoke",
            Step::Crl => "crl",
            Step::Wipe => "wipe",
            Step::RemoveOld => "remove-old",
            Step::Verify => "verify",
            Step::Complete => "complete",
        }
    }

    /// What the counter shows for the step.
    pub fn label_zh(self) -> &'static str {
        match self {
            Step::Prepare => "准备介质",
            Step::InitToken => "初始化介质",
            Step::SetPins => "设置PIN码",
            Step::GenerateKey => "在介质内生成密钥对",
            Step::Request => "介质签署证书请求",
            Step::Issue => "签发证书",
            Step::WriteCertificate => "写入证书",
            Step::WriteSeal => "写入电子印章",
            Step::ResetPin => "重置用户PIN码",
            Step::Revoke => "吊销证书",
            Step::Crl => "更新证书吊销列表",
            Step::Wipe => "清除介质上的密钥和证书",
            Step::RemoveOld => "删除旧证书（算法升级时连同旧密钥）",
            Step::Verify => "回读校验",
            Step::Complete => "完成",
        }
    }

    /// A journal line's step name, read back.
    pub fn parse(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Phase {
    Started,
    Done,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Started => "started",
            Phase::Done => "done",
            Phase::Failed => "failed",
        }
    }
}

/// One line of the key work as it is journaled, for a live display.
#[derive(Debug, Clone, Serialize)]
pub struct StepProgress {
    pub order_id: String,
    pub step: Step,
    pub step_zh: &'static str,
    pub phase: Phase,
}

/// Told of every journal line right after it is committed, on the thread
/// doing the key work.
pub type ProgressSink = Box<dyn FnMut(&StepProgress) + Send>;

/// One personalization attempt: journals each step before it runs. A step's
/// "done" line is written in the same commit as the next step's "started"
/// (and the last one on its own), so each step costs one durable commit.
pub(crate) struct Run<'a> {
    pub(crate) station: &'a mut Station,
    pub(crate) cfg: &'a KeyConfig,
    pub(crate) order_id: String,
    pub(crate) key_serial: String,
    pub(crate) attempt: i64,
    pub(crate) done: Option<(Step, serde_json::Value)>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(
        station: &'a mut Station,
        cfg: &'a KeyConfig,
        order_id: &str,
        key_serial: &str,
        attempt: i64,
    ) -> Run<'a> {
        Run {
            station,
            cfg,
            order_id: order_id.to_string(),
            key_serial: key_serial.to_string(),
            attempt,
            done: None,
        }
    }

    pub(crate) fn step(
        &mut self,
        name: Step,
        detail: serde_json::Value,
        action: impl FnOnce(&mut Station) -> Result<serde_json::Value, AppError>,
    ) -> Result<(), AppError> {
        let mut lines = Vec::with_capacity(2);
        if let Some((step, out)) = self.done.take() {
            lines.push((step, Phase::Done, out));
        }
        lines.push((name, Phase::Started, detail));
        self.journal(lines)?;
        match action(self.station) {
            Ok(out) => {
                if self.cfg.kill_at_step.as_deref() == Some(name.as_str()) {
                    // A real kill -9, not an unwind: nothing after this runs.
                    let _ = rustix::process::kill_process(
                        rustix::process::getpid(),
                        rustix::process::Signal::KILL,
                    );
                }
                self.done = Some((name, out));
                Ok(())
            }
            Err(e) => {
                let _ = self.journal(vec![(name, Phase::Failed, json!({ "code": e.code() }))]);
                Err(e)
            }
        }
    }

    /// Writes the last step's "done".
    pub(crate) fn finish(&mut self) -> Result<(), AppError> {
        if let Some((step, out)) = self.done.take() {
            self.journal(vec![(step, Phase::Done, out)])?;
        }
        Ok(())
    }

    fn journal(&mut self, lines: Vec<(Step, Phase, serde_json::Value)>) -> Result<(), AppError> {
        let now = self.station.now();
        let rows: Vec<(String, &str, serde_json::Value)> = lines
            .iter()
            .map(|(step, phase, detail)| {
                (step.as_str().to_string(), phase.as_str(), detail.clone())
            })
            .collect();
        self.station
            .store()
            .journal(&self.order_id, &self.key_serial, self.attempt, &rows, now)?;
        for (step, phase, _) in &lines {
            self.station.tell_progress(&StepProgress {
                order_id: self.order_id.clone(),
                step: *step,
                step_zh: step.label_zh(),
                phase: *phase,
            });
        }
        Ok(())
    }
}
