//! Read-only rule lookups: fees, checklists, renewal windows.

use std::path::Path;

use chrono::NaiveDate;
use kiosk_domain::catalog::{Fault, Notice};
use kiosk_domain::fee::{quote, FeeQuery, FeeQuote};
use kiosk_domain::order::ChecklistEntry;
use kiosk_domain::renewal::{decide, RenewalDecision};
use kiosk_domain::{Catalog, Channel, Operation};
use kiosk_store::Store;
use serde::Serialize;

use crate::{AppError, DB_FILE, EMBEDDED_CATALOG};

/// The rules in force on one day.
#[derive(Debug, Clone)]
pub struct Rules {
    catalog: Catalog,
    today: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChecklistView {
    pub provider: String,
    pub operation: Operation,
    pub channel: Channel,
    pub items: Vec<ChecklistEntry>,
    pub notices: Vec<Notice>,
    pub catalog_version: u64,
}

impl Rules {
    /// The rules compiled into the binary.
    pub fn embedded(today: NaiveDate) -> Result<Rules, AppError> {
        Ok(Rules {
            catalog: Catalog::from_toml(EMBEDDED_CATALOG)?,
            today,
        })
    }

    /// The station's rules: the active catalog of the database in
    /// `data_dir` (with overrides), or the embedded one when the station has
    /// no database yet. Never writes.
    pub fn load(data_dir: &Path, today: NaiveDate) -> Result<Rules, AppError> {
        match Store::open_read_only(&data_dir.join(DB_FILE))? {
            Some(store) => match store.active_catalog(today)? {
                Some(catalog) => Ok(Rules { catalog, today }),
                None => Rules::embedded(today),
            },
            None => Rules::embedded(today),
        }
    }

    pub fn from_catalog(catalog: Catalog, today: NaiveDate) -> Rules {
        Rules { catalog, today }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn today(&self) -> NaiveDate {
        self.today
    }

    pub fn fee(
        &self,
        provider: &str,
        project: Option<&str>,
        operation: Operation,
        years: Option<u32>,
        fault: Option<Fault>,
        first_issued: Option<NaiveDate>,
    ) -> Result<FeeQuote, AppError> {
        Ok(quote(
            &self.catalog,
            &FeeQuery {
                provider,
                project,
                operation,
                years,
                fault,
                first_issued,
                today: self.today,
            },
        )?)
    }

    pub fn checklist(
        &self,
        provider: &str,
        operation: Operation,
        channel: Channel,
    ) -> Result<ChecklistView, AppError> {
        let items = self.catalog.checklist(provider, operation, channel)?;
        let provider = self.catalog.provider(provider)?.id.clone();
        Ok(ChecklistView {
            items: items.into_iter().map(ChecklistEntry::from).collect(),
            notices: self
                .catalog
                .notices(&provider, operation)
                .into_iter()
                .cloned()
                .collect(),
            provider,
            operation,
            channel,
            catalog_version: self.catalog.version,
        })
    }

    pub fn renewal(
        &self,
        provider: &str,
        not_after: NaiveDate,
        years: Option<u32>,
    ) -> Result<RenewalDecision, AppError> {
        let p = self.catalog.offering(provider, Operation::Renew)?;
        Ok(decide(
            self.catalog.renewal_window(p),
            not_after,
            self.today,
            years,
        )?)
    }
}

/// A reader as the counter sees it: the key in it and its model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReaderView {
    pub reader: String,
    pub card_present: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub atr: Option<String>,
    /// The key model recognised from the ATR (介质型号).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// A key inserted or removed, for the app and `key watch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum KeyEvent {
    Inserted {
        reader: String,
        atr: String,
        model: Option<String>,
    },
    Removed {
        reader: String,
    },
}

impl Rules {
    /// Readers present at the station and the keys in them.
    pub fn readers(&self) -> Result<Vec<ReaderView>, AppError> {
        let readers = kiosk_keys::Readers::connect()?;
        Ok(readers
            .list()?
            .into_iter()
            .map(|r| ReaderView {
                model: r
                    .atr
                    .as_deref()
                    .and_then(|a| self.catalog.key_model_for_atr(a))
                    .map(|m| m.name.clone()),
                reader: r.name,
                card_present: r.card_present,
                atr: r.atr,
            })
            .collect())
    }

    /// Waits for `count` insert/remove events, at most `timeout`.
    pub fn watch_keys(
        &self,
        count: usize,
        timeout: std::time::Duration,
    ) -> Result<Vec<KeyEvent>, AppError> {
        let readers = kiosk_keys::Readers::connect()?;
        Ok(readers
            .watch(count, timeout)?
            .into_iter()
            .map(|e| match e {
                kiosk_keys::CardEvent::Inserted { reader, atr } => KeyEvent::Inserted {
                    model: self.catalog.key_model_for_atr(&atr).map(|m| m.name.clone()),
                    reader,
                    atr,
                },
                kiosk_keys::CardEvent::Removed { reader } => KeyEvent::Removed { reader },
            })
            .collect())
    }
}

/// A provider as the touchscreen offers it: what it does at this counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderView {
    pub id: String,
    pub name: String,
    pub operations: Vec<OperationView>,
    /// The most years one renewal may buy.
    pub max_years: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationView {
    pub operation: Operation,
    pub label: &'static str,
}

impl Rules {
    /// Every provider with the operations it offers at the counter.
    pub fn providers(&self) -> Vec<ProviderView> {
        self.catalog
            .providers
            .iter()
            .map(|p| ProviderView {
                id: p.id.clone(),
                name: p.name.clone(),
                operations: p
                    .offers
                    .iter()
                    .map(|&op| OperationView {
                        operation: op,
                        label: op.label_zh(),
                    })
                    .collect(),
                max_years: self.catalog.renewal_window(p).max_years,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_list_what_they_offer() {
        let rules = Rules::embedded("2026-11-21".parse().unwrap()).unwrap();
        let providers = rules.providers();
        let crc = providers.iter().find(|p| p.id == "crc").unwrap();
        assert_eq!(
            crc.operations,
            [OperationView {
                operation: Operation::Renew,
                label: "证书更新"
            }]
        );
        assert_eq!(crc.max_years, 1);
        assert_eq!(
            providers
                .iter()
                .find(|p| p.id == "bjca")
                .unwrap()
                .operations
                .len(),
            7
        );
    }
}
