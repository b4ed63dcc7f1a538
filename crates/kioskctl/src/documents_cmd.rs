//! `form`, `print`, `scan` and `seal`: printed documents, scans and the
//! electronic seal. Each subcommand is one call into `kiosk-app`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kiosk_app::{AppError, Document, Station};
use serde_json::json;

use crate::commands::{Open, Output, SignedIn};

#[derive(Debug, Args)]
pub struct FormArgs {
    /// Order id or number.
    pub order: String,
    /// application | seal-sheet | authorization | receipt
    pub document: String,
    /// Also copy the PDF here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PrintArgs {
    /// Order id or number.
    #[arg(required_unless_present = "list")]
    pub order: Option<String>,
    /// application | seal-sheet | authorization | receipt
    #[arg(required_unless_present = "list")]
    pub document: Option<String>,
    /// The CUPS queue; else the default one, else the only one.
    #[arg(long)]
    pub printer: Option<String>,
    /// Only save the PDF (no printer at hand).
    #[arg(long)]
    pub save: bool,
    /// List the printers and their state instead.
    #[arg(long, conflicts_with_all = ["order", "document", "save"])]
    pub list: bool,
}

#[derive(Debug, Subcommand)]
pub enum ScanCmd {
    /// Attach a scan or photo (jpg, jpeg, bmp, gif, png; ≤ 3 MB) to a checklist item.
    Attach {
        order: String,
        /// Checklist item id (see `order show`).
        item: String,
        file: PathBuf,
    },
    /// The scans attached to an order.
    List { order: String },
    /// Open the order a keyboard-wedge scanner read off a form's QR code.
    Code { text: String },
    /// Open the order whose QR code is in a picture.
    Qr { file: PathBuf },
    /// The USCC a business licence's QR code carries: the text the scanner
    /// typed, or a photo of the code (`--file`).
    Licence {
        #[arg(required_unless_present = "file")]
        text: Option<String>,
        #[arg(long, conflicts_with = "text")]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SealCmd {
    /// Cut the red seal out of the scanned seal sample sheet (a transparent PNG).
    Extract {
        order: String,
        /// A particular scan; else the latest scan of the seal sample sheet.
        #[arg(long)]
        attachment: Option<String>,
    },
    /// The clerk looked at the PNG and accepts it for the key.
    Approve { seal: String },
    /// The clerk looked at the PNG and refuses it.
    Reject { seal: String },
    /// The seals extracted for an order.
    List { order: String },
    /// Check a GB/T 38540 electronic seal file: structure, the maker's
    /// SM3withSM2 signature, validity now, the holder certificates, and
    /// that the maker is a trusted CA (exit 1 naming what is wrong).
    Verify {
        #[arg(required_unless_present = "key")]
        file: Option<std::path::PathBuf>,
        /// Check the seal on this key instead of a file.
        #[arg(long, conflicts_with = "file")]
        key: Option<String>,
        /// CA certificates (PEM) to trust for it; else the catalog's
        /// provider anchors (with `--key`: the station's SM2 chain).
        #[arg(long)]
        trusted: Option<std::path::PathBuf>,
    },
}

pub fn form(a: FormArgs, st: Station) -> Result<Output, AppError> {
    let doc: Document = a.document.parse()?;
    let r = st.render_document(&a.order, doc)?;
    if let Some(out) = &a.out {
        std::fs::write(out, &r.pdf).map_err(|e| AppError::io(out.display(), e))?;
    }
    let mut human = format!(
        "已生成{}（订单 {}）：{}",
        r.title,
        r.order_number,
        a.out.as_ref().unwrap_or(&r.path).display()
    );
    if !r.truncated.is_empty() {
        human.push_str(&format!(
            "\n注意：以下内容过长，已截断，请在纸面上核对：{}",
            r.truncated.join("、")
        ));
    }
    Output::ok(&r, human)
}

pub fn print(a: PrintArgs, open: Open<'_>, signed_in: SignedIn<'_>) -> Result<Output, AppError> {
    if a.list {
        let printers = open()?.printers()?;
        let human = printers
            .iter()
            .map(|p| {
                let problems = p.problems();
                format!(
                    "{}  {}{}",
                    p.name,
                    p.state,
                    if problems.is_empty() {
                        String::new()
                    } else {
                        format!("  {:?}", problems)
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        return Output::ok(json!({ "printers": printers }), human);
    }
    let (order, document) = (a.order.unwrap_or_default(), a.document.unwrap_or_default());
    let doc: Document = document.parse()?;
    let (mut st, by) = signed_in()?;
    let out = st.print_document(&order, doc, a.printer.as_deref(), a.save, &by)?;
    let human = out.job.message.clone();
    Output::ok(&out, human)
}

pub fn scan(cmd: ScanCmd, open: Open<'_>, signed_in: SignedIn<'_>) -> Result<Output, AppError> {
    match cmd {
        ScanCmd::Attach { order, item, file } => {
            let (mut st, by) = signed_in()?;
            let a = st.attach_scan(&order, &item, &file, &by)?;
            let mut human = format!(
                "已接收扫描件“{}”（{}×{}），存于 {}",
                a.attachment.file_name,
                a.attachment.width,
                a.attachment.height,
                a.path.display()
            );
            for w in &a.attachment.warnings {
                human.push_str(&format!("\n！{w}"));
            }
            Output::ok(&a, human)
        }
        ScanCmd::List { order } => {
            let list = open()?.attachments(&order)?;
            let human = list
                .iter()
                .map(|a| {
                    format!(
                        "{}  {}  {}  {}",
                        a.attachment.id,
                        a.attachment.item,
                        a.attachment.file_name,
                        a.path.display()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Output::ok(json!({ "attachments": list }), human)
        }
        ScanCmd::Code { text } => {
            let v = open()?.order_from_code(&text)?;
            let human = format!("订单 {}：{}", v.order.number, v.state_zh);
            Output::ok(&v, human)
        }
        ScanCmd::Qr { file } => {
            let v = open()?.order_from_picture(&file)?;
            let human = format!("订单 {}：{}", v.order.number, v.state_zh);
            Output::ok(&v, human)
        }
        ScanCmd::Licence { text, file } => {
            let uscc = match (text, file) {
                (_, Some(file)) => {
                    let bytes =
                        std::fs::read(&file).map_err(|e| AppError::io(file.display(), e))?;
                    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("photo");
                    kiosk_app::licence_uscc_in_picture(name, &bytes)?
                }
                (text, None) => kiosk_app::licence_uscc(text.as_deref().unwrap_or_default())?,
            };
            Output::ok(json!({ "uscc": uscc }), format!("统一社会信用代码：{uscc}"))
        }
    }
}

pub fn seal(
    cmd: SealCmd,
    open: Open<'_>,
    signed_in: SignedIn<'_>,
    rules: &dyn Fn() -> Result<kiosk_app::Rules, AppError>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Output, AppError> {
    if let SealCmd::List { order } = &cmd {
        let list = open()?.seals(order)?;
        let human = list
            .iter()
            .map(|s| format!("{}  {}  {}", s.seal.id, s.seal.status, s.path.display()))
            .collect::<Vec<_>>()
            .join("\n");
        return Output::ok(json!({ "seals": list }), human);
    }
    if let SealCmd::Verify { file, key, trusted } = &cmd {
        let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| AppError::io(p.display(), e));
        let given = trusted
            .as_deref()
            .map(|p| read(p).map(|b| String::from_utf8_lossy(&b).into_owned()))
            .transpose()?;
        let r = match (file, key) {
            (Some(f), _) => rules()?.verify_electronic_seal(&read(f)?, given.as_deref(), now)?,
            (None, Some(k)) => {
                let st = open()?;
                let cfg = st.key_config()?;
                let m = kiosk_app::keys::Module::load(&cfg.module)?;
                st.verify_seal_on_key(&m, &cfg, k, given.as_deref())?
            }
            (None, None) => unreachable!("clap requires a file or --key"),
        };
        let human = format!(
            "电子印章有效：{}（{}），编号 {}，有效期 {} 至 {}\n制章者：{}（信任：{}）\n印章图像：{} {} 字节，{}×{} 毫米",
            r.name,
            r.holders.iter().map(|(s, n)| format!("{s} 序列号 {n}")).collect::<Vec<_>>().join("；"),
            r.seal_id,
            r.valid_from.format("%Y-%m-%d"),
            r.valid_to.format("%Y-%m-%d"),
            r.maker,
            r.trusted_by,
            r.picture_type,
            r.picture_bytes,
            r.width_mm,
            r.height_mm
        );
        return Output::ok(json!({ "ok": true, "seal": r }), human);
    }
    let (mut st, by) = signed_in()?;
    let (view, verb) = match cmd {
        SealCmd::Extract { order, attachment } => (
            st.extract_seal(&order, attachment.as_deref(), &by)?,
            "已提取电子印章，请查看后确认（kioskctl seal approve 编号）",
        ),
        SealCmd::Approve { seal } => (st.decide_seal(None, &seal, true, &by)?, "已确认电子印章"),
        SealCmd::Reject { seal } => (st.decide_seal(None, &seal, false, &by)?, "已退回电子印章"),
        SealCmd::List { .. } | SealCmd::Verify { .. } => unreachable!("answered above"),
    };
    let human = format!(
        "{verb}：{}（{}×{}）\n编号：{}",
        view.path.display(),
        view.seal.width,
        view.seal.height,
        view.seal.id
    );
    Output::ok(&view, human)
}
