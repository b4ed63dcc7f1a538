//! The station: the store, the clock and the rules, behind one handle.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use kiosk_domain::application::Application;
use kiosk_domain::catalog::Tariff;
use kiosk_domain::fee::FeeQuote;
use kiosk_domain::order::{ChecklistEntry, Command, Order, OrderState};
use kiosk_domain::renewal::{RenewalDecision, RenewalMode};
use kiosk_domain::{Catalog, Operation, Rejection};
use kiosk_store::{
    Actor, CatalogSummary, CertRecord, HistoryEntry, ImportOutcome, OrderSummary, StockKey, Store,
    TariffOverride,
};
use serde::Serialize;

use crate::{Acting, AppError, Clock, Rules, Session, EMBEDDED_CATALOG};

/// The database file inside the data directory.
pub const DB_FILE: &str = "station.db";

pub struct Station {
    store: Store,
    clock: Arc<dyn Clock>,
    today: Option<NaiveDate>,
    data_dir: PathBuf,
    /// Told of each key-work journal line while [`Station::run_order`] runs.
    progress: Option<crate::ProgressSink>,
}

/// An order with its history, for `order show` and the clerk console.
#[derive(Debug, Clone, Serialize)]
pub struct OrderView {
    #[serde(flatten)]
    pub order: Order,
    pub state_zh: &'static str,
    pub history: Vec<HistoryEntry>,
    /// See [`Station::revocation_pending_at_central`].
    pub revocation_pending_at_central: bool,
    /// When the order's personal data (ID numbers, phones, addresses,
    /// scans) was purged; its fields are empty since.
    pub personal_data_purged_at: Option<String>,
}

/// What `catalog show` prints.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogView {
    pub active_version: u64,
    pub effective_date: NaiveDate,
    pub description: String,
    pub versions: Vec<CatalogSummary>,
    pub overrides: Vec<TariffOverride>,
    pub tariffs: Vec<TariffRow>,
}

/// A tariff line of the active catalog, and whether an operator set it.
#[derive(Debug, Clone, Serialize)]
pub struct TariffRow {
    #[serde(flatten)]
    pub tariff: Tariff,
    pub overridden: bool,
}

impl Station {
    /// Opens the station in `data_dir`, creating the directory, the database
    /// and the initial catalog on first use, and bringing in the embedded
    /// catalog when it is newer than any the station has.
    pub fn open(data_dir: &Path, clock: Arc<dyn Clock>) -> Result<Station, AppError> {
        fs::create_dir_all(data_dir).map_err(|e| AppError::io(data_dir.display(), e))?;
        let store = Store::open(&data_dir.join(DB_FILE), clock.now())?;
        let mut station = Station {
            store,
            clock,
            today: None,
            data_dir: data_dir.to_path_buf(),
            progress: None,
        };
        // A new binary brings its catalog to stations that only have older
        // ones; a newer catalog from the central CA or an operator stays.
        let embedded = Catalog::from_toml(EMBEDDED_CATALOG)?;
        let newest = station.store.catalogs()?.iter().map(|c| c.version).max();
        if newest.is_none_or(|v| v < embedded.version) {
            let now = station.clock.now();
            station
                .store
                .import_catalog(&Actor::system(), now, &embedded, "embedded")?;
        }
        Ok(station)
    }

    /// Pins "today" for the rules (the `--today` of the CLI).
    pub fn with_today(mut self, today: Option<NaiveDate>) -> Station {
        self.today = today;
        self
    }

