//! Accounts, sessions and approvals.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::{demo, FixedClock};
use kiosk_keys::ExposeSecret;

fn station(dir: &tempfile::TempDir) -> Station {
    let clock = Arc::new(FixedClock(
        Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap(),
    ));
    Station::open(dir.path(), clock).unwrap()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

/// The station's two first supervisors (`boss1`, `boss2`, no approval
/// needed) and the approval they give each other's changes.
fn bosses(st: &mut Station) -> Acting {
    for id in ["boss1", "boss2"] {
        st.put_clerk(id, "", Role::Supervisor, &secret("boss-pass"), None, None)
            .unwrap();
    }
    let (token, _) = st.cli_login("boss1", &secret("boss-pass")).unwrap();
    let session = st.cli_session(token.expose_secret()).unwrap();
    st.second_account(&session, "boss2", &secret("boss-pass"))
        .unwrap()
}

/// An account added with the bosses' approval.
fn hire(st: &mut Station, id: &str, role: Role, pw: &str) {
    let by = bosses_or_again(st);
    st.put_clerk(id, "", role, &secret(pw), None, Some(&by))
        .unwrap();
}

fn bosses_or_again(st: &mut Station) -> Acting {
    if st.store().clerk("boss1").unwrap().is_none() {
        return bosses(st);
    }
    let (token, _) = st.cli_login("boss1", &secret("boss-pass")).unwrap();
    let session = st.cli_session(token.expose_secret()).unwrap();
    st.second_account(&session, "boss2", &secret("boss-pass"))
        .unwrap()
}

#[test]
fn only_the_hash_is_stored_and_the_right_secret_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = station(&dir);
    hire(&mut st, "wang", Role::Clerk, "correct horse");
    let row = st.store().clerk("wang").unwrap().unwrap();
    assert!(
        row.secret_hash.starts_with("$argon2id$"),
        "{}",
        row.secret_hash
    );
    assert!(!row.secret_hash.contains("correct horse"));
    let sessions = Sessions::new(Duration::minutes(15));
    let err = sessions
        .login(&mut st, "wang", &secret("wrong horse"))
        .unwrap_err();
    assert_eq!(err.code(), "bad_credentials");
    let err = sessions
        .login(&mut st, "nobody", &secret("correct horse"))
        .unwrap_err();
    assert_eq!(err.code(), "bad_credentials");
    let (token, s) = sessions
        .login(&mut st, "wang", &secret("correct horse"))
        .unwrap();
    assert_eq!(s.clerk.role, Role::Clerk);
    assert_eq!(token.len(), 64);
    let now = st.now();
    let live = sessions.require(&st, Some(&token), now).unwrap();
    assert!(live.may(Role::Clerk).is_ok());
    assert_eq!(live.may(Role::Supervisor).unwrap_err().code(), "forbidden");
    assert_eq!(
        sessions.require(&st, None, now).unwrap_err().code(),
        "not_logged_in"
    );
    assert_eq!(
        sessions
            .require(&st, Some(&token), now + Duration::minutes(16))
            .unwrap_err()
            .code(),
        "not_logged_in",
        "an idle session expires"
    );
    // A live console session ends when the account is given another role
    // or deactivated (by kioskctl, in another process).
    let (token, _) = sessions
        .login(&mut st, "wang", &secret("correct horse"))
        .unwrap();
    sessions.require(&st, Some(&token), now).unwrap();
    let by = bosses_or_again(&mut st);
    st.put_clerk(
        "wang",
        "",
        Role::Supervisor,
        &secret("correct horse"),
        None,
        Some(&by),
    )
    .unwrap();
    assert_eq!(
        sessions.require(&st, Some(&token), now).unwrap_err().code(),
        "not_logged_in",
        "a new role ends the session"
    );
    let (token, _) = sessions
        .login(&mut st, "wang", &secret("correct horse"))
        .unwrap();
    let by = bosses_or_again(&mut st);
    st.deactivate_clerk("wang", &by).unwrap();
    let e = sessions.require(&st, Some(&token), now).unwrap_err();
    assert!(e.message_zh().contains("已停用"), "{}", e.message_zh());
    assert_eq!(
        sessions
            .login(&mut st, "wang", &secret("correct horse"))
            .unwrap_err()
            .code(),
        "bad_credentials"
    );
}

