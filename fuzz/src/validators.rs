//! Target `validators`: every public validator of `kiosk_domain::validate`
//! that takes a string, and the string parsers of the catalog's enums, on
//! the whole input as one string.
//!
//! What an accepted value must satisfy: it is canonical (validating it
//! again gives it back unchanged) and has the documented shape (length,
//! alphabet, check character, birth date in range).

use crate::check_rejection;
use chrono::NaiveDate;
use kiosk_domain::validate::{self, normalise, resident_id_check_char, uscc_check_char};
use kiosk_domain::{Channel, Operation, RevocationReason};

/// GB 32100-2015's 31 characters (no I, O, Z, S, V).
const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

pub fn run(data: &[u8]) {
    let Some(s) = crate::text(data) else {
        return;
    };

    let n = normalise(s);
    assert_eq!(normalise(&n), n, "normalise is not idempotent on {s:?}");

    match validate::uscc(s) {
        Ok(code) => {
            let c = code.as_str();
            assert_eq!(c.len(), 18, "{s:?} -> {c:?}");
            assert!(c.chars().all(|ch| USCC_ALPHABET.contains(ch)), "{c:?}");
            assert_eq!(uscc_check_char(&c[..17]), c.chars().last(), "{s:?}");
            assert_eq!(code.organization_code().len(), 9);
            assert_eq!(validate::uscc(c).as_ref(), Ok(&code), "{s:?}");
        }
        Err(r) => check_rejection(&r),
    }

    for today in todays() {
        match validate::resident_id(s, today) {
            Ok(id) => {
                let c = id.as_str();
                assert_eq!(c.len(), 18, "{s:?} -> {c:?}");
                assert!(c[..17].bytes().all(|b| b.is_ascii_digit()), "{c:?}");
                assert_eq!(resident_id_check_char(&c[..17]), c.chars().last());
                let born = id.birth_date();
                assert!(born <= today, "{c:?} born {born} after {today}");
                assert!(born >= NaiveDate::from_ymd_opt(1900, 1, 1).unwrap());
                assert_eq!(born.format("%Y%m%d").to_string(), &c[6..14]);
                assert_eq!(validate::resident_id(c, today).as_ref(), Ok(&id));
            }
            Err(r) => check_rejection(&r),
        }
    }

    match validate::mobile(s) {
        Ok(m) => {
            assert_eq!(m.len(), 11, "{s:?} -> {m:?}");
            assert!(m.bytes().all(|b| b.is_ascii_digit()), "{m:?}");
            assert!(m.starts_with('1') && (b'3'..=b'9').contains(&m.as_bytes()[1]));
            assert_eq!(validate::mobile(&m).as_ref(), Ok(&m));
            // A mobile number is a valid contact phone, as itself.
            assert_eq!(validate::phone(&m).as_ref(), Ok(&m));
        }
        Err(r) => check_rejection(&r),
    }

    match validate::phone(s) {
        Ok(p) => assert_eq!(validate::phone(&p).as_ref(), Ok(&p), "{s:?}"),
        Err(r) => check_rejection(&r),
    }

    match validate::email(s) {
        Ok(e) => {
            assert!(e.chars().count() <= 254, "{s:?} -> {e:?}");
            assert_eq!(e.matches('@').count(), 1, "{e:?}");
            assert_eq!(validate::email(&e).as_ref(), Ok(&e), "{s:?}");
        }
        Err(r) => check_rejection(&r),
    }

    match validate::passport(s) {
        Ok(p) => {
            assert!((5..=17).contains(&p.len()), "{s:?} -> {p:?}");
            assert!(p
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
            assert_eq!(validate::passport(&p).as_ref(), Ok(&p));
        }
        Err(r) => check_rejection(&r),
    }

    // The check-character helpers take any string.
    let _ = uscc_check_char(s);
    let _ = resident_id_check_char(s);

    // The file-name half of the upload check: the name is checked before
    // the (here empty) content, so only a name it accepts reaches "empty".
    if let Err(r) = validate::upload(s, &[]) {
        assert!(r.code == "extension" || r.code == "empty", "{s:?}: {r:?}");
        check_rejection(&r);
    }

    // What the counter types for an operation, a channel, a damage finding
    // and a revocation reason.
    if let Ok(op) = s.parse::<Operation>() {
        assert_eq!(op.as_str().parse::<Operation>().ok(), Some(op));
    }
    if let Ok(ch) = s.parse::<Channel>() {
        assert_eq!(ch.as_str().parse::<Channel>().ok(), Some(ch));
    }
    let _ = s.parse::<kiosk_domain::catalog::Fault>();
    if let Ok(r) = s.parse::<RevocationReason>() {
        assert_eq!(r.as_str().parse::<RevocationReason>().ok(), Some(r));
    }
}

/// "Today" for the resident ID check: the station's usual day, a leap day,
/// the first accepted birth date, and the ends of chrono's calendar.
fn todays() -> [NaiveDate; 5] {
    [
        crate::today(),
        NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
        NaiveDate::from_ymd_opt(1900, 1, 1).unwrap(),
        NaiveDate::MIN,
        NaiveDate::MAX,
    ]
}
