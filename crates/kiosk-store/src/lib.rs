//! The station's durable store.
//!
//! One SQLite file in WAL mode with `synchronous = FULL`: a commit that
//! returned is on disk. Every change of business state goes through
//! [`Store::write`], which appends, in the same transaction, a record to the
//! sync outbox and a row to the hash-chained audit trail.

mod audit;
mod audit_key;
mod catalogs;
mod checkpoint;
mod clerks;
mod db;
mod documents;
mod error;
mod journal;
mod keys;
mod orders;
mod personal;
mod seals;
mod sessions;
mod states;
mod sync;

pub use audit::{AuditFinding, AuditReport};
pub use audit_key::{AuditKey, AuditKeyer, EpochKey};
pub use catalogs::{CatalogSummary, ImportOutcome, TariffOverride};
pub use clerks::{Approval, ClerkRow};
pub use db::{snapshot, ts as timestamp, Store, SCHEMA_VERSION};
pub use documents::{Attachment, PrintJob, Seal};
pub use error::StoreError;
pub use journal::{new_id, Actor, OutboxRecord, Writer};
pub use keys::{CaAlgorithm, CertRecord, CrlRecord, JournalEntry, StationCa, StockKey};
pub use orders::{HistoryEntry, OrderSummary};
pub use personal::{PersonalCounts, PersonalKeyer, PersonalState};
pub use sessions::{CliSession, LoginFailures};
pub use states::{CertSource, CertState, SealState, StockState};
pub use sync::{CentralRevocation, RawRecord, SyncState};

mod migrations {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

#[cfg(test)]
mod tests;