#[test]
fn five_wrong_secrets_pause_the_account_for_five_minutes_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = station(&dir);
    hire(&mut st, "wang", Role::Clerk, "wang-pass-1");
    hire(&mut st, "li", Role::Clerk, "li-pass-33");
    let attempt = |st: &mut Station, who: &str, s: &str| {
        st.throttled(who, |st| st.verify_clerk(who, &secret(s)))
            .map(|c| c.id)
            .map_err(|e| e.code())
    };
    // A success in between starts the count again.
    for _ in 0..MAX_FAILURES - 1 {
        assert_eq!(attempt(&mut st, "wang", "000000"), Err("bad_credentials"));
    }
    assert_eq!(attempt(&mut st, "wang", "wang-pass-1"), Ok("wang".into()));
    for _ in 0..MAX_FAILURES {
        assert_eq!(attempt(&mut st, "wang", "000000"), Err("bad_credentials"));
    }
    // Paused: even the right secret is not tried, under any spelling.
    assert_eq!(attempt(&mut st, "wang", "wang-pass-1"), Err("locked_out"));
    assert_eq!(attempt(&mut st, " WANG ", "wang-pass-1"), Err("locked_out"));
    let paused = st
        .throttled("wang", |st| st.verify_clerk("wang", &secret("wang-pass-1")))
        .unwrap_err();
    assert!(
        paused.message_zh().contains("5 分钟后再试"),
        "{}",
        paused.message_zh()
    );
    // Another account is not affected.
    assert_eq!(attempt(&mut st, "li", "li-pass-33"), Ok("li".into()));
    // A restart (the station opened again) does not clear the pause.
    let now = st.now();
    drop(st);
    let at = |t| Station::open(dir.path(), Arc::new(FixedClock(t))).unwrap();
    let later = now + Duration::minutes(LOCKOUT_MINUTES);
    assert_eq!(
        attempt(&mut at(now), "wang", "wang-pass-1"),
        Err("locked_out")
    );
    assert_eq!(
        attempt(&mut at(later - Duration::seconds(1)), "wang", "wang-pass-1"),
        Err("locked_out")
    );
    assert_eq!(
        attempt(&mut at(later), "wang", "wang-pass-1"),
        Ok("wang".into())
    );
}

#[test]
fn a_command_line_session_ends_with_idle_time_and_with_a_changed_account() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = station(&dir);
    hire(&mut st, "wang", Role::Clerk, "wang-pass-1");
    let (token, view) = st.cli_login("wang", &secret("wang-pass-1")).unwrap();
    assert_eq!(view.id, "wang");
    let token = token.expose_secret().to_string();
    assert_eq!(token.len(), 64);
    assert_eq!(st.cli_session(&token).unwrap().clerk.id, "wang");
    // The station keeps the token's hash, not the token.
    let db = std::fs::read(dir.path().join(crate::DB_FILE)).unwrap();
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));
    // A forged token is nobody's.
    let e = st.cli_session(&"0".repeat(64)).unwrap_err();
    assert_eq!(e.code(), "not_logged_in");

    // Idle longer than a console session: ended.
    let now = st.now();
    drop(st);
    let mut later = Station::open(
        dir.path(),
        Arc::new(FixedClock(
            now + Duration::minutes(SESSION_IDLE_MINUTES + 1),
        )),
    )
    .unwrap();
    assert_eq!(
        later.cli_session(&token).unwrap_err().code(),
        "not_logged_in"
    );

    // A new password (or role, or deactivation) ends every session.
    let (token, _) = later.cli_login("wang", &secret("wang-pass-1")).unwrap();
    let token = token.expose_secret().to_string();
    later.cli_session(&token).unwrap();
    let by = bosses_or_again(&mut later);
    later
        .put_clerk(
            "wang",
            "",
            Role::Clerk,
            &secret("wang-pass-4"),
            None,
            Some(&by),
        )
        .unwrap();
    let e = later.cli_session(&token).unwrap_err();
    assert!(
        e.message_zh().contains("已停用或已变更"),
        "{}",
        e.message_zh()
    );
    later.cli_logout(&token).unwrap();
}

