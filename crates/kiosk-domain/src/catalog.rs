//! The rules catalog: providers, projects, operations, tariffs, checklists,
//! renewal windows and notices, as versioned data.
//!
//! A catalog file is written by an operator or delivered by the central CA;
//! the store keeps every version it was given and hands the active one to
//! the engines here. Nothing in this module knows a price or a document name.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::Rejection;

/// What the applicant came to the counter for (业务类型).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum Operation {
    New,
    Renew,
    Change,
    ReplaceLost,
    ReplaceDamaged,
    Unlock,
    Revoke,
    Upgrade,
}

impl Operation {
    pub const ALL: [Operation; 8] = [
        Operation::New,
        Operation::Renew,
        Operation::Change,
        Operation::ReplaceLost,
        Operation::ReplaceDamaged,
        Operation::Unlock,
        Operation::Revoke,
        Operation::Upgrade,
    ];

    /// The machine name used on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::New => "new",
            Operation::Renew => "renew",
            Operation::Change => "change",
            Operation::ReplaceLost => "replace-lost",
            Operation::ReplaceDamaged => "replace-damaged",
            Operation::Unlock => "unlock",
            Operation::Revoke => "revoke",
            Operation::Upgrade => "upgrade",
        }
    }

    /// The name the counter uses.
    pub fn label_zh(self) -> &'static str {
        match self {
            Operation::New => "证书新办",
            Operation::Renew => "证书更新",
            Operation::Change => "证书信息变更",
            Operation::ReplaceLost => "证书丢失补办",
            Operation::ReplaceDamaged => "证书损坏补办",
            Operation::Unlock => "PIN码解锁",
            Operation::Revoke => "证书吊销",
            Operation::Upgrade => "算法升级",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = Rejection;
    fn from_str(s: &str) -> Result<Self, Rejection> {
        let wanted = s.trim().to_ascii_lowercase();
        Operation::ALL
            .into_iter()
            .find(|op| op.as_str() == wanted)
            .ok_or_else(|| {
                let known: Vec<&str> = Operation::ALL.iter().map(|o| o.as_str()).collect();
                Rejection::field("operation", "业务类型", "unknown_operation")
                    .zh(
                        format!("没有名为“{s}”的业务类型"),
                        format!("请选择其中之一：{}", known.join("、")),
                    )
                    .en(
                        format!("there is no operation named '{s}'"),
                        format!("use one of: {}", known.join(", ")),
                    )
            })
    }
}

/// How the materials reach the station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// The handler brings the papers to the counter (现场办理).
    #[default]
    Counter,
    /// The papers arrive by post (邮寄办理).
    Mail,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Counter => "counter",
            Channel::Mail => "mail",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Channel::Counter => "现场办理",
            Channel::Mail => "邮寄办理",
        }
    }
}

impl FromStr for Channel {
    type Err = Rejection;
    fn from_str(s: &str) -> Result<Self, Rejection> {
        match s.trim().to_ascii_lowercase().as_str() {
            "counter" => Ok(Channel::Counter),
            "mail" => Ok(Channel::Mail),
            _ => Err(Rejection::field("channel", "办理方式", "unknown_channel")
                .zh(
                    format!("没有名为“{s}”的办理方式"),
                    "请选择 counter（现场办理）或 mail（邮寄办理）",
                )
                .en(
                    format!("there is no channel named '{s}'"),
                    "use counter or mail",
                )),
        }
    }
}