    pub fn today(&self) -> NaiveDate {
        self.today.unwrap_or_else(|| self.clock.today())
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The station's id, as the central CA knows it.
    pub fn station_id(&self) -> &str {
        self.store.station_id()
    }

    /// The blank keys in stock and those handed out.
    pub fn stock(&self) -> Result<Vec<StockKey>, AppError> {
        Ok(self.store.stock()?)
    }

    /// One key of the stock, by its serial.
    pub fn stock_key(&self, serial: &str) -> Result<Option<StockKey>, AppError> {
        Ok(self.store.stock_key(serial)?)
    }

    /// Certificates this station knows, of a key and/or an order.
    pub fn certificates(
        &self,
        key_serial: Option<&str>,
        order_key: Option<&str>,
    ) -> Result<Vec<CertRecord>, AppError> {
        let order_id = order_key
            .map(|k| self.find_order(k).map(|o| o.id))
            .transpose()?;
        Ok(self.store.certificates(key_serial, order_id.as_deref())?)
    }

    pub(crate) fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Installs (or removes) the sink told of each key-work step; returns
    /// the one it replaces.
    pub(crate) fn set_progress(
        &mut self,
        sink: Option<crate::ProgressSink>,
    ) -> Option<crate::ProgressSink> {
        std::mem::replace(&mut self.progress, sink)
    }

    pub(crate) fn tell_progress(&mut self, p: &crate::StepProgress) {
        if let Some(sink) = self.progress.as_mut() {
            sink(p);
        }
    }

    pub(crate) fn clock_handle(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The station clock's instant.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The rules in force today, overrides applied.
    pub fn rules(&self) -> Result<Rules, AppError> {
        let today = self.today();
        match self.store.active_catalog(today)? {
            Some(c) => Ok(Rules::from_catalog(c, today)),
            None => Rules::embedded(today),
        }
    }

    // ------------------------------------------------------------ orders

    /// Takes in an application (JSON) at the counter and opens an order
    /// for it. Nothing is written unless every field passes.
    pub fn create_order(
        &mut self,
        application_json: &str,
        by: &Session,
    ) -> Result<Order, AppError> {
        self.create_order_as(application_json, &Actor::clerk(by.clerk_id()))
    }

    /// Takes in the application an applicant filled in at the touchscreen.
    pub fn submit_at_kiosk(&mut self, application_json: &str) -> Result<Order, AppError> {
        self.create_order_as(application_json, &Actor::clerk(crate::KIOSK_ACTOR))
    }

    fn create_order_as(
        &mut self,
        application_json: &str,
        actor: &Actor,
    ) -> Result<Order, AppError> {
        let rules = self.rules()?;
        let (application, checklist, fee, renewal) = self.assess(&rules, application_json)?;
        let certificate_unknown = self.certificate_unknown(&application)?;
        let now = self.clock.now();
        let order = Order {
            id: kiosk_store::new_id(now),
            number: String::new(),
            state: OrderState::PendingReview,
            application,
            checklist,
            fee,
            renewal,
            certificate_unknown,
            payment: None,
            reason: None,
            created_at: now,
            updated_at: now,
            revision: 1,
        };
        Ok(self.store.create_order(actor, now, order)?)
    }

    /// Replaces the application of an order under correction.
    pub fn amend_order(
        &mut self,
        key: &str,
        application_json: &str,
        by: &Session,
    ) -> Result<Order, AppError> {
        let rules = self.rules()?;
        let (application, checklist, fee, renewal) = self.assess(&rules, application_json)?;
        let certificate_unknown = self.certificate_unknown(&application)?;
        self.order_command(
            key,
            Command::Amend {
                application: Box::new(application),
                checklist,
                fee,
                renewal,
                certificate_unknown,
            },
            by,
        )
    }

    /// Applies one command to an order and saves it with its outbox and
    /// audit rows, all or nothing.
    pub fn order_command(
        &mut self,
        key: &str,
        cmd: Command,
        by: &Session,
    ) -> Result<Order, AppError> {
        self.order_command_as(key, cmd, &Actor::clerk(by.clerk_id()))
    }

    /// [`Station::order_command`] for any actor (the central CA's decisions).
    pub(crate) fn order_command_as(
        &mut self,
        key: &str,
        cmd: Command,
        actor: &Actor,
    ) -> Result<Order, AppError> {
        let mut order = self.find(key)?;
        let (from_state, from_revision) = (order.state, order.revision);
        let now = self.clock.now();
        order.apply(&cmd, now)?;
        self.store
            .save_transition(actor, now, from_state, from_revision, &order, &cmd)?;
        Ok(order)
    }

    /// The order with its history.
    pub fn order(&self, key: &str) -> Result<OrderView, AppError> {
        let order = self.find(key)?;
        Ok(OrderView {
            state_zh: order.state.label_zh(),
            history: self.store.order_history(&order.id)?,
            revocation_pending_at_central: self.revocation_pending_at_central(&order)?,
            personal_data_purged_at: self.personal_data_purged_at(&order.id)?,
            order,
        })
    }

    pub fn list_orders(
        &self,
        state: Option<OrderState>,
        limit: u32,
    ) -> Result<Vec<OrderSummary>, AppError> {
        Ok(self.store.list_orders(state, limit)?)
    }

    /// The order alone, without its history.
    pub(crate) fn find_order(&self, key: &str) -> Result<Order, AppError> {
        self.find(key)
    }

    fn find(&self, key: &str) -> Result<Order, AppError> {
        self.store.order(key)?.ok_or_else(|| AppError::NotFound {
            what: "订单",
            key: key.to_string(),
        })
    }

    // ------------------------------------------------------------ sync

    /// The last sync with the central CA and what is still queued.
    /// Offline is the normal state: an old `last_success_at` is not an error.
    pub fn sync_status(&self) -> Result<kiosk_store::SyncState, AppError> {
        Ok(self.store.sync_state()?)
    }

    // ------------------------------------------------------------ catalog

    pub fn catalog_view(&self) -> Result<CatalogView, AppError> {
        let rules = self.rules()?;
        let c = rules.catalog();
        let overrides = self.store.tariff_overrides()?;
        let tariffs = c
            .tariffs
            .iter()
            .map(|t| TariffRow {
                overridden: overrides.iter().any(|o| {
                    o.provider == t.provider
                        && o.project == t.project
                        && o.operation == t.operation
                        && o.item == t.item
                }),
                tariff: t.clone(),
            })
            .collect();
        Ok(CatalogView {
            active_version: c.version,
            effective_date: c.effective_date,
            description: c.description.clone(),
            versions: self.store.catalogs()?,
            overrides,
            tariffs,
        })
    }

    /// Imports a catalog file (TOML, or JSON by its `.json` extension): a
    /// clerk with another account's approval does it, since the catalog
    /// sets fees, validity and what goes into certificates.
    pub fn import_catalog(&mut self, path: &Path, by: &Acting) -> Result<ImportOutcome, AppError> {
        let text = fs::read_to_string(path).map_err(|e| AppError::io(path.display(), e))?;
        let catalog = if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            let c: Catalog = serde_json::from_str(&text).map_err(|e| {
                Rejection::field("catalog", "规则目录", "malformed")
                    .zh(
                        format!("目录文件无法解析：{e}"),
                        "请检查文件格式（JSON）后重新导入",
                    )
                    .en(
                        format!("the catalog file cannot be parsed: {e}"),
                        "check the file (JSON) and import it again",
                    )
            })?;
            c.check()?;
            c
        } else {
            Catalog::from_toml(&text)?
        };
        crate::check_catalog(&catalog)?;
        let actor = Actor::clerk(&by.actor());
        Ok(self.store.import_catalog(
            &actor,
            self.clock.now(),
            &catalog,
            &path.display().to_string(),
        )?)
    }

    /// Sets one tariff line's amount, over whatever catalog is active: a
    /// clerk with another account's approval does it.
    #[allow(clippy::too_many_arguments)]
    pub fn set_tariff(
        &mut self,
        provider: &str,
        project: Option<&str>,
        operation: Operation,
        item: &str,
        amount_fen: i64,
        reason: &str,
        by: &Acting,
    ) -> Result<TariffOverride, AppError> {
        let actor = Actor::clerk(&by.actor());
        let mut catalog = self.rules()?.catalog().clone();
        catalog.set_tariff(provider, project, operation, item, amount_fen)?;
        let o = TariffOverride {
            provider: catalog.provider(provider)?.id.clone(),
            project: project.map(str::to_string),
            operation,
            item: item.to_string(),
            amount_fen,
            set_by: actor.as_str().to_string(),
            set_at: String::new(),
            reason: reason.trim().to_string(),
        };
        self.store
            .set_tariff_override(&actor, self.clock.now(), &o)?;
        Ok(o)
    }
}

/// Checks an application against the rules and works out what the order
/// needs: the canonical application, its checklist, its fee and, for a
/// renewal, its window.
type Assessment = (
    Application,
    Vec<ChecklistEntry>,
    FeeQuote,
    Option<RenewalDecision>,
);

impl Station {
    /// A lost-key replacement or a revocation naming a certificate that
    /// neither this station nor its copy of the central's directory knows
    /// (offline, or issued after the last sync): it goes to central review
    /// instead of being refused at the key work.
    fn certificate_unknown(&self, app: &Application) -> Result<bool, AppError> {
        if !matches!(
            app.operation,
            Operation::ReplaceLost | Operation::ReplaceDamaged | Operation::Revoke
        ) {
            return Ok(false);
        }
        let Some(serial) = app.named_serial() else {
            return Ok(false);
        };
        Ok(self.store.certificate(&serial)?.is_none()
            && self.store.directory_find(Some(&serial), None)?.is_empty())
    }

