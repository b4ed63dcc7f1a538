use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};
use kiosk_app::domain::RevocationReason;

#[derive(Debug, Parser)]
#[command(
    name = "kioskctl",
    version,
    about = "CA 服务柜台工作站命令行 · CA service counter station CLI"
)]
pub struct Cli {
    /// Print one JSON object on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Data directory (else KIOSK_DATA_DIR, else the XDG data directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The date the rules apply on (YYYY-MM-DD); the station clock otherwise.
    #[arg(long, global = true, value_name = "YYYY-MM-DD")]
    pub today: Option<NaiveDate>,
    /// A supervisor, not the logged-in account, who approves a privileged
    /// change (cert revoke, catalog import and set-tariff, clerk add and
    /// deactivate) by typing their own password.
    #[arg(long, global = true, value_name = "ID")]
    pub approver: Option<String>,
    /// Read the approver's password from the first line of stdin instead
    /// of the terminal.
    #[arg(long, global = true)]
    pub approver_stdin: bool,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Open a session as --clerk ID (password from the terminal, or with
    /// --password-stdin from stdin); it ends after the console's idle time.
    /// Every change is made by the session's clerk.
    Login {
        #[arg(long, value_name = "ID")]
        clerk: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// End this user's session at this station.
    Logout,
    /// Fee of an operation, with its lines and reasons.
    Fee(FeeArgs),
    /// Materials checklist of an operation.
    Checklist(ChecklistArgs),
    /// Whether a certificate can be renewed, and the validity it would get.
    Renewal(RenewalArgs),
    /// Check one identifier or an image file.
    Validate {
        kind: ValidateKind,
        /// The value (for `image`, the file path).
        value: String,
    },
    /// Orders at the counter.
    #[command(subcommand)]
    Order(OrderCmd),
    /// The tamper-evident audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// The rules catalog.
    #[command(subcommand)]
    Catalog(CatalogCmd),
    /// One scripted counter transaction on the embedded defaults.
    Demo {
        /// The provider of the catalog to run it for (default: the demo
        /// application's, ezca). An SM2 provider's runs on the SM2 test
        /// token and names the SM2 certificate, chain, CRL and seal.
        #[arg(long)]
        provider: Option<String>,
    },
    /// The station's issuing sub-CA.
    #[command(subcommand)]
    Ca(CaCmd),
    /// Blank-key stock.
    #[command(subcommand)]
    Stock(StockCmd),
    /// Keys (PKCS#11 tokens) present at the station.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Sign a fresh CRL of every unexpired certificate this station
    /// revoked (the timer runs it with --if-due).
    Crl {
        /// Only when one is due: a revocation newer than the last CRL, or
        /// its nextUpdate less than two days away.
        #[arg(long)]
        if_due: bool,
    },
    /// Purge the personal data (ID numbers, phones, addresses, scans) of
    /// the orders that ended and that the central acknowledged more than
    /// the catalog's `retention.personal_data_days` ago (a nightly timer
    /// runs it, as the station). Prints what orders keep, encrypted or not.
    Purge,
    /// Sync with the central CA: send the queue, then fetch the catalog,
    /// revocations, review decisions and a renewed station certificate.
    /// Set up by KIOSK_CENTRAL_URL and KIOSK_CENTRAL_CA.
    Sync {
        #[command(subcommand)]
        action: Option<SyncCmd>,
    },
    /// Certificates this station issued.
    #[command(subcommand)]
    Cert(CertCmd),
    /// Draw an order's document as a PDF (application, seal-sheet, authorization, receipt).
    Form(crate::documents_cmd::FormArgs),
    /// Print an order's document through CUPS and follow the job; `--list` shows the printers.
    Print(crate::documents_cmd::PrintArgs),
    /// Scans: attach to a checklist item, list, or open an order from its QR code.
    #[command(subcommand)]
    Scan(crate::documents_cmd::ScanCmd),
    /// The electronic seal cut from the stamped seal sample sheet.
    #[command(subcommand)]
    Seal(crate::documents_cmd::SealCmd),
    /// Clerk accounts of the kiosk app's console.
    #[command(subcommand)]
    Clerk(crate::clerks_cmd::ClerkCmd),
    /// The day report: counts and takings by operation.
    #[command(subcommand)]
    Report(crate::clerks_cmd::ReportCmd),
    /// Encrypted backups of the station (database, files, configuration),
    /// and their restore onto a new data directory.
    #[command(subcommand)]
    Backup(BackupCmd),
}

#[derive(Debug, Subcommand)]
pub enum BackupCmd {
    /// Write a backup into DIR while the station runs, encrypted to the
    /// age public keys in the data directory's backup-recipients.txt.
    Create {
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// Another recipients file (age public keys, one per line).
        #[arg(long, value_name = "FILE")]
        recipients: Option<PathBuf>,
        /// Then remove this station's older backups in DIR beyond the N newest.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        keep: Option<u32>,
    },
    /// Restore a backup into the data directory (--data-dir), which must
    /// hold no station; opened with the operator's age identity file.
    Restore {
        file: PathBuf,
        #[arg(long, value_name = "FILE")]
        identity: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct FeeArgs {
    #[arg(long)]
    pub provider: String,
    #[arg(long)]
    pub operation: String,
    #[arg(long)]
    pub project: Option<String>,
    #[arg(long)]
    pub years: Option<u32>,
    #[arg(long, value_name = "quality|other")]
    pub fault: Option<String>,
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub first_issued: Option<NaiveDate>,
}

#[derive(Debug, Args)]
pub struct ChecklistArgs {
    #[arg(long)]
    pub provider: String,
    #[arg(long)]
    pub operation: String,
    #[arg(long, default_value = "counter", value_name = "counter|mail")]
    pub channel: String,
}

#[derive(Debug, Args)]
pub struct RenewalArgs {
    #[arg(long)]
    pub provider: String,
    /// Last valid day of the current certificate.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub not_after: NaiveDate,
    #[arg(long)]
    pub years: Option<u32>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ValidateKind {
    Uscc,
    Id,
    Phone,
    Mobile,
    Email,
    Image,
}

#[derive(Debug, Subcommand)]
pub enum OrderCmd {
    /// Open an order from an application file (JSON; `-` reads stdin).
    Create { file: PathBuf },
    /// Record the clerk's finding on checklist items.
    Check {
        order: String,
        /// The checklist item id (see `order show`).
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        item: Option<String>,
        /// Apply the status to every item.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum)]
        status: CheckStatusArg,
        #[arg(long)]
        note: Option<String>,
    },
    /// Record the payment (amount must equal the fee).
    Pay {
        order: String,
        #[arg(long, value_enum)]
        method: MethodArg,
        #[arg(long)]
        amount_fen: i64,
        /// Receipt or transaction number (not needed for `free`).
        #[arg(long)]
        receipt: Option<String>,
    },
    /// Move the order on.
    Advance {
        order: String,
        #[arg(value_enum)]
        step: Step,
        /// Required for return, central-return and cancel.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Replace the application of a returned order (JSON file).
    Amend { order: String, file: PathBuf },
    /// Orders, newest first.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One order with its history.
    Show { order: String },
    /// A supervisor approves an unlock or a revocation before it is carried
    /// out: the supervisor's password is read from the terminal, or with
    /// --password-stdin from the first line of stdin; never an argument.
    Approve {
        order: String,
        /// The supervisor's account (not the clerk carrying out the order).
        #[arg(long)]
        supervisor: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Carry out a paid order on a key: write a blank key (new, replacement),
    /// or renew, change, upgrade, unlock or revoke the applicant's key. A new
    /// PIN is asked twice, the current PIN once (terminal, or lines on stdin).
    Run {
        order: String,
        /// Serial of the key: a blank key from stock, or the applicant's key.
        #[arg(long)]
        key: Option<String>,
        /// The approved electronic seal (PNG): new keys, and a seal change.
        #[arg(long)]
        seal: Option<PathBuf>,
        /// Read the PIN lines from stdin.
        #[arg(long)]
        pin_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaCmd {
    /// Make a demo root and the station sub-CA in the station token.
    Init {
        #[arg(long, required = true)]
        demo: bool,
    },
    /// Make the station key pair and a CSR for the central CA.
    Csr {
        /// The SM2 sub-CA's, in the station's SM2 token.
        #[arg(long)]
        sm2: bool,
    },
    /// Install the sub-CA certificate issued by the central CA (PEM).
    Import {
        file: PathBuf,
        /// The SM2 sub-CA's.
        #[arg(long)]
        sm2: bool,
    },
    /// The station CA: validity, last CRL, and what needs acting on.
    Show,
    /// Ask the central for the station's master secret, wrapped for this
    /// station token (a new token: first install, or a replacement).
    MasterRequest,
    /// Unwrap the central's answer into the station token, after checking
    /// it against the check value and the station's audit trail.
    MasterImport { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum StockCmd {
    /// Register a blank key received from the vendor.
    Add {
        #[arg(long)]
        serial: String,
        #[arg(long)]
        model: String,
        #[arg(long, default_value = "")]
        batch: String,
        #[arg(long, value_name = "YYYY-MM-DD")]
        received_on: Option<NaiveDate>,
    },
    /// Every key in stock and what became of it.
    List,
}

#[derive(Debug, Subcommand)]
pub enum CertCmd {
    /// Certificates, newest first.
    List {
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        order: Option<String>,
    },
    /// Certificates of every provider in the central's directory (synced;
    /// works offline), by serial or USCC.
    Find {
        #[arg(long)]
        serial: Option<String>,
        #[arg(long)]
        uscc: Option<String>,
    },
    /// Revoke a certificate and sign a fresh CRL that lists it.
    Revoke {
        serial: String,
        /// RFC 5280 reason: unspecified, key-compromise, affiliation-changed,
        /// superseded, cessation-of-operation, ...
        #[arg(long, default_value = "unspecified")]
        reason: RevocationReason,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Tokens present, with their stock state.
    List,
    /// What a key holds: certificate serial, subject, validity, issuer.
    Show { serial: String },
    /// Change a key's PIN: the current one, then the new one twice
    /// (terminal, or lines on stdin).
    PinChange {
        serial: String,
        #[arg(long)]
        pin_stdin: bool,
    },
    /// Wait for keys to be inserted or removed (PC/SC).
    Watch {
        /// Stop after this many events.
        #[arg(long, default_value_t = 1)]
        events: usize,
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CheckStatusArg {
    Ok,
    Missing,
    Rejected,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Cash,
    Wechat,
    Alipay,
    BankCard,
    Free,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Step {
    Approve,
    Return,
    Resubmit,
    CentralApprove,
    CentralReturn,
    Start,
    Complete,
    Cancel,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check that no audit row was edited, inserted or deleted, that the
    /// orders and outbox records are what the trail vouches for, and that
    /// every seal still holds.
    Verify,
    /// Seal the newest audit row with the station CA's key (the timer
    /// runs it; key work, CRLs and sync seal too).
    Seal,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCmd {
    /// The active catalog, its versions and the operator's overrides.
    Show,
    /// Import a newer catalog file (TOML, or JSON by extension).
    Import { file: PathBuf },
    /// Set the amount of one tariff line.
    SetTariff {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        operation: String,
        #[arg(long)]
        item: String,
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        amount_fen: i64,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SyncCmd {
    /// The last sync and what is still queued, without connecting.
    Status,
}
