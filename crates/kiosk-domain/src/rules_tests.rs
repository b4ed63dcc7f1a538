//! Table-driven checks of the shipped catalog against the seeds.

use chrono::NaiveDate;

use crate::catalog::Fault;
use crate::fee::{quote, FeeQuery};
use crate::{Catalog, Channel, Operation};

fn catalog() -> Catalog {
    Catalog::from_toml(include_str!("../../../catalog/catalog.toml"))
        .expect("shipped catalog parses")
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn query(provider: &str, operation: Operation) -> FeeQuery<'_> {
    FeeQuery {
        provider,
        project: None,
        operation,
        years: None,
        fault: None,
        first_issued: None,
        today: d("2026-11-21"),
    }
}

#[derive(Debug, PartialEq)]
enum Expect {
    Fen(i64),
    NotOffered,
    Unset,
}

#[test]
fn every_provider_and_operation() {
    use Expect::*;
    use Operation::*;
    let table: &[(&str, [Expect; 8])] = &[
        // new, renew, change, replace-lost, replace-damaged, unlock, revoke, upgrade
        (
            "ezca",
            [
                Fen(48000),
                Fen(20000),
                Fen(0),
                Fen(28000),
                Fen(28000),
                Fen(0),
                Unset,
                NotOffered,
            ],
        ),
        (
            "bjca",
            [
                Fen(26000),
                Fen(18000),
                Unset,
                Fen(8000),
                Fen(8000),
                Fen(0),
                Unset,
                NotOffered,
            ],
        ),
        (
            "crc",
            [
                NotOffered,
                Fen(20000),
                NotOffered,
                NotOffered,
                NotOffered,
                NotOffered,
                NotOffered,
                NotOffered,
            ],
        ),
        (
            "itrus",
            [
                NotOffered,
                Fen(0),
                NotOffered,
                NotOffered,
                NotOffered,
                NotOffered,
                NotOffered,
                NotOffered,
            ],
        ),
        (
            "cqc",
            [
                NotOffered,
                NotOffered,
                NotOffered,
                NotOffered,
                NotOffered,
                NotOffered,
                NotOffered,
                Fen(0),
            ],
        ),
    ];
    let c = catalog();
    for (provider, row) in table {
        for (op, want) in Operation::ALL.iter().zip(row) {
            let got = match quote(&c, &query(provider, *op)) {
                Ok(q) => Fen(q.total_fen),
                Err(r) if r.code == "not_offered" => NotOffered,
                Err(r) if r.code == "tariff_unset" => Unset,
                Err(r) => panic!("{provider} {op}: {r}"),
            };
            assert_eq!(&got, want, "{provider} {op}");
        }
    }
    let _ = (
        New,
        Renew,
        Change,
        ReplaceLost,
        ReplaceDamaged,
        Unlock,
        Revoke,
        Upgrade,
    );
}

#[test]
fn renewal_is_per_year() {
    let c = catalog();
    let q = FeeQuery {
        years: Some(3),
        ..query("ezca", Operation::Renew)
    };
    let got = quote(&c, &q).unwrap();
    assert_eq!(got.total_fen, 60000);
    assert_eq!(got.lines[0].quantity, 3);
    assert_eq!(got.lines[0].reason, "200 元/年 × 3 年");
    let q = FeeQuery {
        years: Some(2),
        ..query("bjca", Operation::Renew)
    };
    assert_eq!(quote(&c, &q).unwrap().total_fen, 36000);
    // crc and itrus sell one year only; new issues are not sold by the year.
    for (p, op) in [
        ("crc", Operation::Renew),
        ("itrus", Operation::Renew),
        ("bjca", Operation::New),
    ] {
        let q = FeeQuery {
            years: Some(2),
            ..query(p, op)
        };
        assert_eq!(quote(&c, &q).unwrap_err().field, "years", "{p} {op}");
    }
    let q = FeeQuery {
        years: Some(6),
        ..query("bjca", Operation::Renew)
    };
    assert_eq!(quote(&c, &q).unwrap_err().code, "years_out_of_range");
}

#[test]
fn media_only_line_says_so() {
    let got = quote(&catalog(), &query("bjca", Operation::ReplaceLost)).unwrap();
    assert_eq!(got.lines.len(), 1);
    assert_eq!(got.lines[0].item, "media");
    assert!(
        got.lines[0].reason.contains("只收介质费"),
        "{}",
        got.lines[0].reason
    );
}