    /// Parses and checks an application: the certificate it names is read
    /// from the station's record and must be the applicant's.
    fn assess(&self, rules: &Rules, application_json: &str) -> Result<Assessment, AppError> {
        let mut application = Application::from_json(application_json)?;
        self.fill_from_record(&mut application)?;
        let app = application.validate(rules.catalog(), rules.today())?;
        // Whose certificate it is, before what the rules make of its dates.
        self.check_named_certificate(&app)?;
        assess(rules, app)
    }
}

fn assess(rules: &Rules, app: Application) -> Result<Assessment, AppError> {
    let checklist = rules
        .catalog()
        .checklist(&app.provider, app.operation, app.channel)?
        .into_iter()
        .map(ChecklistEntry::from)
        .collect();
    let renewal = match (
        app.operation,
        app.certificate.as_ref().and_then(|c| c.not_after),
    ) {
        (Operation::Renew, Some(not_after)) => {
            let decision = rules.renewal(&app.provider, not_after, app.years)?;
            if decision.mode == RenewalMode::TooEarly {
                return Err(Rejection::field(
                    "certificate.not_after",
                    "原证书到期日",
                    "renewal_too_early",
                )
                .zh(decision.message.clone(), "请在更新窗口开放后再来办理")
                .en(
                    decision.message_en.clone(),
                    "come back when the renewal window opens",
                )
                .into());
            }
            Some(decision)
        }
        _ => None,
    };
    let key = app.key_condition;
    let fee = rules.fee(
        &app.provider,
        app.project.as_deref(),
        app.operation,
        app.years,
        key.and_then(|k| k.fault),
        key.and_then(|k| k.first_issued),
    )?;
    Ok((app, checklist, fee, renewal))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{TimeZone, Utc};
    use kiosk_domain::order::{CheckStatus, Command};

    use crate::{demo, AppError, FixedClock, Station};

    #[test]
    fn two_front_ends_cannot_overwrite_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock(
            Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap(),
        ));
        let mut a = Station::open(dir.path(), clock.clone()).unwrap();
        let mut b = Station::open(dir.path(), clock).unwrap();
        let clerk_a = a.test_clerk("a");
        let order = a.create_order(demo::APPLICATION_JSON, &clerk_a).unwrap();
        assert_eq!(
            order.number, "20261121-0001",
            "numbered by the station's day (UTC+8)"
        );
        let item = order.checklist[0].id.clone();
        // b loads, a saves first, then b's save must be refused.
        let mut stale = b.order(&order.id).unwrap().order;
        a.order_command(
            &order.id,
            Command::Check {
                item: item.clone(),
                status: CheckStatus::Ok,
                note: None,
            },
            &clerk_a,
        )
        .unwrap();
        let cmd = Command::Check {
            item,
            status: CheckStatus::Missing,
            note: None,
        };
        stale.apply(&cmd, Utc::now()).unwrap();
        let err = b.store.save_transition(
            &kiosk_store::Actor::clerk("b"),
            Utc::now(),
            order.state,
            order.revision,
            &stale,
            &cmd,
        );
        let err = AppError::from(err.unwrap_err());
        assert_eq!(err.code(), "conflict");
        assert!(err.message_zh().contains("刷新后重试"));
        assert_eq!(
            b.order(&order.id).unwrap().order.checklist[0].status,
            Some(CheckStatus::Ok)
        );
    }
}