/// The whole rule set at one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Monotonic version; a station only moves forward.
    pub version: u64,
    /// The first day (station time) on which this version applies.
    pub effective_date: NaiveDate,
    /// Free text: who published it and why.
    #[serde(default)]
    pub description: String,
    /// Renewal rules for providers that do not set their own.
    pub renewal: RenewalWindow,
    pub providers: Vec<Provider>,
    #[serde(default)]
    pub tariffs: Vec<Tariff>,
    #[serde(default)]
    pub checklist_items: Vec<ChecklistItem>,
    #[serde(default)]
    pub notices: Vec<Notice>,
    /// How each provider's certificates are made; a provider without one
    /// gets [`IssuanceProfile::default_for`].
    #[serde(default)]
    pub profiles: Vec<IssuanceProfile>,
    /// USB key models the station recognises by their ATR.
    #[serde(default)]
    pub key_models: Vec<KeyModel>,
    /// How long the station keeps personal data.
    #[serde(default)]
    pub retention: Retention,
}

/// How long the station keeps an order's personal data (ID numbers,
/// phones, addresses, scans): `personal_data_days` after the order ended
/// and the central acknowledged every record of it. A catalog without the
/// table keeps them [`Retention::DEFAULT_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub personal_data_days: u32,
}

impl Retention {
    pub const DEFAULT_DAYS: u32 = 30;
    /// The longest a catalog may set: the station is not the CA's archive.
    pub const MAX_DAYS: u32 = 365;
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            personal_data_days: Retention::DEFAULT_DAYS,
        }
    }
}

/// A model of USB key (介质型号).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyModel {
    pub id: String,
    pub name: String,
    /// Leading bytes of the card's ATR, lower-case hex; empty for tokens
    /// that have no reader (software tokens).
    #[serde(default)]
    pub atr_prefix: String,
    /// The model string its PKCS#11 token reports.
    #[serde(default)]
    pub pkcs11_model: String,
    /// Whether an algorithm upgrade can be done on the key itself.
    #[serde(default)]
    pub upgrade_in_place: bool,
    /// The vendor mechanism set through which the key does SM2 (an id of
    /// `kiosk-keys`' `sm2-mechanisms.toml`); none for a key without SM2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm2_mechanisms: Option<String>,
}

/// Where the company's USCC goes in the certificate subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UsccAttribute {
    /// serialNumber (2.5.4.5)
    SerialNumber,
    /// stateOrProvinceName (2.5.4.8), as 东方中讯's certificates carry it.
    State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    EcP256,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// SM2 with SM3withSM2 signatures (GM/T 0003, GM/T 0015).
    Sm2,
}

