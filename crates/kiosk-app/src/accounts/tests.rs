//! Accounts, sessions and approvals.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::{demo, FixedClock};

fn station(dir: &tempfile::TempDir) -> Station {
    let clock = Arc::new(FixedClock(
        Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap(),
    ));
    Station::open(dir.path(), clock).unwrap()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

#[test]
fn only_the_hash_is_stored_and_the_right_secret_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = station(&dir);
    st.put_clerk(
        "wang",
        "王丽",
        Role::Clerk,
        &secret("correct horse"),
        None,
        "ops",
    )
    .unwrap();
    let row = st.store().clerk("wang").unwrap().unwrap();
    assert!(
        row.secret_hash.starts_with("$argon2id$"),
        "{}",
        row.secret_hash
    );
    assert!(!row.secret_hash.contains("correct horse"));
    let sessions = Sessions::new(Duration::minutes(15));
    let err = sessions
        .login(&st, "wang", &secret("wrong horse"))
        .unwrap_err();
    assert_eq!(err.code(), "bad_credentials");
    let err = sessions
        .login(&st, "nobody", &secret("correct horse"))
        .unwrap_err();
    assert_eq!(err.code(), "bad_credentials");
    let (token, s) = sessions
        .login(&st, "wang", &secret("correct horse"))
        .unwrap();
    assert_eq!(s.clerk.role, Role::Clerk);
    assert_eq!(token.len(), 64);
    let now = st.now();
    let live = sessions.require(Some(&token), now).unwrap();
    assert!(live.may(Role::Clerk).is_ok());
    assert_eq!(live.may(Role::Supervisor).unwrap_err().code(), "forbidden");
    assert_eq!(
        sessions.require(None, now).unwrap_err().code(),
        "not_logged_in"
    );
    assert_eq!(
        sessions
            .require(Some(&token), now + Duration::minutes(16))
            .unwrap_err()
            .code(),
        "not_logged_in",
        "an idle session expires"
    );
    st.deactivate_clerk("wang", "ops").unwrap();
    assert_eq!(
        sessions
            .login(&st, "wang", &secret("correct horse"))
            .unwrap_err()
            .code(),
        "bad_credentials"
    );
}

#[test]
fn five_wrong_secrets_pause_the_account_for_five_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = station(&dir);
    st.put_clerk("wang", "", Role::Clerk, &secret("111111"), None, "ops")
        .unwrap();
    st.put_clerk("li", "", Role::Clerk, &secret("333333"), None, "ops")
        .unwrap();
    let sessions = Sessions::new(Duration::minutes(15));
    let now = st.now();
    let attempt = |who: &str, s: &str, at: DateTime<Utc>| {
        sessions
            .throttled(who, at, || st.verify_clerk(who, &secret(s)))
            .map(|c| c.id)
            .map_err(|e| e.code())
    };
    // A success in between starts the count again.
    for _ in 0..MAX_FAILURES - 1 {
        assert_eq!(attempt("wang", "000000", now), Err("bad_credentials"));
    }
    assert_eq!(attempt("wang", "111111", now), Ok("wang".into()));
    for _ in 0..MAX_FAILURES {
        assert_eq!(attempt("wang", "000000", now), Err("bad_credentials"));
    }
    // Paused: even the right secret is not tried, under any spelling.
    assert_eq!(attempt("wang", "111111", now), Err("locked_out"));
    assert_eq!(attempt(" WANG ", "111111", now), Err("locked_out"));
    let paused = sessions
        .throttled("wang", now, || st.verify_clerk("wang", &secret("111111")))
        .unwrap_err();
    assert!(
        paused.message_zh().contains("5 分钟后再试"),
        "{}",
        paused.message_zh()
    );
    // Another account is not affected.
    assert_eq!(attempt("li", "333333", now), Ok("li".into()));
    let later = now + Duration::minutes(LOCKOUT_MINUTES);
    assert_eq!(
        attempt("wang", "111111", later - Duration::seconds(1)),
        Err("locked_out")
    );
    assert_eq!(attempt("wang", "111111", later), Ok("wang".into()));
}

#[test]
fn short_secrets_and_bad_ids_are_refused_in_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = station(&dir);
    let e = st
        .put_clerk("wang", "", Role::Clerk, &secret("12345"), None, "ops")
        .unwrap_err();
    assert_eq!(e.code(), "too_short");
    assert!(e.message_zh().contains("至少6位"));
    let e = st
        .put_clerk("王 丽", "", Role::Clerk, &secret("123456"), None, "ops")
        .unwrap_err();
    assert_eq!(e.code(), "format");
    let e = st
        .put_clerk(
            "wang",
            "",
            Role::Clerk,
            &secret("123456"),
            Some(&secret("123465")),
            "ops",
        )
        .unwrap_err();
    assert_eq!(e.code(), "mismatch");
    assert!(st.clerks().unwrap().is_empty(), "nothing written");
}

#[test]
fn unlock_needs_another_supervisor() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = station(&dir);
    st.put_clerk("wang", "", Role::Clerk, &secret("111111"), None, "ops")
        .unwrap();
    st.put_clerk("zhao", "", Role::Supervisor, &secret("222222"), None, "ops")
        .unwrap();
    let app = demo::APPLICATION_JSON.replace("\"operation\": \"new\"", "\"operation\": \"unlock\"");
    let order = st.create_order(&app, "wang").unwrap();
    assert_eq!(
        st.check_approved(&order.id).unwrap_err().code(),
        "approval_required"
    );
    let e = st
        .approve_operation(&order.id, "wang", &secret("111111"), "wang")
        .unwrap_err();
    assert_eq!(e.code(), "not_supervisor");
    let e = st
        .approve_operation(&order.id, "zhao", &secret("nope-nope"), "wang")
        .unwrap_err();
    assert_eq!(e.code(), "bad_credentials");
    let a = st
        .approve_operation(&order.id, "zhao", &secret("222222"), "wang")
        .unwrap();
    assert_eq!(a.supervisor, "zhao");
    st.check_approved(&order.id).unwrap();
    let e = st
        .approve_operation(&order.id, "zhao", &secret("222222"), "zhao")
        .unwrap_err();
    assert_eq!(e.code(), "self_approval");
}
