//! Printing: what the touchscreen may print, the receipt of a completed order, following a job in CUPS, and what a clerk is told when it fails.

use kiosk_domain::order::OrderState;
use kiosk_domain::Rejection;
use kiosk_forms::print::{Cups, JobStatus, PrintError, PrinterStatus, Problem};
use kiosk_store::PrintJob;

use super::*;
use crate::{AppError, Session, Station};

impl Station {
    // ------------------------------------------------------------ printing

    /// What the touchscreen may print, for the order it just took in: the
    /// application form and the seal sample sheet, while the order still
    /// waits for the counter. Everything else is printed by a clerk.
    pub fn print_for_applicant(
        &mut self,
        key: &str,
        document: Document,
        printer: Option<&str>,
    ) -> Result<PrintOutcome, AppError> {
        if !matches!(document, Document::Application | Document::SealSheet) {
            return Err(Rejection::field("document", "打印文件", "forbidden")
                .zh(
                    "自助屏只能打印申请表和印章采样表",
                    "其他文件请到柜台由受理员打印",
                )
                .en(
                    "the touchscreen prints only the application form and the seal sample sheet",
                    "ask the clerk at the counter to print anything else",
                )
                .into());
        }
        let order = self.find_order(key)?;
        if order.state != OrderState::PendingReview {
            return Err(Rejection::field("order", "订单", "forbidden")
                .zh("该订单已在柜台办理", "请到柜台由受理员补打")
                .en(
                    "the order is already being handled at the counter",
                    "ask the clerk to print it again",
                )
                .into());
        }
        self.print_as(
            &order.id,
            document,
            printer,
            false,
            &Actor::clerk(crate::KIOSK_ACTOR),
        )
    }

    /// Hands the key over: prints the receipt (回执), which exists only for
    /// a completed order.
    pub fn hand_over(
        &mut self,
        key: &str,
        printer: Option<&str>,
        by: &Session,
    ) -> Result<PrintOutcome, AppError> {
        let order = self.find_order(key)?;
        if order.state != OrderState::Completed {
            return Err(Rejection::field("order", "订单状态", "not_completed")
                .zh(
                    format!("订单尚未完成（{}）", order.state.label_zh()),
                    "请先完成制证再交付介质",
                )
                .en(
                    "the order is not completed yet",
                    "finish the key work before handing the key over",
                )
                .into());
        }
        self.print_document(&order.id, Document::Receipt, printer, false, by)
    }

    /// Prints a document on `printer` (else the default or only queue) and
    /// follows the job. Without any printer the PDF is saved and the
    /// outcome says so. Every attempt is recorded; a failed or stuck job
    /// leaves the order untouched and the document can be printed again.
    pub fn print_document(
        &mut self,
        key: &str,
        document: Document,
        printer: Option<&str>,
        save_only: bool,
        by: &Session,
    ) -> Result<PrintOutcome, AppError> {
        self.print_as(
            key,
            document,
            printer,
            save_only,
            &Actor::clerk(by.clerk_id()),
        )
    }

