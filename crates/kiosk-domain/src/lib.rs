//! The rules of a walk-in CA service counter, as pure functions over data.
//!
//! This crate does no I/O and never reads the clock: the date ("today") and
//! the instant of a transition come in as arguments. Rules live in the
//! [`Catalog`], which is data loaded by the store; this crate holds the
//! mechanisms that interpret it.

pub mod application;
pub mod calendar;
pub mod catalog;
pub mod catalog_policy;
pub mod certificate;
pub mod fee;
pub mod order;
pub mod rejection;
pub mod renewal;
pub mod revocation;
pub mod validate;

pub use catalog::{Catalog, Channel, Operation};
pub use rejection::{RefusalEn, RefusalZh, Rejection};
pub use revocation::RevocationReason;

/// The station's civil time zone, stated once: every "today" the rules see is
/// a date in Asia/Shanghai (UTC+8, no daylight saving).
pub const TIME_ZONE: &str = "Asia/Shanghai";

#[cfg(test)]
mod rules_tests;
