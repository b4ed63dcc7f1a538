//! Target `application`: the applicant's application file (JSON) as the
//! station takes it in for a new order or an amendment, without the parts
//! that read the station's database: `Application::from_json`, then
//! `Application::validate` against the embedded catalog, then what the
//! station derives from a valid application (checklist, renewal decision,
//! fee quote), as `kiosk-app`'s `assess` does.
//!
//! What must hold: a refusal lists at least one reason; a valid application
//! is canonical (validating it again gives it back unchanged) and survives
//! the JSON round trip the store puts it through.

use crate::{check_rejection, embedded_catalog, today};
use kiosk_domain::application::Application;
use kiosk_domain::fee::{quote, FeeQuery};
use kiosk_domain::renewal::decide;
use kiosk_domain::{Catalog, Operation};

pub fn run(data: &[u8]) {
    let Some(text) = crate::text(data) else {
        return;
    };
    let application = match Application::from_json(text) {
        Ok(a) => a,
        Err(r) => return check_rejection(&r),
    };
    let catalog = embedded_catalog();
    let today = today();
    let valid = match application.validate(catalog, today) {
        Ok(v) => v,
        Err(refusals) => {
            assert!(!refusals.is_empty(), "refused without a reason");
            refusals.iter().for_each(check_rejection);
            return;
        }
    };
    assert_eq!(
        valid.validate(catalog, today).as_ref(),
        Ok(&valid),
        "a valid application is not canonical"
    );
    let json = serde_json::to_string(&valid).expect("an application serializes");
    assert_eq!(
        Application::from_json(&json).as_ref(),
        Ok(&valid),
        "the JSON round trip changed the application"
    );
    assess(catalog, &valid);
}

/// The checklist, the renewal decision and the fee of a valid application.
fn assess(catalog: &Catalog, app: &Application) {
    let today = today();
    if let Err(r) = catalog.checklist(&app.provider, app.operation, app.channel) {
        check_rejection(&r);
    }
    if let (Operation::Renew, Some(not_after)) = (
        app.operation,
        app.certificate.as_ref().and_then(|c| c.not_after),
    ) {
        let provider = catalog
            .offering(&app.provider, Operation::Renew)
            .expect("a valid renewal's provider offers renewals");
        match decide(
            catalog.renewal_window(provider),
            not_after,
            today,
            app.years,
        ) {
            Ok(d) => {
                if let (Some(from), Some(to)) = (d.new_not_before, d.new_not_after) {
                    assert!(from < to, "renewal from {from} to {to}");
                }
            }
            Err(r) => check_rejection(&r),
        }
    }
    let key = app.key_condition;
    let q = FeeQuery {
        provider: &app.provider,
        project: app.project.as_deref(),
        operation: app.operation,
        years: app.years,
        fault: key.and_then(|k| k.fault),
        first_issued: key.and_then(|k| k.first_issued),
        today,
    };
    match quote(catalog, &q) {
        Ok(fee) => {
            assert!(fee.total_fen >= 0, "a negative bill: {fee:?}");
            assert_eq!(
                fee.total_fen,
                fee.lines.iter().map(|l| l.amount_fen).sum::<i64>()
            );
        }
        Err(r) => check_rejection(&r),
    }
}
