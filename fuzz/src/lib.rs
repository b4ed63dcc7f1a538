//! The fuzz targets' bodies, one module per target. Each `run` takes the
//! raw input, calls the code under test and asserts what must hold of its
//! answer; a panic (failed assertion, overflow, out-of-bounds index) is a
//! crash to AFL. The binaries in `src/bin/` wrap them in `afl::fuzz!`.

pub mod application;
pub mod catalog;
pub mod ipp;
pub mod scan;
pub mod validators;

use chrono::NaiveDate;
use kiosk_domain::{Catalog, Rejection};
use std::sync::OnceLock;

/// The catalog the station falls back on when its database has none.
pub const EMBEDDED_CATALOG: &str = include_str!("../../catalog/catalog.toml");

/// The embedded catalog, parsed once per process.
pub fn embedded_catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::from_toml(EMBEDDED_CATALOG).expect("the embedded catalog"))
}

/// The "today" the targets judge dates against.
pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 15).expect("a real date")
}

/// Input that is not UTF-8 is skipped by the string targets.
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A refusal must be addressed and readable: both messages are built (they
/// format values taken from the input) and name something.
pub fn check_rejection(r: &Rejection) {
    assert!(!r.field.is_empty(), "a refusal without a field: {r:?}");
    assert!(!r.code.is_empty(), "a refusal without a code: {r:?}");
    assert!(!r.message_zh().is_empty());
    assert!(!r.message_en().is_empty());
}
