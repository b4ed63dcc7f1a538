//! Target `catalog`: an imported rules catalog, read the two ways
//! `Station::import_catalog` reads one: `Catalog::from_toml` (parse and
//! check), and a JSON file through serde_json and `Catalog::check`. A
//! catalog that passes is then put to the uses the station makes of it:
//! the store's JSON round trip, every provider's offers, checklists,
//! notices, tariff lines and issuance profile, fee quotes and renewal
//! decisions up to the longest renewal the catalog allows.
//!
//! What must hold: nothing panics on an accepted catalog, it reads back
//! equal from the store's JSON, and no quote it produces is negative.

use crate::{check_rejection, today};
use chrono::{Days, NaiveDate};
use kiosk_domain::catalog::Fault;
use kiosk_domain::fee::{quote, FeeQuery};
use kiosk_domain::renewal::decide;
use kiosk_domain::{Catalog, Channel, Operation};

pub fn run(data: &[u8]) {
    let Some(text) = crate::text(data) else {
        return;
    };
    match Catalog::from_toml(text) {
        Ok(c) => exercise(&c),
        Err(r) => check_rejection(&r),
    }
    if let Ok(c) = serde_json::from_str::<Catalog>(text) {
        match c.check() {
            Ok(()) => exercise(&c),
            Err(r) => check_rejection(&r),
        }
    }
}

fn exercise(c: &Catalog) {
    let body = serde_json::to_string(c).expect("a catalog serializes");
    let back: Catalog = serde_json::from_str(&body).expect("the store reads its JSON back");
    assert_eq!(&back, c, "the JSON round trip changed the catalog");
    back.check().expect("a checked catalog checks again");

    let today = today();
    for p in &c.providers {
        let _ = c.provider(&p.id.to_uppercase());
        let profile = c.profile(&p.id);
        let _ = profile.crl_url_for("st-01");
        let _ = profile.ca_issuers_url_for("st-01");
        let window = c.renewal_window(p);
        for op in Operation::ALL {
            let _ = c.notices(&p.id, op);
            for ch in [Channel::Counter, Channel::Mail] {
                if let Err(r) = c.checklist(&p.id, op, ch) {
                    check_rejection(&r);
                }
            }
            let projects = std::iter::once(None).chain(p.projects.iter().map(|x| Some(&*x.id)));
            for project in projects {
                let _ = c.tariff_lines(&p.id, project, op);
                for years in [None, Some(1), Some(window.max_years)] {
                    for (fault, first_issued) in [
                        (None, None),
                        (Some(Fault::Quality), Some(today)),
                        (Some(Fault::Quality), today.checked_sub_days(Days::new(400))),
                        (Some(Fault::Other), Some(today)),
                    ] {
                        let q = FeeQuery {
                            provider: &p.id,
                            project,
                            operation: op,
                            years,
                            fault,
                            first_issued,
                            today,
                        };
                        match quote(c, &q) {
                            Ok(fee) => assert!(fee.total_fen >= 0, "a negative bill: {fee:?}"),
                            Err(r) => check_rejection(&r),
                        }
                    }
                }
            }
        }
        if p.offers.contains(&Operation::Renew) {
            for not_after in expiries(today) {
                for years in [None, Some(1), Some(window.max_years)] {
                    match decide(window, not_after, today, years) {
                        Ok(d) => {
                            if let (Some(from), Some(to)) = (d.new_not_before, d.new_not_after) {
                                assert!(from < to, "renewal from {from} to {to}");
                            }
                        }
                        Err(r) => check_rejection(&r),
                    }
                }
            }
        }
    }
    let _ = c.key_model_for_atr("3B9F958131FE9F006646530000000000");
}

/// Expiry dates around today: long before, just before, today, just
/// after, and long after.
fn expiries(today: NaiveDate) -> Vec<NaiveDate> {
    let mut v = vec![today];
    for days in [1, 30, 89, 90, 91, 365, 366, 4000] {
        v.extend(today.checked_sub_days(Days::new(days)));
        v.extend(today.checked_add_days(Days::new(days)));
    }
    v
}