    fn print_as(
        &mut self,
        key: &str,
        document: Document,
        printer: Option<&str>,
        save_only: bool,
        actor: &Actor,
    ) -> Result<PrintOutcome, AppError> {
        let doc = self.render_document(key, document)?;
        let now = self.now();
        let mut job = PrintJob {
            id: kiosk_store::new_id(now),
            order_id: doc.order_id.clone(),
            document: document.as_str().to_string(),
            printer: None,
            cups_job_id: None,
            state: "saved".into(),
            pages: None,
            pdf_sha256: doc.sha256.clone(),
            message: format!("已保存 PDF：{}", doc.path.display()),
            created_at: String::new(),
            updated_at: String::new(),
            created_by: actor.as_str().to_string(),
        };
        let saved = |st: &mut Station, job: PrintJob, status| {
            st.store_mut().add_print_job(actor, now, &job)?;
            Ok(PrintOutcome {
                job,
                path: doc.path.clone(),
                printer_status: status,
            })
        };
        if save_only {
            return saved(self, job, None);
        }
        let cups = Cups::new(Cups::default_server(), actor.as_str());
        let queue = match cups.pick(printer) {
            Ok(q) => q,
            // No print system or no queue at all and none asked for: save.
            Err(PrintError::Unreachable { .. }) | Err(PrintError::NoPrinter { .. })
                if printer.is_none() =>
            {
                job.message = format!(
                    "未连接可用的打印机，已保存 PDF：{}。可用 U 盘拷出打印，或接好打印机后重新打印",
                    doc.path.display()
                );
                return saved(self, job, None);
            }
            Err(e) => {
                job.state = "failed".into();
                job.printer = printer.map(str::to_string);
                let r = print_rejection(&e, &doc, key);
                job.message = r.message_zh();
                self.store_mut().add_print_job(actor, now, &job)?;
                return Err(r.into());
            }
        };
        job.printer = Some(queue.name.clone());
        if !queue.problems().is_empty() {
            job.state = "not-printed".into();
            let r = printer_rejection(&queue, &doc, key);
            job.message = r.message_zh();
            self.store_mut().add_print_job(actor, now, &job)?;
            return Err(r.into());
        }
        let title = format!("{} {}", doc.order_number, document.label_zh());
        let id = match cups.submit(&queue, &title, &doc.pdf, 1) {
            Ok(id) => id,
            Err(e) => {
                job.state = "failed".into();
                let r = print_rejection(&e, &doc, key);
                job.message = r.message_zh();
                self.store_mut().add_print_job(actor, now, &job)?;
                return Err(r.into());
            }
        };
        job.cups_job_id = Some(id);
        job.state = "submitted".into();
        job.message = format!("已送打印机“{}”，任务号 {id}", queue.name);
        self.store_mut().add_print_job(actor, now, &job)?;
        let followed = cups.follow(&queue.name, id, FOLLOW_TIMEOUT);
        let now = self.now();
        let (status, printer_status) = match followed {
            Ok(s) => s,
            Err(e) => {
                job.state = "unknown".into();
                let r = print_rejection(&e, &doc, key);
                job.message = r.message_zh();
                self.store_mut().update_print_job(actor, now, &job)?;
                return Err(r.into());
            }
        };
        job.pages = status.pages;
        let outcome = job_outcome(&status, printer_status.as_ref(), &doc, key);
        match outcome {
            Ok((state, message)) => {
                job.state = state.into();
                job.message = message;
                self.store_mut().update_print_job(actor, now, &job)?;
                Ok(PrintOutcome {
                    job,
                    path: doc.path.clone(),
                    printer_status,
                })
            }
            Err((state, r)) => {
                job.state = state.into();
                job.message = r.message_zh();
                self.store_mut().update_print_job(actor, now, &job)?;
                Err(r.into())
            }
        }
    }

    /// The print jobs recorded for an order.
    pub fn print_jobs(&self, key: &str) -> Result<Vec<PrintJob>, AppError> {
        let order = self.find_order(key)?;
        Ok(self.store().print_jobs(&order.id)?)
    }

    /// The printers CUPS knows, with their state.
    pub fn printers(&self) -> Result<Vec<PrinterStatus>, AppError> {
        let cups = Cups::new(Cups::default_server(), "kiosk");
        cups.printers().map_err(|e| {
            AppError::from(
                Rejection::field("printer", "打印服务", "print_system_down")
                    .zh(
                        format!("无法连接打印服务（CUPS，{}）", cups.server()),
                        "请确认打印服务已启动（cupsd），或设置 CUPS_SERVER 指向它",
                    )
                    .en(e.to_string(), "start cupsd or point CUPS_SERVER at it"),
            )
        })
    }
}

fn reprint_hint(doc: &RenderedDocument, key: &str) -> String {
    format!(
        "文件已保存：{}，订单未受影响，处理后可重新打印（kioskctl print {key} {}）",
        doc.path.display(),
        doc.document.as_str()
    )
}

