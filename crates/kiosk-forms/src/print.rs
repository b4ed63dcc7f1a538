//! Printing through CUPS: find the printer, check it can print, submit the
//! PDF, follow the job to its end.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

use crate::ipp::{self, Request, Server, TAG_PRINTER};

/// What went wrong talking to CUPS.
#[derive(Debug, Error)]
pub enum PrintError {
    /// The scheduler is not running or not reachable.
    #[error("CUPS at {server} cannot be reached: {detail}")]
    Unreachable { server: String, detail: String },
    /// The named printer does not exist, or there is no printer at all.
    #[error("no printer {wanted:?}; available: {available:?}")]
    NoPrinter {
        wanted: Option<String>,
        available: Vec<String>,
    },
    /// The printer cannot print now (stopped, offline, out of paper...).
    #[error("printer {} cannot print: {:?}", .0.name, .0.problems())]
    NotReady(PrinterStatus),
    /// CUPS refused the request.
    #[error("CUPS refused {operation}: status 0x{status:04x} {message}")]
    Refused {
        operation: &'static str,
        status: u16,
        message: String,
    },
    #[error("unexpected answer from CUPS: {0}")]
    Protocol(String),
}

/// A queue's state as CUPS reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrinterStatus {
    pub name: String,
    /// `idle`, `processing` or `stopped`.
    pub state: String,
    pub accepting: bool,
    /// `printer-state-reasons` keywords (`media-empty-error`, ...).
    pub reasons: Vec<String>,
    pub message: String,
    pub info: String,
}

/// Why a printer cannot print, in the categories a clerk acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    Stopped,
    NotAccepting,
    Offline,
    OutOfPaper,
    PaperJam,
    OutOfToner,
    CoverOpen,
    Other,
}

impl PrinterStatus {
    /// What keeps this printer from printing; empty when it is ready.
    /// Reasons ending in `-report` are informational and do not count,
    /// except `offline-report`.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.state == "stopped" {
            out.push(Problem::Stopped);
        }
        if !self.accepting {
            out.push(Problem::NotAccepting);
        }
        for r in &self.reasons {
            let base = r
                .trim_end_matches("-error")
                .trim_end_matches("-warning")
                .trim_end_matches("-report");
            let p = match base {
                "none" | "paused" => continue,
                "offline" | "connecting-to-device" | "shutdown" | "timed-out" => Problem::Offline,
                "media-empty" | "media-needed" | "input-tray-missing" => Problem::OutOfPaper,
                "media-jam" => Problem::PaperJam,
                "toner-empty" | "marker-supply-empty" | "marker-waste-full" => Problem::OutOfToner,
                "door-open" | "cover-open" | "interlock-open" => Problem::CoverOpen,
                _ if r.ends_with("-error") => Problem::Other,
                _ => continue,
            };
            let informational = r.ends_with("-report") && p != Problem::Offline;
            if !informational && !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

/// How a job ended, or where it stands when following stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    pub job_id: i32,
    pub printer: String,
    /// `pending`, `held`, `processing`, `stopped`, `canceled`, `aborted`, `completed`.
    pub state: String,
    pub reasons: Vec<String>,
    /// Pages CUPS counted as printed, when it reports them.
    pub pages: Option<u32>,
    pub message: String,
}

impl JobStatus {
    pub fn finished(&self) -> bool {
        matches!(self.state.as_str(), "canceled" | "aborted" | "completed")
    }
    pub fn completed(&self) -> bool {
        self.state == "completed"
    }
}

fn job_state(n: i32) -> &'static str {
    match n {
        3 => "pending",
        4 => "held",
        5 => "processing",
        6 => "stopped",
        7 => "canceled",
        8 => "aborted",
        9 => "completed",
        _ => "unknown",
    }
}

fn printer_state(n: i32) -> &'static str {
    match n {
        3 => "idle",
        4 => "processing",
        5 => "stopped",
        _ => "unknown",
    }
}

/// A connection to one CUPS scheduler.
#[derive(Debug, Clone)]
pub struct Cups {
    server: Server,
    user: String,
    timeout: Duration,
}

static REQUEST_ID: AtomicU32 = AtomicU32::new(1);

impl Cups {
    pub fn new(server: Server, user: &str) -> Cups {
        Cups {
            server,
            user: user.to_string(),
            timeout: Duration::from_secs(10),
        }
    }