/// How a provider's certificates are made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuanceProfile {
    pub provider: String,
    pub key_algorithm: KeyAlgorithm,
    pub uscc_attribute: UsccAttribute,
    /// CRL distribution point written into every certificate: the address
    /// where the central serves the issuing station's own CRL, with
    /// `{station}` standing for the station's id.
    pub crl_url: String,
    /// Authority Information Access (caIssuers) written into every
    /// certificate: where the issuing station's CA certificate is, with
    /// `{station}` standing for the station's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_issuers_url: Option<String>,
    #[serde(default = "default_key_usage")]
    pub key_usage: Vec<KeyUsage>,
    #[serde(default = "default_extended_key_usage")]
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyUsage {
    DigitalSignature,
    NonRepudiation,
    KeyEncipherment,
    DataEncipherment,
    KeyAgreement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExtendedKeyUsage {
    ClientAuth,
    EmailProtection,
    CodeSigning,
}

fn default_key_usage() -> Vec<KeyUsage> {
    vec![
        KeyUsage::DigitalSignature,
        KeyUsage::NonRepudiation,
        KeyUsage::KeyAgreement,
    ]
}

fn default_extended_key_usage() -> Vec<ExtendedKeyUsage> {
    vec![
        ExtendedKeyUsage::ClientAuth,
        ExtendedKeyUsage::EmailProtection,
    ]
}

/// Stands for the issuing station's id in a profile's addresses.
pub const STATION_PLACEHOLDER: &str = "{station}";

/// The largest amount one tariff line may name: 1,000,000 yuan. Far above
/// any counter price, and small enough that a line times the years it is
/// bought for, summed over a bill, never leaves an i64.
pub const MAX_AMOUNT_FEN: i64 = 100_000_000;

/// The most years a renewal window may name: a certificate lives a few
/// years, and the calendar arithmetic stays far inside chrono's range.
pub const MAX_RENEWAL_YEARS: u32 = 10;

impl IssuanceProfile {
    /// The CRL distribution point of certificates this station issues.
    pub fn crl_url_for(&self, station: &str) -> String {
        self.crl_url.replace(STATION_PLACEHOLDER, station)
    }

    /// The caIssuers address of certificates this station issues.
    pub fn ca_issuers_url_for(&self, station: &str) -> Option<String> {
        self.ca_issuers_url
            .as_ref()
            .map(|u| u.replace(STATION_PLACEHOLDER, station))
    }

    pub fn default_for(provider: &str) -> IssuanceProfile {
        IssuanceProfile {
            provider: provider.to_string(),
            key_algorithm: KeyAlgorithm::EcP256,
            uscc_attribute: UsccAttribute::SerialNumber,
            crl_url: "http://crl.kiosk-station.invalid/crl/{station}.crl".to_string(),
            ca_issuers_url: None,
            key_usage: default_key_usage(),
            extended_key_usage: default_extended_key_usage(),
        }
    }
}

/// A CA provider that the station serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub id: String,
    pub name: String,
    /// Where the rules come from (seed document reference).
    #[serde(default)]
    pub source: String,
    /// The operations this provider offers at the counter.
    pub offers: Vec<Operation>,
    #[serde(default)]
    pub projects: Vec<Project>,
    /// Overrides the catalog-wide renewal rules.
    #[serde(default)]
    pub renewal: Option<RenewalWindow>,
    /// The certificates (PEM) of the provider's roots and issuing CAs: a
    /// certificate brought to the counter on a key, issued before this
    /// station or elsewhere, is taken as the provider's only when it chains
    /// to a root among them. Empty: only certificates this station issued
    /// are taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anchors: Vec<String>,
}

impl Provider {
    /// Finds one of this provider's projects.
    pub fn project(&self, id: &str) -> Result<&Project, Rejection> {
        self.projects.iter().find(|x| x.id == id).ok_or_else(|| {
            Rejection::field("project", "证书应用项目", "unknown_project")
                .zh(
                    format!("{}没有编号为“{id}”的项目", self.name),
                    "请从列表中选择证书应用项目",
                )
                .en(
                    format!("{} has no project '{id}'", self.id),
                    "pick a project from the list",
                )
        })
    }
}

/// A certificate application project (证书应用项目) of a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub category: String,
    /// Social-security projects need 单位社保号 on the application form.
    #[serde(default)]
    pub needs_social_security_no: bool,
}

/// When and how far a certificate may be renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewalWindow {
    /// Renewal opens when fewer than this many days remain.
    pub open_days_before_expiry: u32,
    /// Self-service renewal stays open this many days after expiry; beyond
    /// it the materials are reviewed again.
    pub grace_days_after_expiry: u32,
    /// Validity bought by one renewal year.
    #[serde(default = "one")]
    pub years_per_renewal: u32,
    /// The most years one renewal may buy.
    pub max_years: u32,
}

fn one() -> u32 {
    1
}

/// How a tariff line is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Once per order (元/套, or a flat service).
    PerSet,
    /// Times the number of years bought (元/年).
    PerYear,
    /// Per key handed out (元/个).
    PerKey,
}

/// Whether a line pays for the service or for the key (介质) itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineKind {
    Service,
    Media,
}

/// What kind of damage the clerk found on a returned key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// A quality fault of the medium: light off, light blinking forever,
    /// or the tool cannot see the certificate ([004] 损坏补办).
    Quality,
    /// Anything else: broken by the user, lost, water.
    Other,
}