#[test]
fn warranty_edges() {
    let c = catalog();
    let first = d("2025-11-21");
    // (today, fault, first issued, expected fen)
    let cases: &[(&str, Option<Fault>, Option<NaiveDate>, i64)] = &[
        ("2026-11-20", Some(Fault::Quality), Some(first), 0), // last day of warranty
        ("2026-11-21", Some(Fault::Quality), Some(first), 8000), // first day after
        ("2025-11-21", Some(Fault::Quality), Some(first), 0), // day of issue
        ("2026-06-01", Some(Fault::Other), Some(first), 8000), // not a quality fault
        ("2026-06-01", None, Some(first), 8000),              // not inspected yet: charged
        (
            "2025-02-28",
            Some(Fault::Quality),
            Some(d("2024-02-29")),
            8000,
        ), // leap start: ends 2025-02-28
        ("2025-02-27", Some(Fault::Quality), Some(d("2024-02-29")), 0),
    ];
    for &(today, fault, first_issued, want) in cases {
        let q = FeeQuery {
            fault,
            first_issued,
            today: d(today),
            ..query("bjca", Operation::ReplaceDamaged)
        };
        let got = quote(&c, &q).unwrap();
        assert_eq!(got.total_fen, want, "today {today}, fault {fault:?}");
    }
    let q = FeeQuery {
        fault: Some(Fault::Quality),
        ..query("bjca", Operation::ReplaceDamaged)
    };
    assert_eq!(quote(&c, &q).unwrap_err().field, "first_issued");
    let q = FeeQuery {
        fault: Some(Fault::Quality),
        first_issued: Some(d("2027-01-01")),
        ..query("bjca", Operation::ReplaceDamaged)
    };
    assert_eq!(quote(&c, &q).unwrap_err().code, "in_future");
    // ezca follows the same one-year warranty for quality faults.
    let q = FeeQuery {
        fault: Some(Fault::Quality),
        first_issued: Some(d("2026-06-01")),
        ..query("ezca", Operation::ReplaceDamaged)
    };
    assert_eq!(quote(&c, &q).unwrap().total_fen, 0);
}

#[test]
fn checklists_follow_the_seeds() {
    let c = catalog();
    let ids = |p, op, ch| -> Vec<String> {
        c.checklist(p, op, ch)
            .unwrap()
            .iter()
            .map(|i| i.id.clone())
            .collect()
    };
    assert_eq!(
        ids("bjca", Operation::New, Channel::Counter),
        [
            "application-form",
            "uscc-certificate-copy",
            "seal-sample-sheet",
            "handler-id"
        ]
    );
    assert_eq!(
        ids("bjca", Operation::New, Channel::Mail),
        [
            "application-form",
            "uscc-certificate-copy",
            "seal-sample-sheet",
            "handler-id-copy",
            "authorization-letter"
        ]
    );
    assert_eq!(
        ids("bjca", Operation::Unlock, Channel::Counter),
        [
            "application-form",
            "uscc-certificate-copy",
            "handler-id",
            "original-key"
        ]
    );
    assert_eq!(
        ids("bjca", Operation::Revoke, Channel::Counter),
        ["application-form", "uscc-certificate-copy", "handler-id"]
    );
    let form = &c
        .checklist("bjca", Operation::New, Channel::Counter)
        .unwrap()[0];
    assert_eq!((form.copies, form.sealed, form.original), (2, true, true));
    let ezca_form = &c
        .checklist("ezca", Operation::New, Channel::Counter)
        .unwrap()[0];
    assert!(ezca_form.signed && ezca_form.sealed);
    assert_eq!(
        c.checklist("bjca", Operation::Renew, Channel::Mail)
            .unwrap_err()
            .code,
        "channel_not_offered"
    );
    assert_eq!(
        c.checklist("ezca", Operation::Upgrade, Channel::Counter)
            .unwrap_err()
            .code,
        "not_offered"
    );
    assert_eq!(
        c.checklist("nope", Operation::New, Channel::Counter)
            .unwrap_err()
            .code,
        "unknown_provider"
    );
    // Every offered operation has a counter checklist.
    for p in &c.providers {
        for op in &p.offers {
            assert!(
                !ids(&p.id, *op, Channel::Counter).is_empty(),
                "{} {op}",
                p.id
            );
        }
    }
}

#[test]
fn notices_reach_renewals() {
    let c = catalog();
    let ids: Vec<&str> = c
        .notices("crc", Operation::Renew)
        .iter()
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(ids, ["sealed-bids", "encrypt-test", "crc-name-change"]);
}

#[test]
fn inconsistent_catalog_is_refused() {
    let text = include_str!("../../../catalog/catalog.toml")
        .replace("offers = [\"upgrade\"]", "offers = []");
    let err = Catalog::from_toml(&text).unwrap_err();
    assert_eq!(err.code, "inconsistent");
    assert!(err.problem_zh.contains("cqc"), "{}", err.problem_zh);
    assert_eq!(
        Catalog::from_toml("version = ").unwrap_err().code,
        "malformed"
    );
}

#[test]
fn projects_are_checked() {
    let c = catalog();
    let q = FeeQuery {
        project: Some("ccgp-cq-supplier"),
        ..query("ezca", Operation::New)
    };
    assert_eq!(
        quote(&c, &q).unwrap().project.as_deref(),
        Some("ccgp-cq-supplier")
    );
    let q = FeeQuery {
        project: Some("nope"),
        ..query("ezca", Operation::New)
    };
    let err = quote(&c, &q).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.code),
        ("project", "unknown_project")
    );
    assert!(err.problem_zh.contains("东方中讯"), "{}", err.problem_zh);
}

#[test]
fn key_models_by_atr() {
    let c = catalog();
    assert_eq!(
        c.key_model_for_atr("3B951381018073FF01000B")
            .map(|m| m.id.as_str()),
        Some("vsmartcard-iso7816")
    );
    assert_eq!(c.key_model_for_atr("3b00"), None);
}
