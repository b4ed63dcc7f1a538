//! Inputs on which the fuzz targets in fuzz/ panic, kept as tests of what
//! the rules owe instead: a refusal or a sound result, never a panic.
//!
//! - `scan`: a 175-byte progressive JPEG on which the JPEG decoder
//!   (zune-jpeg 0.5.15, under `image`) fails an assertion inside
//!   `validate::decoded_upload`, in release builds too.
//! - `scan`: a 312-byte baseline JPEG whose DC coefficient times its
//!   quantisation value overflows an i32 in zune-jpeg's decoder; this one
//!   panics only where overflow checks are on (debug builds, tests), and
//!   wraps silently in release builds.
//! - `catalog`: catalogs that `Catalog::check` accepts but whose amounts or
//!   renewal lengths overflow the arithmetic of a fee quote or a renewal
//!   decision; in a release build the same inputs give a wrapped (negative)
//!   bill or an endless loop instead of a panic.
//!
//! The catalog check now refuses such amounts and lengths
//! (`MAX_AMOUNT_FEN`, `MAX_RENEWAL_YEARS`), and the scan intake turns a
//! decoder's panic into a refusal; each test accepts a refusal or a sound
//! result, and would meet the panic again if either guard went away.

use chrono::{Days, NaiveDate};
use kiosk_domain::fee::{quote, FeeQuery};
use kiosk_domain::renewal::decide;
use kiosk_domain::validate::decoded_upload;
use kiosk_domain::{Catalog, Operation};

/// The catalog, if its check takes it; a refusal must be the check's own.
fn catalog(input: &[u8]) -> Option<Catalog> {
    let text = std::str::from_utf8(input).expect("UTF-8");
    match Catalog::from_toml(text) {
        Ok(c) => Some(c),
        Err(r) => {
            assert_eq!(r.code, "inconsistent", "{r:?}");
            None
        }
    }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 15).unwrap()
}

fn fee_query(provider: &str, operation: Operation, years: Option<u32>) -> FeeQuery<'_> {
    FeeQuery {
        provider,
        project: None,
        operation,
        years,
        fault: None,
        first_issued: None,
        today: today(),
    }
}

/// A bill is refused or adds up to a non-negative total.
fn assert_sound_quote(c: &Catalog, q: &FeeQuery<'_>) {
    if let Ok(fee) = quote(c, q) {
        assert!(fee.total_fen >= 0, "negative bill: {fee:?}");
        let sum: i64 = fee.lines.iter().map(|l| l.amount_fen).sum();
        assert_eq!(fee.total_fen, sum);
    }
}