#[test]
fn privileged_changes_need_a_second_account() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = station(&dir);
    // Nobody is there yet: the first two supervisors need no approval,
    // a third, or a clerk, does.
    bosses(&mut st);
    let e = st
        .put_clerk(
            "boss3",
            "",
            Role::Supervisor,
            &secret("boss-pass"),
            None,
            None,
        )
        .unwrap_err();
    assert_eq!(e.code(), "second_account_required");
    let e = st
        .put_clerk("wang", "", Role::Clerk, &secret("wang-pass-1"), None, None)
        .unwrap_err();
    assert_eq!(e.code(), "second_account_required");
    assert!(e.message_en().contains("approver"), "{}", e.message_en());
    assert!(
        st.store().clerk("wang").unwrap().is_none(),
        "nothing written"
    );

    hire(&mut st, "wang", Role::Clerk, "wang-pass-1");
    let (token, _) = st.cli_login("boss1", &secret("boss-pass")).unwrap();
    let boss1 = st.cli_session(token.expose_secret()).unwrap();
    // Approving one's own change.
    let e = st
        .second_account(&boss1, "boss1", &secret("boss-pass"))
        .unwrap_err();
    assert_eq!(e.code(), "self_approval");
    // A clerk is no approver.
    let e = st
        .second_account(&boss1, "wang", &secret("wang-pass-1"))
        .unwrap_err();
    assert_eq!(e.code(), "not_supervisor");
    // A wrong password counts towards the pause like a login.
    let e = st
        .second_account(&boss1, "boss2", &secret("guess"))
        .unwrap_err();
    assert_eq!(e.code(), "bad_credentials");
    assert_eq!(st.store().login_failures("boss2").unwrap().failures, 1);
}

#[test]
fn short_secrets_and_bad_ids_are_refused_in_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = station(&dir);
    let by = bosses(&mut st);
    let before = st.clerks().unwrap().len();
    let e = st
        .put_clerk("wang", "", Role::Clerk, &secret("12345"), None, Some(&by))
        .unwrap_err();
    assert_eq!(e.code(), "too_short");
    assert!(e.message_zh().contains("至少8位"));
    for common in ["12345678", "Password1", "aaaaaaaaaa", "WangLiLi"] {
        let e = st
            .put_clerk(
                "wanglili",
                "",
                Role::Clerk,
                &secret(common),
                None,
                Some(&by),
            )
            .unwrap_err();
        assert_eq!(e.code(), "too_common", "{common}");
    }
    let e = st
        .put_clerk("王 丽", "", Role::Clerk, &secret("123456"), None, Some(&by))
        .unwrap_err();
    assert_eq!(e.code(), "format");
    let e = st
        .put_clerk(
            "Kiosk",
            "",
            Role::Clerk,
            &secret("kiosk-pass-1"),
            None,
            Some(&by),
        )
        .unwrap_err();
    assert_eq!(e.code(), "reserved", "the touchscreen's name in the trail");
    let e = st
        .put_clerk(
            "wang",
            "",
            Role::Clerk,
            &secret("123456"),
            Some(&secret("123465")),
            Some(&by),
        )
        .unwrap_err();
    assert_eq!(e.code(), "mismatch");
    assert_eq!(st.clerks().unwrap().len(), before, "nothing written");
}

#[test]
fn unlock_needs_another_supervisor() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = station(&dir);
    hire(&mut st, "wang", Role::Clerk, "wang-pass-1");
    hire(&mut st, "zhao", Role::Supervisor, "zhao-pass-2");
    let app = demo::APPLICATION_JSON.replace("\"operation\": \"new\"", "\"operation\": \"unlock\"");
    let wang = st.session_without_password("wang").unwrap();
    let zhao = st.session_without_password("zhao").unwrap();
    let order = st.create_order(&app, &wang).unwrap();
    assert_eq!(
        st.check_approved(&order.id).unwrap_err().code(),
        "approval_required"
    );
    let e = st
        .approve_operation(&order.id, "wang", &secret("wang-pass-1"), &wang)
        .unwrap_err();
    assert_eq!(e.code(), "not_supervisor");
    let e = st
        .approve_operation(&order.id, "zhao", &secret("nope-nope"), &wang)
        .unwrap_err();
    assert_eq!(e.code(), "bad_credentials");
    let a = st
        .approve_operation(&order.id, "zhao", &secret("zhao-pass-2"), &wang)
        .unwrap();
    assert_eq!(a.supervisor, "zhao");
    st.check_approved(&order.id).unwrap();
    let e = st
        .approve_operation(&order.id, "zhao", &secret("zhao-pass-2"), &zhao)
        .unwrap_err();
    assert_eq!(e.code(), "self_approval");
}