impl FromStr for Fault {
    type Err = Rejection;
    fn from_str(s: &str) -> Result<Self, Rejection> {
        match s.trim().to_ascii_lowercase().as_str() {
            "quality" => Ok(Fault::Quality),
            "other" => Ok(Fault::Other),
            _ => Err(Rejection::field("fault", "损坏原因", "unknown_fault")
                .zh(
                    format!("没有名为“{s}”的损坏原因"),
                    "请选择 quality（介质质量问题）或 other（人为损坏等其他原因）",
                )
                .en(
                    format!("there is no fault kind named '{s}'"),
                    "use quality or other",
                )),
        }
    }
}

/// A media warranty that waives a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Warranty {
    /// Length of the warranty, counted from the key's first issue date.
    pub months: u32,
    /// Faults that the warranty covers.
    pub covers: Fault,
}

/// One priced line of an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    pub provider: String,
    /// When set, applies only to this project and wins over the provider's line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub operation: Operation,
    /// Line identifier, unique within (provider, project, operation).
    pub item: String,
    /// The line as the receipt prints it.
    pub label: String,
    pub kind: LineKind,
    pub basis: Basis,
    /// Unit amount in fen. `None` means the seeds are silent and an operator
    /// has to set it before the operation can be charged.
    pub amount_fen: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warranty: Option<Warranty>,
    #[serde(default)]
    pub source: String,
}

/// One document on a materials checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecklistItem {
    pub provider: String,
    /// Unique within the provider.
    pub id: String,
    /// The document's name as the seed writes it.
    pub name: String,
    pub copies: u32,
    /// The original must be shown.
    pub original: bool,
    /// A copy must be handed in.
    pub copy: bool,
    /// Must bear the company's red seal (加盖公章).
    pub sealed: bool,
    /// Must be signed and dated by hand.
    pub signed: bool,
    /// Operations that need it at the counter.
    #[serde(default)]
    pub counter: Vec<Operation>,
    /// Operations that need it by post.
    #[serde(default)]
    pub mail: Vec<Operation>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    #[serde(default)]
    pub source: String,
}

impl ChecklistItem {
    pub fn needed_for(&self, operation: Operation, channel: Channel) -> bool {
        match channel {
            Channel::Counter => self.counter.contains(&operation),
            Channel::Mail => self.mail.contains(&operation),
        }
    }
}

/// A warning the applicant must see before an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// Provider id, or `*` for every provider.
    pub provider: String,
    pub operations: Vec<Operation>,
    pub id: String,
    pub zh: String,
    #[serde(default)]
    pub en: String,
    #[serde(default)]
    pub source: String,
}

impl Catalog {
    /// Parses a catalog file (TOML) and checks that it is consistent.
    pub fn from_toml(text: &str) -> Result<Catalog, Rejection> {
        let catalog: Catalog = toml_like::parse(text)?;
        catalog.check()?;
        Ok(catalog)
    }

    /// Finds a provider by id, with a refusal the counter can read.
    pub fn provider(&self, id: &str) -> Result<&Provider, Rejection> {
        let wanted = id.trim().to_ascii_lowercase();
        self.providers
            .iter()
            .find(|p| p.id == wanted)
            .ok_or_else(|| {
                let known: Vec<&str> = self.providers.iter().map(|p| p.id.as_str()).collect();
                Rejection::field("provider", "CA机构", "unknown_provider")
                    .zh(
                        format!("本站没有编号为“{id}”的CA机构"),
                        format!("请选择其中之一：{}", known.join("、")),
                    )
                    .en(
                        format!("this station has no provider '{id}'"),
                        format!("use one of: {}", known.join(", ")),
                    )
            })
    }