/// fee.rs `price_line`: `unit * quantity` overflows i64 for a per-year line
/// of i64::MAX fen bought for 2 years ("attempt to multiply with overflow").
#[test]
fn per_year_amount_times_years_overflows() {
    const INPUT: &[u8] = b"version = 1
effective_date = \"2026-01-01\"
[renewal]
open_days_before_expiry = 90
grace_days_after_expiry = 365
max_years = 2
[[providers]]
id = \"p\"
name = \"p\"
offers = [\"renew\"]
[[tariffs]]
provider = \"p\"
operation = \"renew\"
item = \"s\"
label = \"s\"
kind = \"service\"
basis = \"per-year\"
amount_fen = 9223372036854775807
";
    let Some(c) = catalog(INPUT) else { return };
    assert_sound_quote(&c, &fee_query("p", Operation::Renew, Some(2)));
}

/// fee.rs `quote`: the total of two lines, i64::MAX and 1 fen, overflows
/// ("attempt to add with overflow" in `Iterator::sum`).
#[test]
fn total_of_lines_overflows() {
    const INPUT: &[u8] = b"version = 1
effective_date = \"2026-01-01\"
[renewal]
open_days_before_expiry = 90
grace_days_after_expiry = 365
max_years = 1
[[providers]]
id = \"p\"
name = \"p\"
offers = [\"new\"]
[[tariffs]]
provider = \"p\"
operation = \"new\"
item = \"a\"
label = \"a\"
kind = \"service\"
basis = \"per-set\"
amount_fen = 9223372036854775807
[[tariffs]]
provider = \"p\"
operation = \"new\"
item = \"b\"
label = \"b\"
kind = \"media\"
basis = \"per-set\"
amount_fen = 1
";
    let Some(c) = catalog(INPUT) else { return };
    assert_sound_quote(&c, &fee_query("p", Operation::New, None));
}

/// calendar.rs `add_months`: a renewal of `max_years` = 4294967295 lands
/// beyond chrono's last year, so no day of that month exists and the loop
/// that steps the day back runs past day 0 ("attempt to subtract with
/// overflow"; without overflow checks it never ends).
#[test]
fn renewal_beyond_the_calendar() {
    const INPUT: &[u8] = b"version = 1
effective_date = \"2026-01-01\"
[renewal]
open_days_before_expiry = 90
grace_days_after_expiry = 365
max_years = 4294967295
[[providers]]
id = \"p\"
name = \"p\"
offers = [\"renew\"]
[[tariffs]]
provider = \"p\"
operation = \"renew\"
item = \"s\"
label = \"s\"
kind = \"service\"
basis = \"per-year\"
amount_fen = 0
";
    let Some(c) = catalog(INPUT) else { return };
    let p = c.offering("p", Operation::Renew).unwrap();
    let not_after = today().checked_add_days(Days::new(30)).unwrap();
    if let Ok(d) = decide(c.renewal_window(p), not_after, today(), Some(u32::MAX)) {
        if let (Some(from), Some(to)) = (d.new_not_before, d.new_not_after) {
            assert!(from < to, "renewal from {from} to {to}");
        }
    }
}

/// zune-jpeg's AVX2 upsampler: a progressive JPEG, 8x48 pixels, whose third
/// component is sampled 2x2 while the first is 1x1, with no Huffman tables
/// and an empty scan, fails `assert!(input.len() * 2 <= scratch_space.len())`
/// (zune-jpeg 0.5.15, src/upsampler/avx2.rs:184) while it is decoded.
#[test]
fn progressive_jpeg_with_oversampled_chroma() {
    const INPUT: &[u8] = b"\xff\xd8\xff\xc2\x00\x11\x08\x000\x00\x08\x03\x01\x11\x01\x02\x11\x00\
\x03\x22\x00\xff\xdb\x00\x43\x010000000000000000000000000000000000000000\
000000000000000000000000\xff\xdb\x00\x43\x000000000000000000000000000000\
000000000000000000000000000000000000\xff\xda\x00\x0c\x03\x010\x020\x0300\
00\xff\xd9";
    assert_eq!(INPUT.len(), 175);
    if let Err(r) = decoded_upload("scan.jpg", INPUT) {
        assert_eq!(r.field, "upload");
    }
}

/// zune-jpeg's baseline decoder: `*dc_prediction * qt_table[0]` overflows
/// i32 (zune-jpeg 0.5.15, src/bitstream.rs:400) on this 312-byte JPEG of
/// one component, 304x11824 pixels, with a quantisation table of 48s.
/// "attempt to multiply with overflow" where overflow checks are on.
#[test]
fn baseline_jpeg_dc_times_quantiser_overflows() {
    const INPUT: &[u8] = b"\xff\xd8\xff\xc1\x00\x0b\x08\x2e0\x010\x01\x01\x11\x00\xff\xdb\x00\x43\
\x000000000000000000000000000000000000000000000000000000000000000000\xff\
\xc4\x00\x1f\x00\x00\x01\x05\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x00\
\x00\x00\x0e\x00\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\xff\xc4\x00\xb5\
\x10\x00\x02\x01\x03\x03\x02\x04\x03\x05\x05\x04\x04\x00\x00\x01\x7d0000\
000000000000000000000000000000000000000000000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000\
00000000000000\xff\xda\x00\x08\x01\x01\x00000\xff\xd9";
    assert_eq!(INPUT.len(), 312);
    if let Err(r) = decoded_upload("scan.jpg", INPUT) {
        assert_eq!(r.field, "upload");
    }
}