fn print_rejection(e: &PrintError, doc: &RenderedDocument, key: &str) -> Rejection {
    let hint = reprint_hint(doc, key);
    match e {
        PrintError::Unreachable { server, .. } => {
            Rejection::field("printer", "打印服务", "print_system_down")
                .zh(
                    format!("无法连接打印服务（CUPS，{server}）"),
                    format!("请确认打印服务已启动。{hint}"),
                )
                .en(e.to_string(), "start the print service, then print again")
        }
        PrintError::NoPrinter { wanted, available } => {
            Rejection::field("printer", "打印机", "printer_not_found")
                .zh(
                    match wanted {
                        Some(w) => format!("没有名为“{w}”的打印机"),
                        None => "未设置默认打印机，且有多台打印机".into(),
                    },
                    format!(
                        "可用打印机：{}。请用 --printer 指定。{hint}",
                        if available.is_empty() {
                            "无".into()
                        } else {
                            available.join("、")
                        }
                    ),
                )
                .en(
                    e.to_string(),
                    "name one of the available printers with --printer",
                )
        }
        PrintError::NotReady(status) => printer_rejection(status, doc, key),
        _ => Rejection::field("printer", "打印", "print_failed")
            .zh(format!("打印服务拒绝了打印任务：{e}"), hint)
            .en(e.to_string(), "check the printer and print again"),
    }
}

/// Why a printer cannot print, in the clerk's words.
fn printer_rejection(p: &PrinterStatus, doc: &RenderedDocument, key: &str) -> Rejection {
    let problems = p.problems();
    let first = problems.first().copied().unwrap_or(Problem::Other);
    let (code, zh, what) = match first {
        Problem::OutOfPaper => ("printer_out_of_paper", "缺纸", "请添加 A4 纸"),
        Problem::Offline => ("printer_offline", "离线", "请检查打印机电源和连接线"),
        Problem::Stopped | Problem::NotAccepting => (
            "printer_stopped",
            "已暂停",
            "请在打印管理中恢复该打印机（cupsenable / cupsaccept）",
        ),
        Problem::PaperJam => ("printer_jammed", "卡纸", "请取出卡住的纸张"),
        Problem::OutOfToner => ("printer_no_toner", "墨粉或墨水用完", "请更换耗材"),
        Problem::CoverOpen => ("printer_cover_open", "机盖未关", "请关好机盖"),
        Problem::Other => ("printer_error", "报告故障", "请查看打印机面板"),
    };
    let detail = if p.message.is_empty() {
        p.reasons.join(", ")
    } else {
        p.message.clone()
    };
    Rejection::field("printer", format!("打印机“{}”", p.name), code)
        .zh(
            format!("打印机{zh}，无法打印（{detail}）"),
            format!("{what}。{}", reprint_hint(doc, key)),
        )
        .en(
            format!("printer {} cannot print: {:?} ({detail})", p.name, problems),
            "fix the printer, then print again",
        )
}

/// Sorts a followed job into done, still waiting, or failed.
#[allow(clippy::type_complexity)]
fn job_outcome(
    job: &JobStatus,
    printer: Option<&PrinterStatus>,
    doc: &RenderedDocument,
    key: &str,
) -> Result<(&'static str, String), (&'static str, Rejection)> {
    match job.state.as_str() {
        "completed" => Ok((
            "completed",
            format!(
                "已打印{}：打印机“{}”，任务号 {}",
                job.pages.map(|p| format!(" {p} 页")).unwrap_or_default(),
                job.printer,
                job.job_id
            ),
        )),
        "aborted" | "canceled" => Err((
            "failed",
            Rejection::field(
                "printer",
                format!("打印机“{}”", job.printer),
                "print_failed",
            )
            .zh(
                format!(
                    "打印任务 {} {}（{}）",
                    job.job_id,
                    if job.state == "aborted" {
                        "失败"
                    } else {
                        "已被取消"
                    },
                    if job.message.is_empty() {
                        job.reasons.join(", ")
                    } else {
                        job.message.clone()
                    }
                ),
                reprint_hint(doc, key),
            )
            .en(
                format!("print job {} {}", job.job_id, job.state),
                "print again",
            ),
        )),
        _ => match printer.filter(|p| !p.problems().is_empty()) {
            Some(p) => Err(("waiting", printer_rejection(p, doc, key))),
            None => Ok((
                "waiting",
                format!(
                    "打印任务 {} 仍在打印机“{}”队列中（{}），请稍后查看打印结果",
                    job.job_id, job.printer, job.state
                ),
            )),
        },
    }
}