    /// The provider, refusing an operation it does not offer at the counter.
    pub fn offering(&self, provider: &str, operation: Operation) -> Result<&Provider, Rejection> {
        let p = self.provider(provider)?;
        if p.offers.contains(&operation) {
            return Ok(p);
        }
        let offered: Vec<&str> = p.offers.iter().map(|o| o.label_zh()).collect();
        let offered_en: Vec<&str> = p.offers.iter().map(|o| o.as_str()).collect();
        Err(Rejection::field("operation", "业务类型", "not_offered")
            .zh(
                format!("{}在本站不办理{}", p.name, operation.label_zh()),
                format!("本站可为{}办理：{}", p.name, offered.join("、")),
            )
            .en(
                format!("{} does not offer {} at this counter", p.id, operation),
                format!("offered: {}", offered_en.join(", ")),
            ))
    }

    /// The key model whose ATR prefix is the longest match for `atr`.
    pub fn key_model_for_atr(&self, atr: &str) -> Option<&KeyModel> {
        let atr = atr.to_ascii_lowercase();
        self.key_models
            .iter()
            .filter(|m| {
                !m.atr_prefix.is_empty() && atr.starts_with(&m.atr_prefix.to_ascii_lowercase())
            })
            .max_by_key(|m| m.atr_prefix.len())
    }

    /// The issuance profile of a provider.
    pub fn profile(&self, provider: &str) -> IssuanceProfile {
        self.profiles
            .iter()
            .find(|p| p.provider == provider)
            .cloned()
            .unwrap_or_else(|| IssuanceProfile::default_for(provider))
    }

    /// Renewal rules for a provider.
    pub fn renewal_window(&self, provider: &Provider) -> RenewalWindow {
        provider.renewal.unwrap_or(self.renewal)
    }

    /// The checklist for an operation, in catalog order.
    pub fn checklist(
        &self,
        provider: &str,
        operation: Operation,
        channel: Channel,
    ) -> Result<Vec<&ChecklistItem>, Rejection> {
        let p = self.offering(provider, operation)?;
        let items: Vec<&ChecklistItem> = self
            .checklist_items
            .iter()
            .filter(|i| i.provider == p.id && i.needed_for(operation, channel))
            .collect();
        if items.is_empty() && channel == Channel::Mail {
            return Err(
                Rejection::field("channel", "办理方式", "channel_not_offered")
                    .zh(
                        format!("{}的{}不接受邮寄办理", p.name, operation.label_zh()),
                        "请携带材料到柜台现场办理",
                    )
                    .en(
                        format!("{} does not take {} by post", p.id, operation),
                        "come to the counter with the materials",
                    ),
            );
        }
        Ok(items)
    }

    /// Notices the applicant must read before an operation.
    pub fn notices(&self, provider: &str, operation: Operation) -> Vec<&Notice> {
        self.notices
            .iter()
            .filter(|n| {
                (n.provider == "*" || n.provider == provider) && n.operations.contains(&operation)
            })
            .collect()
    }

    /// The tariff lines that apply, project lines replacing provider lines
    /// with the same item.
    pub fn tariff_lines(
        &self,
        provider: &str,
        project: Option<&str>,
        operation: Operation,
    ) -> Vec<&Tariff> {
        let mut lines: Vec<&Tariff> = self
            .tariffs
            .iter()
            .filter(|t| t.provider == provider && t.operation == operation && t.project.is_none())
            .collect();
        if let Some(project) = project {
            for t in self.tariffs.iter().filter(|t| {
                t.provider == provider
                    && t.operation == operation
                    && t.project.as_deref() == Some(project)
            }) {
                match lines.iter_mut().find(|l| l.item == t.item) {
                    Some(slot) => *slot = t,
                    None => lines.push(t),
                }
            }
        }
        lines
    }

