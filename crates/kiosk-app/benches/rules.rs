//! Rule lookups on the shipped catalog: fee, checklist, renewal, validators.
//! Loading the catalog (TOML parse, or read from SQLite) is measured beside
//! them, as the cost a lookup would pay without the in-memory catalog.

use std::hint::black_box;
use std::sync::Arc;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion};
use kiosk_app::domain::catalog::Fault;
use kiosk_app::domain::{validate, Catalog, Channel, Operation};
use kiosk_app::{Rules, Station, SystemClock, EMBEDDED_CATALOG};

fn rules(c: &mut Criterion) {
    let today: NaiveDate = "2026-11-21".parse().unwrap();
    let rules = Rules::embedded(today).unwrap();
    let not_after: NaiveDate = "2027-01-15".parse().unwrap();
    let first: NaiveDate = "2026-03-01".parse().unwrap();

    c.bench_function("fee bjca renew 2y", |b| {
        b.iter(|| {
            rules
                .fee(
                    black_box("bjca"),
                    None,
                    Operation::Renew,
                    Some(2),
                    None,
                    None,
                )
                .unwrap()
        })
    });
    c.bench_function("fee bjca replace-damaged warranty", |b| {
        b.iter(|| {
            rules
                .fee(
                    black_box("bjca"),
                    None,
                    Operation::ReplaceDamaged,
                    None,
                    Some(Fault::Quality),
                    Some(first),
                )
                .unwrap()
        })
    });
    c.bench_function("checklist bjca new counter", |b| {
        b.iter(|| {
            rules
                .checklist(black_box("bjca"), Operation::New, Channel::Counter)
                .unwrap()
        })
    });
    c.bench_function("renewal bjca", |b| {
        b.iter(|| rules.renewal(black_box("bjca"), not_after, None).unwrap())
    });
    c.bench_function("validate uscc", |b| {
        b.iter(|| validate::uscc(black_box("91500000MA5U8K2T0A")).unwrap())
    });
    c.bench_function("validate resident id", |b| {
        b.iter(|| validate::resident_id(black_box("500101198502030055"), today).unwrap())
    });

    c.bench_function("baseline: parse catalog TOML", |b| {
        b.iter(|| Catalog::from_toml(black_box(EMBEDDED_CATALOG)).unwrap())
    });
    let dir = tempfile::tempdir().unwrap();
    drop(Station::open(dir.path(), Arc::new(SystemClock)).unwrap());
    c.bench_function("baseline: load rules from SQLite", |b| {
        b.iter(|| Rules::load(dir.path(), today).unwrap())
    });
}

criterion_group!(benches, rules);
criterion_main!(benches);