    /// The scheduler named by `CUPS_SERVER`, else the local socket, else
    /// localhost:631 — the same rule as the `lp` command.
    pub fn default_server() -> Server {
        if let Some(s) = std::env::var_os("CUPS_SERVER").and_then(|s| s.into_string().ok()) {
            if !s.trim().is_empty() {
                return Server::parse(s.trim());
            }
        }
        let socket = std::path::Path::new("/run/cups/cups.sock");
        if socket.exists() {
            return Server::Unix(socket.to_path_buf());
        }
        Server::Tcp("localhost:631".into())
    }

    pub fn server(&self) -> &Server {
        &self.server
    }

    fn call(
        &self,
        operation: &'static str,
        path: &str,
        req: &Request,
        doc: &[u8],
    ) -> Result<ipp::Response, PrintError> {
        let body = self
            .server
            .post(path, &req.finish(doc), self.timeout)
            .map_err(|e| PrintError::Unreachable {
                server: self.server.to_string(),
                detail: e.to_string(),
            })?;
        let resp = ipp::parse(&body).map_err(PrintError::Protocol)?;
        if !resp.ok() {
            return Err(PrintError::Refused {
                operation,
                status: resp.status,
                message: resp.message(),
            });
        }
        Ok(resp)
    }

    fn request(&self, op: u16) -> Request {
        let mut r = Request::new(op, REQUEST_ID.fetch_add(1, Ordering::Relaxed));
        r.name("requesting-user-name", &self.user);
        r
    }

    fn printer_uri(name: &str) -> String {
        format!("ipp://localhost/printers/{name}")
    }

    /// Every queue with its state.
    pub fn printers(&self) -> Result<Vec<PrinterStatus>, PrintError> {
        let mut r = self.request(ipp::CUPS_GET_PRINTERS);
        printer_attributes(&mut r);
        let resp = self.call("CUPS-Get-Printers", "/", &r, &[])?;
        Ok(resp
            .groups
            .iter()
            .filter(|g| g.tag == TAG_PRINTER)
            .map(status_of)
            .collect())
    }