    /// Sets the amount of one existing tariff line (an operator's override).
    pub fn set_tariff(
        &mut self,
        provider: &str,
        project: Option<&str>,
        operation: Operation,
        item: &str,
        amount_fen: i64,
    ) -> Result<(), Rejection> {
        if amount_fen > MAX_AMOUNT_FEN {
            return Err(Rejection::field("amount_fen", "金额", "too_large")
                .zh(
                    format!("金额 {amount_fen} 分超过上限 {MAX_AMOUNT_FEN} 分"),
                    "请核对金额（单位：分）",
                )
                .en(
                    format!("the amount is over the limit of {MAX_AMOUNT_FEN} fen"),
                    "check the amount (in fen)",
                ));
        }
        if amount_fen < 0 {
            return Err(Rejection::field("amount_fen", "金额", "negative")
                .zh(
                    format!("金额 {amount_fen} 分为负数"),
                    "请填写不小于 0 的整数金额（单位：分）",
                )
                .en(
                    "the amount is negative",
                    "give a whole number of fen, 0 or more",
                ));
        }
        let p = self.offering(provider, operation)?.id.clone();
        let line = self.tariffs.iter_mut().find(|t| {
            t.provider == p
                && t.operation == operation
                && t.item == item
                && t.project.as_deref() == project
        });
        match line {
            Some(t) => {
                t.amount_fen = Some(amount_fen);
                Ok(())
            }
            None => {
                let items: Vec<String> = self
                    .tariffs
                    .iter()
                    .filter(|t| t.provider == p && t.operation == operation)
                    .map(|t| t.item.clone())
                    .collect();
                Err(Rejection::field("item", "收费项", "unknown_item")
                    .zh(
                        format!("{p} {operation} 没有收费项“{item}”"),
                        format!("请选择已有的收费项：{}", items.join("、")),
                    )
                    .en(
                        format!("{p} {operation} has no tariff line '{item}'"),
                        format!("use one of: {}", items.join(", ")),
                    ))
            }
        }
    }

