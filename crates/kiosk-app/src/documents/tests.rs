//! Who may print and decide what, tried as someone who should not.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use kiosk_domain::order::{Command, OrderState};
use kiosk_store::{Actor, Attachment, Seal, SealState};

use crate::{demo, Document, FixedClock, Station};

fn station(dir: &tempfile::TempDir) -> Station {
    let clock = Arc::new(FixedClock(
        Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap(),
    ));
    Station::open(dir.path(), clock).unwrap()
}

/// A seal proposed on `order`, cut from a scan of it, as `extract_seal`
/// records one.
fn proposed_seal(st: &mut Station, order: &str) -> Seal {
    let now = st.now();
    let scan = Attachment {
        id: kiosk_store::new_id(now),
        order_id: order.to_string(),
        item: super::SEAL_SHEET_ITEM.into(),
        file_name: "sheet.png".into(),
        original_sha256: "11".repeat(32),
        sha256: "22".repeat(32),
        thumb_sha256: "33".repeat(32),
        width: 10,
        height: 10,
        seal_found: Some(true),
        warnings: vec![],
        created_at: now.to_rfc3339(),
        created_by: "wang".into(),
        detail: serde_json::json!({}),
    };
    st.store_mut()
        .add_attachment(&Actor::clerk("wang"), now, &scan)
        .unwrap();
    let seal = Seal {
        id: kiosk_store::new_id(now),
        order_id: order.to_string(),
        attachment_id: scan.id,
        png_sha256: "00".repeat(32),
        width: 10,
        height: 10,
        status: SealState::Proposed,
        created_at: now.to_rfc3339(),
        updated_at: now.to_rfc3339(),
        decided_by: None,
    };
    st.store_mut()
        .add_seal(&Actor::clerk("wang"), now, &seal)
        .unwrap();
    seal
}

#[test]
fn a_seal_is_decided_only_on_its_own_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = station(&dir);
    let wang = st.test_clerk("wang");
    let li = st.test_clerk("li");
    let a = st.create_order(demo::APPLICATION_JSON, &wang).unwrap();
    let b = st.create_order(demo::APPLICATION_JSON, &wang).unwrap();
    let seal_of_b = proposed_seal(&mut st, &b.id);

    // The console showing order A approves B's seal by its id.
    let e = st
        .decide_seal(Some(&a.id), &seal_of_b.id, true, &wang)
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    assert!(
        e.message_zh().contains("该订单的电子印章"),
        "{}",
        e.message_zh()
    );
    let stored = st.store().seal(&seal_of_b.id).unwrap().unwrap();
    assert_eq!(stored.status, SealState::Proposed, "nothing written");
    assert_eq!(stored.decided_by, None);

    // On its own order it is decided once.
    let v = st
        .decide_seal(Some(&b.number), &seal_of_b.id, true, &wang)
        .unwrap();
    assert_eq!(v.seal.status, SealState::Approved);
    let e = st
        .decide_seal(Some(&b.id), &seal_of_b.id, false, &li)
        .unwrap_err();
    assert_eq!(e.code(), "already_decided");
}

#[test]
fn the_touchscreen_prints_two_documents_and_only_while_the_order_waits() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = station(&dir);
    let order = st.submit_at_kiosk(demo::APPLICATION_JSON).unwrap();
    let wang = st.test_clerk("wang");

    // A receipt or a letter of authorization is the counter's to print.
    for doc in [Document::Receipt, Document::Authorization] {
        let e = st.print_for_applicant(&order.id, doc, None).unwrap_err();
        assert_eq!(e.code(), "forbidden", "{doc:?}");
        assert!(e.message_en().contains("touchscreen"), "{}", e.message_en());
    }

    // Once the counter has the order, the touchscreen prints nothing of it.
    let o = st
        .order_command(
            &order.id,
            Command::Cancel {
                reason: "申请人放弃".into(),
            },
            &wang,
        )
        .unwrap();
    assert_ne!(o.state, OrderState::PendingReview);
    let e = st
        .print_for_applicant(&order.number, Document::Application, None)
        .unwrap_err();
    assert_eq!(e.code(), "forbidden");
    assert!(e.message_zh().contains("柜台"), "{}", e.message_zh());

    assert!(
        st.store().print_jobs(&order.id).unwrap().is_empty(),
        "no print job recorded"
    );
}