    /// The server's default queue, if one is set.
    pub fn default_printer(&self) -> Result<Option<String>, PrintError> {
        let mut r = self.request(ipp::CUPS_GET_DEFAULT);
        r.keyword("requested-attributes", "printer-name");
        match self.call("CUPS-Get-Default", "/", &r, &[]) {
            Ok(resp) => Ok(resp
                .first(TAG_PRINTER)
                .and_then(|g| g.text("printer-name"))
                .map(str::to_string)),
            // client-error-not-found: no default set.
            Err(PrintError::Refused { status: 0x0406, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Picks the queue: the one asked for, else the default, else the only one.
    pub fn pick(&self, wanted: Option<&str>) -> Result<PrinterStatus, PrintError> {
        let all = self.printers()?;
        let names = || all.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        let name = match wanted {
            Some(w) => Some(w.to_string()),
            None => match self.default_printer()? {
                Some(d) => Some(d),
                None if all.len() == 1 => Some(all[0].name.clone()),
                None => None,
            },
        };
        name.and_then(|n| {
            all.iter()
                .find(|p| p.name.eq_ignore_ascii_case(&n))
                .cloned()
        })
        .ok_or_else(|| PrintError::NoPrinter {
            wanted: wanted.map(str::to_string),
            available: names(),
        })
    }

    /// Submits a PDF to a ready printer; refuses, without submitting, when
    /// the printer reports a problem.
    pub fn submit(
        &self,
        printer: &PrinterStatus,
        title: &str,
        pdf: &[u8],
        copies: u32,
    ) -> Result<i32, PrintError> {
        if !printer.problems().is_empty() {
            return Err(PrintError::NotReady(printer.clone()));
        }
        let mut r = self.request(ipp::PRINT_JOB);
        r.uri("printer-uri", &Self::printer_uri(&printer.name));
        r.name("job-name", title);
        r.mime("document-format", "application/pdf");
        r.job_group();
        r.integer("copies", copies.max(1) as i32);
        let path = format!("/printers/{}", printer.name);
        let resp = self.call("Print-Job", &path, &r, pdf)?;
        resp.groups
            .iter()
            .find_map(|g| g.int("job-id"))
            .ok_or_else(|| PrintError::Protocol("Print-Job answered without a job-id".into()))
    }

    /// Where a job stands now.
    pub fn job(&self, printer: &str, job_id: i32) -> Result<JobStatus, PrintError> {
        let mut r = self.request(ipp::GET_JOB_ATTRIBUTES);
        r.uri("printer-uri", &Self::printer_uri(printer));
        r.integer("job-id", job_id);
        r.keyword("requested-attributes", "job-state")
            .also_keyword("job-state-reasons")
            .also_keyword("job-impressions-completed")
            .also_keyword("job-media-sheets-completed")
            .also_keyword("job-printer-state-message");
        let resp = self.call("Get-Job-Attributes", "/jobs", &r, &[])?;
        let g = resp
            .groups
            .iter()
            .find(|g| g.tag == 0x02)
            .ok_or_else(|| PrintError::Protocol("no job attributes".into()))?;
        let pages = g
            .int("job-impressions-completed")
            .or_else(|| g.int("job-media-sheets-completed"))
            .filter(|n| *n > 0)
            .map(|n| n as u32);
        Ok(JobStatus {
            job_id,
            printer: printer.to_string(),
            state: job_state(g.int("job-state").unwrap_or(0)).to_string(),
            reasons: g.texts("job-state-reasons"),
            pages,
            message: g
                .text("job-printer-state-message")
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// Polls the job until it ends, the printer reports a problem while the
    /// job waits, or `timeout` passes; returns the last status and, when the
    /// printer is the reason it stopped waiting, the printer's status.
    pub fn follow(
        &self,
        printer: &str,
        job_id: i32,
        timeout: Duration,
    ) -> Result<(JobStatus, Option<PrinterStatus>), PrintError> {
        let start = Instant::now();
        loop {
            let job = self.job(printer, job_id)?;
            if job.finished() {
                return Ok((job, None));
            }
            let p = self.pick(Some(printer))?;
            if !p.problems().is_empty() || start.elapsed() >= timeout {
                return Ok((job, Some(p)));
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Cancels a job (a clerk gave up on it).
    pub fn cancel(&self, printer: &str, job_id: i32) -> Result<(), PrintError> {
        let mut r = self.request(ipp::CANCEL_JOB);
        r.uri("printer-uri", &Self::printer_uri(printer));
        r.integer("job-id", job_id);
        self.call("Cancel-Job", "/jobs", &r, &[]).map(|_| ())
    }
}

fn printer_attributes(r: &mut Request) {
    r.keyword("requested-attributes", "printer-name")
        .also_keyword("printer-state")
        .also_keyword("printer-state-reasons")
        .also_keyword("printer-state-message")
        .also_keyword("printer-is-accepting-jobs")
        .also_keyword("printer-info");
}

fn status_of(g: &ipp::Group) -> PrinterStatus {
    PrinterStatus {
        name: g.text("printer-name").unwrap_or_default().to_string(),
        state: printer_state(g.int("printer-state").unwrap_or(0)).to_string(),
        accepting: g.bool("printer-is-accepting-jobs").unwrap_or(true),
        reasons: g.texts("printer-state-reasons"),
        message: g
            .text("printer-state-message")
            .unwrap_or_default()
            .to_string(),
        info: g.text("printer-info").unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: &str, accepting: bool, reasons: &[&str]) -> PrinterStatus {
        PrinterStatus {
            name: "p".into(),
            state: state.into(),
            accepting,
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
            message: String::new(),
            info: String::new(),
        }
    }

    #[test]
    fn printer_problems_table() {
        use Problem::*;
        let cases: &[(&str, bool, &[&str], &[Problem])] = &[
            ("idle", true, &["none"], &[]),
            ("processing", true, &["toner-low-report"], &[]),
            ("idle", true, &["media-empty-error"], &[OutOfPaper]),
            ("idle", true, &["media-needed-warning"], &[OutOfPaper]),
            ("idle", true, &["offline-report"], &[Offline]),
            ("stopped", true, &["paused"], &[Stopped]),
            ("idle", false, &["none"], &[NotAccepting]),
            (
                "idle",
                true,
                &["media-jam-error", "cover-open-error"],
                &[PaperJam, CoverOpen],
            ),
            ("idle", true, &["toner-empty-error"], &[OutOfToner]),
            ("idle", true, &["weird-thing-error"], &[Other]),
        ];
        for (state, accepting, reasons, want) in cases {
            assert_eq!(
                status(state, *accepting, reasons).problems(),
                want.to_vec(),
                "{state} {reasons:?}"
            );
        }
    }

    #[test]
    fn unreachable_scheduler_is_named() {
        let cups = Cups::new(Server::Unix("/nonexistent/cups.sock".into()), "t");
        let e = cups.printers().unwrap_err();
        assert!(matches!(e, PrintError::Unreachable { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/cups.sock"));
    }
}
