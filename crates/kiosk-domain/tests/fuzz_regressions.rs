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

/// The one input the 10,000,000-execution `scan` campaign saved as a hang
/// (over AFL's 1 s on a machine busy compiling): a 680-byte progressive
/// JPEG with an EXIF block, 8x6 pixels, on which the JPEG decoder spends
/// about 0.3 s and 130 MiB (within the 256 MiB decoding budget) before the
/// same upsampler assertion as above.
#[test]
fn progressive_jpeg_that_decodes_slowly_then_panics() {
    const INPUT: &[u8] = b"\xff\xd8\xff\xe1\x00\x22Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\
\x14\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00\xff\xe0\x00\
\x10JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00\xff\xc2\x00\x11\x08\x00\
\x06\x00\x08\x03\x01\x11\x00\x02\x22\x01\x03\x11\x01\xff\xdb\x00C\x00\
\x08\x06\x06\x07\x06\x05\x08\x07\x07\x07\x09\x09\x08\x0a\x0c\x14\x0d\x0c\
\x0b\x0b\x0c\x19\x12\x13\x0f\x14\x1d\x1a\x1f\x1e\x1d\x1a\x1c\x1c $.' \
\x22,#\x1c\x1c(7),01444\x1f'9=82<.342\xff\xdb\x00C\x01\x09\x09\x09\x0c\
\x0b\x0c\x18\x0d\x0d\x182!\x1c!22222222222222222222222222222222222222222\
222222222\xff\xc4\x00\x1f\x00\x00\x01\x05\x01\x01\x01\x01\x01\x01\x00\
\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\
\xff\xc4\x00\xb5\x10\x00\x02\x01\x03\x03\x02\x04\x03\x05\x05\x04\x04\x00\
\x00\x01}\x01\x02\x03\x00\x04\x11\x05\x12!1A\x06\x13Qa\x07\x22q\x142\x81\
\x91\xa1\x08#B\xb1\xc1\x15R\xf1\xf0$3br\x82\x09\x0a\x16\x17\x18\x19\x1a%\
&'()*456789:CDE@GHIJSTUVWXYZcdefghijstuvwxyz\x83\x84\x85\x86\x87\x88\x89\
\x8a\x92\x93\x94\x95\x96\x97\x98\x99\x9a\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\
\xaa\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\
\xca\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\
\xe9\xea\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xff\xc4\x00\x1f\x01\x00\
\x03\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00\x01\x02\
\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\xff\xc4\x00\xb5\x11\x00\x02\x01\x02\
\x04\x04\x03\x04\x07\x05\x04\x04\x00\x01\x02w\x00\x01\x02\x03\x11\x04\
\x05!1\x06\x12AQ\x07aq\x13\x222\x81\x08\x14B\x91\xa1\xb1\xc1\x09#3R\xf0\
\x15br\xd1\x0a\x16$4\xe1%\xf1\x17\x18\x19\x1a&'()*567#9:CDEFGHIJSTUVWXYZ\
cdefghijstuvwxyz\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x92\x93\x94\x95\x96\
\x97\x98\x99\x9a\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xb2\xb3\xb4\xb5\xb6\
\xb7\xb8\xb9\xba\xc2\xc3\xc4\xc5\xc6\xc722222222222222222222222\xf4\xf5\
\xf6\xf7\xf8\xf9\xfa\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00?\
\x004O\x03\xda|\xbc\xa7\xe5_I\x8a\xcdj\x1c9\x0ewSC\xff\xd9";
    assert_eq!(INPUT.len(), 680);
    let r = decoded_upload("scan.jpg", INPUT).expect_err("refused");
    assert_eq!(r.field, "upload");
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