    /// Refuses a catalog whose parts do not fit together, so that a bad file
    /// never replaces a good one.
    pub fn check(&self) -> Result<(), Rejection> {
        let bad = |what: String| {
            Rejection::field("catalog", "规则目录", "inconsistent")
                .zh(
                    format!("目录内容不一致：{what}"),
                    "请修正目录文件后重新导入",
                )
                .en(
                    format!("the catalog is inconsistent: {what}"),
                    "fix the catalog file and import it again",
                )
        };
        if self.retention.personal_data_days > Retention::MAX_DAYS {
            return Err(bad(format!(
                "个人信息保存期限 {} 天超过上限 {} 天（本站不是认证机构的档案库）",
                self.retention.personal_data_days,
                Retention::MAX_DAYS
            )));
        }
        let mut ids = std::collections::BTreeSet::new();
        for p in &self.providers {
            if !ids.insert(p.id.as_str()) {
                return Err(bad(format!("CA机构“{}”重复", p.id)));
            }
        }
        for t in &self.tariffs {
            let p = self
                .providers
                .iter()
                .find(|p| p.id == t.provider)
                .ok_or_else(|| {
                    bad(format!(
                        "收费项“{}”属于不存在的机构“{}”",
                        t.item, t.provider
                    ))
                })?;
            if !p.offers.contains(&t.operation) {
                return Err(bad(format!(
                    "{}不办理{}，却有收费项“{}”",
                    p.id, t.operation, t.item
                )));
            }
            if let Some(project) = &t.project {
                if !p.projects.iter().any(|x| &x.id == project) {
                    return Err(bad(format!(
                        "收费项“{}”指向不存在的项目“{project}”",
                        t.item
                    )));
                }
            }
            if t.amount_fen.is_some_and(|a| a < 0) {
                return Err(bad(format!("收费项“{}”金额为负", t.item)));
            }
            if t.amount_fen.is_some_and(|a| a > MAX_AMOUNT_FEN) {
                return Err(bad(format!(
                    "收费项“{}”金额超过上限 {MAX_AMOUNT_FEN} 分",
                    t.item
                )));
            }
            let same = self
                .tariffs
                .iter()
                .filter(|o| {
                    o.provider == t.provider
                        && o.project == t.project
                        && o.operation == t.operation
                        && o.item == t.item
                })
                .count();
            if same > 1 {
                return Err(bad(format!(
                    "{} {} 的收费项“{}”重复",
                    t.provider, t.operation, t.item
                )));
            }
        }
        for p in &self.providers {
            for op in &p.offers {
                if !self
                    .tariffs
                    .iter()
                    .any(|t| t.provider == p.id && t.operation == *op)
                {
                    return Err(bad(format!(
                        "{}办理{}，但没有收费项（免费也要写 0）",
                        p.id, op
                    )));
                }
            }
        }
        for p in &self.profiles {
            // Every station signs its own CRL: an address without the
            // station in it would send relying parties to another's.
            let per_station = |u: &str| u.starts_with("http://") && u.contains(STATION_PLACEHOLDER);
            if !per_station(&p.crl_url) {
                return Err(bad(format!(
                    "{} 的CRL发布地址“{}”须为 http:// 地址并含 {STATION_PLACEHOLDER}（每个工作站发布自己的CRL）",
                    p.provider, p.crl_url
                )));
            }
            // RFC 5280 4.2.1.3 with the key: an RSA key does not agree keys,
            // an EC key does not encipher them.
            // An SM2 key is an id-ecPublicKey like P-256 (RFC 5480 3).
            let (wrong, instead) = match p.key_algorithm {
                KeyAlgorithm::Rsa2048 => (KeyUsage::KeyAgreement, "key-encipherment"),
                KeyAlgorithm::EcP256 | KeyAlgorithm::Sm2 => {
                    (KeyUsage::KeyEncipherment, "key-agreement")
                }
            };
            if p.key_usage.contains(&wrong) {
                return Err(bad(format!(
                    "{} 的密钥算法与密钥用法不符：{:?} 密钥不能用于 {wrong:?}，请改为 {instead}",
                    p.provider, p.key_algorithm
                )));
            }
            if let Some(u) = p.ca_issuers_url.as_deref().filter(|u| !per_station(u)) {
                return Err(bad(format!(
                    "{} 的签发CA证书地址“{u}”须为 http:// 地址并含 {STATION_PLACEHOLDER}",
                    p.provider
                )));
            }
        }
        for i in &self.checklist_items {
            let p = self
                .providers
                .iter()
                .find(|p| p.id == i.provider)
                .ok_or_else(|| bad(format!("材料“{}”属于不存在的机构“{}”", i.name, i.provider)))?;
            if let Some(op) = i
                .counter
                .iter()
                .chain(&i.mail)
                .find(|op| !p.offers.contains(op))
            {
                return Err(bad(format!("材料“{}”用于{}不办理的{}", i.name, p.id, op)));
            }
            if i.copies == 0 || !(i.original || i.copy) {
                return Err(bad(format!(
                    "材料“{}”既无原件也无复印件，或份数为 0",
                    i.name
                )));
            }
        }
        let windows =
            std::iter::once(self.renewal).chain(self.providers.iter().filter_map(|p| p.renewal));
        for w in windows {
            if w.max_years == 0 || w.years_per_renewal == 0 {
                return Err(bad("续期年限不能为 0".into()));
            }
            if w.max_years > MAX_RENEWAL_YEARS || w.years_per_renewal > MAX_RENEWAL_YEARS {
                return Err(bad(format!("续期年限超过上限 {MAX_RENEWAL_YEARS} 年")));
            }
        }
        Ok(())
    }
}

/// TOML parsing lives behind one function so that the domain crate's public
/// surface does not depend on the parser.
mod toml_like {
    use crate::Rejection;

    pub fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Rejection> {
        toml::from_str(text).map_err(|e| {
            let msg = e.message().to_string();
            Rejection::field("catalog", "规则目录", "malformed")
                .zh(
                    format!("目录文件无法解析：{msg}"),
                    "请检查文件格式（TOML）后重新导入",
                )
                .en(
                    format!("the catalog file cannot be parsed: {msg}"),
                    "check the file (TOML) and import it again",
                )
        })
    }
}
